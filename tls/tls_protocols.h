/*
 * NAME
 *	tls_protocols - Postfix's TLS protocol lists: parsed to bits, applied to wolfSSL
 * SYNOPSIS
 *	#include "tls/tls_protocols.h"
 *
 *	unsigned mask;
 *	char err[256];
 *	if (tls_protocols_parse(">=TLSv1.2", &mask, err, sizeof(err)) < 0)
 *	    log_fatal("tls", "%s", err);
 * DESCRIPTION
 *	The syntax of smtp_tls_protocols and friends: a list (separators:
 *	blank, comma, colon) of "SSLv2 SSLv3 TLSv1 TLSv1.1 TLSv1.2 TLSv1.3"
 *	(case-insensitive), each possibly negated with "!", or the bounds
 *	">=TLSv1.2" / "<=TLSv1.3". With any plain name only the named
 *	protocols are enabled; otherwise all but the excluded ones. NULL or ""
 *	means all.
 *
 *	tls_protocols_apply() (tls_internal.h, for tls_ctx.c) turns the bits
 *	into wolfSSL's minimum and maximum version and the options that punch
 *	holes between them; protocols wolfSSL was built without are silently
 *	absent.
 * DIAGNOSTICS
 *	-EINVAL with a message in err: an unknown name, or a list that enables
 *	no protocol (none at all, or none this wolfSSL has).
 */
#ifndef TERN_TLS_PROTOCOLS_H
#define TERN_TLS_PROTOCOLS_H

#include <stddef.h>

/* protocol bits of tls_protocols_parse() */
enum {
    TLS_PROTO_SSLv2 = 1 << 0,
    TLS_PROTO_SSLv3 = 1 << 1,
    TLS_PROTO_TLSv1 = 1 << 2,
    TLS_PROTO_TLSv1_1 = 1 << 3,
    TLS_PROTO_TLSv1_2 = 1 << 4,
    TLS_PROTO_TLSv1_3 = 1 << 5,
    TLS_PROTO_ALL = (1 << 6) - 1,
};

/* tls_protocols_parse - Postfix protocol list to TLS_PROTO_* bits; -EINVAL with err */
int tls_protocols_parse(const char *text, unsigned *mask, char *err, size_t errlen);

#endif
