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

/* delivery_tlsrpt_key_parse - "YYYY-MM-DD/TYPE/DOMAIN" into its parts */
int delivery_tlsrpt_key_parse(const char *key, char day[DELIVERY_TLSRPT_DAY_LEN],
                              char type[DELIVERY_TLSRPT_TYPE_LEN],
                              char domain[DELIVERY_TLSRPT_DOMAIN_LEN])
{
    return sscanf(key, "%15[^/]/%15[^/]/%255s", day, type, domain) == 3 ? 0 : -EINVAL;
}

/* delivery_tlsrpt_parse - the ok, fail, p, m and f lines of val */
void delivery_tlsrpt_parse(char *val, struct delivery_tlsrpt_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    char *save = NULL;
    for (char *l = val ? strtok_r(val, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        unsigned long c;
        if (sscanf(l, "ok %lu", &c) == 1) {
            rec->ok = c;
        } else if (sscanf(l, "fail %lu", &c) == 1) {
            rec->failed = c;
        } else if (!strncmp(l, "p ", 2) && rec->npolicy < DELIVERY_TLSRPT_LINES_MAX) {
            rec->policy[rec->npolicy++] = l + 2;
        } else if (!strncmp(l, "m ", 2) && rec->nmx < DELIVERY_TLSRPT_LINES_MAX) {
            rec->mx[rec->nmx++] = l + 2;
        } else if (!strncmp(l, "f ", 2) && rec->nfail < DELIVERY_TLSRPT_DETAILS) {
            struct policy_tlsrpt_failure *f = &rec->fail[rec->nfail];
            char *fs = NULL, *t = strtok_r(l + 2, " ", &fs), *type = strtok_r(NULL, " ", &fs),
                 *mx = strtok_r(NULL, " ", &fs), *ip = strtok_r(NULL, " ", &fs);
            if (!t || !type || !mx || !ip)
                continue;
            f->count = strtoul(t, NULL, 10);
            f->result_type = type;
            f->mx = strcmp(mx, "-") ? mx : "";
            f->receiving_ip = strcmp(ip, "-") ? ip : "";
            f->sending_ip = "";
            rec->nfail++;
        }
    }
}

/* dash - s, or "-" for a field not known ("") */
static const char *dash(const char *s)
{
    return *s ? s : "-";
}

/* update - the record old (a string, cut up here; NULL: none yet) with one more result, into out;
 * mx and ip "" when not known */
static int update(struct buf *out, char *old, const struct policy_mtasts *sts, const char *result,
                  const char *mx, const char *ip)
{
    struct delivery_tlsrpt_record rec;
    bool counted = false;
    delivery_tlsrpt_parse(old, &rec);
    for (size_t i = 0; i < rec.nfail && result; i++) {
        struct policy_tlsrpt_failure *f = &rec.fail[i];
        if (!strcmp(f->result_type, result) && !strcmp(f->mx, mx) && !strcmp(f->receiving_ip, ip)) {
            f->count++;
            counted = true;
        }
    }
    if (result)
        rec.failed++;
    else
        rec.ok++;
    int rc = buf_printf(out, "ok %lu\nfail %lu\n", rec.ok, rec.failed);
    for (size_t i = 0; i < rec.npolicy && rc == 0; i++)
        rc = buf_printf(out, "p %s\n", rec.policy[i]);
    for (size_t i = 0; i < rec.nmx && rc == 0; i++)
        rc = buf_printf(out, "m %s\n", rec.mx[i]);
    for (size_t i = 0; i < rec.nfail && rc == 0; i++)
        rc = buf_printf(out, "f %lu %s %s %s\n", rec.fail[i].count, rec.fail[i].result_type,
                        dash(rec.fail[i].mx), dash(rec.fail[i].receiving_ip));
    if (!old && sts && rc == 0)
        rc = policy_lines(out, sts);
    if (result && !counted && rec.nfail < DELIVERY_TLSRPT_DETAILS && rc == 0)
        rc = buf_printf(out, "f 1 %s %s %s\n", result, dash(mx), dash(ip));
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
    if (update(&v, have ? buf_ptr(&old) : NULL, sts, result, mx ? mx : "", ip ? ip : "") == 0)
        tls_cache_put(tc, TLS_CACHE_TLSRPT, key, strlen(key), buf_ptr(&v), buf_used(&v),
                      now - now % DAY_SECONDS + DELIVERY_TLSRPT_KEEP_DAYS * DAY_SECONDS);
    buf_free(&old);
    buf_free(&v);
}
