/*
 * NAME
 *	fdlimit - the descriptor limit: raised at start-up, and the share of it for inbound
 *	connections
 * SYNOPSIS
 *	struct fdlimit fl;
 *	fdlimit_raise(&fl);          // soft RLIMIT_NOFILE up to the hard one; fl.before, fl.after
 *	int cap = fdlimit_inbound(fl.after, nworkers, nlisteners);
 * DESCRIPTION
 *	A normal start gets a soft limit of 1024 descriptors, far below what
 *	a relay with thousands of clients needs, while the hard limit is
 *	usually much higher. fdlimit_raise() sets the soft limit to the hard
 *	one (to fs.nr_open when the hard limit is unlimited), as Postfix's
 *	master does; ternd logs the result. Nothing in ternd uses select(),
 *	so descriptors above 1024 are fine (libunbound waits with libevent).
 *
 *	fdlimit_inbound() is the default of smtpd_total_connection_limit, the
 *	cap on inbound connections: above it a client gets a 421 instead of
 *	a failed accept. Each inbound connection holds one descriptor. First
 *	a reserve is set aside for what is open whatever the load:
 *	FDLIMIT_RESERVE (stdio, the maillog, the queue's LMDB files and
 *	segment files, the TLS session caches, the control socket and a
 *	request on it, metrics_listen, SASL back ends) plus, per worker,
 *	FDLIMIT_PER_WORKER (its ring, its inbox eventfd, its resolver's event
 *	base and sockets) and one listening socket per listen address. Half
 *	of what is left goes to inbound connections, the other half stays
 *	for outbound connections and DNS queries. At least 1.
 *	Example: 1024 descriptors, 2 workers, 1 address: (1024 - 48 - 2 *
 *	17) / 2 = 471.
 * DIAGNOSTICS
 *	fdlimit_raise returns 0 or -errno (the limit stays as it was; before
 *	and after are still filled in).
 */
#ifndef TERN_DAEMON_FDLIMIT_H
#define TERN_DAEMON_FDLIMIT_H

#include <stddef.h>

#define FDLIMIT_RESERVE 48
#define FDLIMIT_PER_WORKER 16

struct fdlimit {
    unsigned long before; /* soft limit found */
    unsigned long after;  /* soft limit now */
    unsigned long hard;   /* the hard limit (fs.nr_open when unlimited) */
};

int fdlimit_raise(struct fdlimit *out);
/* fdlimit_inbound - the inbound connections nofile descriptors leave room for */
int fdlimit_inbound(unsigned long nofile, int nworkers, size_t nlisteners);

#endif
