/*
 * NAME
 *	base64 - RFC 4648 base64 for SMTP AUTH exchanges
 * SYNOPSIS
 *	base64_encode(&b, data, len);          // appends, no line breaks
 *	int n = base64_decode(text, out, cap); // strict
 * DESCRIPTION
 *	AUTH (RFC 4954) carries SASL data as one line of base64 without line
 *	breaks. Decoding is strict: only the base64 alphabet, padding only at
 *	the end and only as much as the length needs, length a multiple of 4.
 *	Anything else is a client error (501), never silently repaired.
 * DIAGNOSTICS
 *	base64_encode: 0 or -ENOMEM. base64_decode: the decoded length, -EINVAL
 *	for malformed input, -ENOSPC when out is too small (cap >= 3 * len / 4
 *	always suffices).
 */
#ifndef TERN_BASE_BASE64_H
#define TERN_BASE_BASE64_H

#include <stddef.h>

#include "core/base/buf.h"

int base64_encode(struct buf *out, const void *data, size_t len);
int base64_decode(const char *text, size_t len, unsigned char *out, size_t cap);

#endif
