/*
 * NAME
 *	policy_mtasts - MTA-STS policy file, TXT record and MX patterns (see policy_mtasts.h)
 * DESCRIPTION
 *	Pure functions over the octets given: no I/O, no allocation. The
 *	fetching (HTTPS), the DNS lookup and the cache are elsewhere.
 */
#include "policy/policy_mtasts.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/policy_hostname.h"
#include "policy/policy_taglist.h"

/* fail - format err, return rc */
__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t errlen, int rc,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static bool alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* value_is - the value of n octets equals the literal */
static bool value_is(const char *v, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(v, lit, n) == 0;
}

/* one_line - a "key: value" line; 0 or -EINVAL */
static int one_line(struct policy_mtasts *p, const char *s, size_t n, size_t lineno, bool *seen,
                    char *err, size_t errlen)
{
    size_t k = 0;
    while (k < n && (alnum((unsigned char)s[k]) || (k > 0 && strchr("_-.", s[k]))))
        k++;
    if (k == 0 || k > 32 || k >= n || s[k] != ':')
        return fail(err, errlen, -EINVAL, "line %zu: not \"key: value\"", lineno);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
            return fail(err, errlen, -EINVAL, "line %zu: a control character", lineno);
        else if ((unsigned char)s[i] > 0x7e)
            return fail(err, errlen, -EINVAL, "line %zu: an octet outside ASCII", lineno);
    const char *v = s + k + 1;
    size_t vn = n - k - 1;
    while (vn > 0 && (*v == ' ' || *v == '\t'))
        v++, vn--;
    while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
        vn--;
    if (lineno == 1) {
        if (!value_is(s, k, "version") || !value_is(v, vn, "STSv1"))
            return fail(err, errlen, -EINVAL, "the first line is not \"version: STSv1\"");
        seen[0] = true;
        return 0;
    }
    if (value_is(s, k, "version"))
        return fail(err, errlen, -EINVAL, "line %zu: a second version", lineno);
    if (value_is(s, k, "mode")) {
        if (seen[1])
            return fail(err, errlen, -EINVAL, "line %zu: a second mode", lineno);
        seen[1] = true;
        if (value_is(v, vn, "enforce"))
            p->mode = POLICY_MTASTS_ENFORCE;
        else if (value_is(v, vn, "testing"))
            p->mode = POLICY_MTASTS_TESTING;
        else if (value_is(v, vn, "none"))
            p->mode = POLICY_MTASTS_NONE;
        else
            return fail(err, errlen, -EINVAL, "line %zu: mode is not enforce, testing or none",
                        lineno);
        return 0;
    }
    if (value_is(s, k, "max_age")) {
        if (seen[2])
            return fail(err, errlen, -EINVAL, "line %zu: a second max_age", lineno);
        seen[2] = true;
        long age = 0;
        if (vn == 0 || vn > 10)
            return fail(err, errlen, -EINVAL, "line %zu: max_age is not 1 to 10 digits", lineno);
        for (size_t i = 0; i < vn; i++) {
            if (!isdigit((unsigned char)v[i]))
                return fail(err, errlen, -EINVAL, "line %zu: max_age is not a number", lineno);
            age = age * 10 + (v[i] - '0');
        }
        if (age > POLICY_MTASTS_MAX_AGE)
            return fail(err, errlen, -EINVAL, "line %zu: max_age over %ld seconds", lineno,
                        POLICY_MTASTS_MAX_AGE);
        p->max_age = age;
        return 0;
    }
    if (value_is(s, k, "mx")) {
        size_t skip = vn > 2 && v[0] == '*' && v[1] == '.' ? 2 : 0;
        size_t dn = vn > 0 && v[vn - 1] == '.' ? vn - 1 : vn;
        if (p->nmx == POLICY_MTASTS_MX_MAX)
            return fail(err, errlen, -EINVAL, "more than %d mx patterns", POLICY_MTASTS_MX_MAX);
        char *m = p->mx[p->nmx];
        if (dn >= sizeof(p->mx[0]))
            dn = 0; /* too long: invalid below */
        for (size_t i = 0; i < dn; i++)
            m[i] = (char)tolower((unsigned char)v[i]);
        m[dn] = 0;
        if (dn <= skip || m[dn - 1] == '.' || !policy_hostname_valid(m + skip, false))
            return fail(err, errlen, -EINVAL, "line %zu: mx is not a host name or *.domain",
                        lineno);
        p->nmx++;
        return 0;
    }
    return 0; /* an extension: ignored (RFC 8461 3.2) */
}

/* policy_mtasts_parse - a fetched policy file into p; 0, -EINVAL or -EFBIG with err */
int policy_mtasts_parse(const char *text, size_t len, struct policy_mtasts *p, char *err,
                        size_t errlen)
{
    bool seen[3] = {false, false, false}; /* version, mode, max_age */
    size_t lineno = 0;

    memset(p, 0, sizeof(*p));
    p->max_age = -1;
    if (len > POLICY_MTASTS_SIZE_MAX)
        return fail(err, errlen, -EFBIG, "the policy is over %d octets", POLICY_MTASTS_SIZE_MAX);
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end, *next = nl ? nl + 1 : end;
        if (le > s && le[-1] == '\r')
            le--;
        lineno++;
        if (le == s) {
            /* an empty line: only as the end of the file */
            for (const char *t = next; t < end; t++)
                if (*t != '\r' && *t != '\n')
                    return fail(err, errlen, -EINVAL, "line %zu: empty", lineno);
            break;
        }
        int rc = one_line(p, s, (size_t)(le - s), lineno, seen, err, errlen);
        if (rc < 0)
            return rc;
        s = next;
    }
    if (!seen[0])
        return fail(err, errlen, -EINVAL, "the first line is not \"version: STSv1\"");
    if (!seen[1])
        return fail(err, errlen, -EINVAL, "no mode");
    if (!seen[2])
        return fail(err, errlen, -EINVAL, "no max_age");
    if (p->nmx == 0 && p->mode != POLICY_MTASTS_NONE)
        return fail(err, errlen, -EINVAL, "no mx at mode %s", policy_mtasts_mode_name(p->mode));
    return 0;
}

/* policy_mtasts_txt - the id of one _mta-sts TXT record; 0 or -EINVAL with err */
int policy_mtasts_txt(const char *txt, size_t len, char id[POLICY_MTASTS_ID_MAX + 1], char *err,
                      size_t errlen)
{
    struct policy_taglist t = policy_taglist_init(txt, len);
    struct policy_tag tag;
    bool first = true, have_id = false;
    int rc;

    id[0] = 0;
    if (len < 7 || memcmp(txt, "v=STSv1", 7) != 0) /* 3.1: nothing before it, not even a blank */
        return fail(err, errlen, -EINVAL, "the record does not start with v=STSv1");
    while ((rc = policy_taglist_next(&t, &tag)) == 1) {
        const char *v = tag.value;
        size_t vn = tag.vn;
        if (first) {
            if (!value_is(tag.key, tag.kn, "v") || !value_is(v, vn, "STSv1"))
                return fail(err, errlen, -EINVAL, "the record does not start with v=STSv1");
            first = false;
        } else if (value_is(tag.key, tag.kn, "id")) {
            if (have_id)
                return fail(err, errlen, -EINVAL, "a second id");
            if (vn == 0 || vn > POLICY_MTASTS_ID_MAX)
                return fail(err, errlen, -EINVAL, "id is not 1 to %d characters",
                            POLICY_MTASTS_ID_MAX);
            for (size_t i = 0; i < vn; i++)
                if (!alnum((unsigned char)v[i]))
                    return fail(err, errlen, -EINVAL, "id is not letters and digits");
            memcpy(id, v, vn);
            id[vn] = 0;
            have_id = true;
        }
    }
    if (rc < 0)
        return fail(err, errlen, -EINVAL, "a field is not key=value");
    if (first)
        return fail(err, errlen, -EINVAL, "the record does not start with v=STSv1");
    if (!have_id)
        return fail(err, errlen, -EINVAL, "no id");
    return 0;
}

/* eq_host - two host names equal, ignoring case and one trailing dot on each */
static bool eq_host(const char *a, size_t an, const char *b, size_t bn)
{
    if (an && a[an - 1] == '.')
        an--;
    if (bn && b[bn - 1] == '.')
        bn--;
    return an == bn && an > 0 && strncasecmp(a, b, an) == 0;
}

/* policy_mtasts_mx_match - does the MX host match one of the policy's patterns? */
bool policy_mtasts_mx_match(const struct policy_mtasts *p, const char *host)
{
    size_t hn = strlen(host);
    for (size_t i = 0; i < p->nmx; i++) {
        const char *m = p->mx[i];
        if (m[0] == '*' && m[1] == '.') {
            /* "*.example.com": exactly one label before example.com */
            const char *dot = memchr(host, '.', hn);
            if (dot && dot > host &&
                eq_host(dot + 1, hn - (size_t)(dot - host) - 1, m + 2, strlen(m + 2)))
                return true;
        } else if (eq_host(host, hn, m, strlen(m))) {
            return true;
        }
    }
    return false;
}

/* policy_mtasts_mode_name - "none", "testing", "enforce" */
const char *policy_mtasts_mode_name(enum policy_mtasts_mode m)
{
    return m == POLICY_MTASTS_ENFORCE ? "enforce" : m == POLICY_MTASTS_TESTING ? "testing" : "none";
}
