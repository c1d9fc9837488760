/*
 * NAME
 *	pool - a small fixed pool of threads for calls that may block
 * SYNOPSIS
 *	struct pool *p;
 *	pool_new(&p, "tern-sasl", 8, 64);
 *	rc = pool_submit(p, run, done, arg);   // 0, or -EAGAIN: full, answer "try later"
 *	pool_free(p, 2000);                     // at exit: 0, or -EBUSY (a run() still blocks)
 * DESCRIPTION
 *	What must not run on a worker's ring because it may wait for something
 *	slow (Cyrus SASL asking saslauthd, PAM or LDAP) runs here: run(arg) on
 *	one of the pool's threads, then done(arg) on the same thread, which
 *	hands the result back (in tern: loop_post() to the ring that asked).
 *	Jobs start in the order they were submitted.
 *
 *	Bounds: `threads` jobs run at once and at most `queue_max` wait for a
 *	thread; a job beyond that is refused at once with -EAGAIN, so the
 *	caller never waits for the pool. The pool holds one small node per
 *	job not yet taken by a thread.
 *
 *	pool_free() refuses new jobs, forgets the waiting ones (they never run;
 *	their arg stays the caller's) and from then on calls no done(): a job
 *	that is inside run() when pool_free() starts finishes its run() but
 *	delivers nothing. So once pool_free() returns, nothing of the pool
 *	touches the callers' state, whatever the threads are still blocked in:
 *	the loops may be freed. It waits up to wait_ms for the threads to end;
 *	-EBUSY means some were still blocked: they are detached, and the last
 *	of them to end frees the pool.
 *
 *	Thread-safe: pool_submit() from any thread; pool_new() and pool_free()
 *	by the owner.
 * DIAGNOSTICS
 *	pool_new: 0, -EINVAL (threads 0), -ENOMEM, or the error of
 *	pthread_create. pool_submit: 0, -EAGAIN (full), -ENOMEM, -ESHUTDOWN
 *	(pool_free() has begun).
 */
#ifndef TERN_LOOP_POOL_H
#define TERN_LOOP_POOL_H

struct pool;

typedef void pool_fn(void *arg);

int pool_new(struct pool **out, const char *name, unsigned threads, unsigned queue_max);
/* pool_submit - run(arg), then done(arg) (NULL: none), on a pool thread */
int pool_submit(struct pool *p, pool_fn *run, pool_fn *done, void *arg);
/* pool_free - stop; see above. NULL is fine (0). */
int pool_free(struct pool *p, unsigned wait_ms);

#endif
