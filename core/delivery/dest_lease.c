/*
 * dest_lease - a destination's connections under a limit the nodes share (core/redis/redis_lease)
 *
 * With destination_lease_database = redis:FILE (delivery_params.leases) a destination opens a
 * connection only while it holds more leases than it has connections, quitting ones included
 * (they are still open at the peer): then N nodes together never open more than
 * default_destination_concurrency_limit. dest_kick() asks through dest_lease_ok(); one request
 * is out at a time per destination, its answer comes back to this worker (dest_ask) and kicks
 * again: granted, the lease is kept; refused (the cluster is at the limit), asked again after
 * DEST_LEASE_RETRY_MS; unavailable (Redis away), the limit holds per node for
 * DEST_LEASE_LOCAL_MS, so no message waits for Redis. A lease not backing a connection after a
 * kick is given back (dest_lease_trim), and all of them when the destination goes.
 *
 * BOUNDS: a destination holds at most the limit in leases (plus, after Redis came back,
 * connections opened meanwhile without one - they end as usual).
 */
#include "core/delivery/delivery_impl.h"

#include <stdlib.h>

#include "core/base/time.h"

#define DEST_LEASE_RETRY_MS 250

/* dest_lease_apply - on the worker: the answer to this destination's request */
static void dest_lease_apply(struct dest *dst, struct dest_ask *a)
{
    if (!dst)
        return; /* a granted lease goes back */
    dst->lease_asked = false;
    if (a->result == REDIS_LEASE_GRANTED) {
        uint64_t *l = realloc(dst->lease, (dst->nlease + 1) * sizeof(*l));
        if (l) {
            dst->lease = l;
            dst->lease[dst->nlease++] = a->value;
            a->lease = false; /* kept */
        }
    } else if (a->result == REDIS_LEASE_REFUSED) {
        loop_timer_arm(dst->dv->p.loop, &dst->lease_timer, DEST_LEASE_RETRY_MS);
    } else {
        dst->dv->lease_local_until = time_mono_ms() + DEST_LEASE_LOCAL_MS;
    }
}

/* dest_lease_retry - the cluster was at the limit a moment ago: try again */
static void dest_lease_retry(struct loop_timer *t)
{
    struct dest *dst = (struct dest *)((char *)t - offsetof(struct dest, lease_timer));
    dest_kick(dst);
}

void dest_lease_init(struct dest *dst)
{
    loop_timer_init(&dst->lease_timer, dest_lease_retry);
}

bool dest_lease_ok(struct dest *dst, int limit)
{
    struct delivery *dv = dst->dv;
    if (!dv->p.leases || time_mono_ms() < dv->lease_local_until)
        return true;
    if ((size_t)dst->nconns < dst->nlease)
        return true;
    if (!dst->lease_asked && !loop_timer_armed(&dst->lease_timer) && dst->nlease < (size_t)limit) {
        struct dest_ask *a = dest_ask_new(dst, dest_lease_apply);
        if (!a)
            return true; /* cannot ask: the node's own limit holds */
        a->lease = true;
        dst->lease_asked = true;
        redis_lease_acquire(dv->p.leases, dst->key, limit, dest_ask_answer, a);
    }
    return false;
}

void dest_lease_trim(struct dest *dst)
{
    while (dst->nlease > (size_t)dst->nconns)
        redis_lease_release(dst->dv->p.leases, dst->lease[--dst->nlease]);
}

void dest_lease_free(struct dest *dst)
{
    loop_timer_cancel(dst->dv->p.loop, &dst->lease_timer);
    while (dst->nlease > 0)
        redis_lease_release(dst->dv->p.leases, dst->lease[--dst->nlease]);
    free(dst->lease);
}
