/*
 * NAME
 *	tls_cache_writer - the TLS cache's writer thread
 * DESCRIPTION
 *	One thread per cache, started by tls_cache_open() and drained and
 *	stopped by tls_cache_close(). It takes everything queued (letting a
 *	batch gather BATCH_GAP_MS after a commit unless a flush is waiting),
 *	applies it in as few write transactions as the map allows, then marks
 *	the batch done for tls_cache_flush(). When the map is full it asks
 *	tls_cache_evict.c for room and retries; an entry that still does not
 *	fit is logged and skipped.
 *
 *	Durability: MDB_NOSYNC, and mdb_env_sync() here at most once per
 *	SYNC_MS while something was written, so disk flushes stay bounded
 *	whatever the handshake rate. A system crash may lose the last second of
 *	entries (a full handshake each); with the write order kept by the
 *	filesystem the file stays consistent (LMDB's ACI without D).
 * DIAGNOSTICS
 *	Nothing is returned: failed writes and syncs are logged, and dropped
 *	queue entries are reported at most once per DROP_LOG_MS.
 */
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/time.h"
#include "tls/tls_cache_impl.h"

#define SYNC_MS 1000     /* at most one mdb_env_sync() per this */
#define BATCH_GAP_MS 2   /* let a batch gather this long after a commit */
#define DROP_LOG_MS 1000 /* at most one "queue full" warning per this */

/* apply - one queued change inside txn; MDB code */
static int apply(struct tls_cache *tc, MDB_txn *txn, const struct pending *p)
{
    MDB_val k = {p->klen, (void *)p->data}, v = {p->vlen + TLS_CACHE_HDR, NULL};
    int rc;
    if (p->op == OP_DEL) {
        rc = mdb_del(txn, tc->dbi[p->kind], &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    if ((rc = mdb_put(txn, tc->dbi[p->kind], &k, &v, MDB_RESERVE)) != 0)
        return rc;
    tls_cache_file_set_expiry(v.mv_data, p->expires);
    memcpy((unsigned char *)v.mv_data + TLS_CACHE_HDR, p->data + p->klen, p->vlen);
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
    if (tls_cache_file_over_budget(tc, txn)) { /* as if the map were full: keep room to delete */
        mdb_txn_abort(txn);
        rc = MDB_MAP_FULL;
    } else {
        rc = tls_cache_file_commit(tc, txn);
    }
    if (rc != 0) /* the txn is gone; retry the first half */
        *bad = to - from > 1 ? from + (to - from) / 2 : from;
    return rc;
}

/* chunk_end - where a transaction starting at pos ends: txn_max changes at most */
static size_t chunk_end(const struct tls_cache *tc, size_t pos, size_t n)
{
    return n - pos > tc->txn_max ? pos + tc->txn_max : n;
}

/* write_batch - apply n queued changes in transactions of at most txn_max that the map allows */
static void write_batch(struct tls_cache *tc, struct pending **batch, size_t n)
{
    size_t pos = 0, end = chunk_end(tc, 0, n), bad;
    int attempt = 0;

    while (pos < n) {
        int rc = write_range(tc, batch, pos, end, &bad);
        if (rc == 0) {
            pos = end;
            end = chunk_end(tc, pos, n);
            attempt = 0;
            continue;
        }
        if (bad > pos) { /* commit what fit, then deal with the entry that did not */
            end = bad;
            continue;
        }
        /* up to three evictions: the expired entries (which may be too few), an older half,
         * and another half when the entries of this batch still do not fit in the budget */
        if (rc == MDB_MAP_FULL && attempt < 3) {
            tls_cache_evict_make_room(tc, batch[pos]->kind, attempt++);
            end = chunk_end(tc, pos, n);
            continue;
        }
        log_warn("tls", "session cache %s: cannot store a %s entry: %s", tc->path,
                 tls_cache_kind_name(batch[pos]->kind), mdb_strerror(rc));
        pos++;
        end = chunk_end(tc, pos, n);
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
            tls_cache_queue_free(&done);
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

/* tls_cache_writer_start - start the writer thread; 0 or -errno (logged) */
int tls_cache_writer_start(struct tls_cache *tc)
{
    int rc = pthread_create(&tc->writer, NULL, writer_main, tc);
    if (rc != 0) {
        log_warn("tls", "session cache %s: cannot start the writer thread: %s", tc->path,
                 strerror(rc));
        return -rc;
    }
    tc->writer_running = 1;
    return 0;
}

/* tls_cache_writer_stop - let the writer drain the queue and sync, then join it; not started:
 * nothing */
void tls_cache_writer_stop(struct tls_cache *tc)
{
    if (!tc->writer_running)
        return;
    pthread_mutex_lock(&tc->mu);
    tc->stop = 1;
    pthread_cond_signal(&tc->wake);
    pthread_mutex_unlock(&tc->mu);
    pthread_join(tc->writer, NULL);
    tc->writer_running = 0;
}
