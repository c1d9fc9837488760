/*
 * NAME
 *	policy_nexthop - where a recipient goes: relayhost, transport_maps or MX
 * SYNOPSIS
 *	#include "policy/policy_nexthop.h"
 *
 *	int policy_nexthop_resolve(const char *relayhost, const struct policy_table *tm,
 *	                           const char *rcpt_addr, struct policy_nexthop *out);
 *	int policy_nexthop_parse(const char *text, struct policy_nexthop *out);
 * DESCRIPTION
 *	transport_maps lookup order for "user@a.b.example": "user@a.b.example",
 *	"a.b.example", ".b.example", ".example", then "*" (Postfix's wildcard).
 *	The domain is the text after the last '@' outside a quoted local part,
 *	so "\"u@x\"" has no domain and only the full address and "*" are tried.
 *
 *	Result values, as transport(5) reads them:
 *	  smtp:[host]:port  smtp:host:port  smtp:host  relay:...   next hop
 *	  smtp:  smtp                       transport set, next hop = the domain
 *	  :  (empty)                        no change: as if no entry matched
 *	  :[host]                           default transport, that next hop
 *	  error:text  error:5.1.1 text      bounce with that text (kept whole)
 *	  discard:  discard                 drop as delivered
 *	Other transports (local, lmtp, ...) are -EINVAL: a relay-only system has
 *	nothing to hand them to.
 *
 *	`key` is "[host]:port" when MX lookup is off and "host:port" otherwise,
 *	lowercase; "error" and "discard" for those transports. A recipient
 *	domain literal ("u@[192.0.2.1]") goes to that address without MX lookup.
 * DIAGNOSTICS
 *	0; -EINVAL for an unparsable entry or relayhost, or a recipient without
 *	domain that nothing routes; the transport table's -errno.
 */
#include "policy/policy_nexthop.h"

#include "policy/policy_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* copy_lower - lowercase copy of s[0..len) into dst; -EINVAL if it does not fit */
static int copy_lower(char *dst, size_t dstlen, const char *s, size_t len)
{
    if (len >= dstlen)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        dst[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    dst[len] = 0;
    return 0;
}

/* make_key - fill out->key from host, port and no_mx */
static void make_key(struct policy_nexthop *out)
{
    if (out->no_mx)
        snprintf(out->key, sizeof(out->key), "[%.256s]:%d", out->host, out->port);
    else
        snprintf(out->key, sizeof(out->key), "%.256s:%d", out->host, out->port);
}

/* parse_port - decimal 1..65535 or a well-known service name */
static int parse_port(const char *s)
{
    static const struct {
        const char *name;
        int port;
    } services[] = {{"smtp", 25}, {"submission", 587}, {"smtps", 465}, {"submissions", 465}};
    if (*s >= '0' && *s <= '9') {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end != 0 || v < 1 || v > 65535)
            return -EINVAL;
        return (int)v;
    }
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
        if (strcasecmp(s, services[i].name) == 0)
            return services[i].port;
    return -EINVAL;
}

/* host_ok - a host name or address without blanks, brackets or control characters */
static bool host_ok(const char *h)
{
    if (*h == 0)
        return false;
    for (; *h; h++) {
        unsigned char c = (unsigned char)*h;
        if (c <= ' ' || c == 127 || c == '[' || c == ']' || c == '@' || c == ',' || c == '/')
            return false;
    }
    return true;
}

/* policy_nexthop_parse - "[host]:port", "[host]", "host:port", "host" */
int policy_nexthop_parse(const char *text, struct policy_nexthop *out)
{
    const char *port = NULL;
    const char *h;
    size_t hlen;

    memset(out, 0, sizeof(*out));
    out->transport = NEXTHOP_SMTP;
    out->port = 25;
    if (text == NULL)
        return -EINVAL;
    while (*text == ' ' || *text == '\t')
        text++;
    if (*text == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL)
            return -EINVAL;
        h = text + 1;
        hlen = (size_t)(close - h);
        if (hlen > 5 && strncasecmp(h, "ipv6:", 5) == 0) {
            h += 5;
            hlen -= 5;
        }
        out->no_mx = true;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != 0)
            return -EINVAL;
    } else {
        const char *colon = strchr(text, ':');
        h = text;
        hlen = colon ? (size_t)(colon - text) : strlen(text);
        if (colon) {
            port = colon + 1;
            if (strchr(port, ':'))
                return -EINVAL; /* bare IPv6 address: must be written [addr] */
        }
    }
    if (copy_lower(out->host, sizeof(out->host), h, hlen) < 0 || !host_ok(out->host))
        return -EINVAL;
    if (port) {
        int p = parse_port(port);
        if (p < 0)
            return -EINVAL;
        out->port = p;
    }
    make_key(out);
    return 0;
}

/* addr_domain - the domain of a canonical address, "" when it has none */
static const char *addr_domain(const char *addr)
{
    const char *at = NULL;
    bool inq = false;
    for (const char *p = addr; *p; p++) {
        if (inq && *p == '\\' && p[1]) {
            p++;
        } else if (*p == '"') {
            inq = !inq;
        } else if (!inq && *p == '@') {
            at = p;
        }
    }
    return at ? at + 1 : "";
}

/* domain_dest - the recipient domain itself as destination (MX, or literal address) */
static int domain_dest(const char *domain, struct policy_nexthop *out)
{
    if (*domain == 0)
        return -EINVAL;
    if (*domain == '[')
        return policy_nexthop_parse(domain, out);
    memset(out, 0, sizeof(*out));
    out->transport = NEXTHOP_SMTP;
    out->port = 25;
    if (copy_lower(out->host, sizeof(out->host), domain, strlen(domain)) < 0 || !host_ok(out->host))
        return -EINVAL;
    make_key(out);
    return 0;
}

/* apply_transport - a transport_maps result; 1 = no change (":"), 0 = done, -EINVAL */
static int apply_transport(const char *value, const char *domain, struct policy_nexthop *out)
{
    while (*value == ' ' || *value == '\t')
        value++;
    const char *colon = strchr(value, ':');
    size_t tlen = colon ? (size_t)(colon - value) : strlen(value);
    const char *nexthop = colon ? colon + 1 : "";
    char transport[32];

    while (tlen > 0 && (value[tlen - 1] == ' ' || value[tlen - 1] == '\t'))
        tlen--;
    if (copy_lower(transport, sizeof(transport), value, tlen) < 0)
        return -EINVAL;
    while (*nexthop == ' ' || *nexthop == '\t')
        nexthop++;

    if (strcmp(transport, "error") == 0) {
        memset(out, 0, sizeof(*out));
        out->transport = NEXTHOP_ERROR;
        out->port = 25;
        snprintf(out->error_text, sizeof(out->error_text), "%s",
                 *nexthop ? nexthop : "5.0.0 Mail to this destination is not accepted");
        snprintf(out->key, sizeof(out->key), "error");
        return 0;
    }
    if (strcmp(transport, "discard") == 0) {
        memset(out, 0, sizeof(*out));
        out->transport = NEXTHOP_DISCARD;
        out->port = 25;
        snprintf(out->key, sizeof(out->key), "discard");
        return 0;
    }
    if (transport[0] != 0 && strcmp(transport, "smtp") != 0 && strcmp(transport, "relay") != 0)
        return -EINVAL;
    if (*nexthop == 0)
        return transport[0] == 0 ? 1 : domain_dest(domain, out);
    return policy_nexthop_parse(nexthop, out);
}

/* policy_nexthop_resolve - transport_maps, then relayhost, then the recipient domain */
int policy_nexthop_resolve(const char *relayhost, const struct policy_table *transport_maps,
                           const char *rcpt_addr, struct policy_nexthop *out)
{
    const char *domain;
    const char *value = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (rcpt_addr == NULL)
        return -EINVAL;
    domain = addr_domain(rcpt_addr);

    if (transport_maps) {
        /* Full address, domain, ".parent" forms, then the "*" wildcard. */
        rc = 0;
        if (*rcpt_addr)
            rc = policy_table_lookup(transport_maps, rcpt_addr, &value);
        if (rc == 0 && *domain) {
            rc = policy_table_lookup(transport_maps, domain, &value);
            for (const char *p = strchr(domain + 1, '.'); rc == 0 && p && *domain != '[';
                 p = strchr(p + 1, '.'))
                rc = policy_table_lookup(transport_maps, p, &value);
        }
        if (rc == 0)
            rc = policy_table_lookup(transport_maps, "*", &value);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            rc = apply_transport(value, domain, out);
            if (rc <= 0)
                return rc;
        }
    }
    if (relayhost && *relayhost)
        return policy_nexthop_parse(relayhost, out);
    return domain_dest(domain, out);
}
