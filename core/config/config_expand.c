/*
 * config_expand - $name, ${name}, $(name), ${name?text}, ${name:text} and $$ in a value, bounded:
 * CONFIG_VALUE_MAX octets per expanded value, CONFIG_NESTING_MAX levels. See config.c's header.
 */
#include "core/config/config_impl.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* config_expand_name_char - see config_impl.h */
int config_expand_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* expand_one - one $ expression at *pp (just past the '$') */
static int expand_one(const char **pp, const char *end, config_lookup_fn fn, void *arg,
                      struct buf *out, int nest)
{
    const char *p = *pp;
    const char *name;
    size_t nlen;
    const char *val = NULL;
    int rc;

    if (p < end && *p == '$') {
        *pp = p + 1;
        return buf_append(out, "$", 1);
    }
    if (p < end && config_expand_name_char(*p)) {
        name = p;
        while (p < end && config_expand_name_char(*p))
            p++;
        nlen = (size_t)(p - name);
        *pp = p;
        if ((rc = fn(arg, name, nlen, &val)) < 0)
            return rc;
        return val ? buf_puts(out, val) : 0;
    }
    if (p < end && (*p == '{' || *p == '(')) {
        char open = *p, close = open == '{' ? '}' : ')';
        p++;
        name = p;
        while (p < end && config_expand_name_char(*p))
            p++;
        nlen = (size_t)(p - name);
        if (nlen == 0 || p >= end)
            return -EINVAL;
        if (*p == close) {
            *pp = p + 1;
            if ((rc = fn(arg, name, nlen, &val)) < 0)
                return rc;
            return val ? buf_puts(out, val) : 0;
        }
        if (*p != '?' && *p != ':')
            return -EINVAL;
        /* ${name?text}: text when name is non-empty; ${name:text}: when empty */
        char op = *p++;
        const char *t = p;
        int depth = 1;
        for (; p < end; p++) {
            if (*p == open)
                depth++;
            else if (*p == close && --depth == 0)
                break;
        }
        if (p >= end)
            return -EINVAL;
        *pp = p + 1;
        if ((rc = fn(arg, name, nlen, &val)) < 0)
            return rc;
        bool nonempty = val && *val;
        if ((op == '?') == nonempty)
            return config_expand(t, (size_t)(p - t), fn, arg, out, nest + 1);
        return 0;
    }
    /* a lone '$' stays literal */
    return buf_append(out, "$", 1);
}

/* config_expand - append text[0..tlen) with $ expressions replaced to out; -ELOOP when ${name?...}
 * nest deeper than CONFIG_NESTING_MAX */
int config_expand(const char *text, size_t tlen, config_lookup_fn fn, void *arg, struct buf *out,
                  int nest)
{
    const char *p = text, *end = text + tlen;
    int rc;

    if (nest > CONFIG_NESTING_MAX)
        return -ELOOP;

    while (p < end) {
        const char *d = memchr(p, '$', (size_t)(end - p));
        if (!d)
            return buf_append(out, p, (size_t)(end - p));
        if ((rc = buf_append(out, p, (size_t)(d - p))) < 0)
            return rc;
        p = d + 1;
        if ((rc = expand_one(&p, end, fn, arg, out, nest)) < 0)
            return rc;
        if (buf_used(out) > CONFIG_VALUE_MAX)
            return -E2BIG;
    }
    return 0;
}
