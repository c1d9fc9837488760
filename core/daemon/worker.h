/*
 * NAME
 *	worker - a worker thread: its ring, listeners, sessions, deliveries
 * SYNOPSIS
 *	struct worker *w = &daemon->workers[i];
 *	worker_init(w, d, i);                  // main thread, before privileges drop
 *	worker_start(w);                       // pthread running loop_run()
 *	worker_post_runtime(w, rt);            // reload: the worker swaps to rt
 *	worker_drain(w); worker_join(w);
 * DESCRIPTION
 *	A connection lives on one worker for its whole life; a destination is
 *	served by one worker (worker_for_nexthop()). Workers share nothing on
 *	the hot path: their own ring, timers, DNS resolver and delivery pools.
 *	The fields below are touched only on the worker's own thread, except
 *	the counters (atomics, read by `ternctl stats`).
 */
#ifndef TERN_DAEMON_WORKER_H
#define TERN_DAEMON_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/delivery/delivery.h"
#include "core/loop/dns.h"
#include "core/loop/loop.h"
#include "core/config/runtime.h"

struct tern_daemon;
struct listener;

struct worker {
    int index;
    struct tern_daemon *daemon;
    struct loop *loop;
    struct dns_resolver *dns;
    struct loop_op dns_op;
    struct delivery *delivery;
    struct tern_runtime *rt;      /* newest config generation (own reference) */
    struct listener *listeners;   /* this worker's SO_REUSEPORT sockets */
    pthread_t thread;
    bool draining;
    struct loop_timer drain_timer; /* while draining: checks whether all work is done */
    atomic_bool drained;          /* set by the worker, read by the main thread */
    int sessions;                 /* live inbound sessions */
    struct server_session *session_list;
    atomic_ulong connections_total;
    /* systemd watchdog (daemon/notify.h): the ring stamps alive_ms (time_mono_ms) every
     * alive_every_ms from its own timer; 0: no watchdog */
    uint64_t alive_every_ms;
    struct loop_timer alive_timer;
    _Atomic uint64_t alive_ms;
};

int worker_init(struct worker *w, struct tern_daemon *d, int index, char **err);
/* worker_watchdog - before worker_start(): stamp alive_ms every every_ms on the ring */
void worker_watchdog(struct worker *w, uint64_t every_ms);
int worker_start(struct worker *w);
void worker_post_runtime(struct worker *w, struct tern_runtime *rt);
/* worker_drain - stop accepting, say 421 to idle sessions, stop delivering (thread-safe) */
void worker_drain(struct worker *w);
/* worker_idle - after worker_drain(): no sessions and no delivery left (any thread) */
bool worker_idle(struct worker *w);
void worker_stop_and_join(struct worker *w);
void worker_free(struct worker *w);
struct worker *worker_for_nexthop(struct tern_daemon *d, const char *nexthop);

#endif
