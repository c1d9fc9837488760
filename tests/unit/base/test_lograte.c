/*
 * test_lograte - one log line per interval for repeating events, a table of ticks
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/base/lograte.h"

static void test_ticks(void **state)
{
    (void)state;
    static const struct {
        bool reset;      /* lograte_reset() instead of a tick */
        uint64_t now;    /* ms */
        bool due;        /* tick: a line is due */
        unsigned long n; /* what the line (or the reset) reports */
    } steps[] = {
        {false, 5000, true, 1}, /* the first event logs at once */
        {false, 5001, false, 0},  {false, 14999, false, 0},
        {false, 15000, true, 3}, /* one interval later: the two held back and this one */
        {false, 15000, false, 0}, {true, 15100, false, 1}, /* over: one not reported */
        {false, 15200, true, 1}, /* after a reset the next event logs at once */
        {true, 15300, false, 0},  {false, 100, true, 1}, /* reset: any clock value logs */
    };
    struct lograte lr = {0};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        unsigned long n = 0;
        if (steps[i].reset) {
            n = lograte_reset(&lr);
            if (n != steps[i].n)
                fail_msg("step %zu: reset reports %lu, want %lu", i, n, steps[i].n);
            continue;
        }
        bool due = lograte_tick(&lr, steps[i].now, 10000, &n);
        if (due != steps[i].due || (due && n != steps[i].n))
            fail_msg("step %zu: due %d n %lu, want %d and %lu", i, due, n, steps[i].due,
                     steps[i].n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
