/*
 * NAME
 *	policy_hostname - syntax of host and domain names (HELO, address domains)
 * SYNOPSIS
 *	#include "policy/policy_hostname.h"
 *
 *	bool policy_hostname_valid(const char *name, bool utf8);
 *	bool policy_hostname_fqdn(const char *name, bool utf8);
 *	bool policy_hostname_addr_valid(const char *text);
 * DESCRIPTION
 *	The checks behind reject_invalid_helo_hostname and the reject_non_fqdn_*
 *	restrictions, as Postfix's valid_hostname()/valid_hostaddr() decide:
 *	  policy_hostname_valid: labels of letters, digits, '-' and '_' (no
 *	    leading or trailing '-'), at most 63 octets each, 255 in all, not
 *	    all-numeric (that would be an address); one trailing dot is
 *	    dropped first (but not two). utf8 also allows octets >= 0x80
 *	    (SMTPUTF8 sessions).
 *	  policy_hostname_fqdn: valid and contains a dot.
 *	  policy_hostname_addr_valid: an IPv4 or IPv6 address, bare or in brackets
 *	    ("[192.0.2.1]", "[IPv6:2001:db8::1]").
 *	Pure functions, no allocation.
 */
#ifndef TERN_POLICY_HOSTNAME_H
#define TERN_POLICY_HOSTNAME_H

#include <stdbool.h>

bool policy_hostname_valid(const char *name, bool utf8);
bool policy_hostname_fqdn(const char *name, bool utf8);
bool policy_hostname_addr_valid(const char *text);

#endif
