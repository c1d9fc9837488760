/*
 * NAME
 *	delivery_dane - DANE for outbound delivery (RFC 7672): TLSA state of an MX host, the level
 *	an attempt gets from it, and the check after the handshake (private to core/delivery)
 * SYNOPSIS
 *	#include "core/delivery/delivery_dane.h"
 *
 *	struct delivery_dane *t;
 *	delivery_dane_from_dns(&t, &tlsa_result);       // the TLSA answer of one MX host
 *	enum tls_level lvl;
 *	char why[200];
 *	if (delivery_dane_level(TLS_LEVEL_DANE, addr_secure, t, &lvl, why, sizeof(why)) < 0)
 *	    ... defer this host: why ...
 *	... handshake at lvl ...
 *	delivery_dane_check(t, ts, refs, nrefs, &st, reason, sizeof(reason));  // lvl == DANE
 *	delivery_dane_free(t);
 * DESCRIPTION
 *	The dane and dane-only levels become, per connection attempt, what
 *	DNSSEC says about that MX host (RFC 7672 2.2):
 *
 *	  MX or address records  TLSA answer              dane       dane-only
 *	  not validated          (not looked up)          may        defer
 *	  validated              none kept (t NULL)       defer      defer
 *	  validated              lookup failed or bogus   defer      defer
 *	  validated              not validated            may        defer
 *	  validated              none (validated)         may        defer
 *	  validated              none usable              encrypt    defer
 *	  validated              usable records           dane       dane
 *
 *	At dane the server must present a chain that one usable record
 *	matches (tls_dane: DANE-EE on the leaf, DANE-TA with the leaf's names
 *	checked against refs); the CAs play no part. The records are kept
 *	with the attempt (delivery_dane_dup), so that a later lookup of the
 *	destination never changes what a handshake is checked against.
 *
 *	Bounds: DNS_RR_MAX records per host (dns_rr cuts the rest).
 * DIAGNOSTICS
 *	delivery_dane_from_dns, delivery_dane_dup: 0 or -ENOMEM.
 *	delivery_dane_level: 0 with *out, or -EAGAIN with why (defer).
 *	delivery_dane_check: 0 (st->matched, st->match names the record), or
 *	-EACCES with reason, as delivery_tls_check.
 */
#ifndef TERN_DELIVERY_DELIVERY_DANE_H
#define TERN_DELIVERY_DELIVERY_DANE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config/tlsconf.h"
#include "core/delivery/delivery_tls.h"
#include "core/loop/dns_rr.h"
#include "tls/tls_dane.h"

enum delivery_dane_state {
    DELIVERY_DANE_FAIL,     /* lookup failed or bogus */
    DELIVERY_DANE_INSECURE, /* an answer DNSSEC did not validate */
    DELIVERY_DANE_NONE,     /* validated: no TLSA records */
    DELIVERY_DANE_RECORDS,  /* validated records (usable or not) */
};

struct delivery_dane {
    enum delivery_dane_state state;
    char base[256];  /* the TLSA base domain: where the records were looked up (RFC 7672 2.2.2) */
    char error[160]; /* FAIL: the resolver's text */
    size_t n;
    struct tls_tlsa rr[DNS_RR_MAX]; /* pointing into mem */
    unsigned char *mem;
    size_t memlen;
};

/* delivery_dane_from_dns - the TLSA answer of one MX host, looked up at base, copied; 0 or
 * -ENOMEM */
int delivery_dane_from_dns(struct delivery_dane **out, const struct dns_rr_result *res,
                           const char *base);
/* delivery_dane_dup - a copy owned by one attempt; 0 or -ENOMEM */
int delivery_dane_dup(struct delivery_dane **out, const struct delivery_dane *t);
void delivery_dane_free(struct delivery_dane *t); /* NULL is fine */
/* delivery_dane_level - the level an attempt at dane or dane-only gets (table above); t NULL:
 * no answer kept; 0, or -EAGAIN with why */
int delivery_dane_level(enum tls_level level, bool addr_secure, const struct delivery_dane *t,
                        enum tls_level *out, char *why, size_t len);
/* delivery_dane_digest - the records' digest (tls_dane_digest), for the session cache key; 0 or
 * -ENOMEM */
int delivery_dane_digest(const struct delivery_dane *t, char out[17]);
/* delivery_dane_check - the handshake's chain against the usable records; 0 or -EACCES */
int delivery_dane_check(const struct delivery_dane *t, struct tls_session *s,
                        const char *const *refs, size_t nrefs, struct delivery_tls_status *st,
                        char *reason, size_t len);

#endif
