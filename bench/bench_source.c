/*
 * bench_source - tern-bench source: SMTP load over io_uring; see bench_source.h.
 *
 * Structure: one struct src_thread per thread (its own loop, clients,
 * counters, histogram and saved TLS session), so the hot path shares
 * nothing; the main thread only reads the counters (relaxed atomics) for
 * the progress line and merges the histograms at the end.
 *
 * A client is one connection slot: connect, (TLS), greeting/EHLO through
 * smtpc, then transactions until its quota per connection or the messages
 * run out, QUIT, and reconnect while messages remain. The protocol itself
 * is delivery/smtpc's (pipelining, dot-stuffing, STARTTLS), the one tern's own
 * delivery uses, so the bench exercises servers exactly like tern does.
 *
 * The "." is recognised in the output buffer: after smtpc wrote the
 * content, the buffer ends in CRLF "." CRLF, which no command can (a
 * content line "." is stuffed to ".."). Its time is taken when that buffer
 * is handed to the ring.
 */
#include "bench/bench_source.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_hist.h"
#include "bench/bench_util.h"
#include "core/loop/conn.h"
#include "core/loop/loop.h"
#include "core/delivery/smtpc.h"
#include "queue/queue.h"
#include "tls/tls_ctx.h"
#include "tls/tls_session.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>

#define CONTAINER_OF(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define SRC_MAX_FAILS 20 /* consecutive failed connections before a client gives up */
#define SRC_ADDR_LEN 320
/* --hold: sessions one thread opens at once. Opening thousands together overflows the
 * server's accept queue; the kernel then drops handshake ACKs and those connections
 * hang half-open until the reply timeout. */
#define SRC_HOLD_OPENING 256

struct src_cfg {
    char server[256];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    unsigned connections, threads, rcpts, per_conn, spread;
    uint64_t messages;
    struct bench_mix mix;
    bool pipelining, starttls, smtps, quiet;
    const char *cafile, *cert, *key, *from, *to, *helo, *json;
    double rate;            /* messages/s in all; 0: closed loop */
    double duration;        /* seconds; 0: no bound */
    double hold;            /* seconds a session with nothing to send stays open (idle); 0: QUIT */
    const char *ready_file; /* written once every connection is held */
    unsigned timeout_ms;
};

/* counters read by the main thread while the workers run */
struct src_stats {
    _Atomic uint64_t started, r2xx, r4xx, r5xx, noreply;
    _Atomic uint64_t rcpt_ok, rcpt_4xx, rcpt_5xx, bytes;
    _Atomic uint64_t conns, conn_errors, timeouts, tls_full, tls_resumed, tls_errors;
    _Atomic uint64_t held; /* sessions open and idle now (--hold) */
};

struct source;
struct src_thread;

enum cl_state { CL_IDLE, CL_CONNECTING, CL_TLS, CL_SMTP, CL_QUIT, CL_WAIT, CL_DONE };

struct src_client {
    struct src_thread *t;
    enum cl_state state;
    struct conn *conn;
    struct smtpc_session *smtpc;
    bool ready; /* smtpc READY, no transaction open */
    bool in_txn, dot_sent, tls_saved, had_txn;
    bool opening; /* holds one of t->opening: connected for a message not yet started */
    bool held;    /* idle by --hold, counted in st.held */
    uint64_t dot_us;
    unsigned txns_on_conn, fails;
    struct loop_timer io_timer, retry_timer;
    struct queue_delivery d;
    struct queue_delivery_rcpt *rcpt;
    char (*addr)[SRC_ADDR_LEN];
};

struct src_thread {
    struct source *src;
    unsigned id;
    pthread_t tid;
    struct loop *loop;
    struct src_client *clients;
    unsigned nclients, active;
    uint64_t quota, issued, arrived;
    uint64_t opening;   /* clients opening a connection for a message not yet started */
    unsigned next_open; /* --hold: clients[next_open..] have not connected yet */
    double rate;        /* this thread's share, messages/s */
    uint64_t t0_us, stop_us;
    bool stopping;
    struct loop_timer tick;
    struct buf saved; /* newest resumable TLS session */
    struct bench_hist hist;
    struct src_stats st;
    _Atomic int finished;
};

struct source {
    struct src_cfg cfg;
    struct buf *bodies; /* one per size of the mix */
    struct tls_ctx *tls;
    struct src_thread *threads;
    uint64_t held_max; /* most sessions held idle at once (--hold), seen by the main thread */
};

static volatile sig_atomic_t src_signalled;

static void client_connect(struct src_client *cl);
static void client_next(struct src_client *cl);
static void client_input(struct src_client *cl, const char *data, size_t len);

#define ST_ADD(t, field, n) atomic_fetch_add_explicit(&(t)->st.field, (n), memory_order_relaxed)
#define ST_GET(t, field) atomic_load_explicit(&(t)->st.field, memory_order_relaxed)

/* src_on_signal - SIGINT/SIGTERM: start no new messages */
static void src_on_signal(int sig)
{
    (void)sig;
    src_signalled = 1;
}

/* thread_more - can a new message start on this thread now? */
static bool thread_more(const struct src_thread *t)
{
    if (t->stopping || t->issued >= t->quota)
        return false;
    return t->rate <= 0 || t->arrived > t->issued;
}

/* thread_pending - will messages still arrive (open loop) or remain (closed loop)? */
static bool thread_pending(const struct src_thread *t)
{
    return !t->stopping && t->issued < t->quota;
}

/* thread_can_open - may one more connection be opened? Not when the messages left are
 * already spoken for by connections being opened (no connection that only says QUIT). */
static bool thread_can_open(const struct src_thread *t)
{
    return !t->stopping && t->issued + t->opening < t->quota;
}

/* thread_holding - --hold: may a session with nothing to send stay open now? */
static bool thread_holding(const struct src_thread *t)
{
    double hold = t->src->cfg.hold;
    return hold > 0 && !t->stopping && bench_now_us() - t->t0_us < (uint64_t)(hold * 1e6);
}

/* thread_wants_conn - may a client (re)connect: a message for it, or --hold time left */
static bool thread_wants_conn(const struct src_thread *t)
{
    return thread_can_open(t) || thread_holding(t);
}

/* client_unreserve - give back the message this connection was opened for */
static void client_unreserve(struct src_client *cl)
{
    if (cl->opening) {
        cl->opening = false;
        cl->t->opening--;
    }
}

/* client_done - the client stops for good; the last one stops the loop */
static void client_done(struct src_client *cl)
{
    if (cl->state == CL_DONE)
        return;
    cl->state = CL_DONE;
    client_unreserve(cl);
    loop_timer_cancel(cl->t->loop, &cl->io_timer);
    loop_timer_cancel(cl->t->loop, &cl->retry_timer);
    if (--cl->t->active == 0)
        loop_stop(cl->t->loop);
}

/* client_io_arm - (re)start the reply timeout */
static void client_io_arm(struct src_client *cl)
{
    loop_timer_arm(cl->t->loop, &cl->io_timer, cl->t->src->cfg.timeout_ms);
}

/* client_io_timeout - no reply in time: count it, drop the connection */
static void client_io_timeout(struct loop_timer *tm)
{
    struct src_client *cl = CONTAINER_OF(tm, struct src_client, io_timer);
    if (cl->conn) {
        ST_ADD(cl->t, timeouts, 1);
        conn_abort(cl->conn);
    }
}

/* client_retry - backoff over: connect again */
static void client_retry(struct loop_timer *tm)
{
    struct src_client *cl = CONTAINER_OF(tm, struct src_client, retry_timer);
    cl->state = CL_IDLE;
    client_connect(cl);
}

/* client_expand - "%d" in pattern becomes n */
static void client_expand(char *out, size_t len, const char *pattern, unsigned long long n)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 1 < len; p++) {
        if (p[0] == '%' && p[1] == 'd') {
            int w = snprintf(out + o, len - o, "%llu", n);
            o += w > 0 ? (size_t)w : 0;
            p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o < len ? o : len - 1] = 0;
}

/* client_send - start the next message on a READY session */
static void client_send(struct src_client *cl)
{
    struct src_thread *t = cl->t;
    const struct src_cfg *cfg = &t->src->cfg;
    uint64_t index = t->issued * cfg->threads + t->id; /* global message number */
    unsigned which = 0;
    size_t size = bench_mix_pick(&cfg->mix, index);

    for (unsigned i = 0; i < cfg->mix.n; i++)
        if (cfg->mix.size[i] == size)
            which = i;
    for (unsigned r = 0; r < cfg->rcpts; r++) {
        unsigned long long n = index * cfg->rcpts + r;
        if (cfg->spread)
            n %= cfg->spread;
        if (strchr(cfg->to, '@')) {
            client_expand(cl->addr[r], SRC_ADDR_LEN, cfg->to, n);
        } else {
            char pat[SRC_ADDR_LEN];
            snprintf(pat, sizeof(pat), "bench%%d@%s", cfg->to);
            client_expand(cl->addr[r], SRC_ADDR_LEN, pat, n);
        }
        cl->rcpt[r].addr = cl->addr[r];
        cl->rcpt[r].status = RCPT_PENDING;
    }
    snprintf(cl->d.qid, sizeof(cl->d.qid), "B%015llx", (unsigned long long)index);
    const struct buf *body = &t->src->bodies[which];
    cl->d.size = buf_used(body);
    client_unreserve(cl);
    t->issued++;
    ST_ADD(t, started, 1);
    int rc = smtpc_send(cl->smtpc, &cl->d, buf_ptr(body), buf_used(body), conn_out(cl->conn));
    if (rc < 0) {
        ST_ADD(t, noreply, 1);
        fprintf(stderr, "tern-bench: cannot send: %s\n", strerror(-rc));
        conn_abort(cl->conn);
        return;
    }
    cl->ready = false;
    cl->in_txn = true;
    cl->dot_sent = false;
    client_io_arm(cl);
}

/* client_unhold - the session is no longer held idle */
static void client_unhold(struct src_client *cl)
{
    if (cl->held) {
        cl->held = false;
        atomic_fetch_sub_explicit(&cl->t->st.held, 1, memory_order_relaxed);
    }
}

/* client_quit - say QUIT; SMTPC_CLOSED (or the server's close) follows */
static void client_quit(struct src_client *cl)
{
    client_unhold(cl);
    cl->ready = false;
    cl->state = CL_QUIT;
    client_unreserve(cl);
    smtpc_quit(cl->smtpc, conn_out(cl->conn));
    client_io_arm(cl);
}

/* client_next - READY: the next message, an idle wait, or QUIT */
static void client_next(struct src_client *cl)
{
    struct src_thread *t = cl->t;
    unsigned per_conn = t->src->cfg.per_conn;

    cl->ready = true;
    if (per_conn && cl->txns_on_conn >= per_conn)
        client_quit(cl);
    else if (thread_more(t))
        client_send(cl);
    else if (thread_pending(t))
        loop_timer_cancel(t->loop, &cl->io_timer); /* open loop: wait for an arrival */
    else if (thread_holding(t)) {
        loop_timer_cancel(t->loop, &cl->io_timer); /* --hold: stay idle, the tick ends it */
        if (!cl->held) {
            cl->held = true;
            ST_ADD(t, held, 1);
        }
    } else
        client_quit(cl);
}

/* client_txn_done - count the transaction's outcome, record the latency of a 2xx */
static void client_txn_done(struct src_client *cl)
{
    struct src_thread *t = cl->t;
    unsigned ok = 0, d4 = 0, d5 = 0;

    for (size_t i = 0; i < cl->d.nrcpt; i++) {
        struct queue_delivery_rcpt *r = &cl->rcpt[i];
        if (r->status == RCPT_SENT)
            ok++;
        else if (r->status == RCPT_DEFERRED)
            d4++;
        else
            d5++;
        free(r->reason);
        r->reason = NULL;
    }
    ST_ADD(t, rcpt_ok, ok);
    ST_ADD(t, rcpt_4xx, d4);
    ST_ADD(t, rcpt_5xx, d5);
    if (d4) {
        ST_ADD(t, r4xx, 1);
    } else if (d5) {
        ST_ADD(t, r5xx, 1);
    } else {
        ST_ADD(t, r2xx, 1);
        ST_ADD(t, bytes, cl->d.size);
        if (cl->dot_sent)
            bench_hist_add(&t->hist, bench_now_us() - cl->dot_us);
    }
    cl->in_txn = false;
    cl->had_txn = true;
    cl->fails = 0;
    cl->txns_on_conn++;
}

/* client_save_tls - keep the session (or TLS 1.3 ticket) for the next connection
 *
 * Called before each read is processed, as tern's delivery does: the ticket, if any,
 * came before those bytes. */
static void client_save_tls(struct src_client *cl)
{
    struct tls_session *ts = cl->conn ? conn_tls(cl->conn) : NULL;
    if (cl->tls_saved || !ts || !tls_session_info(ts) || !tls_session_has_ticket(ts))
        return;
    struct buf tmp = BUF_INIT;
    if (tls_session_save(ts, &tmp) == 0) {
        buf_free(&cl->t->saved);
        cl->t->saved = tmp;
        cl->tls_saved = true;
    } else {
        buf_free(&tmp);
    }
}

/* client_tls_done - handshake over: count full vs resumed, then EHLO again (STARTTLS) */
static void client_tls_done(struct conn *c, void *owner, int err)
{
    struct src_client *cl = owner;
    struct tls_session *ts = conn_tls(c);

    if (err < 0) {
        ST_ADD(cl->t, tls_errors, 1);
        if (!cl->t->src->cfg.quiet)
            fprintf(stderr, "tern-bench: TLS handshake failed: %s\n",
                    ts ? tls_session_error(ts) : strerror(-err));
        conn_abort(c);
        return;
    }
    const struct tls_info *info = tls_session_info(ts);
    if (info && info->reused)
        ST_ADD(cl->t, tls_resumed, 1);
    else
        ST_ADD(cl->t, tls_full, 1);
    /* Not saved yet: after a TLS 1.3 resumption, the session saved before the server's
     * NewSessionTicket was read fails the next handshake ("binder does not verify"). */
    cl->state = CL_SMTP;
    if (!cl->t->src->cfg.smtps && smtpc_tls_started(cl->smtpc, conn_out(c)) < 0) {
        conn_abort(c);
        return;
    }
    conn_flush(c);
}

/* client_start_tls - put a client TLS session (resuming the saved one) on the connection */
static int client_start_tls(struct src_client *cl)
{
    struct tls_session *ts = NULL;
    int rc = tls_session_new(&ts, cl->t->src->tls, false, NULL);
    if (rc < 0)
        return rc;
    if (buf_used(&cl->t->saved) > 0)
        (void)tls_session_resume(ts, buf_ptr(&cl->t->saved), buf_used(&cl->t->saved));
    cl->state = CL_TLS;
    cl->tls_saved = false;
    if ((rc = conn_start_tls(cl->conn, ts, client_tls_done)) < 0)
        tls_session_free(ts);
    return rc;
}

/* out_ends_with_dot - the buffer ends in the end-of-data line */
static bool out_ends_with_dot(const struct buf *b)
{
    size_t n = buf_used(b);
    return n >= 5 && memcmp(buf_ptr(b) + n - 5, "\r\n.\r\n", 5) == 0;
}

/* client_input - server bytes through smtpc; act on each event */
static void client_input(struct src_client *cl, const char *data, size_t len)
{
    struct conn *c = cl->conn;
    struct buf *out = conn_out(c);
    enum smtpc_event ev = smtpc_input(cl->smtpc, data, len, out);

    for (;;) {
        if (cl->in_txn && !cl->dot_sent && out_ends_with_dot(out)) {
            cl->dot_sent = true;
            cl->dot_us = bench_now_us();
        }
        switch (ev) {
        case SMTPC_NEED_MORE:
            conn_flush(c);
            return;
        case SMTPC_READY:
            client_next(cl);
            break;
        case SMTPC_TXN_DONE:
            client_txn_done(cl);
            client_next(cl);
            break;
        case SMTPC_STARTTLS:
            conn_flush(c);
            if (client_start_tls(cl) < 0)
                conn_abort(c);
            return;
        case SMTPC_NO_TLS:
            ST_ADD(cl->t, tls_errors, 1);
            if (!cl->t->src->cfg.quiet)
                fprintf(stderr, "tern-bench: %s\n", smtpc_error(cl->smtpc));
            cl->fails = SRC_MAX_FAILS; /* it will not be offered next time either */
            client_quit(cl);
            conn_flush(c);
            return;
        case SMTPC_FAILED:
            if (!cl->t->src->cfg.quiet)
                fprintf(stderr, "tern-bench: %s\n", smtpc_error(cl->smtpc));
            conn_abort(c);
            return;
        case SMTPC_CLOSED:
            conn_close(c);
            return;
        }
        if (cl->conn != c)
            return;
        ev = smtpc_input(cl->smtpc, NULL, 0, out);
    }
}

/* client_data - conn callback: plaintext from the server */
static void client_data(struct conn *c, void *owner, const char *data, size_t len)
{
    struct src_client *cl = owner;
    client_io_arm(cl);
    client_save_tls(cl);
    client_input(cl, data, len);
}

/* client_closed - the connection is gone: count a lost transaction, reconnect or finish */
static void client_closed(struct conn *c, void *owner, int err)
{
    struct src_client *cl = owner;
    struct src_thread *t = cl->t;

    cl->conn = NULL;
    client_unreserve(cl);
    client_unhold(cl);
    loop_timer_cancel(t->loop, &cl->io_timer);
    if (cl->in_txn) {
        ST_ADD(t, noreply, 1);
        for (size_t i = 0; i < cl->d.nrcpt; i++) {
            free(cl->rcpt[i].reason);
            cl->rcpt[i].reason = NULL;
        }
        cl->in_txn = false;
    }
    smtpc_free(cl->smtpc);
    cl->smtpc = NULL;
    if (!cl->had_txn && cl->state != CL_QUIT) {
        ST_ADD(t, conn_errors, 1);
        cl->fails++;
    }
    cl->state = CL_IDLE;
    if (!thread_wants_conn(t) || cl->fails >= SRC_MAX_FAILS) {
        client_done(cl);
    } else if (cl->fails) {
        unsigned ms = 10u << (cl->fails < 7 ? cl->fails : 7);
        cl->state = CL_WAIT;
        loop_timer_arm(t->loop, &cl->retry_timer, ms);
    } else {
        client_connect(cl);
    }
}

/* client_connected - conn callback: TCP is up (or failed) */
static void client_connected(struct conn *c, void *owner, int err)
{
    struct src_client *cl = owner;
    struct src_thread *t = cl->t;

    if (err < 0) {
        cl->conn = NULL;
        client_unreserve(cl);
        ST_ADD(t, conn_errors, 1);
        if (!t->src->cfg.quiet && cl->fails == 0)
            fprintf(stderr, "tern-bench: connect to %s: %s\n", t->src->cfg.server, strerror(-err));
        if (++cl->fails >= SRC_MAX_FAILS || !thread_wants_conn(t)) {
            client_done(cl);
            return;
        }
        cl->state = CL_WAIT;
        loop_timer_arm(t->loop, &cl->retry_timer, 10u << (cl->fails < 7 ? cl->fails : 7));
        return;
    }
    ST_ADD(t, conns, 1);
    cl->state = CL_SMTP;
    if (t->src->cfg.smtps && client_start_tls(cl) < 0)
        conn_abort(c);
}

static const struct conn_ops client_ops = {
    .connected = client_connected,
    .data = client_data,
    .closed = client_closed,
};

/* client_connect - open a new connection with a fresh smtpc session */
static void client_connect(struct src_client *cl)
{
    struct src_thread *t = cl->t;
    const struct src_cfg *cfg = &t->src->cfg;
    struct smtpc_params p = {
        .helo_name = cfg->helo,
        .peer_name = cfg->server,
        .pipelining = cfg->pipelining,
        .starttls = cfg->starttls,
        .require_tls = cfg->starttls,
    };

    /* --hold: every client keeps a session open even when no message is left for it */
    if (!thread_wants_conn(t)) {
        client_done(cl);
        return;
    }
    if (smtpc_new(&cl->smtpc, &p) < 0) {
        client_done(cl);
        return;
    }
    cl->txns_on_conn = 0;
    cl->had_txn = false;
    cl->opening = true;
    t->opening++;
    cl->ready = false;
    cl->state = CL_CONNECTING;
    int rc = conn_connect(&cl->conn, t->loop, (const struct sockaddr *)&cfg->addr, cfg->addrlen,
                          cfg->timeout_ms, &client_ops, cl);
    if (rc < 0) {
        smtpc_free(cl->smtpc);
        cl->smtpc = NULL;
        cl->conn = NULL;
        client_unreserve(cl);
        ST_ADD(t, conn_errors, 1);
        client_done(cl);
        return;
    }
    client_io_arm(cl);
}

/* thread_tick - arrivals (open loop), the duration bound and signals */
static void thread_tick(struct loop_timer *tm)
{
    struct src_thread *t = CONTAINER_OF(tm, struct src_thread, tick);
    const struct src_cfg *cfg = &t->src->cfg;
    uint64_t now = bench_now_us();

    if (!t->stopping && (src_signalled || (cfg->duration > 0 &&
                                           now - t->t0_us >= (uint64_t)(cfg->duration * 1e6)))) {
        t->stopping = true;
        t->stop_us = now;
    }
    if (t->stopping && now - t->stop_us > (uint64_t)cfg->timeout_ms * 1000u + 1000000u) {
        /* sessions that do not finish in time are abandoned (the process is about to exit) */
        loop_stop(t->loop);
        return;
    }
    if (t->rate > 0 && !t->stopping) {
        uint64_t due = (uint64_t)((double)(now - t->t0_us) * t->rate / 1e6) + 1;
        t->arrived = due < t->quota ? due : t->quota;
    }
    unsigned busy = 0; /* --hold: sessions being opened */
    for (unsigned i = 0; i < t->nclients; i++) {
        struct src_client *cl = &t->clients[i];
        if (cl->state == CL_SMTP && cl->ready && cl->conn) {
            struct conn *c = cl->conn;
            client_next(cl);
            if (cl->conn == c)
                conn_flush(c);
        } else if (cl->state == CL_IDLE && !thread_wants_conn(t)) {
            client_done(cl);
        }
        if (cl->state == CL_CONNECTING || cl->state == CL_TLS ||
            (cl->state == CL_SMTP && !cl->held))
            busy++;
    }
    while (t->next_open < t->nclients && busy < SRC_HOLD_OPENING && thread_holding(t)) {
        client_connect(&t->clients[t->next_open++]);
        busy++;
    }
    if (t->active > 0)
        loop_timer_arm(t->loop, &t->tick, t->rate > 0 ? 1 : 100);
}

/* thread_main - one loop, its clients, until they are all done */
static void *thread_main(void *arg)
{
    struct src_thread *t = arg;
    const struct src_cfg *cfg = &t->src->cfg;

    t->t0_us = bench_now_us();
    loop_timer_init(&t->tick, thread_tick);
    t->active = t->nclients;
    for (unsigned i = 0; i < t->nclients; i++) {
        struct src_client *cl = &t->clients[i];
        cl->t = t;
        loop_timer_init(&cl->io_timer, client_io_timeout);
        loop_timer_init(&cl->retry_timer, client_retry);
        cl->d.sender = (char *)cfg->from;
        cl->d.nrcpt = cfg->rcpts;
        cl->d.rcpt = cl->rcpt;
        cl->state = CL_IDLE;
    }
    if (t->rate > 0)
        t->arrived = 1 < t->quota ? 1 : t->quota;
    /* --hold opens SRC_HOLD_OPENING at first, the tick the rest as they settle */
    t->next_open = cfg->hold > 0 && t->nclients > SRC_HOLD_OPENING ? SRC_HOLD_OPENING : t->nclients;
    for (unsigned i = 0; i < t->next_open; i++)
        client_connect(&t->clients[i]);
    if (t->active > 0) {
        loop_timer_arm(t->loop, &t->tick, t->rate > 0 ? 1 : 100);
        loop_run(t->loop);
    }
#ifdef FP_ECC
    wc_ecc_fp_free(); /* wolfSSL's per-thread ECC point cache dies with the thread */
#endif
    atomic_store(&t->finished, 1);
    return NULL;
}

/* src_usage - the options */
static void src_usage(void)
{
    fprintf(stderr,
            "usage: tern-bench source --server HOST:PORT [--connections N] [--messages M]\n"
            "       [--size S | --size-mix S:W,...] [--rcpts R] [--per-conn K] [--pipelining]\n"
            "       [--starttls | --smtps] [--cafile F] [--cert F --key F] [--from ADDR]\n"
            "       [--to PATTERN] [--spread N] [--rate MSG/S] [--duration SECS] [--threads T]\n"
            "       [--timeout SECS] [--helo NAME] [--json FILE] [--quiet]\n"
            "       [--hold SECS [--ready-file F]]\n");
}

/* src_parse - options into cfg; 0 or -EINVAL (message printed) */
static int src_parse(struct src_cfg *cfg, int argc, char **argv)
{
    enum {
        O_SERVER = 256,
        O_CONN,
        O_MSGS,
        O_SIZE,
        O_MIX,
        O_RCPTS,
        O_PERCONN,
        O_PIPE,
        O_STARTTLS,
        O_SMTPS,
        O_CAFILE,
        O_CERT,
        O_KEY,
        O_FROM,
        O_TO,
        O_SPREAD,
        O_RATE,
        O_DURATION,
        O_THREADS,
        O_TIMEOUT,
        O_HELO,
        O_JSON,
        O_QUIET,
        O_HOLD,
        O_READY,
        O_HELP
    };
    static const struct option opts[] = {
        {"server", required_argument, NULL, O_SERVER},
        {"connections", required_argument, NULL, O_CONN},
        {"messages", required_argument, NULL, O_MSGS},
        {"size", required_argument, NULL, O_SIZE},
        {"size-mix", required_argument, NULL, O_MIX},
        {"rcpts", required_argument, NULL, O_RCPTS},
        {"per-conn", required_argument, NULL, O_PERCONN},
        {"pipelining", no_argument, NULL, O_PIPE},
        {"starttls", no_argument, NULL, O_STARTTLS},
        {"smtps", no_argument, NULL, O_SMTPS},
        {"cafile", required_argument, NULL, O_CAFILE},
        {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY},
        {"from", required_argument, NULL, O_FROM},
        {"to", required_argument, NULL, O_TO},
        {"spread", required_argument, NULL, O_SPREAD},
        {"rate", required_argument, NULL, O_RATE},
        {"duration", required_argument, NULL, O_DURATION},
        {"threads", required_argument, NULL, O_THREADS},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"helo", required_argument, NULL, O_HELO},
        {"json", required_argument, NULL, O_JSON},
        {"quiet", no_argument, NULL, O_QUIET},
        {"hold", required_argument, NULL, O_HOLD},
        {"ready-file", required_argument, NULL, O_READY},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *server = NULL, *size = "4k", *mix = NULL;
    char *end;
    int o;

    cfg->connections = 1;
    cfg->threads = 1;
    cfg->messages = 100;
    cfg->rcpts = 1;
    cfg->from = "bench@tern-bench.test";
    cfg->to = "bench%d@sink.test";
    cfg->helo = "tern-bench.test";
    cfg->timeout_ms = 60000;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        unsigned long v = 0;
        if (optarg && (o == O_CONN || o == O_MSGS || o == O_RCPTS || o == O_PERCONN ||
                       o == O_SPREAD || o == O_THREADS || o == O_TIMEOUT)) {
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || *optarg == '-') {
                fprintf(stderr, "tern-bench: bad number: %s\n", optarg);
                return -EINVAL;
            }
        }
        switch (o) {
        case O_SERVER:
            server = optarg;
            break;
        case O_CONN:
            cfg->connections = (unsigned)v;
            break;
        case O_MSGS:
            cfg->messages = v;
            break;
        case O_SIZE:
            size = optarg;
            break;
        case O_MIX:
            mix = optarg;
            break;
        case O_RCPTS:
            cfg->rcpts = (unsigned)v;
            break;
        case O_PERCONN:
            cfg->per_conn = (unsigned)v;
            break;
        case O_PIPE:
            cfg->pipelining = true;
            break;
        case O_STARTTLS:
            cfg->starttls = true;
            break;
        case O_SMTPS:
            cfg->smtps = true;
            break;
        case O_CAFILE:
            cfg->cafile = optarg;
            break;
        case O_CERT:
            cfg->cert = optarg;
            break;
        case O_KEY:
            cfg->key = optarg;
            break;
        case O_FROM:
            cfg->from = optarg;
            break;
        case O_TO:
            cfg->to = optarg;
            break;
        case O_SPREAD:
            cfg->spread = (unsigned)v;
            break;
        case O_RATE:
            cfg->rate = strtod(optarg, NULL);
            break;
        case O_DURATION:
            cfg->duration = strtod(optarg, NULL);
            break;
        case O_THREADS:
            cfg->threads = (unsigned)v;
            break;
        case O_TIMEOUT:
            cfg->timeout_ms = (unsigned)v * 1000u;
            break;
        case O_HELO:
            cfg->helo = optarg;
            break;
        case O_JSON:
            cfg->json = optarg;
            break;
        case O_QUIET:
            cfg->quiet = true;
            break;
        case O_HOLD:
            cfg->hold = strtod(optarg, NULL);
            break;
        case O_READY:
            cfg->ready_file = optarg;
            break;
        default:
            src_usage();
            return -EINVAL;
        }
    }
    if (optind < argc || !server) {
        src_usage();
        return -EINVAL;
    }
    snprintf(cfg->server, sizeof(cfg->server), "%s", server);
    if (bench_parse_hostport(server, &cfg->addr, &cfg->addrlen) < 0) {
        fprintf(stderr, "tern-bench: bad --server: %s\n", server);
        return -EINVAL;
    }
    if (bench_parse_mix(mix ? mix : size, &cfg->mix) < 0) {
        fprintf(stderr, "tern-bench: bad size: %s\n", mix ? mix : size);
        return -EINVAL;
    }
    if (cfg->connections == 0 || cfg->threads == 0 || cfg->rcpts == 0 || cfg->rcpts > 1000 ||
        cfg->threads > 256 || cfg->timeout_ms == 0 || cfg->rate < 0 || cfg->duration < 0 ||
        cfg->hold < 0) {
        fprintf(stderr,
                "tern-bench: connections, threads, rcpts (1..1000) and timeout must be > 0\n");
        return -EINVAL;
    }
    if (cfg->starttls && cfg->smtps) {
        fprintf(stderr, "tern-bench: --starttls and --smtps exclude each other\n");
        return -EINVAL;
    }
    if (cfg->threads > cfg->connections)
        cfg->threads = cfg->connections;
    return 0;
}

/* src_totals - the sum of every thread's counter at one offset */
static uint64_t src_total(const struct source *s, size_t offset)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < s->cfg.threads; i++) {
        const _Atomic uint64_t *p =
            (const _Atomic uint64_t *)((const char *)&s->threads[i].st + offset);
        sum += atomic_load_explicit(p, memory_order_relaxed);
    }
    return sum;
}
#define TOTAL(s, field) src_total((s), offsetof(struct src_stats, field))

/* src_report - summary on stdout, JSON to cfg.json */
static int src_report(const struct source *s, const struct bench_hist *h, double elapsed)
{
    const struct src_cfg *cfg = &s->cfg;
    uint64_t started = TOTAL(s, started), r2 = TOTAL(s, r2xx), r4 = TOTAL(s, r4xx),
             r5 = TOTAL(s, r5xx), nr = TOTAL(s, noreply);
    uint64_t unsent = cfg->messages > started ? cfg->messages - started : 0;
    double rate = elapsed > 0 ? (double)(r2 + r4 + r5) / elapsed : 0;
    const char *tls = cfg->smtps ? "smtps" : cfg->starttls ? "starttls" : "none";
    int rc = 0;

    printf("tern-bench source: %s, %u connections, %u threads, tls %s%s\n", cfg->server,
           cfg->connections, cfg->threads, tls, cfg->pipelining ? ", pipelining" : "");
    printf("messages: planned %llu started %llu  2xx %llu  4xx %llu  5xx %llu  no reply %llu"
           "  unsent %llu\n",
           (unsigned long long)cfg->messages, (unsigned long long)started, (unsigned long long)r2,
           (unsigned long long)r4, (unsigned long long)r5, (unsigned long long)nr,
           (unsigned long long)unsent);
    printf("throughput: %.1f msg/s, %.2f MB/s over %.3f s\n", rate,
           elapsed > 0 ? (double)TOTAL(s, bytes) / elapsed / 1e6 : 0.0, elapsed);
    printf("latency end of DATA -> 2xx (us): p50 %llu  p90 %llu  p99 %llu  p99.9 %llu  max %llu"
           "  (n=%llu)\n",
           (unsigned long long)bench_hist_quantile(h, 0.5),
           (unsigned long long)bench_hist_quantile(h, 0.9),
           (unsigned long long)bench_hist_quantile(h, 0.99),
           (unsigned long long)bench_hist_quantile(h, 0.999), (unsigned long long)h->max,
           (unsigned long long)h->count);
    printf("connections: %llu opened, %llu failed, %llu timeouts; TLS full %llu resumed %llu"
           " failed %llu\n",
           (unsigned long long)TOTAL(s, conns), (unsigned long long)TOTAL(s, conn_errors),
           (unsigned long long)TOTAL(s, timeouts), (unsigned long long)TOTAL(s, tls_full),
           (unsigned long long)TOTAL(s, tls_resumed), (unsigned long long)TOTAL(s, tls_errors));
    fflush(stdout);

    if (!cfg->json)
        return 0;
    struct buf j = BUF_INIT;
    rc = buf_puts(&j, "{\"tool\":\"tern-bench source\",\"server\":");
    if (rc == 0)
        rc = bench_json_str(&j, cfg->server);
    if (rc == 0)
        rc = buf_printf(
            &j,
            ",\"connections\":%u,\"threads\":%u,\"tls\":\"%s\",\"pipelining\":%s,\"rcpts\":%u,"
            "\"per_conn\":%u,\"rate\":%.3f,\"duration\":%.3f,\"sizes\":[",
            cfg->connections, cfg->threads, tls, cfg->pipelining ? "true" : "false", cfg->rcpts,
            cfg->per_conn, cfg->rate, cfg->duration);
    for (unsigned i = 0; rc == 0 && i < cfg->mix.n; i++)
        rc = buf_printf(&j, "%s[%zu,%u]", i ? "," : "", cfg->mix.size[i], cfg->mix.weight[i]);
    if (rc == 0)
        rc = buf_printf(
            &j,
            "],\"messages_planned\":%llu,\"messages_started\":%llu,\"reply_2xx\":%llu,"
            "\"reply_4xx\":%llu,\"reply_5xx\":%llu,\"no_reply\":%llu,\"unsent\":%llu,"
            "\"rcpt_2xx\":%llu,\"rcpt_4xx\":%llu,\"rcpt_5xx\":%llu,\"bytes_2xx\":%llu,"
            "\"elapsed_s\":%.6f,\"msgs_per_s\":%.3f,\"connections_opened\":%llu,"
            "\"connect_errors\":%llu,\"timeouts\":%llu,\"tls_full\":%llu,\"tls_resumed\":%llu,"
            "\"tls_errors\":%llu,\"hold_s\":%.3f,\"held_max\":%llu,\"latency_us\":",
            (unsigned long long)cfg->messages, (unsigned long long)started, (unsigned long long)r2,
            (unsigned long long)r4, (unsigned long long)r5, (unsigned long long)nr,
            (unsigned long long)unsent, (unsigned long long)TOTAL(s, rcpt_ok),
            (unsigned long long)TOTAL(s, rcpt_4xx), (unsigned long long)TOTAL(s, rcpt_5xx),
            (unsigned long long)TOTAL(s, bytes), elapsed, rate, (unsigned long long)TOTAL(s, conns),
            (unsigned long long)TOTAL(s, conn_errors), (unsigned long long)TOTAL(s, timeouts),
            (unsigned long long)TOTAL(s, tls_full), (unsigned long long)TOTAL(s, tls_resumed),
            (unsigned long long)TOTAL(s, tls_errors), cfg->hold, (unsigned long long)s->held_max);
    if (rc == 0)
        rc = bench_hist_json(h, &j);
    if (rc == 0)
        rc = buf_puts(&j, "}\n");
    if (rc == 0)
        rc = bench_write_atomic(cfg->json, &j);
    if (rc < 0)
        fprintf(stderr, "tern-bench: cannot write %s: %s\n", cfg->json, strerror(-rc));
    buf_free(&j);
    return rc;
}

/* src_progress - one line on stderr */
static void src_progress(const struct source *s, double elapsed, uint64_t *last_done,
                         double *last_t)
{
    uint64_t r2 = TOTAL(s, r2xx), r4 = TOTAL(s, r4xx), r5 = TOTAL(s, r5xx), nr = TOTAL(s, noreply);
    uint64_t done = r2 + r4 + r5;
    double dt = elapsed - *last_t;
    fprintf(stderr,
            "[%6.1fs] started %llu  2xx %llu  4xx %llu  5xx %llu  noreply %llu  conns %llu"
            "  %.0f msg/s  held %llu\n",
            elapsed, (unsigned long long)TOTAL(s, started), (unsigned long long)r2,
            (unsigned long long)r4, (unsigned long long)r5, (unsigned long long)nr,
            (unsigned long long)TOTAL(s, conns), dt > 0 ? (double)(done - *last_done) / dt : 0.0,
            (unsigned long long)TOTAL(s, held));
    *last_done = done;
    *last_t = elapsed;
}

/* bench_source_main - run the source; see bench_source.h */
int bench_source_main(int argc, char **argv)
{
    struct source s = {0};
    struct src_cfg *cfg = &s.cfg;
    struct bench_hist total;
    unsigned started_threads = 0;
    int rc = 2;

    if (src_parse(cfg, argc, argv) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);

    if (!(s.bodies = calloc(cfg->mix.n, sizeof(*s.bodies))))
        goto fail;
    for (unsigned i = 0; i < cfg->mix.n; i++)
        if (bench_body_make(&s.bodies[i], cfg->mix.size[i], cfg->from) < 0)
            goto fail;
    if (cfg->starttls || cfg->smtps) {
        char err[256];
        struct tls_ctx_params p = {
            .cert_file = cfg->cert, .key_file = cfg->key, .CAfile = cfg->cafile};
        if (tls_ctx_new(&s.tls, false, &p, err, sizeof(err)) < 0) {
            fprintf(stderr, "tern-bench: TLS: %s\n", err);
            goto fail;
        }
    }
    if (!(s.threads = calloc(cfg->threads, sizeof(*s.threads))))
        goto fail;
    for (unsigned i = 0; i < cfg->threads; i++) {
        struct src_thread *t = &s.threads[i];
        t->src = &s;
        t->id = i;
        t->quota = cfg->messages / cfg->threads + (i < cfg->messages % cfg->threads);
        t->nclients = cfg->connections / cfg->threads + (i < cfg->connections % cfg->threads);
        t->rate = cfg->rate / cfg->threads;
        bench_hist_init(&t->hist);
        if (loop_new(&t->loop, 4096) < 0 ||
            !(t->clients = calloc(t->nclients, sizeof(*t->clients))))
            goto fail;
        for (unsigned k = 0; k < t->nclients; k++) {
            t->clients[k].rcpt = calloc(cfg->rcpts, sizeof(*t->clients[k].rcpt));
            t->clients[k].addr = calloc(cfg->rcpts, sizeof(*t->clients[k].addr));
            if (!t->clients[k].rcpt || !t->clients[k].addr)
                goto fail;
        }
    }

    /* workers ignore the signals; the handler only sets a flag they poll */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    uint64_t t0 = bench_now_us();
    for (; started_threads < cfg->threads; started_threads++)
        if (pthread_create(&s.threads[started_threads].tid, NULL, thread_main,
                           &s.threads[started_threads]) != 0)
            break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    struct sigaction sa = {.sa_handler = src_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (started_threads < cfg->threads)
        src_signalled = 1;

    uint64_t last_done = 0;
    double last_t = 0, next_progress = 1.0;
    bool ready_written = false;
    for (;;) {
        uint64_t held = TOTAL(&s, held);
        if (held > s.held_max)
            s.held_max = held;
        if (cfg->ready_file && !ready_written && held >= cfg->connections) {
            struct buf rb = BUF_INIT;
            if (buf_printf(&rb, "held %llu\n", (unsigned long long)held) == 0)
                bench_write_atomic(cfg->ready_file, &rb);
            buf_free(&rb);
            ready_written = true;
        }
        unsigned finished = 0;
        for (unsigned i = 0; i < started_threads; i++)
            finished += (unsigned)atomic_load(&s.threads[i].finished);
        if (finished == started_threads)
            break;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        double el = (double)(bench_now_us() - t0) / 1e6;
        if (!cfg->quiet && el >= next_progress) {
            src_progress(&s, el, &last_done, &last_t);
            next_progress += 1.0;
        }
    }
    double elapsed = (double)(bench_now_us() - t0) / 1e6;
    for (unsigned i = 0; i < started_threads; i++)
        pthread_join(s.threads[i].tid, NULL);

    bench_hist_init(&total);
    for (unsigned i = 0; i < started_threads; i++)
        bench_hist_merge(&total, &s.threads[i].hist);
    src_report(&s, &total, elapsed);
    uint64_t answered = TOTAL(&s, r2xx) + TOTAL(&s, r4xx) + TOTAL(&s, r5xx);
    bool bounded = cfg->duration > 0 || src_signalled; /* fewer messages is expected then */
    rc = TOTAL(&s, noreply) == 0 && (answered == cfg->messages || bounded) ? 0 : 1;

fail:
    if (rc == 2)
        fprintf(stderr, "tern-bench: set-up failed\n");
    /* Threads that were abandoned mid-session (timeout) still own conns: leave their loops. */
    for (unsigned i = 0; s.threads && i < cfg->threads; i++) {
        struct src_thread *t = &s.threads[i];
        bool clean = t->active == 0;
        for (unsigned k = 0; t->clients && k < t->nclients; k++) {
            if (clean)
                smtpc_free(t->clients[k].smtpc);
            free(t->clients[k].rcpt);
            free(t->clients[k].addr);
        }
        free(t->clients);
        buf_free(&t->saved);
        if (clean && t->loop)
            loop_free(t->loop);
    }
    free(s.threads);
    for (unsigned i = 0; s.bodies && i < cfg->mix.n; i++)
        buf_free(&s.bodies[i]);
    free(s.bodies);
    tls_ctx_free(s.tls);
    return rc;
}
