/*
 * NAME
 *	delivery_tls - the TLS half of outbound delivery
 * SYNOPSIS
 *	#include "core/delivery/delivery_tls.h"
 * DESCRIPTION
 *	Levels, names, the session cache and the log lines of the client leg,
 *	kept apart from the connection pool logic of delivery/delivery.c. See
 *	delivery/delivery_tls.h for the contract.
 *
 *	Log lines follow Postfix's tls_client: with smtp_tls_loglevel >= 1
 *	  Verified TLS connection established to mx[addr]:25: TLSv1.3 with
 *	  cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519
 *	  server-signature RSA-PSS (2048 bits)
 *	(the TLS 1.3 details of Postfix 3.x: tls_session_summary), and with
 *	smtp_tls_loglevel >= 2 "mx[addr]:25: Reusing old session" first,
 *	where the first word is Verified (name or fingerprint matched at a
 *	checking level), Trusted (the chain verified), Untrusted (a
 *	certificate that did not verify) or Anonymous (no certificate).
 *
 *	With smtp_tls_policy_maps or smtp_tls_per_site set, each connection
 *	attempt also logs its policy at smtp_tls_loglevel >= 1:
 *	  mx[addr]:25: tls=verify (smtp_tls_per_site texthash:/etc/tern/tls_per_site: example.com)
 *	and, after the check, the reference name or fingerprint that held.
 *
 *	The fail memory is a short list searched linearly: it only holds the
 *	sites whose TLS is broken right now, and a search happens once per new
 *	connection. It is bounded (DELIVERY_TLS_FAILMEM_MAX); the oldest entry makes
 *	room.
 */
#include "core/delivery/delivery_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/base/hostport.h"
#include "core/base/buf.h"
#include "core/base/log.h"
#include "core/base/stats.h"
#include "core/delivery/delivery_dane.h"
#include "policy/policy_tls_refs.h"
#include "tls/tls_cache.h"
#include "tls/tls_fprint.h"
#include "tls/tls_session.h"

#define DELIVERY_TLS_FAILMEM_MAX 256

struct delivery_tls_failent {
    char *key; /* "dest&addr" */
    uint64_t until;
};

struct delivery_tls_failmem {
    struct delivery_tls_failent ent[DELIVERY_TLS_FAILMEM_MAX];
    size_t n;
};

/* delivery_tls_level - the client TLS level in force */
enum tls_level delivery_tls_level(const struct tern_runtime *rt)
{
    if (!rt || !rt->tls || !rt->tls->client_ctx)
        return TLS_LEVEL_NONE;
    return rt->tls->smtp_level;
}

/* delivery_tls_sni - the name to send as SNI: never an address literal */
const char *delivery_tls_sni(const struct delivery_tls_peer *p)
{
    if (!p->host || !*p->host || hostport_is_numeric(p->host))
        return NULL;
    return p->host;
}

/* delivery_tls_cache_key - the cache key of a peer under a level and settings */
int delivery_tls_cache_key(const struct tern_tls *t, enum tls_level level,
                           const struct delivery_tls_peer *p, char *out, size_t len)
{
    int n =
        snprintf(out, len, "smtp&%s&%s&%s&%d&%s&%s%s%s", p->nexthop ? p->nexthop : "",
                 p->host ? p->host : "", p->addr ? p->addr : "", p->port, tlsconf_level_name(level),
                 t ? t->smtp_settings_digest : "", p->tlsa ? "&tlsa=" : "", p->tlsa ? p->tlsa : "");
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* delivery_tls_session_new - a client session with SNI, resuming a cached one when there is one */
int delivery_tls_session_new(struct tls_session **out, const struct tern_tls *t,
                             enum tls_level level, const struct delivery_tls_peer *p,
                             const struct policy_tls_site *site, char *key, size_t keylen)
{
    struct tls_session *s = NULL;
    struct buf saved = BUF_INIT;
    int rc;

    if (!t || !t->client_ctx)
        return -EINVAL;
    if ((rc = tls_session_new(&s, t->client_ctx, false, delivery_tls_sni(p))) < 0)
        return rc;
    if (site && (site->protocols || site->ciphers || site->exclude)) {
        /* per-site protocols=, ciphers=, exclude= (or the level's global values) */
        char err[200];
        if ((rc = tls_session_restrict(s, site->protocols, site->ciphers, site->exclude, err,
                                       sizeof(err))) < 0) {
            log_warn("smtp", "%s: TLS policy: %s", p->host ? p->host : "?", err);
            tls_session_free(s);
            return rc;
        }
    }
    key[0] = 0;
    if ((level != TLS_LEVEL_DANE || p->tlsa) && t->caches && t->caches->client &&
        delivery_tls_cache_key(t, level, p, key, keylen) == 0) {
        rc = tls_cache_get(t->caches->client, TLS_CACHE_CLIENT, key, strlen(key), &saved,
                           time(NULL), NULL);
        if (rc == 0 && tls_session_resume(s, buf_ptr(&saved), buf_used(&saved)) == 0) {
            stats_inc(STAT_TLS_CACHE_HIT);
            log_debug(2, "smtp", "%s: reusing cached session", key);
        } else {
            stats_inc(STAT_TLS_CACHE_MISS);
        }
    }
    buf_free(&saved);
    *out = s;
    return 0;
}

/* delivery_tls_resolve - the policy of one connection attempt, as policy_tls_site decides it */
int delivery_tls_resolve(const struct tern_runtime *rt, const struct delivery_tls_peer *p,
                         bool no_mx, struct policy_tls_site *r, enum tls_level *level)
{
    char key[300];
    int rc;

    memset(r, 0, sizeof(*r));
    r->connection_reuse = -1;
    *level = TLS_LEVEL_NONE;
    if (!rt || !rt->tls_sites)
        return 0;
    if (policy_tls_site_dest(p->nexthop ? p->nexthop : "", no_mx, p->port, key, sizeof(key)) < 0) {
        snprintf(r->dsn, sizeof(r->dsn), "4.3.0");
        snprintf(r->why, sizeof(r->why), "next-hop name too long for a TLS policy lookup");
        return -ENAMETOOLONG;
    }
    if ((rc = policy_tls_site_resolve(rt->tls_sites, key, p->host, r)) < 0)
        return rc;
    *level = (enum tls_level)r->level;
    if (*level == TLS_LEVEL_NONE || (rt->tls && rt->tls->client_ctx))
        return 0;
    /* No client TLS context: the global level is none and no table is set. */
    if (*level == TLS_LEVEL_MAY || r->source == POLICY_TLS_SRC_GLOBAL) {
        *level = TLS_LEVEL_NONE;
        return 0;
    }
    snprintf(r->dsn, sizeof(r->dsn), "4.7.5");
    snprintf(r->why, sizeof(r->why),
             "client TLS configuration problem: %s requires TLS level %s, but client TLS is "
             "off (smtp_tls_security_level = none)",
             key, tlsconf_level_name(*level));
    return -EINVAL;
}

/* delivery_tls_log_policy - which table and key decided the level */
void delivery_tls_log_policy(const struct tern_runtime *rt, const char *peer, enum tls_level level,
                             const struct policy_tls_site *r)
{
    if (!rt || !rt->tls || rt->tls->smtp_loglevel < 1 || !rt->tls_sites_tables)
        return;
    if (!r || r->source == POLICY_TLS_SRC_GLOBAL)
        log_info("smtp", "%s: tls=%s (global level, no table entry)", peer,
                 tlsconf_level_name(level));
    else
        log_info("smtp", "%s: tls=%s (%s %s: %s)", peer, tlsconf_level_name(level),
                 r->source == POLICY_TLS_SRC_PER_SITE ? "smtp_tls_per_site"
                                                      : "smtp_tls_policy_maps",
                 r->table ? r->table : "", r->key);
}

/* check_fingerprint - fingerprint level: the certificate's or its key's digest is listed */
static int check_fingerprint(const struct policy_tls_site *r, struct tls_session *s,
                             const struct tls_info *info, struct delivery_tls_status *st,
                             char *reason, size_t len)
{
    char fp[TLS_FPRINT_MAX] = "", pk[TLS_FPRINT_MAX] = "";
    enum tls_digest d;

    if (!r || r->nmatch == 0 || !info->peer_cert) {
        snprintf(reason, len, "Server certificate not verified");
        return -EACCES;
    }
    if (tls_fprint_digest_parse(r->digest ? r->digest : "sha256", &d) < 0) {
        snprintf(reason, len, "unsupported smtp_tls_fingerprint_digest %s", r->digest);
        return -EACCES;
    }
    if (tls_session_fingerprint(s, d, false, fp, sizeof(fp)) < 0)
        fp[0] = 0;
    if (tls_session_fingerprint(s, d, true, pk, sizeof(pk)) < 0)
        pk[0] = 0;
    for (size_t i = 0; i < r->nmatch; i++) {
        const char *m = r->match[i];
        if ((fp[0] && strcasecmp(m, fp) == 0) || (pk[0] && strcasecmp(m, pk) == 0)) {
            st->matched = true;
            snprintf(st->match, sizeof(st->match), "%s", m);
            return 0;
        }
    }
    snprintf(reason, len, "Server certificate not verified");
    return -EACCES;
}

/* delivery_tls_check - is the level met by the finished handshake? Checks what r names */
int delivery_tls_check(enum tls_level level, const struct policy_tls_site *r,
                       const struct delivery_dane *dane, struct tls_session *s,
                       const struct delivery_tls_peer *p, struct delivery_tls_status *st,
                       char *reason, size_t len)
{
    const struct tls_info *info = tls_session_info(s);
    char names[POLICY_TLS_REFS_MAX][POLICY_TLS_REF_LEN];
    const char *refs[POLICY_TLS_REFS_MAX];

    st->trusted = info && info->peer_trusted;
    st->matched = false;
    st->match[0] = 0;
    if (!info) {
        snprintf(reason, len, "Cannot start TLS: handshake failure");
        return -EACCES;
    }
    if (level < TLS_LEVEL_FINGERPRINT)
        return 0;
    if (level == TLS_LEVEL_FINGERPRINT)
        return check_fingerprint(r, s, info, st, reason, len);
    size_t n = policy_tls_refs(r, p->host, p->nexthop, names, POLICY_TLS_REFS_MAX);
    if (p->sts && p->host) { /* MTA-STS: the certificate must name the MX host */
        snprintf(names[0], sizeof(names[0]), "%s", p->host);
        n = 1;
    }
    for (size_t i = 0; i < n; i++)
        refs[i] = names[i];
    if (level == TLS_LEVEL_DANE && info->reused && p->tlsa) {
        /* cached under these TLSA records only after it matched them (see the header) */
        st->matched = true;
        snprintf(st->match, sizeof(st->match), "TLSA records %s (resumed session)", p->tlsa);
        return 0;
    }
    if (level == TLS_LEVEL_DANE) {
        /* the TLSA records decide; the names are for DANE-TA, with the TLSA base domain when a
         * CNAME led to it (RFC 7672 3.2.2) */
        if (dane && dane->base[0] && n < POLICY_TLS_REFS_MAX && p->host &&
            strcasecmp(dane->base, p->host) != 0)
            refs[n++] = dane->base;
        return delivery_dane_check(dane, s, refs, n, st, reason, len);
    }
    if (!st->trusted) {
        snprintf(reason, len, "Server certificate not trusted");
        return -EACCES;
    }
    for (size_t i = 0; i < n; i++) {
        if (!st->matched && tls_session_peer_match(s, &refs[i], 1) == 1) {
            st->matched = true;
            snprintf(st->match, sizeof(st->match), "%s", names[i]);
        }
    }
    if (!st->matched) {
        snprintf(reason, len, "Server certificate not verified");
        return -EACCES;
    }
    return 0;
}

/* delivery_tls_log_established - Postfix's line for a finished client handshake */
void delivery_tls_log_established(const struct tern_tls *t, struct tls_session *s,
                                  const struct delivery_tls_peer *p,
                                  const struct delivery_tls_status *st)
{
    const struct tls_info *info = tls_session_info(s);
    const char *kind;

    if (!t || t->smtp_loglevel < 1 || !info)
        return;
    if (st->matched)
        kind = "Verified";
    else if (st->trusted)
        kind = "Trusted";
    else if (info->peer_cert)
        kind = "Untrusted";
    else
        kind = "Anonymous";
    if (t->smtp_loglevel >= 2 && info->peer_cert)
        log_info("smtp", "%s[%s]:%d: subject_CN=%s, issuer_CN=%s%s%s", p->host, p->addr, p->port,
                 info->peer_CN, info->issuer_CN, info->verify_error[0] ? ", " : "",
                 info->verify_error);
    /* "established" also for a resumed session, as Postfix words it ("reused" is for a
     * TLS connection kept across deliveries, which the connection pool does silently). */
    char summary[512];
    if (t->smtp_loglevel >= 2 && info->reused)
        log_info("smtp", "%s[%s]:%d: Reusing old session", p->host, p->addr, p->port);
    if (tls_session_summary(s, summary, sizeof(summary)) >= 0)
        log_info("smtp", "%s TLS connection established to %s[%s]:%d: %s", kind, p->host, p->addr,
                 p->port, summary);
}

/* delivery_tls_save - store the resumable session under key once there is one */
int delivery_tls_save(const struct tern_tls *t, struct tls_session *s, const char *key)
{
    struct buf der = BUF_INIT;
    int rc;

    if (!t || !t->caches || !t->caches->client || !key || !*key)
        return 1; /* nowhere to save: nothing more to try */
    if (!tls_session_has_ticket(s))
        return 0;
    if ((rc = tls_session_save(s, &der)) < 0)
        goto done;
    /* tls_cache_put only queues the entry: its writer thread commits in batches off this path. */
    rc = tls_cache_put(t->caches->client, TLS_CACHE_CLIENT, key, strlen(key), buf_ptr(&der),
                       buf_used(&der), time(NULL) + (time_t)t->smtp_cache_timeout);
    if (rc == 0) {
        log_debug(2, "smtp", "%s: saved session (%zu bytes)", key, buf_used(&der));
        rc = 1;
    }
done:
    buf_free(&der);
    return rc;
}

/* delivery_tls_forget - drop a cached session */
void delivery_tls_forget(const struct tern_tls *t, const char *key)
{
    if (t && t->caches && t->caches->client && key && *key)
        tls_cache_delete(t->caches->client, TLS_CACHE_CLIENT, key, strlen(key));
}

/* delivery_tls_failmem_new - an empty fail memory */
int delivery_tls_failmem_new(struct delivery_tls_failmem **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

/* delivery_tls_failmem_free - forget everything */
void delivery_tls_failmem_free(struct delivery_tls_failmem *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->ent[i].key);
    free(m);
}

/* failmem_find - index of dest&addr, or -1 */
static int failmem_find(const struct delivery_tls_failmem *m, const char *dest, const char *addr)
{
    size_t dl = strlen(dest);
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->ent[i].key;
        if (strncmp(k, dest, dl) == 0 && k[dl] == '&' && strcmp(k + dl + 1, addr) == 0)
            return (int)i;
    }
    return -1;
}

/* failmem_drop - remove entry i */
static void failmem_drop(struct delivery_tls_failmem *m, size_t i)
{
    free(m->ent[i].key);
    m->ent[i] = m->ent[--m->n];
}

/* delivery_tls_failmem_add - remember a failed handshake with dest at addr until `until` (ms) */
void delivery_tls_failmem_add(struct delivery_tls_failmem *m, const char *dest, const char *addr,
                              uint64_t until)
{
    int i;
    char *key;

    if (!m)
        return;
    if ((i = failmem_find(m, dest, addr)) >= 0) {
        m->ent[i].until = until;
        return;
    }
    if (m->n == DELIVERY_TLS_FAILMEM_MAX) {
        size_t old = 0;
        for (size_t k = 1; k < m->n; k++)
            if (m->ent[k].until < m->ent[old].until)
                old = k;
        failmem_drop(m, old);
    }
    if (asprintf(&key, "%s&%s", dest, addr) < 0)
        return; /* forgetting costs one more failed handshake, nothing else */
    m->ent[m->n].key = key;
    m->ent[m->n].until = until;
    m->n++;
}

/* delivery_tls_failmem_has - did a handshake with dest at addr fail recently (before now, ms)? */
bool delivery_tls_failmem_has(struct delivery_tls_failmem *m, const char *dest, const char *addr,
                              uint64_t now)
{
    int i;

    if (!m || (i = failmem_find(m, dest, addr)) < 0)
        return false;
    if (m->ent[i].until <= now) {
        failmem_drop(m, (size_t)i);
        return false;
    }
    return true;
}
