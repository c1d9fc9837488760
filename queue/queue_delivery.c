/*
 * NAME
 *	queue_delivery - freeing a delivery
 * SYNOPSIS
 *	queue_delivery_free(d);
 * DESCRIPTION
 *	queue_delivery_free() frees a delivery handed out by the scheduler
 *	(queue_sched.c makes them), including the deliverer's results (reason,
 *	relay); owner_data is the deliverer's business.
 *
 *	A file of its own, apart from queue_delivery_done() and the rest: a
 *	deliverer links this one without the queue's thread and store, so
 *	its tests can stand in for the queue (tests/unit/delivery).
 */
#include <stdlib.h>

#include "queue/queue.h"

/* queue_delivery_free - free a delivery with its results; NULL is fine */
void queue_delivery_free(struct queue_delivery *d)
{
    if (!d)
        return;
    free(d->sender);
    free(d->envid);
    free(d->nexthop);
    free(d->relay);
    for (size_t i = 0; i < d->nrcpt && d->rcpt; i++) {
        free(d->rcpt[i].addr);
        free(d->rcpt[i].orcpt);
        free(d->rcpt[i].reason);
    }
    free(d->rcpt);
    free(d);
}
