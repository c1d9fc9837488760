/*
 * NAME
 *	queue_store - the queue's LMDB environment and its record format
 * SYNOPSIS
 *	queue_store_open(q);                 // creates queue_directory (0700)
 *	queue_store_put_env(q, txn, m);      // envelope + recipient states
 *	queue_store_put_body(q, txn, qid, data, len);
 *	queue_store_del(q, txn, qid);
 *	queue_store_recover(q);              // rebuild the in-memory schedule
 *	queue_store_body_load(q, qid, &data, &len);
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
 *	  u8 version, u8 flags (1 smtputf8, 2 hold, 4 body CRC, 8 requiretls,
 *	  16 tls_optional),
 *	  u8 ret, u8 body_type,
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

#include "core/base/dir.h"
#include "core/base/log.h"
#include "core/base/time.h"
#include "queue/queue_impl.h"

#define STR_NULL 0xffffffffu

static int queue_store_put_env_flags(struct queue *q, MDB_txn *txn, const struct qmsg *m,
                                     unsigned flags);

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

/* queue_store_open - open (create) the environment and its databases */
int queue_store_open(struct queue *q)
{
    MDB_txn *txn = NULL;
    int rc = dir_make(q->directory, 0700);
    if (rc < 0) {
        log_warn("qmgr", "cannot create %s: %s", q->directory, strerror(-rc));
        return rc;
    }
    if ((rc = queue_check_file(q->directory, q->map_size)) < 0)
        return rc; /* logged */
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
    if ((rc = queue_check_mark(q->directory)) < 0)
        log_warn("qmgr", "%s/%s: %s", q->directory, QUEUE_MARKER, strerror(-rc));
    /* Make the directory entry of a newly created data.mdb (and the marker) durable too. */
    if ((rc = dir_sync(q->directory)) < 0)
        log_warn("qmgr", "%s: fsync: %s", q->directory, strerror(-rc));
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
    size_t start = buf_used(b);
    int rc = 0;
    rc |= put_u8(b, QUEUE_REC_VERSION);
    rc |= put_u8(b, (uint8_t)((m->smtputf8 ? 1 : 0) | (m->hold ? 2 : 0) |
                              (m->has_body_crc ? QUEUE_FLAG_BODY_CRC : 0) |
                              (m->requiretls ? QUEUE_FLAG_REQUIRETLS : 0) |
                              (m->tls_optional ? QUEUE_FLAG_TLS_OPTIONAL : 0)));
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
    rc |= put_u32(b, m->body_crc);
    if (rc)
        return -ENOMEM;
    return put_u32(b, queue_crc32c(0, buf_ptr(b) + start, buf_used(b) - start)) < 0 ? -ENOMEM : 0;
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
    int version = queue_store_check(data, len);
    if (version < 0)
        return version;
    if (version == QUEUE_REC_VERSION)
        r.end -= 4; /* the record's own CRC, checked */
    struct qmsg *m = queue_msg_queued_new();
    if (!m)
        return -ENOMEM;
    snprintf(m->qid, sizeof(m->qid), "%s", qid);
    get_u8(&r);
    uint8_t flags = get_u8(&r);
    m->smtputf8 = flags & 1;
    m->hold = (flags & 2) != 0;
    m->requiretls = (flags & QUEUE_FLAG_REQUIRETLS) != 0;
    m->tls_optional = (flags & QUEUE_FLAG_TLS_OPTIONAL) != 0;
    m->has_body_crc = version == QUEUE_REC_VERSION && (flags & QUEUE_FLAG_BODY_CRC);
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
    if (version == QUEUE_REC_VERSION) {
        m->body_crc = get_u32(&r);
        if (r.p != r.end) /* trailing bytes: not a record this version writes */
            r.bad = true;
    }
    if (r.bad)
        goto fail;
    *out = m;
    return 0;
fail:
    queue_msg_queued_free(m);
    return -EINVAL;
}

/* queue_store_check - the version of an envelope record whose own CRC holds, or -errno */
int queue_store_check(const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len < 1)
        return -EINVAL;
    if (p[0] == QUEUE_REC_VERSION_1)
        return QUEUE_REC_VERSION_1; /* written before records had checksums */
    if (p[0] != QUEUE_REC_VERSION)
        return -EPROTO; /* a later tern's queue, or damage */
    uint32_t crc;
    if (len < 5)
        return -EINVAL;
    memcpy(&crc, p + len - 4, 4);
    return queue_crc32c(0, p, len - 4) == crc ? QUEUE_REC_VERSION : -EBADMSG;
}

/* queue_store_body_crc - the content CRC an envelope record carries: 1, 0 if none, -errno */
static int queue_store_body_crc(const void *data, size_t len, uint32_t *crc)
{
    const unsigned char *p = data;
    int version = queue_store_check(data, len);
    if (version < 0)
        return version;
    if (version != QUEUE_REC_VERSION || len < 10 || !(p[1] & QUEUE_FLAG_BODY_CRC))
        return 0;
    memcpy(crc, p + len - 8, 4);
    return 1;
}

/* queue_store_put_new - write a new message (envelope and content); never replaces one */
int queue_store_put_new(struct queue *q, MDB_txn *txn, struct qmsg *m, const char *data, size_t len)
{
    m->body_crc = queue_crc32c(0, data, len);
    m->has_body_crc = true;
    int rc = queue_store_put_env_flags(q, txn, m, MDB_NOOVERWRITE);
    return rc < 0 ? rc : queue_store_put_body(q, txn, m->qid, data, len);
}

/* queue_store_put_env - rewrite a message's envelope record */
int queue_store_put_env(struct queue *q, MDB_txn *txn, const struct qmsg *m)
{
    return queue_store_put_env_flags(q, txn, m, 0);
}

/* queue_store_put_env_flags - write an envelope record with mdb_put flags */
static int queue_store_put_env_flags(struct queue *q, MDB_txn *txn, const struct qmsg *m,
                                     unsigned flags)
{
    buf_reset(&q->scratch);
    int rc = queue_store_encode(&q->scratch, m);
    if (rc < 0)
        return rc;
    MDB_val k = {QUEUE_ID_LEN, (void *)m->qid};
    MDB_val v = {buf_used(&q->scratch), buf_ptr(&q->scratch)};
    rc = mdb_put(txn, q->dbi_env, &k, &v, flags);
    if (rc == MDB_KEYEXIST) {
        log_warn("qmgr", "%s: queue ID already in use: not overwritten", m->qid);
        return -EEXIST;
    }
    return queue_store_err(rc);
}

/* queue_store_put_body - write a message's content (one copy, into the map) */
int queue_store_put_body(struct queue *q, MDB_txn *txn, const char *qid, const char *data,
                         size_t len)
{
    MDB_val k = {QUEUE_ID_LEN, (void *)qid};
    MDB_val v = {len, NULL};
    int rc = mdb_put(txn, q->dbi_body, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return -EEXIST;
    if (rc != 0)
        return queue_store_err(rc);
    if (len)
        memcpy(v.mv_data, data, len);
    return 0;
}

/* queue_store_room - -ENOSPC when txn's pages reach into the map's reserve (for the queue's own
 * changes: removals need new pages too, and a map filled by new mail could not even delete) */
int queue_store_room(struct queue *q, MDB_txn *txn)
{
    MDB_stat st;
    size_t pages = 0, psize = 4096;
    MDB_dbi dbis[] = {0, 1, q->dbi_env, q->dbi_body}; /* free list, main, env, body */
    for (size_t i = 0; i < sizeof(dbis) / sizeof(dbis[0]); i++) {
        if (mdb_stat(txn, dbis[i], &st) != 0)
            return 0; /* cannot tell: let LMDB say */
        pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
        psize = st.ms_psize;
    }
    size_t reserve = q->map_size / 20;
    if (reserve < QUEUE_MAP_RESERVE_MIN)
        reserve = QUEUE_MAP_RESERVE_MIN;
    if (reserve > QUEUE_MAP_RESERVE_MAX)
        reserve = QUEUE_MAP_RESERVE_MAX;
    return pages * psize + reserve > q->map_size ? -ENOSPC : 0;
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

/* recover_why - the log text for a record that failed to decode */
static const char *recover_why(int drc)
{
    switch (drc) {
    case -EBADMSG:
        return "envelope checksum mismatch";
    case -EPROTO:
        return "unknown record version";
    default:
        return "malformed envelope record";
    }
}

/* recover_body_ok - does the content of m (when it carries a CRC) match it? */
static bool recover_body_ok(struct queue *q, MDB_txn *txn, const struct qmsg *m)
{
    MDB_val k = {QUEUE_ID_LEN, (void *)m->qid}, v;
    if (mdb_get(txn, q->dbi_body, &k, &v) != 0)
        return false;
    return !m->has_body_crc || queue_crc32c(0, v.mv_data, v.mv_size) == m->body_crc;
}

/* recover_drop - delete the quarantined keys from the live queue, in one commit */
static int recover_drop(struct queue *q, struct buf *keys, size_t n)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin(q->env, NULL, 0, &txn);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const unsigned char *p = (const unsigned char *)buf_ptr(keys) + i * (QUEUE_ID_LEN + 1);
        MDB_val k = {p[0], (void *)(p + 1)};
        int r1 = mdb_del(txn, q->dbi_env, &k, NULL);
        int r2 = mdb_del(txn, q->dbi_body, &k, NULL);
        rc = r1 != 0 && r1 != MDB_NOTFOUND ? r1 : r2 != 0 && r2 != MDB_NOTFOUND ? r2 : 0;
    }
    if (rc == 0)
        return queue_store_err(mdb_txn_commit(txn));
    if (txn)
        mdb_txn_abort(txn);
    return queue_store_err(rc);
}

/* queue_store_recover - schedule every undelivered recipient found on disk */
int queue_store_recover(struct queue *q)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    double now = time_now();
    size_t nmsg = 0, nrcpt = 0, nbad = 0;
    struct buf bad = BUF_INIT; /* keys to drop: u8 length, then up to 16 octets each */
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        goto fail;
    if ((rc = mdb_cursor_open(txn, q->dbi_env, &cur)) != 0)
        goto fail;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char qid[QUEUE_ID_LEN + 1];
        struct qmsg *m = NULL;
        const char *why = NULL;
        /* a key that is no queue ID (a NUL, a stray octet) would give a message whose content
         * cannot be found and whose record is rewritten under another key */
        if (!queue_id_valid(k.mv_data, k.mv_size)) {
            why = "malformed key";
        } else {
            memcpy(qid, k.mv_data, QUEUE_ID_LEN);
            qid[QUEUE_ID_LEN] = 0;
            queue_id_floor(qid); /* a clock stepped back since: new IDs still sort after it */
            int drc = queue_store_decode(&m, qid, v.mv_data, v.mv_size);
            if (drc == -ENOMEM) {
                rc = ENOMEM;
                goto fail;
            }
            if (drc < 0)
                why = recover_why(drc);
            else if (m->nleft && !recover_body_ok(q, txn, m))
                why = "content missing or checksum mismatch";
        }
        if (why) {
            queue_msg_queued_free(m);
            /* kept for the operator, then dropped from the live queue: never a crash loop */
            if (queue_corrupt_save(q, txn, k.mv_data, k.mv_size, why) == 0) {
                size_t kl = k.mv_size < QUEUE_ID_LEN ? k.mv_size : QUEUE_ID_LEN;
                unsigned char ent[QUEUE_ID_LEN + 1] = {(unsigned char)kl};
                memcpy(ent + 1, k.mv_data, kl);
                if (k.mv_size <= QUEUE_ID_LEN && buf_append(&bad, ent, sizeof(ent)) == 0)
                    nbad++;
            }
            continue;
        }
        /* The saved schedule holds: a restart does not retry the deferred queue at once. A
         * next try further off than the longest backoff (a clock that stepped back since) is
         * brought in. */
        for (size_t i = 0; i < m->nrcpt; i++)
            if (m->rcpt[i].state != QR_DONE) {
                if (m->rcpt[i].next_try > now + q->max_backoff)
                    m->rcpt[i].next_try = now + q->max_backoff;
                nrcpt++;
            }
        if (queue_sched_insert(q, m) < 0) {
            queue_msg_queued_free(m);
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
    cur = NULL;
    mdb_txn_abort(txn);
    txn = NULL;
    if (nbad && (rc = recover_drop(q, &bad, nbad)) < 0) {
        log_warn("qmgr", "queue recovery: cannot remove corrupt records: %s", strerror(-rc));
        buf_free(&bad);
        return rc;
    }
    buf_free(&bad);
    if (nmsg || nbad)
        log_info("qmgr", "queue recovery: %zu messages, %zu recipients to deliver, %zu corrupt",
                 nmsg, nrcpt, nbad);
    return 0;
fail:
    log_warn("qmgr", "queue recovery failed: %s", mdb_strerror(rc));
    buf_free(&bad);
    if (cur)
        mdb_cursor_close(cur);
    if (txn)
        mdb_txn_abort(txn);
    return queue_store_err(rc);
}

/* queue_store_body_load - copy message content into *data (malloc'd, NUL-terminated), verified */
int queue_store_body_load(struct queue *q, const char *qid, char **data, size_t *len)
{
    MDB_txn *txn = NULL;
    MDB_val k = {QUEUE_ID_LEN, (void *)qid}, v, e;
    uint32_t want = 0;
    *data = NULL;
    *len = 0;
    if (!qid || strlen(qid) != QUEUE_ID_LEN)
        return -EINVAL;
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return queue_store_err(rc);
    int has = 0;
    if ((rc = mdb_get(txn, q->dbi_env, &k, &e)) == 0)
        has = queue_store_body_crc(e.mv_data, e.mv_size, &want);
    if (rc != 0 || (rc = mdb_get(txn, q->dbi_body, &k, &v)) != 0) {
        mdb_txn_abort(txn);
        return queue_store_err(rc);
    }
    if (has < 0 || (has == 1 && queue_crc32c(0, v.mv_data, v.mv_size) != want)) {
        mdb_txn_abort(txn);
        queue_corrupt_report(q, qid,
                             has < 0 ? "envelope checksum mismatch" : "content checksum mismatch");
        return -EBADMSG;
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
