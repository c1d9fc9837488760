/*
 * policy_token - split Postfix-style lists; see policy_token.h.
 */
#include "policy/policy_token.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* policy_next_token - next blank/comma separated word, "{ ... }" kept whole; NULL at the end */
char *policy_next_token(char **cursor)
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

/* policy_each_token - every word of a list parameter's items */
int policy_each_token(char *const *items, size_t n,
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
        for (char *w = policy_next_token(&cursor); w && rc >= 0; w = policy_next_token(&cursor))
            rc = fn(ctx, w, err);
        free(copy);
        if (rc < 0)
            return rc;
    }
    return 0;
}
