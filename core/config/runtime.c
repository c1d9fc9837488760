/*
 * runtime - one configuration generation; see config/runtime.h.
 */
#include "core/config/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/delivery/delivery_self.h"
#include "core/base/error.h"
#include "policy/policy_fingerprint.h"

/* The policy levels are core's levels: core converts with a cast. */
_Static_assert((int)POLICY_TLS_NONE == (int)TLS_LEVEL_NONE, "tls level none");
_Static_assert((int)POLICY_TLS_MAY == (int)TLS_LEVEL_MAY, "tls level may");
_Static_assert((int)POLICY_TLS_ENCRYPT == (int)TLS_LEVEL_ENCRYPT, "tls level encrypt");
_Static_assert((int)POLICY_TLS_FINGERPRINT == (int)TLS_LEVEL_FINGERPRINT, "tls level fingerprint");
_Static_assert((int)POLICY_TLS_VERIFY == (int)TLS_LEVEL_VERIFY, "tls level verify");
_Static_assert((int)POLICY_TLS_SECURE == (int)TLS_LEVEL_SECURE, "tls level secure");
_Static_assert((int)POLICY_TLS_DANE == (int)TLS_LEVEL_DANE, "tls level dane");
_Static_assert((int)POLICY_TLS_DANE_ONLY == (int)TLS_LEVEL_DANE_ONLY, "tls level dane-only");

/* build_relay - the relay policy with relay_clientcerts and smtpd_restriction_classes */
static int build_relay(struct tern_runtime *rt, const struct tern_config *cfg, char **err)
{
    struct config_list names = {0, NULL};
    struct policy_restriction_class *classes = NULL;
    const char *ccerts = config_nonblank(config_get(cfg, "relay_clientcerts"));
    char *ccert_items[1] = {(char *)ccerts};
    /* The unsplit values: "check_ccert_access TYPE:TABLE" and "inline:{ ... }" span words. */
    const char *relay_r = config_nonblank(config_get(cfg, "smtpd_relay_restrictions"));
    /* As Postfix: below compatibility_level 1 the relay list defaults to empty, so a 2005
     * main.cf that puts its relay rules in smtpd_recipient_restrictions works as written. */
    if (!config_is_set(cfg, "smtpd_relay_restrictions") && atof(cfg->compatibility_level) < 1)
        relay_r = NULL;
    const char *rcpt_r = config_nonblank(config_get(cfg, "smtpd_recipient_restrictions"));
    char *relay_items[1] = {(char *)relay_r}, *rcpt_items[1] = {(char *)rcpt_r};
    int rc = config_parse_list(config_get(cfg, "smtpd_restriction_classes"), &names);
    if (rc < 0)
        goto fail;
    if (names.n > 0 && !(classes = calloc(names.n, sizeof(*classes)))) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < names.n; i++) {
        classes[i].name = names.item[i];
        classes[i].value = config_get(cfg, names.item[i]);
        if (!classes[i].value)
            classes[i].value = "";
    }
    if (cfg->unknown_address_reject_code < 400 || cfg->unknown_address_reject_code > 599) {
        error_set(err, "unknown_address_reject_code: %d is not a 4xx or 5xx reply code",
                  cfg->unknown_address_reject_code);
        rc = -EINVAL;
        goto fail;
    }
    enum policy_tempfail tempfail = POLICY_TEMPFAIL_DEFER_IF_PERMIT;
    static const char *const tempfail_params[] = {"reject_tempfail_action",
                                                  "unknown_address_tempfail_action"};
    for (size_t i = 0; i < sizeof(tempfail_params) / sizeof(tempfail_params[0]); i++) {
        const char *v = config_get(cfg, tempfail_params[i]);
        if (policy_relay_tempfail_parse(v, &tempfail) < 0) {
            error_set(err, "%s: \"%s\": tern implements defer_if_permit and defer",
                      tempfail_params[i], v ? v : "");
            rc = -EINVAL;
            goto fail;
        }
    }
    struct config_list mydest = {0, NULL};
    rc = config_parse_list(config_get(cfg, "mydestination"), &mydest);
    if (rc < 0)
        goto fail;
    struct policy_relay_params p = {
        .stage_restrictions =
            {
                config_nonblank(config_get(cfg, "smtpd_client_restrictions")),
                config_nonblank(config_get(cfg, "smtpd_helo_restrictions")),
                config_nonblank(config_get(cfg, "smtpd_sender_restrictions")),
                config_nonblank(config_get(cfg, "smtpd_data_restrictions")),
                config_nonblank(config_get(cfg, "smtpd_end_of_data_restrictions")),
            },
        .sender_login_maps = config_nonblank(config_get(cfg, "smtpd_sender_login_maps")),
        .mydestination = mydest.item,
        .nmydest = mydest.n,
        .delay_reject = cfg->smtpd_delay_reject,
        .unknown_address_reject_code = cfg->unknown_address_reject_code,
        .unknown_address_tempfail_action = tempfail,
        .relay_restrictions = relay_r ? relay_items : NULL,
        .nrelay = relay_r ? 1 : 0,
        .rcpt_restrictions = rcpt_r ? rcpt_items : NULL,
        .nrcpt = rcpt_r ? 1 : 0,
        .mynetworks = cfg->mynetworks.item,
        .nmynet = cfg->mynetworks.n,
        .relay_domains = cfg->relay_domains.item,
        .nrd = cfg->relay_domains.n,
        .relay_clientcerts = ccerts ? ccert_items : NULL,
        .nrelay_clientcerts = ccerts ? 1 : 0,
        .classes = classes,
        .nclasses = names.n,
    };
    rc = policy_relay_new_params(&rt->relay, &p, err);
    config_list_free(&mydest);
fail:
    free(classes);
    config_list_free(&names);
    return rc;
}

/* build_limits - the client limits' exceptions and time unit (Postfix's anvil) */
static int build_limits(struct tern_runtime *rt, const struct tern_config *cfg, char **err)
{
    if (cfg->anvil_rate_time_unit < 1) {
        error_set(err, "anvil_rate_time_unit: must be at least 1s");
        return -EINVAL;
    }
    const struct config_list *l = &cfg->smtpd_client_event_limit_exceptions;
    return policy_netlist_parse_param(&rt->limit_exceptions, "smtpd_client_event_limit_exceptions",
                                      l->item, l->n, err);
}

/* build_tls_sites - the per-site client TLS resolver (always built: it also knows the global
 * level's match lists and fingerprints) */
static int build_tls_sites(struct tern_runtime *rt, const struct tern_config *cfg, char **err)
{
    const char *per_site = config_nonblank(config_get(cfg, "smtp_tls_per_site"));
    const char *maps = config_nonblank(config_get(cfg, "smtp_tls_policy_maps"));
    char *per_site_items[1] = {(char *)per_site};
    char *maps_items[1] = {(char *)maps};
    const char *digest = config_nonblank(config_get(cfg, "smtp_tls_fingerprint_digest"));

    if (!digest)
        digest = policy_fingerprint_digest_default(cfg->compatibility_level);
    struct policy_tls_site_params p = {
        .global_level = (enum policy_tls_level)rt->tls->smtp_level, /* tlsconf read it */
        .per_site = per_site ? per_site_items : NULL,
        .nper_site = per_site ? 1 : 0,
        .policy_maps = maps ? maps_items : NULL,
        .npolicy_maps = maps ? 1 : 0,
        .verify_cert_match = config_nonblank(config_get(cfg, "smtp_tls_verify_cert_match")),
        .secure_cert_match = config_nonblank(config_get(cfg, "smtp_tls_secure_cert_match")),
        .fingerprint_cert_match =
            config_nonblank(config_get(cfg, "smtp_tls_fingerprint_cert_match")),
        .fingerprint_digest = digest,
        .protocols = config_nonblank(config_get(cfg, "smtp_tls_protocols")),
        .mandatory_protocols = config_nonblank(config_get(cfg, "smtp_tls_mandatory_protocols")),
        .ciphers = config_nonblank(config_get(cfg, "smtp_tls_ciphers")),
        .mandatory_ciphers = config_nonblank(config_get(cfg, "smtp_tls_mandatory_ciphers")),
        .exclude_ciphers = config_nonblank(config_get(cfg, "smtp_tls_exclude_ciphers")),
        .mandatory_exclude_ciphers =
            config_nonblank(config_get(cfg, "smtp_tls_mandatory_exclude_ciphers")),
        .dnssec = !strcasecmp(cfg->smtp_dns_support_level, "dnssec"),
    };
    rt->tls_sites_tables = per_site || maps;
    return policy_tls_sites_new(&rt->tls_sites, &p, err);
}

/* runtime_build - build policy objects from a loaded config */
int runtime_build(struct tern_runtime **out, struct tern_config *cfg,
                  struct tern_tls_caches *caches, const struct tern_runtime *prev, char **err)
{
    struct tern_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return -ENOMEM;
    atomic_init(&rt->refs, 1);
    rt->cfg = config_ref(cfg);
    int rc = build_relay(rt, cfg, err);
    if (rc < 0)
        goto fail;
    if (cfg->transport_maps && *cfg->transport_maps) {
        rc = policy_table_open(&rt->transport, cfg->transport_maps, err);
        if (rc < 0)
            goto fail;
    }
    rc = build_limits(rt, cfg, err);
    if (rc < 0)
        goto fail;
    rc = delivery_self_check(&cfg->proxy_interfaces, err); /* numeric addresses only */
    if (rc < 0)
        goto fail;
    rc = tlsconf_build(&rt->tls, cfg, caches, prev ? prev->tls : NULL, err);
    if (rc < 0)
        goto fail;
    rc = build_tls_sites(rt, cfg, err);
    if (rc < 0)
        goto fail;
    rc = authconf_build(&rt->auth, cfg, err);
    if (rc < 0)
        goto fail;
    *out = rt;
    return 0;
fail:
    if (rc == -ENOMEM && err && !*err)
        error_set(err, "out of memory");
    runtime_unref(rt);
    return rc;
}

struct tern_runtime *runtime_ref(struct tern_runtime *rt)
{
    atomic_fetch_add(&rt->refs, 1);
    return rt;
}

void runtime_unref(struct tern_runtime *rt)
{
    if (!rt || atomic_fetch_sub(&rt->refs, 1) != 1)
        return;
    policy_relay_free(rt->relay);
    policy_table_close(rt->transport);
    policy_tls_sites_free(rt->tls_sites);
    tlsconf_unref(rt->tls);
    authconf_free(rt->auth);
    policy_netlist_free(rt->limit_exceptions);
    config_unref(rt->cfg);
    free(rt);
}
