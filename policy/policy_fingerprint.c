/*
 * NAME
 *	policy_fingerprint - the digest of certificate fingerprints
 * DESCRIPTION
 *	See policy_fingerprint.h. Pure functions, no state.
 */
#include "policy/policy_fingerprint.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* compat_cmp - compare a dotted compatibility level with major.minor; <0, 0, >0 */
static int compat_cmp(const char *level, long major, long minor)
{
    char *end;
    long v[2] = {0, 0};

    for (int i = 0; i < 2; i++) {
        if (!isdigit((unsigned char)*level))
            break;
        v[i] = strtol(level, &end, 10);
        level = end;
        if (*level != '.')
            break;
        level++;
    }
    if (v[0] != major)
        return v[0] < major ? -1 : 1;
    return v[1] < minor ? -1 : v[1] > minor;
}

/* policy_fingerprint_digest_default - Postfix's default for smtpd_tls_fingerprint_digest */
const char *policy_fingerprint_digest_default(const char *compatibility_level)
{
    if (compatibility_level == NULL)
        return "md5";
    while (isspace((unsigned char)*compatibility_level))
        compatibility_level++;
    if (!isdigit((unsigned char)*compatibility_level))
        return "md5"; /* unset or unparsable: Postfix's built-in level is 0 */
    return compat_cmp(compatibility_level, 3, 6) < 0 ? "md5" : "sha256";
}

/* policy_fingerprint_digest_valid - a digest tern can compute */
bool policy_fingerprint_digest_valid(const char *name)
{
    static const char *const ok[] = {"md5", "sha1", "sha256", "sha512"};
    for (size_t i = 0; name && i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcasecmp(name, ok[i]) == 0)
            return true;
    return false;
}
