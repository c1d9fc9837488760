/*
 * NAME
 *	tls_session - one TLS session over memory buffers (the ring does the I/O)
 * DESCRIPTION
 *	See tls_session.h. The wolfSSL object reads from `in` and writes to
 *	`out` through per-session I/O callbacks; the caller moves bytes between
 *	those buffers and the connection.
 *
 *	A peer identity (identity_put/identity_parse) is
 *	  flags (1: bit 0 peer certificate, bit 1 trusted)
 *	  | u16 length + verify error text | u16 length + peer certificate DER
 *	Saved client session format (tls_session_save):
 *	  "TTS1" | peer identity | wolfSSL_i2d_SSL_SESSION bytes
 *	A server ticket's identity (tls_session_identity, kept by tls_ticket.c
 *	in the cache) is a peer identity alone.
 *
 *	Why the server keeps identities itself: wolfSSL's TLS 1.2 ticket holds
 *	the master secret and cipher, not the client certificate, and a session
 *	resumed from it has no peer chain (a TLS 1.3 or session-ID resumption
 *	gets it back from the server session cache). OpenSSL keeps the
 *	certificate inside the ticket; wolfSSL's ticket has no room for it.
 */
#include "tls/tls_session.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "tls/tls_ctx.h"
#include "tls/tls_dane.h"
#include "tls/tls_internal.h"
#include "tls/tls_names.h"
#include "tls/tls_x509.h"

#include <wolfssl/openssl/x509v3.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#define CHUNK 16384
#define RECORD_OVERHEAD 64 /* > header, explicit nonce, tag and padding of one record */
#define HELLO_MAX (16384 + 2048 + 5) /* one ClientHello record at most */
#define SAVE_MAGIC "TTS1"
#define SAVED_PEER 1
#define SAVED_TRUSTED 2

struct tls_session {
    struct tls_ctx *ctx;
    WOLFSSL *ssl;
    bool is_server;
    bool eof;         /* peer closed the stream */
    bool done;        /* handshake complete */
    bool failed;      /* fatal error: nothing more works */
    bool peer_closed; /* close_notify received */
    bool verify_seen, verify_failed;
    struct buf in;       /* ciphertext from the peer, not yet read by wolfSSL */
    struct buf out;      /* ciphertext for the peer */
    struct buf peer_der; /* peer leaf certificate */
    char *sni;
    char err[256];
    char verify_error[128];
    /* from a saved session, used when it is resumed */
    bool have_saved;
    unsigned char saved_flags;
    char saved_verify_error[128];
    struct buf saved_der;
    struct tls_info info;
    bool forgot_peer; /* tls_session_forget_peer(): no certificate copy, nothing to save */
};

/* io_recv - wolfSSL reads ciphertext from s->in */
static int io_recv(WOLFSSL *ssl, char *b, int sz, void *arg)
{
    struct tls_session *s = arg;
    size_t avail = buf_used(&s->in);
    (void)ssl;
    if (avail == 0)
        return s->eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
    size_t n = avail < (size_t)sz ? avail : (size_t)sz;
    memcpy(b, buf_ptr(&s->in), n);
    buf_consume(&s->in, n);
    if (buf_used(&s->in) == 0)
        buf_free(&s->in); /* an idle session keeps no input buffer */
    return (int)n;
}

/* io_send - wolfSSL writes ciphertext to s->out */
static int io_send(WOLFSSL *ssl, char *b, int sz, void *arg)
{
    struct tls_session *s = arg;
    (void)ssl;
    if (buf_append(&s->out, b, (size_t)sz) < 0)
        return WOLFSSL_CBIO_ERR_GENERAL;
    return sz;
}

/* session_of_store - the tls_session whose chain a verify callback sees */
static struct tls_session *session_of_store(WOLFSSL_X509_STORE_CTX *store)
{
    WOLFSSL *ssl =
        wolfSSL_X509_STORE_CTX_get_ex_data(store, wolfSSL_get_ex_data_X509_STORE_CTX_idx());
    return ssl ? wolfSSL_get_ex_data(ssl, TLS_EX_SESSION) : NULL;
}

/* verify_record - note the first verification failure of the chain */
static void verify_record(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
    struct tls_session *s = session_of_store(store);
    if (!s)
        return;
    s->verify_seen = true;
    if (!preverify && !s->verify_failed) {
        int err = wolfSSL_X509_STORE_CTX_get_error(store);
        int depth = wolfSSL_X509_STORE_CTX_get_error_depth(store);
        s->verify_failed = true;
        snprintf(s->verify_error, sizeof(s->verify_error),
                 "certificate verification failed at depth %d: %s", depth,
                 wolfSSL_X509_verify_cert_error_string(err));
    }
}

/* tls_session_verify_cb - record the outcome, go on with the handshake */
int tls_session_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
    verify_record(preverify, store);
    return 1;
}

/* tls_session_verify_strict_cb - record the outcome, abort on failure (req_ccert) */
int tls_session_verify_strict_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
    verify_record(preverify, store);
    return preverify;
}

/* make_ssl - the wolfSSL object from one of the context's WOLFSSL_CTX */
static int make_ssl(struct tls_session *s, int which)
{
    WOLFSSL_CTX *w = tls_ctx_wolf(s->ctx, which);
    if (!w)
        w = tls_ctx_wolf(s->ctx, 0);
    if (!(s->ssl = wolfSSL_new(w)))
        return -ENOMEM;
    wolfSSL_set_ex_data(s->ssl, TLS_EX_SESSION, s);
    wolfSSL_SSLSetIORecv(s->ssl, io_recv);
    wolfSSL_SSLSetIOSend(s->ssl, io_send);
    wolfSSL_SetIOReadCtx(s->ssl, s);
    wolfSSL_SetIOWriteCtx(s->ssl, s);
    /* without tern's cache wolfSSL's own TLS 1.2 tickets would lose the client certificate
     * (tls_ticket.c keeps it only in the cache): clients resume by session ID instead */
    if (s->is_server && !tls_ctx_cache(s->ctx))
        wolfSSL_NoTicketTLSv12(s->ssl);
    if (!s->is_server && s->sni && *s->sni &&
        wolfSSL_UseSNI(s->ssl, WOLFSSL_SNI_HOST_NAME, s->sni, (unsigned short)strlen(s->sni)) !=
            WOLFSSL_SUCCESS)
        return -EINVAL;
    return 0;
}

/* be16 - big-endian 16 bits */
static unsigned be16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* hello_prefers_ecdsa - 1 ECDSA, 0 RSA (or cannot tell), -EAGAIN need more of the ClientHello */
static int hello_prefers_ecdsa(const unsigned char *p, size_t n)
{
    if (n < 5)
        return -EAGAIN;
    if (p[0] != 22) /* not a handshake record: let wolfSSL complain */
        return 0;
    size_t rlen = be16(p + 3);
    if (rlen + 5 > HELLO_MAX)
        return 0;
    if (n < rlen + 5)
        return -EAGAIN;
    const unsigned char *q = p + 5, *end = p + 5 + rlen;
    if (end - q < 4 || q[0] != 1)
        return 0;
    size_t hlen = (size_t)q[1] << 16 | (size_t)q[2] << 8 | q[3];
    q += 4;
    if ((size_t)(end - q) > hlen)
        end = q + hlen;
    /* version, random, session id */
    if (end - q < 35)
        return 0;
    q += 34;
    q += 1 + q[0];
    if (end - q < 2)
        return 0;
    size_t slen = be16(q);
    q += 2;
    if ((size_t)(end - q) < slen)
        return 0;
    bool ec_suite = false, tls13 = false, ec_sig = false;
    for (size_t i = 0; i + 1 < slen; i += 2) {
        unsigned cs = be16(q + i);
        if (cs == 0xC009 || cs == 0xC00A || cs == 0xC023 || cs == 0xC024 || cs == 0xC02B ||
            cs == 0xC02C || cs == 0xCCA9 || cs == 0xC0AC || cs == 0xC0AD || cs == 0xC0AE ||
            cs == 0xC0AF)
            ec_suite = true;
    }
    q += slen;
    if (end - q < 1 || (size_t)(end - q) < 1u + q[0])
        return ec_suite;
    q += 1 + q[0];
    if (end - q < 2)
        return ec_suite;
    size_t elen = be16(q);
    q += 2;
    if ((size_t)(end - q) < elen)
        return ec_suite;
    const unsigned char *eend = q + elen;
    for (int guard = 0; eend - q >= 4 && guard < 1000; guard++) {
        unsigned type = be16(q), len = be16(q + 2);
        q += 4;
        if ((size_t)(eend - q) < len)
            break;
        if (type == 0x000d && len >= 2) { /* signature_algorithms */
            for (unsigned i = 2; i + 1 < len; i += 2) {
                unsigned sa = be16(q + i);
                if (sa == 0x0403 || sa == 0x0503 || sa == 0x0603)
                    ec_sig = true;
            }
        } else if (type == 0x002b && len >= 1) { /* supported_versions */
            for (unsigned i = 1; i + 1 < len; i += 2)
                if (be16(q + i) == 0x0304)
                    tls13 = true;
        }
        q += len;
    }
    return ec_sig && (tls13 || ec_suite);
}

/* tls_session_new - a session on ctx; sni: client only, the name to ask for */
int tls_session_new(struct tls_session **out, struct tls_ctx *ctx, bool is_server, const char *sni)
{
    struct tls_session *s;
    int rc;

    *out = NULL;
    if (!ctx || is_server != tls_ctx_is_server(ctx))
        return -EINVAL;
    if (!(s = calloc(1, sizeof(*s))))
        return -ENOMEM;
    s->ctx = ctx;
    s->is_server = is_server;
    if (sni && *sni && !(s->sni = strdup(sni))) {
        rc = -ENOMEM;
        goto fail;
    }
    /* a server with two certificates waits for the ClientHello to choose */
    if (!is_server || !tls_ctx_wolf(ctx, 1))
        if ((rc = make_ssl(s, 0)) < 0)
            goto fail;
    *out = s;
    return 0;
fail:
    tls_session_free(s);
    return rc;
}

/* tls_session_free - NULL is fine */
void tls_session_free(struct tls_session *s)
{
    if (!s)
        return;
    if (s->ssl)
        wolfSSL_free(s->ssl);
    buf_free(&s->in);
    buf_free(&s->out);
    buf_free(&s->peer_der);
    buf_free(&s->saved_der);
    free(s->sni);
    free(s);
}

/* tls_session_feed - ciphertext from the peer; n == 0 means the peer closed the stream */
int tls_session_feed(struct tls_session *s, const void *cipher, size_t n)
{
    if (n == 0) {
        s->eof = true;
        return 0;
    }
    return buf_append(&s->in, cipher, n);
}

/* set_error - remember the failure text */
static int set_error(struct tls_session *s, int rc, const char *what, int wolf_err)
{
    char ebuf[160];
    s->failed = true;
    if (wolf_err) {
        wolfSSL_ERR_error_string_n((unsigned long)wolf_err, ebuf, sizeof(ebuf));
        int n = snprintf(s->err, sizeof(s->err), "%s: %s%s%s", what, ebuf,
                         s->verify_failed ? "; " : "", s->verify_failed ? s->verify_error : "");
        (void)n; /* truncation is fine for a message */
    } else {
        snprintf(s->err, sizeof(s->err), "%s", what);
    }
    wolfSSL_ERR_clear_error();
    return rc;
}

/* peer_x509 - the peer certificate decoded from peer_der (caller frees), or NULL */
static WOLFSSL_X509 *peer_x509(const struct tls_session *s)
{
    if (buf_used(&s->peer_der) == 0)
        return NULL;
    return wolfSSL_X509_d2i(NULL, (const unsigned char *)buf_ptr(&s->peer_der),
                            (int)buf_used(&s->peer_der));
}

/* reverify - trust of a certificate from a resumed server session, against the CAs */
static bool reverify(struct tls_session *s)
{
    WOLFSSL_CERT_MANAGER *cm = wolfSSL_CTX_GetCertManager(wolfSSL_get_SSL_CTX(s->ssl));
    return cm && wolfSSL_CertManagerVerifyBuffer(cm, (const unsigned char *)buf_ptr(&s->peer_der),
                                                 (long)buf_used(&s->peer_der),
                                                 WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS;
}

/* peer_fill - the peer's certificate and trust into s->peer_der and s->info: from this
 * handshake's chain, or, on a resumption that verified nothing, from the saved session (client)
 * or the identity a ticket brought back (server); also called mid-handshake by the ticket hook */
static void peer_fill(struct tls_session *s)
{
    struct tls_info *i = &s->info;
    bool reused = wolfSSL_session_reused(s->ssl) == 1;

    buf_reset(&s->peer_der);
    WOLFSSL_X509_CHAIN *chain = wolfSSL_get_peer_chain(s->ssl);
    if (chain && wolfSSL_get_chain_count(chain) > 0) {
        unsigned char *der = wolfSSL_get_chain_cert(chain, 0);
        int len = wolfSSL_get_chain_length(chain, 0);
        if (der && len > 0)
            buf_append(&s->peer_der, der, (size_t)len);
    }
    i->peer_cert = buf_used(&s->peer_der) > 0;
    i->peer_trusted = i->peer_cert && s->verify_seen && !s->verify_failed;
    snprintf(i->verify_error, sizeof(i->verify_error), "%s",
             s->verify_failed ? s->verify_error : "");
    if (reused && !s->verify_seen) {
        /* no chain was verified this time: trust as when the session was made */
        if (!i->peer_cert && s->have_saved && buf_used(&s->saved_der))
            buf_append(&s->peer_der, buf_ptr(&s->saved_der), buf_used(&s->saved_der));
        i->peer_cert = buf_used(&s->peer_der) > 0;
        if (s->have_saved && !s->is_server) {
            i->peer_trusted = i->peer_cert && (s->saved_flags & SAVED_TRUSTED);
        } else if (i->peer_cert) {
            /* server: the CAs may have changed since (reload); both must say yes */
            i->peer_trusted = reverify(s) && (!s->have_saved || (s->saved_flags & SAVED_TRUSTED));
        }
        if (s->have_saved)
            snprintf(i->verify_error, sizeof(i->verify_error), "%s", s->saved_verify_error);
        if (i->peer_cert && !i->peer_trusted && !i->verify_error[0])
            snprintf(i->verify_error, sizeof(i->verify_error),
                     "resumed session: certificate not trusted");
    }
    if (!i->peer_cert || i->peer_trusted)
        i->verify_error[0] = 0;
}

/* details_fill - TLS 1.3 key exchange and signatures, as Postfix 3.7 logs them (none for TLS 1.2;
 * a resumption signs nothing: the server still names its key and the client's certificate key,
 * without digests, and a client names the server's certificate key only) */
static void details_fill(struct tls_session *s)
{
    struct tls_info *i = &s->info;
    int nid = 0;
    i->kex[0] = i->server_sig[0] = i->server_digest[0] = i->client_sig[0] = 0;
    i->client_digest[0] = 0;
    if (wolfSSL_version(s->ssl) != TLS1_3_VERSION)
        return;
    tls_names_kex(wolfSSL_get_curve_name(s->ssl), i->kex, sizeof(i->kex));
    /* our own certificate signed; the peer's key is in its certificate (the hash of its
     * signature is not exposed by wolfSSL: no peer digest, as Postfix without one) */
    char *mine = s->is_server ? i->server_sig : i->client_sig;
    char *mine_digest = s->is_server ? i->server_digest : i->client_digest;
    char *theirs = s->is_server ? i->client_sig : i->server_sig;
    WOLFSSL_X509 *own = wolfSSL_get_certificate(s->ssl);
    bool signed_now = !i->reused && wolfSSL_get_signature_nid(s->ssl, &nid) == WOLFSSL_SUCCESS;
    if (own && (s->is_server || signed_now)) {
        tls_names_sig(own, mine, sizeof(i->server_sig));
        if (mine[0] && signed_now)
            tls_names_digest(nid, mine_digest, sizeof(i->server_digest));
    }
    WOLFSSL_X509 *peer = peer_x509(s);
    if (peer) {
        tls_names_sig(peer, theirs, sizeof(i->client_sig));
        wolfSSL_X509_free(peer);
    }
}

/* fill_info - what the handshake negotiated and what the peer showed */
static void fill_info(struct tls_session *s)
{
    struct tls_info *i = &s->info;
    WOLFSSL_CIPHER *c = wolfSSL_get_current_cipher(s->ssl);
    i->protocol = wolfSSL_get_version(s->ssl);
    i->cipher = tls_names_cipher(wolfSSL_get_cipher(s->ssl));
    i->cipher_bits = c ? wolfSSL_CIPHER_get_bits(c, &i->cipher_alg_bits) : 0;
    /* wolfSSL leaves the algorithm bits at 0 for some suites (AES-128-GCM): they equal the
     * effective bits for every suite it offers */
    if (i->cipher_alg_bits <= 0)
        i->cipher_alg_bits = i->cipher_bits;
    i->reused = wolfSSL_session_reused(s->ssl) == 1;
    peer_fill(s);
    WOLFSSL_X509 *x = peer_x509(s);
    if (x) {
        tls_x509_cn(wolfSSL_X509_get_subject_name(x), i->peer_CN, sizeof(i->peer_CN));
        tls_x509_cn(wolfSSL_X509_get_issuer_name(x), i->issuer_CN, sizeof(i->issuer_CN));
        wolfSSL_X509_free(x);
    }
    details_fill(s);
}

/* release_session_pages - give the kernel back the untouched part of wolfSSL's session copy.
 *
 * Debian's wolfSSL (SESSION_CERTS, WOLFSSL_ALT_CERT_CHAINS) gives every WOLFSSL a
 * WOLFSSL_SESSION of about 37 KiB, two peer chains of 9 x 2 KiB held inline, zeroed when
 * allocated, kept until wolfSSL_free(): half of an idle session. A chain holds what the peer
 * sent (nothing, for most SMTP clients), so after the handshake most of those pages are still
 * all zero. MADV_DONTNEED on a page of private anonymous memory (the malloc heap) makes it read
 * as zeros again, backed by no memory until written: for an all-zero page the contents do not
 * change, so wolfSSL sees the same bytes whatever it does with them later. Only pages wholly
 * inside the block are looked at. With NO_SESSION_CACHE_REF (Debian's build) the session is
 * the WOLFSSL's own heap copy; without it wolfSSL_get_session() may return a cache entry, and
 * nothing is done. There is no API to shrink or drop the session (it is never reallocated) and
 * no way to build wolfSSL without the inline chains while using Debian's library. */
static void release_session_pages(struct tls_session *s)
{
#if defined(NO_SESSION_CACHE_REF) && defined(__linux__)
    static const unsigned char zero[4096];
    const uintptr_t page = 4096;
    WOLFSSL_SESSION *sess = wolfSSL_get_session(s->ssl);
    if (!sess)
        return;
    uintptr_t a = ((uintptr_t)sess + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)sess + malloc_usable_size(sess)) & ~(page - 1);
    uintptr_t run = 0; /* start of the current run of zero pages, 0: none */
    for (; a <= end; a += page) {
        bool zeros = a < end && memcmp((const void *)a, zero, page) == 0;
        if (zeros && !run)
            run = a;
        if (!zeros && run) {
            (void)madvise((void *)run, a - run, MADV_DONTNEED); /* only a hint; failure is fine */
            run = 0;
        }
    }
#else
    (void)s;
#endif
}

/* tls_session_handshake - 0 done, -EAGAIN need input, -EPROTO/-ECONNRESET failed */
int tls_session_handshake(struct tls_session *s)
{
    if (s->failed)
        return -EPROTO;
    if (s->done)
        return 0;
    if (!s->ssl) {
        int pick = hello_prefers_ecdsa((const unsigned char *)buf_ptr(&s->in), buf_used(&s->in));
        if (pick == -EAGAIN)
            return s->eof ? set_error(s, -ECONNRESET, "lost connection before the TLS handshake", 0)
                          : -EAGAIN;
        int rc = make_ssl(s, pick == 1 ? 1 : 0);
        if (rc < 0)
            return set_error(s, rc, "cannot create TLS session", 0);
    }
    int r = s->is_server ? wolfSSL_accept(s->ssl) : wolfSSL_connect(s->ssl);
    if (r == WOLFSSL_SUCCESS) {
        s->done = true;
        fill_info(s);
        /* Debian's build (WOLFSSL_POST_HANDSHAKE_AUTH) keeps a TLS 1.3 session's handshake
         * arrays (randoms, premaster, secrets: 5.5 KiB) for post-handshake authentication and
         * late tickets, neither of which a tern server does; TLS 1.2 had them freed already.
         * A client keeps them: its NewSessionTicket arrives after the handshake. */
        if (s->is_server)
            wolfSSL_FreeArrays(s->ssl);
        release_session_pages(s);
        return 0;
    }
    int e = wolfSSL_get_error(s->ssl, r);
    if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
        return -EAGAIN;
    if (s->eof && buf_used(&s->in) == 0 && !s->verify_failed)
        return set_error(s, -ECONNRESET, "lost connection during the TLS handshake", e);
    return set_error(s, -EPROTO, "TLS handshake failed", e);
}

/* tls_session_read - append decrypted bytes to plain */
int tls_session_read(struct tls_session *s, struct buf *plain)
{
    if (s->failed)
        return -EPROTO;
    if (!s->done)
        return -EAGAIN;
    if (s->peer_closed)
        return 0;
    long total = 0;
    /* every turn consumes input or ends the loop; the bound is a backstop */
    for (int turns = 0; turns < 1 << 16; turns++) {
        if (buf_reserve(plain, CHUNK) < 0)
            return total ? (int)total : -ENOMEM;
        int r = wolfSSL_read(s->ssl, plain->data + plain->len, CHUNK);
        if (r > 0) {
            plain->len += (size_t)r;
            plain->data[plain->len] = 0;
            total += r;
            continue;
        }
        int e = wolfSSL_get_error(s->ssl, r);
        if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
            break;
        if (e == WOLFSSL_ERROR_ZERO_RETURN || (s->eof && buf_used(&s->in) == 0)) {
            s->peer_closed = true; /* close_notify, or a truncated stream */
            break;
        }
        if (total)
            break; /* report the data now, the error on the next call */
        return set_error(s, -EPROTO, "TLS read failed", e);
    }
    if (total > 0)
        return total > INT32_MAX ? INT32_MAX : (int)total;
    return s->peer_closed ? 0 : -EAGAIN;
}

/* tls_session_write - encrypt plain into the output buffer */
int tls_session_write(struct tls_session *s, const void *plain, size_t n)
{
    const char *p = plain;
    if (s->failed)
        return -EPROTO;
    if (!s->done)
        return -ENOTCONN;
    /* room for all the records at once: growing s->out a record at a time copied a
     * 1 MB body about once more (perf, bench/run mixed: 2.3% of ternd in realloc) */
    if (buf_reserve(&s->out, n + (n / CHUNK + 1) * RECORD_OVERHEAD) < 0)
        return -ENOMEM;
    while (n > 0) {
        int chunk = n > CHUNK ? CHUNK : (int)n;
        int r = wolfSSL_write(s->ssl, p, chunk);
        if (r <= 0)
            return set_error(s, -EPROTO, "TLS write failed", wolfSSL_get_error(s->ssl, r));
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* tls_session_take_output - move pending ciphertext to cipher; returns the byte count */
int tls_session_take_output(struct tls_session *s, struct buf *cipher)
{
    size_t n = buf_used(&s->out);
    if (n == 0)
        return 0;
    if (buf_used(cipher) == 0) {
        /* hand the buffer over instead of copying; the session keeps none while idle */
        buf_free(cipher);
        *cipher = s->out;
        s->out = (struct buf)BUF_INIT;
        return (int)n;
    }
    if (buf_append(cipher, buf_ptr(&s->out), n) < 0)
        return -ENOMEM;
    buf_free(&s->out);
    return (int)n;
}

/* tls_session_pending_output - ciphertext waiting to be taken */
size_t tls_session_pending_output(const struct tls_session *s)
{
    return buf_used(&s->out);
}

/* tls_session_shutdown - queue close_notify */
int tls_session_shutdown(struct tls_session *s)
{
    if (!s->ssl || s->failed || !s->done)
        return -ENOTCONN;
    int r = wolfSSL_shutdown(s->ssl);
    if (r == WOLFSSL_SUCCESS || r == WOLFSSL_SHUTDOWN_NOT_DONE)
        return 0;
    int e = wolfSSL_get_error(s->ssl, r);
    if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
        return 0;
    return -EPIPE;
}

/* tls_session_error - text of the last failure, "" if none */
const char *tls_session_error(const struct tls_session *s)
{
    return s->err;
}

/* tls_session_info - NULL before the handshake completed */
const struct tls_info *tls_session_info(const struct tls_session *s)
{
    return s->done ? &s->info : NULL;
}

/* tls_session_received_text - Postfix's Received header TLS annotation */
int tls_session_received_text(const struct tls_session *s, char *out, size_t len)
{
    if (!s->done)
        return -ENOTCONN;
    int n = snprintf(out, len, "(using %s with cipher %s (%d/%d bits))", s->info.protocol,
                     s->info.cipher, s->info.cipher_bits, s->info.cipher_alg_bits);
    return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* tls_session_summary - Postfix 3.x's text after "TLS connection established from host[addr]: " */
int tls_session_summary(const struct tls_session *s, char *out, size_t len)
{
    const struct tls_info *i = &s->info;
    if (!s->done)
        return -ENOTCONN;
    int n = snprintf(
        out, len, "%s with cipher %s (%d/%d bits)%s%s%s%s%s%s%s%s%s%s", i->protocol, i->cipher,
        i->cipher_bits, i->cipher_alg_bits, i->kex[0] ? " key-exchange " : "", i->kex,
        i->server_sig[0] ? " server-signature " : "", i->server_sig,
        i->server_sig[0] && i->server_digest[0] ? " server-digest " : "",
        i->server_sig[0] ? i->server_digest : "", i->client_sig[0] ? " client-signature " : "",
        i->client_sig, i->client_sig[0] && i->client_digest[0] ? " client-digest " : "",
        i->client_sig[0] ? i->client_digest : "");
    return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* tls_session_fingerprint - peer certificate (or public key) digest */
int tls_session_fingerprint(const struct tls_session *s, enum tls_digest d, bool pubkey, char *out,
                            size_t len)
{
    if (buf_used(&s->peer_der) == 0)
        return -ENOENT;
    return tls_fprint_der((const unsigned char *)buf_ptr(&s->peer_der), buf_used(&s->peer_der), d,
                          pubkey, out, len);
}

/* tls_session_peer_match - does the peer certificate match any reference name? */
int tls_session_peer_match(const struct tls_session *s, const char *const *refs, size_t nrefs)
{
    WOLFSSL_X509 *x = peer_x509(s);
    if (!x)
        return -ENOENT;
    int rc = tls_x509_match(x, refs, nrefs);
    wolfSSL_X509_free(x);
    return rc;
}

/* tls_session_dane - the peer's chain (this handshake's; a resumed one has only the leaf it was
 * saved with) against TLSA records; see tls_dane.h */
int tls_session_dane(const struct tls_session *s, const struct tls_tlsa *rrs, size_t nrr,
                     const char *const *refs, size_t nrefs, struct tls_dane_result *r)
{
    struct tls_der chain[TLS_DANE_DEPTH_MAX];
    size_t n = 0;
    WOLFSSL_X509_CHAIN *wc = s->done ? wolfSSL_get_peer_chain(s->ssl) : NULL;
    int count = wc ? wolfSSL_get_chain_count(wc) : 0;
    for (int i = 0; i < count && n < TLS_DANE_DEPTH_MAX; i++) {
        unsigned char *der = wolfSSL_get_chain_cert(wc, i);
        int len = wolfSSL_get_chain_length(wc, i);
        if (!der || len <= 0)
            break;
        chain[n++] = (struct tls_der){der, (size_t)len};
    }
    if (n == 0 && buf_used(&s->peer_der) > 0)
        chain[n++] =
            (struct tls_der){(const unsigned char *)buf_ptr(&s->peer_der), buf_used(&s->peer_der)};
    return tls_dane_check(rrs, nrr, chain, n, refs, nrefs, r);
}

/* tls_session_forget_peer - free the copies of the peer certificate; see tls_session.h */
void tls_session_forget_peer(struct tls_session *s)
{
    if (!s->done)
        return;
    buf_free(&s->peer_der);
    buf_free(&s->saved_der);
    s->forgot_peer = true;
}

struct identity {
    unsigned char flags;
    const char *err;
    size_t elen;
    const unsigned char *der;
    size_t dlen;
};

/* identity_put - append a peer identity: flags, verify error, certificate DER */
static int identity_put(struct buf *out, unsigned char flags, const char *err, const void *der,
                        size_t dlen)
{
    size_t elen = strlen(err);
    unsigned char l2[2];
    if (elen > 0xffff || dlen > 0xffff)
        return -EINVAL;
    l2[0] = (unsigned char)(elen >> 8), l2[1] = (unsigned char)elen;
    if (buf_append(out, &flags, 1) < 0 || buf_append(out, l2, 2) < 0 ||
        buf_append(out, err, elen) < 0)
        return -ENOMEM;
    l2[0] = (unsigned char)(dlen >> 8), l2[1] = (unsigned char)dlen;
    if (buf_append(out, l2, 2) < 0 || buf_append(out, der, dlen) < 0)
        return -ENOMEM;
    return 0;
}

/* identity_parse - a peer identity at p; the bytes it takes, or -EINVAL */
static long identity_parse(const unsigned char *p, size_t len, struct identity *id)
{
    const unsigned char *start = p, *end = p + len;
    if (len < 5)
        return -EINVAL;
    id->flags = p[0];
    id->elen = be16(p + 1);
    p += 3;
    if ((size_t)(end - p) < id->elen + 2)
        return -EINVAL;
    id->err = (const char *)p;
    p += id->elen;
    id->dlen = be16(p);
    p += 2;
    if ((size_t)(end - p) < id->dlen)
        return -EINVAL;
    id->der = p;
    p += id->dlen;
    return p - start;
}

/* identity_keep - remember an identity for a resumption of this session */
static int identity_keep(struct tls_session *s, const struct identity *id)
{
    buf_reset(&s->saved_der);
    if (buf_append(&s->saved_der, id->der, id->dlen) < 0)
        return -ENOMEM;
    s->have_saved = true;
    s->saved_flags = id->flags;
    snprintf(s->saved_verify_error, sizeof(s->saved_verify_error), "%.*s",
             (int)(id->elen < sizeof(s->saved_verify_error) ? id->elen
                                                            : sizeof(s->saved_verify_error) - 1),
             id->err);
    return 0;
}

/* tls_session_identity - ticket hook: the peer identity of ssl's handshake (tls_internal.h) */
int tls_session_identity(WOLFSSL *ssl, struct buf *out)
{
    struct tls_session *s = wolfSSL_get_ex_data(ssl, TLS_EX_SESSION);
    if (!s || !s->is_server)
        return -ENOENT;
    peer_fill(s);
    if (!s->info.peer_cert)
        return -ENOENT;
    unsigned char flags = SAVED_PEER | (s->info.peer_trusted ? SAVED_TRUSTED : 0);
    return identity_put(out, flags, s->info.verify_error, buf_ptr(&s->peer_der),
                        buf_used(&s->peer_der));
}

/* tls_session_identity_restore - ticket hook: the identity stored for a ticket (tls_internal.h) */
int tls_session_identity_restore(WOLFSSL *ssl, const void *rec, size_t len)
{
    struct tls_session *s = wolfSSL_get_ex_data(ssl, TLS_EX_SESSION);
    struct identity id;
    if (!s || !s->is_server)
        return -EINVAL;
    if (identity_parse(rec, len, &id) != (long)len || !(id.flags & SAVED_PEER) || id.dlen == 0)
        return -EINVAL; /* not ours: the session stays anonymous */
    return identity_keep(s, &id);
}

/* tls_session_resume - client: offer a saved session; before the handshake */
int tls_session_resume(struct tls_session *s, const void *saved, size_t len)
{
    const unsigned char *p = saved, *end = p + len;
    struct identity id;
    if (s->is_server || !s->ssl || s->done)
        return -EINVAL;
    if (len < 9 || memcmp(p, SAVE_MAGIC, 4) != 0)
        return -EINVAL;
    p += 4;
    long used = identity_parse(p, (size_t)(end - p), &id);
    if (used < 0 || used >= end - p)
        return -EINVAL;
    p += used;
    WOLFSSL_SESSION *sess = wolfSSL_d2i_SSL_SESSION(NULL, &p, (long)(end - p));
    if (!sess)
        return -EINVAL;
    int r = wolfSSL_set_session(s->ssl, sess);
    wolfSSL_SESSION_free(sess);
    if (r != WOLFSSL_SUCCESS)
        return -EINVAL; /* expired or unusable: a full handshake follows */
    return identity_keep(s, &id);
}

/* tls_session_has_ticket - client: a resumable session is there to save */
bool tls_session_has_ticket(const struct tls_session *s)
{
    if (s->is_server || !s->ssl || !s->done)
        return false;
    WOLFSSL_SESSION *sess = wolfSSL_get1_session(s->ssl);
    if (!sess)
        return false;
    bool ok = wolfSSL_SESSION_is_resumable(sess) == 1;
    if (ok && s->info.protocol && strcmp(s->info.protocol, "TLSv1.3") == 0)
        ok = wolfSSL_SESSION_has_ticket(sess) == 1;
    wolfSSL_SESSION_free(sess);
    return ok;
}

/* tls_session_save - client: append the resumable session to out; -ENOENT if none */
int tls_session_save(struct tls_session *s, struct buf *out)
{
    int rc = -ENOENT;
    if (s->forgot_peer || !tls_session_has_ticket(s))
        return -ENOENT;
    WOLFSSL_SESSION *sess = wolfSSL_get1_session(s->ssl);
    if (!sess)
        return -ENOENT;
    int n = wolfSSL_i2d_SSL_SESSION(sess, NULL);
    size_t start = out->len;
    unsigned char flags = (unsigned char)((s->info.peer_cert ? SAVED_PEER : 0) |
                                          (s->info.peer_trusted ? SAVED_TRUSTED : 0));
    if (n <= 0)
        goto done;
    rc = buf_append(out, SAVE_MAGIC, 4) < 0
             ? -ENOMEM
             : identity_put(out, flags, s->info.verify_error, buf_ptr(&s->peer_der),
                            buf_used(&s->peer_der));
    if (rc == 0 && buf_reserve(out, (size_t)n) < 0)
        rc = -ENOMEM;
    if (rc < 0)
        goto undo;
    unsigned char *p = (unsigned char *)out->data + out->len;
    if (wolfSSL_i2d_SSL_SESSION(sess, &p) != n) {
        rc = -EINVAL;
        goto undo;
    }
    out->len += (size_t)n;
    out->data[out->len] = 0;
    rc = 0;
    goto done;
undo:
    if (out->data) {
        out->len = start;
        out->data[out->len] = 0;
    }
done:
    wolfSSL_SESSION_free(sess);
    return rc;
}

/* tls_session_restrict - per-session protocol and cipher limits */
int tls_session_restrict(struct tls_session *s, const char *protocols, const char *grade,
                         const char *exclude, char *err, size_t errlen)
{
    return tls_ctx_ssl_restrict(s->ssl, protocols, grade, exclude, err, errlen);
}
