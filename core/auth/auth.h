/*
 * NAME
 *	auth - SMTP AUTH through Cyrus SASL, both directions
 * SYNOPSIS
 *	auth_init(cfg, &err);                         // once, before privileges drop
 *
 *	// server (smtpd): one exchange per AUTH command
 *	auth_server_mechs(&p, mechs, sizeof(mechs));  // "PLAIN LOGIN" for EHLO
 *	struct auth_server *as;
 *	auth_server_new(&as, &p);
 *	r = auth_server_step(as, "PLAIN", in, inlen, &out, &outlen, &why);
 *	auth_server_free(as);
 *
 *	// client (smtp): one exchange per connection
 *	struct auth_client *ac;
 *	auth_client_new(&ac, "mail.isp.example", "user", "secret", secflags);
 *	r = auth_client_start(ac, "PLAIN LOGIN CRAM-MD5", &mech, &out, &outlen, &why);
 *	r = auth_client_step(ac, in, inlen, &out, &outlen, &why);
 *	auth_client_free(ac);
 * DESCRIPTION
 *	The only file that includes <sasl/sasl.h> (with auth/auth_server.c and
 *	auth/auth_client.c). Threads: Cyrus is thread-safe once its mutex
 *	hooks are set and sasl_server_init()/sasl_client_init() have returned,
 *	as long as one sasl_conn_t is used by one thread at a time (its quick
 *	start guide; no calls after sasl_done(), which tern never makes).
 *	auth_init() installs pthread mutexes (Cyrus's own serialise disposes
 *	and guard what plugins share, e.g. DIGEST-MD5's reauth cache) and runs
 *	both init calls under tern's lock, before any thread starts: they are
 *	the only calls that write Cyrus's global state (the plugin and
 *	mechanism lists, the config, the global callbacks). Every other call
 *	takes no lock of tern's: an auth_server or auth_client belongs to one
 *	exchange, whose steps never overlap. So a server step that waits on
 *	saslauthd, PAM or LDAP (smtpd/authjob.h runs those on a thread pool)
 *	holds up neither other exchanges nor tern's SASL client on a worker.
 *	(Until issue 9 one global lock bracketed every Cyrus call: one slow
 *	saslauthd answer stalled all AUTH and every delivery that
 *	authenticated.)
 *
 *	Server: sasl_server_init() with the application name smtpd_sasl_path
 *	("smtpd": Cyrus reads smtpd.conf) and, when cyrus_sasl_config_path is
 *	set, that directory for the file, as Postfix does. The realm is
 *	smtpd_sasl_local_domain (empty: Cyrus's default, the server name).
 *	Security flags (policy_sasl.h) go to Cyrus as SASL_SEC_* so the
 *	mechanisms it lists and accepts already obey
 *	smtpd_sasl_security_options or smtpd_sasl_tls_security_options. No
 *	SASL security layer is negotiated (max_ssf 0), as in Postfix.
 *
 *	Client: sasl_client_init(); per connection the username and password
 *	from smtp_sasl_password_maps. Cyrus picks the best mechanism the
 *	server offers that the security flags allow; with noplaintext and no
 *	other mechanism that means none, and nothing is sent.
 *
 *	Results: AUTH_OK (done; the server knows the username), AUTH_CONTINUE
 *	(send *out and wait for the peer), AUTH_FAIL (credentials refused or
 *	protocol error; *why says which), AUTH_TEMPFAIL (the back end is
 *	unavailable, try later), AUTH_NOMECH (no usable mechanism).
 *	Buffers handed out (*out, *mech, *why) stay valid until the next call
 *	on the same object.
 * DIAGNOSTICS
 *	auth_init: 0, or -errno with *err (malloc'd). Constructors: 0 or
 *	-ENOMEM/-EIO. Cyrus's own log messages are logged at warning level
 *	(component "sasl").
 */
#ifndef TERN_AUTH_AUTH_H
#define TERN_AUTH_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config/config.h"

enum auth_result { AUTH_OK, AUTH_CONTINUE, AUTH_FAIL, AUTH_TEMPFAIL, AUTH_NOMECH };

/* auth_init - initialise Cyrus for what cfg enables (server, client, or neither) */
int auth_init(const struct tern_config *cfg, char **err);
/* auth_server_ready / auth_client_ready - was that side initialised? */
bool auth_server_ready(void);
bool auth_client_ready(void);

struct auth_server_params {
    const char *hostname;   /* myhostname: serverFQDN, the default realm */
    const char *realm;      /* smtpd_sasl_local_domain; NULL/"" = Cyrus's default */
    const char *local_addr; /* numeric; NULL = unknown */
    int local_port;
    const char *remote_addr; /* numeric; NULL = unknown */
    int remote_port;
    unsigned secflags; /* POLICY_SASL_* */
};

struct auth_server;
/* auth_server_mechs - the mechanisms to offer with these flags, space separated ("" = none) */
int auth_server_mechs(const struct auth_server_params *p, char *out, size_t len);
int auth_server_new(struct auth_server **out, const struct auth_server_params *p);
/* auth_server_step - mech non-NULL on the first step (in: the initial response, may be NULL) */
enum auth_result auth_server_step(struct auth_server *as, const char *mech, const char *in,
                                  size_t inlen, const char **out, size_t *outlen, const char **why);
/* auth_server_username - after AUTH_OK, the authenticated (canonical) name */
const char *auth_server_username(struct auth_server *as);
void auth_server_free(struct auth_server *as); /* NULL is fine */

struct auth_client;
int auth_client_new(struct auth_client **out, const char *server_host, const char *user,
                    const char *pass, unsigned secflags);
/* auth_client_start - pick a mechanism from the server's list; *out NULL: no initial response */
enum auth_result auth_client_start(struct auth_client *ac, const char *server_mechs,
                                   const char **mech, const char **out, size_t *outlen,
                                   const char **why);
enum auth_result auth_client_step(struct auth_client *ac, const char *in, size_t inlen,
                                  const char **out, size_t *outlen, const char **why);
void auth_client_free(struct auth_client *ac); /* NULL is fine */

#endif
