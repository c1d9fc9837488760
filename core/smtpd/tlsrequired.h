/*
 * NAME
 *	tlsrequired - the "TLS-Required: No" header field of RFC 8689
 * SYNOPSIS
 *	#include "core/smtpd/tlsrequired.h"
 *
 *	bool tlsrequired_no(const char *msg, size_t len);
 * DESCRIPTION
 *	True when the primary header section of msg (CRLF or LF line ends)
 *	holds a TLS-Required field whose value is "No": the sender asks that
 *	the recipient domain's TLS policy (DANE, MTA-STS) be ignored for this
 *	message, which is still sent over TLS when the peer offers it (RFC 8689
 *	section 5). The name is matched without regard to case and may be
 *	followed by blanks before the colon; the value likewise, with blanks
 *	and folding around it. Any other value means nothing. The caller
 *	ignores the field when MAIL FROM carried REQUIRETLS (RFC 8689 4.1).
 *	The scan reads no further than the header section.
 * DIAGNOSTICS
 *	None.
 */
#ifndef TERN_SMTPD_TLSREQUIRED_H
#define TERN_SMTPD_TLSREQUIRED_H

#include <stdbool.h>
#include <stddef.h>

bool tlsrequired_no(const char *msg, size_t len);

#endif
