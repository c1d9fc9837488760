/*
 * NAME
 *	smtpd_path - the path argument of MAIL FROM: and RCPT TO:
 * SYNOPSIS
 *	#include "core/smtpd/smtpd_path.h"
 *
 *	int smtpd_path(char *arg, struct policy_addr *a, char **rest);
 *	bool smtpd_path_8bit(const char *p);
 * DESCRIPTION
 *	smtpd_path isolates the path at the start of arg (after blanks): a
 *	"<...>" path, whose end is the first '>' outside a quoted string, or,
 *	as Postfix without strict_rfc821_envelopes, a bare address up to the
 *	next blank (parsed leniently). It parses it into *a (policy_addr.h)
 *	and points *rest just past it, at the ESMTP parameters. arg is
 *	borrowed and left as it was.
 *
 *	smtpd_path_8bit says whether a string has an octet outside ASCII
 *	(such an address needs SMTPUTF8).
 * DIAGNOSTICS
 *	smtpd_path: 0, -EINVAL (no path, unterminated, or something other than
 *	a blank after it) or policy_addr_parse's -EINVAL/-E2BIG.
 */
#include "core/smtpd/smtpd_path.h"

#include <errno.h>
#include <string.h>

/* smtpd_path - isolate and parse the path of MAIL FROM:/RCPT TO:
 * On success *rest points just past the path. 0 or -EINVAL/-E2BIG. */
int smtpd_path(char *arg, struct policy_addr *a, char **rest)
{
    while (*arg == ' ')
        arg++;
    char *end;
    bool lenient = false;
    if (*arg == '<') {
        bool quoted = false;
        for (end = arg + 1; *end; end++) {
            if (*end == '\\' && quoted && end[1]) {
                end++;
            } else if (*end == '"') {
                quoted = !quoted;
            } else if (*end == '>' && !quoted) {
                break;
            }
        }
        if (*end != '>')
            return -EINVAL;
        end++;
    } else {
        /* Postfix accepts a bare address unless strict_rfc821_envelopes. */
        lenient = true;
        end = arg + strcspn(arg, " ");
        if (end == arg)
            return -EINVAL;
    }
    char save = *end;
    *end = 0;
    memset(a, 0, sizeof(*a));
    int rc = policy_addr_parse(arg, lenient, a);
    *end = save;
    if (rc < 0)
        return rc;
    if (*end && *end != ' ')
        return -EINVAL;
    *rest = end;
    return 0;
}

/* smtpd_path_8bit - any octet outside ASCII? */
bool smtpd_path_8bit(const char *p)
{
    for (; *p; p++)
        if ((unsigned char)*p >= 0x80)
            return true;
    return false;
}
