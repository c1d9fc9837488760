/*
 * NAME
 *	queue_id - queue IDs: time-ordered, unique across restarts
 * DESCRIPTION
 *	16 upper-case hex digits: 8 of the epoch second, 5 of the microsecond,
 *	3 of a process-wide counter. Sorting IDs sorts by arrival, so the LMDB
 *	index is walked in arrival order at recovery. The counter separates IDs
 *	made in the same microsecond (up to 4096 of them). queue_id_valid()
 *	checks a key read back from disk against that form.
 */
#include "queue/queue.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static atomic_uint queue_id_counter;

/* queue_id_new - a fresh queue ID (thread-safe) */
void queue_id_new(char out[QUEUE_ID_LEN + 1])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned n = atomic_fetch_add(&queue_id_counter, 1) & 0xfffu;
    snprintf(out, QUEUE_ID_LEN + 1, "%08lX%05lX%03X", (unsigned long)ts.tv_sec & 0xffffffffUL,
             (unsigned long)(ts.tv_nsec / 1000) & 0xfffffUL, n);
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
