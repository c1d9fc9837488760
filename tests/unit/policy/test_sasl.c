/*
 * test_sasl - SASL security option words, password-map values, lookup keys, failure delays
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy_sasl.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_options(void **state)
{
    (void)state;
    static const struct {
        const char *list;
        int rc;
        unsigned flags;
        const char *bad; /* the unknown word's start, for -EINVAL */
    } cases[] = {
        {"", 0, 0, NULL},
        {NULL, 0, 0, NULL},
        {"noanonymous", 0, POLICY_SASL_NOANONYMOUS, NULL},
        {"noplaintext, noanonymous", 0, POLICY_SASL_NOPLAINTEXT | POLICY_SASL_NOANONYMOUS, NULL},
        {" noplaintext\tnoanonymous ,", 0, POLICY_SASL_NOPLAINTEXT | POLICY_SASL_NOANONYMOUS, NULL},
        {"NOPLAINTEXT", 0, POLICY_SASL_NOPLAINTEXT, NULL},
        {"noactive nodictionary mutual_auth forward_secrecy", 0,
         POLICY_SASL_NOACTIVE | POLICY_SASL_NODICTIONARY | POLICY_SASL_MUTUAL_AUTH |
             POLICY_SASL_FORWARD_SECRECY,
         NULL},
        {"noanonymous, plaintext", -EINVAL, 0, "plaintext"},
        {"noplain", -EINVAL, 0, "noplain"},
        {"noplaintexts", -EINVAL, 0, "noplaintexts"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        unsigned f = 0xdead;
        const char *bad = NULL;
        int rc = policy_sasl_options_parse(cases[i].list, &f, &bad);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d want %d", cases[i].list, rc, cases[i].rc);
        if (rc == 0 && f != cases[i].flags)
            fail_msg("\"%s\": flags %#x want %#x", cases[i].list, f, cases[i].flags);
        if (rc < 0 && strncmp(bad, cases[i].bad, strlen(cases[i].bad)) != 0)
            fail_msg("\"%s\": bad word at \"%s\" want \"%s\"", cases[i].list, bad, cases[i].bad);
    }
}

static void test_secret(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int rc;
        const char *user, *pass;
    } cases[] = {
        {"user:secret", 0, "user", "secret"},
        {"user@example.com:pa:ss:word", 0, "user@example.com", "pa:ss:word"},
        {"user:", 0, "user", ""},
        {":secret", -EINVAL, NULL, NULL},
        {"nocolon", -EINVAL, NULL, NULL},
        {"", -EINVAL, NULL, NULL},
        {NULL, -EINVAL, NULL, NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct policy_sasl_secret s;
        int rc = policy_sasl_secret_parse(cases[i].value, &s);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d want %d", cases[i].value, rc, cases[i].rc);
        if (rc == 0 && (strcmp(s.user, cases[i].user) || strcmp(s.pass, cases[i].pass)))
            fail_msg("\"%s\": %s / %s", cases[i].value, s.user, s.pass);
    }
    char longv[600];
    memset(longv, 'u', sizeof(longv));
    longv[300] = ':';
    longv[sizeof(longv) - 1] = 0;
    struct policy_sasl_secret s;
    assert_int_equal(policy_sasl_secret_parse(longv, &s), -EINVAL);
}

static void test_keys(void **state)
{
    (void)state;
    static const struct {
        const char *nexthop, *host;
        size_t n;
        const char *k0, *k1;
    } cases[] = {
        {"[mail.isp.example]:587", "mail.isp.example", 2, "mail.isp.example",
         "[mail.isp.example]:587"},
        {"example.com", "mx1.example.com", 2, "mx1.example.com", "example.com"},
        {"example.com", "EXAMPLE.com", 1, "EXAMPLE.com", NULL},
        {"[127.0.0.1]:2526", "127.0.0.1", 2, "127.0.0.1", "[127.0.0.1]:2526"},
        {"example.com", NULL, 1, "example.com", NULL},
        {"[mail.isp.example]:25", "mail.isp.example", 3, "mail.isp.example",
         "[mail.isp.example]:25"},
        {"example.com:25", "mx.example.com", 3, "mx.example.com", "example.com:25"},
        {NULL, "", 0, NULL, NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        const char *keys[POLICY_SASL_KEYS_MAX];
        char store[200];
        size_t n =
            policy_sasl_password_keys(cases[i].nexthop, cases[i].host, keys, store, sizeof(store));
        if (n != cases[i].n)
            fail_msg("case %zu: %zu keys want %zu", i, n, cases[i].n);
        if (n > 0 && strcmp(keys[0], cases[i].k0))
            fail_msg("case %zu: first key %s want %s", i, keys[0], cases[i].k0);
        if (n > 1 && strcmp(keys[1], cases[i].k1))
            fail_msg("case %zu: second key %s want %s", i, keys[1], cases[i].k1);
        if (n > 2 && strncmp(keys[2], keys[1], strlen(keys[2])) != 0)
            fail_msg("case %zu: third key %s is not the next hop without :25", i, keys[2]);
    }
    const char *keys[POLICY_SASL_KEYS_MAX];
    char tiny[8];
    assert_int_equal(
        policy_sasl_password_keys("example.com", "mx.example.com", keys, tiny, sizeof(tiny)), 0);
}

static void test_delay(void **state)
{
    (void)state;
    static const unsigned want[] = {0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 8000, 8000};
    for (unsigned i = 0; i < N(want); i++)
        assert_int_equal(policy_sasl_auth_delay_ms(i), want[i]);
    assert_int_equal(policy_sasl_auth_delay_ms(100000), 8000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_secret),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_delay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
