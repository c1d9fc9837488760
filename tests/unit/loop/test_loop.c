/*
 * test_loop - the io_uring loop and connections: timers, cross-thread posts,
 * an echo over a real TCP connection on loopback, connect failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop/conn.h"
#include "core/loop/loop.h"
#include "tls/tls_ctx.h"
#include "tls/tls_session.h"

#ifndef TLS_DATA_DIR
#define TLS_DATA_DIR "tests/unit/tls/data"
#endif

/* --- timers fire in deadline order, cancelled ones never --- */
static int fired[8], nfired;
static struct loop *tl;
struct tagged_timer {
    struct loop_timer t;
    int tag;
};
static void timer_cb(struct loop_timer *t)
{
    struct tagged_timer *tt = (struct tagged_timer *)t;
    fired[nfired++] = tt->tag;
    if (nfired == 3)
        loop_stop(tl);
}

static void test_timers(void **state)
{
    assert_int_equal(loop_new(&tl, 64), 0);
    struct tagged_timer a = {.tag = 1}, b = {.tag = 2}, c = {.tag = 3}, d = {.tag = 4};
    loop_timer_init(&a.t, timer_cb);
    loop_timer_init(&b.t, timer_cb);
    loop_timer_init(&c.t, timer_cb);
    loop_timer_init(&d.t, timer_cb);
    loop_timer_arm(tl, &a.t, 30);
    loop_timer_arm(tl, &b.t, 10);
    loop_timer_arm(tl, &d.t, 5);
    loop_timer_arm(tl, &c.t, 20);
    loop_timer_cancel(tl, &d.t);
    assert_false(loop_timer_armed(&d.t));
    nfired = 0;
    assert_int_equal(loop_run(tl), 0);
    assert_int_equal(nfired, 3);
    assert_int_equal(fired[0], 2);
    assert_int_equal(fired[1], 3);
    assert_int_equal(fired[2], 1);
    loop_free(tl);
}

/* --- posts from other threads all run, on the loop thread --- */
#define POSTERS 4
#define POSTS 1000
static int post_count;
static pthread_t loop_thread;
static void post_cb(void *arg)
{
    assert_true(pthread_equal(pthread_self(), loop_thread));
    if (++post_count == POSTERS * POSTS)
        loop_stop(tl);
}
static void *poster(void *arg)
{
    for (int i = 0; i < POSTS; i++)
        assert_int_equal(loop_post(tl, post_cb, NULL), 0);
    return NULL;
}

static void guard_cb(struct loop_timer *t)
{
    loop_stop(tl);
}

static void test_post(void **state)
{
    assert_int_equal(loop_new(&tl, 64), 0);
    loop_thread = pthread_self();
    pthread_t th[POSTERS];
    for (int i = 0; i < POSTERS; i++)
        pthread_create(&th[i], NULL, poster, NULL);
    struct loop_timer guard;
    loop_timer_init(&guard, guard_cb); /* a stuck loop ends the test, not CI */
    loop_timer_arm(tl, &guard, 10000);
    loop_run(tl);
    for (int i = 0; i < POSTERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(post_count, POSTERS * POSTS);
    loop_free(tl);
}

/* --- what was posted before loop_stop() runs before loop_run() returns (the drain: a
 * delivery the queue posted just before a worker stopped was lost and leaked) --- */
#define LATE_ROUNDS 200
static atomic_int late_ran;
static void late_cb(void *arg)
{
    atomic_fetch_add(&late_ran, 1);
}
static void *late_runner(void *arg)
{
    loop_run(arg);
    return NULL;
}

static void test_post_then_stop(void **state)
{
    for (int r = 0; r < LATE_ROUNDS; r++) {
        struct loop *l;
        assert_int_equal(loop_new(&l, 8), 0);
        atomic_store(&late_ran, 0);
        pthread_t th;
        pthread_create(&th, NULL, late_runner, l);
        usleep(r % 4 == 0 ? 1000 : 0); /* sometimes the loop waits on its ring, sometimes not yet */
        assert_int_equal(loop_post(l, late_cb, NULL), 0);
        loop_stop(l);
        pthread_join(th, NULL);
        if (atomic_load(&late_ran) != 1)
            fail_msg("round %d: a post made before loop_stop() ran %d times", r,
                     atomic_load(&late_ran));
        loop_free(l);
    }
}

/* --- a conn connects to a loopback echo server and reads its bytes back --- */
static char got[64];
static size_t gotlen;
static int connect_err = 1, closed_err = 1;
static void c_connected(struct conn *c, void *owner, int err)
{
    connect_err = err;
    if (err == 0) {
        buf_puts(conn_out(c), "hello, ring\n");
        conn_flush(c);
    } else {
        loop_stop(tl);
    }
}
static void c_data(struct conn *c, void *owner, const char *data, size_t len)
{
    memcpy(got + gotlen, data, len);
    gotlen += len;
    if (gotlen >= 12)
        conn_close(c);
}
static void c_closed(struct conn *c, void *owner, int err)
{
    closed_err = err;
    loop_stop(tl);
}
static const struct conn_ops c_ops = {.connected = c_connected, .data = c_data, .closed = c_closed};

static void *echo_server(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    char b[64];
    ssize_t n = read(fd, b, sizeof(b));
    if (n > 0 && write(fd, b, (size_t)n) != n)
        n = -1;
    while (read(fd, b, sizeof(b)) > 0) /* until the client closes */
        ;
    close(fd);
    return NULL;
}

static int listen_loopback(struct sockaddr_in *sin)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(*sin);
    bind(lfd, (struct sockaddr *)sin, len);
    listen(lfd, 4);
    getsockname(lfd, (struct sockaddr *)sin, &len);
    return lfd;
}

static void test_conn_echo(void **state)
{
    struct sockaddr_in sin;
    int lfd = listen_loopback(&sin);
    pthread_t th;
    pthread_create(&th, NULL, echo_server, &lfd);
    assert_int_equal(loop_new(&tl, 64), 0);
    struct conn *c;
    assert_int_equal(conn_connect(&c, tl, (struct sockaddr *)&sin, sizeof(sin), 5000, &c_ops, NULL), 0);
    loop_run(tl);
    assert_int_equal(connect_err, 0);
    assert_int_equal(closed_err, 0);
    assert_int_equal(gotlen, 12);
    assert_memory_equal(got, "hello, ring\n", 12);
    pthread_join(th, NULL);
    close(lfd);
    loop_free(tl);
}

static void test_conn_refused(void **state)
{
    struct sockaddr_in sin;
    int lfd = listen_loopback(&sin);
    close(lfd); /* nobody listens on that port now */
    assert_int_equal(loop_new(&tl, 64), 0);
    struct conn *c;
    connect_err = 1;
    assert_int_equal(conn_connect(&c, tl, (struct sockaddr *)&sin, sizeof(sin), 5000, &c_ops, NULL), 0);
    loop_run(tl);
    assert_int_equal(connect_err, -ECONNREFUSED);
    loop_free(tl);
}

/* --- TLS inside conns: "220 go" in the clear, then a handshake and data both ways --- */
struct tls_end {
    struct conn *c;
    bool server;
    struct tls_ctx *ctx;
    struct buf got;
    int hs_err;
    bool hs_done;
};
static struct tls_end srv_end, cli_end;
static int tls_closed;

static void tls_done(struct conn *c, void *owner, int err)
{
    struct tls_end *e = owner;
    e->hs_err = err;
    e->hs_done = true;
    if (err) {
        loop_stop(tl);
        return;
    }
    if (e->server)
        buf_puts(conn_out(c), "secret from server\r\n");
    conn_flush(c);
}
static void tls_data(struct conn *c, void *owner, const char *data, size_t len)
{
    struct tls_end *e = owner;
    buf_append(&e->got, data, len);
    if (!e->server && !conn_tls(c) && strstr(buf_ptr(&e->got), "220 go\r\n")) {
        buf_reset(&e->got);
        struct tls_session *ts;
        assert_int_equal(tls_session_new(&ts, e->ctx, false, "localhost"), 0);
        assert_int_equal(conn_start_tls(c, ts, tls_done), 0);
    } else if (!e->server && strstr(buf_ptr(&e->got), "secret from server\r\n")) {
        buf_puts(conn_out(c), "secret from client\r\n");
        conn_flush(c);
    } else if (e->server && strstr(buf_ptr(&e->got), "secret from client\r\n")) {
        conn_close(c);
    }
}
static void tls_closed_cb(struct conn *c, void *owner, int err)
{
    if (++tls_closed == 2)
        loop_stop(tl);
}
static void tls_connected(struct conn *c, void *owner, int err)
{
    assert_int_equal(err, 0);
}
static const struct conn_ops tls_ops = {
    .connected = tls_connected, .data = tls_data, .closed = tls_closed_cb};

static struct loop_op accept_op;
static void tls_accept_cb(struct loop_op *op, int res, unsigned flags)
{
    assert_true(res >= 0);
    assert_int_equal(conn_new(&srv_end.c, tl, res, &tls_ops, &srv_end), 0);
    buf_puts(conn_out(srv_end.c), "220 go\r\n");
    struct tls_session *ts;
    assert_int_equal(tls_session_new(&ts, srv_end.ctx, true, NULL), 0);
    assert_int_equal(conn_start_tls(srv_end.c, ts, tls_done), 0);
}

static void test_conn_tls(void **state)
{
    char err[256];
    struct tls_ctx_params sp = {.cert_file = TLS_DATA_DIR "/server-rsa.pem",
                                .key_file = TLS_DATA_DIR "/server-rsa.key"};
    struct tls_ctx_params cp = {.CAfile = TLS_DATA_DIR "/ca.pem"};
    srv_end = (struct tls_end){.server = true};
    cli_end = (struct tls_end){.server = false};
    if (tls_ctx_new(&srv_end.ctx, true, &sp, err, sizeof(err)) < 0)
        fail_msg("server ctx: %s", err);
    if (tls_ctx_new(&cli_end.ctx, false, &cp, err, sizeof(err)) < 0)
        fail_msg("client ctx: %s", err);
    struct sockaddr_in sin;
    int lfd = listen_loopback(&sin);
    assert_int_equal(loop_new(&tl, 64), 0);
    accept_op.cb = tls_accept_cb;
    struct io_uring_sqe *sqe = loop_sqe(tl);
    io_uring_prep_accept(sqe, lfd, NULL, NULL, 0);
    loop_op_arm(sqe, &accept_op);
    assert_int_equal(conn_connect(&cli_end.c, tl, (struct sockaddr *)&sin, sizeof(sin), 5000,
                                  &tls_ops, &cli_end), 0);
    struct loop_timer guard;
    loop_timer_init(&guard, guard_cb);
    loop_timer_arm(tl, &guard, 10000);
    tls_closed = 0;
    loop_run(tl);
    assert_int_equal(srv_end.hs_err, 0);
    assert_int_equal(cli_end.hs_err, 0);
    assert_true(srv_end.hs_done && cli_end.hs_done);
    assert_int_equal(tls_closed, 2);
    assert_non_null(strstr(buf_ptr(&srv_end.got), "secret from client"));
    buf_free(&srv_end.got);
    buf_free(&cli_end.got);
    close(lfd);
    loop_free(tl);
    tls_ctx_free(srv_end.ctx);
    tls_ctx_free(cli_end.ctx);
}

/* --- backpressure: a peer that writes and never reads is not read either --- */
#define BP_AMP 16              /* output octets per input octet, like replies to "EHLO x" */
#define BP_TARGET (128 * 1024) /* what the peer sends in all */
static struct {
    struct conn *c;
    int peer;
    size_t in, sent, got, max_unsent, in_at_stall;
    int phase, ticks;
    struct loop_timer tick;
} bp;

static void bp_data(struct conn *c, void *owner, const char *data, size_t len)
{
    bp.in += len;
    for (int i = 0; i < BP_AMP; i++)
        buf_append(conn_out(c), data, len);
    conn_flush(c);
    if (conn_unsent(c) > bp.max_unsent)
        bp.max_unsent = conn_unsent(c);
}
static void bp_closed(struct conn *c, void *owner, int err)
{
    bp.c = NULL;
    loop_stop(tl);
}
static const struct conn_ops bp_ops = {.data = bp_data, .closed = bp_closed};

/* bp_tick - the peer: 0.5 s of writing only, then reading everything while writing the rest */
static void bp_tick(struct loop_timer *t)
{
    static char chunk[16384];
    if (bp.phase == 0 && ++bp.ticks > 250) {
        bp.in_at_stall = bp.in;
        bp.phase = 1;
    }
    while (bp.sent < BP_TARGET) {
        size_t n = BP_TARGET - bp.sent < sizeof(chunk) ? BP_TARGET - bp.sent : sizeof(chunk);
        memset(chunk, 'a' + (int)(bp.sent % 26), n);
        ssize_t w = send(bp.peer, chunk, n, MSG_DONTWAIT);
        if (w <= 0)
            break;
        bp.sent += (size_t)w;
    }
    for (ssize_t r; bp.phase == 1 && (r = recv(bp.peer, chunk, sizeof(chunk), MSG_DONTWAIT)) > 0;)
        bp.got += (size_t)r;
    if (bp.got == (size_t)BP_TARGET * BP_AMP) {
        conn_close(bp.c); /* everything was sent: closes at once, bp_closed() stops the loop */
        return;
    }
    loop_timer_arm(tl, &bp.tick, 2);
}

/* small_buffers - 4 KiB socket buffers: the kernel absorbs little, so conn's own bound shows */
static void small_buffers(int fd, int which)
{
    int size = 4096;
    setsockopt(fd, SOL_SOCKET, which, &size, sizeof(size));
}

/* accepted_pair - a connected peer socket (small receive buffer) and the accepted fd */
static int accepted_pair(int *peer)
{
    struct sockaddr_in sin;
    int lfd = listen_loopback(&sin);
    *peer = socket(AF_INET, SOCK_STREAM, 0);
    small_buffers(*peer, SO_RCVBUF);
    small_buffers(*peer, SO_SNDBUF);
    assert_int_equal(connect(*peer, (struct sockaddr *)&sin, sizeof(sin)), 0);
    int fd = accept(lfd, NULL, NULL);
    assert_true(fd >= 0);
    close(lfd);
    small_buffers(fd, SO_SNDBUF);
    small_buffers(fd, SO_RCVBUF);
    return fd;
}

static void test_conn_backpressure(void **state)
{
    memset(&bp, 0, sizeof(bp));
    assert_int_equal(loop_new(&tl, 64), 0);
    int fd = accepted_pair(&bp.peer);
    assert_int_equal(conn_new(&bp.c, tl, fd, &bp_ops, NULL), 0);
    loop_timer_init(&bp.tick, bp_tick);
    loop_timer_arm(tl, &bp.tick, 1);
    struct loop_timer guard;
    loop_timer_init(&guard, guard_cb);
    loop_timer_arm(tl, &guard, 30000);
    loop_run(tl);
    loop_timer_cancel(tl, &guard);
    /* the conn stopped reading while its output could not leave ... */
    assert_true(bp.in_at_stall < BP_TARGET / 2);
    /* ... with no more unsent than the high-water mark plus what one receive made */
    assert_true(bp.max_unsent <= CONN_OUT_HIGH + (size_t)BP_AMP * CONN_RECV_SIZE);
    /* and read again as the peer read: everything arrived, nothing lost */
    assert_int_equal(bp.in, BP_TARGET);
    assert_int_equal(bp.got, (size_t)BP_TARGET * BP_AMP);
    assert_null(bp.c);
    close(bp.peer);
    loop_free(tl);
}

/* --- write timeouts: per request, per write, and a close that cannot flush --- */
struct wt_case {
    const char *name;
    bool per_request;
    bool peer_reads; /* 2 KiB every 50 ms */
    bool close_first;
    int err;         /* closed() reports */
    unsigned min_ms; /* not before */
    unsigned timeout_ms; /* the write timeout: per write, it must outlast a stalled tick under a
                          * loaded ASan run (300 ms did not, once) yet stay below the whole
                          * transfer, so that a timeout per request would still fail the case */
};
static struct {
    const struct wt_case *k;
    struct conn *c;
    int peer;
    size_t got;
    int err;
    bool closed;
    unsigned ticks;
    struct loop_timer tick;
} wt;
#define WT_OUT (64 * 1024)

static void wt_data(struct conn *c, void *owner, const char *data, size_t len)
{
}
static void wt_closed(struct conn *c, void *owner, int err)
{
    wt.err = err;
    wt.closed = true;
    loop_stop(tl);
}
static const struct conn_ops wt_ops = {.data = wt_data, .closed = wt_closed};

static void wt_tick(struct loop_timer *t)
{
    char b[2048];
    wt.ticks++;
    ssize_t r;
    if (wt.k->peer_reads && (r = recv(wt.peer, b, sizeof(b), MSG_DONTWAIT)) > 0)
        wt.got += (size_t)r;
    if (wt.got == WT_OUT && !wt.k->close_first) {
        conn_close(wt.c);
        return;
    }
    loop_timer_arm(tl, &wt.tick, 50);
}

static void test_conn_write_timeout(void **state)
{
    static const struct wt_case cases[] = {
        {"peer never reads, per request", true, false, false, -ETIMEDOUT, 250, 300},
        {"peer reads slowly, per request", true, true, false, -ETIMEDOUT, 250, 300},
        {"peer reads slowly, per write", false, true, false, 0, 1000, 800},
        {"closing, peer never reads", false, false, true, -ETIMEDOUT, 250, 300},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&wt, 0, sizeof(wt));
        wt.k = &cases[i];
        assert_int_equal(loop_new(&tl, 64), 0);
        int fd = accepted_pair(&wt.peer);
        assert_int_equal(conn_new(&wt.c, tl, fd, &wt_ops, NULL), 0);
        conn_set_write_timeout(wt.c, wt.k->timeout_ms, wt.k->per_request);
        char *big = calloc(1, WT_OUT);
        buf_append(conn_out(wt.c), big, WT_OUT);
        free(big);
        conn_flush(wt.c);
        if (wt.k->close_first)
            conn_close(wt.c);
        loop_timer_init(&wt.tick, wt_tick);
        loop_timer_arm(tl, &wt.tick, 50);
        struct loop_timer guard;
        loop_timer_init(&guard, guard_cb);
        loop_timer_arm(tl, &guard, 20000);
        uint64_t t0 = loop_now(tl);
        loop_run(tl);
        unsigned took = (unsigned)(loop_now(tl) - t0);
        loop_timer_cancel(tl, &guard);
        loop_timer_cancel(tl, &wt.tick);
        if (!wt.closed || wt.err != wt.k->err || took < wt.k->min_ms)
            fail_msg("%s: closed %d err %d after %u ms (got %zu)", wt.k->name, wt.closed, wt.err,
                     took, wt.got);
        if (wt.k->err == 0)
            assert_int_equal(wt.got, WT_OUT);
        close(wt.peer);
        loop_free(tl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_post),
        cmocka_unit_test(test_post_then_stop),
        cmocka_unit_test(test_conn_echo),
        cmocka_unit_test(test_conn_refused),
        cmocka_unit_test(test_conn_tls),
        cmocka_unit_test(test_conn_backpressure),
        cmocka_unit_test(test_conn_write_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
