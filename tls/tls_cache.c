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
 *	restart.
 *
 *	Writes: put() and delete() append a copy of the change to an in-memory
 *	queue and return; one writer thread per cache takes the whole queue and
 *	applies it in one write transaction. While it writes, the batch stays
 *	visible to get() as "inflight", and is freed only after the commit, so a
 *	reader always finds an entry in the queue, the batch or the file. The
 *	rejected alternative, a write transaction per put on the worker thread,
 *	put LMDB's writer lock and (with MDB_NOMETASYNC) one fdatasync on every
 *	handshake that saved a session.
 *
 *	Durability: MDB_NOSYNC, and mdb_env_sync() by the writer at most once
 *	per SYNC_MS while something was written, so disk flushes stay bounded
 *	whatever the handshake rate. A system crash may lose the last second of
 *	entries (a full handshake each); with the write order kept by the
 *	filesystem the file stays consistent (LMDB's ACI without D).
 */
#include "tls/tls_cache.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/hash.h"
#include "core/base/log.h"
#include "core/base/time.h"

#define CACHE_FORMAT "tern-tls-cache 1"
#define DEFAULT_MAP_SIZE ((size_t)64 << 20)
#define HDR 8            /* big-endian expiry before each value */
#define SYNC_MS 1000     /* at most one mdb_env_sync() per this */
#define BATCH_GAP_MS 2   /* let a batch gather this long after a commit */
#define DROP_LOG_MS 1000 /* at most one "queue full" warning per this */

static const char *const kind_names[TLS_CACHE_KINDS] = {"client", "server", "ticket-keys", "peers"};

enum { OP_PUT, OP_DEL };

/* One queued change; key then value in data[]. */
struct pending {
    struct pending *prev, *next;
    uint64_t seq;
    uint32_t hash;
    unsigned char op;
    enum tls_cache_kind kind;
    time_t expires;
    size_t klen, vlen;
    unsigned char data[];
};

struct plist {
    struct pending *head, *tail; /* oldest, newest */
};

struct tls_cache {
    MDB_env *env;
    MDB_dbi dbi[TLS_CACHE_KINDS];
    MDB_dbi meta;
    char *path;
    size_t map_size;

    pthread_mutex_t mu;  /* guards everything below but the atomics */
    pthread_cond_t wake; /* writer: work, a flush, stop */
    pthread_cond_t done; /* flushers: a batch was committed */
    int sync_ready;      /* mu and the condvars exist */
    pthread_t writer;
    int writer_running;
    struct plist pending;  /* not yet taken by the writer */
    struct plist inflight; /* being written; freed after the commit */
    size_t pend_count, pend_bytes;
    size_t unwritten[TLS_CACHE_KINDS]; /* pending + inflight, per kind */
    uint64_t last_seq, done_seq;
    int urgent, stop, dirty;
    unsigned long long puts, dropped;
    struct pending **batch; /* the writer's array, TLS_CACHE_PENDING_MAX long */
    atomic_ullong commits, syncs;
};

/* tls_cache_kind_name - "client", "server", "ticket-keys", "peers" */
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
    static const char *const names[] = {"meta", "client", "server", "ticket-keys", "peers"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (k->mv_size == strlen(names[i]) && memcmp(k->mv_data, names[i], k->mv_size) == 0)
            return 1;
    return 0;
}

/* commit - commit a write transaction and count it; MDB code */
static int commit(struct tls_cache *tc, MDB_txn *txn)
{
    int rc = mdb_txn_commit(txn);
    if (rc == 0)
        atomic_fetch_add_explicit(&tc->commits, 1, memory_order_relaxed);
    return rc;
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
    if ((rc = mdb_env_open(tc->env, tc->path, MDB_NOSUBDIR | MDB_NOTLS | MDB_NOSYNC, 0600)) != 0)
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

/* kind_ok - a valid kind with a key LMDB accepts */
static int kind_ok(const struct tls_cache *tc, int kind, size_t klen)
{
    if (kind < 0 || kind >= TLS_CACHE_KINDS || klen == 0)
        return -EINVAL;
    if (klen > (size_t)mdb_env_get_maxkeysize(tc->env))
        return -ENAMETOOLONG;
    return 0;
}

/* pending_new - a queue entry holding copies of key and value */
static struct pending *pending_new(int op, enum tls_cache_kind kind, const void *key, size_t klen,
                                   const void *val, size_t vlen, time_t expires)
{
    struct pending *p = malloc(sizeof(*p) + klen + vlen);
    if (!p)
        return NULL;
    memset(p, 0, sizeof(*p));
    p->op = (unsigned char)op;
    p->kind = kind;
    p->expires = expires;
    p->klen = klen;
    p->vlen = vlen;
    p->hash = hash_fnv32(HASH_FNV32_START, key, klen); /* skips most memcmps */
    memcpy(p->data, key, klen);
    if (vlen)
        memcpy(p->data + klen, val, vlen);
    return p;
}

/* pending_size - what an entry counts against the queue's byte bound */
static size_t pending_size(const struct pending *p)
{
    return sizeof(*p) + p->klen + p->vlen;
}

/* plist_unlink - take p out of l */
static void plist_unlink(struct plist *l, struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        l->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->tail = p->prev;
    p->prev = p->next = NULL;
}

/* plist_append - add p as the newest of l */
static void plist_append(struct plist *l, struct pending *p)
{
    p->next = NULL;
    p->prev = l->tail;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
}

/* plist_free - free a detached list */
static void plist_free(struct plist *l)
{
    struct pending *p, *next;
    for (p = l->head; p; p = next) {
        next = p->next;
        free(p);
    }
    l->head = l->tail = NULL;
}

/* matches - p is about key of kind */
static int matches(const struct pending *p, enum tls_cache_kind kind, const void *key, size_t klen,
                   uint32_t hash)
{
    return p->hash == hash && p->kind == kind && p->klen == klen && memcmp(p->data, key, klen) == 0;
}

/* find_newest - the newest queued change of key, pending first, then inflight; mu held */
static const struct pending *find_newest(const struct tls_cache *tc, enum tls_cache_kind kind,
                                         const void *key, size_t klen, uint32_t hash)
{
    const struct plist *lists[2] = {&tc->pending, &tc->inflight};
    for (int i = 0; i < 2; i++)
        for (const struct pending *p = lists[i]->tail; p; p = p->prev)
            if (matches(p, kind, key, klen, hash))
                return p;
    return NULL;
}

/* drop_pending - move a pending (not inflight) entry to the garbage list; mu held */
static void drop_pending(struct tls_cache *tc, struct pending *p, struct plist *garbage)
{
    plist_unlink(&tc->pending, p);
    tc->pend_count--;
    tc->pend_bytes -= pending_size(p);
    tc->unwritten[p->kind]--;
    plist_append(garbage, p);
}

/* enqueue - append p, dropping the oldest entries when full; mu held */
static void enqueue(struct tls_cache *tc, struct pending *p, struct plist *garbage)
{
    size_t size = pending_size(p);
    while (tc->pending.head && (tc->pend_count >= TLS_CACHE_PENDING_MAX ||
                                tc->pend_bytes + size > TLS_CACHE_PENDING_BYTES)) {
        drop_pending(tc, tc->pending.head, garbage);
        tc->dropped++;
    }
    int was_empty = tc->pending.head == NULL;
    p->seq = ++tc->last_seq;
    plist_append(&tc->pending, p);
    tc->pend_count++;
    tc->pend_bytes += size;
    tc->unwritten[p->kind]++;
    /* a writer with work already waits only for the batch gap */
    if (was_empty)
        pthread_cond_signal(&tc->wake);
}

/* apply - one queued change inside txn; MDB code */
static int apply(struct tls_cache *tc, MDB_txn *txn, const struct pending *p)
{
    MDB_val k = {p->klen, (void *)p->data}, v = {p->vlen + HDR, NULL};
    int rc;
    if (p->op == OP_DEL) {
        rc = mdb_del(txn, tc->dbi[p->kind], &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    if ((rc = mdb_put(txn, tc->dbi[p->kind], &k, &v, MDB_RESERVE)) != 0)
        return rc;
    put_be64(v.mv_data, (uint64_t)p->expires);
    memcpy((unsigned char *)v.mv_data + HDR, p->data + p->klen, p->vlen);
    return 0;
}

/* write_range - batch[from..to) in one transaction; MDB code, *bad where it failed */
static int write_range(struct tls_cache *tc, struct pending **batch, size_t from, size_t to,
                       size_t *bad)
{
    MDB_txn *txn;
    int rc;
    *bad = from;
    if ((rc = mdb_txn_begin(tc->env, NULL, 0, &txn)) != 0)
        return rc;
    for (size_t i = from; i < to; i++)
        if ((rc = apply(tc, txn, batch[i])) != 0) {
            mdb_txn_abort(txn);
            *bad = i;
            return rc;
        }
    if ((rc = commit(tc, txn)) != 0) /* the txn is gone; retry the first half */
        *bad = to - from > 1 ? from + (to - from) / 2 : from;
    return rc;
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
    return commit(tc, txn);
fail:
    if (cur)
        mdb_cursor_close(cur);
    free(when);
    mdb_txn_abort(txn);
    return rc;
}

/* sweep_txn - delete every entry expired at now in one transaction; count or -errno */
static int sweep_txn(struct tls_cache *tc, time_t now)
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
    if ((rc = commit(tc, txn)) != 0)
        return mdb_errno(tc, "sweep", rc);
    return deleted;
fail:
    mdb_txn_abort(txn);
    return mdb_errno(tc, "sweep", rc);
}

/* make_room - after MDB_MAP_FULL: expired entries, then the older half of a kind */
static void make_room(struct tls_cache *tc, enum tls_cache_kind kind, int attempt)
{
    if (attempt == 0 && sweep_txn(tc, time(NULL)) > 0)
        return;
    if (evict_older_half(tc, kind) != MDB_NOTFOUND)
        return;
    /* this kind has nothing to give: the others do */
    for (int i = 0; i < TLS_CACHE_KINDS; i++)
        if (i != (int)kind)
            evict_older_half(tc, (enum tls_cache_kind)i);
}

/* write_batch - apply n queued changes in as few transactions as the map allows */
static void write_batch(struct tls_cache *tc, struct pending **batch, size_t n)
{
    size_t pos = 0, end = n, bad;
    int attempt = 0;

    while (pos < n) {
        int rc = write_range(tc, batch, pos, end, &bad);
        if (rc == 0) {
            pos = end;
            end = n;
            attempt = 0;
            continue;
        }
        if (bad > pos) { /* commit what fit, then deal with the entry that did not */
            end = bad;
            continue;
        }
        if (rc == MDB_MAP_FULL && attempt < 2) {
            make_room(tc, batch[pos]->kind, attempt++);
            end = n;
            continue;
        }
        log_warn("tls", "session cache %s: cannot store a %s entry: %s", tc->path,
                 kind_names[batch[pos]->kind], mdb_strerror(rc));
        pos++;
        end = n;
        attempt = 0;
    }
}

/* timed_wait - wait on wake until the monotonic deadline (ms); mu held */
static void timed_wait(struct tls_cache *tc, uint64_t deadline_ms)
{
    struct timespec ts = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000L};
    pthread_cond_timedwait(&tc->wake, &tc->mu, &ts);
}

/* writer_main - the writer thread: batches, periodic syncs, drain on stop */
static void *writer_main(void *arg)
{
    struct tls_cache *tc = arg;
    uint64_t last_commit = 0, last_sync = time_mono_ms(), last_drop_log = 0;
    unsigned long long logged_drops = 0;

    pthread_mutex_lock(&tc->mu);
    for (;;) {
        uint64_t now = time_mono_ms();
        if (tc->pending.head) {
            if (!tc->urgent && !tc->stop && now < last_commit + BATCH_GAP_MS) {
                timed_wait(tc, last_commit + BATCH_GAP_MS);
                continue;
            }
            /* take everything; it stays visible to get() as inflight */
            size_t n = 0;
            for (struct pending *p = tc->pending.head; p; p = p->next)
                tc->batch[n++] = p;
            tc->inflight = tc->pending;
            tc->pending.head = tc->pending.tail = NULL;
            tc->pend_count = tc->pend_bytes = 0;
            tc->urgent = 0;
            uint64_t seq = tc->inflight.tail->seq;
            pthread_mutex_unlock(&tc->mu);

            write_batch(tc, tc->batch, n);

            pthread_mutex_lock(&tc->mu);
            struct plist done = tc->inflight;
            tc->inflight.head = tc->inflight.tail = NULL;
            for (struct pending *p = done.head; p; p = p->next)
                tc->unwritten[p->kind]--;
            tc->done_seq = seq;
            tc->dirty = 1;
            pthread_cond_broadcast(&tc->done);
            unsigned long long drops = tc->dropped;
            pthread_mutex_unlock(&tc->mu);
            plist_free(&done);
            last_commit = time_mono_ms();
            if (drops != logged_drops && last_commit >= last_drop_log + DROP_LOG_MS) {
                log_warn("tls",
                         "session cache %s: write queue full, dropped %llu entries (%llu in all)",
                         tc->path, drops - logged_drops, drops);
                logged_drops = drops;
                last_drop_log = last_commit;
            }
            pthread_mutex_lock(&tc->mu);
            continue;
        }
        if (tc->dirty && (tc->stop || now >= last_sync + SYNC_MS)) {
            tc->dirty = 0;
            pthread_mutex_unlock(&tc->mu);
            int rc = mdb_env_sync(tc->env, 1);
            if (rc != 0)
                log_warn("tls", "session cache %s: sync: %s", tc->path, mdb_strerror(rc));
            atomic_fetch_add_explicit(&tc->syncs, 1, memory_order_relaxed);
            last_sync = time_mono_ms();
            pthread_mutex_lock(&tc->mu);
            continue;
        }
        if (tc->stop)
            break;
        if (tc->dirty)
            timed_wait(tc, last_sync + SYNC_MS);
        else
            pthread_cond_wait(&tc->wake, &tc->mu);
    }
    pthread_mutex_unlock(&tc->mu);
    return NULL;
}

/* sync_init - mutex and condvars (the writer's on the monotonic clock); 0 or -errno */
static int sync_init(struct tls_cache *tc)
{
    pthread_condattr_t attr;
    int rc;
    if ((rc = pthread_condattr_init(&attr)) != 0)
        return -rc;
    if ((rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0)
        goto out;
    if ((rc = pthread_mutex_init(&tc->mu, NULL)) != 0)
        goto out;
    if ((rc = pthread_cond_init(&tc->wake, &attr)) != 0) {
        pthread_mutex_destroy(&tc->mu);
        goto out;
    }
    if ((rc = pthread_cond_init(&tc->done, NULL)) != 0) {
        pthread_cond_destroy(&tc->wake);
        pthread_mutex_destroy(&tc->mu);
        goto out;
    }
    tc->sync_ready = 1;
out:
    pthread_condattr_destroy(&attr);
    return -rc;
}

/* tls_cache_open - open or create; map_size 0 means 64 MiB */
int tls_cache_open(struct tls_cache **out, const char *path, size_t map_size)
{
    struct tls_cache *tc;
    int rc;

    *out = NULL;
    if (!path || !*path)
        return -EINVAL;
    if (!(tc = calloc(1, sizeof(*tc))) || !(tc->path = strdup(path)) ||
        !(tc->batch = calloc(TLS_CACHE_PENDING_MAX, sizeof(*tc->batch)))) {
        if (tc)
            free(tc->path);
        free(tc);
        return -ENOMEM;
    }
    tc->map_size = map_size ? map_size : DEFAULT_MAP_SIZE;
    if ((rc = sync_init(tc)) < 0)
        goto fail;
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
    if ((rc = pthread_create(&tc->writer, NULL, writer_main, tc)) != 0) {
        log_warn("tls", "session cache %s: cannot start the writer thread: %s", tc->path,
                 strerror(rc));
        rc = -rc;
        goto fail;
    }
    tc->writer_running = 1;
    *out = tc;
    return 0;
fail:
    tls_cache_close(tc);
    return rc;
}

/* tls_cache_close - drain the queue, stop the writer, close; NULL is fine */
void tls_cache_close(struct tls_cache *tc)
{
    if (!tc)
        return;
    if (tc->writer_running) {
        pthread_mutex_lock(&tc->mu);
        tc->stop = 1;
        pthread_cond_signal(&tc->wake);
        pthread_mutex_unlock(&tc->mu);
        pthread_join(tc->writer, NULL);
    }
    env_teardown(tc);
    plist_free(&tc->pending); /* empty unless the writer never ran */
    if (tc->sync_ready) {
        pthread_cond_destroy(&tc->done);
        pthread_cond_destroy(&tc->wake);
        pthread_mutex_destroy(&tc->mu);
    }
    free(tc->batch);
    free(tc->path);
    free(tc);
}

/* tls_cache_flush - wait until everything queued before the call is committed */
int tls_cache_flush(struct tls_cache *tc)
{
    if (!tc)
        return -EINVAL;
    pthread_mutex_lock(&tc->mu);
    uint64_t target = tc->last_seq;
    if (tc->done_seq < target) {
        tc->urgent = 1;
        pthread_cond_signal(&tc->wake);
    }
    while (tc->done_seq < target && (tc->pending.head || tc->inflight.head))
        pthread_cond_wait(&tc->done, &tc->mu);
    pthread_mutex_unlock(&tc->mu);
    return 0;
}

/* mark_dirty - a write outside the writer: let the writer sync it in time; mu not held */
static void mark_dirty(struct tls_cache *tc)
{
    pthread_mutex_lock(&tc->mu);
    tc->dirty = 1;
    pthread_cond_signal(&tc->wake);
    pthread_mutex_unlock(&tc->mu);
}

/* tls_cache_put - queue (replace) one entry with its expiry; never touches the disk */
int tls_cache_put(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen,
                  const void *val, size_t vlen, time_t expires)
{
    struct plist garbage = {0};
    struct pending *p;
    int rc;
    if ((rc = kind_ok(tc, kind, klen)) < 0)
        return rc;
    if (klen + vlen + sizeof(*p) > TLS_CACHE_PENDING_BYTES)
        return -ENOSPC;
    if (!(p = pending_new(OP_PUT, kind, key, klen, val, vlen, expires)))
        return -ENOMEM;
    pthread_mutex_lock(&tc->mu);
    enqueue(tc, p, &garbage);
    tc->puts++;
    pthread_mutex_unlock(&tc->mu);
    plist_free(&garbage);
    return 0;
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
    /* the queue first: its newest change of this key wins over the file */
    uint32_t hash = hash_fnv32(HASH_FNV32_START, key, klen);
    pthread_mutex_lock(&tc->mu);
    const struct pending *p = find_newest(tc, kind, key, klen, hash);
    if (p) {
        if (p->op == OP_DEL || p->expires <= now) {
            rc = -ENOENT;
        } else {
            rc = buf_append(val, p->data + p->klen, p->vlen) < 0 ? -ENOMEM : 0;
            if (rc == 0 && expires)
                *expires = p->expires;
        }
    }
    pthread_mutex_unlock(&tc->mu);
    if (p)
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

/* tls_cache_delete - remove one entry (queued like a put); -ENOENT if absent */
int tls_cache_delete(struct tls_cache *tc, enum tls_cache_kind kind, const void *key, size_t klen)
{
    struct plist garbage = {0};
    struct pending *tomb, *p, *prev;
    MDB_txn *txn;
    MDB_val k = {klen, (void *)key}, v;
    int rc;
    if ((rc = kind_ok(tc, kind, klen)) < 0)
        return rc;
    if (!(tomb = pending_new(OP_DEL, kind, key, klen, NULL, 0, 0)))
        return -ENOMEM;
    pthread_mutex_lock(&tc->mu);
    const struct pending *newest = find_newest(tc, kind, key, klen, tomb->hash);
    if (newest) {
        if (newest->op == OP_DEL) {
            pthread_mutex_unlock(&tc->mu);
            free(tomb);
            return -ENOENT;
        }
        /* queued puts of this key need not reach the file at all */
        for (p = tc->pending.tail; p; p = prev) {
            prev = p->prev;
            if (matches(p, kind, key, klen, tomb->hash))
                drop_pending(tc, p, &garbage);
        }
        enqueue(tc, tomb, &garbage); /* an inflight put or the file may still have it */
        pthread_mutex_unlock(&tc->mu);
        plist_free(&garbage);
        return 0;
    }
    pthread_mutex_unlock(&tc->mu);
    /* not queued: the file says whether it exists */
    if ((rc = mdb_txn_begin(tc->env, NULL, MDB_RDONLY, &txn)) != 0) {
        free(tomb);
        return mdb_errno(tc, "delete", rc);
    }
    rc = mdb_get(txn, tc->dbi[kind], &k, &v);
    mdb_txn_abort(txn);
    if (rc != 0) {
        free(tomb);
        return mdb_errno(tc, "delete", rc);
    }
    pthread_mutex_lock(&tc->mu);
    enqueue(tc, tomb, &garbage);
    pthread_mutex_unlock(&tc->mu);
    plist_free(&garbage);
    return 0;
}

/* tls_cache_sweep - delete every entry expired at now; returns the number deleted */
int tls_cache_sweep(struct tls_cache *tc, time_t now)
{
    tls_cache_flush(tc);
    int rc = sweep_txn(tc, now);
    if (rc > 0)
        mark_dirty(tc);
    return rc;
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
    /* queued changes of this kind reach the file first; none queued, no wait */
    pthread_mutex_lock(&tc->mu);
    int queued = tc->unwritten[kind] > 0;
    pthread_mutex_unlock(&tc->mu);
    if (queued)
        tls_cache_flush(tc);
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
    tls_cache_flush(tc);
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
    if ((rc = commit(tc, txn)) != 0)
        return mdb_errno(tc, "purge", rc);
    mark_dirty(tc);
    return n;
}

/* tls_cache_stats - counters since open */
void tls_cache_stats(struct tls_cache *tc, struct tls_cache_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!tc)
        return;
    pthread_mutex_lock(&tc->mu);
    st->puts = tc->puts;
    st->dropped = tc->dropped;
    for (int i = 0; i < TLS_CACHE_KINDS; i++)
        st->unwritten += tc->unwritten[i];
    pthread_mutex_unlock(&tc->mu);
    st->commits = atomic_load_explicit(&tc->commits, memory_order_relaxed);
    st->syncs = atomic_load_explicit(&tc->syncs, memory_order_relaxed);
}
