/*
 * test_delivery - the per-worker delivery engine against a scripted SMTP
 * server on loopback: connection reuse, reuse limit, per-recipient results,
 * a refused port, a refused greeting, the discard transport, shutdown.
 *
 * The queue is played by this file: queue_delivery_done() and
 * queue_store_body_load() are defined here, so the linker takes these instead of
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

#include <wolfssl/options.h> /* before any other wolfSSL header */
#include <wolfssl/wolfcrypt/ecc.h>

#include "core/delivery/delivery.h"
#include "core/base/tmpdir.h"
#include "core/delivery/delivery_tls.h"
#include "core/base/log.h"
#include "core/base/stats.h"
#include "core/base/time.h"
#include "tls/tls_cache.h"
#include "tls/tls_ctx.h"
#include "tls/tls_session.h"

/* ---------- a scripted SMTP server ---------- */

/* what the fake server does about STARTTLS */
enum fs_tls {
    FS_TLS_NONE = 0, /* not offered */
    FS_TLS_OK,       /* offered; 220, then a real handshake (tls_session, server side) */
    FS_TLS_454,      /* offered, refused with 454 */
    FS_TLS_BROKEN,   /* offered; 220, then garbage instead of a handshake, and hang up */
};

struct fake_server {
    int lfd, port;
    int wake[2];
    pthread_t th;
    const char *greeting; /* e.g. "220 fake ESMTP" */
    bool pipelining;
    enum fs_tls tls;
    struct tls_ctx *sctx; /* FS_TLS_OK */
    atomic_int accepts, mails, quits, dots;
    atomic_int closed; /* connections the server has finished with */
    atomic_int starttls, tls_ok, tls_resumed, tls_failed,
        tls_mails; /* tls_mails: MAIL inside TLS */
};

#define FS_MAX_CLIENTS 16

struct fs_client {
    int fd;
    bool in_data;
    char buf[8192];
    size_t len;
    struct tls_session *ts; /* after STARTTLS */
    bool handshaking;
    bool drop_rest; /* plaintext after STARTTLS is discarded */
    bool eof;       /* close_notify seen: hang up once the lines are answered */
};

/* fs_say - write bytes to a socket */
static void fs_say(int fd, const char *text)
{
    size_t n = strlen(text);
    if (send(fd, text, n, MSG_NOSIGNAL) != (ssize_t)n) {
        /* the client went away; its read will tell */
    }
}

/* fs_flush_tls - send what the TLS session has for the wire */
static void fs_flush_tls(struct fs_client *cl)
{
    struct buf wire = BUF_INIT;
    tls_session_take_output(cl->ts, &wire);
    if (buf_used(&wire) && send(cl->fd, buf_ptr(&wire), buf_used(&wire), MSG_NOSIGNAL) < 0) {
        /* the client went away */
    }
    buf_free(&wire);
}

/* fs_send - one reply, encrypted once TLS is on */
static void fs_send(struct fs_client *cl, const char *text)
{
    if (!cl->ts) {
        fs_say(cl->fd, text);
        return;
    }
    tls_session_write(cl->ts, text, strlen(text));
    fs_flush_tls(cl);
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
            fs_send(cl, reply);
        }
        return true;
    }
    if (strncasecmp(line, "EHLO", 4) == 0) {
        snprintf(reply, sizeof(reply), "250-fake\r\n%s%s250 8BITMIME\r\n",
                 fs->tls != FS_TLS_NONE && !cl->ts ? "250-STARTTLS\r\n" : "",
                 fs->pipelining ? "250-PIPELINING\r\n" : "");
        fs_send(cl, reply);
    } else if (strncasecmp(line, "STARTTLS", 8) == 0 && fs->tls != FS_TLS_NONE && !cl->ts) {
        atomic_fetch_add(&fs->starttls, 1);
        if (fs->tls == FS_TLS_454) {
            fs_send(cl, "454 4.7.0 TLS not available due to local problem\r\n");
            return true;
        }
        fs_send(cl, "220 2.0.0 Ready to start TLS\r\n");
        if (fs->tls == FS_TLS_BROKEN) {
            fs_say(cl->fd, "this is not a TLS record\r\n");
            return false;
        }
        assert_int_equal(tls_session_new(&cl->ts, fs->sctx, true, NULL), 0);
        cl->handshaking = true;
        cl->drop_rest = true;
    } else if (strncasecmp(line, "HELO", 4) == 0 || strncasecmp(line, "RSET", 4) == 0) {
        fs_send(cl, "250 Ok\r\n");
    } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
        atomic_fetch_add(&fs->mails, 1);
        if (cl->ts)
            atomic_fetch_add(&fs->tls_mails, 1);
        fs_send(cl, "250 2.1.0 Ok\r\n");
    } else if (strncasecmp(line, "RCPT TO:<drop", 13) == 0) {
        return false; /* hang up without a word */
    } else if (strncasecmp(line, "RCPT TO:<bad", 12) == 0) {
        fs_send(cl, "550 5.1.1 <bad@example.com>: Recipient address rejected\r\n");
    } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
        fs_send(cl, "250 2.1.5 Ok\r\n");
    } else if (strncasecmp(line, "DATA", 4) == 0) {
        cl->in_data = true;
        fs_send(cl, "354 End data with <CR><LF>.<CR><LF>\r\n");
    } else if (strncasecmp(line, "QUIT", 4) == 0) {
        atomic_fetch_add(&fs->quits, 1);
        fs_send(cl, "221 2.0.0 Bye\r\n");
        return false;
    } else {
        fs_send(cl, "502 5.5.2 Error: command not recognized\r\n");
    }
    return true;
}

/* fs_input - raw bytes from a client: through TLS when it is on; false to hang up */
static bool fs_input(struct fake_server *fs, struct fs_client *c, const char *raw, size_t n)
{
    if (!c->ts) {
        if (n > sizeof(c->buf) - 1 - c->len)
            return false;
        memcpy(c->buf + c->len, raw, n);
        c->len += n;
        return true;
    }
    tls_session_feed(c->ts, raw, n);
    if (c->handshaking) {
        int rc = tls_session_handshake(c->ts);
        fs_flush_tls(c);
        if (rc == -EAGAIN)
            return true;
        c->handshaking = false;
        if (rc < 0) {
            atomic_fetch_add(&fs->tls_failed, 1);
            return false;
        }
        atomic_fetch_add(&fs->tls_ok, 1);
        if (tls_session_info(c->ts)->reused)
            atomic_fetch_add(&fs->tls_resumed, 1);
    }
    struct buf plain = BUF_INIT;
    int rc;
    while ((rc = tls_session_read(c->ts, &plain)) > 0)
        ;
    fs_flush_tls(c);
    c->eof = rc == 0;
    bool ok = (rc == -EAGAIN || rc == 0) && buf_used(&plain) <= sizeof(c->buf) - 1 - c->len;
    if (ok) {
        memcpy(c->buf + c->len, buf_ptr(&plain), buf_used(&plain));
        c->len += buf_used(&plain);
    }
    buf_free(&plain);
    return ok;
}

/* fs_main - poll the listener and the clients until woken */
static void *fs_main(void *arg)
{
    struct fake_server *fs = arg;
    struct fs_client cl[FS_MAX_CLIENTS];
    size_t ncl = 0;
    char raw[8192];

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
            ssize_t n = read(c->fd, raw, sizeof(raw));
            bool keep = n > 0 && fs_input(fs, c, raw, (size_t)n);
            char *nl;
            while (keep && (nl = memchr(c->buf, '\n', c->len)) != NULL) {
                size_t used = (size_t)(nl - c->buf) + 1;
                *nl = 0;
                if (nl > c->buf && nl[-1] == '\r')
                    nl[-1] = 0;
                keep = fs_line(fs, c, c->buf);
                memmove(c->buf, c->buf + used, c->len - used);
                c->len -= used;
                if (c->drop_rest) {
                    c->drop_rest = false;
                    c->len = 0;
                }
            }
            if (c->eof)
                keep = false;
            if (!keep) {
                if (c->handshaking)
                    atomic_fetch_add(&fs->tls_failed, 1);
                tls_session_free(c->ts);
                close(c->fd);
                cl[i] = cl[--ncl];
                atomic_fetch_add(&fs->closed, 1);
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
    for (size_t i = 0; i < ncl; i++) {
        tls_session_free(cl[i].ts);
        close(cl[i].fd);
    }
    wc_ecc_fp_free(); /* wolfSSL's per-thread ECC point cache */
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

/* fs_start_tls - start a fake server with a STARTTLS behaviour (sctx for FS_TLS_OK) */
static void fs_start_tls(struct fake_server *fs, const char *greeting, bool pipelining,
                         enum fs_tls tls, struct tls_ctx *sctx)
{
    memset(fs, 0, sizeof(*fs));
    fs->greeting = greeting;
    fs->pipelining = pipelining;
    fs->tls = tls;
    fs->sctx = sctx;
    fs->lfd = loopback_socket(&fs->port);
    assert_int_equal(listen(fs->lfd, 16), 0);
    assert_int_equal(pipe(fs->wake), 0);
    assert_int_equal(pthread_create(&fs->th, NULL, fs_main, fs), 0);
}

static void fs_start(struct fake_server *fs, const char *greeting, bool pipelining)
{
    fs_start_tls(fs, greeting, pipelining, FS_TLS_NONE, NULL);
}

static void fs_stop(struct fake_server *fs)
{
    if (write(fs->wake[1], "x", 1) != 1)
        fail_msg("cannot wake the fake server");
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

static struct tern_runtime *switch_to; /* a reload: delivery_set_runtime() after the next result */
static int later_delay_ms;             /* the next job arrives this long after a result */
static struct loop_timer later_timer;
static struct queue_delivery *later_next;

/* later_timer_cb - the delayed next job arrives */
static void later_timer_cb(struct loop_timer *t)
{
    (void)t;
    delivery_enqueue(tdv, later_next);
}

void queue_delivery_done(struct queue *q, struct queue_delivery *d)
{
    assert_true(nresults < MAX_RESULTS);
    results[nresults++] = d;
    if (switch_to) {
        delivery_set_runtime(tdv, switch_to);
        switch_to = NULL;
    }
    if (nlater > 0) {
        /* Like the real queue: the next job arrives through the inbox. */
        struct queue_delivery *next = later[0];
        memmove(later, later + 1, sizeof(later[0]) * (size_t)--nlater);
        if (later_delay_ms > 0) {
            later_next = next;
            loop_timer_init(&later_timer, later_timer_cb);
            loop_timer_arm(tl, &later_timer, (uint64_t)later_delay_ms);
        } else {
            loop_post(tl, enqueue_later, next);
        }
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

int queue_store_body_load(struct queue *q, const char *qid, char **data, size_t *len)
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

/* the resolver's fd is readable: let it run callbacks (as daemon/worker does) */
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
        snprintf(key, sizeof(key), "%s", DELIVERY_DISCARD_KEY);
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

/* ---------- TLS ---------- */

static char tmpdir[256];
static struct tls_cache *tcache;       /* client sessions, server sessions and ticket keys */
static struct tern_tls_caches tcaches; /* .client = tcache */
static struct tls_ctx *sctx_good, *sctx_other; /* server.example.com by the test CA / another CA */

static int tls_setup(void **state)
{
    char err[256], path[128];
    (void)state;
    assert_int_equal(tmpdir_make(tmpdir, sizeof(tmpdir), "test_delivery"), 0);
    snprintf(path, sizeof(path), "%s/cache.lmdb", tmpdir);
    assert_int_equal(tls_cache_open(&tcache, path, 0), 0);
    tcaches.client = tcache;
    struct tls_ctx_params good = {.cert_file = TLS_DATA_DIR "/server-rsa.pem",
                                  .key_file = TLS_DATA_DIR "/server-rsa.key"};
    struct tls_ctx_params other = {.cert_file = TLS_DATA_DIR "/other.pem",
                                   .key_file = TLS_DATA_DIR "/other.key"};
    assert_int_equal(tls_ctx_new(&sctx_good, true, &good, err, sizeof(err)), 0);
    assert_int_equal(tls_ctx_use_cache(sctx_good, tcache, 3600), 0);
    assert_int_equal(tls_ctx_new(&sctx_other, true, &other, err, sizeof(err)), 0);
    return 0;
}

static int tls_teardown(void **state)
{
    char cmd[128];
    (void)state;
    tls_ctx_free(sctx_good);
    tls_ctx_free(sctx_other);
    tls_cache_close(tcache);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        print_message("could not remove %s\n", tmpdir);
    return 0;
}

/* make_rt - a runtime with just the client TLS settings a delivery reads */
static struct tern_runtime *make_rt(enum tls_level level, const char *vmatch, const char *smatch,
                                    bool cache)
{
    struct tern_runtime *rt = calloc(1, sizeof(*rt));
    struct tern_tls *t = calloc(1, sizeof(*t));
    char err[256];
    assert_non_null(rt);
    assert_non_null(t);
    atomic_init(&rt->refs, 1);
    atomic_init(&t->refs, 1); /* runtime_unref -> tlsconf_unref frees it (LeakSanitizer) */
    rt->tls = t;
    t->smtp_level = level;
    t->smtp_loglevel = 1;
    t->smtp_note_starttls_offer = true;
    t->smtp_cache_timeout = 3600;
    /* the policy decides the level and the names, as runtime.c builds it */
    struct policy_tls_site_params sp = {.global_level = (enum policy_tls_level)level,
                                        .verify_cert_match = vmatch,
                                        .secure_cert_match = smatch};
    char *perr = NULL;
    assert_int_equal(policy_tls_sites_new(&rt->tls_sites, &sp, &perr), 0);
    snprintf(t->smtp_settings_digest, sizeof(t->smtp_settings_digest), "00112233aabbccdd");
    t->caches = cache ? &tcaches : NULL;
    if (level > TLS_LEVEL_NONE) {
        struct tls_ctx_params cp = {.CAfile = TLS_DATA_DIR "/ca.pem"};
        assert_int_equal(tls_ctx_new(&t->client_ctx, false, &cp, err, sizeof(err)), 0);
    }
    return rt;
}

struct tls_case {
    const char *name;
    enum tls_level level;
    enum fs_tls server;
    bool other_cert;    /* server presents a certificate of an unknown CA */
    const char *vmatch; /* smtp_tls_verify_cert_match (NULL: hostname) */
    const char *smatch; /* smtp_tls_secure_cert_match (NULL: nexthop, dot-nexthop) */
    int status;
    const char *dsn;
    const char *reason;                            /* substring */
    int starttls, tls_ok, mails, tls_mails, quits; /* server counts; -1: not checked */
};

#define PEER "127.0.0.1[127.0.0.1]"

static const struct tls_case tls_cases[] = {
    {"none: STARTTLS offered, never used", TLS_LEVEL_NONE, FS_TLS_OK, false, NULL, NULL, RCPT_SENT,
     "2.0.0", "queued as", 0, 0, 1, 0, -1},
    {"may: TLS when offered", TLS_LEVEL_MAY, FS_TLS_OK, false, NULL, NULL, RCPT_SENT, "2.0.0",
     "queued as", 1, 1, 1, 1, -1},
    {"may: plaintext when not offered", TLS_LEVEL_MAY, FS_TLS_NONE, false, NULL, NULL, RCPT_SENT,
     "2.0.0", "queued as", 0, 0, 1, 0, -1},
    {"may: STARTTLS refused, plaintext on the same connection", TLS_LEVEL_MAY, FS_TLS_454, false,
     NULL, NULL, RCPT_SENT, "2.0.0", "queued as", 1, 0, 1, 0, -1},
    {"may: any certificate will do", TLS_LEVEL_MAY, FS_TLS_OK, true, NULL, NULL, RCPT_SENT, "2.0.0",
     "queued as", 1, 1, 1, 1, -1},
    {"may: broken handshake defers 4.7.5", TLS_LEVEL_MAY, FS_TLS_BROKEN, false, NULL, NULL,
     RCPT_DEFERRED, "4.7.5", "Cannot start TLS: handshake failure", 1, 0, 0, 0, -1},
    {"encrypt: not offered, deferred, nothing sent", TLS_LEVEL_ENCRYPT, FS_TLS_NONE, false, NULL,
     NULL, RCPT_DEFERRED, "4.7.5", "TLS is required, but was not offered by host " PEER, 0, 0, 0, 0,
     1},
    {"encrypt: STARTTLS refused, deferred, nothing sent", TLS_LEVEL_ENCRYPT, FS_TLS_454, false,
     NULL, NULL, RCPT_DEFERRED, "4.7.5",
     "host " PEER " said: 454 4.7.0 TLS not available due to local problem (in reply to STARTTLS "
     "command)",
     1, 0, 0, 0, 1},
    {"encrypt: untrusted certificate is fine", TLS_LEVEL_ENCRYPT, FS_TLS_OK, true, NULL, NULL,
     RCPT_SENT, "2.0.0", "queued as", 1, 1, 1, 1, -1},
    {"encrypt: broken handshake defers", TLS_LEVEL_ENCRYPT, FS_TLS_BROKEN, false, NULL, NULL,
     RCPT_DEFERRED, "4.7.5", "Cannot start TLS: handshake failure", 1, 0, 0, 0, -1},
    {"verify: hostname 127.0.0.1 does not match server.example.com", TLS_LEVEL_VERIFY, FS_TLS_OK,
     false, NULL, NULL, RCPT_DEFERRED, "4.7.5", "Server certificate not verified", 1, 1, 0, 0, 1},
    {"verify: untrusted CA", TLS_LEVEL_VERIFY, FS_TLS_OK, true, "server.example.com", NULL,
     RCPT_DEFERRED, "4.7.5", "Server certificate not trusted", 1, 1, 0, 0, 1},
    {"verify: literal name matches", TLS_LEVEL_VERIFY, FS_TLS_OK, false,
     "hostname, server.example.com", NULL, RCPT_SENT, "2.0.0", "queued as", 1, 1, 1, 1, -1},
    {"verify: wildcard SAN via a literal name", TLS_LEVEL_VERIFY, FS_TLS_OK, false,
     "mx1.relay.example.com", NULL, RCPT_SENT, "2.0.0", "queued as", 1, 1, 1, 1, -1},
    {"secure: nexthop 127.0.0.1 does not match", TLS_LEVEL_SECURE, FS_TLS_OK, false, NULL, NULL,
     RCPT_DEFERRED, "4.7.5", "Server certificate not verified", 1, 1, 0, 0, 1},
    {"secure: .example.com matches a subdomain", TLS_LEVEL_SECURE, FS_TLS_OK, false, NULL,
     ".example.com", RCPT_SENT, "2.0.0", "queued as", 1, 1, 1, 1, -1},
    {"secure: not offered", TLS_LEVEL_SECURE, FS_TLS_NONE, false, NULL, ".example.com",
     RCPT_DEFERRED, "4.7.5", "TLS is required, but was not offered", 0, 0, 0, 0, 1},
};

static int deliver_reuse_time; /* reuse_time_limit of deliver() */

/* deliver - run one job per entry of qids to key with rt; results land in results[] */
static void deliver(struct tern_runtime *rt, const char *key, int njobs, int reuse_limit)
{
    struct delivery_params p = {.loop = tl,
                                .helo_name = "tern.test",
                                .concurrency_limit = 1,
                                .reuse_count_limit = reuse_limit,
                                .reuse_time_limit = deliver_reuse_time,
                                .idle_time_limit = 5,
                                .connect_timeout = 5,
                                .helo_timeout = 5,
                                .data_done_timeout = 5,
                                .pipelining = true,
                                .rt = rt};
    assert_int_equal(loop_new(&tl, 256), 0);
    p.loop = tl;
    assert_int_equal(delivery_new(&tdv, &p), 0);
    nresults = nlater = 0;
    want_results = njobs;
    shutdown_after_done = true;
    for (int i = 0; i < njobs; i++) {
        char qid[8];
        snprintf(qid, sizeof(qid), "T%d", i & 7);
        struct queue_delivery *d = job_new(qid, key, "a@example.com");
        if (i > 0)
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
    assert_false(delivery_busy(tdv));
    delivery_free(tdv);
    loop_free(tl);
}

static void free_results(void)
{
    for (int i = 0; i < nresults; i++)
        queue_delivery_free(results[i]);
    nresults = 0;
}

/* test_pool_retire - a pooled connection takes no new job after a reload (its TLS policy is the
 * old generation's) nor after smtp_connection_reuse_time_limit; without either it is reused */
static void test_pool_retire(void **state)
{
    (void)state;
    const struct {
        const char *name;
        bool reload;    /* a new config generation between the jobs */
        int reuse_time; /* smtp_connection_reuse_time_limit */
        int delay_ms;   /* the second job arrives this long after the first is done */
        int accepts;
    } retire[] = {
        {"control: no reload, one connection", false, 300, 0, 1},
        {"a reload between two jobs: a new connection", true, 300, 0, 2},
        {"open longer than the reuse time limit: a new connection", false, 1, 1500, 2},
        {"control: the same wait within the limit, one connection", false, 300, 1500, 1},
    };
    for (size_t i = 0; i < sizeof(retire) / sizeof(retire[0]); i++) {
        struct fake_server fs;
        char key[64];
        fs_start(&fs, "220 fake ESMTP", false);
        snprintf(key, sizeof(key), "[127.0.0.1]:%d", fs.port);
        struct tern_runtime *rt = make_rt(TLS_LEVEL_NONE, NULL, NULL, false);
        struct tern_runtime *rt2 = make_rt(TLS_LEVEL_NONE, NULL, NULL, false);
        switch_to = retire[i].reload ? rt2 : NULL;
        deliver_reuse_time = retire[i].reuse_time;
        later_delay_ms = retire[i].delay_ms;
        deliver(rt, key, 2, 0);
        switch_to = NULL;
        deliver_reuse_time = later_delay_ms = 0;
        fs_stop(&fs);
        for (int r = 0; r < nresults; r++)
            assert_int_equal(results[r]->rcpt[0].status, RCPT_SENT);
        if (atomic_load(&fs.accepts) != retire[i].accepts)
            fail_msg("%s: %d connections, want %d", retire[i].name, atomic_load(&fs.accepts),
                     retire[i].accepts);
        assert_int_equal(atomic_load(&fs.mails), 2);
        runtime_unref(rt);
        runtime_unref(rt2);
        free_results();
    }
}

static void test_tls_levels(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(tls_cases) / sizeof(tls_cases[0]); i++) {
        const struct tls_case *tc = &tls_cases[i];
        struct fake_server fs;
        char key[64];

        print_message("tls case: %s\n", tc->name);
        fs_start_tls(&fs, "220 fake ESMTP", true, tc->server,
                     tc->other_cert ? sctx_other : sctx_good);
        snprintf(key, sizeof(key), "[127.0.0.1]:%d", fs.port);
        struct tern_runtime *rt = make_rt(tc->level, tc->vmatch, tc->smatch, false);
        deliver(rt, key, 1, 0);
        runtime_unref(rt);
        /* tern may hang up right after its last bytes: give the server thread (bounded) time
         * to read everything and see each connection end before it is stopped */
        for (int ms = 0; ms < 2000 && atomic_load(&fs.closed) < atomic_load(&fs.accepts); ms++)
            usleep(1000);
        fs_stop(&fs);

        struct queue_delivery_rcpt *r = &results[0]->rcpt[0];
        assert_int_equal(r->status, tc->status);
        assert_string_equal(r->dsn, tc->dsn);
        if (!strstr(r->reason, tc->reason))
            fail_msg("reason \"%s\" lacks \"%s\"", r->reason, tc->reason);
        assert_int_equal(atomic_load(&fs.starttls), tc->starttls);
        assert_int_equal(atomic_load(&fs.tls_ok), tc->tls_ok);
        assert_int_equal(atomic_load(&fs.mails), tc->mails);
        assert_int_equal(atomic_load(&fs.tls_mails), tc->tls_mails);
        if (tc->quits >= 0)
            assert_int_equal(atomic_load(&fs.quits), tc->quits);
        free_results();
    }
}

static struct queue_delivery *retry_job;
static void retry_cb(struct loop_timer *t)
{
    (void)t;
    delivery_enqueue(tdv, retry_job);
}

/* may: after a failed handshake the next attempt to that address goes in plaintext */
static void test_may_plaintext_retry(void **state)
{
    struct fake_server fs;
    char key[64];
    (void)state;

    fs_start_tls(&fs, "220 fake ESMTP", true, FS_TLS_BROKEN, NULL);
    snprintf(key, sizeof(key), "[127.0.0.1]:%d", fs.port);
    assert_int_equal(loop_new(&tl, 256), 0);
    struct tern_runtime *rt = make_rt(TLS_LEVEL_MAY, NULL, NULL, false);
    struct delivery_params p = {.loop = tl,
                                .helo_name = "tern.test",
                                .concurrency_limit = 1,
                                .idle_time_limit = 5,
                                .connect_timeout = 5,
                                .helo_timeout = 5,
                                .data_done_timeout = 5,
                                .pipelining = true,
                                .rt = rt};
    assert_int_equal(delivery_new(&tdv, &p), 0);
    nresults = nlater = 0;
    shutdown_after_done = true;
    want_results = 2;
    delivery_enqueue(tdv, job_new("R0", key, "a@example.com"));
    /* The queue retries later: past the destination's dead hold. */
    struct loop_timer retry;
    loop_timer_init(&retry, retry_cb);
    retry_job = job_new("R1", key, "b@example.com");
    loop_timer_arm(tl, &retry, 1300);
    struct loop_timer guard;
    loop_timer_init(&guard, guard_cb);
    loop_timer_arm(tl, &guard, 10000);
    assert_int_equal(loop_run(tl), 0);
    loop_timer_cancel(tl, &guard);
    assert_int_equal(nresults, 2);
    assert_string_equal(results[0]->qid, "R0");
    assert_int_equal(results[0]->rcpt[0].status, RCPT_DEFERRED);
    assert_string_equal(results[0]->rcpt[0].dsn, "4.7.5");
    assert_int_equal(results[1]->rcpt[0].status, RCPT_SENT);
    assert_false(delivery_busy(tdv));
    delivery_free(tdv);
    loop_free(tl);
    runtime_unref(rt);
    fs_stop(&fs);
    assert_int_equal(atomic_load(&fs.starttls), 1); /* the retry did not try TLS */
    assert_int_equal(atomic_load(&fs.mails), 1);
    assert_int_equal(atomic_load(&fs.tls_mails), 0);
    free_results();
}

/* a second connection resumes the session the first one cached (TLS 1.3 ticket) */
static void test_resumption(void **state)
{
    struct fake_server fs;
    char key[64];
    (void)state;

    tls_cache_purge(tcache, TLS_CACHE_CLIENT);
    uint64_t full = stats_get(STAT_TLS_OUT_FULL), resumed = stats_get(STAT_TLS_OUT_RESUMED);
    uint64_t hit = stats_get(STAT_TLS_CACHE_HIT);
    fs_start_tls(&fs, "220 fake ESMTP", true, FS_TLS_OK, sctx_good);
    snprintf(key, sizeof(key), "[127.0.0.1]:%d", fs.port);
    struct tern_runtime *rt = make_rt(TLS_LEVEL_VERIFY, "server.example.com", NULL, true);
    deliver(rt, key, 3, 1); /* reuse limit 1: a new connection per job */
    /* A new delivery engine (as after a restart) still finds the session in the cache. */
    free_results();
    deliver(rt, key, 1, 1);
    runtime_unref(rt);
    fs_stop(&fs);
    assert_int_equal(results[0]->rcpt[0].status, RCPT_SENT);
    assert_int_equal(atomic_load(&fs.accepts), 4);
    assert_int_equal(atomic_load(&fs.tls_ok), 4);
    assert_int_equal(atomic_load(&fs.tls_mails), 4);
    assert_int_equal(atomic_load(&fs.tls_resumed), 3);
    assert_int_equal(stats_get(STAT_TLS_OUT_FULL) - full, 1);
    assert_int_equal(stats_get(STAT_TLS_OUT_RESUMED) - resumed, 3);
    assert_int_equal(stats_get(STAT_TLS_CACHE_HIT) - hit, 3);
    free_results();
}

/* the pure helpers: SNI, cache keys, the fail memory */
static void test_tls_helpers(void **state)
{
    (void)state;
    static const struct {
        const char *host, *sni;
    } snis[] = {{"mx.example.com", "mx.example.com"},
                {"192.0.2.1", NULL},
                {"2001:db8::1", NULL},
                {"", NULL}};
    for (size_t i = 0; i < sizeof(snis) / sizeof(snis[0]); i++) {
        struct delivery_tls_peer p = {"example.com", snis[i].host, "192.0.2.1", 25, NULL, false};
        const char *got = delivery_tls_sni(&p);
        if (snis[i].sni)
            assert_string_equal(got, snis[i].sni);
        else
            assert_null(got);
    }

    struct tern_tls t = {.smtp_settings_digest = "0011223344556677"};
    struct delivery_tls_peer p = {"example.com", "mx.example.com", "192.0.2.1", 25, NULL, false};
    char key[256], key2[256], tiny[16];
    assert_int_equal(delivery_tls_cache_key(&t, TLS_LEVEL_VERIFY, &p, key, sizeof(key)), 0);
    assert_string_equal(key,
                        "smtp&example.com&mx.example.com&192.0.2.1&25&verify&0011223344556677");
    /* a weaker level never finds the stronger level's session, nor the other way round */
    assert_int_equal(delivery_tls_cache_key(&t, TLS_LEVEL_MAY, &p, key2, sizeof(key2)), 0);
    assert_string_not_equal(key, key2);
    assert_int_equal(delivery_tls_cache_key(&t, TLS_LEVEL_MAY, &p, tiny, sizeof(tiny)),
                     -ENAMETOOLONG);
    /* dane: the TLSA records' digest is part of the key */
    p.tlsa = "0123456789abcdef";
    assert_int_equal(delivery_tls_cache_key(&t, TLS_LEVEL_DANE, &p, key, sizeof(key)), 0);
    assert_string_equal(key, "smtp&example.com&mx.example.com&192.0.2.1&25&dane&0011223344556677"
                             "&tlsa=0123456789abcdef");

    struct delivery_tls_failmem *m;
    assert_int_equal(delivery_tls_failmem_new(&m), 0);
    assert_false(delivery_tls_failmem_has(m, "[a]:25", "192.0.2.1", 1000));
    delivery_tls_failmem_add(m, "[a]:25", "192.0.2.1", 2000);
    assert_true(delivery_tls_failmem_has(m, "[a]:25", "192.0.2.1", 1999));
    assert_false(delivery_tls_failmem_has(m, "[a]:25", "192.0.2.2", 1999));
    assert_false(delivery_tls_failmem_has(m, "[a]:2525", "192.0.2.1", 1999));
    assert_false(
        delivery_tls_failmem_has(m, "[a]:25", "192.0.2.1", 2000)); /* expired, and dropped */
    assert_false(delivery_tls_failmem_has(m, "[a]:25", "192.0.2.1", 0));
    for (int i = 0; i < 1000; i++) { /* bounded: the oldest make room */
        char addr[32];
        snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 256, i % 256);
        delivery_tls_failmem_add(m, "[b]:25", addr, 5000 + (uint64_t)i);
    }
    assert_true(delivery_tls_failmem_has(m, "[b]:25", "10.0.3.231", 0)); /* i = 999 */
    assert_false(delivery_tls_failmem_has(m, "[b]:25", "10.0.0.0", 0));  /* i = 0 */
    delivery_tls_failmem_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_dead_hold),
        cmocka_unit_test(test_pool_retire),
        cmocka_unit_test(test_tls_helpers),
        cmocka_unit_test_setup_teardown(test_tls_levels, tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(test_may_plaintext_retry, tls_setup, tls_teardown),
        cmocka_unit_test_setup_teardown(test_resumption, tls_setup, tls_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wc_ecc_fp_free();
    return rc;
}
