/*
 * NAME
 *	test_deadline - per-request read deadlines (smtpd_per_request_deadline, smtpd_min_data_rate)
 * DESCRIPTION
 *	A table of arrivals: time, octets, whether a request ended, whether in DATA, and
 *	the deadline expected after it. Each case starts with the deadline at now + timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "core/smtpd/deadline.h"

struct arrival {
    uint64_t at;
    size_t n;
    bool new_request, in_data;
    uint64_t due; /* expected */
};

struct deadline_case {
    const char *name;
    struct deadline_params p;
    struct arrival a[8]; /* ends with at == 0 */
};

/* clang-format off */
static const struct deadline_case cases[] = {
    {"per read: every octet restarts the timeout", {10000, false, 500},
     {{1000, 1, false, false, 11000}, {2000, 1, false, false, 12000}, {9000, 1, false, true, 19000}}},
    {"per request: a trickled command line keeps its deadline", {10000, true, 500},
     {{1000, 1, false, false, 10000}, {5000, 1, false, false, 10000}, {9999, 1, false, false, 10000}}},
    {"per request: a completed line starts a new one", {10000, true, 500},
     {{3000, 2, false, false, 10000}, {4000, 6, true, false, 14000}, {13000, 1, false, false, 14000}}},
    {"DATA: one octet a second earns 2 ms a second", {10000, true, 500},
     {{1000, 1, false, true, 10002}, {2000, 1, false, true, 10004}, {3000, 1, false, true, 10006}}},
    {"DATA: above the rate the deadline stays smtpd_timeout ahead", {10000, true, 500},
     {{1000, 1000, false, true, 11000}, {2000, 1000, false, true, 12000},
      {3000, 100000, false, true, 13000}}},
    {"DATA: below the rate it runs out", {10000, true, 500},
     {{4000, 1000, false, true, 12000}, {8000, 1000, false, true, 14000},
      {12000, 1000, false, true, 16000}, {16000, 1000, false, true, 18000}}},
    {"DATA without a rate: no credit", {10000, true, 0},
     {{1000, 100000, false, true, 10000}}},
};
/* clang-format on */

static void test_deadlines(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct deadline_case *c = &cases[i];
        uint64_t due = c->p.timeout_ms; /* the request started at time 0 */
        for (int k = 0; k < 8 && c->a[k].at; k++) {
            const struct arrival *a = &c->a[k];
            due = deadline_next(&c->p, a->at, due, a->new_request, a->in_data, a->n);
            if (due != a->due)
                fail_msg("%s, arrival %d: deadline %llu, expected %llu", c->name, k,
                         (unsigned long long)due, (unsigned long long)a->due);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadlines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
