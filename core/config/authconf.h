/*
 * NAME
 *	authconf - the SASL settings of one configuration generation
 * SYNOPSIS
 *	struct tern_auth *a;
 *	authconf_build(&a, cfg, &err);
 *	a->server_mechs_tls                       // "PLAIN LOGIN", for EHLO
 *	authconf_password(a, "[relay.example]:587", "relay.example", &secret);
 *	authconf_free(a);
 * DESCRIPTION
 *	Built with each runtime (config/runtime.h) from main.cf, after
 *	auth_init() (auth/auth.h) has started Cyrus.
 *
 *	Server: with smtpd_sasl_auth_enable the mechanisms to offer before TLS
 *	(none when smtpd_tls_auth_only = yes: the talk's second approach) and
 *	inside TLS, as Cyrus lists them under smtpd_sasl_security_options and
 *	smtpd_sasl_tls_security_options. The talk's first approach, plaintext
 *	mechanisms only inside TLS, is smtpd_sasl_security_options =
 *	noanonymous, noplaintext with smtpd_sasl_tls_security_options =
 *	noanonymous.
 *
 *	Client: with smtp_sasl_auth_enable the smtp_sasl_password_maps tables
 *	(a list; the first that knows a key wins) and the option flags for
 *	plaintext and TLS sessions. An AUTH failure always defers (as Postfix's
 *	default smtp_sasl_auth_soft_bounce = yes).
 * DIAGNOSTICS
 *	authconf_build: 0, or -errno with *err (malloc'd). authconf_password:
 *	1 found (secret filled in), 0 none, -errno on a table error or a
 *	malformed entry (the delivery defers).
 */
#ifndef TERN_CONFIG_AUTHCONF_H
#define TERN_CONFIG_AUTHCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config/config.h"
#include "policy/policy_sasl.h"
#include "policy/policy_table.h"

#define AUTHCONF_MAPS_MAX 8

struct tern_auth {
    /* server */
    bool server;            /* smtpd_sasl_auth_enable */
    char *server_mechs;     /* before TLS; NULL: not offered */
    char *server_mechs_tls; /* inside TLS; NULL: not offered */
    unsigned server_flags, server_tls_flags;
    const char *realm; /* smtpd_sasl_local_domain, borrowed from the config */
    bool broken_clients, received_header;
    /* client */
    bool client; /* smtp_sasl_auth_enable */
    struct policy_table *maps[AUTHCONF_MAPS_MAX];
    size_t nmaps;
    unsigned client_flags, client_tls_flags;
};

int authconf_build(struct tern_auth **out, const struct tern_config *cfg, char **err);
int authconf_password(const struct tern_auth *a, const char *nexthop, const char *hostname,
                      struct policy_sasl_secret *secret);
void authconf_free(struct tern_auth *a); /* NULL is fine */

#endif
