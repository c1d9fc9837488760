/*
 * NAME
 *	tls_ctx - wolfSSL contexts for the server (smtpd) and client (smtp) legs
 * SYNOPSIS
 *	#include "tls/tls_ctx.h"
 *
 *	struct tls_ctx_params p = {
 *	    .cert_file = "/etc/tern/rsa.pem", .eccert_file = "/etc/tern/ec.pem",
 *	    .protocols = ">=TLSv1.2", .cipher_grade = "medium", .ask_ccert = true};
 *	char err[256];
 *	struct tls_ctx *ctx;
 *	if (tls_ctx_new(&ctx, true, &p, err, sizeof(err)) < 0)
 *	    log_fatal("tls", "%s", err);
 *	tls_ctx_use_cache(ctx, cache, 3600);   // server: resumption across restarts
 *	...
 *	tls_ctx_free(ctx);
 * DESCRIPTION
 *	A tls_ctx holds what every session of one leg shares: certificates and
 *	keys, trust anchors, protocol and cipher limits, the verification mode,
 *	and (server) the session cache hooks. It is immutable after set-up and
 *	may be used by any number of threads at once; a reload builds a new one.
 *
 *	Certificates: cert_file/key_file and eccert_file/eckey_file are PEM files
 *	with the leaf first and its chain after it (key_file may be NULL when the
 *	key is in cert_file, as Postfix allows). On the server, with both an RSA
 *	and an ECDSA certificate, each session picks the one the client's
 *	ClientHello can use (ECDSA when it offers ECDSA signatures), like
 *	Postfix/OpenSSL with two certificates. On the client, cert_file (or,
 *	without it, eccert_file) is the certificate presented when asked.
 *
 *	CAfile is a PEM bundle; CApath a directory of PEM certificates as made by
 *	c_rehash (every file is loaded; non-certificates are skipped).
 *
 *	protocols uses Postfix's syntax (tls_protocols.h), e.g. ">=TLSv1.2" or
 *	"!SSLv2, !SSLv3"; protocols wolfSSL was built without are silently absent.
 *
 *	cipher_grade is Postfix's "high", "medium", "low" or "export" and
 *	exclude Postfix's exclusion list ("aNULL, CAMELLIA, kEDH+aRSA"); both
 *	become an explicit list of suites (tls_cipher.h: never NULL, RC4, DES,
 *	3DES, EXPORT, MD5, anonymous or PSK suites, whatever the grade; below
 *	TLS 1.2 the CBC suites those protocols need join). NULL or "" grade:
 *	medium. "null" and unknown grades are refused. A session narrowed with
 *	tls_session_restrict() gets its list recomputed for its own protocols.
 *
 *	Verification never aborts a handshake by itself, except on a server with
 *	req_ccert: the outcome is recorded in the session (tls_session_info) and
 *	the caller decides, as Postfix does per security level. ask_ccert makes
 *	the server request a client certificate; req_ccert requires a verified one.
 * DIAGNOSTICS
 *	tls_ctx_new(): 0, or -errno with a message naming the file or value in
 *	err: -ENOENT/-EACCES (file), -EINVAL (bad PEM, key mismatch, bad
 *	protocol list), -ENOMEM.
 */
#ifndef TERN_TLS_CTX_H
#define TERN_TLS_CTX_H

#include <stdbool.h>
#include <stddef.h>

#include "tls/tls_protocols.h" /* the syntax of params.protocols */

struct tls_ctx;
struct tls_cache;
struct WOLFSSL_CTX;

struct tls_ctx_params {
    const char *cert_file;   /* PEM chain, leaf first; NULL: none */
    const char *key_file;    /* NULL: the key is in cert_file */
    const char *eccert_file; /* optional second (ECDSA) chain */
    const char *eckey_file;  /* NULL: the key is in eccert_file */
    const char *CAfile;
    const char *CApath;
    const char *protocols;    /* Postfix syntax; NULL or "": all */
    const char *cipher_grade; /* "high", "medium", "low", "export"; NULL or "": medium */
    const char *exclude;      /* Postfix's *_exclude_ciphers list; NULL or "": none */
    bool ask_ccert;           /* server: request a client certificate */
    bool req_ccert;           /* server: require a verified client certificate */
    int verify_depth;         /* 0: default (9) */
};

int tls_ctx_new(struct tls_ctx **out, bool is_server, const struct tls_ctx_params *p, char *err,
                size_t errlen);
/* tls_ctx_free - NULL is fine; every session made from ctx must be gone */
void tls_ctx_free(struct tls_ctx *ctx);
/* tls_ctx_use_cache - server: session IDs and ticket keys in cache (borrowed, must outlive ctx) */
int tls_ctx_use_cache(struct tls_ctx *ctx, struct tls_cache *cache, unsigned timeout_s);
bool tls_ctx_is_server(const struct tls_ctx *ctx);
/* tls_ctx_wolf - the wolfSSL context: which 0 = primary, 1 = ECDSA alternate (NULL if none) */
struct WOLFSSL_CTX *tls_ctx_wolf(const struct tls_ctx *ctx, int which);
/* tls_ctx_cache - the cache set by tls_ctx_use_cache, or NULL */
struct tls_cache *tls_ctx_cache(const struct tls_ctx *ctx);

/* tls_ctx_key_file_check - -EPERM (with err) when a private key file is readable by group or
 * others */
int tls_ctx_key_file_check(const char *path, char *err, size_t errlen);

#endif
