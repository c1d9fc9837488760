/*
 * NAME
 *	tls_ctx - wolfSSL contexts for the server (smtpd) and client (smtp) legs
 * DESCRIPTION
 *	See tls_ctx.h. With an RSA and an ECDSA certificate the server keeps two
 *	WOLFSSL_CTX that differ only in certificate and key (wolfSSL 5.5 holds
 *	one certificate per context); tls_session creates each session from the
 *	one its ClientHello prefers. Everything else is applied to both alike.
 *
 *	Server-side session IDs (TLS 1.2) go to the LMDB cache through wolfSSL's
 *	external cache hooks, with its process-local cache turned off, so that
 *	a restarted daemon (or another node sharing the file) resumes them.
 */
#include "tls/tls_ctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/buf.h"
#include "core/base/log.h"
#include "tls/tls_cache.h"
#include "tls/tls_cipher.h"
#include "tls/tls_internal.h"

#define CTX_MAX 2

struct tls_ctx {
    WOLFSSL_CTX *wctx[CTX_MAX]; /* [0] primary, [1] ECDSA alternate or NULL */
    bool is_server;
    struct tls_cache *cache;
    unsigned timeout;
    unsigned mask; /* TLS_PROTO_* bits of params.protocols */
    char *grade;   /* params.cipher_grade, NULL: medium */
    char *exclude; /* params.exclude, NULL: none */
};

/* wolf_errtext - text of the most recent wolfSSL error, or a fallback */
static const char *wolf_errtext(int code, char *buf, size_t len)
{
    unsigned long e = wolfSSL_ERR_get_error();
    if (e == 0)
        e = (unsigned long)(code < 0 ? -code : code);
    wolfSSL_ERR_error_string_n(e, buf, len);
    wolfSSL_ERR_clear_error();
    return buf;
}

/* file_check - -errno when path cannot be read, with the message in err */
static int file_check(const char *what, const char *path, char *err, size_t errlen)
{
    if (access(path, R_OK) < 0) {
        int e = errno;
        tls_wolf_seterr(err, errlen, "%s %s: %s", what, path, strerror(e));
        return -e;
    }
    return 0;
}

/* tls_ctx_key_file_check - -EPERM when a private key file is readable by group or others */
int tls_ctx_key_file_check(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        int e = errno;
        tls_wolf_seterr(err, errlen, "private key file %s: %s", path, strerror(e));
        return -e;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        tls_wolf_seterr(err, errlen,
                        "private key file %s: accessible by group or others (mode %04o)", path,
                        (unsigned)(st.st_mode & 07777));
        return -EPERM;
    }
    return 0;
}

/* apply_ciphers - the suites of a grade minus exclusions for the protocol bits (tls_cipher.h) */
static int apply_ciphers(WOLFSSL_CTX *w, WOLFSSL *ssl, const char *grade, const char *exclude,
                         unsigned mask, char *err, size_t errlen)
{
    unsigned char cs[TLS_CIPHER_SUITES_MAX];
    char ebuf[120];
    int n = tls_cipher_suites(cs, sizeof(cs), grade, exclude, mask, err, errlen), rc;
    if (n < 0)
        return n;
    if ((rc = ssl ? wolfSSL_set_cipher_list_bytes(ssl, cs, 2 * n)
                  : wolfSSL_CTX_set_cipher_list_bytes(w, cs, 2 * n)) != WOLFSSL_SUCCESS) {
        tls_wolf_seterr(err, errlen,
                        "the TLS library refuses the cipher suites of grade \"%s\": %s",
                        grade && *grade ? grade : "medium", wolf_errtext(rc, ebuf, sizeof(ebuf)));
        return -EINVAL;
    }
    return 0;
}

/* tls_ctx_ssl_restrict - protocols, grade and exclusions for one WOLFSSL (tls_internal.h) */
int tls_ctx_ssl_restrict(WOLFSSL *ssl, const char *protocols, const char *grade,
                         const char *exclude, char *err, size_t errlen)
{
    const struct tls_ctx *c = wolfSSL_CTX_get_ex_data(wolfSSL_get_SSL_CTX(ssl), TLS_EX_CTX);
    int rc;
    if (!c)
        return -EINVAL;
    unsigned mask = c->mask;
    if (protocols && *protocols) {
        if ((rc = tls_protocols_parse(protocols, &mask, err, errlen)) < 0 ||
            (rc = tls_protocols_apply(NULL, ssl, mask, protocols, err, errlen)) < 0)
            return rc;
    }
    /* what the session leaves unset is the context's; the list follows the session's protocols */
    return apply_ciphers(NULL, ssl, grade && *grade ? grade : c->grade,
                         exclude && *exclude ? exclude : c->exclude, mask, err, errlen);
}

/* load_pair - certificate chain and key into one context */
static int load_pair(WOLFSSL_CTX *w, const char *cert, const char *key, char *err, size_t errlen)
{
    char ebuf[120];
    int rc;
    if (!key || !*key)
        key = cert;
    if ((rc = file_check("certificate file", cert, err, errlen)) < 0 ||
        (rc = file_check("private key file", key, err, errlen)) < 0)
        return rc;
    if ((rc = wolfSSL_CTX_use_certificate_chain_file(w, cert)) != WOLFSSL_SUCCESS) {
        tls_wolf_seterr(err, errlen, "cannot load certificate chain from %s: %s", cert,
                        wolf_errtext(rc, ebuf, sizeof(ebuf)));
        return -EINVAL;
    }
    if ((rc = wolfSSL_CTX_use_PrivateKey_file(w, key, WOLFSSL_FILETYPE_PEM)) != WOLFSSL_SUCCESS) {
        tls_wolf_seterr(err, errlen, "cannot load private key from %s: %s", key,
                        wolf_errtext(rc, ebuf, sizeof(ebuf)));
        return -EINVAL;
    }
    if (wolfSSL_CTX_check_private_key(w) != WOLFSSL_SUCCESS) {
        tls_wolf_seterr(err, errlen, "private key %s does not match certificate %s", key, cert);
        wolfSSL_ERR_clear_error();
        return -EINVAL;
    }
    /* wolfSSL decodes the context's certificate object (for wolfSSL_get_certificate(), which
     * tls_session calls after each TLS 1.3 handshake) on first use, without a lock: two
     * workers' first handshakes raced there and one decoded copy leaked (LeakSanitizer, seen
     * once in test_metrics). Decoding it here, before any worker runs, leaves nothing to race.
     * (NULL: a wolfSSL that keeps no such object; then nothing is decoded later either.) */
    (void)wolfSSL_CTX_get0_certificate(w);
    return 0;
}

/* load_trust - CAfile and CApath */
static int load_trust(WOLFSSL_CTX *w, const char *cafile, const char *capath, char *err,
                      size_t errlen)
{
    char ebuf[120];
    int rc;
    if (cafile && *cafile) {
        if ((rc = file_check("CAfile", cafile, err, errlen)) < 0)
            return rc;
        if ((rc = wolfSSL_CTX_load_verify_locations(w, cafile, NULL)) != WOLFSSL_SUCCESS) {
            tls_wolf_seterr(err, errlen, "cannot load CAfile %s: %s", cafile,
                            wolf_errtext(rc, ebuf, sizeof(ebuf)));
            return -EINVAL;
        }
    }
    if (capath && *capath) {
        if ((rc = file_check("CApath", capath, err, errlen)) < 0)
            return rc;
        /* a c_rehash directory also holds non-certificates and duplicates */
        rc = wolfSSL_CTX_load_verify_locations_ex(
            w, NULL, capath, WOLFSSL_LOAD_FLAG_IGNORE_ERR | WOLFSSL_LOAD_FLAG_IGNORE_ZEROFILE);
        if (rc != WOLFSSL_SUCCESS) {
            tls_wolf_seterr(err, errlen, "cannot load CApath %s: %s", capath,
                            wolf_errtext(rc, ebuf, sizeof(ebuf)));
            return -EINVAL;
        }
    }
    return 0;
}

/* wolf_new - one configured WOLFSSL_CTX without certificates */
static int wolf_new(struct tls_ctx *c, WOLFSSL_CTX **out, const struct tls_ctx_params *p,
                    unsigned mask, char *err, size_t errlen)
{
    int rc;
    WOLFSSL_CTX *w =
        wolfSSL_CTX_new(c->is_server ? wolfTLS_server_method() : wolfTLS_client_method());
    if (!w) {
        tls_wolf_seterr(err, errlen, "cannot create TLS context: out of memory");
        return -ENOMEM;
    }
    if ((rc = tls_protocols_apply(w, NULL, mask, p->protocols, err, errlen)) < 0 ||
        (rc = apply_ciphers(w, NULL, p->cipher_grade, p->exclude, mask, err, errlen)) < 0)
        goto fail;
    if ((rc = load_trust(w, p->CAfile, p->CApath, err, errlen)) < 0)
        goto fail;
    wolfSSL_CTX_set_verify_depth(w, p->verify_depth > 0 ? p->verify_depth : 9);
    if (c->is_server) {
        if (p->req_ccert)
            wolfSSL_CTX_set_verify(w, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                                   tls_session_verify_strict_cb);
        else if (p->ask_ccert)
            wolfSSL_CTX_set_verify(w, WOLFSSL_VERIFY_PEER, tls_session_verify_cb);
        else
            wolfSSL_CTX_set_verify(w, WOLFSSL_VERIFY_NONE, NULL);
        static const unsigned char sid_ctx[] = "tern-smtpd";
        wolfSSL_CTX_set_session_id_context(w, sid_ctx, sizeof(sid_ctx) - 1);
    } else {
        /* verify, record, continue: the security level decides afterwards */
        wolfSSL_CTX_set_verify(w, WOLFSSL_VERIFY_PEER, tls_session_verify_cb);
        /* ask for TLS 1.2 tickets too, as OpenSSL clients do; wolfSSL's own
         * process-wide cache stays out: saved sessions live in tls_cache */
        wolfSSL_CTX_UseSessionTicket(w);
        wolfSSL_CTX_set_session_cache_mode(w, WOLFSSL_SESS_CACHE_CLIENT |
                                                  WOLFSSL_SESS_CACHE_NO_INTERNAL);
    }
    wolfSSL_CTX_set_ex_data(w, TLS_EX_CTX, c);
    *out = w;
    return 0;
fail:
    wolfSSL_CTX_free(w);
    return rc;
}

/* tls_ctx_new - build a server or client context from parameters */
int tls_ctx_new(struct tls_ctx **out, bool is_server, const struct tls_ctx_params *p, char *err,
                size_t errlen)
{
    int rc;
    unsigned mask;
    struct tls_ctx *c;

    *out = NULL;
    tls_wolf_seterr(err, errlen, "no error");
    tls_wolf_init();
    if ((rc = tls_protocols_parse(p->protocols, &mask, err, errlen)) < 0)
        return rc;
    if (!(c = calloc(1, sizeof(*c)))) {
        tls_wolf_seterr(err, errlen, "out of memory");
        return -ENOMEM;
    }
    c->is_server = is_server;
    c->mask = mask;
    if ((p->cipher_grade && *p->cipher_grade && !(c->grade = strdup(p->cipher_grade))) ||
        (p->exclude && *p->exclude && !(c->exclude = strdup(p->exclude)))) {
        tls_wolf_seterr(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }

    bool have_rsa = p->cert_file && *p->cert_file;
    bool have_ec = p->eccert_file && *p->eccert_file;
    if (is_server && !have_rsa && !have_ec) {
        tls_wolf_seterr(err, errlen, "server TLS needs a certificate (cert_file or eccert_file)");
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = wolf_new(c, &c->wctx[0], p, mask, err, errlen)) < 0)
        goto fail;
    if (have_rsa && (rc = load_pair(c->wctx[0], p->cert_file, p->key_file, err, errlen)) < 0)
        goto fail;
    if (have_ec) {
        /* server with both: a second context; otherwise the only pair */
        WOLFSSL_CTX *target = c->wctx[0];
        if (have_rsa && is_server) {
            if ((rc = wolf_new(c, &c->wctx[1], p, mask, err, errlen)) < 0)
                goto fail;
            target = c->wctx[1];
        }
        if (!have_rsa || is_server)
            if ((rc = load_pair(target, p->eccert_file, p->eckey_file, err, errlen)) < 0)
                goto fail;
    }
    *out = c;
    return 0;
fail:
    tls_ctx_free(c);
    return rc;
}

/* tls_ctx_free - NULL is fine */
void tls_ctx_free(struct tls_ctx *ctx)
{
    if (!ctx)
        return;
    for (int i = 0; i < CTX_MAX; i++)
        if (ctx->wctx[i])
            wolfSSL_CTX_free(ctx->wctx[i]);
    free(ctx->grade);
    free(ctx->exclude);
    free(ctx);
}

/* server_sess_new - wolfSSL new-session hook: store the session under its ID */
static int server_sess_new(WOLFSSL *ssl, WOLFSSL_SESSION *sess)
{
    struct tls_ctx *c = wolfSSL_CTX_get_ex_data(wolfSSL_get_SSL_CTX(ssl), TLS_EX_CTX);
    unsigned int idlen = 0;
    const unsigned char *id = wolfSSL_SESSION_get_id(sess, &idlen);
    if (!c || !c->cache || !id || idlen == 0)
        return 0;
    unsigned char *der = NULL;
    int n = wolfSSL_i2d_SSL_SESSION(sess, &der);
    if (n > 0 && der) {
        int rc = tls_cache_put(c->cache, TLS_CACHE_SERVER, id, idlen, der, (size_t)n,
                               time(NULL) + (time_t)c->timeout);
        if (rc < 0)
            log_warn("tls", "server session cache: cannot store session: %s", strerror(-rc));
    }
    if (der)
        XFREE(der, NULL, DYNAMIC_TYPE_OPENSSL);
    return 0; /* we did not keep a reference to sess */
}

/* server_sess_get - wolfSSL get-session hook: look a session ID up in the cache */
static WOLFSSL_SESSION *server_sess_get(WOLFSSL *ssl, const unsigned char *id, int idlen, int *copy)
{
    struct tls_ctx *c = wolfSSL_CTX_get_ex_data(wolfSSL_get_SSL_CTX(ssl), TLS_EX_CTX);
    struct buf val = BUF_INIT;
    WOLFSSL_SESSION *sess = NULL;
    *copy = 0;
    if (!c || !c->cache || idlen <= 0)
        return NULL;
    if (tls_cache_get(c->cache, TLS_CACHE_SERVER, id, (size_t)idlen, &val, time(NULL), NULL) == 0) {
        const unsigned char *p = (const unsigned char *)buf_ptr(&val);
        sess = wolfSSL_d2i_SSL_SESSION(NULL, &p, (long)buf_used(&val));
    }
    buf_free(&val);
    return sess;
}

/* tls_ctx_use_cache - server: session IDs and ticket keys in cache */
int tls_ctx_use_cache(struct tls_ctx *ctx, struct tls_cache *cache, unsigned timeout_s)
{
    if (!ctx->is_server || !cache || timeout_s == 0)
        return -EINVAL;
    ctx->cache = cache;
    ctx->timeout = timeout_s;
    for (int i = 0; i < CTX_MAX; i++) {
        WOLFSSL_CTX *w = ctx->wctx[i];
        if (!w)
            continue;
        wolfSSL_CTX_set_timeout(w, timeout_s);
        wolfSSL_CTX_set_session_cache_mode(w, WOLFSSL_SESS_CACHE_SERVER |
                                                  WOLFSSL_SESS_CACHE_NO_INTERNAL);
        wolfSSL_CTX_sess_set_new_cb(w, server_sess_new);
        wolfSSL_CTX_sess_set_get_cb(w, server_sess_get);
        if (wolfSSL_CTX_set_TicketEncCb(w, tls_ticket_cb) != WOLFSSL_SUCCESS ||
            wolfSSL_CTX_set_TicketEncCtx(w, ctx) != WOLFSSL_SUCCESS)
            return -EINVAL;
        /* a ticket never outlives the key that decrypts it (tls_ticket.c) */
        wolfSSL_CTX_set_TicketHint(w, (int)timeout_s);
    }
    return 0;
}

/* tls_ctx_is_server - true for a server context */
bool tls_ctx_is_server(const struct tls_ctx *ctx)
{
    return ctx->is_server;
}

/* tls_ctx_wolf - the wolfSSL context: 0 primary, 1 ECDSA alternate or NULL */
struct WOLFSSL_CTX *tls_ctx_wolf(const struct tls_ctx *ctx, int which)
{
    return which >= 0 && which < CTX_MAX ? ctx->wctx[which] : NULL;
}

/* tls_ctx_cache - the cache set by tls_ctx_use_cache, or NULL */
struct tls_cache *tls_ctx_cache(const struct tls_ctx *ctx)
{
    return ctx->cache;
}

/* tls_ctx_cache_timeout - the session timeout given to tls_ctx_use_cache */
unsigned tls_ctx_cache_timeout(const struct tls_ctx *ctx)
{
    return ctx->timeout;
}
