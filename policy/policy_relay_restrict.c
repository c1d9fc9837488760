/*
 * NAME
 *	policy_relay_restrict - one restriction of a list, and what it decides
 * SYNOPSIS
 *	#include "policy/policy_relay_impl.h"
 *
 *	enum decision policy_relay_restrict_one(const struct eval *e, const struct ritem *it,
 *	                                        int depth);
 *	enum decision policy_relay_restrict_unlisted(const struct eval *e);
 * DESCRIPTION
 *	Each restriction of policy_relay.h: D_PERMIT, D_REJECT (e->out filled)
 *	or D_DUNNO (the list goes on). One that needs what the session does not
 *	know yet (a sender before MAIL, a recipient before RCPT) says DUNNO. A
 *	class name runs its list in place, one level deeper, so its permit or
 *	reject ends the enclosing list, as Postfix's generic_checks() recursion
 *	does. reject_unknown_sender_domain never does I/O: without a DNS answer
 *	it stops the evaluation and names the domain in e->out->lookup.
 * DIAGNOSTICS
 *	A table error answers 451 4.3.0, never a permit.
 */
#include "policy/policy_relay_impl.h"

#include "policy/policy_net.h"
#include "policy/policy_hostname.h"
#include "policy/policy_table.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* permit_tls_clientcerts - verified cert (all) or a fingerprint in relay_clientcerts */
static enum decision permit_tls_clientcerts(const struct eval *e, bool all)
{
    const struct policy_client *c = e->client;
    if (c == NULL || (!has_text(c->ccert_fingerprint) && !has_text(c->ccert_pkey_fingerprint)))
        return D_DUNNO;
    if (all && c->ccert_verified)
        return D_PERMIT;
    const char *prints[2] = {c->ccert_pkey_fingerprint, c->ccert_fingerprint};
    for (int i = 0; i < 2; i++) {
        if (!has_text(prints[i]))
            continue;
        for (size_t t = 0; t < e->pr->nccerts; t++) {
            const char *v;
            int rc = policy_table_lookup(e->pr->ccerts[t], prints[i], &v);
            if (rc > 0)
                return D_PERMIT;
            if (rc < 0)
                return policy_relay_reply_lookup_error(e, e->reply_name);
        }
    }
    return D_DUNNO;
}

/* non_fqdn_address - 504 unless the address has a fully-qualified domain (or is <>) */
static enum decision non_fqdn_address(const struct eval *e, const char *addr, const char *cls)
{
    if (addr == NULL || *addr == 0)
        return D_DUNNO;
    const char *at = strrchr(addr, '@');
    const char *domain = at ? at + 1 : "";
    size_t dl = strlen(domain);
    if (dl > 1 && domain[0] == '[' && domain[dl - 1] == ']')
        return D_DUNNO;
    bool utf8 = e->client && e->client->smtputf8;
    if (policy_hostname_fqdn(domain, utf8))
        return D_DUNNO;
    struct eval f = *e;
    f.reply_name = addr;
    f.stage = strcmp(cls, "Sender address") == 0 ? POLICY_STAGE_SENDER : STAGE_RCPT;
    return policy_relay_reply_reject(&f, 504, "5.5.2", "need fully-qualified address");
}

/* helo_check - reject_non_fqdn_helo_hostname (fqdn) or reject_invalid_helo_hostname */
static enum decision helo_check(const struct eval *e, bool fqdn)
{
    const char *h = e->client ? e->client->helo : NULL;
    if (h == NULL)
        return D_DUNNO;
    struct eval f = *e;
    f.reply_name = h;
    f.stage = POLICY_STAGE_HELO;
    if (fqdn) {
        if (h[0] == '[' || policy_hostname_fqdn(h, e->client->smtputf8))
            return D_DUNNO;
        return policy_relay_reply_reject(&f, 504, "5.5.2", "need fully-qualified hostname");
    }
    if (policy_hostname_valid(h, false) || policy_hostname_addr_valid(h))
        return D_DUNNO;
    return policy_relay_reply_reject(&f, 501, "5.5.2", "Invalid name");
}

/* sender_owners - the owner list of the sender in smtpd_sender_login_maps: 1 found, 0, -errno */
static int sender_owners(const struct policy_relay *pr, const char *sender, const char **owners)
{
    char key[POLICY_ADDR_MAX + 2];
    const char *at = strrchr(sender, '@');
    for (size_t i = 0; i < pr->nlogin_maps; i++) {
        int rc = policy_table_lookup(pr->login_maps[i], sender, owners);
        if (rc == 0 && at != NULL) {
            snprintf(key, sizeof(key), "%s", at);
            rc = policy_table_lookup(pr->login_maps[i], key, owners);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* owner_listed - user is one of the comma/blank separated names (any case) */
static bool owner_listed(const char *owners, const char *user)
{
    size_t ul = strlen(user);
    for (const char *p = owners; *p;) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (n == ul && n > 0 && strncasecmp(p, user, n) == 0)
            return true;
        p += n;
    }
    return false;
}

/* login_mismatch - the *_sender_login_mismatch family: auth half, unauth half, or both */
static enum decision login_mismatch(const struct eval *e, enum restriction r)
{
    const char *sender = e->client ? e->client->sender : NULL;
    const char *user = e->client ? e->client->sasl_username : NULL;
    const char *owners = NULL;

    if (sender == NULL || *sender == 0)
        return D_DUNNO;
    int rc = sender_owners(e->pr, sender, &owners);
    if (rc < 0)
        return policy_relay_reply_lookup_error(e, sender);
    struct eval f = *e;
    f.reply_name = sender;
    f.stage = POLICY_STAGE_SENDER;
    if (user != NULL) {
        if (r == R_REJECT_UNAUTH_SENDER_LOGIN_MISMATCH)
            return D_DUNNO;
        if (rc == 0 && r == R_REJECT_KNOWN_SENDER_LOGIN_MISMATCH)
            return D_DUNNO;
        if (rc > 0 && owner_listed(owners, user))
            return D_DUNNO;
        return policy_relay_reply_reject(&f, 553, "5.7.1", "not owned by user %.64s", user);
    }
    if (r == R_REJECT_AUTH_SENDER_LOGIN_MISMATCH || rc == 0)
        return D_DUNNO;
    return policy_relay_reply_reject(&f, 553, "5.7.1", "not logged in");
}

/* policy_relay_restrict_unlisted - tern has no local recipients: a mydestination address is unknown
 */
enum decision policy_relay_restrict_unlisted(const struct eval *e)
{
    if (!policy_relay_domain_local(e->pr, e->rcpt))
        return D_DUNNO;
    struct eval f = *e;
    f.reply_name = e->rcpt->addr;
    f.stage = STAGE_RCPT;
    return policy_relay_reply_reject(&f, 550, "5.1.1", "User unknown in local recipient table");
}

/* unknown_sender_domain - reject_unknown_sender_domain, given the caller's DNS answer */
static enum decision unknown_sender_domain(const struct eval *e)
{
    const char *sender = e->client ? e->client->sender : NULL;
    char domain[256];

    if (sender == NULL || *sender == 0)
        return D_DUNNO;
    const char *at = strrchr(sender, '@');
    if (at == NULL || at[1] == 0 || at[1] == '[')
        return D_DUNNO; /* no domain, or a domain literal: nothing to look up */
    size_t len = strlen(at + 1);
    while (len > 0 && at[1 + len - 1] == '.')
        len--;
    if (len == 0 || len >= sizeof(domain))
        return D_DUNNO;
    for (size_t i = 0; i < len; i++) {
        char ch = at[1 + i];
        domain[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    domain[len] = 0;
    for (size_t i = 0; i < e->pr->nmydest; i++)
        if (strcmp(domain, e->pr->mydest[i]) == 0)
            return D_DUNNO; /* a local domain (Postfix: RESOLVE_CLASS_FINAL) */
    struct eval f = *e;
    f.reply_name = sender;
    f.stage = POLICY_STAGE_SENDER;
    switch (e->client->sender_dns) {
    case POLICY_DNS_UNKNOWN:
        /* stop here: the caller looks the domain up and asks again */
        policy_relay_reply_fixed(e, 451, "4.4.3", "Temporary lookup failure");
        snprintf(e->out->lookup, sizeof(e->out->lookup), "%s", domain);
        return D_REJECT;
    case POLICY_DNS_FOUND:
        return D_DUNNO;
    case POLICY_DNS_NULLMX:
        return policy_relay_reply_reject(&f, 550, "5.7.27",
                                         "Domain %s does not accept mail (nullMX)", domain);
    case POLICY_DNS_NOTFOUND: {
        int code = e->pr->unknown_address_code;
        return policy_relay_reply_reject(&f, code, code < 500 ? "4.1.8" : "5.1.8",
                                         "Domain not found");
    }
    case POLICY_DNS_TEMPFAIL:
        break;
    }
    if (e->pr->unknown_tempfail == POLICY_TEMPFAIL_DEFER || e->defer == NULL)
        return policy_relay_reply_reject(&f, 450, "4.1.8", "Domain not found");
    if (e->defer->code == 0) { /* the first deferral is the one reported, as in Postfix */
        struct policy_verdict tmp;
        f.out = &tmp;
        policy_relay_reply_reject(&f, 450, "4.1.8", "Domain not found");
        e->defer->code = tmp.code;
        memcpy(e->defer->dsn, tmp.dsn, sizeof(e->defer->dsn));
        memcpy(e->defer->text, tmp.text, sizeof(e->defer->text));
    }
    return D_DUNNO;
}

/* policy_relay_restrict_one - one restriction; D_REJECT fills e->out */
enum decision policy_relay_restrict_one(const struct eval *e, const struct ritem *it, int depth)
{
    const struct policy_client *client = e->client;
    enum auth *auth = e->auth;

    switch (it->r) {
    case R_PERMIT_MYNETWORKS:
        if (client && policy_relay_client_in_mynetworks(e->pr, client->addr))
            return D_PERMIT;
        return D_DUNNO;
    case R_PERMIT_SASL_AUTHENTICATED:
        if (client && client->sasl_authenticated)
            return D_PERMIT;
        return D_DUNNO;
    case R_REJECT_UNAUTH_DESTINATION:
    case R_DEFER_UNAUTH_DESTINATION:
        if (e->rcpt == NULL)
            return D_DUNNO;
        if (*auth == AUTH_ERROR)
            return policy_relay_reply_lookup_error(e, e->rcpt->addr);
        if (*auth == AUTH_NO) {
            if (it->r == R_REJECT_UNAUTH_DESTINATION)
                policy_relay_reply_rcpt(e->out, 554, "5.7.1", e->rcpt, "Relay access denied");
            else
                policy_relay_reply_rcpt(e->out, 450, "4.7.1", e->rcpt, "Relay access denied");
            return D_REJECT;
        }
        return D_DUNNO;
    case R_PERMIT_AUTH_DESTINATION:
        return e->rcpt != NULL && *auth == AUTH_YES ? D_PERMIT : D_DUNNO;
    case R_PERMIT:
        return D_PERMIT;
    case R_REJECT:
        return policy_relay_reply_reject(e, 554, "5.7.1", "Access denied");
    case R_PERMIT_TLS_CLIENTCERTS:
        return permit_tls_clientcerts(e, false);
    case R_PERMIT_TLS_ALL_CLIENTCERTS:
        return permit_tls_clientcerts(e, true);
    case R_CHECK_CCERT_ACCESS:
        return policy_relay_access_ccert(e, it->table, depth);
    case R_CHECK_CLIENT_ACCESS:
        return policy_relay_access_client(e, it->table, depth);
    case R_CHECK_HELO_ACCESS:
        return policy_relay_access_helo(e, it->table, depth);
    case R_CHECK_SENDER_ACCESS:
        return policy_relay_access_sender(e, it->table, depth);
    case R_CHECK_RECIPIENT_ACCESS:
        return policy_relay_access_recipient(e, it->table, depth);
    case R_REJECT_NON_FQDN_SENDER:
        return non_fqdn_address(e, client ? client->sender : NULL, "Sender address");
    case R_REJECT_NON_FQDN_RECIPIENT:
        return non_fqdn_address(e, e->rcpt ? e->rcpt->addr : NULL, "Recipient address");
    case R_REJECT_NON_FQDN_HELO:
        return helo_check(e, true);
    case R_REJECT_INVALID_HELO:
        return helo_check(e, false);
    case R_REJECT_SENDER_LOGIN_MISMATCH:
    case R_REJECT_AUTH_SENDER_LOGIN_MISMATCH:
    case R_REJECT_UNAUTH_SENDER_LOGIN_MISMATCH:
    case R_REJECT_KNOWN_SENDER_LOGIN_MISMATCH:
        return login_mismatch(e, it->r);
    case R_REJECT_UNLISTED_RECIPIENT:
        return policy_relay_restrict_unlisted(e);
    case R_REJECT_UNKNOWN_SENDER_DOMAIN:
        return unknown_sender_domain(e);
    case R_CLASS: {
        const struct rlist *l = &e->pr->classes[it->cls].list;
        return policy_relay_check_items(e, l->v, l->n, depth + 1);
    }
    }
    return D_DUNNO;
}
