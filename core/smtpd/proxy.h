/*
 * NAME
 *	proxy - the PROXY protocol header (HAProxy's v1 text and v2 binary)
 * SYNOPSIS
 *	#include "core/smtpd/proxy.h"
 *
 *	struct proxy_header h;
 *	const char *why;
 *	long n = proxy_parse(buf, len, &h, &why);
 *	// > 0: the header is the first n octets; 0: read more; < 0: not one
 * DESCRIPTION
 *	A balancer in front of tern (smtpd_upstream_proxy_protocol = haproxy)
 *	opens every connection with one header saying whom it carries: the
 *	client's address and port and the address the client connected to.
 *	proxy_parse() reads it from the first len octets of a connection:
 *
 *	  v1: "PROXY TCP4|TCP6 src dst sport dport\r\n" (at most 107 octets),
 *	      or "PROXY UNKNOWN ...\r\n"; addresses numeric, ports decimal
 *	      0-65535 without leading zeros, single spaces, of the family
 *	      named;
 *	  v2: the 12-octet signature, version 2, command LOCAL or PROXY, a
 *	      family and transport, a length, the addresses (IPv4, IPv6 or
 *	      unix), then TLVs to the end of the length: each one's length
 *	      must fit; PP2_TYPE_CRC32C, when present, must be the CRC-32C of
 *	      the whole header with its own value zeroed (HAProxy's
 *	      send-proxy-v2 TLVs otherwise carry nothing tern uses: ALPN,
 *	      authority, unique id, SSL, netns, noop are skipped).
 *
 *	h->local is true when the header carries no client (v1 UNKNOWN; v2
 *	LOCAL, as in HAProxy's health checks; v2 PROXY with family UNSPEC or
 *	unix): the connection's own addresses stand. Otherwise h->src and
 *	h->dst are the numeric client and server addresses, h->sport and
 *	h->dport their ports. A datagram transport is refused: tern speaks
 *	SMTP over a stream.
 *
 *	proxy_parse() never reads past len nor past the header: what follows
 *	it is the client's. It answers 0 only while what it has is a proper
 *	prefix of a header that fits PROXY_MAX octets.
 * BOUNDS
 *	PROXY_MAX octets per header (v2 allows 16 + 65535; HAProxy's TLVs
 *	take a few hundred at most); longer is refused ("too long").
 * DIAGNOSTICS
 *	-EBADMSG with *why saying what is wrong ("not a PROXY header",
 *	"bad v1 address", "v2 length too short for the family", ...);
 *	-EMSGSIZE when the header would be longer than PROXY_MAX.
 */
#ifndef TERN_SMTPD_PROXY_H
#define TERN_SMTPD_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#define PROXY_MAX 1024
#define PROXY_V1_MAX 107

struct proxy_header {
    int version; /* 1 or 2 */
    bool local;  /* no client carried: use the connection's own addresses */
    char src[64], dst[64];
    int sport, dport;
};

long proxy_parse(const void *buf, size_t len, struct proxy_header *h, const char **why);

#endif
