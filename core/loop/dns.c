/*
 * NAME
 *	dns - asynchronous MX and address lookups (libunbound)
 * SYNOPSIS
 *	#include "core/loop/dns.h"
 * DESCRIPTION
 *	One libunbound context per resolver, in threaded async mode: unbound
 *	resolves in its own background thread and makes ub_fd() readable when
 *	answers are waiting; ub_process() then runs our callbacks on the
 *	caller's thread. No DNSSEC trust anchor is configured yet (DANE will
 *	add one).
 *
 *	dns_resolver_fd() is an epoll descriptor that watches ub_fd() and an
 *	eventfd of our own. The eventfd serves results known without asking
 *	the network (a numeric IP literal given to dns_lookup_host): those are
 *	queued and delivered from the next dns_resolver_process(), so that a
 *	callback never runs inside the dns_lookup_*() call that asked for it
 *	(callers need not be re-entrant). The alternative, a synchronous
 *	callback, was rejected for exactly that reason.
 *
 *	A lookup is a state object (struct dns_lookup) with its queries: first
 *	the MX query, then A and AAAA per exchanger. When the last query is
 *	back, the callback runs once and the object is freed. Exchangers are
 *	sorted by preference, ties shuffled; hosts without any address are
 *	dropped. Up to 8 addresses per host: IPv4 first, up to 4 places kept
 *	for IPv6 when the host has both.
 *
 *	With dns_servers, unbound forwards everything to them ("addr@port"),
 *	may query localhost, and the RFC 6761 "test." zone that unbound serves
 *	as NXDOMAIN by default is passed on too, so test set-ups can use it.
 *
 *	Threading: a resolver belongs to one thread. Callbacks may start new
 *	lookups but must not free the resolver.
 * DIAGNOSTICS
 *	Functions return 0 or -errno; -TERN_ERR_CONFIG for a bad server
 *	address, -TERN_ERR_DNS when unbound refuses a query.
 */
#include "core/loop/dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <idn2.h>
#include <unbound.h>
#include <unistd.h>

#include "core/base/hostport.h"
#include "core/base/error.h"
#include "core/base/log.h"

#define DNS_MAX_HOSTS 32
#define DNS_MAX_ADDR 8

enum { T_A = 1, T_MX = 15, T_AAAA = 28 };
enum { RCODE_NXDOMAIN = 3 };

struct dns_lookup;

struct dns_query {
    struct dns_lookup *lk;
    int id; /* unbound's async id */
    int type;
    size_t host; /* index into lk->host for A/AAAA */
    bool active;
};

/* An exchanger while its addresses come in. */
struct dns_xhost {
    struct dns_host h; /* IPv4 addresses go in h.addr */
    char v6[DNS_MAX_ADDR][64];
    size_t n6;
    unsigned rnd; /* tie breaker for equal preference */
};

struct dns_lookup {
    struct dns_resolver *r;
    struct dns_lookup *prev, *next; /* on r->active or r->ready */
    dns_cb *cb;
    void *arg;
    char name[256];
    bool mx;
    bool mailhost; /* dns_lookup_mailhost: does the domain exist for mail? */
    bool found;    /* ... yes: an MX record (no address queries) */
    struct dns_xhost *host;
    size_t nhost;
    struct dns_query *q; /* 1 + 2 * DNS_MAX_HOSTS */
    size_t nq;
    size_t outstanding;
    bool tempfail; /* some query failed temporarily */
    bool nxdomain; /* some address query said NXDOMAIN */
    bool secure;   /* the MX answer (or, for a host lookup, every address answer) validated */
    enum dns_status status;
    char error[128];
};

struct dns_resolver {
    struct ub_ctx *ctx;
    int epfd, evfd;
    struct dns_lookup *active; /* waiting for unbound */
    struct dns_lookup *ready;  /* finished, callback due from process() */
    unsigned seed;
};

/* dns_text - format an error text, silently cut to fit (names can be long) */
static void dns_text(char *dst, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void dns_text(char *dst, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, len, fmt, ap);
    va_end(ap);
}

/* dns_list_add - push lk on a list */
static void dns_list_add(struct dns_lookup **head, struct dns_lookup *lk)
{
    lk->prev = NULL;
    lk->next = *head;
    if (*head)
        (*head)->prev = lk;
    *head = lk;
}

/* dns_list_del - unlink lk from a list */
static void dns_list_del(struct dns_lookup **head, struct dns_lookup *lk)
{
    if (lk->prev)
        lk->prev->next = lk->next;
    else
        *head = lk->next;
    if (lk->next)
        lk->next->prev = lk->prev;
    lk->prev = lk->next = NULL;
}

/* dns_fwd_addr - "127.0.0.1:5353", "[::1]:53", "::1" -> unbound's "addr@port" */
static int dns_fwd_addr(const char *s, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN + 1];
    int port;
    if (hostport_split(s, 0, host, sizeof(host), &port) < 0 || !hostport_is_numeric(host))
        return -TERN_ERR_CONFIG;
    if (port > 0)
        snprintf(out, outlen, "%s@%d", host, port);
    else
        snprintf(out, outlen, "%s", host);
    return 0;
}

/* dns_resolver_new - a resolver using servers (or the system's when n == 0) */
int dns_resolver_new(struct dns_resolver **out, char *const *servers, size_t n)
{
    struct dns_resolver *r = calloc(1, sizeof(*r));
    struct epoll_event ev = {.events = EPOLLIN};
    int rc = -TERN_ERR_DNS;

    if (!r)
        return -ENOMEM;
    r->epfd = r->evfd = -1;
    if (!(r->ctx = ub_ctx_create()))
        goto fail;
    if (n > 0) {
        if (ub_ctx_set_option(r->ctx, "do-not-query-localhost:", "no") != 0 ||
            ub_ctx_set_option(r->ctx, "local-zone:", "test. transparent") != 0)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            char fwd[80];
            if ((rc = dns_fwd_addr(servers[i], fwd, sizeof(fwd))) < 0) {
                log_warn("dns", "bad dns_servers entry: %s", servers[i]);
                goto fail;
            }
            if (ub_ctx_set_fwd(r->ctx, fwd) != 0) {
                rc = -TERN_ERR_CONFIG;
                goto fail;
            }
        }
    } else {
        int e;
        if ((e = ub_ctx_resolvconf(r->ctx, NULL)) != 0)
            log_warn("dns", "cannot read /etc/resolv.conf: %s", ub_strerror(e));
        if ((e = ub_ctx_hosts(r->ctx, NULL)) != 0)
            log_warn("dns", "cannot read /etc/hosts: %s", ub_strerror(e));
    }
    rc = -TERN_ERR_DNS;
    if (ub_ctx_async(r->ctx, 1) != 0)
        goto fail;
    if ((r->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
        (r->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    ev.data.fd = ub_fd(r->ctx);
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, ub_fd(r->ctx), &ev) < 0) {
        rc = -errno;
        goto fail;
    }
    ev.data.fd = r->evfd;
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) < 0) {
        rc = -errno;
        goto fail;
    }
    r->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)r;
    *out = r;
    return 0;
fail:
    dns_resolver_free(r);
    return rc;
}

/* dns_lookup_free - release a lookup's memory (it is on no list) */
static void dns_lookup_free(struct dns_lookup *lk)
{
    free(lk->host);
    free(lk->q);
    free(lk);
}

/* dns_resolver_free - cancel everything outstanding (no callbacks) and free */
void dns_resolver_free(struct dns_resolver *r)
{
    if (!r)
        return;
    while (r->active)
        dns_lookup_cancel(r, r->active);
    while (r->ready)
        dns_lookup_cancel(r, r->ready);
    if (r->ctx)
        ub_ctx_delete(r->ctx);
    if (r->epfd >= 0)
        close(r->epfd);
    if (r->evfd >= 0)
        close(r->evfd);
    free(r);
}

/* dns_resolver_fd - descriptor that becomes readable when process() has work */
int dns_resolver_fd(struct dns_resolver *r)
{
    return r->epfd;
}

/* dns_resolver_trust - DNSSEC trust anchors from a zone-format file of DS or DNSKEY records */
int dns_resolver_trust(struct dns_resolver *r, const char *file)
{
    /* unbound reads the file at the first query, and then fails every query: look now */
    FILE *f = fopen(file, "r");
    if (!f) {
        log_warn("dns", "cannot read DNSSEC trust anchors from %s: %s", file, strerror(errno));
        return -TERN_ERR_CONFIG;
    }
    fclose(f);
    int e = ub_ctx_add_ta_file(r->ctx, file);
    if (e != 0) {
        log_warn("dns", "cannot load DNSSEC trust anchors from %s: %s", file, ub_strerror(e));
        return -TERN_ERR_CONFIG;
    }
    return 0;
}

/* dns_resolver_ub - the unbound context, for dns_rr.c */
struct ub_ctx *dns_resolver_ub(struct dns_resolver *r)
{
    return r->ctx;
}

/* dns_cmp_host - by preference, then by the random tie breaker */
static int dns_cmp_host(const void *a, const void *b)
{
    const struct dns_xhost *x = a, *y = b;
    if (x->h.pref != y->h.pref)
        return x->h.pref < y->h.pref ? -1 : 1;
    return x->rnd < y->rnd ? -1 : x->rnd > y->rnd;
}

/* dns_deliver - run the callback of a finished lookup and free it */
static void dns_deliver(struct dns_lookup *lk)
{
    struct dns_result res = {.status = lk->status};
    struct dns_host *hosts = NULL;
    size_t n = 0;

    snprintf(res.error, sizeof(res.error), "%s", lk->error);
    res.secure = lk->mx ? lk->secure : lk->nhost > 0 && lk->host[0].h.secure;
    if (lk->status == DNS_OK && lk->found) {
        /* a mailhost lookup that met an MX record: OK without hosts */
    } else if (lk->status == DNS_OK) {
        hosts = calloc(lk->nhost ? lk->nhost : 1, sizeof(*hosts));
        if (!hosts) {
            res.status = DNS_TEMPFAIL;
            snprintf(res.error, sizeof(res.error), "out of memory");
        } else {
            qsort(lk->host, lk->nhost, sizeof(*lk->host), dns_cmp_host);
            for (size_t i = 0; i < lk->nhost; i++) {
                struct dns_xhost *x = &lk->host[i];
                size_t n6 = x->n6 < DNS_MAX_ADDR / 2 ? x->n6 : DNS_MAX_ADDR / 2;
                size_t n4 = x->h.naddr < DNS_MAX_ADDR - n6 ? x->h.naddr : DNS_MAX_ADDR - n6;
                if (n4 + x->n6 == 0)
                    continue;
                hosts[n] = x->h;
                hosts[n].naddr = n4;
                for (size_t k = 0; k < x->n6 && hosts[n].naddr < DNS_MAX_ADDR; k++)
                    memcpy(hosts[n].addr[hosts[n].naddr++], x->v6[k], sizeof(x->v6[k]));
                n++;
            }
            if (n == 0) {
                res.status = lk->tempfail ? DNS_TEMPFAIL : DNS_NOTFOUND;
                dns_text(res.error, sizeof(res.error),
                         "Host or domain name not found. Name service error for name=%s "
                         "type=A: %s",
                         lk->nhost ? lk->host[0].h.name : lk->name,
                         lk->tempfail   ? "Host not found, try again"
                         : lk->nxdomain ? "Host not found"
                                        : "Host found but no data record of requested type");
            }
        }
    }
    res.nhost = res.status == DNS_OK ? n : 0;
    res.host = res.status == DNS_OK ? hosts : NULL;
    lk->cb(lk->arg, &res);
    free(hosts);
    dns_lookup_free(lk);
}

/* dns_finish - all queries of lk are back: deliver now */
static void dns_finish(struct dns_lookup *lk)
{
    dns_list_del(&lk->r->active, lk);
    dns_deliver(lk);
}

/* dns_set_status - record how the lookup ended with status and a Postfix-like text */
static void dns_set_status(struct dns_lookup *lk, enum dns_status st, const char *type)
{
    lk->status = st;
    if (st == DNS_NULL_MX)
        dns_text(lk->error, sizeof(lk->error), "Domain %s does not accept mail (nullMX)", lk->name);
    else if (st != DNS_OK)
        dns_text(lk->error, sizeof(lk->error),
                 "Host or domain name not found. Name service error for name=%s type=%s: %s",
                 lk->name, type,
                 st == DNS_NOTFOUND ? "Host not found" : "Host not found, try again");
}

/* dns_bogus - log a DNSSEC validation failure (the caller fails the query: temporary, as a
 * validating resolver's SERVFAIL would be) */
static void dns_bogus(const char *name, const char *type, const struct ub_result *res)
{
    log_warn("dns", "DNSSEC validation of %s type %s failed: %s", name, type,
             res->why_bogus ? res->why_bogus : "bogus");
}

static void dns_addr_cb(void *arg, int err, struct ub_result *res);

/* dns_query_start - issue one query of lk; 0 or -TERN_ERR_DNS */
static int dns_query_start(struct dns_lookup *lk, const char *name, int type, size_t host,
                           ub_callback_type cb)
{
    struct dns_query *q = &lk->q[lk->nq];
    int e;

    q->lk = lk;
    q->type = type;
    q->host = host;
    q->active = true;
    lk->nq++;
    lk->outstanding++;
    if ((e = ub_resolve_async(lk->r->ctx, name, type, 1, q, cb, &q->id)) != 0) {
        log_warn("dns", "cannot query %s type %d: %s", name, type, ub_strerror(e));
        q->active = false;
        lk->outstanding--;
        lk->tempfail = true;
        return -TERN_ERR_DNS;
    }
    return 0;
}

/* dns_start_addresses - A and AAAA queries for every exchanger */
static void dns_start_addresses(struct dns_lookup *lk)
{
    for (size_t i = 0; i < lk->nhost; i++) {
        dns_query_start(lk, lk->host[i].h.name, T_A, i, dns_addr_cb);
        dns_query_start(lk, lk->host[i].h.name, T_AAAA, i, dns_addr_cb);
    }
    if (lk->outstanding == 0)
        dns_finish(lk);
}

/*
 * dns_wire_name - a wire-format domain name into lower-case dotted text ("" for
 * the root); 0 or -1. Lower case because DNS names are case-insensitive and a
 * resolver answers with the case of whichever query filled its cache first:
 * "mx1.D1.test" and "mx1.d1.test" are one host for policy, logs and the
 * connection cache.
 */
static int dns_wire_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
    size_t o = 0, i = 0;

    for (;;) {
        if (i >= len)
            return -1;
        size_t l = p[i++];
        if (l == 0)
            break;
        if (l > 63 || i + l > len || o + l + 2 > outlen)
            return -1;
        if (o)
            out[o++] = '.';
        for (size_t k = 0; k < l; k++) {
            unsigned char ch = p[i + k];
            if (ch <= ' ' || ch >= 0x7f || ch == '.')
                return -1;
            out[o++] = (char)tolower(ch);
        }
        i += l;
    }
    out[o] = 0;
    return 0;
}

/* dns_add_host - append an exchanger (keep the best preference of duplicates) */
static void dns_add_host(struct dns_lookup *lk, const char *name, int pref)
{
    for (size_t i = 0; i < lk->nhost; i++) {
        if (strcasecmp(lk->host[i].h.name, name) == 0) {
            if (pref < lk->host[i].h.pref)
                lk->host[i].h.pref = pref;
            return;
        }
    }
    if (lk->nhost >= DNS_MAX_HOSTS)
        return;
    struct dns_xhost *x = &lk->host[lk->nhost++];
    memset(x, 0, sizeof(*x));
    snprintf(x->h.name, sizeof(x->h.name), "%s", name);
    x->h.pref = pref;
    x->h.secure = true; /* until an address answer is not */
    x->rnd = (unsigned)rand_r(&lk->r->seed);
}

/* dns_mx_cb - the MX answer: exchangers, implicit MX, null MX or failure */
static void dns_mx_cb(void *arg, int err, struct ub_result *res)
{
    struct dns_query *q = arg;
    struct dns_lookup *lk = q->lk;
    size_t nroot = 0, nrec = 0;

    q->active = false;
    lk->outstanding--;
    if (err != 0 || !res) {
        log_warn("dns", "MX lookup of %s: %s", lk->name, ub_strerror(err));
        if (lk->mailhost)
            goto mailhost_addresses;
        dns_set_status(lk, DNS_TEMPFAIL, "MX");
        goto done;
    }
    if (res->bogus) {
        dns_bogus(lk->name, "MX", res);
        dns_set_status(lk, DNS_TEMPFAIL, "MX");
        goto done;
    }
    lk->secure = res->secure;
    if (res->nxdomain || res->rcode == RCODE_NXDOMAIN) {
        dns_set_status(lk, DNS_NOTFOUND, "MX");
        goto done;
    }
    if (res->rcode != 0) {
        if (lk->mailhost)
            goto mailhost_addresses;
        dns_set_status(lk, DNS_TEMPFAIL, "MX");
        goto done;
    }
    if (!res->havedata) {
        dns_add_host(lk, lk->name, 0); /* RFC 5321 5.1: implicit MX */
    } else {
        for (size_t i = 0; res->data[i]; i++) {
            const unsigned char *p = (const unsigned char *)res->data[i];
            char name[256];
            nrec++;
            if (res->len[i] < 3 ||
                dns_wire_name(p + 2, (size_t)res->len[i] - 2, name, sizeof(name)))
                continue;
            if (!name[0]) {
                nroot++;
                continue;
            }
            dns_add_host(lk, name, p[0] << 8 | p[1]);
        }
        if (nrec == 1 && nroot == 1) {
            dns_set_status(lk, DNS_NULL_MX, "MX");
            goto done;
        }
        if (lk->mailhost && lk->nhost > 0) {
            lk->found = true; /* an MX record is enough (Postfix's reject_unknown_mailhost) */
            goto done;
        }
        if (lk->nhost == 0) {
            dns_set_status(lk, DNS_NOTFOUND, "MX");
            goto done;
        }
    }
    ub_resolve_free(res);
    dns_start_addresses(lk);
    return;
mailhost_addresses:
    /* as Postfix's dns_lookup_l(): an MX failure still lets A/AAAA decide; if they find
     * nothing either, the answer is a temporary failure */
    ub_resolve_free(res);
    lk->tempfail = true;
    dns_add_host(lk, lk->name, 0);
    dns_start_addresses(lk);
    return;
done:
    ub_resolve_free(res);
    dns_finish(lk);
}

/* dns_note_cname - the canonical name of an address answer, when a CNAME chain led elsewhere
 * (lower case, no trailing dot; the first answer's) */
static void dns_note_cname(struct dns_xhost *x, const char *canon)
{
    if (!canon || x->h.cname[0])
        return;
    size_t n = strlen(canon);
    if (n && canon[n - 1] == '.')
        n--;
    if (n == 0 || n >= sizeof(x->h.cname) ||
        (strlen(x->h.name) == n && strncasecmp(canon, x->h.name, n) == 0))
        return;
    for (size_t i = 0; i < n; i++)
        x->h.cname[i] = (char)tolower((unsigned char)canon[i]);
    x->h.cname[n] = 0;
}

/* dns_addr_cb - an A or AAAA answer for one host */
static void dns_addr_cb(void *arg, int err, struct ub_result *res)
{
    struct dns_query *q = arg;
    struct dns_lookup *lk = q->lk;
    struct dns_xhost *x = &lk->host[q->host];

    q->active = false;
    lk->outstanding--;
    if (res && !res->secure)
        x->h.secure = false;
    if (err != 0 || !res) {
        lk->tempfail = true;
        x->h.secure = false;
    } else if (res->bogus) {
        dns_bogus(x->h.name, q->type == T_A ? "A" : "AAAA", res);
        lk->tempfail = true;
    } else if (res->nxdomain || res->rcode == RCODE_NXDOMAIN) {
        lk->nxdomain = true;
    } else if (res->rcode != 0) {
        lk->tempfail = true;
    } else if (res->havedata) {
        dns_note_cname(x, res->canonname);
        for (size_t i = 0; res->data[i]; i++) {
            if (q->type == T_A && res->len[i] == 4 && x->h.naddr < DNS_MAX_ADDR)
                inet_ntop(AF_INET, res->data[i], x->h.addr[x->h.naddr++], sizeof(x->h.addr[0]));
            else if (q->type == T_AAAA && res->len[i] == 16 && x->n6 < DNS_MAX_ADDR)
                inet_ntop(AF_INET6, res->data[i], x->v6[x->n6++], sizeof(x->v6[0]));
        }
    }
    ub_resolve_free(res);
    if (lk->outstanding == 0)
        dns_finish(lk);
}

/* dns_lookup_new - a lookup object for name with room for its queries */
static int dns_lookup_new(struct dns_resolver *r, const char *name, bool mx, dns_cb *cb, void *arg,
                          struct dns_lookup **out)
{
    struct dns_lookup *lk;
    size_t len = strlen(name);

    while (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return -EINVAL;
    if (!(lk = calloc(1, sizeof(*lk))))
        return -ENOMEM;
    lk->host = calloc(DNS_MAX_HOSTS, sizeof(*lk->host));
    lk->q = calloc(1 + 2 * DNS_MAX_HOSTS, sizeof(*lk->q));
    if (!lk->host || !lk->q) {
        dns_lookup_free(lk);
        return -ENOMEM;
    }
    lk->r = r;
    for (size_t i = 0; i < len; i++) /* one spelling per host: see dns_wire_name */
        lk->name[i] = (char)tolower((unsigned char)name[i]);
    lk->name[len] = 0;
    lk->mx = mx;
    lk->cb = cb;
    lk->arg = arg;
    *out = lk;
    return 0;
}

/* dns_lookup_mx - MX then addresses of each exchanger (or implicit MX) */
int dns_lookup_mx(struct dns_resolver *r, const char *domain, dns_cb *cb, void *arg)
{
    struct dns_lookup *lk;
    int rc = dns_lookup_new(r, domain, true, cb, arg, &lk);

    if (rc < 0)
        return rc;
    dns_list_add(&r->active, lk);
    if ((rc = dns_query_start(lk, lk->name, T_MX, 0, dns_mx_cb)) < 0) {
        dns_list_del(&r->active, lk);
        dns_lookup_free(lk);
    }
    return rc;
}

/* dns_lookup_mailhost - MX, else A/AAAA: does the domain exist for mail? */
int dns_lookup_mailhost(struct dns_resolver *r, const char *domain, dns_cb *cb, void *arg,
                        struct dns_lookup **handle)
{
    struct dns_lookup *lk;
    char *ace = NULL;
    int rc;

    for (const char *p = domain; *p; p++) {
        if ((unsigned char)*p >= 0x80) {
            /* IDNA2008 with UTS #46 mapping, as Postfix's midna_domain_to_ascii() */
            if (idn2_to_ascii_8z(domain, &ace, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK)
                return -EINVAL;
            domain = ace;
            break;
        }
    }
    rc = dns_lookup_new(r, domain, true, cb, arg, &lk);
    idn2_free(ace);
    if (rc < 0)
        return rc;
    lk->mailhost = true;
    dns_list_add(&r->active, lk);
    if ((rc = dns_query_start(lk, lk->name, T_MX, 0, dns_mx_cb)) < 0) {
        dns_list_del(&r->active, lk);
        dns_lookup_free(lk);
        return rc;
    }
    *handle = lk;
    return 0;
}

/* dns_lookup_cancel - drop a lookup before its callback */
void dns_lookup_cancel(struct dns_resolver *r, struct dns_lookup *lk)
{
    if (!lk)
        return;
    bool ready = false;
    for (struct dns_lookup *p = r->ready; p; p = p->next)
        ready |= p == lk;
    for (size_t i = 0; i < lk->nq; i++)
        if (lk->q[i].active)
            ub_cancel(r->ctx, lk->q[i].id); /* unbound then never calls back for it */
    dns_list_del(ready ? &r->ready : &r->active, lk);
    dns_lookup_free(lk);
}

/* dns_lookup_host - A/AAAA of host; an IP literal is answered from the next process() */
int dns_lookup_host(struct dns_resolver *r, const char *host, dns_cb *cb, void *arg)
{
    struct dns_lookup *lk;
    char name[256];
    unsigned char tmp[16];
    size_t len = strlen(host);
    int rc;

    if (host[0] == '[' && len > 2 && host[len - 1] == ']') {
        host++;
        len -= 2;
    }
    if (len >= sizeof(name))
        return -EINVAL;
    memcpy(name, host, len);
    name[len] = 0;
    if ((rc = dns_lookup_new(r, name, false, cb, arg, &lk)) < 0)
        return rc;
    lk->nhost = 1;
    snprintf(lk->host[0].h.name, sizeof(lk->host[0].h.name), "%s", lk->name);
    lk->host[0].h.secure = true; /* until an address answer is not */
    if (inet_pton(AF_INET, name, tmp) == 1) {
        inet_ntop(AF_INET, tmp, lk->host[0].h.addr[lk->host[0].h.naddr++],
                  sizeof(lk->host[0].h.addr[0]));
    } else if (inet_pton(AF_INET6, name, tmp) == 1) {
        inet_ntop(AF_INET6, tmp, lk->host[0].v6[lk->host[0].n6++], sizeof(lk->host[0].v6[0]));
    }
    if (lk->host[0].h.naddr + lk->host[0].n6 > 0) {
        uint64_t one = 1;
        lk->host[0].h.secure = false; /* an IP literal: no DNS, nothing DNSSEC said */
        dns_list_add(&r->ready, lk);
        /* Only EAGAIN (counter overflow) can fail here; the fd is readable then anyway. */
        if (write(r->evfd, &one, sizeof(one)) < 0) {
        }
        return 0;
    }
    dns_list_add(&r->active, lk);
    rc = dns_query_start(lk, lk->name, T_A, 0, dns_addr_cb);
    if (rc == 0)
        dns_query_start(lk, lk->name, T_AAAA, 0, dns_addr_cb);
    if (lk->outstanding == 0) {
        dns_list_del(&r->active, lk);
        dns_lookup_free(lk);
        return -TERN_ERR_DNS;
    }
    return 0;
}

/* dns_resolver_process - run the callbacks of finished lookups; >= 0 or -errno */
int dns_resolver_process(struct dns_resolver *r)
{
    uint64_t cnt;
    struct dns_lookup *list;
    int n = 0, e;

    if (read(r->evfd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
        return -errno;
    /* Take the ready list whole: callbacks may queue new ones (next round). */
    list = r->ready;
    r->ready = NULL;
    while (list) {
        struct dns_lookup *lk = list;
        dns_list_del(&list, lk);
        dns_deliver(lk);
        n++;
    }
    if ((e = ub_process(r->ctx)) != 0) {
        log_warn("dns", "ub_process: %s", ub_strerror(e));
        return -TERN_ERR_DNS;
    }
    return n;
}
