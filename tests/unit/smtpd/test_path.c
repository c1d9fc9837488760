/*
 * test_path - the path argument of MAIL FROM:/RCPT TO:: a table of arguments
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

#include "core/smtpd/smtpd_path.h"

static const struct {
    const char *arg;
    int rc;
    const char *addr; /* canonical form on success */
    const char *rest; /* what follows the path */
    bool eight;       /* smtpd_path_8bit(arg) */
} cases[] = {
    {"<u@example.org>", 0, "u@example.org", "", false},
    {" <u@example.org> SIZE=10", 0, "u@example.org", " SIZE=10", false},
    {"<>", 0, "", "", false},
    {"<\"a>b\"@example.org> BODY=8BITMIME", 0, NULL, " BODY=8BITMIME", false},
    {"u@example.org SIZE=1", 0, "u@example.org", " SIZE=1", false}, /* bare, as Postfix */
    {"<u@example.org", -EINVAL, NULL, NULL, false},
    {"<u@example.org>x", -EINVAL, NULL, NULL, false},
    {"", -EINVAL, NULL, NULL, false},
    {"<\xc3\xa9@example.org>", 0, NULL, "", true},
    {"<u@ex\x80>", -EINVAL, NULL, NULL, true},
    {"   ", -EINVAL, NULL, NULL, false},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char arg[256];
        struct policy_addr a;
        char *rest = NULL;
        print_message("case: %s\n", cases[i].arg);
        snprintf(arg, sizeof(arg), "%s", cases[i].arg);
        int rc = smtpd_path(arg, &a, &rest);
        assert_int_equal(rc < 0 ? -EINVAL : rc, cases[i].rc);
        assert_string_equal(arg, cases[i].arg); /* borrowed and left as it was */
        assert_int_equal(smtpd_path_8bit(cases[i].arg), cases[i].eight);
        if (rc < 0)
            continue;
        if (cases[i].addr)
            assert_string_equal(a.addr, cases[i].addr);
        assert_string_equal(rest, cases[i].rest);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
