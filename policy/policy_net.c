/*
 * NAME
 *	policy_net - match client addresses against network lists (mynetworks)
 * SYNOPSIS
 *	#include "policy/policy_net.h"
 *
 *	int policy_netlist_parse(struct policy_netlist **out, char *const *items, size_t n,
 *	                         char **err);
 *	bool policy_netlist_match(const struct policy_netlist *nl, const char *addr);
 *	void policy_netlist_free(struct policy_netlist *nl);
 * DESCRIPTION
 *	A network list is an ordered list of address/prefix entries. Each item
 *	may hold several entries separated by blanks or commas (a main.cf value
 *	split or not). Accepted entry forms:
 *
 *	  192.0.2.0/24  192.0.2.1  ::1/128  ::1  [2001:db8::]/32  [::1]
 *	  !192.0.2.7    (negation: a match ends the search with "no match")
 *
 *	As in Postfix, an entry with bits set beyond its prefix
 *	("10.1.2.3/8") is an error, not silently masked. The first matching
 *	entry decides.
 *
 *	A client address "::ffff:a.b.c.d" is compared as a.b.c.d against IPv4
 *	entries and as written against IPv6 entries. A zone suffix ("%eth0") or
 *	brackets around the client address are ignored.
 *
 *	Lookups are pure and read-only: safe from any thread.
 * DIAGNOSTICS
 *	parse: 0, -ENOMEM, or -EINVAL with *err (malloc'd) naming the bad entry.
 *	match: false for an unparsable client address.
 */
#include "policy/policy_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "core/base/error.h"

struct net_entry {
    struct policy_net net;
    bool negate;
};

struct policy_netlist {
    struct net_entry *v;
    size_t n;
    size_t cap;
};

/* prefix_ok - true when no bit beyond `prefix` is set in addr */
static bool prefix_ok(const unsigned char *addr, unsigned len, unsigned prefix)
{
    for (unsigned bit = prefix; bit < len * 8; bit++)
        if (addr[bit / 8] & (0x80 >> (bit % 8)))
            return false;
    return true;
}

/* bits_match - true when the first `prefix` bits of a and b agree */
static bool bits_match(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
    unsigned bytes = prefix / 8, rest = prefix % 8;
    if (memcmp(a, b, bytes) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

/* policy_net_parse - one network pattern */
enum policy_net_status policy_net_parse(const char *text, struct policy_net *n)
{
    char buf[INET6_ADDRSTRLEN + 16];
    size_t len = strlen(text);

    memset(n, 0, sizeof(*n));
    if (len == 0 || len >= sizeof(buf))
        return POLICY_NET_SYNTAX;
    memcpy(buf, text, len + 1);
    char *host = buf, *slash;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (close == NULL || (close[1] != 0 && close[1] != '/'))
            return POLICY_NET_SYNTAX;
        *close = 0;
        host = buf + 1;
        slash = close[1] == '/' ? close + 1 : NULL;
    } else {
        slash = strchr(buf, '/');
        if (slash)
            *slash = 0;
    }
    n->family = strchr(host, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(n->family, host, n->addr) != 1)
        return POLICY_NET_ADDRESS;
    unsigned maxbits = n->family == AF_INET ? 32 : 128;
    n->prefix = maxbits;
    if (slash) {
        char *end;
        if (slash[1] < '0' || slash[1] > '9')
            return POLICY_NET_SYNTAX;
        unsigned long v = strtoul(slash + 1, &end, 10);
        if (*end != 0 || v > maxbits)
            return POLICY_NET_PREFIX;
        n->prefix = (unsigned)v;
    }
    return prefix_ok(n->addr, maxbits / 8, n->prefix) ? POLICY_NET_OK : POLICY_NET_HOSTBITS;
}

/* policy_net_addr_parse - a client address, in its IPv4 form too when it is v4-mapped */
bool policy_net_addr_parse(const char *text, struct policy_net_addr *a)
{
    char buf[INET6_ADDRSTRLEN + 8];
    size_t len = text ? strlen(text) : 0;

    memset(a, 0, sizeof(*a));
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, text, len + 1);
    char *host = buf;
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (close == NULL || close[1] != 0)
            return false;
        *close = 0;
        host++;
    }
    if (strncasecmp(host, "IPv6:", 5) == 0)
        host += 5;
    char *zone = strchr(host, '%');
    if (zone)
        *zone = 0;
    if (strchr(host, ':') == NULL) {
        a->have4 = inet_pton(AF_INET, host, a->a4) == 1;
    } else if (inet_pton(AF_INET6, host, a->a6) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        a->have6 = true;
        if (memcmp(a->a6, mapped, sizeof(mapped)) == 0) {
            memcpy(a->a4, a->a6 + 12, 4);
            a->have4 = true;
        }
    }
    return a->have4 || a->have6;
}

/* policy_net_contains - the address falls in the network (same family only) */
bool policy_net_contains(const struct policy_net *n, const struct policy_net_addr *a)
{
    if (n->family == AF_INET && a->have4)
        return bits_match(n->addr, a->a4, n->prefix);
    if (n->family == AF_INET6 && a->have6)
        return bits_match(n->addr, a->a6, n->prefix);
    return false;
}

/* parse_entry - one entry of the list parameter `param` (no blanks) into e; -EINVAL with *err */
static int parse_entry(const char *param, const char *text, struct net_entry *e, char **err)
{
    const char *p = text;

    memset(e, 0, sizeof(*e));
    if (*p == '!') {
        e->negate = true;
        p++;
    }
    switch (policy_net_parse(p, &e->net)) {
    case POLICY_NET_OK:
        return 0;
    case POLICY_NET_ADDRESS: {
        size_t alpha = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
        size_t hostlen = strcspn(p, "/");
        if (p[0] == '/' || (alpha > 0 && p[alpha] == ':'))
            error_set(err, "%s: \"%s\": files and lookup tables are not supported here", param,
                      text);
        else if (!memchr(p, ':', hostlen) && strspn(p, "0123456789.") < hostlen)
            error_set(err, "%s: hostname \"%s\" not supported: use an address or network", param,
                      text);
        else
            error_set(err, "%s: bad address in \"%s\"", param, text);
        return -EINVAL;
    }
    case POLICY_NET_PREFIX:
        error_set(err, "%s: bad prefix length in \"%s\" (0..%u)", param, text,
                  e->net.family == AF_INET ? 32u : 128u);
        return -EINVAL;
    case POLICY_NET_HOSTBITS:
        error_set(err,
                  "%s: non-null host address bits in \"%s\": use the network address "
                  "instead",
                  param, text);
        return -EINVAL;
    case POLICY_NET_SYNTAX:
        break;
    }
    error_set(err, "%s: bad network entry \"%s\"", param, text);
    return -EINVAL;
}

/* policy_netlist_parse - build a network list from mynetworks items */
int policy_netlist_parse(struct policy_netlist **out, char *const *items, size_t n, char **err)
{
    return policy_netlist_parse_param(out, "mynetworks", items, n, err);
}

/* policy_netlist_parse_param - build a network list from the items of a list parameter */
int policy_netlist_parse_param(struct policy_netlist **out, const char *param, char *const *items,
                               size_t n, char **err)
{
    struct policy_netlist *nl = calloc(1, sizeof(*nl));
    char *copy = NULL;
    int rc = -ENOMEM;

    *out = NULL;
    if (err)
        *err = NULL;
    if (nl == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL)
            continue;
        copy = strdup(items[i]);
        if (copy == NULL)
            goto fail;
        char *save = NULL;
        for (char *tok = strtok_r(copy, " \t\r\n,", &save); tok;
             tok = strtok_r(NULL, " \t\r\n,", &save)) {
            if (nl->n == nl->cap) {
                size_t cap = nl->cap ? nl->cap * 2 : 8;
                struct net_entry *v = realloc(nl->v, cap * sizeof(*v));
                if (v == NULL) {
                    rc = -ENOMEM;
                    goto fail;
                }
                nl->v = v;
                nl->cap = cap;
            }
            rc = parse_entry(param, tok, &nl->v[nl->n], err);
            if (rc < 0)
                goto fail;
            nl->n++;
        }
        free(copy);
        copy = NULL;
    }
    *out = nl;
    return 0;

fail:
    if (rc == -ENOMEM)
        error_set(err, "%s: out of memory", param);
    free(copy);
    policy_netlist_free(nl);
    return rc;
}

/* policy_netlist_match - true when addr falls in a (non-negated) entry, first match decides */
bool policy_netlist_match(const struct policy_netlist *nl, const char *addr)
{
    struct policy_net_addr a;
    if (nl == NULL || !policy_net_addr_parse(addr, &a))
        return false;
    for (size_t i = 0; i < nl->n; i++)
        if (policy_net_contains(&nl->v[i].net, &a))
            return !nl->v[i].negate;
    return false;
}

/* policy_netlist_free - release a list; NULL is fine */
void policy_netlist_free(struct policy_netlist *nl)
{
    if (nl == NULL)
        return;
    free(nl->v);
    free(nl);
}
