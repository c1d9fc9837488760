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
 *	int policy_relay_new_params(struct policy_relay **out,
 *	                            const struct policy_relay_params *p, char **err);
 *	bool policy_relay_uses_ccert(const struct policy_relay *pr);
 *	bool policy_relay_client_in_mynetworks(const struct policy_relay *pr, const char *addr);
 *	bool policy_relay_delay_reject(const struct policy_relay *pr);
 *	int policy_relay_tempfail_parse(const char *value, enum policy_tempfail *out);
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
 *	The pieces: this file compiles the lists and owns the object;
 *	policy_relay_check.c runs the lists in Postfix's order,
 *	policy_relay_restrict.c one restriction, policy_relay_access.c the
 *	access(5) tables, policy_relay_domain.c says which recipients are ours
 *	(relay_domains, mydestination), policy_relay_reply.c writes the reply
 *	texts. They share policy_relay_impl.h.
 *
 *	After policy_relay_new() the object is read-only: check from any thread.
 * DIAGNOSTICS
 *	new: 0, -ENOMEM, or -EINVAL with *err (malloc'd) naming the bad item;
 *	a relay_domains table that cannot be opened passes its -errno.
 *	check: a relay_domains table error gives 451 4.3.0, never a permit.
 */
#include "policy/policy_relay.h"
#include "policy/policy_relay_impl.h"

#include "policy/policy_net.h"
#include "policy/policy_table.h"
#include "policy/policy_token.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/error.h"

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

/* policy_relay_builtin - restriction (enum restriction) by name, any case; -1 when unknown */
int policy_relay_builtin(const char *name)
{
    for (size_t k = 0; k < NNAMES; k++)
        if (strcasecmp(name, restriction_names[k].name) == 0)
            return (int)restriction_names[k].r;
    return -1;
}

/* policy_relay_takes_table - the restriction is followed by a type:table argument */
bool policy_relay_takes_table(enum restriction r)
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

/* policy_relay_class - index of a restriction class, or -1 */
long policy_relay_class(const struct policy_relay *pr, const char *name)
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
            int k = policy_relay_builtin(tok);
            long c = -1;
            if (k < 0 && (c = policy_relay_class(pr, tok)) < 0) {
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
                it.r = (enum restriction)k;
            } else {
                it.r = R_CLASS;
                it.cls = (size_t)c;
            }
            if (policy_relay_takes_table(it.r)) {
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

/* policy_relay_append_table - open table spec tok and append it to *arr; what names the parameter
 * in errors */
int policy_relay_append_table(struct policy_table ***arr, size_t *n, const char *tok,
                              const char *what, char **err)
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

/* add_login_map - one smtpd_sender_login_maps table */
static int add_login_map(void *ctx, const char *tok, char **err)
{
    struct policy_relay *pr = ctx;
    return policy_relay_append_table(&pr->login_maps, &pr->nlogin_maps, tok,
                                     "smtpd_sender_login_maps", err);
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
    return policy_token_each(p->mydestination, p->nmydest, policy_relay_domain_add_local, pr, err);
}

/* add_ccert_table - one relay_clientcerts table */
static int add_ccert_table(void *ctx, const char *tok, char **err)
{
    struct policy_relay *pr = ctx;
    return policy_relay_append_table(&pr->ccerts, &pr->nccerts, tok, "relay_clientcerts", err);
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
        if (c[i].name == NULL || *c[i].name == 0 || policy_relay_builtin(c[i].name) >= 0 ||
            strchr(c[i].name, ':')) {
            error_set(err, "smtpd_restriction_classes: bad class name \"%s\"",
                      c[i].name ? c[i].name : "");
            return -EINVAL;
        }
        if (policy_relay_class(pr, c[i].name) >= 0) {
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
    rc = policy_token_each(p->relay_domains, p->nrd, policy_relay_domain_add, pr, err);
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

/* policy_relay_tempfail_parse - unknown_address_tempfail_action / reject_tempfail_action */
int policy_relay_tempfail_parse(const char *value, enum policy_tempfail *out)
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

/* policy_relay_delay_reject - client/helo/sender lists wait for RCPT */
bool policy_relay_delay_reject(const struct policy_relay *pr)
{
    return pr == NULL || pr->delay_reject;
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
