/*
 * NAME
 *	policy_fingerprint - the digest of certificate fingerprints
 * SYNOPSIS
 *	const char *dg = policy_fingerprint_digest_default(cfg_compat_level); // "md5" / "sha256"
 *	if (!policy_fingerprint_digest_valid(dg)) ...
 * DESCRIPTION
 *	smtpd_tls_fingerprint_digest: Postfix's default follows
 *	compatibility_level: md5 below 3.6 (the talk's tables; also for an
 *	unset or unparsable level, whose Postfix default is 0), sha256 from 3.6
 *	on. Levels compare numerically per component ("3.10" > "3.6").
 *	policy_fingerprint_digest_valid accepts md5, sha1, sha256, sha512.
 *
 *	Fingerprints themselves are computed and written by tls/tls_fprint.h
 *	as Postfix prints them: upper-case hex octets separated by ':'
 *	("D7:04:2F:..."). Tables are matched without regard to case, so
 *	lower-case entries match too.
 */
#ifndef TERN_POLICY_FINGERPRINT_H
#define TERN_POLICY_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>

/* policy_fingerprint_digest_default - "md5" below compatibility_level 3.6, else "sha256" */
const char *policy_fingerprint_digest_default(const char *compatibility_level);
/* policy_fingerprint_digest_valid - md5, sha1, sha256, sha512 (any case) */
bool policy_fingerprint_digest_valid(const char *name);

#endif
