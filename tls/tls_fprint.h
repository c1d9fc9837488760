/*
 * NAME
 *	tls_fprint - certificate and public-key fingerprints as Postfix prints them
 * SYNOPSIS
 *	#include "tls/tls_fprint.h"
 *
 *	char fp[TLS_FPRINT_MAX];
 *	tls_fprint_der(der, len, TLS_DIGEST_SHA256, false, fp, sizeof(fp));   // "AB:CD:...:EF"
 * DESCRIPTION
 *	A certificate fingerprint is the digest of the whole DER certificate
 *	(what `openssl x509 -fingerprint -sha256` prints); a public-key
 *	fingerprint the digest of its DER SubjectPublicKeyInfo (Postfix's
 *	ccert_pubkey_fingerprint, stable across renewals with the same key).
 *	Formatted as upper-case hex pairs joined by ':', as Postfix logs them
 *	and as check_ccert_access / relay_clientcerts tables are keyed.
 * DIAGNOSTICS
 *	The formatted length, -ENOSPC (out too small), -EINVAL (not a
 *	certificate), -ENOMEM.
 */
#ifndef TERN_TLS_FPRINT_H
#define TERN_TLS_FPRINT_H

#include <stdbool.h>
#include <stddef.h>

enum tls_digest { TLS_DIGEST_MD5, TLS_DIGEST_SHA1, TLS_DIGEST_SHA256 };

#define TLS_FPRINT_MAX (32 * 3) /* sha256: 32 pairs, 31 colons, NUL */

/* tls_fprint_format - digest bytes to "AB:CD:..."; length or -ENOSPC */
int tls_fprint_format(const unsigned char *md, size_t n, char *out, size_t len);
/* tls_fprint_der - digest of a DER certificate (pubkey: of its SubjectPublicKeyInfo), formatted */
int tls_fprint_der(const unsigned char *der, size_t n, enum tls_digest d, bool pubkey, char *out,
                   size_t len);
/* tls_fprint_spki - where the DER SubjectPublicKeyInfo is inside a DER certificate; -EINVAL */
int tls_fprint_spki(const unsigned char *der, size_t n, const unsigned char **spki, size_t *slen);
/* tls_fprint_digest_parse - "md5", "sha1", "sha256" (Postfix's tls_fingerprint_digest); -EINVAL */
int tls_fprint_digest_parse(const char *name, enum tls_digest *d);

#endif
