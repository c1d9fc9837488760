/*
 * dest_rate - default_destination_rate_limit: deliveries per second to one destination
 *
 * A connection starts a job only with a token of the current second (dconn_take_next asks
 * dest_rate_take()). Per node a destination has `limit` tokens each second. With
 * destination_lease_database the second's tokens come from Redis instead, shared by every node
 * (core/redis/redis_lease: redis_lease_tokens): the first job of a second asks for as many as
 * are queued (at most the limit), once; the answer comes back to this worker (dest_ask) and kicks
 * the destination. Without tokens the destination waits for the next second (rate_timer), its
 * connections idle meanwhile. Redis not answering makes the limit per node for a while
 * (delivery.lease_local_until), as for the concurrency leases: no message waits for Redis.
 *
 * BOUNDS: one request per destination per second; a destination never starts more than the
 * limit in one second of this node's clock (the nodes' clocks are assumed to agree).
 */
#include "core/delivery/delivery_impl.h"

#include <time.h>

#include "core/base/time.h"

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
static void dest_rate_apply(struct dest *dst, struct dest_ask *a)
{
    if (!dst || dst->rate_sec != a->second)
        return;
    if (a->result == REDIS_LEASE_GRANTED) {
        dst->rate_tokens += (int)a->value;
    } else { /* Redis away: this node's own limit, now and for a while */
        dst->dv->lease_local_until = time_mono_ms() + DEST_LEASE_LOCAL_MS;
        dst->rate_tokens = dst->dv->p.rate_limit;
    }
    if (dst->rate_tokens == 0)
        dest_rate_wait(dst);
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
        struct dest_ask *a = dest_ask_new(dst, dest_rate_apply);
        if (a) {
            a->second = second;
            dst->rate_asked = true;
            int want = dst->nqueued < (size_t)limit ? (int)dst->nqueued : limit;
            redis_lease_tokens(dv->p.leases, dst->key, second, want > 0 ? want : 1, limit,
                               dest_ask_answer, a);
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
