/*
 * NAME
 *	runtime - one configuration generation: config plus what is built from it
 * SYNOPSIS
 *	struct tern_runtime *rt;
 *	runtime_build(&rt, cfg, &err);     // parses mynetworks, opens transport_maps, ...
 *	runtime_ref(rt); runtime_unref(rt);
 * DESCRIPTION
 *	Everything that a reload (SIGHUP) replaces at once: the immutable config,
 *	the relay policy (with relay_clientcerts and smtpd_restriction_classes),
 *	the lookup tables, the per-site client TLS resolver (smtp_tls_policy_maps,
 *	smtp_tls_per_site and the global level, policy_tls_site.h), the SASL
 *	settings and password tables (config/authconf.h), the clients exempt from
 *	the client limits (smtpd_client_event_limit_exceptions). Sessions hold a reference for their
 *	whole life, so a reload never changes the rules under a session. Each
 *	worker keeps its own pointer to the newest runtime (swapped by a message
 *	posted to its loop), so taking it costs no lock.
 */
#ifndef TERN_CONFIG_RUNTIME_H
#define TERN_CONFIG_RUNTIME_H

#include <stdatomic.h>

#include "core/config/authconf.h"
#include "core/config/config.h"
#include "core/config/tlsconf.h"
#include "policy/policy_net.h"
#include "policy/policy_relay.h"
#include "policy/policy_table.h"
#include "policy/policy_tls_site.h"

struct tern_runtime {
    atomic_int refs;
    struct tern_config *cfg;          /* owned reference */
    struct policy_relay *relay;
    struct policy_table *transport;   /* NULL when transport_maps is empty */
    struct tern_tls *tls;             /* both legs' TLS levels and contexts */
    struct policy_tls_sites *tls_sites; /* client TLS level per next hop and server */
    bool tls_sites_tables;              /* smtp_tls_policy_maps or smtp_tls_per_site is set */
    struct tern_auth *auth;           /* SASL, both directions (config/authconf.h) */
    struct policy_netlist *limit_exceptions; /* smtpd_client_event_limit_exceptions */
};

/* runtime_build - 0, or -errno with *err (malloc'd) naming what is wrong; caches borrowed, may
 * be NULL; prev (may be NULL) is the runtime being replaced, whose TLS contexts are kept when the
 * TLS parameters did not change */
int runtime_build(struct tern_runtime **out, struct tern_config *cfg,
                  struct tern_tls_caches *caches, const struct tern_runtime *prev, char **err);
struct tern_runtime *runtime_ref(struct tern_runtime *rt);
void runtime_unref(struct tern_runtime *rt); /* NULL is fine */

#endif
