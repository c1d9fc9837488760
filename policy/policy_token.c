/*
 * policy_token - split Postfix-style lists; see policy_token.h.
 */
#include "policy/policy_token.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* policy_token_next - next blank/comma separated word, "{ ... }" kept whole; NULL at the end */
char *policy_token_next(char **cursor)
{
    char *p = *cursor;
    int depth = 0;

    p += strspn(p, " \t\r\n,");
    if (*p == 0)
        return NULL;
    char *start = p;
    for (; *p; p++) {
        if (*p == '{')
            depth++;
        else if (*p == '}' && depth > 0)
            depth--;
        else if (depth == 0 && strchr(" \t\r\n,", *p))
            break;
    }
    if (*p)
        *p++ = 0;
    *cursor = p;
    return start;
}

/* policy_token_each - every word of a list parameter's items */
int policy_token_each(char *const *items, size_t n,
                      int (*fn)(void *ctx, const char *word, char **err), void *ctx, char **err)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL)
            continue;
        char *copy = strdup(items[i]);
        if (copy == NULL)
            return -ENOMEM;
        char *cursor = copy;
        int rc = 0;
        for (char *w = policy_token_next(&cursor); w && rc >= 0; w = policy_token_next(&cursor))
            rc = fn(ctx, w, err);
        free(copy);
        if (rc < 0)
            return rc;
    }
    return 0;
}
