/*
 * test_delivery_utf8 - does a delivery need SMTPUTF8: envelope and header section, as a table
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/delivery/delivery_utf8.h"

static const struct {
    const char *name;
    const char *sender, *rcpt1, *rcpt2;
    const char *body;
    bool want;
} cases[] = {
    {"all ASCII", "a@x.test", "b@y.test", NULL, "Subject: hi\r\n\r\nbody\r\n", false},
    {"null sender", "", "b@y.test", NULL, "Subject: hi\r\n\r\n", false},
    {"UTF-8 sender", "j\xc3\xbcrgen@x.test", "b@y.test", NULL, "S: s\r\n\r\n", true},
    {"UTF-8 first recipient", "a@x.test", "\xc3\xa5sa@y.test", NULL, "S: s\r\n\r\n", true},
    {"UTF-8 second recipient", "a@x.test", "b@y.test", "c@\xc3\xbc.test", "S: s\r\n\r\n", true},
    {"UTF-8 Subject", "a@x.test", "b@y.test", NULL, "Subject: Gr\xc3\xbc\xc3\x9f\x65\r\n\r\nb\r\n",
     true},
    {"UTF-8 in a continuation line", "a@x.test", "b@y.test", NULL,
     "To: b@y.test,\r\n \xc3\xa5@y.test\r\n\r\n", true},
    {"8-bit body only: no", "a@x.test", "b@y.test", NULL, "Subject: s\r\n\r\nK\xc3\xb6rper\r\n",
     false},
    {"LF line ends, 8-bit body only", "a@x.test", "b@y.test", NULL, "Subject: s\n\nK\xc3\xb6rper\n",
     false},
    {"no header section end: all headers", "a@x.test", "b@y.test", NULL, "X: \xc3\xb6", true},
    {"no body at all", "a@x.test", "b@y.test", NULL, NULL, false},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct queue_delivery_rcpt r[2] = {{.addr = (char *)cases[i].rcpt1},
                                           {.addr = (char *)cases[i].rcpt2}};
        struct queue_delivery d = {.sender = (char *)cases[i].sender,
                                   .smtputf8 = true,
                                   .nrcpt = cases[i].rcpt2 ? 2 : 1,
                                   .rcpt = r};
        const char *b = cases[i].body;
        print_message("case: %s\n", cases[i].name);
        assert_int_equal(delivery_utf8_needed(&d, b, b ? strlen(b) : 0), cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_table)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
