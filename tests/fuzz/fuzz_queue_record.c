/*
 * NAME
 *	fuzz_queue_record - libFuzzer target: corrupt queue records read back from disk
 * DESCRIPTION
 *	A queue is opened once (queue_open on a scratch directory, the thread
 *	never started). Each input is one to four LMDB records - a key (16
 *	octets, sometimes 15 or 17) and a value, lengths decided from the back
 *	- written into the envelope database as a crash, a bad disk or another
 *	program might have left them, each with the content "x" (records of
 *	the current version get their CRC-32C fixed up, or nearly every input
 *	would stop there). Then what ternd does at start-up and
 *	after: queue_store_recover() decodes and schedules them, the records
 *	are listed and shown as `ternctl queue` / `ternctl show` do (the
 *	queue's snapshot, then queueview's text of it), every
 *	due recipient is dispatched and its delivery comes back with a result
 *	the input picks (sent, deferred, bounced). Afterwards the database is
 *	emptied for the next input.
 *
 *	Properties:
 *	  - recovery never fails because of a record's content (corrupt
 *	    records go to the corrupt queue, emptied after each input);
 *	  - every recovered message is found by its own queue ID (IDs are
 *	    unique in memory, as the scheduler and ternctl assume);
 *	  - a recovered message has a sender, at least one recipient, each
 *	    with an address, and nleft counts the recipients not done;
 *	  - encoding a recovered message and decoding it again gives the same
 *	    envelope;
 *	  - UBSan: no time value from disk is converted out of range.
 */
#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/time.h"
#include "core/daemon/queueview.h"
#include "fuzz_input.h"
#include "queue/queue_impl.h"

#define MAX_DELIVERIES 64

static struct queue *q;
static FILE *devnull;
static struct fuzz_input *cur; /* the input being run, for the hooks */
static struct queue_delivery *handed[MAX_DELIVERIES];
static size_t nhanded;

/* fuzz_resolve - next hop of a recipient: its domain, a bounce or a lookup error */
static int fuzz_resolve(void *arg, const char *rcpt, char *key, size_t keylen)
{
    (void)arg;
    switch (fuzz_input_pick(cur, 8)) {
    case 6:
        snprintf(key, keylen, "5.1.2 bad destination");
        return 1;
    case 7:
        return -EIO;
    default: {
        const char *at = strrchr(rcpt, '@');
        snprintf(key, keylen, "%s", at ? at + 1 : "");
        return 0;
    }
    }
}

/* fuzz_dispatch - keep the delivery; its result comes back below */
static void fuzz_dispatch(void *arg, struct queue_delivery *d)
{
    (void)arg;
    if (nhanded < MAX_DELIVERIES)
        handed[nhanded++] = d;
    else
        queue_delivery_free(d);
}

/* LLVMFuzzerInitialize - one queue for the whole run, opened on a scratch directory */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[512], qdir[600];
    fuzz_quiet();
    fuzz_tmpdir("queue_record", dir, sizeof(dir));
    snprintf(qdir, sizeof(qdir), "%s/queue", dir);
    struct queue_params p = {
        .directory = qdir,
        .map_size = (size_t)64 << 20,
        .minimal_backoff_time = 300,
        .maximal_backoff_time = 4000,
        .maximal_queue_lifetime = 5 * 86400,
        .bounce_queue_lifetime = 5 * 86400,
        .myhostname = "mx.fuzz.test",
    };
    struct queue_hooks h = {.resolve = fuzz_resolve, .dispatch = fuzz_dispatch};
    if (queue_open(&q, &p, &h) < 0 || mdb_env_set_flags(q->env, MDB_NOSYNC, 1) != 0)
        abort();
    devnull = fopen("/dev/null", "w");
    if (!devnull)
        abort();
    return 0;
}

/* clear_corrupt - empty the corrupt queue recovery filled (bounded disk use over a run) */
static void clear_corrupt(void)
{
    char dir[700], path[1000];
    snprintf(dir, sizeof(dir), "%s/corrupt", q->directory);
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d)
        return;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.') {
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
            unlink(path);
        }
    closedir(d);
}

/* put_records - the input's records into the envelope database */
static size_t put_records(struct fuzz_input *in)
{
    MDB_txn *txn;
    size_t n = 1 + fuzz_input_pick(in, 4), put = 0;
    FUZZ_CHECK(mdb_txn_begin(q->env, NULL, 0, &txn) == 0);
    for (size_t i = 0; i < n && in->n > 0; i++) {
        static const size_t keylens[] = {QUEUE_ID_LEN, QUEUE_ID_LEN,     QUEUE_ID_LEN,
                                         QUEUE_ID_LEN, QUEUE_ID_LEN - 1, QUEUE_ID_LEN + 1};
        size_t klen = keylens[fuzz_input_pick(in, 6)];
        size_t vlen = fuzz_input_pick(in, 4096);
        const uint8_t *k, *v;
        klen = fuzz_input_take(in, klen, &k);
        vlen = fuzz_input_take(in, vlen ? vlen : in->n, &v);
        if (klen == 0)
            break;
        /* a record of the current version gets its checksums right (content "x"), so that
         * decoding goes past them; other versions are taken as they are */
        uint8_t rec[8192];
        if (vlen > sizeof(rec))
            vlen = sizeof(rec);
        memcpy(rec, v, vlen);
        if (vlen >= 9 && rec[0] == QUEUE_REC_VERSION) {
            uint32_t bcrc = queue_crc32c(0, "x", 1), crc;
            if (rec[1] & QUEUE_FLAG_BODY_CRC)
                memcpy(rec + vlen - 8, &bcrc, 4);
            crc = queue_crc32c(0, rec, vlen - 4);
            memcpy(rec + vlen - 4, &crc, 4);
        }
        MDB_val mk = {klen, (void *)k}, mv = {vlen, rec}, mb = {1, "x"};
        if (mdb_put(txn, q->dbi_env, &mk, &mv, 0) == 0 &&
            mdb_put(txn, q->dbi_body, &mk, &mb, 0) == 0)
            put++;
    }
    FUZZ_CHECK(mdb_txn_commit(txn) == 0);
    return put;
}

/* check_message - what recovery put in memory */
static void check_message(struct qmsg *m)
{
    FUZZ_CHECK(queue_sched_find(q, m->qid) == m);
    FUZZ_CHECK(m->sender != NULL && m->nrcpt >= 1 && m->rcpt != NULL);
    size_t left = 0;
    for (size_t i = 0; i < m->nrcpt; i++) {
        FUZZ_CHECK(m->rcpt[i].addr != NULL);
        left += m->rcpt[i].state != QR_DONE;
    }
    FUZZ_CHECK(m->nleft == left);

    /* encode, decode: the same envelope */
    struct buf b = BUF_INIT;
    struct qmsg *d = NULL;
    FUZZ_CHECK(queue_store_encode(&b, m) == 0);
    FUZZ_CHECK(queue_store_decode(&d, m->qid, buf_ptr(&b), buf_used(&b)) == 0);
    FUZZ_CHECK(strcmp(d->sender, m->sender) == 0 && d->nrcpt == m->nrcpt);
    FUZZ_CHECK(d->ret == m->ret && d->body_type == m->body_type && d->hold == m->hold);
    FUZZ_CHECK(d->size == m->size && d->nleft == m->nleft);
    for (size_t i = 0; i < m->nrcpt; i++) {
        FUZZ_CHECK(strcmp(d->rcpt[i].addr, m->rcpt[i].addr) == 0);
        FUZZ_CHECK(d->rcpt[i].tries == m->rcpt[i].tries && d->rcpt[i].notify == m->rcpt[i].notify);
        FUZZ_CHECK(strcmp(d->rcpt[i].dsn, m->rcpt[i].dsn) == 0);
    }
    queue_msg_queued_free(d);
    buf_free(&b);

    struct queue_ctl_req r = {.op = CTL_SHOW, .qid = m->qid};
    queue_ctl_apply(q, &r);
    if (r.rc != 0 && r.rc != -ENOENT)
        fprintf(stderr, "show %s: %d\n", m->qid, r.rc);
    FUZZ_CHECK(r.rc == 0 || r.rc == -ENOENT); /* no content was stored */
    if (r.snap)
        queueview_print_show(r.snap, devnull);
    queue_snapshot_free(r.snap);
}

/* deliver - dispatch what is due and answer every delivery as the input says */
static void deliver(struct fuzz_input *in)
{
    double now = time_now();
    for (int turn = 0; turn < 4; turn++) {
        nhanded = 0;
        (void)queue_sched_dispatch(q, now);
        if (nhanded == 0)
            break;
        for (size_t i = 0; i < nhanded; i++) {
            struct queue_delivery *d = handed[i];
            for (size_t k = 0; k < d->nrcpt; k++) {
                static const char *const dsns[] = {"2.0.0", "4.4.1", "5.1.1", ""};
                unsigned st = fuzz_input_pick(in, 4);
                d->rcpt[k].status = (int)st;
                snprintf(d->rcpt[k].dsn, sizeof(d->rcpt[k].dsn), "%s", dsns[st]);
                if (st != RCPT_SENT)
                    d->rcpt[k].reason = strdup("host mx[192.0.2.9] said: 4xx/5xx");
            }
            queue_sched_result(q, d, now);
        }
        now += 5000;
    }
}

/* LLVMFuzzerTestOneInput - records in, recovery, listing, delivery, then an empty database again */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = fuzz_input_init(data, size);
    cur = &in;
    size_t put = put_records(&in);
    FUZZ_CHECK(queue_store_recover(q) == 0);
    FUZZ_CHECK(q->hcount <= put);
    for (size_t i = 0; i < q->hsize; i++)
        for (struct qmsg *m = q->htab[i]; m; m = m->hnext)
            check_message(m);
    struct queue_ctl_req r = {.op = CTL_LIST};
    queue_ctl_apply(q, &r);
    FUZZ_CHECK(r.rc == 0);
    queueview_print_list(r.snap, devnull);
    queue_snapshot_free(r.snap);
    deliver(&in);
    r = (struct queue_ctl_req){.op = CTL_LIST};
    queue_ctl_apply(q, &r);
    if (r.snap)
        queueview_print_list(r.snap, devnull);
    queue_snapshot_free(r.snap);

    /* forget everything for the next input */
    queue_sched_free_all(q);
    q->active = 0;
    MDB_txn *txn;
    FUZZ_CHECK(mdb_txn_begin(q->env, NULL, 0, &txn) == 0);
    FUZZ_CHECK(mdb_drop(txn, q->dbi_env, 0) == 0);
    FUZZ_CHECK(mdb_drop(txn, q->dbi_body, 0) == 0);
    FUZZ_CHECK(mdb_txn_commit(txn) == 0);
    clear_corrupt();
    cur = NULL;
    return 0;
}
