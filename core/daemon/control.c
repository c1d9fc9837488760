/*
 * control - the control socket; see daemon/control.h.
 *
 * The control thread also does the TLS cache's housekeeping (Postfix's
 * tlsmgr job): it waits for requests with poll() and sweeps expired
 * entries every CONTROL_SWEEP_SECONDS. It is the one thread that is idle
 * most of the time, and a sweep is one short LMDB write transaction per
 * kind that never blocks readers on the workers.
 *
 * The thread ends only when control_stop() says so. Any accept error
 * (EMFILE when the process has no descriptor left, ENOMEM, ...) is logged
 * at most once per CONTROL_LOG_MS and followed by a CONTROL_PAUSE_MS
 * pause, so the control socket survives and answers again as soon as
 * descriptors are free. One request is served at a time, so a client
 * that connects and says nothing, or never reads its answer, would stall
 * every later one: reads and writes on an accepted socket time out after
 * CONTROL_IO_TIMEOUT_S (SO_RCVTIMEO/SO_SNDTIMEO) and the client is cut off.
 */
#include "core/daemon/control.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/daemon/daemon.h"
#include "core/daemon/queueview.h"
#include "core/daemon/tlsrpt.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/base/lograte.h"
#include "core/base/stats.h"
#include "core/base/time.h"
#include "core/config/tlsconf.h"
#include "tls/tls_cache.h"

#define CONTROL_SWEEP_SECONDS 300
#define CONTROL_PAUSE_MS 250   /* after a failed accept */
#define CONTROL_IO_TIMEOUT_S 5 /* per read or write on an accepted socket */
#define CONTROL_LOG_MS 10000   /* at most one warning per interval */

struct control {
    struct tern_daemon *d;
    int fd;
    char path[108];
    pthread_t thread;
    bool running;
    atomic_bool stopping; /* set by control_stop before it wakes the thread */
    struct lograte fail_log;
};

/* control_open - create the socket, replacing a stale one */
int control_open(struct control **out, struct tern_daemon *d, const char *queue_dir, char **err)
{
    struct control *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->d = d;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if ((size_t)snprintf(c->path, sizeof(c->path), "%s/%s", queue_dir, CONTROL_SOCKET_NAME) >=
        sizeof(sun.sun_path)) {
        error_set(err, "control socket path too long: %s/%s", queue_dir, CONTROL_SOCKET_NAME);
        free(c);
        return -ENAMETOOLONG;
    }
    memcpy(sun.sun_path, c->path, strlen(c->path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        goto fail;
    unlink(c->path);
    mode_t old = umask(0077);
    int rc = bind(c->fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc < 0 || listen(c->fd, 16) < 0)
        goto fail;
    *out = c;
    return 0;
fail:;
    int e = errno;
    error_set(err, "control socket %s: %s", c->path, strerror(e));
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    return -e;
}

/* control_stats - the stats command */
static void control_stats(struct tern_daemon *d, FILE *fp)
{
    struct queue_stats st;
    queue_get_stats(d->queue, &st);
    unsigned long conns = 0;
    for (int i = 0; i < d->nworkers; i++)
        conns += atomic_load(&d->workers[i].connections_total);
    fprintf(fp, "messages_received %llu\n", (unsigned long long)st.received);
    fprintf(fp, "recipients_delivered %llu\n", (unsigned long long)st.delivered);
    fprintf(fp, "recipients_deferred %llu\n", (unsigned long long)st.deferred);
    fprintf(fp, "recipients_bounced %llu\n", (unsigned long long)st.bounced);
    fprintf(fp, "queue_commits %llu\n", (unsigned long long)st.commits);
    fprintf(fp, "queue_committed_messages %llu\n", (unsigned long long)st.committed_msgs);
    if (st.committed_msgs)
        fprintf(fp, "queue_flushes_per_message %.4f\n",
                (double)st.commits / (double)st.committed_msgs);
    fprintf(fp, "queue_size %llu\n", (unsigned long long)st.queue_size);
    fprintf(fp, "queue_corrupt %llu\n", (unsigned long long)st.corrupt);
    fprintf(fp, "inbound_connections %lu\n", conns);
    for (int i = 0; i < STAT_COUNT; i++)
        fprintf(fp, "%s %llu\n", stats_name((enum stat_id)i),
                (unsigned long long)stats_get((enum stat_id)i));
}

/* control_caches - the distinct TLS caches (server first); returns how many */
static int control_caches(struct tern_daemon *d, struct tls_cache *out[2])
{
    int n = 0;
    struct tern_tls_caches *c = d->tls_caches;
    if (!c)
        return 0;
    if (c->server)
        out[n++] = c->server;
    if (c->client && c->client != c->server)
        out[n++] = c->client;
    return n;
}

/* control_cache_entry - one `tls-cache list` line: kind, key, expiry */
static int control_cache_entry(enum tls_cache_kind kind, const void *key, size_t klen,
                               const void *val, size_t vlen, time_t expires, void *arg)
{
    (void)val;
    (void)vlen;
    FILE *fp = arg;
    const unsigned char *k = key;
    bool printable = klen > 0;
    for (size_t i = 0; i < klen && printable; i++)
        printable = k[i] > 0x20 && k[i] < 0x7f;
    fprintf(fp, "%s ", tls_cache_kind_name(kind));
    if (printable) {
        fwrite(k, 1, klen, fp);
    } else {
        /* session IDs and ticket key names; the key material itself is never shown */
        for (size_t i = 0; i < klen; i++)
            fprintf(fp, "%02X", k[i]);
    }
    char when[32] = "?";
    struct tm tm;
    if (gmtime_r(&expires, &tm))
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(fp, " %s%s\n", when, expires <= time(NULL) ? " (expired)" : "");
    return 0;
}

/* control_tls_cache - `tls-cache list|purge` */
static int control_tls_cache(struct tern_daemon *d, const char *arg, FILE *fp)
{
    struct tls_cache *caches[2];
    int n = control_caches(d, caches);
    if (!arg)
        return -EINVAL;
    if (!strcmp(arg, "list")) {
        for (int i = 0; i < n; i++) {
            for (int kind = 0; kind < TLS_CACHE_KINDS; kind++) {
                int rc =
                    tls_cache_walk(caches[i], (enum tls_cache_kind)kind, control_cache_entry, fp);
                if (rc < 0)
                    return rc;
            }
        }
        return 0;
    }
    if (!strcmp(arg, "purge")) {
        long total = 0;
        for (int i = 0; i < n; i++) {
            int rc = tls_cache_purge(caches[i], -1);
            if (rc < 0)
                return rc;
            total += rc;
        }
        log_info("master", "tls-cache purge: %ld entr%s removed", total, total == 1 ? "y" : "ies");
        fprintf(fp, "purged %ld entr%s\n", total, total == 1 ? "y" : "ies");
        return 0;
    }
    return -EINVAL;
}

/* control_sweep - drop expired TLS cache entries (the tlsmgr's periodic job) */
static void control_sweep(struct tern_daemon *d)
{
    struct tls_cache *caches[2];
    int n = control_caches(d, caches);
    for (int i = 0; i < n; i++) {
        int rc = tls_cache_sweep(caches[i], time(NULL));
        if (rc > 0)
            log_debug(1, "master", "tls cache sweep: %d expired entr%s removed", rc,
                      rc == 1 ? "y" : "ies");
    }
}

/* control_write - write all of p[0..n) to fd; 0 or -errno */
static int control_write(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* control_serve - answer one request */
static void control_serve(struct control *c, int fd)
{
    char line[512];
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        ssize_t r = read(fd, line + n, 1);
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = 0;
    char *cmd = strtok(line, " \t\r");
    char *arg = strtok(NULL, " \t\r");
    char *out = NULL;
    size_t outlen = 0;
    FILE *fp = open_memstream(&out, &outlen);
    if (!fp)
        return;
    int rc = 0;
    struct queue *q = c->d->queue;
    if (!cmd) {
        rc = -EINVAL;
    } else if (!strcmp(cmd, "queue") && arg && !strcmp(arg, "verify")) {
        rc = queueview_verify(q, fp);
    } else if (!strcmp(cmd, "queue") || !strcmp(cmd, "list")) {
        rc = queueview_list(q, fp);
    } else if (!strcmp(cmd, "show") && arg) {
        rc = queueview_show(q, arg, fp);
    } else if (!strcmp(cmd, "flush")) {
        rc = queue_ctl_flush(q);
    } else if (!strcmp(cmd, "hold") && arg) {
        rc = queue_ctl_hold(q, arg);
    } else if (!strcmp(cmd, "release") && arg) {
        rc = queue_ctl_release(q, arg);
    } else if (!strcmp(cmd, "delete") && arg) {
        rc = queue_ctl_delete(q, arg);
    } else if (!strcmp(cmd, "stats")) {
        control_stats(c->d, fp);
    } else if (!strcmp(cmd, "tlsrpt") && arg && !strcmp(arg, "send")) {
        rc = tlsrpt_send(c->d, true, fp);
        rc = rc < 0 ? rc : 0;
    } else if (!strcmp(cmd, "tls-cache")) {
        rc = control_tls_cache(c->d, arg, fp);
        if (rc == -EINVAL)
            arg = NULL; /* usage */
    } else {
        rc = -EINVAL;
    }
    fclose(fp);
    /* written with the accepted descriptor itself: when descriptors run short, a dup()
     * for stdio would fail and leave the request unanswered */
    char status[600];
    if (rc == -EINVAL && (!cmd || !arg))
        snprintf(status, sizeof(status),
                 "error: usage: queue | show ID | flush | hold ID | "
                 "release ID | delete ID|ALL | tls-cache list|purge | "
                 "tlsrpt send | stats\n");
    else if (rc == -ENOENT)
        snprintf(status, sizeof(status), "error: %s: no such message in the queue\n",
                 arg ? arg : "");
    else if (rc < 0)
        snprintf(status, sizeof(status), "error: %s\n", strerror(-rc));
    else
        snprintf(status, sizeof(status), "ok\n");
    if (control_write(fd, status, strlen(status)) == 0 && out && outlen)
        (void)control_write(fd, out, outlen);
    free(out);
}

/* control_failed - poll or accept failed (not on purpose): log now and then, pause */
static void control_failed(struct control *c, const char *what, int err)
{
    unsigned long n;
    if (lograte_tick(&c->fail_log, time_mono_ms(), CONTROL_LOG_MS, &n))
        log_warn("master", "control socket %s: %s: %s (%lu since the last warning); pausing %d ms",
                 c->path, what, strerror(err), n, CONTROL_PAUSE_MS);
    poll(NULL, 0, CONTROL_PAUSE_MS);
}

static void *control_main(void *arg)
{
    struct control *c = arg;
    double next_sweep = 0;
    long day = (long)(time(NULL) / 86400);
    while (!atomic_load(&c->stopping)) {
        double now = time_now();
        if (now >= next_sweep) {
            control_sweep(c->d);
            next_sweep = now + CONTROL_SWEEP_SECONDS;
            if ((long)(time(NULL) / 86400) != day) { /* a new UTC day: yesterday's reports */
                day = (long)(time(NULL) / 86400);
                FILE *null = fopen("/dev/null", "w");
                if (null) {
                    tlsrpt_send(c->d, false, null);
                    fclose(null);
                }
            }
        }
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)((next_sweep - now) * 1000) + 1);
        if (atomic_load(&c->stopping))
            break;
        if (pr < 0 && errno != EINTR)
            control_failed(c, "poll", errno);
        if (pr <= 0)
            continue;
        int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN &&
                !atomic_load(&c->stopping))
                control_failed(c, "accept", errno);
            continue;
        }
        unsigned long missed = lograte_reset(&c->fail_log);
        if (missed > 0)
            log_info("master", "control socket %s: accepting again (%lu more failed before)",
                     c->path, missed);
        struct timeval tv = {.tv_sec = CONTROL_IO_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        control_serve(c, fd);
        close(fd);
    }
    return NULL;
}

int control_start(struct control *c)
{
    int rc = -pthread_create(&c->thread, NULL, control_main, c);
    c->running = rc == 0;
    return rc;
}

/* control_stop - wake the thread out of accept and join it */
void control_stop(struct control *c)
{
    if (!c)
        return;
    atomic_store(&c->stopping, true);
    shutdown(c->fd, SHUT_RDWR);
    if (c->running)
        pthread_join(c->thread, NULL);
    close(c->fd);
    unlink(c->path);
    free(c);
}
