/*
 * policy_token - split Postfix-style lists; see policy_token.h.
 */
#include "policy/policy_token.h"

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
