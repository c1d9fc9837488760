/*
 * NAME
 *	esmtp - the ESMTP parameters of MAIL FROM and RCPT TO (RFC 3461, RFC 4954)
 * SYNOPSIS
 *	char *key, *val, *rest = params;                   // modified in place
 *	while ((key = esmtp_next_param(&rest, &val)) != NULL) ...
 *	esmtp_xtext_ok("ENV+2D1");                         // ENVID=, AUTH=
 *	esmtp_orcpt_ok("rfc822;user@example.com");          // ORCPT=
 *	esmtp_notify_parse("SUCCESS,FAILURE", &bits);       // NOTIFY=
 * DESCRIPTION
 *	The syntax checks the SMTP server applies to what a client puts after
 *	the path. They are a module of their own so that the fuzz target
 *	tests/fuzz/fuzz_esmtp.c reaches them without a session; smtpd/smtpd.c
 *	decides what a bad or repeated parameter is answered with.
 *
 *	esmtp_next_param() splits "KEY[=VALUE]" words separated by blanks; it
 *	writes NULs into the text (the caller's copy of the command line).
 *	xtext (RFC 3461 4): octets 33..126 except '+' and '=', and "+XX" with
 *	two upper-case hex digits. ORCPT: addr-type (letters, digits, '-')
 *	";" a non-empty xtext, ESMTP_ORCPT_MAX octets at most. NOTIFY: NEVER
 *	alone, or a comma list of SUCCESS, FAILURE, DELAY (any case).
 * DIAGNOSTICS
 *	esmtp_notify_parse: 0 with *out set to DSN_NOTIFY_* bits, or -EINVAL.
 */
#ifndef TERN_SMTPD_ESMTP_H
#define TERN_SMTPD_ESMTP_H

#include <stdbool.h>

#define ESMTP_ENVID_MAX 100 /* RFC 3461 4.4 */
#define ESMTP_ORCPT_MAX 500 /* RFC 3461 4.2 */

/* esmtp_next_param - split the next "KEY[=VALUE]" off *pp; NULL at the end (*value NULL: no
 * '=') */
char *esmtp_next_param(char **pp, char **value);
/* esmtp_xtext_ok - is v (NUL-terminated) valid xtext? */
bool esmtp_xtext_ok(const char *v);
/* esmtp_orcpt_ok - is v a valid ORCPT value: addr-type ";" xtext? */
bool esmtp_orcpt_ok(const char *v);
/* esmtp_notify_parse - NOTIFY= value to DSN_NOTIFY_* bits */
int esmtp_notify_parse(const char *v, unsigned *out);

#endif
