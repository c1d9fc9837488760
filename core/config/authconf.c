/*
 * authconf - the SASL settings of one generation; see config/authconf.h.
 */
#include "core/config/authconf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth/auth.h"
#include "core/base/error.h"
#include "core/base/log.h"

/* authconf_flags - one *_security_options parameter (auth_init already refused bad words) */
static int authconf_flags(const struct tern_config *cfg, const char *name, unsigned *flags,
                          char **err)
{
    const char *bad = NULL;
    if (policy_sasl_options_parse(config_get(cfg, name), flags, &bad) < 0) {
        error_set(err, "%s: unknown option \"%.*s\"", name, (int)strcspn(bad, " \t,"), bad);
        return -EINVAL;
    }
    return 0;
}

/* authconf_mechs - what Cyrus offers under flags; NULL when nothing */
static int authconf_mechs(const struct tern_config *cfg, unsigned flags, const char *realm,
                          char **out, char **err)
{
    char list[512];
    struct auth_server_params p = {
        .hostname = cfg->myhostname,
        .realm = realm,
        .secflags = flags,
    };
    int rc = auth_server_mechs(&p, list, sizeof(list));
    if (rc < 0) {
        error_set(err, "smtpd_sasl_auth_enable: cannot list SASL mechanisms: %s", error_str(rc));
        return rc;
    }
    *out = NULL;
    if (list[0] && !(*out = strdup(list)))
        return -ENOMEM;
    return 0;
}

/* authconf_server - smtpd side */
static int authconf_server(struct tern_auth *a, const struct tern_config *cfg, char **err)
{
    int rc;
    a->server = config_get_bool(cfg, "smtpd_sasl_auth_enable");
    if (!a->server)
        return 0;
    if (!auth_server_ready()) {
        error_set(err, "smtpd_sasl_auth_enable was turned on by a reload: restart ternd");
        return -EINVAL;
    }
    a->realm = config_get(cfg, "smtpd_sasl_local_domain");
    a->broken_clients = config_get_bool(cfg, "broken_sasl_auth_clients");
    a->received_header = config_get_bool(cfg, "smtpd_sasl_authenticated_header");
    if ((rc = authconf_flags(cfg, "smtpd_sasl_security_options", &a->server_flags, err)) < 0 ||
        (rc = authconf_flags(cfg, "smtpd_sasl_tls_security_options", &a->server_tls_flags, err)) <
            0)
        return rc;
    if ((rc = authconf_mechs(cfg, a->server_tls_flags, a->realm, &a->server_mechs_tls, err)) < 0)
        return rc;
    if (!config_get_bool(cfg, "smtpd_tls_auth_only") &&
        (rc = authconf_mechs(cfg, a->server_flags, a->realm, &a->server_mechs, err)) < 0)
        return rc;
    if (!a->server_mechs && !a->server_mechs_tls)
        log_warn("sasl", "smtpd_sasl_auth_enable = yes, but no SASL mechanism is available "
                         "under the security options: AUTH is not offered");
    return 0;
}

/* authconf_client - smtp side */
static int authconf_client(struct tern_auth *a, const struct tern_config *cfg, char **err)
{
    struct config_list maps = {0, NULL};
    int rc;
    a->client = config_get_bool(cfg, "smtp_sasl_auth_enable");
    if (!a->client)
        return 0;
    if (!auth_client_ready()) {
        error_set(err, "smtp_sasl_auth_enable was turned on by a reload: restart ternd");
        return -EINVAL;
    }
    if ((rc = authconf_flags(cfg, "smtp_sasl_security_options", &a->client_flags, err)) < 0 ||
        (rc = authconf_flags(cfg, "smtp_sasl_tls_security_options", &a->client_tls_flags, err)) < 0)
        return rc;
    const char *spec = config_get(cfg, "smtp_sasl_password_maps");
    /* a list of tables, unless the one table is inline:{ ... } (commas inside) */
    if (spec && strchr(spec, '{')) {
        if (!(maps.item = calloc(1, sizeof(char *))) || !(maps.item[0] = strdup(spec))) {
            free(maps.item);
            return -ENOMEM;
        }
        maps.n = 1;
    } else if ((rc = config_parse_list(spec, &maps)) < 0) {
        return rc;
    }
    if (maps.n == 0 || maps.n > AUTHCONF_MAPS_MAX) {
        error_set(err, "smtp_sasl_password_maps: %s",
                  maps.n ? "too many tables" : "smtp_sasl_auth_enable = yes needs a table");
        rc = -EINVAL;
    }
    for (size_t i = 0; rc == 0 && i < maps.n; i++)
        if ((rc = policy_table_open(&a->maps[i], maps.item[i], err)) == 0)
            a->nmaps++;
    config_list_free(&maps);
    return rc;
}

int authconf_build(struct tern_auth **out, const struct tern_config *cfg, char **err)
{
    struct tern_auth *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    int rc = authconf_server(a, cfg, err);
    if (rc == 0)
        rc = authconf_client(a, cfg, err);
    if (rc < 0) {
        authconf_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

/* authconf_password - the credentials for this next hop and server, if any */
int authconf_password(const struct tern_auth *a, const char *nexthop, const char *hostname,
                      struct policy_sasl_secret *secret)
{
    const char *keys[POLICY_SASL_KEYS_MAX];
    char store[600];
    size_t nkeys = policy_sasl_password_keys(nexthop, hostname, keys, store, sizeof(store));
    for (size_t k = 0; k < nkeys; k++) {
        for (size_t i = 0; i < a->nmaps; i++) {
            const char *v = NULL;
            int rc = policy_table_lookup(a->maps[i], keys[k], &v);
            if (rc < 0)
                return rc;
            if (rc == 0)
                continue;
            if (policy_sasl_secret_parse(v, secret) < 0) {
                log_warn("sasl", "smtp_sasl_password_maps: entry for %s is not username:password",
                         keys[k]);
                return -EINVAL;
            }
            return 1;
        }
    }
    return 0;
}

void authconf_free(struct tern_auth *a)
{
    if (!a)
        return;
    free(a->server_mechs);
    free(a->server_mechs_tls);
    for (size_t i = 0; i < a->nmaps; i++)
        policy_table_close(a->maps[i]);
    free(a);
}
