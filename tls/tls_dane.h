/*
 * NAME
 *	tls_dane - a peer's chain against TLSA records, as RFC 7672 says for SMTP
 * SYNOPSIS
 *	#include "tls/tls_dane.h"
 *
 *	struct tls_tlsa rr[8];                      // from the DNS answer's RDATA
 *	tls_dane_parse(rdata, rdlen, &rr[0]);
 *	struct tls_der chain[] = {{leaf, n0}, {intermediate, n1}};
 *	const char *refs[] = {"mx.example.com", "example.com"};
 *	struct tls_dane_result r;
 *	tls_dane_check(rr, nrr, chain, 2, refs, 2, &r);
 *	// r.status: TLS_DANE_MATCH (r.rr, r.depth), TLS_DANE_FAIL (r.why) or
 *	// TLS_DANE_UNUSABLE (no usable record: RFC 7672 2.2, TLS without authentication)
 * DESCRIPTION
 *	A TLSA record (RFC 6698 2.1) is usage, selector, matching type and the
 *	association data. For SMTP only two usages count (RFC 7672 3.1):
 *	DANE-EE(3), the server's own certificate or key, and DANE-TA(2), a
 *	trust anchor that the server's chain must lead to. PKIX-TA(0) and
 *	PKIX-EE(1) are unusable, as are unknown selectors (other than 0 the
 *	whole certificate, 1 its SubjectPublicKeyInfo), unknown matching types
 *	(other than 0 the data itself, 1 SHA2-256, 2 SHA2-512), and a digest
 *	of the wrong length.
 *
 *	DANE-EE matches the leaf (chain[0]) alone: no name check, no validity
 *	dates, no signature (RFC 7672 3.1.1). DANE-TA matches a certificate
 *	of the chain above the leaf, which the server must send (RFC 7671
 *	5.2.2); the chain from the leaf up to it must then verify (signatures,
 *	CA flags, validity dates of everything below the anchor), and the
 *	leaf must carry one of the reference names (RFC 7672 3.2.2; the
 *	caller gives them: the TLSA base domain, the MX host name, ...),
 *	a wildcard only as a whole left-most label (tls_verify).
 *
 *	The first usable record that matches wins; the result names it, and
 *	tls_dane_describe() prints it as the maillog shows it.
 *	Bounds: chains of at most TLS_DANE_DEPTH_MAX certificates are looked at
 *	(the rest are ignored), TLSA data of at most TLS_DANE_DATA_MAX octets.
 * DIAGNOSTICS
 *	tls_dane_parse: 0, -EINVAL (shorter than 4 octets or longer than the
 *	bound). tls_dane_check: 0 with the result set, -ENOMEM.
 */
#ifndef TERN_TLS_DANE_H
#define TERN_TLS_DANE_H

#include <stdbool.h>
#include <stddef.h>

#define TLS_DANE_DEPTH_MAX 10
#define TLS_DANE_DATA_MAX 16384

enum tls_dane_usage { TLS_DANE_PKIX_TA, TLS_DANE_PKIX_EE, TLS_DANE_TA, TLS_DANE_EE };
enum tls_dane_selector { TLS_DANE_CERT, TLS_DANE_SPKI };
enum tls_dane_mtype { TLS_DANE_FULL, TLS_DANE_SHA256, TLS_DANE_SHA512 };

/* one TLSA record; data points into the RDATA given to tls_dane_parse */
struct tls_tlsa {
    unsigned usage, selector, mtype;
    const unsigned char *data;
    size_t len;
};

/* one DER certificate of a chain (leaf first) */
struct tls_der {
    const unsigned char *der;
    size_t len;
};

enum tls_dane_status { TLS_DANE_UNUSABLE, TLS_DANE_FAIL, TLS_DANE_MATCH };

struct tls_dane_result {
    enum tls_dane_status status;
    size_t rr;     /* MATCH: index of the record that matched */
    size_t depth;  /* MATCH: the chain position it matched (0: the leaf) */
    char why[256]; /* FAIL: what did not match */
};

/* tls_dane_parse - one TLSA RDATA into rr (pointing into rdata); 0 or -EINVAL */
int tls_dane_parse(const unsigned char *rdata, size_t n, struct tls_tlsa *rr);
/* tls_dane_usable - may an SMTP client use this record (RFC 7672 3.1)? */
bool tls_dane_usable(const struct tls_tlsa *rr);
/* tls_dane_check - match chain[0..nchain) against the records; 0 (see r) or -ENOMEM */
int tls_dane_check(const struct tls_tlsa *rrs, size_t nrr, const struct tls_der *chain,
                   size_t nchain, const char *const *refs, size_t nrefs, struct tls_dane_result *r);
/* tls_dane_digest - 16 hex digits naming a set of records: SHA-256 over the records' own
 * SHA-256s, sorted, so the same set in any order (DNS answers come in any order) gives the same
 * digest and any other set another; 0 or -ENOMEM */
int tls_dane_digest(const struct tls_tlsa *rrs, size_t n, char out[17]);
/* tls_dane_describe - "3 1 1 d1f661baf715..." (data shortened to 12 hex digits); length */
int tls_dane_describe(const struct tls_tlsa *rr, char *out, size_t len);

#endif
