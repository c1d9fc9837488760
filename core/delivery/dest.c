/*
 * dest - one destination of a worker's delivery engine: its job FIFO, its
 * address lookup (cached DEST_DNS_TTL_MS), its dead verdict, mail loops,
 * and dest_kick(), which gives jobs to idle connections and opens new ones
 * (slow start). See delivery.c's header for the whole engine.
 */
#include "core/delivery/delivery_impl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/delivery/delivery_dane.h"
#include "core/delivery/delivery_self.h"
#include "core/base/hostport.h"
#include "core/base/hash.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/base/time.h"
#include "policy/policy_nexthop.h"

/* dest_pop - the oldest queued job, or NULL */
struct queue_delivery *dest_pop(struct dest *dst)
{
    struct queue_delivery *d = dst->qhead;
    if (!d)
        return NULL;
    dst->qhead = d->owner_data;
    if (!dst->qhead)
        dst->qtail = NULL;
    d->owner_data = NULL;
    dst->nqueued--;
    dst->dv->njobs--;
    return d;
}

/* dest_push - append a job to the FIFO */
void dest_push(struct dest *dst, struct queue_delivery *d)
{
    d->owner_data = NULL;
    if (dst->qtail)
        dst->qtail->owner_data = d;
    else
        dst->qhead = d;
    dst->qtail = d;
    dst->nqueued++;
    dst->dv->njobs++;
}

/* dest_fail_queue - give every queued job this result */
void dest_fail_queue(struct dest *dst, int status, const char *dsn, const char *reason)
{
    struct queue_delivery *d;
    while ((d = dest_pop(dst)) != NULL)
        job_fail(dst->dv, d, status, dsn, reason);
}

/* dest_job_dead - a job gets the destination's dead verdict */
void dest_job_dead(struct dest *dst, struct queue_delivery *d)
{
    if (dst->dead_notfound)
        job_fail_notfound(dst, d, dst->dead_reason);
    else
        job_fail(dst->dv, d, dst->dead_status, dst->dead_dsn, dst->dead_reason);
}

/* dest_hold - remember a verdict for the jobs that arrive within DEST_DEAD_HOLD_MS */
static void dest_hold(struct dest *dst, int status, const char *dsn, const char *reason,
                      bool notfound)
{
    char *copy = strdup(reason);
    if (!copy)
        return; /* the next job simply tries again */
    free(dst->dead_reason);
    dst->dead_reason = copy;
    dst->dead_status = status;
    dst->dead_notfound = notfound;
    snprintf(dst->dead_dsn, sizeof(dst->dead_dsn), "%s", dsn);
    dst->dead_until = time_mono_ms() + DEST_DEAD_HOLD_MS;
}

/* dest_set_dead - fail the queue now, and jobs that arrive shortly, with this result */
void dest_set_dead(struct dest *dst, int status, const char *dsn, const char *reason)
{
    dest_hold(dst, status, dsn, reason, false);
    dest_fail_queue(dst, status, dsn, reason);
}

/* dest_set_notfound - like dest_set_dead for a name that DNS does not know */
static void dest_set_notfound(struct dest *dst, const char *reason)
{
    struct queue_delivery *d;
    dest_hold(dst, RCPT_DEFERRED, "4.4.3", reason, true);
    while ((d = dest_pop(dst)) != NULL)
        job_fail_notfound(dst, d, reason);
}

struct dest *dest_find(struct delivery *dv, const char *key, bool tls_optional)
{
    for (struct dest *dst = dv->bucket[hash_fnv32_str(HASH_FNV32_START, key) & (dv->nbucket - 1)];
         dst; dst = dst->hnext)
        if (dst->tls_optional == tls_optional && strcmp(dst->key, key) == 0)
            return dst;
    return NULL;
}

/* dest_create - a new destination for next hop key; NULL when out of memory */
static struct dest *dest_create(struct delivery *dv, const char *key, bool tls_optional)
{
    struct dest *dst = calloc(1, sizeof(*dst));
    struct policy_nexthop nh;

    if (!dst || !(dst->key = strdup(key))) {
        free(dst);
        return NULL;
    }
    dst->dv = dv;
    dest_lease_init(dst);
    dest_rate_init(dst);
    dst->tls_optional = tls_optional;
    dv->ndest_tls_optional += tls_optional;
    if (strcmp(key, DELIVERY_DISCARD_KEY) == 0) { /* "discard:25" is a host */
        dst->discard = true;
    } else if (policy_nexthop_parse(key, &nh) < 0 || !nh.host[0]) {
        dst->invalid = true;
    } else {
        snprintf(dst->host, sizeof(dst->host), "%s", nh.host);
        dst->port = nh.port;
        dst->no_mx = nh.no_mx;
    }
    if (dv->ndest >= dv->nbucket)
        delivery_grow(dv);
    size_t h = hash_fnv32_str(HASH_FNV32_START, key) & (dv->nbucket - 1);
    dst->hnext = dv->bucket[h];
    dv->bucket[h] = dst;
    dv->ndest++;
    if (!loop_timer_armed(&dv->sweep))
        loop_timer_arm(dv->p.loop, &dv->sweep, DELIVERY_SWEEP_MS);
    return dst;
}

/* dest_for_job - the destination of d's next hop, one of its own for "TLS-Required: No" */
struct dest *dest_for_job(struct delivery *dv, const struct queue_delivery *d)
{
    const char *key = d->nexthop ? d->nexthop : "";
    struct dest *dst = dest_find(dv, key, d->tls_optional);
    return dst ? dst : dest_create(dv, key, d->tls_optional);
}

/* dest_tls_resolve - the level of an attempt; dane and dane-only are may for tls_optional */
int dest_tls_resolve(const struct tern_runtime *rt, const struct dest *dst,
                     const struct delivery_tls_peer *p, struct policy_tls_site *r,
                     enum tls_level *level)
{
    int rc = delivery_tls_resolve(rt, p, dst->no_mx, r, level);
    if (rc == 0 && dst->tls_optional && (*level == TLS_LEVEL_DANE || *level == TLS_LEVEL_DANE_ONLY))
        *level = TLS_LEVEL_MAY;
    return rc;
}

/* dest_free - forget a destination (unlinked by the caller) */
void dest_free(struct dest *dst)
{
    struct queue_delivery *d;
    while ((d = dest_pop(dst)) != NULL)
        queue_delivery_free(d);
    dest_dane_cancel(dst);
    dest_mtasts_cancel(dst);
    dest_lease_free(dst);
    dest_rate_free(dst);
    dest_addrs_set(dst, NULL, 0);
    free(dst->dead_reason);
    dst->dv->ndest_tls_optional -= dst->tls_optional;
    free(dst->key);
    free(dst);
}

/* dest_addrs_set - replace the address list (n may be 0, a NULL); frees the old one */
void dest_addrs_set(struct dest *dst, struct dest_addr *a, size_t n)
{
    for (size_t i = 0; i < dst->naddr; i++)
        delivery_dane_free(dst->addrs[i].dane);
    free(dst->addrs);
    dst->addrs = a;
    dst->naddr = n;
}

/* dest_literal - a [numeric] next hop needs no lookup: fill the address list */
static bool dest_literal(struct dest *dst)
{
    if (!dst->no_mx || !hostport_is_numeric(dst->host))
        return false;
    struct dest_addr *a = calloc(1, sizeof(*a));
    if (!a)
        return false;
    snprintf(a->host, sizeof(a->host), "%s", dst->host);
    snprintf(a->addr, sizeof(a->addr), "%.63s", dst->host);
    dest_addrs_set(dst, a, 1);
    dst->addrs_expire = UINT64_MAX;
    return true;
}

/* dest_is_me - is addr at dst's port tern itself (a listener or proxy_interfaces)? */
static bool dest_is_me(const struct dest *dst, const char *addr)
{
    const struct tern_runtime *rt = dst->dv->p.rt;
    const struct config_list *proxy = rt && rt->cfg ? &rt->cfg->proxy_interfaces : NULL;
    return delivery_self_is_me(dst->dv->self, proxy, addr, dst->port);
}

/* dest_loops - the best next hop is tern itself: bounce like Postfix, keep no address */
static void dest_loops(struct dest *dst)
{
    char reason[400];
    snprintf(reason, sizeof(reason), "mail for %s loops back to myself", dst->host);
    log_warn("smtp", "%s: %s", dst->key, reason);
    dest_addrs_set(dst, NULL, 0);
    dst->addrs_expire = 0;
    dest_set_dead(dst, RCPT_BOUNCED, "5.4.6", reason);
}

/* self_pref - the best (lowest) preference at which tern itself is listed; INT_MAX: never */
static int self_pref(const struct dest *dst, const struct dns_result *res)
{
    int best = INT_MAX;
    for (size_t i = 0; i < res->nhost; i++)
        for (size_t j = 0; j < res->host[i].naddr; j++)
            if (res->host[i].pref < best && dest_is_me(dst, res->host[i].addr[j]))
                best = res->host[i].pref;
    return best;
}

/* not_found_reason - the resolver's own text, else Postfix's "Host not found" + tail */
static void not_found_reason(const struct dest *dst, const struct dns_result *res, const char *tail,
                             char *reason, size_t len)
{
    if (res->error[0])
        snprintf(reason, len, "%s", res->error);
    else
        snprintf(reason, len,
                 "Host or domain name not found. Name service error for name=%s type=%s: "
                 "Host not found%s",
                 dst->host, dst->no_mx ? "A" : "MX", tail);
}

/* dest_dns_cb - the lookup of a destination is back */
static void dest_dns_cb(void *arg, const struct dns_result *res)
{
    struct dest *dst = arg;
    struct delivery *dv = dst->dv;
    char reason[512];

    dst->resolving = false;
    dv->nlookups--;
    dst->last_used = time_mono_ms();
    if (res->status != DNS_OK)
        dst->t_lookup = 0;
    switch (res->status) {
    case DNS_OK: {
        /* As Postfix: exchangers at tern's own preference or worse are dropped; when
         * tern is the best one, the mail has nowhere to go but back to tern. */
        int mypref = self_pref(dst, res);
        size_t n = 0;
        for (size_t i = 0; i < res->nhost; i++)
            if (res->host[i].pref < mypref)
                n += res->host[i].naddr;
        if (n == 0 && mypref != INT_MAX) {
            dest_loops(dst);
            return;
        }
        if (n > DEST_MAX_ADDRS)
            n = DEST_MAX_ADDRS;
        struct dest_addr *a = n ? calloc(n, sizeof(*a)) : NULL;
        if (!a) {
            dest_set_dead(dst, RCPT_DEFERRED, "4.4.3",
                          n ? "out of memory" : "Host or domain name not found: no address");
            return;
        }
        size_t k = 0;
        for (size_t i = 0; i < res->nhost && k < n; i++)
            for (size_t j = 0; j < res->host[i].naddr && k < n && res->host[i].pref < mypref;
                 j++, k++) {
                snprintf(a[k].host, sizeof(a[k].host), "%s", res->host[i].name);
                snprintf(a[k].addr, sizeof(a[k].addr), "%s", res->host[i].addr[j]);
                /* RFC 7672 2.2: the MX answer and the host's addresses, both validated */
                a[k].secure = res->secure && res->host[i].secure;
                snprintf(a[k].cname, sizeof(a[k].cname), "%s", res->host[i].cname);
            }
        dest_addrs_set(dst, a, n);
        dst->addrs_expire = time_mono_ms() + DEST_DNS_TTL_MS;
        if (dest_mtasts_start(dst))
            return; /* it starts the TLSA lookups, or kicks, once the policy is settled */
        if (dest_dane_start(dst))
            return; /* the last TLSA answer kicks */
        dest_kick(dst);
        return;
    }
    case DNS_NULL_MX:
        if (res->error[0])
            snprintf(reason, sizeof(reason), "%s", res->error);
        else
            snprintf(reason, sizeof(reason), "Domain %s does not accept mail (nullMX)", dst->host);
        dest_set_dead(dst, RCPT_BOUNCED, "5.1.10", reason);
        return;
    case DNS_NOTFOUND:
        not_found_reason(dst, res, "", reason, sizeof(reason));
        dest_set_notfound(dst, reason);
        return;
    case DNS_TEMPFAIL:
    default:
        not_found_reason(dst, res, ", try again", reason, sizeof(reason));
        dest_set_dead(dst, RCPT_DEFERRED, "4.4.3", reason);
        return;
    }
}

/* dest_resolve - make sure addresses are known or being looked up; true when known and settled */
static bool dest_resolve(struct dest *dst)
{
    struct delivery *dv = dst->dv;
    char reason[512];
    int rc;

    /* first: after the MX lookup the addresses are known, but the MTA-STS policy and the TLSA
     * records are still being found (dest_mtasts, dest_dane); no connection before they are */
    if (dst->resolving)
        return false;
    if (dst->naddr > 0 && time_mono_ms() < dst->addrs_expire)
        return true;
    if (dest_literal(dst)) {
        if (!dest_is_me(dst, dst->addrs[0].addr))
            return true;
        dest_loops(dst);
        return false;
    }
    rc = dst->no_mx ? dns_lookup_host(dv->p.dns, dst->host, dest_dns_cb, dst)
                    : dns_lookup_mx(dv->p.dns, dst->host, dest_dns_cb, dst);
    if (rc < 0) {
        snprintf(reason, sizeof(reason), "Name service error for name=%s type=%s: %s", dst->host,
                 dst->no_mx ? "A" : "MX", error_str(rc));
        dest_set_dead(dst, RCPT_DEFERRED, "4.4.3", reason);
        return false;
    }
    dst->resolving = true;
    dst->t_lookup = time_now();
    dv->nlookups++;
    return false;
}

/* dest_alive - connections other than skip that are (or may become) usable */
int dest_alive(const struct dest *dst, const struct dconn *skip)
{
    int n = 0;
    for (const struct dconn *c = dst->conns; c; c = c->next)
        if (c != skip && c->state != DC_QUITTING && c->state != DC_CLOSING)
            n++;
    return n;
}

/* dest_kick_open - give idle connections work, open new ones while jobs wait */
static void dest_kick_open(struct dest *dst)
{
    struct delivery *dv = dst->dv;
    int up = 0, starting = 0, alive = 0;

    if (dv->shutting || dst->nqueued == 0)
        return;
    for (struct dconn *c = dst->conns; c && dst->nqueued > 0; c = c->next) {
        if (c->state == DC_READY && !c->job) {
            loop_timer_cancel(dv->p.loop, &c->timer);
            dconn_take_next(c);
        }
    }
    if (dst->nqueued == 0)
        return;
    for (struct dconn *c = dst->conns; c; c = c->next) {
        if (c->state == DC_QUITTING || c->state == DC_CLOSING)
            continue;
        alive++;
        if (c->rtls_job)
            continue; /* at another MX host for its REQUIRETLS job: no probe of this site */
        if (c->state == DC_CONNECTING || c->state == DC_HANDSHAKE)
            starting++;
        else
            up++;
    }
    int limit = dv->p.concurrency_limit > 0 ? dv->p.concurrency_limit : 1;
    /* Slow start: one probe until the site has shown it answers. */
    if (up == 0 && starting > 0)
        return;
    int used = dest_share_used(dst, alive);
    while (used < limit && (size_t)starting < dst->nqueued && dest_lease_ok(dst, limit)) {
        if (!dest_resolve(dst))
            return; /* dest_dns_cb() kicks again, or the queue was failed */
        struct dconn *c = dconn_alloc(dst, 0);
        if (!c) {
            if (alive == 0)
                dest_fail_queue(dst, RCPT_DEFERRED, "4.3.0", "out of memory");
            return;
        }
        if (!dconn_connect(c)) {
            c->failed = c->connect_failed = true;
            c->state = DC_CLOSING;
            dconn_gone(c); /* fails the queue when nobody else serves it */
            return;
        }
        alive++;
        used++;
        starting++;
        if (up == 0)
            return;
    }
    if (used >= limit && (size_t)starting < dst->nqueued)
        dest_share_room(dst);
}

/* dest_kick - give idle connections work, open new ones while jobs wait; then give back the
 * cluster leases that back no connection */
void dest_kick(struct dest *dst)
{
    dest_kick_open(dst);
    if (dst->nlease > 0)
        dest_lease_trim(dst);
}
