/*
 * NAME
 *	policy_net - match client addresses against network lists (mynetworks)
 * SYNOPSIS
 *	struct policy_netlist *nl;
 *	policy_netlist_parse(&nl, items, n, &err);
 *	bool inside = policy_netlist_match(nl, "127.0.0.1");
 * DESCRIPTION
 *	Entries as in Postfix's mynetworks: "127.0.0.0/8", "10.1.2.3",
 *	"[::1]/128", "::1/128", "[2001:db8::]/32". (`cidr:` tables and hostnames
 *	come with the policy issue.) IPv4-mapped IPv6 client addresses
 *	(::ffff:a.b.c.d) match IPv4 entries.
 *
 *	The primitives below are shared with `cidr:` tables (policy_table_cidr.c):
 *	policy_net_parse reads one network as written in both places
 *	("net/prefix", "addr", "[v6]", "[v6]/prefix"; host bits beyond the
 *	prefix are an error, as in Postfix); policy_net_addr_parse reads a
 *	client address ("[...]", "IPv6:" and "%zone" are ignored; ::ffff:a.b.c.d
 *	is also its IPv4 form); policy_net_contains matches one against the
 *	other (a network never matches the other family).
 * DIAGNOSTICS
 *	parse returns 0, or -EINVAL with *err (malloc'd) naming the bad entry.
 *	policy_net_parse returns POLICY_NET_OK or what is wrong.
 */
#ifndef TERN_POLICY_NET_H
#define TERN_POLICY_NET_H

#include <stdbool.h>
#include <stddef.h>

struct policy_netlist;

struct policy_net {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network, host bits zero */
    unsigned prefix;        /* 0..32 or 0..128 */
};

struct policy_net_addr {
    bool have4, have6;
    unsigned char a4[4], a6[16];
};

enum policy_net_status {
    POLICY_NET_OK,
    POLICY_NET_SYNTAX,   /* brackets, empty, too long, a mask that is not a number */
    POLICY_NET_ADDRESS,  /* no IPv4 or IPv6 address */
    POLICY_NET_PREFIX,   /* mask longer than the address */
    POLICY_NET_HOSTBITS, /* bits set beyond the prefix */
};

enum policy_net_status policy_net_parse(const char *text, struct policy_net *n);
bool policy_net_addr_parse(const char *text, struct policy_net_addr *a);
bool policy_net_contains(const struct policy_net *n, const struct policy_net_addr *a);

int policy_netlist_parse(struct policy_netlist **out, char *const *items, size_t n, char **err);
/* policy_netlist_parse_param - the same for another list parameter: errors name `param` */
int policy_netlist_parse_param(struct policy_netlist **out, const char *param, char *const *items,
                               size_t n, char **err);
bool policy_netlist_match(const struct policy_netlist *nl, const char *addr);
void policy_netlist_free(struct policy_netlist *nl);

#endif
