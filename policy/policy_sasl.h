/*
 * NAME
 *	policy_sasl - SASL security options, password-map entries, lookup keys
 * SYNOPSIS
 *	unsigned flags;
 *	policy_sasl_options_parse("noplaintext, noanonymous", &flags, &bad);
 *
 *	struct policy_sasl_secret sec;
 *	policy_sasl_secret_parse("user:pa:ss", &sec);   // user "user", password "pa:ss"
 *
 *	const char *keys[POLICY_SASL_KEYS_MAX];
 *	char store[600];
 *	size_t n = policy_sasl_password_keys("[mail.isp.example]:587", "mx1.isp.example",
 *	                                     keys, store, sizeof(store));
 * DESCRIPTION
 *	The decisions Postfix's SASL glue makes before any SASL library runs.
 *
 *	smtpd_sasl_security_options, smtpd_sasl_tls_security_options,
 *	smtp_sasl_security_options, smtp_sasl_tls_security_options: a list of
 *	noplaintext, noactive, nodictionary, noanonymous, mutual_auth,
 *	forward_secrecy (Postfix's names; "," or white space between). The
 *	result is a set of POLICY_SASL_* flags that core hands to Cyrus as
 *	security flags: Cyrus then offers (server) or picks (client) only the
 *	mechanisms that satisfy them, so with noplaintext PLAIN and LOGIN are
 *	never offered or used. An empty list means no restriction.
 *
 *	smtp_sasl_password_maps values are "username:password" (the password
 *	may contain ':'; the username may not be empty, the password may).
 *
 *	Lookup order for smtp_sasl_password_maps, as Postfix's
 *	smtp_sasl_glue.c: the remote server's hostname first, then the next
 *	hop as it was written in relayhost or transport_maps (with its
 *	brackets and port: "[mail.isp.example]:587"), so the table keys of a
 *	Postfix installation work unchanged. tern's next-hop keys always carry
 *	the port, so one on port 25 is also tried without ":25", the way
 *	Postfix writes it ("[mail.isp.example]", "example.com"). A duplicate
 *	key is tried once.
 *
 *	policy_sasl_auth_delay_ms is the growing pause before a 535 reply: one
 *	second per failed attempt in the session, at most eight, so password
 *	guessing costs time while a typo costs little.
 * DIAGNOSTICS
 *	policy_sasl_options_parse: 0, or -EINVAL with *bad pointing at the
 *	first unknown word (inside the argument, not terminated).
 *	policy_sasl_secret_parse: 0, or -EINVAL (no ':' or empty username).
 */
#ifndef TERN_POLICY_SASL_H
#define TERN_POLICY_SASL_H

#include <stdbool.h>
#include <stddef.h>

enum {
    POLICY_SASL_NOPLAINTEXT = 1u << 0,
    POLICY_SASL_NOACTIVE = 1u << 1,
    POLICY_SASL_NODICTIONARY = 1u << 2,
    POLICY_SASL_FORWARD_SECRECY = 1u << 3,
    POLICY_SASL_NOANONYMOUS = 1u << 4,
    POLICY_SASL_MUTUAL_AUTH = 1u << 5,
};

#define POLICY_SASL_KEYS_MAX 3

struct policy_sasl_secret {
    char user[256];
    char pass[256];
};

int policy_sasl_options_parse(const char *list, unsigned *flags, const char **bad);
int policy_sasl_secret_parse(const char *value, struct policy_sasl_secret *out);
/* policy_sasl_password_keys - the smtp_sasl_password_maps keys to try, in order; keys point into
 * store; returns how many (0 when store is too small) */
size_t policy_sasl_password_keys(const char *nexthop, const char *hostname,
                                 const char *keys[POLICY_SASL_KEYS_MAX], char *store,
                                 size_t storelen);
/* policy_sasl_auth_delay_ms - pause before answering the n-th failed AUTH (n >= 1) */
unsigned policy_sasl_auth_delay_ms(unsigned failures);

#endif
