/*
 * NAME
 *	policy_tls_site - client TLS security level per next hop and server
 * SYNOPSIS
 *	#include "policy/policy_tls_site.h"
 *
 *	int policy_tls_sites_new(struct policy_tls_sites **out,
 *	                         const struct policy_tls_site_params *p, char **err);
 *	int policy_tls_site_resolve(const struct policy_tls_sites *s, const char *nexthop,
 *	                            const char *hostname, struct policy_tls_site *r);
 *	void policy_tls_site_release(struct policy_tls_site *r);
 *	int policy_tls_sites_check(const struct policy_tls_sites *s, char **err);
 *	void policy_tls_sites_free(struct policy_tls_sites *s);
 * DESCRIPTION
 *	See policy_tls_site.h for the rules. Implementation notes:
 *
 *	The per-site combination keeps an int level with two extra values
 *	below none: NOTFOUND (-1) and INVALID (-2), as Postfix does, so that
 *	"NONE overrides MAY or not found" is `level <= MAY` and "MAY overrides
 *	only not found" is `level < NONE`.
 *
 *	Results are built in a caller-owned struct; the strings in it are
 *	malloc'd and released by policy_tls_site_release(), so nothing is
 *	shared between threads except the read-only resolver.
 * DIAGNOSTICS
 *	See the header.
 */
#include "policy/policy_tls_site.h"

#include "policy/policy_table.h"
#include "policy/policy_token.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base/error.h"
#include "core/base/log.h"

#define LEVEL_NOTFOUND (-1)
#define LEVEL_INVALID (-2)

struct tablelist {
    struct policy_table **t;
    char **spec;
    size_t n;
};

struct policy_tls_sites {
    enum policy_tls_level global;
    struct tablelist per_site;
    struct tablelist policy_maps;
    char *verify_match, *secure_match, *fpt_match, *digest;
    char *protocols, *mand_protocols;
    char *ciphers, *mand_ciphers;
    char *exclude, *mand_exclude;
    bool dnssec; /* smtp_dns_support_level = dnssec: the dane levels can work */
};

static const struct {
    const char *name;
    enum policy_tls_level level;
} level_names[] = {
    {"none", POLICY_TLS_NONE},       {"may", POLICY_TLS_MAY},
    {"encrypt", POLICY_TLS_ENCRYPT}, {"fingerprint", POLICY_TLS_FINGERPRINT},
    {"verify", POLICY_TLS_VERIFY},   {"secure", POLICY_TLS_SECURE},
    {"dane", POLICY_TLS_DANE},       {"dane-only", POLICY_TLS_DANE_ONLY},
};

/* policy_tls_site_level_name - printable level */
const char *policy_tls_site_level_name(enum policy_tls_level level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (level_names[i].level == level)
            return level_names[i].name;
    return "unknown";
}

/* policy_tls_site_level_parse - level by name, any case */
int policy_tls_site_level_parse(const char *text, enum policy_tls_level *out)
{
    for (size_t i = 0; text && i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(text, level_names[i].name) == 0) {
            *out = level_names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

/* policy_tls_site_dest - "[host]:port" / "[host]" / "host:port" / "host" */
int policy_tls_site_dest(const char *host, bool no_mx, int port, char *buf, size_t len)
{
    int n;
    if (port == 25 || port <= 0)
        n = snprintf(buf, len, no_mx ? "[%s]" : "%s", host);
    else
        n = snprintf(buf, len, no_mx ? "[%s]:%d" : "%s:%d", host, port);
    if (n < 0 || (size_t)n >= len)
        return -ENOSPC;
    return n;
}

struct tablelist_ctx {
    struct tablelist *l;
    const char *param;
};

/* tablelist_add - open one table and append it */
static int tablelist_add(void *ctx, const char *w, char **err)
{
    struct tablelist_ctx *c = ctx;
    struct tablelist *l = c->l;
    struct policy_table **t = realloc(l->t, (l->n + 1) * sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    l->t = t;
    char **sp = realloc(l->spec, (l->n + 1) * sizeof(*sp));
    if (sp == NULL)
        return -ENOMEM;
    l->spec = sp;
    char *terr = NULL;
    int rc = policy_table_open(&l->t[l->n], w, &terr);
    if (rc < 0) {
        error_set(err, "%s: %s", c->param, terr ? terr : strerror(-rc));
        free(terr);
        return rc;
    }
    if ((l->spec[l->n] = strdup(w)) == NULL) {
        policy_table_close(l->t[l->n]);
        return -ENOMEM;
    }
    l->n++;
    return 0;
}

/* tablelist_open - open every table named in items */
static int tablelist_open(struct tablelist *l, const char *param, char *const *items, size_t n,
                          char **err)
{
    struct tablelist_ctx c = {l, param};
    return policy_token_each(items, n, tablelist_add, &c, err);
}

/* tablelist_free - close all tables */
static void tablelist_free(struct tablelist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        policy_table_close(l->t[i]);
        free(l->spec[i]);
    }
    free(l->t);
    free(l->spec);
}

/* tablelist_find - first table that has key: 1 (value, spec), 0, -errno */
static int tablelist_find(const struct tablelist *l, const char *key, const char **value,
                          const char **spec)
{
    for (size_t i = 0; i < l->n; i++) {
        int rc = policy_table_lookup(l->t[i], key, value);
        if (rc != 0) {
            *spec = l->spec[i];
            return rc;
        }
    }
    return 0;
}

/* dup_opt - strdup or NULL; *ok cleared on ENOMEM */
static char *dup_opt(const char *s, bool *ok)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *ok = false;
    return d;
}

/* policy_tls_sites_new - open tables, copy defaults */
int policy_tls_sites_new(struct policy_tls_sites **out, const struct policy_tls_site_params *p,
                         char **err)
{
    struct policy_tls_sites *s = calloc(1, sizeof(*s));
    bool ok = true;
    int rc = -ENOMEM;

    *out = NULL;
    if (err)
        *err = NULL;
    if (s == NULL)
        goto fail;
    if ((p->global_level == POLICY_TLS_DANE || p->global_level == POLICY_TLS_DANE_ONLY) &&
        !p->dnssec) {
        error_set(err, "smtp_tls_security_level = %s needs smtp_dns_support_level = dnssec",
                  policy_tls_site_level_name(p->global_level));
        rc = -EINVAL;
        goto fail;
    }
    if ((unsigned)p->global_level > POLICY_TLS_DANE_ONLY) {
        error_set(err, "smtp_tls_security_level: bad level %d", (int)p->global_level);
        rc = -EINVAL;
        goto fail;
    }
    s->global = p->global_level;
    s->dnssec = p->dnssec;
    s->verify_match = dup_opt(p->verify_cert_match ? p->verify_cert_match : "hostname", &ok);
    s->secure_match =
        dup_opt(p->secure_cert_match ? p->secure_cert_match : "nexthop, dot-nexthop", &ok);
    s->fpt_match = dup_opt(p->fingerprint_cert_match, &ok);
    s->digest = dup_opt(p->fingerprint_digest, &ok);
    s->protocols = dup_opt(p->protocols, &ok);
    s->mand_protocols = dup_opt(p->mandatory_protocols, &ok);
    s->ciphers = dup_opt(p->ciphers, &ok);
    s->mand_ciphers = dup_opt(p->mandatory_ciphers, &ok);
    s->exclude = dup_opt(p->exclude_ciphers, &ok);
    s->mand_exclude = dup_opt(p->mandatory_exclude_ciphers, &ok);
    if (!ok)
        goto fail;
    if (s->digest && *s->digest && strcasecmp(s->digest, "md5") != 0 &&
        strcasecmp(s->digest, "sha1") != 0 && strcasecmp(s->digest, "sha256") != 0 &&
        strcasecmp(s->digest, "sha512") != 0) {
        error_set(err, "smtp_tls_fingerprint_digest: unsupported digest \"%s\"", s->digest);
        rc = -EINVAL;
        goto fail;
    }
    rc = tablelist_open(&s->policy_maps, "smtp_tls_policy_maps", p->policy_maps, p->npolicy_maps,
                        err);
    if (rc < 0)
        goto fail;
    if (s->policy_maps.n > 0) {
        bool per_site_set = false;
        for (size_t i = 0; i < p->nper_site; i++)
            if (p->per_site[i] && p->per_site[i][strspn(p->per_site[i], " \t,")])
                per_site_set = true;
        if (per_site_set)
            log_warn("policy", "smtp_tls_per_site ignored when smtp_tls_policy_maps is not empty.");
    } else {
        rc = tablelist_open(&s->per_site, "smtp_tls_per_site", p->per_site, p->nper_site, err);
        if (rc < 0)
            goto fail;
    }
    *out = s;
    return 0;

fail:
    if (rc == -ENOMEM && err && *err == NULL)
        error_set(err, "policy_tls_site: out of memory");
    policy_tls_sites_free(s);
    return rc;
}

/* policy_tls_sites_free - release; NULL is fine */
void policy_tls_sites_free(struct policy_tls_sites *s)
{
    if (s == NULL)
        return;
    tablelist_free(&s->per_site);
    tablelist_free(&s->policy_maps);
    free(s->verify_match);
    free(s->secure_match);
    free(s->fpt_match);
    free(s->digest);
    free(s->protocols);
    free(s->mand_protocols);
    free(s->ciphers);
    free(s->mand_ciphers);
    free(s->exclude);
    free(s->mand_exclude);
    free(s);
}

/* policy_tls_sites_uses_per_site - the talk's table is in effect */
bool policy_tls_sites_uses_per_site(const struct policy_tls_sites *s)
{
    return s && s->per_site.n > 0;
}

/* policy_tls_site_release - free the result's strings */
void policy_tls_site_release(struct policy_tls_site *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nmatch; i++)
        free(r->match[i]);
    free(r->match);
    free(r->protocols);
    free(r->ciphers);
    free(r->exclude);
    free(r->servername);
    r->match = NULL;
    r->nmatch = 0;
    r->protocols = r->ciphers = r->exclude = r->servername = NULL;
}

/* result_init - pristine result at the global level */
static void result_init(const struct policy_tls_sites *s, struct policy_tls_site *r)
{
    memset(r, 0, sizeof(*r));
    r->level = s ? s->global : POLICY_TLS_NONE;
    r->source = POLICY_TLS_SRC_GLOBAL;
    r->digest = s && s->digest && *s->digest ? s->digest : NULL;
    r->connection_reuse = -1;
}

/* fail_result - set the deferral reason; returns rc */
static int fail_result(struct policy_tls_site *r, int rc, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_result(struct policy_tls_site *r, int rc, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
    return rc;
}

/* match_add - append a copy of one match item */
static int match_add(struct policy_tls_site *r, const char *item, size_t len)
{
    char **v = realloc(r->match, (r->nmatch + 2) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    r->match = v;
    if ((v[r->nmatch] = strndup(item, len)) == NULL)
        return -ENOMEM;
    r->nmatch++;
    v[r->nmatch] = NULL;
    return 0;
}

/* match_split - append the items of text separated by any of seps */
static int match_split(struct policy_tls_site *r, const char *text, const char *seps)
{
    for (const char *p = text; *p;) {
        p += strspn(p, seps);
        size_t len = strcspn(p, seps);
        if (len == 0)
            break;
        int rc = match_add(r, p, len);
        if (rc < 0)
            return rc;
        p += len;
    }
    return 0;
}

/* digest_len - octets of a digest by name; 0 when unknown/unset */
static size_t digest_len(const char *name)
{
    if (name == NULL)
        return 0;
    if (strcasecmp(name, "md5") == 0)
        return 16;
    if (strcasecmp(name, "sha1") == 0)
        return 20;
    if (strcasecmp(name, "sha256") == 0)
        return 32;
    if (strcasecmp(name, "sha512") == 0)
        return 64;
    return 0;
}

/* normalise_fingerprints - match items to "AB:CD:.." form; -EINVAL for bad hex or length */
static int normalise_fingerprints(const struct policy_tls_sites *s, struct policy_tls_site *r)
{
    size_t want = s ? digest_len(s->digest) : 0;
    for (size_t i = 0; i < r->nmatch; i++) {
        const char *f = r->match[i];
        size_t hex = 0;
        for (const char *p = f; *p; p++) {
            if (isxdigit((unsigned char)*p))
                hex++;
            else if (*p != ':')
                return fail_result(r, -EINVAL, "4.7.5", "malformed fingerprint \"%s\"", f);
        }
        if (hex == 0 || hex % 2 != 0 || (want && hex != want * 2))
            return fail_result(r, -EINVAL, "4.7.5", "fingerprint \"%s\" has the wrong length", f);
        char *n = malloc(hex / 2 * 3);
        if (n == NULL)
            return -ENOMEM;
        size_t o = 0, k = 0;
        for (const char *p = f; *p; p++) {
            if (*p == ':')
                continue;
            if (k > 0 && k % 2 == 0)
                n[o++] = ':';
            n[o++] = (char)toupper((unsigned char)*p);
            k++;
        }
        n[o] = 0;
        free(r->match[i]);
        r->match[i] = n;
    }
    return 0;
}

/* normalise_ws - collapse runs of white space into one blank, trim; in place */
static char *normalise_ws(char *s)
{
    char *o = s, *p = s;
    while (isspace((unsigned char)*p))
        p++;
    for (; *p; p++) {
        if (isspace((unsigned char)*p)) {
            while (isspace((unsigned char)p[1]))
                p++;
            if (p[1])
                *o++ = ' ';
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return s;
}

/* split_attr - "name=value" or "{ name = value }" -> name, value; NULL error text on success */
static const char *split_attr(char *tok, char **name, char **value)
{
    if (tok[0] == '{') {
        size_t len = strlen(tok);
        if (len < 2 || tok[len - 1] != '}')
            return "missing '}'";
        tok[len - 1] = 0;
        tok = normalise_ws(tok + 1);
    }
    char *eq = strchr(tok, '=');
    if (eq == NULL)
        return "missing '=' after attribute name";
    *eq = 0;
    *name = normalise_ws(tok);
    *value = normalise_ws(eq + 1);
    if (**name == 0)
        return "missing attribute name";
    return NULL;
}

/* valid_hostname - letters, digits, '-', '.', not empty, labels <= 63 */
static bool valid_hostname(const char *h)
{
    size_t label = 0, len = strlen(h);
    if (len == 0 || len > 255 || h[0] == '.' || h[0] == '-')
        return false;
    for (const char *p = h; *p; p++) {
        if (*p == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return true;
}

/* set_once - store a once-only attribute; -EINVAL when already set */
static int set_once(struct policy_tls_site *r, char **slot, const char *name, const char *value,
                    const char *where)
{
    if (*slot)
        return fail_result(r, -EINVAL, "4.7.5", "%s: attribute \"%s\" is specified multiple times",
                           where, name);
    if ((*slot = strdup(value)) == NULL)
        return -ENOMEM;
    return 0;
}

/* parse_value - level and attributes of one policy map entry; `where` names it in messages */
static int parse_value(const struct policy_tls_sites *s, const char *value, const char *where,
                       struct policy_tls_site *r)
{
    char *copy = strdup(value);
    int rc = 0;

    if (copy == NULL)
        return -ENOMEM;
    char *cursor = copy;
    char *tok = policy_token_next(&cursor);
    if (tok == NULL) {
        rc = fail_result(r, -EINVAL, "4.7.5", "%s: invalid empty policy", where);
        goto out;
    }
    enum policy_tls_level level;
    if (policy_tls_site_level_parse(tok, &level) < 0) {
        rc = fail_result(r, -EINVAL, "4.7.5", "%s: invalid security level \"%s\"", where, tok);
        goto out;
    }
    r->level = level;
    if ((level == POLICY_TLS_DANE || level == POLICY_TLS_DANE_ONLY) && !(s && s->dnssec)) {
        rc = fail_result(r, -EINVAL, "4.7.5",
                         "%s: security level \"%s\" needs smtp_dns_support_level = dnssec", where,
                         tok);
        goto out;
    }
    if (level == POLICY_TLS_NONE) {
        while ((tok = policy_token_next(&cursor)) != NULL)
            log_warn("policy", "%s: ignoring attribute \"%s\" with TLS disabled", where, tok);
        goto out;
    }
    while ((tok = policy_token_next(&cursor)) != NULL) {
        char *name, *val;
        const char *perr = split_attr(tok, &name, &val);
        if (perr) {
            rc = fail_result(r, -EINVAL, "4.7.5", "%s: malformed attribute/value pair \"%s\": %s",
                             where, tok, perr);
            goto out;
        }
        if (strcasecmp(name, "ciphers") == 0) {
            if (*val == 0) {
                rc = fail_result(r, -EINVAL, "4.7.5", "%s: attribute \"%s\" has empty value", where,
                                 name);
                goto out;
            }
            rc = set_once(r, &r->ciphers, name, val, where);
        } else if (strcasecmp(name, "protocols") == 0) {
            rc = set_once(r, &r->protocols, name, val, where);
        } else if (strcasecmp(name, "exclude") == 0) {
            rc = set_once(r, &r->exclude, name, val, where);
        } else if (strcasecmp(name, "servername") == 0) {
            if (!valid_hostname(val)) {
                rc = fail_result(r, -EINVAL, "4.7.5", "%s: \"%s=%s\" specifies an invalid hostname",
                                 where, name, val);
                goto out;
            }
            rc = set_once(r, &r->servername, name, val, where);
        } else if (strcasecmp(name, "match") == 0) {
            if (*val == 0) {
                rc = fail_result(r, -EINVAL, "4.7.5", "%s: attribute \"%s\" has empty value", where,
                                 name);
                goto out;
            }
            if (level == POLICY_TLS_FINGERPRINT)
                rc = match_split(r, val, "|");
            else if (level == POLICY_TLS_VERIFY || level == POLICY_TLS_SECURE)
                rc = match_split(r, val, ": \t");
            else
                rc = fail_result(r, -EINVAL, "4.7.5",
                                 "%s: attribute \"%s\" invalid at security level \"%s\"", where,
                                 name, policy_tls_site_level_name(level));
        } else if (strcasecmp(name, "connection_reuse") == 0 ||
                   strcasecmp(name, "enable_rpk") == 0) {
            int yes = strcasecmp(val, "yes") == 0, no = strcasecmp(val, "no") == 0;
            if (!yes && !no)
                rc = fail_result(r, -EINVAL, "4.7.5", "%s: attribute \"%s\" has bad value: \"%s\"",
                                 where, name, val);
            else if (strcasecmp(name, "connection_reuse") == 0)
                r->connection_reuse = yes;
            else if (yes) /* no: tern never asks for a raw public key, as Postfix by default */
                rc = fail_result(r, -ENOTSUP, "4.7.5",
                                 "%s: attribute \"enable_rpk=yes\" (RFC 7250 raw public keys) is "
                                 "not supported by tern",
                                 where);
        } else if (strcasecmp(name, "tafile") == 0) {
            rc = fail_result(r, -ENOTSUP, "4.7.5",
                             "%s: attribute \"tafile\" (trust anchors, as for DANE) is not "
                             "supported by tern",
                             where);
        } else {
            rc =
                fail_result(r, -EINVAL, "4.7.5", "%s: invalid attribute name: \"%s\"", where, name);
        }
        if (rc < 0)
            goto out;
    }
out:
    free(copy);
    return rc;
}

/* apply_defaults - main.cf defaults for what the entry left unset (Postfix's policy_create) */
static int apply_defaults(const struct policy_tls_sites *s, struct policy_tls_site *r)
{
    int rc = 0;

    if (r->level == POLICY_TLS_NONE) {
        /* Nothing applies without TLS; drop anything a per-site table cannot set anyway. */
        return 0;
    }
    bool mand = r->level > POLICY_TLS_MAY;
    const char *proto = s ? (mand ? s->mand_protocols : s->protocols) : NULL;
    const char *ciph = s ? (mand ? s->mand_ciphers : s->ciphers) : NULL;
    if (r->protocols == NULL && proto && (r->protocols = strdup(proto)) == NULL)
        return -ENOMEM;
    if (r->ciphers == NULL && ciph && (r->ciphers = strdup(ciph)) == NULL)
        return -ENOMEM;
    if (r->exclude == NULL && s) {
        char buf[1024];
        int n = snprintf(
            buf, sizeof(buf), "%s%s%s", s->exclude ? s->exclude : "",
            (s->exclude && *s->exclude && mand && s->mand_exclude && *s->mand_exclude) ? " " : "",
            mand && s->mand_exclude ? s->mand_exclude : "");
        if (n > 0 && (r->exclude = strdup(normalise_ws(buf))) == NULL)
            return -ENOMEM;
        if (r->exclude && *r->exclude == 0) {
            free(r->exclude);
            r->exclude = NULL;
        }
    }
    switch (r->level) {
    case POLICY_TLS_FINGERPRINT:
        if (r->nmatch == 0 && s && s->fpt_match)
            rc = match_split(r, s->fpt_match, " \t\r\n,");
        if (rc < 0)
            return rc;
        if (r->nmatch == 0)
            return fail_result(r, -EINVAL, "4.7.5",
                               "configured at fingerprint security level, but with no "
                               "fingerprints to match");
        return normalise_fingerprints(s, r);
    case POLICY_TLS_VERIFY:
    case POLICY_TLS_SECURE:
        if (r->nmatch == 0) {
            const char *def = r->level == POLICY_TLS_VERIFY
                                  ? (s ? s->verify_match : "hostname")
                                  : (s ? s->secure_match : "nexthop, dot-nexthop");
            rc = match_split(r, def, " \t\r\n,:");
        }
        return rc;
    case POLICY_TLS_DANE:
    case POLICY_TLS_DANE_ONLY:
        /* the names a DANE-TA chain's leaf must carry (RFC 7672 3.2.2): the MX host name
         * (the TLSA base domain), and the next-hop domain */
        return r->nmatch == 0 ? match_split(r, "hostname, nexthop", " \t\r\n,:") : 0;
    default:
        return 0;
    }
}

/* policy_tls_site_parse - one smtp_tls_policy_maps value */
int policy_tls_site_parse(const struct policy_tls_sites *s, const char *value,
                          struct policy_tls_site *r)
{
    result_init(s, r);
    r->source = POLICY_TLS_SRC_POLICY_MAPS;
    int rc = parse_value(s, value, "smtp_tls_policy_maps", r);
    if (rc == 0)
        rc = apply_defaults(s, r);
    if (rc == -ENOMEM)
        fail_result(r, rc, "4.3.0", "out of memory");
    return rc;
}

/* is_plain_domain - a next hop without brackets or port: parent domains are tried */
static bool is_plain_domain(const char *nexthop)
{
    return strchr(nexthop, '[') == NULL && strchr(nexthop, ':') == NULL && valid_hostname(nexthop);
}

/* resolve_policy_maps - smtp_tls_policy_maps: next hop, then ".parent" domains */
static int resolve_policy_maps(const struct policy_tls_sites *s, const char *nexthop,
                               struct policy_tls_site *r)
{
    const char *value = NULL, *spec = NULL;
    const char *key = nexthop;
    int rc = tablelist_find(&s->policy_maps, key, &value, &spec);

    if (rc == 0 && is_plain_domain(nexthop)) {
        for (key = strchr(nexthop + 1, '.'); key && rc == 0; key = strchr(key + 1, '.'))
            if ((rc = tablelist_find(&s->policy_maps, key, &value, &spec)) != 0)
                break;
    }
    if (rc < 0) {
        log_warn("policy",
                 "smtp_tls_policy_maps, next-hop destination \"%s\": policy table "
                 "lookup error: %s",
                 nexthop, error_str(rc));
        return fail_result(r, rc, "4.3.0", "Temporary lookup error");
    }
    if (rc == 0)
        return 0; /* global level */
    char where[300];
    snprintf(where, sizeof(where), "next-hop destination \"%.200s\"", nexthop);
    r->source = POLICY_TLS_SRC_POLICY_MAPS;
    r->table = spec;
    snprintf(r->key, sizeof(r->key), "%s", key);
    rc = parse_value(s, value, where, r);
    if (rc < 0 && rc != -ENOMEM)
        log_warn("policy", "smtp_tls_policy_maps %s: %s", spec, r->why);
    return rc;
}

/* site_lookup - one smtp_tls_per_site lookup combined into *level (Postfix's precedence) */
static int site_lookup(const struct policy_tls_sites *s, int *level, const char *name,
                       const char *what, struct policy_tls_site *r)
{
    const char *value = NULL, *spec = NULL;
    int rc = tablelist_find(&s->per_site, name, &value, &spec);
    int before = *level;

    if (rc < 0) {
        log_warn("policy", "smtp_tls_per_site: %s \"%s\": per-site table lookup error: %s", what,
                 name, error_str(rc));
        *level = LEVEL_INVALID;
        return fail_result(r, rc, "4.3.0", "Temporary lookup error");
    }
    if (rc == 0)
        return 0;
    char word[32];
    size_t wl = strcspn(value, " \t");
    snprintf(word, sizeof(word), "%.*s", (int)(wl < sizeof(word) ? wl : sizeof(word) - 1), value);
    if (strcasecmp(word, "NONE") == 0) {
        if (*level <= POLICY_TLS_MAY)
            *level = POLICY_TLS_NONE;
    } else if (strcasecmp(word, "MAY") == 0) {
        if (*level < POLICY_TLS_NONE)
            *level = POLICY_TLS_MAY;
    } else if (strcasecmp(word, "MUST_NOPEERMATCH") == 0) {
        if (*level < POLICY_TLS_ENCRYPT)
            *level = POLICY_TLS_ENCRYPT;
    } else if (strcasecmp(word, "MUST") == 0) {
        if (*level < POLICY_TLS_VERIFY)
            *level = POLICY_TLS_VERIFY;
    } else {
        log_warn("policy", "%s: unknown TLS policy '%s' for %s %s", spec, value, what, name);
        *level = LEVEL_INVALID;
        return fail_result(r, -EINVAL, "4.7.5", "client TLS configuration problem");
    }
    if (*level != before) {
        r->table = spec;
        snprintf(r->key, sizeof(r->key), "%s", name);
    }
    return 0;
}

/* resolve_per_site - the talk's table: next hop and server hostname */
static int resolve_per_site(const struct policy_tls_sites *s, const char *nexthop,
                            const char *hostname, struct policy_tls_site *r)
{
    int level = LEVEL_NOTFOUND;
    int rc = site_lookup(s, &level, nexthop, "next-hop destination", r);
    if (rc < 0)
        return rc;
    if (hostname && *hostname && strcasecmp(nexthop, hostname) != 0) {
        rc = site_lookup(s, &level, hostname, "server hostname", r);
        if (rc < 0)
            return rc;
    }
    /* A per-site MAY is a wildcard: a stronger global level overrides it. */
    if (level == POLICY_TLS_MAY && (int)s->global > POLICY_TLS_MAY)
        level = (int)s->global;
    if (level != LEVEL_NOTFOUND) {
        r->level = (enum policy_tls_level)level;
        r->source = POLICY_TLS_SRC_PER_SITE;
    }
    return 0;
}

/* policy_tls_site_resolve - the effective policy for one next hop and server */
int policy_tls_site_resolve(const struct policy_tls_sites *s, const char *nexthop,
                            const char *hostname, struct policy_tls_site *r)
{
    int rc = 0;

    result_init(s, r);
    if (s == NULL || nexthop == NULL)
        return fail_result(r, -EINVAL, "4.3.5", "no TLS policy configured");
    if (s->policy_maps.n > 0)
        rc = resolve_policy_maps(s, nexthop, r);
    else if (s->per_site.n > 0)
        rc = resolve_per_site(s, nexthop, hostname, r);
    if (rc == 0)
        rc = apply_defaults(s, r);
    if (rc == -ENOMEM)
        fail_result(r, rc, "4.3.0", "out of memory");
    return rc;
}

struct check_ctx {
    const struct policy_tls_sites *s;
    const char *spec;
    bool per_site;
    char **err;
    int rc;
};

/* check_entry - policy_table_walk callback: parse one entry */
static int check_entry(void *ctx, const char *key, const char *value)
{
    struct check_ctx *c = ctx;
    struct policy_tls_site r;

    if (c->per_site) {
        size_t wl = strcspn(value, " \t");
        static const char *const ok[] = {"NONE", "MAY", "MUST", "MUST_NOPEERMATCH"};
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
            if (strlen(ok[i]) == wl && strncasecmp(value, ok[i], wl) == 0)
                return 0;
        error_set(c->err,
                  "smtp_tls_per_site %s: \"%s\": unknown TLS policy \"%s\" "
                  "(NONE, MAY, MUST, MUST_NOPEERMATCH)",
                  c->spec, key, value);
        c->rc = -EINVAL;
        return 1;
    }
    int rc = policy_tls_site_parse(c->s, value, &r);
    if (rc < 0) {
        error_set(c->err, "smtp_tls_policy_maps %s: \"%s\": %s", c->spec, key, r.why);
        c->rc = rc;
    }
    policy_tls_site_release(&r);
    return rc < 0 ? 1 : 0;
}

/* policy_tls_sites_check - start-up validation of every table entry */
int policy_tls_sites_check(const struct policy_tls_sites *s, char **err)
{
    if (err)
        *err = NULL;
    for (int which = 0; which < 2; which++) {
        const struct tablelist *l = which == 0 ? &s->policy_maps : &s->per_site;
        for (size_t i = 0; i < l->n; i++) {
            struct check_ctx c = {s, l->spec[i], which == 1, err, 0};
            int rc = policy_table_walk(l->t[i], check_entry, &c);
            if (rc < 0) {
                error_set(err, "%s: cannot read the table: %s", l->spec[i], error_str(rc));
                return rc;
            }
            if (c.rc < 0)
                return c.rc;
        }
    }
    return 0;
}
