/*
 * NAME
 *	tls_x509 - the names in a decoded certificate (see tls_x509.h)
 */
#include "tls/tls_internal.h"

#include "tls/tls_x509.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls_verify.h"

#include <wolfssl/openssl/x509v3.h>

#define MAX_SANS 64

/* tls_x509_cn - CommonName of an X509 name into out, "" if none */
void tls_x509_cn(WOLFSSL_X509_NAME *name, char *out, size_t len)
{
    out[0] = 0;
    if (name && wolfSSL_X509_NAME_get_text_by_NID(name, NID_commonName, out, (int)len) <= 0)
        out[0] = 0;
}

/* tls_x509_match - does x match any of the reference names? 1, 0, or -ENOMEM */
int tls_x509_match(WOLFSSL_X509 *x, const char *const *refs, size_t nrefs)
{
    char *sans[MAX_SANS];
    size_t nsans = 0;
    char cn[256];
    int rc = 0;

    WOLFSSL_GENERAL_NAMES *names = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int count = names ? wolfSSL_sk_GENERAL_NAME_num(names) : 0;
    for (int i = 0; i < count && nsans < MAX_SANS; i++) {
        WOLFSSL_GENERAL_NAME *gn = wolfSSL_sk_GENERAL_NAME_value(names, i);
        if (!gn || gn->type != GEN_DNS || !gn->d.dNSName || !gn->d.dNSName->data)
            continue;
        int l = gn->d.dNSName->length;
        if (l <= 0 || memchr(gn->d.dNSName->data, 0, (size_t)l))
            continue; /* embedded NUL: never a match */
        if (!(sans[nsans] = strndup((const char *)gn->d.dNSName->data, (size_t)l))) {
            rc = -ENOMEM;
            goto done;
        }
        nsans++;
    }
    tls_x509_cn(wolfSSL_X509_get_subject_name(x), cn, sizeof(cn));
    for (size_t i = 0; i < nrefs && rc == 0; i++)
        if (tls_verify_cert_match((const char *const *)sans, nsans, cn, refs[i]))
            rc = 1;
done:
    for (size_t i = 0; i < nsans; i++)
        free(sans[i]);
    if (names)
        wolfSSL_GENERAL_NAMES_free(names);
    return rc;
}
