/*
 * NAME
 *	metrics - metrics_listen: Prometheus text format over HTTP
 * SYNOPSIS
 *	struct metrics *m;
 *	metrics_open(&m, &daemon, cfg->metrics_listen, &err); // as root: bind
 *	metrics_start(m, &err);                               // after the drop
 *	...
 *	metrics_close(m);                                     // before the queue closes
 *
 *	metrics_check("127.0.0.1:9465", &err);                // for `ternd check`
 * DESCRIPTION
 *	GET /metrics answers the process's counters in the Prometheus text
 *	exposition format (version 0.0.4); any other path is 404, any other
 *	method 405. The HTTP side is libmicrohttpd (Debian libmicrohttpd-dev)
 *	with its own polling thread, so no worker ring ever serves a scrape.
 *	The socket is bound by metrics_open on the one numeric address given
 *	(loopback in practice), before privileges drop, and handed to
 *	libmicrohttpd, which owns it from metrics_start on.
 *
 *	A scrape reads relaxed atomics only (base/stats, queue_get_stats, the
 *	workers' connection counters): it never takes a lock a worker or the
 *	queue thread holds on its hot path.
 *
 *	Metrics, all prefixed tern_: messages received; recipients delivered,
 *	deferred, bounced; messages in the queue (gauge); inbound and outbound
 *	connections; TLS handshakes by direction (inbound|outbound) and result
 *	(full|resumed|failed); client session cache hits and misses; queue
 *	commits and committed messages; commit (write + flush) latency and
 *	messages per commit as histograms (queue.h bounds, made cumulative).
 * DIAGNOSTICS
 *	metrics_open and metrics_check return -EINVAL for a value that is not
 *	"numeric-address:port" with a port, -errno for a bind failure; *err
 *	says which, naming metrics_listen.
 */
#ifndef TERN_DAEMON_METRICS_H
#define TERN_DAEMON_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "core/base/stats.h"
#include "core/redis/redis_mirror.h"
#include "queue/queue.h"

struct tern_daemon;
struct metrics;

/* A consistent-enough copy of every counter at one instant (each read is atomic). */
struct metrics_snapshot {
    struct queue_stats queue;
    uint64_t stats[STAT_COUNT];
    uint64_t inbound_connections;
    /* Redis: the TLS caches shared through it (smtpd's, smtp's) and the leases */
    bool mirror_on[2], leases_on, leases_up;
    struct redis_mirror_stats mirror[2];
};

/* metrics_check - is hostport a usable metrics_listen value? 0 or -EINVAL with *err */
int metrics_check(const char *hostport, char **err);
/* metrics_open - bind and listen on hostport (borrowed); d must outlive the metrics */
int metrics_open(struct metrics **out, struct tern_daemon *d, const char *hostport, char **err);
/* metrics_start - start serving on libmicrohttpd's own thread */
int metrics_start(struct metrics *m, char **err);
/* metrics_close - stop the thread, close the socket, free (NULL is fine) */
void metrics_close(struct metrics *m);

/* metrics_snapshot - read every counter of d */
void metrics_snapshot(struct tern_daemon *d, struct metrics_snapshot *s);
/* metrics_render - write s in Prometheus text format; 0 or -EIO */
int metrics_render(const struct metrics_snapshot *s, FILE *fp);

#endif
