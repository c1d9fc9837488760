/*
 * NAME
 *	queue_check - look at the queue file before LMDB maps it
 * SYNOPSIS
 *	rc = queue_check_file(dir, map_size);  // before mdb_env_open
 *	queue_check_mark(dir);                 // after a successful open
 * DESCRIPTION
 *	LMDB trusts its file: a truncated data.mdb, or a page whose header was
 *	overwritten, makes it read past the end of the file (SIGBUS) or follow
 *	a wild pointer (SIGSEGV) - at start-up, and again at every restart: a
 *	crash loop that re-delivers whatever was delivered before the crash.
 *	queue_check_file() refuses to start on such a file, with a message that
 *	names it and says what to do (`ternd -c DIR recover`, queue_salvage.c):
 *
 *	  - the queue directory held a queue (the marker file QUEUE_MARKER,
 *	    written by queue_check_mark() once a queue was opened) but data.mdb
 *	    is now missing or empty: the queue was lost, and starting on an
 *	    empty one would hide that;
 *	  - neither meta page (pages 0 and 1) is valid, or the file is shorter
 *	    than the last page the newest valid meta page references;
 *	  - a probe fails: a child process (fork) opens the file read-only and
 *	    walks every page LMDB reaches from the newest meta page - the free
 *	    list, the main database, "env" and "body", the first and last byte
 *	    of every value (overflow pages included). When LMDB reports an
 *	    error, or the child dies of a signal, the parent lives and refuses.
 *	The probe reads the whole tree once per start (bounded by the file's
 *	size; the page cache serves the recovery walk right after it). It runs
 *	before any of the queue's threads exist.
 *
 *	The meta page layout read here is LMDB 0.9's on a 64-bit host
 *	(lmdb.h's MDB_meta: magic 0xBEEFC0DE, version 1); any other layout is
 *	left to LMDB (which refuses it with MDB_INVALID / MDB_VERSION_MISMATCH).
 * DIAGNOSTICS
 *	0, or -EUCLEAN after logging why (a damaged or lost queue), or -errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/log.h"
#include "queue/queue_impl.h"

#define META_MAGIC 0xBEEFC0DEu
#define META_OFF 16                   /* MDB_meta after the page header */
#define META_PSIZE (META_OFF + 24)    /* mm_dbs[FREE_DBI].md_pad holds the page size */
#define META_LAST_PG (META_OFF + 120) /* mm_last_pg */
#define META_TXNID (META_OFF + 128)   /* mm_txnid */
#define PROBE_EXIT_LMDB 3

/* refuse - log why the queue file cannot be used, and what to do */
static int refuse(const char *dir, const char *what)
{
    log_warn("qmgr",
             "%s/data.mdb: %s; not starting on it. Run \"ternd -c CONFIG_DIR recover\" (with ternd "
             "stopped) to keep every record that still reads, move the damaged file aside and "
             "start a new queue",
             dir, what);
    return -EUCLEAN;
}

/* read_meta - one meta page at off: 0 and *psize, *last, *txnid, or -1 when invalid */
static int read_meta(int fd, off_t off, uint32_t *psize, uint64_t *last, uint64_t *txnid)
{
    unsigned char m[META_TXNID + 8];
    uint32_t magic, version;
    if (pread(fd, m, sizeof(m), off) != (ssize_t)sizeof(m))
        return -1;
    memcpy(&magic, m + META_OFF, 4);
    memcpy(&version, m + META_OFF + 4, 4);
    memcpy(psize, m + META_PSIZE, 4);
    memcpy(last, m + META_LAST_PG, 8);
    memcpy(txnid, m + META_TXNID, 8);
    if (magic != META_MAGIC || version != 1 || *psize < 512 || *psize > 65536 ||
        (*psize & (*psize - 1)))
        return -1;
    return 0;
}

/* walk - touch every record of dbi (first and last byte of each value) */
static int walk(MDB_txn *txn, MDB_dbi dbi)
{
    MDB_cursor *cur;
    MDB_val k, v;
    volatile unsigned char sink = 0;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc != 0)
        return rc;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0)
        if (v.mv_size)
            sink ^= ((unsigned char *)v.mv_data)[0] ^ ((unsigned char *)v.mv_data)[v.mv_size - 1];
    (void)sink;
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* probe_child - the forked walk; its exit status is the verdict */
static void probe_child(const char *dir, size_t map_size)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc;
    if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 4) != 0 ||
        mdb_env_set_mapsize(env, map_size) != 0)
        _exit(PROBE_EXIT_LMDB);
    if ((rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK, 0600)) != 0 ||
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
        _exit(PROBE_EXIT_LMDB);
    if ((rc = walk(txn, 0)) != 0 || (rc = walk(txn, 1)) != 0)
        _exit(PROBE_EXIT_LMDB);
    static const char *const names[] = {"env", "body"};
    for (int i = 0; i < 2; i++) {
        rc = mdb_dbi_open(txn, names[i], 0, &dbi);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc != 0 || walk(txn, dbi) != 0)
            _exit(PROBE_EXIT_LMDB);
    }
    _exit(0);
}

/* probe - walk the file in a child; 0 when it came through */
static int probe(const char *dir, size_t map_size)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL);
        signal(SIGSEGV, SIG_DFL);
        probe_child(dir, map_size);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    char what[200];
    if (WIFSIGNALED(st)) {
        snprintf(what, sizeof(what), "reading it killed a test process with %s (damaged pages)",
                 strsignal(WTERMSIG(st)));
        return refuse(dir, what);
    }
    if (WEXITSTATUS(st) == PROBE_EXIT_LMDB)
        return refuse(dir, "LMDB cannot read it (damaged pages)");
    return 0;
}

/* queue_check_file - refuse a lost, truncated or damaged queue file before LMDB maps it */
int queue_check_file(const char *dir, size_t map_size)
{
    char path[4200], mark[4200], what[300];
    struct stat st, ms;
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    snprintf(mark, sizeof(mark), "%s/%s", dir, QUEUE_MARKER);
    bool had = stat(mark, &ms) == 0;
    if (stat(path, &st) < 0) {
        if (errno != ENOENT)
            return -errno;
        return had ? refuse(dir, "missing, but this directory held a queue (" QUEUE_MARKER
                                 " exists): the queue was lost")
                   : 0;
    }
    if (st.st_size == 0)
        return had ? refuse(dir, "empty, but this directory held a queue (" QUEUE_MARKER
                                 " exists): the queue was lost")
                   : 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint32_t ps0 = 0, ps1 = 0;
    uint64_t last0 = 0, last1 = 0, tx0 = 0, tx1 = 0;
    int ok0 = read_meta(fd, 0, &ps0, &last0, &tx0);
    int ok1 = ok0 == 0 ? read_meta(fd, ps0, &ps1, &last1, &tx1) : -1;
    if (ok0 != 0) /* page 0 damaged: try page 1 at the usual page sizes */
        for (uint32_t ps = 4096; ps <= 65536 && ok1 != 0; ps *= 2)
            ok1 = read_meta(fd, ps, &ps1, &last1, &tx1);
    close(fd);
    if (ok0 != 0 && ok1 != 0)
        return refuse(dir, "no valid meta page (not an LMDB file, or its first pages are damaged)");
    bool use1 = ok1 == 0 && (ok0 != 0 || tx1 > tx0);
    uint64_t last = use1 ? last1 : last0, psize = use1 ? ps1 : ps0;
    if ((uint64_t)st.st_size < (last + 1) * psize) {
        snprintf(what, sizeof(what),
                 "%lld bytes, but its newest meta page references page %llu (%llu bytes): "
                 "truncated",
                 (long long)st.st_size, (unsigned long long)last,
                 (unsigned long long)((last + 1) * psize));
        return refuse(dir, what);
    }
    size_t need = (size_t)st.st_size > map_size ? (size_t)st.st_size : map_size;
    return probe(dir, need);
}

/* queue_check_mark - note that this directory holds a queue (once, durable) */
int queue_check_mark(const char *dir)
{
    char mark[4200];
    snprintf(mark, sizeof(mark), "%s/%s", dir, QUEUE_MARKER);
    if (access(mark, F_OK) == 0)
        return 0;
    int fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 : -errno;
    static const char text[] = "tern queue: data.mdb holds the queue; do not remove this file\n";
    int rc = write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1 && fsync(fd) == 0
                 ? 0
                 : -errno;
    close(fd);
    return rc;
}
