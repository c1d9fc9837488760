/*
 * NAME
 *	hopcount - count the Received: headers of a message (hopcount_limit)
 * SYNOPSIS
 *	#include "core/smtpd/hopcount.h"
 * DESCRIPTION
 *	Used by smtpd/smtpd at the end of DATA: a message whose Received:
 *	count (tern's own included) reaches hopcount_limit is refused with
 *	"554 5.4.6 Error: too many hops" (Postfix's text; X.4.6 is RFC 3463's
 *	"routing loop detected", where Postfix's smtpd says 5.4.0), which stops two relays
 *	that point at each other from passing a message around until it is
 *	too big. Owns nothing; reads the caller's buffer and never past len.
 */
#include "core/smtpd/hopcount.h"

#include "core/base/header.h"

/* hopcount_received - Received: fields in the header section, at most up to stop */
size_t hopcount_received(const char *msg, size_t len, size_t stop)
{
    size_t count = 0, pos = 0, n;
    const char *line;
    while (header_next(msg, len, &pos, &line, &n))
        if (header_field(line, n, "received") && ++count == stop)
            break;
    return count;
}
