/*
 * NAME
 *	smtpd_path - the path argument of MAIL FROM: and RCPT TO:
 * SYNOPSIS
 *	#include "core/smtpd/smtpd_path.h"
 *
 *	int smtpd_path(char *arg, struct policy_addr *a, char **rest);
 *	bool smtpd_path_8bit(const char *p);
 * DESCRIPTION
 *	smtpd_path isolates the path at the start of arg (after blanks): a
 *	"<...>" path, whose end is the first '>' outside a quoted string, or,
 *	as Postfix without strict_rfc821_envelopes, a bare address up to the
 *	next blank (parsed leniently). It parses it into *a (policy_addr.h)
 *	and points *rest just past it, at the ESMTP parameters. arg is
 *	borrowed and left as it was.
 *
 *	smtpd_path_8bit says whether a string has an octet outside ASCII
 *	(such an address needs SMTPUTF8).
 * DIAGNOSTICS
 *	smtpd_path: 0, -EINVAL (no path, unterminated, or something other than
 *	a blank after it) or policy_addr_parse's -EINVAL/-E2BIG.
 */
#ifndef TERN_SMTPD_PATH_H
#define TERN_SMTPD_PATH_H

#include <stdbool.h>

#include "policy/policy_addr.h"

int smtpd_path(char *arg, struct policy_addr *a, char **rest);
bool smtpd_path_8bit(const char *p);

#endif
