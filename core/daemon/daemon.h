/*
 * NAME
 *	daemon - the process: config generations, the queue, the workers
 * DESCRIPTION
 *	One struct tern_daemon per process, built by ternd's main. The current
 *	runtime (config generation) is swapped under rt_lock on SIGHUP; workers
 *	get their own reference by message, the queue thread's resolve hook
 *	takes it under the lock (once per recipient; uncontended).
 *
 *	The anvil (smtpd/anvil.h) counts inbound connections per client and in
 *	total for all workers; it lives as long as the process, across
 *	reloads. total_limit is smtpd_total_connection_limit's default, derived
 *	at start-up from the descriptor limit (daemon/fdlimit.h).
 */
#ifndef TERN_DAEMON_DAEMON_H
#define TERN_DAEMON_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/smtpd/anvil.h"
#include "core/config/runtime.h"
#include "core/daemon/worker.h"
#include "queue/queue.h"

struct pool;
struct redis_mirror;
struct redis_lease;
struct redis_conf;

struct tern_daemon {
    pthread_mutex_t rt_lock;
    struct tern_runtime *rt;
    struct tern_tls_caches *tls_caches; /* opened once, kept across reloads */
    /* redis: caches shared with the other nodes (server side, client side); NULL: none */
    struct redis_mirror *mirror[2];
    /* destination_lease_database: connection leases shared with the other nodes; NULL: none */
    struct redis_conf *lease_conf;
    struct redis_lease *leases;
    struct queue *queue;
    struct pool *auth_pool; /* SASL server steps, off the rings (smtpd/authjob.h); NULL: no AUTH */
    struct worker *workers;
    int nworkers;
    atomic_bool draining;
    struct anvil *anvil;
    int total_limit; /* inbound cap when smtpd_total_connection_limit = 0 */
};

/* daemon_runtime - a new reference to the current runtime (thread-safe) */
struct tern_runtime *daemon_runtime(struct tern_daemon *d);
/* daemon_total_limit - the inbound cap under cfg: smtpd_total_connection_limit, or the
 * derived one */
int daemon_total_limit(const struct tern_daemon *d, const struct tern_config *cfg);
/* daemon_queue_hooks - hooks for queue_open: resolve via policy, dispatch to workers */
void daemon_queue_hooks(struct tern_daemon *d, struct queue_hooks *h);

#endif
