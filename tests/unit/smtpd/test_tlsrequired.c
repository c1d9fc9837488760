/*
 * test_tlsrequired - "TLS-Required: No" (RFC 8689) found in the header section only: a table
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/smtpd/tlsrequired.h"

static const struct {
    const char *name;
    const char *msg;
    bool want;
} cases[] = {
    {"empty", "", false},
    {"plain", "Subject: s\r\nTLS-Required: No\r\n\r\nbody\r\n", true},
    {"case, blanks", "tls-required :  no \r\n\r\n", true},
    {"tab before colon", "TLS-Required\t:\tNO\r\n\r\n", true},
    {"LF line ends, last field", "Subject: s\nTLS-Required: No\n\nbody\n", true},
    {"folded value", "TLS-Required:\r\n No\r\nSubject: s\r\n\r\n", true},
    {"no final line end", "Subject: s\r\nTLS-Required: No", true},
    {"value yes", "TLS-Required: Yes\r\n\r\n", false},
    {"value longer", "TLS-Required: Nope\r\n\r\n", false},
    {"value continues", "TLS-Required: No\r\n thanks\r\n\r\n", false},
    {"no value", "TLS-Required:\r\n\r\n", false},
    {"other name", "X-TLS-Required: No\r\nTLS-Requiredx: No\r\n\r\n", false},
    {"in the body", "Subject: s\r\n\r\nTLS-Required: No\r\n", false},
    {"in a continuation", "Subject: s\r\n TLS-Required: No\r\n\r\n", false},
    {"long value", "TLS-Required: nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnno\r\n\r\n", false},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (tlsrequired_no(cases[i].msg, strlen(cases[i].msg)) != cases[i].want)
            fail_msg("%s: expected %s", cases[i].name, cases[i].want ? "true" : "false");
}

/* the scan stops at the length given: a field cut short is not read beyond */
static void test_bounded(void **state)
{
    (void)state;
    static const char msg[] = "TLS-Required: No\r\n\r\n";
    assert_false(tlsrequired_no(msg, 15)); /* "TLS-Required: N" */
    assert_true(tlsrequired_no(msg, 16));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
