/*
 * pool - a small fixed pool of threads for calls that may block; see loop/pool.h.
 *
 * One mutex guards the queue and the stop flag; idle threads sleep on a
 * condition variable. This is off the hot path by design: only calls that
 * may block for milliseconds or seconds come here (a condition variable is
 * what a thread with nothing else to do should sleep on; the rings never
 * wait on it). done() runs under the mutex, so pool_free() can promise
 * that no done() starts or is running once it has set the stop flag.
 */
#include "core/loop/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pool_job {
    struct pool_job *next;
    pool_fn *run, *done;
    void *arg;
};

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or the pool stops */
    pthread_cond_t gone; /* a thread ended */
    struct pool_job *head, *tail;
    unsigned queued, queue_max;
    unsigned nthreads, alive, idle; /* idle: waiting for a job */
    bool stopping;
    bool orphaned; /* pool_free() gave up waiting: the last thread out frees the pool */
    pthread_t *threads;
};

/* pool_destroy - free what pool_new made, once no thread uses it */
static void pool_destroy(struct pool *p)
{
    pthread_cond_destroy(&p->gone);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p);
}

/* pool_thread - take jobs in order until the pool stops */
static void *pool_thread(void *arg)
{
    struct pool *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        struct pool_job *j = p->head;
        if (!j) {
            p->idle++;
            pthread_cond_wait(&p->work, &p->lock);
            p->idle--;
            continue;
        }
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        pthread_mutex_unlock(&p->lock);
        j->run(j->arg);
        pthread_mutex_lock(&p->lock);
        if (!p->stopping && j->done)
            j->done(j->arg);
        free(j);
    }
    p->alive--;
    bool last_out = p->orphaned && p->alive == 0;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->lock);
    if (last_out)
        pool_destroy(p); /* nobody else knows the pool any more */
    return NULL;
}

/* pool_new - start `threads` threads named name (at most 15 characters shown) */
int pool_new(struct pool **out, const char *name, unsigned threads, unsigned queue_max)
{
    if (threads == 0)
        return -EINVAL;
    struct pool *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->threads = calloc(threads, sizeof(*p->threads));
    if (!p->threads) {
        free(p);
        return -ENOMEM;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->gone, &ca);
    pthread_condattr_destroy(&ca);
    p->queue_max = queue_max;
    char tname[16];
    snprintf(tname, sizeof(tname), "%s", name ? name : "tern-pool");
    for (unsigned i = 0; i < threads; i++) {
        int rc = pthread_create(&p->threads[i], NULL, pool_thread, p);
        if (rc != 0) {
            pthread_mutex_lock(&p->lock);
            p->nthreads = p->alive = i;
            pthread_mutex_unlock(&p->lock);
            (void)pool_free(p, 0xffffffffu); /* idle threads end at once */
            return -rc;
        }
        pthread_setname_np(p->threads[i], tname);
    }
    pthread_mutex_lock(&p->lock);
    p->nthreads = p->alive = threads;
    pthread_mutex_unlock(&p->lock);
    *out = p;
    return 0;
}

/* pool_submit - queue a job, or refuse it at once */
int pool_submit(struct pool *p, pool_fn *run, pool_fn *done, void *arg)
{
    struct pool_job *j = malloc(sizeof(*j));
    if (!j)
        return -ENOMEM;
    *j = (struct pool_job){.run = run, .done = done, .arg = arg};
    pthread_mutex_lock(&p->lock);
    /* an idle thread takes the job at once: only the rest counts against the bound */
    int rc = p->stopping ? -ESHUTDOWN : p->queued >= p->queue_max + p->idle ? -EAGAIN : 0;
    if (rc == 0) {
        if (p->tail)
            p->tail->next = j;
        else
            p->head = j;
        p->tail = j;
        p->queued++;
        pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        free(j);
    return rc;
}

/* pool_free - stop taking and delivering jobs; wait up to wait_ms for the threads */
int pool_free(struct pool *p, unsigned wait_ms)
{
    if (!p)
        return 0;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    while (p->head) {
        struct pool_job *j = p->head;
        p->head = j->next;
        free(j);
    }
    p->tail = NULL;
    p->queued = 0;
    pthread_cond_broadcast(&p->work);
    while (p->alive > 0 && pthread_cond_timedwait(&p->gone, &p->lock, &until) != ETIMEDOUT)
        ;
    if (p->alive > 0) {
        /* blocked in run(): they end on their own, deliver nothing, and the last one frees the
         * pool (detached under the lock, before any of them can get that far) */
        for (unsigned i = 0; i < p->nthreads; i++)
            pthread_detach(p->threads[i]);
        p->orphaned = true;
        pthread_mutex_unlock(&p->lock);
        return -EBUSY;
    }
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pool_destroy(p);
    return 0;
}
