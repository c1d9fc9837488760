/*
 * NAME
 *	tls_cache - shared LMDB cache of TLS sessions and ticket keys (the tlsmgr job)
 * SYNOPSIS
 *	#include "tls/tls_cache.h"
 *
 *	struct tls_cache *tc;
 *	tls_cache_open(&tc, "/var/lib/tern/tls_cache.lmdb", 0);
 *	tls_cache_put(tc, TLS_CACHE_CLIENT, key, klen, der, dlen, time(NULL) + 3600);
 *	tls_cache_get(tc, TLS_CACHE_CLIENT, key, klen, &val, time(NULL), &expires);
 *	tls_cache_sweep(tc, time(NULL));               // on a timer
 *	tls_cache_walk(tc, TLS_CACHE_CLIENT, print_entry, arg);   // ternctl tls-cache list
 *	tls_cache_purge(tc, -1);                       // ternctl tls-cache purge
 *	tls_cache_flush(tc);                           // wait until queued writes are in the file
 *	tls_cache_close(tc);
 * DESCRIPTION
 *	One LMDB environment (a single file, plus PATH-lock) with a named
 *	database per kind of entry:
 *
 *	  client       Postfix-style key "nexthop&host&addr&port&level&digest"
 *	               -> a saved client session (tls_session_save())
 *	  server       TLS session ID -> serialised server session (TLS 1.2)
 *	  ticket-keys  16-byte key name -> AES-256 key, HMAC key (tls_ticket.c)
 *	  peers        32-byte ticket identity -> the client certificate of the
 *	               handshake that made that server ticket (tls_ticket.c),
 *	               as long as the ticket key lives
 *
 *	Each value is stored behind an 8-byte big-endian expiry time (seconds
 *	since the epoch); get() treats an expired entry as absent, sweep()
 *	deletes them.
 *
 *	Threads: one tls_cache serves every thread; every function but open
 *	and close may be called from many threads at once (close only when no
 *	other call is running or will start). Readers never block: the
 *	environment is opened with MDB_NOTLS and get() uses an LMDB read
 *	transaction after a short look at the write queue under a mutex.
 *	Do not open the same file twice in one process (LMDB's rule); share
 *	the handle instead.
 *
 *	Writes off the handshake path: put() and delete() never touch the
 *	disk. They copy the change into an in-memory queue (a mutex held only
 *	to append) and return; a writer thread owned by the cache (started by
 *	open, drained and stopped by close) applies everything queued in ONE
 *	write transaction, then the next batch. get() looks in the queue first
 *	(the newest change of a key wins), so a session saved a moment ago
 *	resumes at once; so does a ticket key just made by tls_ticket_current().
 *	walk(), sweep() and purge() first wait for what is queued (walk only
 *	when entries of its kind are), see tls_cache_flush(). The queue holds
 *	at most TLS_CACHE_PENDING_MAX entries and TLS_CACHE_PENDING_BYTES;
 *	when full, the oldest queued change is dropped and counted (a lost
 *	entry only costs a full handshake; a dropped delete may bring back a
 *	stale session, which then fails to resume and is deleted again).
 *
 *	Durability: the file is opened with MDB_NOSYNC and the writer calls
 *	mdb_env_sync() at most about once a second while something was
 *	written, whatever the handshake rate. It is a cache: a system crash may
 *	lose the last second or so of entries, a process crash what was still
 *	queued; on a filesystem that keeps write order the file stays
 *	consistent (LMDB loses durability, never integrity). A file that does
 *	come back corrupt is set aside, see below.
 *
 *	Size bound: the map size (default 64 MiB) bounds the file. When the
 *	writer thread finds the map full, expired entries are swept, then the
 *	older half of that kind's entries (by expiry) is evicted, and the write
 *	is retried; an entry that still does not fit is logged and dropped.
 *
 *	Mirror: with smtpd_tls_session_cache_database = redis:FILE the cache is
 *	the node's near cache and core/redis copies every shared put() to Redis
 *	and the other nodes' puts back in with tls_cache_put_copy(); lookups
 *	never leave this file.
 *
 *	A file that is not a tern TLS cache (corrupt, other LMDB layout, another
 *	program's file, incompatible version) is renamed to PATH.broken.<time>
 *	and a fresh cache is created, with a warning: losing cached sessions only
 *	costs full handshakes, so it is never fatal.
 * DIAGNOSTICS
 *	0 or a count on success; -ENOENT (absent or expired), -ENOSPC (an entry
 *	larger than the write queue), -EINVAL, -ENAMETOOLONG (key too long for
 *	LMDB), -ENOMEM, -EIO (other LMDB errors, logged). Write errors in the
 *	writer thread (map full even after eviction) are logged, not returned.
 */
#ifndef TERN_TLS_CACHE_H
#define TERN_TLS_CACHE_H

#include <stddef.h>
#include <time.h>

#include "core/base/buf.h"

struct tls_cache;

enum tls_cache_kind {
    TLS_CACHE_CLIENT,
    TLS_CACHE_SERVER,
    TLS_CACHE_TICKET_KEYS,
    TLS_CACHE_PEERS,
    TLS_CACHE_MTASTS, /* MTA-STS policies by domain (core/delivery/dest_mtasts.c) */
    TLS_CACHE_TLSRPT, /* TLS-RPT results by day and domain (core/delivery/delivery_tlsrpt.c) */
    TLS_CACHE_KINDS
};

/* bounds of the write queue; beyond them the oldest queued change is dropped */
#define TLS_CACHE_PENDING_MAX 4096
#define TLS_CACHE_PENDING_BYTES ((size_t)4 << 20)

/* tls_cache_stats - counters since open */
struct tls_cache_stats {
    unsigned long long puts;      /* put() calls queued */
    unsigned long long dropped;   /* queued changes dropped because the queue was full */
    unsigned long long commits;   /* LMDB write transactions committed */
    unsigned long long syncs;     /* mdb_env_sync() calls (disk flushes) */
    unsigned long long unwritten; /* changes queued or being written now */
};

/* tls_cache_walk callback; key and value are valid only during the call; nonzero stops */
typedef int tls_cache_walk_fn(enum tls_cache_kind kind, const void *key, size_t klen,
                              const void *val, size_t vlen, time_t expires, void *arg);

/* tls_cache_mirror_fn - told of every put() of the kinds a cluster shares (client, server,
 * ticket-keys, peers), on the putting thread: copy what is needed and return at once */
typedef void tls_cache_mirror_fn(void *arg, enum tls_cache_kind kind, const void *key, size_t klen,
                                 const void *val, size_t vlen, time_t expires);

/* tls_cache_open - open or create; map_size 0 means 64 MiB */
int tls_cache_open(struct tls_cache **out, const char *path, size_t map_size);
/* tls_cache_close - write what is queued, sync, stop the writer, close; NULL is fine */
void tls_cache_close(struct tls_cache *tc);
/* tls_cache_put - queue (replace) an entry; copies key and val, never waits for the disk */
int tls_cache_put(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen,
                  const void *val, size_t vlen, time_t expires);
/* tls_cache_set_mirror - fn hears of every shared put() from now on; call before other threads
 * use the cache (core/redis mirrors a cache in Redis) */
void tls_cache_set_mirror(struct tls_cache *tc, tls_cache_mirror_fn *fn, void *arg);
/* tls_cache_put_copy - put() without telling the mirror: an entry that came from it */
int tls_cache_put_copy(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen,
                       const void *val, size_t vlen, time_t expires);
/* tls_cache_get - appends the value to val; -ENOENT if absent or expired at now */
int tls_cache_get(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen,
                  struct buf *val, time_t now, time_t *expires);
/* tls_cache_delete - queue the removal of an entry; -ENOENT if absent */
int tls_cache_delete(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen);
/* tls_cache_sweep - delete every entry expired at now; returns the number deleted */
int tls_cache_sweep(struct tls_cache *tc, time_t now);
/* tls_cache_walk - call fn for each entry of kind (expired ones too), in key order */
int tls_cache_walk(struct tls_cache *tc, enum tls_cache_kind kind, tls_cache_walk_fn *fn,
                   void *arg);
/* tls_cache_purge - delete all entries of kind, or of every kind when kind < 0; returns count */
int tls_cache_purge(struct tls_cache *tc, int kind);
/* tls_cache_flush - wait until every change queued before the call is committed (not synced) */
int tls_cache_flush(struct tls_cache *tc);
/* tls_cache_stats - fill st with the counters since open; NULL tc gives zeros */
void tls_cache_stats(struct tls_cache *tc, struct tls_cache_stats *st);
/* tls_cache_kind_name - "client", "server", "ticket-keys", "peers", "mta-sts", "tlsrpt" */
const char *tls_cache_kind_name(enum tls_cache_kind kind);

#endif
