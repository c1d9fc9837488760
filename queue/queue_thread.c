/*
 * NAME
 *	queue_thread - the queue's single writer thread and group commit
 * SYNOPSIS
 *	pthread_create(&q->thread, NULL, queue_thread_main, q); // queue_start()
 *	queue_thread_wake_locked(q);            // under q->lock: work is waiting
 * DESCRIPTION
 *	Submitters (queue.c) append to an inbox (a mutex-protected vector, swapped whole
 *	by the thread, so no allocation per message in steady state) and wake
 *	the thread through an eventfd - only when the inbox was idle, so a busy
 *	thread costs submitters no system call. Each turn of the loop:
 *
 *	  poll(eventfd, timeout = next due retry or end of the gathering window)
 *	  take delivery results and control requests from the inbox
 *	  apply them to the in-memory state
 *	  if the pending batch is due (see below): take the submissions and
 *	    write ONE transaction: DSNs for new failures, changed envelopes,
 *	    removals, every new message; mdb_txn_commit() (durable);
 *	    done(arg, 0) for every committed submission, then the log lines
 *	  answer control requests
 *	  dispatch due recipients
 *
 *	When a batch is due (group commit with an adaptive gathering window):
 *	submissions are committed at once while the arrival rate is low, so a
 *	lone message waits for one flush and nothing else. When the rate is
 *	high enough that QUEUE_GATHER_WINDOW would bring QUEUE_GATHER_ON
 *	messages (measured over QUEUE_RATE_PERIOD, with hysteresis down to
 *	QUEUE_GATHER_OFF), the thread gathers: it commits when
 *	QUEUE_GATHER_MAX submissions wait, the oldest has waited
 *	QUEUE_GATHER_WINDOW, or none has come for QUEUE_GATHER_GAP,
 *	whichever comes first, and submitters do not wake it for each message
 *	in between. The gap matters for clients that wait for their answer
 *	before they send again: fewer of them than QUEUE_GATHER_MAX would
 *	otherwise wait out the whole window every time (bench small, 50
 *	connections: a batch of 50 held 6 ms, 3600 msg/s with the queue on a
 *	tmpfs; issue 13). Under saturation that trades a
 *	few milliseconds of a latency already made of CPU queueing for a
 *	flush per message (about a quarter of a millisecond of CPU each,
 *	besides the disk). Durability is never traded: a message is answered
 *	only after the commit that holds it. The queue's own changes alone
 *	(delivery results, removals, DSNs) wait up to QUEUE_INTERNAL_HOLD for
 *	a commit to ride along with: nobody waits for them, and losing them
 *	in a crash costs a duplicate delivery, never a message. A control
 *	request or queue_stop() commits everything pending at once.
 *
 *	A failed commit aborts the whole transaction. It is then redone in
 *	pieces (the queue's own changes, then each submission alone) so that
 *	one message too large for the map does not fail the others with it;
 *	a submission that still fails gets done(arg, -errno): -ENOSPC for a
 *	full map or disk, -EIO and friends for the rest. Internal changes that
 *	cannot be written stay pending in memory and are retried a second later.
 *	A full map (-ENOSPC) cannot wedge the queue: the removals are then
 *	committed alone first (commit_removals; they need next to no space and
 *	free some), so a batch of DSNs and rewrites too large for what is left
 *	never keeps delivered messages on disk. For that room, new messages
 *	may not fill the last part of the map (queue_store_room(): 1/20 of
 *	it, at least 256 KiB, at most 256 MiB): a commit with submissions that
 *	would reach into it fails with -ENOSPC (452 4.3.1), while the queue's
 *	own changes (results, removals, DSNs) may use it.
 *
 *	The rejected alternative is a condition variable per submission: the
 *	done() callback lets core post the answer to the session's own ring.
 *	Rejected for the window: a fixed delay (costs latency at light load)
 *	and "previous batch was large" (the window itself makes the next batch
 *	large, so it never switches off); the arrival rate does not depend on
 *	the window.
 * DIAGNOSTICS
 *	A failed commit is reported to each submitter through done(arg,
 *	-errno) and logged; the thread itself never stops on one.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/time.h"
#include "queue/queue_impl.h"

/* queue_thread_wake_locked - wake the thread unless it was already woken (lock held) */
void queue_thread_wake_locked(struct queue *q)
{
    if (q->signaled)
        return;
    q->signaled = true;
    uint64_t one = 1;
    ssize_t n = write(q->efd, &one, sizeof(one));
    (void)n; /* EAGAIN: the counter is already non-zero, the thread will wake */
}

/* has_internal - is there queue state to write? */
static bool has_internal(const struct queue *q)
{
    return q->dirty_head || q->fail_head;
}

const double queue_commit_seconds_bounds[QUEUE_HIST_SLOTS - 1] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
};
const double queue_batch_size_bounds[QUEUE_HIST_SLOTS - 1] = {
    0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 1024,
};

/* hist_slot - the histogram slot for value v */
static int hist_slot(const double *bounds, double v)
{
    int i = 0;
    while (i < QUEUE_HIST_SLOTS - 1 && v > bounds[i])
        i++;
    return i;
}

/* note_commit - count one durable commit of nsubs messages that took secs */
static void note_commit(struct queue *q, size_t nsubs, double secs)
{
    atomic_fetch_add(&q->st_commits, 1);
    atomic_fetch_add(&q->st_commit_hist[hist_slot(queue_commit_seconds_bounds, secs)], 1);
    atomic_fetch_add(&q->st_commit_nsec, (uint64_t)(secs * 1e9));
    atomic_fetch_add(&q->st_batch_hist[hist_slot(queue_batch_size_bounds, (double)nsubs)], 1);
    atomic_fetch_add(&q->st_batch_sum, nsubs);
}

/* batch_bytes - the content size of a batch of submissions */
static unsigned long long batch_bytes(const struct qnew *subs, size_t nsubs)
{
    unsigned long long n = 0;
    for (size_t i = 0; i < nsubs; i++)
        n += subs[i].len;
    return n;
}

/* try_commit - one write transaction: internal state (optional) and subs */
static int try_commit(struct queue *q, bool internal, struct qnew *subs, size_t nsubs,
                      struct qnew_vec *bounces)
{
    MDB_txn *txn = NULL;
    double now = time_now();
    int rc = queue_store_err(mdb_txn_begin(q->env, NULL, 0, &txn));
    if (rc < 0)
        goto fail;
    if (internal) {
        for (struct qmsg *m = q->fail_head; m; m = m->fail_next) {
            bool any = false;
            for (size_t i = 0; i < m->nrcpt && !any; i++)
                any = m->rcpt[i].fail_pending;
            if (any && (rc = queue_bounce_build(q, txn, m, bounces)) < 0)
                goto fail;
        }
        for (size_t i = 0; i < bounces->n; i++) {
            struct qnew *b = &bounces->v[i];
            if ((rc = queue_store_put_new(q, txn, b->m, b->data, b->len)) < 0)
                goto fail;
        }
        for (struct qmsg *m = q->dirty_head; m; m = m->dirty_next) {
            rc = m->removed ? queue_store_del(q, txn, m->qid) : queue_store_put_env(q, txn, m);
            if (rc < 0)
                goto fail;
        }
    }
    for (size_t i = 0; i < nsubs; i++) {
        struct qnew *n = &subs[i];
        n->m->queued = now;
        if ((rc = queue_store_put_new(q, txn, n->m, n->data, n->len)) < 0)
            goto fail;
    }
    if (nsubs && (rc = queue_store_room(q, txn)) < 0)
        goto fail; /* new mail stays out of the map's last part: removals and DSNs need it */
    double t0 = time_mono();
    rc = queue_store_err(mdb_txn_commit(txn));
    txn = NULL;
    if (rc == -EIO && queue_space_low(q, QUEUE_SPACE_SLACK + 2 * batch_bytes(subs, nsubs)))
        rc = -ENOSPC; /* a short write on a full disk: 452 4.3.1, not 451 */
    if (rc < 0)
        goto fail;
    note_commit(q, nsubs, time_mono() - t0);
    return 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    for (size_t i = 0; i < bounces->n; i++)
        queue_msg_pending_free(&bounces->v[i]);
    bounces->n = 0;
    return rc;
}

/* finish_internal - after a durable commit of the queue's own changes */
static void finish_internal(struct queue *q, struct qnew_vec *bounces)
{
    for (size_t i = 0; i < bounces->n; i++) {
        struct qnew *b = &bounces->v[i];
        struct qmsg *m = b->m;
        log_info("bounce", "%s: sender non-delivery notification: %s", b->bounce_of, m->qid);
        log_info("qmgr", "%s: from=<>, size=%zu, nrcpt=1 (queue active)", m->qid, m->size);
        if (queue_sched_insert(q, m) < 0) {
            log_warn("qmgr", "%s: out of memory: scheduled at the next start", m->qid);
            queue_msg_queued_free(m);
        }
        b->m = NULL;
        queue_msg_pending_free(b);
    }
    bounces->n = 0;
    for (struct qmsg *m = q->fail_head, *next; m; m = next) {
        next = m->fail_next;
        for (size_t i = 0; i < m->nrcpt; i++)
            m->rcpt[i].fail_pending = false;
        m->on_fail_list = false;
        m->fail_next = NULL;
    }
    q->fail_head = NULL;
    for (struct qmsg *m = q->dirty_head, *next; m; m = next) {
        next = m->dirty_next;
        m->dirty = false;
        m->dirty_next = NULL;
        if (m->removed) {
            log_info("qmgr", "%s: removed", m->qid);
            queue_sched_unlink(q, m);
            queue_msg_queued_free(m);
        }
    }
    q->dirty_head = NULL;
    q->retry_after = 0;
}

/* answer_sub - tell a submitter how its commit went (once) */
static void answer_sub(struct qnew *n, int rc)
{
    if (n->done) {
        n->done(n->arg, rc);
        n->done = NULL;
    }
}

/* accept_sub - a committed submission joins the schedule */
static void accept_sub(struct queue *q, struct qnew *n)
{
    atomic_fetch_add(&q->st_received, 1);
    atomic_fetch_add(&q->st_committed_msgs, 1);
    n->scheduled = queue_sched_insert(q, n->m) == 0;
}

/* log_sub - the log lines of a submission's commit; then drop it */
static void log_sub(struct qnew *n, int rc)
{
    struct qmsg *m = n->m;
    if (rc == 0) {
        if (n->msgid)
            log_info("cleanup", "%s: message-id=<%s>", m->qid, n->msgid);
        log_info("qmgr", "%s: from=<%s>, size=%zu, nrcpt=%zu (queue active)", m->qid, m->sender,
                 m->size, m->nrcpt);
        if (n->scheduled)
            n->m = NULL; /* the schedule's now */
        else
            log_warn("qmgr", "%s: out of memory: scheduled at the next start", m->qid);
    } else {
        log_warn("qmgr", "%s: queue file write error: %s", m->qid, strerror(-rc));
    }
    queue_msg_pending_free(n);
}

/* finish_sub - schedule a submission if committed, answer it, log it */
static void finish_sub(struct queue *q, struct qnew *n, int rc)
{
    if (rc == 0)
        accept_sub(q, n);
    answer_sub(n, rc);
    log_sub(n, rc);
}

/* removal_due - may m's removal be committed alone? (not while it still owes a DSN) */
static bool removal_due(const struct qmsg *m)
{
    return m->removed && !m->on_fail_list;
}

/* commit_removals - a full map: commit the removals alone, QUEUE_REMOVE_CHUNK at a time (each
 * commit frees pages the next may use; one big delete transaction could itself run out).
 * Returns 0 when any committed. */
static int commit_removals(struct queue *q)
{
    size_t total = 0;
    int rc = 0;
    while (rc == 0) {
        MDB_txn *txn = NULL;
        size_t n = 0;
        rc = queue_store_err(mdb_txn_begin(q->env, NULL, 0, &txn));
        for (struct qmsg *m = q->dirty_head; m && rc == 0 && n < QUEUE_REMOVE_CHUNK;
             m = m->dirty_next)
            if (removal_due(m)) {
                rc = queue_store_del(q, txn, m->qid);
                n++;
            }
        if (rc < 0 || n == 0) {
            if (txn)
                mdb_txn_abort(txn);
            break;
        }
        if ((rc = queue_store_err(mdb_txn_commit(txn))) < 0)
            break;
        total += n;
        /* the first n due removals are on disk: forget them */
        struct qmsg **pp = &q->dirty_head;
        while (*pp && n) {
            struct qmsg *m = *pp;
            if (!removal_due(m)) {
                pp = &m->dirty_next;
                continue;
            }
            *pp = m->dirty_next;
            m->dirty = false;
            m->dirty_next = NULL;
            log_info("qmgr", "%s: removed", m->qid);
            queue_sched_unlink(q, m);
            queue_msg_queued_free(m);
            n--;
        }
    }
    if (total)
        log_warn("qmgr", "queue full: %zu removals committed alone", total);
    return total ? 0 : rc < 0 ? rc : -ENOSPC;
}

/* commit_turn - write everything this turn produced; returns the internal result */
static int commit_turn(struct queue *q, double now)
{
    struct qnew *subs = q->work_new.v;
    size_t nsubs = q->work_new.n;
    bool internal = has_internal(q);
    int rc, irc = 0;

    if (!nsubs && (!internal || now < q->retry_after))
        return 0;
    rc = try_commit(q, internal, subs, nsubs, &q->bounces);
    if (rc == 0) {
        /* Answer every submitter first, then log: the last 250 of a batch
         * does not wait for the log lines of the others. */
        for (size_t i = 0; i < nsubs; i++)
            accept_sub(q, &subs[i]);
        for (size_t i = 0; i < nsubs; i++)
            answer_sub(&subs[i], 0);
        for (size_t i = 0; i < nsubs; i++)
            log_sub(&subs[i], 0);
        if (internal)
            finish_internal(q, &q->bounces);
        q->work_new.n = 0;
        return 0;
    }
    log_warn("qmgr", "queue commit failed: %s%s", strerror(-rc),
             nsubs + internal > 1 ? " (retrying in parts)" : "");
    if (internal && nsubs) {
        irc = try_commit(q, true, NULL, 0, &q->bounces);
        if (irc == 0)
            finish_internal(q, &q->bounces);
    } else if (internal) {
        irc = rc;
    }
    if (irc == -ENOSPC && commit_removals(q) == 0 && has_internal(q)) {
        irc = try_commit(q, true, NULL, 0, &q->bounces); /* the space the removals freed */
        if (irc == 0)
            finish_internal(q, &q->bounces);
    }
    if (irc < 0) {
        log_warn("qmgr", "cannot record queue state: %s; retrying", strerror(-irc));
        q->retry_after = now + 1;
    }
    for (size_t i = 0; i < nsubs; i++) {
        int src = nsubs > 1 || internal ? try_commit(q, false, &subs[i], 1, &q->bounces) : rc;
        finish_sub(q, &subs[i], src);
    }
    q->work_new.n = 0;
    return irc;
}

/* gather_update - count nsubs committed; decide whether to gather from the arrival rate */
static void gather_update(struct queue *q, size_t nsubs, double mono)
{
    q->rate_count += nsubs;
    double dt = mono - q->rate_since;
    if (dt < QUEUE_RATE_PERIOD)
        return;
    double inst = (double)q->rate_count / dt;
    /* A long idle period says nothing about the next burst: start over. */
    q->rate = dt > 1.0 ? inst : (q->rate + inst) / 2;
    q->rate_since = mono;
    q->rate_count = 0;
    double fill = q->rate * QUEUE_GATHER_WINDOW; /* arrivals in one window */
    if (!q->gathering && fill >= QUEUE_GATHER_ON)
        q->gathering = true;
    else if (q->gathering && fill < QUEUE_GATHER_OFF)
        q->gathering = false;
}

/* gather_deadline - time_mono() by which to commit what is pending (INFINITY: nothing) */
static double gather_deadline(const struct queue *q, size_t nsubs, double oldest, double newest,
                              bool internal)
{
    if (nsubs) {
        if (!q->gathering || nsubs >= QUEUE_GATHER_MAX)
            return 0;
        double window = oldest + QUEUE_GATHER_WINDOW, gap = newest + QUEUE_GATHER_GAP;
        return gap < window ? gap : window;
    }
    /* Only the queue's own changes (results, removals): nobody waits for
     * them, a crash before they are written costs a duplicate delivery at
     * worst; they ride along with the next submission or go alone later. */
    return internal ? q->internal_since + QUEUE_INTERNAL_HOLD : INFINITY;
}

/* wait_timeout - seconds until there is something to do (negative: block) */
static double wait_timeout(const struct queue *q, double now, bool more, double gather_mono)
{
    if (more)
        return 0;
    double due = queue_sched_next_due(q);
    if (has_internal(q) && q->retry_after > now && q->retry_after < due)
        due = q->retry_after; /* a failed commit of internal state: try again then */
    double t = due - now;
    if (gather_mono < INFINITY) {
        double g = gather_mono - time_mono();
        if (g < t)
            t = g;
    }
    if (t <= 0)
        return 0;
    return t > 60.0 ? 60.0 : t;
}

/* queue_thread_main - the loop: take the inbox, commit, answer, dispatch */
void *queue_thread_main(void *arg)
{
    struct queue *q = arg;
    bool more = false;
    double gather_mono = INFINITY; /* when the held batch is due, INFINITY when none */
    log_batch_begin();             /* a turn's maillog lines in one write (base/log.h) */
    for (;;) {
        struct pollfd pfd = {.fd = q->efd, .events = POLLIN};
        double timeout = wait_timeout(q, time_now(), more, gather_mono);
        log_flush();
        if (timeout != 0) {
            struct timespec ts = {(time_t)timeout, (long)((timeout - (time_t)timeout) * 1e9)};
            if (ppoll(&pfd, 1, &ts, NULL) < 0 && errno != EINTR)
                log_warn("qmgr", "poll: %s", strerror(errno));
        }
        uint64_t cnt;
        ssize_t rd = read(q->efd, &cnt, sizeof(cnt));
        (void)rd;

        /* Results and control requests are taken at once; submissions stay
         * in the inbox until their commit (gathering) is due. */
        pthread_mutex_lock(&q->lock);
        struct qdel_vec td = q->work_res;
        q->work_res = q->in_res;
        q->in_res = td;
        struct queue_ctl_req *ctl = q->in_ctl;
        q->in_ctl = NULL;
        q->in_ctl_tail = &q->in_ctl;
        q->signaled = false;
        /* awake: what arrives from now on wakes the next turn, until a hold below says
         * quiet again. Cleared only in the commit branch, results returned in between went
         * unnoticed until the next due retry (bench/run backlog: 20 removed 34 s late). */
        q->quiet = false;
        bool stop = q->stop;
        if (stop)
            q->closed = true;
        size_t nin = q->in_new.n;
        double oldest = nin ? q->in_new.v[0].submitted : 0;
        double newest = nin ? q->in_new.v[nin - 1].submitted : 0;
        pthread_mutex_unlock(&q->lock);

        double now = time_now(), mono = time_mono();
        for (size_t i = 0; i < q->work_res.n; i++)
            queue_sched_result(q, q->work_res.v[i], now);
        q->work_res.n = 0;
        bool mutating = queue_corrupt_take(q) > 0;
        for (struct queue_ctl_req *r = ctl; r; r = r->next) {
            queue_ctl_apply(q, r);
            mutating |= r->op != CTL_LIST && r->op != CTL_SHOW; /* verify may move */
        }
        if (mutating)
            q->retry_after = 0; /* an operator is waiting: try now */
        bool internal = has_internal(q) && now >= q->retry_after;
        if (!internal)
            q->internal_since = INFINITY;
        else if (q->internal_since == INFINITY)
            q->internal_since = mono;
        gather_mono = gather_deadline(q, nin, oldest, newest, internal);
        int irc = 0;
        if (stop || ctl || gather_mono <= mono) {
            pthread_mutex_lock(&q->lock);
            struct qnew_vec tn = q->work_new;
            q->work_new = q->in_new;
            q->in_new = tn;
            q->wake_need = 1;
            pthread_mutex_unlock(&q->lock);
            size_t nsubs = q->work_new.n;
            irc = commit_turn(q, now);
            q->internal_since = INFINITY;
            gather_mono = INFINITY;
            gather_update(q, nsubs, time_mono());
        } else if (gather_mono < INFINITY) {
            /* Hold the batch: wake for a full one, for control requests, or at the deadline. */
            pthread_mutex_lock(&q->lock);
            q->wake_need = nin && q->gathering ? QUEUE_GATHER_MAX : 1;
            q->quiet = true;
            if (q->in_new.n >= q->wake_need)
                queue_thread_wake_locked(q);
            pthread_mutex_unlock(&q->lock);
        }
        if (ctl) {
            log_flush(); /* the operator reads the maillog next */
            pthread_mutex_lock(&q->lock);
            for (struct queue_ctl_req *r = ctl, *next; r; r = next) {
                next = r->next; /* r belongs to its caller once answered */
                if (irc < 0 && r->rc == 0 && r->op != CTL_LIST && r->op != CTL_SHOW)
                    r->rc = irc;
                r->answered = true;
            }
            pthread_cond_broadcast(&q->ctl_cv);
            pthread_mutex_unlock(&q->lock);
        }
        if (stop)
            break;
        more = queue_sched_dispatch(q, time_now()) > 0;
        if (gather_mono == INFINITY && has_internal(q) && time_now() >= q->retry_after) {
            /* dispatch itself changed state (a resolver bounce, a deferral) */
            q->internal_since = time_mono();
            gather_mono = q->internal_since + QUEUE_INTERNAL_HOLD;
        }
    }
    log_batch_end();
    return NULL;
}
