/*
 * test_pool - the blocking-call thread pool: order, concurrency, the queue
 * bound (-EAGAIN at once, never a wait), and pool_free() with a job that is
 * still blocked (no done() after it, no job that waited ever runs).
 *
 * A job blocks on a gate (mutex + condition variable) the test opens, so
 * "blocked" is a state the test controls, not a sleep.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/loop/pool.h"

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    int running;       /* jobs inside run() */
    int max_running;   /* most at once */
    int ran, done;     /* run() and done() calls */
    int order[16];     /* job ids in the order run() started */
    pthread_t thread;  /* a thread that ran a job */
    bool done_on_pool; /* every done() ran on a pool thread */
};

static struct gate g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
static pthread_t main_thread;

struct job {
    int id;
    bool blocks;
};

static void gate_reset(void)
{
    pthread_mutex_lock(&g.lock);
    g.open = false;
    g.running = g.max_running = g.ran = g.done = 0;
    g.done_on_pool = true;
    pthread_mutex_unlock(&g.lock);
}

static void gate_open(void)
{
    pthread_mutex_lock(&g.lock);
    g.open = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
}

/* job_run - note the start, block on the gate if asked to */
static void job_run(void *arg)
{
    struct job *j = arg;
    pthread_mutex_lock(&g.lock);
    if (g.ran < 16)
        g.order[g.ran] = j->id;
    g.ran++;
    g.running++;
    if (g.running > g.max_running)
        g.max_running = g.running;
    g.thread = pthread_self();
    pthread_cond_broadcast(&g.cond);
    while (j->blocks && !g.open)
        pthread_cond_wait(&g.cond, &g.lock);
    g.running--;
    pthread_mutex_unlock(&g.lock);
}

/* job_done - runs on the thread that ran the job */
static void job_done(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.lock);
    g.done++;
    if (pthread_equal(main_thread, pthread_self()))
        g.done_on_pool = false;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
}

/* wait_for - until *counter >= n (bounded: 10 s), under the gate's lock */
static bool wait_for(const int *counter, int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&g.lock);
    int rc = 0;
    while (*counter < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g.cond, &g.lock, &until);
    bool ok = *counter >= n;
    pthread_mutex_unlock(&g.lock);
    return ok;
}

/* threads_named - how many threads of this process carry the name */
static int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof(comm), f) && strncmp(comm, name, strlen(name)) == 0)
            n++;
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return n;
}

static void test_order_and_done(void **state)
{
    (void)state;
    gate_reset();
    struct pool *p;
    assert_int_equal(pool_new(&p, "tpool-order", 1, 16), 0);
    assert_int_equal(threads_named("tpool-order"), 1);
    struct job jobs[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (struct job){.id = i};
        assert_int_equal(pool_submit(p, job_run, job_done, &jobs[i]), 0);
    }
    assert_true(wait_for(&g.done, 8));
    for (int i = 0; i < 8; i++)
        assert_int_equal(g.order[i], i);
    assert_false(pthread_equal(g.thread, pthread_self()));
    assert_true(g.done_on_pool);
    assert_int_equal(pool_free(p, 5000), 0);
    assert_int_equal(threads_named("tpool-order"), 0);
}

static void test_concurrency(void **state)
{
    (void)state;
    gate_reset();
    struct pool *p;
    assert_int_equal(pool_new(&p, "tpool-conc", 3, 8), 0);
    struct job jobs[5];
    for (int i = 0; i < 5; i++) {
        jobs[i] = (struct job){.id = i, .blocks = true};
        assert_int_equal(pool_submit(p, job_run, job_done, &jobs[i]), 0);
    }
    /* three threads: three jobs blocked at once, the other two wait */
    assert_true(wait_for(&g.ran, 3));
    pthread_mutex_lock(&g.lock);
    assert_int_equal(g.running, 3);
    assert_int_equal(g.done, 0);
    pthread_mutex_unlock(&g.lock);
    gate_open();
    assert_true(wait_for(&g.done, 5));
    assert_int_equal(g.max_running, 3);
    assert_int_equal(pool_free(p, 5000), 0);
}

static void test_queue_bound(void **state)
{
    (void)state;
    gate_reset();
    struct pool *p;
    assert_int_equal(pool_new(&p, "tpool-bound", 1, 2), 0);
    struct job jobs[6];
    for (int i = 0; i < 6; i++)
        jobs[i] = (struct job){.id = i, .blocks = true};
    assert_int_equal(pool_submit(p, job_run, job_done, &jobs[0]), 0);
    assert_true(wait_for(&g.ran, 1)); /* the thread holds job 0 */
    assert_int_equal(pool_submit(p, job_run, job_done, &jobs[1]), 0);
    assert_int_equal(pool_submit(p, job_run, job_done, &jobs[2]), 0);
    /* the queue is full: refused at once, nothing waits */
    assert_int_equal(pool_submit(p, job_run, job_done, &jobs[3]), -EAGAIN);
    assert_int_equal(pool_submit(p, job_run, job_done, &jobs[4]), -EAGAIN);
    gate_open();
    assert_true(wait_for(&g.done, 3));
    /* room again */
    assert_int_equal(pool_submit(p, job_run, job_done, &jobs[5]), 0);
    assert_true(wait_for(&g.done, 4));
    assert_int_equal(g.ran, 4);
    assert_int_equal(pool_free(p, 5000), 0);
}

static void test_free_while_blocked(void **state)
{
    (void)state;
    gate_reset();
    struct pool *p;
    assert_int_equal(pool_new(&p, "tpool-stuck", 1, 4), 0);
    struct job jobs[3] = {{0, true}, {1, false}, {2, false}};
    for (int i = 0; i < 3; i++)
        assert_int_equal(pool_submit(p, job_run, job_done, &jobs[i]), 0);
    assert_true(wait_for(&g.ran, 1));
    /* job 0 is blocked: pool_free gives up after 100 ms */
    assert_int_equal(pool_free(p, 100), -EBUSY);
    gate_open();
    /* the blocked job ends; its done() never runs, the waiting jobs never run, and the thread
     * ends and frees the pool (LeakSanitizer would see it otherwise) */
    for (int i = 0; i < 500 && threads_named("tpool-stuck") > 0; i++)
        usleep(10000);
    assert_int_equal(threads_named("tpool-stuck"), 0);
    assert_int_equal(g.ran, 1);
    assert_int_equal(g.done, 0);
}

static void test_bad_args(void **state)
{
    (void)state;
    struct pool *p = NULL;
    assert_int_equal(pool_new(&p, "tpool-bad", 0, 4), -EINVAL);
    assert_null(p);
    assert_int_equal(pool_free(NULL, 0), 0);
    /* no queue: a job is taken only by an idle thread */
    gate_reset();
    assert_int_equal(pool_new(&p, "tpool-zero", 1, 0), 0);
    struct job j[2] = {{0, true}, {1, true}};
    for (int i = 0; i < 100 && threads_named("tpool-zero") == 1; i++) {
        if (pool_submit(p, job_run, job_done, &j[0]) == 0)
            break;
        usleep(10000); /* the thread has not reached its wait yet */
    }
    assert_true(wait_for(&g.ran, 1));
    assert_int_equal(pool_submit(p, job_run, job_done, &j[1]), -EAGAIN);
    gate_open();
    assert_true(wait_for(&g.done, 1));
    assert_int_equal(pool_free(p, 5000), 0);
}

int main(void)
{
    main_thread = pthread_self();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_done), cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_queue_bound),    cmocka_unit_test(test_free_while_blocked),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
