/*
 * NAME
 *	dest_mtasts - the MTA-STS policy of a destination (RFC 8461): look up, fetch, keep, apply
 * DESCRIPTION
 *	After the MX lookup of a destination (not a [host], not a message
 *	with "TLS-Required: No"), with smtp_mta_sts_enable, dest_mtasts_start()
 *	finds the policy of its domain before any connection starts (the
 *	destination counts as resolving meanwhile, then the TLSA lookups of
 *	dest_dane follow):
 *	  1. the _mta-sts.DOMAIN TXT record: its id, or none (no record, or
 *	     not exactly one that starts with v=STSv1);
 *	  2. the policy kept in the client TLS cache (smtp_tls_session_cache_
 *	     database, kind "mta-sts", key DOMAIN, until fetched + max_age):
 *	     "id LF fetched LF" and the policy file;
 *	  3. when the TXT id differs from the kept one (or nothing is kept),
 *	     the A (else AAAA) record of mta-sts.DOMAIN from tern's resolver,
 *	     then the fetch (mtasts_fetch, on its own thread); a policy that
 *	     parses is kept and used. One that fails to fetch or to parse is
 *	     logged, and the kept one (if any) stays in force (RFC 8461 5.1);
 *	     with no TXT record, a kept policy stays in force until max_age;
 *	  4. a kept policy with the same id but older than half its max_age is
 *	     fetched again, so it is refreshed before it expires (RFC 8461 5.1).
 *	The policy in force (dst->sts) is applied by dconn: in mode enforce an
 *	MX host the policy does not name is not tried (dest_mtasts_blocked),
 *	and the others need a certificate that verifies (PKIX) for the MX host
 *	name (dest_mtasts_level: level secure, the host name the only
 *	reference name); in mode testing delivery goes on as without a policy
 *	and what would have failed is logged (dest_mtasts_testing). DANE wins
 *	over MTA-STS (RFC 8461 2): a host whose TLSA records apply keeps its
 *	dane level; so does a level from a per-site table entry.
 *	Bounds: one policy per destination (struct policy_mtasts), one lookup
 *	or fetch under way per destination; fetches are queued and bounded by
 *	mtasts_fetch.h.
 */
#include "core/delivery/delivery_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/base/buf.h"
#include "core/base/log.h"
#include "core/config/config.h"
#include "core/delivery/delivery_dane.h"
#include "core/delivery/delivery_tlsrpt.h"
#include "core/delivery/mtasts_fetch.h"
#include "core/loop/dns_rr.h"
#include "policy/policy_mtasts.h"
#include "tls/tls_cache.h"

enum step { STEP_TXT, STEP_A, STEP_AAAA, STEP_FETCH };

struct dest_mtasts {
    struct dest *dst;
    enum step step;
    struct dns_rr *handle; /* the DNS lookup out, NULL when none */
    bool fetching;         /* a fetch for this destination is under way */
    char id[POLICY_MTASTS_ID_MAX + 1];
    struct policy_mtasts kept; /* from the cache, when have_kept */
    bool have_kept;
    char kept_id[POLICY_MTASTS_ID_MAX + 1];
};

static void txt_answered(void *arg, const struct dns_rr_result *res);
static void addr_answered(void *arg, const struct dns_rr_result *res);

/* enabled - MTA-STS applies to this destination */
static bool enabled(const struct dest *dst)
{
    const struct tern_runtime *rt = dst->dv->p.rt;
    return rt && rt->cfg && rt->cfg->smtp_mta_sts_enable && !dst->no_mx && !dst->tls_optional &&
           !dst->discard && !dst->invalid && dst->host[0];
}

/* cache - the client TLS cache, or NULL */
static struct tls_cache *cache(const struct dest *dst)
{
    const struct tern_runtime *rt = dst->dv->p.rt;
    return rt && rt->tls && rt->tls->caches ? rt->tls->caches->client : NULL;
}

/* loglevel - smtp_tls_loglevel */
static int loglevel(const struct dest *dst)
{
    const struct tern_runtime *rt = dst->dv->p.rt;
    return rt && rt->tls ? rt->tls->smtp_loglevel : 0;
}

/* keep - store a fetched policy under domain until fetched + max_age */
static void keep(struct tls_cache *tc, const char *domain, const char *id, const char *body,
                 size_t len, long max_age)
{
    struct buf v = BUF_INIT;
    time_t now = time(NULL);
    if (tc && buf_printf(&v, "%s\n%lld\n", id, (long long)now) == 0 &&
        buf_append(&v, body, len) == 0)
        tls_cache_put(tc, TLS_CACHE_MTASTS, domain, strlen(domain), buf_ptr(&v), buf_used(&v),
                      now + max_age);
    buf_free(&v);
}

/* load - the kept policy of the destination's domain into q; false when none or unusable */
static bool load(struct dest_mtasts *q, time_t *fetched)
{
    struct tls_cache *tc = cache(q->dst);
    struct buf v = BUF_INIT;
    char err[200];
    bool ok = false;
    if (!tc || tls_cache_get(tc, TLS_CACHE_MTASTS, q->dst->host, strlen(q->dst->host), &v,
                             time(NULL), NULL) < 0)
        goto out;
    const char *p = buf_ptr(&v), *end = p + buf_used(&v);
    const char *nl1 = memchr(p, '\n', (size_t)(end - p));
    const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
    if (!nl2 || (size_t)(nl1 - p) > POLICY_MTASTS_ID_MAX)
        goto out;
    memcpy(q->kept_id, p, (size_t)(nl1 - p));
    q->kept_id[nl1 - p] = 0;
    *fetched = (time_t)strtoll(nl1 + 1, NULL, 10);
    ok = policy_mtasts_parse(nl2 + 1, (size_t)(end - nl2 - 1), &q->kept, err, sizeof(err)) == 0;
out:
    buf_free(&v);
    return ok;
}

/* apply - the policy in force for the destination from now on (NULL: none) */
static void apply(struct dest *dst, const struct policy_mtasts *p, const char *how)
{
    free(dst->sts);
    dst->sts = NULL;
    if (p && p->mode != POLICY_MTASTS_NONE && (dst->sts = malloc(sizeof(*dst->sts))))
        *dst->sts = *p;
    if (p && loglevel(dst) >= 1)
        log_info("smtp", "%s: MTA-STS policy of %s: mode %s, max_age %ld, %zu mx pattern%s (%s)",
                 dst->key, dst->host, policy_mtasts_mode_name(p->mode), p->max_age, p->nmx,
                 p->nmx == 1 ? "" : "s", how);
}

/* finish - the policy is settled: TLSA lookups next (dest_dane), else the connections */
static void finish(struct dest_mtasts *q)
{
    struct dest *dst = q->dst;
    dst->sts_q = NULL;
    free(q);
    dst->resolving = false;
    dst->dv->nlookups--;
    if (!dest_dane_start(dst))
        dest_kick(dst);
}

/* settle - fall back to the kept policy (if any) and finish */
static void settle(struct dest_mtasts *q)
{
    apply(q->dst, q->have_kept ? &q->kept : NULL, "kept");
    finish(q);
}

/* fetched - the policy file, or why not */
static void fetched(void *arg, const struct mtasts_fetch_result *res)
{
    struct dest_mtasts *q = arg;
    struct dest *dst = q->dst;
    struct policy_mtasts p;
    char err[200];

    q->fetching = false;
    if (res->status < 0 || policy_mtasts_parse(res->body, res->len, &p, err, sizeof(err)) < 0)
        /* TLS-RPT (RFC 8460 4.3.2): the policy could not be had */
        delivery_tlsrpt_note(cache(dst), "sts", dst->host, NULL,
                             res->status == -EFBIG || res->status == 0 ? "sts-policy-invalid"
                                                                       : "sts-policy-fetch-error",
                             "", "");
    if (res->status < 0) {
        log_warn("smtp", "%s: MTA-STS policy of %s: cannot fetch it: %s%s", dst->key, dst->host,
                 res->error, q->have_kept ? "; the kept policy stays in force" : "");
        settle(q);
        return;
    }
    if (policy_mtasts_parse(res->body, res->len, &p, err, sizeof(err)) < 0) {
        log_warn("smtp", "%s: MTA-STS policy of %s ignored: %s%s", dst->key, dst->host, err,
                 q->have_kept ? "; the kept policy stays in force" : "");
        settle(q);
        return;
    }
    keep(cache(dst), dst->host, q->id, res->body, res->len, p.max_age);
    apply(dst, &p, "fetched");
    finish(q);
}

/* start_fetch - the policy from addr; settles when it cannot start */
static void start_fetch(struct dest_mtasts *q, const char *addr)
{
    struct dest *dst = q->dst;
    struct delivery *dv = dst->dv;
    const struct tern_runtime *rt = dv->p.rt;
    /* the CAs of the client TLS context: smtp_tls_CAfile / smtp_tls_CApath, else libcurl's */
    const char *cafile =
        rt && rt->cfg ? config_nonblank(config_get(rt->cfg, "smtp_tls_CAfile")) : NULL;
    const char *capath =
        rt && rt->cfg ? config_nonblank(config_get(rt->cfg, "smtp_tls_CApath")) : NULL;
    int rc = dv->mtasts ? 0 : mtasts_fetch_new(&dv->mtasts, dv->p.loop);
    if (rc == 0)
        rc = mtasts_fetch_start(dv->mtasts, dst->host, addr, cafile, capath, fetched, q);
    if (rc < 0) {
        log_warn("smtp", "%s: MTA-STS policy of %s: cannot fetch it: %s", dst->key, dst->host,
                 strerror(-rc));
        settle(q);
        return;
    }
    q->step = STEP_FETCH;
    q->fetching = true;
}

/* look_up - the DNS lookup of this step; settles when it cannot start */
static void look_up(struct dest_mtasts *q, enum step step)
{
    struct dest *dst = q->dst;
    char name[DNS_RR_NAME_MAX];
    int rc;
    q->step = step;
    snprintf(name, sizeof(name), "%s.%s", step == STEP_TXT ? "_mta-sts" : "mta-sts", dst->host);
    if (step == STEP_TXT)
        rc = dns_rr_lookup(dst->dv->p.dns, name, DNS_RR_TXT, txt_answered, q, &q->handle);
    else
        rc = dns_rr_lookup(dst->dv->p.dns, name, step == STEP_A ? DNS_RR_A : DNS_RR_AAAA,
                           addr_answered, q, &q->handle);
    if (rc < 0) {
        q->handle = NULL;
        log_warn("smtp", "%s: MTA-STS: cannot look up %s: %s", dst->key, name, strerror(-rc));
        settle(q);
    }
}

/* addr_answered - the address of mta-sts.DOMAIN: fetch from it */
static void addr_answered(void *arg, const struct dns_rr_result *res)
{
    struct dest_mtasts *q = arg;
    char addr[64];
    q->handle = NULL;
    if (res->status == DNS_OK && res->n > 0) {
        int af = q->step == STEP_A ? AF_INET : AF_INET6;
        size_t want = af == AF_INET ? 4 : 16;
        if (res->len[0] == want && inet_ntop(af, res->rdata[0], addr, sizeof(addr))) {
            start_fetch(q, addr);
            return;
        }
    }
    if (q->step == STEP_A && res->status == DNS_NOTFOUND) {
        look_up(q, STEP_AAAA);
        return;
    }
    log_warn("smtp", "%s: MTA-STS policy of %s: cannot fetch it: no address for mta-sts.%s%s",
             q->dst->key, q->dst->host, q->dst->host,
             q->have_kept ? "; the kept policy stays in force" : "");
    settle(q);
}

/* txt_id - the id of the one v=STSv1 TXT record into q->id; false when there is none */
static bool txt_id(struct dest_mtasts *q, const struct dns_rr_result *res)
{
    char text[512], err[200];
    int found = 0;
    for (size_t i = 0; i < res->n; i++) {
        if (dns_rr_txt(res->rdata[i], res->len[i], text, sizeof(text)) < 0 ||
            strncmp(text, "v=STSv1", 7) != 0 || (text[7] != 0 && text[7] != ';' && text[7] != ' '))
            continue;
        if (++found > 1)
            break;
        if (policy_mtasts_txt(text, strlen(text), q->id, err, sizeof(err)) < 0) {
            log_warn("smtp", "%s: MTA-STS record of %s ignored: %s", q->dst->key, q->dst->host,
                     err);
            return false;
        }
    }
    if (found > 1)
        log_warn("smtp", "%s: MTA-STS: %s has more than one v=STSv1 record: no policy", q->dst->key,
                 q->dst->host);
    return found == 1;
}

/* txt_answered - the _mta-sts TXT record: the kept policy, or a fetch */
static void txt_answered(void *arg, const struct dns_rr_result *res)
{
    struct dest_mtasts *q = arg;
    struct dest *dst = q->dst;
    time_t fetched_at = 0;

    q->handle = NULL;
    q->have_kept = load(q, &fetched_at);
    bool have_id = res->status == DNS_OK && txt_id(q, res);
    if (!have_id) {
        /* no record (or a failed lookup): a kept policy stays in force until max_age */
        settle(q);
        return;
    }
    if (q->have_kept && strcmp(q->kept_id, q->id) == 0 &&
        time(NULL) - fetched_at <= q->kept.max_age / 2) {
        apply(dst, &q->kept, "kept");
        finish(q);
        return;
    }
    /* a new id, nothing kept, or a kept policy past half its max_age (refreshed before it
     * expires; should the fetch fail, it stays in force) */
    look_up(q, STEP_A);
}

/* dest_mtasts_start - look up the destination's policy; true when it took over (finish() then
 * starts the TLSA lookups, or kicks the destination) */
bool dest_mtasts_start(struct dest *dst)
{
    if (!enabled(dst)) {
        free(dst->sts);
        dst->sts = NULL;
        return false;
    }
    struct dest_mtasts *q = calloc(1, sizeof(*q));
    if (!q)
        return false; /* as no policy this time */
    q->dst = dst;
    dst->sts_q = q;
    dst->resolving = true; /* t_lookup still holds the MX lookup's start */
    dst->dv->nlookups++;
    look_up(q, STEP_TXT); /* what follows, dest_dane_start() included, comes from finish() */
    return true;
}

/* dest_mtasts_cancel - drop what is under way (dest_free) and the policy */
void dest_mtasts_cancel(struct dest *dst)
{
    struct dest_mtasts *q = dst->sts_q;
    if (q) {
        dns_rr_cancel(dst->dv->p.dns, q->handle);
        if (q->fetching)
            mtasts_fetch_cancel(dst->dv->mtasts, q);
        free(q);
        dst->sts_q = NULL;
        dst->dv->nlookups--;
        dst->resolving = false;
    }
    free(dst->sts);
    dst->sts = NULL;
}

/* dest_mtasts_blocked - enforce: is a an MX host the policy does not name (and DANE does not
 * cover)? why says so */
bool dest_mtasts_blocked(const struct dest *dst, const struct dest_addr *a, char *why, size_t len)
{
    if (!dst->sts || dst->sts->mode != POLICY_MTASTS_ENFORCE || dest_dane_applies(a) ||
        policy_mtasts_mx_match(dst->sts, a->host))
        return false;
    snprintf(why, len, "MTA-STS policy of %s (enforce): MX host %s is not one it names", dst->host,
             a->host);
    return true;
}
