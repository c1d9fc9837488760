/*
 * test_relay - relay permission: clients x recipients x routed forms x restriction lists
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

#include "policy/policy_relay.h"

static char *const mynetworks[] = {"127.0.0.0/8", "[::1]/128", "192.0.2.0/24"};
static char *const relay_domains[] = {"Example.COM, .sub.example.org",
                                      "inline:{ tabled.example=OK }"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* recipients: path as the client sends it, and whether it is an auth destination */
static const struct {
    const char *path;
    bool auth;
} rcpts[] = {
    {"<u@example.com>", true},
    {"<U@EXAMPLE.COM>", true},
    {"<u@a.b.example.com>", true},   /* parent_domain_matches_subdomains */
    {"<u@x.sub.example.org>", true}, /* .sub.example.org: subdomains */
    {"<u@sub.example.org>", false},  /* ... only */
    {"<u@tabled.example>", true},    /* from a table */
    {"<u@a.tabled.example>", true},
    {"<u@ext.example>", false},
    {"<u@notexample.com>", false}, /* suffix is not a subdomain */
    {"<u@example.com.evil.example>", false},
    {"<u@example.co>", false},
    /* routed forms: never auth destinations, whatever the domain */
    {"<u%ext.example@example.com>", false},
    {"<ext.example!u@example.com>", false},
    {"<\"u@ext.example\"@example.com>", false},
    {"<\"u%ext.example\"@example.com>", false},
    {"<@example.com:u@example.com>", false},
    {"<@example.com,@a.example.com:u@ext.example>", false},
    {"<\"u@ext.example\">", false},
    {"<u%ext.example>", false},
    /* no domain, domain literal */
    {"<postmaster>", false},
    {"<u@[192.0.2.1]>", false},
    {"<u@[IPv6:::1]>", false},
};

enum client_kind { C_INSIDE, C_INSIDE_V6, C_INSIDE_MAPPED, C_OUTSIDE, C_OUTSIDE_SASL, C_NONE };
static const struct policy_client clients[] = {
    [C_INSIDE] = {.addr = "127.0.0.1", .name = "localhost"},
    [C_INSIDE_V6] = {.addr = "::1", .name = "localhost"},
    [C_INSIDE_MAPPED] = {.addr = "::ffff:192.0.2.77", .name = "app.example"},
    [C_OUTSIDE] = {.addr = "203.0.113.9", .name = "unknown"},
    [C_OUTSIDE_SASL] = {.addr = "203.0.113.9", .name = "unknown", .sasl_authenticated = true},
    [C_NONE] = {.addr = NULL, .name = NULL},
};

/* expected code per restriction configuration */
struct expect {
    int inside;      /* a mynetworks client, any recipient */
    int sasl_auth;   /* outside + SASL, auth destination */
    int sasl_unauth; /* outside + SASL, elsewhere */
    int out_auth;    /* outside, auth destination */
    int out_unauth;  /* outside, elsewhere */
};

static const struct {
    const char *name;
    const char *relay;
    const char *rcpt;
    struct expect e;
} configs[] = {
    {"both empty = permit_mynetworks, reject_unauth_destination", NULL, NULL, {0, 0, 554, 0, 554}},
    {"postfix 3 default",
     "permit_mynetworks permit_sasl_authenticated defer_unauth_destination",
     NULL,
     {0, 0, 0, 0, 450}},
    {"legacy recipient list",
     NULL,
     "permit_mynetworks, reject_unauth_destination",
     {0, 0, 554, 0, 554}},
    {"both lists",
     "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
     "permit_mynetworks, reject_unauth_destination",
     {0, 0, 554, 0, 554}}, /* rcpt list still runs */
    {"no reject anywhere: silence is not permission",
     "permit_mynetworks",
     NULL,
     {0, 0, 554, 0, 554}},
    {"relay list falls through, recipient list permits mynetworks",
     "permit_sasl_authenticated",
     "permit_mynetworks",
     {0, 0, 0, 0, 554}},
    {"explicit permit: open relay by choice", "permit", NULL, {0, 0, 0, 0, 0}},
    {"reject everything", "reject", NULL, {554, 554, 554, 554, 554}},
    {"recipient list rejects after relay permit",
     "permit_mynetworks, reject_unauth_destination",
     "reject",
     {554, 554, 554, 554, 554}},
    {"sasl only",
     "PERMIT_SASL_AUTHENTICATED, reject_unauth_destination",
     NULL,
     {-2, 0, 0, 0, 554}}, /* mynetworks means nothing here */
    {"defer first",
     "defer_unauth_destination, permit_mynetworks",
     NULL,
     {-1, 0, 450, 0, 450}}, /* inside: 0 for auth, 450 elsewhere */
    {"reject_unauth_destination in the recipient list only",
     NULL,
     "reject_unauth_destination",
     {-2, 0, 554, 0, 554}}, /* inside: same as outside */
};

/* split - "a b, c" into a static argv (one config at a time) */
static size_t split(const char *s, char **argv, char *store, size_t storelen)
{
    size_t n = 0;
    if (s == NULL)
        return 0;
    snprintf(store, storelen, "%s", s);
    for (char *tok = strtok(store, ", "); tok; tok = strtok(NULL, ", "))
        argv[n++] = tok;
    return n;
}

static void test_matrix(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < N(configs); ci++) {
        char s1[256], s2[256];
        char *relay[8], *rcpt[8];
        size_t nrelay = split(configs[ci].relay, relay, s1, sizeof(s1));
        size_t nrcpt = split(configs[ci].rcpt, rcpt, s2, sizeof(s2));
        struct policy_relay *pr = NULL;
        char *err = NULL;
        int rc = policy_relay_new(&pr, relay, nrelay, rcpt, nrcpt, mynetworks, N(mynetworks),
                                  relay_domains, N(relay_domains), &err);
        if (rc != 0)
            fail_msg("config \"%s\": %s", configs[ci].name, err ? err : "?");
        const struct expect *e = &configs[ci].e;

        for (size_t ri = 0; ri < N(rcpts); ri++) {
            struct policy_addr a;
            assert_int_equal(policy_addr_parse(rcpts[ri].path, false, &a), 0);
            bool auth = rcpts[ri].auth;
            for (size_t k = 0; k < N(clients); k++) {
                int want;
                switch (k) {
                case C_INSIDE:
                case C_INSIDE_V6:
                case C_INSIDE_MAPPED:
                    want = e->inside;
                    if (want == -1)
                        want = auth ? 0 : 450;
                    if (want == -2)
                        want = auth ? 0 : 554;
                    break;
                case C_OUTSIDE_SASL:
                    want = auth ? e->sasl_auth : e->sasl_unauth;
                    break;
                default:
                    want = auth ? e->out_auth : e->out_unauth;
                    break;
                }
                struct policy_verdict v;
                memset(&v, 0x55, sizeof(v));
                policy_relay_check(pr, &clients[k], &a, &v);
                if (v.code != want)
                    fail_msg("config \"%s\", client %s%s, rcpt %s: code %d (%s %s), want %d",
                             configs[ci].name, clients[k].addr ? clients[k].addr : "(none)",
                             clients[k].sasl_authenticated ? "+sasl" : "", rcpts[ri].path, v.code,
                             v.dsn, v.text, want);
                if (v.code == 0) {
                    assert_string_equal(v.dsn, "");
                    assert_string_equal(v.text, "");
                } else {
                    assert_int_equal(v.dsn[0], v.code / 100 + '0');
                    assert_true(v.text[0] == '<');
                }
            }
        }
        policy_relay_free(pr);
    }
}

static void test_texts(void **state)
{
    (void)state;
    static const struct {
        const char *relay;
        const char *path;
        int code;
        const char *dsn;
        const char *text;
    } cases[] = {
        {NULL, "<u@Ext.Example>", 554, "5.7.1", "<u@ext.example>: Relay access denied"},
        {NULL, "<\"u@ext.example\">", 554, "5.7.1", "<\"u@ext.example\">: Relay access denied"},
        {NULL, "<\"u@ext\"@example.com>", 554, "5.7.1",
         "<\"u@ext\"@example.com>: Relay access denied"},
        {NULL, "<u%ext@example.com>", 554, "5.7.1", "<u%ext@example.com>: Relay access denied"},
        {NULL, "<@example.com:u@ext.example>", 554, "5.7.1",
         "<u@ext.example>: Relay access denied"},
        {NULL, "<\"john smith\"@ext.example>", 554, "5.7.1",
         "<\"john smith\"@ext.example>: Relay access denied"},
        {NULL, "<postmaster>", 554, "5.7.1", "<postmaster>: Relay access denied"},
        {"defer_unauth_destination", "<u@ext.example>", 450, "4.7.1",
         "<u@ext.example>: Relay access denied"},
        {"reject", "<u@example.com>", 554, "5.7.1",
         "<u@example.com>: Recipient address rejected: Access denied"},
        {"permit_mynetworks", "<u@ext.example>", 554, "5.7.1",
         "<u@ext.example>: Relay access denied"},
        {NULL, "<u@example.com>", 0, "", ""},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char *relay[] = {(char *)cases[i].relay};
        struct policy_relay *pr = NULL;
        assert_int_equal(policy_relay_new(&pr, relay, cases[i].relay ? 1 : 0, NULL, 0, mynetworks,
                                          N(mynetworks), relay_domains, N(relay_domains), NULL),
                         0);
        struct policy_addr a;
        assert_int_equal(policy_addr_parse(cases[i].path, false, &a), 0);
        struct policy_verdict v;
        policy_relay_check(pr, &clients[C_OUTSIDE], &a, &v);
        if (v.code != cases[i].code || strcmp(v.dsn, cases[i].dsn) != 0 ||
            strcmp(v.text, cases[i].text) != 0)
            fail_msg("case %zu: %d %s \"%s\", want %d %s \"%s\"", i, v.code, v.dsn, v.text,
                     cases[i].code, cases[i].dsn, cases[i].text);
        policy_relay_free(pr);
    }
}

static void test_new_errors(void **state)
{
    (void)state;
    static const struct {
        const char *relay, *mynet, *domains;
        int rc;
        const char *errpart;
    } cases[] = {
        {"permit_mynetworks reject_unauth_destination", "127.0.0.0/8", "example.com", 0, NULL},
        {"permit_mynetworks, reject_unknown_everything", "127.0.0.0/8", "example.com", -EINVAL,
         "smtpd_relay_restrictions: unknown restriction \"reject_unknown_everything\""},
        {"check_ccert_access", "127.0.0.0/8", "example.com", -EINVAL, "check_ccert_access"},
        {"permit", "10.1.2.3/8", "example.com", -EINVAL, "non-null host address bits"},
        {"permit", "127.0.0.0/8", "/etc/postfix/relay_domains", -EINVAL, "use a table"},
        {"permit", "127.0.0.0/8", "u@example.com", -EINVAL, "bad domain"},
        {"permit", "127.0.0.0/8", "lmdb:/nonexistent/relay_domains", -ENOENT,
         "/nonexistent/relay_domains.lmdb"},
        {"permit", "127.0.0.0/8", "bogus:x", -EINVAL, "unsupported table type"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char *relay[] = {(char *)cases[i].relay};
        char *mynet[] = {(char *)cases[i].mynet};
        char *domains[] = {(char *)cases[i].domains};
        struct policy_relay *pr = NULL;
        char *err = NULL;
        int rc = policy_relay_new(&pr, relay, 1, NULL, 0, mynet, 1, domains, 1, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d want %d (%s)", i, rc, cases[i].rc, err ? err : "");
        if (rc < 0) {
            assert_null(pr);
            assert_non_null(err);
            if (strstr(err, cases[i].errpart) == NULL)
                fail_msg("case %zu: err \"%s\" lacks \"%s\"", i, err, cases[i].errpart);
        }
        free(err);
        policy_relay_free(pr);
    }
    /* the rcpt list names itself in errors */
    char *bad[] = {"nope"};
    char *err = NULL;
    struct policy_relay *pr = NULL;
    assert_int_equal(policy_relay_new(&pr, NULL, 0, bad, 1, NULL, 0, NULL, 0, &err), -EINVAL);
    assert_non_null(strstr(err, "smtpd_recipient_restrictions"));
    free(err);
}

static void test_mynetworks_helper(void **state)
{
    (void)state;
    struct policy_relay *pr = NULL;
    assert_int_equal(
        policy_relay_new(&pr, NULL, 0, NULL, 0, mynetworks, N(mynetworks), NULL, 0, NULL), 0);
    assert_true(policy_relay_client_in_mynetworks(pr, "127.0.0.1"));
    assert_true(policy_relay_client_in_mynetworks(pr, "::1"));
    assert_true(policy_relay_client_in_mynetworks(pr, "::ffff:192.0.2.1"));
    assert_false(policy_relay_client_in_mynetworks(pr, "203.0.113.1"));
    assert_false(policy_relay_client_in_mynetworks(pr, NULL));
    assert_false(policy_relay_client_in_mynetworks(NULL, "127.0.0.1"));
    assert_false(policy_relay_uses_ccert(pr));
    /* no relay_domains: nothing is an auth destination for outside clients */
    struct policy_addr a;
    struct policy_verdict v;
    assert_int_equal(policy_addr_parse("<u@example.com>", false, &a), 0);
    policy_relay_check(pr, &clients[C_OUTSIDE], &a, &v);
    assert_int_equal(v.code, 554);
    policy_relay_check(pr, &clients[C_INSIDE], &a, &v);
    assert_int_equal(v.code, 0);
    policy_relay_free(pr);
    policy_relay_free(NULL);
}

/* ---- certificates: permit_tls_clientcerts, permit_tls_all_clientcerts, check_ccert_access ---- */

/* md5 fingerprints as in the talk's tables (upper-case colon hex, as Postfix prints them) */
#define FP1 "00:8B:02:30:9D:18:F4:81:5D:2F:48:E4:5B:17:82:A7"
#define FP2 "18:F4:81:5D:2F:82:A7:48:E4:5B:17:00:8B:02:30:9D"
#define FPPC "11:11:11:11:11:11:11:11:11:11:11:11:11:11:11:11"
#define FPP "22:22:22:22:22:22:22:22:22:22:22:22:22:22:22:22"
#define FPU "33:33:33:33:33:33:33:33:33:33:33:33:33:33:33:33"
#define FPU2 "44:44:44:44:44:44:44:44:44:44:44:44:44:44:44:44"
#define FPR "55:55:55:55:55:55:55:55:55:55:55:55:55:55:55:55"
#define FPC1 "66:66:66:66:66:66:66:66:66:66:66:66:66:66:66:66"
#define FPC2 "77:77:77:77:77:77:77:77:77:77:77:77:77:77:77:77"

/* relay_clientcerts: FP2 written in lower case (tables match without regard to case) */
static char *const relay_clientcerts[] = {
    "inline:{ " FP1 "=client_1, 18:f4:81:5d:2f:82:a7:48:e4:5b:17:00:8b:02:30:9d=client_2 }",
    "inline:{ " FPP "=pkey_client, " FPR "=revoked_client }",
};
#define CCERT_ACCESS                                                                               \
    "inline:{ " FP1 "=OK, " FPPC "=DUNNO, " FPP "=OK, " FPR "=REJECT, " FPC1                       \
    "=trusted_class, " FPC2 "=blocked_class }"

static const struct policy_restriction_class classes[] = {
    {"trusted_class", "permit_mynetworks, permit"},
    {"blocked_class", "reject"},
    {"cert_or_sasl", "permit_tls_clientcerts permit_sasl_authenticated"},
};

enum cert_client {
    K_NOCERT,
    K_CERT1,
    K_CERT2,
    K_PKEY,
    K_UNK_V,
    K_UNK,
    K_REJ,
    K_CLS_OK,
    K_CLS_REJ,
    K_SASL,
    K_COUNT
};
/* all outside mynetworks */
static const struct policy_client cert_clients[K_COUNT] = {
    [K_NOCERT] = {.addr = "203.0.113.9", .name = "unknown"},
    [K_CERT1] = {.addr = "203.0.113.9", .ccert_fingerprint = FP1, .ccert_subject = "client1"},
    [K_CERT2] = {.addr = "203.0.113.9", .ccert_fingerprint = FP2, .ccert_verified = true},
    [K_PKEY] = {.addr = "203.0.113.9", .ccert_fingerprint = FPPC, .ccert_pkey_fingerprint = FPP},
    [K_UNK_V] = {.addr = "203.0.113.9", .ccert_fingerprint = FPU, .ccert_verified = true},
    [K_UNK] = {.addr = "203.0.113.9", .ccert_fingerprint = FPU2, .ccert_pkey_fingerprint = ""},
    [K_REJ] = {.addr = "203.0.113.9", .ccert_fingerprint = FPR, .ccert_subject = "revoked"},
    [K_CLS_OK] = {.addr = "203.0.113.9", .ccert_fingerprint = FPC1},
    [K_CLS_REJ] = {.addr = "203.0.113.9", .ccert_fingerprint = FPC2, .ccert_verified = true},
    [K_SASL] = {.addr = "203.0.113.9", .sasl_authenticated = true, .ccert_fingerprint = ""},
};

static const struct {
    const char *name;
    const char *relay, *rcpt;
    /* NOCERT CERT1 CERT2 PKEY UNK_V UNK REJ CLS_OK CLS_REJ SASL */
    int ext[K_COUNT];  /* recipient outside relay_domains */
    int auth[K_COUNT]; /* recipient in relay_domains */
} cert_configs[] = {
    {"the talk: permit_tls_clientcerts",
     NULL,
     "permit_mynetworks, permit_tls_clientcerts, reject_unauth_destination",
     {554, 0, 0, 0, 554, 554, 0, 554, 554, 554},
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {"permit_tls_all_clientcerts: verified, else the fingerprint table",
     NULL,
     "permit_mynetworks, permit_tls_all_clientcerts, reject_unauth_destination",
     {554, 0, 0, 0, 0, 554, 0, 554, 0, 554},
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {"the talk: check_ccert_access (cert, then pkey; classes)",
     NULL,
     "permit_mynetworks, check_ccert_access " CCERT_ACCESS ", reject_unauth_destination",
     {554, 0, 554, 0, 554, 554, 554, 0, 554, 554},
     {0, 0, 0, 0, 0, 0, 554, 0, 554, 0}},
    {"check_ccert_access REJECT wins over relay_clientcerts",
     "check_ccert_access " CCERT_ACCESS
     " permit_tls_clientcerts permit_sasl_authenticated reject_unauth_destination",
     NULL,
     {554, 0, 0, 0, 554, 554, 554, 0, 554, 0},
     {0, 0, 0, 0, 0, 0, 554, 0, 554, 0}},
    {"a restriction class in the list",
     "cert_or_sasl, reject_unauth_destination",
     NULL,
     {554, 0, 0, 0, 554, 554, 0, 554, 554, 0},
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
    {"no certificate rule: certificates mean nothing",
     NULL,
     "permit_mynetworks, reject_unauth_destination",
     {554, 554, 554, 554, 554, 554, 554, 554, 554, 554},
     {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
};

/* new_cert_relay - a relay object for one config */
static struct policy_relay *new_cert_relay(const char *relay, const char *rcpt)
{
    char *r1[] = {(char *)relay}, *r2[] = {(char *)rcpt};
    struct policy_relay_params p = {
        .relay_restrictions = r1,
        .nrelay = relay ? 1 : 0,
        .rcpt_restrictions = r2,
        .nrcpt = rcpt ? 1 : 0,
        .mynetworks = mynetworks,
        .nmynet = N(mynetworks),
        .relay_domains = relay_domains,
        .nrd = N(relay_domains),
        .relay_clientcerts = relay_clientcerts,
        .nrelay_clientcerts = N(relay_clientcerts),
        .classes = classes,
        .nclasses = N(classes),
    };
    struct policy_relay *pr = NULL;
    char *err = NULL;
    if (policy_relay_new_params(&pr, &p, &err) != 0)
        fail_msg("relay \"%s\" rcpt \"%s\": %s", relay ?: "", rcpt ?: "", err ?: "?");
    return pr;
}

static void test_cert_matrix(void **state)
{
    (void)state;
    struct policy_addr ext, auth;
    assert_int_equal(policy_addr_parse("<u@ext.example>", false, &ext), 0);
    assert_int_equal(policy_addr_parse("<u@example.com>", false, &auth), 0);
    for (size_t ci = 0; ci < N(cert_configs); ci++) {
        struct policy_relay *pr = new_cert_relay(cert_configs[ci].relay, cert_configs[ci].rcpt);
        assert_true(policy_relay_uses_ccert(pr)); /* the classes hold certificate rules */
        for (int k = 0; k < K_COUNT; k++) {
            for (int which = 0; which < 2; which++) {
                struct policy_verdict v;
                int want = which ? cert_configs[ci].auth[k] : cert_configs[ci].ext[k];
                policy_relay_check(pr, &cert_clients[k], which ? &auth : &ext, &v);
                if (v.code != want)
                    fail_msg("config \"%s\", client %d, %s: %d %s %s, want %d",
                             cert_configs[ci].name, k, which ? "auth rcpt" : "ext rcpt", v.code,
                             v.dsn, v.text, want);
            }
        }
        policy_relay_free(pr);
    }
}

static void test_ccert_texts(void **state)
{
    (void)state;
    static const struct {
        const char *value; /* the check_ccert_access entry for FP1 */
        int code;
        const char *dsn, *text;
    } cases[] = {
        {"OK", 0, "", ""},
        {"RELAY", 0, "", ""},
        {"20240101", 0, "", ""},
        {"DUNNO", 554, "5.7.1", "<u@ext.example>: Relay access denied"}, /* falls through */
        {"{ WARN watch this one }", 554, "5.7.1", "<u@ext.example>: Relay access denied"},
        {"REJECT", 554, "5.7.1", "<client1>: Client certificate rejected: Access denied"},
        {"reject", 554, "5.7.1", "<client1>: Client certificate rejected: Access denied"},
        {"{ REJECT certificate revoked }", 554, "5.7.1",
         "<client1>: Client certificate rejected: certificate revoked"},
        {"{ REJECT 5.7.0 go away }", 554, "5.7.0",
         "<client1>: Client certificate rejected: go away"},
        {"{ DEFER try later }", 450, "4.7.1", "<client1>: Client certificate rejected: try later"},
        {"{ 554 5.7.1 not you }", 554, "5.7.1", "<client1>: Client certificate rejected: not you"},
        {"{ 550 not you }", 550, "5.7.1", "<client1>: Client certificate rejected: not you"},
        {"{ 450 4.7.2 later }", 450, "4.7.2", "<client1>: Client certificate rejected: later"},
        {"{ 421 5.7.1 mismatched class }", 421, "4.7.1",
         "<client1>: Client certificate rejected: mismatched class"},
        {"trusted_class", 0, "", ""},
        {"blocked_class", 554, "5.7.1",
         "<u@ext.example>: Recipient address rejected: Access denied"},
        {"{ permit_sasl_authenticated, blocked_class }", 554, "5.7.1",
         "<u@ext.example>: Recipient address rejected: Access denied"},
        {"{ permit_mynetworks permit_tls_clientcerts }", 0, "", ""},
        {"{ permit_mynetworks }", 554, "5.7.1", "<u@ext.example>: Relay access denied"},
        /* configuration errors: never a permit */
        {"no_such_class", 451, "4.3.5", "Server configuration error"},
        {"{ check_ccert_access texthash:/etc/postfix/x }", 451, "4.3.5",
         "Server configuration error"},
        {"texthash:/etc/postfix/other", 451, "4.3.5", "Server configuration error"},
        {"HOLD", 451, "4.3.5", "Server configuration error"},
        {"{ DEFER_IF_PERMIT maybe }", 451, "4.3.5", "Server configuration error"},
        {"loop_a", 451, "4.3.5", "Server configuration error"},
    };
    static const struct policy_restriction_class cls[] = {
        {"trusted_class", "permit_mynetworks, permit"},
        {"blocked_class", "reject"},
        {"loop_a", "loop_b"},
        {"loop_b", "permit_mynetworks loop_a"},
    };
    struct policy_addr ext;
    assert_int_equal(policy_addr_parse("<u@ext.example>", false, &ext), 0);
    for (size_t i = 0; i < N(cases); i++) {
        char spec[256], list[320];
        snprintf(spec, sizeof(spec), "inline:{ { " FP1 " = %s } }", cases[i].value);
        snprintf(list, sizeof(list), "check_ccert_access %s, reject_unauth_destination", spec);
        if (cases[i].value[0] == '{') /* a value with blanks: one brace level only */
            snprintf(spec, sizeof(spec), "inline:{ { " FP1 " = %.*s } }",
                     (int)strlen(cases[i].value) - 4, cases[i].value + 2),
                snprintf(list, sizeof(list), "check_ccert_access %s, reject_unauth_destination",
                         spec);
        char *rcpt[] = {list};
        char *cc[] = {relay_clientcerts[0]};
        struct policy_relay_params p = {.rcpt_restrictions = rcpt,
                                        .nrcpt = 1,
                                        .mynetworks = mynetworks,
                                        .nmynet = N(mynetworks),
                                        .relay_domains = relay_domains,
                                        .nrd = N(relay_domains),
                                        .relay_clientcerts = cc,
                                        .nrelay_clientcerts = 1,
                                        .classes = cls,
                                        .nclasses = N(cls)};
        struct policy_relay *pr = NULL;
        char *err = NULL;
        if (policy_relay_new_params(&pr, &p, &err) != 0)
            fail_msg("case %zu: %s", i, err);
        struct policy_verdict v;
        policy_relay_check(pr, &cert_clients[K_CERT1], &ext, &v);
        if (v.code != cases[i].code || strcmp(v.dsn, cases[i].dsn) != 0 ||
            strcmp(v.text, cases[i].text) != 0)
            fail_msg("case %zu \"%s\": %d %s \"%s\", want %d %s \"%s\"", i, cases[i].value, v.code,
                     v.dsn, v.text, cases[i].code, cases[i].dsn, cases[i].text);
        policy_relay_free(pr);
    }
}

static void test_cert_new_errors(void **state)
{
    (void)state;
    static const struct {
        const char *rcpt;
        const char *cname, *cvalue;
        const char *clientcerts;
        int rc;
        const char *errpart;
    } cases[] = {
        {"permit_tls_clientcerts", NULL, NULL, "inline:{ a=b }", 0, NULL},
        {"check_ccert_access", NULL, NULL, NULL, -EINVAL, "needs a table"},
        {"check_ccert_access permit", NULL, NULL, NULL, -EINVAL, "needs a table"},
        {"check_ccert_access texthash:/nonexistent/ccerts", NULL, NULL, NULL, -ENOENT,
         "/nonexistent/ccerts"},
        {"inline:{ a=OK }", NULL, NULL, NULL, -EINVAL, "needs a restriction before it"},
        {"my_class", NULL, NULL, NULL, -EINVAL, "unknown restriction \"my_class\""},
        {"my_class", "my_class", "permit_mynetworks, nope", NULL, -EINVAL,
         "my_class: unknown restriction \"nope\""},
        {"permit", "reject", "permit", NULL, -EINVAL, "bad class name"},
        {"permit", "x", "permit", "lmdb:/nonexistent/relay_clientcerts", -ENOENT,
         "relay_clientcerts"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char *rcpt[] = {(char *)cases[i].rcpt};
        char *cc[] = {(char *)cases[i].clientcerts};
        struct policy_restriction_class c = {cases[i].cname, cases[i].cvalue};
        struct policy_relay_params p = {.rcpt_restrictions = rcpt,
                                        .nrcpt = 1,
                                        .relay_clientcerts = cc,
                                        .nrelay_clientcerts = cases[i].clientcerts ? 1 : 0,
                                        .classes = &c,
                                        .nclasses = cases[i].cname ? 1 : 0};
        struct policy_relay *pr = NULL;
        char *err = NULL;
        int rc = policy_relay_new_params(&pr, &p, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d want %d (%s)", i, rc, cases[i].rc, err ? err : "");
        if (rc < 0) {
            assert_null(pr);
            if (err == NULL || strstr(err, cases[i].errpart) == NULL)
                fail_msg("case %zu: err \"%s\" lacks \"%s\"", i, err ?: "", cases[i].errpart);
        }
        free(err);
        policy_relay_free(pr);
    }
    /* a class listed twice */
    struct policy_restriction_class twice[] = {{"a", "permit"}, {"a", "reject"}};
    struct policy_relay_params p = {.classes = twice, .nclasses = 2};
    struct policy_relay *pr = NULL;
    char *err = NULL;
    assert_int_equal(policy_relay_new_params(&pr, &p, &err), -EINVAL);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix),          cmocka_unit_test(test_texts),
        cmocka_unit_test(test_new_errors),      cmocka_unit_test(test_mynetworks_helper),
        cmocka_unit_test(test_cert_matrix),     cmocka_unit_test(test_ccert_texts),
        cmocka_unit_test(test_cert_new_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
