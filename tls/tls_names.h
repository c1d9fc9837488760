/*
 * NAME
 *	tls_names - what wolfSSL negotiated, named as OpenSSL and Postfix's log lines name it
 * SYNOPSIS
 *	const char *c = tls_names_cipher("TLS13-AES256-GCM-SHA384"); // "TLS_AES_256_GCM_SHA384"
 *	tls_names_kex("SECP256R1", kex, sizeof(kex));                  // "ECDHE (prime256v1)"
 *	tls_names_sig(cert, sig, sizeof(sig));                         // "RSA-PSS (2048 bits)"
 *	tls_names_digest(nid, dg, sizeof(dg));                         // "SHA256"
 * DESCRIPTION
 *	Postfix 3.7's "TLS connection established" line names the cipher as
 *	OpenSSL does, the key exchange, and each side's signing key and
 *	digest. wolfSSL names TLS 1.3 suites and groups its own way; these map
 *	them. tls_names_cipher returns a static string or its argument
 *	("unknown" for NULL); the others write "" when they do not know the
 *	name (into out, at most len bytes).
 */
#ifndef TERN_TLS_NAMES_H
#define TERN_TLS_NAMES_H

#include <stddef.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

const char *tls_names_cipher(const char *name);
void tls_names_kex(const char *group, char *out, size_t len);
void tls_names_sig(WOLFSSL_X509 *x, char *out, size_t len);
void tls_names_digest(int nid, char *out, size_t len);

#endif
