/* policy_tls_refs: a resolved policy's match list to the names a certificate must match */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy_tls_refs.h"

/* one match list item for one server: the strategies, literals, and what is left out */
static void test_keywords(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *nexthop, *host;
        const char *want[4];
    } cases[] = {
        {"hostname", "example.com", "mx1.example.com", {"mx1.example.com"}},
        {"nexthop, dot-nexthop", "example.com", "mx1.example.com", {"example.com", ".example.com"}},
        {" HostName ,, literal.test\tnexthop",
         "ex.test",
         "mx.ex.test",
         {"mx.ex.test", "literal.test", "ex.test"}},
        {"hostname", "example.com", "", {NULL}}, /* no server name known */
        {"dot-nexthop", "", "mx", {NULL}},       /* a bare "." never matches */
        {"", "example.com", "mx", {NULL}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char names[POLICY_TLS_REFS_MAX][POLICY_TLS_REF_LEN];
        char *match[] = {(char *)cases[i].spec, NULL};
        struct policy_tls_site r = {.level = POLICY_TLS_VERIFY, .match = match, .nmatch = 1};
        size_t n = policy_tls_refs(&r, cases[i].host, cases[i].nexthop, names, POLICY_TLS_REFS_MAX);
        size_t want = 0;
        while (want < 4 && cases[i].want[want])
            want++;
        assert_int_equal(n, want);
        for (size_t k = 0; k < n; k++)
            assert_string_equal(names[k], cases[i].want[k]);
    }
}

/* several items, as policy_tls_site splits "nexthop, dot-nexthop"; max bounds the names */
static void test_list_and_bound(void **state)
{
    (void)state;
    char names[POLICY_TLS_REFS_MAX][POLICY_TLS_REF_LEN];
    char *match[] = {"nexthop", "dot-nexthop", "hostname", "a.test", NULL};
    struct policy_tls_site r = {.level = POLICY_TLS_SECURE, .match = match, .nmatch = 4};

    assert_int_equal(policy_tls_refs(&r, "mx.ex.test", "ex.test", names, POLICY_TLS_REFS_MAX), 4);
    assert_string_equal(names[0], "ex.test");
    assert_string_equal(names[1], ".ex.test");
    assert_string_equal(names[2], "mx.ex.test");
    assert_string_equal(names[3], "a.test");
    assert_int_equal(policy_tls_refs(&r, "mx.ex.test", "ex.test", names, 2), 2);
    assert_string_equal(names[1], ".ex.test");
    assert_int_equal(policy_tls_refs(NULL, "mx", "ex", names, 2), 0);

    /* a literal longer than a name slot is cut, never overflows */
    char longname[400];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    char *one[] = {longname, NULL};
    struct policy_tls_site l = {.level = POLICY_TLS_VERIFY, .match = one, .nmatch = 1};
    assert_int_equal(policy_tls_refs(&l, "mx", "ex", names, 1), 1);
    assert_int_equal(strlen(names[0]), POLICY_TLS_REF_LEN - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_list_and_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
