/*
 * test_confdoc - tern.conf(5) names every parameter of the table, with its default,
 * and the hand-kept Postfix-name lists name only parameters that exist.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config/confdoc.h"
#include "core/config/config.h"

/* page - the generated page as one malloc'd string */
static char *page(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    assert_int_equal(confdoc_write(fp, "test"), 0);
    fclose(fp);
    return buf;
}

static void test_every_parameter_listed(void **state)
{
    char *text = page();
    struct config_param_doc pd;
    size_t n = 0;
    for (size_t i = 0; config_param_doc(i, &pd) == 0; i++, n++) {
        char want[256];
        snprintf(want, sizeof(want), "\n.TP\n.B %s\n", pd.name);
        if (!strstr(text, want))
            fail_msg("tern.conf(5) lacks %s", pd.name);
    }
    assert_true(n > 100);
    free(text);
}

static void test_defaults_and_postfix_names(void **state)
{
    char *text = page();
    assert_non_null(
        strstr(text, ".B smtpd_listen\n(list; default: \\fB127.0.0.1:25\\fR; restart)"));
    assert_non_null(strstr(text, ".B relayhost\n(string; default: empty)"));
    assert_non_null(strstr(text, ".B myhostname\n(string; default: computed)"));
    assert_non_null(strstr(text, "Postfix: none: tern's own."));
    assert_non_null(strstr(text, "today smtp_tls_policy_maps"));
    assert_non_null(strstr(text, ".B inet_protocols\n(string; default: \\fBall\\fR; refused)"));
    assert_string_equal(confdoc_postfix("relayhost"), "same name");
    free(text);
}

static void test_lists_match_table(void **state)
{
    const char *missing = confdoc_check();
    if (missing)
        fail_msg("config/confdoc.c names %s, which is not in the parameter table", missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_parameter_listed),
        cmocka_unit_test(test_defaults_and_postfix_names),
        cmocka_unit_test(test_lists_match_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
