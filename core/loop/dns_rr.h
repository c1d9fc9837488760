/*
 * NAME
 *	dns_rr - asynchronous lookups of one record type (TLSA, TXT, A, AAAA) on a dns_resolver
 * SYNOPSIS
 *	#include "core/loop/dns_rr.h"
 *	struct dns_rr *q;
 *	char name[DNS_RR_NAME_MAX];
 *	dns_rr_tlsa_name("mx.example.com", 25, name, sizeof(name)); // _25._tcp.mx.example.com
 *	dns_rr_lookup(r, name, DNS_RR_TLSA, cb, arg, &q);
 *	... dns_resolver_process(r) -> cb(arg, &res) ...
 *	dns_rr_cancel(r, q);           // instead, before the callback ran
 * DESCRIPTION
 *	One query, its answer handed to the callback as unbound gave it: the
 *	RDATAs (res.rdata[i], res.len[i], valid during the callback, for
 *	tls_dane_parse or dns_rr_txt) and whether the answer was
 *	DNSSEC-validated. Whether records that are not secure count is the
 *	caller's decision (RFC 7672: TLSA records do not).
 *	dns_rr_txt() joins the character-strings of one TXT RDATA (RFC 1035
 *	3.3.14: each a length octet and that many octets) into text.
 *	Bounds: at most DNS_RR_MAX records are handed over (a larger set is
 *	cut, with a log line).
 * DIAGNOSTICS
 *	dns_rr_lookup: 0, -EINVAL (name too long), -ENOMEM, -TERN_ERR_DNS.
 *	dns_rr_tlsa_name: 0 or -EINVAL. dns_rr_txt: the text's length, or
 *	-EINVAL for a malformed RDATA or one longer than the output.
 *	Callback status: DNS_OK (records), DNS_NOTFOUND (NXDOMAIN or no
 *	records of the type), DNS_TEMPFAIL (SERVFAIL, timeout, or a bogus
 *	answer).
 */
#ifndef TERN_LOOP_DNS_RR_H
#define TERN_LOOP_DNS_RR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/loop/dns.h"

#define DNS_RR_MAX 32
#define DNS_RR_NAME_MAX 280

enum dns_rr_type { DNS_RR_A = 1, DNS_RR_TXT = 16, DNS_RR_AAAA = 28, DNS_RR_TLSA = 52 };

struct dns_rr;

struct dns_rr_result {
    enum dns_status status;
    bool secure; /* the answer (records or their absence) was DNSSEC-validated */
    char error[360];
    size_t n;
    const unsigned char *rdata[DNS_RR_MAX];
    size_t len[DNS_RR_MAX];
};

typedef void dns_rr_cb(void *arg, const struct dns_rr_result *res);

/* dns_rr_lookup - the records of type at name; *handle valid until the callback runs */
int dns_rr_lookup(struct dns_resolver *r, const char *name, enum dns_rr_type type, dns_rr_cb *cb,
                  void *arg, struct dns_rr **handle);
/* dns_rr_cancel - drop a lookup whose callback has not run: it never will */
void dns_rr_cancel(struct dns_resolver *r, struct dns_rr *q);
/* dns_rr_tlsa_name - "_port._tcp.host" (RFC 6698 3), host without trailing dots */
int dns_rr_tlsa_name(const char *host, unsigned port, char *out, size_t len);
/* dns_rr_txt - the text of one TXT RDATA into out (NUL-terminated); its length or -EINVAL */
long dns_rr_txt(const unsigned char *rdata, size_t len, char *out, size_t outlen);

#endif
