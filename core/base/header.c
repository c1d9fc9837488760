/*
 * NAME
 *	header - walk the primary header section of a message, line by line
 * SYNOPSIS
 *	#include "core/base/header.h"
 * DESCRIPTION
 *	See the header. Shared by hopcount_limit (smtpd/hopcount.c) and the
 *	SMTPUTF8 check on the way out (delivery/delivery_utf8.c). Owns nothing.
 */
#include "core/base/header.h"

#include <string.h>
#include <strings.h>

/* header_next - the next header line from *pos; false at the empty line or the end */
bool header_next(const char *msg, size_t len, size_t *pos, const char **line, size_t *n)
{
    size_t i = *pos;
    if (!msg || i >= len)
        return false;
    const char *nl = memchr(msg + i, '\n', len - i);
    size_t end = nl ? (size_t)(nl - msg) : len;
    size_t k = end - i;
    if (k > 0 && msg[end - 1] == '\r')
        k--;
    if (k == 0)
        return false; /* the empty line: the body starts */
    *line = msg + i;
    *n = k;
    *pos = end + 1;
    return true;
}

/* header_field - the offset of the value when line starts the field name (lower case), else 0 */
size_t header_field(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n < k + 1 || strncasecmp(line, name, k) != 0)
        return 0;
    while (k < n && (line[k] == ' ' || line[k] == '\t'))
        k++;
    return k < n && line[k] == ':' ? k + 1 : 0;
}
