/*
 * test_net - mynetworks network lists: parse errors and matching, tables of cases
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy_net.h"

static char *const mynetworks[] = {
    "127.0.0.0/8",          "192.0.2.0/24, 198.51.100.7",
    "!10.9.0.1 10.0.0.0/8", "[::1]/128",
    "2001:db8::/32",        "[fd00:1::]/48",
    "172.16.0.0/12",        "[fe80::5]",
};

static void test_match_table(void **state)
{
    (void)state;
    static const struct {
        const char *addr;
        bool inside;
    } cases[] = {
        {"127.0.0.1", true},
        {"127.255.255.254", true},
        {"128.0.0.1", false},
        {"192.0.2.0", true},
        {"192.0.2.255", true},
        {"192.0.3.1", false},
        {"198.51.100.7", true},
        {"198.51.100.8", false},
        {"10.1.2.3", true},
        {"10.9.0.1", false}, /* negated before the /8 */
        {"10.9.0.2", true},
        {"172.16.0.1", true},
        {"172.31.255.255", true},
        {"172.32.0.1", false},
        {"::1", true},
        {"[::1]", true},
        {"::2", false},
        {"2001:db8::1", true},
        {"2001:DB8:ffff::1", true},
        {"2001:db9::1", false},
        {"fd00:1:0:1::1", true},
        {"fd00:2::1", false},
        {"fe80::5%eth0", true},
        {"fe80::6", false},
        /* v4-mapped v6 clients match v4 entries */
        {"::ffff:127.0.0.1", true},
        {"::ffff:192.0.2.9", true},
        {"::ffff:8.8.8.8", false},
        {"::FFFF:10.9.0.1", false},
        {"IPv6:::1", true},
        /* v4 addresses do not match v6 entries and vice versa */
        {"::127.0.0.1", false},
        /* garbage */
        {"", false},
        {"localhost", false},
        {"127.0.0.1/8", false},
        {"300.1.1.1", false},
        {"[127.0.0.1", false},
    };
    struct policy_netlist *nl = NULL;
    char *err = NULL;
    assert_int_equal(
        policy_netlist_parse(&nl, mynetworks, sizeof(mynetworks) / sizeof(*mynetworks), &err), 0);
    assert_null(err);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (policy_netlist_match(nl, cases[i].addr) != cases[i].inside)
            fail_msg("case %zu \"%s\": want %s", i, cases[i].addr,
                     cases[i].inside ? "inside" : "outside");
    assert_false(policy_netlist_match(nl, NULL));
    assert_false(policy_netlist_match(NULL, "127.0.0.1"));
    policy_netlist_free(nl);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *entry;
        int rc;
        const char *msg; /* substring of err */
    } cases[] = {
        {"127.0.0.0/8", 0, NULL},
        {"0.0.0.0/0", 0, NULL},
        {"::/0", 0, NULL},
        {"[127.0.0.1]", 0, NULL},
        {"10.1.2.3/8", -EINVAL, "non-null host address bits in \"10.1.2.3/8\""},
        {"2001:db8::1/32", -EINVAL, "non-null host address bits"},
        {"10.0.0.0/33", -EINVAL, "bad prefix length in \"10.0.0.0/33\""},
        {"::/129", -EINVAL, "bad prefix length"},
        {"10.0.0.0/", -EINVAL, "bad network entry \"10.0.0.0/\""},
        {"10.0.0.0/x", -EINVAL, "bad network entry"},
        {"10.0.0.0/-1", -EINVAL, "bad network entry"},
        {"300.0.0.0/8", -EINVAL, "bad address in \"300.0.0.0/8\""},
        {"mail.example.com", -EINVAL, "hostname \"mail.example.com\" not supported"},
        {"hash:/etc/postfix/network_table", -EINVAL, "lookup tables are not supported"},
        {"/etc/postfix/networks", -EINVAL, "files and lookup tables"},
        {"[::1", -EINVAL, "bad network entry \"[::1\""},
        {"[::1]x", -EINVAL, "bad network entry"},
        {"!", -EINVAL, "bad network entry \"!\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct policy_netlist *nl = NULL;
        char *err = NULL;
        char *items[] = {(char *)cases[i].entry};
        int rc = policy_netlist_parse(&nl, items, 1, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu \"%s\": rc %d want %d", i, cases[i].entry, rc, cases[i].rc);
        if (rc == 0) {
            assert_non_null(nl);
            assert_null(err);
        } else {
            assert_null(nl);
            assert_non_null(err);
            if (strstr(err, cases[i].msg) == NULL)
                fail_msg("case %zu: err \"%s\" lacks \"%s\"", i, err, cases[i].msg);
        }
        free(err);
        policy_netlist_free(nl);
    }
}

static void test_empty(void **state)
{
    (void)state;
    struct policy_netlist *nl = NULL;
    assert_int_equal(policy_netlist_parse(&nl, NULL, 0, NULL), 0);
    assert_false(policy_netlist_match(nl, "127.0.0.1"));
    policy_netlist_free(nl);
    char *blank[] = {"  ,  "};
    assert_int_equal(policy_netlist_parse(&nl, blank, 1, NULL), 0);
    assert_false(policy_netlist_match(nl, "::1"));
    policy_netlist_free(nl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
