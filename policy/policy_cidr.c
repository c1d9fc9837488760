/*
 * NAME
 *	policy_cidr - match client addresses against network lists (mynetworks)
 * SYNOPSIS
 *	#include "policy/policy_cidr.h"
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
#include "policy/policy_cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core_error.h"

struct net_entry {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network, host bits zero */
    unsigned prefix;        /* 0..32 or 0..128 */
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

/* parse_entry - one entry (no blanks) into e; -EINVAL with *err */
static int parse_entry(const char *text, struct net_entry *e, char **err)
{
    char buf[INET6_ADDRSTRLEN + 16];
    const char *p = text;
    char *slash;
    size_t len;

    memset(e, 0, sizeof(*e));
    if (*p == '!') {
        e->negate = true;
        p++;
    }
    len = strlen(p);
    if (len == 0 || len >= sizeof(buf))
        goto bad;
    memcpy(buf, p, len + 1);

    /* Brackets around an IPv6 address: "[::1]" or "[2001:db8::]/32". */
    char *host = buf;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (close == NULL || (close[1] != 0 && close[1] != '/'))
            goto bad;
        host = buf + 1;
        *close = 0;
        slash = close[1] == '/' ? close + 1 : NULL;
    } else {
        slash = strchr(buf, '/');
        if (slash)
            *slash = 0;
    }
    if (inet_pton(AF_INET, host, e->addr) == 1) {
        e->family = AF_INET;
    } else if (inet_pton(AF_INET6, host, e->addr) == 1) {
        e->family = AF_INET6;
    } else {
        size_t alpha = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
        if (p[0] == '/' || (alpha > 0 && p[alpha] == ':'))
            tern_set_err(err, "mynetworks: \"%s\": files and lookup tables are not supported here",
                    text);
        else if (strchr(host, ':') == NULL && strspn(host, "0123456789.") != strlen(host))
            tern_set_err(err, "mynetworks: hostname \"%s\" not supported: use an address or network",
                    text);
        else
            tern_set_err(err, "mynetworks: bad address in \"%s\"", text);
        return -EINVAL;
    }

    unsigned maxbits = e->family == AF_INET ? 32 : 128;
    e->prefix = maxbits;
    if (slash) {
        const char *digits = slash + 1;
        char *end;
        if (*digits < '0' || *digits > '9')
            goto bad;
        unsigned long v = strtoul(digits, &end, 10);
        if (*end != 0 || v > maxbits) {
            tern_set_err(err, "mynetworks: bad prefix length in \"%s\" (0..%u)", text, maxbits);
            return -EINVAL;
        }
        e->prefix = (unsigned)v;
    }
    if (!prefix_ok(e->addr, maxbits / 8, e->prefix)) {
        tern_set_err(err,
                "mynetworks: non-null host address bits in \"%s\": use the network address "
                "instead",
                text);
        return -EINVAL;
    }
    return 0;

bad:
    tern_set_err(err, "mynetworks: bad network entry \"%s\"", text);
    return -EINVAL;
}

/* policy_netlist_parse - build a network list from config items */
int policy_netlist_parse(struct policy_netlist **out, char *const *items, size_t n, char **err)
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
            rc = parse_entry(tok, &nl->v[nl->n], err);
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
        tern_set_err(err, "mynetworks: out of memory");
    free(copy);
    policy_netlist_free(nl);
    return rc;
}

/* policy_netlist_match - true when addr falls in a (non-negated) entry, first match decides */
bool policy_netlist_match(const struct policy_netlist *nl, const char *addr)
{
    char buf[INET6_ADDRSTRLEN + 8];
    unsigned char a4[4], a6[16];
    bool have4 = false, have6 = false;

    if (nl == NULL || addr == NULL)
        return false;
    size_t len = strlen(addr);
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, addr, len + 1);
    char *host = buf;
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (close == NULL)
            return false;
        *close = 0;
        host++;
    }
    if (strncasecmp(host, "IPv6:", 5) == 0)
        host += 5;
    char *zone = strchr(host, '%');
    if (zone)
        *zone = 0;

    if (inet_pton(AF_INET, host, a4) == 1) {
        have4 = true;
    } else if (inet_pton(AF_INET6, host, a6) == 1) {
        have6 = true;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
            memcpy(a4, a6 + 12, 4);
            have4 = true;
        }
    } else {
        return false;
    }

    for (size_t i = 0; i < nl->n; i++) {
        const struct net_entry *e = &nl->v[i];
        bool hit = false;
        if (e->family == AF_INET && have4)
            hit = bits_match(e->addr, a4, e->prefix);
        else if (e->family == AF_INET6 && have6)
            hit = bits_match(e->addr, a6, e->prefix);
        if (hit)
            return !e->negate;
    }
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
