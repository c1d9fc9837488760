/*
 * NAME
 *	delivery_tls - the TLS half of outbound delivery (private to delivery/delivery)
 * SYNOPSIS
 *	#include "core/delivery/delivery_tls.h"
 *
 *	struct delivery_tls_peer p = {.nexthop = "example.com", .host = "mx.example.com",
 *	                      .addr = "192.0.2.1", .port = 25};
 *	enum tls_level lvl = delivery_tls_level(rt);
 *	delivery_tls_session_new(&ts, rt->tls, lvl, &p, &site, key, sizeof(key)); // SNI, site
 *limits, cache
 *	... handshake ...
 *	delivery_tls_check(rt->tls, lvl, ts, &p, &st, reason, sizeof(reason));  // per level
 *	delivery_tls_log_established(rt->tls, ts, &p, &st);
 *	delivery_tls_save(rt->tls, ts, key);            // after each read until it returns 1
 *
 *	struct delivery_tls_failmem *m;  delivery_tls_failmem_new(&m);
 *	delivery_tls_failmem_add(m, "[mx]:25", "192.0.2.1", now_ms + DELIVERY_TLS_FAIL_HOLD_MS);
 *	if (delivery_tls_failmem_has(m, "[mx]:25", "192.0.2.1", now_ms)) ... plaintext
 * DESCRIPTION
 *	Levels: delivery_tls_resolve() asks the runtime's per-site resolver
 *	(smtp_tls_policy_maps, else smtp_tls_per_site, else the global
 *	smtp_tls_security_level; policy_tls_site.h) once per connection
 *	attempt, with the next hop as Postfix writes it ("[mx]:2525") and the
 *	server host name. A table error or a bad entry defers (r.dsn, r.why)
 *	before anything is sent. When no table decided, the level is
 *	delivery_tls_level() as before. none never sends STARTTLS; may uses it when offered and
 *	takes any certificate; encrypt requires TLS with any certificate;
 *	fingerprint, verify and secure require TLS and a certificate checked by
 *	delivery_tls_check() / delivery_tls_check_site(). fingerprint compares the server
 *	certificate's and its public key's fingerprints (digest
 *	smtp_tls_fingerprint_digest) with the match= list; no chain needed.
 *
 *	Name checks: verify matches smtp_tls_verify_cert_match, secure matches
 *	smtp_tls_secure_cert_match. Each is a list (blanks, commas) of
 *	"hostname" (the MX host name; for a [host] next hop, that host),
 *	"nexthop" (the next-hop domain or [host]), "dot-nexthop" (any
 *	subdomain of it) or a literal name (".example.com" for subdomains).
 *	delivery_tls_match_refs() turns the list into the reference names.
 *
 *	Session cache: key "smtp&nexthop&host&addr&port&level&digest" (digest
 *	of the client TLS settings), so a session is never offered to another
 *	site or under a weaker policy. TLS 1.3 tickets come after the
 *	handshake, so delivery_tls_save() is tried after every read until it has
 *	saved. The put is a small LMDB write on the worker thread; moving it
 *	off the handshake path (batched by a cache writer) is future work.
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
#define DELIVERY_TLS_MAX_REFS 8

struct delivery_tls_peer {
    const char *nexthop; /* domain or [host] name, without brackets or port */
    const char *host;    /* MX host name (the host itself for [host]) */
    const char *addr;    /* numeric address */
    int port;
};

/* what delivery_tls_check found, for the log line */
struct delivery_tls_status {
    bool trusted;    /* chain verified */
    bool matched;    /* name (or fingerprint) checked and matched */
    char match[256]; /* the reference name or fingerprint that held, "" if none */
};

/* delivery_tls_level - the client TLS level in force; none without a runtime or a context */
enum tls_level delivery_tls_level(const struct tern_runtime *rt);
/* delivery_tls_resolve - the level of one connection attempt to p (no_mx: a [host] next hop):
 * per-site policy, else delivery_tls_level(). 0, or -errno with r->dsn/r->why (defer, send
 * nothing). Always policy_tls_site_release(r) afterwards; r is zeroed first. */
int delivery_tls_resolve(const struct tern_runtime *rt, const struct delivery_tls_peer *p,
                         bool no_mx, struct policy_tls_site *r, enum tls_level *level);
/* delivery_tls_log_policy - "host[addr]:port: tls=verify (smtp_tls_per_site TABLE: KEY)" at
 * loglevel 1 */
void delivery_tls_log_policy(const struct tern_runtime *rt, const char *peer, enum tls_level level,
                             const struct policy_tls_site *r);
/* delivery_tls_sni - the SNI name for the peer: its host name, NULL for an address literal */
const char *delivery_tls_sni(const struct delivery_tls_peer *p);
/* delivery_tls_match_refs - reference names from a cert_match list; returns how many (bufs hold
 * them) */
size_t delivery_tls_match_refs(const char *spec, const struct delivery_tls_peer *p,
                               char bufs[][256], size_t max);
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
/* delivery_tls_check - does the finished handshake meet the level? 0, or -EACCES with reason */
int delivery_tls_check(const struct tern_tls *t, enum tls_level level, struct tls_session *s,
                       const struct delivery_tls_peer *p, struct delivery_tls_status *st,
                       char *reason, size_t len);
/* delivery_tls_check_site - delivery_tls_check with the match list of a resolved policy (r may be
 * NULL or have no list: the global cert_match parameters) and the fingerprint digest (NULL: sha256)
 */
int delivery_tls_check_site(const struct tern_tls *t, enum tls_level level,
                            const struct policy_tls_site *r, const char *digest,
                            struct tls_session *s, const struct delivery_tls_peer *p,
                            struct delivery_tls_status *st, char *reason, size_t len);
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
