/*
 * config_restart - the parameters a reload cannot change, and which of them a new main.cf did
 *
 * SIGHUP swaps the runtime (config, tables, TLS contexts) whole, and hands the queue its new
 * retry times, lifetimes and host name (queue_ctl_reload()), but some parameters are used once, at
 * start-up: the queue is opened with its directory and map size; the listeners, the worker
 * threads, the metrics endpoint, the maillog, the user to run as, the TLS session caches and
 * the Redis links are set up then. A changed value there would be silently ignored until the
 * next restart; config_restart_changed() names them so that the reload can say so. They are
 * the entries marked at_start in config_param.c's table (tern.conf(5) marks them "restart").
 */
#include "core/config/config_impl.h"

#include <stdio.h>
#include <string.h>

size_t config_restart_changed(const struct tern_config *was, const struct tern_config *now,
                              char *names, size_t len)
{
    size_t n = 0, used = 0;
    if (len)
        names[0] = 0;
    for (size_t i = 0; i < config_param_count; i++) {
        const char *name = config_param_table[i].name;
        if (!config_param_table[i].at_start)
            continue;
        const char *a = config_get(was, name), *b = config_get(now, name);
        if (strcmp(a ? a : "", b ? b : "") == 0)
            continue;
        n++;
        if (used < len) {
            int w = snprintf(names + used, len - used, "%s%s", used ? ", " : "", name);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    return n;
}
