/*
 * NAME
 *	dns - asynchronous MX and address lookups (libunbound)
 * SYNOPSIS
 *	struct dns_resolver *r;
 *	dns_resolver_new(&r, dns_servers, n);     // one per worker thread
 *	int fd = dns_resolver_fd(r);              // poll it on the ring
 *	dns_lookup_mx(r, "example.com", cb, arg);
 *	... fd readable -> dns_resolver_process(r) -> callbacks run ...
 * DESCRIPTION
 *	A resolver per worker, so no locks. With dns_servers set, queries go to
 *	those servers ("127.0.0.1", "127.0.0.1:5353", "[::1]:53") as forwarders,
 *	localhost allowed; otherwise to /etc/resolv.conf's, /etc/hosts first.
 *	The MX callback receives the exchangers sorted by preference (ties in
 *	random order), each with its addresses resolved (A and AAAA), or the
 *	implicit MX (the domain itself) when there is no MX record. A null MX
 *	(RFC 7505: one MX "." with preference 0) is reported as DNS_NULL_MX.
 *	The address callback is for [host] next hops.
 *	dns_lookup_mailhost answers Postfix's reject_unknown_sender_domain
 *	question, "can mail be sent back to this domain?": DNS_OK when it has
 *	an MX record (exchangers are not resolved) or, without one, an A or
 *	AAAA record; DNS_NULL_MX; DNS_NOTFOUND for NXDOMAIN or none of them;
 *	DNS_TEMPFAIL when a failure left the answer open. A non-ASCII name is
 *	looked up as its IDNA A-label form (libidn2, UTS #46). It hands back a
 *	handle: dns_lookup_cancel() drops the lookup before its callback, which
 *	then never runs (a session that goes away while its lookup is out).
 *
 *	DNSSEC: with trust anchors (dns_resolver_trust, before the first
 *	lookup) unbound validates every answer. A result says whether the MX
 *	answer was secure (dns_result.secure; for dns_lookup_host, its address
 *	answers) and each exchanger whether its addresses were (dns_host.secure):
 *	DANE needs both (RFC 7672 2.2). A bogus answer is a temporary failure,
 *	as a validating resolver's SERVFAIL would be, with a log line saying why.
 *	TLSA and TXT records are dns_rr.h's.
 * DIAGNOSTICS
 *	status in the callback: DNS_OK, DNS_NOTFOUND (NXDOMAIN or no data: a
 *	permanent failure), DNS_NULL_MX, DNS_TEMPFAIL (SERVFAIL, timeout).
 */
#ifndef TERN_LOOP_DNS_H
#define TERN_LOOP_DNS_H

#include <stdbool.h>
#include <stddef.h>

struct dns_resolver;
struct dns_lookup;

enum dns_status { DNS_OK = 0, DNS_NOTFOUND, DNS_NULL_MX, DNS_TEMPFAIL };

struct dns_host {
    char name[256];
    int pref;
    size_t naddr;
    char addr[8][64]; /* numeric addresses, IPv6 without brackets */
    bool secure;      /* every address answer was DNSSEC-validated */
    char cname[256];  /* the name the addresses were found at, when a CNAME led there; "" if not */
};

struct dns_result {
    enum dns_status status;
    char error[128]; /* for logs: "Host not found", "Host or domain name not found. Name service
                        error ..." */
    size_t nhost;
    struct dns_host *host; /* valid during the callback */
    bool secure;           /* the MX answer (host lookup: the address answers) was validated */
};

typedef void dns_cb(void *arg, const struct dns_result *res);

int dns_resolver_new(struct dns_resolver **out, char *const *servers, size_t n);
void dns_resolver_free(struct dns_resolver *r);
int dns_resolver_fd(struct dns_resolver *r);
/* dns_resolver_trust - DNSSEC trust anchors (DS or DNSKEY records, zone file format); before any
 * lookup; 0 or -TERN_ERR_CONFIG */
int dns_resolver_trust(struct dns_resolver *r, const char *file);
struct ub_ctx;
/* dns_resolver_ub - the unbound context (dns_rr.c) */
struct ub_ctx *dns_resolver_ub(struct dns_resolver *r);
int dns_resolver_process(struct dns_resolver *r);
/* dns_lookup_mx - MX then addresses of each exchanger (or implicit MX) */
int dns_lookup_mx(struct dns_resolver *r, const char *domain, dns_cb *cb, void *arg);
/* dns_lookup_host - A/AAAA of host (one dns_host in the result) */
int dns_lookup_host(struct dns_resolver *r, const char *host, dns_cb *cb, void *arg);

/* dns_lookup_mailhost - MX, else A/AAAA exists? (only the status counts); *handle valid until the
 * callback runs or dns_lookup_cancel() */
int dns_lookup_mailhost(struct dns_resolver *r, const char *domain, dns_cb *cb, void *arg,
                        struct dns_lookup **handle);
/* dns_lookup_cancel - drop a lookup whose callback has not run: it never will */
void dns_lookup_cancel(struct dns_resolver *r, struct dns_lookup *lk);

#endif
