/*
 * NAME
 *	policy_relay - may this client send to this recipient? (no open relay)
 * SYNOPSIS
 *	struct policy_relay *pr;
 *	policy_relay_new(&pr, restrictions, n, mynetworks, relay_domains, &err);
 *	struct policy_client c = { .addr = "192.0.2.1" };
 *	struct policy_verdict v;
 *	policy_relay_check(pr, &c, &parsed_rcpt, &v);
 * DESCRIPTION
 *	Evaluates smtpd_relay_restrictions followed by smtpd_recipient_restrictions
 *	as Postfix does (first permit/reject wins in each list; a reject in the
 *	relay list ends the check; a list that ends without a decision passes
 *	on), except that a recipient outside relay_domains needs an explicit
 *	permit in one of the lists: if both lists run out without one, the
 *	answer is 554 5.7.1 Relay access denied (no configuration is an open
 *	relay). Both lists empty = "permit_mynetworks, reject_unauth_destination".
 *	permit_sasl_authenticated uses client->sasl_authenticated.
 *	This restrictions: permit_mynetworks, permit_sasl_authenticated,
 *	reject_unauth_destination, defer_unauth_destination, permit, reject.
 *	relay_domains items may also be tables ("texthash:/etc/tern/relay_domains",
 *	"inline:{ a.example=OK }"). Unknown restriction names are
 *	an error at policy_relay_new() time.
 *
 *	A recipient is an "auth destination" when its domain equals an entry
 *	of relay_domains or is a subdomain of an entry written ".example.com"
 *	(and also "example.com" matches subdomains, like Postfix's
 *	parent_domain_matches_subdomains default), and the address is not
 *	`routed` (see policy_addr.h). An empty domain is never one.
 * DIAGNOSTICS
 *	policy_relay_check fills v: code 0 = permit, else an SMTP reply code
 *	with enhanced status and text, e.g. 554 "5.7.1" "<u@ext>: Relay access denied",
 *	or 450 "4.7.1" for defer_unauth_destination.
 */
#ifndef TERN_POLICY_RELAY_H
#define TERN_POLICY_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/policy_addr.h"

struct policy_relay;

struct policy_client {
    const char *addr;        /* numeric, e.g. "127.0.0.1" or "::1" */
    const char *name;        /* reverse name or "unknown" */
    bool sasl_authenticated; /* later issues */
    const char *ccert_fingerprint; /* later issues; NULL = none */
};

struct policy_verdict {
    int code;          /* 0 = permit; otherwise 4xx or 5xx */
    char dsn[8];       /* "5.7.1" */
    char text[300];    /* reply text without code */
};

int policy_relay_new(struct policy_relay **out, char *const *relay_restrictions, size_t nrelay,
                     char *const *rcpt_restrictions, size_t nrcpt, char *const *mynetworks,
                     size_t nmynet, char *const *relay_domains, size_t nrd, char **err);
void policy_relay_check(const struct policy_relay *pr, const struct policy_client *client,
                        const struct policy_addr *rcpt, struct policy_verdict *out);
bool policy_relay_client_in_mynetworks(const struct policy_relay *pr, const char *addr);
void policy_relay_free(struct policy_relay *pr);

#endif
