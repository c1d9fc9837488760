/*
 * NAME
 *	tlsconf - TLS settings of both legs, from main.cf
 * SYNOPSIS
 *	struct tern_tls *t;
 *	tlsconf_build(&t, cfg, caches, &err);    // part of a runtime (config generation)
 *	if (t->smtpd_level >= TLS_LEVEL_MAY && t->server_ctx) ... offer STARTTLS
 *	tlsconf_free(t);
 * DESCRIPTION
 *	Turns the talk's parameters and today's into one answer per leg, the
 *	way Postfix does:
 *	  smtpd: smtpd_tls_security_level if set; else smtpd_enforce_tls = yes
 *	         means encrypt, smtpd_use_tls = yes means may, else none.
 *	  smtp:  smtp_tls_security_level if set; else smtp_enforce_tls = yes
 *	         means verify (encrypt when smtp_tls_enforce_peername = no),
 *	         smtp_use_tls = yes means may, else none.
 *	The server context exists whenever smtpd_tls_cert_file (or eccert) is
 *	set, so that smtps_listen works even with STARTTLS off; a level above
 *	none without a certificate is an error. The client context exists when
 *	the smtp level is above none or a per-site table (smtp_tls_per_site,
 *	smtp_tls_policy_maps) may ask for TLS (a client certificate is optional).
 *
 *	Reload: a reload whose TLS parameters are all unchanged and whose
 *	files are unchanged too (config/tlsfiles.h: same identity, or same
 *	content) keeps the previous struct tern_tls (reference counted). When
 *	only files changed (a renewed certificate, key or CA bundle at the
 *	same path), the contexts are built again from them; if that fails (a
 *	broken file, a key readable only by root after privileges were
 *	dropped) the error is logged and the previous contexts stay: a reload
 *	never leaves tern without TLS. Changed TLS parameters that cannot be
 *	built fail the whole reload, as any bad parameter does.
 *
 *	Session caches are not per config generation: LMDB allows one
 *	environment per file and process, and a reload must not drop cached
 *	sessions. They are opened once at start-up (struct tern_tls_caches,
 *	owned by the daemon) from smtpd_tls_session_cache_database and
 *	smtp_tls_session_cache_database ("lmdb:PATH", the talk's "btree:PATH"
 *	and "hash:PATH" mean the same: the file PATH.lmdb); the same path for
 *	both legs shares one environment.
 */
#ifndef TERN_CONFIG_TLSCONF_H
#define TERN_CONFIG_TLSCONF_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/config/config.h"
#include "core/config/tlsfiles.h"

struct redis_conf;

struct tls_ctx;
struct tls_cache;

enum tls_level {
    TLS_LEVEL_NONE = 0,
    TLS_LEVEL_MAY,
    TLS_LEVEL_ENCRYPT,
    TLS_LEVEL_FINGERPRINT,
    TLS_LEVEL_VERIFY,
    TLS_LEVEL_SECURE,
    TLS_LEVEL_DANE,      /* TLSA records when DNSSEC says so, else may (RFC 7672) */
    TLS_LEVEL_DANE_ONLY, /* TLSA records or nothing */
};

struct tern_tls_caches {
    struct tls_cache *server; /* NULL: no server-side cache */
    struct tls_cache *client; /* NULL: no client-side cache; may equal server */
    char *server_path, *client_path;
    /* redis:FILE: the file, for the daemon's mirrors (core/redis); the client's is NULL when
     * both name the same near cache */
    struct redis_conf *server_redis, *client_redis;
};

struct tern_tls {
    atomic_int refs;
    char param_digest[17]; /* every TLS parameter's value: equal digests, same contexts */
    /* smtpd */
    enum tls_level smtpd_level;
    struct tls_ctx *server_ctx; /* NULL when smtpd_level is none and no cert is set */
    bool smtpd_received_header;
    bool smtpd_ask_ccert, smtpd_req_ccert;
    bool smtpd_auth_only;
    int smtpd_loglevel;
    unsigned smtpd_cache_timeout; /* seconds */
    /* smtp */
    enum tls_level smtp_level;
    struct tls_ctx *client_ctx; /* NULL when smtp_level is none and no per-site table is set */
    bool smtp_note_starttls_offer;
    int smtp_loglevel;
    unsigned smtp_cache_timeout;
    char smtp_settings_digest[17];  /* hex digest of the client TLS settings, for cache keys */
    struct tern_tls_caches *caches; /* borrowed from the daemon */
    struct tlsfiles files;          /* the certificate, key and CA files it was built from */
};

/* tlsconf_level_name - "none", "may", ... */
const char *tlsconf_level_name(enum tls_level level);
/* tlsconf_parse_level - 0 or -EINVAL */
int tlsconf_parse_level(const char *text, enum tls_level *out);
/* tlsconf_caches_open - open the caches named in cfg (start-up, as root); 0 or -errno with *err */
int tlsconf_caches_open(struct tern_tls_caches **out, const struct tern_config *cfg, char **err);
/* tlsconf_check_caches - what tlsconf_caches_open() would refuse in a redis:FILE, without opening
 */
int tlsconf_check_caches(const struct tern_config *cfg, char **err);
void tlsconf_caches_close(struct tern_tls_caches *c);
/* tlsconf_build - the TLS half of a runtime; caches borrowed (may be NULL); when prev (may be
 * NULL) was built from the same TLS parameters and files, or from the same parameters and the
 * changed files do not load (logged), *out is a new reference to it. 0 or -errno with *err */
int tlsconf_build(struct tern_tls **out, const struct tern_config *cfg,
                  struct tern_tls_caches *caches, struct tern_tls *prev, char **err);
/* tlsconf_unref - drop a reference; NULL is fine */
void tlsconf_unref(struct tern_tls *t);
/* tlsconf_check_keys - `ternd check`: key files must not be readable by group or others */
int tlsconf_check_keys(const struct tern_config *cfg, char **err);

#endif
