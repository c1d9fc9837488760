/*
 * NAME
 *	queue_id - queue IDs: time-ordered, never repeated, not even when the clock steps back
 * SYNOPSIS
 *	queue_id_new(qid);                  // thread-safe
 *	queue_id_next(qid, &now);           // the same with a given clock reading (tests)
 *	queue_id_floor(qid);                // recovery: later IDs sort after this one
 *	queue_id_valid(key, len);
 * DESCRIPTION
 *	16 upper-case hex digits: 8 of the epoch second, 5 of the microsecond,
 *	3 of a process-wide counter. Sorting IDs sorts by arrival, so the LMDB
 *	index is walked in arrival order at recovery.
 *
 *	The first 13 digits are a stamp that only moves forward: when the
 *	clock reads no later than the last stamp handed out (a clock stepped
 *	back - an appliance that boots before NTP - or two IDs in the same
 *	microsecond) the stamp is the last one plus one microsecond. Recovery
 *	feeds every queue ID it finds to queue_id_floor(), so after a restart
 *	with the clock behind, new IDs still sort after (and never equal) every
 *	queued one. The stamp is one 64-bit atomic (compare-and-swap), no lock.
 *	The last 3 digits count IDs made by this process (they keep IDs of two
 *	processes apart when both run on one queue by mistake; LMDB's writer
 *	lock and MDB_NOOVERWRITE stop that anyway). Microseconds may run past
 *	999999 into the next second's digits' range (up to 0xFFFFF) while the
 *	stamp catches up: still valid hex, still in order.
 */
#include "queue/queue.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static atomic_uint queue_id_counter;
static _Atomic uint64_t queue_id_last; /* seconds << 20 | microseconds of the last ID */

/* stamp_of - a clock reading as seconds << 20 | microseconds */
static uint64_t stamp_of(const struct timespec *ts)
{
    return ((uint64_t)ts->tv_sec & 0xffffffffu) << 20 | (uint64_t)(ts->tv_nsec / 1000);
}

/* queue_id_next - a fresh queue ID, given the clock's reading (thread-safe) */
void queue_id_next(char out[QUEUE_ID_LEN + 1], const struct timespec *now)
{
    uint64_t want = stamp_of(now), last = atomic_load(&queue_id_last), use;
    do
        use = want > last ? want : last + 1;
    while (!atomic_compare_exchange_weak(&queue_id_last, &last, use));
    unsigned n = atomic_fetch_add(&queue_id_counter, 1) & 0xfffu;
    snprintf(out, QUEUE_ID_LEN + 1, "%08lX%05lX%03X", (unsigned long)(use >> 20) & 0xffffffffUL,
             (unsigned long)(use & 0xfffffu), n);
}

/* queue_id_new - a fresh queue ID (thread-safe) */
void queue_id_new(char out[QUEUE_ID_LEN + 1])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    queue_id_next(out, &ts);
}

/* queue_id_floor - make every later ID's stamp greater than qid's */
void queue_id_floor(const char *qid)
{
    uint64_t stamp = 0;
    if (!queue_id_valid(qid, QUEUE_ID_LEN))
        return;
    for (int i = 0; i < 13; i++) {
        char c = qid[i];
        stamp = stamp << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'A' + 10);
    }
    uint64_t last = atomic_load(&queue_id_last);
    while (stamp > last && !atomic_compare_exchange_weak(&queue_id_last, &last, stamp))
        ;
}

/* queue_id_valid - QUEUE_ID_LEN upper-case hex digits */
bool queue_id_valid(const void *p, size_t len)
{
    const unsigned char *c = p;
    if (len != QUEUE_ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((c[i] >= '0' && c[i] <= '9') || (c[i] >= 'A' && c[i] <= 'F')))
            return false;
    return true;
}
