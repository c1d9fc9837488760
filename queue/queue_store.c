/*
 * NAME
 *	queue_store - the queue's LMDB environment and its record format
 * SYNOPSIS
 *	queue_store_open(q);                 // creates queue_directory (0700)
 *	queue_store_put_env(q, txn, m);      // envelope + recipient states
 *	queue_store_put_body(q, txn, qid, data, len);
 *	queue_store_del(q, txn, qid);
 *	queue_store_recover(q);              // rebuild the in-memory schedule
 *	queue_body_load(q, qid, &data, &len);
 * DESCRIPTION
 *	One LMDB environment in queue_directory with two named databases, both
 *	keyed by queue ID: "env" holds the envelope with per-recipient state,
 *	"body" the content. The environment uses the default durable commit
 *	(no MDB_NOSYNC, no MDB_NOMETASYNC) so that a committed transaction is on
 *	stable storage, and MDB_NOTLS because read transactions (body loads)
 *	come from many threads and are not tied to one.
 *
 *	An envelope record is a version byte followed by fixed-width native
 *	integers and length-prefixed strings (length 0xffffffff = NULL):
 *	  u8 version, u8 flags (1 smtputf8, 2 hold), u8 ret, u8 body_type,
 *	  f64 arrival, f64 queued, u64 size, str sender, str envid, str client,
 *	  u32 nrcpt, then per recipient: str addr, str orcpt, u32 notify,
 *	  u8 done, u32 tries, f64 next_try, str dsn, str reason.
 *	The machine that wrote the queue reads it, so native byte order is fine.
 *	A record is decoded only when it is one tern could have written: the
 *	right version and lengths, at least one recipient, ret and body_type
 *	among their values, every time finite and between 1970 and 9999 (a
 *	corrupt time would otherwise reach time_t conversions in `ternctl
 *	queue`). Anything else is -EINVAL, and recovery logs and skips it.
 * DIAGNOSTICS
 *	Functions return 0 or -errno: MDB_MAP_FULL becomes -ENOSPC, other LMDB
 *	errors -EIO, a malformed record -EINVAL.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core_log.h"
#include "core/core_time.h"
#include "queue/queue_impl.h"

#define STR_NULL 0xffffffffu

/* queue_store_err - map an LMDB return code to -errno */
int queue_store_err(int rc)
{
    if (rc == 0)
        return 0;
    if (rc == MDB_MAP_FULL)
        return -ENOSPC;
    if (rc == MDB_NOTFOUND)
        return -ENOENT;
    if (rc > 0) /* LMDB passes the OS's errno through */
        return rc == EDQUOT ? -ENOSPC : -rc;
    return -EIO; /* an LMDB error proper (MDB_CORRUPTED, MDB_TXN_FULL, ...) */
}

/* mkdir_p - create a directory and its parents */
static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* queue_store_open - open (create) the environment and its databases */
int queue_store_open(struct queue *q)
{
    MDB_txn *txn = NULL;
    int rc = mkdir_p(q->directory, 0700);
    if (rc < 0) {
        log_warn("qmgr", "cannot create %s: %s", q->directory, strerror(-rc));
        return rc;
    }
    if ((rc = mdb_env_create(&q->env)) != 0)
        goto fail;
    if ((rc = mdb_env_set_maxdbs(q->env, 4)) != 0 ||
        (rc = mdb_env_set_mapsize(q->env, q->map_size)) != 0 ||
        (rc = mdb_env_set_maxreaders(q->env, 1024)) != 0)
        goto fail;
    if ((rc = mdb_env_open(q->env, q->directory, MDB_NOTLS, 0600)) != 0)
        goto fail;
    if ((rc = mdb_txn_begin(q->env, NULL, 0, &txn)) != 0)
        goto fail;
    if ((rc = mdb_dbi_open(txn, "env", MDB_CREATE, &q->dbi_env)) != 0 ||
        (rc = mdb_dbi_open(txn, "body", MDB_CREATE, &q->dbi_body)) != 0)
        goto fail;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc != 0)
        goto fail;
    /* Reader slots left by a process killed with -9 would pin old pages. */
    int dead = 0;
    mdb_reader_check(q->env, &dead);
    if (dead)
        log_info("qmgr", "%s: cleared %d stale reader slots", q->directory, dead);
    /* Make the directory entry of a newly created data.mdb durable too. */
    int dfd = open(q->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0)
            log_warn("qmgr", "%s: fsync: %s", q->directory, strerror(errno));
        close(dfd);
    }
    return 0;
fail:
    log_warn("qmgr", "%s: cannot open queue: %s", q->directory, mdb_strerror(rc));
    if (txn)
        mdb_txn_abort(txn);
    if (q->env)
        mdb_env_close(q->env);
    q->env = NULL;
    return queue_store_err(rc);
}

/* queue_store_close - close the environment */
void queue_store_close(struct queue *q)
{
    if (q->env)
        mdb_env_close(q->env);
    q->env = NULL;
}

/* Encoding helpers: put_<type> - append one field. */
static int put_u8(struct buf *b, uint8_t v)
{
    return buf_append(b, &v, 1);
}
static int put_u32(struct buf *b, uint32_t v)
{
    return buf_append(b, &v, sizeof(v));
}
static int put_u64(struct buf *b, uint64_t v)
{
    return buf_append(b, &v, sizeof(v));
}
static int put_f64(struct buf *b, double v)
{
    return buf_append(b, &v, sizeof(v));
}
static int put_str(struct buf *b, const char *s)
{
    if (!s)
        return put_u32(b, STR_NULL);
    size_t n = strlen(s);
    int rc = put_u32(b, (uint32_t)n);
    return rc < 0 ? rc : buf_append(b, s, n);
}

/* queue_store_encode - serialise an envelope into b (appended) */
int queue_store_encode(struct buf *b, const struct qmsg *m)
{
    int rc = 0;
    rc |= put_u8(b, QUEUE_REC_VERSION);
    rc |= put_u8(b, (uint8_t)((m->smtputf8 ? 1 : 0) | (m->hold ? 2 : 0)));
    rc |= put_u8(b, (uint8_t)m->ret);
    rc |= put_u8(b, (uint8_t)m->body_type);
    rc |= put_f64(b, m->arrival);
    rc |= put_f64(b, m->queued);
    rc |= put_u64(b, m->size);
    rc |= put_str(b, m->sender);
    rc |= put_str(b, m->envid);
    rc |= put_str(b, m->client);
    rc |= put_u32(b, (uint32_t)m->nrcpt);
    for (size_t i = 0; i < m->nrcpt; i++) {
        const struct qrcpt *r = &m->rcpt[i];
        rc |= put_str(b, r->addr);
        rc |= put_str(b, r->orcpt);
        rc |= put_u32(b, r->notify);
        rc |= put_u8(b, r->state == QR_DONE);
        rc |= put_u32(b, r->tries);
        rc |= put_f64(b, r->next_try);
        rc |= put_str(b, r->dsn);
        rc |= put_str(b, r->reason);
    }
    return rc ? -ENOMEM : 0;
}

/* Decoding cursor. */
struct rd {
    const unsigned char *p, *end;
    bool bad;
};

/* get_raw - take n bytes, or mark the record bad */
static void get_raw(struct rd *r, void *out, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
}
static uint8_t get_u8(struct rd *r)
{
    uint8_t v;
    get_raw(r, &v, 1);
    return v;
}
static uint32_t get_u32(struct rd *r)
{
    uint32_t v;
    get_raw(r, &v, sizeof(v));
    return v;
}
static uint64_t get_u64(struct rd *r)
{
    uint64_t v;
    get_raw(r, &v, sizeof(v));
    return v;
}
static double get_f64(struct rd *r)
{
    double v;
    get_raw(r, &v, sizeof(v));
    return v;
}
/* get_str - a malloc'd string, NULL for a NULL string (or on error: r->bad) */
static char *get_str(struct rd *r)
{
    uint32_t n = get_u32(r);
    if (r->bad || n == STR_NULL)
        return NULL;
    if ((size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->bad = true;
        return NULL;
    }
    memcpy(s, r->p, n);
    s[n] = 0;
    r->p += n;
    return s;
}

/* time_ok - a time this queue could have written (finite, 1970..9999) */
static bool time_ok(double t)
{
    return isfinite(t) && t >= 0 && t < 253402300800.0;
}

/* queue_store_decode - parse an envelope record into a new qmsg */
int queue_store_decode(struct qmsg **out, const char *qid, const void *data, size_t len)
{
    struct rd r = {data, (const unsigned char *)data + len, false};
    struct qmsg *m = qmsg_new();
    if (!m)
        return -ENOMEM;
    snprintf(m->qid, sizeof(m->qid), "%s", qid);
    if (get_u8(&r) != QUEUE_REC_VERSION)
        goto fail;
    uint8_t flags = get_u8(&r);
    m->smtputf8 = flags & 1;
    m->hold = (flags & 2) != 0;
    m->ret = get_u8(&r);
    m->body_type = get_u8(&r);
    m->arrival = get_f64(&r);
    m->queued = get_f64(&r);
    m->size = (size_t)get_u64(&r);
    m->sender = get_str(&r);
    m->envid = get_str(&r);
    m->client = get_str(&r);
    uint32_t n = get_u32(&r);
    if (r.bad || !m->sender || n == 0 || n > (uint32_t)(len / 8))
        goto fail;
    if (m->ret > DSN_RET_HDRS || m->body_type > BODY_8BITMIME || !time_ok(m->arrival) ||
        !time_ok(m->queued))
        goto fail;
    m->rcpt = calloc(n, sizeof(*m->rcpt));
    if (!m->rcpt)
        goto fail;
    m->nrcpt = n;
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        struct qrcpt *rc = &m->rcpt[i];
        rc->addr = get_str(&r);
        rc->orcpt = get_str(&r);
        rc->notify = get_u32(&r);
        rc->state = get_u8(&r) ? QR_DONE : QR_WAITING;
        rc->tries = get_u32(&r);
        rc->next_try = get_f64(&r);
        char *dsn = get_str(&r);
        if (dsn)
            snprintf(rc->dsn, sizeof(rc->dsn), "%s", dsn);
        free(dsn);
        rc->reason = get_str(&r);
        if (!rc->addr || !time_ok(rc->next_try))
            r.bad = true;
        if (rc->state != QR_DONE)
            m->nleft++;
    }
    if (r.bad)
        goto fail;
    *out = m;
    return 0;
fail:
    qmsg_free(m);
    return -EINVAL;
}

/* queue_store_put_env - write a message's envelope record */
int queue_store_put_env(struct queue *q, MDB_txn *txn, const struct qmsg *m)
{
    buf_reset(&q->scratch);
    int rc = queue_store_encode(&q->scratch, m);
    if (rc < 0)
        return rc;
    MDB_val k = {QUEUE_ID_LEN, (void *)m->qid};
    MDB_val v = {buf_used(&q->scratch), buf_ptr(&q->scratch)};
    return queue_store_err(mdb_put(txn, q->dbi_env, &k, &v, 0));
}

/* queue_store_put_body - write a message's content (one copy, into the map) */
int queue_store_put_body(struct queue *q, MDB_txn *txn, const char *qid, const char *data,
                         size_t len)
{
    MDB_val k = {QUEUE_ID_LEN, (void *)qid};
    MDB_val v = {len, NULL};
    int rc = mdb_put(txn, q->dbi_body, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return queue_store_err(rc);
    if (len)
        memcpy(v.mv_data, data, len);
    return 0;
}

/* queue_store_del - remove a message's envelope and content */
int queue_store_del(struct queue *q, MDB_txn *txn, const char *qid)
{
    MDB_val k = {QUEUE_ID_LEN, (void *)qid};
    int rc = mdb_del(txn, q->dbi_env, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return queue_store_err(rc);
    rc = mdb_del(txn, q->dbi_body, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return queue_store_err(rc);
    return 0;
}

/* queue_store_recover - schedule every undelivered recipient found on disk */
int queue_store_recover(struct queue *q)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    double now = time_now();
    size_t nmsg = 0, nrcpt = 0;
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        goto fail;
    if ((rc = mdb_cursor_open(txn, q->dbi_env, &cur)) != 0)
        goto fail;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char qid[QUEUE_ID_LEN + 1];
        struct qmsg *m;
        /* a key that is no queue ID (a NUL, a stray octet) would give a message whose content
         * cannot be found and whose record is rewritten under another key */
        if (!queue_id_valid(k.mv_data, k.mv_size)) {
            log_warn("qmgr", "queue: skipping record with a malformed key");
            continue;
        }
        memcpy(qid, k.mv_data, QUEUE_ID_LEN);
        qid[QUEUE_ID_LEN] = 0;
        int drc = queue_store_decode(&m, qid, v.mv_data, v.mv_size);
        if (drc == -ENOMEM) {
            rc = ENOMEM;
            goto fail;
        }
        if (drc < 0) {
            log_warn("qmgr", "%s: corrupt queue record, skipped", qid);
            continue;
        }
        for (size_t i = 0; i < m->nrcpt; i++)
            if (m->rcpt[i].state != QR_DONE) {
                m->rcpt[i].next_try = now;
                nrcpt++;
            }
        if ((drc = queue_sched_insert(q, m)) < 0) {
            qmsg_free(m);
            rc = ENOMEM;
            goto fail;
        }
        nmsg++;
        if (m->nleft == 0) /* all done but not yet removed: finish the job */
            queue_sched_check_done(q, m);
    }
    if (rc != MDB_NOTFOUND)
        goto fail;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (nmsg)
        log_info("qmgr", "queue recovery: %zu messages, %zu recipients to deliver", nmsg, nrcpt);
    return 0;
fail:
    log_warn("qmgr", "queue recovery failed: %s", mdb_strerror(rc));
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    return queue_store_err(rc);
}

/* queue_body_load - copy message content into *data (malloc'd, NUL-terminated) */
int queue_body_load(struct queue *q, const char *qid, char **data, size_t *len)
{
    MDB_txn *txn = NULL;
    MDB_val k = {QUEUE_ID_LEN, (void *)qid}, v;
    *data = NULL;
    *len = 0;
    if (!qid || strlen(qid) != QUEUE_ID_LEN)
        return -EINVAL;
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return queue_store_err(rc);
    rc = mdb_get(txn, q->dbi_body, &k, &v);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return queue_store_err(rc);
    }
    char *p = malloc(v.mv_size + 1);
    if (!p) {
        mdb_txn_abort(txn);
        return -ENOMEM;
    }
    memcpy(p, v.mv_data, v.mv_size);
    p[v.mv_size] = 0;
    *len = v.mv_size;
    *data = p;
    mdb_txn_abort(txn);
    return 0;
}
