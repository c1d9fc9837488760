/*
 * NAME
 *	tls_dane - a peer's chain against TLSA records (see tls_dane.h)
 * DESCRIPTION
 *	wolfSSL has no DANE API; this file is tern's. The digests are
 *	wolfCrypt's, the DANE-TA chain check is a wolfSSL certificate manager
 *	made for the one check, holding the matched anchor as its only CA:
 *	each certificate below it is verified, then added as a CA, down to
 *	the leaf. Nothing is kept between calls.
 */
#include "tls/tls_internal.h"

#include "tls/tls_dane.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/sha512.h>

#include "tls/tls_fprint.h"
#include "tls/tls_x509.h"

/* tls_dane_parse - one TLSA RDATA into rr (pointing into rdata); 0 or -EINVAL */
int tls_dane_parse(const unsigned char *rdata, size_t n, struct tls_tlsa *rr)
{
    if (n < 4 || n - 3 > TLS_DANE_DATA_MAX)
        return -EINVAL;
    rr->usage = rdata[0];
    rr->selector = rdata[1];
    rr->mtype = rdata[2];
    rr->data = rdata + 3;
    rr->len = n - 3;
    return 0;
}

/* tls_dane_usable - may an SMTP client use this record (RFC 7672 3.1)? */
bool tls_dane_usable(const struct tls_tlsa *rr)
{
    if (rr->usage != TLS_DANE_TA && rr->usage != TLS_DANE_EE)
        return false;
    if (rr->selector != TLS_DANE_CERT && rr->selector != TLS_DANE_SPKI)
        return false;
    switch (rr->mtype) {
    case TLS_DANE_FULL:
        return rr->len > 0;
    case TLS_DANE_SHA256:
        return rr->len == WC_SHA256_DIGEST_SIZE;
    case TLS_DANE_SHA512:
        return rr->len == WC_SHA512_DIGEST_SIZE;
    }
    return false;
}

/* matches - does the record's data describe this certificate? */
static bool matches(const struct tls_tlsa *rr, const struct tls_der *cert)
{
    const unsigned char *p = cert->der;
    size_t n = cert->len;
    if (rr->selector == TLS_DANE_SPKI && tls_fprint_spki(cert->der, cert->len, &p, &n) < 0)
        return false;
    unsigned char md[WC_SHA512_DIGEST_SIZE];
    switch (rr->mtype) {
    case TLS_DANE_FULL:
        return rr->len == n && memcmp(rr->data, p, n) == 0;
    case TLS_DANE_SHA256:
        return wc_Sha256Hash(p, (word32)n, md) == 0 && memcmp(rr->data, md, rr->len) == 0;
    case TLS_DANE_SHA512:
        return wc_Sha512Hash(p, (word32)n, md) == 0 && memcmp(rr->data, md, rr->len) == 0;
    }
    return false;
}

/* chain_verify - chain[0..d) verifies up to the anchor chain[d]; 0, -EBADMSG (why), -ENOMEM */
static int chain_verify(const struct tls_der *chain, size_t d, char *why, size_t wlen)
{
    WOLFSSL_CERT_MANAGER *cm = wolfSSL_CertManagerNew();
    if (!cm)
        return -ENOMEM;
    int rc = 0;
    if (wolfSSL_CertManagerLoadCABuffer(cm, chain[d].der, (long)chain[d].len,
                                        WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
        snprintf(why, wlen, "the trust anchor at depth %zu is not a usable CA certificate", d);
        rc = -EBADMSG;
    }
    for (size_t i = d; rc == 0 && i-- > 0;) {
        int v = wolfSSL_CertManagerVerifyBuffer(cm, chain[i].der, (long)chain[i].len,
                                                WOLFSSL_FILETYPE_ASN1);
        if (v != WOLFSSL_SUCCESS) {
            snprintf(why, wlen, "certificate at depth %zu does not verify up to the anchor: %s", i,
                     wc_GetErrorString(v));
            rc = -EBADMSG;
        } else if (i > 0 &&
                   wolfSSL_CertManagerLoadCABuffer(cm, chain[i].der, (long)chain[i].len,
                                                   WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS) {
            snprintf(why, wlen, "certificate at depth %zu is not a CA certificate", i);
            rc = -EBADMSG;
        }
    }
    wolfSSL_CertManagerFree(cm);
    return rc;
}

/* leaf_named - does the leaf carry one of the reference names? 1, 0, -ENOMEM */
static int leaf_named(const struct tls_der *leaf, const char *const *refs, size_t nrefs)
{
    WOLFSSL_X509 *x = wolfSSL_X509_d2i(NULL, leaf->der, (int)leaf->len);
    if (!x)
        return 0;
    int rc = tls_x509_match(x, refs, nrefs);
    wolfSSL_X509_free(x);
    return rc;
}

/* ta_check - a DANE-TA record against the chain above the leaf; 1 match, 0 not (why), -errno */
static int ta_check(const struct tls_tlsa *rr, const struct tls_der *chain, size_t nchain,
                    const char *const *refs, size_t nrefs, size_t *depth, char *why, size_t wlen)
{
    for (size_t d = 1; d < nchain; d++) {
        if (!matches(rr, &chain[d]))
            continue;
        int rc = chain_verify(chain, d, why, wlen);
        if (rc == -EBADMSG)
            return 0;
        if (rc < 0)
            return rc;
        if ((rc = leaf_named(&chain[0], refs, nrefs)) <= 0) {
            if (rc == 0)
                snprintf(why, wlen, "the certificate does not name %s%s", nrefs ? refs[0] : "",
                         nrefs > 1 ? " or the other reference names" : "");
            return rc;
        }
        *depth = d;
        return 1;
    }
    snprintf(why, wlen, "no certificate above the leaf matches the DANE-TA record");
    return 0;
}

/* tls_dane_check - match chain[0..nchain) against the records; 0 (see r) or -ENOMEM */
int tls_dane_check(const struct tls_tlsa *rrs, size_t nrr, const struct tls_der *chain,
                   size_t nchain, const char *const *refs, size_t nrefs, struct tls_dane_result *r)
{
    bool usable = false;
    *r = (struct tls_dane_result){.status = TLS_DANE_FAIL};
    if (nchain > TLS_DANE_DEPTH_MAX)
        nchain = TLS_DANE_DEPTH_MAX;
    for (size_t i = 0; i < nrr; i++) {
        if (!tls_dane_usable(&rrs[i]))
            continue;
        usable = true;
        if (nchain == 0)
            continue;
        int rc = 0;
        size_t depth = 0;
        char why[sizeof(r->why)] = "";
        if (rrs[i].usage == TLS_DANE_EE) {
            rc = matches(&rrs[i], &chain[0]);
            if (!rc)
                snprintf(why, sizeof(why), "the certificate does not match the DANE-EE record");
        } else {
            rc = ta_check(&rrs[i], chain, nchain, refs, nrefs, &depth, why, sizeof(why));
        }
        if (rc < 0)
            return rc;
        if (rc == 1) {
            *r = (struct tls_dane_result){.status = TLS_DANE_MATCH, .rr = i, .depth = depth};
            return 0;
        }
        if (!r->why[0])
            snprintf(r->why, sizeof(r->why), "%s", why); /* the first record's reason */
    }
    if (!usable)
        r->status = TLS_DANE_UNUSABLE;
    else if (nchain == 0)
        snprintf(r->why, sizeof(r->why), "the server sent no certificate");
    return 0;
}

/* cmp_md - for qsort: SHA-256 digests */
static int cmp_md(const void *a, const void *b)
{
    return memcmp(a, b, WC_SHA256_DIGEST_SIZE);
}

/* tls_dane_digest - SHA-256 over the records' sorted SHA-256s, 16 hex digits */
int tls_dane_digest(const struct tls_tlsa *rrs, size_t n, char out[17])
{
    unsigned char(*md)[WC_SHA256_DIGEST_SIZE] = calloc(n ? n : 1, sizeof(*md));
    unsigned char all[WC_SHA256_DIGEST_SIZE];
    int rc = md ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned char head[3] = {(unsigned char)rrs[i].usage, (unsigned char)rrs[i].selector,
                                 (unsigned char)rrs[i].mtype};
        wc_Sha256 h;
        if (wc_InitSha256(&h) != 0 || wc_Sha256Update(&h, head, 3) != 0 ||
            wc_Sha256Update(&h, rrs[i].data, (word32)rrs[i].len) != 0 ||
            wc_Sha256Final(&h, md[i]) != 0)
            rc = -ENOMEM;
    }
    if (rc == 0) {
        qsort(md, n, sizeof(*md), cmp_md);
        if (wc_Sha256Hash((const unsigned char *)md, (word32)(n * sizeof(*md)), all) != 0)
            rc = -ENOMEM;
    }
    free(md);
    for (int i = 0; rc == 0 && i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", all[i]);
    return rc;
}

/* tls_dane_describe - "3 1 1 d1f661baf715..." (data shortened to 12 hex digits); length */
int tls_dane_describe(const struct tls_tlsa *rr, char *out, size_t len)
{
    char hex[2 * 6 + 1];
    size_t n = rr->len < 6 ? rr->len : 6;
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", rr->data[i]);
    hex[2 * n] = 0;
    int w = snprintf(out, len, "%u %u %u %s%s", rr->usage, rr->selector, rr->mtype, hex,
                     rr->len > n ? "..." : "");
    return w < 0 || (size_t)w >= len ? -ENOSPC : w;
}
