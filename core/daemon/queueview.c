/*
 * NAME
 *	queueview - the text of `ternctl queue`, made from the queue's snapshots
 * SYNOPSIS
 *	queueview_list(q, fp);         // like mailq
 *	queueview_show(q, qid, fp);    // like postcat: envelope, recipients, content
 *	queueview_verify(q, fp);       // damaged records, then a count
 *
 *	queueview_print_list(snap, fp); // the same from a snapshot in hand
 *	queueview_print_show(snap, fp);
 *	queueview_print_verify(snap, fp);
 * DESCRIPTION
 *	Presentation only. queueview_list/show/verify ask the queue for a
 *	snapshot (queue_ctl_list(), queue_ctl_show(), queue_ctl_verify(): plain
 *	data made on the queue thread, then ours), write it to fp as text with
 *	queueview_print_*() and free it; the queue thread never formats and
 *	never sees fp. The print functions only read the snapshot (the fuzz
 *	target feeds them what recovery made of damaged records). fp is the
 *	caller's (the control socket's memory stream). The text is as large as
 *	the snapshot, which is in proportion to the queue.
 *
 *	list prints, like Postfix's mailq, per message
 *	  QID[*|!]  size  arrival-date  sender
 *	  (reason)                          - the last failure, when there is one
 *	                    recipient       - every recipient not yet done
 *	and ends with "-- N Kbytes in M Requests." ('*': in delivery, '!': on
 *	hold), or says "Mail queue is empty". Messages come in arrival (queue
 *	ID) order.
 *
 *	Both list and verify end with the corrupt queue, one line
 *	"NAME# (corrupt: kept in DIR)" per message and a count. verify prints
 *	"KEY: reason" per damaged record (moved to the corrupt queue by the
 *	queue) and "-- N records verified, M damaged.".
 * DIAGNOSTICS
 *	The queue_ctl_*() call's result: 0 or -errno. What the snapshot holds
 *	after a failure is printed all the same (show: the envelope when the
 *	content cannot be read; verify: the damaged records found before the
 *	walk stopped), as the control socket sends the text after the error.
 */
#include "core/daemon/queueview.h"

#include <string.h>
#include <time.h>

/* queueview_time - "Mon Jan  2 15:04:05", local time */
static void queueview_time(char *out, size_t len, double t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(out, len, "%a %b %e %H:%M:%S", &tm);
}

/* queueview_corrupt - the corrupt queue's entries and their count */
static void queueview_corrupt(const struct queue_snapshot *s, FILE *fp)
{
    for (size_t i = 0; i < s->ncorrupt; i++)
        fprintf(fp, "%s# (corrupt: kept in %s)\n", s->corrupt[i], s->corrupt_dir);
}

/* queueview_corrupt_count - "-- N corrupt messages kept ...", when there is one */
static void queueview_corrupt_count(const struct queue_snapshot *s, FILE *fp)
{
    if (s->ncorrupt > 0)
        fprintf(fp, "-- %zu corrupt message%s kept for the operator.\n", s->ncorrupt,
                s->ncorrupt == 1 ? "" : "s");
}

/* queueview_print_list - a list snapshot as mailq-like text */
void queueview_print_list(const struct queue_snapshot *s, FILE *fp)
{
    size_t total = 0;
    if (s->nmsg == 0) {
        fprintf(fp, "Mail queue is empty\n");
        queueview_corrupt(s, fp);
        queueview_corrupt_count(s, fp);
        return;
    }
    fprintf(fp, "-Queue ID-        --Size-- ----Arrival Time----  -Sender/Recipient-------\n");
    for (size_t i = 0; i < s->nmsg; i++) {
        const struct queue_snapshot_msg *m = &s->msg[i];
        char when[32];
        queueview_time(when, sizeof(when), m->arrival);
        fprintf(fp, "%s%c %8zu %-20.20s  %s\n", m->qid,
                m->hold          ? '!'
                : m->in_delivery ? '*'
                                 : ' ',
                m->size, when, m->sender[0] ? m->sender : "MAILER-DAEMON");
        const char *last = NULL;
        for (size_t j = 0; j < m->nrcpt; j++) {
            const struct queue_snapshot_rcpt *r = &m->rcpt[j];
            if (r->reason && (!last || strcmp(last, r->reason) != 0)) {
                fprintf(fp, "(%s)\n", r->reason);
                last = r->reason;
            }
            fprintf(fp, "%49s%s\n", "", r->addr);
        }
        fprintf(fp, "\n");
        total += m->size;
    }
    queueview_corrupt(s, fp);
    fprintf(fp, "-- %zu Kbytes in %zu Request%s.\n", (total + 1023) / 1024, s->nmsg,
            s->nmsg == 1 ? "" : "s");
    queueview_corrupt_count(s, fp);
}

/* queueview_list - mailq-like listing of the queue to fp */
int queueview_list(struct queue *q, FILE *fp)
{
    struct queue_snapshot *s;
    int rc = queue_ctl_list(q, &s);
    if (rc == 0 && s)
        queueview_print_list(s, fp);
    queue_snapshot_free(s);
    return rc;
}

/* queueview_rcpt - one "recipient:" line, and its reason */
static void queueview_rcpt(const struct queue_snapshot_rcpt *r, FILE *fp)
{
    char t[32];
    const char *st = r->state == QUEUE_SNAPSHOT_DONE     ? "done"
                     : r->state == QUEUE_SNAPSHOT_ACTIVE ? "active"
                                                         : "waiting";
    fprintf(fp, "recipient: %s status=%s tries=%u", r->addr, st, r->tries);
    if (r->state == QUEUE_SNAPSHOT_WAITING && r->tries) {
        queueview_time(t, sizeof(t), r->next_try);
        fprintf(fp, " next_try=%s", t);
    }
    if (r->dsn[0])
        fprintf(fp, " dsn=%s", r->dsn);
    if (r->orcpt)
        fprintf(fp, " orcpt=%s", r->orcpt);
    if (r->notify)
        fprintf(fp, " notify=%s%s%s%s", r->notify & DSN_NOTIFY_NEVER ? "NEVER" : "",
                r->notify & DSN_NOTIFY_SUCCESS ? "SUCCESS," : "",
                r->notify & DSN_NOTIFY_FAILURE ? "FAILURE," : "",
                r->notify & DSN_NOTIFY_DELAY ? "DELAY," : "");
    fprintf(fp, "\n");
    if (r->reason)
        fprintf(fp, "  reason: %s\n", r->reason);
}

/* queueview_print_show - a show snapshot like postcat; the content when it was read */
void queueview_print_show(const struct queue_snapshot *s, FILE *fp)
{
    char t1[32], t2[32];
    if (s->nmsg != 1)
        return;
    const struct queue_snapshot_msg *m = &s->msg[0];
    queueview_time(t1, sizeof(t1), m->arrival);
    queueview_time(t2, sizeof(t2), m->queued);
    fprintf(fp, "*** ENVELOPE RECORDS %s ***\n", m->qid);
    fprintf(fp, "message_size: %zu\nmessage_arrival_time: %s\ncreate_time: %s\n", m->size, t1, t2);
    fprintf(fp, "sender: %s\n", m->sender);
    if (m->envid)
        fprintf(fp, "envid: %s\n", m->envid);
    if (m->client)
        fprintf(fp, "client: %s\n", m->client);
    fprintf(fp, "ret: %s\nbody: %s%s\nhold: %s\n",
            m->ret == DSN_RET_HDRS   ? "hdrs"
            : m->ret == DSN_RET_FULL ? "full"
                                     : "default",
            m->body_type == BODY_8BITMIME ? "8bitmime" : "7bit", m->smtputf8 ? " smtputf8" : "",
            m->hold ? "yes" : "no");
    if (m->requiretls)
        fprintf(fp, "requiretls: yes\n");
    if (m->tls_optional)
        fprintf(fp, "tls_required: no\n");
    for (size_t i = 0; i < m->nrcpt; i++)
        queueview_rcpt(&m->rcpt[i], fp);
    if (!m->data)
        return;
    fprintf(fp, "*** MESSAGE CONTENTS %s ***\n", m->qid);
    fwrite(m->data, 1, m->len, fp);
    if (m->len && m->data[m->len - 1] != '\n')
        fprintf(fp, "\n");
    fprintf(fp, "*** END OF MESSAGE %s ***\n", m->qid);
}

/* queueview_show - one message to fp: envelope, recipient states and content, like postcat */
int queueview_show(struct queue *q, const char *qid, FILE *fp)
{
    struct queue_snapshot *s;
    int rc = queue_ctl_show(q, qid, &s);
    if (s) /* also after a failure: the envelope when the content cannot be read */
        queueview_print_show(s, fp);
    queue_snapshot_free(s);
    return rc;
}

/* queueview_print_verify - the damaged records; the count and the corrupt queue when walked */
void queueview_print_verify(const struct queue_snapshot *s, FILE *fp)
{
    for (size_t i = 0; i < s->ndamaged; i++)
        fprintf(fp, "%s: %s\n", s->damaged[i].key, s->damaged[i].why);
    if (!s->walked)
        return;
    fprintf(fp, "-- %zu record%s verified, %zu damaged.\n", s->nrecords,
            s->nrecords == 1 ? "" : "s", s->ndamaged);
    queueview_corrupt(s, fp);
    queueview_corrupt_count(s, fp);
}

/* queueview_verify - check the queue's records; the damaged ones and a count to fp */
int queueview_verify(struct queue *q, FILE *fp)
{
    struct queue_snapshot *s;
    int rc = queue_ctl_verify(q, &s);
    if (s) /* also after a failure: the damaged records found (and moved) before it */
        queueview_print_verify(s, fp);
    queue_snapshot_free(s);
    return rc;
}
