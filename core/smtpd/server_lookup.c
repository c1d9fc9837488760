/*
 * NAME
 *	server_lookup - sender domain lookups for reject_unknown_sender_domain
 * SYNOPSIS
 *	#include "core/smtpd/server_impl.h"
 *
 *	bool server_lookup_start(struct server_session *s, const char *sender, const char *domain);
 *	void server_lookup_cancel(struct server_session *s);
 *	void server_lookup_timeout(struct loop_timer *t);
 * DESCRIPTION
 *	reject_unknown_sender_domain: the policy never does I/O; when it meets
 *	the restriction with no DNS answer for the sender's domain, its verdict
 *	names the domain (verdict.lookup). The hook then starts a mailhost
 *	lookup on the worker's resolver (loop/dns, libunbound, polled on the
 *	ring) and hands the verdict back: the command pauses unanswered (smtpd
 *	ST_LOOKUP, reading paused as for a commit). The answer, or the
 *	SERVER_LOOKUP_TIMEOUT_MS timer (a temporary failure), comes back through
 *	server_lookup_resume() -> smtpd_lookup_done(), which asks the policy
 *	again with the answer in policy_client.sender_dns. The answer is kept
 *	for that sender address for SERVER_LOOKUP_KEEP_MS, so the next RCPTs of
 *	the transaction need no lookup. A session has one lookup out at most
 *	(its command is paused until it ends); when the connection closes
 *	meanwhile the lookup is cancelled (dns_lookup_cancel: no callback ever
 *	reaches a freed session). Reading is paused during the lookup, so a
 *	POLLRDHUP watch on the socket (server_lookup_hup_watch) notices a client that
 *	leaves: the session ends at once. (A client that only half-closes after
 *	pipelining its commands is ended too; mail clients do not do that.)
 *	With smtpd_delay_reject = no, a defer_if_permit raised by the sender
 *	list at MAIL is kept (sender_defer) and handed to the RCPT checks.
 * DIAGNOSTICS
 *	A lookup that cannot start, fails or times out is a temporary failure for the policy
 *	(logged with the client); a name IDNA refuses does not exist.
 */
#include "core/smtpd/server_impl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "core/base/log.h"
#include "core/daemon/worker.h"
#include "core/loop/conn.h"
#include "core/loop/dns.h"

/* server_lookup_cancel - drop a sender domain lookup in flight (no callback will come) */
void server_lookup_cancel(struct server_session *s)
{
    loop_timer_cancel(s->w->loop, &s->lookup_timer);
    if (!s->lookup)
        return;
    dns_lookup_cancel(s->w->dns, s->lookup);
    s->lookup = NULL;
}

/* server_lookup_resume - the sender domain's answer is in: the paused command goes on */
static void server_lookup_resume(struct server_session *s, enum policy_dns status)
{
    s->dns_status = status;
    s->dns_time = loop_now(s->w->loop);
    if (!s->conn || s->closing || !s->smtpd)
        return;
    server_answered(s, smtpd_lookup_done(s->smtpd, conn_out(s->conn)));
}

/* server_lookup_cb - the resolver answered (on this worker, from dns_resolver_process) */
static void server_lookup_cb(void *arg, const struct dns_result *res)
{
    struct server_session *s = arg;
    s->lookup = NULL;
    loop_timer_cancel(s->w->loop, &s->lookup_timer);
    enum policy_dns st = res->status == DNS_OK         ? POLICY_DNS_FOUND
                         : res->status == DNS_NOTFOUND ? POLICY_DNS_NOTFOUND
                         : res->status == DNS_NULL_MX  ? POLICY_DNS_NULLMX
                                                       : POLICY_DNS_TEMPFAIL;
    if (st == POLICY_DNS_TEMPFAIL)
        log_warn("smtpd", "%s: sender domain lookup: %s", s->client,
                 res->error[0] ? res->error : "temporary failure");
    server_lookup_resume(s, st);
}

/* server_lookup_timeout - SERVER_LOOKUP_TIMEOUT_MS passed: a temporary failure */
void server_lookup_timeout(struct loop_timer *t)
{
    struct server_session *s =
        (struct server_session *)((char *)t - offsetof(struct server_session, lookup_timer));
    server_lookup_cancel(s);
    log_warn("smtpd", "%s: sender domain lookup of <%s> timed out after %d s", s->client,
             s->dns_sender, SERVER_LOOKUP_TIMEOUT_MS / 1000);
    server_lookup_resume(s, POLICY_DNS_TEMPFAIL);
}

/* server_lookup_hup_cb - the client shut its side while reading was paused: if a lookup is out, the
 * session ends now (the lookup is cancelled) rather than when the answer comes */
static void server_lookup_hup_cb(struct loop_op *op, int res, unsigned flags)
{
    struct server_session *s =
        (struct server_session *)((char *)op - offsetof(struct server_session, hup_op));
    s->hup_armed = false;
    if (res > 0 && s->lookup && s->conn && !s->closing) {
        server_lookup_cancel(s);
        s->closing = true;
        conn_abort(s->conn); /* server_closed(): "lost connection after RCPT" */
    }
    server_unref(s);
}

/* server_lookup_hup_watch - reading pauses during a lookup, so a client that goes away would be
 * noticed only after it: watch for the hang-up instead (one poll per session; it completes at the
 * latest when the socket is shut down, and holds a reference until then) */
static void server_lookup_hup_watch(struct server_session *s)
{
    if (s->hup_armed || !s->conn || conn_fd(s->conn) < 0)
        return;
    struct io_uring_sqe *sqe = loop_sqe(s->w->loop);
    io_uring_prep_poll_add(sqe, conn_fd(s->conn), POLLRDHUP);
    s->hup_op.cb = server_lookup_hup_cb;
    loop_op_arm(sqe, &s->hup_op);
    s->hup_armed = true;
    s->refs++;
}

/* server_lookup_start - look domain up for sender; false: answered at once (s->dns_status) */
bool server_lookup_start(struct server_session *s, const char *sender, const char *domain)
{
    snprintf(s->dns_sender, sizeof(s->dns_sender), "%s", sender ? sender : "");
    s->dns_time = loop_now(s->w->loop);
    if (s->lookup) {
        /* cannot happen: the command that started it is still paused */
        s->dns_status = POLICY_DNS_TEMPFAIL;
        return false;
    }
    int rc = dns_lookup_mailhost(s->w->dns, domain, server_lookup_cb, s, &s->lookup);
    if (rc < 0) {
        s->lookup = NULL;
        /* a name that cannot be a DNS name (IDNA refused it) does not exist */
        s->dns_status = rc == -EINVAL ? POLICY_DNS_NOTFOUND : POLICY_DNS_TEMPFAIL;
        if (rc != -EINVAL)
            log_warn("smtpd", "%s: cannot look up sender domain %s: %s", s->client, domain,
                     strerror(-rc));
        return false;
    }
    s->dns_status = POLICY_DNS_UNKNOWN;
    loop_timer_arm(s->w->loop, &s->lookup_timer, SERVER_LOOKUP_TIMEOUT_MS);
    server_lookup_hup_watch(s);
    return true;
}
