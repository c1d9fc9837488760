/*
 * listen - listening sockets and multishot accept; see smtpd/listen.h.
 */
#include "core/smtpd/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config/config.h"
#include "core/base/hostport.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/smtpd/server.h"
#include "core/daemon/worker.h"

/* listen_open - create, bind and listen */
int listen_open(struct listener **out, const char *hostport, enum listen_kind kind, char **err)
{
    char host[256];
    int port;
    int dflt = kind == LISTEN_SMTPS ? 465 : kind == LISTEN_SUBMISSION ? 587 : 25;
    if (hostport_split(hostport, dflt, host, sizeof(host), &port) < 0) {
        error_set(err, "bad listen address \"%s\"", hostport);
        return -EINVAL;
    }
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (hostport_sockaddr(host, port, &ss, &sslen) < 0) {
        error_set(err, "listen address \"%s\": not a numeric address", hostport);
        return -EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail_errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 1024) < 0)
        goto fail_errno;
    struct listener *ln = calloc(1, sizeof(*ln));
    if (!ln) {
        close(fd);
        return -ENOMEM;
    }
    ln->fd = fd;
    ln->kind = kind;
    snprintf(ln->name, sizeof(ln->name), "%s", hostport);
    *out = ln;
    return 0;
fail_errno:;
    int rc = -errno;
    error_set(err, "listen on %s: %s", hostport, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

static void listen_arm(struct listener *ln);

/* listen_pause_done - the pause after a failed accept is over: accept again */
static void listen_pause_done(struct loop_timer *t)
{
    struct listener *ln = (struct listener *)((char *)t - offsetof(struct listener, pause));
    ln->paused = false;
    if (!ln->armed && !ln->closed)
        listen_arm(ln);
}

/* listen_failed - an accept failed for want of resources: log (rate-limited) and pause */
static void listen_failed(struct listener *ln, int err)
{
    unsigned long n;
    if (lograte_tick(&ln->fail_log, loop_now(ln->worker->loop), LISTEN_LOG_MS, &n))
        log_warn("master",
                 "accept on %s: %s: %lu failed since the last warning; pausing %d ms between "
                 "attempts",
                 ln->name, strerror(err), n, LISTEN_PAUSE_MS);
    ln->paused = true;
    loop_timer_arm(ln->worker->loop, &ln->pause, LISTEN_PAUSE_MS);
    if (ln->armed) {
        /* a multishot accept still armed would fail again at once: cancel it (its last CQE
         * clears `armed`); the cancel's own CQE carries no op */
        struct io_uring_sqe *sqe = loop_sqe(ln->worker->loop);
        io_uring_prep_cancel(sqe, &ln->accept_op, 0);
        io_uring_sqe_set_data(sqe, NULL);
    }
}

/* listen_accept_cb - a connection arrived (or the accept failed) */
static void listen_accept_cb(struct loop_op *op, int res, unsigned flags)
{
    struct listener *ln = (struct listener *)((char *)op - offsetof(struct listener, accept_op));
    if (!(flags & IORING_CQE_F_MORE))
        ln->armed = false;
    if (ln->closed) {
        if (res >= 0)
            close(res);
        if (!ln->armed)
            listen_free(ln);
        return;
    }
    if (res >= 0) {
        unsigned long missed = lograte_reset(&ln->fail_log);
        if (missed > 0)
            log_info("master", "accept on %s: accepting again (%lu more failed before)", ln->name,
                     missed);
        server_accept(ln->worker, res, ln->kind);
    } else if (res == -EINVAL && ln->multishot) {
        log_info("master", "multishot accept not supported by this kernel; using single accept");
        ln->multishot = false;
    } else if (res != -EAGAIN && res != -EINTR && res != -ECANCELED && res != -ECONNABORTED) {
        listen_failed(ln, -res);
    }
    if (!ln->armed && !ln->closed && !ln->paused)
        listen_arm(ln);
}

/* listen_arm - post a (multishot) accept */
static void listen_arm(struct listener *ln)
{
    struct io_uring_sqe *sqe = loop_sqe(ln->worker->loop);
    if (ln->multishot)
        io_uring_prep_multishot_accept(sqe, ln->fd, NULL, NULL, SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, ln->fd, NULL, NULL, SOCK_CLOEXEC);
    loop_op_arm(sqe, &ln->accept_op);
    ln->armed = true;
}

void listen_start(struct listener *ln, struct worker *w)
{
    ln->worker = w;
    ln->accept_op.cb = listen_accept_cb;
    loop_timer_init(&ln->pause, listen_pause_done);
    ln->multishot = loop_supports(w->loop, IORING_OP_ACCEPT);
    listen_arm(ln);
}

/* listen_stop - cancel the accept and close; freed when the accept op ends */
void listen_stop(struct listener *ln)
{
    if (ln->closed)
        return;
    ln->closed = true;
    loop_timer_cancel(ln->worker->loop, &ln->pause);
    shutdown(ln->fd, SHUT_RDWR);
    if (!ln->armed) {
        listen_free(ln);
        return;
    }
    /* The cancel's own CQE carries no op: the listener may be gone by then. */
    struct io_uring_sqe *sqe = loop_sqe(ln->worker->loop);
    io_uring_prep_cancel(sqe, &ln->accept_op, 0);
    io_uring_sqe_set_data(sqe, NULL);
}

void listen_free(struct listener *ln)
{
    if (!ln)
        return;
    if (ln->worker) /* started: its pause timer may be armed */
        loop_timer_cancel(ln->worker->loop, &ln->pause);
    if (ln->fd >= 0)
        close(ln->fd);
    free(ln);
}
