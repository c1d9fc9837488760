/*
 * NAME
 *	dest_dane - TLSA lookups of a destination's MX hosts, for the dane levels (RFC 7672 2.2)
 * DESCRIPTION
 *	After the MX (or [host]) lookup of a destination, dest_dane_start()
 *	asks the policy for the level of each address, once per lookup, and
 *	keeps it when it is dane or dane-only (smtp_tls_policy_maps or
 *	smtp_tls_per_site can name a host, else the global level); without
 *	smtp_dns_support_level = dnssec no level can be dane and nothing is
 *	asked. For the hosts at dane or dane-only whose MX and address records
 *	were DNSSEC-validated it looks up _port._tcp.host TLSA, one lookup per host
 *	(when a CNAME led from the host to its addresses, first at the expanded
 *	name, then, if no validated records are there, at the host: RFC 7672
 *	2.2.2; the name they were found at is the TLSA base domain)
 *	(several addresses share it), at most DEST_MAX_ADDRS. Meanwhile the
 *	destination counts as resolving, so no connection starts; the last
 *	answer stores the TLSA state in every address of its host and kicks
 *	the destination. A host that was not looked up keeps dane NULL:
 *	delivery_dane_level() then knows its records were not validated or
 *	its level is not DANE. dest_dane_blocked(), asked by dconn_connect()
 *	for every address it would try, then costs a comparison for addresses
 *	not at a dane level. Lookups still out when the destination goes are
 *	cancelled (their callbacks never run).
 */
#include "core/delivery/delivery_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/log.h"
#include "core/delivery/delivery_dane.h"
#include "core/loop/dns_rr.h"

struct dest_dane_lookup {
    struct dest *dst;
    char host[256];
    char cname[256];         /* where the host's addresses were, through a CNAME, or "" */
    bool at_cname;           /* this lookup is at cname (the first of two) */
    struct dns_rr *handle;   /* NULL once answered */
};

static void answered(void *arg, const struct dns_rr_result *res);

/* look_up - the TLSA lookup of q at its cname first, else at its host; 0 or -errno */
static int look_up(struct dest_dane_lookup *q)
{
    struct dest *dst = q->dst;
    char name[DNS_RR_NAME_MAX];
    int rc =
        dns_rr_tlsa_name(q->at_cname ? q->cname : q->host, (unsigned)dst->port, name, sizeof(name));
    return rc < 0 ? rc : dns_rr_lookup(dst->dv->p.dns, name, DNS_RR_TLSA, answered, q, &q->handle);
}

/* addr_level - the policy's level for this address of the destination; -errno: a policy error
 * (dconn defers with its reason at connect time) */
static int addr_level(const struct dest *dst, const struct dest_addr *a, enum tls_level *level)
{
    struct policy_tls_site site;
    struct delivery_tls_peer p = {
        .nexthop = dst->host, .host = a->host, .addr = a->addr, .port = dst->port};
    *level = TLS_LEVEL_NONE;
    int rc = dest_tls_resolve(dst->dv->p.rt, dst, &p, &site, level);
    policy_tls_site_release(&site);
    return rc;
}

/* dest_dane_applies - usable TLSA records at a dane level: this host is DANE's */
bool dest_dane_applies(const struct dest_addr *a)
{
    enum tls_level eff;
    char w[300];
    if (a->dane_level != TLS_LEVEL_DANE && a->dane_level != TLS_LEVEL_DANE_ONLY)
        return false;
    return delivery_dane_level(a->dane_level, a->secure, a->dane, &eff, w, sizeof(w)) == 0 &&
           eff == TLS_LEVEL_DANE;
}

/* dest_dane_blocked - must this address not be tried (its DANE state defers it)? why says so */
bool dest_dane_blocked(const struct dest_addr *a, char *why, size_t len)
{
    enum tls_level eff;
    char w[300] = "";
    if (a->dane_level != TLS_LEVEL_DANE && a->dane_level != TLS_LEVEL_DANE_ONLY)
        return false;
    if (delivery_dane_level(a->dane_level, a->secure, a->dane, &eff, w, sizeof(w)) == 0)
        return false;
    snprintf(why, len, "TLS is required, but %s", w);
    return true;
}

/* dnssec - is smtp_dns_support_level dnssec (the only way to a dane level)? */
static bool dnssec(const struct dest *dst)
{
    const struct tern_runtime *rt = dst->dv->p.rt;
    return rt && rt->cfg && !strcasecmp(rt->cfg->smtp_dns_support_level, "dnssec");
}

/* answered - one host's TLSA answer: keep it in its addresses; kick after the last */
static void answered(void *arg, const struct dns_rr_result *res)
{
    struct dest_dane_lookup *q = arg;
    struct dest *dst = q->dst;
    struct delivery_dane *t = NULL;

    q->handle = NULL;
    if (q->at_cname && res->status != DNS_TEMPFAIL && (res->status != DNS_OK || !res->secure)) {
        /* RFC 7672 2.2.2: no validated records at the CNAME-expanded name: the original name */
        q->at_cname = false;
        if (look_up(q) == 0)
            return;
    }
    const struct tern_runtime *rt = dst->dv->p.rt;
    if (q->at_cname && res->status == DNS_OK && rt && rt->tls && rt->tls->smtp_loglevel >= 1)
        log_info("smtp", "%s: TLSA records at %s, the CNAME-expanded name of %s", dst->key,
                 q->cname, q->host);
    if (delivery_dane_from_dns(&t, res, q->at_cname ? q->cname : q->host) == 0) {
        for (size_t i = 0; i < dst->naddr; i++) {
            struct dest_addr *a = &dst->addrs[i];
            if (a->dane || strcmp(a->host, q->host) != 0)
                continue;
            if (delivery_dane_dup(&a->dane, t) < 0)
                a->dane = NULL; /* out of memory: as not validated (may / dane-only defers) */
        }
        delivery_dane_free(t);
    }
    if (--dst->dane_pending > 0)
        return;
    free(dst->dane_q);
    dst->dane_q = NULL;
    dst->ndane_q = 0;
    dst->resolving = false;
    dst->dv->nlookups--;
    dest_kick(dst);
}

/* dest_dane_start - TLSA lookups for the hosts that need them; true when some are out */
bool dest_dane_start(struct dest *dst)
{
    if (!dnssec(dst))
        return false;
    struct dest_dane_lookup *q = calloc(dst->naddr ? dst->naddr : 1, sizeof(*q));
    size_t n = 0;
    if (!q)
        return false; /* every host then counts as not validated */
    for (size_t i = 0; i < dst->naddr; i++) {
        struct dest_addr *a = &dst->addrs[i];
        enum tls_level level;
        a->dane_level = TLS_LEVEL_NONE;
        if (addr_level(dst, a, &level) == 0 &&
            (level == TLS_LEVEL_DANE || level == TLS_LEVEL_DANE_ONLY))
            a->dane_level = level;
        bool seen = false;
        for (size_t k = 0; k < n; k++)
            seen |= strcmp(q[k].host, a->host) == 0;
        if (seen || !a->secure || a->dane_level == TLS_LEVEL_NONE)
            continue;
        q[n].dst = dst;
        snprintf(q[n].host, sizeof(q[n].host), "%s", a->host);
        snprintf(q[n].cname, sizeof(q[n].cname), "%s", a->cname);
        q[n].at_cname = a->cname[0] != 0;
        n++;
    }
    dst->dane_q = q;
    dst->ndane_q = n;
    dst->dane_pending = n;
    for (size_t k = 0; k < n; k++) {
        int rc = look_up(&q[k]);
        if (rc < 0) {
            /* as a failed lookup: that host defers */
            struct dns_rr_result fail = {.status = DNS_TEMPFAIL};
            snprintf(fail.error, sizeof(fail.error), "cannot look up TLSA records of %s",
                     q[k].host);
            log_warn("smtp", "%s: %s", dst->key, fail.error);
            dst->dane_pending++; /* answered() takes one */
            answered(&q[k], &fail);
            dst->dane_pending--;
        }
    }
    if (n == 0 || dst->dane_pending == 0) {
        free(dst->dane_q);
        dst->dane_q = NULL;
        dst->ndane_q = 0;
        return false;
    }
    dst->resolving = true; /* t_lookup still holds the MX lookup's start: delays= c counts both */
    dst->dv->nlookups++;
    return true;
}

/* dest_dane_cancel - drop the lookups still out */
void dest_dane_cancel(struct dest *dst)
{
    for (size_t k = 0; k < dst->ndane_q; k++)
        dns_rr_cancel(dst->dv->p.dns, dst->dane_q[k].handle);
    if (dst->ndane_q && dst->dane_pending) {
        dst->dv->nlookups--;
        dst->resolving = false;
    }
    free(dst->dane_q);
    dst->dane_q = NULL;
    dst->ndane_q = dst->dane_pending = 0;
}
