/*
 * NAME
 *	smtpc_auth - SMTP AUTH towards the server (RFC 4954), client side
 * SYNOPSIS
 *	#include "core/delivery/smtpc.h"
 *
 *	bool smtpc_auth_failed(const struct smtpc_session *c);
 *	bool smtpc_authenticated(const struct smtpc_session *c);
 *
 *	#include "core/delivery/smtpc_impl.h"
 *
 *	enum smtpc_event smtpc_auth_begin(struct smtpc_session *c, struct buf *out, bool no_tls);
 *	enum smtpc_event smtpc_auth_reply(struct smtpc_session *c, struct buf *out);
 * DESCRIPTION
 *	After EHLO (and STARTTLS, or a STARTTLS the server refused), when the
 *	caller gave SASL hooks (smtpc_params.auth) and the server offers AUTH,
 *	the exchange runs before the session is READY: "AUTH MECH [initial
 *	response]", then one base64 line per 334 challenge, until a 2xx. The
 *	hooks do the SASL; this file only frames it. At most 100 steps.
 * DIAGNOSTICS
 *	Any failure (no mechanism, a SASL error, a reply other than 2xx or 334,
 *	a malformed challenge, too many steps) makes the session FAILED with
 *	"SASL authentication failed; ..." and smtpc_auth_failed() true; a
 *	failure of ours inside the exchange sends "*" to cancel it first.
 */
#include "core/delivery/smtpc.h"
#include "core/delivery/smtpc_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/base64.h"

/* smtpc_auth_fail - SASL authentication failed: the connection is of no use */
static enum smtpc_event smtpc_auth_fail(struct smtpc_session *c)
{
    c->auth_failed = true;
    return smtpc_fail(c, NULL);
}

/* smtpc_auth_send - one client message of the exchange, base64; empty: "=" after AUTH */
static int smtpc_auth_send(struct buf *out, const char *prefix, const char *data, size_t len)
{
    int rc = buf_puts(out, prefix);
    if (rc == 0 && data && len == 0 && *prefix)
        rc = buf_puts(out, " =");
    else if (rc == 0 && data && len > 0) {
        if (*prefix)
            rc = buf_puts(out, " ");
        if (rc == 0)
            rc = base64_encode(out, data, len);
    }
    return rc == 0 ? buf_puts(out, "\r\n") : rc;
}

/* smtpc_auth_begin - authenticate if asked to and offered, else READY */
enum smtpc_event smtpc_auth_begin(struct smtpc_session *c, struct buf *out, bool no_tls)
{
    const struct smtpc_ext *e = smtpc_find_ext(c, "AUTH");
    const char *mech = NULL, *data = NULL, *why = NULL;
    size_t len = 0;
    char cmd[80];

    if (!c->auth || c->auth_done || !e || !e->param[0])
        return smtpc_ready(c, no_tls);
    int rc = c->auth->start(c->auth->arg, e->param, c->tls_active, &mech, &data, &len, &why);
    if (rc < 0 || !mech || strlen(mech) > 60) {
        smtpc_set_error(c, "SASL authentication failed; cannot authenticate to server %s: %s",
                        c->host + 5,
                        rc == -ENOENT ? "no mechanism available"
                        : why && *why ? why
                                      : "SASL client error");
        return smtpc_auth_fail(c);
    }
    snprintf(cmd, sizeof(cmd), "AUTH %s", mech);
    if (smtpc_auth_send(out, cmd, data, len) < 0)
        return smtpc_fail(c, "out of memory");
    c->auth_then_no_tls = no_tls;
    c->auth_steps = 0;
    c->state = S_AUTH;
    return SMTPC_NEED_MORE;
}

/* smtpc_auth_reply - a reply inside the AUTH exchange */
enum smtpc_event smtpc_auth_reply(struct smtpc_session *c, struct buf *out)
{
    int code = c->reply_code;
    if (code / 100 == 2) {
        c->auth_done = true;
        return smtpc_ready(c, c->auth_then_no_tls);
    }
    if (code != 334) {
        smtpc_set_error(c, "SASL authentication failed; server %s said: %s", c->host + 5,
                        buf_ptr(&c->reply));
        return smtpc_auth_fail(c);
    }
    const char *text = buf_used(&c->reply) > 4 ? buf_ptr(&c->reply) + 4 : "";
    size_t tlen = strlen(text);
    unsigned char *in = malloc(tlen / 4 * 3 + 1);
    const char *data = NULL, *why = NULL;
    size_t len = 0;
    int n = in ? base64_decode(text, tlen, in, tlen / 4 * 3 + 1) : -ENOMEM;
    if (n < 0 || ++c->auth_steps > 100) {
        free(in);
        smtpc_set_error(c, "SASL authentication failed; %s from server %s",
                        n < 0 ? "malformed challenge" : "authentication protocol loop",
                        c->host + 5);
        (void)buf_puts(out, "*\r\n");
        return smtpc_auth_fail(c);
    }
    int rc = c->auth->step(c->auth->arg, (const char *)in, (size_t)n, &data, &len, &why);
    free(in);
    if (rc < 0) {
        smtpc_set_error(c, "SASL authentication failed; cannot authenticate to server %s: %s",
                        c->host + 5, why && *why ? why : "SASL client error");
        (void)buf_puts(out, "*\r\n");
        return smtpc_auth_fail(c);
    }
    if (smtpc_auth_send(out, "", data ? data : "", len) < 0)
        return smtpc_fail(c, "out of memory");
    return SMTPC_NEED_MORE;
}

bool smtpc_auth_failed(const struct smtpc_session *c)
{
    return c->auth_failed;
}

bool smtpc_authenticated(const struct smtpc_session *c)
{
    return c->auth_done;
}
