/*
 * NAME
 *	tls_fprint - certificate and public-key fingerprints as Postfix prints them
 * DESCRIPTION
 *	See tls_fprint.h.
 */
#include "tls/tls_fprint.h"

#include <errno.h>
#include <strings.h>

#include "tls/tls_internal.h"

#include <wolfssl/wolfcrypt/hash.h>

/* tls_fprint_format - digest bytes to "AB:CD:..."; length or -ENOSPC */
int tls_fprint_format(const unsigned char *md, size_t n, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n == 0 || len < n * 3)
        return -ENOSPC;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[o++] = ':';
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 15];
    }
    out[o] = 0;
    return (int)o;
}

/* digest - one-shot hash; digest length or -EINVAL */
static int digest(enum tls_digest d, const unsigned char *in, size_t n, unsigned char *md)
{
    switch (d) {
    case TLS_DIGEST_MD5:
        return wc_Md5Hash(in, (word32)n, md) == 0 ? WC_MD5_DIGEST_SIZE : -EINVAL;
    case TLS_DIGEST_SHA1:
        return wc_ShaHash(in, (word32)n, md) == 0 ? WC_SHA_DIGEST_SIZE : -EINVAL;
    case TLS_DIGEST_SHA256:
        return wc_Sha256Hash(in, (word32)n, md) == 0 ? WC_SHA256_DIGEST_SIZE : -EINVAL;
    }
    return -EINVAL;
}

/* der_item - one DER TLV at p (< end): header and total length; -EINVAL if malformed */
static int der_item(const unsigned char *p, const unsigned char *end, unsigned *tag, size_t *hdr,
                    size_t *total)
{
    if (end - p < 2)
        return -EINVAL;
    *tag = p[0];
    size_t len = p[1], h = 2;
    if (len & 0x80) {
        size_t nb = len & 0x7f;
        if (nb == 0 || nb > 4 || (size_t)(end - p) < 2 + nb)
            return -EINVAL;
        len = 0;
        for (size_t i = 0; i < nb; i++)
            len = len << 8 | p[2 + i];
        h += nb;
    }
    if ((size_t)(end - p) - h < len)
        return -EINVAL;
    *hdr = h;
    *total = h + len;
    return 0;
}

/* tls_fprint_spki - locate the DER SubjectPublicKeyInfo inside a DER certificate */
int tls_fprint_spki(const unsigned char *der, size_t n, const unsigned char **spki, size_t *slen)
{
    const unsigned char *p = der, *end = der + n;
    unsigned tag;
    size_t hdr, total;
    /* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { ... } ... } */
    if (der_item(p, end, &tag, &hdr, &total) < 0 || tag != 0x30)
        return -EINVAL;
    end = p + total;
    p += hdr;
    if (der_item(p, end, &tag, &hdr, &total) < 0 || tag != 0x30)
        return -EINVAL;
    end = p + total;
    p += hdr;
    /* [0] version (optional), serial, signature, issuer, validity, subject, SPKI */
    if (der_item(p, end, &tag, &hdr, &total) < 0)
        return -EINVAL;
    if (tag == 0xa0) {
        p += total;
        if (der_item(p, end, &tag, &hdr, &total) < 0)
            return -EINVAL;
    }
    for (int i = 0; i < 5; i++) { /* serial .. subject */
        p += total;
        if (der_item(p, end, &tag, &hdr, &total) < 0)
            return -EINVAL;
    }
    if (tag != 0x30)
        return -EINVAL;
    *spki = p;
    *slen = total;
    return 0;
}

/* tls_fprint_der - digest of a DER certificate (pubkey: of its SubjectPublicKeyInfo), formatted */
int tls_fprint_der(const unsigned char *der, size_t n, enum tls_digest d, bool pubkey, char *out,
                   size_t len)
{
    unsigned char md[WC_MAX_DIGEST_SIZE];
    int mdlen;
    if (pubkey) {
        const unsigned char *spki;
        size_t slen;
        if (tls_fprint_spki(der, n, &spki, &slen) < 0)
            return -EINVAL;
        der = spki;
        n = slen;
    }
    if ((mdlen = digest(d, der, n, md)) < 0)
        return mdlen;
    return tls_fprint_format(md, (size_t)mdlen, out, len);
}

/* tls_fprint_digest_parse - "md5", "sha1", "sha256"; -EINVAL */
int tls_fprint_digest_parse(const char *name, enum tls_digest *d)
{
    if (!name)
        return -EINVAL;
    if (strcasecmp(name, "md5") == 0)
        *d = TLS_DIGEST_MD5;
    else if (strcasecmp(name, "sha1") == 0)
        *d = TLS_DIGEST_SHA1;
    else if (strcasecmp(name, "sha256") == 0)
        *d = TLS_DIGEST_SHA256;
    else
        return -EINVAL;
    return 0;
}
