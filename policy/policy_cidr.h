/*
 * NAME
 *	policy_cidr - match client addresses against network lists (mynetworks)
 * SYNOPSIS
 *	struct policy_netlist *nl;
 *	policy_netlist_parse(&nl, items, n, &err);
 *	bool inside = policy_netlist_match(nl, "127.0.0.1");
 * DESCRIPTION
 *	Entries as in Postfix's mynetworks: "127.0.0.0/8", "10.1.2.3",
 *	"[::1]/128", "::1/128", "[2001:db8::]/32". (`cidr:` tables and hostnames
 *	come with the policy issue.) IPv4-mapped IPv6 client addresses
 *	(::ffff:a.b.c.d) match IPv4 entries.
 * DIAGNOSTICS
 *	parse returns 0, or -EINVAL with *err (malloc'd) naming the bad entry.
 */
#ifndef TERN_POLICY_CIDR_H
#define TERN_POLICY_CIDR_H

#include <stdbool.h>
#include <stddef.h>

struct policy_netlist;

int policy_netlist_parse(struct policy_netlist **out, char *const *items, size_t n, char **err);
bool policy_netlist_match(const struct policy_netlist *nl, const char *addr);
void policy_netlist_free(struct policy_netlist *nl);

#endif
