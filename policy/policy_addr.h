/*
 * NAME
 *	policy_addr - RFC 5321 paths: parse, normalise, classify
 * SYNOPSIS
 *	struct policy_addr a;
 *	int rc = policy_addr_parse("<@relay:\"u@x\"@ext>", false, &a);
 * DESCRIPTION
 *	Parses the path argument of MAIL FROM / RCPT TO (the text after the
 *	colon, up to but not including ESMTP parameters, angle brackets required
 *	unless `lenient`). The source route (`@a,@b:`) is dropped as RFC 5321
 *	allows. A quoted local part is unquoted into `local` (backslash pairs
 *	resolved); `quoted` tells that it was quoted. `addr` is the canonical
 *	form "local@domain" (domain lowercased), or "" for the null path <>;
 *	its local part is re-quoted by policy_addr_format() when it needs
 *	quotes (<"john smith"@x> -> "\"john smith\"@x", <"u@ext"> ->
 *	"\"u@ext\""), so `addr` is safe to put on the wire or re-parse. A
 *	missing domain (<postmaster>, <"u@ext">) leaves `domain` "" and `addr`
 *	without '@'. Blanks before the path are skipped; `consumed` ends after
 *	'>' and the text may go on only with a blank (ESMTP parameters).
 *	Domain literals ([1.2.3.4], [IPv6:...]) are kept as written.
 *
 *	`routed` is true when the local part holds a routing operator (`@`, `%`
 *	or `!`) or a source route was present: such an address must not be
 *	treated as a local or relay_domains destination (open relay via
 *	sender-specified routing).
 * DIAGNOSTICS
 *	0, or -EINVAL for a syntax error (the caller answers 501 5.1.3 / 553 5.1.3),
 *	-E2BIG when local > 64 octets (as written, or as `addr` writes it: a
 *	local part that needs quotes there grows by two) or domain > 255 octets.
 */
#ifndef TERN_POLICY_ADDR_H
#define TERN_POLICY_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define POLICY_ADDR_MAX 512

struct policy_addr {
    char addr[POLICY_ADDR_MAX];   /* "local@domain", or "" for <> */
    char local[POLICY_ADDR_MAX];  /* unquoted local part */
    char domain[256];             /* lowercased; "" if none */
    bool null_path;               /* <> */
    bool quoted;                  /* local part was a quoted string */
    bool routed;                  /* source route or % ! @ in the local part */
    bool utf8;                    /* non-ASCII octets present (needs SMTPUTF8) */
    size_t consumed;              /* octets of the input used, incl. '>' */
};

int policy_addr_parse(const char *text, bool lenient, struct policy_addr *out);

/* policy_addr_format - render local@domain for the wire, quoting `local` when RFC 5321
 * needs it; domain NULL or "" gives the local part alone. Returns the length or -ENOSPC. */
int policy_addr_format(const char *local, const char *domain, char *out, size_t outlen);

#endif
