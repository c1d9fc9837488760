/*
 * NAME
 *	policy_tlsrpt - TLS-RPT (RFC 8460): the _smtp._tls TXT record and the JSON report
 * DESCRIPTION
 *	See policy/policy_tlsrpt.h.
 */
#include "policy/policy_tlsrpt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/policy_taglist.h"

/* is - the n octets at v are the literal */
static bool is(const char *v, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(v, lit, n) == 0;
}

/* policy_tlsrpt_txt - the rua URIs */
int policy_tlsrpt_txt(const char *txt, size_t len, char rua[][POLICY_TLSRPT_URI_LEN], size_t *n,
                      char *err, size_t errlen)
{
    struct policy_taglist t = policy_taglist_init(txt, len);
    struct policy_tag tag;
    bool first = true, have_rua = false;
    int rc;

    *n = 0;
    while ((rc = policy_taglist_next(&t, &tag)) == 1) {
        if (first) {
            if (!is(tag.key, tag.kn, "v") || !is(tag.value, tag.vn, "TLSRPTv1")) {
                snprintf(err, errlen, "the record does not start with v=TLSRPTv1");
                return -EINVAL;
            }
            first = false;
            continue;
        }
        if (!is(tag.key, tag.kn, "rua"))
            continue;
        if (have_rua) {
            snprintf(err, errlen, "a second rua");
            return -EINVAL;
        }
        have_rua = true;
        const char *p = tag.value, *end = tag.value + tag.vn;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            size_t un = (size_t)((comma ? comma : end) - p);
            while (un > 0 && (*p == ' ' || *p == '\t'))
                p++, un--;
            while (un > 0 && (p[un - 1] == ' ' || p[un - 1] == '\t'))
                un--;
            bool scheme = (un > 7 && !strncasecmp(p, "mailto:", 7)) ||
                          (un > 8 && !strncasecmp(p, "https://", 8));
            if (scheme && un < POLICY_TLSRPT_URI_LEN && *n < POLICY_TLSRPT_RUA_MAX) {
                memcpy(rua[*n], p, un);
                rua[(*n)++][un] = 0;
            }
            p = comma ? comma + 1 : end;
        }
    }
    if (rc < 0 || first) {
        snprintf(err, errlen,
                 rc < 0 ? "a field is not key=value" : "the record does not start with v=TLSRPTv1");
        return -EINVAL;
    }
    if (!have_rua || *n == 0) {
        snprintf(err, errlen, "no mailto: or https: rua");
        return -EINVAL;
    }
    return 0;
}

/* str - a JSON string */
static int str(struct buf *b, const char *s)
{
    int rc = buf_append(b, "\"", 1);
    for (; s && *s && rc == 0; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            rc = buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            rc = buf_printf(b, "\\u%04x", c);
        else
            rc = buf_append(b, s, 1);
    }
    return rc == 0 ? buf_append(b, "\"", 1) : rc;
}

/* key_str - "key": "value" */
static int key_str(struct buf *b, const char *key, const char *v, bool comma)
{
    int rc = buf_printf(b, "%s\"%s\": ", comma ? ", " : "", key);
    return rc == 0 ? str(b, v) : rc;
}

/* date - RFC 3339 UTC */
static int date(struct buf *b, const char *key, time_t t, bool comma)
{
    struct tm tm;
    char s[32];
    gmtime_r(&t, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return key_str(b, key, s, comma);
}

/* list - "key": ["a", "b"] */
static int list(struct buf *b, const char *key, const char *const *v, size_t n)
{
    int rc = buf_printf(b, ", \"%s\": [", key);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i)
            rc = buf_puts(b, ", ");
        if (rc == 0)
            rc = str(b, v[i]);
    }
    return rc == 0 ? buf_puts(b, "]") : rc;
}

/* policy - one entry of "policies" */
static int policy(struct buf *b, const struct policy_tlsrpt_policy *p)
{
    int rc = buf_puts(b, "{\"policy\": {");
    rc = rc ? rc : key_str(b, "policy-type", p->type, false);
    if (rc == 0 && p->nstrings)
        rc = list(b, "policy-string", p->strings, p->nstrings);
    rc = rc ? rc : key_str(b, "policy-domain", p->domain, true);
    if (rc == 0 && p->nmx)
        rc = list(b, "mx-host", p->mx, p->nmx);
    rc = rc ? rc
            : buf_printf(b,
                         "}, \"summary\": {\"total-successful-session-count\": %lu, "
                         "\"total-failure-session-count\": %lu}",
                         p->ok, p->failed);
    if (rc == 0 && p->nfail)
        rc = buf_puts(b, ", \"failure-details\": [");
    for (size_t i = 0; i < p->nfail && rc == 0; i++) {
        const struct policy_tlsrpt_failure *f = &p->fail[i];
        rc = buf_puts(b, i ? ", {" : "{");
        rc = rc ? rc : key_str(b, "result-type", f->result_type, false);
        if (rc == 0 && f->sending_ip && *f->sending_ip)
            rc = key_str(b, "sending-mta-ip", f->sending_ip, true);
        if (rc == 0 && f->mx && *f->mx)
            rc = key_str(b, "receiving-mx-hostname", f->mx, true);
        if (rc == 0 && f->receiving_ip && *f->receiving_ip)
            rc = key_str(b, "receiving-ip", f->receiving_ip, true);
        rc = rc ? rc : buf_printf(b, ", \"failed-session-count\": %lu}", f->count);
    }
    if (rc == 0 && p->nfail)
        rc = buf_puts(b, "]");
    return rc ? rc : buf_puts(b, "}");
}

/* policy_tlsrpt_json - the report */
int policy_tlsrpt_json(struct buf *out, const struct policy_tlsrpt_report *r)
{
    int rc = buf_puts(out, "{");
    rc = rc ? rc : key_str(out, "organization-name", r->org, false);
    rc = rc ? rc : buf_puts(out, ", \"date-range\": {");
    rc = rc ? rc : date(out, "start-datetime", r->start, false);
    rc = rc ? rc : date(out, "end-datetime", r->end, true);
    rc = rc ? rc : buf_puts(out, "}");
    rc = rc ? rc : key_str(out, "contact-info", r->contact, true);
    rc = rc ? rc : key_str(out, "report-id", r->report_id, true);
    rc = rc ? rc : buf_puts(out, ", \"policies\": [");
    for (size_t i = 0; i < r->npol && rc == 0; i++) {
        if (i)
            rc = buf_puts(out, ", ");
        rc = rc ? rc : policy(out, &r->pol[i]);
    }
    rc = rc ? rc : buf_puts(out, "]}\n");
    return rc < 0 ? -ENOMEM : 0;
}
