/*
 * loop - one io_uring event loop per worker thread; see loop/loop.h.
 *
 * Why timers live in a heap and not as IORING_OP_TIMEOUT entries: a session
 * re-arms its idle timer on every command, and cancelling plus re-submitting
 * a ring timeout per command costs two SQEs and a CQE each time. With a heap
 * the re-arm is O(log n) in user space and the ring sees one wait timeout.
 */
#include "core/loop/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/time.h"

struct loop_post_item {
    struct loop_post_item *next;
    loop_post_fn *fn;
    void *arg;
};

struct loop {
    struct io_uring ring;
    struct io_uring_probe *probe;
    atomic_bool stop;
    uint64_t now;

    struct loop_timer **heap;
    size_t heap_len, heap_cap;

    /* inbox */
    pthread_mutex_t inbox_lock;
    struct loop_post_item *inbox_head, *inbox_tail;
    int efd;
    uint64_t efd_value; /* read target; owned by the kernel while efd_op is armed */
    struct loop_op efd_op;
    bool efd_armed;
};

static void loop_arm_eventfd(struct loop *l);

/* loop_efd_cb - the inbox eventfd fired: re-arm; the inbox is drained each iteration */
static void loop_efd_cb(struct loop_op *op, int res, unsigned flags)
{
    struct loop *l = (struct loop *)((char *)op - offsetof(struct loop, efd_op));
    l->efd_armed = false;
    if (res < 0 && res != -EINTR && res != -EAGAIN && res != -ECANCELED)
        log_warn("master", "inbox eventfd read: %s", strerror(-res));
    if (res != -ECANCELED)
        loop_arm_eventfd(l);
}

/* loop_arm_eventfd - post a read on the inbox eventfd */
static void loop_arm_eventfd(struct loop *l)
{
    if (l->efd_armed)
        return;
    struct io_uring_sqe *sqe = loop_sqe(l);
    io_uring_prep_read(sqe, l->efd, &l->efd_value, sizeof(l->efd_value), 0);
    loop_op_arm(sqe, &l->efd_op);
    l->efd_armed = true;
}

/* loop_new - create a ring with `entries` SQEs, probe it, arm the inbox */
int loop_new(struct loop **out, unsigned entries)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_CLAMP;
    p.cq_entries = entries * 4;
    p.flags |= IORING_SETUP_CQSIZE;
    int rc = io_uring_queue_init_params(entries, &l->ring, &p);
    if (rc < 0)
        goto fail_free;
    l->probe = io_uring_get_probe_ring(&l->ring);
    l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->efd < 0) {
        rc = -errno;
        goto fail_ring;
    }
    pthread_mutex_init(&l->inbox_lock, NULL);
    l->efd_op.cb = loop_efd_cb;
    l->now = time_mono_ms();
    loop_arm_eventfd(l);
    *out = l;
    return 0;
fail_ring:
    if (l->probe)
        io_uring_free_probe(l->probe);
    io_uring_queue_exit(&l->ring);
fail_free:
    free(l);
    return rc;
}

/* loop_free - release the ring; callers have closed their connections first */
void loop_free(struct loop *l)
{
    if (!l)
        return;
    struct loop_post_item *it = l->inbox_head;
    while (it) {
        struct loop_post_item *next = it->next;
        free(it);
        it = next;
    }
    close(l->efd);
    if (l->probe)
        io_uring_free_probe(l->probe);
    io_uring_queue_exit(&l->ring);
    pthread_mutex_destroy(&l->inbox_lock);
    free(l->heap);
    free(l);
}

struct io_uring *loop_ring(struct loop *l)
{
    return &l->ring;
}

/* loop_supports - probe result for an opcode */
bool loop_supports(const struct loop *l, int opcode)
{
    return l->probe && io_uring_opcode_supported(l->probe, opcode);
}

/* loop_sqe - a free SQE, submitting to make room if needed */
struct io_uring_sqe *loop_sqe(struct loop *l)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
    while (!sqe) {
        io_uring_submit(&l->ring);
        sqe = io_uring_get_sqe(&l->ring);
    }
    return sqe;
}

uint64_t loop_now(const struct loop *l)
{
    return l->now;
}

/* heap helpers: min-heap on due */
static void heap_swap(struct loop *l, size_t a, size_t b)
{
    struct loop_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_index = (int)a;
    l->heap[b]->heap_index = (int)b;
}

static void heap_up(struct loop *l, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (l->heap[parent]->due <= l->heap[i]->due)
            break;
        heap_swap(l, i, parent);
        i = parent;
    }
}

static void heap_down(struct loop *l, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, min = i;
        if (left < l->heap_len && l->heap[left]->due < l->heap[min]->due)
            min = left;
        if (right < l->heap_len && l->heap[right]->due < l->heap[min]->due)
            min = right;
        if (min == i)
            break;
        heap_swap(l, i, min);
        i = min;
    }
}

void loop_timer_init(struct loop_timer *t, void (*cb)(struct loop_timer *t))
{
    t->cb = cb;
    t->due = 0;
    t->heap_index = -1;
}

/* loop_timer_cancel - disarm; harmless when not armed */
void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
    if (t->heap_index < 0)
        return;
    size_t i = (size_t)t->heap_index;
    size_t last = l->heap_len - 1;
    if (i != last) {
        heap_swap(l, i, last);
        l->heap_len--;
        heap_down(l, i);
        heap_up(l, i);
    } else {
        l->heap_len--;
    }
    t->heap_index = -1;
}

/* loop_timer_arm - (re)arm t to fire after_ms from now */
void loop_timer_arm(struct loop *l, struct loop_timer *t, uint64_t after_ms)
{
    loop_timer_cancel(l, t);
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 256;
        struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));
        if (!h)
            log_fatal("master", "out of memory arming a timer");
        l->heap = h;
        l->heap_cap = cap;
    }
    t->due = time_mono_ms() + after_ms;
    t->heap_index = (int)l->heap_len;
    l->heap[l->heap_len++] = t;
    heap_up(l, (size_t)t->heap_index);
}

/* loop_run_timers - fire every timer that is due */
static void loop_run_timers(struct loop *l)
{
    while (l->heap_len > 0 && l->heap[0]->due <= l->now) {
        struct loop_timer *t = l->heap[0];
        loop_timer_cancel(l, t);
        t->cb(t);
    }
}

/* loop_post - queue fn(arg) for the loop's thread and wake it */
int loop_post(struct loop *l, loop_post_fn *fn, void *arg)
{
    struct loop_post_item *it = malloc(sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->next = NULL;
    it->fn = fn;
    it->arg = arg;
    pthread_mutex_lock(&l->inbox_lock);
    bool was_empty = l->inbox_head == NULL;
    if (l->inbox_tail)
        l->inbox_tail->next = it;
    else
        l->inbox_head = it;
    l->inbox_tail = it;
    pthread_mutex_unlock(&l->inbox_lock);
    if (was_empty) {
        /* queued: fn runs at the loop's next wake-up even if this one fails (EAGAIN: the
         * counter is full, so it is awake anyway). The caller must not take arg back now. */
        uint64_t one = 1;
        ssize_t w = write(l->efd, &one, sizeof(one));
        (void)w;
    }
    return 0;
}

/* loop_drain_inbox - run everything posted so far */
static void loop_drain_inbox(struct loop *l)
{
    pthread_mutex_lock(&l->inbox_lock);
    struct loop_post_item *it = l->inbox_head;
    l->inbox_head = l->inbox_tail = NULL;
    pthread_mutex_unlock(&l->inbox_lock);
    while (it) {
        struct loop_post_item *next = it->next;
        it->fn(it->arg);
        free(it);
        it = next;
    }
}

void loop_stop(struct loop *l)
{
    atomic_store(&l->stop, true);
    uint64_t one = 1;
    if (write(l->efd, &one, sizeof(one)) < 0) {
        /* the eventfd counter is saturated: the loop is awake anyway */
    }
}

/* loop_run - the loop; returns 0 after loop_stop() or -errno on a ring failure */
int loop_run(struct loop *l)
{
    log_batch_begin(); /* this turn's maillog lines in one write, before the wait */
    while (!atomic_load(&l->stop)) {
        l->now = time_mono_ms();
        loop_run_timers(l);
        loop_drain_inbox(l);
        if (atomic_load(&l->stop))
            break;

        struct __kernel_timespec ts, *tsp = NULL;
        if (l->heap_len > 0) {
            uint64_t now = time_mono_ms();
            uint64_t wait = l->heap[0]->due > now ? l->heap[0]->due - now : 0;
            ts.tv_sec = (long long)(wait / 1000);
            ts.tv_nsec = (long long)(wait % 1000) * 1000000;
            tsp = &ts;
        }
        struct io_uring_cqe *cqe;
        log_flush();
        int rc = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, tsp, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) {
            log_error("master", "io_uring wait: %s", strerror(-rc));
            log_batch_end();
            return rc;
        }
        l->now = time_mono_ms();
        /* Mark each CQE seen before its callback: callbacks may submit. */
        while (io_uring_peek_cqe(&l->ring, &cqe) == 0) {
            struct loop_op *op = io_uring_cqe_get_data(cqe);
            int res = cqe->res;
            unsigned flags = cqe->flags;
            io_uring_cqe_seen(&l->ring, cqe);
            if (op)
                op->cb(op, res, flags);
        }
    }
    /* What was posted before loop_stop() runs, on this thread: a job or a commit result the
     * queue handed over just before the stop would otherwise be lost (and leak). */
    loop_drain_inbox(l);
    log_batch_end();
    return 0;
}
