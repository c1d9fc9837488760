/*
 * NAME
 *	lograte - at most one log line per interval for an event that can repeat fast
 * SYNOPSIS
 *	static struct lograte lr;                       // zeroed: the first event logs at once
 *	unsigned long n;
 *	if (lograte_tick(&lr, time_mono_ms(), 10000, &n))
 *	    log_warn("master", "accept: %s (%lu times in the last 10 s)", strerror(e), n);
 *	if ((n = lograte_reset(&lr)) > 0)                // the condition is over
 *	    log_info("master", "accepting again after %lu more failures", n);
 * DESCRIPTION
 *	What a client can make tern do in a loop (failed accepts when no
 *	descriptor is left, connections refused at a cap) must not turn into
 *	a log line each time: the maillog would grow as fast as the client
 *	can connect. A lograte counts the events and says when a line is due:
 *	the first event at once, then at most one per interval, each line
 *	reporting how many events it stands for.
 *
 *	Lock-free (two atomics), so workers share one. A zeroed struct is
 *	ready.
 */
#ifndef TERN_BASE_LOGRATE_H
#define TERN_BASE_LOGRATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct lograte {
    _Atomic uint64_t next_ms; /* no line before this time (monotonic ms) */
    atomic_ulong count;       /* events since the last line */
};

/* lograte_tick - count one event; true when a line is due now, with *n the events it reports
 * (this one included) */
bool lograte_tick(struct lograte *lr, uint64_t now_ms, unsigned interval_ms, unsigned long *n);
/* lograte_reset - the condition is over: returns the events not reported yet; the next event
 * logs at once */
unsigned long lograte_reset(struct lograte *lr);

#endif
