/*
 * test_hopcount - Received: fields counted in the header section only: a table of messages
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/smtpd/hopcount.h"

static const struct {
    const char *name;
    const char *msg;
    size_t stop;
    size_t want;
} cases[] = {
    {"empty", "", 0, 0},
    {"no header section", "\r\nReceived: x\r\n", 0, 0},
    {"one", "Received: from a\r\n\tby b; date\r\nSubject: s\r\n\r\nbody\r\n", 0, 1},
    {"case and blank before colon", "RECEIVED: a\r\nreceived : b\r\nReceived\t: c\r\n\r\n", 0, 3},
    {"LF line ends", "Received: a\nReceived: b\n\nReceived: body\n", 0, 2},
    {"body lines do not count", "Subject: s\r\n\r\nReceived: a\r\nReceived: b\r\n", 0, 0},
    {"continuation is not a field", "X: y\r\n Received: no\r\nReceived: yes\r\n\r\n", 0, 1},
    {"other names", "Received-SPF: pass\r\nX-Received: a\r\nReceivedx: b\r\nReceived\r\n\r\n", 0,
     0},
    {"no final line end", "Received: a\r\nReceived: b", 0, 2},
    {"stop early", "Received: a\r\nReceived: b\r\nReceived: c\r\n\r\n", 2, 2},
};

/* many - n Received: lines, a Subject and a body */
static char *many(size_t n)
{
    static const char line[] = "Received: from relay.example by tern.example; date\r\n";
    size_t len = n * (sizeof(line) - 1) + 64;
    char *m = malloc(len);
    assert_non_null(m);
    m[0] = 0;
    for (size_t i = 0; i < n; i++)
        strcat(m, line);
    strcat(m, "Subject: hops\r\n\r\nbody\r\n");
    return m;
}

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: %s\n", cases[i].name);
        assert_int_equal(hopcount_received(cases[i].msg, strlen(cases[i].msg), cases[i].stop),
                         cases[i].want);
    }
}

static void test_many(void **state)
{
    (void)state;
    static const size_t n[] = {0, 49, 50, 51, 200};
    for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
        char *m = many(n[i]);
        assert_int_equal(hopcount_received(m, strlen(m), 0), n[i]);
        assert_int_equal(hopcount_received(m, strlen(m), 50), n[i] < 50 ? n[i] : 50);
        free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
