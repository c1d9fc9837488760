/*
 * NAME
 *	policy_relay_access - access(5) tables: check_client/helo/sender/recipient/ccert_access
 * SYNOPSIS
 *	#include "policy/policy_relay_impl.h"
 *
 *	enum decision policy_relay_access_client(const struct eval *e, const struct policy_table *t,
 *	                                         int depth);
 *	enum decision policy_relay_access_helo(const struct eval *e, const struct policy_table *t,
 *	                                       int depth);
 *	enum decision policy_relay_access_sender(const struct eval *e, const struct policy_table *t,
 *	                                         int depth);
 *	enum decision policy_relay_access_recipient(const struct eval *e,
 *	                                            const struct policy_table *t, int depth);
 *	enum decision policy_relay_access_ccert(const struct eval *e, const struct policy_table *t,
 *	                                        int depth);
 * DESCRIPTION
 *	The lookup keys, in Postfix's order (see policy_relay.h): client name
 *	and its parent domains, then the address and its IPv4 octet prefixes;
 *	a mail address, its domain and parent domains, then "localpart@" (<>
 *	as "<>"); a certificate fingerprint, then the public-key fingerprint.
 *	The first result other than DUNNO applies (policy_access_result in
 *	policy_access.h). A value that is a restriction list is parsed at lookup
 *	time on the stack (names only, at most 32 of them in 512 octets: a table
 *	inside is a configuration error, 451 4.3.5, as in Postfix) and runs one
 *	level deeper (policy_relay_check_items bounds the depth).
 * DIAGNOSTICS
 *	A table error answers 451 4.3.0, never a permit; a bad restriction list
 *	in a value is logged and answers 451 4.3.5.
 */
#include "policy/policy_relay_impl.h"

#include "policy/policy_access.h"
#include "policy/policy_table.h"
#include "policy/policy_token.h"

#include <stdio.h>
#include <string.h>

#include "core/base/log.h"

/* eval_words - a restriction list from an access table value: names only, no tables */
static enum decision eval_words(const struct eval *e, const char *list, int depth)
{
    char buf[512];
    struct ritem items[32];
    size_t n = 0;

    if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf)) {
        log_warn("policy", "access table value too long: %.40s...", list);
        return policy_relay_reply_fixed(e, 451, "4.3.5", "Server configuration error");
    }
    char *cursor = buf;
    for (char *tok = policy_token_next(&cursor); tok; tok = policy_token_next(&cursor)) {
        int k = policy_relay_builtin(tok);
        long c = k < 0 ? policy_relay_class(e->pr, tok) : -1;
        if ((k < 0 && c < 0) || n == sizeof(items) / sizeof(items[0]) ||
            (k >= 0 && policy_relay_takes_table((enum restriction)k))) {
            log_warn("policy",
                     "access table value \"%s\": unknown or unusable restriction "
                     "\"%s\" (use a restriction class)",
                     list, tok);
            return policy_relay_reply_fixed(e, 451, "4.3.5", "Server configuration error");
        }
        items[n].table = NULL;
        items[n].cls = c < 0 ? 0 : (size_t)c;
        items[n].r = k >= 0 ? (enum restriction)k : R_CLASS;
        n++;
    }
    if (n == 0)
        return D_PERMIT; /* the dark ages: an empty value meant OK */
    return policy_relay_check_items(e, items, n, depth + 1);
}

/* access_value - act on one access(5) result found for the current reply name */
static enum decision access_value(const struct eval *e, const char *value, const char *name,
                                  const char *cls, int depth)
{
    const char *list = NULL;
    switch (policy_access_result(value, name, cls, e->out, &list)) {
    case POLICY_ACCESS_DUNNO:
        return D_DUNNO;
    case POLICY_ACCESS_PERMIT:
        return D_PERMIT;
    case POLICY_ACCESS_REJECT:
    case POLICY_ACCESS_ERROR:
        return D_REJECT;
    case POLICY_ACCESS_RESTRICTIONS:
        return eval_words(e, list, depth);
    }
    return D_DUNNO;
}

/* access_key - look key up; *d set and true when the search ends (found, or an error) */
static bool access_key(const struct eval *e, const struct policy_table *t, const char *key,
                       const char *cls, int depth, enum decision *d)
{
    const char *value;
    int rc = policy_table_lookup(t, key, &value);
    if (rc < 0) {
        *d = policy_relay_reply_lookup_error(e, key);
        return true;
    }
    if (rc == 0)
        return false;
    *d = access_value(e, value, e->reply_name, cls, depth);
    return true;
}

/* access_domain - a domain, then its parent domains (parent_domain_matches_subdomains)
 */
static bool access_domain(const struct eval *e, const struct policy_table *t, const char *domain,
                          const char *cls, int depth, enum decision *d)
{
    for (const char *p = domain; p && *p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL)
        if (access_key(e, t, p, cls, depth, d))
            return true;
    return false;
}

/* client_access - client name and parents, then the address and its octet prefixes */
static enum decision client_access(const struct eval *e, const struct policy_table *t, int depth)
{
    const struct policy_client *c = e->client;
    enum decision d = D_DUNNO;
    char addr[64];

    if (c == NULL)
        return D_DUNNO;
    if (has_text(c->name) && strcmp(c->name, "unknown") != 0 &&
        access_domain(e, t, c->name, "Client host", depth, &d))
        return d;
    if (!has_text(c->addr) || snprintf(addr, sizeof(addr), "%s", c->addr) >= (int)sizeof(addr))
        return D_DUNNO;
    if (access_key(e, t, addr, "Client host", depth, &d))
        return d;
    if (strchr(addr, ':') != NULL)
        return D_DUNNO;
    for (char *dot = strrchr(addr, '.'); dot; dot = strrchr(addr, '.')) {
        *dot = 0;
        if (access_key(e, t, addr, "Client host", depth, &d))
            return d;
    }
    return D_DUNNO;
}

/* mail_access - address, domain and parents, then "localpart@"; <> as "<>" */
static enum decision mail_access(const struct eval *e, const struct policy_table *t,
                                 const char *addr, const char *cls, int depth)
{
    enum decision d = D_DUNNO;
    char local[POLICY_ADDR_MAX + 1];

    if (addr == NULL)
        return D_DUNNO;
    if (*addr == 0)
        return access_key(e, t, "<>", cls, depth, &d) ? d : D_DUNNO;
    if (access_key(e, t, addr, cls, depth, &d))
        return d;
    const char *at = strrchr(addr, '@');
    if (at == NULL)
        return D_DUNNO;
    if (access_domain(e, t, at + 1, cls, depth, &d))
        return d;
    snprintf(local, sizeof(local), "%.*s@", (int)(at - addr), addr);
    return access_key(e, t, local, cls, depth, &d) ? d : D_DUNNO;
}

/* policy_relay_access_client - check_client_access: replies name the client "name[addr]" */
enum decision policy_relay_access_client(const struct eval *e, const struct policy_table *t,
                                         int depth)
{
    char namaddr[320];
    struct eval f = *e;
    f.stage = POLICY_STAGE_CLIENT;
    f.reply_name = policy_relay_reply_namaddr(e->client, namaddr, sizeof(namaddr));
    return client_access(&f, t, depth);
}

/* policy_relay_access_helo - check_helo_access: the HELO name and its parent domains */
enum decision policy_relay_access_helo(const struct eval *e, const struct policy_table *t,
                                       int depth)
{
    const char *helo = e->client ? e->client->helo : NULL;
    enum decision d = D_DUNNO;
    if (helo == NULL)
        return D_DUNNO;
    struct eval f = *e;
    f.stage = POLICY_STAGE_HELO;
    f.reply_name = helo;
    return access_domain(&f, t, helo, "Helo command", depth, &d) ? d : D_DUNNO;
}

/* mail_as - an address judged as the sender or as the recipient (stage) */
static enum decision mail_as(const struct eval *e, const struct policy_table *t, const char *addr,
                             int stage, const char *cls, int depth)
{
    if (addr == NULL)
        return D_DUNNO;
    struct eval f = *e;
    f.stage = stage;
    f.reply_name = addr;
    return mail_access(&f, t, addr, cls, depth);
}

/* policy_relay_access_sender - check_sender_access: the MAIL FROM address */
enum decision policy_relay_access_sender(const struct eval *e, const struct policy_table *t,
                                         int depth)
{
    const char *sender = e->client ? e->client->sender : NULL;
    return mail_as(e, t, sender, POLICY_STAGE_SENDER, "Sender address", depth);
}

/* policy_relay_access_recipient - check_recipient_access: the RCPT TO address */
enum decision policy_relay_access_recipient(const struct eval *e, const struct policy_table *t,
                                            int depth)
{
    const char *rcpt = e->rcpt ? e->rcpt->addr : NULL;
    return mail_as(e, t, rcpt, STAGE_RCPT, "Recipient address", depth);
}

/* policy_relay_access_ccert - certificate fingerprint, then public-key fingerprint */
enum decision policy_relay_access_ccert(const struct eval *e, const struct policy_table *t,
                                        int depth)
{
    const struct policy_client *c = e->client;
    if (c == NULL)
        return D_DUNNO;
    const char *prints[2] = {c->ccert_fingerprint, c->ccert_pkey_fingerprint};
    const char *cn = c->ccert_subject ? c->ccert_subject : "";
    for (int i = 0; i < 2; i++) {
        const char *value;
        if (!has_text(prints[i]))
            continue;
        int rc = policy_table_lookup(t, prints[i], &value);
        if (rc < 0)
            return policy_relay_reply_fixed(e, 451, "4.3.0",
                                            "Client certificate: Temporary lookup failure");
        if (rc == 0)
            continue;
        enum decision d = access_value(e, value, cn, "Client certificate", depth);
        if (d != D_DUNNO)
            return d;
    }
    return D_DUNNO;
}
