/*
 * NAME
 *	policy_tls_refs - the names a server certificate must match at verify and secure
 * DESCRIPTION
 *	See policy_tls_refs.h. Pure: no I/O, bounded by max names of
 *	POLICY_TLS_REF_LEN bytes each, supplied by the caller.
 */
#include "policy/policy_tls_refs.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* expand - one match list item ("hostname, nexthop, literal") into names; the count added */
static size_t expand(const char *spec, const char *host, const char *nexthop,
                     char names[][POLICY_TLS_REF_LEN], size_t max)
{
    size_t n = 0;
    const char *s = spec ? spec : "";

    while (*s && n < max) {
        size_t len;
        s += strspn(s, " \t,");
        len = strcspn(s, " \t,");
        if (len == 0)
            break;
        if (len == 8 && strncasecmp(s, "hostname", 8) == 0)
            snprintf(names[n], POLICY_TLS_REF_LEN, "%s", host ? host : "");
        else if (len == 7 && strncasecmp(s, "nexthop", 7) == 0)
            snprintf(names[n], POLICY_TLS_REF_LEN, "%s", nexthop ? nexthop : "");
        else if (len == 11 && strncasecmp(s, "dot-nexthop", 11) == 0)
            snprintf(names[n], POLICY_TLS_REF_LEN, ".%s", nexthop ? nexthop : "");
        else
            snprintf(names[n], POLICY_TLS_REF_LEN, "%.*s",
                     (int)(len >= POLICY_TLS_REF_LEN ? POLICY_TLS_REF_LEN - 1 : len), s);
        /* An empty name (no host known) or a bare "." can never match: skip it. */
        if (names[n][0] && strcmp(names[n], ".") != 0)
            n++;
        s += len;
    }
    return n;
}

/* policy_tls_refs - the reference names of a resolved policy for one server */
size_t policy_tls_refs(const struct policy_tls_site *r, const char *host, const char *nexthop,
                       char names[][POLICY_TLS_REF_LEN], size_t max)
{
    size_t n = 0;
    for (size_t i = 0; r && i < r->nmatch && n < max; i++)
        n += expand(r->match[i], host, nexthop, names + n, max - n);
    return n;
}
