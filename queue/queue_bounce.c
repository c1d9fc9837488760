/*
 * NAME
 *	queue_bounce - RFC 3464 delivery status notifications (bounces)
 * SYNOPSIS
 *	queue_bounce_build(q, txn, m, &out);
 * DESCRIPTION
 *	Builds one non-delivery notification for the recipients of m marked
 *	fail_pending, as a new message from <> to the original sender, and
 *	appends it to out; the caller writes it in the same transaction that
 *	records the failures, so a bounce is never lost nor made for a failure
 *	that did not commit. The recipients' fail_pending flags are left alone:
 *	the caller clears them once the commit is durable.
 *
 *	The message is MIME multipart/report; report-type=delivery-status:
 *	a human-readable part naming each failed recipient and the reason, a
 *	message/delivery-status part (Reporting-MTA, X-Postfix-Queue-ID,
 *	Original-Envelope-Id when ENVID was given, and per recipient
 *	Final-Recipient, Original-Recipient for ORCPT, Action: failed, Status,
 *	Diagnostic-Code), then the original message: message/rfc822, or
 *	text/rfc822-headers when RET=HDRS or the message is larger than
 *	QUEUE_BOUNCE_SIZE_LIMIT (Postfix's bounce_size_limit). The report of a
 *	REQUIRETLS message holds its headers only and travels with REQUIRETLS
 *	itself (RFC 8689 section 5): it says what the message was about.
 * DIAGNOSTICS
 *	Returns 0, -ENOMEM, or -errno from reading the original content.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/time.h"
#include "queue/queue_impl.h"

/* put_clean - append text with CR, LF and other controls replaced, bounded */
static void put_clean(struct buf *b, const char *s, size_t max)
{
    size_t n = 0;
    for (; s && *s && n < max; s++, n++) {
        unsigned char c = (unsigned char)*s;
        char ch = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
        buf_append(b, &ch, 1);
    }
}

/* rfc2822_date - "Mon, 02 Jan 2006 15:04:05 +0000" */
static void rfc2822_date(char *out, size_t len, double t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(out, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* header_len - length of the header section including its final CRLF */
static size_t header_len(const char *data, size_t len)
{
    if (len >= 2 && data[0] == '\r' && data[1] == '\n')
        return 0;
    for (size_t i = 0; i + 3 < len; i++)
        if (data[i] == '\r' && data[i + 1] == '\n' && data[i + 2] == '\r' && data[i + 3] == '\n')
            return i + 2;
    return len;
}

/* queue_bounce_build - make the DSN for m's pending failures, append it to out */
int queue_bounce_build(struct queue *q, MDB_txn *txn, struct qmsg *m, struct qnew_vec *out)
{
    struct buf b = BUF_INIT;
    struct qmsg *bm = NULL;
    const char *orig = NULL;
    size_t olen = 0;
    char date[64], adate[64], bqid[QUEUE_ID_LEN + 1], boundary[128];
    double now = time_now();
    int rc = -ENOMEM;

    MDB_val k = {QUEUE_ID_LEN, m->qid}, v;
    int mrc = mdb_get(txn, q->dbi_body, &k, &v);
    if (mrc == 0) {
        orig = v.mv_data;
        olen = v.mv_size;
    } else if (mrc != MDB_NOTFOUND) {
        return queue_store_err(mrc);
    }

    queue_id_new(bqid);
    rfc2822_date(date, sizeof(date), now);
    rfc2822_date(adate, sizeof(adate), m->arrival);
    snprintf(boundary, sizeof(boundary), "%s.%lld/%s", bqid, (long long)now, q->myhostname);
    const char *from = q->bounce_from && *q->bounce_from ? q->bounce_from : NULL;

    if (from)
        buf_printf(&b, "From: %s (Mail Delivery System)\r\n", from);
    else
        buf_printf(&b, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n", q->myhostname);
    buf_printf(&b,
               "Date: %s\r\n"
               "Subject: Undelivered Mail Returned to Sender\r\n"
               "To: %s\r\n"
               "Auto-Submitted: auto-replied\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: multipart/report; report-type=delivery-status;\r\n"
               "\tboundary=\"%s\"\r\n"
               "Content-Transfer-Encoding: 8bit\r\n"
               "Message-Id: <%s@%s>\r\n"
               "\r\n"
               "This is a MIME-encapsulated message.\r\n"
               "\r\n",
               date, m->sender, boundary, bqid, q->myhostname);

    /* Part 1: for humans. */
    buf_printf(&b,
               "--%s\r\n"
               "Content-Description: Notification\r\n"
               "Content-Type: text/plain; charset=us-ascii\r\n"
               "\r\n"
               "This is the mail system at host %s.\r\n"
               "\r\n"
               "I'm sorry to have to inform you that your message could not\r\n"
               "be delivered to one or more recipients. It's attached below.\r\n"
               "\r\n"
               "For further assistance, please send mail to postmaster.\r\n"
               "\r\n"
               "If you do so, please include this problem report. You can\r\n"
               "delete your own text from the attached returned message.\r\n"
               "\r\n"
               "                   The mail system\r\n",
               boundary, q->myhostname);
    for (size_t i = 0; i < m->nrcpt; i++) {
        const struct qrcpt *r = &m->rcpt[i];
        if (!r->fail_pending)
            continue;
        buf_puts(&b, "\r\n<");
        put_clean(&b, r->addr, 512);
        buf_puts(&b, ">: ");
        put_clean(&b, r->reason ? r->reason : "delivery failed", 900);
        buf_puts(&b, "\r\n");
    }

    /* Part 2: for machines. */
    buf_printf(&b,
               "\r\n--%s\r\n"
               "Content-Description: Delivery report\r\n"
               "Content-Type: message/delivery-status\r\n"
               "\r\n"
               "Reporting-MTA: dns; %s\r\n"
               "X-Postfix-Queue-ID: %s\r\n"
               "X-Postfix-Sender: rfc822; %s\r\n",
               boundary, q->myhostname, m->qid, m->sender);
    if (m->envid) {
        buf_puts(&b, "Original-Envelope-Id: ");
        put_clean(&b, m->envid, 200);
        buf_puts(&b, "\r\n");
    }
    buf_printf(&b, "Arrival-Date: %s\r\n", adate);
    for (size_t i = 0; i < m->nrcpt; i++) {
        const struct qrcpt *r = &m->rcpt[i];
        if (!r->fail_pending)
            continue;
        buf_puts(&b, "\r\nFinal-Recipient: rfc822; ");
        put_clean(&b, r->addr, 512);
        buf_puts(&b, "\r\n");
        if (r->orcpt) {
            buf_puts(&b, "Original-Recipient: ");
            if (!strchr(r->orcpt, ';'))
                buf_puts(&b, "rfc822;");
            put_clean(&b, r->orcpt, 512);
            buf_puts(&b, "\r\n");
        }
        buf_printf(&b, "Action: failed\r\nStatus: %s\r\nDiagnostic-Code: smtp; ",
                   r->dsn[0] ? r->dsn : "5.0.0");
        put_clean(&b, r->reason ? r->reason : "delivery failed", 900);
        buf_puts(&b, "\r\n");
    }

    /* Part 3: the original message, or its headers. */
    /* RFC 8689 5: a REQUIRETLS message's report carries its headers only, and REQUIRETLS */
    bool full = m->ret != DSN_RET_HDRS && !m->requiretls && olen <= QUEUE_BOUNCE_SIZE_LIMIT;
    size_t part = full ? olen : header_len(orig ? orig : "", olen);
    if (part > QUEUE_BOUNCE_SIZE_LIMIT)
        part = QUEUE_BOUNCE_SIZE_LIMIT;
    buf_printf(&b,
               "\r\n--%s\r\n"
               "Content-Description: %s\r\n"
               "Content-Type: %s\r\n"
               "Content-Transfer-Encoding: %s\r\n"
               "\r\n",
               boundary, full ? "Undelivered Message" : "Undelivered Message Headers",
               full ? "message/rfc822" : "text/rfc822-headers",
               m->body_type == BODY_8BITMIME ? "8bit" : "7bit");
    if (!orig)
        part = 0;
    if (part)
        buf_append(&b, orig, part);
    if (part && (part < 2 || orig[part - 2] != '\r' || orig[part - 1] != '\n'))
        buf_puts(&b, "\r\n");
    if (buf_printf(&b, "\r\n--%s--\r\n", boundary) < 0 || !b.data)
        goto fail;

    /* The envelope: from <>, to the original sender. */
    if (!(bm = queue_msg_queued_new()))
        goto fail;
    memcpy(bm->qid, bqid, sizeof(bm->qid));
    bm->sender = strdup("");
    bm->rcpt = calloc(1, sizeof(*bm->rcpt));
    if (!bm->sender || !bm->rcpt || !(bm->rcpt[0].addr = strdup(m->sender)))
        goto fail;
    bm->nrcpt = bm->nleft = 1;
    bm->rcpt[0].state = QR_WAITING;
    bm->rcpt[0].next_try = now;
    bm->ret = DSN_RET_NONE;
    bm->body_type = m->body_type;
    bm->smtputf8 = m->smtputf8;
    bm->requiretls = m->requiretls;
    bm->arrival = bm->queued = now;

    struct qnew n = {.m = bm};
    n.data = buf_steal(&b, &n.len);
    bm->size = n.len;
    snprintf(n.bounce_of, sizeof(n.bounce_of), "%s", m->qid);
    if ((rc = queue_msg_pending_push(out, &n)) < 0) {
        free(n.data);
        goto fail;
    }
    return 0;
fail:
    buf_free(&b);
    queue_msg_queued_free(bm);
    return rc;
}
