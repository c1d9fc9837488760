/*
 * NAME
 *	policy_tls_refs - the names a server certificate must match at verify and secure
 * SYNOPSIS
 *	#include "policy/policy_tls_refs.h"
 *
 *	char names[POLICY_TLS_REFS_MAX][POLICY_TLS_REF_LEN];
 *	size_t n = policy_tls_refs(&site, "mx1.example.com", "example.com", names,
 *	                           POLICY_TLS_REFS_MAX);
 * DESCRIPTION
 *	The last decision of the client TLS policy (policy_tls_site.h decides
 *	the level and the match list of a next hop): the match list of a
 *	resolved policy, Postfix's cert_match strategies and literal names,
 *	turned into the reference names for one server. "hostname" is the
 *	server's name (the MX host), "nexthop" the next-hop domain,
 *	"dot-nexthop" the next-hop domain with a leading dot (any subdomain);
 *	any other item is a name as written (cut at POLICY_TLS_REF_LEN - 1).
 *	Keywords match in any case; items are separated by blanks and commas.
 *	A name that would be empty (no server name known) or a bare "." can
 *	never match and is left out. tls/ then only checks the certificate
 *	against these names (tls_session_peer_match).
 *
 *	At fingerprint level the match list holds fingerprints, compared as
 *	they are; there are no names to compute.
 * DIAGNOSTICS
 *	The number of names written to names[0..max), at most max.
 */
#ifndef TERN_POLICY_TLS_REFS_H
#define TERN_POLICY_TLS_REFS_H

#include <stddef.h>

#include "policy/policy_tls_site.h"

#define POLICY_TLS_REFS_MAX 8
#define POLICY_TLS_REF_LEN 256

size_t policy_tls_refs(const struct policy_tls_site *r, const char *host, const char *nexthop,
                       char names[][POLICY_TLS_REF_LEN], size_t max);

#endif
