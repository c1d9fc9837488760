/*
 * notify - systemd notices; see daemon/notify.h.
 *
 * sd_notify() itself is a no-op without NOTIFY_SOCKET, so nothing here
 * needs to know whether systemd runs us. The status texts are what
 * `systemctl status tern` shows.
 */
#include "core/daemon/notify.h"

#include <systemd/sd-daemon.h>

#include "core/daemon/daemon.h"
#include "core/base/log.h"
#include "core/base/time.h"

/* notify_watchdog_ms - sd_watchdog_enabled(): WATCHDOG_USEC for our pid */
uint64_t notify_watchdog_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec / 1000 ? usec / 1000 : 1;
}

/* notify_send - one notice; a failure is logged, never fatal */
static void notify_send(const char *text)
{
    int rc = sd_notify(0, text);
    if (rc < 0)
        log_warn("master", "sd_notify: %s", text);
}

void notify_ready(void)
{
    notify_send("READY=1\nSTATUS=accepting mail");
}

void notify_reloading(void)
{
    notify_send("RELOADING=1\nSTATUS=reloading main.cf");
}

void notify_stopping(void)
{
    notify_send("STOPPING=1\nSTATUS=draining");
}

void notify_watchdog(void)
{
    notify_send("WATCHDOG=1");
}

/* notify_workers_alive - compare each worker's stamp with the monotonic clock */
bool notify_workers_alive(struct tern_daemon *d, uint64_t interval_ms)
{
    uint64_t now = time_mono_ms();
    for (int i = 0; i < d->nworkers; i++) {
        uint64_t seen = atomic_load(&d->workers[i].alive_ms);
        if (seen + interval_ms < now) {
            log_warn("master", "worker %d: event loop silent for %llu ms: no watchdog ping", i,
                     (unsigned long long)(now - seen));
            return false;
        }
    }
    return true;
}
