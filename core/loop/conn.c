/*
 * conn - one TCP connection driven by the ring; see loop/conn.h.
 *
 * Ownership: the conn owns its fd and its send buffers. `out` is where the
 * owner appends plaintext. A flush moves it to `wire` (as it is, or
 * encrypted when TLS is on), and when no send is in flight `wire` becomes
 * `sending`, so the kernel owns `sending` until the send CQE while the owner
 * keeps appending.
 *
 * Memory of an idle conn: none but the struct. Reading waits for POLLIN
 * (a poll op, no buffer) and only then recv()s, into the thread's one
 * receive buffer (conn_rbuf), whose bytes live for the data() call; each
 * send buffer is freed as soon as it is empty, not kept for reuse. A recv
 * op with a buffer of its own per conn was the alternative: 16 KiB pinned
 * for every idle session. A provided-buffer ring (IORING_REGISTER_PBUF_RING)
 * would save the recv() syscall but needs per-loop state and a policy for
 * when the ring runs dry; a poll is what io_uring does internally anyway
 * for a socket with nothing to read.
 *
 * TLS (conn_start_tls) sits between the two: received ciphertext is fed to
 * the tls_session and only plaintext reaches ops->data(); plaintext in `out`
 * is encrypted on flush. Whatever plaintext was appended before
 * conn_start_tls() (a "220 Ready to start TLS") still goes out in the clear.
 * The conn is freed only when no op of it is in flight and the owner has been
 * told closed() - never from inside one of the owner's callbacks.
 */
#include "core/loop/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/log.h"
#include "tls/tls_session.h"

struct conn {
    struct loop *loop;
    int fd;
    const struct conn_ops *ops;
    void *owner;

    struct loop_op recv_op, send_op, connect_op, close_op, cancel_op;
    struct loop_timer connect_timer;
    struct loop_timer write_timer; /* no (enough) send progress: drop the connection */
    uint64_t write_timeout_ms;     /* conn_set_write_timeout(); 0: none (closing still bounded) */
    bool write_per_request; /* the timer runs until all is sent, progress does not reset it */
    int inflight;

    struct buf out, wire, sending; /* each NULL-data (freed) whenever empty */

    struct tls_session *tls;  /* owned once conn_start_tls() succeeded */
    bool tls_handshaking;
    conn_tls_done_fn *tls_done;

    bool recv_armed, send_armed, paused;
    bool backlogged;   /* unsent output went above CONN_OUT_HIGH: no recv until CONN_OUT_LOW */
    bool closing;      /* close once `out` is sent */
    bool shut;         /* fd close submitted: no more I/O */
    bool notified;     /* closed() or a failed connected() was reported */
    bool connecting;
    int close_err;
    struct sockaddr_storage peer;
    socklen_t peerlen;
};

#define CONN_OF(op, field) ((struct conn *)((char *)(op) - offsetof(struct conn, field)))

/* the receive buffer of every conn on this thread: callbacks never nest, and data() must copy
 * what it keeps (static TLS: nothing to free when a thread ends) */
static _Thread_local char conn_rbuf[CONN_RECV_SIZE];

static void conn_arm_recv(struct conn *c);
static void conn_want_recv(struct conn *c);
static void conn_write_timer(struct conn *c, bool progress);
static void conn_shutdown(struct conn *c, int err);
static void conn_tls_input(struct conn *c, const char *data, size_t len);
static void conn_tls_progress(struct conn *c);

/* conn_maybe_free - free once nothing is in flight and the owner knows */
static void conn_maybe_free(struct conn *c)
{
    if (c->inflight > 0 || !c->notified)
        return;
    loop_timer_cancel(c->loop, &c->connect_timer);
    loop_timer_cancel(c->loop, &c->write_timer);
    buf_free(&c->out);
    buf_free(&c->wire);
    buf_free(&c->sending);
    tls_session_free(c->tls);
    free(c);
}

/* conn_recv_cb - the socket is readable (or has an error, or EOF): receive now */
static void conn_recv_cb(struct loop_op *op, int res, unsigned flags)
{
    struct conn *c = CONN_OF(op, recv_op);
    c->inflight--;
    c->recv_armed = false;
    if (c->shut) {
        conn_maybe_free(c);
        return;
    }
    if (res >= 0) {
        ssize_t n = recv(c->fd, conn_rbuf, sizeof(conn_rbuf), MSG_DONTWAIT);
        res = n < 0 ? -errno : (int)n;
    }
    if (res > 0 && c->tls) {
        conn_tls_input(c, conn_rbuf, (size_t)res);
        conn_want_recv(c);
        return;
    }
    if (res > 0) {
        c->ops->data(c, c->owner, conn_rbuf, (size_t)res);
        conn_want_recv(c);
        return;
    }
    if (res == -EINTR || res == -EAGAIN || res == -EWOULDBLOCK || res == -ENOBUFS) {
        conn_want_recv(c);
        return;
    }
    if (res == 0 && c->tls && c->tls_handshaking) {
        tls_session_feed(c->tls, NULL, 0);
        conn_tls_progress(c); /* reports the failed handshake to the owner */
    }
    conn_shutdown(c, res == 0 ? 0 : res);
}

/* conn_arm_recv - wait for input: a poll, so that no buffer is tied up while the peer is quiet */
static void conn_arm_recv(struct conn *c)
{
    if (c->recv_armed || c->shut)
        return;
    struct io_uring_sqe *sqe = loop_sqe(c->loop);
    io_uring_prep_poll_add(sqe, c->fd, POLLIN);
    loop_op_arm(sqe, &c->recv_op);
    c->recv_armed = true;
    c->inflight++;
}

/* conn_unsent - octets accepted from the owner and not yet taken by the kernel */
size_t conn_unsent(const struct conn *c)
{
    return buf_used(&c->out) + buf_used(&c->wire) + buf_used(&c->sending);
}

/* conn_backlogged - hysteresis between CONN_OUT_HIGH and CONN_OUT_LOW */
static bool conn_backlogged(struct conn *c)
{
    size_t unsent = conn_unsent(c);
    if (unsent > CONN_OUT_HIGH)
        c->backlogged = true;
    else if (unsent <= CONN_OUT_LOW)
        c->backlogged = false;
    return c->backlogged;
}

/* conn_want_recv - post a recv unless the owner paused, output is backlogged, or it is over */
static void conn_want_recv(struct conn *c)
{
    if (c->shut || c->closing || c->connecting || c->paused || conn_backlogged(c))
        return;
    conn_arm_recv(c);
}

/* conn_send_start - send what `sending` holds */
static void conn_send_start(struct conn *c)
{
    struct io_uring_sqe *sqe = loop_sqe(c->loop);
    io_uring_prep_send(sqe, c->fd, buf_ptr(&c->sending), buf_used(&c->sending), MSG_NOSIGNAL);
    loop_op_arm(sqe, &c->send_op);
    c->send_armed = true;
    c->inflight++;
}

/* conn_send_cb - a send finished, maybe partially */
static void conn_send_cb(struct loop_op *op, int res, unsigned flags)
{
    struct conn *c = CONN_OF(op, send_op);
    c->inflight--;
    c->send_armed = false;
    if (c->shut) {
        conn_maybe_free(c);
        return;
    }
    if (res < 0) {
        if (res == -EINTR || res == -EAGAIN) {
            conn_send_start(c);
            return;
        }
        conn_shutdown(c, res);
        return;
    }
    buf_consume(&c->sending, (size_t)res);
    if (buf_used(&c->sending) > 0) {
        conn_send_start(c);
    } else {
        buf_free(&c->sending);
        conn_flush(c);
    }
    if (c->shut)
        return;
    if (!c->send_armed && c->closing) {
        conn_shutdown(c, 0);
        return;
    }
    conn_write_timer(c, res > 0);
    if (c->closing)
        return;
    conn_want_recv(c); /* reading resumes once the backlog is down to CONN_OUT_LOW */
    if (c->ops->drained && conn_unsent(c) <= CONN_OUT_LOW)
        c->ops->drained(c, c->owner);
}

/* conn_write_timeout - no send progress in time, or a closing conn could not flush: drop it */
static void conn_write_timeout(struct loop_timer *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, write_timer));
    if (c->shut)
        return;
    log_debug(1, "conn", "%zu octets unsent after the write timeout: connection dropped",
              conn_unsent(c));
    /* RST instead of a FIN queued behind data the peer will not take */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    conn_shutdown(c, -ETIMEDOUT);
}

/* conn_write_timer - arm, re-arm (progress without the per-request rule) or cancel the write
 * timer after output or a send changed */
static void conn_write_timer(struct conn *c, bool progress)
{
    if (c->shut || conn_unsent(c) == 0) {
        loop_timer_cancel(c->loop, &c->write_timer);
        return;
    }
    if (!c->send_armed)
        return; /* still connecting: the connect timeout guards */
    uint64_t ms = c->write_timeout_ms;
    if (c->closing && (!ms || ms > CONN_CLOSE_FLUSH_MS))
        ms = CONN_CLOSE_FLUSH_MS;
    if (!ms)
        return;
    if (!loop_timer_armed(&c->write_timer) || (progress && !c->write_per_request && !c->closing))
        loop_timer_arm(c->loop, &c->write_timer, ms);
}

/* conn_set_write_timeout - see loop/conn.h */
void conn_set_write_timeout(struct conn *c, uint64_t ms, bool per_request)
{
    c->write_timeout_ms = ms;
    c->write_per_request = per_request;
}

/* conn_flush - move `out` to the wire (encrypting under TLS) and send unless a send is in flight */
void conn_flush(struct conn *c)
{
    if (c->shut)
        return;
    if (c->tls) {
        if (!c->tls_handshaking && buf_used(&c->out) > 0) {
            if (tls_session_write(c->tls, buf_ptr(&c->out), buf_used(&c->out)) < 0) {
                conn_shutdown(c, -EPROTO);
                return;
            }
            buf_free(&c->out);
        }
        if (tls_session_take_output(c->tls, &c->wire) < 0) {
            conn_shutdown(c, -ENOMEM);
            return;
        }
    } else if (buf_used(&c->out) > 0) {
        if (buf_used(&c->wire) == 0) {
            buf_free(&c->wire);
            c->wire = c->out;
            c->out = (struct buf)BUF_INIT;
        } else if (buf_append(&c->wire, buf_ptr(&c->out), buf_used(&c->out)) == 0) {
            buf_free(&c->out);
        }
    }
    if (c->send_armed || c->connecting || buf_used(&c->wire) == 0)
        return;
    /* `sending` is empty whenever no send is armed */
    buf_free(&c->sending);
    c->sending = c->wire;
    c->wire = (struct buf)BUF_INIT;
    conn_send_start(c);
    conn_write_timer(c, false);
}

/* conn_tls_progress - drive the handshake; report its end to the owner once */
static void conn_tls_progress(struct conn *c)
{
    int rc = tls_session_handshake(c->tls);
    if (rc == -EAGAIN) {
        conn_flush(c);
        return;
    }
    c->tls_handshaking = false;
    conn_flush(c);
    c->tls_done(c, c->owner, rc);
}

/* conn_tls_input - ciphertext arrived: handshake, then plaintext to the owner */
static void conn_tls_input(struct conn *c, const char *data, size_t len)
{
    if (tls_session_feed(c->tls, data, len) < 0) {
        conn_shutdown(c, -ENOMEM);
        return;
    }
    if (c->tls_handshaking) {
        conn_tls_progress(c);
        if (c->tls_handshaking || c->shut || c->closing)
            return;
    }
    /* Plaintext of one receive lives only during this call: an idle or blocked conn keeps no
     * decryption buffer (up to 64 KiB with tls_session_read's reserve). */
    struct buf plain = BUF_INIT;
    for (;;) {
        buf_reset(&plain);
        int rc = tls_session_read(c->tls, &plain);
        if (rc == -EAGAIN)
            break;
        if (rc <= 0) {
            if (rc < 0)
                log_debug(1, "tls", "TLS read: %s", tls_session_error(c->tls));
            conn_flush(c);
            conn_shutdown(c, rc == 0 ? 0 : -EPROTO);
            buf_free(&plain);
            return;
        }
        c->ops->data(c, c->owner, buf_ptr(&plain), buf_used(&plain));
        if (c->shut || c->closing || !c->tls) {
            buf_free(&plain);
            return;
        }
    }
    buf_free(&plain);
    conn_flush(c);
}

/* conn_start_tls - begin TLS on this connection; see loop/conn.h */
int conn_start_tls(struct conn *c, struct tls_session *ts, conn_tls_done_fn *done)
{
    if (c->tls || c->shut)
        return -EINVAL;
    conn_flush(c); /* what the owner wrote so far still goes in the clear */
    c->tls = ts;
    c->tls_handshaking = true;
    c->tls_done = done;
    conn_tls_progress(c); /* a client sends its hello now */
    return 0;
}

struct tls_session *conn_tls(const struct conn *c)
{
    return c->tls;
}

/* conn_close_cb - the fd is closed: tell the owner */
static void conn_close_cb(struct loop_op *op, int res, unsigned flags)
{
    struct conn *c = CONN_OF(op, close_op);
    c->inflight--;
    c->fd = -1;
    if (!c->notified) {
        c->notified = true;
        c->ops->closed(c, c->owner, c->close_err);
    }
    conn_maybe_free(c);
}

static void conn_cancel_cb(struct loop_op *op, int res, unsigned flags)
{
    struct conn *c = CONN_OF(op, cancel_op);
    c->inflight--;
    conn_maybe_free(c);
}

/* conn_shutdown - stop all I/O, close the fd through the ring; closed() follows */
static void conn_shutdown(struct conn *c, int err)
{
    if (c->shut)
        return;
    c->shut = true;
    c->close_err = err;
    loop_timer_cancel(c->loop, &c->write_timer);
    if (c->recv_armed) {
        struct io_uring_sqe *sqe = loop_sqe(c->loop);
        io_uring_prep_cancel(sqe, &c->recv_op, 0);
        loop_op_arm(sqe, &c->cancel_op);
        c->inflight++;
    }
    /* Wakes any recv or send still in the kernel, and sends our FIN. */
    shutdown(c->fd, SHUT_RDWR);
    struct io_uring_sqe *sqe = loop_sqe(c->loop);
    io_uring_prep_close(sqe, c->fd);
    loop_op_arm(sqe, &c->close_op);
    c->inflight++;
}

/* conn_alloc - common construction */
static struct conn *conn_alloc(struct loop *l, int fd, const struct conn_ops *ops, void *owner)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->loop = l;
    c->fd = fd;
    c->ops = ops;
    c->owner = owner;
    c->recv_op.cb = conn_recv_cb;
    c->send_op.cb = conn_send_cb;
    c->close_op.cb = conn_close_cb;
    c->cancel_op.cb = conn_cancel_cb;
    loop_timer_init(&c->connect_timer, NULL);
    loop_timer_init(&c->write_timer, conn_write_timeout);
    return c;
}

/* conn_new - wrap an accepted or connected socket; starts reading */
int conn_new(struct conn **out, struct loop *l, int fd, const struct conn_ops *ops, void *owner)
{
    struct conn *c = conn_alloc(l, fd, ops, owner);
    if (!c)
        return -ENOMEM;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->peerlen = sizeof(c->peer);
    getpeername(fd, (struct sockaddr *)&c->peer, &c->peerlen);
    conn_arm_recv(c);
    *out = c;
    return 0;
}

/* conn_connect_timeout - the peer did not answer in time */
static void conn_connect_timeout(struct loop_timer *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, connect_timer));
    c->close_err = -ETIMEDOUT;
    struct io_uring_sqe *sqe = loop_sqe(c->loop);
    io_uring_prep_cancel(sqe, &c->connect_op, 0);
    loop_op_arm(sqe, &c->cancel_op);
    c->inflight++;
}

/* conn_connect_cb - the connect finished */
static void conn_connect_cb(struct loop_op *op, int res, unsigned flags)
{
    struct conn *c = CONN_OF(op, connect_op);
    c->inflight--;
    c->connecting = false;
    loop_timer_cancel(c->loop, &c->connect_timer);
    if (res == -ECANCELED && c->close_err)
        res = c->close_err;
    if (res < 0) {
        close(c->fd);
        c->fd = -1;
        c->shut = true;
        c->notified = true;
        c->ops->connected(c, c->owner, res);
        conn_maybe_free(c);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->ops->connected(c, c->owner, 0);
    if (c->shut)
        return;
    conn_flush(c);
    conn_want_recv(c);
    if (c->closing && !c->send_armed)
        conn_shutdown(c, 0);
}

/* conn_connect - open a connection asynchronously; ops->connected() reports */
int conn_connect(struct conn **out, struct loop *l, const struct sockaddr *sa, socklen_t salen,
                 unsigned timeout_ms, const struct conn_ops *ops, void *owner)
{
    if (salen > sizeof(struct sockaddr_storage))
        return -EINVAL;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct conn *c = conn_alloc(l, fd, ops, owner);
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    memcpy(&c->peer, sa, salen);
    c->peerlen = salen;
    c->connect_op.cb = conn_connect_cb;
    c->connecting = true;
    struct io_uring_sqe *sqe = loop_sqe(l);
    io_uring_prep_connect(sqe, fd, (struct sockaddr *)&c->peer, c->peerlen);
    loop_op_arm(sqe, &c->connect_op);
    c->inflight++;
    loop_timer_init(&c->connect_timer, conn_connect_timeout);
    if (timeout_ms)
        loop_timer_arm(l, &c->connect_timer, timeout_ms);
    *out = c;
    return 0;
}

struct buf *conn_out(struct conn *c)
{
    return &c->out;
}

void conn_read_pause(struct conn *c)
{
    c->paused = true;
}

void conn_read_resume(struct conn *c)
{
    if (!c->paused)
        return;
    c->paused = false;
    conn_want_recv(c);
}

/* conn_close - flush, then close */
void conn_close(struct conn *c)
{
    if (c->shut || c->closing)
        return;
    c->closing = true;
    if (c->tls && !c->tls_handshaking) {
        conn_flush(c); /* plaintext still queued goes before close_notify */
        tls_session_shutdown(c->tls);
    }
    conn_flush(c);
    if (!c->send_armed && !c->connecting) {
        conn_shutdown(c, 0);
        return;
    }
    /* the last bytes get CONN_CLOSE_FLUSH_MS (or the write timeout if shorter) from now */
    loop_timer_cancel(c->loop, &c->write_timer);
    conn_write_timer(c, false);
}

/* conn_abort - close now */
void conn_abort(struct conn *c)
{
    if (c->connecting) {
        c->close_err = -ECONNABORTED;
        conn_connect_timeout(&c->connect_timer);
        return;
    }
    conn_shutdown(c, -ECONNABORTED);
}

int conn_fd(const struct conn *c)
{
    return c->fd;
}

/* conn_sockaddr_text - numeric form of an IPv4/IPv6 socket address (v4-mapped as v4) */
static void conn_sockaddr_text(const struct sockaddr *sa, char *addr, size_t len, int *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, addr, (socklen_t)len);
        if (port)
            *port = ntohs(s4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], addr, (socklen_t)len);
        else
            inet_ntop(AF_INET6, &s6->sin6_addr, addr, (socklen_t)len);
        if (port)
            *port = ntohs(s6->sin6_port);
    } else {
        snprintf(addr, len, "unknown");
        if (port)
            *port = 0;
    }
}

void conn_peer(const struct conn *c, char *addr, size_t len, int *port)
{
    conn_sockaddr_text((const struct sockaddr *)&c->peer, addr, len, port);
}

void conn_fd_peer(int fd, char *addr, size_t len, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
        ss.ss_family = AF_UNSPEC;
    conn_sockaddr_text((const struct sockaddr *)&ss, addr, len, port);
}

void conn_local(const struct conn *c, char *addr, size_t len, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getsockname(c->fd, (struct sockaddr *)&ss, &sl) < 0)
        ss.ss_family = AF_UNSPEC;
    conn_sockaddr_text((const struct sockaddr *)&ss, addr, len, port);
}
