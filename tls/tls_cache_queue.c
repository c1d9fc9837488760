/*
 * NAME
 *	tls_cache_queue - the TLS cache's in-memory write queue
 * DESCRIPTION
 *	put() and delete() copy their change into a struct pending and append
 *	it to tc->pending; the writer thread later moves the whole list to
 *	tc->inflight and frees it after the commit. Lookups go newest first,
 *	pending before inflight, so the latest change of a key wins; a hash of
 *	the key skips most comparisons.
 *
 *	Bounded: at most TLS_CACHE_PENDING_MAX entries and
 *	TLS_CACHE_PENDING_BYTES (entry header included) wait; appending beyond
 *	that drops the oldest pending entries (counted in tc->dropped). Dropped
 *	entries go to a garbage list the caller frees after releasing mu.
 *
 *	Every function but tls_cache_queue_new and tls_cache_queue_free needs
 *	tc->mu held.
 * DIAGNOSTICS
 *	tls_cache_queue_new() returns NULL when out of memory.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/hash.h"
#include "tls/tls_cache_impl.h"

/* tls_cache_queue_new - a queue entry holding copies of key and value */
struct pending *tls_cache_queue_new(int op, enum tls_cache_kind kind, const void *key, size_t klen,
                                    const void *val, size_t vlen, time_t expires)
{
    struct pending *p = malloc(sizeof(*p) + klen + vlen);
    if (!p)
        return NULL;
    memset(p, 0, sizeof(*p));
    p->op = (unsigned char)op;
    p->kind = kind;
    p->expires = expires;
    p->klen = klen;
    p->vlen = vlen;
    p->hash = hash_fnv32(HASH_FNV32_START, key, klen); /* skips most memcmps */
    memcpy(p->data, key, klen);
    if (vlen)
        memcpy(p->data + klen, val, vlen);
    return p;
}

/* pending_size - what an entry counts against the queue's byte bound */
static size_t pending_size(const struct pending *p)
{
    return sizeof(*p) + p->klen + p->vlen;
}

/* plist_unlink - take p out of l */
static void plist_unlink(struct plist *l, struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        l->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->tail = p->prev;
    p->prev = p->next = NULL;
}

/* plist_append - add p as the newest of l */
static void plist_append(struct plist *l, struct pending *p)
{
    p->next = NULL;
    p->prev = l->tail;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
}

/* tls_cache_queue_free - free a detached list */
void tls_cache_queue_free(struct plist *l)
{
    struct pending *p, *next;
    for (p = l->head; p; p = next) {
        next = p->next;
        free(p);
    }
    l->head = l->tail = NULL;
}

/* tls_cache_queue_matches - p is about key of kind */
int tls_cache_queue_matches(const struct pending *p, enum tls_cache_kind kind, const void *key,
                            size_t klen, uint32_t hash)
{
    return p->hash == hash && p->kind == kind && p->klen == klen && memcmp(p->data, key, klen) == 0;
}

/* tls_cache_queue_find - the newest queued change of key, pending first, then inflight; mu held */
const struct pending *tls_cache_queue_find(const struct tls_cache *tc, enum tls_cache_kind kind,
                                           const void *key, size_t klen, uint32_t hash)
{
    const struct plist *lists[2] = {&tc->pending, &tc->inflight};
    for (int i = 0; i < 2; i++)
        for (const struct pending *p = lists[i]->tail; p; p = p->prev)
            if (tls_cache_queue_matches(p, kind, key, klen, hash))
                return p;
    return NULL;
}

/* tls_cache_queue_drop - move a pending (not inflight) entry to the garbage list; mu held */
void tls_cache_queue_drop(struct tls_cache *tc, struct pending *p, struct plist *garbage)
{
    plist_unlink(&tc->pending, p);
    tc->pend_count--;
    tc->pend_bytes -= pending_size(p);
    tc->unwritten[p->kind]--;
    plist_append(garbage, p);
}

/* tls_cache_queue_append - append p, dropping the oldest entries when full; mu held */
void tls_cache_queue_append(struct tls_cache *tc, struct pending *p, struct plist *garbage)
{
    size_t size = pending_size(p);
    while (tc->pending.head && (tc->pend_count >= TLS_CACHE_PENDING_MAX ||
                                tc->pend_bytes + size > TLS_CACHE_PENDING_BYTES)) {
        tls_cache_queue_drop(tc, tc->pending.head, garbage);
        tc->dropped++;
    }
    int was_empty = tc->pending.head == NULL;
    p->seq = ++tc->last_seq;
    plist_append(&tc->pending, p);
    tc->pend_count++;
    tc->pend_bytes += size;
    tc->unwritten[p->kind]++;
    /* a writer with work already waits only for the batch gap */
    if (was_empty)
        pthread_cond_signal(&tc->wake);
}
