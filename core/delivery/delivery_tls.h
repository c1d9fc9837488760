/*
 * NAME
 *	delivery_tls - the TLS half of outbound delivery (private to delivery/delivery)
 * SYNOPSIS
 *	#include "core/delivery/delivery_tls.h"
 *
 *	struct delivery_tls_peer p = {.nexthop = "example.com", .host = "mx.example.com",
 *	                      .addr = "192.0.2.1", .port = 25};
 *	enum tls_level lvl;
 *	delivery_tls_resolve(rt, &p, no_mx, &site, &lvl);   // the policy decides
 *	delivery_tls_session_new(&ts, rt->tls, lvl, &p, &site, key, sizeof(key)); // SNI, limits,
 *cache
 *	... handshake ...
 *	delivery_tls_check(lvl, &site, ts, &p, &st, reason, sizeof(reason));  // what it names
 *	delivery_tls_log_established(rt->tls, ts, &p, &st);
 *	delivery_tls_save(rt->tls, ts, key);            // after each read until it returns 1
 *
 *	struct delivery_tls_failmem *m;  delivery_tls_failmem_new(&m);
 *	delivery_tls_failmem_add(m, "[mx]:25", "192.0.2.1", now_ms + DELIVERY_TLS_FAIL_HOLD_MS);
 *	if (delivery_tls_failmem_has(m, "[mx]:25", "192.0.2.1", now_ms)) ... plaintext
 * DESCRIPTION
 *	This file executes the client TLS policy; it decides nothing of it.
 *	The policy is decided in policy/: policy_tls_site.h gives the level,
 *	the match list (table entry, else the level's cert_match default),
 *	protocols, ciphers and the fingerprint digest of one next hop and
 *	server (smtp_tls_policy_maps, else smtp_tls_per_site, else the global
 *	level); policy_tls_refs.h turns the match list into the names the
 *	certificate must have. delivery_tls_resolve() asks for that once per
 *	connection attempt, with the next hop as Postfix writes it
 *	("[mx]:2525") and the server host name; a table error or a bad entry
 *	defers (r.dsn, r.why) before anything is sent. none never sends
 *	STARTTLS; may uses it when offered and takes any certificate; encrypt
 *	requires TLS with any certificate; fingerprint, verify and secure
 *	require TLS and a certificate that delivery_tls_check() finds to hold
 *	what the policy named: at fingerprint the certificate's or its public
 *	key's fingerprint is in the match list (no chain needed); at verify and
 *	secure the chain is trusted and a name matches (tls/ makes the checks).
 *
 *	Session cache: key "smtp&nexthop&host&addr&port&level&digest" (digest
 *	of the client TLS settings; at dane also "&tlsa=" and the digest of
 *	the TLSA records), so a session is never offered to another site, under
 *	a weaker policy, or under other TLSA records. Sessions are saved only
 *	after the level was met, so a resumed dane session was verified against
 *	the same records: it counts as matched (the chain is not sent again). TLS 1.3 tickets come
 *after the handshake, so delivery_tls_save() is tried after every read until it has saved. The put
 *is a small LMDB write on the worker thread; moving it off the handshake path (batched by a cache
 *writer) is future work.
 *
 *	The fail memory remembers, per destination and address, that a may
 *	handshake failed, so that the next attempt goes in plaintext (as
 *	Postfix retries such a site without TLS). It is per worker (a
 *	destination lives on one worker), bounded, and entries expire.
 * DIAGNOSTICS
 *	delivery_tls_session_new: 0 or -errno. delivery_tls_check: 0 when the level is met,
 *	-EACCES with reason otherwise. delivery_tls_save: 1 saved, 0 not yet, -errno.
 */
#ifndef TERN_DELIVERY_DELIVERY_TLS_H
#define TERN_DELIVERY_DELIVERY_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config/runtime.h"
#include "core/config/tlsconf.h"
#include "policy/policy_tls_site.h"

struct tls_session;
struct delivery_tls_failmem;

#define DELIVERY_TLS_FAIL_HOLD_MS (10u * 60u * 1000u) /* plaintext after a failed may handshake */

struct delivery_tls_peer {
    const char *nexthop; /* domain or [host] name, without brackets or port */
    const char *host;    /* MX host name (the host itself for [host]) */
    const char *addr;    /* numeric address */
    int port;
    const char *tlsa; /* level dane: digest of the TLSA records (delivery_dane_digest), else NULL */
    bool sts;         /* MTA-STS enforce: the host name is the only reference name (RFC 8461 4.1) */
};

/* what delivery_tls_check found, for the log line */
struct delivery_tls_status {
    bool trusted;    /* chain verified */
    bool matched;    /* name (or fingerprint) checked and matched */
    char match[256]; /* the reference name or fingerprint that held, "" if none */
};

/* delivery_tls_level - the client TLS level in force; none without a runtime or a context */
enum tls_level delivery_tls_level(const struct tern_runtime *rt);
/* delivery_tls_resolve - the policy and level of one connection attempt to p (no_mx: a [host]
 * next hop), from policy_tls_site_resolve; none without client TLS when nothing requires it.
 * 0, or -errno with r->dsn/r->why (defer, send nothing). Always policy_tls_site_release(r)
 * afterwards; r is zeroed first. */
int delivery_tls_resolve(const struct tern_runtime *rt, const struct delivery_tls_peer *p,
                         bool no_mx, struct policy_tls_site *r, enum tls_level *level);
/* delivery_tls_log_policy - "host[addr]:port: tls=verify (smtp_tls_per_site TABLE: KEY)" at
 * loglevel 1 */
void delivery_tls_log_policy(const struct tern_runtime *rt, const char *peer, enum tls_level level,
                             const struct policy_tls_site *r);
/* delivery_tls_sni - the SNI name for the peer: its host name, NULL for an address literal */
const char *delivery_tls_sni(const struct delivery_tls_peer *p);
/* delivery_tls_cache_key - "smtp&nexthop&host&addr&port&level&digest" into out; 0 or -ENAMETOOLONG
 */
int delivery_tls_cache_key(const struct tern_tls *t, enum tls_level level,
                           const struct delivery_tls_peer *p, char *out, size_t len);
/* delivery_tls_session_new - client session with SNI, offering a cached session; key filled for
 * delivery_tls_save
 */
int delivery_tls_session_new(struct tls_session **out, const struct tern_tls *t,
                             enum tls_level level, const struct delivery_tls_peer *p,
                             const struct policy_tls_site *site, char *key, size_t keylen);
/* delivery_tls_check - does the finished handshake meet the level, with what the resolved policy
 * r names (fingerprints, or names via policy_tls_refs) and, at dane, the TLSA records of the
 * attempt (delivery_dane)? 0, or -EACCES with reason */
struct delivery_dane;
int delivery_tls_check(enum tls_level level, const struct policy_tls_site *r,
                       const struct delivery_dane *dane, struct tls_session *s,
                       const struct delivery_tls_peer *p, struct delivery_tls_status *st,
                       char *reason, size_t len);
/* delivery_tls_log_established - "Verified TLS connection established to host[addr]:port: ..." */
void delivery_tls_log_established(const struct tern_tls *t, struct tls_session *s,
                                  const struct delivery_tls_peer *p,
                                  const struct delivery_tls_status *st);
/* delivery_tls_save - store the resumable session under key when there is one; 1 saved, 0 not yet
 */
int delivery_tls_save(const struct tern_tls *t, struct tls_session *s, const char *key);
/* delivery_tls_forget - drop the cached session of key (it led to a failed handshake) */
void delivery_tls_forget(const struct tern_tls *t, const char *key);

int delivery_tls_failmem_new(struct delivery_tls_failmem **out);
void delivery_tls_failmem_free(struct delivery_tls_failmem *m); /* NULL is fine */
void delivery_tls_failmem_add(struct delivery_tls_failmem *m, const char *dest, const char *addr,
                              uint64_t until);
bool delivery_tls_failmem_has(struct delivery_tls_failmem *m, const char *dest, const char *addr,
                              uint64_t now);

#endif
