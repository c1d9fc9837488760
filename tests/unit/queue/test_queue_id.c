/*
 * test_queue_id - queue IDs never repeat and keep their order, also when the clock steps back
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "queue/queue.h"

/* A clock script: seconds and microseconds the wall clock reads, one per ID. */
struct clock_case {
    const char *name;
    struct {
        long sec, usec;
    } t[6];
    size_t n;
};

static const struct clock_case cases[] = {
    {"forward", {{1000, 0}, {1000, 1}, {1001, 0}}, 3},
    {"same microsecond", {{2000, 5}, {2000, 5}, {2000, 5}, {2000, 5}}, 4},
    {"one second back", {{3000, 10}, {2999, 10}, {2999, 10}, {3000, 11}}, 4},
    {"an hour back, then NTP", {{4000, 999999}, {400, 0}, {401, 0}, {4000, 0}, {5000, 0}}, 5},
    {"last microsecond of a second", {{6000, 999999}, {6000, 999999}, {6000, 999999}}, 3},
};

/* Each case: every ID valid, strictly greater than the one before (so never equal). */
static void test_clock_steps_back(void **state)
{
    (void)state;
    char prev[QUEUE_ID_LEN + 1] = "", id[QUEUE_ID_LEN + 1];
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        print_message("case: %s\n", cases[c].name);
        for (size_t i = 0; i < cases[c].n; i++) {
            struct timespec ts = {cases[c].t[i].sec, cases[c].t[i].usec * 1000};
            queue_id_next(id, &ts);
            assert_true(queue_id_valid(id, QUEUE_ID_LEN));
            if (prev[0])
                assert_true(strcmp(id, prev) > 0);
            memcpy(prev, id, sizeof(prev));
        }
    }
}

/* After a restart (queue_id_floor with what recovery found), a clock behind the queue still
 * gives IDs after every queued one. */
static void test_floor(void **state)
{
    (void)state;
    static const char queued[] = "7FFFFFF0000010AB"; /* second 0x7FFFFFF0 */
    char id[QUEUE_ID_LEN + 1];
    queue_id_floor(queued);
    struct timespec ts = {1000, 0};
    queue_id_next(id, &ts);
    assert_true(strcmp(id, queued) > 0);
    assert_memory_equal(id, "7FFFFFF000002", 13); /* the queued stamp plus one microsecond */
    queue_id_floor("not a queue id!!");           /* ignored */
    queue_id_floor("0000000000000000");           /* older: no effect */
    char next[QUEUE_ID_LEN + 1];
    queue_id_next(next, &ts);
    assert_true(strcmp(next, id) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_steps_back),
        cmocka_unit_test(test_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
