/*
 * NAME
 *	tls_cipher - Postfix's cipher grades and exclusions as explicit wolfSSL suite lists
 * SYNOPSIS
 *	#include "tls/tls_cipher.h"
 *
 *	unsigned char cs[TLS_CIPHER_SUITES_MAX];
 *	char err[256];
 *	int n = tls_cipher_suites(cs, sizeof(cs), "medium", "aNULL, CAMELLIA",
 *	                          TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3, err, sizeof(err));
 *	if (n < 0) ... err names the grade or the exclusion
 *	wolfSSL_CTX_set_cipher_list_bytes(w, cs, 2 * n);
 * DESCRIPTION
 *	Debian's wolfSSL compiles in suites that OpenSSL 3 dropped: RC4
 *	(RFC 7465 forbids it), 3DES (SWEET32), NULL encryption (also TLS 1.3's
 *	integrity-only suites), anonymous DH, PSK, and ChaCha20's draft code
 *	points. Its OpenSSL-style list parser ignores "!RC4" and maps "HIGH" or
 *	"MEDIUM" to lists that keep them. So tern never hands wolfSSL a
 *	keyword: the list is built here from one fixed table of acceptable
 *	suites, in preference order, and the forbidden classes are not in the
 *	table at all, whatever the grade or exclusion. It goes to wolfSSL as
 *	code points: wolfSSL 5.5's wolfSSL_set_cipher_list() on a session
 *	merges a list that names TLS 1.3 and older suites with the context's
 *	(and appends TLS13-AES128-CCM-8), the _bytes variant replaces it.
 *
 *	The table holds forward-secret suites only (ECDHE or DHE, RSA or ECDSA
 *	certificates; TLS 1.3's AES-GCM, ChaCha20-Poly1305, AES-CCM), each
 *	tagged AEAD or CBC. Postfix's grades map to it as follows:
 *	  high, medium  the AEAD suites (the set RFC 9325 recommends). Postfix
 *	                on OpenSSL 3 also ends up with "medium" equal to
 *	                "high": the suites only MEDIUM had (RC4, 3DES, SEED,
 *	                IDEA) are gone there too. When the protocol range
 *	                reaches below TLS 1.2, which has no AEAD suite, the CBC
 *	                suites with SHA-1 join, so that widening the protocols
 *	                (">=TLSv1") has an effect.
 *	  low, export   the AEAD suites, then every CBC suite (AES, Camellia;
 *	                HMAC-SHA1/256/384) at any protocol: for peers whose
 *	                TLS 1.2 has no AEAD. Nothing weaker exists in tern.
 *	  null          refused: it means no encryption at all.
 *	NULL or "" means medium. Names are case-insensitive.
 *
 *	Anonymous suites are never offered, also not by the client at the
 *	opportunistic levels where Postfix's own lists allow aNULL: Postfix on
 *	OpenSSL 3 does not negotiate them either (security level 1 and up
 *	disables them), a certificate is what tern's client logs and caches a
 *	session's trust by, and scanners and RFC 9325 count them as weak.
 *
 *	exclude is Postfix's *_exclude_ciphers syntax: words separated by
 *	blanks, commas or colons, each a suite name (wolfSSL's, OpenSSL's or
 *	the IANA name) or OpenSSL cipher properties joined by "+", excluding
 *	the suites that have them all ("kEDH+aRSA"). Properties: kECDHE ECDHE
 *	EECDH ECDH, kDHE DHE EDH DH, aRSA, aECDSA ECDSA, AES AES128 AES256
 *	AESGCM AESCCM CHACHA20 CAMELLIA CAMELLIA128 CAMELLIA256, SHA1 SHA
 *	SHA256 SHA384, TLSv1.2 TLSv1 SSLv3, HIGH ALL; and the ones no table
 *	suite has (aNULL eNULL NULL RC4 DES 3DES MD5 EXPORT EXP LOW MEDIUM
 *	ADH AECDH PSK SRP IDEA SEED kRSA RSA DSS aDSS ...), which exclude
 *	nothing. As in OpenSSL, properties leave TLS 1.3 suites alone (a TLS
 *	1.3 suite is excluded by its name only). A word with "-" or "_" that
 *	names no suite is accepted and excludes nothing (Postfix lists often
 *	name suites tern never has); any other unknown word is an error.
 * DIAGNOSTICS
 *	tls_cipher_suites(), tls_cipher_list(): the number of suites (> 0), or
 *	-EINVAL with err naming the grade, the word, or that nothing usable is
 *	left for the enabled protocols (or none for an enabled TLS 1.3);
 *	-ENOSPC when out is too small.
 */
#ifndef TERN_TLS_CIPHER_H
#define TERN_TLS_CIPHER_H

#include <stddef.h>

/* room for the whole table: as code points, as a ":"-separated list of names */
#define TLS_CIPHER_SUITES_MAX (2 * 64)
#define TLS_CIPHER_LIST_MAX 2048

/* tls_cipher_suites - the IANA code points (2 octets each, best first) for grade minus exclude
 * at the TLS_PROTO_* bits in protocols: what wolfSSL_*set_cipher_list_bytes() takes. The
 * number of suites, or -errno with err */
int tls_cipher_suites(unsigned char *out, size_t len, const char *grade, const char *exclude,
                      unsigned protocols, char *err, size_t errlen);
/* tls_cipher_list - the same suites as wolfSSL's names joined by ":" (messages, tests) */
int tls_cipher_list(char *out, size_t len, const char *grade, const char *exclude,
                    unsigned protocols, char *err, size_t errlen);

/* tls_cipher_check - is (grade, exclude) valid, and does it leave suites for the protocol bits
 * (as tls_cipher_suites)? 0 or -EINVAL with err; for parameters no context uses yet */
int tls_cipher_check(const char *grade, const char *exclude, unsigned protocols, char *err,
                     size_t errlen);

#endif
