/*
 * NAME
 *	queue_ctl - queue inspection and control for ternctl
 * SYNOPSIS
 *	queue_ctl_list(q, &snap);        // every message (queue_snapshot.c)
 *	queue_ctl_show(q, qid, &snap);   // envelope, recipient states, content
 *	queue_ctl_flush(q);              // every deferred recipient: due now
 *	queue_ctl_hold(q, qid); queue_ctl_release(q, qid);
 *	queue_ctl_delete(q, qid);        // or "ALL"
 *	queue_ctl_verify(q, &snap);      // every record's checksums
 *	queue_ctl_reload(q, &params);    // new backoff times, lifetimes, myhostname
 *	queue_snapshot_free(snap);
 * DESCRIPTION
 *	Each call posts a request to the queue thread and blocks the caller on
 *	a condition variable until the thread did it (off the hot path, so a
 *	condition variable is fine here). Changes are committed before the call
 *	returns. list, show and verify answer with a snapshot, plain data made
 *	by the queue thread and then the caller's (queue.h says what it holds);
 *	the text of `ternctl queue` is made from it by core/daemon/queueview.c.
 *
 *	list takes every message not removed, in arrival (queue ID) order, with
 *	its recipients not yet done, and the corrupt queue (queue_corrupt.c).
 *	verify walks every envelope record and its content on the queue thread
 *	(which waits for it: an operator's command, in proportion to the
 *	queue's size), notes each damaged one with the reason and moves it to
 *	the corrupt queue; its snapshot also lists the corrupt queue after the
 *	moves.
 *
 *	hold keeps a message from delivery until release, which makes its
 *	recipients due at once; delete removes a message (logged "QID: removed",
 *	no bounce). Recipients in delivery when their message is deleted are
 *	forgotten when their results come back.
 * DIAGNOSTICS
 *	0, -ENOENT for an unknown queue ID, -ESHUTDOWN when the queue thread
 *	does not run, -ENOMEM, or -errno from committing the change or reading
 *	the queue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/time.h"
#include "queue/queue_impl.h"

/* post - hand a control request to the queue thread and wait for the answer */
static int post(struct queue *q, struct queue_ctl_req *r)
{
    pthread_mutex_lock(&q->lock);
    if (!q->started || q->closed) {
        pthread_mutex_unlock(&q->lock);
        return -ESHUTDOWN;
    }
    r->next = NULL;
    r->answered = false;
    *q->in_ctl_tail = r;
    q->in_ctl_tail = &r->next;
    queue_thread_wake_locked(q);
    while (!r->answered)
        pthread_cond_wait(&q->ctl_cv, &q->lock);
    pthread_mutex_unlock(&q->lock);
    return r->rc;
}

/* ctl - post one request and wait; its snapshot, if any, to *out */
static int ctl(struct queue *q, enum queue_ctl_op op, const char *qid, struct queue_snapshot **out)
{
    struct queue_ctl_req r = {.op = op, .qid = qid};
    if (!q)
        return -EINVAL;
    int rc = post(q, &r);
    if (out)
        *out = r.snap;
    else
        queue_snapshot_free(r.snap);
    return rc;
}

/* snap_ctl - ctl for list, show, verify: *out is NULL unless the thread answered with one */
static int snap_ctl(struct queue *q, enum queue_ctl_op op, const char *qid,
                    struct queue_snapshot **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    return op == CTL_SHOW && !qid ? -EINVAL : ctl(q, op, qid, out);
}

/* queue_ctl_list - every message, like mailq */
int queue_ctl_list(struct queue *q, struct queue_snapshot **out)
{
    return snap_ctl(q, CTL_LIST, NULL, out);
}

/* queue_ctl_show - one message in full */
int queue_ctl_show(struct queue *q, const char *qid, struct queue_snapshot **out)
{
    return snap_ctl(q, CTL_SHOW, qid, out);
}

/* queue_ctl_flush - make every deferred recipient due now */
int queue_ctl_flush(struct queue *q)
{
    return ctl(q, CTL_FLUSH, NULL, NULL);
}

/* queue_ctl_reload - p's backoff times, lifetimes and myhostname from now on (a reload) */
int queue_ctl_reload(struct queue *q, const struct queue_params *p)
{
    struct queue_ctl_req r = {.op = CTL_RELOAD, .params = p};
    return q && p ? post(q, &r) : -EINVAL;
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
int queue_ctl_verify(struct queue *q, struct queue_snapshot **out)
{
    return snap_ctl(q, CTL_VERIFY, NULL, out);
}

/* queue_ctl_delete - remove a message, or "ALL", without bounce */
int queue_ctl_delete(struct queue *q, const char *qid)
{
    return qid ? ctl(q, CTL_DELETE, qid, NULL) : -EINVAL;
}

/* Thread side. */

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
    queue_msg_queued_free(m);
    return why;
}

/* do_verify - walk every record; damaged ones go to the corrupt queue, and into *out */
static int do_verify(struct queue *q, struct queue_snapshot **out)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    struct queue_snapshot *s = calloc(1, sizeof(*s));
    if (!(*out = s))
        return -ENOMEM;
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_cursor_open(txn, q->dbi_env, &cur);
    for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        s->nrecords++;
        const char *why = verify_one(q, txn, &k, &v);
        if (!why)
            continue;
        /* noted before it moves: every record moved is in the answer */
        if (queue_snapshot_damage(s, k.mv_data, k.mv_size, why) < 0)
            break;
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
    if (rc == 0) /* the walk stopped early */
        return -ENOMEM;
    if (rc != MDB_NOTFOUND)
        return queue_store_err(rc);
    s->walked = true;
    /* an unreadable corrupt directory lists nothing, as ever; running out of memory fails */
    return queue_corrupt_list(q->directory, s) == -ENOMEM ? -ENOMEM : 0;
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
        r->rc = queue_snapshot_list(q, &r->snap);
        return;
    case CTL_SHOW:
        r->rc = queue_snapshot_show(q, r->qid, &r->snap);
        return;
    case CTL_VERIFY:
        r->rc = do_verify(q, &r->snap);
        return;
    case CTL_FLUSH:
        for (size_t i = 0; i < q->hsize; i++)
            for (m = q->htab[i]; m; m = m->hnext)
                if (!m->removed && !m->hold)
                    make_due(q, m, now);
        return;
    case CTL_RELOAD: /* the next retry of each recipient already waiting is not moved */
        r->rc = queue_reload_params(q, r->params);
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
