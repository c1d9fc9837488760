/*
 * NAME
 *	tls_names - what wolfSSL negotiated, named as OpenSSL and Postfix's log lines name it
 * DESCRIPTION
 *	See tls_names.h. Pure text mappings, no state: the details of a
 *	handshake that tls_session puts into struct tls_info.
 */
#include "tls/tls_names.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <wolfssl/openssl/evp.h>
#include <wolfssl/openssl/x509v3.h>
#include <wolfssl/wolfcrypt/asn.h>

/* tls_names_cipher - OpenSSL's (and so Postfix's) name for wolfSSL's TLS 1.3 suite names */
const char *tls_names_cipher(const char *name)
{
    static const char *const map[][2] = {
        {"TLS13-AES128-GCM-SHA256", "TLS_AES_128_GCM_SHA256"},
        {"TLS13-AES256-GCM-SHA384", "TLS_AES_256_GCM_SHA384"},
        {"TLS13-CHACHA20-POLY1305-SHA256", "TLS_CHACHA20_POLY1305_SHA256"},
        {"TLS13-AES128-CCM-SHA256", "TLS_AES_128_CCM_SHA256"},
        {"TLS13-AES128-CCM-8-SHA256", "TLS_AES_128_CCM_8_SHA256"},
    };
    if (!name)
        return "unknown";
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(name, map[i][0]) == 0)
            return map[i][1];
    return name;
}

/* tls_names_kex - Postfix's key-exchange name for wolfSSL's group name, "" if unknown */
void tls_names_kex(const char *group, char *out, size_t len)
{
    static const char *const map[][2] = {
        {"X25519", "X25519"},
        {"X448", "X448"},
        {"SECP256R1", "ECDHE (prime256v1)"},
        {"SECP384R1", "ECDHE (secp384r1)"},
        {"SECP521R1", "ECDHE (secp521r1)"},
        {"FFDHE_2048", "DHE (2048 bits)"},
        {"FFDHE_3072", "DHE (3072 bits)"},
        {"FFDHE_4096", "DHE (4096 bits)"},
    };
    out[0] = 0;
    for (size_t i = 0; group && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcasecmp(group, map[i][0]) == 0)
            snprintf(out, len, "%s", map[i][1]);
}

/* tls_names_sig - a signing key as Postfix names it: "RSA-PSS (2048 bits)", "ECDSA (prime256v1)" */
void tls_names_sig(WOLFSSL_X509 *x, char *out, size_t len)
{
    out[0] = 0;
    WOLFSSL_EVP_PKEY *k = x ? wolfSSL_X509_get_pubkey(x) : NULL;
    if (!k)
        return;
    int bits = wolfSSL_EVP_PKEY_bits(k);
    switch (wolfSSL_EVP_PKEY_id(k)) {
    case EVP_PKEY_RSA: /* TLS 1.3 signs with RSA-PSS */
        snprintf(out, len, "RSA-PSS (%d bits)", bits);
        break;
    case EVP_PKEY_EC:
        snprintf(out, len, "ECDSA (%s)",
                 bits == 256   ? "prime256v1"
                 : bits == 384 ? "secp384r1"
                 : bits == 521 ? "secp521r1"
                               : "unknown");
        break;
    default:
        break;
    }
    wolfSSL_EVP_PKEY_free(k);
}

/* tls_names_digest - the hash of wolfSSL_get_signature_nid() as OpenSSL's short name, "" if unknown
 * (wolfSSL 5.5 answers with its signature type, CTC_SHA256wRSA; later ones with the hash NID) */
void tls_names_digest(int nid, char *out, size_t len)
{
    snprintf(out, len, "%s",
             nid == NID_sha256 || nid == CTC_SHA256wRSA || nid == CTC_SHA256wECDSA   ? "SHA256"
             : nid == NID_sha384 || nid == CTC_SHA384wRSA || nid == CTC_SHA384wECDSA ? "SHA384"
             : nid == NID_sha512 || nid == CTC_SHA512wRSA || nid == CTC_SHA512wECDSA ? "SHA512"
                                                                                     : "");
}
