/*
 * NAME
 *	tls_cache - shared LMDB cache of TLS sessions and ticket keys (the tlsmgr job)
 * DESCRIPTION
 *	See tls_cache.h. Layout: the main database holds only the names of the
 *	named databases below and "meta", whose key "format" says
 *	CACHE_FORMAT; anything else there means the file is not ours.
 *
 *	Why LMDB and not Postfix's per-process btree: every worker thread reads
 *	the same sessions without locks (MVCC readers), and the file survives a
 *	restart. Why MDB_NOMETASYNC: a lost last commit after a power failure
 *	only costs a full handshake, while the data pages stay consistent.
 */
#include "tls/tls_cache.h"

#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core_log.h"

#define CACHE_FORMAT "tern-tls-cache 1"
#define DEFAULT_MAP_SIZE ((size_t)64 << 20)
#define HDR 8 /* big-endian expiry before each value */

static const char *const kind_names[TLS_CACHE_KINDS] = {"client", "server", "ticket-keys"};

struct tls_cache {
    MDB_env *env;
    MDB_dbi dbi[TLS_CACHE_KINDS];
    MDB_dbi meta;
    char *path;
    size_t map_size;
};

/* tls_cache_kind_name - "client", "server", "ticket-keys" */
const char *tls_cache_kind_name(enum tls_cache_kind kind)
{
    return (unsigned)kind < TLS_CACHE_KINDS ? kind_names[kind] : "?";
}

/* mdb_errno - LMDB result to -errno, logging what has no errno equivalent */
static int mdb_errno(const struct tls_cache *tc, const char *what, int rc)
{
    if (rc == 0)
        return 0;
    if (rc == MDB_NOTFOUND)
        return -ENOENT;
    if (rc == MDB_MAP_FULL)
        return -ENOSPC;
    if (rc > 0 && rc < MDB_KEYEXIST) /* plain errno */
        return -rc;
    log_warn("tls", "session cache %s: %s: %s", tc && tc->path ? tc->path : "?", what,
             mdb_strerror(rc));
    return -EIO;
}

/* put_be64 - store v big-endian */
static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

/* get_be64 - load a big-endian value */
static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* is_ours_name - a key the main database of our file may hold */
static int is_ours_name(const MDB_val *k)
{
    static const char *const names[] = {"meta", "client", "server", "ticket-keys"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (k->mv_size == strlen(names[i]) && memcmp(k->mv_data, names[i], k->mv_size) == 0)
            return 1;
    return 0;
}

/* env_setup - open the environment and its databases; MDB codes, 1 when foreign */
static int env_setup(struct tls_cache *tc)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_dbi main_dbi;
    MDB_val k, v;
    int rc;

    if ((rc = mdb_env_create(&tc->env)) != 0)
        return rc;
    if ((rc = mdb_env_set_maxdbs(tc->env, 8)) != 0 ||
        (rc = mdb_env_set_mapsize(tc->env, tc->map_size)) != 0)
        return rc;
    if ((rc = mdb_env_open(tc->env, tc->path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOMETASYNC, 0600)) !=
        0)
        return rc;
    if ((rc = mdb_txn_begin(tc->env, NULL, 0, &txn)) != 0)
        return rc;
    /* a foreign file: keys in the main database that are not ours */
    if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
        (rc = mdb_cursor_open(txn, main_dbi, &cur)) != 0)
        goto fail;
    int n = 0;
    while ((rc = mdb_cursor_get(cur, &k, &v, n++ ? MDB_NEXT : MDB_FIRST)) == 0)
        if (!is_ours_name(&k)) {
            rc = 1;
            goto fail;
        }
    if (rc != MDB_NOTFOUND)
        goto fail;
    mdb_cursor_close(cur);
    cur = NULL;
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &tc->meta)) != 0)
        goto fail;
    for (int i = 0; i < TLS_CACHE_KINDS; i++)
        if ((rc = mdb_dbi_open(txn, kind_names[i], MDB_CREATE, &tc->dbi[i])) != 0)
            goto fail;
    k.mv_data = "format";
    k.mv_size = 6;
    rc = mdb_get(txn, tc->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        v.mv_data = CACHE_FORMAT;
        v.mv_size = strlen(CACHE_FORMAT);
        if ((rc = mdb_put(txn, tc->meta, &k, &v, 0)) != 0)
            goto fail;
    } else if (rc != 0) {
        goto fail;
    } else if (v.mv_size != strlen(CACHE_FORMAT) ||
               memcmp(v.mv_data, CACHE_FORMAT, v.mv_size) != 0) {
        rc = 1;
        goto fail;
    }
    return mdb_txn_commit(txn);
fail:
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

/* env_teardown - close the environment if open */
static void env_teardown(struct tls_cache *tc)
{
    if (tc->env)
        mdb_env_close(tc->env);
    tc->env = NULL;
}

/* set_aside - rename a broken file out of the way and drop its lock file */
static int set_aside(struct tls_cache *tc, const char *why)
{
    char aside[4096], lock[4096];
    snprintf(aside, sizeof(aside), "%s.broken.%lld", tc->path, (long long)time(NULL));
    snprintf(lock, sizeof(lock), "%s-lock", tc->path);
    if (rename(tc->path, aside) < 0) {
        int e = errno;
        log_warn("tls", "session cache %s: %s, and cannot rename it to %s: %s", tc->path, why,
                 aside, strerror(e));
        return -e;
    }
    unlink(lock);
    log_warn("tls", "session cache %s: %s; moved to %s, starting an empty cache", tc->path, why,
             aside);
    return 0;
}

/* tls_cache_open - open or create; map_size 0 means 64 MiB */
int tls_cache_open(struct tls_cache **out, const char *path, size_t map_size)
{
    struct tls_cache *tc;
    int rc;

    *out = NULL;
    if (!path || !*path)
        return -EINVAL;
    if (!(tc = calloc(1, sizeof(*tc))) || !(tc->path = strdup(path))) {
        free(tc);
        return -ENOMEM;
    }
    tc->map_size = map_size ? map_size : DEFAULT_MAP_SIZE;
    for (int attempt = 0;; attempt++) {
        rc = env_setup(tc);
        if (rc == 0)
            break;
        env_teardown(tc);
        int broken = rc == 1 || rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
                     rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INCOMPATIBLE ||
                     rc == MDB_BAD_DBI || rc == MDB_PANIC;
        if (!broken || attempt > 0) {
            rc = rc == 1 ? -EINVAL : mdb_errno(tc, "open", rc);
            goto fail;
        }
        if ((rc = set_aside(tc, rc == 1 ? "not a tern TLS session cache" : mdb_strerror(rc))) < 0)
            goto fail;
    }
    *out = tc;
    return 0;
fail:
    tls_cache_close(tc);
    return rc;
}

/* tls_cache_close - NULL is fine */
void tls_cache_close(struct tls_cache *tc)
{
    if (!tc)
        return;
    if (tc->env)
        mdb_env_sync(tc->env, 1);
    env_teardown(tc);
    free(tc->path);
    free(tc);
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

/* put_once - one write transaction; MDB code */
static int put_once(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen,
                    const void *val, size_t vlen, time_t expires)
{
    MDB_txn *txn;
    MDB_val k = {klen, (void *)key}, v = {vlen + HDR, NULL};
    int rc;
    if ((rc = mdb_txn_begin(tc->env, NULL, 0, &txn)) != 0)
        return rc;
    if ((rc = mdb_put(txn, tc->dbi[kind], &k, &v, MDB_RESERVE)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    put_be64(v.mv_data, (uint64_t)expires);
    memcpy((unsigned char *)v.mv_data + HDR, val, vlen);
    return mdb_txn_commit(txn);
}

/* cmp_time - qsort order of time_t */
static int cmp_time(const void *a, const void *b)
{
    time_t x = *(const time_t *)a, y = *(const time_t *)b;
    return x < y ? -1 : x > y;
}

/* evict_older_half - delete the half of kind's entries that expire first; MDB code */
static int evict_older_half(struct tls_cache *tc, enum tls_cache_kind kind)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_stat st;
    MDB_val k, v;
    time_t *when = NULL;
    size_t n = 0;
    int rc;

    if ((rc = mdb_txn_begin(tc->env, NULL, 0, &txn)) != 0)
        return rc;
    if ((rc = mdb_stat(txn, tc->dbi[kind], &st)) != 0 || st.ms_entries == 0)
        goto fail;
    if (!(when = malloc(st.ms_entries * sizeof(*when)))) {
        rc = ENOMEM;
        goto fail;
    }
    if ((rc = mdb_cursor_open(txn, tc->dbi[kind], &cur)) != 0)
        goto fail;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < st.ms_entries;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        when[n++] = v.mv_size >= HDR ? (time_t)get_be64(v.mv_data) : 0;
    qsort(when, n, sizeof(*when), cmp_time);
    time_t cut = when[(n - 1) / 2];
    size_t limit = n, deleted = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && limit-- > 0;) {
        time_t t = v.mv_size >= HDR ? (time_t)get_be64(v.mv_data) : 0;
        if (t <= cut) {
            if ((rc = mdb_cursor_del(cur, 0)) != 0)
                goto fail;
            deleted++;
            rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
            if (rc == MDB_NOTFOUND || rc == EINVAL)
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
        goto fail;
    mdb_cursor_close(cur);
    free(when);
    log_warn("tls", "session cache %s: full, evicted %zu of %zu %s entries", tc->path, deleted, n,
             kind_names[kind]);
    return mdb_txn_commit(txn);
fail:
    if (cur)
        mdb_cursor_close(cur);
    free(when);
    mdb_txn_abort(txn);
    return rc;
}

/* tls_cache_put - store (replace) one entry with its expiry */
int tls_cache_put(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen,
                  const void *val, size_t vlen, time_t expires)
{
    int rc;
    if ((rc = kind_ok(tc, kind, klen)) < 0)
        return rc;
    rc = put_once(tc, kind, key, klen, val, vlen, expires);
    if (rc != MDB_MAP_FULL)
        return mdb_errno(tc, "put", rc);
    /* full: expired entries first, then the older half of this kind */
    if (tls_cache_sweep(tc, time(NULL)) <= 0) {
        int erc = evict_older_half(tc, kind);
        if (erc != 0 && erc != MDB_NOTFOUND)
            return mdb_errno(tc, "evict", erc);
    }
    rc = put_once(tc, kind, key, klen, val, vlen, expires);
    if (rc == MDB_MAP_FULL && evict_older_half(tc, kind) == 0)
        rc = put_once(tc, kind, key, klen, val, vlen, expires);
    return mdb_errno(tc, "put", rc);
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
    if ((rc = mdb_txn_begin(tc->env, NULL, MDB_RDONLY, &txn)) != 0)
        return mdb_errno(tc, "read", rc);
    rc = mdb_get(txn, tc->dbi[kind], &k, &v);
    if (rc == 0) {
        time_t t = v.mv_size >= HDR ? (time_t)get_be64(v.mv_data) : 0;
        if (v.mv_size < HDR || t <= now) {
            rc = MDB_NOTFOUND;
        } else {
            if (expires)
                *expires = t;
            rc =
                buf_append(val, (unsigned char *)v.mv_data + HDR, v.mv_size - HDR) < 0 ? ENOMEM : 0;
        }
    }
    mdb_txn_abort(txn);
    return mdb_errno(tc, "get", rc);
}

/* tls_cache_delete - remove one entry; -ENOENT if absent */
int tls_cache_delete(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen)
{
    MDB_txn *txn;
    MDB_val k = {klen, (void *)key};
    int rc;
    if ((rc = kind_ok(tc, kind, klen)) < 0)
        return rc;
    if ((rc = mdb_txn_begin(tc->env, NULL, 0, &txn)) != 0)
        return mdb_errno(tc, "delete", rc);
    if ((rc = mdb_del(txn, tc->dbi[kind], &k, NULL)) != 0) {
        mdb_txn_abort(txn);
        return mdb_errno(tc, "delete", rc);
    }
    return mdb_errno(tc, "delete", mdb_txn_commit(txn));
}

/* tls_cache_sweep - delete every entry expired at now; returns the number deleted */
int tls_cache_sweep(struct tls_cache *tc, time_t now)
{
    MDB_txn *txn;
    MDB_val k, v;
    int rc, deleted = 0;
    if ((rc = mdb_txn_begin(tc->env, NULL, 0, &txn)) != 0)
        return mdb_errno(tc, "sweep", rc);
    for (int kind = 0; kind < TLS_CACHE_KINDS; kind++) {
        MDB_cursor *cur;
        if ((rc = mdb_cursor_open(txn, tc->dbi[kind], &cur)) != 0)
            goto fail;
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (rc == 0) {
            if (v.mv_size < HDR || (time_t)get_be64(v.mv_data) <= now) {
                if ((rc = mdb_cursor_del(cur, 0)) != 0)
                    break;
                deleted++;
                /* after a delete the cursor sits on the next entry (or none) */
                rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
                if (rc == EINVAL)
                    rc = MDB_NOTFOUND;
                continue;
            }
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
        if (rc != MDB_NOTFOUND)
            goto fail;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return mdb_errno(tc, "sweep", rc);
    return deleted;
fail:
    mdb_txn_abort(txn);
    return mdb_errno(tc, "sweep", rc);
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
    if ((rc = mdb_txn_begin(tc->env, NULL, MDB_RDONLY, &txn)) != 0)
        return mdb_errno(tc, "list", rc);
    if ((rc = mdb_cursor_open(txn, tc->dbi[kind], &cur)) != 0) {
        mdb_txn_abort(txn);
        return mdb_errno(tc, "list", rc);
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (v.mv_size < HDR)
            continue;
        n++;
        if (fn(kind, k.mv_data, k.mv_size, (unsigned char *)v.mv_data + HDR, v.mv_size - HDR,
               (time_t)get_be64(v.mv_data), arg))
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
    if ((rc = mdb_txn_begin(tc->env, NULL, 0, &txn)) != 0)
        return mdb_errno(tc, "purge", rc);
    for (int i = 0; i < TLS_CACHE_KINDS; i++) {
        if (kind >= 0 && i != kind)
            continue;
        if ((rc = mdb_stat(txn, tc->dbi[i], &st)) != 0 ||
            (rc = mdb_drop(txn, tc->dbi[i], 0)) != 0) {
            mdb_txn_abort(txn);
            return mdb_errno(tc, "purge", rc);
        }
        n += (int)st.ms_entries;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return mdb_errno(tc, "purge", rc);
    return n;
}
