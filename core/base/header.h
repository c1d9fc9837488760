/*
 * NAME
 *	header - walk the primary header section of a message, line by line
 * SYNOPSIS
 *	#include "core/base/header.h"
 *
 *	size_t pos = 0, n;
 *	const char *line;
 *	while (header_next(msg, len, &pos, &line, &n))
 *	        ... line[0..n) is one header line (a field or a continuation) ...
 *	size_t v = header_field(line, n, "received"); ... a Received: field if v ...
 * DESCRIPTION
 *	The header section is every line before the first empty one (RFC
 *	5322); lines end in CRLF or LF, and the line end is not part of n.
 *	header_next() returns false at that empty line or at the end of msg,
 *	and never reads past len, so a walk costs at most the header section.
 *	The returned view points into msg and lives as long as msg.
 *	header_field() tells whether a line starts the field of a lower-case
 *	name, matched without regard to case and with blanks allowed before
 *	the colon (Postfix's cleanup is as lenient): the offset of its value
 *	just after the colon, or 0.
 * DIAGNOSTICS
 *	None.
 */
#ifndef TERN_BASE_HEADER_H
#define TERN_BASE_HEADER_H

#include <stdbool.h>
#include <stddef.h>

bool header_next(const char *msg, size_t len, size_t *pos, const char **line, size_t *n);
size_t header_field(const char *line, size_t n, const char *name);

#endif
