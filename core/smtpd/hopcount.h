/*
 * NAME
 *	hopcount - count the Received: headers of a message (hopcount_limit)
 * SYNOPSIS
 *	#include "core/smtpd/hopcount.h"
 *
 *	size_t hopcount_received(const char *msg, size_t len, size_t stop);
 * DESCRIPTION
 *	The number of "Received:" header fields in the primary header section
 *	of msg (CRLF or LF line ends): the lines before the first empty line,
 *	as Postfix's cleanup counts them for hopcount_limit. Continuation
 *	lines are not fields. The name is matched without regard to case and
 *	may be followed by blanks before the colon. The scan reads no further
 *	than the header section and returns as soon as the count reaches stop
 *	(0: no early stop), so its cost is bounded by the header section.
 * DIAGNOSTICS
 *	None: a message without header section has no Received: field.
 */
#ifndef TERN_SMTPD_HOPCOUNT_H
#define TERN_SMTPD_HOPCOUNT_H

#include <stddef.h>

size_t hopcount_received(const char *msg, size_t len, size_t stop);

#endif
