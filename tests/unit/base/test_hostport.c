/*
 * test_hostport - "host:port" values split, numeric hosts told from names, socket addresses made
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "core/base/hostport.h"

static const struct {
    const char *s;
    int dport;
    int rc;
    const char *host;
    int port;
} hostport_cases[] = {
    {"127.0.0.1:25", 0, 0, "127.0.0.1", 25},
    {"127.0.0.1", 25, 0, "127.0.0.1", 25},
    {"[::1]:25", 0, 0, "::1", 25},
    {"[::1]", 587, 0, "::1", 587},
    {"[2001:db8::1]:465", 0, 0, "2001:db8::1", 465},
    {"::1", 53, 0, "::1", 53},
    {"mail.example.com:2525", 25, 0, "mail.example.com", 2525},
    {"mail.example.com", 25, 0, "mail.example.com", 25},
    {"[mail.example.com]:587", 25, 0, "mail.example.com", 587},
    {"localhost:65535", 0, 0, "localhost", 65535},
    {"localhost:smtp", 0, 0, "localhost", 25},
    {"localhost:0", 25, -EINVAL, NULL, 0},
    {"localhost:65536", 25, -EINVAL, NULL, 0},
    {"localhost:-1", 25, -EINVAL, NULL, 0},
    {"localhost:25x", 25, -EINVAL, NULL, 0},
    {"localhost:", 25, -EINVAL, NULL, 0},
    {":25", 25, -EINVAL, NULL, 0},
    {"", 25, -EINVAL, NULL, 0},
    {"[::1", 25, -EINVAL, NULL, 0},
    {"[::1]x", 25, -EINVAL, NULL, 0},
    {"[::1]:", 25, -EINVAL, NULL, 0},
    {"[]:25", 25, -EINVAL, NULL, 0},
    {"host name:25", 25, -EINVAL, NULL, 0},
    {"a,b:25", 25, -EINVAL, NULL, 0},
};

static void test_hostport(void **state)
{
    for (size_t i = 0; i < sizeof(hostport_cases) / sizeof(hostport_cases[0]); i++) {
        char host[64] = "unchanged";
        int port = -42;
        int rc =
            hostport_split(hostport_cases[i].s, hostport_cases[i].dport, host, sizeof(host), &port);
        if (rc != hostport_cases[i].rc)
            fail_msg("hostport case %zu \"%s\": rc %d", i, hostport_cases[i].s, rc);
        if (rc == 0 &&
            (strcmp(host, hostport_cases[i].host) != 0 || port != hostport_cases[i].port))
            fail_msg("hostport case %zu \"%s\": %s %d", i, hostport_cases[i].s, host, port);
    }
    /* host buffer too small */
    char small[4];
    int port;
    assert_int_equal(hostport_split("example.com:25", 0, small, sizeof(small), &port), -EINVAL);
    assert_int_equal(hostport_split("abc:25", 0, small, sizeof(small), &port), 0);
    assert_string_equal(small, "abc");
}

static void test_numeric(void **state)
{
    assert_true(hostport_is_numeric("127.0.0.1"));
    assert_true(hostport_is_numeric("::1"));
    assert_true(hostport_is_numeric("2001:db8::25"));
    assert_false(hostport_is_numeric("mail.example.com"));
    assert_false(hostport_is_numeric("[::1]"));
    assert_false(hostport_is_numeric("127.0.0.1:25"));
    assert_false(hostport_is_numeric(""));
}

static void test_sockaddr(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    assert_int_equal(hostport_sockaddr("127.0.0.2", 2525, &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
    assert_int_equal(ntohs(s4->sin_port), 2525);
    assert_int_equal(ntohl(s4->sin_addr.s_addr), 0x7f000002);

    assert_int_equal(hostport_sockaddr("::1", 25, &ss, &len), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
    assert_int_equal(ntohs(s6->sin6_port), 25);
    assert_true(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));

    assert_int_equal(hostport_sockaddr("localhost", 25, &ss, &len), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_numeric),
        cmocka_unit_test(test_sockaddr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
