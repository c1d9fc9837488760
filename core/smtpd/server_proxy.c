/*
 * server_proxy - the PROXY header before a session (smtpd_upstream_proxy_protocol = haproxy).
 *
 * A balancer in front of tern connects for every client and first says whom it carries. Until
 * that header is read, the accepted socket belongs to the session alone (no conn reads it, so
 * no octet of it is ever taken for SMTP or TLS): a POLLIN poll on the ring says when something
 * came, a non-blocking peek shows it to proxy_parse(), and only the header's own octets are
 * consumed - what follows it (the client's EHLO, or its TLS ClientHello on an smtps listener)
 * stays in the socket for the conn that server_begin() makes next. A proper prefix of a header
 * is consumed into `proxy_buf` so that the next peek waits for new octets instead of showing
 * the same ones again. A header that is missing, malformed or too long, a timeout
 * (smtpd_upstream_proxy_timeout) or an early close end the connection with a log line naming
 * the balancer's address and the reason; the session never started, so nothing else is said.
 *
 * BOUNDS: PROXY_MAX (1 KiB) per session while the header is read, freed once it is; the wait
 * is smtpd_upstream_proxy_timeout; two system calls per segment that arrives.
 */
#include "core/smtpd/server_impl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/stats.h"
#include "core/daemon/worker.h"
#include "core/loop/conn.h"
#include "core/smtpd/proxy.h"

/* server_proxy_end - stop waiting: the timer, the buffer; the socket is the caller's */
static int server_proxy_end(struct server_session *s)
{
    int fd = s->proxy_fd;
    s->proxy_fd = -1;
    loop_timer_cancel(s->w->loop, &s->proxy_timer);
    free(s->proxy_buf);
    s->proxy_buf = NULL;
    return fd;
}

/* server_proxy_fail - no usable header: log, close, end the session */
static void server_proxy_fail(struct server_session *s, const char *why)
{
    char addr[64];
    int port;
    conn_fd_peer(s->proxy_fd, addr, sizeof(addr), &port);
    log_warn("smtpd", "upstream proxy header from %s[%d]: %s; connection closed", addr, port, why);
    stats_inc(STAT_PROXY_REFUSED);
    int fd = server_proxy_end(s);
    if (s->proxy_armed) {
        /* the poll completes when the socket is shut down; it holds its own reference */
        shutdown(fd, SHUT_RDWR);
        struct io_uring_sqe *sqe = loop_sqe(s->w->loop);
        io_uring_prep_cancel(sqe, &s->proxy_op, 0);
        io_uring_sqe_set_data(sqe, NULL);
    }
    close(fd);
    server_unref(s);
}

static void server_proxy_arm(struct server_session *s);

/* server_proxy_read - look at what came; consume the header, or a prefix of one */
static void server_proxy_read(struct server_session *s)
{
    size_t have = s->proxy_have;
    ssize_t n = recv(s->proxy_fd, s->proxy_buf + have, PROXY_MAX - have, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        server_proxy_arm(s);
        return;
    }
    if (n <= 0) {
        server_proxy_fail(s, n == 0 ? "the connection closed before the header ended"
                                    : strerror(errno));
        return;
    }
    struct proxy_header h;
    const char *why;
    long rc = proxy_parse(s->proxy_buf, have + (size_t)n, &h, &why);
    if (rc < 0) {
        server_proxy_fail(s, why);
        return;
    }
    /* what belongs to the header leaves the socket; the rest is the client's */
    size_t take = rc > 0 ? (size_t)rc - have : (size_t)n;
    if (recv(s->proxy_fd, s->proxy_buf + have, take, MSG_DONTWAIT) != (ssize_t)take) {
        server_proxy_fail(s, "the socket lost octets it had shown");
        return;
    }
    s->proxy_have = have + take;
    if (rc == 0) {
        server_proxy_arm(s);
        return;
    }
    enum listen_kind kind = s->proxy_kind;
    int fd = server_proxy_end(s);
    server_begin(s, fd, kind, &h);
}

/* server_proxy_cb - the socket has something to read (or was shut down) */
static void server_proxy_cb(struct loop_op *op, int res, unsigned flags)
{
    (void)flags;
    struct server_session *s =
        (struct server_session *)((char *)op - offsetof(struct server_session, proxy_op));
    s->proxy_armed = false;
    if (s->proxy_fd >= 0) {
        if (res < 0 && res != -ECANCELED)
            server_proxy_fail(s, strerror(-res));
        else
            server_proxy_read(s);
    }
    server_unref(s);
}

/* server_proxy_arm - wait for input; the poll holds a reference until it completes */
static void server_proxy_arm(struct server_session *s)
{
    struct io_uring_sqe *sqe = loop_sqe(s->w->loop);
    io_uring_prep_poll_add(sqe, s->proxy_fd, POLLIN);
    s->proxy_op.cb = server_proxy_cb;
    loop_op_arm(sqe, &s->proxy_op);
    s->proxy_armed = true;
    s->refs++;
}

/* server_proxy_timeout - smtpd_upstream_proxy_timeout passed without a whole header */
static void server_proxy_timeout(struct loop_timer *t)
{
    struct server_session *s =
        (struct server_session *)((char *)t - offsetof(struct server_session, proxy_timer));
    if (s->proxy_fd >= 0)
        server_proxy_fail(s, "no complete header within smtpd_upstream_proxy_timeout");
}

void server_proxy_start(struct server_session *s, int fd, enum listen_kind kind)
{
    s->proxy_fd = fd;
    s->proxy_kind = kind;
    s->proxy_have = 0;
    loop_timer_init(&s->proxy_timer, server_proxy_timeout);
    if (!(s->proxy_buf = malloc(PROXY_MAX))) {
        server_proxy_fail(s, "out of memory");
        return;
    }
    loop_timer_arm(s->w->loop, &s->proxy_timer,
                   (uint64_t)s->rt->cfg->smtpd_upstream_proxy_timeout * 1000);
    server_proxy_arm(s);
}

void server_proxy_drain(struct server_session *s)
{
    if (s->proxy_fd >= 0)
        server_proxy_fail(s, "the daemon is stopping");
}
