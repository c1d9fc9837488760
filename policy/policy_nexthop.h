/*
 * NAME
 *	policy_nexthop - where a recipient goes: relayhost, transport_maps or MX
 * SYNOPSIS
 *	struct policy_nexthop nh;
 *	int rc = policy_nexthop_resolve(relayhost, transport_table, "u@example.com", &nh);
 * DESCRIPTION
 *	Decides the next hop of a recipient the way Postfix's trivial-rewrite
 *	does for a relay-only system:
 *	  1. transport_maps, looked up with the full address, then the domain,
 *	     then each parent domain as ".parent" (Postfix's order); a value
 *	     "smtp:[host]:port", "smtp:host", "smtp:" (empty nexthop = keep the
 *	     domain), "relay:..." (same as smtp), "error:text" (bounce with text)
 *	     or "discard:" (tern: drop as delivered);
 *	  2. otherwise relayhost, if set;
 *	  3. otherwise the recipient domain (MX lookup).
 *	"[host]:port" or "[host]" means no MX lookup; "host:port" and "host" mean
 *	MX lookup of host. The default port is 25.
 *
 *	`key` is the canonical destination string the scheduler groups by and
 *	that names a connection pool, always with the port: "[127.0.0.1]:2525"
 *	(no MX) or "example.com:25" (MX lookup); "error" / "discard" for those.
 *	A transport entry ":" (empty transport and next hop) means "no change":
 *	relayhost or the domain, as if the entry were absent; "smtp:" resets
 *	the next hop to the recipient domain even when relayhost is set.
 * DIAGNOSTICS
 *	0, -EINVAL for an unparsable transport entry, or the table's -errno
 *	(the caller defers the recipient).
 */
#ifndef TERN_POLICY_NEXTHOP_H
#define TERN_POLICY_NEXTHOP_H

#include <stdbool.h>

struct policy_table;

enum policy_transport { NEXTHOP_SMTP, NEXTHOP_ERROR, NEXTHOP_DISCARD };

struct policy_nexthop {
    enum policy_transport transport;
    char key[300];    /* canonical destination, e.g. "[127.0.0.1]:2525", "example.com:25" */
    char host[256];   /* host or domain to look up / connect */
    int port;         /* default 25 */
    bool no_mx;       /* [host] form: A/AAAA only */
    char error_text[256]; /* for NEXTHOP_ERROR */
};

int policy_nexthop_resolve(const char *relayhost, const struct policy_table *transport_maps,
                           const char *rcpt_addr, struct policy_nexthop *out);
/* policy_nexthop_parse - parse "[host]:port" / "host:port" / "host" (as relayhost) */
int policy_nexthop_parse(const char *text, struct policy_nexthop *out);

#endif
