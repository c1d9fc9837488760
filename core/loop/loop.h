/*
 * NAME
 *	loop - one io_uring event loop per worker thread, with timers and an inbox
 * SYNOPSIS
 *	struct loop *l;
 *	loop_new(&l, 4096);
 *	struct io_uring_sqe *sqe = loop_sqe(l);
 *	io_uring_prep_recv(sqe, fd, buf, len, 0);
 *	loop_op_arm(sqe, &conn->recv_op);          // user_data -> op, op->cb runs on its CQE
 *	loop_timer_arm(l, &t, 30000);               // t.cb runs once after 30 s
 *	loop_post(l, fn, arg);                      // from ANY thread: fn(arg) runs on l's thread
 *	loop_run(l);                                // until loop_stop()
 * DESCRIPTION
 *	    while (!stop) { run_due_timers(); drain_inbox(); submit_and_wait(next_timer); dispatch_cqes(); }
 *	Every submission carries a struct loop_op as user_data; its callback gets
 *	the CQE's res and flags. An op (and any buffer its SQE names) belongs to
 *	the kernel until its CQE arrives - for multishot ops until a CQE without
 *	IORING_CQE_F_MORE. Owners count their ops in flight and free only at zero.
 *
 *	Timers live in a binary heap in the loop (not in the ring): the wait
 *	takes the nearest deadline as its timeout. Callbacks may arm and cancel
 *	timers and submit ops freely.
 *
 *	The inbox is how other threads hand work to this loop (queue commit
 *	results, deliveries, shutdown): a mutex-protected list plus an eventfd
 *	that the ring itself reads, so the loop never sleeps in a condition
 *	variable. The mutex is held only to splice the list.
 *
 *	Not thread-safe except loop_post() and loop_stop().
 */
#ifndef TERN_LOOP_LOOP_H
#define TERN_LOOP_LOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

struct loop;

struct loop_op {
    void (*cb)(struct loop_op *op, int res, unsigned flags);
};

struct loop_timer {
    void (*cb)(struct loop_timer *t);
    uint64_t due;   /* monotonic ms; owned by the loop */
    int heap_index; /* -1 when not armed; owned by the loop */
};

typedef void loop_post_fn(void *arg);

int loop_new(struct loop **out, unsigned entries);
void loop_free(struct loop *l);
/* loop_sqe - a free SQE; submits pending ones first if the SQ is full. Never NULL. */
struct io_uring_sqe *loop_sqe(struct loop *l);
static inline void loop_op_arm(struct io_uring_sqe *sqe, struct loop_op *op)
{
    io_uring_sqe_set_data(sqe, op);
}
struct io_uring *loop_ring(struct loop *l);
/* loop_supports - io_uring opcode probe result (IORING_OP_*) */
bool loop_supports(const struct loop *l, int opcode);

void loop_timer_init(struct loop_timer *t, void (*cb)(struct loop_timer *t));
void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ms);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t)
{
    return t->heap_index >= 0;
}

/* loop_post - run fn(arg) on the loop's thread soon; thread-safe. 0 or -ENOMEM */
int loop_post(struct loop *l, loop_post_fn *fn, void *arg);
int loop_run(struct loop *l);
/* loop_stop - make loop_run() return; thread-safe. What was posted before it is called still
 * runs first; a post after it never runs (its caller must not make one). */
void loop_stop(struct loop *l);
uint64_t loop_now(const struct loop *l); /* monotonic ms, cached per iteration */

#endif
