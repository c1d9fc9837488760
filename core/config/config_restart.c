/*
 * config_restart - the parameters a reload cannot change, and which of them a new main.cf did
 *
 * SIGHUP swaps the runtime (config, tables, TLS contexts) whole, but some parameters are used
 * once, at start-up: the queue is opened with its directory, map size, retry times and
 * lifetimes; the listeners, the worker threads, the metrics endpoint, the maillog, the user to
 * run as, the TLS session caches and the Redis links are set up then. A changed value there
 * would be silently ignored until the next restart; config_restart_changed() names them so
 * that the reload can say so.
 */
#include "core/config/config.h"

#include <stdio.h>
#include <string.h>

static const char *const startup_only[] = {
    "queue_directory",
    "queue_map_size",
    "minimal_backoff_time",
    "maximal_backoff_time",
    "maximal_queue_lifetime",
    "bounce_queue_lifetime",
    "worker_threads",
    "mail_owner",
    "syslog_name",
    "maillog_file",
    "metrics_listen",
    "inet_interfaces",
    "smtpd_listen",
    "submission_listen",
    "smtps_listen",
    "smtpd_tls_session_cache_database",
    "smtp_tls_session_cache_database",
    "destination_lease_database",
    "destination_lease_time",
};

size_t config_restart_changed(const struct tern_config *was, const struct tern_config *now,
                              char *names, size_t len)
{
    size_t n = 0, used = 0;
    if (len)
        names[0] = 0;
    for (size_t i = 0; i < sizeof(startup_only) / sizeof(startup_only[0]); i++) {
        const char *a = config_get(was, startup_only[i]), *b = config_get(now, startup_only[i]);
        if (strcmp(a ? a : "", b ? b : "") == 0)
            continue;
        n++;
        if (used < len) {
            int w = snprintf(names + used, len - used, "%s%s", used ? ", " : "", startup_only[i]);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    return n;
}
