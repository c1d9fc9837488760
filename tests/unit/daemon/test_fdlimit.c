/*
 * test_fdlimit - the inbound share of the descriptor limit (a table), and raising the soft limit
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "core/daemon/fdlimit.h"

static void test_inbound_table(void **state)
{
    (void)state;
    static const struct {
        unsigned long nofile;
        int workers;
        size_t listeners;
        int want;
    } cases[] = {
        {1024, 2, 1, (1024 - 48 - 2 * 17) / 2}, /* the header's example: 471 */
        {128, 2, 1, (128 - 48 - 34) / 2},       /* 23 */
        {128, 1, 3, (128 - 48 - 19) / 2},
        {65536, 8, 2, (65536 - 48 - 8 * 18) / 2},
        {1048576, 64, 1, (1048576 - 48 - 64 * 17) / 2},
        {82, 2, 1, 1}, /* nothing left beyond the reserve: still 1 */
        {10, 1, 1, 1},
        {0, 1, 1, 1},
        {1024, 0, 1, (1024 - 48 - 17) / 2}, /* 0 workers counts as 1 */
        {ULONG_MAX, 1, 1, INT_MAX},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = fdlimit_inbound(cases[i].nofile, cases[i].workers, cases[i].listeners);
        if (got != cases[i].want)
            fail_msg("case %zu: %lu descriptors, %d workers, %zu listeners: %d, want %d", i,
                     cases[i].nofile, cases[i].workers, cases[i].listeners, got, cases[i].want);
    }
}

static void test_raise(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max < 64)
        skip();
    /* a soft limit below the hard one is raised to it */
    struct rlimit low = {rl.rlim_max / 2, rl.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct fdlimit fl;
    assert_int_equal(fdlimit_raise(&fl), 0);
    assert_int_equal(fl.before, rl.rlim_max / 2);
    assert_int_equal(fl.after, rl.rlim_max);
    assert_int_equal(fl.hard, rl.rlim_max);
    /* at the hard limit nothing changes */
    assert_int_equal(fdlimit_raise(&fl), 0);
    assert_int_equal(fl.before, rl.rlim_max);
    assert_int_equal(fl.after, rl.rlim_max);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &low), 0);
    assert_int_equal(low.rlim_cur, rl.rlim_max);
    setrlimit(RLIMIT_NOFILE, &rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inbound_table),
        cmocka_unit_test(test_raise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
