/*
 * NAME
 *	queue_snapshot - the queue as plain data, for ternctl
 * SYNOPSIS
 *	queue_snapshot_list(q, &s);            // queue thread: every message
 *	queue_snapshot_show(q, qid, &s);       // queue thread: one, with content
 *	queue_snapshot_damage(s, key, len, why); // verify: one damaged record
 *	queue_snapshot_free(s);                // the caller, any thread
 * DESCRIPTION
 *	The answers of queue_ctl_list(), queue_ctl_show() and
 *	queue_ctl_verify() (queue_ctl.c). They are built on the queue thread,
 *	which owns the in-memory messages, while the caller waits; every string
 *	is copied, so the snapshot is the caller's and stays valid however the
 *	queue changes afterwards. Its size is in proportion to the queue (a
 *	list copies every message's envelope and open recipients), as the
 *	listing made from it is.
 *
 *	The queue does not format: core/daemon/queueview.c turns snapshots into
 *	the mailq-like text of `ternctl queue`.
 * DIAGNOSTICS
 *	0, -ENOENT for an unknown queue ID, -ENOMEM, or -errno from reading the
 *	content (show: the snapshot then holds the envelope, data NULL).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_impl.h"

/* msg_free - free what one message of a snapshot holds */
static void msg_free(struct queue_snapshot_msg *sm)
{
    free(sm->sender);
    free(sm->envid);
    free(sm->client);
    for (size_t i = 0; i < sm->nrcpt; i++) {
        free(sm->rcpt[i].addr);
        free(sm->rcpt[i].orcpt);
        free(sm->rcpt[i].reason);
    }
    free(sm->rcpt);
    free(sm->data);
}

/* queue_snapshot_free - free a snapshot; NULL is fine */
void queue_snapshot_free(struct queue_snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nmsg; i++)
        msg_free(&s->msg[i]);
    free(s->msg);
    free(s->damaged);
    for (size_t i = 0; i < s->ncorrupt; i++)
        free(s->corrupt[i]);
    free(s->corrupt);
    free(s->corrupt_dir);
    free(s);
}

/* dup_ok - copy s into *out (NULL stays NULL); false when out of memory */
static bool dup_ok(char **out, const char *s)
{
    *out = queue_strdup(s);
    return *out || !s;
}

/* msg_copy - m's envelope into sm: every recipient, or only those not done; 0 or -ENOMEM */
static int msg_copy(struct queue_snapshot_msg *sm, const struct qmsg *m, bool all)
{
    memcpy(sm->qid, m->qid, sizeof(sm->qid));
    sm->size = m->size;
    sm->arrival = m->arrival;
    sm->queued = m->queued;
    sm->ret = m->ret;
    sm->body_type = m->body_type;
    sm->smtputf8 = m->smtputf8;
    sm->requiretls = m->requiretls;
    sm->tls_optional = m->tls_optional;
    sm->hold = m->hold;
    sm->in_delivery = m->ninflight > 0;
    if (!dup_ok(&sm->sender, m->sender) || !dup_ok(&sm->envid, m->envid) ||
        !dup_ok(&sm->client, m->client))
        return -ENOMEM;
    if (m->nrcpt && !(sm->rcpt = calloc(m->nrcpt, sizeof(*sm->rcpt))))
        return -ENOMEM;
    for (size_t i = 0; i < m->nrcpt; i++) {
        const struct qrcpt *r = &m->rcpt[i];
        if (!all && r->state == QR_DONE)
            continue;
        struct queue_snapshot_rcpt *sr = &sm->rcpt[sm->nrcpt++];
        sr->state = r->state == QR_DONE       ? QUEUE_SNAPSHOT_DONE
                    : r->state == QR_INFLIGHT ? QUEUE_SNAPSHOT_ACTIVE
                                              : QUEUE_SNAPSHOT_WAITING;
        sr->notify = r->notify;
        sr->tries = r->tries;
        sr->next_try = r->next_try;
        memcpy(sr->dsn, r->dsn, sizeof(sr->dsn));
        if (!dup_ok(&sr->addr, r->addr) || !dup_ok(&sr->orcpt, r->orcpt) ||
            !dup_ok(&sr->reason, r->reason))
            return -ENOMEM;
    }
    return 0;
}

/* cmp_qid - order messages by queue ID (= arrival) */
static int cmp_qid(const void *a, const void *b)
{
    const struct qmsg *const *x = a, *const *y = b;
    return strcmp((*x)->qid, (*y)->qid);
}

/* queue_snapshot_list - every live message in queue ID order, and the corrupt queue */
int queue_snapshot_list(struct queue *q, struct queue_snapshot **out)
{
    struct queue_snapshot *s = calloc(1, sizeof(*s));
    struct qmsg **v = malloc((q->hcount ? q->hcount : 1) * sizeof(*v));
    size_t n = 0;
    int rc = -ENOMEM;
    *out = NULL;
    if (!s || !v || !(s->msg = calloc(q->hcount ? q->hcount : 1, sizeof(*s->msg))))
        goto fail;
    for (size_t i = 0; i < q->hsize; i++)
        for (struct qmsg *m = q->htab[i]; m; m = m->hnext)
            if (!m->removed)
                v[n++] = m;
    qsort(v, n, sizeof(*v), cmp_qid);
    for (size_t i = 0; i < n; i++) /* counted before the copy: freed when it fails halfway */
        if ((rc = msg_copy(&s->msg[s->nmsg++], v[i], false)) < 0)
            goto fail;
    /* an unreadable corrupt directory lists nothing, as ever; running out of memory fails */
    if ((rc = queue_corrupt_list(q->directory, s)) == -ENOMEM)
        goto fail;
    free(v);
    *out = s;
    return 0;
fail:
    free(v);
    queue_snapshot_free(s);
    return rc;
}

/* queue_snapshot_show - one message: envelope, every recipient, content */
int queue_snapshot_show(struct queue *q, const char *qid, struct queue_snapshot **out)
{
    struct qmsg *m = queue_sched_find(q, qid);
    struct queue_snapshot *s = NULL;
    int rc = -ENOMEM;
    *out = NULL;
    if (!m || m->removed)
        return -ENOENT;
    if (!(s = calloc(1, sizeof(*s))) || !(s->msg = calloc(1, sizeof(*s->msg))))
        goto fail;
    s->nmsg = 1;
    if ((rc = msg_copy(&s->msg[0], m, true)) < 0)
        goto fail;
    *out = s; /* with the envelope even when the content cannot be read */
    return queue_store_body_load(q, m->qid, &s->msg[0].data, &s->msg[0].len);
fail:
    queue_snapshot_free(s);
    return rc;
}

/* queue_snapshot_damage - add a damaged record (its key as text, at most 64 bytes) */
int queue_snapshot_damage(struct queue_snapshot *s, const void *key, size_t keylen, const char *why)
{
    /* the array holds a power of two: full when ndamaged is 0, 1, 2, 4, 8, ... */
    if ((s->ndamaged & (s->ndamaged - 1)) == 0) {
        size_t cap = s->ndamaged ? s->ndamaged * 2 : 1;
        struct queue_snapshot_damage *v = realloc(s->damaged, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->damaged = v;
    }
    struct queue_snapshot_damage *d = &s->damaged[s->ndamaged++];
    snprintf(d->key, sizeof(d->key), "%.*s", (int)(keylen < 64 ? keylen : 64), (const char *)key);
    d->why = why;
    return 0;
}
