/*
 * NAME
 *	policy_relay - may this client send to this recipient? (no open relay)
 * SYNOPSIS
 *	#include "policy/policy_relay.h"
 *
 *	int policy_relay_new(struct policy_relay **out, char *const *relay_restrictions,
 *	                     size_t nrelay, char *const *rcpt_restrictions, size_t nrcpt,
 *	                     char *const *mynetworks, size_t nmynet,
 *	                     char *const *relay_domains, size_t nrd, char **err);
 *	void policy_relay_check(const struct policy_relay *pr, const struct policy_client *client,
 *	                        const struct policy_addr *rcpt, struct policy_verdict *out);
 *	bool policy_relay_client_in_mynetworks(const struct policy_relay *pr, const char *addr);
 *	void policy_relay_free(struct policy_relay *pr);
 * DESCRIPTION
 *	Restrictions: permit_mynetworks, permit_sasl_authenticated,
 *	reject_unauth_destination, defer_unauth_destination, permit, reject.
 *	List items may hold several names separated by blanks or commas.
 *
 *	Evaluation, as Postfix's smtpd does it at RCPT TO:
 *	  1. smtpd_relay_restrictions: the first permit or reject ends the list;
 *	     a reject is the answer.
 *	  2. smtpd_recipient_restrictions, the same way; a reject is the answer.
 *	  3. A permit in either list, or a recipient that is an auth
 *	     destination, is a permit.
 *	  4. Otherwise (both lists ran out without a decision for a recipient
 *	     outside relay_domains): 554 5.7.1 Relay access denied. Postfix
 *	     refuses to start with such lists; tern instead makes the lists'
 *	     silence mean "no", so that no configuration is an open relay.
 *	When both lists are empty, the relay list is "permit_mynetworks,
 *	reject_unauth_destination".
 *
 *	relay_domains entries: "example.com" matches it and its subdomains
 *	(parent_domain_matches_subdomains), ".example.com" subdomains only;
 *	"type:name" entries are tables looked up with the domain and each
 *	parent domain, with and without a leading dot. Routed recipients,
 *	domain literals and recipients without a domain are never auth
 *	destinations.
 *
 *	Reply texts name the recipient in its canonical form (rcpt->addr,
 *	local part re-quoted when needed): "<u@ext.example>: Relay access
 *	denied", "<\"u@ext\">: Relay access denied".
 *
 *	After policy_relay_new() the object is read-only: check from any thread.
 * DIAGNOSTICS
 *	new: 0, -ENOMEM, or -EINVAL with *err (malloc'd) naming the bad item;
 *	a relay_domains table that cannot be opened passes its -errno.
 *	check: a relay_domains table error gives 451 4.3.0, never a permit.
 */
#include "policy/policy_relay.h"

#include "policy/policy_cidr.h"
#include "policy/policy_table.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/core_error.h"

enum restriction {
    R_PERMIT_MYNETWORKS,
    R_PERMIT_SASL_AUTHENTICATED,
    R_REJECT_UNAUTH_DESTINATION,
    R_DEFER_UNAUTH_DESTINATION,
    R_PERMIT,
    R_REJECT,
};

static const struct {
    const char *name;
    enum restriction r;
} restriction_names[] = {
    {"permit_mynetworks", R_PERMIT_MYNETWORKS},
    {"permit_sasl_authenticated", R_PERMIT_SASL_AUTHENTICATED},
    {"reject_unauth_destination", R_REJECT_UNAUTH_DESTINATION},
    {"defer_unauth_destination", R_DEFER_UNAUTH_DESTINATION},
    {"permit", R_PERMIT},
    {"reject", R_REJECT},
};

struct rlist {
    enum restriction *v;
    size_t n;
};

struct policy_relay {
    struct rlist relay;
    struct rlist rcpt;
    struct policy_netlist *mynet;
    char **domains; /* lowercase; ".x" = subdomains only */
    size_t ndomains;
    struct policy_table **tables;
    size_t ntables;
};

enum decision { D_DUNNO, D_PERMIT, D_REJECT };
enum auth { AUTH_NO, AUTH_YES, AUTH_ERROR };

/* next_token - next blank/comma separated word, "{ ... }" kept whole; NULL at the end */
static char *next_token(char **cursor)
{
    char *p = *cursor;
    int depth = 0;

    p += strspn(p, " \t\r\n,");
    if (*p == 0)
        return NULL;
    char *start = p;
    for (; *p; p++) {
        if (*p == '{')
            depth++;
        else if (*p == '}' && depth > 0)
            depth--;
        else if (depth == 0 && strchr(" \t\r\n,", *p))
            break;
    }
    if (*p)
        *p++ = 0;
    *cursor = p;
    return start;
}

/* parse_rlist - names (blank/comma separated, any case) into a list */
static int parse_rlist(struct rlist *l, const char *param, char *const *items, size_t n, char **err)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL)
            continue;
        char *copy = strdup(items[i]);
        if (copy == NULL)
            return -ENOMEM;
        char *cursor = copy;
        for (char *tok = next_token(&cursor); tok; tok = next_token(&cursor)) {
            size_t k;
            for (k = 0; k < sizeof(restriction_names) / sizeof(restriction_names[0]); k++)
                if (strcasecmp(tok, restriction_names[k].name) == 0)
                    break;
            if (k == sizeof(restriction_names) / sizeof(restriction_names[0])) {
                tern_set_err(err, "%s: unknown restriction \"%s\"", param, tok);
                free(copy);
                return -EINVAL;
            }
            enum restriction *v = realloc(l->v, (l->n + 1) * sizeof(*v));
            if (v == NULL) {
                free(copy);
                return -ENOMEM;
            }
            l->v = v;
            l->v[l->n++] = restriction_names[k].r;
        }
        free(copy);
    }
    return 0;
}

/* add_domain - a relay_domains name or table */
static int add_domain(struct policy_relay *pr, const char *tok, char **err)
{
    if (strchr(tok, ':') != NULL) {
        struct policy_table **v = realloc(pr->tables, (pr->ntables + 1) * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        pr->tables = v;
        char *terr = NULL;
        int rc = policy_table_open(&pr->tables[pr->ntables], tok, &terr);
        if (rc < 0) {
            tern_set_err(err, "relay_domains: %s", terr ? terr : strerror(-rc));
            free(terr);
            return rc;
        }
        pr->ntables++;
        return 0;
    }
    if (tok[0] == '/') {
        tern_set_err(err, "relay_domains: \"%s\": use a table (texthash:%s) for a file", tok, tok);
        return -EINVAL;
    }
    size_t len = strlen(tok);
    while (len > 1 && tok[len - 1] == '.')
        len--;
    if (len == 0 || (tok[0] == '.' && len == 1) || strchr(tok, '@') || strchr(tok, '[')) {
        tern_set_err(err, "relay_domains: bad domain \"%s\"", tok);
        return -EINVAL;
    }
    char **v = realloc(pr->domains, (pr->ndomains + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    pr->domains = v;
    char *d = strndup(tok, len);
    if (d == NULL)
        return -ENOMEM;
    for (char *p = d; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    pr->domains[pr->ndomains++] = d;
    return 0;
}

/* policy_relay_new - compile restriction lists, mynetworks and relay_domains */
int policy_relay_new(struct policy_relay **out, char *const *relay_restrictions, size_t nrelay,
                     char *const *rcpt_restrictions, size_t nrcpt, char *const *mynetworks,
                     size_t nmynet, char *const *relay_domains, size_t nrd, char **err)
{
    struct policy_relay *pr = calloc(1, sizeof(*pr));
    char *copy = NULL;
    int rc = -ENOMEM;

    *out = NULL;
    if (err)
        *err = NULL;
    if (pr == NULL)
        goto fail;
    rc = parse_rlist(&pr->relay, "smtpd_relay_restrictions", relay_restrictions, nrelay, err);
    if (rc < 0)
        goto fail;
    rc = parse_rlist(&pr->rcpt, "smtpd_recipient_restrictions", rcpt_restrictions, nrcpt, err);
    if (rc < 0)
        goto fail;
    if (pr->relay.n == 0 && pr->rcpt.n == 0) {
        static char *const defaults[] = {"permit_mynetworks", "reject_unauth_destination"};
        rc = parse_rlist(&pr->relay, "smtpd_relay_restrictions", defaults, 2, err);
        if (rc < 0)
            goto fail;
    }
    rc = policy_netlist_parse(&pr->mynet, mynetworks, nmynet, err);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < nrd; i++) {
        if (relay_domains[i] == NULL)
            continue;
        copy = strdup(relay_domains[i]);
        if (copy == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        char *cursor = copy;
        for (char *tok = next_token(&cursor); tok; tok = next_token(&cursor)) {
            rc = add_domain(pr, tok, err);
            if (rc < 0)
                goto fail;
        }
        free(copy);
        copy = NULL;
    }
    *out = pr;
    return 0;

fail:
    if (rc == -ENOMEM && err && *err == NULL)
        tern_set_err(err, "policy_relay: out of memory");
    free(copy);
    policy_relay_free(pr);
    return rc;
}

/* policy_relay_client_in_mynetworks - client address inside mynetworks */
bool policy_relay_client_in_mynetworks(const struct policy_relay *pr, const char *addr)
{
    return pr && addr && policy_netlist_match(pr->mynet, addr);
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

/* auth_destination - recipient is in relay_domains and not routed */
static enum auth auth_destination(const struct policy_relay *pr, const struct policy_addr *rcpt)
{
    const char *d = rcpt->domain;

    if (rcpt->routed || rcpt->null_path || d[0] == 0 || d[0] == '[')
        return AUTH_NO;
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

/* verdict - fill a reply: "<addr>: text" */
static void verdict(struct policy_verdict *out, int code, const char *dsn,
                    const struct policy_addr *rcpt, const char *text)
{
    out->code = code;
    snprintf(out->dsn, sizeof(out->dsn), "%s", dsn);
    size_t room = sizeof(out->text) - strlen(text) - 5;
    int n = snprintf(out->text, sizeof(out->text), "<%.*s>: %s", (int)room, rcpt->addr, text);
    if (n < 0)
        out->text[0] = 0;
}

/* eval_list - run one restriction list; D_REJECT fills *out */
static enum decision eval_list(const struct policy_relay *pr, const struct rlist *l,
                               const struct policy_client *client, const struct policy_addr *rcpt,
                               enum auth *auth, struct policy_verdict *out)
{
    for (size_t i = 0; i < l->n; i++) {
        switch (l->v[i]) {
        case R_PERMIT_MYNETWORKS:
            if (client && policy_relay_client_in_mynetworks(pr, client->addr))
                return D_PERMIT;
            break;
        case R_PERMIT_SASL_AUTHENTICATED:
            if (client && client->sasl_authenticated)
                return D_PERMIT;
            break;
        case R_REJECT_UNAUTH_DESTINATION:
        case R_DEFER_UNAUTH_DESTINATION:
            if (*auth == AUTH_ERROR) {
                verdict(out, 451, "4.3.0", rcpt, "Temporary lookup failure");
                return D_REJECT;
            }
            if (*auth == AUTH_NO) {
                if (l->v[i] == R_REJECT_UNAUTH_DESTINATION)
                    verdict(out, 554, "5.7.1", rcpt, "Relay access denied");
                else
                    verdict(out, 450, "4.7.1", rcpt, "Relay access denied");
                return D_REJECT;
            }
            break;
        case R_PERMIT:
            return D_PERMIT;
        case R_REJECT:
            verdict(out, 554, "5.7.1", rcpt, "Recipient address rejected: Access denied");
            return D_REJECT;
        }
    }
    return D_DUNNO;
}

/* policy_relay_check - evaluate both restriction lists for one recipient */
void policy_relay_check(const struct policy_relay *pr, const struct policy_client *client,
                        const struct policy_addr *rcpt, struct policy_verdict *out)
{
    memset(out, 0, sizeof(*out));
    enum auth auth = auth_destination(pr, rcpt);

    enum decision d1 = eval_list(pr, &pr->relay, client, rcpt, &auth, out);
    if (d1 == D_REJECT)
        return;
    enum decision d2 = eval_list(pr, &pr->rcpt, client, rcpt, &auth, out);
    if (d2 == D_REJECT)
        return;
    if (d1 == D_PERMIT || d2 == D_PERMIT || auth == AUTH_YES) {
        memset(out, 0, sizeof(*out));
        return;
    }
    /* Neither list decided and the recipient is not ours: never relay by default. */
    if (auth == AUTH_ERROR)
        verdict(out, 451, "4.3.0", rcpt, "Temporary lookup failure");
    else
        verdict(out, 554, "5.7.1", rcpt, "Relay access denied");
}

/* policy_relay_free - release; NULL is fine */
void policy_relay_free(struct policy_relay *pr)
{
    if (pr == NULL)
        return;
    free(pr->relay.v);
    free(pr->rcpt.v);
    policy_netlist_free(pr->mynet);
    for (size_t i = 0; i < pr->ndomains; i++)
        free(pr->domains[i]);
    free(pr->domains);
    for (size_t i = 0; i < pr->ntables; i++)
        policy_table_close(pr->tables[i]);
    free(pr->tables);
    free(pr);
}
