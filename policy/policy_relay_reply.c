/*
 * NAME
 *	policy_relay_reply - reply texts of the restrictions, as Postfix's smtpd_check.c writes them
 * SYNOPSIS
 *	#include "policy/policy_relay_impl.h"
 *
 *	void policy_relay_reply_rcpt(struct policy_verdict *out, int code, const char *dsn,
 *	                             const struct policy_addr *rcpt, const char *text);
 *	enum decision policy_relay_reply_reject(const struct eval *e, int code, const char *dsn,
 *	                                        const char *fmt, ...);
 *	enum decision policy_relay_reply_fixed(const struct eval *e, int code, const char *dsn,
 *	                                       const char *text);
 *	enum decision policy_relay_reply_lookup_error(const struct eval *e, const char *key);
 *	const char *policy_relay_reply_namaddr(const struct policy_client *c, char *buf, size_t
 *len); DESCRIPTION Reply texts name the recipient in its canonical form (rcpt->addr, local part
 *re-quoted when needed): "<u@ext.example>: Relay access denied", "<\"u@ext\">: Relay access
 *denied". A restriction's reject names what its list judges: "<name>: Client host rejected: text",
 *	"Helo command", "Sender address", "Data command", "End-of-data",
 *	"Recipient address". Every text is cut to fit struct policy_verdict.
 * DIAGNOSTICS
 *	The reject, fixed and lookup_error functions fill e->out and return
 *	D_REJECT; lookup_error answers 451 4.3.0 "Temporary lookup failure".
 */
#include "policy/policy_relay_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* policy_relay_reply_rcpt - fill a reply: "<addr>: text" */
void policy_relay_reply_rcpt(struct policy_verdict *out, int code, const char *dsn,
                             const struct policy_addr *rcpt, const char *text)
{
    out->code = code;
    snprintf(out->dsn, sizeof(out->dsn), "%s", dsn);
    size_t room = sizeof(out->text) - strlen(text) - 5;
    int n = snprintf(out->text, sizeof(out->text), "<%.*s>: %s", (int)room, rcpt->addr, text);
    if (n < 0)
        out->text[0] = 0;
}

/* policy_relay_reply_namaddr - "name[addr]" of the client, as Postfix names it in replies */
const char *policy_relay_reply_namaddr(const struct policy_client *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s[%s]", c && c->name ? c->name : "unknown", c && c->addr ? c->addr : "");
    return buf;
}

/* reply_class - Postfix's name of what a list judges ("Client host rejected: ...") */
static const char *reply_class(int stage)
{
    static const char *const names[] = {"Client host",  "Helo command", "Sender address",
                                        "Data command", "End-of-data",  "Recipient address"};
    return names[stage];
}

/* policy_relay_reply_reject - fill e->out with "<reply_name>: class rejected: text" */
__attribute__((format(printf, 4, 5))) enum decision
policy_relay_reply_reject(const struct eval *e, int code, const char *dsn, const char *fmt, ...)
{
    char text[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    memset(e->out, 0, sizeof(*e->out));
    e->out->code = code;
    snprintf(e->out->dsn, sizeof(e->out->dsn), "%s", dsn);
    snprintf(e->out->text, sizeof(e->out->text), "<%.*s>: %s rejected: %s", 80, e->reply_name,
             reply_class(e->stage), text);
    return D_REJECT;
}

/* policy_relay_reply_fixed - a reply without the recipient in it */
enum decision policy_relay_reply_fixed(const struct eval *e, int code, const char *dsn,
                                       const char *text)
{
    memset(e->out, 0, sizeof(*e->out));
    e->out->code = code;
    snprintf(e->out->dsn, sizeof(e->out->dsn), "%s", dsn);
    snprintf(e->out->text, sizeof(e->out->text), "%s", text);
    return D_REJECT;
}

/* policy_relay_reply_lookup_error - a table failed: 451, never a permit */
enum decision policy_relay_reply_lookup_error(const struct eval *e, const char *key)
{
    memset(e->out, 0, sizeof(*e->out));
    e->out->code = 451;
    snprintf(e->out->dsn, sizeof(e->out->dsn), "4.3.0");
    snprintf(e->out->text, sizeof(e->out->text), "<%.*s>: Temporary lookup failure", 200, key);
    return D_REJECT;
}
