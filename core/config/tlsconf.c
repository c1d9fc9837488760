/*
 * tlsconf - TLS settings of both legs; see config/tlsconf.h.
 */
#include "core/config/tlsconf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/hash.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/redis/redis_conf.h"
#include "tls/tls_cache.h"
#include "tls/tls_cipher.h"
#include "tls/tls_ctx.h"

static const char *const level_names[] = {"none",   "may",    "encrypt", "fingerprint",
                                          "verify", "secure", "dane",    "dane-only"};

const char *tlsconf_level_name(enum tls_level level)
{
    return level_names[level];
}

/* tlsconf_parse_level - Postfix's level names */
int tlsconf_parse_level(const char *text, enum tls_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (!strcasecmp(text, level_names[i])) {
            *out = (enum tls_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* param - expanded value of a parameter, "" when unset */
static const char *param(const struct tern_config *cfg, const char *name)
{
    const char *v = config_get(cfg, name);
    return v ? v : "";
}

/* param_bool_checked - a yes/no parameter, -EINVAL with *err when it is neither */
static int param_bool_checked(const struct tern_config *cfg, const char *name, bool *out,
                              char **err)
{
    if (config_parse_bool(param(cfg, name), out) < 0) {
        error_set(err, "bad value for %s: \"%s\" (yes or no)", name, param(cfg, name));
        return -EINVAL;
    }
    return 0;
}

/* has_anchor - does the file hold a DS or DNSKEY record (zone file format)? Read up to 1 MiB:
 * unbound reads it only at the first query and then fails every query, so look now */
static bool has_anchor(FILE *f)
{
    char line[4096];
    for (int n = 0; n < 256 && fgets(line, sizeof(line), f); n++) {
        char *save = NULL, *cut = strchr(line, ';');
        if (cut)
            *cut = 0;
        for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save))
            if (!strcmp(t, "DS") || !strcmp(t, "DNSKEY"))
                return true;
    }
    return false;
}

/* check_dns_level - smtp_dns_support_level: "", enabled or dnssec; anything else is a bad value */
static int check_dns_level(const struct tern_config *cfg, char **err)
{
    const char *v = param(cfg, "smtp_dns_support_level");
    if (!strcasecmp(v, "dnssec")) {
        FILE *f = fopen(cfg->dnssec_trust_anchor_file, "r");
        if (!f) {
            int e = errno;
            error_set(err,
                      "smtp_dns_support_level = dnssec: cannot read dnssec_trust_anchor_file "
                      "%s: %s",
                      cfg->dnssec_trust_anchor_file, strerror(e));
            return -e;
        }
        bool ok = has_anchor(f);
        fclose(f);
        if (!ok) {
            error_set(err, "dnssec_trust_anchor_file %s holds no DS or DNSKEY record",
                      cfg->dnssec_trust_anchor_file);
            return -EINVAL;
        }
    }
    if (!*v || !strcasecmp(v, "enabled") || !strcasecmp(v, "dnssec"))
        return 0;
    error_set(err, "bad value for smtp_dns_support_level: \"%s\" (enabled or dnssec)", v);
    return -EINVAL;
}

/* leg_level - security level of one leg from the current and the 2005 parameters */
static int leg_level(const struct tern_config *cfg, const char *prefix, enum tls_level *out,
                     char **err)
{
    char name[64];
    snprintf(name, sizeof(name), "%s_tls_security_level", prefix);
    const char *lvl = param(cfg, name);
    if (*lvl) {
        if (tlsconf_parse_level(lvl, out) < 0) {
            error_set(err, "bad value for %s: \"%s\"", name, lvl);
            return -EINVAL;
        }
        if (!strcmp(prefix, "smtpd") && *out > TLS_LEVEL_ENCRYPT) {
            error_set(err, "bad value for %s: \"%s\" (none, may or encrypt)", name, lvl);
            return -EINVAL;
        }
        if ((*out == TLS_LEVEL_DANE || *out == TLS_LEVEL_DANE_ONLY) &&
            strcasecmp(param(cfg, "smtp_dns_support_level"), "dnssec") != 0) {
            error_set(err, "%s = %s needs smtp_dns_support_level = dnssec", name, lvl);
            return -EINVAL;
        }
        return 0;
    }
    bool use, enforce;
    char use_name[64], enforce_name[64];
    snprintf(use_name, sizeof(use_name), "%s_use_tls", prefix);
    snprintf(enforce_name, sizeof(enforce_name), "%s_enforce_tls", prefix);
    if (param_bool_checked(cfg, use_name, &use, err) < 0 ||
        param_bool_checked(cfg, enforce_name, &enforce, err) < 0)
        return -EINVAL;
    if (enforce) {
        if (!strcmp(prefix, "smtp") && config_get_bool(cfg, "smtp_tls_enforce_peername"))
            *out = TLS_LEVEL_VERIFY;
        else
            *out = TLS_LEVEL_ENCRYPT;
    } else {
        *out = use ? TLS_LEVEL_MAY : TLS_LEVEL_NONE;
    }
    return 0;
}

/* cache_path - "lmdb:/x/y" (or btree:, hash:) -> "/x/y.lmdb"; NULL when unset. "redis:FILE":
 * FILE's cache_file is the node's near cache (default $queue_directory/tls_near_cache), and
 * *redis the parsed file; -EINVAL with *err when FILE is wrong */
static int cache_path(const struct tern_config *cfg, const char *name, char **path,
                      struct redis_conf **redis, char **err)
{
    const char *spec = param(cfg, name);
    *path = NULL;
    if (!spec || !*spec)
        return 0;
    const char *colon = strchr(spec, ':');
    const char *file = colon ? colon + 1 : spec;
    if (colon && (size_t)(colon - spec) == 5 && !strncmp(spec, "redis", 5)) {
        char *dflt = NULL, *why = NULL;
        if (asprintf(&dflt, "%s/tls_near_cache", cfg->queue_directory) < 0)
            return -ENOMEM;
        int rc = redis_conf_load(redis, file, dflt, &why);
        free(dflt);
        if (rc < 0) {
            error_set(err, "%s = %s: %s", name, spec, why ? why : strerror(-rc));
            free(why);
            return rc;
        }
        file = (*redis)->cache_file;
    }
    return asprintf(path, "%s.lmdb", file) < 0 ? -ENOMEM : 0;
}

/* tlsconf_check_caches - the redis:FILE values can be read (ternd check); nothing is opened */
int tlsconf_check_caches(const struct tern_config *cfg, char **err)
{
    static const char *const names[] = {"smtpd_tls_session_cache_database",
                                        "smtp_tls_session_cache_database"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char *path = NULL;
        struct redis_conf *redis = NULL;
        int rc = cache_path(cfg, names[i], &path, &redis, err);
        free(path);
        redis_conf_free(redis);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* tlsconf_caches_open - one environment per distinct file */
int tlsconf_caches_open(struct tern_tls_caches **out, const struct tern_config *cfg, char **err)
{
    struct tern_tls_caches *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    int rc;
    if ((rc = cache_path(cfg, "smtpd_tls_session_cache_database", &c->server_path, &c->server_redis,
                         err)) < 0 ||
        (rc = cache_path(cfg, "smtp_tls_session_cache_database", &c->client_path, &c->client_redis,
                         err)) < 0)
        goto fail;
    if (c->server_path && (rc = tls_cache_open(&c->server, c->server_path, 0)) < 0) {
        error_set(err, "smtpd_tls_session_cache_database %s: %s", c->server_path, strerror(-rc));
        goto fail;
    }
    if (c->client_path) {
        if (c->server_path && !strcmp(c->server_path, c->client_path)) {
            c->client = c->server; /* and one mirror: the server side's */
            redis_conf_free(c->client_redis);
            c->client_redis = NULL;
        } else if ((rc = tls_cache_open(&c->client, c->client_path, 0)) < 0) {
            error_set(err, "smtp_tls_session_cache_database %s: %s", c->client_path, strerror(-rc));
            goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    tlsconf_caches_close(c);
    return rc;
}

void tlsconf_caches_close(struct tern_tls_caches *c)
{
    if (!c)
        return;
    if (c->client != c->server)
        tls_cache_close(c->client);
    tls_cache_close(c->server);
    redis_conf_free(c->server_redis);
    redis_conf_free(c->client_redis);
    free(c->server_path);
    free(c->client_path);
    free(c);
}

/* room for PREFIX_tls_exclude_ciphers and PREFIX_tls_mandatory_exclude_ciphers together */
#define EXCLUDE_MAX 4096

/* leg_exclude - PREFIX_tls_exclude_ciphers, plus PREFIX_tls_mandatory_exclude_ciphers when
 * mandatory (Postfix: the mandatory list works in addition); NULL when both are empty */
static const char *leg_exclude(const struct tern_config *cfg, const char *prefix, bool mandatory,
                               char *buf, size_t len)
{
    char name[64], mname[64];
    snprintf(name, sizeof(name), "%s_tls_exclude_ciphers", prefix);
    snprintf(mname, sizeof(mname), "%s_tls_mandatory_exclude_ciphers", prefix);
    const char *all = param(cfg, name), *mand = mandatory ? param(cfg, mname) : "";
    snprintf(buf, len, "%s%s%s", all, *all && *mand ? " " : "", mand);
    return config_nonblank(buf);
}

/* check_leg_ciphers - every protocol list, grade and exclusion list of one leg, whether or not
 * this configuration uses it now (a per-site policy or a reload may): 0 or -EINVAL with *err */
static int check_leg_ciphers(const struct tern_config *cfg, const char *prefix, char **err)
{
    static const char *const kinds[] = {"", "mandatory_"};
    char pname[64], gname[64], xname[64], mxname[64], e[512] = "", ex[EXCLUDE_MAX];
    snprintf(xname, sizeof(xname), "%s_tls_exclude_ciphers", prefix);
    snprintf(mxname, sizeof(mxname), "%s_tls_mandatory_exclude_ciphers", prefix);
    const char *x = param(cfg, xname), *mx = param(cfg, mxname);
    if (strlen(x) + strlen(mx) + 2 > sizeof(ex)) {
        error_set(err, "bad value for %s and %s: together longer than %zu characters", xname,
                  mxname, sizeof(ex) - 2);
        return -EINVAL;
    }
    for (int mand = 0; mand < 2; mand++) {
        unsigned mask;
        snprintf(pname, sizeof(pname), "%s_tls_%sprotocols", prefix, kinds[mand]);
        snprintf(gname, sizeof(gname), "%s_tls_%sciphers", prefix, kinds[mand]);
        if (tls_protocols_parse(param(cfg, pname), &mask, e, sizeof(e)) < 0) {
            error_set(err, "bad value for %s: %s", pname, e);
            return -EINVAL;
        }
        if (tls_cipher_check(param(cfg, gname), leg_exclude(cfg, prefix, mand, ex, sizeof(ex)),
                             mask, e, sizeof(e)) < 0) {
            error_set(err, "bad value for %s%s%s%s%s (protocols: %s = %s): %s", gname,
                      *x ? ", " : "", *x ? xname : "", mand && *mx ? ", " : "",
                      mand && *mx ? mxname : "", pname, param(cfg, pname), e);
            return -EINVAL;
        }
    }
    return 0;
}

/* digest_params - FNV-1a over the values of the named parameters, as 16 hex digits */
static void digest_params(const struct tern_config *cfg, const char *const *names, size_t n,
                          char out[17])
{
    uint64_t h = HASH_FNV64_START;
    for (size_t i = 0; i < n; i++)
        h = hash_fnv64(hash_fnv64_str(h, param(cfg, names[i])), "\xff", 1);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* The client settings that change what a cached session may be reused for. */
static const char *const client_session_params[] = {
    "smtp_tls_CAfile",          "smtp_tls_CApath",
    "smtp_tls_cert_file",       "smtp_tls_key_file",
    "smtp_tls_protocols",       "smtp_tls_mandatory_protocols",
    "smtp_tls_ciphers",         "smtp_tls_mandatory_ciphers",
    "smtp_tls_exclude_ciphers", "smtp_tls_mandatory_exclude_ciphers",
};

/* Every parameter tlsconf_build reads: equal values give equal contexts. */
static const char *const all_tls_params[] = {
    "smtpd_tls_security_level",
    "smtp_tls_per_site",
    "smtp_tls_policy_maps",
    "smtpd_use_tls",
    "smtpd_enforce_tls",
    "smtp_tls_security_level",
    "smtp_dns_support_level",
    "smtp_use_tls",
    "smtp_enforce_tls",
    "smtp_tls_enforce_peername",
    "smtpd_tls_received_header",
    "smtpd_tls_ask_ccert",
    "smtpd_tls_req_ccert",
    "smtpd_tls_auth_only",
    "smtpd_tls_loglevel",
    "smtp_tls_loglevel",
    "smtp_tls_note_starttls_offer",
    "smtpd_tls_session_cache_timeout",
    "smtp_tls_session_cache_timeout",
    "smtp_tls_verify_cert_match",
    "smtp_tls_secure_cert_match",
    "smtpd_tls_cert_file",
    "smtpd_tls_key_file",
    "smtpd_tls_eccert_file",
    "smtpd_tls_eckey_file",
    "smtpd_tls_CAfile",
    "smtpd_tls_CApath",
    "smtpd_tls_protocols",
    "smtpd_tls_mandatory_protocols",
    "smtpd_tls_ciphers",
    "smtpd_tls_mandatory_ciphers",
    "smtpd_tls_exclude_ciphers",
    "smtpd_tls_mandatory_exclude_ciphers",
    "smtpd_tls_ccert_verifydepth",
    "smtp_tls_cert_file",
    "smtp_tls_key_file",
    "smtp_tls_CAfile",
    "smtp_tls_CApath",
    "smtp_tls_protocols",
    "smtp_tls_mandatory_protocols",
    "smtp_tls_ciphers",
    "smtp_tls_mandatory_ciphers",
    "smtp_tls_exclude_ciphers",
    "smtp_tls_mandatory_exclude_ciphers",
    "smtp_tls_scert_verifydepth",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* tlsconf_build - contexts and levels of both legs */
int tlsconf_build(struct tern_tls **out, const struct tern_config *cfg,
                  struct tern_tls_caches *caches, struct tern_tls *prev, char **err)
{
    char digest[17];
    struct tlsfiles files;
    const char *changed = NULL;
    digest_params(cfg, all_tls_params, NELEM(all_tls_params), digest);
    if (tlsfiles_snapshot(&files, cfg) < 0)
        return -ENOMEM;
    if (prev && !strcmp(prev->param_digest, digest)) {
        if (!(changed = tlsfiles_changed(&prev->files, &files))) {
            tlsfiles_free(&files);
            atomic_fetch_add(&prev->refs, 1);
            *out = prev;
            return 0;
        }
        log_info("master", "reload: %s %s changed: building the TLS contexts again", changed,
                 tlsfiles_path(&files, changed));
    }
    struct tern_tls *t = calloc(1, sizeof(*t));
    if (!t) {
        tlsfiles_free(&files);
        return -ENOMEM;
    }
    t->files = files;
    atomic_init(&t->refs, 1);
    memcpy(t->param_digest, digest, sizeof(digest));
    t->caches = caches;
    char e[512] = "";
    int rc = check_dns_level(cfg, err);
    if (rc < 0)
        goto fail;
    rc = leg_level(cfg, "smtpd", &t->smtpd_level, err);
    if (rc < 0)
        goto fail;
    rc = leg_level(cfg, "smtp", &t->smtp_level, err);
    if (rc < 0)
        goto fail;
    if ((rc = check_leg_ciphers(cfg, "smtpd", err)) < 0 ||
        (rc = check_leg_ciphers(cfg, "smtp", err)) < 0)
        goto fail;
    char sexclude[EXCLUDE_MAX], cexclude[EXCLUDE_MAX];
    t->smtpd_received_header = config_get_bool(cfg, "smtpd_tls_received_header");
    t->smtpd_ask_ccert = config_get_bool(cfg, "smtpd_tls_ask_ccert");
    t->smtpd_req_ccert = config_get_bool(cfg, "smtpd_tls_req_ccert");
    t->smtpd_auth_only = config_get_bool(cfg, "smtpd_tls_auth_only");
    t->smtpd_loglevel = atoi(param(cfg, "smtpd_tls_loglevel"));
    t->smtp_loglevel = atoi(param(cfg, "smtp_tls_loglevel"));
    t->smtp_note_starttls_offer = config_get_bool(cfg, "smtp_tls_note_starttls_offer");
    int secs = 3600;
    config_parse_time(param(cfg, "smtpd_tls_session_cache_timeout"), 's', &secs);
    t->smtpd_cache_timeout = (unsigned)secs;
    secs = 3600;
    config_parse_time(param(cfg, "smtp_tls_session_cache_timeout"), 's', &secs);
    t->smtp_cache_timeout = (unsigned)secs;
    digest_params(cfg, client_session_params, NELEM(client_session_params),
                  t->smtp_settings_digest);

    const char *cert = config_nonblank(param(cfg, "smtpd_tls_cert_file"));
    const char *eccert = config_nonblank(param(cfg, "smtpd_tls_eccert_file"));
    if (t->smtpd_level > TLS_LEVEL_NONE && !cert && !eccert) {
        error_set(err, "smtpd TLS level %s needs smtpd_tls_cert_file",
                  tlsconf_level_name(t->smtpd_level));
        rc = -EINVAL;
        goto fail;
    }
    if (cert || eccert) {
        struct tls_ctx_params sp = {
            .cert_file = cert,
            .key_file = config_nonblank(param(cfg, "smtpd_tls_key_file")),
            .eccert_file = eccert,
            .eckey_file = config_nonblank(param(cfg, "smtpd_tls_eckey_file")),
            .CAfile = config_nonblank(param(cfg, "smtpd_tls_CAfile")),
            .CApath = config_nonblank(param(cfg, "smtpd_tls_CApath")),
            .protocols = config_nonblank(param(cfg, t->smtpd_level >= TLS_LEVEL_ENCRYPT
                                                        ? "smtpd_tls_mandatory_protocols"
                                                        : "smtpd_tls_protocols")),
            .cipher_grade = config_nonblank(param(cfg, t->smtpd_level >= TLS_LEVEL_ENCRYPT
                                                           ? "smtpd_tls_mandatory_ciphers"
                                                           : "smtpd_tls_ciphers")),
            .exclude = leg_exclude(cfg, "smtpd", t->smtpd_level >= TLS_LEVEL_ENCRYPT, sexclude,
                                   sizeof(sexclude)),
            .ask_ccert = t->smtpd_ask_ccert || t->smtpd_req_ccert,
            .req_ccert = t->smtpd_req_ccert,
            .verify_depth = atoi(param(cfg, "smtpd_tls_ccert_verifydepth")),
        };
        rc = tls_ctx_new(&t->server_ctx, true, &sp, e, sizeof(e));
        if (rc < 0) {
            if (rc == -EACCES && prev)
                error_set(err,
                          "smtpd TLS: %s (TLS settings changed: key files readable only by "
                          "root are read again only by a restart)",
                          e);
            else
                error_set(err, "smtpd TLS: %s", e);
            goto fail;
        }
        if (caches && caches->server)
            tls_ctx_use_cache(t->server_ctx, caches->server, t->smtpd_cache_timeout);
    }
    /* per-site tables can ask for TLS even when the global level is none */
    bool per_site = *param(cfg, "smtp_tls_per_site") || *param(cfg, "smtp_tls_policy_maps");
    if (t->smtp_level > TLS_LEVEL_NONE || per_site) {
        struct tls_ctx_params cp = {
            .cert_file = config_nonblank(param(cfg, "smtp_tls_cert_file")),
            .key_file = config_nonblank(param(cfg, "smtp_tls_key_file")),
            .CAfile = config_nonblank(param(cfg, "smtp_tls_CAfile")),
            .CApath = config_nonblank(param(cfg, "smtp_tls_CApath")),
            .protocols = config_nonblank(param(cfg, t->smtp_level >= TLS_LEVEL_ENCRYPT
                                                        ? "smtp_tls_mandatory_protocols"
                                                        : "smtp_tls_protocols")),
            .cipher_grade = config_nonblank(param(cfg, t->smtp_level >= TLS_LEVEL_ENCRYPT
                                                           ? "smtp_tls_mandatory_ciphers"
                                                           : "smtp_tls_ciphers")),
            .exclude = leg_exclude(cfg, "smtp", t->smtp_level >= TLS_LEVEL_ENCRYPT, cexclude,
                                   sizeof(cexclude)),
            .verify_depth = atoi(param(cfg, "smtp_tls_scert_verifydepth")),
        };
        rc = tls_ctx_new(&t->client_ctx, false, &cp, e, sizeof(e));
        if (rc < 0) {
            if (rc == -EACCES && prev)
                error_set(err,
                          "smtp TLS: %s (TLS settings changed: key files readable only by "
                          "root are read again only by a restart)",
                          e);
            else
                error_set(err, "smtp TLS: %s", e);
            goto fail;
        }
    }
    *out = t;
    return 0;
fail:
    tlsconf_unref(t);
    if (changed && rc != -ENOMEM) {
        /* only files changed, and they do not load: keep serving with what worked */
        log_error("master", "reload: %s; keeping the previous TLS certificates, keys and CAs",
                  err && *err ? *err : strerror(-rc));
        if (err) {
            free(*err);
            *err = NULL;
        }
        atomic_fetch_add(&prev->refs, 1);
        *out = prev;
        return 0;
    }
    return rc;
}

void tlsconf_unref(struct tern_tls *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    tls_ctx_free(t->server_ctx);
    tls_ctx_free(t->client_ctx);
    tlsfiles_free(&t->files);
    free(t);
}

/* tlsconf_check_keys - private keys readable only by their owner */
int tlsconf_check_keys(const struct tern_config *cfg, char **err)
{
    static const char *const keys[] = {"smtpd_tls_key_file", "smtpd_tls_eckey_file",
                                       "smtp_tls_key_file"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *path = config_nonblank(param(cfg, keys[i]));
        if (!path)
            continue;
        char e[512] = "";
        int rc = tls_ctx_key_file_check(path, e, sizeof(e));
        if (rc < 0) {
            error_set(err, "%s: %s", keys[i], e);
            return rc;
        }
    }
    return 0;
}
