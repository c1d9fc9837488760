/*
 * NAME
 *	tls_x509 - the names in a decoded certificate, for the checks of tls/ (internal)
 * SYNOPSIS
 *	#include "tls/tls_internal.h"
 *	#include "tls/tls_x509.h"
 *
 *	tls_x509_cn(wolfSSL_X509_get_subject_name(x), cn, sizeof(cn));
 *	int m = tls_x509_match(x, refs, nrefs);   // 1 match, 0 none, -ENOMEM
 * DESCRIPTION
 *	tls_x509_match() collects a certificate's DNS subjectAltNames (at
 *	most 64; one with an embedded NUL is skipped, it never matches) and
 *	its subject CommonName, and asks tls_verify_cert_match() for each
 *	reference name. Used for a peer's certificate (tls_session: the
 *	verify and secure levels) and for a DANE-TA chain's leaf (tls_dane).
 */
#ifndef TERN_TLS_X509_H
#define TERN_TLS_X509_H

#include <stddef.h>

/* tls_x509_cn - CommonName of an X509 name into out, "" if none */
void tls_x509_cn(WOLFSSL_X509_NAME *name, char *out, size_t len);
/* tls_x509_match - does x match any of the reference names? 1, 0, or -ENOMEM */
int tls_x509_match(WOLFSSL_X509 *x, const char *const *refs, size_t nrefs);

#endif
