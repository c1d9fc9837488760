/*
 * NAME
 *	server_auth - SMTP AUTH of an inbound session, run on the SASL thread pool
 * SYNOPSIS
 *	#include "core/smtpd/server_impl.h"
 *
 *	void server_auth_step(void *arg, const char *mech, const char *in, size_t inlen, bool tls,
 *	                      struct smtpd_auth_result *r);
 *	void server_auth_end(void *arg);
 * DESCRIPTION
 *	AUTH: the protocol asks server_auth_step() for each SASL step; one
 *	authjob (smtpd/authjob.h) lives from the AUTH command to the end of its
 *	exchange. Cyrus never runs on the ring: each step goes to the SASL
 *	thread pool and the protocol waits (SMTPD_AUTH_PENDING, reading paused
 *	as for a commit, smtpd_timeout still running) until server_auth_done()
 *	brings the outcome back through loop_post(). An outstanding step counts
 *	in `refs` like a commit, so a session that closes meanwhile is freed
 *	only when its step is back. A full pool answers 454 at once. After a
 *	failed AUTH the protocol asks for a pause: the replies are held and
 *	reading stops for that long (the `pause` timer), then everything goes
 *	out at once. permit_sasl_authenticated sees the user.
 * DIAGNOSTICS
 *	server_auth_step answers SMTPD_AUTH_PENDING, or SMTPD_AUTH_TEMPFAIL with r->why
 *	("too many authentications in progress", "out of memory", "SASL back end
 *	unavailable"): the protocol replies 454.
 */
#include "core/smtpd/server_impl.h"

#include <errno.h>

#include "core/auth/auth.h"
#include "core/smtpd/authjob.h"
#include "core/config/tlsconf.h"
#include "core/daemon/daemon.h"
#include "core/daemon/worker.h"
#include "core/loop/conn.h"

/* server_auth_done - on the worker: a SASL step came back from the pool */
static void server_auth_done(void *arg)
{
    struct server_session *s = arg;
    struct smtpd_auth_result r;
    authjob_result(s->auth, &r);
    if (s->conn && !s->closing)
        server_answered(s, smtpd_auth_done(s->smtpd, &r, conn_out(s->conn)));
    server_unref(s);
}

/* server_auth_step - smtpd hook: one SASL step, sent to the pool (Cyrus may block) */
void server_auth_step(void *arg, const char *mech, const char *in, size_t inlen, bool tls,
                      struct smtpd_auth_result *r)
{
    struct server_session *s = arg;
    const struct tern_auth *a = s->rt->auth;
    if (mech) {
        struct auth_server_params p = {
            .hostname = s->rt->cfg->myhostname,
            .realm = a->realm,
            .local_addr = s->local_addr,
            .local_port = s->local_port,
            .remote_addr = s->addr,
            .remote_port = s->port,
            .secflags = tls ? a->server_tls_flags : a->server_flags,
        };
        authjob_free(s->auth);
        s->auth = NULL;
        if (authjob_new(&s->auth, &p, s->w->loop, server_auth_done, s) < 0) {
            r->status = SMTPD_AUTH_TEMPFAIL;
            r->why = "out of memory";
            return;
        }
    }
    if (!s->auth) {
        r->status = SMTPD_AUTH_FAIL;
        r->why = "no exchange in progress";
        return;
    }
    int rc = authjob_step(s->auth, s->w->daemon->auth_pool, mech, in, inlen);
    if (rc < 0) {
        r->status = SMTPD_AUTH_TEMPFAIL;
        r->why = rc == -EAGAIN   ? "too many authentications in progress"
                 : rc == -ENOMEM ? "out of memory"
                                 : "SASL back end unavailable";
        return;
    }
    s->refs++;
    r->status = SMTPD_AUTH_PENDING;
}

/* server_auth_end - smtpd hook: the exchange is over */
void server_auth_end(void *arg)
{
    struct server_session *s = arg;
    if (authjob_busy(s->auth))
        return; /* cannot happen (smtpd never ends a pending step); freed with the session */
    authjob_free(s->auth);
    s->auth = NULL;
}
