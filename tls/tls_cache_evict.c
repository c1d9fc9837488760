/*
 * NAME
 *	tls_cache_evict - the TLS cache's size bound: what goes when the map is full
 * DESCRIPTION
 *	The map size (default 64 MiB) bounds the file. When the writer finds
 *	the map full (or its entries over the page budget, tls_cache_file.c)
 *	it calls tls_cache_evict_make_room(): first every expired entry goes
 *	(tls_cache_evict_expired, also behind tls_cache_sweep()), then the half
 *	of the entry's kind that expires first, and when that kind is empty,
 *	the older half of every other kind. The writer retries its batch after.
 *
 *	Deletions are committed tc->txn_max at a time: a deletion copies the
 *	pages it changes, so one transaction deleting all over the file would
 *	need as many free pages as the file has, the very thing a full map
 *	lacks. Small transactions always fit in the room the budget keeps.
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
#include <string.h>
#include <time.h>

#include "core/base/log.h"
#include "tls/tls_cache_impl.h"

#define KEY_MAX 512 /* LMDB's own key limit is 511 bytes */

/* cmp_time - qsort order of time_t */
static int cmp_time(const void *a, const void *b)
{
    time_t x = *(const time_t *)a, y = *(const time_t *)b;
    return x < y ? -1 : x > y;
}

/* delete_chunk - from key at (or the first), delete up to txn_max entries expiring at or before
 * cut (one without an expiry counts as 0) and commit; 0 done, 1 more to do, or MDB code */
static int delete_chunk(struct tls_cache *tc, MDB_dbi dbi, time_t cut, unsigned char *at,
                        size_t *atlen, size_t *deleted)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k = {*atlen, at}, v;
    size_t n = 0;
    int rc;

    if ((rc = mdb_txn_begin(tc->env, NULL, 0, &txn)) != 0)
        return rc;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_cursor_get(cur, &k, &v, *atlen ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0 && n < tc->txn_max) {
        if (tls_cache_file_expiry(&v) > cut) {
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            continue;
        }
        if ((rc = mdb_cursor_del(cur, 0)) != 0)
            break;
        n++;
        /* after a delete the cursor sits on the next entry (or none) */
        rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
        if (rc == EINVAL)
            rc = MDB_NOTFOUND;
    }
    int more = rc == 0;
    if (more) { /* resume at the entry not yet looked at */
        *atlen = k.mv_size < KEY_MAX ? k.mv_size : KEY_MAX;
        memcpy(at, k.mv_data, *atlen);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = tls_cache_file_commit(tc, txn)) != 0)
        return rc;
    *deleted += n;
    return more;
}

/* delete_upto - delete every entry of dbi at or before cut (see delete_chunk); MDB code */
static int delete_upto(struct tls_cache *tc, MDB_dbi dbi, time_t cut, size_t *deleted)
{
    unsigned char at[KEY_MAX];
    size_t atlen = 0;
    int rc;
    while ((rc = delete_chunk(tc, dbi, cut, at, &atlen, deleted)) == 1)
        ;
    return rc;
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

    if ((rc = mdb_txn_begin(tc->env, NULL, MDB_RDONLY, &txn)) != 0)
        return rc;
    if ((rc = mdb_stat(txn, tc->dbi[kind], &st)) != 0)
        goto done;
    if (st.ms_entries == 0) {
        rc = MDB_NOTFOUND;
        goto done;
    }
    if (!(when = malloc(st.ms_entries * sizeof(*when)))) {
        rc = ENOMEM;
        goto done;
    }
    if ((rc = mdb_cursor_open(txn, tc->dbi[kind], &cur)) != 0)
        goto done;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < st.ms_entries;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        when[n++] = tls_cache_file_expiry(&v);
    if (rc != 0 && rc != MDB_NOTFOUND)
        goto done;
    rc = 0;
done:
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != 0 || n == 0) {
        free(when);
        return rc ? rc : MDB_NOTFOUND;
    }
    qsort(when, n, sizeof(*when), cmp_time);
    time_t cut = when[(n - 1) / 2];
    free(when);
    size_t deleted = 0;
    rc = delete_upto(tc, tc->dbi[kind], cut, &deleted);
    log_warn("tls", "session cache %s: full, evicted %zu of %zu %s entries", tc->path, deleted, n,
             tls_cache_kind_name(kind));
    return rc;
}

/* tls_cache_evict_expired - delete every entry expired at now, txn_max per transaction; count or
 * -errno */
int tls_cache_evict_expired(struct tls_cache *tc, time_t now)
{
    size_t deleted = 0;
    for (int kind = 0; kind < TLS_CACHE_KINDS; kind++) {
        int rc = delete_upto(tc, tc->dbi[kind], now, &deleted);
        if (rc != 0)
            return tls_cache_file_errno(tc, "sweep", rc);
    }
    return (int)deleted;
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
