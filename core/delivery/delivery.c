/*
 * NAME
 *	delivery - per-worker outbound delivery: destinations, connection pools
 * SYNOPSIS
 *	#include "core/delivery/delivery.h"
 * DESCRIPTION
 *	Destinations live in a chained hash table keyed by the next-hop key.
 *	Each has a FIFO of jobs (struct queue_delivery, linked through their
 *	owner_data field, so queueing never allocates), a list of connections,
 *	the addresses of its last lookup (cached DEST_DNS_TTL_MS) and a "dead"
 *	verdict: when every address failed, or DNS gave a final answer, the
 *	jobs queued now get that result, and so does every job that arrives
 *	within DEST_DEAD_HOLD_MS (the rest of the scheduler's burst). Later jobs
 *	try again: the queue's backoff decides when that is. A name that DNS
 *	does not know bounces (5.4.4) only the recipients of that very domain
 *	(MX lookup); for a configured next hop ([host], or a host that is not
 *	the recipient's domain) it is a configuration error and defers (4.4.3).
 *
 *	The job key "discard" (no port) is the discard transport's; every other
 *	key names a next hop with its port, so a host named "discard" is a host.
 *
 *	Loops (delivery/delivery_self.c): an address from a lookup, or a [numeric]
 *	next hop, that is one of tern's listeners or in proxy_interfaces is
 *	tern itself. As Postfix does, exchangers at tern's own preference and
 *	worse are dropped, and when nothing better is left the queue bounces
 *	5.4.6 "mail for X loops back to myself"; no connection is made.
 *
 *	SMTPUTF8 (delivery/delivery_utf8.c): a message received with SMTPUTF8 that
 *	needs it (UTF-8 in the envelope or the headers) bounces 5.6.7 at a
 *	server that does not offer SMTPUTF8; one that does not need it is sent
 *	there without the parameter.
 *
 *	A connection (struct dconn) goes CONNECTING -> HANDSHAKE -> READY <->
 *	BUSY -> QUITTING/CLOSING. It owns one struct conn, one smtpc session and
 *	one loop timer that serves as connect/command timeout, idle timer and
 *	QUIT grace timer depending on the state. It walks the address list from
 *	its start index: a refused connect tries the next address, a refused
 *	greeting or EHLO starts a replacement connection at the next address.
 *
 *	Slow start: while no connection of a destination has completed its
 *	handshake, at most one attempt is in flight, so a dead site costs one
 *	walk of its addresses per burst, not one per job. Once a connection is
 *	up, a new one is started whenever jobs wait and the number of
 *	connections is below the concurrency limit.
 *
 *	Loops are avoided: a connection that dies before completing any
 *	transaction, when no other connection of the destination is alive,
 *	makes the destination dead (its queue deferred with that reason)
 *	instead of triggering an immediate reconnect.
 *
 *	TLS (delivery/delivery_tls.c has the level, name and cache details): a
 *	connection takes the config generation in force when it starts and
 *	keeps it (contexts stay valid across a reload). Once connected, the
 *	level of the attempt comes from delivery_tls_resolve() (smtp_tls_policy_maps /
 *	smtp_tls_per_site for "[host]:port" or the domain, and the server's
 *	host name; else the global level); a table error or bad entry defers
 *	(4.3.0 / 4.7.5) before a byte is read or sent. At may and above the
 *	smtpc session sends STARTTLS when offered; on SMTPC_STARTTLS a client
 *	tls_session (SNI, cached session offered) is put on the conn; when the
 *	handshake is done the level is checked, and the session re-EHLOs.
 *	The session is saved to the cache after the first read that finds a
 *	resumable session (TLS 1.3 tickets follow the handshake). Failures:
 *	  - TLS required (encrypt and up) but not offered, STARTTLS refused,
 *	    or the certificate fails the level: QUIT, and the queue is deferred
 *	    with dsn 4.7.5 and Postfix's reason; no MAIL is ever sent;
 *	  - a failed handshake: the connection is dropped and the queue
 *	    deferred 4.7.5 "Cannot start TLS: handshake failure"; at may the
 *	    worker remembers it for DELIVERY_TLS_FAIL_HOLD_MS per destination and
 *	    address, and the next attempt there goes in plaintext;
 *	  - may with STARTTLS refused: the session goes on in plaintext.
 *	When such a failure at one address is followed by addresses that do
 *	not answer at all, the deferral keeps the first reason and dsn (a
 *	MUST site says "Server certificate not verified", not "Connection
 *	refused" from its IPv6 address).
 *
 *	Every finished job is logged per recipient in Postfix's format and
 *	handed back with queue_delivery_done(). delays=a/b/c/d: a = queued -
 *	arrival, b = time until this worker started the transaction minus c,
 *	c = connection setup (resolve, connect, greeting, EHLO) charged to the
 *	first job of a new connection, d = the transaction itself.
 * DIAGNOSTICS
 *	delivery_new() returns 0 or -ENOMEM. Everything else reports through
 *	the recipients' results and the log (component "smtp").
 */
#include "core/delivery/delivery.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/loop/conn.h"
#include "core/delivery/delivery_auth.h"
#include "core/delivery/delivery_self.h"
#include "core/delivery/delivery_utf8.h"
#include "core/delivery/delivery_tls.h"
#include "core/base/hostport.h"
#include "core/base/hash.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/delivery/smtpc.h"
#include "core/base/stats.h"
#include "core/base/time.h"
#include "policy/policy_nexthop.h"
#include "tls/tls_session.h"

#define DEST_DNS_TTL_MS 60000u    /* addresses of a lookup are reused this long */
#define DEST_DEAD_HOLD_MS 1000u   /* a dead verdict applies to jobs arriving this soon */
#define DEST_IDLE_GC_MS 60000u    /* an unused destination is forgotten after this */
#define DELIVERY_SWEEP_MS 30000u  /* how often unused destinations are looked for */
#define DEST_MAX_ADDRS 5          /* like Postfix's smtp_mx_address_limit */
#define DCONN_QUIT_GRACE_MS 5000u /* wait this long for the 221 to QUIT */

struct delivery;
struct dest;

struct dest_addr {
    char host[256];
    char addr[64];
};

enum dconn_state { DC_CONNECTING, DC_HANDSHAKE, DC_READY, DC_BUSY, DC_QUITTING, DC_CLOSING };

struct dconn {
    struct dconn *next;
    struct dest *dst;
    struct conn *conn;
    struct smtpc_session *s;
    enum dconn_state state;
    struct loop_timer timer;
    size_t addr_index;
    char peer[400];             /* "host[addr]:port" */
    struct queue_delivery *job; /* the open transaction */
    char *body;
    size_t blen;
    double t_start, t_ready, t_pickup; /* wall clock */
    double t_open;                     /* wall clock of the connect, for reuse_time_limit */
    bool fresh;                        /* setup time not yet charged to a job */
    bool failed;                       /* going away because of an error */
    bool was_ready;                    /* reached READY at least once */
    bool connect_failed;               /* no address answered */
    int ntxn;
    char *reason;          /* why it failed */
    const char *fail_dsn;  /* dsn for the queue when it failed; NULL: 4.4.2 */
    char *prior_reason;    /* an earlier address failed after connecting (e.g. TLS) */
    const char *prior_dsn; /* ... with this dsn (static string) */

    char host[256], addr[64];        /* the address it connected to (dst->addrs may change) */
    struct tern_runtime *rt;         /* config generation of this connection; own reference */
    enum tls_level tls_level;        /* none when rt has no client TLS */
    bool tls_handshaking;            /* conn_start_tls() called, done() not yet */
    bool tls_up;                     /* handshake done and level met */
    bool tls_saved;                  /* session stored in the cache (or nowhere to store it) */
    char tls_key[800];               /* cache key, "" when there is no cache */
    struct policy_tls_site tls_site; /* per-site policy of this attempt (match list, table, key) */
    struct delivery_auth *auth;      /* SASL credentials for this server, NULL: no AUTH */
};

struct dest {
    struct dest *hnext;
    struct delivery *dv;
    char *key;
    char host[256];
    int port;
    bool no_mx, discard, invalid;

    struct queue_delivery *qhead, *qtail; /* FIFO through owner_data */
    size_t nqueued;
    struct dconn *conns;
    int nconns;

    struct dest_addr *addrs;
    size_t naddr;
    uint64_t addrs_expire; /* monotonic ms; UINT64_MAX for a numeric literal */
    bool resolving;
    double t_lookup; /* wall clock when the pending lookup started, for delays= c */

    uint64_t dead_until;
    int dead_status;    /* RCPT_DEFERRED or RCPT_BOUNCED */
    bool dead_notfound; /* DNS said no such name: bounce only the domain's own recipients */
    char dead_dsn[8];
    char *dead_reason;
    uint64_t last_used;
};

struct delivery {
    struct delivery_params p;
    char *helo_name;
    struct dest **bucket;
    size_t nbucket, ndest;
    size_t nconns, nlookups, njobs;
    bool shutting;
    struct loop_timer sweep;
    struct delivery_tls_failmem *failmem; /* where a may handshake failed lately */
    struct delivery_self *self;           /* tern's own addresses (mail loops); NULL: none known */
};

static const struct conn_ops dconn_ops;
static void dest_kick(struct dest *dst);
static void dconn_take_next(struct dconn *c);

/* fmt_delay - seconds as Postfix logs them: two significant digits, at most two decimals */
static void fmt_delay(char *out, size_t len, double v)
{
    if (!(v > 0))
        v = 0;
    if (v >= 10)
        snprintf(out, len, "%.0f", v);
    else if (v >= 1)
        snprintf(out, len, "%.1f", v);
    else
        snprintf(out, len, "%.2f", v);
    if (strchr(out, '.')) {
        char *e = out + strlen(out) - 1;
        while (*e == '0')
            *e-- = 0;
        if (*e == '.')
            *e = 0;
    }
}

/* rcpt_set - record a result for one recipient (reason copied) */
static void rcpt_set(struct queue_delivery_rcpt *r, int status, const char *dsn, const char *reason)
{
    r->status = status;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    free(r->reason);
    r->reason = strdup(reason ? reason : "");
}

/* job_set_pending - give every recipient without a result this one */
static void job_set_pending(struct queue_delivery *d, int status, const char *dsn,
                            const char *reason)
{
    for (size_t i = 0; i < d->nrcpt; i++)
        if (d->rcpt[i].status == RCPT_PENDING)
            rcpt_set(&d->rcpt[i], status, dsn, reason);
}

/* job_finish - log every recipient, return the job to the queue */
static void job_finish(struct delivery *dv, struct queue_delivery *d, double pickup, double setup)
{
    static const char *const status_name[] = {"deferred", "sent", "deferred", "bounced"};
    double now = time_now();
    char delay[32], a[32], b[32], c[32], dd[32];

    if (!d->relay)
        d->relay = strdup("none");
    if (pickup <= 0)
        pickup = now;
    if (setup < 0)
        setup = 0;
    fmt_delay(delay, sizeof(delay), now - d->arrival);
    fmt_delay(a, sizeof(a), d->queued - d->arrival);
    fmt_delay(b, sizeof(b), pickup - d->queued - setup);
    fmt_delay(c, sizeof(c), setup);
    fmt_delay(dd, sizeof(dd), now - pickup);
    for (size_t i = 0; i < d->nrcpt; i++) {
        struct queue_delivery_rcpt *r = &d->rcpt[i];
        if (r->status == RCPT_PENDING)
            rcpt_set(r, RCPT_DEFERRED, "4.3.0", "delivery status unknown");
        int st = r->status >= 0 && r->status <= RCPT_BOUNCED ? r->status : RCPT_DEFERRED;
        log_info("smtp",
                 "%s: to=<%s>, relay=%s, delay=%s, delays=%s/%s/%s/%s, dsn=%s, status=%s (%s)",
                 d->qid, r->addr, d->relay ? d->relay : "none", delay, a, b, c, dd, r->dsn,
                 status_name[st], r->reason ? r->reason : "");
    }
    d->owner_data = NULL;
    queue_delivery_done(dv->p.queue, d);
}

/* job_fail - a job that was never sent: every recipient gets this result */
static void job_fail(struct delivery *dv, struct queue_delivery *d, int status, const char *dsn,
                     const char *reason)
{
    job_set_pending(d, status, dsn, reason);
    job_finish(dv, d, 0, 0);
}

/* dest_pop - the oldest queued job, or NULL */
static struct queue_delivery *dest_pop(struct dest *dst)
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
static void dest_push(struct dest *dst, struct queue_delivery *d)
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
static void dest_fail_queue(struct dest *dst, int status, const char *dsn, const char *reason)
{
    struct queue_delivery *d;
    while ((d = dest_pop(dst)) != NULL)
        job_fail(dst->dv, d, status, dsn, reason);
}

/* rcpt_in_domain - is the domain of addr (after its last '@') the name host? */
static bool rcpt_in_domain(const char *addr, const char *host)
{
    const char *at = strrchr(addr, '@');
    if (!at)
        return false;
    size_t dl = strlen(at + 1), hl = strlen(host);
    if (dl > 0 && at[1 + dl - 1] == '.')
        dl--;
    if (hl > 0 && host[hl - 1] == '.')
        hl--;
    return dl == hl && strncasecmp(at + 1, host, dl) == 0;
}

/* job_fail_notfound - DNS does not know dst->host: only a recipient of that very
 *	domain (MX lookup) bounces; a configured next hop ([host], or a host that is
 *	not the recipient's domain) defers, as Postfix treats it as a configuration
 *	error that must not turn into bounces */
static void job_fail_notfound(struct dest *dst, struct queue_delivery *d, const char *reason)
{
    for (size_t i = 0; i < d->nrcpt; i++) {
        struct queue_delivery_rcpt *r = &d->rcpt[i];
        if (r->status != RCPT_PENDING)
            continue;
        if (!dst->no_mx && rcpt_in_domain(r->addr, dst->host))
            rcpt_set(r, RCPT_BOUNCED, "5.4.4", reason);
        else
            rcpt_set(r, RCPT_DEFERRED, "4.4.3", reason);
    }
    job_finish(dst->dv, d, 0, 0);
}

/* dest_job_dead - a job gets the destination's dead verdict */
static void dest_job_dead(struct dest *dst, struct queue_delivery *d)
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
static void dest_set_dead(struct dest *dst, int status, const char *dsn, const char *reason)
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

/* dest_find - the destination of key, or NULL */
static struct dest *dest_find(struct delivery *dv, const char *key)
{
    for (struct dest *dst = dv->bucket[hash_fnv32_str(HASH_FNV32_START, key) & (dv->nbucket - 1)];
         dst; dst = dst->hnext)
        if (strcmp(dst->key, key) == 0)
            return dst;
    return NULL;
}

/* delivery_grow - double the hash table when it gets crowded (failure is harmless) */
static void delivery_grow(struct delivery *dv)
{
    size_t n = dv->nbucket * 2;
    struct dest **nb = calloc(n, sizeof(*nb));
    if (!nb)
        return;
    for (size_t i = 0; i < dv->nbucket; i++) {
        struct dest *dst = dv->bucket[i], *next;
        for (; dst; dst = next) {
            next = dst->hnext;
            size_t h = hash_fnv32_str(HASH_FNV32_START, dst->key) & (n - 1);
            dst->hnext = nb[h];
            nb[h] = dst;
        }
    }
    free(dv->bucket);
    dv->bucket = nb;
    dv->nbucket = n;
}

/* dest_create - a new destination for key; NULL when out of memory */
static struct dest *dest_create(struct delivery *dv, const char *key)
{
    struct dest *dst = calloc(1, sizeof(*dst));
    struct policy_nexthop nh;

    if (!dst || !(dst->key = strdup(key))) {
        free(dst);
        return NULL;
    }
    dst->dv = dv;
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

/* dest_free - forget a destination (unlinked by the caller) */
static void dest_free(struct dest *dst)
{
    struct queue_delivery *d;
    while ((d = dest_pop(dst)) != NULL)
        queue_delivery_free(d);
    free(dst->addrs);
    free(dst->dead_reason);
    free(dst->key);
    free(dst);
}

/* delivery_sweep - forget destinations nobody used for a while */
static void delivery_sweep(struct loop_timer *t)
{
    struct delivery *dv = (struct delivery *)((char *)t - offsetof(struct delivery, sweep));
    uint64_t now = time_mono_ms();

    for (size_t i = 0; i < dv->nbucket; i++) {
        struct dest **pp = &dv->bucket[i];
        while (*pp) {
            struct dest *dst = *pp;
            if (dst->nqueued == 0 && dst->nconns == 0 && !dst->resolving &&
                dst->last_used + DEST_IDLE_GC_MS < now) {
                *pp = dst->hnext;
                dv->ndest--;
                dest_free(dst);
                continue;
            }
            pp = &dst->hnext;
        }
    }
    if (dv->ndest > 0)
        loop_timer_arm(dv->p.loop, &dv->sweep, DELIVERY_SWEEP_MS);
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
    free(dst->addrs);
    dst->addrs = a;
    dst->naddr = 1;
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
    free(dst->addrs);
    dst->addrs = NULL;
    dst->naddr = 0;
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
            }
        free(dst->addrs);
        dst->addrs = a;
        dst->naddr = n;
        dst->addrs_expire = time_mono_ms() + DEST_DNS_TTL_MS;
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
        if (res->error[0])
            snprintf(reason, sizeof(reason), "%s", res->error);
        else
            snprintf(reason, sizeof(reason),
                     "Host or domain name not found. Name service error for name=%s type=%s: "
                     "Host not found",
                     dst->host, dst->no_mx ? "A" : "MX");
        dest_set_notfound(dst, reason);
        return;
    case DNS_TEMPFAIL:
    default:
        if (res->error[0])
            snprintf(reason, sizeof(reason), "%s", res->error);
        else
            snprintf(reason, sizeof(reason),
                     "Host or domain name not found. Name service error for name=%s type=%s: "
                     "Host not found, try again",
                     dst->host, dst->no_mx ? "A" : "MX");
        dest_set_dead(dst, RCPT_DEFERRED, "4.4.3", reason);
        return;
    }
}

/* dest_resolve - make sure addresses are known or being looked up; true when known */
static bool dest_resolve(struct dest *dst)
{
    struct delivery *dv = dst->dv;
    char reason[512];
    int rc;

    if (dst->naddr > 0 && time_mono_ms() < dst->addrs_expire)
        return true;
    if (dst->resolving)
        return false;
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

/* dconn_timer_cb - per-state timeout */
static void dconn_timer_cb(struct loop_timer *t);

/* dconn_alloc - a new connection of dst that will start at address idx */
static struct dconn *dconn_alloc(struct dest *dst, size_t idx)
{
    struct dconn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->dst = dst;
    c->addr_index = idx;
    c->state = DC_CONNECTING;
    c->rt = dst->dv->p.rt ? runtime_ref(dst->dv->p.rt) : NULL;
    c->tls_level = delivery_tls_level(c->rt);
    c->t_start = dst->t_lookup > 0 ? dst->t_lookup : time_now();
    c->t_open = time_now();
    dst->t_lookup = 0;
    loop_timer_init(&c->timer, dconn_timer_cb);
    c->next = dst->conns;
    dst->conns = c;
    dst->nconns++;
    dst->dv->nconns++;
    return c;
}

/* dconn_set_reason - remember why the connection failed */
static void dconn_set_reason(struct dconn *c, const char *reason)
{
    char *copy = strdup(reason);
    if (!copy)
        return;
    free(c->reason);
    c->reason = copy;
}

/* dest_alive - connections other than skip that are (or may become) usable */
static int dest_alive(const struct dest *dst, const struct dconn *skip)
{
    int n = 0;
    for (const struct dconn *c = dst->conns; c; c = c->next)
        if (c != skip && c->state != DC_QUITTING && c->state != DC_CLOSING)
            n++;
    return n;
}

/* dconn_connect - try addresses from c->addr_index on; false when none is left */
static bool dconn_connect(struct dconn *c)
{
    struct dest *dst = c->dst;
    struct delivery *dv = dst->dv;
    char reason[512];

    for (; c->addr_index < dst->naddr; c->addr_index++) {
        const struct dest_addr *a = &dst->addrs[c->addr_index];
        struct sockaddr_storage ss;
        socklen_t sl;
        if (hostport_sockaddr(a->addr, dst->port, &ss, &sl) < 0)
            continue;
        int rc = conn_connect(&c->conn, dv->p.loop, (struct sockaddr *)&ss, sl,
                              (unsigned)dv->p.connect_timeout * 1000u, &dconn_ops, c);
        if (rc == 0)
            return true;
        c->conn = NULL;
        snprintf(reason, sizeof(reason), "connect to %s[%s]:%d: %s", a->host, a->addr, dst->port,
                 strerror(-rc));
        dconn_set_reason(c, reason);
    }
    return false;
}

/* dconn_gone - the connection is over: free it, then decide what the queue needs */
static void dconn_gone(struct dconn *c)
{
    struct dest *dst = c->dst;
    struct delivery *dv = dst->dv;
    bool failed = c->failed, setup_failed = c->failed && !c->was_ready;
    bool connect_failed = c->connect_failed;
    const char *fail_dsn = c->fail_dsn ? c->fail_dsn : "4.4.2"; /* static strings */
    int ntxn = c->ntxn;
    size_t next_index = c->addr_index + 1;
    char *reason = c->reason;
    char *prior_reason = c->prior_reason;
    const char *prior_dsn = c->prior_dsn;

    /* The later addresses did not answer: the earlier failure (a TLS policy failure, a
     * refused greeting) says more about the site than "connection refused". */
    if (connect_failed && prior_reason) {
        free(reason);
        reason = prior_reason;
        fail_dsn = prior_dsn ? prior_dsn : "4.4.2";
        connect_failed = false;
        prior_reason = NULL;
    }

    loop_timer_cancel(dv->p.loop, &c->timer);
    for (struct dconn **pp = &dst->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    dst->nconns--;
    dv->nconns--;
    smtpc_free(c->s);
    delivery_auth_free(c->auth);
    policy_tls_site_release(&c->tls_site);
    runtime_unref(c->rt);
    free(c->body);
    free(c);
    dst->last_used = time_mono_ms();

    if (dv->shutting || dst->nqueued == 0 || !failed) {
        if (!dv->shutting)
            dest_kick(dst);
        free(reason);
        free(prior_reason);
        return;
    }
    /* Someone else is (or may soon be) serving the queue. */
    if (dest_alive(dst, NULL) > 0) {
        free(reason);
        free(prior_reason);
        return;
    }
    if (setup_failed && !connect_failed && next_index < dst->naddr) {
        /* Greeting or EHLO refused: try the next address, like Postfix. */
        struct dconn *n = dconn_alloc(dst, next_index);
        if (n) {
            dconn_set_reason(n, reason);
            n->prior_reason = prior_reason ? prior_reason : strdup(reason ? reason : "");
            n->prior_dsn = prior_reason ? prior_dsn : fail_dsn;
            prior_reason = NULL;
            if (dconn_connect(n)) {
                free(reason);
                free(prior_reason);
                return;
            }
            n->failed = n->connect_failed = true;
            n->state = DC_CLOSING;
            dconn_gone(n);
            free(reason);
            free(prior_reason);
            return;
        }
    }
    if (ntxn > 0) {
        /* It did work before: one fresh try. */
        free(reason);
        free(prior_reason);
        dest_kick(dst);
        return;
    }
    if (connect_failed)
        dest_set_dead(dst, RCPT_DEFERRED, "4.4.1", reason ? reason : "no usable address");
    else
        dest_set_dead(dst, RCPT_DEFERRED, fail_dsn, reason ? reason : "lost connection");
    free(reason);
    free(prior_reason);
}

/* dconn_close - end the connection (politely unless abort); dconn_gone() follows */
static void dconn_close(struct dconn *c, bool abort)
{
    struct delivery *dv = c->dst->dv;

    loop_timer_cancel(dv->p.loop, &c->timer);
    c->state = DC_CLOSING;
    if (!c->conn) {
        dconn_gone(c);
        return;
    }
    if (abort)
        conn_abort(c->conn);
    else
        conn_close(c->conn);
}

/* dconn_host - "host[addr]" of the peer, for reasons */
static void dconn_host(const struct dconn *c, char *out, size_t len)
{
    const char *end = strrchr(c->peer, ']');
    int n = end ? (int)(end - c->peer) + 1 : (int)strlen(c->peer);
    snprintf(out, len, "%.*s", n, c->peer);
}

/* dconn_end_job - the open transaction is over (results filled in): return it */
static void dconn_end_job(struct dconn *c)
{
    struct queue_delivery *d = c->job;
    double setup = 0;

    if (!d)
        return;
    if (c->fresh) {
        setup = c->t_ready - c->t_start;
        if (setup > c->t_pickup - d->dispatched)
            setup = c->t_pickup - d->dispatched;
        c->fresh = false;
    }
    c->job = NULL;
    free(c->body);
    c->body = NULL;
    c->blen = 0;
    job_finish(c->dst->dv, d, c->t_pickup, setup);
}

/* dconn_fail - the connection is unusable: defer the open job, close */
static void dconn_fail(struct dconn *c, const char *reason, bool abort)
{
    if (c->state == DC_CLOSING)
        return;
    if (c->s)
        smtpc_fail_open(c->s, reason);
    if (c->job)
        job_set_pending(c->job, RCPT_DEFERRED, "4.4.2", reason);
    dconn_end_job(c);
    dconn_set_reason(c, reason);
    c->failed = true;
    dconn_close(c, abort);
}

/* dconn_quit - say QUIT and wait briefly for the reply */
static void dconn_quit(struct dconn *c)
{
    struct delivery *dv = c->dst->dv;

    if (!c->conn || !c->s) {
        dconn_close(c, true);
        return;
    }
    smtpc_quit(c->s, conn_out(c->conn));
    conn_flush(c->conn);
    c->state = DC_QUITTING;
    loop_timer_arm(dv->p.loop, &c->timer, DCONN_QUIT_GRACE_MS);
}

/* dconn_reusable - may this connection take another job? Not after reuse_count_limit jobs, not
 * after it has been open reuse_time_limit (Postfix's smtp_connection_reuse_time_limit), and not
 * when it belongs to an older config generation: after a reload a busy connection finishes its
 * job with the TLS policy it was opened with, then goes; new jobs get the new policy. */
static bool dconn_reusable(const struct dconn *c)
{
    const struct delivery *dv = c->dst->dv;
    if (dv->p.reuse_count_limit > 0 && c->ntxn >= dv->p.reuse_count_limit)
        return false;
    if (dv->p.reuse_time_limit > 0 && time_now() - c->t_open >= dv->p.reuse_time_limit)
        return false;
    return c->rt == dv->p.rt;
}

/* dconn_take_next - READY: start the next queued job, or idle */
static void dconn_take_next(struct dconn *c)
{
    struct dest *dst = c->dst;
    struct delivery *dv = dst->dv;
    struct queue_delivery *d;
    char reason[600];

    if (dv->shutting || !dconn_reusable(c)) {
        dconn_quit(c);
        if (!dv->shutting)
            dest_kick(dst);
        return;
    }
    while ((d = dest_pop(dst)) != NULL) {
        char *body = NULL;
        size_t blen = 0;
        int rc = queue_body_load(dv->p.queue, d->qid, &body, &blen);
        if (rc < 0) {
            snprintf(reason, sizeof(reason), "cannot read message content: %s", error_str(rc));
            job_fail(dv, d, RCPT_DEFERRED, "4.3.0", reason);
            continue;
        }
        free(d->relay);
        d->relay = strdup(c->peer);
        c->t_pickup = time_now();
        if (d->smtputf8 && !smtpc_offers(c->s, "SMTPUTF8") && delivery_utf8_needed(d, body, blen)) {
            /* RFC 6531 3.4 and Postfix: no silent downgrade of what needs UTF-8 */
            free(body);
            snprintf(reason, sizeof(reason),
                     "SMTPUTF8 is required, but was not offered by host %s[%s]", c->host, c->addr);
            job_fail(dv, d, RCPT_BOUNCED, "5.6.7", reason);
            continue;
        }
        rc = smtpc_send(c->s, d, body, blen, conn_out(c->conn));
        if (rc == 0) {
            c->job = d;
            c->body = body;
            c->blen = blen;
            c->state = DC_BUSY;
            loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.data_done_timeout * 1000u);
            conn_flush(c->conn);
            return;
        }
        free(body);
        if (rc == -EINVAL) {
            job_fail(dv, d, RCPT_BOUNCED, "5.1.3",
                     "bad address syntax: sender, recipient or parameter contains a control "
                     "character");
            continue;
        }
        if (rc == -ENOMEM) {
            job_fail(dv, d, RCPT_DEFERRED, "4.3.0", "out of memory");
            continue;
        }
        /* The server talked out of turn: the session is unusable. */
        snprintf(reason, sizeof(reason), "%s", smtpc_error(c->s));
        job_fail(dv, d, RCPT_DEFERRED, "4.4.2", reason);
        dconn_fail(c, reason, true);
        return;
    }
    c->state = DC_READY;
    loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.idle_time_limit * 1000u);
}

/* dconn_tls_peer - the names of this connection's peer, for TLS */
static void dconn_tls_peer(const struct dconn *c, struct delivery_tls_peer *p)
{
    p->nexthop = c->dst->host;
    p->host = c->host;
    p->addr = c->addr;
    p->port = c->dst->port;
}

/* dconn_tls_failed - the handshake failed: drop the connection, defer; may: plaintext next time */
static void dconn_tls_failed(struct dconn *c, const char *detail)
{
    struct delivery *dv = c->dst->dv;

    c->tls_handshaking = false;
    stats_inc(STAT_TLS_OUT_FAILED);
    log_info("smtp", "SSL_connect error to %s: %s", c->peer, detail && *detail ? detail : "-1");
    /* A cached session that was offered may be what the server choked on. */
    delivery_tls_forget(c->rt ? c->rt->tls : NULL, c->tls_key);
    if (c->tls_level == TLS_LEVEL_MAY)
        delivery_tls_failmem_add(dv->failmem, c->dst->key, c->addr,
                                 time_mono_ms() + DELIVERY_TLS_FAIL_HOLD_MS);
    c->fail_dsn = "4.7.5";
    dconn_fail(c, "Cannot start TLS: handshake failure", true);
}

/* dconn_tls_done - the handshake is over: check the level, then EHLO again inside TLS */
static void dconn_tls_done(struct conn *conn, void *owner, int err)
{
    struct dconn *c = owner;
    struct delivery *dv = c->dst->dv;
    struct tls_session *ts = conn_tls(conn);
    const struct tern_tls *t = c->rt ? c->rt->tls : NULL;
    const struct tls_info *info;
    struct delivery_tls_status st;
    struct delivery_tls_peer p;
    char reason[300];

    if (c->state == DC_CLOSING || !c->tls_handshaking)
        return;
    c->tls_handshaking = false;
    if (err < 0 || !ts || !(info = tls_session_info(ts))) {
        dconn_tls_failed(c, ts ? tls_session_error(ts) : NULL);
        return;
    }
    stats_inc(info->reused ? STAT_TLS_OUT_RESUMED : STAT_TLS_OUT_FULL);
    dconn_tls_peer(c, &p);
    int rc = delivery_tls_check_site(t, c->tls_level, &c->tls_site,
                                     c->rt ? c->rt->smtp_fingerprint_digest : NULL, ts, &p, &st,
                                     reason, sizeof(reason));
    delivery_tls_log_established(t, ts, &p, &st);
    if (rc == 0 && st.match[0] && t && t->smtp_loglevel >= 1 && c->rt->tls_sites_tables)
        log_info("smtp", "%s: tls=%s, match %s", c->peer, tlsconf_level_name(c->tls_level),
                 st.match);
    if (rc < 0) {
        if (t && t->smtp_loglevel >= 1)
            log_info("smtp", "%s: %s%s%s", c->peer, reason, info->verify_error[0] ? ": " : "",
                     info->verify_error);
        c->fail_dsn = "4.7.5";
        smtpc_quit(c->s, conn_out(conn)); /* inside TLS: nothing else is said */
        dconn_fail(c, reason, false);
        return;
    }
    c->tls_up = true;
    if (smtpc_tls_started(c->s, conn_out(conn)) < 0) {
        dconn_fail(c, "out of memory", true);
        return;
    }
    conn_flush(conn);
    loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.helo_timeout * 1000u);
}

/* dconn_starttls - the server said 220 to STARTTLS: start the handshake */
static void dconn_starttls(struct dconn *c)
{
    struct delivery *dv = c->dst->dv;
    struct tls_session *ts = NULL;
    struct delivery_tls_peer p;

    dconn_tls_peer(c, &p);
    if (!c->rt || delivery_tls_session_new(&ts, c->rt->tls, c->tls_level, &p, &c->tls_site,
                                           c->tls_key, sizeof(c->tls_key)) < 0) {
        c->fail_dsn = "4.7.5";
        dconn_fail(c, "Cannot start TLS: cannot create a TLS session", true);
        return;
    }
    c->tls_handshaking = true;
    loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.helo_timeout * 1000u);
    /* done() may run before this returns (an immediate failure); it copes with that. */
    if (conn_start_tls(c->conn, ts, dconn_tls_done) < 0) {
        tls_session_free(ts);
        dconn_tls_failed(c, "cannot start TLS on the connection");
    }
}

/* dconn_tls_save - store the session once it is resumable (TLS 1.3: after the ticket) */
static void dconn_tls_save(struct dconn *c)
{
    struct tls_session *ts = c->conn ? conn_tls(c->conn) : NULL;
    const struct tls_info *info;

    if (!c->tls_up || c->tls_saved || !ts || !(info = tls_session_info(ts)))
        return;
    /* A resumed TLS 1.2 session is the one already cached; TLS 1.3 brings a fresh ticket. */
    if (info->reused && strcmp(info->protocol, "TLSv1.3") != 0) {
        c->tls_saved = true;
        return;
    }
    int rc = delivery_tls_save(c->rt->tls, ts, c->tls_key);
    if (rc != 0) {
        c->tls_saved = true;
        if (rc < 0)
            log_warn("smtp", "cannot cache the TLS session of %s: %s", c->peer, error_str(rc));
    }
}

/* dconn_event - act on what the protocol engine says */
static void dconn_event(struct dconn *c, enum smtpc_event ev)
{
    struct delivery *dv = c->dst->dv;
    char reason[600];

    switch (ev) {
    case SMTPC_NEED_MORE:
        if (c->state == DC_HANDSHAKE)
            loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.helo_timeout * 1000u);
        else if (c->state == DC_BUSY)
            loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.data_done_timeout * 1000u);
        break;
    case SMTPC_NO_TLS:
        if (c->tls_level >= TLS_LEVEL_ENCRYPT) {
            /* Not offered, or refused: say QUIT, send nothing else in the clear. */
            snprintf(reason, sizeof(reason), "%s", smtpc_error(c->s));
            c->fail_dsn = "4.7.5";
            smtpc_quit(c->s, conn_out(c->conn));
            dconn_fail(c, reason, false);
            break;
        }
        /* may: STARTTLS refused, go on in plaintext. */
        if (c->rt && c->rt->tls->smtp_loglevel >= 1)
            log_info("smtp", "%s: %s; continuing in plaintext", c->peer, smtpc_error(c->s));
        /* fall through */
    case SMTPC_READY:
        if (c->state != DC_HANDSHAKE)
            break;
        if (!smtpc_tls_active(c->s) && smtpc_starttls_offered(c->s) && c->rt &&
            c->rt->tls->smtp_note_starttls_offer)
            log_info("smtp", "Host offered STARTTLS: [%s]", c->host);
        c->t_ready = time_now();
        c->fresh = true;
        c->was_ready = true;
        dconn_take_next(c);
        /* A pool that just proved the site works may grow now. */
        dest_kick(c->dst);
        break;
    case SMTPC_TXN_DONE:
        c->ntxn++;
        dconn_end_job(c);
        dconn_take_next(c);
        break;
    case SMTPC_FAILED:
        snprintf(reason, sizeof(reason), "%s", smtpc_error(c->s));
        if (smtpc_auth_failed(c->s))
            c->fail_dsn = "4.7.0"; /* deferred, as Postfix with smtp_sasl_auth_soft_bounce */
        if (!reason[0])
            dconn_host(c, reason, sizeof(reason));
        /* After a refused greeting Postfix says QUIT; so do we, then close. */
        if (c->job)
            job_set_pending(c->job, RCPT_DEFERRED, "4.4.2", reason);
        dconn_end_job(c);
        smtpc_quit(c->s, conn_out(c->conn));
        dconn_fail(c, reason, false);
        break;
    case SMTPC_CLOSED:
        dconn_close(c, false);
        break;
    case SMTPC_STARTTLS:
        dconn_starttls(c);
        break;
    }
}

/* dconn_data - server bytes */
static void dconn_data(struct conn *conn, void *owner, const char *data, size_t len)
{
    struct dconn *c = owner;
    if (!c->s || c->state == DC_CLOSING)
        return;
    if (c->tls_up && !c->tls_saved)
        dconn_tls_save(c); /* the ticket, if any, came before these bytes */
    enum smtpc_event ev = smtpc_input(c->s, data, len, conn_out(conn));
    if (c->state == DC_QUITTING) {
        /* 221, or anything else: we are leaving anyway. */
        if (ev != SMTPC_NEED_MORE)
            dconn_close(c, false);
        return;
    }
    dconn_event(c, ev);
    if (c->conn && c->state != DC_CLOSING)
        conn_flush(c->conn);
}

/* dconn_closed - the socket is gone */
static void dconn_closed(struct conn *conn, void *owner, int err)
{
    struct dconn *c = owner;
    char host[400], reason[600];

    c->conn = NULL;
    if (c->state == DC_CLOSING || c->state == DC_QUITTING) {
        dconn_gone(c);
        return;
    }
    if (c->tls_handshaking) {
        dconn_tls_failed(c, err < 0 ? strerror(-err) : "lost connection during the handshake");
        return;
    }
    dconn_host(c, host, sizeof(host));
    if (err < 0)
        snprintf(reason, sizeof(reason), "lost connection with %s: %s", host, strerror(-err));
    else
        snprintf(reason, sizeof(reason), "lost connection with %s", host);
    if (c->state == DC_READY && !c->job) {
        /* An idle connection closed by the server: nothing lost. */
        c->state = DC_CLOSING;
        dconn_gone(c);
        return;
    }
    dconn_fail(c, reason, true); /* no conn: goes straight to dconn_gone() */
}

/* dconn_connected - the TCP connect finished */
static void dconn_connected(struct conn *conn, void *owner, int err)
{
    struct dconn *c = owner;
    struct dest *dst = c->dst;
    struct delivery *dv = dst->dv;
    char reason[600];

    if (err < 0) {
        const struct dest_addr *a = &dst->addrs[c->addr_index];
        c->conn = NULL;
        snprintf(reason, sizeof(reason), "connect to %s[%s]:%d: %s", a->host, a->addr, dst->port,
                 strerror(-err));
        dconn_set_reason(c, reason);
        if (!dv->shutting) {
            c->addr_index++;
            if (dconn_connect(c))
                return;
        }
        c->failed = c->connect_failed = true;
        c->state = DC_CLOSING;
        dconn_gone(c);
        return;
    }
    const struct dest_addr *a = &dst->addrs[c->addr_index];
    snprintf(c->peer, sizeof(c->peer), "%s[%s]:%d", a->host, a->addr, dst->port);
    snprintf(c->host, sizeof(c->host), "%s", a->host);
    snprintf(c->addr, sizeof(c->addr), "%s", a->addr);
    stats_inc(STAT_OUT_CONNECTIONS);
    /* The level of this attempt: per-site policy for the next hop and this server. */
    struct delivery_tls_peer tp;
    dconn_tls_peer(c, &tp);
    policy_tls_site_release(&c->tls_site);
    if (delivery_tls_resolve(c->rt, &tp, dst->no_mx, &c->tls_site, &c->tls_level) < 0) {
        /* Defer; nothing is said on the connection. */
        c->fail_dsn = strcmp(c->tls_site.dsn, "4.3.0") == 0 ? "4.3.0" : "4.7.5";
        snprintf(reason, sizeof(reason), "%s",
                 c->tls_site.why[0] ? c->tls_site.why : "client TLS policy problem");
        log_warn("smtp", "%s: %s", c->peer, reason);
        dconn_fail(c, reason, true);
        return;
    }
    delivery_tls_log_policy(c->rt, c->peer, c->tls_level, &c->tls_site);
    /* may, after a failed handshake here: plaintext this time (Postfix's retry). */
    bool plain_retry = c->tls_level == TLS_LEVEL_MAY &&
                       delivery_tls_failmem_has(dv->failmem, dst->key, c->addr, time_mono_ms());
    if (plain_retry && c->rt->tls->smtp_loglevel >= 1)
        log_info("smtp", "%s: TLS handshake failed recently, trying plaintext", c->peer);
    /* SASL: credentials for this server or next hop (smtp_sasl_password_maps) */
    delivery_auth_free(c->auth);
    c->auth = NULL;
    int arc = c->rt ? delivery_auth_new(&c->auth, c->rt->auth, dst->key, c->host) : 0;
    if (arc < 0) {
        c->fail_dsn = "4.3.0";
        snprintf(reason, sizeof(reason), "smtp_sasl_password_maps lookup error for %s: %s", c->peer,
                 error_str(arc));
        log_warn("smtp", "%s", reason);
        dconn_fail(c, reason, true);
        return;
    }
    struct smtpc_params sp = {
        .helo_name = dv->helo_name,
        .peer_name = c->peer,
        .pipelining = dv->p.pipelining,
        .starttls = c->tls_level >= TLS_LEVEL_MAY && !plain_retry,
        .require_tls = c->tls_level >= TLS_LEVEL_ENCRYPT,
        .auth = c->auth ? delivery_auth_hooks(c->auth) : NULL,
    };
    if (smtpc_new(&c->s, &sp) < 0) {
        c->s = NULL;
        dconn_fail(c, "out of memory", true);
        return;
    }
    if (dv->shutting) {
        dconn_close(c, true);
        return;
    }
    c->state = DC_HANDSHAKE;
    loop_timer_arm(dv->p.loop, &c->timer, (uint64_t)dv->p.helo_timeout * 1000u);
}

/* dconn_timer_cb - connect/command timeout, idle expiry, QUIT grace */
static void dconn_timer_cb(struct loop_timer *t)
{
    struct dconn *c = (struct dconn *)((char *)t - offsetof(struct dconn, timer));
    char host[400], reason[600];

    switch (c->state) {
    case DC_READY:
        dconn_quit(c);
        break;
    case DC_QUITTING:
        dconn_close(c, true);
        break;
    case DC_HANDSHAKE:
        if (c->tls_handshaking) {
            dconn_tls_failed(c, "timed out");
            break;
        }
        /* fall through */
    case DC_BUSY:
        dconn_host(c, host, sizeof(host));
        snprintf(reason, sizeof(reason), "conversation with %s timed out while %s", host,
                 c->state == DC_HANDSHAKE ? "performing the initial protocol handshake"
                                          : "receiving the server reply");
        dconn_fail(c, reason, true);
        break;
    case DC_CONNECTING: /* conn_connect() has its own timeout */
    case DC_CLOSING:
        break;
    }
}

static const struct conn_ops dconn_ops = {
    .connected = dconn_connected,
    .data = dconn_data,
    .closed = dconn_closed,
};

/* dest_kick - give idle connections work, open new ones while jobs wait */
static void dest_kick(struct dest *dst)
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
        if (c->state == DC_CONNECTING || c->state == DC_HANDSHAKE)
            starting++;
        else
            up++;
    }
    int limit = dv->p.concurrency_limit > 0 ? dv->p.concurrency_limit : 1;
    /* Slow start: one probe until the site has shown it answers. */
    if (up == 0 && starting > 0)
        return;
    while (alive < limit && (size_t)starting < dst->nqueued) {
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
        starting++;
        if (up == 0)
            return;
    }
}

/* discard_job - the discard transport: every recipient is done */
static void discard_job(struct delivery *dv, struct queue_delivery *d)
{
    for (size_t i = 0; i < d->nrcpt; i++)
        rcpt_set(&d->rcpt[i], RCPT_SENT, "2.0.0", "discarded");
    free(d->relay);
    d->relay = strdup("none");
    job_finish(dv, d, 0, 0);
}

/* delivery_new - an engine for the calling worker */
int delivery_new(struct delivery **out, const struct delivery_params *p)
{
    struct delivery *dv = calloc(1, sizeof(*dv));
    if (!dv)
        return -ENOMEM;
    dv->p = *p;
    dv->helo_name = strdup(p->helo_name ? p->helo_name : "localhost");
    dv->nbucket = 64;
    dv->bucket = calloc(dv->nbucket, sizeof(*dv->bucket));
    if (!dv->helo_name || !dv->bucket || delivery_tls_failmem_new(&dv->failmem) < 0)
        goto fail;
    dv->p.helo_name = dv->helo_name;
    if (dv->p.rt)
        runtime_ref(dv->p.rt);
    if (dv->p.connect_timeout <= 0)
        dv->p.connect_timeout = 30;
    if (dv->p.helo_timeout <= 0)
        dv->p.helo_timeout = 300;
    if (dv->p.data_done_timeout <= 0)
        dv->p.data_done_timeout = 600;
    if (dv->p.idle_time_limit < 0)
        dv->p.idle_time_limit = 0;
    loop_timer_init(&dv->sweep, delivery_sweep);
    *out = dv;
    return 0;
fail:
    delivery_tls_failmem_free(dv->failmem);
    free(dv->helo_name);
    free(dv->bucket);
    free(dv);
    return -ENOMEM;
}

/* delivery_set_self - tern's own addresses, for loop detection (the delivery takes me) */
void delivery_set_self(struct delivery *dv, struct delivery_self *me)
{
    delivery_self_free(dv->self);
    dv->self = me;
}

/* delivery_set_runtime - switch to a new config generation for new connections */
void delivery_set_runtime(struct delivery *dv, struct tern_runtime *rt)
{
    runtime_ref(rt);
    runtime_unref(dv->p.rt);
    dv->p.rt = rt;
}

/* delivery_enqueue - take a job from the scheduler (on the worker's thread) */
void delivery_enqueue(struct delivery *dv, struct queue_delivery *d)
{
    struct dest *dst;

    d->owner_data = NULL;
    for (size_t i = 0; i < d->nrcpt; i++)
        d->rcpt[i].status = RCPT_PENDING;
    if (dv->shutting) {
        job_fail(dv, d, RCPT_DEFERRED, "4.3.0", "mail system is shutting down");
        return;
    }
    if (!d->nexthop || !(dst = dest_find(dv, d->nexthop)))
        dst = dest_create(dv, d->nexthop ? d->nexthop : "");
    if (!dst) {
        job_fail(dv, d, RCPT_DEFERRED, "4.3.0", "out of memory");
        return;
    }
    dst->last_used = time_mono_ms();
    if (dst->discard) {
        discard_job(dv, d);
        return;
    }
    if (dst->invalid) {
        char reason[400];
        snprintf(reason, sizeof(reason), "mail transport unavailable: bad next hop \"%.300s\"",
                 dst->key);
        job_fail(dv, d, RCPT_DEFERRED, "4.3.5", reason);
        return;
    }
    if (dst->dead_until && time_mono_ms() < dst->dead_until && dst->dead_reason) {
        dest_job_dead(dst, d);
        return;
    }
    dest_push(dst, d);
    dest_kick(dst);
}

/* delivery_shutdown - stop taking jobs: defer the queued ones, QUIT idle connections */
void delivery_shutdown(struct delivery *dv)
{
    if (dv->shutting)
        return;
    dv->shutting = true;
    for (size_t i = 0; i < dv->nbucket; i++) {
        for (struct dest *dst = dv->bucket[i]; dst; dst = dst->hnext) {
            dest_fail_queue(dst, RCPT_DEFERRED, "4.3.0", "mail system is shutting down");
            struct dconn *c = dst->conns, *next;
            for (; c; c = next) {
                next = c->next; /* c may go away below (never next: gone is async) */
                switch (c->state) {
                case DC_READY:
                    loop_timer_cancel(dv->p.loop, &c->timer);
                    dconn_quit(c);
                    break;
                case DC_CONNECTING:
                case DC_HANDSHAKE:
                    if (c->conn) {
                        c->state = DC_CLOSING;
                        loop_timer_cancel(dv->p.loop, &c->timer);
                        conn_abort(c->conn);
                    }
                    break;
                case DC_BUSY: /* finishes its transaction, then quits */
                case DC_QUITTING:
                case DC_CLOSING:
                    break;
                }
            }
        }
    }
    loop_timer_cancel(dv->p.loop, &dv->sweep);
}

/* delivery_busy - connections, lookups or jobs still outstanding */
bool delivery_busy(const struct delivery *dv)
{
    return dv && (dv->nconns > 0 || dv->nlookups > 0 || dv->njobs > 0);
}

/* delivery_free - release the engine; connections still open are left to process exit */
void delivery_free(struct delivery *dv)
{
    if (!dv)
        return;
    loop_timer_cancel(dv->p.loop, &dv->sweep);
    for (size_t i = 0; i < dv->nbucket; i++) {
        struct dest *dst = dv->bucket[i], *next;
        for (; dst; dst = next) {
            next = dst->hnext;
            /* Connections in flight still point here: keep such a destination. */
            if (dst->nconns > 0 || dst->resolving)
                continue;
            dest_free(dst);
        }
    }
    if (dv->nconns == 0 && dv->nlookups == 0) {
        runtime_unref(dv->p.rt);
        delivery_tls_failmem_free(dv->failmem);
        delivery_self_free(dv->self);
        free(dv->bucket);
        free(dv->helo_name);
        free(dv);
    }
}
