/*
 * lograte - rate-limited log lines; see base/lograte.h.
 */
#include "core/base/lograte.h"

/* lograte_tick - count one event; true when a line is due */
bool lograte_tick(struct lograte *lr, uint64_t now_ms, unsigned interval_ms, unsigned long *n)
{
    atomic_fetch_add(&lr->count, 1);
    uint64_t next = atomic_load(&lr->next_ms);
    if (now_ms < next)
        return false;
    /* one thread wins the line; the others' events are in the count it takes */
    if (!atomic_compare_exchange_strong(&lr->next_ms, &next, now_ms + interval_ms))
        return false;
    *n = atomic_exchange(&lr->count, 0);
    return true;
}

/* lograte_reset - forget the interval; the count not yet reported */
unsigned long lograte_reset(struct lograte *lr)
{
    atomic_store(&lr->next_ms, 0);
    return atomic_exchange(&lr->count, 0);
}
