/*
 * NAME
 *	notify - systemd readiness, reload, stop and watchdog notices
 * SYNOPSIS
 *	uint64_t wd = notify_watchdog_ms();   // 0: no watchdog
 *	notify_ready();                       // listeners bound, privileges dropped, workers up
 *	notify_reloading(); ... notify_ready();
 *	notify_stopping();                    // the drain begins
 *	if (notify_workers_alive(d, wd)) notify_watchdog();
 * DESCRIPTION
 *	A thin layer over libsystemd's sd_notify(3) for `Type=notify` units.
 *	Outside systemd (no NOTIFY_SOCKET in the environment) every call is a
 *	no-op and notify_watchdog_ms() is 0.
 *
 *	The watchdog proves the event loops turn, not just the main thread:
 *	each worker's ring stamps worker.alive_ms from a timer every quarter
 *	interval (daemon/worker.c), and the main thread, waking every half
 *	interval, sends WATCHDOG=1 only when every worker has stamped within
 *	the interval. A worker stuck in a loop or a blocking call stops the
 *	pings and systemd restarts the service (Restart=on-failure).
 */
#ifndef TERN_DAEMON_NOTIFY_H
#define TERN_DAEMON_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct tern_daemon;

/* notify_watchdog_ms - WatchdogSec= in ms when the watchdog is on for this process, else 0 */
uint64_t notify_watchdog_ms(void);
void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);
/* notify_workers_alive - every worker's ring stamped its alive time within interval_ms */
bool notify_workers_alive(struct tern_daemon *d, uint64_t interval_ms);

#endif
