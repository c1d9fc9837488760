/*
 * NAME
 *	delivery_utf8 - does a message need SMTPUTF8 on the way out?
 * SYNOPSIS
 *	#include "core/delivery/delivery_utf8.h"
 * DESCRIPTION
 *	See the header. Called by delivery/delivery when a connection to a
 *	server that does not offer SMTPUTF8 is about to carry a message
 *	that was received with SMTPUTF8. Owns nothing.
 */
#include "core/delivery/delivery_utf8.h"

#include "core/base/header.h"

#include <string.h>

/* non_ascii - does s[0..n) hold an octet above 127? */
static bool non_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] > 127)
            return true;
    return false;
}

/* headers_non_ascii - an octet above 127 in the header section (8-bit body text is
 *	BODY=8BITMIME's business, not SMTPUTF8's) */
static bool headers_non_ascii(const char *body, size_t blen)
{
    size_t pos = 0, n;
    const char *line;
    while (header_next(body, blen, &pos, &line, &n))
        if (non_ascii(line, n))
            return true;
    return false;
}

/* delivery_utf8_needed - does anything in the envelope or the headers need UTF-8? */
bool delivery_utf8_needed(const struct queue_delivery *d, const char *body, size_t blen)
{
    if (d->sender && non_ascii(d->sender, strlen(d->sender)))
        return true;
    for (size_t i = 0; i < d->nrcpt; i++)
        if (d->rcpt[i].addr && non_ascii(d->rcpt[i].addr, strlen(d->rcpt[i].addr)))
            return true;
    return body && headers_non_ascii(body, blen);
}
