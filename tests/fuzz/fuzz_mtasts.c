/*
 * NAME
 *	fuzz_mtasts - libFuzzer target: MTA-STS policy files and _mta-sts TXT records
 *(policy_mtasts) DESCRIPTION A decision from the back picks what the front is: a fetched policy
 *	file, or one TXT record. Properties:
 *	  - a policy parses to 0, -EINVAL or -EFBIG (only over the size limit),
 *	    with a reason on failure; on success it began with "version:",
 *	    its mode is one of three, max_age is 0..31557600, it has 1..32 mx
 *	    patterns unless the mode is none, each in lower case without a
 *	    trailing dot, and every pattern without a wildcard matches itself
 *	    and every wildcard one matches "x." + its domain (and not the
 *	    domain itself);
 *	  - a TXT record gives 0 or -EINVAL; on success it began with
 *	    "v=STSv1" and the id is 1..32 letters and digits.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_input.h"
#include "policy/policy_mtasts.h"

/* check_policy - the properties of one parsed policy */
static void check_policy(const char *text, size_t len)
{
    struct policy_mtasts p;
    char err[200] = "";
    int rc = policy_mtasts_parse(text, len, &p, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EFBIG);
    FUZZ_CHECK((rc == -EFBIG) == (len > POLICY_MTASTS_SIZE_MAX));
    if (rc < 0) {
        FUZZ_CHECK(err[0] != 0);
        return;
    }
    FUZZ_CHECK(len >= 8 && memcmp(text, "version:", 8) == 0);
    FUZZ_CHECK(p.mode == POLICY_MTASTS_NONE || p.mode == POLICY_MTASTS_TESTING ||
               p.mode == POLICY_MTASTS_ENFORCE);
    FUZZ_CHECK(p.max_age >= 0 && p.max_age <= POLICY_MTASTS_MAX_AGE);
    FUZZ_CHECK(p.nmx <= POLICY_MTASTS_MX_MAX);
    FUZZ_CHECK(p.mode == POLICY_MTASTS_NONE || p.nmx >= 1);
    for (size_t i = 0; i < p.nmx; i++) {
        const char *m = p.mx[i];
        size_t n = strlen(m);
        FUZZ_CHECK(n > 0 && m[n - 1] != '.');
        for (size_t k = 0; k < n; k++)
            FUZZ_CHECK(!isupper((unsigned char)m[k]));
        if (m[0] == '*') {
            char host[300];
            snprintf(host, sizeof(host), "x%s", m + 1);
            FUZZ_CHECK(policy_mtasts_mx_match(&p, host));
        } else {
            FUZZ_CHECK(policy_mtasts_mx_match(&p, m));
        }
    }
}

/* check_txt - the properties of one TXT record */
static void check_txt(const char *text, size_t len)
{
    char id[POLICY_MTASTS_ID_MAX + 1], err[200] = "";
    int rc = policy_mtasts_txt(text, len, id, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -EINVAL);
    if (rc < 0) {
        FUZZ_CHECK(err[0] != 0);
        return;
    }
    FUZZ_CHECK(len >= 7 && memcmp(text, "v=STSv1", 7) == 0);
    size_t n = strlen(id);
    FUZZ_CHECK(n >= 1 && n <= POLICY_MTASTS_ID_MAX);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(isalnum((unsigned char)id[i]));
}

/* LLVMFuzzerTestOneInput - a policy file or a TXT record */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = fuzz_input_init(data, size);
    bool txt = fuzz_input_flag(&in);
    if (txt)
        check_txt((const char *)in.p, in.n);
    else
        check_policy((const char *)in.p, in.n);
    return 0;
}
