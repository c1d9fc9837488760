/*
 * NAME
 *	tls_cache_file - the LMDB file of the TLS cache: layout, format check, set-aside
 * DESCRIPTION
 *	The main database holds only the names of the named databases (one
 *	per tls_cache_kind) and "meta", whose key "format" says CACHE_FORMAT;
 *	anything else there means the file is not ours. Each value is stored
 *	behind an 8-byte big-endian expiry (TLS_CACHE_HDR).
 *
 *	Durability: the environment is opened with MDB_NOSYNC (MDB_NOTLS, so
 *	read transactions may cross threads); the writer thread syncs it at
 *	most once a second (tls_cache_writer.c). A fresh file is synced at once
 *	so it is never half there after a crash. LMDB loses durability this
 *	way, never integrity, on a filesystem that keeps write order.
 *
 *	Room to delete: LMDB copies every page a transaction changes, and the
 *	pages the last commit freed cannot be reused by the very next one. A
 *	map filled to its last page therefore lets no transaction commit, not
 *	even one that deletes. So the entries may take only page_budget pages
 *	(3/4 of the map; the writer refuses a batch beyond it) and every write
 *	transaction changes at most txn_max entries (1/128 of the map's pages):
 *	the quarter kept free always holds what one transaction copies.
 *
 *	A file that is not ours, or that LMDB calls corrupt or incompatible, is
 *	renamed to PATH.broken.<time> by tls_cache_file_set_aside() and the
 *	caller starts an empty one: losing sessions only costs full handshakes.
 * DIAGNOSTICS
 *	tls_cache_file_open() returns LMDB codes, or 1 for a foreign file;
 *	tls_cache_file_errno() maps LMDB codes to -errno and logs those without
 *	an equivalent (-EIO). Set-aside failures are logged and returned as
 *	-errno.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/log.h"
#include "tls/tls_cache_impl.h"

#define CACHE_FORMAT "tern-tls-cache 1"

/* tls_cache_file_errno - LMDB result to -errno, logging what has no errno equivalent */
int tls_cache_file_errno(const struct tls_cache *tc, const char *what, int rc)
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

/* tls_cache_file_set_expiry - write expires as the header of a stored value */
void tls_cache_file_set_expiry(void *rec, time_t expires)
{
    put_be64(rec, (uint64_t)expires);
}

/* tls_cache_file_expiry - the expiry of a stored value; 0 when it is too short to have one */
time_t tls_cache_file_expiry(const MDB_val *v)
{
    return v->mv_size >= TLS_CACHE_HDR ? (time_t)get_be64(v->mv_data) : 0;
}

/* is_ours_name - a key the main database of our file may hold */
static int is_ours_name(const MDB_val *k)
{
    static const char *const names[] = {"meta",  "client",  "server", "ticket-keys",
                                        "peers", "mta-sts", "tlsrpt"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (k->mv_size == strlen(names[i]) && memcmp(k->mv_data, names[i], k->mv_size) == 0)
            return 1;
    return 0;
}

/* tls_cache_file_commit - commit a write transaction and count it; MDB code */
int tls_cache_file_commit(struct tls_cache *tc, MDB_txn *txn)
{
    int rc = mdb_txn_commit(txn);
    if (rc == 0)
        atomic_fetch_add_explicit(&tc->commits, 1, memory_order_relaxed);
    return rc;
}

/* tls_cache_file_over_budget - the entries in txn take more pages than tc->page_budget */
int tls_cache_file_over_budget(struct tls_cache *tc, MDB_txn *txn)
{
    size_t pages = 0;
    for (int i = 0; i < TLS_CACHE_KINDS; i++) {
        MDB_stat st;
        if (mdb_stat(txn, tc->dbi[i], &st) != 0)
            return 1;
        pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    }
    return pages > tc->page_budget;
}

/* tls_cache_file_open - open the environment and its databases; MDB codes, 1 when foreign */
int tls_cache_file_open(struct tls_cache *tc)
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
    if ((rc = mdb_env_open(tc->env, tc->path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC, 0600)) != 0)
        return rc;
    MDB_stat est;
    if ((rc = mdb_env_stat(tc->env, &est)) != 0)
        return rc;
    size_t pages = tc->map_size / est.ms_psize;
    tc->page_budget = pages - pages / 4;
    tc->txn_max = pages / 128 ? pages / 128 : 1;
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
        if ((rc = mdb_dbi_open(txn, tls_cache_kind_name((enum tls_cache_kind)i), MDB_CREATE,
                               &tc->dbi[i])) != 0)
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
    /* durable at once: a fresh file must not be half there after a crash */
    if ((rc = mdb_txn_commit(txn)) != 0)
        return rc;
    return mdb_env_sync(tc->env, 1);
fail:
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

/* tls_cache_file_close - close the environment if open */
void tls_cache_file_close(struct tls_cache *tc)
{
    if (tc->env)
        mdb_env_close(tc->env);
    tc->env = NULL;
}

/* tls_cache_file_set_aside - rename a broken file out of the way and drop its lock file */
int tls_cache_file_set_aside(struct tls_cache *tc, const char *why)
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
