/*
 * test_delivery_self - is a next hop tern itself: listeners (numeric and wildcard) and
 * proxy_interfaces, as a table of addresses and ports
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/delivery/delivery_self.h"

/* bound - a TCP socket bound to addr:0 (IPv4); its port in *port */
static int bound(const char *addr, int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

enum { P_ONE, P_ANY, P_FIXED };

static void test_table(void **state)
{
    (void)state;
    int p1, pa;
    int fds[2] = {bound("127.0.0.1", &p1), bound("0.0.0.0", &pa)};
    char *items[] = {"192.0.2.7", "[2001:db8::1]:2525", "198.51.100.3:587"};
    struct config_list proxy = {3, items};
    struct delivery_self *me = NULL;
    char *err = NULL;
    assert_int_equal(delivery_self_new(&me, fds, 2, &proxy, &err), 0);
    assert_null(err);

    static const struct {
        const char *addr;
        int which; /* port: the 127.0.0.1 listener's, the wildcard's, or `port` */
        int delta_or_port;
        bool want;
    } cases[] = {
        {"127.0.0.1", P_ONE, 0, true},
        {"127.0.0.1", P_ONE, 1, false},       /* another port there is someone else */
        {"127.0.0.2", P_ONE, 0, false},       /* the listener is bound to 127.0.0.1 only */
        {"::ffff:127.0.0.1", P_ONE, 0, true}, /* IPv4-mapped */
        {"127.0.0.5", P_ANY, 0, true},        /* wildcard: every local address */
        {"192.0.2.1", P_ANY, 0, false},       /* not an address of this machine */
        {"::1", P_ANY, 0, false},             /* an IPv4 wildcard does not cover IPv6 */
        {"192.0.2.7", P_FIXED, 25, true},     /* proxy_interfaces, port 25 by default */
        {"192.0.2.7", P_FIXED, 26, false},
        {"2001:db8::1", P_FIXED, 2525, true},
        {"2001:db8::1", P_FIXED, 25, false},
        {"198.51.100.3", P_FIXED, 587, true},
        {"not-an-address", P_FIXED, 25, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int port = cases[i].which == P_ONE   ? p1 + cases[i].delta_or_port
                   : cases[i].which == P_ANY ? pa
                                             : cases[i].delta_or_port;
        print_message("case %zu: %s port %d\n", i, cases[i].addr, port);
        assert_int_equal(delivery_self_is_me(me, &proxy, cases[i].addr, port), cases[i].want);
    }
    /* without proxy_interfaces (a reload removed it) only the listeners count */
    assert_false(delivery_self_is_me(me, NULL, "192.0.2.7", 25));
    assert_true(delivery_self_is_me(me, NULL, "127.0.0.1", p1));
    delivery_self_free(me);
    close(fds[0]);
    close(fds[1]);
}

static void test_bad_proxy(void **state)
{
    (void)state;
    static const char *const bad[] = {"gateway.example", "192.0.2.1:99999", "[192.0.2.1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *items[] = {(char *)bad[i]};
        struct config_list proxy = {1, items};
        struct delivery_self *me = NULL;
        char *err = NULL;
        assert_int_equal(delivery_self_new(&me, NULL, 0, &proxy, &err), -EINVAL);
        assert_null(me);
        assert_non_null(err);
        assert_non_null(strstr(err, bad[i]));
        free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_bad_proxy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
