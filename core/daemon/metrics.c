/*
 * metrics - Prometheus text format over libmicrohttpd; see daemon/metrics.h.
 */
#include "core/daemon/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config/config.h"
#include "core/daemon/daemon.h"
#include "core/base/hostport.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/redis/redis_lease.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_MAX_CLIENTS 16
#define METRICS_TIMEOUT_S 10

struct metrics {
    struct tern_daemon *d;
    int fd; /* ours until metrics_start, then libmicrohttpd's */
    struct MHD_Daemon *mhd;
    char name[80];
};

/* metrics_parse - metrics_listen into a socket address; 0 or -EINVAL with *err */
static int metrics_parse(const char *hostport, struct sockaddr_storage *ss, socklen_t *sslen,
                         char **err)
{
    char host[256];
    int port = 0;
    if (hostport_split(hostport, 0, host, sizeof(host), &port) < 0 || port <= 0) {
        error_set(err, "metrics_listen = %s: expected numeric-address:port, e.g. 127.0.0.1:9465",
                  hostport);
        return -EINVAL;
    }
    if (hostport_sockaddr(host, port, ss, sslen) < 0) {
        error_set(err, "metrics_listen = %s: \"%s\" is not a numeric address", hostport, host);
        return -EINVAL;
    }
    return 0;
}

/* metrics_check - validate a metrics_listen value */
int metrics_check(const char *hostport, char **err)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (!hostport || !*hostport)
        return 0;
    return metrics_parse(hostport, &ss, &sslen, err);
}

/* metrics_open - bind the metrics socket */
int metrics_open(struct metrics **out, struct tern_daemon *d, const char *hostport, char **err)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int rc = metrics_parse(hostport, &ss, &sslen, err);
    if (rc < 0)
        return rc;
    struct metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->d = d;
    snprintf(m->name, sizeof(m->name), "%s", hostport);
    m->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m->fd < 0)
        goto fail;
    int one = 1;
    setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(m->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(m->fd, (struct sockaddr *)&ss, sslen) < 0 || listen(m->fd, 16) < 0)
        goto fail;
    *out = m;
    return 0;
fail:;
    int e = errno;
    error_set(err, "metrics_listen = %s: %s", hostport, strerror(e));
    if (m->fd >= 0)
        close(m->fd);
    free(m);
    return -e;
}

/* metrics_snapshot - read every counter */
void metrics_snapshot(struct tern_daemon *d, struct metrics_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    queue_get_stats(d->queue, &s->queue);
    for (int i = 0; i < STAT_COUNT; i++)
        s->stats[i] = stats_get((enum stat_id)i);
    for (int i = 0; i < d->nworkers; i++)
        s->inbound_connections += atomic_load(&d->workers[i].connections_total);
    for (int i = 0; i < 2; i++) {
        s->mirror_on[i] = d->mirror[i] != NULL;
        redis_mirror_stats(d->mirror[i], &s->mirror[i]);
    }
    s->leases_on = d->leases != NULL;
    s->leases_up = redis_lease_up(d->leases);
}

/* head - the HELP and TYPE lines of one metric */
static void head(FILE *fp, const char *name, const char *type, const char *help)
{
    fprintf(fp, "# HELP tern_%s %s\n# TYPE tern_%s %s\n", name, help, name, type);
}

/* one - one metric with one unlabelled sample */
static void one(FILE *fp, const char *name, const char *type, const char *help, uint64_t v)
{
    head(fp, name, type, help);
    fprintf(fp, "tern_%s %llu\n", name, (unsigned long long)v);
}

/* histogram - per-slot counts (queue.h) as cumulative Prometheus buckets */
static void histogram(FILE *fp, const char *name, const char *help, const double *bounds,
                      const uint64_t *count, double sum)
{
    head(fp, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < QUEUE_HIST_SLOTS - 1; i++) {
        cum += count[i];
        fprintf(fp, "tern_%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cum);
    }
    cum += count[QUEUE_HIST_SLOTS - 1];
    fprintf(fp, "tern_%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    fprintf(fp, "tern_%s_sum %.9g\n", name, sum);
    fprintf(fp, "tern_%s_count %llu\n", name, (unsigned long long)cum);
}

/* redis - the Redis links' state and the shared caches' counters, for those in use */
static void redis(const struct metrics_snapshot *s, FILE *fp)
{
    static const char *const cache[2] = {"smtpd_tls_session_cache", "smtp_tls_session_cache"};
    static const char *const name[4] = {"redis_entries_sent_total", "redis_entries_received_total",
                                        "redis_entries_dropped_total", "redis_errors_total"};
    static const char *const help[4] = {
        "TLS cache entries this node stored in Redis.",
        "TLS cache entries of other nodes taken from Redis.",
        "TLS cache entries not sent to Redis (queue full, or Redis away).",
        "Error replies from Redis and broken links to it.",
    };
    if (!s->mirror_on[0] && !s->mirror_on[1] && !s->leases_on)
        return;
    head(fp, "redis_up", "gauge", "1 while the link to Redis is up, by what it serves.");
    for (int i = 0; i < 2; i++)
        if (s->mirror_on[i])
            fprintf(fp, "tern_redis_up{use=\"%s\"} %d\n", cache[i], s->mirror[i].up);
    if (s->leases_on)
        fprintf(fp, "tern_redis_up{use=\"destination_leases\"} %d\n", s->leases_up);
    for (int c = 0; c < 4 && (s->mirror_on[0] || s->mirror_on[1]); c++) {
        head(fp, name[c], "counter", help[c]);
        for (int i = 0; i < 2; i++) {
            const struct redis_mirror_stats *m = &s->mirror[i];
            const unsigned long long v[4] = {m->sent, m->received, m->dropped, m->errors};
            if (s->mirror_on[i])
                fprintf(fp, "tern_%s{use=\"%s\"} %llu\n", name[c], cache[i], v[c]);
        }
    }
}

/* metrics_render - the exposition text */
int metrics_render(const struct metrics_snapshot *s, FILE *fp)
{
    const struct queue_stats *q = &s->queue;
    one(fp, "messages_received_total", "counter",
        "Messages accepted (250 after DATA, on stable storage).", q->received);
    one(fp, "recipients_delivered_total", "counter",
        "Recipients delivered (2xx from the next hop).", q->delivered);
    one(fp, "recipients_deferred_total", "counter",
        "Recipient delivery attempts deferred (to be retried).", q->deferred);
    one(fp, "recipients_bounced_total", "counter", "Recipients bounced (5xx or queue lifetime).",
        q->bounced);
    one(fp, "queue_messages", "gauge", "Messages in the queue now.", q->queue_size);
    one(fp, "queue_corrupt_total", "counter", "Queue records moved to the corrupt queue.",
        q->corrupt);
    one(fp, "inbound_connections_total", "counter", "SMTP connections accepted.",
        s->inbound_connections);
    one(fp, "outbound_connections_total", "counter", "SMTP connections opened for delivery.",
        s->stats[STAT_OUT_CONNECTIONS]);
    one(fp, "proxy_header_refused_total", "counter",
        "Inbound connections closed for a missing, malformed or late PROXY header.",
        s->stats[STAT_PROXY_REFUSED]);

    static const struct {
        const char *dir, *result;
        enum stat_id id;
    } hs[] = {
        {"inbound", "full", STAT_TLS_IN_FULL},         {"inbound", "resumed", STAT_TLS_IN_RESUMED},
        {"inbound", "failed", STAT_TLS_IN_FAILED},     {"outbound", "full", STAT_TLS_OUT_FULL},
        {"outbound", "resumed", STAT_TLS_OUT_RESUMED}, {"outbound", "failed", STAT_TLS_OUT_FAILED},
    };
    head(fp, "tls_handshakes_total", "counter",
         "TLS handshakes by direction (inbound: smtpd, outbound: delivery) and result.");
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
        fprintf(fp, "tern_tls_handshakes_total{direction=\"%s\",result=\"%s\"} %llu\n", hs[i].dir,
                hs[i].result, (unsigned long long)s->stats[hs[i].id]);
    one(fp, "tls_session_cache_hits_total", "counter",
        "Outbound TLS sessions found in the client session cache.", s->stats[STAT_TLS_CACHE_HIT]);
    one(fp, "tls_session_cache_misses_total", "counter",
        "Outbound TLS session cache lookups that found nothing.", s->stats[STAT_TLS_CACHE_MISS]);

    one(fp, "queue_commits_total", "counter", "Durable queue commits (one flush each).",
        q->commits);
    one(fp, "queue_committed_messages_total", "counter",
        "Submitted messages made durable by those commits.", q->committed_msgs);
    histogram(fp, "queue_commit_seconds", "Time of one durable queue commit (write and flush).",
              queue_commit_seconds_bounds, q->commit_seconds_count, q->commit_seconds_sum);
    histogram(fp, "queue_commit_batch_size",
              "Submitted messages carried by one durable queue commit.", queue_batch_size_bounds,
              q->batch_size_count, (double)q->batch_size_sum);
    redis(s, fp);
    return ferror(fp) ? -EIO : 0;
}

/* reply - queue a response with a malloc'd (or static) body */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            status == MHD_HTTP_OK ? METRICS_CONTENT_TYPE : "text/plain");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* metrics_request - libmicrohttpd's access handler (its own thread) */
static enum MHD_Result metrics_request(void *cls, struct MHD_Connection *c, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
    struct metrics *m = cls;
    static char not_found[] = "not found: try /metrics\n";
    static char not_allowed[] = "method not allowed\n";
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, strlen(not_allowed),
                     MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") != 0)
        return reply(c, MHD_HTTP_NOT_FOUND, not_found, strlen(not_found), MHD_RESPMEM_PERSISTENT);
    struct metrics_snapshot s;
    metrics_snapshot(m->d, &s);
    char *body = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&body, &len);
    if (!fp)
        return MHD_NO;
    int rc = metrics_render(&s, fp);
    if (fclose(fp) != 0 || rc < 0) {
        free(body);
        return MHD_NO;
    }
    return reply(c, MHD_HTTP_OK, body, len, MHD_RESPMEM_MUST_FREE);
}

/* metrics_log - libmicrohttpd's error messages into tern's log */
static void metrics_log(void *cls, const char *fmt, va_list ap)
{
    log_vmsg(LOG_SEV_WARN, "metrics", fmt, ap);
}

/* metrics_start - serve on libmicrohttpd's polling thread */
int metrics_start(struct metrics *m, char **err)
{
    /* epoll, not select: with thousands of sessions open, a scrape's socket is far above
     * FD_SETSIZE, and libmicrohttpd's select loop would refuse it. */
    m->mhd = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, metrics_request, m,
        MHD_OPTION_EXTERNAL_LOGGER, metrics_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)m->fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_MAX_CLIENTS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)METRICS_TIMEOUT_S, MHD_OPTION_END);
    if (!m->mhd) {
        error_set(err, "metrics_listen = %s: cannot start the HTTP server (libmicrohttpd)",
                  m->name);
        return -EIO;
    }
    m->fd = -1; /* libmicrohttpd closes it in MHD_stop_daemon */
    log_info("metrics", "serving Prometheus metrics on http://%s/metrics", m->name);
    return 0;
}

/* metrics_close - stop serving and free */
void metrics_close(struct metrics *m)
{
    if (!m)
        return;
    if (m->mhd)
        MHD_stop_daemon(m->mhd);
    if (m->fd >= 0)
        close(m->fd);
    free(m);
}
