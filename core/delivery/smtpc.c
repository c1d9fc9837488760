/*
 * NAME
 *	smtpc - the SMTP client protocol of one connection, without I/O
 * SYNOPSIS
 *	#include "core/delivery/smtpc.h"
 * DESCRIPTION
 *	A state machine fed with the server's bytes (smtpc_input) that appends
 *	the client's bytes to an output buffer; the caller moves bytes between
 *	the buffers and the socket (or TLS). See delivery/smtpc.h for the contract.
 *
 *	Replies: lines end in CRLF (a bare LF is tolerated), "ddd-" continues,
 *	"ddd " or "ddd" ends a reply; every line of one reply must carry the
 *	same code. A reply may arrive split over any number of input chunks.
 *	One reply is bounded to SMTPC_REPLY_MAX bytes; longer is a protocol
 *	error. The text kept for reasons joins the lines with one space, codes
 *	included, as Postfix logs them ("550-5.1.1 a 550 5.1.1 b").
 *
 *
 *	STARTTLS: after a 2xx to EHLO the session either goes READY or, when
 *	TLS is wanted and offered, writes STARTTLS (S_STARTTLS). Its 220 leaves
 *	the session in S_TLS until smtpc_tls_started(); whatever the server
 *	sent after the 220 is dropped, as Postfix does (no plaintext injected
 *	ahead of the handshake can pass for a reply inside TLS). A 4xx/5xx to
 *	STARTTLS, or no STARTTLS offered when require_tls is set, leaves the
 *	session READY and says SMTPC_NO_TLS; smtpc_send() refuses to start a
 *	plaintext transaction while require_tls is set. AUTH is recorded as
 *	offered (smtpc_offers) but not used here yet.
 *
 *	The pieces: smtpc_send.c writes a transaction and gives its replies
 *	to the recipients, smtpc_auth.c runs AUTH after EHLO (and STARTTLS);
 *	they share smtpc_impl.h.
 *
 *	After SMTPC_FAILED the caller may still call smtpc_quit() to be polite
 *	(Postfix sends QUIT after a refused greeting), or just close.
 * DIAGNOSTICS
 *	smtpc_error() says why a session is FAILED: the server's reply with
 *	the command it answered, as Postfix logs it, or what went wrong here.
 *	smtpc_send()'s return values: see smtpc_send.c.
 */
#include "core/delivery/smtpc.h"
#include "core/delivery/smtpc_impl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/error.h"

/* smtpc_set_error - remember the text of a fatal condition */
void smtpc_set_error(struct smtpc_session *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
}

/* smtpc_new - create a session that expects the server greeting first */
int smtpc_new(struct smtpc_session **out, const struct smtpc_params *p)
{
    struct smtpc_session *c = calloc(1, sizeof(*c));
    const char *peer = p->peer_name ? p->peer_name : "unknown";
    const char *end;
    size_t plen;

    if (!c)
        return -ENOMEM;
    c->helo_name = strdup(p->helo_name ? p->helo_name : "localhost");
    /* Reasons name the peer without its port, as Postfix does. */
    end = strrchr(peer, ']');
    plen = end ? (size_t)(end - peer) + 1 : strlen(peer);
    c->host = malloc(plen + 6);
    if (!c->helo_name || !c->host)
        goto fail;
    memcpy(c->host, "host ", 5);
    memcpy(c->host + 5, peer, plen);
    c->host[plen + 5] = 0;
    c->want_pipelining = p->pipelining;
    c->require_tls = p->require_tls;
    c->want_starttls = p->starttls || p->require_tls;
    c->auth = p->auth;
    c->state = S_GREETING;
    *out = c;
    return 0;
fail:
    smtpc_free(c);
    return -ENOMEM;
}

/* smtpc_clear_ext - forget the extensions of a previous EHLO */
static void smtpc_clear_ext(struct smtpc_session *c)
{
    for (size_t i = 0; i < c->next; i++)
        free(c->ext[i].param);
    c->next = 0;
}

/* smtpc_free - release the session; an open delivery stays the caller's */
void smtpc_free(struct smtpc_session *c)
{
    if (!c)
        return;
    smtpc_clear_ext(c);
    buf_free(&c->in);
    buf_free(&c->reply);
    free(c->pend);
    free(c->accepted);
    free(c->helo_name);
    free(c->host);
    free(c);
}

/* smtpc_error - text of the condition that made the session FAILED */
const char *smtpc_error(const struct smtpc_session *c)
{
    return c->error;
}

/* smtpc_find_ext - the offered extension named ext, or NULL */
const struct smtpc_ext *smtpc_find_ext(const struct smtpc_session *c, const char *ext)
{
    for (size_t i = 0; i < c->next; i++)
        if (strcasecmp(c->ext[i].name, ext) == 0)
            return &c->ext[i];
    return NULL;
}

/* smtpc_offers - did the last EHLO reply offer ext */
bool smtpc_offers(const struct smtpc_session *c, const char *ext)
{
    return smtpc_find_ext(c, ext) != NULL;
}

/* smtpc_tls_active - smtpc_tls_started() was called */
bool smtpc_tls_active(const struct smtpc_session *c)
{
    return c->tls_active;
}

/* smtpc_starttls_offered - STARTTLS was in the EHLO reply before TLS */
bool smtpc_starttls_offered(const struct smtpc_session *c)
{
    return c->starttls_offered;
}

/* smtpc_ehlo_line - record the extension named by one EHLO reply line (not the first) */
static void smtpc_ehlo_line(struct smtpc_session *c, const char *line, size_t len)
{
    struct smtpc_ext *e;
    size_t klen = 0, off;

    if (c->next >= SMTPC_EXT_MAX)
        return;
    e = &c->ext[c->next];
    while (klen < len && line[klen] != ' ' && line[klen] != '=')
        klen++;
    if (klen == 0 || klen >= sizeof(e->name))
        return;
    memcpy(e->name, line, klen);
    e->name[klen] = 0;
    off = klen < len ? klen + 1 : klen;
    if ((e->param = strndup(line + off, len - off)) != NULL)
        c->next++;
}

/* smtpc_enhanced - copy the enhanced status code of the reply into dsn, if it has one */
bool smtpc_enhanced(const char *text, int code, char dsn[8])
{
    const char *p = text;
    size_t n;

    if (strlen(p) < 4)
        return false;
    p += 4;
    if (p[0] != '0' + code / 100 || p[1] != '.')
        return false;
    n = 2;
    size_t d1 = strspn(p + n, "0123456789");
    if (d1 < 1 || d1 > 3 || p[n + d1] != '.')
        return false;
    n += d1 + 1;
    size_t d2 = strspn(p + n, "0123456789");
    if (d2 < 1 || d2 > 3 || (p[n + d2] != ' ' && p[n + d2] != 0))
        return false;
    n += d2;
    if (n >= 8)
        return false;
    memcpy(dsn, p, n);
    dsn[n] = 0;
    return true;
}

/* smtpc_fail - the connection is unusable (reason NULL: smtpc_set_error() was called) */
enum smtpc_event smtpc_fail(struct smtpc_session *c, const char *reason)
{
    if (reason && !c->error[0])
        smtpc_set_error(c, "%s", reason);
    smtpc_send_defer_open(c, "4.4.2", c->error);
    c->state = S_FAILED;
    return SMTPC_FAILED;
}

/* smtpc_fail_open - mark the open transaction's recipients deferred with reason */
void smtpc_fail_open(struct smtpc_session *c, const char *reason)
{
    if (!reason)
        reason = "lost connection with server";
    if (c->state == S_CLOSED)
        return;
    if (!c->error[0])
        smtpc_set_error(c, "%s", reason);
    smtpc_send_defer_open(c, "4.4.2", reason);
    c->state = S_FAILED;
}

/* smtpc_fail_reply - the current reply makes the connection unusable (421, garbage) */
enum smtpc_event smtpc_fail_reply(struct smtpc_session *c, const char *cmd)
{
    char dsn[8];
    int code = c->reply_code;

    if (cmd)
        smtpc_set_error(c, "%s said: %s (in reply to %s command)", c->host, buf_ptr(&c->reply),
                        cmd);
    else
        smtpc_set_error(c, "%s sent an unexpected reply: %s", c->host, buf_ptr(&c->reply));
    if (!smtpc_enhanced(buf_ptr(&c->reply), 400, dsn) || code / 100 != 4)
        snprintf(dsn, sizeof(dsn), "4.4.2");
    smtpc_send_defer_open(c, dsn, c->error);
    c->state = S_FAILED;
    return SMTPC_FAILED;
}

/* smtpc_quit - say goodbye */
void smtpc_quit(struct smtpc_session *c, struct buf *out)
{
    if (c->state == S_CLOSED)
        return;
    smtpc_send_defer_open(c, "4.4.2", "connection closed before the transaction ended");
    if (buf_puts(out, "QUIT\r\n") < 0)
        return;
    /* A failed session stays failed; QUIT is then a courtesy. */
    if (c->state != S_FAILED) {
        c->state = S_QUIT;
        buf_reset(&c->in);
        c->scan = 0;
    }
}

/* smtpc_ready - the handshake is over (NO_TLS: STARTTLS was refused, go on in plaintext) */
enum smtpc_event smtpc_ready(struct smtpc_session *c, bool no_tls)
{
    c->state = S_READY;
    return no_tls ? SMTPC_NO_TLS : SMTPC_READY;
}

/* smtpc_ehlo_done - EHLO (or HELO) accepted: STARTTLS, or READY */
static enum smtpc_event smtpc_ehlo_done(struct smtpc_session *c, struct buf *out)
{
    bool offered = smtpc_offers(c, "STARTTLS");

    if (!c->tls_active) {
        c->starttls_offered = offered;
        if (c->want_starttls && offered) {
            if (buf_puts(out, "STARTTLS\r\n") < 0)
                return smtpc_fail(c, "out of memory");
            c->state = S_STARTTLS;
            return SMTPC_NEED_MORE;
        }
        if (c->require_tls) {
            smtpc_set_error(c, "TLS is required, but was not offered by %s", c->host);
            c->state = S_READY;
            return SMTPC_NO_TLS;
        }
    }
    return smtpc_auth_begin(c, out, false);
}

/* smtpc_tls_started - TLS is up: forget what was said in plaintext, EHLO again */
int smtpc_tls_started(struct smtpc_session *c, struct buf *out)
{
    int rc;

    if (c->state != S_TLS)
        return -EINVAL;
    smtpc_clear_ext(c);
    buf_reset(&c->in);
    buf_reset(&c->reply);
    c->scan = 0;
    c->reply_code = 0;
    c->tls_active = true;
    if ((rc = buf_printf(out, "EHLO %s\r\n", c->helo_name)) < 0)
        return rc;
    c->state = S_EHLO;
    return 0;
}

/* smtpc_reply - act on one complete reply */
static enum smtpc_event smtpc_reply(struct smtpc_session *c, struct buf *out)
{
    int code = c->reply_code;
    int cls = code / 100;

    switch (c->state) {
    case S_GREETING:
        if (cls != 2) {
            smtpc_set_error(c, "%s refused to talk to me: %s", c->host, buf_ptr(&c->reply));
            c->state = S_FAILED;
            return SMTPC_FAILED;
        }
        if (buf_printf(out, "EHLO %s\r\n", c->helo_name) < 0)
            return smtpc_fail(c, "out of memory");
        smtpc_clear_ext(c);
        c->state = S_EHLO;
        return SMTPC_NEED_MORE;
    case S_EHLO:
        if (cls == 2)
            return smtpc_ehlo_done(c, out);
        if (cls == 5) {
            if (buf_printf(out, "HELO %s\r\n", c->helo_name) < 0)
                return smtpc_fail(c, "out of memory");
            c->state = S_HELO;
            return SMTPC_NEED_MORE;
        }
        return smtpc_fail_reply(c, "EHLO");
    case S_HELO:
        if (cls == 2) {
            smtpc_clear_ext(c);
            return smtpc_ehlo_done(c, out);
        }
        return smtpc_fail_reply(c, "HELO");
    case S_STARTTLS:
        if (cls == 2) {
            /* Nothing the server sent in plaintext after the 220 may survive. */
            buf_reset(&c->in);
            c->scan = 0;
            c->state = S_TLS;
            return SMTPC_STARTTLS;
        }
        if (code == 421 || (cls != 4 && cls != 5))
            return smtpc_fail_reply(c, "STARTTLS");
        smtpc_set_error(c, "%s said: %s (in reply to STARTTLS command)", c->host,
                        buf_ptr(&c->reply));
        if (c->require_tls)
            return smtpc_ready(c, true);
        /* may: go on in plaintext, after AUTH if there is one to do */
        return smtpc_auth_begin(c, out, true);
    case S_TLS:
        return smtpc_fail_reply(c, NULL);
    case S_AUTH:
        if (code == 421)
            return smtpc_fail_reply(c, "AUTH");
        return smtpc_auth_reply(c, out);
    case S_TXN:
        if (code == 421)
            return smtpc_fail_reply(c, smtpc_send_cmd_name(c->pend[c->pend_head].cmd));
        return smtpc_send_reply(c, out);
    case S_QUIT:
        c->state = S_CLOSED;
        return SMTPC_CLOSED;
    case S_READY:
        return smtpc_fail_reply(c, NULL);
    case S_FAILED:
        return SMTPC_FAILED;
    case S_CLOSED:
        return SMTPC_CLOSED;
    }
    return SMTPC_FAILED;
}

/* smtpc_line - add one reply line; 1 when the reply is complete, 0 more to come, <0 malformed */
static int smtpc_line(struct smtpc_session *c, const char *line, size_t len)
{
    int code;

    if (len < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
        !isdigit((unsigned char)line[2]) || line[0] < '1' || line[0] > '5' ||
        (len > 3 && line[3] != ' ' && line[3] != '-'))
        return -TERN_ERR_PROTOCOL;
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (c->reply_code == 0)
        c->reply_code = code;
    else if (code != c->reply_code)
        return -TERN_ERR_PROTOCOL;
    if (buf_used(&c->reply) + len + 1 > SMTPC_REPLY_MAX)
        return -TERN_ERR_PROTOCOL;
    if (buf_used(&c->reply) > 0) {
        if (c->state == S_EHLO && code / 100 == 2 && len > 4)
            smtpc_ehlo_line(c, line + 4, len - 4);
        if (buf_puts(&c->reply, " ") < 0)
            return -ENOMEM;
    }
    for (size_t i = 0; i < len; i++) {
        /* Keep the text printable: it goes into logs and bounces. */
        char ch = (unsigned char)line[i] < 0x20 || line[i] == 0x7f ? '?' : line[i];
        if (buf_append(&c->reply, &ch, 1) < 0)
            return -ENOMEM;
    }
    return len == 3 || line[3] == ' ';
}

/* smtpc_input - feed bytes from the server; returns what the caller must do next */
enum smtpc_event smtpc_input(struct smtpc_session *c, const char *data, size_t len, struct buf *out)
{
    if (c->state == S_FAILED)
        return SMTPC_FAILED;
    if (c->state == S_CLOSED)
        return SMTPC_CLOSED;
    if (len && buf_append(&c->in, data, len) < 0)
        return smtpc_fail(c, "out of memory");

    for (;;) {
        char *p = buf_ptr(&c->in);
        size_t avail = buf_used(&c->in);
        char *nl = memchr(p + c->scan, '\n', avail - c->scan);
        if (!nl) {
            c->scan = avail;
            if (avail + buf_used(&c->reply) > SMTPC_REPLY_MAX) {
                smtpc_set_error(c, "%s sent a reply longer than %d bytes", c->host,
                                SMTPC_REPLY_MAX);
                return smtpc_fail(c, NULL);
            }
            return SMTPC_NEED_MORE;
        }
        size_t llen = (size_t)(nl - p);
        size_t used = llen + 1;
        if (llen > 0 && p[llen - 1] == '\r')
            llen--;
        int rc = smtpc_line(c, p, llen);
        if (rc < 0) {
            if (rc == -ENOMEM)
                return smtpc_fail(c, "out of memory");
            smtpc_set_error(c, "%s sent a malformed or oversized reply: %.*s", c->host,
                            (int)(llen > 80 ? 80 : llen), p);
            return smtpc_fail(c, NULL);
        }
        buf_consume(&c->in, used);
        c->scan = 0;
        if (rc == 0)
            continue;
        enum smtpc_event ev = smtpc_reply(c, out);
        buf_reset(&c->reply);
        c->reply_code = 0;
        if (ev != SMTPC_NEED_MORE)
            return ev;
    }
}
