/*
 * test_anvil - per-client counts and rates, expiry, the idle cap, the total cap; scripts of
 * steps in tables
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/smtpd/anvil.h"

#define UNIT 60000 /* anvil_rate_time_unit in ms */
#define SLOTS 8    /* connections a script may hold at once */

enum op {
    CONNECT,    /* conn slot = anvil_connect(svc, addr): want count, rate */
    DISCONNECT, /* anvil_disconnect(slot) */
    EVENT,      /* anvil_event(slot, ev): want rate */
    CLIENTS,    /* anvil_clients(): want count */
    END
};

struct step {
    enum op op;
    int slot;
    const char *svc, *addr;
    enum anvil_event ev;
    uint64_t t; /* ms */
    int want;   /* count (CONNECT), rate (EVENT), clients (CLIENTS) */
    int want_rate;
};

#define C(slot, svc, addr, t, count, rate)                                                         \
    {                                                                                              \
        CONNECT, slot, svc, addr, 0, t, count, rate                                                \
    }
#define D(slot, t)                                                                                 \
    {                                                                                              \
        DISCONNECT, slot, NULL, NULL, 0, t, 0, 0                                                   \
    }
#define E(slot, ev, t, rate)                                                                       \
    {                                                                                              \
        EVENT, slot, NULL, NULL, ev, t, rate, 0                                                    \
    }
#define N(t, n)                                                                                    \
    {                                                                                              \
        CLIENTS, 0, NULL, NULL, 0, t, n, 0                                                         \
    }
#define X                                                                                          \
    {                                                                                              \
        END, 0, NULL, NULL, 0, 0, 0, 0                                                             \
    }

struct script {
    const char *name;
    size_t max_idle;
    struct step steps[24];
};

static const struct script scripts[] = {
    {"counts per client; a disconnect lowers the count",
     16,
     {
         C(0, "smtp", "192.0.2.1", 0, 1, 1),
         C(1, "smtp", "192.0.2.1", 10, 2, 2),
         C(2, "smtp", "192.0.2.1", 20, 3, 3),
         C(3, "smtp", "192.0.2.2", 30, 1, 1),
         N(30, 2),
         D(1, 40),
         C(1, "smtp", "192.0.2.1", 50, 3, 4),
         D(0, 60),
         D(1, 60),
         D(2, 60),
         C(0, "smtp", "192.0.2.1", 70, 1, 5),
         X,
     }},
    {"a client is (service, address): services count apart",
     16,
     {
         C(0, "smtp", "192.0.2.1", 0, 1, 1),
         C(1, "submission", "192.0.2.1", 0, 1, 1),
         C(2, "smtp", "2001:db8::1", 0, 1, 1),
         C(3, "smtp", "192.0.2.1", 0, 2, 2),
         N(0, 3),
         X,
     }},
    {"the window: fixed, from the first event; all rates restart together",
     16,
     {
         C(0, "smtp", "192.0.2.1", 1000, 1, 1),
         E(0, ANVIL_MAIL, 2000, 1),
         E(0, ANVIL_MAIL, 3000, 2),
         E(0, ANVIL_RCPT, 3000, 1),
         E(0, ANVIL_RCPT, 3000, 2),
         E(0, ANVIL_RCPT, 3000, 3),
         E(0, ANVIL_AUTH, 4000, 1),
         C(1, "smtp", "192.0.2.1", UNIT + 999, 2, 2), /* still the first window */
         E(0, ANVIL_MAIL, UNIT + 999, 3),
         E(0, ANVIL_MAIL, UNIT + 1000, 1), /* a unit after the first event: new window */
         E(0, ANVIL_RCPT, UNIT + 1000, 1),
         E(0, ANVIL_AUTH, UNIT + 1000, 1),
         C(2, "smtp", "192.0.2.1", UNIT + 1001, 3, 1),
         E(0, ANVIL_MAIL, 2 * UNIT + 999, 2),
         X,
     }},
    {"a clock read a little behind the window's start stays inside it",
     16,
     {
         C(0, "smtp", "192.0.2.1", 5000, 1, 1),
         E(0, ANVIL_MAIL, 4990, 1),
         C(1, "smtp", "192.0.2.1", 4995, 2, 2),
         X,
     }},
    {"the rate outlives a reconnect within the unit; an idle client expires after a unit",
     16,
     {
         C(0, "smtp", "192.0.2.1", 0, 1, 1),
         D(0, 100),
         C(0, "smtp", "192.0.2.1", 200, 1, 2),
         D(0, 300),
         N(300, 1),
         C(1, "smtp", "192.0.2.9", UNIT + 299, 1, 1),
         N(UNIT + 299, 2), /* 192.0.2.1 idle for one ms less than a unit */
         C(2, "smtp", "192.0.2.8", UNIT + 300, 1, 1),
         N(UNIT + 300, 2), /* expired on this connect */
         C(0, "smtp", "192.0.2.1", UNIT + 400, 1, 1),
         X,
     }},
    {"a client with connections never expires",
     16,
     {
         C(0, "smtp", "192.0.2.1", 0, 1, 1),
         C(1, "smtp", "192.0.2.2", 10 * UNIT, 1, 1),
         N(10 * UNIT, 2),
         E(0, ANVIL_MAIL, 10 * UNIT, 1),
         C(2, "smtp", "192.0.2.1", 10 * UNIT, 2, 1),
         X,
     }},
    {"at the idle cap the least recently seen idle client is forgotten",
     2,
     {
         C(0, "smtp", "192.0.2.1", 0, 1, 1),
         C(1, "smtp", "192.0.2.2", 0, 1, 1),
         C(2, "smtp", "192.0.2.3", 0, 1, 1),
         C(3, "smtp", "192.0.2.4", 0, 1, 1),
         D(1, 10),
         D(0, 20),
         D(2, 30), /* three idle, cap 2: 192.0.2.2 goes */
         N(30, 3),
         C(1, "smtp", "192.0.2.2", 40, 1, 1), /* history lost */
         C(0, "smtp", "192.0.2.1", 50, 1, 2), /* history kept */
         X,
     }},
    {"the cap never evicts clients with connections",
     0,
     {
         C(0, "smtp", "192.0.2.1", 0, 1, 1),
         C(1, "smtp", "192.0.2.2", 0, 1, 1),
         C(2, "smtp", "192.0.2.1", 0, 2, 2),
         N(0, 2),
         D(1, 10), /* idle with a cap of 0: gone at once */
         N(10, 1),
         D(0, 20),
         N(20, 1),
         C(0, "smtp", "192.0.2.1", 30, 2, 3),
         X,
     }},
};

/* run - play one script */
static void run(const struct script *sc)
{
    struct anvil *a = NULL;
    struct anvil_client *slot[SLOTS] = {0};
    assert_int_equal(anvil_new(&a, sc->max_idle), 0);
    for (const struct step *st = sc->steps; st->op != END; st++) {
        size_t i = (size_t)(st - sc->steps);
        int count = -1, rate = -1;
        switch (st->op) {
        case CONNECT:
            assert_int_equal(
                anvil_connect(a, st->svc, st->addr, st->t, UNIT, &slot[st->slot], &count, &rate),
                0);
            if (count != st->want || rate != st->want_rate)
                fail_msg("%s, step %zu: connect %s: count %d rate %d, want %d and %d", sc->name, i,
                         st->addr, count, rate, st->want, st->want_rate);
            break;
        case DISCONNECT:
            anvil_disconnect(a, slot[st->slot], st->t);
            slot[st->slot] = NULL;
            break;
        case EVENT:
            rate = anvil_event(a, slot[st->slot], st->ev, st->t, UNIT);
            if (rate != st->want)
                fail_msg("%s, step %zu: event %d: rate %d, want %d", sc->name, i, (int)st->ev, rate,
                         st->want);
            break;
        case CLIENTS:
            if (anvil_clients(a) != (size_t)st->want)
                fail_msg("%s, step %zu: %zu clients, want %d", sc->name, i, anvil_clients(a),
                         st->want);
            break;
        case END:
            break;
        }
    }
    anvil_free(a);
}

static void test_scripts(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
        run(&scripts[i]);
}

static void test_event_edges(void **state)
{
    (void)state;
    struct anvil *a = NULL;
    assert_int_equal(anvil_new(&a, 4), 0);
    /* no client (exempt or untracked), or a connect event: nothing counted */
    assert_int_equal(anvil_event(a, NULL, ANVIL_MAIL, 0, UNIT), 0);
    struct anvil_client *c;
    int count, rate;
    assert_int_equal(anvil_connect(a, "smtp", "192.0.2.1", 0, UNIT, &c, &count, &rate), 0);
    assert_int_equal(anvil_event(a, c, ANVIL_CONNECT, 0, UNIT), 0);
    assert_int_equal(anvil_event(a, c, ANVIL_EVENTS, 0, UNIT), 0);
    anvil_disconnect(a, NULL, 0);
    anvil_disconnect(a, c, 0);
    /* an address longer than the key keeps its first ANVIL_ADDR_MAX - 1 characters */
    char long_addr[ANVIL_ADDR_MAX + 16];
    memset(long_addr, 'a', sizeof(long_addr) - 1);
    long_addr[sizeof(long_addr) - 1] = 0;
    assert_int_equal(anvil_connect(a, "smtp", long_addr, 0, UNIT, &c, &count, &rate), 0);
    assert_int_equal(anvil_connect(a, "smtp", long_addr, 0, UNIT, &c, &count, &rate), 0);
    assert_int_equal(count, 2);
    anvil_free(a);
    anvil_free(NULL);
}

static void test_total(void **state)
{
    (void)state;
    static const struct {
        int limit;
        bool enter; /* true: enter, false: leave */
        bool want;
        int total;
    } steps[] = {
        {2, true, true, 1},  {2, true, true, 2},  {2, true, false, 2}, {3, true, true, 3},
        {3, true, false, 3}, {0, false, true, 2}, {2, true, false, 2}, {0, true, true, 3},
        {-1, true, true, 4}, {0, false, true, 3}, {0, false, true, 2}, {0, false, true, 1},
        {1, true, false, 1}, {0, false, true, 0}, {1, true, true, 1},
    };
    struct anvil *a = NULL;
    assert_int_equal(anvil_new(&a, 4), 0);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (steps[i].enter) {
            bool ok = anvil_total_enter(a, steps[i].limit);
            if (ok != steps[i].want)
                fail_msg("step %zu: enter with limit %d: %d, want %d", i, steps[i].limit, ok,
                         steps[i].want);
        } else {
            anvil_total_leave(a);
        }
        if (anvil_total(a) != steps[i].total)
            fail_msg("step %zu: total %d, want %d", i, anvil_total(a), steps[i].total);
    }
    /* refusals: a warning for the first, then one per 10 s with the count */
    unsigned long n = 0;
    assert_true(anvil_total_refused(a, 1000, &n));
    assert_int_equal(n, 1);
    assert_false(anvil_total_refused(a, 2000, &n));
    assert_false(anvil_total_refused(a, 10999, &n));
    assert_true(anvil_total_refused(a, 11000, &n));
    assert_int_equal(n, 3);
    anvil_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scripts),
        cmocka_unit_test(test_event_edges),
        cmocka_unit_test(test_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
