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
 *	Commands awaiting a reply sit in a FIFO (pend[]). With PIPELINING the
 *	transaction's RSET (if any), MAIL, RCPTs and DATA are written at once
 *	and the FIFO holds all of them; in lock-step it holds one, and the
 *	reply handler writes the next command. The same handlers serve both.
 *
 *	Content is normalised on the way out: every bare LF and every bare CR
 *	becomes CRLF (so no lone CR or LF can reach a server that might take
 *	it for a line end: no SMTP smuggling), lines starting with "." get one
 *	more ".", a missing final line end is added, then ".\r\n".
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
 *	After SMTPC_FAILED the caller may still call smtpc_quit() to be polite
 *	(Postfix sends QUIT after a refused greeting), or just close.
 * DIAGNOSTICS
 *	smtpc_send() returns -EBUSY when not READY, -EINVAL for a delivery with
 *	no recipients or with CR/LF/NUL in an address or parameter, -ENOMEM,
 *	or -TERN_ERR_PROTOCOL when the server sent bytes while idle (the
 *	session then is FAILED).
 */
#include "core/delivery/smtpc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/base64.h"
#include "core/base/error.h"

#define SMTPC_REPLY_MAX (64 * 1024) /* one reply, all lines */
#define SMTPC_EXT_MAX 32

enum smtpc_state {
    S_GREETING, /* waiting for 220 */
    S_EHLO,     /* EHLO sent */
    S_HELO,     /* HELO sent after EHLO 5xx */
    S_STARTTLS, /* STARTTLS sent */
    S_TLS,      /* 220 to STARTTLS: waiting for smtpc_tls_started() */
    S_AUTH,     /* AUTH exchange in progress */
    S_READY,    /* idle, can take a transaction */
    S_TXN,      /* transaction open, replies pending in pend[] */
    S_QUIT,     /* QUIT sent */
    S_FAILED,
    S_CLOSED,
};

enum smtpc_cmd { CMD_RSET, CMD_MAIL, CMD_RCPT, CMD_DATA, CMD_DOT };

struct smtpc_pend {
    enum smtpc_cmd cmd;
    size_t idx; /* recipient index for CMD_RCPT */
};

struct smtpc_ext {
    char name[32];
    char *param; /* text after the keyword, or "" */
};

struct smtpc_session {
    enum smtpc_state state;
    char *helo_name;
    char *host; /* "host name[addr]" for reasons */
    bool want_pipelining;
    bool want_starttls;    /* use STARTTLS if offered */
    bool require_tls;      /* never a transaction in plaintext */
    bool tls_active;       /* smtpc_tls_started() was called */
    bool starttls_offered; /* seen in the EHLO reply before TLS */
    char error[512];

    struct buf in;    /* unparsed server bytes */
    size_t scan;      /* bytes of `in` already scanned for the current reply */
    struct buf reply; /* the current reply's lines, joined */
    int reply_code;   /* code of its first line, 0 = none yet */

    struct smtpc_ext ext[SMTPC_EXT_MAX];
    size_t next;

    /* the open transaction */
    struct queue_delivery *d;
    const char *body;
    size_t blen;
    struct smtpc_pend *pend; /* FIFO of commands awaiting replies */
    size_t pend_head, pend_tail, pend_cap;
    bool *accepted; /* per recipient: RCPT got 2xx */
    size_t naccepted;
    size_t next_rcpt; /* lock-step: next RCPT to write */
    bool pipelined;   /* this transaction is pipelined */
    bool mail_failed; /* MAIL refused: everything else is moot */
    bool discard_dot; /* "." sent only to close DATA with no recipients */
    bool need_rset;   /* last transaction did not end in 2xx */

    /* AUTH */
    const struct smtpc_auth *auth;
    bool auth_done, auth_failed;
    bool auth_then_no_tls; /* STARTTLS was refused: NO_TLS after the exchange */
    int auth_steps;
};

/* smtpc_set_error - remember the text of a fatal condition */
static void smtpc_set_error(struct smtpc_session *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void smtpc_set_error(struct smtpc_session *c, const char *fmt, ...)
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
static const struct smtpc_ext *smtpc_find_ext(const struct smtpc_session *c, const char *ext)
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
static bool smtpc_enhanced(const char *text, int code, char dsn[8])
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

/* smtpc_rcpt_result - set one recipient's final status, dsn and reason (takes reason) */
static void smtpc_rcpt_result(struct queue_delivery_rcpt *r, int status, const char *dsn,
                              char *reason)
{
    r->status = status;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    free(r->reason);
    r->reason = reason;
}

/* smtpc_reply_status - recipient status, dsn and reason for the current reply */
static int smtpc_reply_status(struct smtpc_session *c, const char *cmd, char dsn[8], char **reason)
{
    int code = c->reply_code;
    const char *text = buf_ptr(&c->reply);
    int status = code / 100 == 2 ? RCPT_SENT : code / 100 == 5 ? RCPT_BOUNCED : RCPT_DEFERRED;
    int cls = status == RCPT_SENT ? 2 : status == RCPT_BOUNCED ? 5 : 4;

    if (!smtpc_enhanced(text, cls * 100, dsn))
        snprintf(dsn, 8, "%d.0.0", cls);
    if (status == RCPT_SENT) {
        *reason = strdup(text);
    } else {
        size_t n = strlen(c->host) + strlen(text) + strlen(cmd) + 40;
        *reason = malloc(n);
        if (*reason)
            snprintf(*reason, n, "%s said: %s (in reply to %s command)", c->host, text, cmd);
    }
    return status;
}

/* smtpc_apply - give the current reply as result to recipients: all, or the accepted ones */
static void smtpc_apply(struct smtpc_session *c, const char *cmd, bool only_accepted)
{
    char dsn[8];
    char *reason = NULL;
    int status = smtpc_reply_status(c, cmd, dsn, &reason);

    for (size_t i = 0; i < c->d->nrcpt; i++) {
        struct queue_delivery_rcpt *r = &c->d->rcpt[i];
        if (only_accepted ? !c->accepted[i] : r->status != RCPT_PENDING)
            continue;
        smtpc_rcpt_result(r, status, dsn, reason ? strdup(reason) : NULL);
    }
    free(reason);
}

/* smtpc_defer_open - every recipient of the open transaction still pending is deferred */
static void smtpc_defer_open(struct smtpc_session *c, const char *reason)
{
    if (c->state != S_TXN || !c->d)
        return;
    for (size_t i = 0; i < c->d->nrcpt; i++) {
        struct queue_delivery_rcpt *r = &c->d->rcpt[i];
        if (r->status == RCPT_PENDING)
            smtpc_rcpt_result(r, RCPT_DEFERRED, "4.4.2", strdup(reason));
    }
    c->d = NULL;
}

/* smtpc_end_txn - close the transaction; RSET before the next unless it went well */
static enum smtpc_event smtpc_end_txn(struct smtpc_session *c, bool ok)
{
    /* Nobody should be left pending here; if so, do not lose them. */
    smtpc_defer_open(c, "transaction ended without a result");
    c->need_rset = !ok;
    c->state = S_READY;
    return SMTPC_TXN_DONE;
}

/* smtpc_fail - the connection is unusable (reason NULL: smtpc_set_error() was called) */
static enum smtpc_event smtpc_fail(struct smtpc_session *c, const char *reason)
{
    if (reason && !c->error[0])
        smtpc_set_error(c, "%s", reason);
    smtpc_defer_open(c, c->error);
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
    smtpc_defer_open(c, reason);
    c->state = S_FAILED;
}

/* smtpc_fail_reply - the current reply makes the connection unusable (421, garbage) */
static enum smtpc_event smtpc_fail_reply(struct smtpc_session *c, const char *cmd)
{
    char dsn[8];
    char *reason = NULL;
    int code = c->reply_code;

    if (cmd)
        smtpc_set_error(c, "%s said: %s (in reply to %s command)", c->host, buf_ptr(&c->reply),
                        cmd);
    else
        smtpc_set_error(c, "%s sent an unexpected reply: %s", c->host, buf_ptr(&c->reply));
    if (c->state == S_TXN && c->d) {
        if (!smtpc_enhanced(buf_ptr(&c->reply), 400, dsn) || code / 100 != 4)
            snprintf(dsn, sizeof(dsn), "4.4.2");
        for (size_t i = 0; i < c->d->nrcpt; i++) {
            struct queue_delivery_rcpt *r = &c->d->rcpt[i];
            if (r->status != RCPT_PENDING)
                continue;
            reason = strdup(c->error);
            smtpc_rcpt_result(r, RCPT_DEFERRED, dsn, reason);
        }
        c->d = NULL;
    }
    c->state = S_FAILED;
    return SMTPC_FAILED;
}

/* smtpc_push - a command now awaits its reply */
static void smtpc_push(struct smtpc_session *c, enum smtpc_cmd cmd, size_t idx)
{
    /* pend_cap is nrcpt + 4: RSET, MAIL, RCPTs, DATA, DOT never overflow. */
    c->pend[c->pend_tail].cmd = cmd;
    c->pend[c->pend_tail].idx = idx;
    c->pend_tail++;
}

/* smtpc_clean - is s free of characters that could break a command line */
static bool smtpc_clean(const char *s)
{
    if (!s)
        return true;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '<' || *s == '>')
            return false;
    return true;
}

/* smtpc_write_mail - append MAIL FROM with the parameters the server offers */
static int smtpc_write_mail(struct smtpc_session *c, struct buf *out)
{
    struct queue_delivery *d = c->d;
    int rc = buf_printf(out, "MAIL FROM:<%s>", d->sender ? d->sender : "");

    if (rc == 0 && smtpc_offers(c, "SIZE"))
        rc = buf_printf(out, " SIZE=%zu", c->blen);
    if (rc == 0 && d->body_type == BODY_8BITMIME && smtpc_offers(c, "8BITMIME"))
        rc = buf_puts(out, " BODY=8BITMIME");
    if (rc == 0 && d->smtputf8 && smtpc_offers(c, "SMTPUTF8"))
        rc = buf_puts(out, " SMTPUTF8");
    if (rc == 0 && smtpc_offers(c, "DSN")) {
        if (d->ret == DSN_RET_FULL)
            rc = buf_puts(out, " RET=FULL");
        else if (d->ret == DSN_RET_HDRS)
            rc = buf_puts(out, " RET=HDRS");
        if (rc == 0 && d->envid && *d->envid)
            rc = buf_printf(out, " ENVID=%s", d->envid);
    }
    if (rc == 0)
        rc = buf_puts(out, "\r\n");
    return rc;
}

/* smtpc_write_rcpt - append RCPT TO for recipient i */
static int smtpc_write_rcpt(struct smtpc_session *c, size_t i, struct buf *out)
{
    struct queue_delivery_rcpt *r = &c->d->rcpt[i];
    int rc = buf_printf(out, "RCPT TO:<%s>", r->addr);

    if (rc == 0 && smtpc_offers(c, "DSN")) {
        unsigned n = r->notify;
        if (n & DSN_NOTIFY_NEVER) {
            rc = buf_puts(out, " NOTIFY=NEVER");
        } else if (n) {
            const char *sep = " NOTIFY=";
            static const struct {
                unsigned bit;
                const char *name;
            } names[] = {{DSN_NOTIFY_SUCCESS, "SUCCESS"},
                         {DSN_NOTIFY_FAILURE, "FAILURE"},
                         {DSN_NOTIFY_DELAY, "DELAY"}};
            for (size_t k = 0; rc == 0 && k < sizeof(names) / sizeof(names[0]); k++) {
                if (n & names[k].bit) {
                    rc = buf_printf(out, "%s%s", sep, names[k].name);
                    sep = ",";
                }
            }
        }
        if (rc == 0 && r->orcpt && *r->orcpt)
            rc = buf_printf(out, " ORCPT=%s", r->orcpt);
    }
    if (rc == 0)
        rc = buf_puts(out, "\r\n");
    return rc;
}

/* smtpc_write_content - append the body dot-stuffed with CRLF line ends, then "." */
static int smtpc_write_content(struct smtpc_session *c, const char *p, size_t len, struct buf *out)
{
    size_t i = 0, start = 0;
    bool bol = true;
    int rc;

    /* Worst case every byte becomes two, plus the final line end and dot. */
    if ((rc = buf_reserve(out, len + len / 8 + 8)) < 0)
        return rc;
    while (i < len) {
        char ch = p[i];
        if (bol && ch == '.') {
            if ((rc = buf_append(out, p + start, i - start)) < 0 || (rc = buf_puts(out, ".")) < 0)
                return rc;
            start = i;
        }
        bol = false;
        if (ch == '\r' || ch == '\n') {
            if ((rc = buf_append(out, p + start, i - start)) < 0 ||
                (rc = buf_puts(out, "\r\n")) < 0)
                return rc;
            i += (ch == '\r' && i + 1 < len && p[i + 1] == '\n') ? 2 : 1;
            start = i;
            bol = true;
            continue;
        }
        i++;
    }
    if ((rc = buf_append(out, p + start, i - start)) < 0)
        return rc;
    if (!bol && (rc = buf_puts(out, "\r\n")) < 0)
        return rc;
    return buf_puts(out, ".\r\n");
}

/* smtpc_send - start a transaction; d and body are borrowed until TXN_DONE/FAILED */
int smtpc_send(struct smtpc_session *c, struct queue_delivery *d, const char *body, size_t len,
               struct buf *out)
{
    size_t n = d->nrcpt;
    int rc;

    if (c->state != S_READY)
        return -EBUSY;
    if (c->require_tls && !c->tls_active)
        return -EPERM;
    if (buf_used(&c->in) > 0) {
        smtpc_set_error(c, "%s sent data while idle: %.60s", c->host, buf_ptr(&c->in));
        c->state = S_FAILED;
        return -TERN_ERR_PROTOCOL;
    }
    if (n == 0 || !smtpc_clean(d->sender) || !smtpc_clean(d->envid) ||
        strchr(d->envid ? d->envid : "", ' '))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!d->rcpt[i].addr || !smtpc_clean(d->rcpt[i].addr) || !smtpc_clean(d->rcpt[i].orcpt) ||
            strchr(d->rcpt[i].orcpt ? d->rcpt[i].orcpt : "", ' '))
            return -EINVAL;

    if (c->pend_cap < n + 4) {
        struct smtpc_pend *np = realloc(c->pend, (n + 4) * sizeof(*np));
        if (!np)
            return -ENOMEM;
        c->pend = np;
        c->pend_cap = n + 4;
    }
    free(c->accepted);
    if (!(c->accepted = calloc(n, sizeof(bool))))
        return -ENOMEM;
    c->d = d;
    c->body = body;
    c->blen = len;
    c->pend_head = c->pend_tail = 0;
    c->naccepted = 0;
    c->next_rcpt = 0;
    c->mail_failed = c->discard_dot = false;
    c->pipelined = c->want_pipelining && smtpc_offers(c, "PIPELINING");
    for (size_t i = 0; i < n; i++)
        d->rcpt[i].status = RCPT_PENDING;
    c->state = S_TXN;

    if (c->need_rset) {
        if ((rc = buf_puts(out, "RSET\r\n")) < 0)
            goto fail;
        smtpc_push(c, CMD_RSET, 0);
        if (!c->pipelined)
            return 0;
    }
    if ((rc = smtpc_write_mail(c, out)) < 0)
        goto fail;
    smtpc_push(c, CMD_MAIL, 0);
    if (c->pipelined) {
        for (size_t i = 0; i < n; i++) {
            if ((rc = smtpc_write_rcpt(c, i, out)) < 0)
                goto fail;
            smtpc_push(c, CMD_RCPT, i);
        }
        c->next_rcpt = n;
        if ((rc = buf_puts(out, "DATA\r\n")) < 0)
            goto fail;
        smtpc_push(c, CMD_DATA, 0);
    }
    return 0;
fail:
    c->state = S_READY;
    c->d = NULL;
    return rc;
}

/* smtpc_quit - say goodbye */
void smtpc_quit(struct smtpc_session *c, struct buf *out)
{
    if (c->state == S_CLOSED)
        return;
    smtpc_defer_open(c, "connection closed before the transaction ended");
    if (buf_puts(out, "QUIT\r\n") < 0)
        return;
    /* A failed session stays failed; QUIT is then a courtesy. */
    if (c->state != S_FAILED) {
        c->state = S_QUIT;
        buf_reset(&c->in);
        c->scan = 0;
    }
}

/* smtpc_next_lockstep - after a reply in lock-step: write the next command or finish */
static enum smtpc_event smtpc_next_lockstep(struct smtpc_session *c, struct buf *out)
{
    int rc = 0;

    if (c->mail_failed)
        return smtpc_end_txn(c, false);
    if (c->next_rcpt < c->d->nrcpt) {
        rc = smtpc_write_rcpt(c, c->next_rcpt, out);
        smtpc_push(c, CMD_RCPT, c->next_rcpt);
        c->next_rcpt++;
    } else if (c->naccepted == 0) {
        return smtpc_end_txn(c, false);
    } else {
        rc = buf_puts(out, "DATA\r\n");
        smtpc_push(c, CMD_DATA, 0);
    }
    if (rc < 0)
        return smtpc_fail(c, "out of memory");
    return SMTPC_NEED_MORE;
}

/* smtpc_txn_reply - handle the reply to the oldest pending transaction command */
static enum smtpc_event smtpc_txn_reply(struct smtpc_session *c, struct buf *out)
{
    struct smtpc_pend pd = c->pend[c->pend_head++];
    int cls = c->reply_code / 100;
    int rc;

    switch (pd.cmd) {
    case CMD_RSET:
        if (cls != 2)
            return smtpc_fail_reply(c, "RSET");
        if (!c->pipelined) {
            if (smtpc_write_mail(c, out) < 0)
                return smtpc_fail(c, "out of memory");
            smtpc_push(c, CMD_MAIL, 0);
        }
        return SMTPC_NEED_MORE;
    case CMD_MAIL:
        if (cls != 2 && cls != 4 && cls != 5)
            return smtpc_fail_reply(c, "MAIL FROM");
        if (cls != 2) {
            c->mail_failed = true;
            smtpc_apply(c, "MAIL FROM", false);
        }
        return c->pipelined ? SMTPC_NEED_MORE : smtpc_next_lockstep(c, out);
    case CMD_RCPT:
        if (cls != 2 && cls != 4 && cls != 5)
            return smtpc_fail_reply(c, "RCPT TO");
        if (!c->mail_failed) {
            if (cls == 2) {
                c->accepted[pd.idx] = true;
                c->naccepted++;
            } else {
                char dsn[8];
                char *reason = NULL;
                int st = smtpc_reply_status(c, "RCPT TO", dsn, &reason);
                smtpc_rcpt_result(&c->d->rcpt[pd.idx], st, dsn, reason);
            }
        }
        return c->pipelined ? SMTPC_NEED_MORE : smtpc_next_lockstep(c, out);
    case CMD_DATA:
        if (cls == 3) {
            if (c->mail_failed || c->naccepted == 0) {
                /* RFC 2920: DATA was accepted with no recipient; send an empty message. */
                c->discard_dot = true;
                rc = buf_puts(out, ".\r\n");
            } else {
                rc = smtpc_write_content(c, c->body, c->blen, out);
            }
            if (rc < 0)
                return smtpc_fail(c, "out of memory");
            smtpc_push(c, CMD_DOT, 0);
            return SMTPC_NEED_MORE;
        }
        if (cls != 4 && cls != 5)
            return smtpc_fail_reply(c, "DATA");
        if (!c->mail_failed && c->naccepted > 0)
            smtpc_apply(c, "DATA", true);
        return smtpc_end_txn(c, false);
    case CMD_DOT:
        if (cls != 2 && cls != 4 && cls != 5)
            return smtpc_fail_reply(c, "end of DATA");
        if (c->discard_dot)
            return smtpc_end_txn(c, false);
        smtpc_apply(c, "end of DATA", true);
        return smtpc_end_txn(c, cls == 2);
    }
    return smtpc_fail_reply(c, NULL);
}

/* smtpc_cmd_name - the command as Postfix names it in "(in reply to X command)" */
static const char *smtpc_cmd_name(enum smtpc_cmd cmd)
{
    switch (cmd) {
    case CMD_RSET:
        return "RSET";
    case CMD_MAIL:
        return "MAIL FROM";
    case CMD_RCPT:
        return "RCPT TO";
    case CMD_DATA:
        return "DATA";
    case CMD_DOT:
        return "end of DATA";
    }
    return "unknown";
}

/* smtpc_ready - the handshake is over (NO_TLS: STARTTLS was refused, go on in plaintext) */
static enum smtpc_event smtpc_ready(struct smtpc_session *c, bool no_tls)
{
    c->state = S_READY;
    return no_tls ? SMTPC_NO_TLS : SMTPC_READY;
}

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
static enum smtpc_event smtpc_auth_begin(struct smtpc_session *c, struct buf *out, bool no_tls)
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
static enum smtpc_event smtpc_auth_reply(struct smtpc_session *c, struct buf *out)
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
            return smtpc_fail_reply(c, smtpc_cmd_name(c->pend[c->pend_head].cmd));
        return smtpc_txn_reply(c, out);
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

bool smtpc_auth_failed(const struct smtpc_session *c)
{
    return c->auth_failed;
}

bool smtpc_authenticated(const struct smtpc_session *c)
{
    return c->auth_done;
}
