/*
 * test_received - the Received: header of an accepted message: a table of sessions
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/smtpd/smtpd_received.h"

#define DATE "Thu, 1 Jan 1970 00:00:00 +0000"

static const struct {
    const char *name;
    struct smtpd_received r;
    const char *want;
} cases[] = {
    {"one recipient",
     {"client.example", "unknown", "192.0.2.1", NULL, NULL, "mx.example", "ESMTP", "QID1",
      "u@example.org", false, 0},
     "Received: from client.example (unknown [192.0.2.1])\r\n\tby mx.example (tern) with ESMTP id "
     "QID1\r\n\tfor <u@example.org>; " DATE "\r\n"},
    {"several recipients",
     {"c", "unknown", "192.0.2.1", NULL, NULL, "mx.example", "SMTP", "QID2", NULL, false, 0},
     "Received: from c (unknown [192.0.2.1])\r\n\tby mx.example (tern) with SMTP id "
     "QID2;\r\n\t" DATE "\r\n"},
    {"TLS and an authenticated sender",
     {"c", "unknown", "::1", "\r\n\t(using TLSv1.3)", "alice", "mx.example", "ESMTPSA", "QID3",
      NULL, false, 0},
     "Received: from c (unknown [::1])\r\n\t(using TLSv1.3)\r\n\t(Authenticated sender: alice)"
     "\r\n\tby mx.example (tern) with ESMTPSA id QID3;\r\n\t" DATE "\r\n"},
    {"a HELO cannot add clauses",
     {"x by evil with y", "unknown", "192.0.2.1", NULL, NULL, "mx.example", "ESMTP", "QID4", NULL,
      false, 0},
     NULL},
    {"no control character from the recipient",
     {"c", "unknown", "192.0.2.1", NULL, NULL, "mx.example", "ESMTP", "QID5",
      "u\r\nX: y@example.org", false, 0},
     NULL},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = BUF_INIT;
        print_message("case: %s\n", cases[i].name);
        assert_int_equal(smtpd_received(&b, &cases[i].r), 0);
        assert_int_equal(buf_append(&b, "", 1), 0);
        const char *got = buf_ptr(&b);
        if (cases[i].want) {
            assert_string_equal(got, cases[i].want);
        } else {
            /* the client's words stay inside their own clause and line */
            assert_null(strstr(got, " by evil"));
            for (const char *p = got; *p; p++) {
                if (*p == '\r')
                    assert_true(p[1] == '\n' && (p[2] == '\t' || p[2] == 0));
                if (*p == '\n')
                    assert_true(p > got && p[-1] == '\r');
            }
        }
        buf_free(&b);
    }
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
