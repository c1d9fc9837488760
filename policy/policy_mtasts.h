/*
 * NAME
 *	policy_mtasts - MTA-STS (RFC 8461): the policy file, the _mta-sts TXT record, MX patterns
 * SYNOPSIS
 *	#include "policy/policy_mtasts.h"
 *
 *	char id[POLICY_MTASTS_ID_MAX + 1], err[200];
 *	policy_mtasts_txt(txt, txtlen, id, err, sizeof(err));        // "v=STSv1; id=2024...;"
 *	struct policy_mtasts p;
 *	policy_mtasts_parse(body, bodylen, &p, err, sizeof(err));     // the fetched mta-sts.txt
 *	if (p.mode == POLICY_MTASTS_ENFORCE && !policy_mtasts_mx_match(&p, "mx1.example.com"))
 *	    ... not an MX the policy names ...
 * DESCRIPTION
 *	Parsed strictly, so that a damaged or hostile policy is ignored (with
 *	the reason in err) instead of half-applied:
 *
 *	The policy file (RFC 8461 3.2) is "key: value" lines ended by LF or
 *	CRLF, at most POLICY_MTASTS_SIZE_MAX octets. "version: STSv1" must be
 *	the first line; "mode" (enforce, testing or none) and "max_age"
 *	(seconds, at most 31557600) must be there once; "mx" patterns (a
 *	host name, or "*." and a domain: one left-most label) at least once
 *	unless the mode is none, at most POLICY_MTASTS_MX_MAX. A repeated
 *	version, mode or max_age, an unknown mode, a malformed line or value,
 *	or an octet outside printable ASCII makes the policy invalid. Other
 *	keys (extensions: a letter or digit, then up to 31 letters, digits,
 *	"_", "-" or ".") are ignored, as the RFC says.
 *
 *	The TXT record (3.1) is "v=STSv1" first, then "; "-separated
 *	"key=value" fields; "id" (1 to 32 letters and digits) is required,
 *	other fields are ignored. Of several TXT records the caller keeps
 *	only those that start with "v=STSv1"; more than one is no policy.
 *
 *	policy_mtasts_mx_match() compares an MX host name with the patterns
 *	(4.1), ignoring case and one trailing dot on either side.
 * DIAGNOSTICS
 *	policy_mtasts_parse, policy_mtasts_txt: 0, or -EINVAL (err says why),
 *	-EFBIG (the policy is over the size limit).
 */
#ifndef TERN_POLICY_MTASTS_H
#define TERN_POLICY_MTASTS_H

#include <stdbool.h>
#include <stddef.h>

#define POLICY_MTASTS_SIZE_MAX 65536 /* octets of a policy file */
#define POLICY_MTASTS_MX_MAX 32      /* mx patterns kept */
#define POLICY_MTASTS_ID_MAX 32      /* octets of a TXT record's id */
#define POLICY_MTASTS_MAX_AGE 31557600L

enum policy_mtasts_mode { POLICY_MTASTS_NONE, POLICY_MTASTS_TESTING, POLICY_MTASTS_ENFORCE };

struct policy_mtasts {
    enum policy_mtasts_mode mode;
    long max_age; /* seconds */
    size_t nmx;
    char mx[POLICY_MTASTS_MX_MAX][256]; /* lower case, no trailing dot */
};

/* policy_mtasts_parse - a fetched policy file into p; 0, -EINVAL or -EFBIG with err */
int policy_mtasts_parse(const char *text, size_t len, struct policy_mtasts *p, char *err,
                        size_t errlen);
/* policy_mtasts_txt - the id of one _mta-sts TXT record; 0 or -EINVAL with err */
int policy_mtasts_txt(const char *txt, size_t len, char id[POLICY_MTASTS_ID_MAX + 1], char *err,
                      size_t errlen);
/* policy_mtasts_mx_match - does the MX host match one of the policy's patterns? */
bool policy_mtasts_mx_match(const struct policy_mtasts *p, const char *host);
/* policy_mtasts_mode_name - "none", "testing", "enforce" */
const char *policy_mtasts_mode_name(enum policy_mtasts_mode m);

#endif
