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
 *	int policy_relay_new_params(struct policy_relay **out,
 *	                            const struct policy_relay_params *p, char **err);
 *	bool policy_relay_uses_ccert(const struct policy_relay *pr);
 *	bool policy_relay_client_in_mynetworks(const struct policy_relay *pr, const char *addr);
 *	void policy_relay_free(struct policy_relay *pr);
 * DESCRIPTION
 *	Restrictions: permit_mynetworks, permit_sasl_authenticated,
 *	reject_unauth_destination, defer_unauth_destination, permit, reject,
 *	permit_tls_clientcerts, permit_tls_all_clientcerts,
 *	check_ccert_access TYPE:TABLE, and restriction class names.
 *	List items may hold several names separated by blanks or commas.
 *
 *	Restriction lists are compiled once into items (tables opened, class
 *	names resolved to indexes); a class body is a list like any other and
 *	runs in place, so its permit or reject ends the enclosing list, as
 *	Postfix's generic_checks() recursion does. Access-table values that
 *	are restriction lists are parsed at lookup time on the stack (names
 *	only: a table inside is a configuration error, 451 4.3.5, as in
 *	Postfix). Depth is bounded (100) against classes naming themselves.
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

#include "policy/policy_access.h"
#include "policy/policy_net.h"
#include "policy/policy_hostname.h"
#include "policy/policy_table.h"
#include "policy/policy_token.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/base/error.h"
#include "core/base/log.h"
#include <strings.h>

enum restriction {
    R_PERMIT_MYNETWORKS,
    R_PERMIT_SASL_AUTHENTICATED,
    R_REJECT_UNAUTH_DESTINATION,
    R_DEFER_UNAUTH_DESTINATION,
    R_PERMIT,
    R_REJECT,
    R_PERMIT_TLS_CLIENTCERTS,
    R_PERMIT_TLS_ALL_CLIENTCERTS,
    R_CHECK_CCERT_ACCESS, /* R_CHECK_*: take a table argument */
    R_CHECK_CLIENT_ACCESS,
    R_CHECK_HELO_ACCESS,
    R_CHECK_SENDER_ACCESS,
    R_CHECK_RECIPIENT_ACCESS,
    R_REJECT_NON_FQDN_SENDER,
    R_REJECT_NON_FQDN_RECIPIENT,
    R_REJECT_NON_FQDN_HELO,
    R_REJECT_INVALID_HELO,
    R_REJECT_SENDER_LOGIN_MISMATCH,
    R_REJECT_AUTH_SENDER_LOGIN_MISMATCH,
    R_REJECT_UNAUTH_SENDER_LOGIN_MISMATCH,
    R_REJECT_KNOWN_SENDER_LOGIN_MISMATCH,
    R_REJECT_UNLISTED_RECIPIENT,
    R_PERMIT_AUTH_DESTINATION,
    R_REJECT_UNKNOWN_SENDER_DOMAIN,
    R_CLASS, /* smtpd_restriction_classes member */
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
    {"permit_tls_clientcerts", R_PERMIT_TLS_CLIENTCERTS},
    {"permit_tls_all_clientcerts", R_PERMIT_TLS_ALL_CLIENTCERTS},
    {"check_ccert_access", R_CHECK_CCERT_ACCESS},
    {"check_client_access", R_CHECK_CLIENT_ACCESS},
    {"check_helo_access", R_CHECK_HELO_ACCESS},
    {"check_sender_access", R_CHECK_SENDER_ACCESS},
    {"check_recipient_access", R_CHECK_RECIPIENT_ACCESS},
    {"reject_non_fqdn_sender", R_REJECT_NON_FQDN_SENDER},
    {"reject_non_fqdn_recipient", R_REJECT_NON_FQDN_RECIPIENT},
    {"reject_non_fqdn_helo_hostname", R_REJECT_NON_FQDN_HELO},
    {"reject_non_fqdn_hostname", R_REJECT_NON_FQDN_HELO}, /* before Postfix 2.3 */
    {"reject_invalid_helo_hostname", R_REJECT_INVALID_HELO},
    {"reject_invalid_hostname", R_REJECT_INVALID_HELO}, /* before Postfix 2.3 */
    {"reject_sender_login_mismatch", R_REJECT_SENDER_LOGIN_MISMATCH},
    {"reject_authenticated_sender_login_mismatch", R_REJECT_AUTH_SENDER_LOGIN_MISMATCH},
    {"reject_unauthenticated_sender_login_mismatch", R_REJECT_UNAUTH_SENDER_LOGIN_MISMATCH},
    {"reject_known_sender_login_mismatch", R_REJECT_KNOWN_SENDER_LOGIN_MISMATCH},
    {"reject_unlisted_recipient", R_REJECT_UNLISTED_RECIPIENT},
    {"check_recipient_maps", R_REJECT_UNLISTED_RECIPIENT}, /* Postfix's older name */
    {"permit_auth_destination", R_PERMIT_AUTH_DESTINATION},
    {"reject_unknown_sender_domain", R_REJECT_UNKNOWN_SENDER_DOMAIN},
};

/* Postfix restrictions tern knows but does not implement: an error naming them, never a
 * silent pass (a rule an admin copied must either work or stop start-up). */
static const char *const unimplemented_names[] = {
    "reject_unknown_recipient_domain",
    "reject_unknown_client_hostname",
    "reject_unknown_reverse_client_hostname",
    "reject_unknown_helo_hostname",
    "reject_unknown_address",
    "reject_unverified_sender",
    "reject_unverified_recipient",
    "reject_rbl_client",
    "reject_rhsbl_client",
    "reject_rhsbl_sender",
    "reject_rhsbl_recipient",
    "reject_rhsbl_helo",
    "reject_rhsbl_reverse_client",
    "permit_dnswl_client",
    "permit_rhswl_client",
    "check_policy_service",
    "check_helo_mx_access",
    "check_helo_ns_access",
    "check_sender_mx_access",
    "check_sender_ns_access",
    "check_recipient_mx_access",
    "check_recipient_ns_access",
    "check_client_a_access",
    "check_client_mx_access",
    "check_client_ns_access",
    "check_reverse_client_hostname_access",
    "check_sasl_access",
    "check_sender_a_access",
    "check_recipient_a_access",
    "check_helo_a_access",
    "permit_mx_backup",
    "reject_unauth_pipelining",
    "reject_multi_recipient_bounce",
    "reject_plaintext_session",
    "reject_unknown_forward_client_hostname",
    "warn_if_reject",
    "defer_if_permit",
    "defer_if_reject",
    "sleep",
    "permit_inet_interfaces",
};

#define NNAMES (sizeof(restriction_names) / sizeof(restriction_names[0]))
#define NUNIMPLEMENTED (sizeof(unimplemented_names) / sizeof(unimplemented_names[0]))
/* the recipient list's index beside enum policy_stage (reply class "Recipient address") */
#define STAGE_RCPT POLICY_STAGE_COUNT
#define MAX_DEPTH 100

struct ritem {
    enum restriction r;
    struct policy_table *table; /* R_CHECK_*: owned */
    size_t cls;                 /* R_CLASS: index into pr->classes */
};

struct rlist {
    struct ritem *v;
    size_t n;
};

struct rclass {
    char *name;
    struct rlist list;
};

struct policy_relay {
    struct rlist relay;
    struct rlist rcpt;
    struct rlist stage[POLICY_STAGE_COUNT];
    bool delay_reject;
    int unknown_address_code; /* unknown_address_reject_code */
    enum policy_tempfail unknown_tempfail;
    struct policy_table **login_maps; /* smtpd_sender_login_maps */
    size_t nlogin_maps;
    bool uses_login_maps; /* a *_sender_login_mismatch restriction is configured */
    char **mydest;        /* lowercase, trailing dot removed */
    size_t nmydest;
    struct rclass *classes;
    size_t nclasses;
    struct policy_netlist *mynet;
    char **domains; /* lowercase; ".x" = subdomains only */
    size_t ndomains;
    struct policy_table **tables;
    size_t ntables;
    struct policy_table **ccerts; /* relay_clientcerts */
    size_t nccerts;
    bool uses_ccert;
};

enum decision { D_DUNNO, D_PERMIT, D_REJECT };
enum auth { AUTH_NO, AUTH_YES, AUTH_ERROR };

/* builtin_lookup - restriction by name, any case; -1 when unknown */
static int builtin_lookup(const char *name)
{
    for (size_t k = 0; k < NNAMES; k++)
        if (strcasecmp(name, restriction_names[k].name) == 0)
            return (int)k;
    return -1;
}

/* takes_table - the restriction is followed by a type:table argument */
static bool takes_table(enum restriction r)
{
    return r == R_CHECK_CCERT_ACCESS || r == R_CHECK_CLIENT_ACCESS || r == R_CHECK_HELO_ACCESS ||
           r == R_CHECK_SENDER_ACCESS || r == R_CHECK_RECIPIENT_ACCESS;
}

/* unimplemented - a Postfix restriction tern does not implement */
static bool unimplemented(const char *name)
{
    for (size_t k = 0; k < NUNIMPLEMENTED; k++)
        if (strcasecmp(name, unimplemented_names[k]) == 0)
            return true;
    return false;
}

/* class_lookup - index of a restriction class, or -1 */
static long class_lookup(const struct policy_relay *pr, const char *name)
{
    for (size_t i = 0; i < pr->nclasses; i++)
        if (strcmp(pr->classes[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* rlist_free - release items and their tables */
static void rlist_free(struct rlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        policy_table_close(l->v[i].table);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* parse_rlist - names (blank/comma separated, any case) into a list; tables opened */
static int parse_rlist(struct policy_relay *pr, struct rlist *l, const char *param,
                       char *const *items, size_t n, char **err)
{
    for (size_t i = 0; i < n; i++) {
        if (items[i] == NULL)
            continue;
        char *copy = strdup(items[i]);
        if (copy == NULL)
            return -ENOMEM;
        char *cursor = copy;
        for (char *tok = policy_token_next(&cursor); tok; tok = policy_token_next(&cursor)) {
            struct ritem it = {0};
            int k = builtin_lookup(tok);
            long c = -1;
            if (k < 0 && (c = class_lookup(pr, tok)) < 0) {
                if (unimplemented(tok))
                    error_set(err, "%s: tern does not implement the restriction \"%s\"", param,
                              tok);
                else if (strchr(tok, ':') != NULL)
                    error_set(err,
                              "%s: \"%s\": a lookup table needs a restriction before it "
                              "(check_ccert_access %s)",
                              param, tok, tok);
                else
                    error_set(err, "%s: unknown restriction \"%s\"", param, tok);
                free(copy);
                return -EINVAL;
            }
            if (k >= 0) {
                it.r = restriction_names[k].r;
            } else {
                it.r = R_CLASS;
                it.cls = (size_t)c;
            }
            if (takes_table(it.r)) {
                char *spec = policy_token_next(&cursor);
                if (spec == NULL || strchr(spec, ':') == NULL) {
                    error_set(err, "%s: %s needs a table (type:name)%s%s", param, tok,
                              spec ? ", not " : "", spec ? spec : "");
                    free(copy);
                    return -EINVAL;
                }
                char *terr = NULL;
                int rc = policy_table_open(&it.table, spec, &terr);
                if (rc < 0) {
                    error_set(err, "%s: %s: %s", param, tok, terr ? terr : strerror(-rc));
                    free(terr);
                    free(copy);
                    return rc;
                }
            }
            if (it.r == R_CHECK_CCERT_ACCESS || it.r == R_PERMIT_TLS_CLIENTCERTS ||
                it.r == R_PERMIT_TLS_ALL_CLIENTCERTS)
                pr->uses_ccert = true;
            if (it.r >= R_REJECT_SENDER_LOGIN_MISMATCH &&
                it.r <= R_REJECT_KNOWN_SENDER_LOGIN_MISMATCH)
                pr->uses_login_maps = true;
            struct ritem *v = realloc(l->v, (l->n + 1) * sizeof(*v));
            if (v == NULL) {
                policy_table_close(it.table);
                free(copy);
                return -ENOMEM;
            }
            l->v = v;
            l->v[l->n++] = it;
        }
        free(copy);
    }
    return 0;
}

/* append_table - open table spec tok and append it to *arr; what names the parameter in errors */
static int append_table(struct policy_table ***arr, size_t *n, const char *tok, const char *what,
                        char **err)
{
    struct policy_table **v = realloc(*arr, (*n + 1) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    *arr = v;
    char *terr = NULL;
    int rc = policy_table_open(&v[*n], tok, &terr);
    if (rc < 0) {
        error_set(err, "%s: %s", what, terr ? terr : strerror(-rc));
        free(terr);
        return rc;
    }
    (*n)++;
    return 0;
}

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

/* add_domain - a relay_domains name or table */
static int add_domain(void *ctx, const char *tok, char **err)
{
    struct policy_relay *pr = ctx;
    if (strchr(tok, ':') != NULL)
        return append_table(&pr->tables, &pr->ntables, tok, "relay_domains", err);
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

/* add_mydest - one mydestination domain (tables: tern has no local delivery to consult them) */
static int add_mydest(void *ctx, const char *tok, char **err)
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

/* add_login_map - one smtpd_sender_login_maps table */
static int add_login_map(void *ctx, const char *tok, char **err)
{
    struct policy_relay *pr = ctx;
    return append_table(&pr->login_maps, &pr->nlogin_maps, tok, "smtpd_sender_login_maps", err);
}

/* stage_params - main.cf names of the per-stage lists */
static const char *const stage_params[POLICY_STAGE_COUNT] = {
    "smtpd_client_restrictions", "smtpd_helo_restrictions",        "smtpd_sender_restrictions",
    "smtpd_data_restrictions",   "smtpd_end_of_data_restrictions",
};

/* parse_stages - the client/helo/sender/data/end-of-data lists and what they need */
static int parse_stages(struct policy_relay *pr, const struct policy_relay_params *p, char **err)
{
    for (int i = 0; i < POLICY_STAGE_COUNT; i++) {
        char *const item[1] = {(char *)p->stage_restrictions[i]};
        int rc = parse_rlist(pr, &pr->stage[i], stage_params[i], item,
                             p->stage_restrictions[i] ? 1 : 0, err);
        if (rc < 0)
            return rc;
    }
    char *const maps[1] = {(char *)p->sender_login_maps};
    int rc = policy_token_each(maps, p->sender_login_maps ? 1 : 0, add_login_map, pr, err);
    if (rc < 0)
        return rc;
    if (pr->uses_login_maps && pr->nlogin_maps == 0) {
        error_set(err, "reject_sender_login_mismatch: smtpd_sender_login_maps is empty: "
                       "nothing says which user owns which sender address");
        return -EINVAL;
    }
    pr->delay_reject = p->delay_reject;
    pr->unknown_address_code =
        p->unknown_address_reject_code ? p->unknown_address_reject_code : 450;
    if (pr->unknown_address_code < 400 || pr->unknown_address_code > 599) {
        error_set(err, "unknown_address_reject_code: %d is not a 4xx or 5xx reply code",
                  p->unknown_address_reject_code);
        return -EINVAL;
    }
    if (p->unknown_address_tempfail_action != POLICY_TEMPFAIL_DEFER_IF_PERMIT &&
        p->unknown_address_tempfail_action != POLICY_TEMPFAIL_DEFER) {
        error_set(err, "unknown_address_tempfail_action: bad value");
        return -EINVAL;
    }
    pr->unknown_tempfail = p->unknown_address_tempfail_action;
    return policy_token_each(p->mydestination, p->nmydest, add_mydest, pr, err);
}

/* add_ccert_table - one relay_clientcerts table */
static int add_ccert_table(void *ctx, const char *tok, char **err)
{
    struct policy_relay *pr = ctx;
    return append_table(&pr->ccerts, &pr->nccerts, tok, "relay_clientcerts", err);
}

/* parse_classes - smtpd_restriction_classes: names first, then bodies (may name each other) */
static int parse_classes(struct policy_relay *pr, const struct policy_restriction_class *c,
                         size_t n, char **err)
{
    if (n == 0)
        return 0;
    pr->classes = calloc(n, sizeof(*pr->classes));
    if (pr->classes == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (c[i].name == NULL || *c[i].name == 0 || builtin_lookup(c[i].name) >= 0 ||
            strchr(c[i].name, ':')) {
            error_set(err, "smtpd_restriction_classes: bad class name \"%s\"",
                      c[i].name ? c[i].name : "");
            return -EINVAL;
        }
        if (class_lookup(pr, c[i].name) >= 0) {
            error_set(err, "smtpd_restriction_classes: \"%s\" listed twice", c[i].name);
            return -EINVAL;
        }
        if ((pr->classes[i].name = strdup(c[i].name)) == NULL)
            return -ENOMEM;
        pr->nclasses = i + 1;
    }
    for (size_t i = 0; i < n; i++) {
        char *const item[1] = {(char *)(c[i].value ? c[i].value : "")};
        int rc = parse_rlist(pr, &pr->classes[i].list, c[i].name, item, 1, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* policy_relay_new_params - compile lists, classes, mynetworks, relay_domains and ccert tables */
int policy_relay_new_params(struct policy_relay **out, const struct policy_relay_params *p,
                            char **err)
{
    struct policy_relay *pr = calloc(1, sizeof(*pr));
    int rc = -ENOMEM;

    *out = NULL;
    if (err)
        *err = NULL;
    if (pr == NULL)
        goto fail;
    rc = parse_classes(pr, p->classes, p->nclasses, err);
    if (rc < 0)
        goto fail;
    rc = parse_rlist(pr, &pr->relay, "smtpd_relay_restrictions", p->relay_restrictions, p->nrelay,
                     err);
    if (rc < 0)
        goto fail;
    rc = parse_rlist(pr, &pr->rcpt, "smtpd_recipient_restrictions", p->rcpt_restrictions, p->nrcpt,
                     err);
    if (rc < 0)
        goto fail;
    if (pr->relay.n == 0 && pr->rcpt.n == 0) {
        static char *const defaults[] = {"permit_mynetworks", "reject_unauth_destination"};
        rc = parse_rlist(pr, &pr->relay, "smtpd_relay_restrictions", defaults, 2, err);
        if (rc < 0)
            goto fail;
    }
    rc = parse_stages(pr, p, err);
    if (rc < 0)
        goto fail;
    rc = policy_netlist_parse(&pr->mynet, p->mynetworks, p->nmynet, err);
    if (rc < 0)
        goto fail;
    rc = policy_token_each(p->relay_domains, p->nrd, add_domain, pr, err);
    if (rc < 0)
        goto fail;
    rc = policy_token_each(p->relay_clientcerts, p->nrelay_clientcerts, add_ccert_table, pr, err);
    if (rc < 0)
        goto fail;
    *out = pr;
    return 0;

fail:
    if (rc == -ENOMEM && err && *err == NULL)
        error_set(err, "policy_relay: out of memory");
    policy_relay_free(pr);
    return rc;
}

/* policy_relay_new - compile restriction lists, mynetworks and relay_domains */
int policy_relay_new(struct policy_relay **out, char *const *relay_restrictions, size_t nrelay,
                     char *const *rcpt_restrictions, size_t nrcpt, char *const *mynetworks,
                     size_t nmynet, char *const *relay_domains, size_t nrd, char **err)
{
    struct policy_relay_params p = {
        .relay_restrictions = relay_restrictions,
        .nrelay = nrelay,
        .rcpt_restrictions = rcpt_restrictions,
        .nrcpt = nrcpt,
        .mynetworks = mynetworks,
        .nmynet = nmynet,
        .relay_domains = relay_domains,
        .nrd = nrd,
    };
    return policy_relay_new_params(out, &p, err);
}

/* policy_tempfail_parse - unknown_address_tempfail_action / reject_tempfail_action */
int policy_tempfail_parse(const char *value, enum policy_tempfail *out)
{
    if (value && strcasecmp(value, "defer_if_permit") == 0)
        *out = POLICY_TEMPFAIL_DEFER_IF_PERMIT;
    else if (value && strcasecmp(value, "defer") == 0)
        *out = POLICY_TEMPFAIL_DEFER;
    else
        return -EINVAL;
    return 0;
}

/* policy_relay_uses_ccert - a certificate restriction is configured */
bool policy_relay_uses_ccert(const struct policy_relay *pr)
{
    return pr && pr->uses_ccert;
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

/* in_mydestination - recipient domain is one of mydestination's (exact, as Postfix matches) */
static bool in_mydestination(const struct policy_relay *pr, const struct policy_addr *rcpt)
{
    if (rcpt == NULL || rcpt->null_path || rcpt->domain[0] == 0)
        return false;
    for (size_t i = 0; i < pr->nmydest; i++)
        if (strcmp(rcpt->domain, pr->mydest[i]) == 0)
            return true;
    return false;
}

/* auth_destination - recipient is in relay_domains and not routed */
static enum auth auth_destination(const struct policy_relay *pr, const struct policy_addr *rcpt)
{
    const char *d = rcpt->domain;

    if (rcpt->routed || rcpt->null_path || d[0] == 0 || d[0] == '[')
        return AUTH_NO;
    if (in_mydestination(pr, rcpt))
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

struct eval {
    const struct policy_relay *pr;
    const struct policy_client *client;
    const struct policy_addr *rcpt; /* NULL before RCPT */
    enum auth *auth;
    struct policy_verdict *out;
    int stage;                  /* enum policy_stage or STAGE_RCPT */
    const char *reply_name;     /* what a reply names: "name[addr]", HELO, sender, recipient */
    struct policy_defer *defer; /* defer_if_permit raised so far (Postfix's defer_if_permit) */
};

static enum decision eval_items(const struct eval *e, const struct ritem *v, size_t n, int depth);

/* namaddr_of - "name[addr]" of the client, as Postfix names it in replies */
static const char *namaddr_of(const struct policy_client *c, char *buf, size_t len)
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

/* reject - fill e->out with "<reply_name>: class rejected: text" */
__attribute__((format(printf, 4, 5))) static enum decision
reject(const struct eval *e, int code, const char *dsn, const char *fmt, ...)
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

/* fixed_verdict - a reply without the recipient in it */
static enum decision fixed_verdict(const struct eval *e, int code, const char *dsn,
                                   const char *text)
{
    memset(e->out, 0, sizeof(*e->out));
    e->out->code = code;
    snprintf(e->out->dsn, sizeof(e->out->dsn), "%s", dsn);
    snprintf(e->out->text, sizeof(e->out->text), "%s", text);
    return D_REJECT;
}

/* lookup_error - a table failed: 451, never a permit */
static enum decision lookup_error(const struct eval *e, const char *key)
{
    memset(e->out, 0, sizeof(*e->out));
    e->out->code = 451;
    snprintf(e->out->dsn, sizeof(e->out->dsn), "4.3.0");
    snprintf(e->out->text, sizeof(e->out->text), "<%.*s>: Temporary lookup failure", 200, key);
    return D_REJECT;
}

/* has_text - non-NULL, non-empty */
static bool has_text(const char *s)
{
    return s != NULL && *s != 0;
}

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
                return lookup_error(e, e->reply_name);
        }
    }
    return D_DUNNO;
}

/* eval_words - a restriction list from an access table value: names only, no tables */
static enum decision eval_words(const struct eval *e, const char *list, int depth)
{
    char buf[512];
    struct ritem items[32];
    size_t n = 0;

    if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf)) {
        log_warn("policy", "access table value too long: %.40s...", list);
        return fixed_verdict(e, 451, "4.3.5", "Server configuration error");
    }
    char *cursor = buf;
    for (char *tok = policy_token_next(&cursor); tok; tok = policy_token_next(&cursor)) {
        int k = builtin_lookup(tok);
        long c = k < 0 ? class_lookup(e->pr, tok) : -1;
        if ((k < 0 && c < 0) || n == sizeof(items) / sizeof(items[0]) ||
            (k >= 0 && takes_table(restriction_names[k].r))) {
            log_warn("policy",
                     "access table value \"%s\": unknown or unusable restriction "
                     "\"%s\" (use a restriction class)",
                     list, tok);
            return fixed_verdict(e, 451, "4.3.5", "Server configuration error");
        }
        items[n].table = NULL;
        items[n].cls = c < 0 ? 0 : (size_t)c;
        items[n].r = k >= 0 ? restriction_names[k].r : R_CLASS;
        n++;
    }
    if (n == 0)
        return D_PERMIT; /* the dark ages: an empty value meant OK */
    return eval_items(e, items, n, depth + 1);
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
        *d = lookup_error(e, key);
        return true;
    }
    if (rc == 0)
        return false;
    *d = access_value(e, value, e->reply_name, cls, depth);
    return true;
}

/* access_domain - a domain, then its parent domains (parent_domain_matches_subdomains) */
static bool access_domain(const struct eval *e, const struct policy_table *t, const char *domain,
                          const char *cls, int depth, enum decision *d)
{
    for (const char *p = domain; p && *p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL)
        if (access_key(e, t, p, cls, depth, d))
            return true;
    return false;
}

/* check_client_access - client name and parents, then the address and its octet prefixes */
static enum decision check_client_access(const struct eval *e, const struct policy_table *t,
                                         int depth)
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

/* check_mail_access - address, domain and parents, then "localpart@"; <> as "<>" */
static enum decision check_mail_access(const struct eval *e, const struct policy_table *t,
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

/* check_ccert_access - certificate fingerprint, then public-key fingerprint */
static enum decision check_ccert_access(const struct eval *e, const struct policy_table *t,
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
            return fixed_verdict(e, 451, "4.3.0", "Client certificate: Temporary lookup failure");
        if (rc == 0)
            continue;
        enum decision d = access_value(e, value, cn, "Client certificate", depth);
        if (d != D_DUNNO)
            return d;
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
    return reject(&f, 504, "5.5.2", "need fully-qualified address");
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
        return reject(&f, 504, "5.5.2", "need fully-qualified hostname");
    }
    if (policy_hostname_valid(h, false) || policy_hostname_addr_valid(h))
        return D_DUNNO;
    return reject(&f, 501, "5.5.2", "Invalid name");
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
        return lookup_error(e, sender);
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
        return reject(&f, 553, "5.7.1", "not owned by user %.64s", user);
    }
    if (r == R_REJECT_AUTH_SENDER_LOGIN_MISMATCH || rc == 0)
        return D_DUNNO;
    return reject(&f, 553, "5.7.1", "not logged in");
}

/* unlisted_recipient - tern has no local recipients: a mydestination address is unknown */
static enum decision unlisted_recipient(const struct eval *e)
{
    if (!in_mydestination(e->pr, e->rcpt))
        return D_DUNNO;
    struct eval f = *e;
    f.reply_name = e->rcpt->addr;
    f.stage = STAGE_RCPT;
    return reject(&f, 550, "5.1.1", "User unknown in local recipient table");
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
        fixed_verdict(e, 451, "4.4.3", "Temporary lookup failure");
        snprintf(e->out->lookup, sizeof(e->out->lookup), "%s", domain);
        return D_REJECT;
    case POLICY_DNS_FOUND:
        return D_DUNNO;
    case POLICY_DNS_NULLMX:
        return reject(&f, 550, "5.7.27", "Domain %s does not accept mail (nullMX)", domain);
    case POLICY_DNS_NOTFOUND: {
        int code = e->pr->unknown_address_code;
        return reject(&f, code, code < 500 ? "4.1.8" : "5.1.8", "Domain not found");
    }
    case POLICY_DNS_TEMPFAIL:
        break;
    }
    if (e->pr->unknown_tempfail == POLICY_TEMPFAIL_DEFER || e->defer == NULL)
        return reject(&f, 450, "4.1.8", "Domain not found");
    if (e->defer->code == 0) { /* the first deferral is the one reported, as in Postfix */
        struct policy_verdict tmp;
        f.out = &tmp;
        reject(&f, 450, "4.1.8", "Domain not found");
        e->defer->code = tmp.code;
        memcpy(e->defer->dsn, tmp.dsn, sizeof(e->defer->dsn));
        memcpy(e->defer->text, tmp.text, sizeof(e->defer->text));
    }
    return D_DUNNO;
}

/* eval_one - one restriction; D_REJECT fills e->out */
static enum decision eval_one(const struct eval *e, const struct ritem *it, int depth)
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
            return lookup_error(e, e->rcpt->addr);
        if (*auth == AUTH_NO) {
            if (it->r == R_REJECT_UNAUTH_DESTINATION)
                verdict(e->out, 554, "5.7.1", e->rcpt, "Relay access denied");
            else
                verdict(e->out, 450, "4.7.1", e->rcpt, "Relay access denied");
            return D_REJECT;
        }
        return D_DUNNO;
    case R_PERMIT_AUTH_DESTINATION:
        return e->rcpt != NULL && *auth == AUTH_YES ? D_PERMIT : D_DUNNO;
    case R_PERMIT:
        return D_PERMIT;
    case R_REJECT:
        return reject(e, 554, "5.7.1", "Access denied");
    case R_PERMIT_TLS_CLIENTCERTS:
        return permit_tls_clientcerts(e, false);
    case R_PERMIT_TLS_ALL_CLIENTCERTS:
        return permit_tls_clientcerts(e, true);
    case R_CHECK_CCERT_ACCESS:
        return check_ccert_access(e, it->table, depth);
    case R_CHECK_CLIENT_ACCESS: {
        char namaddr[320];
        struct eval f = *e;
        f.stage = POLICY_STAGE_CLIENT;
        f.reply_name = namaddr_of(client, namaddr, sizeof(namaddr));
        return check_client_access(&f, it->table, depth);
    }
    case R_CHECK_HELO_ACCESS: {
        if (client == NULL || client->helo == NULL)
            return D_DUNNO;
        struct eval f = *e;
        f.stage = POLICY_STAGE_HELO;
        f.reply_name = client->helo;
        enum decision d = D_DUNNO;
        return access_domain(&f, it->table, client->helo, "Helo command", depth, &d) ? d : D_DUNNO;
    }
    case R_CHECK_SENDER_ACCESS: {
        if (client == NULL || client->sender == NULL)
            return D_DUNNO;
        struct eval f = *e;
        f.stage = POLICY_STAGE_SENDER;
        f.reply_name = client->sender;
        return check_mail_access(&f, it->table, client->sender, "Sender address", depth);
    }
    case R_CHECK_RECIPIENT_ACCESS: {
        if (e->rcpt == NULL)
            return D_DUNNO;
        struct eval f = *e;
        f.stage = STAGE_RCPT;
        f.reply_name = e->rcpt->addr;
        return check_mail_access(&f, it->table, e->rcpt->addr, "Recipient address", depth);
    }
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
        return unlisted_recipient(e);
    case R_REJECT_UNKNOWN_SENDER_DOMAIN:
        return unknown_sender_domain(e);
    case R_CLASS: {
        const struct rlist *l = &e->pr->classes[it->cls].list;
        return eval_items(e, l->v, l->n, depth + 1);
    }
    }
    return D_DUNNO;
}

/* eval_items - the first permit or reject ends the list */
static enum decision eval_items(const struct eval *e, const struct ritem *v, size_t n, int depth)
{
    if (depth > MAX_DEPTH) {
        log_warn("policy", "restriction classes: unreasonable recursion (a class names itself?)");
        return fixed_verdict(e, 451, "4.3.5", "Server configuration error");
    }
    for (size_t i = 0; i < n; i++) {
        enum decision d = eval_one(e, &v[i], depth);
        if (d != D_DUNNO)
            return d;
    }
    return D_DUNNO;
}

/* eval_list - run one top-level restriction list; D_REJECT fills *out */
static enum decision eval_list(const struct policy_relay *pr, const struct rlist *l, int stage,
                               const struct policy_client *client, const struct policy_addr *rcpt,
                               enum auth *auth, struct policy_verdict *out,
                               struct policy_defer *defer)
{
    char namaddr[320];
    const char *name = "";

    switch (stage) {
    case POLICY_STAGE_CLIENT:
        name = namaddr_of(client, namaddr, sizeof(namaddr));
        break;
    case POLICY_STAGE_HELO:
        name = client && client->helo ? client->helo : "";
        break;
    case POLICY_STAGE_SENDER:
        name = client && client->sender ? client->sender : "";
        break;
    case POLICY_STAGE_DATA:
        name = "DATA";
        break;
    case POLICY_STAGE_EOD:
        name = "END-OF-MESSAGE";
        break;
    default:
        name = rcpt ? rcpt->addr : "";
        break;
    }
    struct eval e = {pr, client, rcpt, auth, out, stage, name, defer};
    return eval_items(&e, l->v, l->n, 0);
}

/* policy_relay_delay_reject - client/helo/sender lists wait for RCPT */
bool policy_relay_delay_reject(const struct policy_relay *pr)
{
    return pr == NULL || pr->delay_reject;
}

/* policy_relay_check_stage - one of the client/helo/sender/data/end-of-data lists */
void policy_relay_check_stage(const struct policy_relay *pr, enum policy_stage stage,
                              const struct policy_client *client, const struct policy_addr *rcpt,
                              struct policy_verdict *out)
{
    struct policy_defer defer = {0};
    memset(out, 0, sizeof(*out));
    if (stage < 0 || stage >= POLICY_STAGE_COUNT)
        return;
    enum auth auth = rcpt ? auth_destination(pr, rcpt) : AUTH_NO;
    if (eval_list(pr, &pr->stage[stage], (int)stage, client, rcpt, &auth, out, &defer) == D_REJECT)
        return;
    memset(out, 0, sizeof(*out));
    if (defer.code == 0)
        return;
    if (stage >= POLICY_STAGE_DATA) {
        /* Postfix forgets earlier deferrals at DATA; one raised here answers DATA itself */
        out->code = defer.code;
        memcpy(out->dsn, defer.dsn, sizeof(out->dsn));
        memcpy(out->text, defer.text, sizeof(out->text));
    } else {
        out->defer = defer; /* for the caller to hand to RCPT (client->deferred) */
    }
}

/* apply_defer - a permit becomes the deferral remembered on the way (defer_if_permit) */
static void apply_defer(const struct policy_defer *defer, struct policy_verdict *out)
{
    if (defer->code == 0)
        return;
    memset(out, 0, sizeof(*out));
    out->code = defer->code;
    memcpy(out->dsn, defer->dsn, sizeof(out->dsn));
    memcpy(out->text, defer->text, sizeof(out->text));
}

/* policy_relay_check - the delayed lists, then both recipient lists, for one recipient */
void policy_relay_check(const struct policy_relay *pr, const struct policy_client *client,
                        const struct policy_addr *rcpt, struct policy_verdict *out)
{
    memset(out, 0, sizeof(*out));
    enum auth auth = auth_destination(pr, rcpt);
    /* defer_if_permit: what the sender list raised at MAIL (delay_reject off), or raises now */
    struct policy_defer defer = {0};
    if (client && client->deferred && !pr->delay_reject)
        defer = *client->deferred;

    for (int i = POLICY_STAGE_CLIENT; pr->delay_reject && i <= POLICY_STAGE_SENDER; i++)
        if (eval_list(pr, &pr->stage[i], i, client, rcpt, &auth, out, &defer) == D_REJECT)
            return;
    memset(out, 0, sizeof(*out));
    enum decision d1 = eval_list(pr, &pr->relay, STAGE_RCPT, client, rcpt, &auth, out, &defer);
    if (d1 == D_REJECT)
        return;
    enum decision d2 = eval_list(pr, &pr->rcpt, STAGE_RCPT, client, rcpt, &auth, out, &defer);
    if (d2 == D_REJECT)
        return;
    if (d1 == D_PERMIT || d2 == D_PERMIT || auth == AUTH_YES) {
        struct eval e = {pr, client, rcpt, &auth, out, STAGE_RCPT, rcpt->addr, &defer};
        if (unlisted_recipient(&e) != D_REJECT) { /* smtpd_reject_unlisted_recipient */
            memset(out, 0, sizeof(*out));
            apply_defer(&defer, out);
        }
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
    rlist_free(&pr->relay);
    rlist_free(&pr->rcpt);
    for (int i = 0; i < POLICY_STAGE_COUNT; i++)
        rlist_free(&pr->stage[i]);
    for (size_t i = 0; i < pr->nlogin_maps; i++)
        policy_table_close(pr->login_maps[i]);
    free(pr->login_maps);
    for (size_t i = 0; i < pr->nmydest; i++)
        free(pr->mydest[i]);
    free(pr->mydest);
    for (size_t i = 0; i < pr->nclasses; i++) {
        free(pr->classes[i].name);
        rlist_free(&pr->classes[i].list);
    }
    free(pr->classes);
    for (size_t i = 0; i < pr->nccerts; i++)
        policy_table_close(pr->ccerts[i]);
    free(pr->ccerts);
    policy_netlist_free(pr->mynet);
    for (size_t i = 0; i < pr->ndomains; i++)
        free(pr->domains[i]);
    free(pr->domains);
    for (size_t i = 0; i < pr->ntables; i++)
        policy_table_close(pr->tables[i]);
    free(pr->tables);
    free(pr);
}
