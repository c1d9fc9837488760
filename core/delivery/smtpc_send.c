/*
 * NAME
 *	smtpc_send - one mail transaction of the SMTP client: commands out, results in
 * SYNOPSIS
 *	#include "core/delivery/smtpc.h"
 *
 *	int smtpc_send(struct smtpc_session *c, struct queue_delivery *d, const char *body,
 *	               size_t len, struct buf *out);
 *
 *	#include "core/delivery/smtpc_impl.h"
 *
 *	enum smtpc_event smtpc_send_reply(struct smtpc_session *c, struct buf *out);
 *	void smtpc_send_defer_open(struct smtpc_session *c, const char *dsn, const char *reason);
 * DESCRIPTION
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
 *	Each recipient gets the reply that decided it: its RCPT's 4xx/5xx, or
 *	MAIL's, DATA's or end of DATA's reply, with the enhanced status code
 *	(or the class's x.0.0) and, for a failure, "host H said: TEXT (in reply
 *	to CMD command)" as Postfix writes it. The FIFO holds nrcpt + 4
 *	commands at most (RSET, MAIL, RCPTs, DATA, the final dot).
 * DIAGNOSTICS
 *	smtpc_send() returns -EBUSY when not READY, -EPERM when TLS is required
 *	and not up, -EINVAL for a delivery with no recipients or with CR/LF/NUL
 *	in an address or parameter, -ENOMEM, or -TERN_ERR_PROTOCOL when the
 *	server sent bytes while idle (the session then is FAILED).
 */
#include "core/delivery/smtpc.h"
#include "core/delivery/smtpc_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error.h"

/* smtpc_send_rcpt_result - set one recipient's final status, dsn and reason (takes reason) */
void smtpc_send_rcpt_result(struct queue_delivery_rcpt *r, int status, const char *dsn,
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
        smtpc_send_rcpt_result(r, status, dsn, reason ? strdup(reason) : NULL);
    }
    free(reason);
}

/* smtpc_send_defer_open - every recipient of the open transaction still pending is deferred
 * with dsn and reason; the transaction is forgotten */
void smtpc_send_defer_open(struct smtpc_session *c, const char *dsn, const char *reason)
{
    if (c->state != S_TXN || !c->d)
        return;
    for (size_t i = 0; i < c->d->nrcpt; i++) {
        struct queue_delivery_rcpt *r = &c->d->rcpt[i];
        if (r->status == RCPT_PENDING)
            smtpc_send_rcpt_result(r, RCPT_DEFERRED, dsn, strdup(reason));
    }
    c->d = NULL;
}

/* smtpc_end_txn - close the transaction; RSET before the next unless it went well */
static enum smtpc_event smtpc_end_txn(struct smtpc_session *c, bool ok)
{
    /* Nobody should be left pending here; if so, do not lose them. */
    smtpc_send_defer_open(c, "4.4.2", "transaction ended without a result");
    c->need_rset = !ok;
    c->state = S_READY;
    return SMTPC_TXN_DONE;
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
    if (rc == 0 && d->requiretls && smtpc_offers(c, "REQUIRETLS"))
        rc = buf_puts(out, " REQUIRETLS");
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

/* smtpc_write_content - append the body dot-stuffed with CRLF line ends, then "."
 *
 * Line by line with memchr: runs of lines that already end in CRLF and do not start with a dot
 * (nearly all of a queued body) go out in one copy; a line starting with a dot gets a second
 * one, a bare CR or LF becomes CRLF, a last line without an end gets one. The byte-at-a-time
 * version was 5% of ternd's CPU in bench mixed (issue 13). */
static int smtpc_write_content(struct smtpc_session *c, const char *p, size_t len, struct buf *out)
{
    size_t i = 0, start = 0; /* i: the start of a line; start: the first octet not appended */
    int rc;

    /* Worst case every byte becomes two, plus the final line end and dot. */
    if ((rc = buf_reserve(out, len + len / 8 + 8)) < 0)
        return rc;
    while (i < len) {
        if (p[i] == '.') {
            if ((rc = buf_append(out, p + start, i - start)) < 0 || (rc = buf_puts(out, ".")) < 0)
                return rc;
            start = i;
        }
        const char *nl = memchr(p + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - p) : len;
        const char *cr = memchr(p + i, '\r', end - i);
        if (nl && cr && (size_t)(cr - p) + 1 == end) {
            i = end + 1; /* CRLF: stays in the run */
            continue;
        }
        /* the line ends at a bare CR, a bare LF or the end of the content */
        size_t stop = cr ? (size_t)(cr - p) : end;
        if ((rc = buf_append(out, p + start, stop - start)) < 0 || (rc = buf_puts(out, "\r\n")) < 0)
            return rc;
        i = start = stop < len ? stop + 1 : len;
    }
    if ((rc = buf_append(out, p + start, len - start)) < 0)
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

/* smtpc_send_reply - handle the reply to the oldest pending transaction command */
enum smtpc_event smtpc_send_reply(struct smtpc_session *c, struct buf *out)
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
                smtpc_send_rcpt_result(&c->d->rcpt[pd.idx], st, dsn, reason);
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

/* smtpc_send_cmd_name - the command as Postfix names it in "(in reply to X command)" */
const char *smtpc_send_cmd_name(enum smtpc_cmd cmd)
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
