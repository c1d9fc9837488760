/*
 * NAME
 *	tls_ticket - session ticket keys that rotate in the cache and survive restarts
 * DESCRIPTION
 *	See tls_ticket.h. Stored value: AES key (32) then HMAC key (32); the
 *	expiry is the cache entry's own.
 *
 *	Client certificates: a ticket's plaintext (wolfSSL's own layout, which
 *	holds the master secret) names the session, so HMAC(key, label ||
 *	plaintext) made when the ticket is sealed equals the one made when it is
 *	opened again; the peer identity of the handshake that made the ticket
 *	is kept in the cache (kind "peers") under that name until the ticket
 *	key expires, and handed back to the session that resumes from it. No
 *	entry (anonymous session, or lost) means an anonymous resumption.
 */
#include "tls/tls_ticket.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "core/base/buf.h"
#include "core/base/log.h"
#include "tls/tls_cache.h"
#include "tls/tls_ctx.h"
#include "tls/tls_internal.h"

#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/hmac.h>

#define VAL_LEN (TLS_TICKET_AES_LEN + TLS_TICKET_HMAC_LEN)

/* random_bytes - fill from the kernel's CSPRNG; 0 or -errno */
static int random_bytes(void *p, size_t n)
{
    unsigned char *b = p;
    for (int tries = 0; n > 0 && tries < 16; tries++) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += r;
        n -= (size_t)r;
    }
    return n == 0 ? 0 : -EIO;
}

struct newest {
    time_t now, started; /* keys expiring after `started` have not started yet */
    struct tls_ticket_key key;
    int found;
    time_t latest; /* the latest expiry of any live key, started or not */
};

/* newest_fn - walk callback: remember the started key with the latest expiry (the first in key
 * order among equals, so every node sharing the keys picks the same one) */
static int newest_fn(enum tls_cache_kind kind, const void *k, size_t klen, const void *v,
                     size_t vlen, time_t expires, void *arg)
{
    struct newest *n = arg;
    if (klen != TLS_TICKET_NAME_LEN || vlen != VAL_LEN || expires <= n->now)
        return 0;
    if (expires > n->latest)
        n->latest = expires;
    if (expires > n->started)
        return 0;
    if (!n->found || expires > n->key.expires) {
        memcpy(n->key.name, k, TLS_TICKET_NAME_LEN);
        memcpy(n->key.aes, v, TLS_TICKET_AES_LEN);
        memcpy(n->key.hmac, (const unsigned char *)v + TLS_TICKET_AES_LEN, TLS_TICKET_HMAC_LEN);
        n->key.expires = expires;
        n->found = 1;
    }
    return 0;
}

/* newest - the walk over the keys at now */
static int newest(struct tls_cache *tc, unsigned timeout, time_t now, struct newest *n)
{
    memset(n, 0, sizeof(*n));
    n->now = now;
    n->started = now + 2 * (time_t)timeout;
    return tls_cache_walk(tc, TLS_CACHE_TICKET_KEYS, newest_fn, n);
}

/* tls_ticket_current - the key to encrypt with at now, made when needed */
int tls_ticket_current(struct tls_cache *tc, unsigned timeout, time_t now,
                       struct tls_ticket_key *out)
{
    struct newest n;
    int rc;

    if (timeout == 0)
        return -EINVAL;
    if ((rc = newest(tc, timeout, now, &n)) < 0)
        return rc;
    if (n.found && n.key.expires > now + (time_t)timeout) {
        *out = n.key;
        return 0;
    }
    return tls_ticket_make(tc, timeout, now, out);
}

/* tls_ticket_next_due - a key to follow the current one should be made now: the current one
 * stops encrypting within lead and no later key exists; *start is when that happens */
bool tls_ticket_next_due(struct tls_cache *tc, unsigned timeout, time_t now, time_t lead,
                         time_t *start)
{
    struct newest n;
    if (timeout == 0 || newest(tc, timeout, now, &n) < 0)
        return false;
    if (!n.found && n.latest == 0) { /* no key at all: one from the start of this period */
        *start = now - now % (time_t)timeout;
        return true;
    }
    if (!n.found || n.latest > n.key.expires)
        return false;
    *start = n.key.expires - (time_t)timeout;
    return *start <= now + lead;
}

/* tls_ticket_make - a new key that starts encrypting at start and expires 2 * timeout later */
int tls_ticket_make(struct tls_cache *tc, unsigned timeout, time_t start,
                    struct tls_ticket_key *out)
{
    unsigned char val[VAL_LEN];
    int rc;
    if ((rc = random_bytes(out->name, sizeof(out->name))) < 0 ||
        (rc = random_bytes(out->aes, sizeof(out->aes))) < 0 ||
        (rc = random_bytes(out->hmac, sizeof(out->hmac))) < 0)
        return rc;
    out->expires = start + 2 * (time_t)timeout;
    memcpy(val, out->aes, TLS_TICKET_AES_LEN);
    memcpy(val + TLS_TICKET_AES_LEN, out->hmac, TLS_TICKET_HMAC_LEN);
    rc = tls_cache_put(tc, TLS_CACHE_TICKET_KEYS, out->name, TLS_TICKET_NAME_LEN, val, VAL_LEN,
                       out->expires);
    memset(val, 0, sizeof(val));
    return rc;
}

/* tls_ticket_find - the key called name, if not expired at now */
int tls_ticket_find(struct tls_cache *tc, const unsigned char name[TLS_TICKET_NAME_LEN], time_t now,
                    struct tls_ticket_key *out)
{
    struct buf v = BUF_INIT;
    time_t expires;
    int rc = tls_cache_get(tc, TLS_CACHE_TICKET_KEYS, name, TLS_TICKET_NAME_LEN, &v, now, &expires);
    /* v.data, not buf_ptr(): for an empty buffer buf_ptr() is a 1-octet literal, which GCC
     * sees as the source of VAL_LEN octets (-Warray-bounds); the test rules that case out */
    if (rc == 0 && (!v.data || buf_used(&v) != VAL_LEN))
        rc = -ENOENT;
    if (rc == 0) {
        const unsigned char *val = (const unsigned char *)v.data + v.off;
        memcpy(out->name, name, TLS_TICKET_NAME_LEN);
        memcpy(out->aes, val, TLS_TICKET_AES_LEN);
        memcpy(out->hmac, val + TLS_TICKET_AES_LEN, TLS_TICKET_HMAC_LEN);
        out->expires = expires;
    }
    if (v.data)
        explicit_bzero(v.data, v.cap);
    buf_free(&v);
    return rc;
}

/* ticket_mac - HMAC-SHA256(name || iv || data) */
static int ticket_mac(const struct tls_ticket_key *k, const unsigned char *iv,
                      const unsigned char *data, int len, unsigned char mac[WC_SHA256_DIGEST_SIZE])
{
    Hmac h;
    int rc;
    if ((rc = wc_HmacInit(&h, NULL, INVALID_DEVID)) != 0)
        return rc;
    if ((rc = wc_HmacSetKey(&h, WC_SHA256, k->hmac, TLS_TICKET_HMAC_LEN)) == 0 &&
        (rc = wc_HmacUpdate(&h, k->name, TLS_TICKET_NAME_LEN)) == 0 &&
        (rc = wc_HmacUpdate(&h, iv, WOLFSSL_TICKET_IV_SZ)) == 0 &&
        (rc = wc_HmacUpdate(&h, data, (word32)len)) == 0)
        rc = wc_HmacFinal(&h, mac);
    wc_HmacFree(&h);
    return rc;
}

/* peer_name - the name a ticket's identity is kept under: HMAC-SHA256(key, label || plaintext) */
static int peer_name(const struct tls_ticket_key *k, const unsigned char *plain, int len,
                     unsigned char out[WC_SHA256_DIGEST_SIZE])
{
    static const unsigned char label[] = "tern ticket peer";
    Hmac h;
    int rc;
    if ((rc = wc_HmacInit(&h, NULL, INVALID_DEVID)) != 0)
        return rc;
    if ((rc = wc_HmacSetKey(&h, WC_SHA256, k->hmac, TLS_TICKET_HMAC_LEN)) == 0 &&
        (rc = wc_HmacUpdate(&h, label, sizeof(label) - 1)) == 0 &&
        (rc = wc_HmacUpdate(&h, plain, (word32)len)) == 0)
        rc = wc_HmacFinal(&h, out);
    wc_HmacFree(&h);
    return rc;
}

/* peer_keep - sealing: keep the client certificate identity of ssl's handshake for this ticket */
static void peer_keep(struct tls_cache *tc, WOLFSSL *ssl, const struct tls_ticket_key *k,
                      const unsigned char *plain, int len)
{
    struct buf rec = BUF_INIT;
    unsigned char name[WC_SHA256_DIGEST_SIZE];
    if (tls_session_identity(ssl, &rec) == 0 && peer_name(k, plain, len, name) == 0) {
        int rc = tls_cache_put(tc, TLS_CACHE_PEERS, name, sizeof(name), buf_ptr(&rec),
                               buf_used(&rec), k->expires);
        if (rc < 0)
            log_warn("tls", "server session cache: cannot store a ticket's client certificate: %s",
                     strerror(-rc));
    }
    buf_free(&rec);
}

/* peer_restore - opening: give ssl the identity kept for this ticket, if any */
static void peer_restore(struct tls_cache *tc, WOLFSSL *ssl, const struct tls_ticket_key *k,
                         const unsigned char *plain, int len, time_t now)
{
    struct buf rec = BUF_INIT;
    unsigned char name[WC_SHA256_DIGEST_SIZE];
    if (peer_name(k, plain, len, name) == 0 &&
        tls_cache_get(tc, TLS_CACHE_PEERS, name, sizeof(name), &rec, now, NULL) == 0)
        tls_session_identity_restore(ssl, buf_ptr(&rec), buf_used(&rec));
    buf_free(&rec);
}

/* ticket_ctr - AES-256-CTR in place (the same for both directions) */
static int ticket_ctr(const struct tls_ticket_key *k, const unsigned char *iv, unsigned char *data,
                      int len)
{
    Aes aes;
    int rc;
    if ((rc = wc_AesInit(&aes, NULL, INVALID_DEVID)) != 0)
        return rc;
    if ((rc = wc_AesSetKey(&aes, k->aes, TLS_TICKET_AES_LEN, iv, AES_ENCRYPTION)) == 0)
        rc = wc_AesCtrEncrypt(&aes, data, data, (word32)len);
    wc_AesFree(&aes);
    return rc;
}

/* ct_equal - constant-time comparison */
static int ct_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

/* tls_ticket_cb - wolfSSL's SessionTicketEncCb over the cache's rotating keys */
int tls_ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                  unsigned char iv[WOLFSSL_TICKET_IV_SZ], unsigned char mac[WOLFSSL_TICKET_MAC_SZ],
                  int enc, unsigned char *ticket, int in_len, int *out_len, void *user)
{
    const struct tls_ctx *c = user;
    struct tls_cache *tc = c ? tls_ctx_cache(c) : NULL;
    unsigned timeout = c ? tls_ctx_cache_timeout(c) : 0;
    struct tls_ticket_key k;
    unsigned char want[WC_SHA256_DIGEST_SIZE];
    time_t now = time(NULL);
    int ret = WOLFSSL_TICKET_RET_FATAL;

    if (!tc || in_len < 0)
        return WOLFSSL_TICKET_RET_FATAL;
    if (enc) {
        if (tls_ticket_current(tc, timeout, now, &k) < 0 ||
            random_bytes(iv, WOLFSSL_TICKET_IV_SZ) < 0)
            goto done;
        memcpy(key_name, k.name, WOLFSSL_TICKET_NAME_SZ);
        peer_keep(tc, ssl, &k, ticket, in_len);
        if (ticket_ctr(&k, iv, ticket, in_len) != 0 || ticket_mac(&k, iv, ticket, in_len, mac) != 0)
            goto done;
        *out_len = in_len;
        ret = WOLFSSL_TICKET_RET_OK;
    } else {
        if (tls_ticket_find(tc, key_name, now, &k) < 0) {
            ret = WOLFSSL_TICKET_RET_REJECT; /* unknown or expired key: full handshake */
            goto done;
        }
        if (ticket_mac(&k, iv, ticket, in_len, want) != 0 || !ct_equal(want, mac, sizeof(want))) {
            ret = WOLFSSL_TICKET_RET_REJECT;
            goto done;
        }
        if (ticket_ctr(&k, iv, ticket, in_len) != 0)
            goto done;
        peer_restore(tc, ssl, &k, ticket, in_len, now);
        *out_len = in_len;
        /* a decrypt-only key: accept, and issue a ticket under the current key */
        ret = k.expires > now + (time_t)timeout ? WOLFSSL_TICKET_RET_OK : WOLFSSL_TICKET_RET_CREATE;
    }
done:
    memset(&k, 0, sizeof(k));
    return ret;
}
