/*
 * test_queue - the queue against a scripted deliverer: group commit,
 * recovery, delivery results, retries, bounces, expiry, control, disk full.
 *
 * The deliverer is the dispatch hook itself: it decides each recipient's
 * result from the local part ("ok*" sent, "bad*" bounced, "tmp*" deferred
 * once then sent, "never*" always deferred, anything else sent), records
 * what it saw, and returns the delivery with queue_delivery_done(). In
 * capture mode it keeps deliveries instead (to test recovery).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/base/log.h"
#include "core/base/time.h"
#include "core/daemon/queueview.h"
#include "queue/queue.h"

#define MAXREC 8192

struct rec {
    char qid[QUEUE_ID_LEN + 1];
    char sender[128];
    char rcpt[128];
    char nexthop[128];
    int status;
    double when;
    char *body; /* content of deliveries from <> */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct queue *q;
    struct rec v[MAXREC];
    size_t n;
    bool capture;
    struct queue_delivery *held[MAXREC];
    size_t nheld;
    atomic_int resolve_defer; /* "later.test" defers while set */
} T = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static char tmpdir[64], qdir[128], logpath[128];

/* t_reset - forget recorded deliveries */
static void t_reset(void)
{
    pthread_mutex_lock(&T.mu);
    for (size_t i = 0; i < T.n; i++)
        free(T.v[i].body);
    T.n = 0;
    for (size_t i = 0; i < T.nheld; i++)
        queue_delivery_free(T.held[i]);
    T.nheld = 0;
    T.capture = false;
    pthread_mutex_unlock(&T.mu);
    atomic_store(&T.resolve_defer, 0);
}

/* t_resolve - next hop = domain; "nohost.invalid" bounces, "later.test" may defer */
static int t_resolve(void *arg, const char *rcpt, char *key, size_t keylen)
{
    const char *at = strrchr(rcpt, '@');
    const char *dom = at ? at + 1 : "";
    if (strcmp(dom, "nohost.invalid") == 0) {
        snprintf(key, keylen, "5.1.2 Host or domain name not found");
        return 1;
    }
    if (strcmp(dom, "later.test") == 0 && atomic_load(&T.resolve_defer))
        return -EAGAIN;
    snprintf(key, keylen, "%s:25", dom);
    return 0;
}

/* tries_locked - how often rcpt of qid was seen before */
static int tries_locked(const char *qid, const char *rcpt)
{
    int n = 0;
    for (size_t i = 0; i < T.n; i++)
        if (strcmp(T.v[i].qid, qid) == 0 && strcmp(T.v[i].rcpt, rcpt) == 0)
            n++;
    return n;
}

/* t_dispatch - the scripted deliverer (runs on the queue thread) */
static void t_dispatch(void *arg, struct queue_delivery *d)
{
    char *body = NULL;
    size_t blen;
    if (d->sender[0] == 0)
        queue_store_body_load(T.q, d->qid, &body, &blen);
    pthread_mutex_lock(&T.mu);
    for (size_t i = 0; i < d->nrcpt; i++) {
        struct queue_delivery_rcpt *r = &d->rcpt[i];
        const char *st = "250 2.0.0 Ok", *dsn = "2.0.0";
        r->status = RCPT_SENT;
        if (strncmp(r->addr, "bad", 3) == 0) {
            r->status = RCPT_BOUNCED;
            st = "550 5.1.1 <bad>: User unknown";
            dsn = "5.1.1";
        } else if (strncmp(r->addr, "never", 5) == 0 ||
                   (strncmp(r->addr, "tmp", 3) == 0 && tries_locked(d->qid, r->addr) == 0)) {
            r->status = RCPT_DEFERRED;
            st = "451 4.3.0 Try again later";
            dsn = "4.3.0";
        }
        snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
        r->reason = strdup(st);
        if (T.n < MAXREC) {
            struct rec *e = &T.v[T.n++];
            memset(e, 0, sizeof(*e));
            snprintf(e->qid, sizeof(e->qid), "%s", d->qid);
            snprintf(e->sender, sizeof(e->sender), "%s", d->sender);
            snprintf(e->rcpt, sizeof(e->rcpt), "%s", r->addr);
            snprintf(e->nexthop, sizeof(e->nexthop), "%s", d->nexthop);
            e->status = r->status;
            e->when = time_now();
            if (i == 0)
                e->body = body;
        }
    }
    if (d->nrcpt == 0 || T.n >= MAXREC)
        free(body);
    bool capture = T.capture;
    if (capture && T.nheld < MAXREC)
        T.held[T.nheld++] = d;
    pthread_cond_broadcast(&T.cv);
    pthread_mutex_unlock(&T.mu);
    if (!capture)
        queue_delivery_done(T.q, d);
}

/* count_rcpt - deliveries seen for rcpt (prefix match), optionally from sender */
static size_t count_rcpt(const char *rcpt, const char *sender)
{
    size_t n = 0;
    pthread_mutex_lock(&T.mu);
    for (size_t i = 0; i < T.n; i++)
        if (strncmp(T.v[i].rcpt, rcpt, strlen(rcpt)) == 0 &&
            (!sender || strcmp(T.v[i].sender, sender) == 0))
            n++;
    pthread_mutex_unlock(&T.mu);
    return n;
}

/* wait_count - wait (bounded) until count_rcpt reaches n */
static bool wait_count(const char *rcpt, const char *sender, size_t n, double secs)
{
    double end = time_now() + secs;
    while (time_now() < end) {
        if (count_rcpt(rcpt, sender) >= n)
            return true;
        usleep(5000);
    }
    return count_rcpt(rcpt, sender) >= n;
}

/* wait_empty - wait (bounded) until the queue holds no message */
static bool wait_empty(struct queue *q, double secs)
{
    double end = time_now() + secs;
    struct queue_stats st;
    do {
        queue_get_stats(q, &st);
        if (st.queue_size == 0)
            return true;
        usleep(5000);
    } while (time_now() < end);
    return false;
}

/* log_has - does the log file contain text? */
static bool log_has(const char *text)
{
    FILE *fp = fopen(logpath, "r");
    char line[4096];
    bool found = false;
    if (!fp)
        return false;
    while (!found && fgets(line, sizeof(line), fp))
        found = strstr(line, text) != NULL;
    fclose(fp);
    return found;
}

/* make_msg - a message from sender to the NULL-terminated recipients */
static struct queue_msg *make_msg(const char *sender, const char *const *rcpts, unsigned notify,
                                  size_t bodylen)
{
    struct queue_msg *m = calloc(1, sizeof(*m));
    size_t n = 0;
    while (rcpts[n])
        n++;
    queue_id_new(m->qid);
    m->sender = strdup(sender);
    m->client = strdup("client.test[192.0.2.1]");
    m->nrcpt = n;
    m->rcpt = calloc(n, sizeof(*m->rcpt));
    for (size_t i = 0; i < n; i++) {
        m->rcpt[i].addr = strdup(rcpts[i]);
        m->rcpt[i].notify = notify;
    }
    m->arrival = time_now();
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "Received: from client.test\r\nMessage-ID: <%s@client.test>\r\n"
                      "Subject: test\r\n\r\n",
                      m->qid);
    m->len = (size_t)hl + (bodylen ? bodylen : 13);
    m->data = malloc(m->len + 1);
    memcpy(m->data, head, (size_t)hl);
    if (bodylen) {
        memset(m->data + hl, 'x', bodylen);
        m->data[m->len - 2] = '\r';
        m->data[m->len - 1] = '\n';
    } else {
        memcpy(m->data + hl, "hello world\r\n", 13);
    }
    m->data[m->len] = 0;
    return m;
}

/* Synchronous submission. */
struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int status;
    bool done;
};

static void waiter_done(void *arg, int status)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->status = status;
    w->done = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static int waiter_wait(struct waiter *w)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
            break;
    int rc = w->done ? w->status : -ETIMEDOUT;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

#define WAITER_INIT                                                                                \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false                              \
    }

/* submit_sync - submit and wait for the commit; returns done()'s status; qid copied out */
static int submit_sync(struct queue *q, struct queue_msg *m, char *qid)
{
    struct waiter w = WAITER_INIT;
    if (qid)
        memcpy(qid, m->qid, QUEUE_ID_LEN + 1);
    int rc = queue_submit(q, m, waiter_done, &w);
    if (rc < 0) {
        queue_msg_free(m);
        return rc;
    }
    return waiter_wait(&w);
}

static struct queue_params params(void)
{
    struct queue_params p = {
        .directory = qdir,
        .map_size = 64u << 20,
        .minimal_backoff_time = 1,
        .maximal_backoff_time = 4,
        .maximal_queue_lifetime = 3600,
        .bounce_queue_lifetime = 3600,
        .myhostname = "relay.test",
    };
    return p;
}

static const struct queue_hooks hooks = {.arg = NULL, .resolve = t_resolve, .dispatch = t_dispatch};

/* open_queue - open and start with p */
static struct queue *open_queue(const struct queue_params *p)
{
    struct queue *q = NULL;
    assert_int_equal(queue_open(&q, p, &hooks), 0);
    T.q = q;
    assert_int_equal(queue_start(q), 0);
    return q;
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tern-queue-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(qdir, sizeof(qdir), "%s/queue", tmpdir);
    snprintf(logpath, sizeof(logpath), "%s/maillog", tmpdir);
    log_open("tern", logpath);
    t_reset();
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    t_reset();
    log_close();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- group commit ---- */

#define NTHREADS 4
#define PER_THREAD 250

static atomic_int gc_ok, gc_fail, gc_done;

static void gc_cb(void *arg, int status)
{
    atomic_fetch_add(status == 0 ? &gc_ok : &gc_fail, 1);
    atomic_fetch_add(&gc_done, 1);
}

static void *gc_submitter(void *arg)
{
    struct queue *q = arg;
    static const char *const rc[] = {"ok1@a.test", "ok2@b.test", NULL};
    for (int i = 0; i < PER_THREAD; i++) {
        struct queue_msg *m = make_msg("sender@example.com", rc, 0, 0);
        if (queue_submit(q, m, gc_cb, NULL) < 0) {
            queue_msg_free(m);
            atomic_fetch_add(&gc_fail, 1);
            atomic_fetch_add(&gc_done, 1);
        }
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    struct queue_params p = params();
    struct queue *q = open_queue(&p);
    pthread_t th[NTHREADS];
    T.capture = true; /* results would add commits of their own: keep them back */
    atomic_store(&gc_ok, 0);
    atomic_store(&gc_fail, 0);
    atomic_store(&gc_done, 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&th[i], NULL, gc_submitter, q);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    double end = time_now() + 30;
    while (atomic_load(&gc_done) < NTHREADS * PER_THREAD && time_now() < end)
        usleep(5000);
    assert_int_equal(atomic_load(&gc_ok), NTHREADS * PER_THREAD);
    assert_int_equal(atomic_load(&gc_fail), 0);

    struct queue_stats st;
    queue_get_stats(q, &st);
    assert_int_equal(st.received, NTHREADS * PER_THREAD);
    assert_int_equal(st.committed_msgs, NTHREADS * PER_THREAD);
    assert_int_equal(st.queue_size, NTHREADS * PER_THREAD);
    print_message("%d messages in %llu commits\n", NTHREADS * PER_THREAD,
                  (unsigned long long)st.commits);
    assert_true(st.commits < (uint64_t)NTHREADS * PER_THREAD);

    /* Now let the deliveries succeed. */
    assert_true(wait_count("ok", NULL, 2 * NTHREADS * PER_THREAD, 10));
    pthread_mutex_lock(&T.mu);
    T.capture = false;
    size_t nheld = T.nheld;
    struct queue_delivery **held = malloc(nheld * sizeof(*held));
    memcpy(held, T.held, nheld * sizeof(*held));
    T.nheld = 0;
    pthread_mutex_unlock(&T.mu);
    for (size_t i = 0; i < nheld; i++)
        queue_delivery_done(q, held[i]);
    free(held);
    assert_true(wait_empty(q, 30));
    queue_get_stats(q, &st);
    assert_int_equal(st.delivered, 2 * NTHREADS * PER_THREAD);
    queue_close(q);
    assert_true(log_has("(queue active)"));
    assert_true(log_has(": removed"));
    assert_true(log_has("message-id=<"));
}

/* ---- recovery ---- */

static void test_recovery(void **state)
{
    static const char *const rc[] = {"ok-a@one.test", "ok-b@two.test", NULL};
    struct queue_params p = params();
    struct queue *q = open_queue(&p);
    char qid[3][QUEUE_ID_LEN + 1];
    T.capture = true;
    for (int i = 0; i < 3; i++)
        assert_int_equal(submit_sync(q, make_msg("s@example.com", rc, 0, 0), qid[i]), 0);
    assert_true(wait_count("ok-", NULL, 6, 5));
    /* Return one delivery as sent: that recipient must not come back. */
    pthread_mutex_lock(&T.mu);
    struct queue_delivery *d = NULL;
    for (size_t i = 0; i < T.nheld; i++)
        if (strcmp(T.held[i]->qid, qid[0]) == 0 && strstr(T.held[i]->nexthop, "one.test")) {
            d = T.held[i];
            T.held[i] = T.held[--T.nheld];
            break;
        }
    pthread_mutex_unlock(&T.mu);
    assert_non_null(d);
    d->rcpt[0].status = RCPT_SENT;
    snprintf(d->rcpt[0].dsn, sizeof(d->rcpt[0].dsn), "2.0.0");
    queue_delivery_done(q, d);
    queue_stop(q); /* commits the result taken in the last turn */
    queue_close(q);
    t_reset(); /* the in-flight deliveries are lost, like a crash */

    T.capture = true;
    q = open_queue(&p);
    struct queue_stats st;
    queue_get_stats(q, &st);
    assert_int_equal(st.queue_size, 3);
    assert_true(wait_count("ok-", NULL, 5, 5));
    usleep(100000);
    assert_int_equal(count_rcpt("ok-", NULL), 5);
    pthread_mutex_lock(&T.mu);
    for (size_t i = 0; i < T.n; i++)
        assert_false(strcmp(T.v[i].qid, qid[0]) == 0 && strcmp(T.v[i].rcpt, "ok-a@one.test") == 0);
    pthread_mutex_unlock(&T.mu);
    /* Content survived too. */
    char *data;
    size_t len;
    assert_int_equal(queue_store_body_load(q, qid[1], &data, &len), 0);
    assert_non_null(strstr(data, "hello world"));
    free(data);
    queue_close(q);
}

/* A restart keeps the saved schedule: deferred recipients are not all retried at once. */
static void test_schedule_kept(void **state)
{
    static const char *const rc[] = {"never@x.test", NULL};
    struct queue_params p = params();
    p.minimal_backoff_time = 300;
    p.maximal_backoff_time = 600;
    struct queue *q = open_queue(&p);
    for (int i = 0; i < 10; i++)
        assert_int_equal(submit_sync(q, make_msg("s@example.com", rc, 0, 0), NULL), 0);
    assert_true(wait_count("never@x.test", NULL, 10, 5)); /* each tried once, deferred */
    queue_close(q);
    q = open_queue(&p);
    struct queue_stats st;
    queue_get_stats(q, &st);
    assert_int_equal(st.queue_size, 10);
    usleep(1500000);
    assert_int_equal(count_rcpt("never@x.test", NULL), 10); /* none retried at the restart */
    queue_close(q);
}

/* A queue ID already in the queue is never overwritten (MDB_NOOVERWRITE): the second
 * submission fails (4xx for its client), the first message keeps its content. */
static void test_no_overwrite(void **state)
{
    static const char *const rc[] = {"never@x.test", NULL};
    struct queue_params p = params();
    struct queue *q = open_queue(&p);
    char qid[QUEUE_ID_LEN + 1];
    T.capture = true;
    assert_int_equal(submit_sync(q, make_msg("s@example.com", rc, 0, 0), qid), 0);
    struct queue_msg *dup = make_msg("other@example.com", rc, 0, 100);
    memcpy(dup->qid, qid, sizeof(dup->qid));
    assert_int_equal(submit_sync(q, dup, NULL), -EEXIST);
    char *data;
    size_t len;
    assert_int_equal(queue_store_body_load(q, qid, &data, &len), 0);
    assert_non_null(strstr(data, "hello world"));
    free(data);
    struct queue_stats st;
    queue_get_stats(q, &st);
    assert_int_equal(st.queue_size, 1);
    queue_close(q);
}

/* ---- delivery results (table) ---- */

struct result_case {
    const char *name;
    const char *sender;
    const char *rcpt;
    unsigned notify;
    size_t want_tries; /* deliveries of rcpt seen */
    bool want_bounce;  /* a DSN to the sender */
    double min_gap;    /* seconds between the first two tries */
};

static const struct result_case result_cases[] = {
    {"sent", "s@example.com", "ok@x.test", 0, 1, false, 0},
    {"deferred then sent", "s@example.com", "tmp@x.test", 0, 2, false, 0.9},
    {"bounced", "s@example.com", "bad@x.test", 0, 1, true, 0},
    {"bounced, notify=failure", "s@example.com", "bad@x.test", DSN_NOTIFY_FAILURE, 1, true, 0},
    {"bounced, notify=never", "s@example.com", "bad@x.test", DSN_NOTIFY_NEVER, 1, false, 0},
    {"bounced, notify=success,delay", "s@example.com", "bad@x.test",
     DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY, 1, false, 0},
    {"bounced, sender <>", "", "bad@x.test", 0, 1, false, 0},
    {"resolver bounce", "s@example.com", "user@nohost.invalid", 0, 0, true, 0},
};

static void test_results(void **state)
{
    struct queue_params p = params();
    for (size_t c = 0; c < sizeof(result_cases) / sizeof(result_cases[0]); c++) {
        const struct result_case *tc = &result_cases[c];
        char qid[QUEUE_ID_LEN + 1];
        const char *rc[] = {tc->rcpt, NULL};
        print_message("case: %s\n", tc->name);
        t_reset();
        struct queue *q = open_queue(&p);
        assert_int_equal(submit_sync(q, make_msg(tc->sender, rc, tc->notify, 0), qid), 0);
        assert_true(wait_empty(q, 10));
        assert_int_equal(count_rcpt(tc->rcpt, NULL), tc->want_tries);
        size_t nb = count_rcpt(tc->sender[0] ? tc->sender : "\x01", "");
        assert_int_equal(nb, tc->want_bounce ? 1 : 0);
        if (tc->min_gap > 0) {
            pthread_mutex_lock(&T.mu);
            double t0 = 0, t1 = 0;
            for (size_t i = 0; i < T.n; i++)
                if (strcmp(T.v[i].rcpt, tc->rcpt) == 0) {
                    if (t0 == 0)
                        t0 = T.v[i].when;
                    else if (t1 == 0)
                        t1 = T.v[i].when;
                }
            pthread_mutex_unlock(&T.mu);
            assert_true(t1 - t0 >= tc->min_gap);
        }
        if (tc->want_bounce) {
            pthread_mutex_lock(&T.mu);
            const char *body = NULL;
            for (size_t i = 0; i < T.n; i++)
                if (T.v[i].sender[0] == 0)
                    body = T.v[i].body;
            assert_non_null(body);
            assert_non_null(strstr(body, "multipart/report; report-type=delivery-status"));
            assert_non_null(strstr(body, "Final-Recipient: rfc822; "));
            assert_non_null(strstr(body, tc->rcpt));
            assert_non_null(strstr(body, "Action: failed"));
            assert_non_null(strstr(body, "Status: 5."));
            assert_non_null(strstr(body, "Reporting-MTA: dns; relay.test"));
            assert_non_null(strstr(body, "From: MAILER-DAEMON@relay.test"));
            assert_non_null(strstr(body, "Subject: Undelivered Mail Returned to Sender"));
            assert_non_null(strstr(body, "Content-Type: message/rfc822"));
            assert_non_null(strstr(body, "hello world")); /* the returned original */
            pthread_mutex_unlock(&T.mu);
            char want[128];
            snprintf(want, sizeof(want), "%s: sender non-delivery notification: ", qid);
            assert_true(log_has(want));
        }
        char removed[64];
        snprintf(removed, sizeof(removed), "%s: removed", qid);
        assert_true(log_has(removed));
        queue_close(q);
    }
}

/* RET=HDRS returns only the headers; ORCPT and ENVID are reported. */
static void test_bounce_hdrs(void **state)
{
    struct queue_params p = params();
    const char *rc[] = {"bad1@x.test", "bad2@x.test", "ok@x.test", NULL};
    struct queue *q = open_queue(&p);
    struct queue_msg *m = make_msg("s@example.com", rc, 0, 0);
    m->ret = DSN_RET_HDRS;
    m->envid = strdup("ENV123");
    m->rcpt[0].orcpt = strdup("rfc822;orig@x.test");
    assert_int_equal(submit_sync(q, m, NULL), 0);
    assert_true(wait_empty(q, 10));
    pthread_mutex_lock(&T.mu);
    size_t nb = 0;
    const char *body = NULL;
    for (size_t i = 0; i < T.n; i++)
        if (T.v[i].sender[0] == 0) {
            nb++;
            body = T.v[i].body;
        }
    assert_int_equal(nb, 1); /* one DSN for both failed recipients */
    assert_non_null(body);
    assert_non_null(strstr(body, "Final-Recipient: rfc822; bad1@x.test"));
    assert_non_null(strstr(body, "Final-Recipient: rfc822; bad2@x.test"));
    assert_null(strstr(body, "Final-Recipient: rfc822; ok@x.test"));
    assert_non_null(strstr(body, "Original-Recipient: rfc822;orig@x.test"));
    assert_non_null(strstr(body, "Original-Envelope-Id: ENV123"));
    assert_non_null(strstr(body, "Content-Type: text/rfc822-headers"));
    assert_non_null(strstr(body, "Subject: test"));
    assert_null(strstr(body, "hello world"));
    pthread_mutex_unlock(&T.mu);
    queue_close(q);
}

/* ---- expiry ---- */

struct expiry_case {
    const char *name;
    int lifetime;
    size_t min_tries;
};

static const struct expiry_case expiry_cases[] = {
    {"lifetime 0: one try", 0, 1},
    {"lifetime 1: retried, then bounced", 1, 2},
};

static void test_expiry(void **state)
{
    for (size_t c = 0; c < sizeof(expiry_cases) / sizeof(expiry_cases[0]); c++) {
        const struct expiry_case *tc = &expiry_cases[c];
        struct queue_params p = params();
        const char *rc[] = {"never@x.test", NULL};
        char qid[QUEUE_ID_LEN + 1];
        print_message("case: %s\n", tc->name);
        t_reset();
        p.maximal_queue_lifetime = tc->lifetime;
        struct queue *q = open_queue(&p);
        assert_int_equal(submit_sync(q, make_msg("s@example.com", rc, 0, 0), qid), 0);
        assert_true(wait_empty(q, 10));
        size_t tries = count_rcpt("never@", NULL);
        assert_true(tries >= tc->min_tries);
        if (tc->lifetime == 0)
            assert_int_equal(tries, 1);
        assert_int_equal(count_rcpt("s@example.com", ""), 1);
        char want[128];
        snprintf(want, sizeof(want), "%s: from=<s@example.com>, status=expired, returned to sender",
                 qid);
        assert_true(log_has(want));
        queue_close(q);
    }
}

/* ---- control ---- */

/* ctl_text - what a queueview_* function writes; fn NULL: queueview_show of qid */
static char *ctl_text(struct queue *q, int (*fn)(struct queue *, FILE *), const char *qid, int *rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    if (fn)
        *rc = fn(q, fp);
    else
        *rc = queueview_show(q, qid, fp);
    fclose(fp);
    return text;
}

static void test_ctl(void **state)
{
    struct queue_params p = params();
    p.minimal_backoff_time = p.maximal_backoff_time = 3600;
    const char *rc[] = {"user@later.test", NULL};
    char qid[QUEUE_ID_LEN + 1], qid2[QUEUE_ID_LEN + 1];
    struct queue_snapshot *s;
    int r;
    atomic_store(&T.resolve_defer, 1);
    struct queue *q = open_queue(&p);

    assert_int_equal(queue_ctl_list(q, &s), 0);
    assert_non_null(s);
    assert_int_equal(s->nmsg, 0);
    assert_int_equal(s->ncorrupt, 0);
    queue_snapshot_free(s);
    char *text = ctl_text(q, queueview_list, NULL, &r);
    assert_int_equal(r, 0);
    assert_string_equal(text, "Mail queue is empty\n");
    free(text);

    assert_int_equal(submit_sync(q, make_msg("s@example.com", rc, 0, 0), qid), 0);
    assert_int_equal(submit_sync(q, make_msg("", rc, 0, 0), qid2), 0);
    usleep(100000); /* the resolver defers both */

    /* the data: in queue ID order, the open recipients with the last failure */
    assert_int_equal(queue_ctl_list(q, &s), 0);
    assert_int_equal(s->nmsg, 2);
    assert_string_equal(s->msg[0].qid, qid);
    assert_string_equal(s->msg[0].sender, "s@example.com");
    assert_string_equal(s->msg[1].qid, qid2);
    assert_string_equal(s->msg[1].sender, "");
    for (size_t i = 0; i < 2; i++) {
        const struct queue_snapshot_msg *m = &s->msg[i];
        assert_false(m->hold);
        assert_false(m->in_delivery);
        assert_true(m->size > 0);
        assert_null(m->data);
        assert_int_equal(m->nrcpt, 1);
        assert_string_equal(m->rcpt[0].addr, "user@later.test");
        assert_int_equal(m->rcpt[0].state, QUEUE_SNAPSHOT_WAITING);
        assert_non_null(m->rcpt[0].reason);
        assert_non_null(strstr(m->rcpt[0].reason, "next hop lookup failed"));
    }
    queue_snapshot_free(s);
    /* and the text made of it */
    text = ctl_text(q, queueview_list, NULL, &r);
    assert_int_equal(r, 0);
    assert_non_null(strstr(text, "-Queue ID-        --Size-- ----Arrival Time----"));
    assert_non_null(strstr(text, qid));
    assert_non_null(strstr(text, "s@example.com"));
    assert_non_null(strstr(text, "MAILER-DAEMON"));
    assert_non_null(strstr(text, "(next hop lookup failed"));
    assert_non_null(strstr(text, "user@later.test"));
    assert_non_null(strstr(text, "-- 1 Kbytes in 2 Requests."));
    free(text);

    assert_int_equal(queue_ctl_show(q, qid, &s), 0);
    assert_int_equal(s->nmsg, 1);
    assert_string_equal(s->msg[0].sender, "s@example.com");
    assert_int_equal(s->msg[0].nrcpt, 1);
    assert_int_equal(s->msg[0].rcpt[0].state, QUEUE_SNAPSHOT_WAITING);
    assert_int_equal(s->msg[0].rcpt[0].tries, 1);
    assert_non_null(s->msg[0].data);
    assert_int_equal(s->msg[0].len, s->msg[0].size);
    assert_non_null(strstr(s->msg[0].data, "hello world"));
    queue_snapshot_free(s);
    text = ctl_text(q, NULL, qid, &r);
    assert_int_equal(r, 0);
    assert_non_null(strstr(text, "sender: s@example.com"));
    assert_non_null(strstr(text, "recipient: user@later.test status=waiting tries=1"));
    assert_non_null(strstr(text, "hello world"));
    free(text);
    assert_int_equal(queue_ctl_show(q, "0000000000000000", &s), -ENOENT);
    assert_null(s);
    s = (struct queue_snapshot *)&r; /* set to NULL also when the arguments are wrong */
    assert_int_equal(queue_ctl_show(q, NULL, &s), -EINVAL);
    assert_null(s);
    assert_int_equal(queue_ctl_list(q, NULL), -EINVAL);
    text = ctl_text(q, NULL, "0000000000000000", &r);
    assert_int_equal(r, -ENOENT);
    assert_string_equal(text, "");
    free(text);

    /* verify: every record sound */
    assert_int_equal(queue_ctl_verify(q, &s), 0);
    assert_true(s->walked);
    assert_int_equal(s->nrecords, 2);
    assert_int_equal(s->ndamaged, 0);
    queue_snapshot_free(s);
    text = ctl_text(q, queueview_verify, NULL, &r);
    assert_int_equal(r, 0);
    assert_string_equal(text, "-- 2 records verified, 0 damaged.\n");
    free(text);

    /* hold: listed with '!', flush does not touch it, release delivers it */
    assert_int_equal(queue_ctl_hold(q, qid), 0);
    assert_int_equal(queue_ctl_list(q, &s), 0);
    assert_true(s->msg[0].hold);
    assert_false(s->msg[1].hold);
    queue_snapshot_free(s);
    text = ctl_text(q, queueview_list, NULL, &r);
    char held[32];
    snprintf(held, sizeof(held), "%s!", qid);
    assert_non_null(strstr(text, held));
    free(text);
    atomic_store(&T.resolve_defer, 0);
    assert_int_equal(queue_ctl_flush(q), 0);
    assert_true(wait_count("user@later.test", "", 1, 5)); /* the <> message, flushed */
    usleep(100000);
    assert_int_equal(count_rcpt("user@later.test", "s@example.com"), 0);
    assert_int_equal(queue_ctl_release(q, qid), 0);
    assert_true(wait_count("user@later.test", "s@example.com", 1, 5));
    assert_true(wait_empty(q, 5));

    /* delete one, delete ALL, unknown */
    atomic_store(&T.resolve_defer, 1);
    assert_int_equal(submit_sync(q, make_msg("s@example.com", rc, 0, 0), qid), 0);
    assert_int_equal(submit_sync(q, make_msg("s@example.com", rc, 0, 0), qid2), 0);
    assert_int_equal(queue_ctl_hold(q, "0000000000000000"), -ENOENT);
    assert_int_equal(queue_ctl_delete(q, "0000000000000000"), -ENOENT);
    assert_int_equal(queue_ctl_delete(q, qid), 0);
    struct queue_stats st;
    queue_get_stats(q, &st);
    assert_int_equal(st.queue_size, 1);
    char removed[64];
    snprintf(removed, sizeof(removed), "%s: removed", qid);
    assert_true(log_has(removed));
    assert_int_equal(queue_ctl_delete(q, "ALL"), 0);
    queue_get_stats(q, &st);
    assert_int_equal(st.queue_size, 0);
    queue_close(q);
    /* and the deletions are on disk */
    q = open_queue(&p);
    queue_get_stats(q, &st);
    assert_int_equal(st.queue_size, 0);
    queue_close(q);
}

/* ---- disk full ---- */

struct big_sub {
    struct waiter w;
    char qid[QUEUE_ID_LEN + 1];
};

/* A full map cannot wedge the queue: fill it with 3 KB messages, then deliver most and bounce
 * some in one batch (the DSNs, each bigger than its original, need room the map does not
 * have): the removals commit anyway, the DSNs follow in the space they freed, and the queue
 * drains. */
static void test_map_full_drain(void **state)
{
    struct queue_params p = params();
    p.map_size = 1u << 20;
    const char *rc[] = {"ok@x.test", NULL};
    struct queue *q = open_queue(&p);
    T.capture = true; /* hold every delivery until the map is full */
    size_t n = 0;
    for (int i = 0; i < 2000; i++) {
        int r = submit_sync(q, make_msg("s@example.com", rc, 0, 3000), NULL);
        if (r == -ENOSPC)
            break;
        assert_int_equal(r, 0);
        n++;
    }
    assert_true(n > 10 && n < 2000);
    /* the queue thread holds the deliveries; take them all, then answer in one go */
    assert_true(wait_count("ok@x.test", NULL, n, 10));
    pthread_mutex_lock(&T.mu);
    struct queue_delivery *held[2000];
    size_t nheld = T.nheld;
    memcpy(held, T.held, nheld * sizeof(held[0]));
    T.nheld = 0;
    T.capture = false;
    pthread_mutex_unlock(&T.mu);
    assert_int_equal(nheld, n);
    for (size_t i = 0; i < nheld; i++) {
        struct queue_delivery_rcpt *r = &held[i]->rcpt[0];
        bool bounce = i % 4 == 0;
        r->status = bounce ? RCPT_BOUNCED : RCPT_SENT;
        snprintf(r->dsn, sizeof(r->dsn), "%s", bounce ? "5.1.1" : "2.0.0");
        free(r->reason); /* the capturing deliverer's own */
        r->reason = strdup(bounce ? "550 5.1.1 User unknown" : "250 2.0.0 Ok");
    }
    for (size_t i = 0; i < nheld; i++)
        queue_delivery_done(q, held[i]);
    assert_true(wait_empty(q, 20)); /* removals, DSNs, their delivery: all done */
    assert_true(count_rcpt("s@example.com", "") >= (n + 3) / 4); /* every DSN went out */
    queue_close(q);
}

static void test_disk_full(void **state)
{
    struct queue_params p = params();
    p.map_size = 1u << 20;
    const char *rc[] = {"ok@x.test", NULL};
    struct queue *q = NULL;
    assert_int_equal(queue_open(&q, &p, &hooks), 0);
    T.q = q;
    T.capture = true; /* keep everything queued */

    /* Submitted before the thread runs: one batch with a too large message in the middle. */
    struct big_sub s[3] = {{.w = WAITER_INIT}, {.w = WAITER_INIT}, {.w = WAITER_INIT}};
    for (int i = 0; i < 3; i++) {
        struct queue_msg *m = make_msg("s@example.com", rc, 0, i == 1 ? 2u << 20 : 0);
        memcpy(s[i].qid, m->qid, sizeof(s[i].qid));
        assert_int_equal(queue_submit(q, m, waiter_done, &s[i].w), 0);
    }
    assert_int_equal(queue_start(q), 0);
    assert_int_equal(waiter_wait(&s[0].w), 0);
    assert_int_equal(waiter_wait(&s[1].w), -ENOSPC);
    assert_int_equal(waiter_wait(&s[2].w), 0);

    /* Nothing of the failed message was written. */
    char *data;
    size_t len;
    assert_int_equal(queue_store_body_load(q, s[1].qid, &data, &len), -ENOENT);
    assert_int_equal(queue_ctl_hold(q, s[1].qid), -ENOENT);
    struct queue_stats st;
    queue_get_stats(q, &st);
    assert_int_equal(st.queue_size, 2);

    /* Alone, too. */
    assert_int_equal(submit_sync(q, make_msg("s@example.com", rc, 0, 3u << 20), NULL), -ENOSPC);
    /* And the queue keeps working. */
    char qid[QUEUE_ID_LEN + 1];
    assert_int_equal(submit_sync(q, make_msg("s@example.com", rc, 0, 0), qid), 0);
    assert_int_equal(queue_store_body_load(q, qid, &data, &len), 0);
    free(data);
    queue_close(q);
    t_reset();

    q = open_queue(&p);
    queue_get_stats(q, &st);
    assert_int_equal(st.queue_size, 3);
    assert_true(wait_empty(q, 10));
    queue_close(q);
}

/* ---- kill -9 ---- */

static int crash_fd = -1;

static void crash_done(void *arg, int status)
{
    char line[QUEUE_ID_LEN + 2];
    if (status != 0)
        return;
    memcpy(line, arg, QUEUE_ID_LEN);
    line[QUEUE_ID_LEN] = '\n';
    free(arg);
    if (write(crash_fd, line, QUEUE_ID_LEN + 1) < 0)
        _exit(3);
}

static void *crash_submitter(void *arg)
{
    struct queue *q = arg;
    const char *rc[] = {"never@x.test", NULL};
    for (;;) {
        struct queue_msg *m = make_msg("s@example.com", rc, 0, 2000);
        char *qid = strdup(m->qid);
        if (queue_submit(q, m, crash_done, qid) < 0)
            _exit(4);
    }
    return NULL;
}

/* crash_child - submit as fast as possible, report each acknowledged QID */
static _Noreturn void crash_child(int fd)
{
    struct queue_params p = params();
    struct queue *q = NULL;
    struct queue_hooks h = {.resolve = t_resolve}; /* no dispatch: keep everything */
    pthread_t th[2];
    crash_fd = fd;
    if (queue_open(&q, &p, &h) < 0 || queue_start(q) < 0)
        _exit(2);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, crash_submitter, q);
    for (;;)
        pause();
}

static void test_kill9(void **state)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        crash_child(pfd[1]);
    }
    close(pfd[1]);
    char(*acked)[QUEUE_ID_LEN + 1] = calloc(100000, sizeof(*acked));
    size_t n = 0;
    char line[QUEUE_ID_LEN + 1];
    FILE *fp = fdopen(pfd[0], "r");
    while (n < 100000 && fread(line, 1, sizeof(line), fp) == sizeof(line)) {
        memcpy(acked[n], line, QUEUE_ID_LEN);
        acked[n][QUEUE_ID_LEN] = 0;
        if (++n == 300)
            kill(pid, SIGKILL); /* in the middle of submitting and committing */
    }
    fclose(fp);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    print_message("%zu messages acknowledged before kill -9\n", n);
    assert_true(n >= 300);

    struct queue_params p = params();
    struct queue *q = NULL;
    struct queue_hooks h = {.resolve = t_resolve};
    assert_int_equal(queue_open(&q, &p, &h), 0);
    struct queue_stats st;
    queue_get_stats(q, &st);
    assert_true(st.queue_size >= n);
    for (size_t i = 0; i < n; i++) {
        char *data;
        size_t len;
        assert_int_equal(queue_store_body_load(q, acked[i], &data, &len), 0);
        assert_non_null(strstr(data, acked[i])); /* its own Message-ID */
        free(data);
    }
    queue_close(q);
    free(acked);
}

/* ---- malformed submissions ---- */

static void test_submit_invalid(void **state)
{
    struct queue_params p = params();
    struct queue *q = open_queue(&p);
    const char *none[] = {NULL};
    struct queue_msg *m = make_msg("s@example.com", none, 0, 0);
    assert_int_equal(queue_submit(q, m, waiter_done, NULL), -EINVAL);
    queue_msg_free(m);
    queue_stop(q);
    const char *rc[] = {"ok@x.test", NULL};
    m = make_msg("s@example.com", rc, 0, 0);
    assert_int_equal(queue_submit(q, m, waiter_done, NULL), -ESHUTDOWN);
    queue_msg_free(m);
    assert_int_equal(queue_ctl_flush(q), -ESHUTDOWN);
    queue_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schedule_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounce_hdrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_submit_invalid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
