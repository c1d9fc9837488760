/*
 * NAME
 *	policy_relay - may this client send to this recipient? (no open relay)
 * SYNOPSIS
 *	struct policy_relay *pr;
 *	policy_relay_new(&pr, relay_r, nrelay, rcpt_r, nrcpt, mynet, nmynet, rd, nrd, &err);
 *	  or, with certificates and restriction classes:
 *	struct policy_relay_params p = { .rcpt_restrictions = ..., .relay_clientcerts = ...,
 *	                                 .classes = classes, .nclasses = n };
 *	policy_relay_new_params(&pr, &p, &err);
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
 *	Restrictions: permit_mynetworks, permit_sasl_authenticated,
 *	reject_unauth_destination, defer_unauth_destination, permit, reject,
 *	permit_tls_clientcerts, permit_tls_all_clientcerts,
 *	check_ccert_access TYPE:TABLE, and the names of smtpd_restriction_classes
 *	(p->classes: name and its value, a restriction list that may name other
 *	classes; evaluated in place, a permit or reject inside ends the
 *	enclosing list as in Postfix).
 *
 *	Client certificates (the client's TLS state, filled by core):
 *	"present" means client->ccert_fingerprint or ->ccert_pkey_fingerprint
 *	is a non-empty string, as Postfix prints them (upper-case colon hex,
 *	digest smtpd_tls_fingerprint_digest, see policy_fingerprint.h).
 *	  permit_tls_all_clientcerts: permit when client->ccert_verified;
 *	    otherwise like permit_tls_clientcerts (as Postfix does).
 *	  permit_tls_clientcerts: permit when the public-key fingerprint or the
 *	    certificate fingerprint is a key of a relay_clientcerts table
 *	    (verification is not required: the fingerprint is the credential).
 *	  check_ccert_access TYPE:TABLE: look up the certificate fingerprint,
 *	    then the public-key fingerprint; the first result other than DUNNO
 *	    applies (policy_access_result in policy_access.h): OK permits, REJECT
 *	    / DEFER / "4NN text" / "5NN text" reject with
 *	    "<CN>: Client certificate rejected: text" (CN = ccert_subject), other
 *	    values are restriction lists (usually one class name).
 *	  A table error in any of them answers 451 4.3.0 "Temporary lookup
 *	  failure", never a permit. Nesting deeper than 100 answers 451 4.3.5.
 *	relay_domains items may also be tables ("texthash:/etc/tern/relay_domains",
 *	"inline:{ a.example=OK }"). Unknown restriction names are
 *	an error at policy_relay_new() time.
 *
 *	A recipient is an "auth destination" when its domain equals an entry
 *	of relay_domains or is a subdomain of an entry written ".example.com"
 *	(and also "example.com" matches subdomains, like Postfix's
 *	parent_domain_matches_subdomains default), and the address is not
 *	`routed` (see policy_addr.h). An empty domain is never one.
 *
 *	The other lists (policy_relay_check_stage; Postfix's names):
 *	smtpd_client_restrictions, smtpd_helo_restrictions,
 *	smtpd_sender_restrictions, smtpd_data_restrictions,
 *	smtpd_end_of_data_restrictions. With delay_reject (Postfix's default)
 *	policy_relay_check() runs the client, helo and sender lists first, for
 *	every recipient, so that a rejection names the recipient and a permit
 *	in them never grants relaying (a permit ends only its own list).
 *	Any restriction may sit in any list; one that needs what the session
 *	does not know yet (a sender before MAIL) says nothing (DUNNO).
 *	Further restrictions, replies as Postfix's smtpd_check.c writes them:
 *	  check_client_access T: client name and its parent domains, then
 *	    the address and (IPv4) its shorter octet prefixes.
 *	  check_helo_access T: HELO name and parent domains.
 *	  check_sender_access T / check_recipient_access T: the address, its
 *	    domain and parent domains, then "localpart@"; <> is looked up
 *	    as "<>" (smtpd_null_access_lookup_key).
 *	  reject_non_fqdn_sender / _recipient: 504 5.5.2 "need fully-qualified
 *	    address"; reject_non_fqdn_helo_hostname: 504 5.5.2 "need
 *	    fully-qualified hostname" (address literals pass);
 *	    reject_invalid_helo_hostname: 501 5.5.2 "Invalid name".
 *	  reject_sender_login_mismatch (needs smtpd_sender_login_maps,
 *	    looked up with the sender, then "@domain"; the value lists the
 *	    owning SASL login names): 553 5.7.1 "not owned by user U" when the
 *	    logged-in user is not an owner (also when the address has none),
 *	    "not logged in" when an owned address is used without AUTH.
 *	    reject_authenticated_sender_login_mismatch and
 *	    reject_unauthenticated_sender_login_mismatch do one half each;
 *	    reject_known_sender_login_mismatch is the first half for owned
 *	    addresses only.
 *	  reject_unknown_sender_domain: the MAIL FROM domain has no MX and no
 *	    A/AAAA record. <>, an address without a domain, a domain literal
 *	    and a mydestination domain are not checked. The DNS answer comes
 *	    from the caller (client->sender_dns, one of enum policy_dns):
 *	    while it is POLICY_DNS_UNKNOWN the evaluation stops at this
 *	    restriction and the verdict names the domain to look up
 *	    (out->lookup, lower case, no trailing dot; code 451 4.4.3 meanwhile,
 *	    so a caller that ignores it never permits); the caller looks it up
 *	    without blocking, sets sender_dns and checks again. Outcomes, as
 *	    Postfix's reject_unknown_address: not found: unknown_address_reject_code
 *	    (p->unknown_address_reject_code, default 450) "4.1.8"/"5.1.8"
 *	    "<s>: Sender address rejected: Domain not found"; null MX (RFC
 *	    7505): 550 5.7.27 "<s>: Sender address rejected: Domain D does not
 *	    accept mail (nullMX)"; temporary failure: 450 4.1.8 "... Domain not
 *	    found" as unknown_address_tempfail_action says: POLICY_TEMPFAIL_DEFER
 *	    answers it at once, POLICY_TEMPFAIL_DEFER_IF_PERMIT (the default)
 *	    remembers it and answers it only when the rest of the evaluation
 *	    would permit (a later reject wins). A deferral raised by a list
 *	    that policy_relay_check_stage() ran alone (client, helo, sender:
 *	    smtpd_delay_reject = no) comes back in out->defer with code 0; the
 *	    caller hands it to the RCPT checks in client->deferred. One raised
 *	    by the data or end-of-data list answers that stage.
 *	  reject_unlisted_recipient: tern has no local recipients: a
 *	    recipient in mydestination gets 550 5.1.1 "User unknown in local
 *	    recipient table"; relay recipients are all "listed" (no
 *	    relay_recipient_maps). This check also runs after the lists, as
 *	    Postfix's smtpd_reject_unlisted_recipient = yes does: mail for a
 *	    mydestination domain is never relayed.
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

/* what the DNS says of a domain (reject_unknown_sender_domain) */
enum policy_dns {
    POLICY_DNS_UNKNOWN = 0, /* not looked up yet: the verdict asks for it (out->lookup) */
    POLICY_DNS_FOUND,       /* MX, A or AAAA records */
    POLICY_DNS_NOTFOUND,    /* NXDOMAIN, or no MX, A nor AAAA */
    POLICY_DNS_NULLMX,      /* RFC 7505 null MX */
    POLICY_DNS_TEMPFAIL,    /* SERVFAIL, timeout */
};

/* unknown_address_tempfail_action (Postfix's reject_tempfail_action values) */
enum policy_tempfail {
    POLICY_TEMPFAIL_DEFER_IF_PERMIT = 0, /* "defer_if_permit": 450 only if the rest permits */
    POLICY_TEMPFAIL_DEFER,               /* "defer": 450 at once */
};

/* a defer_if_permit reply kept for later; code 0: none */
struct policy_defer {
    int code;
    char dsn[8];
    char text[300];
};

struct policy_client {
    const char *addr; /* numeric, e.g. "127.0.0.1" or "::1" */
    const char *name; /* reverse name or "unknown" */
    bool sasl_authenticated;
    const char *ccert_fingerprint;      /* certificate fingerprint "AB:CD:.."; NULL/"" = none */
    const char *ccert_pkey_fingerprint; /* public-key fingerprint; NULL/"" = none */
    bool ccert_verified;                /* chain verified (smtpd_tls_CAfile/CApath) */
    const char *ccert_subject;          /* peer CommonName for reply texts; NULL = "" */
    /* what the session knows so far (policy_relay_check_stage) */
    const char *helo;           /* HELO/EHLO argument; NULL before HELO */
    const char *sender;         /* MAIL FROM address; NULL before MAIL, "" for <> */
    const char *sasl_username;  /* NULL: not authenticated */
    bool smtputf8;              /* MAIL FROM ... SMTPUTF8: non-ASCII domains are valid */
    enum policy_dns sender_dns; /* reject_unknown_sender_domain: DNS status of the sender domain */
    const struct policy_defer *deferred; /* defer_if_permit from the sender list run at MAIL
                                          * (policy_relay_check_stage's out->defer); NULL: none */
};

/* where a restriction list is evaluated (Postfix's smtpd_*_restrictions) */
enum policy_stage {
    POLICY_STAGE_CLIENT, /* smtpd_client_restrictions */
    POLICY_STAGE_HELO,   /* smtpd_helo_restrictions */
    POLICY_STAGE_SENDER, /* smtpd_sender_restrictions */
    POLICY_STAGE_DATA,   /* smtpd_data_restrictions */
    POLICY_STAGE_EOD,    /* smtpd_end_of_data_restrictions */
    POLICY_STAGE_COUNT,
};

/* smtpd_restriction_classes: one class name and its parameter value */
struct policy_restriction_class {
    const char *name;
    const char *value;
};

struct policy_relay_params {
    char *const *relay_restrictions; /* smtpd_relay_restrictions */
    size_t nrelay;
    char *const *rcpt_restrictions; /* smtpd_recipient_restrictions */
    size_t nrcpt;
    char *const *mynetworks;
    size_t nmynet;
    char *const *relay_domains;
    size_t nrd;
    char *const *relay_clientcerts; /* table specs */
    size_t nrelay_clientcerts;
    const struct policy_restriction_class *classes; /* smtpd_restriction_classes */
    size_t nclasses;
    const char *stage_restrictions[POLICY_STAGE_COUNT]; /* unsplit list per stage; NULL: empty */
    const char *sender_login_maps;                      /* smtpd_sender_login_maps; NULL: none */
    char *const *mydestination; /* domains tern refuses as local (550 5.1.1) */
    size_t nmydest;
    bool delay_reject;               /* smtpd_delay_reject: client/helo/sender lists run at RCPT */
    int unknown_address_reject_code; /* 0: Postfix's 450 */
    enum policy_tempfail unknown_address_tempfail_action; /* 0: defer_if_permit */
};

struct policy_verdict {
    int code;         /* 0 = permit; otherwise 4xx or 5xx */
    char dsn[8];      /* "5.7.1" */
    char text[300];   /* reply text without code */
    char lookup[256]; /* non-empty: look this domain up, set client->sender_dns, ask again */
    struct policy_defer defer; /* check_stage of client/helo/sender: a deferral for RCPT */
};

int policy_relay_new(struct policy_relay **out, char *const *relay_restrictions, size_t nrelay,
                     char *const *rcpt_restrictions, size_t nrcpt, char *const *mynetworks,
                     size_t nmynet, char *const *relay_domains, size_t nrd, char **err);
/* policy_relay_new_params - the same with certificates, relay_clientcerts and classes */
int policy_relay_new_params(struct policy_relay **out, const struct policy_relay_params *p,
                            char **err);
/* policy_relay_uses_ccert - a certificate restriction is configured (`ternd check` warns when
 * smtpd_tls_ask_ccert is off: such rules then never see a certificate) */
bool policy_relay_uses_ccert(const struct policy_relay *pr);
void policy_relay_check(const struct policy_relay *pr, const struct policy_client *client,
                        const struct policy_addr *rcpt, struct policy_verdict *out);
/* policy_relay_check_stage - one of the other lists (rcpt: the recipient of a one-recipient
 * message at DATA, else NULL); out->code 0 = no objection */
void policy_relay_check_stage(const struct policy_relay *pr, enum policy_stage stage,
                              const struct policy_client *client, const struct policy_addr *rcpt,
                              struct policy_verdict *out);
/* policy_relay_delay_reject - smtpd_delay_reject: the client, helo and sender lists are run
 * by policy_relay_check() at RCPT; false: the caller runs them at connect, HELO and MAIL */
bool policy_relay_delay_reject(const struct policy_relay *pr);
/* policy_relay_tempfail_parse - "defer_if_permit" or "defer" (Postfix's reject_tempfail_action
 * values); 0 or -EINVAL */
int policy_relay_tempfail_parse(const char *value, enum policy_tempfail *out);
bool policy_relay_client_in_mynetworks(const struct policy_relay *pr, const char *addr);
void policy_relay_free(struct policy_relay *pr);

#endif
