/*
 * test_mtasts - policy_mtasts: the RFC 8461 examples (3.1, 3.2, 4.1) and the ways a policy file
 * or TXT record is refused: a bad or late version line, missing or repeated fields, bad values,
 * control octets, the size limit; MX patterns
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

#include "policy/policy_mtasts.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int parse(const char *text, struct policy_mtasts *p, char *err)
{
    return policy_mtasts_parse(text, strlen(text), p, err, 200);
}

/* the RFC's example policy (3.2), with LF and with CRLF line ends */
static void test_rfc_example(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\n"
        "mx: backupmx.example.com\nmax_age: 604800\n",
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
        "mx: backupmx.example.com\r\nmax_age: 604800\r\n",
        /* no final line end, blanks after the colon and at the end, an extension */
        "version: STSv1\nmode:\tenforce  \nx-note: anything goes here\nmx: MAIL.example.com.\n"
        "mx: *.example.net\nmx: backupmx.example.com\nmax_age:604800",
    };
    for (size_t i = 0; i < N(texts); i++) {
        struct policy_mtasts p;
        char err[200] = "";
        if (parse(texts[i], &p, err) != 0)
            fail_msg("text %zu: %s", i, err);
        assert_int_equal(p.mode, POLICY_MTASTS_ENFORCE);
        assert_int_equal(p.max_age, 604800);
        assert_int_equal(p.nmx, 3);
        assert_string_equal(p.mx[0], "mail.example.com");
        assert_string_equal(p.mx[1], "*.example.net");
    }
    struct policy_mtasts p;
    char err[200];
    assert_int_equal(parse("version: STSv1\nmode: none\nmax_age: 86400\n", &p, err), 0);
    assert_int_equal(p.mode, POLICY_MTASTS_NONE);
    assert_int_equal(p.nmx, 0); /* mode none needs no mx */
    assert_int_equal(parse("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 0\n", &p, err),
                     0);
    assert_int_equal(p.mode, POLICY_MTASTS_TESTING);
    assert_string_equal(policy_mtasts_mode_name(p.mode), "testing");
}

/* what makes a policy invalid, each with the reason's gist */
static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"", "version"},
        {"mode: enforce\nversion: STSv1\nmx: a.example\nmax_age: 1\n", "version"},
        {"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "version"},
        {"version : STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n", "key: value"},
        {"Version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n", "version"},
        {"version: STSv1\nmode: enforce\nmx: a.example\n", "no max_age"},
        {"version: STSv1\nmx: a.example\nmax_age: 1\n", "no mode"},
        {"version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx"},
        {"version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", "mode"},
        {"version: STSv1\nmode: enforce\nmode: testing\nmx: a.example\nmax_age: 1\n", "second"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nversion: STSv1\n", "second"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", "max_age"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", "max_age"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", "max_age"},
        {"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1d\n", "max_age"},
        {"version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", "mx"},
        {"version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 1\n", "mx"},
        {"version: STSv1\nmode: enforce\nmx: -a.example\nmax_age: 1\n", "mx"},
        {"version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", "mx"},
        {"version: STSv1\nmode: enforce\nmx: a example\nmax_age: 1\n", "mx"},
        {"version: STSv1\n\nmode: enforce\nmx: a.example\nmax_age: 1\n", "empty"},
        {"version: STSv1\nmode: enforce\nmx: a.example\x01\nmax_age: 1\n", "control"},
        {"version: STSv1\nmode: enforce\nmx: \xc3\xa4.example\nmax_age: 1\n", "ASCII"},
        {"version: STSv1\nmode enforce\nmx: a.example\nmax_age: 1\n", "key: value"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct policy_mtasts p;
        char err[200] = "";
        int rc = parse(cases[i].text, &p, err);
        if (rc != -EINVAL || !strstr(err, cases[i].why))
            fail_msg("case %zu: rc %d, \"%s\" (want -EINVAL and \"%s\")", i, rc, err, cases[i].why);
    }
}

/* the size limit, and the mx count limit */
static void test_bounds(void **state)
{
    (void)state;
    size_t n = POLICY_MTASTS_SIZE_MAX + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    const char *head = "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\nx-pad: ";
    memset(big, 'a', n);
    memcpy(big, head, strlen(head));
    big[n - 1] = '\n';
    big[n] = 0;
    struct policy_mtasts p;
    char err[200] = "";
    assert_int_equal(policy_mtasts_parse(big, n, &p, err, sizeof(err)), -EFBIG);
    assert_non_null(strstr(err, "over"));
    big[n - 2] = '\n'; /* one octet less: accepted (a long extension line) */
    assert_int_equal(policy_mtasts_parse(big, n - 1, &p, err, sizeof(err)), 0);
    free(big);

    char many[4096] = "version: STSv1\nmode: enforce\nmax_age: 1\n";
    for (int i = 0; i <= POLICY_MTASTS_MX_MAX; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "mx: m%d.example\n", i);
    assert_int_equal(parse(many, &p, err), -EINVAL);
    assert_non_null(strstr(err, "more than"));
}

/* RFC 8461 4.1: exact names and one-label wildcards */
static void test_mx_match(void **state)
{
    (void)state;
    struct policy_mtasts p;
    char err[200];
    assert_int_equal(parse("version: STSv1\nmode: enforce\nmx: mail.example.com\n"
                           "mx: *.example.net\nmax_age: 86400\n",
                           &p, err),
                     0);
    static const struct {
        const char *host;
        bool want;
    } cases[] = {
        {"mail.example.com", true},   {"MAIL.Example.COM.", true}, {"mx.mail.example.com", false},
        {"example.com", false},       {"a.example.net", true},     {"a.b.example.net", false},
        {"example.net", false},       {".example.net", false},     {"mail.example.co", false},
        {"xmail.example.com", false},
    };
    for (size_t i = 0; i < N(cases); i++)
        if (policy_mtasts_mx_match(&p, cases[i].host) != cases[i].want)
            fail_msg("%s: want %d", cases[i].host, cases[i].want);
}

/* the TXT record (3.1) */
static void test_txt(void **state)
{
    (void)state;
    static const struct {
        const char *txt;
        const char *id; /* NULL: refused */
    } cases[] = {
        {"v=STSv1; id=20160831085700Z;", "20160831085700Z"},
        {"v=STSv1;id=abc", "abc"},
        {"v=STSv1; id=abc; ext=whatever", "abc"},
        {"v=STSv1; ext=1; id=Z9", "Z9"},
        {"v=STSv1;", NULL},
        {"id=abc; v=STSv1;", NULL},
        {"v=STSv2; id=abc;", NULL},
        {"v=STSv1; id=;", NULL},
        {"v=STSv1; id=abc-def;", NULL},
        {"v=STSv1; id=abc; id=def;", NULL},
        {"v=STSv1; id=123456789012345678901234567890123;", NULL}, /* 33 */
        {"v=STSv1; id=abc;;", NULL},
        {"v=STSv1; noequals; id=abc", NULL},
        {"\tv=STSv1; id=abc;", NULL}, /* 3.1: records that do not begin with "v=STSv1;" */
        {" v=STSv1; id=abc;", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char id[POLICY_MTASTS_ID_MAX + 1], err[200] = "";
        int rc = policy_mtasts_txt(cases[i].txt, strlen(cases[i].txt), id, err, sizeof(err));
        if (cases[i].id ? (rc != 0 || strcmp(id, cases[i].id) != 0) : (rc != -EINVAL || !*err))
            fail_msg("case %zu \"%s\": rc %d id \"%s\" err \"%s\"", i, cases[i].txt, rc, id, err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_example), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_bounds),      cmocka_unit_test(test_mx_match),
        cmocka_unit_test(test_txt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
