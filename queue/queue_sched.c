/*
 * NAME
 *	queue_sched - in-memory schedule: who is due, results, retries, expiry
 * SYNOPSIS
 *	queue_sched_insert(q, m);             // a committed or recovered message
 *	queue_sched_dispatch(q, now);         // hand due recipients to hooks.dispatch
 *	queue_sched_result(q, d, now);        // a delivery came back
 *	queue_sched_next_due(q);              // when to wake up
 * DESCRIPTION
 *	Messages are found by queue ID in a chained hash table; a min-heap of
 *	messages keyed by the earliest next_try of their waiting recipients
 *	says what is due. A turn touches only due messages and returned
 *	deliveries, never the whole queue.
 *
 *	Dispatch groups the due recipients of one message by next hop
 *	(hooks.resolve) into one struct queue_delivery each; those recipients
 *	are in flight until the delivery comes back. resolve() returning 1
 *	bounces the recipient with its text, a negative value defers it.
 *
 *	Results: RCPT_SENT marks the recipient done; RCPT_DEFERRED retries it
 *	after minimal_backoff_time * 2^(tries-1), at most maximal_backoff_time,
 *	unless the message is older than maximal_queue_lifetime
 *	(bounce_queue_lifetime when the sender is <>): then it bounces. A
 *	bounced recipient is done and, unless the sender is <> or NOTIFY
 *	excludes FAILURE, put on the list of failures from which the next
 *	commit builds a DSN. Every change marks the message dirty; the commit
 *	writes it. A message with no recipient left is marked removed.
 *
 *	Only the queue thread calls these (or the opener before queue_start).
 * DIAGNOSTICS
 *	queue_sched_insert() returns 0 or -ENOMEM.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/hash.h"
#include "core/base/log.h"
#include "queue/queue_impl.h"

/* hash_qid - FNV-1a of a queue ID */
static size_t hash_qid(const char *qid)
{
    uint64_t h = hash_fnv64_str(HASH_FNV64_START, qid);
    return (size_t)(h ^ (h >> 29));
}

/* htab_grow - double the bucket array */
static int htab_grow(struct queue *q)
{
    size_t nsize = q->hsize ? q->hsize * 2 : 1024;
    struct qmsg **nt = calloc(nsize, sizeof(*nt));
    if (!nt)
        return -ENOMEM;
    for (size_t i = 0; i < q->hsize; i++) {
        struct qmsg *m = q->htab[i], *next;
        for (; m; m = next) {
            next = m->hnext;
            size_t b = hash_qid(m->qid) & (nsize - 1);
            m->hnext = nt[b];
            nt[b] = m;
        }
    }
    free(q->htab);
    q->htab = nt;
    q->hsize = nsize;
    return 0;
}

/* queue_sched_find - a message by queue ID, or NULL */
struct qmsg *queue_sched_find(struct queue *q, const char *qid)
{
    if (!q->hsize || !qid)
        return NULL;
    for (struct qmsg *m = q->htab[hash_qid(qid) & (q->hsize - 1)]; m; m = m->hnext)
        if (strcmp(m->qid, qid) == 0)
            return m;
    return NULL;
}

/* The heap: messages ordered by due time, each knowing its slot (heap_idx). */

/* heap_set - put m at slot i */
static void heap_set(struct queue *q, size_t i, struct qmsg *m)
{
    q->heap[i] = m;
    m->heap_idx = (ssize_t)i;
}

/* heap_up - sift towards the root */
static void heap_up(struct queue *q, size_t i)
{
    struct qmsg *m = q->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (q->heap[parent]->due <= m->due)
            break;
        heap_set(q, i, q->heap[parent]);
        i = parent;
    }
    heap_set(q, i, m);
}

/* heap_down - sift towards the leaves */
static void heap_down(struct queue *q, size_t i)
{
    struct qmsg *m = q->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, best = i;
        double bd = m->due;
        if (l < q->heap_n && q->heap[l]->due < bd) {
            best = l;
            bd = q->heap[l]->due;
        }
        if (l + 1 < q->heap_n && q->heap[l + 1]->due < bd)
            best = l + 1;
        if (best == i)
            break;
        heap_set(q, i, q->heap[best]);
        i = best;
    }
    heap_set(q, i, m);
}

/* heap_push - add a message */
static int heap_push(struct queue *q, struct qmsg *m)
{
    if (q->heap_n == q->heap_cap) {
        size_t cap = q->heap_cap ? q->heap_cap * 2 : 1024;
        struct qmsg **nh = realloc(q->heap, cap * sizeof(*nh));
        if (!nh)
            return -ENOMEM;
        q->heap = nh;
        q->heap_cap = cap;
    }
    heap_set(q, q->heap_n++, m);
    heap_up(q, q->heap_n - 1);
    return 0;
}

/* heap_remove - take a message out (no-op when absent) */
static void heap_remove(struct queue *q, struct qmsg *m)
{
    if (m->heap_idx < 0)
        return;
    size_t i = (size_t)m->heap_idx;
    m->heap_idx = -1;
    struct qmsg *last = q->heap[--q->heap_n];
    if (i == q->heap_n)
        return;
    heap_set(q, i, last);
    heap_up(q, i);
    heap_down(q, (size_t)last->heap_idx);
}

/* queue_sched_update - (re)place a message in the heap by its earliest waiting recipient */
void queue_sched_update(struct queue *q, struct qmsg *m)
{
    double due = INFINITY;
    if (!m->hold && !m->removed)
        for (size_t i = 0; i < m->nrcpt; i++)
            if (m->rcpt[i].state == QR_WAITING && m->rcpt[i].next_try < due)
                due = m->rcpt[i].next_try;
    if (due == INFINITY) {
        heap_remove(q, m);
        return;
    }
    if (m->heap_idx < 0) {
        m->due = due;
        if (heap_push(q, m) < 0) /* retried at the next update; keep going */
            log_warn("qmgr", "%s: out of memory scheduling message", m->qid);
        return;
    }
    double old = m->due;
    m->due = due;
    if (due < old)
        heap_up(q, (size_t)m->heap_idx);
    else if (due > old)
        heap_down(q, (size_t)m->heap_idx);
}

/* queue_sched_insert - add a message to the table and the schedule */
int queue_sched_insert(struct queue *q, struct qmsg *m)
{
    if (q->hcount >= q->hsize && htab_grow(q) < 0)
        return -ENOMEM;
    size_t b = hash_qid(m->qid) & (q->hsize - 1);
    m->hnext = q->htab[b];
    q->htab[b] = m;
    q->hcount++;
    atomic_fetch_add(&q->st_queue_size, 1);
    queue_sched_update(q, m);
    return 0;
}

/* queue_sched_unlink - take a message out of the table and the schedule */
void queue_sched_unlink(struct queue *q, struct qmsg *m)
{
    heap_remove(q, m);
    if (!q->hsize)
        return;
    struct qmsg **pp = &q->htab[hash_qid(m->qid) & (q->hsize - 1)];
    for (; *pp; pp = &(*pp)->hnext)
        if (*pp == m) {
            *pp = m->hnext;
            q->hcount--;
            atomic_fetch_sub(&q->st_queue_size, 1);
            return;
        }
}

/* queue_sched_mark_dirty - the next commit writes this message */
void queue_sched_mark_dirty(struct queue *q, struct qmsg *m)
{
    if (m->dirty)
        return;
    m->dirty = true;
    m->dirty_next = q->dirty_head;
    q->dirty_head = m;
}

/* queue_sched_check_done - mark a message with no recipient left for removal */
void queue_sched_check_done(struct queue *q, struct qmsg *m)
{
    if (m->nleft > 0 || m->removed)
        return;
    m->removed = true;
    heap_remove(q, m);
    queue_sched_mark_dirty(q, m);
}

/* set_reason - remember a recipient's last result */
static void set_reason(struct qrcpt *r, const char *dsn, const char *reason)
{
    if (dsn && *dsn)
        snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    if (reason) {
        char *s = strdup(reason);
        if (s) {
            free(r->reason);
            r->reason = s;
        }
    }
}

/* queue_sched_fail_rcpt - a recipient failed for good: done, DSN if wanted */
void queue_sched_fail_rcpt(struct queue *q, struct qmsg *m, struct qrcpt *r, const char *dsn,
                           const char *reason)
{
    set_reason(r, dsn, reason);
    if (r->dsn[0] != '5') { /* a failure is permanent by now */
        if (r->dsn[0] && r->dsn[1] == '.')
            r->dsn[0] = '5';
        else
            snprintf(r->dsn, sizeof(r->dsn), "5.0.0");
    }
    if (r->state == QR_INFLIGHT)
        m->ninflight--;
    if (r->state != QR_DONE)
        m->nleft--;
    r->state = QR_DONE;
    atomic_fetch_add(&q->st_bounced, 1);
    queue_sched_mark_dirty(q, m);
    if (m->sender[0] == 0) {
        log_info("qmgr", "%s: to=<%s>: undeliverable mail from <> discarded (%s)", m->qid, r->addr,
                 r->reason ? r->reason : "");
        return;
    }
    if ((r->notify & DSN_NOTIFY_NEVER) || (r->notify && !(r->notify & DSN_NOTIFY_FAILURE)))
        return;
    r->fail_pending = true;
    if (!m->on_fail_list) {
        m->on_fail_list = true;
        m->fail_next = q->fail_head;
        q->fail_head = m;
    }
}

/* backoff - retry delay after the n-th failed try */
static double backoff(const struct queue *q, uint32_t tries)
{
    double d = q->min_backoff > 0 ? q->min_backoff : 1; /* never retry in the same turn */
    for (uint32_t i = 1; i < tries && d < q->max_backoff; i++)
        d *= 2;
    if (d > q->max_backoff && q->max_backoff > 0)
        d = q->max_backoff;
    return d;
}

/* defer_rcpt - a temporary failure: retry later, or bounce when too old */
static void defer_rcpt(struct queue *q, struct qmsg *m, struct qrcpt *r, const char *dsn,
                       const char *reason, double now)
{
    int lifetime = m->sender[0] ? q->max_lifetime : q->bounce_lifetime;
    set_reason(r, dsn && *dsn ? dsn : "4.0.0", reason);
    r->tries++;
    atomic_fetch_add(&q->st_deferred, 1);
    if (now - m->arrival > (double)lifetime) {
        if (!m->expired_logged) {
            m->expired_logged = true;
            log_info("qmgr", "%s: from=<%s>, status=expired, returned to sender", m->qid,
                     m->sender);
        }
        queue_sched_fail_rcpt(q, m, r, NULL, NULL);
        return;
    }
    if (r->state == QR_INFLIGHT)
        m->ninflight--;
    r->state = QR_WAITING;
    r->next_try = now + backoff(q, r->tries);
    queue_sched_mark_dirty(q, m);
}

/* queue_sched_result - apply a returned delivery's results; frees d */
void queue_sched_result(struct queue *q, struct queue_delivery *d, double now)
{
    struct qmsg *m = queue_sched_find(q, d->qid);
    if (!m || m->removed)
        goto out;
    bool was_active = m->ninflight > 0;
    for (size_t i = 0; i < d->nrcpt; i++) {
        struct queue_delivery_rcpt *dr = &d->rcpt[i];
        if (dr->index >= m->nrcpt)
            continue;
        struct qrcpt *r = &m->rcpt[dr->index];
        if (r->state != QR_INFLIGHT)
            continue;
        switch (dr->status) {
        case RCPT_SENT:
            set_reason(r, dr->dsn, NULL);
            r->state = QR_DONE;
            m->ninflight--;
            m->nleft--;
            atomic_fetch_add(&q->st_delivered, 1);
            queue_sched_mark_dirty(q, m);
            break;
        case RCPT_BOUNCED:
            queue_sched_fail_rcpt(q, m, r, dr->dsn, dr->reason ? dr->reason : "delivery failed");
            break;
        default: /* RCPT_DEFERRED, or a result the deliverer forgot to set */
            defer_rcpt(q, m, r, dr->dsn,
                       dr->reason ? dr->reason
                                  : (dr->status == RCPT_DEFERRED ? "delivery temporarily failed"
                                                                 : "delivery status unknown"),
                       now);
            break;
        }
    }
    if (was_active && m->ninflight == 0)
        q->active--;
    queue_sched_check_done(q, m);
    queue_sched_update(q, m);
out:
    queue_delivery_free(d);
}

/* domain_of - default next hop: the recipient's domain */
static void domain_of(const char *addr, char *key, size_t keylen)
{
    const char *at = strrchr(addr, '@');
    snprintf(key, keylen, "%s", at ? at + 1 : "");
}

/* log_local - log a result the queue decided itself (no deliverer saw it) */
static void log_local(const struct qmsg *m, const struct qrcpt *r, const char *status, double now)
{
    log_info("qmgr",
             "%s: to=<%s>, relay=none, delay=%.2g, delays=%.2g/%.2g/0/0, dsn=%s, status=%s (%s)",
             m->qid, r->addr, now - m->arrival, m->queued - m->arrival, now - m->queued, r->dsn,
             status, r->reason ? r->reason : "");
}

/* make_delivery - a delivery for the recipients of m whose group is g */
static struct queue_delivery *make_delivery(struct qmsg *m, const char *key, const uint32_t *idx,
                                            size_t n, double now)
{
    struct queue_delivery *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    memcpy(d->qid, m->qid, sizeof(d->qid));
    d->sender = strdup(m->sender);
    d->envid = queue_strdup(m->envid);
    d->nexthop = strdup(key);
    d->rcpt = calloc(n, sizeof(*d->rcpt));
    if (!d->sender || !d->nexthop || !d->rcpt || (m->envid && !d->envid))
        goto fail;
    d->ret = m->ret;
    d->body_type = m->body_type;
    d->smtputf8 = m->smtputf8;
    d->requiretls = m->requiretls;
    d->tls_optional = m->tls_optional;
    d->size = m->size;
    d->arrival = m->arrival;
    d->queued = m->queued;
    d->dispatched = now;
    d->nrcpt = n;
    for (size_t i = 0; i < n; i++) {
        const struct qrcpt *r = &m->rcpt[idx[i]];
        d->rcpt[i].addr = strdup(r->addr);
        d->rcpt[i].orcpt = queue_strdup(r->orcpt);
        if (!d->rcpt[i].addr || (r->orcpt && !d->rcpt[i].orcpt))
            goto fail;
        d->rcpt[i].notify = r->notify;
        d->rcpt[i].index = idx[i];
        d->rcpt[i].status = RCPT_PENDING;
    }
    return d;
fail:
    queue_delivery_free(d);
    return NULL;
}

/* dispatch_msg - hand out the due recipients of one message, grouped by next hop */
static void dispatch_msg(struct queue *q, struct qmsg *m, double now)
{
    enum { KEYLEN = 256 };
    uint32_t *idx = NULL, *grp = NULL;
    char(*keys)[KEYLEN] = NULL;
    size_t ndue = 0, ngroups = 0;

    idx = malloc(m->nrcpt * sizeof(*idx));
    grp = malloc(m->nrcpt * sizeof(*grp));
    keys = malloc(m->nrcpt * sizeof(*keys));
    if (!idx || !grp || !keys) {
        log_warn("qmgr", "%s: out of memory dispatching message", m->qid);
        goto out;
    }
    for (size_t i = 0; i < m->nrcpt; i++) {
        struct qrcpt *r = &m->rcpt[i];
        char key[KEYLEN];
        if (r->state != QR_WAITING || r->next_try > now)
            continue;
        int rc = 0;
        key[0] = 0;
        if (q->hooks.resolve)
            rc = q->hooks.resolve(q->hooks.arg, r->addr, key, sizeof(key));
        else
            domain_of(r->addr, key, sizeof(key));
        key[KEYLEN - 1] = 0;
        if (rc == 1) {
            const char *text = key[0] ? key : "recipient address rejected";
            char dsn[8] = "5.0.0";
            if (text[0] == '5' && text[1] == '.' && strchr(text, ' ')) {
                size_t n = (size_t)(strchr(text, ' ') - text);
                if (n < sizeof(dsn)) {
                    memcpy(dsn, text, n);
                    dsn[n] = 0;
                }
            }
            queue_sched_fail_rcpt(q, m, r, dsn, text);
            log_local(m, r, "bounced", now);
            continue;
        }
        if (rc < 0) {
            char why[128];
            snprintf(why, sizeof(why), "next hop lookup failed: %s", strerror(-rc));
            defer_rcpt(q, m, r, "4.3.0", why, now);
            log_local(m, r, r->state == QR_DONE ? "bounced" : "deferred", now);
            continue;
        }
        size_t g;
        for (g = 0; g < ngroups; g++)
            if (strcmp(keys[g], key) == 0)
                break;
        if (g == ngroups)
            memcpy(keys[ngroups++], key, KEYLEN);
        idx[ndue] = (uint32_t)i;
        grp[ndue] = (uint32_t)g;
        ndue++;
    }
    /* One delivery per next hop, at most 50 recipients each (Postfix's
     * default_destination_recipient_limit). */
    for (size_t g = 0; g < ngroups; g++) {
        uint32_t members[50];
        size_t n = 0;
        for (size_t j = 0; j <= ndue; j++) {
            bool flush = j == ndue || n == sizeof(members) / sizeof(members[0]);
            if (flush && n) {
                struct queue_delivery *d = make_delivery(m, keys[g], members, n, now);
                if (!d) {
                    log_warn("qmgr", "%s: out of memory dispatching message", m->qid);
                    goto out;
                }
                if (m->ninflight == 0)
                    q->active++;
                for (size_t k = 0; k < n; k++)
                    m->rcpt[members[k]].state = QR_INFLIGHT;
                m->ninflight += n;
                q->hooks.dispatch(q->hooks.arg, d);
                n = 0;
            }
            if (j < ndue && grp[j] == g)
                members[n++] = idx[j];
        }
    }
out:
    free(idx);
    free(grp);
    free(keys);
    queue_sched_check_done(q, m);
}

/* queue_sched_dispatch - hand out what is due; returns 1 when more is due now */
int queue_sched_dispatch(struct queue *q, double now)
{
    size_t n = 0;
    if (!q->hooks.dispatch)
        return 0;
    while (q->heap_n && q->heap[0]->due <= now) {
        if (n >= QUEUE_DISPATCH_BATCH || q->active >= QUEUE_ACTIVE_LIMIT)
            return q->active < QUEUE_ACTIVE_LIMIT;
        struct qmsg *m = q->heap[0];
        heap_remove(q, m);
        dispatch_msg(q, m, now);
        queue_sched_update(q, m);
        n++;
    }
    return 0;
}

/* queue_sched_next_due - earliest due time in the heap, INFINITY if none */
double queue_sched_next_due(const struct queue *q)
{
    if (!q->hooks.dispatch || q->active >= QUEUE_ACTIVE_LIMIT || !q->heap_n)
        return INFINITY;
    return q->heap[0]->due;
}

/* queue_sched_free_all - free every in-memory message (at close) */
void queue_sched_free_all(struct queue *q)
{
    for (size_t i = 0; i < q->hsize; i++) {
        struct qmsg *m = q->htab[i], *next;
        for (; m; m = next) {
            next = m->hnext;
            queue_msg_queued_free(m);
        }
    }
    free(q->htab);
    free(q->heap);
    q->htab = NULL;
    q->heap = NULL;
    q->hsize = q->hcount = q->heap_n = q->heap_cap = 0;
    q->dirty_head = q->fail_head = NULL;
}
