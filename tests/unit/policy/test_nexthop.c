/*
 * test_nexthop - relayhost / transport_maps / MX destination, tables of cases
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy_nexthop.h"
#include "policy/policy_table.h"

struct want {
    int rc;
    enum policy_transport transport;
    const char *key;
    const char *host;
    int port;
    bool no_mx;
    const char *error_text;
};

/* check - compare a result against the expectation */
static void check(size_t i, const char *what, int rc, const struct policy_nexthop *nh,
                  const struct want *w)
{
    if (rc != w->rc)
        fail_msg("case %zu %s: rc %d want %d", i, what, rc, w->rc);
    if (rc < 0)
        return;
    if (nh->transport != w->transport)
        fail_msg("case %zu %s: transport %d want %d", i, what, nh->transport, w->transport);
    if (strcmp(nh->key, w->key) != 0)
        fail_msg("case %zu %s: key \"%s\" want \"%s\"", i, what, nh->key, w->key);
    if (w->transport == NEXTHOP_SMTP) {
        if (strcmp(nh->host, w->host) != 0)
            fail_msg("case %zu %s: host \"%s\" want \"%s\"", i, what, nh->host, w->host);
        if (nh->port != w->port || nh->no_mx != w->no_mx)
            fail_msg("case %zu %s: port %d no_mx %d want %d %d", i, what, nh->port, nh->no_mx,
                     w->port, w->no_mx);
    }
    if (w->transport == NEXTHOP_ERROR && strcmp(nh->error_text, w->error_text) != 0)
        fail_msg("case %zu %s: error_text \"%s\" want \"%s\"", i, what, nh->error_text,
                 w->error_text);
}

#define SMTP(key, host, port, nomx)                                                                \
    {                                                                                              \
        0, NEXTHOP_SMTP, key, host, port, nomx, NULL                                               \
    }
#define BAD                                                                                        \
    {                                                                                              \
        -EINVAL, NEXTHOP_SMTP, NULL, NULL, 0, false, NULL                                          \
    }

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        struct want w;
    } cases[] = {
        {"[127.0.0.1]:2525", SMTP("[127.0.0.1]:2525", "127.0.0.1", 2525, true)},
        {"[Relay.Example]", SMTP("[relay.example]:25", "relay.example", 25, true)},
        {"relay.example:587", SMTP("relay.example:587", "relay.example", 587, false)},
        {"Relay.Example", SMTP("relay.example:25", "relay.example", 25, false)},
        {"[relay.example]:submission", SMTP("[relay.example]:587", "relay.example", 587, true)},
        {"relay.example:smtp", SMTP("relay.example:25", "relay.example", 25, false)},
        {"[2001:db8::1]:2525", SMTP("[2001:db8::1]:2525", "2001:db8::1", 2525, true)},
        {"[IPv6:2001:DB8::1]", SMTP("[2001:db8::1]:25", "2001:db8::1", 25, true)},
        {" relay.example", SMTP("relay.example:25", "relay.example", 25, false)},
        {"2001:db8::1", BAD},
        {"[relay.example", BAD},
        {"[relay.example]x", BAD},
        {"[]", BAD},
        {"", BAD},
        {"relay.example:0", BAD},
        {"relay.example:65536", BAD},
        {"relay.example:25x", BAD},
        {"relay.example:", BAD},
        {"relay.example:nosuchservice", BAD},
        {"relay example", BAD},
        {"u@relay.example", BAD},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct policy_nexthop nh;
        int rc = policy_nexthop_parse(cases[i].text, &nh);
        check(i, cases[i].text, rc, &nh, &cases[i].w);
    }
}

static const char transport_spec[] =
    "inline:{ user@special.example=smtp:[10.0.0.9]:2526, special.example=smtp:[10.0.0.1], "
    ".sub.example=relay:mx.sub-relay.example:2525, sub.example=smtp:sub-exact.example, "
    "keepdomain.example=smtp:, keepdomain2.example=smtp, nochange.example=:, "
    "defaulttransport.example=:[10.0.0.7]:26, "
    "{ bounce.example = error:5.1.1 no such domain here }, { plainerror.example=error:go away }, "
    "emptyerror.example=error:, dropped.example=discard:, dropped2.example=DISCARD, "
    "local.example=local:, broken.example=smtp:[oops, "
    "{ spaced.example = smtp : [10.0.0.8] }, .com=smtp:[dot-com-relay]:25 }";

static void test_resolve(void **state)
{
    (void)state;
    static const struct {
        const char *relayhost;
        const char *rcpt;
        struct want w;
    } cases[] = {
        /* no transport entry, no relayhost: the domain, MX */
        {NULL, "u@Example.NET", SMTP("example.net:25", "example.net", 25, false)},
        {"", "u@example.net", SMTP("example.net:25", "example.net", 25, false)},
        {NULL, "u@[192.0.2.1]", SMTP("[192.0.2.1]:25", "192.0.2.1", 25, true)},
        {NULL, "u@[IPv6:2001:db8::2]", SMTP("[2001:db8::2]:25", "2001:db8::2", 25, true)},
        {NULL, "\"u@ext\"", BAD},
        {NULL, "postmaster", BAD},
        /* relayhost when no transport entry matches */
        {"[127.0.0.1]:2525", "u@example.net", SMTP("[127.0.0.1]:2525", "127.0.0.1", 2525, true)},
        {"smarthost.example", "u@example.net",
         SMTP("smarthost.example:25", "smarthost.example", 25, false)},
        {"[127.0.0.1]:2525", "postmaster", SMTP("[127.0.0.1]:2525", "127.0.0.1", 2525, true)},
        {"bad host", "u@example.net", BAD},
        /* full address before domain */
        {NULL, "user@special.example", SMTP("[10.0.0.9]:2526", "10.0.0.9", 2526, true)},
        {NULL, "USER@Special.Example", SMTP("[10.0.0.9]:2526", "10.0.0.9", 2526, true)},
        {NULL, "other@special.example", SMTP("[10.0.0.1]:25", "10.0.0.1", 25, true)},
        /* transport beats relayhost */
        {"[127.0.0.1]:2525", "x@special.example", SMTP("[10.0.0.1]:25", "10.0.0.1", 25, true)},
        /* exact domain vs .parent */
        {NULL, "u@sub.example", SMTP("sub-exact.example:25", "sub-exact.example", 25, false)},
        {NULL, "u@a.sub.example",
         SMTP("mx.sub-relay.example:2525", "mx.sub-relay.example", 2525, false)},
        {NULL, "u@b.a.sub.example",
         SMTP("mx.sub-relay.example:2525", "mx.sub-relay.example", 2525, false)},
        {NULL, "u@other.example", SMTP("other.example:25", "other.example", 25, false)},
        {NULL, "u@x.com", SMTP("[dot-com-relay]:25", "dot-com-relay", 25, true)},
        {NULL, "u@com", SMTP("com:25", "com", 25, false)},
        /* smtp: / smtp keep the recipient domain, even with a relayhost */
        {"[127.0.0.1]:2525", "u@keepdomain.example",
         SMTP("keepdomain.example:25", "keepdomain.example", 25, false)},
        {NULL, "u@keepdomain2.example",
         SMTP("keepdomain2.example:25", "keepdomain2.example", 25, false)},
        /* ":" changes nothing: relayhost or domain as without the entry */
        {"[127.0.0.1]:2525", "u@nochange.example",
         SMTP("[127.0.0.1]:2525", "127.0.0.1", 2525, true)},
        {NULL, "u@nochange.example", SMTP("nochange.example:25", "nochange.example", 25, false)},
        {NULL, "u@defaulttransport.example", SMTP("[10.0.0.7]:26", "10.0.0.7", 26, true)},
        {NULL, "u@spaced.example", SMTP("[10.0.0.8]:25", "10.0.0.8", 25, true)},
        /* error and discard */
        {NULL,
         "u@bounce.example",
         {0, NEXTHOP_ERROR, "error", NULL, 0, false, "5.1.1 no such domain here"}},
        {"[127.0.0.1]",
         "u@plainerror.example",
         {0, NEXTHOP_ERROR, "error", NULL, 0, false, "go away"}},
        {NULL,
         "u@emptyerror.example",
         {0, NEXTHOP_ERROR, "error", NULL, 0, false,
          "5.0.0 Mail to this destination is not accepted"}},
        {NULL, "u@dropped.example", {0, NEXTHOP_DISCARD, "discard", NULL, 0, false, NULL}},
        {NULL, "u@dropped2.example", {0, NEXTHOP_DISCARD, "discard", NULL, 0, false, NULL}},
        /* unusable entries */
        {NULL, "u@local.example", BAD},
        {NULL, "u@broken.example", BAD},
        {NULL, NULL, BAD},
    };
    struct policy_table *tm = NULL;
    char *err = NULL;
    assert_int_equal(policy_table_open(&tm, transport_spec, &err), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct policy_nexthop nh;
        int rc = policy_nexthop_resolve(cases[i].relayhost, tm, cases[i].rcpt, &nh);
        check(i, cases[i].rcpt ? cases[i].rcpt : "(null)", rc, &nh, &cases[i].w);
    }
    policy_table_close(tm);
}

static void test_wildcard_and_none(void **state)
{
    (void)state;
    struct policy_table *tm = NULL;
    struct policy_nexthop nh;
    assert_int_equal(
        policy_table_open(&tm, "inline:{ mine.example=:, .mine.example=:, *=smtp:[outbound]:587 }",
                          NULL),
        0);
    assert_int_equal(policy_nexthop_resolve("[127.0.0.1]", tm, "u@far.example", &nh), 0);
    assert_string_equal(nh.key, "[outbound]:587");
    assert_int_equal(policy_nexthop_resolve(NULL, tm, "u@a.mine.example", &nh), 0);
    assert_string_equal(nh.key, "a.mine.example:25");
    assert_int_equal(policy_nexthop_resolve(NULL, tm, "\"u@ext\"", &nh), 0);
    assert_string_equal(nh.key, "[outbound]:587");
    policy_table_close(tm);

    /* no table at all */
    assert_int_equal(policy_nexthop_resolve(NULL, NULL, "u@example.org", &nh), 0);
    assert_string_equal(nh.key, "example.org:25");
    assert_int_equal(nh.port, 25);
    assert_false(nh.no_mx);
    /* a quoted local part with '@' does not lend its text to the domain */
    assert_int_equal(policy_nexthop_resolve(NULL, NULL, "\"u@ext\"@relay.example", &nh), 0);
    assert_string_equal(nh.host, "relay.example");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_wildcard_and_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
