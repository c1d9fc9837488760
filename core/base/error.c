/*
 * error - text for tern's negative return values; see base/error.h.
 */
#include "core/base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *error_str(int err)
{
    int e = err < 0 ? -err : err;
    switch (e) {
    case TERN_ERR_CONFIG:
        return "configuration error";
    case TERN_ERR_PROTOCOL:
        return "protocol error";
    case TERN_ERR_DNS:
        return "name service error";
    default:
        return strerror(e);
    }
}

/* verror - *err = the formatted message, replacing what was there */
static void verror(char **err, const char *fmt, va_list ap)
{
    free(*err);
    *err = NULL;
    if (vasprintf(err, fmt, ap) < 0)
        *err = NULL;
}

/* error_set - store a malloc'd message in *err if err is not NULL */
void error_set(char **err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    verror(err, fmt, ap);
    va_end(ap);
}

/* error_set_first - error_set unless *err already holds a message: the first error wins */
void error_set_first(char **err, const char *fmt, ...)
{
    if (err == NULL || *err != NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    verror(err, fmt, ap);
    va_end(ap);
}
