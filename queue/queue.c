/*
 * NAME
 *	queue - the queue's entry points: open, submit, results, stop, close
 * SYNOPSIS
 *	queue_open(&q, &params, &hooks);        // recovers what is on disk
 *	queue_start(q);                         // the thread (queue_thread.c)
 *	queue_submit(q, msg, done, arg);        // any thread
 *	queue_delivery_done(q, d);              // any thread
 *	queue_get_stats(q, &st);                // any thread
 *	queue_stop(q); queue_close(q);
 * DESCRIPTION
 *	queue.h describes the queue as a whole. This file holds what other
 *	threads call: the life cycle of struct queue and the two doors of the
 *	thread's inbox. queue_submit() and queue_delivery_done() append to the
 *	inbox under q->lock and wake the thread only when it has to
 *	(queue_thread_wake_locked); queue_submit() moves the message's strings
 *	into the queue's in-memory form, no copies. The control requests have
 *	their own door in queue_ctl.c.
 * DIAGNOSTICS
 *	queue_submit() returns -EINVAL for a malformed message, -ESHUTDOWN once
 *	the queue stopped, -ENOMEM; the message then still belongs to the caller.
 *	queue_delivery_done() never fails: a result it cannot keep is logged
 *	and dropped (the recipients are tried again at the next start).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/time.h"
#include "queue/queue_impl.h"

/* queue_strdup - strdup that passes NULL through */
char *queue_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* find_msgid - the Message-ID header value (malloc'd), or NULL */
static char *find_msgid(const char *data, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *line = data + i;
        const char *eol = memchr(line, '\n', len - i);
        size_t llen = eol ? (size_t)(eol - line) : len - i;
        if (llen == 0 || (llen == 1 && line[0] == '\r'))
            break; /* end of headers */
        if (llen > 11 && strncasecmp(line, "Message-ID:", 11) == 0) {
            const char *p = line + 11, *e = line + llen;
            while (p < e && (*p == ' ' || *p == '\t'))
                p++;
            while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (e - p > 2 && *p == '<' && e[-1] == '>') {
                p++;
                e--;
            }
            return e > p && e - p < 512 ? strndup(p, (size_t)(e - p)) : NULL;
        }
        i += llen + 1;
    }
    return NULL;
}

/* queue_submit - hand a message to the queue; done() follows the commit */
int queue_submit(struct queue *q, struct queue_msg *m, queue_done_fn *done, void *arg)
{
    if (!q || !m || !m->sender || m->nrcpt == 0 || !m->rcpt || (!m->data && m->len))
        return -EINVAL;
    for (size_t i = 0; i < m->nrcpt; i++)
        if (!m->rcpt[i].addr)
            return -EINVAL;
    if (m->qid[0] == 0)
        queue_id_new(m->qid);
    if (strlen(m->qid) != QUEUE_ID_LEN)
        return -EINVAL;

    struct qmsg *qm = queue_msg_queued_new();
    struct qrcpt *rc = calloc(m->nrcpt, sizeof(*rc));
    if (!qm || !rc) {
        free(qm);
        free(rc);
        return -ENOMEM;
    }
    struct qnew n = {.m = qm, .done = done, .arg = arg, .submitted = time_mono()};
    n.msgid = find_msgid(m->data, m->len);

    pthread_mutex_lock(&q->lock);
    int err = q->closed ? -ESHUTDOWN : queue_msg_pending_push(&q->in_new, &n);
    if (err < 0) {
        pthread_mutex_unlock(&q->lock);
        free(n.msgid);
        free(qm);
        free(rc);
        return err;
    }
    /* Committed to taking it: move the strings over, no copies. */
    memcpy(qm->qid, m->qid, sizeof(qm->qid));
    qm->sender = m->sender;
    qm->envid = m->envid;
    qm->client = m->client;
    qm->ret = m->ret;
    qm->body_type = m->body_type;
    qm->smtputf8 = m->smtputf8;
    qm->requiretls = m->requiretls;
    qm->tls_optional = m->tls_optional;
    qm->arrival = m->arrival > 0 ? m->arrival : time_now();
    qm->size = m->len;
    qm->rcpt = rc;
    qm->nrcpt = qm->nleft = m->nrcpt;
    for (size_t i = 0; i < m->nrcpt; i++) {
        rc[i].addr = m->rcpt[i].addr;
        rc[i].orcpt = m->rcpt[i].orcpt;
        rc[i].notify = m->rcpt[i].notify;
        rc[i].state = QR_WAITING;
    }
    struct qnew *slot = &q->in_new.v[q->in_new.n - 1];
    slot->data = m->data;
    slot->len = m->len;
    if (q->in_new.n >= q->wake_need)
        queue_thread_wake_locked(q);
    pthread_mutex_unlock(&q->lock);

    free(m->rcpt);
    free(m);
    return 0;
}

/* push_result - append a returned delivery to the inbox */
static int push_result(struct qdel_vec *v, struct queue_delivery *d)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        struct queue_delivery **nv = realloc(v->v, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = d;
    return 0;
}

/* queue_delivery_done - return a delivery with its results (any thread) */
void queue_delivery_done(struct queue *q, struct queue_delivery *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&q->lock);
    if (q->closed || push_result(&q->in_res, d) < 0) {
        /* The recipients stay undelivered on disk: tried again at the next start. */
        pthread_mutex_unlock(&q->lock);
        log_warn("qmgr", "%s: delivery result dropped (queue %s)", d->qid,
                 q->closed ? "stopped" : "out of memory");
        queue_delivery_free(d);
        return;
    }
    if (!q->quiet)
        queue_thread_wake_locked(q);
    pthread_mutex_unlock(&q->lock);
}

/* queue_reload_params - p's backoff times, lifetimes and myhostname into q (at open, and on the
 * queue thread at a reload: queue_ctl_reload); -ENOMEM keeps the old name */
int queue_reload_params(struct queue *q, const struct queue_params *p)
{
    q->min_backoff = p->minimal_backoff_time > 0 ? p->minimal_backoff_time : 0;
    q->max_backoff =
        p->maximal_backoff_time > q->min_backoff ? p->maximal_backoff_time : q->min_backoff;
    q->max_lifetime = p->maximal_queue_lifetime > 0 ? p->maximal_queue_lifetime : 0;
    q->bounce_lifetime = p->bounce_queue_lifetime > 0 ? p->bounce_queue_lifetime : 0;
    char *name = strdup(p->myhostname && *p->myhostname ? p->myhostname : "localhost");
    if (!name)
        return -ENOMEM;
    free(q->myhostname);
    q->myhostname = name;
    return 0;
}

/* queue_open - open the queue directory and recover what is on disk */
int queue_open(struct queue **out, const struct queue_params *p, const struct queue_hooks *h)
{
    int rc = -ENOMEM;
    *out = NULL;
    if (!p || !p->directory || !*p->directory)
        return -EINVAL;
    struct queue *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->efd = -1;
    q->in_ctl_tail = &q->in_ctl;
    q->wake_need = 1;
    q->internal_since = INFINITY;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->ctl_cv, NULL);
    q->directory = strdup(p->directory);
    q->bounce_from = queue_strdup(p->bounce_from);
    if (!q->directory || (p->bounce_from && !q->bounce_from) || queue_reload_params(q, p) < 0)
        goto fail;
    q->map_size = p->map_size ? p->map_size : (size_t)1 << 30;
    if (h)
        q->hooks = *h;
    if ((q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = queue_store_open(q)) < 0)
        goto fail;
    if ((rc = queue_store_recover(q)) < 0)
        goto fail;
    *out = q;
    return 0;
fail:
    queue_close(q);
    return rc;
}

/* queue_start - start the queue thread */
int queue_start(struct queue *q)
{
    if (q->started)
        return 0;
    int rc = pthread_create(&q->thread, NULL, queue_thread_main, q);
    if (rc != 0)
        return -rc;
    pthread_mutex_lock(&q->lock);
    q->started = true;
    pthread_mutex_unlock(&q->lock);
    return 0;
}

/* queue_stop - commit what was submitted, stop the thread */
void queue_stop(struct queue *q)
{
    if (!q || !q->started)
        return;
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    q->signaled = false;
    queue_thread_wake_locked(q);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    pthread_mutex_lock(&q->lock);
    q->started = false;
    pthread_mutex_unlock(&q->lock);
}

/* queue_close - free everything; NULL is fine */
void queue_close(struct queue *q)
{
    if (!q)
        return;
    queue_stop(q);
    /* Submitted but never committed (the thread never ran): not accepted. */
    for (size_t i = 0; i < q->in_new.n; i++) {
        if (q->in_new.v[i].done)
            q->in_new.v[i].done(q->in_new.v[i].arg, -ESHUTDOWN);
        queue_msg_pending_free(&q->in_new.v[i]);
    }
    for (size_t i = 0; i < q->in_res.n; i++)
        queue_delivery_free(q->in_res.v[i]);
    free(q->in_new.v);
    free(q->in_res.v);
    free(q->work_new.v);
    free(q->work_res.v);
    free(q->bounces.v);
    queue_sched_free_all(q);
    queue_store_close(q);
    buf_free(&q->scratch);
    if (q->efd >= 0)
        close(q->efd);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->ctl_cv);
    free(q->directory);
    free(q->myhostname);
    free(q->bounce_from);
    free(q);
}

/* queue_get_stats - a snapshot of the counters */
void queue_get_stats(struct queue *q, struct queue_stats *st)
{
    st->received = atomic_load(&q->st_received);
    st->delivered = atomic_load(&q->st_delivered);
    st->deferred = atomic_load(&q->st_deferred);
    st->bounced = atomic_load(&q->st_bounced);
    st->commits = atomic_load(&q->st_commits);
    st->committed_msgs = atomic_load(&q->st_committed_msgs);
    st->queue_size = atomic_load(&q->st_queue_size);
    st->corrupt = atomic_load(&q->st_corrupt);
    for (int i = 0; i < QUEUE_HIST_SLOTS; i++) {
        st->commit_seconds_count[i] = atomic_load(&q->st_commit_hist[i]);
        st->batch_size_count[i] = atomic_load(&q->st_batch_hist[i]);
    }
    st->commit_seconds_sum = (double)atomic_load(&q->st_commit_nsec) / 1e9;
    st->batch_size_sum = atomic_load(&q->st_batch_sum);
}
