/*
 * anvil - per-client connection counts and rates; see smtpd/anvil.h.
 *
 * A chained hash table keyed by (service, address) plus a list of the
 * idle clients (no connection), oldest disconnect first: expiry pops from
 * its head while the head is a time unit old, and the cap evicts from the
 * head too, so both cost O(1) per client. Rejected alternative: a timer
 * per idle client (Postfix's anvil) would put the table on a worker's
 * ring, and the table belongs to no worker.
 */
#include "core/smtpd/anvil.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/hash.h"
#include "core/base/log.h"
#include "core/base/lograte.h"

#define ANVIL_MIN_BUCKETS 64
#define ANVIL_FULL_WARN_MS 60000  /* idle cap reached: one warning a minute at most */
#define ANVIL_TOTAL_WARN_MS 10000 /* total cap reached: one warning per 10 s at most */

struct anvil_client {
    struct anvil_client *hnext;       /* hash chain */
    struct anvil_client *prev, *next; /* idle list, while count == 0 */
    const char *service;
    char addr[ANVIL_ADDR_MAX];
    uint32_t hash;
    int count;              /* simultaneous connections */
    int rate[ANVIL_EVENTS]; /* events in the current window */
    uint64_t start;         /* the window's start, monotonic ms */
    uint64_t idle_since;    /* the last disconnect, while count == 0 */
};

struct anvil {
    pthread_mutex_t lock;
    struct anvil_client **bucket;
    size_t nbuckets; /* a power of two */
    size_t nclients;
    struct anvil_client *idle_head, *idle_tail;
    size_t nidle, max_idle;
    struct lograte full_log;  /* the idle cap was hit */
    atomic_int total;         /* inbound connections, tracked or not */
    struct lograte total_log; /* refusals at the total cap */
};

/* anvil_hash - FNV-1a over service and address */
static uint32_t anvil_hash(const char *service, const char *addr)
{
    uint32_t h = hash_fnv32_str(HASH_FNV32_START, service);
    return hash_fnv32_str(hash_fnv32(h, ":", 1), addr);
}

/* anvil_new - an empty table with room for max_idle idle clients */
int anvil_new(struct anvil **out, size_t max_idle)
{
    struct anvil *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->nbuckets = ANVIL_MIN_BUCKETS;
    while (a->nbuckets < max_idle && a->nbuckets < ((size_t)1 << 24))
        a->nbuckets <<= 1;
    a->bucket = calloc(a->nbuckets, sizeof(*a->bucket));
    if (!a->bucket) {
        free(a);
        return -ENOMEM;
    }
    a->max_idle = max_idle;
    pthread_mutex_init(&a->lock, NULL);
    atomic_init(&a->total, 0);
    *out = a;
    return 0;
}

/* anvil_free - release the table and every client in it */
void anvil_free(struct anvil *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nbuckets; i++) {
        struct anvil_client *c = a->bucket[i];
        while (c) {
            struct anvil_client *next = c->hnext;
            free(c);
            c = next;
        }
    }
    free(a->bucket);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* anvil_idle_unlink - take c off the idle list */
static void anvil_idle_unlink(struct anvil *a, struct anvil_client *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        a->idle_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        a->idle_tail = c->prev;
    c->prev = c->next = NULL;
    a->nidle--;
}

/* anvil_drop - remove an idle client from the table and free it */
static void anvil_drop(struct anvil *a, struct anvil_client *c)
{
    anvil_idle_unlink(a, c);
    struct anvil_client **pp = &a->bucket[c->hash & (a->nbuckets - 1)];
    while (*pp != c)
        pp = &(*pp)->hnext;
    *pp = c->hnext;
    a->nclients--;
    free(c);
}

/* anvil_expire - drop idle clients whose last disconnect is a time unit old */
static void anvil_expire(struct anvil *a, uint64_t now_ms, uint64_t unit_ms)
{
    while (a->idle_head && now_ms >= a->idle_head->idle_since &&
           now_ms - a->idle_head->idle_since >= unit_ms)
        anvil_drop(a, a->idle_head);
}

/* anvil_count - one event of c, restarting the window when it is over; the new rate */
static int anvil_count(struct anvil_client *c, enum anvil_event ev, uint64_t now_ms,
                       uint64_t unit_ms)
{
    /* a clock read on another thread may be a little behind c->start: still inside */
    if (now_ms > c->start && now_ms - c->start >= unit_ms) {
        memset(c->rate, 0, sizeof(c->rate));
        c->start = now_ms;
    }
    if (c->rate[ev] < INT_MAX)
        c->rate[ev]++;
    return c->rate[ev];
}

/* anvil_connect - count one connection of (service, addr) */
int anvil_connect(struct anvil *a, const char *service, const char *addr, uint64_t now_ms,
                  uint64_t unit_ms, struct anvil_client **client, int *count, int *rate)
{
    uint32_t h = anvil_hash(service, addr);
    pthread_mutex_lock(&a->lock);
    anvil_expire(a, now_ms, unit_ms);
    struct anvil_client *c = a->bucket[h & (a->nbuckets - 1)];
    while (c && (c->hash != h || strcmp(c->service, service) != 0 ||
                 strncmp(c->addr, addr, sizeof(c->addr) - 1) != 0))
        c = c->hnext;
    if (!c) {
        if (!(c = calloc(1, sizeof(*c)))) {
            pthread_mutex_unlock(&a->lock);
            *client = NULL;
            return -ENOMEM;
        }
        c->service = service;
        snprintf(c->addr, sizeof(c->addr), "%s", addr);
        c->hash = h;
        c->start = now_ms;
        c->hnext = a->bucket[h & (a->nbuckets - 1)];
        a->bucket[h & (a->nbuckets - 1)] = c;
        a->nclients++;
    } else if (c->count == 0) {
        anvil_idle_unlink(a, c);
    }
    if (c->count < INT_MAX)
        c->count++;
    *count = c->count;
    *rate = anvil_count(c, ANVIL_CONNECT, now_ms, unit_ms);
    *client = c;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

/* anvil_event - count a MAIL, RCPT or AUTH */
int anvil_event(struct anvil *a, struct anvil_client *c, enum anvil_event ev, uint64_t now_ms,
                uint64_t unit_ms)
{
    if (!c || ev <= ANVIL_CONNECT || ev >= ANVIL_EVENTS)
        return 0;
    pthread_mutex_lock(&a->lock);
    int rate = anvil_count(c, ev, now_ms, unit_ms);
    pthread_mutex_unlock(&a->lock);
    return rate;
}

/* anvil_disconnect - one connection of c is gone; idle clients join the list's tail */
void anvil_disconnect(struct anvil *a, struct anvil_client *c, uint64_t now_ms)
{
    if (!c)
        return;
    unsigned long evicted = 0, n;
    pthread_mutex_lock(&a->lock);
    if (c->count > 0 && --c->count == 0) {
        c->idle_since = now_ms;
        c->prev = a->idle_tail;
        c->next = NULL;
        if (a->idle_tail)
            a->idle_tail->next = c;
        else
            a->idle_head = c;
        a->idle_tail = c;
        a->nidle++;
        while (a->nidle > a->max_idle && a->idle_head) {
            anvil_drop(a, a->idle_head);
            evicted++;
        }
    }
    size_t max_idle = a->max_idle;
    pthread_mutex_unlock(&a->lock);
    for (unsigned long i = 0; i < evicted; i++)
        if (lograte_tick(&a->full_log, now_ms, ANVIL_FULL_WARN_MS, &n))
            log_warn("anvil",
                     "more than %zu idle clients: forgetting the rate history of the least "
                     "recently seen (%lu since the last warning)",
                     max_idle, n);
}

/* anvil_clients - how many clients the table holds */
size_t anvil_clients(struct anvil *a)
{
    pthread_mutex_lock(&a->lock);
    size_t n = a->nclients;
    pthread_mutex_unlock(&a->lock);
    return n;
}

/* anvil_total_enter - count one inbound connection unless the cap is reached */
bool anvil_total_enter(struct anvil *a, int limit)
{
    int before = atomic_fetch_add(&a->total, 1);
    if (limit > 0 && before >= limit) {
        atomic_fetch_sub(&a->total, 1);
        return false;
    }
    return true;
}

/* anvil_total_leave - an inbound connection's session is gone */
void anvil_total_leave(struct anvil *a)
{
    atomic_fetch_sub(&a->total, 1);
}

/* anvil_total - inbound connections now */
int anvil_total(struct anvil *a)
{
    return atomic_load(&a->total);
}

/* anvil_total_refused - count a refusal at the total cap; true when a warning is due */
bool anvil_total_refused(struct anvil *a, uint64_t now_ms, unsigned long *n)
{
    return lograte_tick(&a->total_log, now_ms, ANVIL_TOTAL_WARN_MS, n);
}
