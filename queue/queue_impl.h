/*
 * NAME
 *	queue_impl - private structures shared by the queue_*.c files
 * DESCRIPTION
 *	Not for use outside queue/. Everything below "thread-only" belongs to
 *	the queue thread once queue_start() ran (before that, to the opener).
 *
 *	In memory every queued message is a struct qmsg (found by queue ID in a
 *	chained hash table) with one struct qrcpt per recipient. A min-heap of
 *	messages keyed by their earliest due recipient drives scheduling, so a
 *	turn of the loop costs in proportion to what is due, never to the size
 *	of the queue. The in-memory state is the truth; changes mark a message
 *	dirty and the next commit writes its envelope record (or deletes it).
 */
#ifndef TERN_QUEUE_IMPL_H
#define TERN_QUEUE_IMPL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "core/base/buf.h"
#include "queue/queue.h"

#define QUEUE_REC_VERSION 2                /* envelope records with CRC-32C (queue_store.c) */
#define QUEUE_REC_VERSION_1 1              /* before checksums: still read */
#define QUEUE_FLAG_BODY_CRC 4              /* the record carries the content's CRC-32C */
#define QUEUE_FLAG_REQUIRETLS 8            /* MAIL FROM carried REQUIRETLS (RFC 8689) */
#define QUEUE_FLAG_TLS_OPTIONAL 16         /* "TLS-Required: No" (RFC 8689) */
#define QUEUE_MARKER "tern-queue"          /* present once the directory held a queue */
#define QUEUE_MAP_RESERVE_MIN (256u << 10) /* map kept for removals and DSNs: at least */
#define QUEUE_SPACE_SLACK (1u << 20)       /* free space below which EIO on commit means ENOSPC */
#define QUEUE_REMOVE_CHUNK 8               /* removals per commit when the map is full */
#define QUEUE_MAP_RESERVE_MAX (256u << 20) /* ... and at most; 1/20 of the map between */
#define QUEUE_CORRUPT_PENDING 64           /* reports of damaged content waiting for the thread */
#define QUEUE_BOUNCE_SIZE_LIMIT 50000      /* like Postfix's bounce_size_limit */
#define QUEUE_ACTIVE_LIMIT 20000           /* messages with recipients in flight */
#define QUEUE_DISPATCH_BATCH 1000          /* messages dispatched per loop turn */
#define QUEUE_GATHER_MAX 64                /* commit at once when this many are waiting */
#define QUEUE_GATHER_WINDOW 0.006          /* seconds the oldest waiting message may be held */
#define QUEUE_GATHER_GAP 0.0005            /* ... or this long after the newest came, if sooner */
#define QUEUE_GATHER_ON 16.0               /* gather when a window would fill with this many */
#define QUEUE_GATHER_OFF 12.0              /* ... and stop below this many */
#define QUEUE_RATE_PERIOD 0.05             /* seconds over which the arrival rate is measured */
#define QUEUE_INTERNAL_HOLD 0.05           /* seconds delivery results may wait for a commit */

enum qrcpt_state { QR_WAITING = 0, QR_INFLIGHT, QR_DONE };

/* One recipient of a queued message. */
struct qrcpt {
    char *addr;
    char *orcpt;
    unsigned notify;
    uint8_t state;     /* QR_* (QR_INFLIGHT is never written as such) */
    bool fail_pending; /* bounced this turn, DSN not yet built */
    uint32_t tries;
    double next_try;
    char dsn[8];
    char *reason; /* last failure text, or NULL */
};

/* One queued message (envelope and schedule, never the content). */
struct qmsg {
    char qid[QUEUE_ID_LEN + 1];
    char *sender, *envid, *client;
    int ret, body_type;
    bool smtputf8, hold;
    bool requiretls;   /* leaves only over verified TLS to a host offering REQUIRETLS */
    bool tls_optional; /* "TLS-Required: No": recipient TLS policy (DANE) not enforced */
    double arrival, queued;
    size_t size;
    uint32_t body_crc; /* CRC-32C of the content, when has_body_crc */
    bool has_body_crc; /* false for records of version 1 */
    size_t nrcpt;
    struct qrcpt *rcpt;
    size_t nleft; /* recipients not QR_DONE */
    size_t ninflight;
    /* bookkeeping */
    struct qmsg *hnext; /* hash chain */
    ssize_t heap_idx;   /* -1 when not in the heap */
    double due;         /* heap key */
    bool dirty, removed, on_fail_list, expired_logged;
    struct qmsg *dirty_next, *fail_next;
};

/* A message waiting for its first commit. */
struct qnew {
    struct qmsg *m;
    char *data; /* content (owned) */
    size_t len;
    char *msgid;         /* Message-ID header value for the log, or NULL */
    queue_done_fn *done; /* NULL for internally made bounces */
    void *arg;
    char bounce_of[QUEUE_ID_LEN + 1]; /* original QID of a bounce, or "" */
    double submitted;                 /* time_mono() at queue_submit: the gathering window */
    bool scheduled;                   /* committed and in the schedule (which then owns m) */
};

struct qnew_vec {
    struct qnew *v;
    size_t n, cap;
};

struct qdel_vec {
    struct queue_delivery **v;
    size_t n, cap;
};

/* A message whose content failed verification, waiting to be quarantined. */
struct queue_corrupt_ent {
    char qid[QUEUE_ID_LEN + 1];
    const char *why; /* a string constant */
};

enum queue_ctl_op {
    CTL_LIST,
    CTL_SHOW,
    CTL_VERIFY,
    CTL_FLUSH,
    CTL_HOLD,
    CTL_RELEASE,
    CTL_DELETE,
    CTL_RELOAD
};

/* A control request; lives on the caller's stack until answered. */
struct queue_ctl_req {
    enum queue_ctl_op op;
    const char *qid;
    struct queue_snapshot *snap;       /* list, show, verify: the answer, made by the thread */
    const struct queue_params *params; /* reload: the new values */
    int rc;
    bool answered;
    struct queue_ctl_req *next;
};

/* queue_reload_params - p's backoff times, lifetimes and myhostname into q (queue.c) */
int queue_reload_params(struct queue *q, const struct queue_params *p);

struct queue {
    /* configuration (strings copied) */
    char *directory, *myhostname, *bounce_from;
    size_t map_size;
    int min_backoff, max_backoff, max_lifetime, bounce_lifetime;
    struct queue_hooks hooks;

    MDB_env *env;
    MDB_dbi dbi_env, dbi_body;

    /* inbox: shared with submitters, under lock */
    pthread_mutex_t lock;
    pthread_cond_t ctl_cv;
    int efd;
    bool signaled, closed, stop;
    size_t wake_need; /* submissions in the inbox that wake the thread (gathering: > 1) */
    bool quiet;       /* a batch is held: delivery results do not wake the thread */
    struct qnew_vec in_new;
    struct qdel_vec in_res;
    struct queue_ctl_req *in_ctl, **in_ctl_tail;
    struct queue_corrupt_ent corrupt_in[QUEUE_CORRUPT_PENDING];
    size_t corrupt_n;

    pthread_t thread;
    bool started;

    /* thread-only */
    struct qmsg **htab;
    size_t hsize, hcount;
    struct qmsg **heap;
    size_t heap_n, heap_cap;
    struct qmsg *dirty_head;
    struct qmsg *fail_head;
    struct qnew_vec bounces;  /* made by the thread, not yet committed */
    struct qnew_vec work_new; /* swapped with in_new */
    struct qdel_vec work_res;
    size_t active;         /* messages with recipients in flight */
    double retry_after;    /* after a failed commit of internal state */
    bool gathering;        /* under load: hold commits for a bigger batch */
    double rate;           /* submissions per second, moving average */
    double rate_since;     /* time_mono() the current measuring period began */
    size_t rate_count;     /* submissions committed in it */
    double internal_since; /* time_mono() the oldest uncommitted internal change was seen */
    struct buf scratch;

    /* statistics */
    atomic_uint_fast64_t st_received, st_delivered, st_deferred, st_bounced;
    atomic_uint_fast64_t st_corrupt; /* records moved to the corrupt queue since start */
    atomic_uint_fast64_t st_commits, st_committed_msgs, st_queue_size;
    atomic_uint_fast64_t st_commit_hist[QUEUE_HIST_SLOTS], st_commit_nsec;
    atomic_uint_fast64_t st_batch_hist[QUEUE_HIST_SLOTS], st_batch_sum;
};

/* queue_store.c */
int queue_store_open(struct queue *q);
void queue_store_close(struct queue *q);
int queue_store_err(int mdb_rc);
int queue_store_put_env(struct queue *q, MDB_txn *txn, const struct qmsg *m);
int queue_store_put_new(struct queue *q, MDB_txn *txn, struct qmsg *m, const char *data,
                        size_t len);
int queue_store_check(const void *data, size_t len);
int queue_store_room(struct queue *q, MDB_txn *txn);

/* queue_space.c */
bool queue_space_low(struct queue *q, unsigned long long need);
int queue_store_put_body(struct queue *q, MDB_txn *txn, const char *qid, const char *data,
                         size_t len);
int queue_store_del(struct queue *q, MDB_txn *txn, const char *qid);
int queue_store_encode(struct buf *b, const struct qmsg *m);
int queue_store_decode(struct qmsg **out, const char *qid, const void *data, size_t len);
int queue_store_recover(struct queue *q);

/* queue_sched.c */
int queue_sched_insert(struct queue *q, struct qmsg *m);
struct qmsg *queue_sched_find(struct queue *q, const char *qid);
void queue_sched_unlink(struct queue *q, struct qmsg *m);
void queue_sched_update(struct queue *q, struct qmsg *m);
void queue_sched_mark_dirty(struct queue *q, struct qmsg *m);
void queue_sched_result(struct queue *q, struct queue_delivery *d, double now);
int queue_sched_dispatch(struct queue *q, double now);
double queue_sched_next_due(const struct queue *q);
void queue_sched_fail_rcpt(struct queue *q, struct qmsg *m, struct qrcpt *r, const char *dsn,
                           const char *reason);
void queue_sched_check_done(struct queue *q, struct qmsg *m);
void queue_sched_free_all(struct queue *q);

/* queue_bounce.c */
int queue_bounce_build(struct queue *q, MDB_txn *txn, struct qmsg *m, struct qnew_vec *out);

/* queue.c */
char *queue_strdup(const char *s);

/* queue_thread.c */
void *queue_thread_main(void *arg);
void queue_thread_wake_locked(struct queue *q);

/* queue_ctl.c */
void queue_ctl_apply(struct queue *q, struct queue_ctl_req *r);
void queue_ctl_drop(struct queue *q, struct qmsg *m);

/* queue_snapshot.c */
int queue_snapshot_list(struct queue *q, struct queue_snapshot **out);
int queue_snapshot_show(struct queue *q, const char *qid, struct queue_snapshot **out);
int queue_snapshot_damage(struct queue_snapshot *s, const void *key, size_t keylen,
                          const char *why);

/* queue_check.c */
int queue_check_file(const char *dir, size_t map_size);
int queue_check_mark(const char *dir);

/* queue_crc.c */
uint32_t queue_crc32c(uint32_t crc, const void *p, size_t len);
uint32_t queue_crc32c_table(uint32_t crc, const void *p, size_t len); /* the tests' reference */

/* queue_corrupt.c */
int queue_corrupt_save(struct queue *q, MDB_txn *txn, const void *key, size_t keylen,
                       const char *why);
void queue_corrupt_report(struct queue *q, const char *qid, const char *why);
size_t queue_corrupt_take(struct queue *q);
int queue_corrupt_list(const char *qdir, struct queue_snapshot *s);
int queue_corrupt_write(const char *qdir, const char *name, const void *env, size_t envlen,
                        const void *body, size_t bodylen);

/* queue_msg.c */
struct qmsg *queue_msg_queued_new(void);
void queue_msg_queued_free(struct qmsg *m);
int queue_msg_pending_push(struct qnew_vec *v, const struct qnew *n);
void queue_msg_pending_free(struct qnew *n);

#endif
