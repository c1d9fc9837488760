/*
 * NAME
 *	policy_relay_domain - relay_domains and mydestination: which recipients are ours
 * SYNOPSIS
 *	#include "policy/policy_relay_impl.h"
 *
 *	int policy_relay_domain_add(void *pr, const char *tok, char **err);
 *	int policy_relay_domain_add_local(void *pr, const char *tok, char **err);
 *	bool policy_relay_domain_local(const struct policy_relay *pr, const struct policy_addr
 **rcpt); enum auth policy_relay_domain_auth(const struct policy_relay *pr, const struct policy_addr
 **rcpt); DESCRIPTION The add functions are policy_token_each() callbacks run by
 *	policy_relay_new_params(): relay_domains names (lower-cased, trailing
 *	dots removed) or tables, mydestination names (no tables).
 *
 *	relay_domains entries: "example.com" matches it and its subdomains
 *	(parent_domain_matches_subdomains), ".example.com" subdomains only;
 *	"type:name" entries are tables looked up with the domain and each
 *	parent domain, with and without a leading dot. Routed recipients,
 *	domain literals and recipients without a domain are never auth
 *	destinations. A mydestination domain matches exactly, as in Postfix,
 *	and counts as an auth destination (reject_unlisted_recipient answers it).
 * DIAGNOSTICS
 *	add: 0, -ENOMEM, or -EINVAL with *err naming the bad entry; a table that
 *	cannot be opened passes its -errno. auth: AUTH_ERROR when a table lookup
 *	failed (the caller answers 451 4.3.0, never a permit).
 */
#include "policy/policy_relay_impl.h"

#include "policy/policy_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/error.h"

/* append_lower - append a lower-case copy of tok[0..len) to *arr */
static int append_lower(char ***arr, size_t *n, const char *tok, size_t len)
{
    char **v = realloc(*arr, (*n + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    *arr = v;
    char *d = strndup(tok, len);
    if (d == NULL)
        return -ENOMEM;
    for (char *p = d; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    v[(*n)++] = d;
    return 0;
}

/* policy_relay_domain_add - a relay_domains name or table */
int policy_relay_domain_add(void *ctx, const char *tok, char **err)
{
    struct policy_relay *pr = ctx;
    if (strchr(tok, ':') != NULL)
        return policy_relay_append_table(&pr->tables, &pr->ntables, tok, "relay_domains", err);
    if (tok[0] == '/') {
        error_set(err, "relay_domains: \"%s\": use a table (texthash:%s) for a file", tok, tok);
        return -EINVAL;
    }
    size_t len = strlen(tok);
    while (len > 1 && tok[len - 1] == '.')
        len--;
    if (len == 0 || (tok[0] == '.' && len == 1) || strchr(tok, '@') || strchr(tok, '[')) {
        error_set(err, "relay_domains: bad domain \"%s\"", tok);
        return -EINVAL;
    }
    return append_lower(&pr->domains, &pr->ndomains, tok, len);
}

/* policy_relay_domain_add_local - one mydestination domain (tables: tern has no local delivery to
 * consult them) */
int policy_relay_domain_add_local(void *ctx, const char *tok, char **err)
{
    struct policy_relay *pr = ctx;
    size_t len = strlen(tok);
    if (strchr(tok, ':') != NULL || tok[0] == '/') {
        error_set(err, "mydestination: \"%s\": tern takes domain names only here", tok);
        return -EINVAL;
    }
    while (len > 1 && tok[len - 1] == '.')
        len--;
    return append_lower(&pr->mydest, &pr->nmydest, tok, len);
}

/* table_has_domain - domain or a parent (with or without leading dot) in a table */
static int table_has_domain(const struct policy_table *t, const char *domain)
{
    const char *v;
    int rc = policy_table_lookup(t, domain, &v);
    for (const char *p = strchr(domain, '.'); rc == 0 && p; p = strchr(p + 1, '.')) {
        rc = policy_table_lookup(t, p + 1, &v); /* parent_domain_matches_subdomains */
        if (rc == 0)
            rc = policy_table_lookup(t, p, &v);
    }
    return rc;
}

/* policy_relay_domain_local - recipient domain is one of mydestination's (exact, as Postfix
 * matches) */
bool policy_relay_domain_local(const struct policy_relay *pr, const struct policy_addr *rcpt)
{
    if (rcpt == NULL || rcpt->null_path || rcpt->domain[0] == 0)
        return false;
    for (size_t i = 0; i < pr->nmydest; i++)
        if (strcmp(rcpt->domain, pr->mydest[i]) == 0)
            return true;
    return false;
}

/* policy_relay_domain_auth - recipient is in relay_domains and not routed */
enum auth policy_relay_domain_auth(const struct policy_relay *pr, const struct policy_addr *rcpt)
{
    const char *d = rcpt->domain;

    if (rcpt->routed || rcpt->null_path || d[0] == 0 || d[0] == '[')
        return AUTH_NO;
    if (policy_relay_domain_local(pr, rcpt))
        return AUTH_YES; /* a local domain, answered by reject_unlisted_recipient */
    size_t dl = strlen(d);
    for (size_t i = 0; i < pr->ndomains; i++) {
        const char *e = pr->domains[i];
        size_t el = strlen(e);
        if (e[0] == '.') {
            if (dl > el && strcmp(d + dl - el, e) == 0)
                return AUTH_YES;
        } else if (strcmp(d, e) == 0 ||
                   (dl > el && d[dl - el - 1] == '.' && strcmp(d + dl - el, e) == 0)) {
            return AUTH_YES;
        }
    }
    for (size_t i = 0; i < pr->ntables; i++) {
        int rc = table_has_domain(pr->tables[i], d);
        if (rc < 0)
            return AUTH_ERROR;
        if (rc > 0)
            return AUTH_YES;
    }
    return AUTH_NO;
}
