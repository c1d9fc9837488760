/*
 * test_access - access(5) result classification, and the fingerprint digest and format that
 * check_ccert_access looks up (policy_access, policy_fingerprint)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy_fingerprint.h"
#include "policy/policy_access.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_digest_default(void **state)
{
    (void)state;
    static const struct {
        const char *level, *want;
    } cases[] = {
        {NULL, "md5"}, /* unset: Postfix's built-in level 0 */
        {"", "md5"},       {"0", "md5"},        {"1", "md5"},      {"2", "md5"},
        {"3", "md5"},      {"3.5", "md5"},      {"3.5.9", "md5"},  {" 3.6", "sha256"},
        {"3.6", "sha256"}, {"3.6.0", "sha256"}, {"3.7", "sha256"}, {"3.10", "sha256"},
        {"4", "sha256"},   {"10.0", "sha256"},  {"bogus", "md5"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        const char *got = policy_fingerprint_digest_default(cases[i].level);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("compatibility_level \"%s\": %s want %s", cases[i].level ?: "(unset)", got,
                     cases[i].want);
    }
    assert_true(policy_fingerprint_digest_valid("md5"));
    assert_true(policy_fingerprint_digest_valid("SHA256"));
    assert_true(policy_fingerprint_digest_valid("sha1"));
    assert_true(policy_fingerprint_digest_valid("sha512"));
    assert_false(policy_fingerprint_digest_valid("sha3"));
    assert_false(policy_fingerprint_digest_valid(NULL));
}

static void test_access_result(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        enum policy_access_action action;
        int code;
        const char *dsn, *text, *list;
    } cases[] = {
        {"OK", POLICY_ACCESS_PERMIT, 0, NULL, NULL, NULL},
        {"ok trailing text ignored", POLICY_ACCESS_PERMIT, 0, NULL, NULL, NULL},
        {"RELAY", POLICY_ACCESS_PERMIT, 0, NULL, NULL, NULL},
        {"1700000000", POLICY_ACCESS_PERMIT, 0, NULL, NULL, NULL},
        {"DUNNO", POLICY_ACCESS_DUNNO, 0, NULL, NULL, NULL},
        {"dunno whatever", POLICY_ACCESS_DUNNO, 0, NULL, NULL, NULL},
        {"WARN look", POLICY_ACCESS_DUNNO, 0, NULL, NULL, NULL},
        {"INFO look", POLICY_ACCESS_DUNNO, 0, NULL, NULL, NULL},
        {"REJECT", POLICY_ACCESS_REJECT, 554, "5.7.1",
         "<cn>: Client certificate rejected: Access denied", NULL},
        {"REJECT go away", POLICY_ACCESS_REJECT, 554, "5.7.1",
         "<cn>: Client certificate rejected: go away", NULL},
        {"REJECT 5.7.26 go away", POLICY_ACCESS_REJECT, 554, "5.7.26",
         "<cn>: Client certificate rejected: go away", NULL},
        {"REJECT 5.7 not a dsn", POLICY_ACCESS_REJECT, 554, "5.7.1",
         "<cn>: Client certificate rejected: 5.7 not a dsn", NULL},
        {"DEFER", POLICY_ACCESS_REJECT, 450, "4.7.1",
         "<cn>: Client certificate rejected: Access denied", NULL},
        {"DEFER 4.3.2 busy", POLICY_ACCESS_REJECT, 450, "4.3.2",
         "<cn>: Client certificate rejected: busy", NULL},
        {"554 5.7.1 text", POLICY_ACCESS_REJECT, 554, "5.7.1",
         "<cn>: Client certificate rejected: text", NULL},
        {"550 text", POLICY_ACCESS_REJECT, 550, "5.7.1", "<cn>: Client certificate rejected: text",
         NULL},
        {"451 later", POLICY_ACCESS_REJECT, 451, "4.7.1",
         "<cn>: Client certificate rejected: later", NULL},
        {"554", POLICY_ACCESS_PERMIT, 0, NULL, NULL, NULL}, /* all digits, no text: OK */
        {"5544 text", POLICY_ACCESS_RESTRICTIONS, 0, NULL, NULL, "5544 text"},
        {"some_restriction", POLICY_ACCESS_RESTRICTIONS, 0, NULL, NULL, "some_restriction"},
        {"  permit_mynetworks, reject", POLICY_ACCESS_RESTRICTIONS, 0, NULL, NULL,
         "permit_mynetworks, reject"},
        {"", POLICY_ACCESS_RESTRICTIONS, 0, NULL, NULL, ""},
        {"hash:/etc/postfix/x", POLICY_ACCESS_ERROR, 451, "4.3.5", "Server configuration error",
         NULL},
        {"DISCARD", POLICY_ACCESS_ERROR, 451, "4.3.5", "Server configuration error", NULL},
        {"FILTER smtp:[127.0.0.1]:10025", POLICY_ACCESS_ERROR, 451, "4.3.5",
         "Server configuration error", NULL},
        {"DEFER_IF_REJECT", POLICY_ACCESS_ERROR, 451, "4.3.5", "Server configuration error", NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct policy_verdict v;
        const char *list = NULL;
        memset(&v, 0, sizeof(v));
        enum policy_access_action a =
            policy_access_result(cases[i].value, "cn", "Client certificate", &v, &list);
        if (a != cases[i].action)
            fail_msg("case %zu \"%s\": action %d want %d", i, cases[i].value, a, cases[i].action);
        if (cases[i].code) {
            assert_int_equal(v.code, cases[i].code);
            assert_string_equal(v.dsn, cases[i].dsn);
            assert_string_equal(v.text, cases[i].text);
        }
        if (cases[i].list)
            assert_string_equal(list, cases[i].list);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_default),
        cmocka_unit_test(test_access_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
