/*
 * NAME
 *	queue_ctl - queue inspection and control for ternctl
 * SYNOPSIS
 *	queue_ctl_list(q, fp);           // like mailq
 *	queue_ctl_show(q, qid, fp);      // envelope, recipient states, content
 *	queue_ctl_flush(q);              // every deferred recipient: due now
 *	queue_ctl_hold(q, qid); queue_ctl_release(q, qid);
 *	queue_ctl_delete(q, qid);        // or "ALL"
 *	queue_ctl_verify(q, fp);         // every record's checksums
 * DESCRIPTION
 *	Each call posts a request to the queue thread and blocks the caller on
 *	a condition variable until the thread did it (off the hot path, so a
 *	condition variable is fine here). Changes are committed before the call
 *	returns. Output goes to fp, written by the queue thread while the
 *	caller waits.
 *
 *	list prints, like Postfix's mailq, per message
 *	  QID[*|!]  size  arrival-date  sender
 *	  (reason)                          - the last failure, when there is one
 *	                    recipient       - every recipient not yet done
 *	and ends with "-- N Kbytes in M Requests." ('*': in delivery, '!': on
 *	hold). Messages are listed in arrival (queue ID) order.
 *
 *	Both list and verify end with the corrupt queue (queue_corrupt.c), one
 *	line "NAME# (corrupt: kept in DIR)" per message. verify walks every
 *	envelope record and its content on the queue thread (which waits for
 *	it: an operator's command, in proportion to the queue's size), prints
 *	each damaged one with the reason, and moves it to the corrupt queue.
 *
 *	hold keeps a message from delivery until release, which makes its
 *	recipients due at once; delete removes a message (logged "QID: removed",
 *	no bounce). Recipients in delivery when their message is deleted are
 *	forgotten when their results come back.
 * DIAGNOSTICS
 *	0, -ENOENT for an unknown queue ID, -ESHUTDOWN when the queue thread
 *	does not run, or -errno from committing the change.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/log.h"
#include "core/base/time.h"
#include "queue/queue_impl.h"

/* ctl - post one request and wait */
static int ctl(struct queue *q, enum queue_ctl_op op, const char *qid, FILE *fp)
{
    struct queue_ctl_req r = {.op = op, .qid = qid, .fp = fp};
    if (!q)
        return -EINVAL;
    return queue_ctl_post(q, &r);
}

/* queue_ctl_list - mailq-like listing to fp */
int queue_ctl_list(struct queue *q, FILE *fp)
{
    return fp ? ctl(q, CTL_LIST, NULL, fp) : -EINVAL;
}

/* queue_ctl_show - one message in full to fp */
int queue_ctl_show(struct queue *q, const char *qid, FILE *fp)
{
    return fp && qid ? ctl(q, CTL_SHOW, qid, fp) : -EINVAL;
}

/* queue_ctl_flush - make every deferred recipient due now */
int queue_ctl_flush(struct queue *q)
{
    return ctl(q, CTL_FLUSH, NULL, NULL);
}

/* queue_ctl_hold - keep a message from delivery */
int queue_ctl_hold(struct queue *q, const char *qid)
{
    return qid ? ctl(q, CTL_HOLD, qid, NULL) : -EINVAL;
}

/* queue_ctl_release - release a held message, due now */
int queue_ctl_release(struct queue *q, const char *qid)
{
    return qid ? ctl(q, CTL_RELEASE, qid, NULL) : -EINVAL;
}

/* queue_ctl_verify - check every record's checksums; move the damaged to the corrupt queue */
int queue_ctl_verify(struct queue *q, FILE *fp)
{
    return fp ? ctl(q, CTL_VERIFY, NULL, fp) : -EINVAL;
}

/* queue_ctl_delete - remove a message, or "ALL", without bounce */
int queue_ctl_delete(struct queue *q, const char *qid)
{
    return qid ? ctl(q, CTL_DELETE, qid, NULL) : -EINVAL;
}

/* Thread side. */

/* cmp_qid - order messages by queue ID (= arrival) */
static int cmp_qid(const void *a, const void *b)
{
    const struct qmsg *const *x = a, *const *y = b;
    return strcmp((*x)->qid, (*y)->qid);
}

/* collect - every live message, sorted; caller frees */
static struct qmsg **collect(struct queue *q, size_t *n)
{
    struct qmsg **v = malloc((q->hcount ? q->hcount : 1) * sizeof(*v));
    *n = 0;
    if (!v)
        return NULL;
    for (size_t i = 0; i < q->hsize; i++)
        for (struct qmsg *m = q->htab[i]; m; m = m->hnext)
            if (!m->removed)
                v[(*n)++] = m;
    qsort(v, *n, sizeof(*v), cmp_qid);
    return v;
}

/* fmt_time - "Mon Jan  2 15:04:05" */
static void fmt_time(char *out, size_t len, double t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(out, len, "%a %b %e %H:%M:%S", &tm);
}

/* do_list - mailq output */
static int do_list(struct queue *q, FILE *fp)
{
    size_t n, total = 0;
    struct qmsg **v = collect(q, &n);
    if (!v)
        return -ENOMEM;
    if (n == 0) {
        int nc = queue_corrupt_list(q->directory, NULL);
        fprintf(fp, "Mail queue is empty\n");
        if (nc > 0) {
            queue_corrupt_list(q->directory, fp);
            fprintf(fp, "-- %d corrupt message%s kept for the operator.\n", nc, nc == 1 ? "" : "s");
        }
        free(v);
        return 0;
    }
    fprintf(fp, "-Queue ID-        --Size-- ----Arrival Time----  -Sender/Recipient-------\n");
    for (size_t i = 0; i < n; i++) {
        const struct qmsg *m = v[i];
        char when[32];
        fmt_time(when, sizeof(when), m->arrival);
        fprintf(fp, "%s%c %8zu %-20.20s  %s\n", m->qid,
                m->hold        ? '!'
                : m->ninflight ? '*'
                               : ' ',
                m->size, when, m->sender[0] ? m->sender : "MAILER-DAEMON");
        const char *last = NULL;
        for (size_t j = 0; j < m->nrcpt; j++) {
            const struct qrcpt *r = &m->rcpt[j];
            if (r->state == QR_DONE)
                continue;
            if (r->reason && (!last || strcmp(last, r->reason) != 0)) {
                fprintf(fp, "(%s)\n", r->reason);
                last = r->reason;
            }
            fprintf(fp, "%49s%s\n", "", r->addr);
        }
        fprintf(fp, "\n");
        total += m->size;
    }
    int nc = queue_corrupt_list(q->directory, fp);
    fprintf(fp, "-- %zu Kbytes in %zu Request%s.\n", (total + 1023) / 1024, n, n == 1 ? "" : "s");
    if (nc > 0)
        fprintf(fp, "-- %d corrupt message%s kept for the operator.\n", nc, nc == 1 ? "" : "s");
    free(v);
    return 0;
}

/* verify_one - check one record (and its content); NULL when sound, else why not */
static const char *verify_one(struct queue *q, MDB_txn *txn, const MDB_val *k, const MDB_val *v)
{
    char qid[QUEUE_ID_LEN + 1];
    struct qmsg *m = NULL;
    MDB_val b;
    if (!queue_id_valid(k->mv_data, k->mv_size))
        return "malformed key";
    memcpy(qid, k->mv_data, QUEUE_ID_LEN);
    qid[QUEUE_ID_LEN] = 0;
    int rc = queue_store_decode(&m, qid, v->mv_data, v->mv_size);
    if (rc == -EBADMSG)
        return "envelope checksum mismatch";
    if (rc < 0)
        return "malformed envelope record";
    const char *why = NULL;
    if (mdb_get(txn, q->dbi_body, (MDB_val *)k, &b) != 0)
        why = "content missing";
    else if (m->has_body_crc && queue_crc32c(0, b.mv_data, b.mv_size) != m->body_crc)
        why = "content checksum mismatch";
    qmsg_free(m);
    return why;
}

/* do_verify - walk every record; damaged ones go to the corrupt queue */
static int do_verify(struct queue *q, FILE *fp)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t n = 0, nbad = 0;
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, q->dbi_env, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        n++;
        const char *why = verify_one(q, txn, &k, &v);
        if (!why)
            continue;
        nbad++;
        fprintf(fp, "%.*s: %s\n", (int)(k.mv_size < 64 ? k.mv_size : 64), (char *)k.mv_data, why);
        struct qmsg *m = NULL;
        char qid[QUEUE_ID_LEN + 1] = "";
        if (queue_id_valid(k.mv_data, k.mv_size)) {
            memcpy(qid, k.mv_data, QUEUE_ID_LEN);
            m = queue_sched_find(q, qid);
        }
        if (m && !m->removed && queue_corrupt_save(q, txn, m->qid, QUEUE_ID_LEN, why) == 0)
            queue_ctl_drop(q, m);
    }
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND)
        return queue_store_err(rc);
    fprintf(fp, "-- %zu record%s verified, %zu damaged.\n", n, n == 1 ? "" : "s", nbad);
    int nc = queue_corrupt_list(q->directory, fp);
    if (nc > 0)
        fprintf(fp, "-- %d corrupt message%s kept for the operator.\n", nc, nc == 1 ? "" : "s");
    return 0;
}

/* do_show - envelope, recipient states and content, like postcat */
static int do_show(struct queue *q, const char *qid, FILE *fp)
{
    struct qmsg *m = queue_sched_find(q, qid);
    char t1[32], t2[32];
    if (!m || m->removed)
        return -ENOENT;
    fmt_time(t1, sizeof(t1), m->arrival);
    fmt_time(t2, sizeof(t2), m->queued);
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
    for (size_t i = 0; i < m->nrcpt; i++) {
        const struct qrcpt *r = &m->rcpt[i];
        const char *st = r->state == QR_DONE       ? "done"
                         : r->state == QR_INFLIGHT ? "active"
                                                   : "waiting";
        fprintf(fp, "recipient: %s status=%s tries=%u", r->addr, st, r->tries);
        if (r->state == QR_WAITING && r->tries) {
            fmt_time(t1, sizeof(t1), r->next_try);
            fprintf(fp, " next_try=%s", t1);
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
    char *data;
    size_t len;
    int rc = queue_body_load(q, m->qid, &data, &len);
    if (rc < 0)
        return rc;
    fprintf(fp, "*** MESSAGE CONTENTS %s ***\n", m->qid);
    fwrite(data, 1, len, fp);
    if (len && data[len - 1] != '\n')
        fprintf(fp, "\n");
    fprintf(fp, "*** END OF MESSAGE %s ***\n", m->qid);
    free(data);
    return 0;
}

/* make_due - every waiting recipient of m due now */
static void make_due(struct queue *q, struct qmsg *m, double now)
{
    for (size_t i = 0; i < m->nrcpt; i++)
        if (m->rcpt[i].state == QR_WAITING)
            m->rcpt[i].next_try = now;
    queue_sched_update(q, m);
}

/* queue_ctl_drop - drop a message without bounce */
void queue_ctl_drop(struct queue *q, struct qmsg *m)
{
    if (m->removed)
        return;
    if (m->ninflight)
        q->active--;
    for (size_t i = 0; i < m->nrcpt; i++) {
        m->rcpt[i].state = QR_DONE;
        m->rcpt[i].fail_pending = false;
    }
    m->ninflight = 0;
    m->nleft = 0;
    queue_sched_check_done(q, m);
}

/* queue_ctl_apply - carry out a request on the queue thread (before the commit) */
void queue_ctl_apply(struct queue *q, struct queue_ctl_req *r)
{
    double now = time_now();
    struct qmsg *m = NULL;
    r->rc = 0;
    switch (r->op) {
    case CTL_LIST:
        r->rc = do_list(q, r->fp);
        return;
    case CTL_SHOW:
        r->rc = do_show(q, r->qid, r->fp);
        return;
    case CTL_VERIFY:
        r->rc = do_verify(q, r->fp);
        return;
    case CTL_FLUSH:
        for (size_t i = 0; i < q->hsize; i++)
            for (m = q->htab[i]; m; m = m->hnext)
                if (!m->removed && !m->hold)
                    make_due(q, m, now);
        return;
    case CTL_DELETE:
        if (strcmp(r->qid, "ALL") == 0) {
            for (size_t i = 0; i < q->hsize; i++)
                for (m = q->htab[i]; m; m = m->hnext)
                    queue_ctl_drop(q, m);
            return;
        }
        break;
    default:
        break;
    }
    m = queue_sched_find(q, r->qid);
    if (!m || m->removed) {
        r->rc = -ENOENT;
        return;
    }
    switch (r->op) {
    case CTL_HOLD:
        if (!m->hold) {
            m->hold = true;
            queue_sched_update(q, m);
            queue_sched_mark_dirty(q, m);
            log_info("qmgr", "%s: placed on hold", m->qid);
        }
        break;
    case CTL_RELEASE:
        if (m->hold) {
            m->hold = false;
            queue_sched_mark_dirty(q, m);
            log_info("qmgr", "%s: released from hold", m->qid);
        }
        make_due(q, m, now);
        break;
    case CTL_DELETE:
        queue_ctl_drop(q, m);
        break;
    default:
        break;
    }
}
