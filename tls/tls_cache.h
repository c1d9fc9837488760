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
 *	tls_cache_close(tc);
 * DESCRIPTION
 *	One LMDB environment (a single file, plus PATH-lock) with a named
 *	database per kind of entry:
 *
 *	  client       Postfix-style key "nexthop&host&addr&port&level&digest"
 *	               -> a saved client session (tls_session_save())
 *	  server       TLS session ID -> serialised server session (TLS 1.2)
 *	  ticket-keys  16-byte key name -> AES-256 key, HMAC key (tls_ticket.c)
 *
 *	Each value is stored behind an 8-byte big-endian expiry time (seconds
 *	since the epoch); get() treats an expired entry as absent, sweep()
 *	deletes them.
 *
 *	Threads: one tls_cache serves every thread. It is opened with MDB_NOTLS,
 *	so readers never block and never wait for a writer; writers take LMDB's
 *	single writer lock for the short time of one put. Do not open the same
 *	file twice in one process (LMDB's rule); share the handle instead.
 *
 *	Size bound: the map size (default 64 MiB) bounds the file. When a put
 *	finds the map full, expired entries are swept, then the older half of
 *	that kind's entries (by expiry) is evicted, and the put is retried once.
 *
 *	A file that is not a tern TLS cache (corrupt, other LMDB layout, another
 *	program's file, incompatible version) is renamed to PATH.broken.<time>
 *	and a fresh cache is created, with a warning: losing cached sessions only
 *	costs full handshakes, so it is never fatal.
 * DIAGNOSTICS
 *	0 or a count on success; -ENOENT (absent or expired), -ENOSPC (full even
 *	after eviction), -EINVAL, -ENOMEM, -EIO (other LMDB errors, logged).
 */
#ifndef TERN_TLS_CACHE_H
#define TERN_TLS_CACHE_H

#include <stddef.h>
#include <time.h>

#include "core/core_buf.h"

struct tls_cache;

enum tls_cache_kind { TLS_CACHE_CLIENT, TLS_CACHE_SERVER, TLS_CACHE_TICKET_KEYS, TLS_CACHE_KINDS };

/* tls_cache_walk callback; key and value are valid only during the call; nonzero stops */
typedef int tls_cache_walk_fn(enum tls_cache_kind kind, const void *key, size_t klen,
                              const void *val, size_t vlen, time_t expires, void *arg);

/* tls_cache_open - open or create; map_size 0 means 64 MiB */
int tls_cache_open(struct tls_cache **out, const char *path, size_t map_size);
/* tls_cache_close - NULL is fine */
void tls_cache_close(struct tls_cache *tc);
int tls_cache_put(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen,
                  const void *val, size_t vlen, time_t expires);
/* tls_cache_get - appends the value to val; -ENOENT if absent or expired at now */
int tls_cache_get(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen,
                  struct buf *val, time_t now, time_t *expires);
int tls_cache_delete(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen);
/* tls_cache_sweep - delete every entry expired at now; returns the number deleted */
int tls_cache_sweep(struct tls_cache *tc, time_t now);
/* tls_cache_walk - call fn for each entry of kind (expired ones too), in key order */
int tls_cache_walk(struct tls_cache *tc, enum tls_cache_kind kind, tls_cache_walk_fn *fn,
                   void *arg);
/* tls_cache_purge - delete all entries of kind, or of every kind when kind < 0; returns count */
int tls_cache_purge(struct tls_cache *tc, int kind);
/* tls_cache_kind_name - "client", "server", "ticket-keys" */
const char *tls_cache_kind_name(enum tls_cache_kind kind);

#endif
