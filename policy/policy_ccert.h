/*
 * NAME
 *	policy_ccert - client-certificate fingerprints and access(5) results
 * SYNOPSIS
 *	const char *dg = policy_fingerprint_digest_default(cfg_compat_level); // "md5" / "sha256"
 *	char fp[200];
 *	policy_fingerprint_format(digest, 16, fp, sizeof(fp));  // "00:8B:02:..."
 *
 *	struct policy_verdict v;
 *	const char *list;
 *	switch (policy_access_result("REJECT no way", "client.example", "Client certificate",
 *	                             &v, &list)) { ... }
 * DESCRIPTION
 *	smtpd_tls_fingerprint_digest: Postfix's default follows
 *	compatibility_level: md5 below 3.6 (the talk's tables; also for an
 *	unset or unparsable level, whose Postfix default is 0), sha256 from 3.6
 *	on. Levels compare numerically per component ("3.10" > "3.6").
 *	policy_fingerprint_digest_valid accepts md5, sha1, sha256, sha512.
 *
 *	Fingerprints are written as Postfix prints them: upper-case hex
 *	octets separated by ':' ("D7:04:2F:..."). Tables are matched without
 *	regard to case, so lower-case entries match too.
 *
 *	policy_access_result interprets one access(5) lookup result the way
 *	Postfix's smtpd does (check_table_result), for check_ccert_access:
 *	  OK, RELAY, or all digits      -> POLICY_ACCESS_PERMIT
 *	  DUNNO, WARN [text], INFO [text] -> POLICY_ACCESS_DUNNO
 *	  REJECT [[d.d.d] text]         -> 554 (access_map_reject_code), 5.7.1
 *	  DEFER [[d.d.d] text]          -> 450 (access_map_defer_code), 4.7.1
 *	  4NN text / 5NN text           -> that code; "5NN 5.x.y text" keeps
 *	                                   the enhanced code (its class is
 *	                                   forced to the reply's), else 4.7.1/5.7.1
 *	all with text "<reply_name>: reply_class rejected: text" (text default
 *	"Access denied") -> POLICY_ACCESS_REJECT;
 *	  anything else                 -> POLICY_ACCESS_RESTRICTIONS: *list
 *	                                   points at the value, a list of
 *	                                   restriction or class names to
 *	                                   evaluate (an empty value means OK,
 *	                                   as in Postfix);
 *	  a value naming a lookup table ("type:name" inside), and actions
 *	  tern does not implement (DEFER_IF_PERMIT, DEFER_IF_REJECT, HOLD,
 *	  DISCARD, FILTER, REDIRECT, BCC, PREPEND, HANGUP)
 *	                                -> POLICY_ACCESS_ERROR, 451 4.3.5
 *	                                   "Server configuration error" (logged).
 * DIAGNOSTICS
 *	policy_fingerprint_format: length, or -ENOSPC.
 */
#ifndef TERN_POLICY_CCERT_H
#define TERN_POLICY_CCERT_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/policy_relay.h"

enum policy_access_action {
    POLICY_ACCESS_DUNNO,
    POLICY_ACCESS_PERMIT,
    POLICY_ACCESS_REJECT,
    POLICY_ACCESS_RESTRICTIONS,
    POLICY_ACCESS_ERROR,
};

/* policy_fingerprint_digest_default - "md5" below compatibility_level 3.6, else "sha256" */
const char *policy_fingerprint_digest_default(const char *compatibility_level);
/* policy_fingerprint_digest_valid - md5, sha1, sha256, sha512 (any case) */
bool policy_fingerprint_digest_valid(const char *name);
/* policy_fingerprint_format - digest octets as "AB:CD:..."; length or -ENOSPC */
int policy_fingerprint_format(const unsigned char *digest, size_t len, char *out, size_t outlen);
/* policy_access_result - classify an access(5) result; fills v for REJECT/ERROR, *list for
 * RESTRICTIONS (borrowed from value) */
enum policy_access_action policy_access_result(const char *value, const char *reply_name,
                                               const char *reply_class, struct policy_verdict *v,
                                               const char **list);

#endif
