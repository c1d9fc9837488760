/*
 * NAME
 *	tls_verify - match a certificate's names against the names we expect
 * SYNOPSIS
 *	#include "tls/tls_verify.h"
 *
 *	bool tls_verify_name_match(const char *cert_name, const char *ref);
 *	bool tls_verify_cert_match(const char *const *dns_sans, size_t nsans,
 *	                           const char *cn, const char *ref);
 * DESCRIPTION
 *	RFC 6125 host name checks as Postfix does them (smtp_tls_verify_cert_match).
 *	Pure functions: no wolfSSL, no I/O; tls_session feeds them the names of
 *	a peer certificate.
 *
 *	tls_verify_name_match() compares one certificate name with one
 *	reference name, case-insensitively, ignoring one trailing dot on
 *	either. A wildcard is honoured only as the whole left-most label
 *	("*.example.com") and stands for exactly one non-empty label: it
 *	matches "a.example.com", not "example.com" nor "a.b.example.com";
 *	"f*o.example.com" and "*.com"-like names with a wildcard elsewhere never
 *	match. A reference that starts with "." (Postfix's "dot-nexthop")
 *	matches any certificate name that is a proper subdomain of it.
 *
 *	tls_verify_cert_match() applies that to a certificate: its DNS
 *	subjectAltNames when it has any, its subject CommonName only when it has
 *	none (RFC 6125 6.4.4).
 * DIAGNOSTICS
 *	true on a match; NULL or empty arguments never match.
 */
#ifndef TERN_TLS_VERIFY_H
#define TERN_TLS_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

bool tls_verify_name_match(const char *cert_name, const char *ref);
bool tls_verify_cert_match(const char *const *dns_sans, size_t nsans, const char *cn,
                           const char *ref);

#endif
