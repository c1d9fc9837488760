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
    [C_INSIDE] = {"127.0.0.1", "localhost", false, NULL},
    [C_INSIDE_V6] = {"::1", "localhost", false, NULL},
    [C_INSIDE_MAPPED] = {"::ffff:192.0.2.77", "app.example", false, NULL},
    [C_OUTSIDE] = {"203.0.113.9", "unknown", false, NULL},
    [C_OUTSIDE_SASL] = {"203.0.113.9", "unknown", true, NULL},
    [C_NONE] = {NULL, NULL, false, NULL},
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_texts),
        cmocka_unit_test(test_new_errors),
        cmocka_unit_test(test_mynetworks_helper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
