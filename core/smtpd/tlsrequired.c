/*
 * NAME
 *	tlsrequired - the "TLS-Required: No" header field of RFC 8689
 * DESCRIPTION
 *	See smtpd/tlsrequired.h. A field may be folded: its value is the rest
 *	of its first line and its continuation lines, read up to VALUE_MAX
 *	octets that are not blanks (a longer value is not "No").
 */
#include "core/smtpd/tlsrequired.h"

#include <strings.h>

#include "core/base/header.h"

#define VALUE_MAX 8 /* "No" and room to tell it from a longer word */

/* add_value - append the non-blank octets of p[0..n) to v (at most VALUE_MAX); false if too long */
static bool add_value(char *v, size_t *vn, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ' || p[i] == '\t')
            continue;
        if (*vn == VALUE_MAX)
            return false;
        v[(*vn)++] = p[i];
    }
    return true;
}

/* tlsrequired_no - does the header section hold "TLS-Required: No"? */
bool tlsrequired_no(const char *msg, size_t len)
{
    size_t pos = 0, n, vn = 0;
    const char *line;
    char v[VALUE_MAX];
    bool in_field = false, fits = true;

    while (header_next(msg, len, &pos, &line, &n)) {
        if (n > 0 && (line[0] == ' ' || line[0] == '\t')) { /* a continuation line */
            if (in_field)
                fits = fits && add_value(v, &vn, line, n);
            continue;
        }
        if (in_field && fits && vn == 2 && strncasecmp(v, "no", 2) == 0)
            return true;
        size_t at = header_field(line, n, "tls-required");
        in_field = at > 0;
        vn = 0;
        fits = in_field && add_value(v, &vn, line + at, n - at);
    }
    return in_field && fits && vn == 2 && strncasecmp(v, "no", 2) == 0;
}
