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

/* error_set - store a malloc'd message in *err if err is not NULL */
void error_set(char **err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    free(*err);
    *err = NULL;
    if (vasprintf(err, fmt, ap) < 0)
        *err = NULL;
    va_end(ap);
}
