/*
 * NAME
 *	tls_cache - shared LMDB cache of TLS sessions and ticket keys (the tlsmgr job)
 * DESCRIPTION
 *	See tls_cache.h; the parts are listed in tls_cache_impl.h. This file is
 *	the API: it opens the file (tls_cache_file.c), starts and stops the writer
 *	thread (tls_cache_writer.c), queues put() and delete()
 *	(tls_cache_queue.c), answers get() from the queue or the file, and runs
 *	the administrative walk, sweep and purge on the file itself.
 *
 *	Why LMDB and not Postfix's per-process btree: every worker thread reads
 *	the same sessions without locks (MVCC readers), and the file survives a
 *	restart.
 *
 *	Writes: put() and delete() append a copy of the change to an in-memory
 *	queue and return; one writer thread per cache takes the whole queue and
 *	applies it in write transactions of at most txn_max changes each (why:
 *	tls_cache_file.c, "Room to delete"). While it writes, the batch stays
 *	visible to get() as "inflight", and is freed only after the commit, so a
 *	reader always finds an entry in the queue, the batch or the file. The
 *	rejected alternative, a write transaction per put on the worker thread,
 *	put LMDB's writer lock and (with MDB_NOMETASYNC) one fdatasync on every
 *	handshake that saved a session.
 * DIAGNOSTICS
 *	As in tls_cache.h. Open fails only when the file cannot be made a cache
 *	even after setting a broken one aside, or on memory/thread exhaustion.
 */
#include "tls/tls_cache.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/hash.h"
#include "tls/tls_cache_impl.h"

#define DEFAULT_MAP_SIZE ((size_t)64 << 20)

static const char *const kind_names[TLS_CACHE_KINDS] = {"client", "server",  "ticket-keys",
                                                        "peers",  "mta-sts", "tlsrpt"};

/* tls_cache_kind_name - "client", "server", "ticket-keys", "peers", "mta-sts", "tlsrpt" */
const char *tls_cache_kind_name(enum tls_cache_kind kind)
{
    return (unsigned)kind < TLS_CACHE_KINDS ? kind_names[kind] : "?";
}

/* kind_ok - a valid kind with a key LMDB accepts */
static int kind_ok(const struct tls_cache *tc, int kind, size_t klen)
{
    if (kind < 0 || kind >= TLS_CACHE_KINDS || klen == 0)
        return -EINVAL;
    if (klen > (size_t)mdb_env_get_maxkeysize(tc->env))
        return -ENAMETOOLONG;
    return 0;
}

/* sync_init - mutex and condvars (the writer's on the monotonic clock); 0 or -errno */
static int sync_init(struct tls_cache *tc)
{
    pthread_condattr_t attr;
    int rc;
    if ((rc = pthread_condattr_init(&attr)) != 0)
        return -rc;
    if ((rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0)
        goto out;
    if ((rc = pthread_mutex_init(&tc->mu, NULL)) != 0)
        goto out;
    if ((rc = pthread_cond_init(&tc->wake, &attr)) != 0) {
        pthread_mutex_destroy(&tc->mu);
        goto out;
    }
    if ((rc = pthread_cond_init(&tc->done, NULL)) != 0) {
        pthread_cond_destroy(&tc->wake);
        pthread_mutex_destroy(&tc->mu);
        goto out;
    }
    tc->sync_ready = 1;
out:
    pthread_condattr_destroy(&attr);
    return -rc;
}

/* tls_cache_open - open or create; map_size 0 means 64 MiB */
int tls_cache_open(struct tls_cache **out, const char *path, size_t map_size)
{
    struct tls_cache *tc;
    int rc;

    *out = NULL;
    if (!path || !*path)
        return -EINVAL;
    if (!(tc = calloc(1, sizeof(*tc))) || !(tc->path = strdup(path)) ||
        !(tc->batch = calloc(TLS_CACHE_PENDING_MAX, sizeof(*tc->batch)))) {
        if (tc)
            free(tc->path);
        free(tc);
        return -ENOMEM;
    }
    tc->map_size = map_size ? map_size : DEFAULT_MAP_SIZE;
    if ((rc = sync_init(tc)) < 0)
        goto fail;
    for (int attempt = 0;; attempt++) {
        rc = tls_cache_file_open(tc);
        if (rc == 0)
            break;
        tls_cache_file_close(tc);
        int broken = rc == 1 || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
                     rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INCOMPATIBLE ||
                     rc == MDB_BAD_DBI || rc == MDB_PANIC;
        if (!broken || attempt > 0) {
            rc = rc == 1 ? -EINVAL : tls_cache_file_errno(tc, "open", rc);
            goto fail;
        }
        if ((rc = tls_cache_file_set_aside(tc, rc == 1 ? "not a tern TLS session cache"
                                                       : mdb_strerror(rc))) < 0)
            goto fail;
    }
    if ((rc = tls_cache_writer_start(tc)) < 0)
        goto fail;
    *out = tc;
    return 0;
fail:
    tls_cache_close(tc);
    return rc;
}

/* tls_cache_close - drain the queue, stop the writer, close; NULL is fine */
void tls_cache_close(struct tls_cache *tc)
{
    if (!tc)
        return;
    tls_cache_writer_stop(tc);
    tls_cache_file_close(tc);
    tls_cache_queue_free(&tc->pending); /* empty unless the writer never ran */
    if (tc->sync_ready) {
        pthread_cond_destroy(&tc->done);
        pthread_cond_destroy(&tc->wake);
        pthread_mutex_destroy(&tc->mu);
    }
    free(tc->batch);
    free(tc->path);
    free(tc);
}

/* tls_cache_flush - wait until everything queued before the call is committed */
int tls_cache_flush(struct tls_cache *tc)
{
    if (!tc)
        return -EINVAL;
    pthread_mutex_lock(&tc->mu);
    uint64_t target = tc->last_seq;
    if (tc->done_seq < target) {
        tc->urgent = 1;
        pthread_cond_signal(&tc->wake);
    }
    while (tc->done_seq < target && (tc->pending.head || tc->inflight.head))
        pthread_cond_wait(&tc->done, &tc->mu);
    pthread_mutex_unlock(&tc->mu);
    return 0;
}

/* mark_dirty - a write outside the writer: let the writer sync it in time; mu not held */
static void mark_dirty(struct tls_cache *tc)
{
    pthread_mutex_lock(&tc->mu);
    tc->dirty = 1;
    pthread_cond_signal(&tc->wake);
    pthread_mutex_unlock(&tc->mu);
}

/* tls_cache_put - queue (replace) one entry with its expiry; never touches the disk */
int tls_cache_put(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen,
                  const void *val, size_t vlen, time_t expires)
{
    int rc = tls_cache_put_copy(tc, kind, key, klen, val, vlen, expires);
    /* set once before any thread puts (tls_cache_set_mirror), so read without the lock */
    if (rc == 0 && tc->mirror &&
        (kind == TLS_CACHE_CLIENT || kind == TLS_CACHE_SERVER || kind == TLS_CACHE_TICKET_KEYS ||
         kind == TLS_CACHE_PEERS))
        tc->mirror(tc->mirror_arg, kind, key, klen, val, vlen, expires);
    return rc;
}

void tls_cache_set_mirror(struct tls_cache *tc, tls_cache_mirror_fn *fn, void *arg)
{
    tc->mirror = fn;
    tc->mirror_arg = arg;
}

int tls_cache_put_copy(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen,
                       const void *val, size_t vlen, time_t expires)
{
    struct plist garbage = {0};
    struct pending *p;
    int rc;
    if ((rc = kind_ok(tc, kind, klen)) < 0)
        return rc;
    if (klen + vlen + sizeof(*p) > TLS_CACHE_PENDING_BYTES)
        return -ENOSPC;
    if (!(p = tls_cache_queue_new(OP_PUT, kind, key, klen, val, vlen, expires)))
        return -ENOMEM;
    pthread_mutex_lock(&tc->mu);
    tls_cache_queue_append(tc, p, &garbage);
    tc->puts++;
    pthread_mutex_unlock(&tc->mu);
    tls_cache_queue_free(&garbage);
    return 0;
}

/* tls_cache_get - appends the value to val; -ENOENT if absent or expired at now */
int tls_cache_get(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen,
                  struct buf *val, time_t now, time_t *expires)
{
    MDB_txn *txn;
    MDB_val k = {klen, (void *)key}, v;
    int rc;
    if ((rc = kind_ok(tc, kind, klen)) < 0)
        return rc;
    /* the queue first: its newest change of this key wins over the file */
    uint32_t hash = hash_fnv32(HASH_FNV32_START, key, klen);
    pthread_mutex_lock(&tc->mu);
    const struct pending *p = tls_cache_queue_find(tc, kind, key, klen, hash);
    if (p) {
        if (p->op == OP_DEL || p->expires <= now) {
            rc = -ENOENT;
        } else {
            rc = buf_append(val, p->data + p->klen, p->vlen) < 0 ? -ENOMEM : 0;
            if (rc == 0 && expires)
                *expires = p->expires;
        }
    }
    pthread_mutex_unlock(&tc->mu);
    if (p)
        return rc;
    if ((rc = mdb_txn_begin(tc->env, NULL, MDB_RDONLY, &txn)) != 0)
        return tls_cache_file_errno(tc, "read", rc);
    rc = mdb_get(txn, tc->dbi[kind], &k, &v);
    if (rc == 0) {
        time_t t = tls_cache_file_expiry(&v);
        if (v.mv_size < TLS_CACHE_HDR || t <= now) {
            rc = MDB_NOTFOUND;
        } else {
            if (expires)
                *expires = t;
            rc = buf_append(val, (unsigned char *)v.mv_data + TLS_CACHE_HDR,
                            v.mv_size - TLS_CACHE_HDR) < 0
                     ? ENOMEM
                     : 0;
        }
    }
    mdb_txn_abort(txn);
    return tls_cache_file_errno(tc, "get", rc);
}

/* tls_cache_delete - remove one entry (queued like a put); -ENOENT if absent */
int tls_cache_delete(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen)
{
    struct plist garbage = {0};
    struct pending *tomb, *p, *prev;
    MDB_txn *txn;
    MDB_val k = {klen, (void *)key}, v;
    int rc;
    if ((rc = kind_ok(tc, kind, klen)) < 0)
        return rc;
    if (!(tomb = tls_cache_queue_new(OP_DEL, kind, key, klen, NULL, 0, 0)))
        return -ENOMEM;
    pthread_mutex_lock(&tc->mu);
    const struct pending *newest = tls_cache_queue_find(tc, kind, key, klen, tomb->hash);
    if (newest) {
        if (newest->op == OP_DEL) {
            pthread_mutex_unlock(&tc->mu);
            free(tomb);
            return -ENOENT;
        }
        /* queued puts of this key need not reach the file at all */
        for (p = tc->pending.tail; p; p = prev) {
            prev = p->prev;
            if (tls_cache_queue_matches(p, kind, key, klen, tomb->hash))
                tls_cache_queue_drop(tc, p, &garbage);
        }
        tls_cache_queue_append(tc, tomb,
                               &garbage); /* an inflight put or the file may still have it */
        pthread_mutex_unlock(&tc->mu);
        tls_cache_queue_free(&garbage);
        return 0;
    }
    pthread_mutex_unlock(&tc->mu);
    /* not queued: the file says whether it exists */
    if ((rc = mdb_txn_begin(tc->env, NULL, MDB_RDONLY, &txn)) != 0) {
        free(tomb);
        return tls_cache_file_errno(tc, "delete", rc);
    }
    rc = mdb_get(txn, tc->dbi[kind], &k, &v);
    mdb_txn_abort(txn);
    if (rc != 0) {
        free(tomb);
        return tls_cache_file_errno(tc, "delete", rc);
    }
    pthread_mutex_lock(&tc->mu);
    tls_cache_queue_append(tc, tomb, &garbage);
    pthread_mutex_unlock(&tc->mu);
    tls_cache_queue_free(&garbage);
    return 0;
}

/* tls_cache_sweep - delete every entry expired at now; returns the number deleted */
int tls_cache_sweep(struct tls_cache *tc, time_t now)
{
    tls_cache_flush(tc);
    int rc = tls_cache_evict_expired(tc, now);
    if (rc > 0)
        mark_dirty(tc);
    return rc;
}

/* tls_cache_walk - call fn for each entry of kind, in key order */
int tls_cache_walk(struct tls_cache *tc, enum tls_cache_kind kind, tls_cache_walk_fn *fn, void *arg)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, n = 0;
    if ((unsigned)kind >= TLS_CACHE_KINDS)
        return -EINVAL;
    /* queued changes of this kind reach the file first; none queued, no wait */
    pthread_mutex_lock(&tc->mu);
    int queued = tc->unwritten[kind] > 0;
    pthread_mutex_unlock(&tc->mu);
    if (queued)
        tls_cache_flush(tc);
    if ((rc = mdb_txn_begin(tc->env, NULL, MDB_RDONLY, &txn)) != 0)
        return tls_cache_file_errno(tc, "list", rc);
    if ((rc = mdb_cursor_open(txn, tc->dbi[kind], &cur)) != 0) {
        mdb_txn_abort(txn);
        return tls_cache_file_errno(tc, "list", rc);
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (v.mv_size < TLS_CACHE_HDR)
            continue;
        n++;
        if (fn(kind, k.mv_data, k.mv_size, (unsigned char *)v.mv_data + TLS_CACHE_HDR,
               v.mv_size - TLS_CACHE_HDR, tls_cache_file_expiry(&v), arg))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return n;
}

/* tls_cache_purge - delete all entries of kind (every kind when kind < 0); returns count */
int tls_cache_purge(struct tls_cache *tc, int kind)
{
    MDB_txn *txn;
    MDB_stat st;
    int rc, n = 0;
    if (kind >= TLS_CACHE_KINDS)
        return -EINVAL;
    tls_cache_flush(tc);
    if ((rc = mdb_txn_begin(tc->env, NULL, 0, &txn)) != 0)
        return tls_cache_file_errno(tc, "purge", rc);
    for (int i = 0; i < TLS_CACHE_KINDS; i++) {
        if (kind >= 0 && i != kind)
            continue;
        if ((rc = mdb_stat(txn, tc->dbi[i], &st)) != 0 ||
            (rc = mdb_drop(txn, tc->dbi[i], 0)) != 0) {
            mdb_txn_abort(txn);
            return tls_cache_file_errno(tc, "purge", rc);
        }
        n += (int)st.ms_entries;
    }
    if ((rc = tls_cache_file_commit(tc, txn)) != 0)
        return tls_cache_file_errno(tc, "purge", rc);
    mark_dirty(tc);
    return n;
}

/* tls_cache_stats - counters since open */
void tls_cache_stats(struct tls_cache *tc, struct tls_cache_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!tc)
        return;
    pthread_mutex_lock(&tc->mu);
    st->puts = tc->puts;
    st->dropped = tc->dropped;
    for (int i = 0; i < TLS_CACHE_KINDS; i++)
        st->unwritten += tc->unwritten[i];
    pthread_mutex_unlock(&tc->mu);
    st->commits = atomic_load_explicit(&tc->commits, memory_order_relaxed);
    st->syncs = atomic_load_explicit(&tc->syncs, memory_order_relaxed);
}
