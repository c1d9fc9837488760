/*
 * NAME
 *	policy_table_lmdb - the lmdb:, hash: and btree: table types
 * DESCRIPTION
 *	FILE is the LMDB file FILE.lmdb that ternmap compiles from the text
 *	FILE (core/ternmap_compile.c); all three type names read it. It is
 *	opened read-only (MDB_NOSUBDIR) and the environment stays open; any
 *	thread may look up, each lookup in its own read transaction. Keys are
 *	stored without a terminating NUL; a lookup also tries key+NUL so that
 *	tables built by Postfix's postmap read too.
 *
 *	Every file a reader maps is immutable once visible: ternmap writes a
 *	temporary file and rename()s it over FILE.lmdb. So readers use
 *	MDB_NOLOCK (see lmdb_open for why a lock file would be harmful). An
 *	environment opened before the rename keeps reading the old file until
 *	it is reopened (SIGHUP). Rebuild tables with ternmap (or anything that
 *	renames), never with a tool that updates FILE.lmdb in place while the
 *	daemon runs.
 *
 *	A value found is copied into a per-table pool of distinct values (one
 *	short mutex), because the table's contract keeps it valid until
 *	policy_table_close(), longer than the read transaction that found it.
 *	The pool is bounded by the table's distinct values.
 */
#include "policy/policy_table_lmdb.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/base/error.h"
#include "core/base/hash.h"
#include "policy/policy_table_impl.h"
#include "policy/policy_table_kv.h"

struct value_pool {
    char **slot; /* open addressing, NULL = empty */
    size_t cap;  /* power of two */
    size_t n;
};

struct lmdb_table {
    MDB_env *env;
    MDB_dbi dbi;
    pthread_mutex_t pool_lock;
    struct value_pool pool;
};

/* policy_table_lmdb_errno - an LMDB return code as -errno */
int policy_table_lmdb_errno(int rc)
{
    if (rc > 0)
        return -rc;
    switch (rc) {
    case MDB_MAP_FULL:
        return -ENOSPC;
    case MDB_READERS_FULL:
        return -EAGAIN;
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_CORRUPTED:
        return -EILSEQ;
    default:
        return -EIO;
    }
}

/* policy_table_lmdb_path - FILE -> malloc'd "FILE.lmdb" */
char *policy_table_lmdb_path(const char *file)
{
    char *p = NULL;
    if (asprintf(&p, "%s.lmdb", file) < 0)
        return NULL;
    return p;
}

/* lmdb_open - open FILE.lmdb read-only for lookups from any thread */
static int lmdb_open(struct policy_table *t, const char *file, char **err)
{
    char *path = policy_table_lmdb_path(file);
    struct lmdb_table *l = calloc(1, sizeof(*l));
    MDB_txn *txn = NULL;
    struct stat st;
    int rc;

    if (path == NULL || l == NULL) {
        free(path);
        free(l);
        error_set(err, "%s: out of memory", t->spec);
        return -ENOMEM;
    }
    pthread_mutex_init(&l->pool_lock, NULL);
    t->impl = l;
    if (*file == 0) {
        error_set(err, "%s: missing file name", t->spec);
        rc = -EINVAL;
        goto fail;
    }
    if (stat(path, &st) < 0) {
        rc = -errno;
        error_set(err, "%s: open %s: %s", t->spec, path, strerror(errno));
        goto fail;
    }
    /*
     * MDB_NOLOCK, deliberately. tern never writes FILE.lmdb in place (see
     * ternmap_compile): every file a reader maps is immutable, so no
     * reader table is needed. A lock file would be wrong here twice over:
     * LMDB forbids two environments on one lock file in one process (the
     * second resets the first's mutexes: a SIGHUP reload or two parameters
     * naming one table would crash), and a lock file that outlives a
     * rename() carries the old file's txnid, from which a reader picks the
     * meta page of the new file. Without a lock LMDB picks the newest meta
     * page of the file itself.
     */
    rc = mdb_env_create(&l->env);
    if (rc == 0)
        rc = mdb_env_open(l->env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK, 0644);
    if (rc != 0) {
        error_set(err, "%s: open %s: %s", t->spec, path, mdb_strerror(rc));
        rc = policy_table_lmdb_errno(rc);
        goto fail;
    }
    rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &l->dbi);
    if (rc != 0) {
        error_set(err, "%s: open %s: %s", t->spec, path, mdb_strerror(rc));
        rc = policy_table_lmdb_errno(rc);
        if (txn)
            mdb_txn_abort(txn);
        goto fail;
    }
    mdb_txn_commit(txn);
    free(path);
    return 0;

fail:
    free(path);
    return rc;
}

/* pool_intern - stable copy of value[0..len) owned by the table; NULL on ENOMEM */
static const char *pool_intern(struct lmdb_table *l, const char *value, size_t len)
{
    struct value_pool *vp = &l->pool;
    const char *res = NULL;

    pthread_mutex_lock(&l->pool_lock);
    if ((vp->n + 1) * 2 > vp->cap) {
        size_t cap = vp->cap ? vp->cap * 2 : 64;
        char **slot = calloc(cap, sizeof(*slot));
        if (slot == NULL)
            goto out;
        for (size_t i = 0; i < vp->cap; i++) {
            if (vp->slot[i] == NULL)
                continue;
            size_t j = hash_fnv64_str(HASH_FNV64_START, vp->slot[i]) & (cap - 1);
            while (slot[j])
                j = (j + 1) & (cap - 1);
            slot[j] = vp->slot[i];
        }
        free(vp->slot);
        vp->slot = slot;
        vp->cap = cap;
    }
    size_t j = hash_fnv64(HASH_FNV64_START, value, len) & (vp->cap - 1);
    while (vp->slot[j]) {
        if (strlen(vp->slot[j]) == len && memcmp(vp->slot[j], value, len) == 0) {
            res = vp->slot[j];
            goto out;
        }
        j = (j + 1) & (vp->cap - 1);
    }
    char *copy = strndup(value, len);
    if (copy == NULL)
        goto out;
    vp->slot[j] = copy;
    vp->n++;
    res = copy;
out:
    pthread_mutex_unlock(&l->pool_lock);
    return res;
}

/* lmdb_lookup - one read transaction per lookup */
static int lmdb_lookup(const struct policy_table *t, const char *key, const char **value)
{
    struct lmdb_table *l = t->impl;
    char stackbuf[512];
    char *k = stackbuf;
    size_t len = strlen(key);
    MDB_txn *txn = NULL;
    MDB_val mk, mv;
    int rc;

    if (len == 0)
        return 0;
    if (len + 1 > sizeof(stackbuf) && (k = malloc(len + 1)) == NULL)
        return -ENOMEM;
    memcpy(k, key, len + 1);
    policy_table_kv_lower(k);

    rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        rc = policy_table_lmdb_errno(rc);
        goto out;
    }
    mk.mv_data = k;
    mk.mv_size = len;
    rc = mdb_get(txn, l->dbi, &mk, &mv);
    if (rc == MDB_NOTFOUND) {
        mk.mv_size = len + 1; /* postmap-built: key with its NUL */
        rc = mdb_get(txn, l->dbi, &mk, &mv);
    }
    if (rc == MDB_NOTFOUND || rc == MDB_BAD_VALSIZE) {
        rc = 0;
    } else if (rc != 0) {
        rc = policy_table_lmdb_errno(rc);
    } else {
        size_t vlen = mv.mv_size;
        const char *vd = mv.mv_data;
        if (vlen > 0 && vd[vlen - 1] == 0)
            vlen--;
        if (memchr(vd, 0, vlen) != NULL)
            vlen = strlen(vd);
        const char *v = pool_intern(l, vd, vlen);
        if (v == NULL) {
            rc = -ENOMEM;
        } else {
            *value = v;
            rc = 1;
        }
    }
    mdb_txn_abort(txn);
out:
    if (k != stackbuf)
        free(k);
    return rc;
}

/* lmdb_walk - every entry of an LMDB table, in key order */
static int lmdb_walk(const struct policy_table *t, policy_table_walk_fn *fn, void *ctx)
{
    const struct lmdb_table *l = t->impl;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    char *kb = NULL, *vb = NULL;
    int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);

    if (rc == 0)
        rc = mdb_cursor_open(txn, l->dbi, &cur);
    for (int op = MDB_FIRST; rc == 0; op = MDB_NEXT) {
        rc = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op);
        if (rc != 0)
            break;
        char *nk = realloc(kb, k.mv_size + 1), *nv;
        if (nk == NULL) {
            rc = ENOMEM;
            break;
        }
        kb = nk;
        nv = realloc(vb, v.mv_size + 1);
        if (nv == NULL) {
            rc = ENOMEM;
            break;
        }
        vb = nv;
        memcpy(kb, k.mv_data, k.mv_size);
        kb[k.mv_size] = 0;
        memcpy(vb, v.mv_data, v.mv_size);
        vb[v.mv_size] = 0;
        if (fn(ctx, kb, vb) != 0)
            break;
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    free(kb);
    free(vb);
    return rc == 0 ? 0 : policy_table_lmdb_errno(rc);
}

/* lmdb_close - close the environment and free the pool */
static void lmdb_close(struct policy_table *t)
{
    struct lmdb_table *l = t->impl;
    if (l == NULL)
        return;
    if (l->env)
        mdb_env_close(l->env);
    for (size_t i = 0; i < l->pool.cap; i++)
        free(l->pool.slot[i]);
    free(l->pool.slot);
    pthread_mutex_destroy(&l->pool_lock);
    free(l);
}

const struct policy_table_type policy_table_lmdb = {
    .open = lmdb_open,
    .lookup = lmdb_lookup,
    .walk = lmdb_walk,
    .close = lmdb_close,
};
