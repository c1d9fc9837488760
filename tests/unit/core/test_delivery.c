/*
 * test_delivery - the per-worker delivery engine against a scripted SMTP
 * server on loopback: connection reuse, reuse limit, per-recipient results,
 * a refused port, a refused greeting, the discard transport, shutdown.
 *
 * The queue is played by this file: queue_delivery_done() and
 * queue_body_load() are defined here, so the linker takes these instead of
 * the queue library's (whose other parts the engine does not use).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core_delivery.h"
#include "core/core_log.h"
#include "core/core_time.h"

/* ---------- a scripted SMTP server ---------- */

struct fake_server {
    int lfd, port;
    int wake[2];
    pthread_t th;
    const char *greeting; /* e.g. "220 fake ESMTP" */
    bool pipelining;
    atomic_int accepts, mails, quits, dots;
};

#define FS_MAX_CLIENTS 16

struct fs_client {
    int fd;
    bool in_data;
    char buf[8192];
    size_t len;
};

/* fs_say - write one reply */
static void fs_say(int fd, const char *text)
{
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) {
        /* the client went away; its read will tell */
    }
}

/* fs_line - answer one command line; false to hang up */
static bool fs_line(struct fake_server *fs, struct fs_client *cl, const char *line)
{
    char reply[128];
    if (cl->in_data) {
        if (strcmp(line, ".") == 0) {
            cl->in_data = false;
            int n = atomic_fetch_add(&fs->dots, 1) + 1;
            snprintf(reply, sizeof(reply), "250 2.0.0 Ok: queued as Q%d\r\n", n);
            fs_say(cl->fd, reply);
        }
        return true;
    }
    if (strncasecmp(line, "EHLO", 4) == 0) {
        fs_say(cl->fd, fs->pipelining ? "250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                                      : "250-fake\r\n250 8BITMIME\r\n");
    } else if (strncasecmp(line, "HELO", 4) == 0 || strncasecmp(line, "RSET", 4) == 0) {
        fs_say(cl->fd, "250 Ok\r\n");
    } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
        atomic_fetch_add(&fs->mails, 1);
        fs_say(cl->fd, "250 2.1.0 Ok\r\n");
    } else if (strncasecmp(line, "RCPT TO:<drop", 13) == 0) {
        return false; /* hang up without a word */
    } else if (strncasecmp(line, "RCPT TO:<bad", 12) == 0) {
        fs_say(cl->fd, "550 5.1.1 <bad@example.com>: Recipient address rejected\r\n");
    } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
        fs_say(cl->fd, "250 2.1.5 Ok\r\n");
    } else if (strncasecmp(line, "DATA", 4) == 0) {
        cl->in_data = true;
        fs_say(cl->fd, "354 End data with <CR><LF>.<CR><LF>\r\n");
    } else if (strncasecmp(line, "QUIT", 4) == 0) {
        atomic_fetch_add(&fs->quits, 1);
        fs_say(cl->fd, "221 2.0.0 Bye\r\n");
        return false;
    } else {
        fs_say(cl->fd, "502 5.5.2 Error: command not recognized\r\n");
    }
    return true;
}

/* fs_main - poll the listener and the clients until woken */
static void *fs_main(void *arg)
{
    struct fake_server *fs = arg;
    struct fs_client cl[FS_MAX_CLIENTS];
    size_t ncl = 0;

    for (;;) {
        struct pollfd pfd[FS_MAX_CLIENTS + 2];
        pfd[0] = (struct pollfd){.fd = fs->lfd, .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = fs->wake[0], .events = POLLIN};
        for (size_t i = 0; i < ncl; i++)
            pfd[i + 2] = (struct pollfd){.fd = cl[i].fd, .events = POLLIN};
        if (poll(pfd, ncl + 2, 10000) <= 0)
            break;
        if (pfd[1].revents)
            break;
        for (size_t i = ncl; i-- > 0;) {
            if (!pfd[i + 2].revents)
                continue;
            struct fs_client *c = &cl[i];
            ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
            bool keep = n > 0;
            if (n > 0)
                c->len += (size_t)n;
            char *nl;
            while (keep && (nl = memchr(c->buf, '\n', c->len)) != NULL) {
                size_t used = (size_t)(nl - c->buf) + 1;
                *nl = 0;
                if (nl > c->buf && nl[-1] == '\r')
                    nl[-1] = 0;
                keep = fs_line(fs, c, c->buf);
                memmove(c->buf, c->buf + used, c->len - used);
                c->len -= used;
            }
            if (!keep) {
                close(c->fd);
                cl[i] = cl[--ncl];
            }
        }
        if (pfd[0].revents && ncl < FS_MAX_CLIENTS) {
            int fd = accept(fs->lfd, NULL, NULL);
            if (fd >= 0) {
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                atomic_fetch_add(&fs->accepts, 1);
                cl[ncl++] = (struct fs_client){.fd = fd};
                char g[128];
                snprintf(g, sizeof(g), "%s\r\n", fs->greeting);
                fs_say(fd, g);
            }
        }
    }
    for (size_t i = 0; i < ncl; i++)
        close(cl[i].fd);
    return NULL;
}

/* loopback_socket - a bound TCP socket on 127.0.0.1 with a fresh port */
static int loopback_socket(int *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, len), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

static void fs_start(struct fake_server *fs, const char *greeting, bool pipelining)
{
    memset(fs, 0, sizeof(*fs));
    fs->greeting = greeting;
    fs->pipelining = pipelining;
    fs->lfd = loopback_socket(&fs->port);
    assert_int_equal(listen(fs->lfd, 16), 0);
    assert_int_equal(pipe(fs->wake), 0);
    assert_int_equal(pthread_create(&fs->th, NULL, fs_main, fs), 0);
}

static void fs_stop(struct fake_server *fs)
{
    fs_say(fs->wake[1], "x");
    pthread_join(fs->th, NULL);
    close(fs->lfd);
    close(fs->wake[0]);
    close(fs->wake[1]);
}

/* ---------- the queue, played by the test ---------- */

#define MAX_RESULTS 16
static struct queue_delivery *results[MAX_RESULTS];
static int nresults, want_results;
static struct loop *tl;
static struct delivery *tdv;
static struct queue_delivery *later[4]; /* enqueued one per finished job */
static int nlater;
static bool shutdown_after_done;

static void enqueue_later(void *arg)
{
    delivery_enqueue(tdv, arg);
}

static void wait_idle(struct loop_timer *t)
{
    if (!delivery_busy(tdv))
        loop_stop(tl);
    else
        loop_timer_arm(tl, t, 10);
}
static struct loop_timer idle_timer;

void queue_delivery_done(struct queue *q, struct queue_delivery *d)
{
    assert_true(nresults < MAX_RESULTS);
    results[nresults++] = d;
    if (nlater > 0) {
        /* Like the real queue: the next job arrives through the inbox. */
        struct queue_delivery *next = later[0];
        memmove(later, later + 1, sizeof(later[0]) * (size_t)--nlater);
        loop_post(tl, enqueue_later, next);
    }
    if (nresults == want_results) {
        if (shutdown_after_done) {
            delivery_shutdown(tdv);
            loop_timer_init(&idle_timer, wait_idle);
            loop_timer_arm(tl, &idle_timer, 10);
        } else {
            loop_stop(tl);
        }
    }
}

int queue_body_load(struct queue *q, const char *qid, char **data, size_t *len)
{
    static const char body[] = "Subject: test\r\n\r\nhello\r\n.leading dot\r\n";
    *data = strdup(body);
    *len = sizeof(body) - 1;
    return *data ? 0 : -ENOMEM;
}

/* job_new - a delivery of one message to the given recipients ("a,b") */
static struct queue_delivery *job_new(const char *qid, const char *nexthop, const char *rcpts)
{
    struct queue_delivery *d = calloc(1, sizeof(*d));
    char *list = strdup(rcpts), *save = NULL;
    size_t n = 1;
    for (const char *p = rcpts; *p; p++)
        n += *p == ',';
    d->rcpt = calloc(n, sizeof(*d->rcpt));
    for (char *r = strtok_r(list, ",", &save); r; r = strtok_r(NULL, ",", &save)) {
        d->rcpt[d->nrcpt].addr = strdup(r);
        d->rcpt[d->nrcpt].index = (uint32_t)d->nrcpt;
        d->nrcpt++;
    }
    free(list);
    snprintf(d->qid, sizeof(d->qid), "%s", qid);
    d->sender = strdup("sender@example.org");
    d->nexthop = strdup(nexthop);
    double now = time_now();
    d->arrival = now - 0.5;
    d->queued = now - 0.4;
    d->dispatched = now;
    d->size = 40;
    return d;
}

/* ---------- cases ---------- */

enum target { T_SERVER, T_REFUSED, T_DISCARD, T_LOCALHOST /* server, named via /etc/hosts */ };

struct expect_rcpt {
    const char *qid, *addr;
    int status;
    const char *dsn;
    const char *reason; /* substring; "%d" stands for the port */
    bool relay_none;
};

struct delivery_case {
    const char *name;
    enum target target;
    const char *greeting;
    bool pipelining;
    int reuse_limit;
    int concurrency;
    const char *jobs[3];       /* recipients per job */
    bool sequential;           /* job n+1 arrives after job n is done */
    int accepts, mails, quits; /* -1: do not check */
    struct expect_rcpt expect[4];
};

static const struct delivery_case cases[] = {
    {"two jobs one after the other reuse one connection",
     T_SERVER,
     "220 fake ESMTP",
     false,
     0,
     0,
     {"a@example.com", "b@example.com"},
     true,
     1,
     2,
     -1,
     {{"J0", "a@example.com", RCPT_SENT, "2.0.0", "250 2.0.0 Ok: queued as Q1", false},
      {"J1", "b@example.com", RCPT_SENT, "2.0.0", "250 2.0.0 Ok: queued as Q2", false}}},
    {"a burst of two pipelined jobs, concurrency 1: one connection, in order",
     T_SERVER,
     "220 fake ESMTP",
     true,
     0,
     1,
     {"a@example.com", "b@example.com"},
     false,
     1,
     2,
     -1,
     {{"J0", "a@example.com", RCPT_SENT, "2.0.0", "queued as Q1", false},
      {"J1", "b@example.com", RCPT_SENT, "2.0.0", "queued as Q2", false}}},
    {"a burst of three jobs, concurrency 4: the pool grows after the first handshake",
     T_SERVER,
     "220 fake ESMTP",
     true,
     0,
     4,
     {"a@example.com", "b@example.com", "c@example.com"},
     false,
     -1,
     3,
     -1,
     {{"J0", "a@example.com", RCPT_SENT, "2.0.0", "queued as Q", false},
      {"J1", "b@example.com", RCPT_SENT, "2.0.0", "queued as Q", false},
      {"J2", "c@example.com", RCPT_SENT, "2.0.0", "queued as Q", false}}},
    {"reuse limit 1 opens a new connection per job",
     T_SERVER,
     "220 fake ESMTP",
     false,
     1,
     0,
     {"a@example.com", "b@example.com"},
     true,
     2,
     2,
     -1,
     {{"J0", "a@example.com", RCPT_SENT, "2.0.0", "queued as Q1", false},
      {"J1", "b@example.com", RCPT_SENT, "2.0.0", "queued as Q2", false}}},
    {"per-recipient results",
     T_SERVER,
     "220 fake ESMTP",
     true,
     0,
     0,
     {"ok@example.com,bad@example.com"},
     false,
     1,
     1,
     -1,
     {{"J0", "ok@example.com", RCPT_SENT, "2.0.0", "queued as Q1", false},
      {"J0", "bad@example.com", RCPT_BOUNCED, "5.1.1",
       "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <bad@example.com>: Recipient address "
       "rejected (in reply to RCPT TO command)",
       false}}},
    {"a refused port defers every queued job",
     T_REFUSED,
     NULL,
     false,
     0,
     0,
     {"a@example.com", "b@example.com"},
     false,
     -1,
     -1,
     -1,
     {{"J0", "a@example.com", RCPT_DEFERRED, "4.4.1",
       "connect to 127.0.0.1[127.0.0.1]:%d: Connection refused", true},
      {"J1", "b@example.com", RCPT_DEFERRED, "4.4.1",
       "connect to 127.0.0.1[127.0.0.1]:%d: Connection refused", true}}},
    {"a refused greeting defers",
     T_SERVER,
     "554 5.7.1 go away",
     false,
     0,
     0,
     {"a@example.com"},
     false,
     1,
     0,
     -1,
     {{"J0", "a@example.com", RCPT_DEFERRED, "4.4.2",
       "host 127.0.0.1[127.0.0.1] refused to talk to me: 554 5.7.1 go away", true}}},
    {"a connection lost in its first transaction defers the queue, no reconnect",
     T_SERVER,
     "220 fake ESMTP",
     false,
     0,
     1,
     {"drop@example.com", "b@example.com"},
     false,
     1,
     1,
     -1,
     {{"J0", "drop@example.com", RCPT_DEFERRED, "4.4.2",
       "lost connection with 127.0.0.1[127.0.0.1]", false},
      {"J1", "b@example.com", RCPT_DEFERRED, "4.4.2", "lost connection with 127.0.0.1[127.0.0.1]",
       true}}},
    {"a [host] next hop is looked up (A/AAAA)",
     T_LOCALHOST,
     "220 fake ESMTP",
     true,
     0,
     0,
     {"a@example.com"},
     false,
     1,
     1,
     -1,
     {{"J0", "a@example.com", RCPT_SENT, "2.0.0", "queued as Q1", false}}},
    {"discard transport",
     T_DISCARD,
     NULL,
     false,
     0,
     0,
     {"a@example.com,b@example.com"},
     false,
     -1,
     -1,
     -1,
     {{"J0", "a@example.com", RCPT_SENT, "2.0.0", "discarded", true},
      {"J0", "b@example.com", RCPT_SENT, "2.0.0", "discarded", true}}},
    {"shutdown says QUIT to idle connections",
     T_SERVER,
     "220 fake ESMTP",
     true,
     0,
     0,
     {"a@example.com"},
     false,
     1,
     1,
     1,
     {{"J0", "a@example.com", RCPT_SENT, "2.0.0", "queued as Q1", false}}},
};

/* the resolver's fd is readable: let it run callbacks (as core_worker does) */
static struct dns_resolver *tdns;
static struct loop_op dns_op;
static void dns_ready(struct loop_op *op, int res, unsigned flags)
{
    if (res >= 0)
        dns_resolver_process(tdns);
    if (!(flags & IORING_CQE_F_MORE) && res != -ECANCELED) {
        struct io_uring_sqe *sqe = loop_sqe(tl);
        io_uring_prep_poll_multishot(sqe, dns_resolver_fd(tdns), POLLIN);
        loop_op_arm(sqe, &dns_op);
    }
}

static void guard_cb(struct loop_timer *t)
{
    fail_msg("the loop got stuck");
}

static struct queue_delivery_rcpt *find_rcpt(const char *qid, const char *addr,
                                             struct queue_delivery **dout)
{
    for (int i = 0; i < nresults; i++)
        if (strcmp(results[i]->qid, qid) == 0)
            for (size_t k = 0; k < results[i]->nrcpt; k++)
                if (strcmp(results[i]->rcpt[k].addr, addr) == 0) {
                    *dout = results[i];
                    return &results[i]->rcpt[k];
                }
    return NULL;
}

static void run_case(const struct delivery_case *tc)
{
    struct fake_server fs;
    int port = 0;
    char key[64];

    print_message("case: %s\n", tc->name);
    if (tc->target == T_SERVER || tc->target == T_LOCALHOST) {
        fs_start(&fs, tc->greeting, tc->pipelining);
        port = fs.port;
    } else if (tc->target == T_REFUSED) {
        int fd = loopback_socket(&port); /* bound, never listening: refused */
        close(fd);
    }
    if (tc->target == T_DISCARD)
        snprintf(key, sizeof(key), "discard:");
    else if (tc->target == T_LOCALHOST)
        snprintf(key, sizeof(key), "[localhost]:%d", port);
    else
        snprintf(key, sizeof(key), "[127.0.0.1]:%d", port);

    assert_int_equal(loop_new(&tl, 256), 0);
    tdns = NULL;
    if (tc->target == T_LOCALHOST) {
        assert_int_equal(dns_resolver_new(&tdns, NULL, 0), 0); /* /etc/hosts first */
        dns_op.cb = dns_ready;
        struct io_uring_sqe *sqe = loop_sqe(tl);
        io_uring_prep_poll_multishot(sqe, dns_resolver_fd(tdns), POLLIN);
        loop_op_arm(sqe, &dns_op);
    }
    struct delivery_params p = {
        .loop = tl,
        .dns = tdns,
        .queue = NULL,
        .helo_name = "tern.test",
        .concurrency_limit = tc->concurrency ? tc->concurrency : 4,
        .reuse_count_limit = tc->reuse_limit,
        .idle_time_limit = 5,
        .connect_timeout = 5,
        .helo_timeout = 5,
        .data_done_timeout = 5,
        .pipelining = true,
    };
    assert_int_equal(delivery_new(&tdv, &p), 0);
    nresults = 0;
    nlater = 0;
    want_results = 0;
    shutdown_after_done = true; /* the loop runs once: shut down, wait for idle, stop */
    for (int i = 0; i < 3 && tc->jobs[i]; i++) {
        char qid[8];
        snprintf(qid, sizeof(qid), "J%d", i);
        struct queue_delivery *d = job_new(qid, key, tc->jobs[i]);
        want_results++;
        if (tc->sequential && i > 0)
            later[nlater++] = d;
        else
            delivery_enqueue(tdv, d);
    }
    struct loop_timer guard;
    loop_timer_init(&guard, guard_cb);
    loop_timer_arm(tl, &guard, 10000);
    assert_int_equal(loop_run(tl), 0);
    loop_timer_cancel(tl, &guard);
    assert_int_equal(nresults, want_results);

    for (size_t i = 0; i < sizeof(tc->expect) / sizeof(tc->expect[0]) && tc->expect[i].qid; i++) {
        const struct expect_rcpt *e = &tc->expect[i];
        struct queue_delivery *d = NULL;
        struct queue_delivery_rcpt *r = find_rcpt(e->qid, e->addr, &d);
        char want[256], relay[64];
        assert_non_null(r);
        assert_int_equal(r->status, e->status);
        assert_string_equal(r->dsn, e->dsn);
        snprintf(want, sizeof(want), e->reason, port);
        assert_non_null(r->reason);
        if (!strstr(r->reason, want))
            fail_msg("reason \"%s\" lacks \"%s\"", r->reason, want);
        snprintf(relay, sizeof(relay), "%s[127.0.0.1]:%d",
                 tc->target == T_LOCALHOST ? "localhost" : "127.0.0.1", port);
        assert_non_null(d->relay);
        assert_string_equal(d->relay, e->relay_none ? "none" : relay);
    }

    assert_false(delivery_busy(tdv));
    delivery_free(tdv);
    loop_free(tl);
    dns_resolver_free(tdns);
    if (tc->target == T_SERVER || tc->target == T_LOCALHOST) {
        fs_stop(&fs);
        if (tc->accepts >= 0)
            assert_int_equal(atomic_load(&fs.accepts), tc->accepts);
        if (tc->mails >= 0)
            assert_int_equal(atomic_load(&fs.mails), tc->mails);
        if (tc->quits >= 0)
            assert_int_equal(atomic_load(&fs.quits), tc->quits);
    }
    for (int i = 0; i < nresults; i++)
        queue_delivery_free(results[i]);
    nresults = 0;
}

static void test_cases(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
}

/* a job arriving while the destination is dead gets the same verdict at once */
static void test_dead_hold(void **state)
{
    int port;
    char key[64];
    int fd = loopback_socket(&port);
    close(fd);
    snprintf(key, sizeof(key), "[127.0.0.1]:%d", port);
    assert_int_equal(loop_new(&tl, 64), 0);
    struct delivery_params p = {.loop = tl,
                                .helo_name = "tern.test",
                                .concurrency_limit = 2,
                                .idle_time_limit = 5,
                                .connect_timeout = 5,
                                .helo_timeout = 5,
                                .data_done_timeout = 5};
    assert_int_equal(delivery_new(&tdv, &p), 0);
    nresults = nlater = 0;
    shutdown_after_done = false;
    want_results = 1;
    delivery_enqueue(tdv, job_new("J0", key, "a@example.com"));
    assert_int_equal(loop_run(tl), 0);
    assert_int_equal(nresults, 1);
    want_results = 2;
    delivery_enqueue(tdv, job_new("J1", key, "b@example.com")); /* no connect: answered now */
    assert_int_equal(nresults, 2);
    assert_int_equal(results[1]->rcpt[0].status, RCPT_DEFERRED);
    assert_string_equal(results[1]->rcpt[0].reason, results[0]->rcpt[0].reason);
    assert_false(delivery_busy(tdv));
    delivery_free(tdv);
    loop_free(tl);
    for (int i = 0; i < nresults; i++)
        queue_delivery_free(results[i]);
    nresults = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_dead_hold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
