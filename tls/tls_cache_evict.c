/*
 * NAME
 *	tls_cache_evict - the TLS cache's size bound: what goes when the map is full
 * DESCRIPTION
 *	The map size (default 64 MiB) bounds the file. When the writer finds
 *	the map full it calls tls_cache_evict_make_room(): first every expired
 *	entry goes (tls_cache_evict_expired, also behind tls_cache_sweep()),
 *	then the half of the entry's kind that expires first, and when that
 *	kind is empty, the older half of every other kind. Each step is one
 *	write transaction; the writer retries its batch after it.
 *
 *	Bounded: evicting one kind reads its expiry times into one array of
 *	as many entries as the kind holds, freed before returning.
 * DIAGNOSTICS
 *	tls_cache_evict_expired() returns the number deleted or -errno (LMDB
 *	errors logged); each eviction of an older half is logged as a warning.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <time.h>

#include "core/base/log.h"
#include "tls/tls_cache_impl.h"

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
    if ((rc = mdb_stat(txn, tc->dbi[kind], &st)) != 0)
        goto fail;
    if (st.ms_entries == 0) {
        rc = MDB_NOTFOUND;
        goto fail;
    }
    if (!(when = malloc(st.ms_entries * sizeof(*when)))) {
        rc = ENOMEM;
        goto fail;
    }
    if ((rc = mdb_cursor_open(txn, tc->dbi[kind], &cur)) != 0)
        goto fail;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < st.ms_entries;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        when[n++] = tls_cache_file_expiry(&v);
    qsort(when, n, sizeof(*when), cmp_time);
    time_t cut = when[(n - 1) / 2];
    size_t limit = n, deleted = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && limit-- > 0;) {
        time_t t = tls_cache_file_expiry(&v);
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
             tls_cache_kind_name(kind));
    return tls_cache_file_commit(tc, txn);
fail:
    if (cur)
        mdb_cursor_close(cur);
    free(when);
    mdb_txn_abort(txn);
    return rc;
}

/* tls_cache_evict_expired - delete every entry expired at now in one transaction; count or -errno
 */
int tls_cache_evict_expired(struct tls_cache *tc, time_t now)
{
    MDB_txn *txn;
    MDB_val k, v;
    int rc, deleted = 0;
    if ((rc = mdb_txn_begin(tc->env, NULL, 0, &txn)) != 0)
        return tls_cache_file_errno(tc, "sweep", rc);
    for (int kind = 0; kind < TLS_CACHE_KINDS; kind++) {
        MDB_cursor *cur;
        if ((rc = mdb_cursor_open(txn, tc->dbi[kind], &cur)) != 0)
            goto fail;
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (rc == 0) {
            if (v.mv_size < TLS_CACHE_HDR || tls_cache_file_expiry(&v) <= now) {
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
    if ((rc = tls_cache_file_commit(tc, txn)) != 0)
        return tls_cache_file_errno(tc, "sweep", rc);
    return deleted;
fail:
    mdb_txn_abort(txn);
    return tls_cache_file_errno(tc, "sweep", rc);
}

/* tls_cache_evict_make_room - after MDB_MAP_FULL: expired entries, then the older half of a kind */
void tls_cache_evict_make_room(struct tls_cache *tc, enum tls_cache_kind kind, int attempt)
{
    if (attempt == 0 && tls_cache_evict_expired(tc, time(NULL)) > 0)
        return;
    if (evict_older_half(tc, kind) != MDB_NOTFOUND)
        return;
    /* this kind has nothing to give: the others do */
    for (int i = 0; i < TLS_CACHE_KINDS; i++)
        if (i != (int)kind)
            evict_older_half(tc, (enum tls_cache_kind)i);
}
