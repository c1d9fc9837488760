/*
 * config_parse - value parsers: times ("5m"), sizes, booleans, non-negative integers and
 * lists split on commas and white space.
 */
#include "core/config/config_impl.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct unit {
    char c; /* lowercase suffix; 0: none */
    unsigned long long mul;
};

/* scaled - decimal digits, then one suffix of units (default_unit when there is none), the
 * product at most max; 0 or -EINVAL */
static int scaled(const char *s, char default_unit, const struct unit *units, size_t nunits,
                  unsigned long long max, unsigned long long *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno)
        return -EINVAL;
    char unit = *end ? *end++ : default_unit;
    if (*end)
        return -EINVAL;
    unsigned long long mul = 0;
    for (size_t i = 0; i < nunits; i++)
        if (units[i].c == tolower((unsigned char)unit))
            mul = units[i].mul;
    if (mul == 0 || n > max / mul)
        return -EINVAL;
    *out = n * mul;
    return 0;
}

/* config_parse_time - "300", "300s", "5m", "1h", "5d", "1w" */
int config_parse_time(const char *s, char default_unit, int *out_seconds)
{
    static const struct unit units[] = {
        {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400},
    };
    unsigned long long v;
    int rc = scaled(s, default_unit, units, sizeof(units) / sizeof(units[0]), INT_MAX, &v);
    if (rc == 0)
        *out_seconds = (int)v;
    return rc;
}

/* config_parse_size - bytes with an optional k/m/g suffix (powers of 1024) */
int config_parse_size(const char *s, long *out_bytes)
{
    static const struct unit units[] = {
        {0, 1},
        {'k', 1ULL << 10},
        {'m', 1ULL << 20},
        {'g', 1ULL << 30},
    };
    unsigned long long v;
    int rc = scaled(s, 0, units, sizeof(units) / sizeof(units[0]), LONG_MAX, &v);
    if (rc == 0)
        *out_bytes = (long)v;
    return rc;
}

int config_parse_bool(const char *s, bool *out)
{
    if (!s)
        return -EINVAL;
    if (strcasecmp(s, "yes") == 0)
        *out = true;
    else if (strcasecmp(s, "no") == 0)
        *out = false;
    else
        return -EINVAL;
    return 0;
}

/* parse_int - a non-negative decimal that fits an int */
int config_parse_int(const char *s, int *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -EINVAL;
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (errno || *end || n > INT_MAX)
        return -EINVAL;
    *out = (int)n;
    return 0;
}

/* is_list_sep - list separators: commas and whitespace */
static int is_list_sep(char c)
{
    return c == ',' || isspace((unsigned char)c);
}

/* config_parse_list - split on commas/whitespace into a config_list */
int config_parse_list(const char *s, struct config_list *out)
{
    struct config_list l = {0, NULL};
    size_t cap = 0;
    const char *p = s ? s : "";

    for (;;) {
        while (*p && is_list_sep(*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !is_list_sep(*p))
            p++;
        if (l.n + 1 >= cap) {
            size_t ncap = cap ? cap * 2 : 4;
            char **ni = realloc(l.item, ncap * sizeof(*ni));
            if (!ni)
                goto fail;
            l.item = ni;
            cap = ncap;
        }
        if (!(l.item[l.n] = strndup(start, (size_t)(p - start))))
            goto fail;
        l.n++;
    }
    *out = l;
    return 0;

fail:
    config_list_free(&l);
    return -ENOMEM;
}
