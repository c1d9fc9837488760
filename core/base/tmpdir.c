/*
 * tmpdir - a fresh private directory under $TMPDIR; see base/tmpdir.h.
 */
#include "core/base/tmpdir.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int tmpdir_make(char *out, size_t len, const char *prefix)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    for (int attempt = 0; attempt < 100; attempt++) {
        uint32_t r = 0;
        if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
            r = (uint32_t)attempt * 2654435761u ^ (uint32_t)getpid();
        int n = snprintf(out, len, "%s/%s.%d.%08x", base, prefix, (int)getpid(), r);
        if (n < 0 || (size_t)n >= len)
            return -ENAMETOOLONG;
        if (mkdir(out, 0700) == 0)
            return 0;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}
