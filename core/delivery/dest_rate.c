/*
 * dest_rate - default_destination_rate_limit: deliveries per second to one destination
 *
 * A connection starts a job only with a token of the current second (dconn_take_next asks
 * dest_rate_take()). Per node a destination has `limit` tokens each second. With
 * destination_lease_database the second's tokens come from Redis instead, shared by every node
 * (core/redis/redis_lease: redis_lease_tokens): the first job of a second asks for as many as
 * are queued (at most the limit), once; the answer comes back to this worker and kicks the
 * destination. Without tokens the destination waits for the next second (rate_timer), its
 * connections idle meanwhile. Redis not answering makes the limit per node for a while
 * (delivery.lease_local_until), as for the concurrency leases: no message waits for Redis.
 *
 * BOUNDS: one request per destination per second; a destination never starts more than the
 * limit in one second of this node's clock (the nodes' clocks are assumed to agree).
 */
#include "core/delivery/delivery_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/base/time.h"
#include "core/redis/redis_lease.h"

struct rate_answer {
    struct delivery *dv;
    uint64_t second;
    enum redis_lease_result result;
    uint64_t granted;
    char key[];
};

/* dest_rate_wait - no token left: kick again when the next second begins */
static void dest_rate_wait(struct dest *dst)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!loop_timer_armed(&dst->rate_timer))
        loop_timer_arm(dst->dv->p.loop, &dst->rate_timer,
                       1000 - (uint64_t)(ts.tv_nsec / 1000000) + 1);
}

/* dest_rate_apply - on the worker: this second's share from Redis */
static void dest_rate_apply(void *arg)
{
    struct rate_answer *a = arg;
    struct delivery *dv = a->dv;
    struct dest *dst = dv->shutting ? NULL : dest_find(dv, a->key);
    if (dst && dst->rate_sec == a->second) {
        if (a->result == REDIS_LEASE_GRANTED) {
            dst->rate_tokens += (int)a->granted;
        } else { /* Redis away: this node's own limit, now and for a while */
            dv->lease_local_until = time_mono_ms() + DEST_LEASE_LOCAL_MS;
            dst->rate_tokens = dv->p.rate_limit;
        }
        if (dst->rate_tokens == 0)
            dest_rate_wait(dst);
    }
    free(a);
    if (dst)
        dest_kick(dst);
}

/* dest_rate_answer - on the lease thread: hand the answer to the worker */
static void dest_rate_answer(void *arg, enum redis_lease_result result, uint64_t granted)
{
    struct rate_answer *a = arg;
    if (result == REDIS_LEASE_STOPPED) {
        free(a);
        return;
    }
    a->result = result;
    a->granted = granted;
    if (loop_post(a->dv->p.loop, dest_rate_apply, a) < 0)
        free(a);
}

/* dest_rate_next - the next second has begun: give the idle connections work */
static void dest_rate_next(struct loop_timer *t)
{
    dest_kick((struct dest *)((char *)t - offsetof(struct dest, rate_timer)));
}

void dest_rate_init(struct dest *dst)
{
    loop_timer_init(&dst->rate_timer, dest_rate_next);
}

bool dest_rate_take(struct dest *dst)
{
    struct delivery *dv = dst->dv;
    int limit = dv->p.rate_limit;
    if (limit <= 0)
        return true;
    uint64_t second = (uint64_t)time(NULL);
    bool cluster = dv->p.leases && time_mono_ms() >= dv->lease_local_until;
    if (dst->rate_sec != second) {
        dst->rate_sec = second;
        dst->rate_tokens = cluster ? 0 : limit;
        dst->rate_asked = false;
    }
    if (dst->rate_tokens > 0) {
        dst->rate_tokens--;
        return true;
    }
    if (cluster && !dst->rate_asked) {
        size_t n = strlen(dst->key);
        struct rate_answer *a = malloc(sizeof(*a) + n + 1);
        if (a) {
            a->dv = dv;
            a->second = second;
            memcpy(a->key, dst->key, n + 1);
            dst->rate_asked = true;
            int want = dst->nqueued < (size_t)limit ? (int)dst->nqueued : limit;
            redis_lease_tokens(dv->p.leases, dst->key, second, want > 0 ? want : 1, limit,
                               dest_rate_answer, a);
            return false; /* the answer kicks */
        }
    }
    dest_rate_wait(dst);
    return false;
}

void dest_rate_free(struct dest *dst)
{
    loop_timer_cancel(dst->dv->p.loop, &dst->rate_timer);
}
