/*
 * NAME
 *	policy_tls_site - client TLS security level per next hop and server
 * SYNOPSIS
 *	struct policy_tls_sites *s;
 *	struct policy_tls_site_params p = { .global_level = POLICY_TLS_MAY,
 *	    .per_site = per_site, .nper_site = 1 };
 *	policy_tls_sites_new(&s, &p, &err);                    // start-up / reload
 *	policy_tls_sites_check(s, &err);                       // `ternd check`
 *
 *	struct policy_tls_site r;
 *	rc = policy_tls_site_resolve(s, "[mx.example]:2525", "mx.example", &r);
 *	... r.level, r.match, r.protocols ...
 *	policy_tls_site_release(&r);
 *	policy_tls_sites_free(s);
 * DESCRIPTION
 *	Decides the TLS security level of one delivery attempt the way
 *	Postfix's smtp client does (src/smtp/smtp_tls_policy.c):
 *
 *	The global level (p->global_level: smtp_tls_security_level, or the
 *	talk's smtp_use_tls / smtp_enforce_tls / smtp_tls_enforce_peername, as
 *	core/config/tlsconf.c reads them) applies when no table entry is found;
 *	its result carries the same defaults as a table's, so that every
 *	connection attempt gets its whole policy from here.
 *
 *	smtp_tls_policy_maps, when set, is looked up with the next-hop
 *	destination only, written as Postfix writes it: "example.com",
 *	"[mx.example]", "[mx.example]:2525", "example.com:2525" (brackets and a
 *	non-default port kept; policy_tls_site_dest formats it from the parts).
 *	A plain domain that is not found is retried with its parent domains as
 *	".example.com", ".com" (like transport(5)); the other forms get one
 *	lookup. The entry is a level followed by attributes (blank or comma
 *	separated, "{ name = value }" for values with blanks):
 *	  none | may | encrypt | fingerprint | verify | secure | dane | dane-only
 *	  match=...      fingerprint: fingerprints, several "|"-separated or
 *	                 several match= attributes; verify/secure: hostname
 *	                 patterns and the strategies hostname, nexthop,
 *	                 dot-nexthop, ":"-separated; invalid at other levels
 *	  protocols=  ciphers=  exclude=  servername=  connection_reuse=yes|no
 *	  enable_rpk=no (what tern does: no RFC 7250 raw public keys)
 *	Attributes at level none are ignored with a warning, as in Postfix.
 *	tafile= and enable_rpk=yes are parsed and reported as unsupported
 *	(-ENOTSUP); dane and
 *	dane-only need smtp_dns_support_level = dnssec (else -EINVAL).
 *	policy_tls_sites_check finds both at start-up, so that the daemon can
 *	refuse to start and say why.
 *	smtp_tls_per_site is then ignored with a warning (logged by new).
 *
 *	smtp_tls_per_site (the talk's table) is looked up with the next-hop
 *	destination and, when it differs, with the server hostname; one exact
 *	lookup each (no parent domains, no wildcards). Values NONE, MAY,
 *	MUST_NOPEERMATCH (= encrypt), MUST (= verify), any case. The two
 *	results combine in Postfix's precedence order VERIFY > ENCRYPT > NONE >
 *	MAY > not found:
 *	  - NONE overrides MAY (and not found);
 *	  - MAY overrides only not found;
 *	  - MUST_NOPEERMATCH and MUST raise the level to at least encrypt
 *	    resp. verify;
 *	then a combined result of MAY is raised to a stronger global level
 *	(global verify + per-site MAY = verify), while NONE, encrypt and verify
 *	from the table replace the global level (per-site NONE turns off a
 *	global verify, per-site MUST_NOPEERMATCH lowers a global verify to
 *	encrypt). An unknown value is an invalid policy (-EINVAL, 4.7.5).
 *
 *	Defaults applied after the level is known (as policy_create does):
 *	at may protocols/ciphers come from p->protocols/p->ciphers, above may
 *	from p->mandatory_protocols/p->mandatory_ciphers (NULL stays NULL:
 *	"use the TLS library default"); exclude from p->exclude_ciphers plus,
 *	above may, p->mandatory_exclude_ciphers. Without match= the list is
 *	p->fingerprint_cert_match (blank/comma separated) at fingerprint,
 *	p->verify_cert_match (default "hostname") at verify and
 *	p->secure_cert_match (default "nexthop, dot-nexthop") at secure, split
 *	at blanks, commas and colons. Fingerprint level without any
 *	fingerprint is invalid. Fingerprints are normalised to upper-case
 *	colon hex ("AB:CD:..."); when p->fingerprint_digest is set their
 *	length must fit it.
 *
 *	Level mapping to core: the values of enum policy_tls_level from NONE
 *	to SECURE equal core's enum tls_level (TLS_LEVEL_NONE .. _SECURE), so
 *	core converts with a cast (add a _Static_assert per value there).
 *	POLICY_TLS_DANE and POLICY_TLS_DANE_ONLY equal core's TLS_LEVEL_DANE and
 *	_DANE_ONLY too; they need p->dnssec (smtp_dns_support_level = dnssec),
 *	else new() and the entries that name them fail with -EINVAL. Their match
 *	list is "hostname, nexthop": the names a DANE-TA chain's leaf must carry.
 *
 *	The resolver is read-only after new(): resolve from any thread.
 * DIAGNOSTICS
 *	new: 0, -ENOMEM, -EINVAL (bad parameter, *err), a table's -errno (*err);
 *	     -EINVAL when the global level is dane/dane-only without p->dnssec.
 *	resolve: 0, or on failure r.dsn/r.why are set and the caller defers
 *	(never weakens the level):
 *	  a table's -errno  4.3.0 "Temporary lookup error"
 *	  -EINVAL           4.7.5 "client TLS configuration problem" (bad entry)
 *	  -ENOTSUP          4.7.5 "... tafile ... is not supported"
 *	check: 0, or -EINVAL/-ENOTSUP/-errno with *err naming table, key and
 *	the problem (the first bad entry found).
 */
#ifndef TERN_POLICY_TLS_SITE_H
#define TERN_POLICY_TLS_SITE_H

#include <stdbool.h>
#include <stddef.h>

/* Same order and values as core's enum tls_level for NONE..SECURE. */
enum policy_tls_level {
    POLICY_TLS_NONE = 0,
    POLICY_TLS_MAY = 1,
    POLICY_TLS_ENCRYPT = 2,
    POLICY_TLS_FINGERPRINT = 3,
    POLICY_TLS_VERIFY = 4,
    POLICY_TLS_SECURE = 5,
    POLICY_TLS_DANE = 6,
    POLICY_TLS_DANE_ONLY = 7,
};

enum policy_tls_source {
    POLICY_TLS_SRC_GLOBAL,      /* no table entry applied */
    POLICY_TLS_SRC_PER_SITE,    /* smtp_tls_per_site */
    POLICY_TLS_SRC_POLICY_MAPS, /* smtp_tls_policy_maps */
};

struct policy_tls_site_params {
    enum policy_tls_level global_level;
    char *const *per_site; /* smtp_tls_per_site: table specs (items may hold several) */
    size_t nper_site;
    char *const *policy_maps; /* smtp_tls_policy_maps */
    size_t npolicy_maps;
    const char *verify_cert_match;      /* NULL = "hostname" */
    const char *secure_cert_match;      /* NULL = "nexthop, dot-nexthop" */
    const char *fingerprint_cert_match; /* NULL = none */
    const char *fingerprint_digest;     /* NULL = no length check; md5, sha1, sha256, sha512 */
    const char *protocols, *mandatory_protocols; /* NULL: leave NULL in the result */
    const char *ciphers, *mandatory_ciphers;
    const char *exclude_ciphers, *mandatory_exclude_ciphers;
    bool dnssec; /* smtp_dns_support_level = dnssec: dane and dane-only are allowed */
};

struct policy_tls_site {
    enum policy_tls_level level;
    enum policy_tls_source source;
    const char *table; /* spec of the deciding table, borrowed from the resolver; NULL = global */
    char key[300];     /* key that decided ("" = global); per-site: the stronger/decisive one */
    char **match;      /* NULL-terminated; NULL when the level has no match list */
    size_t nmatch;
    const char *digest; /* smtp_tls_fingerprint_digest (NULL: sha256), borrowed from the resolver */
    char *protocols; /* NULL = TLS library default */
    char *ciphers;
    char *exclude;
    char *servername;     /* NULL = not set by the entry */
    int connection_reuse; /* -1 = not set, 0 = no, 1 = yes */
    char dsn[8];          /* on failure: "4.3.0" / "4.7.5" */
    char why[256];        /* on failure: reason text for the deferral */
};

struct policy_tls_sites;

/* policy_tls_sites_new - open the tables and remember the defaults; strings are copied */
int policy_tls_sites_new(struct policy_tls_sites **out, const struct policy_tls_site_params *p,
                         char **err);
/* policy_tls_sites_free - NULL is fine */
void policy_tls_sites_free(struct policy_tls_sites *s);
/* policy_tls_sites_check - start-up: parse every entry of every table; first problem in *err */
int policy_tls_sites_check(const struct policy_tls_sites *s, char **err);
/* policy_tls_sites_uses_per_site - smtp_tls_per_site is in effect (policy maps unset) */
bool policy_tls_sites_uses_per_site(const struct policy_tls_sites *s);

/* policy_tls_site_resolve - level and attributes for one next hop and server hostname
 * (hostname may be NULL before MX resolution; per-site host lookups are then skipped).
 * Always call policy_tls_site_release(r) afterwards, also on failure. */
int policy_tls_site_resolve(const struct policy_tls_sites *s, const char *nexthop,
                            const char *hostname, struct policy_tls_site *r);
/* policy_tls_site_release - free what resolve allocated in r */
void policy_tls_site_release(struct policy_tls_site *r);

/* policy_tls_site_parse - parse one smtp_tls_policy_maps value into r (defaults from s,
 * which may be NULL); the same diagnostics as resolve */
int policy_tls_site_parse(const struct policy_tls_sites *s, const char *value,
                          struct policy_tls_site *r);

/* policy_tls_site_dest - the lookup key of a next hop as Postfix writes it:
 * host "mx.example", no_mx, port 2525 -> "[mx.example]:2525"; port 25 is left out.
 * Returns the length or -ENOSPC. */
int policy_tls_site_dest(const char *host, bool no_mx, int port, char *buf, size_t len);

/* policy_tls_site_level_name - "none", "may", ... "dane-only" */
const char *policy_tls_site_level_name(enum policy_tls_level level);
/* policy_tls_site_level_parse - 0 or -EINVAL; "halfdane" is not accepted */
int policy_tls_site_level_parse(const char *text, enum policy_tls_level *out);

#endif
