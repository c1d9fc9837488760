/*
 * NAME
 *	redis_lease - connection leases per destination, shared by the nodes through Redis
 * SYNOPSIS
 *	#include "core/redis/redis_lease.h"
 *
 *	struct redis_lease *rl;
 *	redis_lease_start(&rl, conf, 10000);
 *	redis_lease_acquire(rl, "[mx.example]:25", 4, answer, arg);  // answer() on its thread
 *	redis_lease_release(rl, id);
 *	redis_lease_stop(rl);     // then, once nobody calls it: redis_lease_free(rl)
 * DESCRIPTION
 *	With destination_lease_database = redis:FILE a node opens a connection
 *	to a destination only while it holds a lease for it, and Redis gives
 *	out at most default_destination_concurrency_limit leases per
 *	destination across every node: N nodes do not open N times what a small
 *	MX allows.
 *
 *	A lease is a member of the sorted set <prefix>lease:<destination> whose
 *	score is its expiry (Redis's own clock, TIME, so that nodes' clocks do
 *	not matter). acquire runs one Lua script: drop the expired members,
 *	then add this one if fewer than limit remain. This thread renews every
 *	lease it holds every ttl/3 (re-adding it if Redis lost it, after a
 *	restart), release removes it REDIS_LEASE_LINGER_MS later (the peer has
 *	seen the old connection close before another node may open one). A node that dies stops
 *renewing: its leases expire within ttl and the others take its share.
 *
 *	Rates: default_destination_rate_limit deliveries per second per
 *	destination across the nodes. redis_lease_tokens() adds what a node
 *	wants in this second to the counter <prefix>rate:<destination>:<second>
 *	(gone after 5 s) and grants what was still under the limit.
 *
 *	Nothing waits for Redis on a worker: acquire and release only queue the
 *	request; the answer comes to answer(arg, result, id) on this thread,
 *	which hands it to the worker (loop_post). REDIS_LEASE_UNAVAILABLE - Redis
 *	down, slow or refusing - tells the caller to apply its limit per node
 *	for a while: never a delayed or refused message because of Redis.
 * BOUNDS
 *	At most REDIS_LEASE_QUEUE_MAX requests wait for the thread (beyond,
 *	an acquire is answered UNAVAILABLE at once, a release is dropped and
 *	expires in Redis by itself); at most REDIS_LEASE_HELD_MAX leases are
 *	held (beyond, UNAVAILABLE). Every command is bounded by the file's
 *	timeout.
 */
#ifndef TERN_REDIS_LEASE_H
#define TERN_REDIS_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/redis/redis_conf.h"

#define REDIS_LEASE_QUEUE_MAX 4096
#define REDIS_LEASE_HELD_MAX 65536
#define REDIS_LEASE_LINGER_MS 1000

enum redis_lease_result {
    REDIS_LEASE_GRANTED,     /* id is the lease; release it when the connection is gone */
    REDIS_LEASE_REFUSED,     /* the cluster holds limit leases now: ask again later */
    REDIS_LEASE_UNAVAILABLE, /* no answer from Redis: apply the limit per node */
    REDIS_LEASE_STOPPED,     /* redis_lease_stop() is under way: free arg, do nothing else */
};

struct redis_lease;

/* the answer, on the lease thread: hand it over and return */
typedef void redis_lease_fn(void *arg, enum redis_lease_result result, uint64_t id);

/* redis_lease_start - conf is borrowed (outlives the leases); ttl_ms how long a lease lives
 * without renewal */
int redis_lease_start(struct redis_lease **out, const struct redis_conf *conf, unsigned ttl_ms);
/* redis_lease_stop - release every lease held, stop the thread; NULL is fine. From then on
 * acquire answers REDIS_LEASE_STOPPED at once and release does nothing */
void redis_lease_stop(struct redis_lease *rl);
/* redis_lease_up - connected to Redis now (any thread; NULL: false) */
bool redis_lease_up(struct redis_lease *rl);
/* redis_lease_free - after stop, when nobody calls acquire or release any more */
void redis_lease_free(struct redis_lease *rl);
/* redis_lease_acquire - ask for one lease of dest under limit; answer() follows exactly once */
void redis_lease_acquire(struct redis_lease *rl, const char *dest, int limit, redis_lease_fn *fn,
                         void *arg);
/* redis_lease_tokens - up to want deliveries to dest in this second (epoch seconds) under limit
 * per second across the nodes; answer() follows exactly once, GRANTED with id = how many
 * (0: none left in this second) */
void redis_lease_tokens(struct redis_lease *rl, const char *dest, uint64_t second, int want,
                        int limit, redis_lease_fn *fn, void *arg);
/* redis_lease_release - give lease id back */
void redis_lease_release(struct redis_lease *rl, uint64_t id);

#endif
