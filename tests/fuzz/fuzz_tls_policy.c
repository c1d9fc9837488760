/*
 * NAME
 *	fuzz_tls_policy - libFuzzer target: smtp_tls_policy_maps and smtp_tls_per_site entries
 * DESCRIPTION
 *	Decisions from the back pick the global level, the fingerprint digest
 *	and the protocol/cipher defaults, and one of three modes for the text
 *	in front:
 *	  0  each line is one smtp_tls_policy_maps value (policy_tls_site_parse),
 *	     and once more a next-hop key (policy_tls_site_dest);
 *	  1  the text is an smtp_tls_policy_maps table (texthash:);
 *	  2  the text is an smtp_tls_per_site table (the talk's NONE, MAY,
 *	     MUST, MUST_NOPEERMATCH).
 *	For a table, ternd's start-up check (policy_tls_sites_check) runs, then
 *	every key of the table is resolved as a next hop, as a parent domain's
 *	child ("mx." + key) and with each of a few server hostnames.
 *
 *	Properties:
 *	  - a parse or resolve gives 0 or a negative errno; on success the
 *	    level is NONE..DANE_ONLY (dane levels only with DNSSEC on, which
 *	    the "defaults" decision turns on), the match list is NULL-terminated with
 *	    nmatch entries, fingerprints are upper-case colon hex; on failure
 *	    a 4.x.x DSN and a reason are set (the caller defers, never
 *	    weakens the level);
 *	  - a table that passed the start-up check resolves without -EINVAL
 *	    or -ENOTSUP for every next hop: what the check accepts never
 *	    turns into "client TLS configuration problem" deferrals later;
 *	  - policy_tls_site_release() frees everything (ASan's leak check).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "policy/policy_table.h"
#include "policy/policy_tls_site.h"

static char dir[512], file[600], spec[700];

/* LLVMFuzzerInitialize - a scratch file for the tables */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    fuzz_tmpdir("tls_policy", dir, sizeof(dir));
    snprintf(file, sizeof(file), "%s/policy", dir);
    snprintf(spec, sizeof(spec), "texthash:%s", file);
    return 0;
}

static bool dnssec_on; /* this input's policy_tls_site_params.dnssec */

/* check_result - one parse or resolve outcome */
static void check_result(int rc, const struct policy_tls_site *r)
{
    FUZZ_CHECK(rc <= 0);
    if (rc < 0) {
        FUZZ_CHECK(r->dsn[0] == '4' && r->dsn[1] == '.' && r->why[0] != 0);
        return;
    }
    FUZZ_CHECK(r->level >= POLICY_TLS_NONE && r->level <= POLICY_TLS_DANE_ONLY);
    FUZZ_CHECK(r->level <= POLICY_TLS_SECURE || dnssec_on);
    FUZZ_CHECK((r->match == NULL) == (r->nmatch == 0));
    if (r->match)
        FUZZ_CHECK(r->match[r->nmatch] == NULL);
    for (size_t i = 0; i < r->nmatch; i++) {
        FUZZ_CHECK(r->match[i] != NULL);
        if (r->level == POLICY_TLS_FINGERPRINT)
            for (const char *p = r->match[i]; *p; p++)
                FUZZ_CHECK(*p == ':' || (*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F'));
    }
}

struct walk_ctx {
    const struct policy_tls_sites *s;
    bool checked_ok;
};

/* resolve_one - resolve a next hop with a server hostname */
static void resolve_one(struct walk_ctx *w, const char *nexthop, const char *host)
{
    struct policy_tls_site r;
    int rc = policy_tls_site_resolve(w->s, nexthop, host, &r);
    check_result(rc, &r);
    if (w->checked_ok)
        FUZZ_CHECK(rc != -EINVAL && rc != -ENOTSUP);
    policy_tls_site_release(&r);
}

/* walk_fn - every key of the table as a next hop */
static int walk_fn(void *arg, const char *key, const char *value)
{
    static const char *const hosts[] = {NULL, "mx.example.com", "MX.EXAMPLE.COM", ""};
    struct walk_ctx *w = arg;
    (void)value;
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        resolve_one(w, key, hosts[i]);
        resolve_one(w, "example.com", key);
    }
    char child[400];
    snprintf(child, sizeof(child), "mx.%s", key[0] == '.' ? key + 1 : key);
    resolve_one(w, child, NULL);
    return 0;
}

/* LLVMFuzzerTestOneInput - policy values or one table through check and resolve */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const digests[] = {NULL, "md5", "sha1", "sha256"};
    static const char *const fprints[] = {
        "AB:CD:EF:01",
        "0123456789ABCDEF0123456789ABCDEF",
        "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    };
    struct fuzz_input in = fuzz_input_init(data, size);
    unsigned mode = fuzz_input_pick(&in, 3);
    unsigned g = fuzz_input_pick(&in, 6), d = fuzz_input_pick(&in, 4);
    bool defaults = fuzz_input_flag(&in);
    struct policy_tls_site_params p = {
        .global_level = (enum policy_tls_level)g,
        .fingerprint_digest = digests[d],
        /* a fingerprint level needs fingerprints: the right length for the digest */
        .fingerprint_cert_match = fprints[d],
        .verify_cert_match = defaults ? "hostname, nexthop" : NULL,
        .secure_cert_match = defaults ? "nexthop:dot-nexthop" : NULL,
        .protocols = defaults ? "!SSLv2, !SSLv3" : NULL,
        .mandatory_protocols = defaults ? ">=TLSv1.2" : NULL,
        .ciphers = defaults ? "medium" : NULL,
        .mandatory_ciphers = defaults ? "high" : NULL,
        .exclude_ciphers = defaults ? "aNULL, RC4" : NULL,
        .mandatory_exclude_ciphers = defaults ? "MD5" : NULL,
        .dnssec = defaults, /* dane entries: refused without, resolved with */
    };
    dnssec_on = p.dnssec;
    size_t len;
    char *text = fuzz_input_rest(&in, &len);
    struct policy_tls_sites *s = NULL;
    char *err = NULL;

    if (mode == 0) {
        if (policy_tls_sites_new(&s, &p, &err) < 0) {
            free(err);
            s = NULL;
        }
        char *save = NULL;
        int lines = 0;
        for (char *line = strtok_r(text, "\n", &save); line && lines < 16;
             line = strtok_r(NULL, "\n", &save), lines++) {
            struct policy_tls_site r;
            int rc = policy_tls_site_parse(lines & 1 ? NULL : s, line, &r);
            check_result(rc, &r);
            policy_tls_site_release(&r);
            char dest[300];
            int n = policy_tls_site_dest(line, lines & 2, 25 + lines, dest, sizeof(dest));
            FUZZ_CHECK(n == -ENOSPC || (n >= 0 && (size_t)n == strlen(dest)));
        }
        policy_tls_sites_free(s);
        free(text);
        return 0;
    }

    fuzz_write_file(file, text, len);
    free(text);
    char *items[1] = {spec};
    if (mode == 1) {
        p.policy_maps = items;
        p.npolicy_maps = 1;
    } else {
        p.per_site = items;
        p.nper_site = 1;
    }
    int rc = policy_tls_sites_new(&s, &p, &err);
    FUZZ_CHECK(rc <= 0);
    if (rc < 0) {
        FUZZ_CHECK(s == NULL && err != NULL);
        free(err);
        return 0;
    }
    FUZZ_CHECK(policy_tls_sites_uses_per_site(s) == (mode == 2));
    struct walk_ctx w = {s, false};
    rc = policy_tls_sites_check(s, &err);
    FUZZ_CHECK(rc <= 0 && (rc == 0) == (err == NULL));
    free(err);
    w.checked_ok = rc == 0;
    /* the resolver's own table handle: walk the same file */
    struct policy_table *t = NULL;
    if (policy_table_open(&t, spec, &err) == 0) {
        FUZZ_CHECK(policy_table_walk(t, walk_fn, &w) == 0);
        policy_table_close(t);
    } else {
        free(err);
    }
    resolve_one(&w, "example.com", "mx.example.com");
    resolve_one(&w, "[192.0.2.1]:587", NULL);
    policy_tls_sites_free(s);
    return 0;
}
