/*
 * NAME
 *	policy_access - one access(5) lookup result, classified as Postfix's smtpd does
 * DESCRIPTION
 *	See policy_access.h. Pure, no state; logs a value it cannot carry out.
 */
#include "policy/policy_access.h"

#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/base/log.h"

/* word_is - the first word of value (length wl) equals name, any case */
static bool word_is(const char *value, size_t wl, const char *name)
{
    return strlen(name) == wl && strncasecmp(value, name, wl) == 0;
}

/* dsn_split - leading "d.d.d" of text (class 2, 4 or 5) into dsn; returns the rest */
static const char *dsn_split(const char *text, const char *def, char dsn[8])
{
    const char *p = text;
    snprintf(dsn, 8, "%s", def);
    if (*p != '2' && *p != '4' && *p != '5')
        return text;
    if (p[1] != '.')
        return text;
    p += 2;
    size_t d1 = strspn(p, "0123456789");
    if (d1 < 1 || d1 > 3 || p[d1] != '.')
        return text;
    p += d1 + 1;
    size_t d2 = strspn(p, "0123456789");
    if (d2 < 1 || d2 > 3 || (p[d2] != 0 && p[d2] != ' ' && p[d2] != '\t'))
        return text;
    size_t len = (size_t)(p + d2 - text);
    if (len < 8) {
        memcpy(dsn, text, len);
        dsn[len] = 0;
    }
    p += d2;
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* reject - fill a verdict "<name>: class rejected: text" */
static void reject(struct policy_verdict *v, int code, const char *dsn, const char *reply_name,
                   const char *reply_class, const char *text)
{
    memset(v, 0, sizeof(*v));
    v->code = code;
    snprintf(v->dsn, sizeof(v->dsn), "%s", dsn);
    v->dsn[0] = (char)('0' + code / 100); /* the enhanced code's class follows the reply */
    snprintf(v->text, sizeof(v->text), "<%s>: %s rejected: %s", reply_name ? reply_name : "",
             reply_class, *text ? text : "Access denied");
}

/* policy_access_result - one access(5) value, as Postfix's check_table_result */
enum policy_access_action policy_access_result(const char *value, const char *reply_name,
                                               const char *reply_class, struct policy_verdict *v,
                                               const char **list)
{
    char dsn[8];

    while (*value == ' ' || *value == '\t')
        value++;
    size_t wl = strcspn(value, " \t");
    const char *text = value + wl;
    while (*text == ' ' || *text == '\t')
        text++;

    if (word_is(value, wl, "DUNNO") || word_is(value, wl, "WARN") || word_is(value, wl, "INFO")) {
        if (!word_is(value, wl, "DUNNO"))
            log_info("policy", "%s %s: %.*s: %s", reply_class, reply_name ? reply_name : "",
                     (int)wl, value, text);
        return POLICY_ACCESS_DUNNO;
    }
    if (word_is(value, wl, "REJECT")) {
        text = dsn_split(text, "5.7.1", dsn);
        reject(v, 554, dsn, reply_name, reply_class, text);
        return POLICY_ACCESS_REJECT;
    }
    if (word_is(value, wl, "DEFER")) {
        text = dsn_split(text, "4.7.1", dsn);
        reject(v, 450, dsn, reply_name, reply_class, text);
        return POLICY_ACCESS_REJECT;
    }
    if (wl > 0 && strspn(value, "0123456789") == strlen(value))
        return POLICY_ACCESS_PERMIT; /* all digits: OK (out-of-band time stamps) */
    if (wl == 3 && *text && (value[0] == '4' || value[0] == '5') &&
        isdigit((unsigned char)value[1]) && isdigit((unsigned char)value[2])) {
        text = dsn_split(text, value[0] == '4' ? "4.7.1" : "5.7.1", dsn);
        reject(v, atoi(value), dsn, reply_name, reply_class, text);
        return POLICY_ACCESS_REJECT;
    }
    if (word_is(value, wl, "OK") || word_is(value, wl, "RELAY"))
        return POLICY_ACCESS_PERMIT;

    static const char *const unsupported[] = {
        "DEFER_IF_PERMIT", "DEFER_IF_REJECT", "HOLD", "DISCARD", "FILTER", "REDIRECT", "BCC",
        "PREPEND",         "HANGUP"};
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        if (word_is(value, wl, unsupported[i])) {
            log_warn("policy", "%s access: action %s is not supported by tern", reply_class,
                     unsupported[i]);
            goto config_error;
        }
    }
    if (strchr(value, ':') != NULL) {
        log_warn("policy",
                 "access table has entry with lookup table: %s; define a restriction "
                 "class and specify its name instead",
                 value);
        goto config_error;
    }
    *list = value;
    return POLICY_ACCESS_RESTRICTIONS;

config_error:
    memset(v, 0, sizeof(*v));
    v->code = 451;
    snprintf(v->dsn, sizeof(v->dsn), "4.3.5");
    snprintf(v->text, sizeof(v->text), "Server configuration error");
    return POLICY_ACCESS_ERROR;
}
