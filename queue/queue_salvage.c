/*
 * NAME
 *	queue_salvage - `ternd -c DIR recover`: a new queue from a damaged one
 * SYNOPSIS
 *	rc = queue_salvage(&params, stdout);   // ternd stopped; as root
 * DESCRIPTION
 *	Moves queue_directory/data.mdb aside (data.mdb.damaged-TIMESTAMP, kept
 *	for the operator; lock.mdb is removed) and builds a new queue from
 *	every message whose envelope and content can still be found.
 *
 *	The old file is never mapped and never handed to LMDB: a damaged tree
 *	is what made LMDB crash. It is read with pread(), page by page, and
 *	every leaf page (by its flags) is parsed defensively - node offsets,
 *	sizes and overflow page numbers are checked against the page and the
 *	file before use - so a damaged page costs the records on it, never
 *	the process. The tree is not followed at all: a page whose parent was
 *	damaged is found all the same. Each record found is classified by its
 *	content: a record that is an envelope (version 2 with its CRC-32C
 *	intact, or a version 1 record that decodes) is an envelope candidate,
 *	anything else under a queue ID a content candidate. The file also
 *	holds older copies of records (pages LMDB freed but did not reuse), so:
 *	  - of several envelopes for one queue ID the one with the most
 *	    recipients done wins (a recipient's state only moves forward), then
 *	    the one with the most tries: duplicates are possible, losses not;
 *	  - the content must match the CRC-32C the envelope carries (version
 *	    1: its size);
 *	  - an envelope without matching content, or content without an
 *	    envelope, goes to the corrupt queue (queue_corrupt.c);
 *	  - a message deleted before the damage may come back from an old
 *	    page: a duplicate, which is the lesser evil.
 *	Memory: one small entry per record found (offset, size, CRC), the
 *	records themselves are read again when written.
 *	Every line of the report goes to the maillog and to `report`.
 * DIAGNOSTICS
 *	0 when a new queue exists (the report says what was kept, what went to
 *	the corrupt queue), or -errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base/log.h"
#include "queue/queue_impl.h"

#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_LEAF2 0x20
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02
#define F_DUPDATA 0x04
#define PAGE_HDR 16
#define NODE_HDR 8
#define SALVAGE_COMMIT_EVERY 256

/* One record found in the old file. */
struct found {
    char qid[QUEUE_ID_LEN + 1];
    off_t off; /* of the value in the file */
    size_t size;
    uint32_t crc;      /* of the value */
    bool env;          /* an envelope record (else content) */
    bool has_body_crc; /* envelopes: what their content must match */
    uint32_t body_crc;
    size_t body_size;
    size_t ndone, tries; /* envelopes: progress, to pick the newest copy */
    bool used;
};

struct salvage {
    const char *dir;
    int fd;
    off_t fsize;
    size_t psize;
    struct found *v;
    size_t n, cap;
    FILE *report;
};

/* say - one line to the maillog and the report */
static void say(struct salvage *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct salvage *s, const char *fmt, ...)
{
    char line[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_warn("recover", "%s", line);
    if (s->report)
        fprintf(s->report, "%s\n", line);
}

/* read_at - len octets at off into a new buffer, or NULL */
static unsigned char *read_at(struct salvage *s, off_t off, size_t len)
{
    if (off < 0 || off > s->fsize || len > (size_t)(s->fsize - off))
        return NULL;
    unsigned char *p = malloc(len ? len : 1);
    if (p && pread(s->fd, p, len, off) != (ssize_t)len) {
        free(p);
        return NULL;
    }
    return p;
}

/* u16 / u64 - native integers from a page */
static unsigned u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static uint64_t u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* classify - fill in what a record's value is */
static void classify(struct found *f, const unsigned char *data)
{
    struct qmsg *m = NULL;
    f->crc = queue_crc32c(0, data, f->size);
    if (queue_store_decode(&m, f->qid, data, f->size) != 0)
        return;
    f->env = true;
    f->has_body_crc = m->has_body_crc;
    f->body_crc = m->body_crc;
    f->body_size = m->size;
    for (size_t i = 0; i < m->nrcpt; i++) {
        f->ndone += m->rcpt[i].state == QR_DONE;
        f->tries += m->rcpt[i].tries;
    }
    queue_msg_queued_free(m);
}

/* add - note one record (value at off, size bytes) */
static int add(struct salvage *s, const unsigned char *key, off_t off, size_t size)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct found *nv = realloc(s->v, cap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        s->v = nv;
        s->cap = cap;
    }
    struct found *f = &s->v[s->n];
    memset(f, 0, sizeof(*f));
    memcpy(f->qid, key, QUEUE_ID_LEN);
    f->off = off;
    f->size = size;
    unsigned char *data = read_at(s, off, size);
    if (!data)
        return 0;
    classify(f, data);
    free(data);
    s->n++;
    return 0;
}

/* scan_leaf - every plausible node of one leaf page (at file offset base) */
static int scan_leaf(struct salvage *s, const unsigned char *pg, off_t base)
{
    size_t lower = u16(pg + 12), max = (s->psize - PAGE_HDR) / 2;
    /* a damaged mp_lower: try every slot, each node is checked on its own */
    size_t nptr = lower >= PAGE_HDR && lower <= s->psize ? (lower - PAGE_HDR) / 2 : max;
    for (size_t i = 0; i < nptr && i < max; i++) {
        size_t off = u16(pg + PAGE_HDR + 2 * i);
        if (off < PAGE_HDR + 2 || off + NODE_HDR + QUEUE_ID_LEN > s->psize)
            continue;
        const unsigned char *node = pg + off;
        size_t dsize = u16(node) | ((size_t)u16(node + 2) << 16);
        unsigned flags = u16(node + 4), ksize = u16(node + 6);
        const unsigned char *key = node + NODE_HDR;
        if (ksize != QUEUE_ID_LEN || !queue_id_valid(key, ksize) ||
            (flags & (F_SUBDATA | F_DUPDATA)))
            continue;
        size_t doff = off + NODE_HDR + ksize;
        int rc = 0;
        if (flags & F_BIGDATA) {
            if (doff + 8 > s->psize)
                continue;
            uint64_t opg = u64(pg + doff);
            unsigned char hdr[PAGE_HDR];
            if (opg < 2 || opg > (uint64_t)s->fsize / s->psize ||
                pread(s->fd, hdr, sizeof(hdr), (off_t)(opg * s->psize)) != (ssize_t)sizeof(hdr) ||
                !(u16(hdr + 10) & P_OVERFLOW))
                continue;
            rc = add(s, key, (off_t)(opg * s->psize) + PAGE_HDR, dsize);
        } else if (doff + dsize <= s->psize) {
            rc = add(s, key, base + (off_t)doff, dsize);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* scan - every leaf page of the old file */
static int scan(struct salvage *s)
{
    unsigned char meta[64];
    s->psize = 4096;
    if (pread(s->fd, meta, sizeof(meta), 0) == (ssize_t)sizeof(meta)) {
        uint32_t ps;
        memcpy(&ps, meta + 40, 4); /* mm_dbs[FREE_DBI].md_pad: the page size */
        if (ps >= 512 && ps <= 65536 && !(ps & (ps - 1)))
            s->psize = ps;
    }
    unsigned char *pg = malloc(s->psize);
    if (!pg)
        return -ENOMEM;
    int rc = 0;
    for (off_t base = 2 * (off_t)s->psize; base + (off_t)s->psize <= s->fsize && rc == 0;
         base += (off_t)s->psize) {
        if (pread(s->fd, pg, s->psize, base) != (ssize_t)s->psize)
            break;
        unsigned flags = u16(pg + 10);
        if ((flags & P_LEAF) && !(flags & (P_LEAF2 | P_OVERFLOW)))
            rc = scan_leaf(s, pg, base);
    }
    free(pg);
    return rc;
}

/* cmp_found - by queue ID; envelopes first, the newest first; then content */
static int cmp_found(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    int c = strcmp(x->qid, y->qid);
    if (c)
        return c;
    if (x->env != y->env)
        return x->env ? -1 : 1;
    if (x->ndone != y->ndone)
        return x->ndone > y->ndone ? -1 : 1;
    return x->tries > y->tries ? -1 : x->tries < y->tries;
}

/* body_fits - is content f the one envelope e asks for? */
static bool body_fits(const struct found *e, const struct found *f)
{
    return !f->env && (e->has_body_crc ? f->crc == e->body_crc : f->size == e->body_size);
}

/* keep_corrupt - a record with no partner to the corrupt queue */
static void keep_corrupt(struct salvage *s, const struct found *f, const char *why)
{
    unsigned char *data = read_at(s, f->off, f->size);
    if (!data)
        return;
    int rc = queue_corrupt_write(s->dir, f->qid, f->env ? data : (const void *)"",
                                 f->env ? f->size : 0, f->env ? NULL : data, f->size);
    free(data);
    if (rc < 0)
        say(s, "%s: cannot save to the corrupt queue: %s", f->qid, strerror(-rc));
    else
        say(s, "%s: %s: saved to corrupt/%s", f->qid, why, f->qid);
}

/* put - one message into the new queue */
static int put(struct salvage *s, MDB_txn *txn, MDB_dbi denv, MDB_dbi dbody, const struct found *e,
               const struct found *b)
{
    unsigned char *ed = read_at(s, e->off, e->size), *bd = read_at(s, b->off, b->size);
    int rc = -EIO;
    if (ed && bd) {
        MDB_val k = {QUEUE_ID_LEN, (void *)e->qid}, ev = {e->size, ed}, bv = {b->size, bd};
        rc = mdb_put(txn, denv, &k, &ev, 0);
        if (rc == 0)
            rc = mdb_put(txn, dbody, &k, &bv, 0);
        rc = queue_store_err(rc);
    }
    free(ed);
    free(bd);
    return rc;
}

/* rebuild - the new queue from what scan() found; counts in *copied / *corrupt */
static int rebuild(struct salvage *s, size_t map_size, size_t *copied, size_t *corrupt)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi denv, dbody;
    int rc;
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), cmp_found);
    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 4)) != 0 ||
        (rc = mdb_env_set_mapsize(env, map_size)) != 0 ||
        (rc = mdb_env_open(env, s->dir, MDB_NOSYNC, 0600)) != 0 ||
        (rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "env", MDB_CREATE, &denv)) != 0 ||
        (rc = mdb_dbi_open(txn, "body", MDB_CREATE, &dbody)) != 0)
        goto fail;
    size_t pending = 0;
    for (size_t i = 0; i < s->n;) {
        size_t j = i;
        while (j < s->n && strcmp(s->v[j].qid, s->v[i].qid) == 0)
            j++;
        /* [i, j): one queue ID; envelopes first, newest first */
        const struct found *e = s->v[i].env ? &s->v[i] : NULL, *b = NULL;
        for (size_t x = i; x < j && e && !b; x++)
            if (body_fits(e, &s->v[x]))
                b = &s->v[x];
        if (e && b) {
            if ((rc = put(s, txn, denv, dbody, e, b)) < 0)
                goto fail_errno;
            (*copied)++;
            if (++pending >= SALVAGE_COMMIT_EVERY) {
                if ((rc = mdb_txn_commit(txn)) != 0 || (rc = mdb_txn_begin(env, NULL, 0, &txn)))
                    goto fail;
                pending = 0;
            }
        } else if (e) {
            keep_corrupt(s, e, "envelope without matching content");
            (*corrupt)++;
        } else {
            keep_corrupt(s, &s->v[i], "content without envelope");
            (*corrupt)++;
        }
        i = j;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0 || (rc = mdb_env_sync(env, 1)) != 0)
        goto fail;
    mdb_env_close(env);
    return 0;
fail:
    rc = queue_store_err(rc);
fail_errno:
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    return rc;
}

/* move_aside - rename data.mdb to data.mdb.damaged-TIMESTAMP, drop lock.mdb */
static int move_aside(const char *dir, const char *path, char *old, size_t oldlen)
{
    char stamp[32], lock[4300];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(old, oldlen, "%s.damaged-%s", path, stamp);
    if (rename(path, old) < 0)
        return -errno;
    snprintf(lock, sizeof(lock), "%s/lock.mdb", dir);
    if (unlink(lock) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* queue_salvage - move the damaged queue file aside and copy what still reads */
int queue_salvage(const struct queue_params *p, FILE *report)
{
    struct salvage s = {.dir = p->directory, .fd = -1, .report = report};
    char path[4200], old[4300] = "";
    size_t map_size = p->map_size ? p->map_size : (size_t)1 << 30;
    size_t copied = 0, corrupt = 0;
    struct stat st;
    int rc;
    snprintf(path, sizeof(path), "%s/data.mdb", s.dir);
    if (stat(path, &st) == 0) {
        if ((rc = move_aside(s.dir, path, old, sizeof(old))) < 0)
            return rc;
        say(&s, "%s moved aside to %s", path, old);
        if ((s.fd = open(old, O_RDONLY | O_CLOEXEC)) < 0)
            return -errno;
        s.fsize = st.st_size;
        if ((size_t)st.st_size > map_size)
            map_size = (size_t)st.st_size;
        if ((rc = scan(&s)) < 0)
            goto done;
        say(&s, "%s: %zu records found on its leaf pages", old, s.n);
    } else if (errno != ENOENT) {
        return -errno;
    } else {
        say(&s, "%s is missing: nothing to copy", path);
    }
    if ((rc = rebuild(&s, map_size, &copied, &corrupt)) < 0)
        goto done;
    queue_check_mark(s.dir);
    say(&s, "new queue: %zu messages; corrupt queue: %zu more records (%s/corrupt)", copied,
        corrupt, s.dir);
done:
    if (rc < 0)
        say(&s, "recover failed: %s", strerror(-rc));
    if (s.fd >= 0)
        close(s.fd);
    free(s.v);
    return rc;
}
