/*
 * NAME
 *	tls_verify - match a certificate's names against the names we expect
 * DESCRIPTION
 *	See tls_verify.h. Names are compared as ASCII (IDNs arrive as A-labels).
 */
#include "tls/tls_verify.h"

#include <string.h>
#include <strings.h>

/* trimmed_len - length without one trailing dot */
static size_t trimmed_len(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && s[n - 1] == '.' ? n - 1 : n;
}

/* eq_n - case-insensitive equality of two counted strings */
static bool eq_n(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* tls_verify_name_match - one certificate name against one reference name */
bool tls_verify_name_match(const char *cert_name, const char *ref)
{
    if (!cert_name || !ref || !*cert_name || !*ref)
        return false;
    size_t clen = trimmed_len(cert_name);
    size_t rlen = trimmed_len(ref);
    if (clen == 0 || rlen == 0 || memchr(cert_name, '\0', clen))
        return false;

    if (ref[0] == '.') {
        /* dot-nexthop: any proper subdomain of ref; the certificate name
         * (wildcard or not) must end in ref and have a label before it */
        if (rlen < 2 || clen <= rlen)
            return false;
        return eq_n(cert_name + clen - rlen, rlen, ref, rlen);
    }

    const char *star = memchr(cert_name, '*', clen);
    if (!star)
        return eq_n(cert_name, clen, ref, rlen);

    /* wildcard: only "*." as the whole left-most label, at least two labels after it */
    if (star != cert_name || clen < 4 || cert_name[1] != '.' ||
        memchr(cert_name + 1, '*', clen - 1))
        return false;
    const char *suffix = cert_name + 1; /* ".example.com" */
    size_t slen = clen - 1;
    if (!memchr(suffix + 1, '.', slen - 1))
        return false; /* "*.com": too broad */
    if (rlen <= slen)
        return false;
    size_t label = rlen - slen; /* the label the '*' stands for */
    if (memchr(ref, '.', label))
        return false;
    return eq_n(ref + label, slen, suffix, slen);
}

/* tls_verify_cert_match - a certificate's names (SANs, else CN) against a reference */
bool tls_verify_cert_match(const char *const *dns_sans, size_t nsans, const char *cn,
                           const char *ref)
{
    if (nsans > 0) {
        for (size_t i = 0; i < nsans; i++)
            if (tls_verify_name_match(dns_sans[i], ref))
                return true;
        return false;
    }
    return tls_verify_name_match(cn, ref);
}
