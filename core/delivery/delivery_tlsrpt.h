/*
 * NAME
 *	delivery_tlsrpt - TLS-RPT (RFC 8460): each session's result under a DANE or MTA-STS policy
 * SYNOPSIS
 *	#include "core/delivery/delivery_tlsrpt.h"
 *	delivery_tlsrpt_note(cache, "sts", "example.com", policy, NULL, mx, ip);  // a success
 *	delivery_tlsrpt_note(cache, "tlsa", "example.com", NULL, "tlsa-invalid", mx, ip);
 *	delivery_tlsrpt_key_parse(key, day, type, domain);  // a record read back
 *	delivery_tlsrpt_parse(value, &rec);
 * DESCRIPTION
 *	Results are counted per UTC day, policy type and policy domain in the
 *	client TLS cache (kind "tlsrpt", key "DAY/TYPE/DOMAIN", kept 8 days):
 *	the successes, the failures, and per distinct (result type, MX host,
 *	address) a failure count, at most DELIVERY_TLSRPT_DETAILS of them
 *	(more failures are counted in the total only). For sts the policy's
 *	lines and mx patterns are stored with the first result of the day.
 *	tern's daemon/tlsrpt.c makes the reports of them.
 *	The value is text, one item per line:
 *	  ok N | fail N | p POLICY-LINE | m MX-PATTERN | f COUNT TYPE MX IP
 *	(MX and IP "-" when not known). delivery_tlsrpt_key_parse() and
 *	delivery_tlsrpt_parse() read a record back (tern's daemon/tlsrpt.c
 *	and the read-modify-write here): this module alone knows the format.
 *	A domain's results are noted on the worker that owns the domain's
 *	destination, and the cache's get sees its own queued puts, so the
 *	read-modify-write loses nothing.
 *	Cost: once per connection under a DANE or MTA-STS policy, a get (the
 *	write queue, else an LMDB read) and a queued put: 1.1-1.3 us a note,
 *	measured as 100,000 notes on one key in a loop (release build, this
 *	machine, 2026-12-05), next to the milliseconds of the connection's TLS
 *	handshake. At that loop's pace the cache's writer fell behind and its
 *	bounded queue dropped 570 puts (logged); a connection's pace is
 *	thousands of times slower.
 * DIAGNOSTICS
 *	None: a result that cannot be stored (no cache, out of memory) is
 *	not counted.
 */
#ifndef TERN_DELIVERY_DELIVERY_TLSRPT_H
#define TERN_DELIVERY_DELIVERY_TLSRPT_H

#include <stddef.h>
#include <time.h>

#include "policy/policy_tlsrpt.h"

#define DELIVERY_TLSRPT_DETAILS 32
#define DELIVERY_TLSRPT_KEEP_DAYS 8
#define DELIVERY_TLSRPT_LINES_MAX 64 /* p lines, and m lines, read of a record */
#define DELIVERY_TLSRPT_DAY_LEN 16   /* a key's parts, their NUL included */
#define DELIVERY_TLSRPT_TYPE_LEN 16
#define DELIVERY_TLSRPT_DOMAIN_LEN 256

struct tls_cache;
struct policy_mtasts;

/* a record's value read back: views into the text given to delivery_tlsrpt_parse(), valid while
 * it is */
struct delivery_tlsrpt_record {
    unsigned long ok, failed;
    const char *policy[DELIVERY_TLSRPT_LINES_MAX]; /* sts: the policy, one line each */
    size_t npolicy;
    const char *mx[DELIVERY_TLSRPT_LINES_MAX]; /* sts: its mx patterns */
    size_t nmx;
    struct policy_tlsrpt_failure fail[DELIVERY_TLSRPT_DETAILS]; /* mx, ip "" when not known */
    size_t nfail;
};

/* delivery_tlsrpt_note - count one session (result NULL: success) */
void delivery_tlsrpt_note(struct tls_cache *tc, const char *type, const char *domain,
                          const struct policy_mtasts *sts, const char *result, const char *mx,
                          const char *ip);
/* delivery_tlsrpt_key - "DAY/TYPE/DOMAIN" for the day of t into out; 0 or -ENAMETOOLONG */
int delivery_tlsrpt_key(time_t t, const char *type, const char *domain, char *out, size_t len);
/* delivery_tlsrpt_key_parse - the day, type and domain of a key (a string); 0 or -EINVAL */
int delivery_tlsrpt_key_parse(const char *key, char day[DELIVERY_TLSRPT_DAY_LEN],
                              char type[DELIVERY_TLSRPT_TYPE_LEN],
                              char domain[DELIVERY_TLSRPT_DOMAIN_LEN]);
/* delivery_tlsrpt_parse - a record's value (a string, cut into lines in place; NULL: none) into
 * rec; lines it does not know, and lines beyond the bounds, are passed over */
void delivery_tlsrpt_parse(char *val, struct delivery_tlsrpt_record *rec);

#endif
