/*
 * NAME
 *	control - the control socket that ternctl talks to
 * DESCRIPTION
 *	A Unix stream socket at $queue_directory/control (mode 0600, owned by
 *	mail_owner). One request per connection: a command line ("queue",
 *	"show QID", "flush", "hold QID", "release QID", "delete QID|ALL",
 *	"tls-cache list", "tls-cache purge", "stats"); the answer is "ok\n" or
 *	"error: text\n", then the command's output, then EOF. Served by one
 *	thread of its own with blocking I/O: it is off the hot path, and queue
 *	control calls block until the queue thread has done them anyway.
 *
 *	tls-cache list prints one line per entry of the TLS session caches
 *	(server and client, once when they share a file): kind ("client",
 *	"server", "ticket-keys", "peers", "mta-sts", "tlsrpt"), key (as is when printable, else hex;
 *ticket keys show only their name), expiry in UTC, "(expired)" when it is past. tls-cache purge
 *deletes every entry and prints "purged N entries". The same thread sweeps expired cache entries
 *every 5 minutes.
 */
#ifndef TERN_DAEMON_CONTROL_H
#define TERN_DAEMON_CONTROL_H

struct tern_daemon;
struct control;

#define CONTROL_SOCKET_NAME "control"

/* control_open - bind the socket (before privileges drop); 0 or -errno with *err */
int control_open(struct control **out, struct tern_daemon *d, const char *queue_dir, char **err);
int control_start(struct control *c);
void control_stop(struct control *c);

#endif
