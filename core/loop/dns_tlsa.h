/*
 * NAME
 *	dns_tlsa - asynchronous TLSA lookups (RFC 6698, RFC 7672 2.2) on a dns_resolver
 * SYNOPSIS
 *	#include "core/loop/dns_tlsa.h"
 *
 *	struct dns_tlsa *t;
 *	dns_tlsa_lookup(r, "mx.example.com", 25, cb, arg, &t);   // _25._tcp.mx.example.com
 *	... dns_resolver_process(r) -> cb(arg, &res) ...
 *	dns_tlsa_cancel(r, t);           // instead, before the callback ran
 * DESCRIPTION
 *	One query, its answer handed to the callback as unbound gave it: the
 *	RDATAs (res.rdata[i], res.len[i], valid during the callback, for
 *	tls_dane_parse) and whether the answer was DNSSEC-validated. Whether
 *	records that are not secure count is the caller's decision (RFC 7672:
 *	they do not).
 *
 *	Bounds: at most DNS_TLSA_MAX records are handed over (a larger set is
 *	cut, with a log line).
 * DIAGNOSTICS
 *	dns_tlsa_lookup: 0, -EINVAL (name too long), -ENOMEM, -TERN_ERR_DNS.
 *	Callback status: DNS_OK (records), DNS_NOTFOUND (NXDOMAIN or no TLSA
 *	records), DNS_TEMPFAIL (SERVFAIL, timeout, or a bogus answer).
 */
#ifndef TERN_LOOP_DNS_TLSA_H
#define TERN_LOOP_DNS_TLSA_H

#include <stdbool.h>
#include <stddef.h>

#include "core/loop/dns.h"

#define DNS_TLSA_MAX 32

struct dns_tlsa;

struct dns_tlsa_result {
    enum dns_status status;
    bool secure; /* the answer (records or their absence) was DNSSEC-validated */
    char error[160];
    size_t n;
    const unsigned char *rdata[DNS_TLSA_MAX];
    size_t len[DNS_TLSA_MAX];
};

typedef void dns_tlsa_cb(void *arg, const struct dns_tlsa_result *res);

/* dns_tlsa_lookup - TLSA records of _port._tcp.host; *handle valid until the callback runs */
int dns_tlsa_lookup(struct dns_resolver *r, const char *host, unsigned port, dns_tlsa_cb *cb,
                    void *arg, struct dns_tlsa **handle);
/* dns_tlsa_cancel - drop a lookup whose callback has not run: it never will */
void dns_tlsa_cancel(struct dns_resolver *r, struct dns_tlsa *t);

#endif
