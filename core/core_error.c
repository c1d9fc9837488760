/*
 * core_error - text for tern's negative return values; see core_error.h.
 */
#include "core/core_error.h"

#include <string.h>

const char *tern_strerror(int err)
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
