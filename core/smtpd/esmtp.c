/*
 * esmtp - the ESMTP parameters of MAIL FROM and RCPT TO; see smtpd/esmtp.h.
 */
#include "core/smtpd/esmtp.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "queue/queue.h"

/* esmtp_xtext_ok - RFC 3461 xtext: printable ASCII except + and =, +XX hex */
bool esmtp_xtext_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '+') {
            if (!isxdigit(p[1]) || !isxdigit(p[2]) || islower(p[1]) || islower(p[2]))
                return false;
            p += 2;
        } else if (*p < 33 || *p > 126 || *p == '=') {
            return false;
        }
    }
    return true;
}

/* esmtp_orcpt_ok - addr-type ";" xtext, addr-type an atom */
bool esmtp_orcpt_ok(const char *v)
{
    const char *semi = strchr(v, ';');
    if (!semi || semi == v || strlen(v) > ESMTP_ORCPT_MAX)
        return false;
    for (const char *p = v; p < semi; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return false;
    return semi[1] != 0 && esmtp_xtext_ok(semi + 1);
}

/* esmtp_notify_parse - NEVER, or a list of SUCCESS, FAILURE, DELAY */
int esmtp_notify_parse(const char *v, unsigned *out)
{
    unsigned bits = 0;
    const char *p = v;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        unsigned bit;
        if (n == 5 && strncasecmp(p, "NEVER", 5) == 0)
            bit = DSN_NOTIFY_NEVER;
        else if (n == 7 && strncasecmp(p, "SUCCESS", 7) == 0)
            bit = DSN_NOTIFY_SUCCESS;
        else if (n == 7 && strncasecmp(p, "FAILURE", 7) == 0)
            bit = DSN_NOTIFY_FAILURE;
        else if (n == 5 && strncasecmp(p, "DELAY", 5) == 0)
            bit = DSN_NOTIFY_DELAY;
        else
            return -EINVAL;
        bits |= bit;
        if (!e)
            break;
        p = e + 1;
        if (!*p)
            return -EINVAL;
    }
    if (!bits || ((bits & DSN_NOTIFY_NEVER) && bits != DSN_NOTIFY_NEVER))
        return -EINVAL;
    *out = bits;
    return 0;
}

/* esmtp_next_param - split the next "KEY[=VALUE]" off *pp; NULL at the end */
char *esmtp_next_param(char **pp, char **value)
{
    char *p = *pp;
    while (*p == ' ')
        p++;
    if (!*p)
        return NULL;
    char *key = p;
    while (*p && *p != ' ')
        p++;
    if (*p)
        *p++ = 0;
    *pp = p;
    char *eq = strchr(key, '=');
    if (eq) {
        *eq = 0;
        *value = eq + 1;
    } else {
        *value = NULL;
    }
    return key;
}
