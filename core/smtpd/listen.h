/*
 * NAME
 *	listen - listening sockets and multishot accept on a worker's ring
 * DESCRIPTION
 *	Every worker opens its own socket per address in smtpd_listen,
 *	submission_listen and smtps_listen (implicit TLS) with SO_REUSEPORT, so the kernel spreads new
 *	connections over the workers and no accept lock exists. Sockets are
 *	bound in the main thread before privileges drop. Accept is multishot
 *	where the kernel has it (5.19+), re-armed single accept otherwise.
 *
 *	When an accept fails for want of resources (EMFILE, ENFILE, ENOBUFS,
 *	ENOMEM, or any error not caused by one client), the listener pauses
 *	for LISTEN_PAUSE_MS (a timer) instead of re-arming at once: the
 *	pending connection would fail again immediately, and re-arming at
 *	once spun a core and wrote a log line per failure. Meanwhile new
 *	clients wait in the kernel's backlog. The failures are logged at most
 *	once per LISTEN_LOG_MS per listener, with their count, and when the
 *	listener accepts again. Per-client errors (ECONNABORTED) re-arm at
 *	once.
 */
#ifndef TERN_SMTPD_LISTEN_H
#define TERN_SMTPD_LISTEN_H

#include "core/loop/loop.h"
#include "core/base/lograte.h"

#define LISTEN_PAUSE_MS 250 /* pause after a failed accept */
#define LISTEN_LOG_MS 10000 /* at most one warning per listener per interval */

enum listen_kind { LISTEN_SMTPD, LISTEN_SUBMISSION, LISTEN_SMTPS };

struct listener {
    struct listener *next;
    int fd;
    enum listen_kind kind;
    char name[80];          /* "127.0.0.1:25" for logs */
    struct loop_op accept_op;
    struct worker *worker;
    bool multishot, armed, closed;
    bool paused; /* after a failed accept, until the pause timer */
    struct loop_timer pause;
    struct lograte fail_log; /* failed accepts */
};

/* listen_open - bind one address ("127.0.0.1:25", "[::1]:25") with SO_REUSEPORT */
int listen_open(struct listener **out, const char *hostport, enum listen_kind kind, char **err);
/* listen_start - start accepting on the worker's ring */
void listen_start(struct listener *ln, struct worker *w);
/* listen_stop - stop accepting and close the socket; frees ln (now or when its accept ends) */
void listen_stop(struct listener *ln);
void listen_free(struct listener *ln);

#endif
