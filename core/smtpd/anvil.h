/*
 * NAME
 *	anvil - per-client connection counts and event rates, and the total
 *	inbound connection count, shared by all workers
 * SYNOPSIS
 *	struct anvil *a;
 *	anvil_new(&a, ANVIL_MAX_IDLE);
 *
 *	if (!anvil_total_enter(a, limit)) ... 421, close ...;   // every inbound connection
 *	anvil_total_leave(a);                                   // when its session is gone
 *
 *	struct anvil_client *c;
 *	int count, rate;
 *	anvil_connect(a, "smtp", "192.0.2.1", now_ms, unit_ms, &c, &count, &rate);
 *	int mails = anvil_event(a, c, ANVIL_MAIL, now_ms, unit_ms);
 *	anvil_disconnect(a, c, now_ms);
 *	anvil_free(a);
 * DESCRIPTION
 *	Postfix's anvil(8) inside the process. Postfix's smtpd processes ask
 *	a separate anvil server; tern's workers share this table instead,
 *	because SO_REUSEPORT spreads one client's connections over all of
 *	them. A client is a (service, address) pair as in Postfix: the
 *	service is the listener's Postfix name ("smtp", "submission",
 *	"smtps"), a static string that must outlive the table.
 *
 *	anvil_connect() counts a simultaneous connection and one connection
 *	event; anvil_event() one MAIL, RCPT or AUTH; each returns the count
 *	or rate including the event just counted, so a limit is exceeded when
 *	the value is above it (Postfix's rule). Rates count events in a fixed
 *	window of anvil_rate_time_unit that starts with the first event and
 *	restarts, all rates at once, with the first event after it ended
 *	(Postfix's anvil: cheaper than a moving average, and quicker to answer
 *	a client that hammers).
 *
 *	The handle from anvil_connect() stays valid until the matching
 *	anvil_disconnect(): a client with connections is never evicted.
 *
 *	Bounds. A client without connections (idle) is kept for one time unit
 *	after its last disconnect, so that its rates outlive a reconnect, and
 *	then dropped (checked on every connect, oldest first). At most
 *	max_idle idle clients are kept: at the cap the least recently seen
 *	one is forgotten early (its rate history is lost: it may start a new
 *	window sooner), with a warning at most once a minute. Clients with
 *	connections number at most the live connections, which the total cap
 *	bounds. So the table holds at most max_idle + total connections
 *	entries of about 140 bytes each (malloc's overhead included): with
 *	ANVIL_MAX_IDLE at most about 9 MiB for idle clients, plus a fixed
 *	array of max_idle bucket pointers (512 KiB). A longer address than
 *	ANVIL_ADDR_MAX is cut (no such text comes from inet_ntop).
 *
 *	The total count is one atomic; the table one mutex, taken at
 *	connection open and close and at MAIL, RCPT and AUTH only, never per
 *	byte.
 * DIAGNOSTICS
 *	anvil_new and anvil_connect return 0 or -ENOMEM; without memory a
 *	connection goes untracked (the caller applies no client limit rather
 *	than refusing service).
 */
#ifndef TERN_SMTPD_ANVIL_H
#define TERN_SMTPD_ANVIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANVIL_MAX_IDLE 65536 /* idle clients kept at most (ternd) */
#define ANVIL_ADDR_MAX 48    /* longest client address text, NUL included (INET6_ADDRSTRLEN) */

enum anvil_event {
    ANVIL_CONNECT, /* counted by anvil_connect() */
    ANVIL_MAIL,
    ANVIL_RCPT,
    ANVIL_AUTH,
    ANVIL_EVENTS
};

struct anvil;
struct anvil_client;

int anvil_new(struct anvil **out, size_t max_idle);
void anvil_free(struct anvil *a); /* NULL is fine */

/* anvil_connect - one more connection of (service, addr): *count simultaneous, *rate
 * connections in the current window (both including this one); *client for the calls below */
int anvil_connect(struct anvil *a, const char *service, const char *addr, uint64_t now_ms,
                  uint64_t unit_ms, struct anvil_client **client, int *count, int *rate);
/* anvil_event - count one MAIL, RCPT or AUTH of a connected client; its rate in the window */
int anvil_event(struct anvil *a, struct anvil_client *c, enum anvil_event ev, uint64_t now_ms,
                uint64_t unit_ms);
/* anvil_disconnect - the connection is gone; c is invalid afterwards (NULL is fine) */
void anvil_disconnect(struct anvil *a, struct anvil_client *c, uint64_t now_ms);
/* anvil_clients - clients in the table (tests, stats) */
size_t anvil_clients(struct anvil *a);

/* anvil_total_enter - count an inbound connection unless limit are already counted (limit <= 0:
 * no limit); false: refuse it */
bool anvil_total_enter(struct anvil *a, int limit);
void anvil_total_leave(struct anvil *a);
int anvil_total(struct anvil *a);
/* anvil_total_refused - a connection was refused at the total cap: true when a warning is due
 * (at most one per 10 s), *n the refusals it reports */
bool anvil_total_refused(struct anvil *a, uint64_t now_ms, unsigned long *n);

#endif
