/*
 * NAME
 *	tls_cache_impl - private structures shared by the tls_cache*.c files
 * DESCRIPTION
 *	Not for use outside tls/. One struct tls_cache per LMDB file:
 *
 *	  tls_cache.c         the API: open/close, put/get/delete, flush, admin
 *	  tls_cache_file.c    the file: layout, format check, set-aside, LMDB errors
 *	  tls_cache_queue.c   the in-memory write queue and its bounds
 *	  tls_cache_writer.c  the writer thread: batches, transactions, syncs
 *	  tls_cache_evict.c   the size bound: expired entries, then the older half
 *
 *	Ownership: env and dbi[] are set by open and read-only afterwards (LMDB
 *	transactions make them safe from any thread). mu guards the queue
 *	(pending, inflight and their counters), the flags and puts/dropped;
 *	the entries of inflight belong to the writer thread until it frees them
 *	after the commit, but stay readable under mu. commits and syncs are
 *	atomics, read without mu. batch[] is the writer thread's alone.
 */
#ifndef TERN_TLS_CACHE_IMPL_H
#define TERN_TLS_CACHE_IMPL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "tls/tls_cache.h"

#define TLS_CACHE_HDR 8 /* big-endian expiry before each value */

enum { OP_PUT, OP_DEL };

/* One queued change; key then value in data[]. */
struct pending {
    struct pending *prev, *next;
    uint64_t seq;
    uint32_t hash;
    unsigned char op;
    enum tls_cache_kind kind;
    time_t expires;
    size_t klen, vlen;
    unsigned char data[];
};

struct plist {
    struct pending *head, *tail; /* oldest, newest */
};

struct tls_cache {
    MDB_env *env;
    MDB_dbi dbi[TLS_CACHE_KINDS];
    MDB_dbi meta;
    char *path;
    size_t map_size;
    size_t page_budget; /* pages the entries may take: 3/4 of the map (tls_cache_file.c) */
    size_t txn_max;     /* changes per write transaction: 1/128 of the map's pages, at least 1 */

    pthread_mutex_t mu;  /* guards everything below but the atomics */
    pthread_cond_t wake; /* writer: work, a flush, stop */
    pthread_cond_t done; /* flushers: a batch was committed */
    int sync_ready;      /* mu and the condvars exist */
    pthread_t writer;
    int writer_running;
    struct plist pending;  /* not yet taken by the writer */
    struct plist inflight; /* being written; freed after the commit */
    size_t pend_count, pend_bytes;
    size_t unwritten[TLS_CACHE_KINDS]; /* pending + inflight, per kind */
    uint64_t last_seq, done_seq;
    int urgent, stop, dirty;
    unsigned long long puts, dropped;
    struct pending **batch; /* the writer's array, TLS_CACHE_PENDING_MAX long */
    atomic_ullong commits, syncs;
    tls_cache_mirror_fn *mirror; /* tls_cache_set_mirror(); NULL: none */
    void *mirror_arg;
};

/* tls_cache_file.c */
/* tls_cache_file_open - open the environment and its databases; MDB codes, 1 when foreign */
int tls_cache_file_open(struct tls_cache *tc);
/* tls_cache_file_close - close the environment if open */
void tls_cache_file_close(struct tls_cache *tc);
/* tls_cache_file_set_aside - rename a broken file out of the way and drop its lock file */
int tls_cache_file_set_aside(struct tls_cache *tc, const char *why);
/* tls_cache_file_errno - LMDB result to -errno, logging what has no errno equivalent */
int tls_cache_file_errno(const struct tls_cache *tc, const char *what, int rc);
/* tls_cache_file_commit - commit a write transaction and count it; MDB code */
int tls_cache_file_commit(struct tls_cache *tc, MDB_txn *txn);
/* tls_cache_file_over_budget - the entries in txn take more pages than tc->page_budget */
int tls_cache_file_over_budget(struct tls_cache *tc, MDB_txn *txn);
/* tls_cache_file_set_expiry - write expires as the header of a stored value (TLS_CACHE_HDR bytes)
 */
void tls_cache_file_set_expiry(void *rec, time_t expires);
/* tls_cache_file_expiry - the expiry of a stored value; 0 when it is too short to have one */
time_t tls_cache_file_expiry(const MDB_val *v);

/* tls_cache_queue.c: mu held by the caller unless said otherwise */
/* tls_cache_queue_new - a queue entry holding copies of key and value; mu not needed */
struct pending *tls_cache_queue_new(int op, enum tls_cache_kind kind, const void *key, size_t klen,
                                    const void *val, size_t vlen, time_t expires);
/* tls_cache_queue_free - free a detached list; mu not needed */
void tls_cache_queue_free(struct plist *l);
/* tls_cache_queue_matches - p is about key of kind */
int tls_cache_queue_matches(const struct pending *p, enum tls_cache_kind kind, const void *key,
                            size_t klen, uint32_t hash);
/* tls_cache_queue_find - the newest queued change of key, pending first, then inflight */
const struct pending *tls_cache_queue_find(const struct tls_cache *tc, enum tls_cache_kind kind,
                                           const void *key, size_t klen, uint32_t hash);
/* tls_cache_queue_drop - move a pending (not inflight) entry to the garbage list */
void tls_cache_queue_drop(struct tls_cache *tc, struct pending *p, struct plist *garbage);
/* tls_cache_queue_append - append p, dropping the oldest entries when full */
void tls_cache_queue_append(struct tls_cache *tc, struct pending *p, struct plist *garbage);

/* tls_cache_writer.c */
/* tls_cache_writer_start - start the writer thread; 0 or -errno (logged) */
int tls_cache_writer_start(struct tls_cache *tc);
/* tls_cache_writer_stop - let the writer drain the queue and sync, then join it; not started:
 * nothing */
void tls_cache_writer_stop(struct tls_cache *tc);

/* tls_cache_evict.c */
/* tls_cache_evict_expired - delete every entry expired at now, txn_max per transaction; count or
 * -errno */
int tls_cache_evict_expired(struct tls_cache *tc, time_t now);
/* tls_cache_evict_make_room - after MDB_MAP_FULL: expired entries, then the older half of a kind */
void tls_cache_evict_make_room(struct tls_cache *tc, enum tls_cache_kind kind, int attempt);

#endif
