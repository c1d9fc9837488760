/*
 * NAME
 *	ternmap_compile - build FILE.lmdb from the text table FILE, atomically
 * SYNOPSIS
 *	#include "core/ternmap_compile.h"
 *
 *	int rc = ternmap_compile("lmdb:/etc/tern/transport", &err);
 * DESCRIPTION
 *	ternmap's job, as postmap's: read the text source (the postmap format,
 *	policy/policy_table_text.h), sort it, drop later duplicates, and write
 *	every pair into a fresh LMDB file that the lmdb:, hash: and btree:
 *	table types read (policy/policy_table_lmdb.c). The file is never
 *	written in place: FILE.lmdb.tmpXXXXXX is built without a lock file,
 *	synced, rename()d over FILE.lmdb and the directory synced, so that a
 *	reader sees the old table or the new one, never a mix, and a crash
 *	leaves one of the two. Keys are stored without a terminating NUL;
 *	a key longer than LMDB's limit is logged and skipped. The map starts
 *	at three times the data (at least 1 MiB) and grows fourfold when full,
 *	up to 1 TiB. The new file gets the source's group and other read bits.
 *
 *	A spec without a type means lmdb:. Other types have nothing to compile.
 * DIAGNOSTICS
 *	0, or -errno with *err (malloc'd) naming the table and the file:
 *	-ENOENT for a missing source, -EINVAL for a type that is not compiled,
 *	-ENOSPC when even the largest map is full. No temporary file is left.
 */
#include "core/ternmap_compile.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/dir.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "policy/policy_table_lmdb.h"
#include "policy/policy_table_text.h"

/* write_lmdb - write all entries into a fresh LMDB file at path; MDB_MAP_FULL -> -ENOSPC */
static int write_lmdb(const char *path, const struct policy_table_kv *l, size_t mapsize, char **err)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc;

    rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(env, mapsize);
    /* A private temporary file: no lock file, nobody else opens it. */
    if (rc == 0)
        rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK, 0644);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        MDB_val k = {strlen(l->v[i].key), l->v[i].key};
        MDB_val v = {strlen(l->v[i].value), l->v[i].value};
        if (k.mv_size == 0)
            continue;
        if (k.mv_size > (size_t)mdb_env_get_maxkeysize(env)) {
            log_warn("ternmap", "%s: key too long, skipped: \"%.40s...\"", path, l->v[i].key);
            continue;
        }
        rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc == 0)
        rc = mdb_env_sync(env, 1);
    if (rc != 0 && rc != MDB_MAP_FULL)
        error_set(err, "write %s: %s", path, mdb_strerror(rc));
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    return rc == 0 ? 0 : policy_table_lmdb_errno(rc);
}

/* typed_file - the FILE of lmdb:FILE, hash:FILE, btree:FILE or a bare FILE; -EINVAL for another
 * "type:" (its length in *typelen) */
static int typed_file(const char *spec, const char **file, size_t *typelen)
{
    static const char *const types[] = {"lmdb", "hash", "btree"};
    size_t len = strspn(spec, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
    *file = spec;
    if (len == 0 || spec[len] != ':')
        return 0; /* no type: lmdb */
    *typelen = len;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strlen(types[i]) == len && strncmp(spec, types[i], len) == 0) {
            *file = spec + len + 1;
            return 0;
        }
    return -EINVAL;
}

/* ternmap_compile - build FILE.lmdb from text FILE: write a temp file, rename it */
int ternmap_compile(const char *spec, char **err)
{
    struct policy_table_kv l = {0};
    const char *name = spec;
    char *dest = NULL, *tmp = NULL;
    size_t typelen = 0;
    struct stat st;
    int rc, fd = -1;

    if (err)
        *err = NULL;
    if (spec == NULL) {
        error_set(err, "no table name");
        return -EINVAL;
    }
    if (typed_file(spec, &name, &typelen) < 0) {
        error_set(err, "%s: cannot compile table type \"%.*s\" (lmdb, hash, btree)", spec,
                  (int)typelen, spec);
        return -EINVAL;
    }
    if (*name == 0) {
        error_set(err, "%s: missing file name", spec);
        return -EINVAL;
    }

    rc = policy_table_text_read(name, &l, false, err);
    if (rc < 0) {
        char *inner = err ? *err : NULL;
        if (err) {
            *err = NULL;
            error_set(err, "%s: %s", spec, inner ? inner : strerror(-rc));
        }
        free(inner);
        goto fail;
    }
    policy_table_kv_sort(&l, name);

    dest = policy_table_lmdb_path(name);
    if (dest == NULL || asprintf(&tmp, "%s.tmpXXXXXX", dest) < 0) {
        tmp = NULL;
        rc = -ENOMEM;
        error_set(err, "%s: out of memory", spec);
        goto fail;
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = -errno;
        error_set(err, "create %s: %s", tmp, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    /* As postmap: owner read-write, group/other read as the source file allows. */
    mode_t mode = 0644;
    if (stat(name, &st) == 0)
        mode = 0600 | (st.st_mode & 0044);
    if (fchmod(fd, mode) < 0)
        log_warn("ternmap", "chmod %s: %s", tmp, strerror(errno));
    close(fd);
    fd = -1;

    size_t bytes = 0;
    for (size_t i = 0; i < l.n; i++)
        bytes += strlen(l.v[i].key) + strlen(l.v[i].value) + 64;
    size_t mapsize = (size_t)1 << 20;
    while (mapsize < bytes * 3)
        mapsize *= 2;
    for (;;) {
        rc = write_lmdb(tmp, &l, mapsize, err);
        if (rc != -ENOSPC || mapsize >= ((size_t)1 << 40))
            break;
        mapsize *= 4;
        if (truncate(tmp, 0) < 0) {
            rc = -errno;
            error_set(err, "truncate %s: %s", tmp, strerror(errno));
            break;
        }
    }
    if (rc < 0)
        goto fail;
    if (rename(tmp, dest) < 0) {
        rc = -errno;
        error_set(err, "rename %s to %s: %s", tmp, dest, strerror(errno));
        goto fail;
    }
    free(tmp);
    tmp = NULL;
    (void)dir_sync_parent(dest);
    rc = 0;

fail:
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    if (fd >= 0)
        close(fd);
    free(dest);
    policy_table_kv_free(&l);
    return rc;
}
