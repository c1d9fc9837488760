/*
 * NAME
 *	core_listen - listening sockets and multishot accept on a worker's ring
 * DESCRIPTION
 *	Every worker opens its own socket per address in smtpd_listen,
 *	submission_listen and smtps_listen (implicit TLS) with SO_REUSEPORT, so the kernel spreads new
 *	connections over the workers and no accept lock exists. Sockets are
 *	bound in the main thread before privileges drop. Accept is multishot
 *	where the kernel has it (5.19+), re-armed single accept otherwise.
 */
#ifndef TERN_CORE_LISTEN_H
#define TERN_CORE_LISTEN_H

#include "core/core_loop.h"

enum listen_kind { LISTEN_SMTPD, LISTEN_SUBMISSION, LISTEN_SMTPS };

struct listener {
    struct listener *next;
    int fd;
    enum listen_kind kind;
    char name[80];          /* "127.0.0.1:25" for logs */
    struct loop_op accept_op;
    struct worker *worker;
    bool multishot, armed, closed;
};

/* listen_open - bind one address ("127.0.0.1:25", "[::1]:25") with SO_REUSEPORT */
int listen_open(struct listener **out, const char *hostport, enum listen_kind kind, char **err);
/* listen_start - start accepting on the worker's ring */
void listen_start(struct listener *ln, struct worker *w);
/* listen_stop - stop accepting and close the socket; frees ln (now or when its accept ends) */
void listen_stop(struct listener *ln);
void listen_free(struct listener *ln);

#endif
