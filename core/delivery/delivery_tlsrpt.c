/*
 * NAME
 *	delivery_tlsrpt - TLS-RPT results of the sessions, counted per day and policy domain
 * DESCRIPTION
 *	See delivery/delivery_tlsrpt.h.
 */
#include "core/delivery/delivery_tlsrpt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/buf.h"
#include "policy/policy_mtasts.h"
#include "tls/tls_cache.h"

#define DAY_SECONDS 86400

/* delivery_tlsrpt_key - "YYYY-MM-DD/TYPE/DOMAIN" */
int delivery_tlsrpt_key(time_t t, const char *type, const char *domain, char *out, size_t len)
{
    struct tm tm;
    char day[16];
    gmtime_r(&t, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    int n = snprintf(out, len, "%s/%s/%s", day, type, domain);
    return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* policy_lines - the sts policy as "p" and "m" lines */
static int policy_lines(struct buf *b, const struct policy_mtasts *p)
{
    int rc = buf_printf(b, "p version: STSv1\np mode: %s\n", policy_mtasts_mode_name(p->mode));
    for (size_t i = 0; i < p->nmx && rc == 0; i++)
        rc = buf_printf(b, "p mx: %s\n", p->mx[i]);
    rc = rc ? rc : buf_printf(b, "p max_age: %ld\n", p->max_age);
    for (size_t i = 0; i < p->nmx && rc == 0; i++)
        rc = buf_printf(b, "m %s\n", p->mx[i]);
    return rc;
}

/* update - the record old (or NULL) with one more result, into out */
static int update(struct buf *out, const char *old, size_t len, const struct policy_mtasts *sts,
                  const char *result, const char *mx, const char *ip)
{
    unsigned long ok = 0, fail = 0;
    bool counted = false;
    size_t ndetail = 0;
    struct buf rest = BUF_INIT;
    int rc = 0;
    const char *p = old, *end = old ? old + len : NULL;
    while (p && p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        char line[800];
        if (n >= sizeof(line))
            n = sizeof(line) - 1;
        memcpy(line, p, n);
        line[n] = 0;
        p = nl ? nl + 1 : end;
        unsigned long c;
        char type[64], h[300], a[80];
        if (sscanf(line, "ok %lu", &c) == 1) {
            ok = c;
        } else if (sscanf(line, "fail %lu", &c) == 1) {
            fail = c;
        } else if (sscanf(line, "f %lu %63s %299s %79s", &c, type, h, a) == 4) {
            ndetail++;
            if (result && !strcmp(type, result) && !strcmp(h, mx) && !strcmp(a, ip)) {
                c++;
                counted = true;
            }
            rc = buf_printf(&rest, "f %lu %s %s %s\n", c, type, h, a);
        } else if (n > 0) {
            rc = buf_printf(&rest, "%s\n", line);
        }
    }
    if (!old && sts && rc == 0)
        rc = policy_lines(&rest, sts);
    if (result && !counted && ndetail < DELIVERY_TLSRPT_DETAILS && rc == 0)
        rc = buf_printf(&rest, "f 1 %s %s %s\n", result, mx, ip);
    if (result)
        fail++;
    else
        ok++;
    rc = rc ? rc : buf_printf(out, "ok %lu\nfail %lu\n", ok, fail);
    rc = rc ? rc : buf_append(out, buf_ptr(&rest), buf_used(&rest));
    buf_free(&rest);
    return rc;
}

/* delivery_tlsrpt_note - count one session */
void delivery_tlsrpt_note(struct tls_cache *tc, const char *type, const char *domain,
                          const struct policy_mtasts *sts, const char *result, const char *mx,
                          const char *ip)
{
    char key[400];
    time_t now = time(NULL);
    if (!tc || delivery_tlsrpt_key(now, type, domain, key, sizeof(key)) < 0)
        return;
    struct buf old = BUF_INIT, v = BUF_INIT;
    bool have = tls_cache_get(tc, TLS_CACHE_TLSRPT, key, strlen(key), &old, now, NULL) == 0;
    if (update(&v, have ? buf_ptr(&old) : NULL, have ? buf_used(&old) : 0, sts, result,
               mx && *mx ? mx : "-", ip && *ip ? ip : "-") == 0)
        tls_cache_put(tc, TLS_CACHE_TLSRPT, key, strlen(key), buf_ptr(&v), buf_used(&v),
                      now - now % DAY_SECONDS + DELIVERY_TLSRPT_KEEP_DAYS * DAY_SECONDS);
    buf_free(&old);
    buf_free(&v);
}
