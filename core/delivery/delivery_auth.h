/*
 * NAME
 *	delivery_auth - SASL credentials and the AUTH exchange of one outbound connection
 * SYNOPSIS
 *	struct delivery_auth *da = NULL;
 *	rc = delivery_auth_new(&da, rt->auth, "[relay.example]:587", "relay.example");
 *	sp.auth = da ? delivery_auth_hooks(da) : NULL;   // struct smtpc_params
 *	delivery_auth_free(da);
 * DESCRIPTION
 *	Looks the next hop and server up in smtp_sasl_password_maps
 *	(config/authconf.h) when the connection is made, and gives delivery/smtpc the
 *	start/step functions it calls if the server offers AUTH. The Cyrus
 *	client (auth/auth.h) is created at the first step, when it is known
 *	whether TLS is up: its security flags are smtp_sasl_tls_security_options
 *	inside TLS and smtp_sasl_security_options outside, so with the talk's
 *	"noanonymous, noplaintext" no plaintext mechanism is ever used in
 *	plaintext.
 * DIAGNOSTICS
 *	delivery_auth_new: 1 with *out set (credentials found), 0 (none: no AUTH),
 *	-errno on a table error (the caller defers, 4.3.0).
 */
#ifndef TERN_DELIVERY_DELIVERY_AUTH_H
#define TERN_DELIVERY_DELIVERY_AUTH_H

#include "core/config/authconf.h"
#include "core/delivery/smtpc.h"

struct delivery_auth;

int delivery_auth_new(struct delivery_auth **out, const struct tern_auth *a, const char *nexthop,
                      const char *host);
const struct smtpc_auth *delivery_auth_hooks(struct delivery_auth *da);
const char *delivery_auth_username(const struct delivery_auth *da);
void delivery_auth_free(struct delivery_auth *da); /* NULL is fine */

#endif
