/*
 * test_notify - daemon/notify: the watchdog is fed only when every worker's ring has stamped
 * itself alive within the interval; outside systemd every notice is a no-op.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "core/daemon/daemon.h"
#include "core/daemon/notify.h"
#include "core/base/time.h"
#include "core/daemon/worker.h"

static void test_workers_alive(void **state)
{
    struct worker w[3];
    struct tern_daemon d = {.workers = w, .nworkers = 3};
    uint64_t now = time_mono_ms();
    for (int i = 0; i < 3; i++)
        atomic_store(&w[i].alive_ms, now);
    assert_true(notify_workers_alive(&d, 1000));
    atomic_store(&w[1].alive_ms, now - 5000); /* worker 1's ring is stuck */
    assert_false(notify_workers_alive(&d, 1000));
    atomic_store(&w[1].alive_ms, now - 500);
    assert_true(notify_workers_alive(&d, 1000));
}

static void test_no_systemd(void **state)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(notify_watchdog_ms(), 0);
    notify_ready(); /* no socket: nothing happens */
    notify_reloading();
    notify_stopping();
    notify_watchdog();
    setenv("WATCHDOG_USEC", "3000000", 1); /* for our pid when WATCHDOG_PID is unset */
    assert_int_equal(notify_watchdog_ms(), 3000);
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_alive),
        cmocka_unit_test(test_no_systemd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
