/*
 * test_tls_site - client per-site TLS policy: smtp_tls_per_site combination against every
 * global level, smtp_tls_policy_maps lookups and entry parsing, start-up checks
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy_tls_site.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

enum {
    NONE = POLICY_TLS_NONE,
    MAY = POLICY_TLS_MAY,
    ENC = POLICY_TLS_ENCRYPT,
    VER = POLICY_TLS_VERIFY
};

/*
 * smtp_tls_per_site, as Postfix's smtp_tls_policy.c (tls_site_lookup + policy_create):
 *   1. The next-hop entry, then the server-hostname entry, combine in the precedence
 *      order MUST(verify) > MUST_NOPEERMATCH(encrypt) > NONE > MAY > absent:
 *      NONE overrides MAY and absent; MAY overrides only absent; MUST_NOPEERMATCH and
 *      MUST raise to at least encrypt resp. verify.
 *   2. Both absent: the global level. A combined MAY is a wildcard: a global level
 *      above may replaces it. NONE, MUST_NOPEERMATCH and MUST replace the global level,
 *      whatever it is (per-site NONE turns a global verify off; MUST_NOPEERMATCH lowers
 *      a global verify to encrypt).
 */
static const char *const entries[] = {NULL, "NONE", "MAY", "MUST", "MUST_NOPEERMATCH"};
static const int globals[] = {NONE, MAY, ENC, VER};

static const struct {
    int nexthop, host; /* index into entries */
    int want[4];       /* per global level none, may, encrypt, verify */
} per_site_cases[] = {
    {0, 0, {NONE, MAY, ENC, VER}}, /* nothing found: global */
    {0, 1, {NONE, NONE, NONE, NONE}},
    {0, 2, {MAY, MAY, ENC, VER}}, /* MAY is raised to a stronger global */
    {0, 3, {VER, VER, VER, VER}},
    {0, 4, {ENC, ENC, ENC, ENC}},
    {1, 0, {NONE, NONE, NONE, NONE}},
    {1, 1, {NONE, NONE, NONE, NONE}},
    {1, 2, {NONE, NONE, NONE, NONE}}, /* NONE beats MAY, also against global verify */
    {1, 3, {VER, VER, VER, VER}},
    {1, 4, {ENC, ENC, ENC, ENC}},
    {2, 0, {MAY, MAY, ENC, VER}},
    {2, 1, {NONE, NONE, NONE, NONE}},
    {2, 2, {MAY, MAY, ENC, VER}},
    {2, 3, {VER, VER, VER, VER}},
    {2, 4, {ENC, ENC, ENC, ENC}},
    {3, 0, {VER, VER, VER, VER}},
    {3, 1, {VER, VER, VER, VER}},
    {3, 2, {VER, VER, VER, VER}},
    {3, 3, {VER, VER, VER, VER}},
    {3, 4, {VER, VER, VER, VER}}, /* the stronger wins */
    {4, 0, {ENC, ENC, ENC, ENC}}, /* per-site encrypt overrides a global verify */
    {4, 1, {ENC, ENC, ENC, ENC}},
    {4, 2, {ENC, ENC, ENC, ENC}},
    {4, 3, {VER, VER, VER, VER}},
    {4, 4, {ENC, ENC, ENC, ENC}},
};

/* per_site_table - "inline:{ nexthop=X, host=Y }" for one case */
static void per_site_table(char *buf, size_t len, const char *nexthop, int nh, const char *host,
                           int h)
{
    int n = snprintf(buf, len, "inline:{ ");
    if (entries[nh])
        n += snprintf(buf + n, len - (size_t)n, "%s=%s, ", nexthop, entries[nh]);
    if (entries[h])
        n += snprintf(buf + n, len - (size_t)n, "%s=%s, ", host, entries[h]);
    snprintf(buf + n, len - (size_t)n, "}");
}

static void test_per_site_matrix(void **state)
{
    (void)state;
    /* the next hop as Postfix writes it for relayhost = [relay.example]:2525 */
    const char *nexthop = "[relay.example]:2525", *host = "mx1.relay.example";

    for (size_t i = 0; i < N(per_site_cases); i++) {
        for (size_t g = 0; g < N(globals); g++) {
            char spec[256];
            per_site_table(spec, sizeof(spec), nexthop, per_site_cases[i].nexthop, host,
                           per_site_cases[i].host);
            char *items[] = {spec};
            struct policy_tls_site_params p = {
                .global_level = globals[g], .per_site = items, .nper_site = 1};
            struct policy_tls_sites *s;
            char *err = NULL;
            assert_int_equal(policy_tls_sites_new(&s, &p, &err), 0);
            assert_true(policy_tls_sites_uses_per_site(s));
            struct policy_tls_site r;
            int rc = policy_tls_site_resolve(s, nexthop, host, &r);
            if (rc != 0 || (int)r.level != per_site_cases[i].want[g])
                fail_msg("nexthop %s host %s global %s: rc %d level %s want %s",
                         entries[per_site_cases[i].nexthop] ?: "-",
                         entries[per_site_cases[i].host] ?: "-",
                         policy_tls_site_level_name(globals[g]), rc,
                         policy_tls_site_level_name(r.level),
                         policy_tls_site_level_name(per_site_cases[i].want[g]));
            bool any = per_site_cases[i].nexthop || per_site_cases[i].host;
            assert_int_equal(r.source, any ? POLICY_TLS_SRC_PER_SITE : POLICY_TLS_SRC_GLOBAL);
            if (!any)
                assert_string_equal(r.key, "");
            /* verify gets the default match list, nothing else does */
            if (r.level == POLICY_TLS_VERIFY) {
                assert_int_equal(r.nmatch, 1);
                assert_string_equal(r.match[0], "hostname");
            } else {
                assert_int_equal(r.nmatch, 0);
            }
            policy_tls_site_release(&r);
            policy_tls_sites_free(s);
        }
    }
}

static void test_per_site_keys(void **state)
{
    (void)state;
    /* The talk's table, exact keys only: no parent domains, no wildcards. */
    char *items[] = {"inline:{ dom.ain=NONE, host.dom.ain=MAY, important.host=MUST, "
                     "some.host.dom.ain=must_nopeermatch, [relay.example]=MUST, "
                     "weird.example=SOMETIMES }"};
    struct policy_tls_site_params p = {
        .global_level = POLICY_TLS_MAY, .per_site = items, .nper_site = 1};
    struct policy_tls_sites *s;
    char *err = NULL;
    assert_int_equal(policy_tls_sites_new(&s, &p, &err), 0);

    static const struct {
        const char *nexthop, *host;
        int rc, level;
        const char *key;
    } cases[] = {
        {"dom.ain", "mx.dom.ain", 0, NONE, "dom.ain"},
        {"DOM.AIN", NULL, 0, NONE, "DOM.AIN"},
        {"sub.dom.ain", "mx.sub.dom.ain", 0, MAY, ""}, /* no parent-domain lookup */
        {"dom.ain", "host.dom.ain", 0, NONE, "dom.ain"},
        {"other.example", "important.host", 0, VER, "important.host"},
        {"dom.ain", "important.host", 0, VER, "important.host"},
        {"other.example", "some.host.dom.ain", 0, ENC, "some.host.dom.ain"},
        {"[relay.example]", "relay.example", 0, VER, "[relay.example]"},
        {"[relay.example]:2525", "relay.example", 0, MAY, ""}, /* the port is part of the key */
        {"relay.example", "relay.example", 0, MAY, ""},
        {"important.host", "important.host", 0, VER, "important.host"}, /* one lookup */
        {"weird.example", "mx.example", -EINVAL, 0, NULL},
        {"other.example", "weird.example", -EINVAL, 0, NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct policy_tls_site r;
        int rc = policy_tls_site_resolve(s, cases[i].nexthop, cases[i].host, &r);
        if (rc != cases[i].rc)
            fail_msg("case %zu %s/%s: rc %d want %d", i, cases[i].nexthop, cases[i].host ?: "-", rc,
                     cases[i].rc);
        if (rc == 0) {
            assert_int_equal(r.level, cases[i].level);
            assert_string_equal(r.key, cases[i].key);
            if (*cases[i].key)
                assert_string_equal(r.table, items[0]);
        } else {
            assert_string_equal(r.dsn, "4.7.5");
        }
        policy_tls_site_release(&r);
    }
    char *cerr = NULL;
    assert_int_equal(policy_tls_sites_check(s, &cerr), -EINVAL);
    assert_non_null(strstr(cerr, "weird.example"));
    free(cerr);
    policy_tls_sites_free(s);
}

static char *const policy_map[] = {
    "inline:{ example.com=secure, "
    "{ .example.com = verify match=hostname:nexthop protocols=>=TLSv1.2 }, "
    ".example.net=verify, "
    "{ [relay.example]:2525 = encrypt protocols=!SSLv2:!SSLv3 ciphers=high exclude=aNULL }, "
    "[relay.example]=may, "
    "{ fp.example = fingerprint match=ab:cd:ef:01|0123 match=99:88 }, "
    "{ none.example = none ciphers=high }, "
    "dane.example=dane, daneonly.example=dane-only, "
    "{ bad.example = verify bogus=1 }, half.example=halfdane }",
    "inline:{ second.example=encrypt, example.com=none }", /* searched only when the first misses */
};

static void test_policy_maps_lookup(void **state)
{
    (void)state;
    char *per_site[] = {"inline:{ example.com=NONE }"};
    struct policy_tls_site_params p = {
        .global_level = POLICY_TLS_MAY,
        .per_site = per_site,
        .nper_site = 1, /* ignored, with a warning */
        .policy_maps = policy_map,
        .npolicy_maps = N(policy_map),
        .mandatory_protocols = "!SSLv2, !SSLv3",
        .protocols = "!SSLv2",
    };
    struct policy_tls_sites *s;
    char *err = NULL;
    assert_int_equal(policy_tls_sites_new(&s, &p, &err), 0);
    assert_false(policy_tls_sites_uses_per_site(s));

    static const struct {
        const char *nexthop;
        int rc, level;
        const char *key, *match, *protocols, *ciphers;
    } cases[] = {
        {"example.com", 0, POLICY_TLS_SECURE, "example.com", "nexthop,dot-nexthop",
         "!SSLv2, !SSLv3", NULL},
        {"EXAMPLE.COM", 0, POLICY_TLS_SECURE, "EXAMPLE.COM", "nexthop,dot-nexthop",
         "!SSLv2, !SSLv3", NULL},
        {"a.b.example.com", 0, VER, ".example.com", "hostname,nexthop", ">=TLSv1.2", NULL},
        {"x.example.net", 0, VER, ".example.net", "hostname", "!SSLv2, !SSLv3", NULL},
        {"example.net", 0, MAY, "", NULL, "!SSLv2", NULL}, /* ".net" is not ".example.net" */
        {"[relay.example]:2525", 0, ENC, "[relay.example]:2525", NULL, "!SSLv2:!SSLv3", "high"},
        {"[relay.example]", 0, MAY, "[relay.example]", NULL, "!SSLv2", NULL},
        {"[relay.example]:26", 0, MAY, "", NULL, "!SSLv2", NULL},
        {"[a.example.com]", 0, MAY, "", NULL, "!SSLv2", NULL}, /* no parents for [host] */
        {"a.example.com:2525", 0, MAY, "", NULL, "!SSLv2", NULL},
        {"relay.example", 0, MAY, "", NULL, "!SSLv2", NULL},
        {"fp.example", 0, POLICY_TLS_FINGERPRINT, "fp.example", "AB:CD:EF:01,01:23,99:88",
         "!SSLv2, !SSLv3", NULL},
        {"none.example", 0, NONE, "none.example", NULL, NULL, NULL},
        {"second.example", 0, ENC, "second.example", NULL, "!SSLv2, !SSLv3", NULL},
        {"dane.example", -EINVAL, 0, NULL, NULL, NULL, NULL}, /* no dnssec */
        {"daneonly.example", -EINVAL, 0, NULL, NULL, NULL, NULL},
        {"bad.example", -EINVAL, 0, NULL, NULL, NULL, NULL},
        {"half.example", -EINVAL, 0, NULL, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct policy_tls_site r;
        int rc = policy_tls_site_resolve(s, cases[i].nexthop, "mx.example", &r);
        if (rc != cases[i].rc)
            fail_msg("case %zu %s: rc %d want %d (%s)", i, cases[i].nexthop, rc, cases[i].rc,
                     r.why);
        if (rc < 0) {
            assert_string_equal(r.dsn, "4.7.5");
            if (strstr(cases[i].nexthop, "dane"))
                assert_non_null(strstr(r.why, "needs smtp_dns_support_level = dnssec"));
            policy_tls_site_release(&r);
            continue;
        }
        if ((int)r.level != cases[i].level)
            fail_msg("case %zu %s: level %s", i, cases[i].nexthop,
                     policy_tls_site_level_name(r.level));
        assert_string_equal(r.key, cases[i].key);
        assert_int_equal(r.source,
                         *cases[i].key ? POLICY_TLS_SRC_POLICY_MAPS : POLICY_TLS_SRC_GLOBAL);
        char joined[256] = "";
        for (size_t m = 0; m < r.nmatch; m++)
            snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s", m ? "," : "",
                     r.match[m]);
        if (cases[i].match)
            assert_string_equal(joined, cases[i].match);
        else
            assert_int_equal(r.nmatch, 0);
        if (cases[i].protocols)
            assert_string_equal(r.protocols, cases[i].protocols);
        else
            assert_null(r.protocols);
        if (cases[i].ciphers)
            assert_string_equal(r.ciphers, cases[i].ciphers);
        else
            assert_null(r.ciphers);
        policy_tls_site_release(&r);
    }

    /* the start-up check stops at the first bad entry and names the parameter */
    char *cerr = NULL;
    int rc = policy_tls_sites_check(s, &cerr);
    assert_true(rc == -EINVAL || rc == -ENOTSUP);
    assert_non_null(cerr);
    assert_non_null(strstr(cerr, "smtp_tls_policy_maps"));
    free(cerr);
    policy_tls_sites_free(s);

    /* a table with dane-only but DNSSEC off: start-up refuses, saying why */
    char *dane_map[] = {"inline:{ ok.example=may, dane.example=dane-only }"};
    struct policy_tls_site_params pd = {
        .global_level = POLICY_TLS_MAY, .policy_maps = dane_map, .npolicy_maps = 1};
    assert_int_equal(policy_tls_sites_new(&s, &pd, &err), 0);
    assert_int_equal(policy_tls_sites_check(s, &cerr), -EINVAL);
    assert_non_null(strstr(cerr, "dane.example"));
    assert_non_null(strstr(cerr, "needs smtp_dns_support_level = dnssec"));
    free(cerr);
    policy_tls_sites_free(s);
    /* with DNSSEC on it passes, and dane entries match the MX host name and the next hop */
    pd.dnssec = true;
    assert_int_equal(policy_tls_sites_new(&s, &pd, &err), 0);
    assert_int_equal(policy_tls_sites_check(s, &cerr), 0);
    struct policy_tls_site rd;
    assert_int_equal(policy_tls_site_resolve(s, "dane.example", "mx.dane.example", &rd), 0);
    assert_int_equal(rd.level, POLICY_TLS_DANE_ONLY);
    assert_int_equal(rd.nmatch, 2);
    assert_string_equal(rd.match[0], "hostname");
    assert_string_equal(rd.match[1], "nexthop");
    policy_tls_site_release(&rd);
    policy_tls_sites_free(s);

    /* clean tables pass */
    char *ok_map[] = {"inline:{ ok.example=may, { v.example = verify match=.v.example } }"};
    pd.policy_maps = ok_map;
    assert_int_equal(policy_tls_sites_new(&s, &pd, &err), 0);
    assert_int_equal(policy_tls_sites_check(s, &cerr), 0);
    policy_tls_sites_free(s);
}

static void test_policy_parse(void **state)
{
    (void)state;
    struct policy_tls_site_params p = {
        .global_level = POLICY_TLS_NONE,
        .secure_cert_match = "nexthop, dot-nexthop",
        .verify_cert_match = "hostname:nexthop",
        .protocols = "!SSLv2",
        .mandatory_protocols = ">=TLSv1.2",
        .ciphers = "medium",
        .mandatory_ciphers = "high",
        .exclude_ciphers = "RC4",
        .mandatory_exclude_ciphers = "3DES",
    };
    struct policy_tls_sites *s;
    char *err = NULL;
    assert_int_equal(policy_tls_sites_new(&s, &p, &err), 0);

    static const struct {
        const char *value;
        int rc, level;
        const char *match, *protocols, *ciphers, *exclude, *servername;
        int reuse;
    } cases[] = {
        {"may", 0, MAY, "", "!SSLv2", "medium", "RC4", NULL, -1},
        {"MAY", 0, MAY, "", "!SSLv2", "medium", "RC4", NULL, -1},
        {"encrypt", 0, ENC, "", ">=TLSv1.2", "high", "RC4 3DES", NULL, -1},
        {"verify", 0, VER, "hostname,nexthop", ">=TLSv1.2", "high", "RC4 3DES", NULL, -1},
        {"secure", 0, POLICY_TLS_SECURE, "nexthop,dot-nexthop", ">=TLSv1.2", "high", "RC4 3DES",
         NULL, -1},
        {"secure match=a.example:.b.example match=hostname", 0, POLICY_TLS_SECURE,
         "a.example,.b.example,hostname", ">=TLSv1.2", "high", "RC4 3DES", NULL, -1},
        {"secure { match = a.example : b.example }", 0, POLICY_TLS_SECURE, "a.example,b.example",
         ">=TLSv1.2", "high", "RC4 3DES", NULL, -1},
        {"verify,protocols=TLSv1.3,ciphers=high,exclude=CAMELLIA", 0, VER, "hostname,nexthop",
         "TLSv1.3", "high", "CAMELLIA", NULL, -1},
        {"may servername=mx.example connection_reuse=yes", 0, MAY, "", "!SSLv2", "medium", "RC4",
         "mx.example", 1},
        {"encrypt connection_reuse=NO enable_rpk=no", 0, ENC, "", ">=TLSv1.2", "high", "RC4 3DES",
         NULL, 0},
        {"fingerprint match=0a:0B:0c", 0, POLICY_TLS_FINGERPRINT, "0A:0B:0C", ">=TLSv1.2", "high",
         "RC4 3DES", NULL, -1},
        {"fingerprint match=AABB|ccdd", 0, POLICY_TLS_FINGERPRINT, "AA:BB,CC:DD", ">=TLSv1.2",
         "high", "RC4 3DES", NULL, -1},
        {"none ciphers=high protocols=x", 0, NONE, "", NULL, NULL, NULL, NULL, -1},
        {"none", 0, NONE, "", NULL, NULL, NULL, NULL, -1},
        /* errors */
        {"", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {" , ", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"sometimes", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"halfdane", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"ciphers=high", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"may bogus", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"may =x", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"may nosuch=x", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"may ciphers=", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"may ciphers=high ciphers=low", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"may protocols=a protocols=b", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"may exclude=a exclude=b", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"may servername=bad!name", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"may connection_reuse=maybe", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"may match=x.example", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"encrypt match=x.example", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"verify match=", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"verify { match = x.example", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"fingerprint", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0}, /* nothing to match */
        {"fingerprint match=xyz", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"fingerprint match=ABC", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        /* DANE without smtp_dns_support_level = dnssec (test_policy_maps_lookup has it on) */
        {"dane", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"dane-only", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"DANE-ONLY match=x", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"verify tafile=/etc/ta.pem", -ENOTSUP, 0, NULL, NULL, NULL, NULL, NULL, 0},
        /* RFC 7250 raw public keys: "no" is what tern does, "yes" it cannot do */
        {"fingerprint match=AABB enable_rpk=yes", -ENOTSUP, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"may enable_rpk=maybe", -EINVAL, 0, NULL, NULL, NULL, NULL, NULL, 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct policy_tls_site r;
        int rc = policy_tls_site_parse(s, cases[i].value, &r);
        if (rc != cases[i].rc)
            fail_msg("case %zu \"%s\": rc %d want %d (%s)", i, cases[i].value, rc, cases[i].rc,
                     r.why);
        if (rc < 0) {
            assert_string_equal(r.dsn, "4.7.5");
            assert_true(r.why[0] != 0);
            policy_tls_site_release(&r);
            continue;
        }
        assert_int_equal(r.level, cases[i].level);
        char joined[256] = "";
        for (size_t m = 0; m < r.nmatch; m++)
            snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s", m ? "," : "",
                     r.match[m]);
        assert_string_equal(joined, cases[i].match);
        const char *got[] = {r.protocols, r.ciphers, r.exclude, r.servername};
        const char *want[] = {cases[i].protocols, cases[i].ciphers, cases[i].exclude,
                              cases[i].servername};
        for (size_t k = 0; k < N(got); k++) {
            if (want[k] == NULL && got[k] != NULL)
                fail_msg("case %zu \"%s\": field %zu \"%s\" want NULL", i, cases[i].value, k,
                         got[k]);
            if (want[k] != NULL && (got[k] == NULL || strcmp(got[k], want[k]) != 0))
                fail_msg("case %zu \"%s\": field %zu \"%s\" want \"%s\"", i, cases[i].value, k,
                         got[k] ? got[k] : "(null)", want[k]);
        }
        assert_int_equal(r.connection_reuse, cases[i].reuse);
        policy_tls_site_release(&r);
    }
    policy_tls_sites_free(s);
}

static void test_fingerprint_digest_and_defaults(void **state)
{
    (void)state;
    struct policy_tls_site_params p = {.global_level = POLICY_TLS_FINGERPRINT,
                                       .fingerprint_digest = "sha256",
                                       .fingerprint_cert_match =
                                           "00112233445566778899aabbccddeeff"
                                           "00112233445566778899aabbccddeeff, "};
    struct policy_tls_sites *s;
    char *err = NULL;
    assert_int_equal(policy_tls_sites_new(&s, &p, &err), 0);
    struct policy_tls_site r;
    /* global fingerprint level, list from smtp_tls_fingerprint_cert_match */
    assert_int_equal(policy_tls_site_resolve(s, "example.com", NULL, &r), 0);
    assert_int_equal(r.level, POLICY_TLS_FINGERPRINT);
    assert_int_equal(r.nmatch, 1);
    assert_int_equal(strlen(r.match[0]), 32 * 3 - 1);
    assert_memory_equal(r.match[0], "00:11:22", 8);
    policy_tls_site_release(&r);
    /* md5-sized fingerprint under sha256 */
    assert_int_equal(policy_tls_site_parse(s,
                                           "fingerprint match=00:11:22:33:44:55:66:77:88:99:"
                                           "AA:BB:CC:DD:EE:FF",
                                           &r),
                     -EINVAL);
    policy_tls_site_release(&r);
    policy_tls_sites_free(s);

    p.fingerprint_digest = "crc32";
    assert_int_equal(policy_tls_sites_new(&s, &p, &err), -EINVAL);
    assert_non_null(err);
    free(err);

    /* global dane without DNSSEC: refused at start-up, saying so; with it, dane */
    struct policy_tls_site_params pd = {.global_level = POLICY_TLS_DANE};
    assert_int_equal(policy_tls_sites_new(&s, &pd, &err), -EINVAL);
    assert_non_null(strstr(err, "needs smtp_dns_support_level = dnssec"));
    free(err);
    pd.dnssec = true;
    assert_int_equal(policy_tls_sites_new(&s, &pd, &err), 0);
    assert_int_equal(policy_tls_site_resolve(s, "example.com", "mx.example.com", &r), 0);
    assert_int_equal(r.level, POLICY_TLS_DANE);
    policy_tls_site_release(&r);
    policy_tls_sites_free(s);

    /* a missing table is an error at start-up */
    char *missing[] = {"texthash:/nonexistent/tls_per_site"};
    struct policy_tls_site_params pm = {
        .global_level = POLICY_TLS_MAY, .per_site = missing, .nper_site = 1};
    assert_int_equal(policy_tls_sites_new(&s, &pm, &err), -ENOENT);
    assert_non_null(strstr(err, "smtp_tls_per_site"));
    free(err);
}

static void test_levels_and_dest(void **state)
{
    (void)state;
    for (int l = POLICY_TLS_NONE; l <= POLICY_TLS_DANE_ONLY; l++) {
        enum policy_tls_level back;
        assert_int_equal(policy_tls_site_level_parse(policy_tls_site_level_name(l), &back), 0);
        assert_int_equal(back, l);
    }

    static const struct {
        const char *host;
        bool no_mx;
        int port;
        const char *want;
    } d[] = {
        {"example.com", false, 25, "example.com"},
        {"example.com", false, 2525, "example.com:2525"},
        {"relay.example", true, 25, "[relay.example]"},
        {"relay.example", true, 587, "[relay.example]:587"},
        {"127.0.0.1", true, 2525, "[127.0.0.1]:2525"},
    };
    for (size_t i = 0; i < N(d); i++) {
        char buf[64];
        assert_int_equal(policy_tls_site_dest(d[i].host, d[i].no_mx, d[i].port, buf, sizeof(buf)),
                         (int)strlen(d[i].want));
        assert_string_equal(buf, d[i].want);
    }
    char tiny[8];
    assert_int_equal(policy_tls_site_dest("relay.example", true, 25, tiny, sizeof(tiny)), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_site_matrix),
        cmocka_unit_test(test_per_site_keys),
        cmocka_unit_test(test_policy_maps_lookup),
        cmocka_unit_test(test_policy_parse),
        cmocka_unit_test(test_fingerprint_digest_and_defaults),
        cmocka_unit_test(test_levels_and_dest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
