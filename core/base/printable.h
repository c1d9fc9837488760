/*
 * NAME
 *	printable - make peer-supplied text safe for a log line or a header
 * SYNOPSIS
 *	#include "core/base/printable.h"
 *
 *	size_t n = printable_fix(text, PRINTABLE_UTF8);       // in place, returns the new length
 *	printable_copy(dst, sizeof(dst), helo, PRINTABLE_TOKEN);
 * DESCRIPTION
 *	What a client or a remote server sends (EHLO names, addresses, SASL
 *	usernames, reply texts) reaches the maillog and the Received: header.
 *	Control characters there let a peer forge log lines or header fields
 *	(ESC sequences that recolour a terminal, VT/FF, BEL), and Unicode
 *	format characters (C1 controls, U+202E RIGHT-TO-LEFT OVERRIDE and the
 *	other bidi and invisible characters) make text read differently from
 *	what it is. Like Postfix's printable(), every such character is
 *	replaced by '?': the text stays readable and greppable, nothing is
 *	dropped silently, and the replacement never makes a line longer.
 *
 *	Without PRINTABLE_UTF8 every octet outside printable ASCII (0x20-0x7e)
 *	becomes '?'. With it, well-formed UTF-8 is kept (SMTPUTF8 addresses
 *	log as sent) except for the code points above; each octet of an
 *	ill-formed sequence becomes one '?'. PRINTABLE_TOKEN also replaces
 *	space and ( ) < > ; " \ so that the text stays one token in a
 *	structured header: "EHLO evil) by trusted.example (Postfix) with ..."
 *	cannot forge a hop in the Received: header. PRINTABLE_QUOTED replaces
 *	only " and \, for text inside a quoted string (certificate names).
 *
 *	Pure functions, no allocation, safe from any thread.
 */
#ifndef TERN_BASE_PRINTABLE_H
#define TERN_BASE_PRINTABLE_H

#include <stdbool.h>
#include <stddef.h>

enum {
    PRINTABLE_ASCII = 0,      /* printable ASCII only */
    PRINTABLE_UTF8 = 1 << 0,  /* keep well-formed UTF-8 that is not a control or format character */
    PRINTABLE_TOKEN = 1 << 1, /* one header token: no space, ( ) < > ; " \ */
    PRINTABLE_QUOTED = 1 << 2, /* inside a quoted string: no " \ */
};

/* printable_fix - replace unsafe characters in the string s in place; returns its new length */
size_t printable_fix(char *s, unsigned flags);
/* printable_copy - copy src (NULL: "") into dst[0..len) made safe, truncated on a character
 * boundary; returns the length written */
size_t printable_copy(char *dst, size_t len, const char *src, unsigned flags);
/* printable_ok - would printable_fix() leave s unchanged? */
bool printable_ok(const char *s, unsigned flags);

#endif
