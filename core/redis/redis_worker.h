/*
 * NAME
 *	redis_worker - the thread a node talks to Redis from
 * SYNOPSIS
 *	#include "core/redis/redis_worker.h"
 *
 *	struct redis_worker w = {.conf = conf, .facility = "qmgr",
 *	                         .meanwhile = "limits hold per node"};
 *	redis_worker_start(&w, run, arg);       // run(arg) on the new thread
 *	    // on it: while (!atomic_load(&w.stop)) { ... redis_worker_wait(&w, fd, ms); }
 *	redis_worker_ring(&w);                  // from any thread: wake it
 *	redis_worker_join(&w);                  // stop, wake, join
 *	redis_worker_free(&w);
 * DESCRIPTION
 *	What redis_mirror and redis_lease share: a thread, an eventfd that the
 *	other threads ring when they queued work for it, a mutex for that queue
 *	(the owner's; the worker does not look at it), a stop flag, and how a
 *	broken link is told: redis_worker_down() logs a warning (the first
 *	after being up at once, then at most one a minute) naming the file,
 *	the reason and what holds meanwhile, and sets retry_at, when the owner
 *	connects again; redis_worker_up() says it is back.
 *
 *	The thread runs the owner's loop and sleeps in redis_worker_wait(),
 *	on the eventfd and one more descriptor (a subscription; -1: none).
 *	Nothing here talks to Redis: the connections are the owner's.
 */
#ifndef TERN_REDIS_WORKER_H
#define TERN_REDIS_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/base/lograte.h"
#include "core/redis/redis_conf.h"

/* a broken link is tried again this long after (ms) */
#define REDIS_WORKER_RETRY_MS 1000

struct redis_worker {
    const struct redis_conf *conf; /* borrowed */
    const char *facility;          /* the log lines' */
    const char *meanwhile;         /* what holds while Redis is away */
    pthread_t thread;
    int wake; /* eventfd */
    atomic_bool stop;
    atomic_bool up;
    pthread_mutex_t mu; /* the owner's queue */
    struct lograte down_log;
    bool away;         /* down since the last redis_worker_up() */
    uint64_t retry_at; /* down: connect again then (mono ms) */
};

/* redis_worker_start - eventfd, mutex and thread; -errno (nothing left to free) */
int redis_worker_start(struct redis_worker *w, void *(*run)(void *), void *arg);
/* redis_worker_ring - wake the thread (any thread) */
void redis_worker_ring(struct redis_worker *w);
/* redis_worker_wait - on the thread: sleep until rung or ms passed (ms < 0: no limit) or fd is
 * readable (fd < 0: none); true when fd is (or hung up) */
bool redis_worker_wait(struct redis_worker *w, int fd, int ms);
/* redis_worker_down - on the thread: the link broke because of why (copied before the owner
 * frees the context that may hold it): log, and retry REDIS_WORKER_RETRY_MS from now */
void redis_worker_down(struct redis_worker *w, const char *why);
/* redis_worker_up - on the thread: connected; true when it had been away (down before) */
bool redis_worker_up(struct redis_worker *w);
/* redis_worker_join - stop the thread and wait for it */
void redis_worker_join(struct redis_worker *w);
/* redis_worker_free - after join (or a failed start: nothing to do) */
void redis_worker_free(struct redis_worker *w);

#endif
