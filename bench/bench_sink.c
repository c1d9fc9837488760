/*
 * bench_sink - tern-bench sink: count SMTP mail and drop it; see bench_sink.h.
 *
 * One loop, one thread: the sink must not be what limits a benchmark of a
 * relay on the same 2-core machine, and a single thread keeps the counters
 * plain integers. Sessions are a minimal SMTP server of their own rather
 * than smtpd/smtpd, which is wired to the queue and policy and would count
 * tern's own costs against the relay under test.
 *
 * Each read is processed whole: the replies it produces are collected in
 * the session's `reply` buffer and sent at once (or after --delay-ms, with
 * reading paused), which is also how a pipelining server answers.
 */
#include "bench/bench_sink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench_util.h"
#include "core/loop/conn.h"
#include "core/loop/loop.h"
#include "core/base/tmpdir.h"
#include "tls/tls_cache.h"
#include "tls/tls_ctx.h"
#include "tls/tls_session.h"

#define CONTAINER_OF(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))
#define SINK_MAX_LISTEN 64
#define SINK_LINE_MAX 4096
#define SINK_CACHE_TIMEOUT 3600
#define SINK_CLOSE_WAIT_MS 2000 /* at exit: how long open sessions get to close */

struct sink_counts {
    uint64_t connections, transactions, messages, bytes, rcpts, deferred, rejected;
    uint64_t tls_full, tls_resumed, tls_failed, ccert_trusted;
};

struct sink;

struct sink_listener {
    struct sink *sk;
    int fd;
    char name[128];
    struct loop_op accept_op;
    struct sink_counts c;
};

struct sink_cfg {
    const char *listen[SINK_MAX_LISTEN];
    unsigned nlisten;
    bool starttls, smtps, session_cache, quiet;
    const char *cert, *key, *cafile, *cache_file, *count_file, *json, *hostname;
    unsigned defer_pct, reject_pct, delay_ms;
    uint64_t exit_after;
};

struct sink {
    struct sink_cfg cfg;
    struct loop *loop;
    struct sink_listener ln[SINK_MAX_LISTEN];
    struct tls_ctx *tls;
    struct tls_cache *cache;
    char cache_dir[256], cache_path[300];
    unsigned defer_acc, reject_acc;
    uint64_t queue_id, ticks;
    bool exiting;
    struct loop_timer tick;
    struct sink_sess *sessions; /* open sessions, closed in order at exit */
    unsigned nsess;             /* open connections */
    unsigned nlive;             /* sessions not over: QUIT not yet answered, connection open */
    unsigned peak_live;         /* the most at once */
    uint64_t close_due; /* at exit: stop waiting for sessions to close at this time (ms) */
};

enum sess_phase { PH_CMD, PH_DATA };

struct sink_sess {
    struct sink_sess *next, *prev; /* sk->sessions */
    struct sink *sk;
    struct sink_listener *ln;
    struct conn *conn;
    struct buf in, reply;
    enum sess_phase phase;
    bool have_mail, tls, want_tls, handshaking, delaying, closing;
    bool over;     /* QUIT answered or connection closed: no longer in nlive */
    bool mid_line; /* DATA: the start of the current line was counted and dropped already */
    unsigned nrcpt;
    uint64_t data_bytes;
    struct loop_timer delay;
};

static volatile sig_atomic_t sink_signalled;

static void sess_process(struct sink_sess *s);

/* sink_on_signal - SIGTERM/SIGINT: write the counts and exit */
static void sink_on_signal(int sig)
{
    (void)sig;
    sink_signalled = 1;
}

/* sink_total - the sum over listeners */
static void sink_total(const struct sink *sk, struct sink_counts *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned i = 0; i < sk->cfg.nlisten; i++) {
        const struct sink_counts *c = &sk->ln[i].c;
        t->connections += c->connections;
        t->transactions += c->transactions;
        t->messages += c->messages;
        t->bytes += c->bytes;
        t->rcpts += c->rcpts;
        t->deferred += c->deferred;
        t->rejected += c->rejected;
        t->tls_full += c->tls_full;
        t->tls_resumed += c->tls_resumed;
        t->tls_failed += c->tls_failed;
        t->ccert_trusted += c->ccert_trusted;
    }
}

#define SINK_FIELDS(X)                                                                             \
    X(connections)                                                                                 \
    X(transactions)                                                                                \
    X(messages)                                                                                    \
    X(bytes)                                                                                       \
    X(rcpts) X(deferred) X(rejected) X(tls_full) X(tls_resumed) X(tls_failed) X(ccert_trusted)

/* sink_counts_text - "prefixname value" lines */
static int sink_counts_text(struct buf *b, const char *prefix, const struct sink_counts *c)
{
    int rc = 0;
#define X(f)                                                                                       \
    if (rc == 0)                                                                                   \
        rc = buf_printf(b, "%s%s %llu\n", prefix, #f, (unsigned long long)c->f);
    SINK_FIELDS(X)
#undef X
    return rc;
}

/* sink_counts_json - "name":value,... (no braces) */
static int sink_counts_json(struct buf *b, const struct sink_counts *c)
{
    int rc = 0;
    const char *sep = "";
#define X(f)                                                                                       \
    if (rc == 0)                                                                                   \
        rc = buf_printf(b, "%s\"%s\":%llu", sep, #f, (unsigned long long)c->f);                    \
    sep = ",";
    SINK_FIELDS(X)
#undef X
    return rc;
}

/* sink_write - the count file and the JSON file, each replaced atomically */
static void sink_write(struct sink *sk)
{
    struct sink_counts t;
    struct buf b = BUF_INIT;
    int rc;

    sink_total(sk, &t);
    if (sk->cfg.count_file) {
        rc = sink_counts_text(&b, "", &t);
        for (unsigned i = 0; rc == 0 && i < sk->cfg.nlisten; i++) {
            char prefix[160];
            snprintf(prefix, sizeof(prefix), "%s.", sk->ln[i].name);
            rc = sink_counts_text(&b, prefix, &sk->ln[i].c);
        }
        if (rc == 0)
            rc = buf_printf(&b, "connections_now %u\npeak_connections %u\n", sk->nlive,
                            sk->peak_live);
        if (rc == 0 && (rc = bench_write_atomic(sk->cfg.count_file, &b)) < 0 && !sk->cfg.quiet)
            fprintf(stderr, "tern-bench sink: %s: %s\n", sk->cfg.count_file, strerror(-rc));
    }
    if (sk->cfg.json) {
        buf_reset(&b);
        rc = buf_puts(&b, "{\"tool\":\"tern-bench sink\",");
        if (rc == 0)
            rc = sink_counts_json(&b, &t);
        if (rc == 0)
            rc = buf_printf(&b, ",\"peak_connections\":%u", sk->peak_live);
        if (rc == 0)
            rc = buf_puts(&b, ",\"listeners\":[");
        for (unsigned i = 0; rc == 0 && i < sk->cfg.nlisten; i++) {
            rc = buf_printf(&b, "%s{\"listen\":", i ? "," : "");
            if (rc == 0)
                rc = bench_json_str(&b, sk->ln[i].name);
            if (rc == 0)
                rc = buf_puts(&b, ",");
            if (rc == 0)
                rc = sink_counts_json(&b, &sk->ln[i].c);
            if (rc == 0)
                rc = buf_puts(&b, "}");
        }
        if (rc == 0)
            rc = buf_puts(&b, "]}\n");
        if (rc == 0 && (rc = bench_write_atomic(sk->cfg.json, &b)) < 0 && !sk->cfg.quiet)
            fprintf(stderr, "tern-bench sink: %s: %s\n", sk->cfg.json, strerror(-rc));
    }
    buf_free(&b);
}

/* sess_reply - queue one reply line (CRLF added) */
static void sess_reply(struct sink_sess *s, const char *text)
{
    buf_puts(&s->reply, text);
    buf_puts(&s->reply, "\r\n");
}

/* sess_over - the session is over for connections_now: QUIT answered (the close follows; a
 * client that reconnects on the 221 must not find it counted still) or the connection gone */
static void sess_over(struct sink_sess *s)
{
    if (!s->over) {
        s->over = true;
        s->sk->nlive--;
    }
}

/* sess_reset - forget the transaction */
static void sess_reset(struct sink_sess *s)
{
    s->have_mail = false;
    s->nrcpt = 0;
    s->data_bytes = 0;
}

/* sess_tls_done - handshake over: count it full or resumed */
static void sess_tls_done(struct conn *c, void *owner, int err)
{
    struct sink_sess *s = owner;
    s->handshaking = false;
    if (err < 0) {
        s->ln->c.tls_failed++;
        if (!s->sk->cfg.quiet)
            fprintf(stderr, "tern-bench sink: TLS handshake failed: %s\n",
                    conn_tls(c) ? tls_session_error(conn_tls(c)) : strerror(-err));
        s->closing = true;
        conn_abort(c);
        return;
    }
    const struct tls_info *info = tls_session_info(conn_tls(c));
    if (info && info->reused)
        s->ln->c.tls_resumed++;
    else
        s->ln->c.tls_full++;
    if (info && info->peer_cert && info->peer_trusted)
        s->ln->c.ccert_trusted++;
    s->tls = true;
    if (s->sk->cfg.smtps) {
        char g[300];
        snprintf(g, sizeof(g), "220 %s ESMTP tern-bench sink", s->sk->cfg.hostname);
        sess_reply(s, g);
        sess_process(s);
    }
}

/* sess_start_tls - a server TLS session on the connection */
static void sess_start_tls(struct sink_sess *s)
{
    struct tls_session *ts = NULL;
    int rc = tls_session_new(&ts, s->sk->tls, true, NULL);
    buf_reset(&s->in); /* plaintext that came after STARTTLS is never read as a command */
    if (rc == 0 && (rc = conn_start_tls(s->conn, ts, sess_tls_done)) < 0)
        tls_session_free(ts);
    if (rc < 0) {
        s->ln->c.tls_failed++;
        s->closing = true;
        conn_abort(s->conn);
        return;
    }
    s->handshaking = true;
}

/* sess_send - hand the collected replies to the connection; STARTTLS or close after them */
static void sess_send(struct sink_sess *s)
{
    if (buf_used(&s->reply)) {
        buf_append(conn_out(s->conn), buf_ptr(&s->reply), buf_used(&s->reply));
        buf_reset(&s->reply);
        conn_flush(s->conn);
    }
    if (s->want_tls) {
        s->want_tls = false;
        sess_start_tls(s);
    } else if (s->closing) {
        conn_close(s->conn);
    }
}

/* sess_delay_done - --delay-ms is over: send, read on */
static void sess_delay_done(struct loop_timer *t)
{
    struct sink_sess *s = CONTAINER_OF(t, struct sink_sess, delay);
    s->delaying = false;
    sess_send(s);
    if (s->closing)
        return;
    conn_read_resume(s->conn);
    if (!s->handshaking)
        sess_process(s);
}

/* sess_end_data - the "." arrived: 250, 451 or 550 */
static void sess_end_data(struct sink_sess *s)
{
    struct sink *sk = s->sk;
    struct sink_counts *c = &s->ln->c;
    char text[160];

    c->transactions++;
    sk->defer_acc += sk->cfg.defer_pct;
    sk->reject_acc += sk->cfg.reject_pct;
    if (sk->defer_acc >= 100) {
        sk->defer_acc -= 100;
        c->deferred++;
        sess_reply(s, "451 4.3.0 Error: deferred by tern-bench sink");
    } else if (sk->reject_acc >= 100) {
        sk->reject_acc -= 100;
        c->rejected++;
        sess_reply(s, "550 5.7.1 Error: rejected by tern-bench sink");
    } else {
        c->messages++;
        c->bytes += s->data_bytes;
        c->rcpts += s->nrcpt;
        snprintf(text, sizeof(text), "250 2.0.0 Ok: queued as S%llu",
                 (unsigned long long)++sk->queue_id);
        sess_reply(s, text);
        if (sk->cfg.exit_after && !sk->exiting) {
            struct sink_counts t;
            sink_total(sk, &t);
            if (t.messages >= sk->cfg.exit_after)
                sk->exiting = true; /* the next tick writes the counts and stops */
        }
    }
    sess_reset(s);
    s->phase = PH_CMD;
}

/* cmd_is - does the line start with the verb (case-insensitive, then end or blank/colon)? */
static bool cmd_is(const char *line, size_t len, const char *verb)
{
    size_t n = strlen(verb);
    return len >= n && strncasecmp(line, verb, n) == 0 &&
           (len == n || line[n] == ' ' || line[n] == ':');
}

/* sess_command - one command line (without line end); false: stop processing this read */
static bool sess_command(struct sink_sess *s, const char *line, size_t len)
{
    const struct sink_cfg *cfg = &s->sk->cfg;
    char text[300];

    if (cmd_is(line, len, "EHLO")) {
        sess_reset(s);
        snprintf(text, sizeof(text), "250-%s", cfg->hostname);
        sess_reply(s, text);
        sess_reply(s, "250-PIPELINING");
        sess_reply(s, "250-SIZE 0");
        sess_reply(s, "250-8BITMIME");
        if (cfg->starttls && !s->tls)
            sess_reply(s, "250-STARTTLS");
        sess_reply(s, "250 ENHANCEDSTATUSCODES");
    } else if (cmd_is(line, len, "HELO")) {
        sess_reset(s);
        snprintf(text, sizeof(text), "250 %s", cfg->hostname);
        sess_reply(s, text);
    } else if (cmd_is(line, len, "MAIL")) {
        if (s->have_mail) {
            sess_reply(s, "503 5.5.1 Error: nested MAIL command");
        } else {
            s->have_mail = true;
            sess_reply(s, "250 2.1.0 Ok");
        }
    } else if (cmd_is(line, len, "RCPT")) {
        if (!s->have_mail) {
            sess_reply(s, "503 5.5.1 Error: need MAIL command");
        } else {
            s->nrcpt++;
            sess_reply(s, "250 2.1.5 Ok");
        }
    } else if (cmd_is(line, len, "DATA")) {
        if (!s->have_mail || s->nrcpt == 0) {
            sess_reply(s, s->have_mail ? "554 5.5.1 Error: no valid recipients"
                                       : "503 5.5.1 Error: need RCPT command");
        } else {
            s->phase = PH_DATA;
            s->data_bytes = 0;
            sess_reply(s, "354 End data with <CR><LF>.<CR><LF>");
        }
    } else if (cmd_is(line, len, "RSET")) {
        sess_reset(s);
        sess_reply(s, "250 2.0.0 Ok");
    } else if (cmd_is(line, len, "NOOP")) {
        sess_reply(s, "250 2.0.0 Ok");
    } else if (cmd_is(line, len, "QUIT")) {
        sess_reply(s, "221 2.0.0 Bye");
        sess_over(s);
        s->closing = true;
        return false;
    } else if (cmd_is(line, len, "STARTTLS")) {
        if (!cfg->starttls || s->tls) {
            sess_reply(s, "502 5.5.2 Error: command not recognized");
        } else {
            sess_reply(s, "220 2.0.0 Ready to start TLS");
            s->want_tls = true;
            sess_reset(s);
            buf_reset(&s->in); /* nothing sent in plaintext survives into TLS */
            return false;
        }
    } else {
        sess_reply(s, "502 5.5.2 Error: command not recognized");
    }
    return true;
}

/* sess_process - act on every complete line read so far; then send (or delay) the replies */
static void sess_process(struct sink_sess *s)
{
    while (!s->delaying && !s->closing && !s->want_tls) {
        char *p = buf_ptr(&s->in);
        size_t avail = buf_used(&s->in);
        char *nl = memchr(p, '\n', avail);
        if (!nl) {
            if (s->phase == PH_CMD && avail > SINK_LINE_MAX) {
                sess_reply(s, "500 5.5.0 Error: line too long");
                s->closing = true;
            } else if (s->phase == PH_DATA && avail > SINK_LINE_MAX) {
                /* a long content line: count what is there, keep reading */
                s->data_bytes += avail;
                s->mid_line = true;
                buf_reset(&s->in);
            }
            break;
        }
        size_t used = (size_t)(nl - p) + 1;
        size_t len = used - 1;
        if (len > 0 && p[len - 1] == '\r')
            len--;
        if (s->phase == PH_DATA) {
            if (len == 1 && p[0] == '.' && !s->mid_line)
                sess_end_data(s);
            else
                s->data_bytes += used;
            s->mid_line = false;
            buf_consume(&s->in, used);
            continue;
        }
        bool go_on = sess_command(s, p, len);
        if (!s->want_tls)
            buf_consume(&s->in, used);
        if (!go_on)
            break;
    }
    if (buf_used(&s->reply) == 0 && !s->want_tls && !s->closing)
        return;
    if (s->sk->cfg.delay_ms && !s->delaying && buf_used(&s->reply)) {
        s->delaying = true;
        conn_read_pause(s->conn);
        loop_timer_arm(s->sk->loop, &s->delay, s->sk->cfg.delay_ms);
        return;
    }
    if (!s->delaying)
        sess_send(s);
}

/* sess_data - conn callback: bytes (plaintext) from the client */
static void sess_data(struct conn *c, void *owner, const char *data, size_t len)
{
    struct sink_sess *s = owner;
    if (s->closing || s->handshaking)
        return;
    if (buf_append(&s->in, data, len) < 0) {
        s->closing = true;
        conn_abort(c);
        return;
    }
    sess_process(s);
}

/* sess_closed - conn callback: the session ends */
static void sess_closed(struct conn *c, void *owner, int err)
{
    struct sink_sess *s = owner;
    struct sink *sk = s->sk;
    if (s->prev)
        s->prev->next = s->next;
    else
        sk->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    sk->nsess--;
    sess_over(s);
    loop_timer_cancel(sk->loop, &s->delay);
    buf_free(&s->in);
    buf_free(&s->reply);
    free(s);
}

static const struct conn_ops sess_ops = {
    .data = sess_data,
    .closed = sess_closed,
};

/* sink_accept_arm - post one accept on the listener */
static void sink_accept_arm(struct sink_listener *ln)
{
    struct io_uring_sqe *sqe = loop_sqe(ln->sk->loop);
    io_uring_prep_accept(sqe, ln->fd, NULL, NULL, SOCK_CLOEXEC);
    loop_op_arm(sqe, &ln->accept_op);
}

/* sink_accept_cb - a new connection: a session with the greeting (or TLS first) */
static void sink_accept_cb(struct loop_op *op, int res, unsigned flags)
{
    struct sink_listener *ln = CONTAINER_OF(op, struct sink_listener, accept_op);
    struct sink *sk = ln->sk;

    sink_accept_arm(ln);
    if (res < 0) {
        if (!sk->cfg.quiet && res != -ECONNABORTED)
            fprintf(stderr, "tern-bench sink: accept on %s: %s\n", ln->name, strerror(-res));
        return;
    }
    struct sink_sess *s = calloc(1, sizeof(*s));
    if (!s) {
        close(res);
        return;
    }
    s->sk = sk;
    s->ln = ln;
    loop_timer_init(&s->delay, sess_delay_done);
    if (conn_new(&s->conn, sk->loop, res, &sess_ops, s) < 0) {
        close(res);
        free(s);
        return;
    }
    ln->c.connections++;
    s->next = sk->sessions;
    if (s->next)
        s->next->prev = s;
    sk->sessions = s;
    sk->nsess++;
    if (++sk->nlive > sk->peak_live)
        sk->peak_live = sk->nlive;
    if (sk->cfg.smtps) {
        sess_start_tls(s);
        return;
    }
    char g[300];
    snprintf(g, sizeof(g), "220 %s ESMTP tern-bench sink", sk->cfg.hostname);
    sess_reply(s, g);
    sess_process(s);
}

/* sink_tick - signals, --exit-after, the count files every 100 ms */
static void sink_tick(struct loop_timer *t)
{
    struct sink *sk = CONTAINER_OF(t, struct sink, tick);
    if (sk->close_due) {
        /* closing: every session is aborted; stop once all are gone, or after a bound */
        if (sk->nsess == 0 || loop_now(sk->loop) >= sk->close_due)
            loop_stop(sk->loop);
        else
            loop_timer_arm(sk->loop, &sk->tick, 10);
        return;
    }
    if (sink_signalled || sk->exiting) {
        sink_write(sk);
        /* close what is open, so that the process ends owning nothing (LeakSanitizer) */
        for (struct sink_sess *s = sk->sessions; s; s = s->next) {
            s->closing = true;
            conn_abort(s->conn);
        }
        sk->close_due = loop_now(sk->loop) + SINK_CLOSE_WAIT_MS;
        loop_timer_arm(sk->loop, &sk->tick, 10);
        return;
    }
    sk->ticks++;
    sink_write(sk); /* ten times a second: connections_now is watched while it changes */
    loop_timer_arm(sk->loop, &sk->tick, 100);
}

/* sink_listen - bind and listen on "addr:port" */
static int sink_listen(struct sink_listener *ln, const char *hostport)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd, rc;

    if ((rc = bench_parse_hostport(hostport, &ss, &len)) < 0)
        return rc;
    if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    ln->fd = fd;
    snprintf(ln->name, sizeof(ln->name), "%s", hostport);
    ln->accept_op.cb = sink_accept_cb;
    return 0;
}

/* sink_usage - the options */
static void sink_usage(void)
{
    fprintf(stderr,
            "usage: tern-bench sink --listen ADDR:PORT [--listen ...] [--starttls | --smtps]\n"
            "       [--cert F --key F] [--cafile F] [--session-cache [--cache-file F]]\n"
            "       [--defer-pct P] [--reject-pct P] [--delay-ms D] [--count-file F]\n"
            "       [--json F] [--exit-after M] [--hostname NAME] [--quiet]\n");
}

/* sink_parse - options into cfg; 0 or -EINVAL (message printed) */
static int sink_parse(struct sink_cfg *cfg, int argc, char **argv)
{
    enum {
        O_LISTEN = 256,
        O_STARTTLS,
        O_SMTPS,
        O_CERT,
        O_KEY,
        O_CAFILE,
        O_CACHE,
        O_CACHEFILE,
        O_DEFER,
        O_REJECT,
        O_DELAY,
        O_COUNT,
        O_JSON,
        O_EXIT,
        O_HOST,
        O_QUIET
    };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"starttls", no_argument, NULL, O_STARTTLS},
        {"smtps", no_argument, NULL, O_SMTPS},
        {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY},
        {"cafile", required_argument, NULL, O_CAFILE},
        {"session-cache", no_argument, NULL, O_CACHE},
        {"cache-file", required_argument, NULL, O_CACHEFILE},
        {"defer-pct", required_argument, NULL, O_DEFER},
        {"reject-pct", required_argument, NULL, O_REJECT},
        {"delay-ms", required_argument, NULL, O_DELAY},
        {"count-file", required_argument, NULL, O_COUNT},
        {"json", required_argument, NULL, O_JSON},
        {"exit-after", required_argument, NULL, O_EXIT},
        {"hostname", required_argument, NULL, O_HOST},
        {"quiet", no_argument, NULL, O_QUIET},
        {NULL, 0, NULL, 0},
    };
    int o;

    cfg->hostname = "sink.tern-bench.test";
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        unsigned long v = 0;
        if (o == O_DEFER || o == O_REJECT || o == O_DELAY || o == O_EXIT) {
            char *end;
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || *optarg == '-') {
                fprintf(stderr, "tern-bench sink: bad number: %s\n", optarg);
                return -EINVAL;
            }
        }
        switch (o) {
        case O_LISTEN:
            if (cfg->nlisten == SINK_MAX_LISTEN) {
                fprintf(stderr, "tern-bench sink: at most %d --listen\n", SINK_MAX_LISTEN);
                return -EINVAL;
            }
            cfg->listen[cfg->nlisten++] = optarg;
            break;
        case O_STARTTLS:
            cfg->starttls = true;
            break;
        case O_SMTPS:
            cfg->smtps = true;
            break;
        case O_CERT:
            cfg->cert = optarg;
            break;
        case O_KEY:
            cfg->key = optarg;
            break;
        case O_CAFILE:
            cfg->cafile = optarg;
            break;
        case O_CACHE:
            cfg->session_cache = true;
            break;
        case O_CACHEFILE:
            cfg->cache_file = optarg;
            cfg->session_cache = true;
            break;
        case O_DEFER:
            cfg->defer_pct = (unsigned)v;
            break;
        case O_REJECT:
            cfg->reject_pct = (unsigned)v;
            break;
        case O_DELAY:
            cfg->delay_ms = (unsigned)v;
            break;
        case O_COUNT:
            cfg->count_file = optarg;
            break;
        case O_JSON:
            cfg->json = optarg;
            break;
        case O_EXIT:
            cfg->exit_after = v;
            break;
        case O_HOST:
            cfg->hostname = optarg;
            break;
        case O_QUIET:
            cfg->quiet = true;
            break;
        default:
            sink_usage();
            return -EINVAL;
        }
    }
    if (optind < argc || cfg->nlisten == 0) {
        sink_usage();
        return -EINVAL;
    }
    if (cfg->defer_pct > 100 || cfg->reject_pct > 100 || cfg->defer_pct + cfg->reject_pct > 100) {
        fprintf(stderr, "tern-bench sink: --defer-pct + --reject-pct must be at most 100\n");
        return -EINVAL;
    }
    if ((cfg->starttls || cfg->smtps) && !cfg->cert) {
        fprintf(stderr, "tern-bench sink: --starttls/--smtps need --cert (and --key)\n");
        return -EINVAL;
    }
    if (cfg->starttls && cfg->smtps) {
        fprintf(stderr, "tern-bench sink: --starttls and --smtps exclude each other\n");
        return -EINVAL;
    }
    return 0;
}

/* sink_tls_setup - the server context, with the session cache when asked */
static int sink_tls_setup(struct sink *sk)
{
    const struct sink_cfg *cfg = &sk->cfg;
    struct tls_ctx_params p = {.cert_file = cfg->cert,
                               .key_file = cfg->key,
                               .CAfile = cfg->cafile,
                               .ask_ccert = cfg->cafile != NULL};
    char err[256];
    int rc;

    if ((rc = tls_ctx_new(&sk->tls, true, &p, err, sizeof(err))) < 0) {
        fprintf(stderr, "tern-bench sink: TLS: %s\n", err);
        return rc;
    }
    if (!cfg->session_cache)
        return 0;
    if (cfg->cache_file) {
        snprintf(sk->cache_path, sizeof(sk->cache_path), "%s", cfg->cache_file);
    } else {
        if ((rc = tmpdir_make(sk->cache_dir, sizeof(sk->cache_dir), "tern-bench-sink")) < 0) {
            sk->cache_dir[0] = 0;
            fprintf(stderr, "tern-bench sink: cannot make a cache directory: %s\n", strerror(-rc));
            return rc;
        }
        snprintf(sk->cache_path, sizeof(sk->cache_path), "%s/cache.lmdb", sk->cache_dir);
    }
    if ((rc = tls_cache_open(&sk->cache, sk->cache_path, 0)) < 0 ||
        (rc = tls_ctx_use_cache(sk->tls, sk->cache, SINK_CACHE_TIMEOUT)) < 0) {
        fprintf(stderr, "tern-bench sink: session cache %s: %s\n", sk->cache_path, strerror(-rc));
        return rc;
    }
    return 0;
}

/* sink_cleanup_cache - remove a temporary cache */
static void sink_cleanup_cache(struct sink *sk)
{
    char path[400];
    tls_cache_close(sk->cache);
    sk->cache = NULL;
    if (!sk->cache_dir[0])
        return;
    unlink(sk->cache_path);
    snprintf(path, sizeof(path), "%s-lock", sk->cache_path);
    unlink(path);
    rmdir(sk->cache_dir);
}

/* sink_summary - one line per listener and the totals on stderr */
static void sink_summary(const struct sink *sk)
{
    struct sink_counts t;
    sink_total(sk, &t);
    fprintf(stderr,
            "tern-bench sink: %llu messages, %llu bytes, %llu transactions (%llu deferred, %llu "
            "rejected), %llu connections, TLS full %llu resumed %llu failed %llu\n",
            (unsigned long long)t.messages, (unsigned long long)t.bytes,
            (unsigned long long)t.transactions, (unsigned long long)t.deferred,
            (unsigned long long)t.rejected, (unsigned long long)t.connections,
            (unsigned long long)t.tls_full, (unsigned long long)t.tls_resumed,
            (unsigned long long)t.tls_failed);
}

/* bench_sink_main - run the sink; see bench_sink.h */
int bench_sink_main(int argc, char **argv)
{
    static struct sink sk; /* big (listener array); lives until exit */
    int rc = 1;

    if (sink_parse(&sk.cfg, argc, argv) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    for (unsigned i = 0; i < SINK_MAX_LISTEN; i++)
        sk.ln[i].fd = -1;
    if ((sk.cfg.starttls || sk.cfg.smtps) && sink_tls_setup(&sk) < 0)
        goto fail;
    if (loop_new(&sk.loop, 4096) < 0) {
        fprintf(stderr, "tern-bench sink: cannot set up io_uring\n");
        goto fail;
    }
    for (unsigned i = 0; i < sk.cfg.nlisten; i++) {
        sk.ln[i].sk = &sk;
        int lrc = sink_listen(&sk.ln[i], sk.cfg.listen[i]);
        if (lrc < 0) {
            fprintf(stderr, "tern-bench sink: listen %s: %s\n", sk.cfg.listen[i], strerror(-lrc));
            goto fail;
        }
        sink_accept_arm(&sk.ln[i]);
    }
    struct sigaction sa = {.sa_handler = sink_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    loop_timer_init(&sk.tick, sink_tick);
    loop_timer_arm(sk.loop, &sk.tick, 100);
    sink_write(&sk);
    if (!sk.cfg.quiet)
        fprintf(stderr, "tern-bench sink: listening on %u address(es)\n", sk.cfg.nlisten);
    loop_run(sk.loop);
    sink_write(&sk);
    if (!sk.cfg.quiet)
        sink_summary(&sk);
    rc = 0;
fail:
    for (unsigned i = 0; i < sk.cfg.nlisten; i++)
        if (sk.ln[i].fd >= 0)
            close(sk.ln[i].fd);
    /* Sessions that did not close in time still reference the loop and the TLS context:
     * then the process exits with them. */
    if (sk.nsess == 0) {
        loop_free(sk.loop);
        tls_ctx_free(sk.tls);
    }
    sink_cleanup_cache(&sk);
    return rc;
}
