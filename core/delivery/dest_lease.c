/*
 * dest_lease - a destination's connections under a limit the nodes share (core/redis/redis_lease)
 *
 * With destination_lease_database = redis:FILE (delivery_params.leases) a destination opens a
 * connection only while it holds more leases than it has connections, quitting ones included
 * (they are still open at the peer): then N nodes together never open more than
 * default_destination_concurrency_limit. dest_kick() asks through dest_lease_ok(); one request
 * is out at a time per destination, its answer comes back to this worker (loop_post) and kicks
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
#include <string.h>

#include "core/base/time.h"
#include "core/redis/redis_lease.h"

#define DEST_LEASE_RETRY_MS 250

struct lease_answer {
    struct delivery *dv;
    enum redis_lease_result result;
    uint64_t id;
    char key[]; /* the destination's */
};

/* dest_lease_apply - on the worker: the answer to this destination's request */
static void dest_lease_apply(void *arg)
{
    struct lease_answer *a = arg;
    struct delivery *dv = a->dv;
    struct dest *dst = dv->shutting ? NULL : dest_find(dv, a->key);
    bool kept = false;
    if (dst) {
        dst->lease_asked = false;
        if (a->result == REDIS_LEASE_GRANTED) {
            uint64_t *l = realloc(dst->lease, (dst->nlease + 1) * sizeof(*l));
            if (l) {
                dst->lease = l;
                dst->lease[dst->nlease++] = a->id;
                kept = true;
            }
        } else if (a->result == REDIS_LEASE_REFUSED) {
            loop_timer_arm(dv->p.loop, &dst->lease_timer, DEST_LEASE_RETRY_MS);
        } else {
            dv->lease_local_until = time_mono_ms() + DEST_LEASE_LOCAL_MS;
        }
    }
    if (a->result == REDIS_LEASE_GRANTED && !kept)
        redis_lease_release(dv->p.leases, a->id);
    free(a);
    if (dst)
        dest_kick(dst);
}

/* dest_lease_answer - on the lease thread: hand the answer to the worker */
static void dest_lease_answer(void *arg, enum redis_lease_result result, uint64_t id)
{
    struct lease_answer *a = arg;
    if (result == REDIS_LEASE_STOPPED) { /* the daemon is stopping: nobody waits for it */
        free(a);
        return;
    }
    a->result = result;
    a->id = id;
    if (loop_post(a->dv->p.loop, dest_lease_apply, a) < 0) {
        if (result == REDIS_LEASE_GRANTED)
            redis_lease_release(a->dv->p.leases, id);
        free(a);
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
        size_t n = strlen(dst->key);
        struct lease_answer *a = malloc(sizeof(*a) + n + 1);
        if (!a)
            return true; /* cannot ask: the node's own limit holds */
        a->dv = dv;
        memcpy(a->key, dst->key, n + 1);
        dst->lease_asked = true;
        redis_lease_acquire(dv->p.leases, dst->key, limit, dest_lease_answer, a);
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
