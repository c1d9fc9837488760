/*
 * policy_sasl - SASL security options, password-map entries, lookup keys; see policy_sasl.h.
 */
#include "policy/policy_sasl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    unsigned flag;
} sasl_options[] = {
    {"noplaintext", POLICY_SASL_NOPLAINTEXT},   {"noactive", POLICY_SASL_NOACTIVE},
    {"nodictionary", POLICY_SASL_NODICTIONARY}, {"noanonymous", POLICY_SASL_NOANONYMOUS},
    {"mutual_auth", POLICY_SASL_MUTUAL_AUTH},   {"forward_secrecy", POLICY_SASL_FORWARD_SECRECY},
};

/* policy_sasl_options_parse - Postfix's security option words to flags */
int policy_sasl_options_parse(const char *list, unsigned *flags, const char **bad)
{
    static const char sep[] = " \t\r\n,";
    unsigned f = 0;
    const char *p = list ? list : "";
    while (*(p += strspn(p, sep))) {
        size_t n = strcspn(p, sep);
        size_t i = 0;
        while (i < sizeof(sasl_options) / sizeof(sasl_options[0]) &&
               !(strlen(sasl_options[i].name) == n && strncasecmp(p, sasl_options[i].name, n) == 0))
            i++;
        if (i == sizeof(sasl_options) / sizeof(sasl_options[0])) {
            if (bad)
                *bad = p;
            return -EINVAL;
        }
        f |= sasl_options[i].flag;
        p += n;
    }
    *flags = f;
    return 0;
}

/* policy_sasl_secret_parse - "username:password" */
int policy_sasl_secret_parse(const char *value, struct policy_sasl_secret *out)
{
    const char *colon = value ? strchr(value, ':') : NULL;
    if (!colon || colon == value)
        return -EINVAL;
    size_t ulen = (size_t)(colon - value);
    size_t plen = strlen(colon + 1);
    if (ulen >= sizeof(out->user) || plen >= sizeof(out->pass))
        return -EINVAL;
    memcpy(out->user, value, ulen);
    out->user[ulen] = 0;
    memcpy(out->pass, colon + 1, plen + 1);
    return 0;
}

/* policy_sasl_password_keys - hostname, then the next hop as written */
size_t policy_sasl_password_keys(const char *nexthop, const char *hostname,
                                 const char *keys[POLICY_SASL_KEYS_MAX], char *store,
                                 size_t storelen)
{
    char no25[300] = "";
    size_t nlen = nexthop ? strlen(nexthop) : 0;
    if (nlen > 3 && nlen - 3 < sizeof(no25) && strcmp(nexthop + nlen - 3, ":25") == 0)
        snprintf(no25, sizeof(no25), "%.*s", (int)(nlen - 3), nexthop);
    const char *cand[POLICY_SASL_KEYS_MAX] = {hostname, nexthop, no25};
    size_t n = 0, used = 0;
    for (size_t i = 0; i < POLICY_SASL_KEYS_MAX; i++) {
        if (!cand[i] || !*cand[i])
            continue;
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            dup |= strcasecmp(keys[j], cand[i]) == 0;
        if (dup)
            continue;
        size_t len = strlen(cand[i]) + 1;
        if (used + len > storelen)
            return 0;
        memcpy(store + used, cand[i], len);
        keys[n++] = store + used;
        used += len;
    }
    return n;
}

/* policy_sasl_auth_delay_ms - one second per failure, at most eight */
unsigned policy_sasl_auth_delay_ms(unsigned failures)
{
    if (failures == 0)
        return 0;
    return (failures > 8 ? 8 : failures) * 1000u;
}
