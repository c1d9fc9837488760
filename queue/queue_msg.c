/*
 * NAME
 *	queue_msg - a message's three forms: received, pending, queued
 * SYNOPSIS
 *	queue_msg_free(m);                   // struct queue_msg, as received
 *	n = queue_msg_queued_new();          // struct qmsg, in memory
 *	queue_msg_queued_free(qm);
 *	queue_msg_pending_push(&vec, &pending); // struct qnew, before its commit
 *	queue_msg_pending_free(&pending);
 * DESCRIPTION
 *	queue_msg_free() frees a struct queue_msg as built by the SMTP server
 *	(every string and the content).
 *
 *	The rest is private to the queue: the in-memory message (struct qmsg,
 *	"queued"), and a message waiting for its first commit (struct qnew,
 *	"pending": a queued message, its content and Message-ID) with the
 *	growable vector that holds those in the thread's inbox.
 *	queue_msg_free() and queue_msg_queued_free() look alike but free
 *	different structs (the received message owns its content, the queued
 *	one owns failure reasons instead), as does queue_delivery_free().
 * DIAGNOSTICS
 *	queue_msg_pending_push() returns 0 or -ENOMEM.
 */
#include <errno.h>
#include <stdlib.h>

#include "queue/queue_impl.h"

/* queue_msg_free - free a received message; NULL is fine */
void queue_msg_free(struct queue_msg *m)
{
    if (!m)
        return;
    free(m->sender);
    free(m->envid);
    free(m->client);
    for (size_t i = 0; i < m->nrcpt && m->rcpt; i++) {
        free(m->rcpt[i].addr);
        free(m->rcpt[i].orcpt);
    }
    free(m->rcpt);
    free(m->data);
    free(m);
}

/* queue_msg_queued_new - an empty in-memory message (struct qmsg) */
struct qmsg *queue_msg_queued_new(void)
{
    struct qmsg *m = calloc(1, sizeof(*m));
    if (m)
        m->heap_idx = -1;
    return m;
}

/* queue_msg_queued_free - free an in-memory message; NULL is fine */
void queue_msg_queued_free(struct qmsg *m)
{
    if (!m)
        return;
    free(m->sender);
    free(m->envid);
    free(m->client);
    for (size_t i = 0; i < m->nrcpt && m->rcpt; i++) {
        free(m->rcpt[i].addr);
        free(m->rcpt[i].orcpt);
        free(m->rcpt[i].reason);
    }
    free(m->rcpt);
    free(m);
}

/* queue_msg_pending_free - drop a message that was never committed */
void queue_msg_pending_free(struct qnew *n)
{
    queue_msg_queued_free(n->m);
    free(n->data);
    free(n->msgid);
    n->m = NULL;
    n->data = NULL;
    n->msgid = NULL;
}

/* queue_msg_pending_push - append a pending message */
int queue_msg_pending_push(struct qnew_vec *v, const struct qnew *n)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        struct qnew *nv = realloc(v->v, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = *n;
    return 0;
}
