/*
 * NAME
 *	queue - durable message queue, group commit, scheduler, bounces
 * SYNOPSIS
 *	struct queue *q;
 *	queue_open(&q, &params, &hooks);      // recovers what is on disk
 *	queue_submit(q, msg, done, arg);       // from any thread; done() after fsync
 *	... hooks.dispatch(arg, delivery) ...  // called on the queue thread
 *	queue_delivery_done(q, delivery);      // from any thread, results filled in
 *	queue_close(q);
 * DESCRIPTION
 *	The queue owns one thread ("qmgr") and one LMDB environment in
 *	queue_directory: envelopes with per-recipient state in one database,
 *	message content in another. The thread is the only writer. Each turn of
 *	its loop takes everything that arrived since the last turn - new
 *	messages, delivery results, control requests - applies it in ONE write
 *	transaction and commits it durably (one flush for the whole batch: group
 *	commit). Only then does it call each submitter's done() with 0, so the
 *	SMTP server answers 250 only for messages on stable storage. A failed
 *	commit (disk full, I/O error) calls done() with -errno (answer 4xx).
 *
 *	Scheduling: every recipient not on hold whose next try time has come is
 *	handed to hooks.dispatch() in a struct queue_delivery grouping the
 *	recipients of one message that share a next hop (hooks.resolve()).
 *	Results come back through queue_delivery_done(); a deferred recipient is
 *	retried after minimal_backoff_time, doubling up to maximal_backoff_time;
 *	past maximal_queue_lifetime (bounce_queue_lifetime for bounces) it
 *	bounces. A bounced recipient produces an RFC 3464 DSN message to the
 *	sender (never when the sender is <>), queued in the same transaction that
 *	records the failure. A message leaves the queue when no recipient is
 *	left.
 *
 *	queue_open() recovers: every undelivered recipient on disk is scheduled
 *	again (a duplicate after a crash is acceptable, a loss is not).
 *
 *	Control (ternctl) answers with snapshots, plain data; the queue prints
 *	nothing for the operator (core/daemon/queueview.c makes the text).
 *
 *	Threading: queue_submit(), queue_delivery_done(), queue_ctl_*() may be
 *	called from any thread. The hooks are called on the queue thread and
 *	must not block (core's hooks push onto a worker's inbox and wake it).
 *	queue_store_body_load() may be called from any thread (LMDB read transaction).
 *
 *	Logging (maillog format, component "qmgr"/"cleanup"/"bounce"):
 *	  QID: message-id=<...>            (at commit, if the message has one)
 *	  QID: from=<s>, size=N, nrcpt=N (queue active)
 *	  QID: sender non-delivery notification: BOUNCEQID
 *	  QID: removed
 * DIAGNOSTICS
 *	Functions return 0 or -errno.
 */
#ifndef TERN_QUEUE_H
#define TERN_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct queue;

#define QUEUE_ID_LEN 16 /* hex characters, time-ordered, unique across restarts */

/* RFC 3461 NOTIFY bits; 0 = not given (default: failure only) */
enum { DSN_NOTIFY_NEVER = 1, DSN_NOTIFY_SUCCESS = 2, DSN_NOTIFY_FAILURE = 4, DSN_NOTIFY_DELAY = 8 };
enum { DSN_RET_NONE = 0, DSN_RET_FULL = 1, DSN_RET_HDRS = 2 };
enum { BODY_7BIT = 0, BODY_8BITMIME = 1 };

/* One recipient as received. Strings owned by the enclosing message. */
struct queue_rcpt_in {
    char *addr;  /* "local@domain" */
    char *orcpt; /* ORCPT= value as received (xtext), or NULL */
    unsigned notify;
};

/* A message as received by the SMTP server; queue_submit() takes ownership
 * (free with queue_msg_free() only if queue_submit() fails synchronously). */
struct queue_msg {
    char qid[QUEUE_ID_LEN + 1]; /* assigned by the session with queue_id_new() */
    char *sender;               /* "" for <> */
    char *envid;                /* ENVID= (xtext) or NULL */
    int ret;                    /* DSN_RET_* */
    int body_type;              /* BODY_* */
    bool smtputf8;
    bool requiretls;   /* MAIL FROM ... REQUIRETLS (RFC 8689) */
    bool tls_optional; /* "TLS-Required: No" and no REQUIRETLS (RFC 8689) */
    char *client; /* "name[addr]" for logs and bounces */
    size_t nrcpt;
    struct queue_rcpt_in *rcpt;
    char *data; /* content with CRLF line ends, NOT dot-stuffed, Received header first */
    size_t len;
    double arrival; /* wall clock, seconds */
};

void queue_msg_free(struct queue_msg *m);
/* queue_id_new - a fresh queue ID (thread-safe) */
void queue_id_new(char out[QUEUE_ID_LEN + 1]);
struct timespec;
/* queue_id_next - queue_id_new with the clock's reading given (tests feed a clock that steps back)
 */
void queue_id_next(char out[QUEUE_ID_LEN + 1], const struct timespec *now);
/* queue_id_floor - IDs made from now on sort after qid (recovery: every queued ID) */
void queue_id_floor(const char *qid);
/* queue_id_valid - are p[0..len) QUEUE_ID_LEN upper-case hex digits, as queue_id_new writes? */
bool queue_id_valid(const void *p, size_t len);

enum queue_rcpt_status { RCPT_PENDING = 0, RCPT_SENT, RCPT_DEFERRED, RCPT_BOUNCED };

/* One recipient handed out for delivery; the deliverer fills the result. */
struct queue_delivery_rcpt {
    char *addr;
    char *orcpt;
    unsigned notify;
    uint32_t index; /* position in the message (opaque to the deliverer) */
    /* results, set by the deliverer: */
    int status;  /* RCPT_SENT, RCPT_DEFERRED or RCPT_BOUNCED */
    char dsn[8]; /* "2.0.0", "4.4.1", "5.1.1" */
    char
        *reason; /* malloc'd: "250 2.0.0 Ok: queued as X" or "connect to ...: Connection refused" */
};

/* One transaction's worth of work: one message, one next hop, its recipients. */
struct queue_delivery {
    char qid[QUEUE_ID_LEN + 1];
    char *sender;
    char *envid;
    int ret, body_type;
    bool smtputf8;
    bool requiretls;   /* only over verified TLS to a host offering REQUIRETLS */
    bool tls_optional; /* "TLS-Required: No": the recipient domain's TLS policy is not enforced */
    char *nexthop;     /* canonical destination key from hooks.resolve() */
    size_t size;       /* content length */
    double arrival;    /* when the message was received */
    double queued;     /* when it was committed (delays= a) */
    double dispatched; /* when handed out (delays= b) */
    size_t nrcpt;
    struct queue_delivery_rcpt *rcpt;
    char *relay;      /* set by the deliverer: "host[addr]:port" or "none" */
    void *owner_data; /* free for the deliverer's use */
};

struct queue_params {
    const char *directory;    /* queue_directory; created if missing (mode 0700) */
    size_t map_size;          /* LMDB map size */
    int minimal_backoff_time; /* seconds */
    int maximal_backoff_time;
    int maximal_queue_lifetime;
    int bounce_queue_lifetime;
    const char *myhostname;  /* for bounce headers */
    const char *bounce_from; /* "MAILER-DAEMON@myhostname" display */
};

struct queue_hooks {
    void *arg;
    /* resolve - next hop key for a recipient into key (<= keylen); 0, or
     * -errno to defer it, or 1 to bounce it with the text put in key. */
    int (*resolve)(void *arg, const char *rcpt, char *key, size_t keylen);
    /* dispatch - take ownership of d; deliver it, then queue_delivery_done(). */
    void (*dispatch)(void *arg, struct queue_delivery *d);
};

/* Called on the queue thread once the message is durable (status 0) or not
 * (-errno). `arg` is the submitter's. */
typedef void queue_done_fn(void *arg, int status);

int queue_open(struct queue **out, const struct queue_params *p, const struct queue_hooks *h);
/* queue_salvage - `ternd recover`: move a damaged data.mdb aside, copy what still reads
 * into a new queue (ternd stopped); a report of what happened goes to `report` */
int queue_salvage(const struct queue_params *p, FILE *report);
/* queue_start - start the queue thread and schedule what recovery found */
int queue_start(struct queue *q);
/* queue_stop - finish the current commit, stop the thread; then queue_close */
void queue_stop(struct queue *q);
void queue_close(struct queue *q);

int queue_submit(struct queue *q, struct queue_msg *m, queue_done_fn *done, void *arg);
void queue_delivery_done(struct queue *q, struct queue_delivery *d);
void queue_delivery_free(struct queue_delivery *d);
/* queue_space_check - 0, or -ENOSPC when queue_directory's file system has less free space
 * than queue_minfree, 1.5 x message_size_limit, or size + queue_minfree (queue_space.c) */
int queue_space_check(struct queue *q, unsigned long long size, long minfree, long size_limit);
/* queue_store_body_load - copy message content into *data (malloc'd) */
int queue_store_body_load(struct queue *q, const char *qid, char **data, size_t *len);

/* Snapshots for ternctl: what queue_ctl_list(), queue_ctl_show() and
 * queue_ctl_verify() answer. Plain data copied on the queue thread, owned by
 * the caller, freed with queue_snapshot_free(); it does not change when the
 * queue does. Bound: in proportion to the queue, like the listing made from
 * it (list: every message's envelope and open recipients; verify: one entry
 * per damaged record; show: one message with its content). An operator's
 * command, never on the hot path. The queue returns data only: the
 * mailq-like text is core/daemon/queueview.c's. */
enum queue_snapshot_state {
    QUEUE_SNAPSHOT_WAITING = 0,
    QUEUE_SNAPSHOT_ACTIVE,
    QUEUE_SNAPSHOT_DONE
};

struct queue_snapshot_rcpt {
    char *addr;
    char *orcpt;     /* ORCPT= (xtext), or NULL */
    unsigned notify; /* DSN_NOTIFY_* bits, 0 = not given */
    int state;       /* QUEUE_SNAPSHOT_*: waiting, out for delivery, done */
    uint32_t tries;
    double next_try; /* wall clock; set when waiting after a try */
    char dsn[8];     /* of the last result, "" before one */
    char *reason;    /* last failure text, or NULL */
};

struct queue_snapshot_msg {
    char qid[QUEUE_ID_LEN + 1];
    size_t size;            /* content length */
    double arrival, queued; /* wall clock: received, committed */
    char *sender;           /* "" for <> */
    char *envid, *client;   /* or NULL */
    int ret, body_type;     /* DSN_RET_*, BODY_* */
    bool smtputf8, hold;    /* hold: on hold (ternctl hold) */
    bool requiretls;        /* MAIL FROM ... REQUIRETLS */
    bool tls_optional;      /* TLS-Required: No */
    bool in_delivery;       /* a recipient is out for delivery */
    size_t nrcpt;           /* list: the recipients not done; show: all */
    struct queue_snapshot_rcpt *rcpt;
    char *data; /* show: the content (CRLF line ends), NULL when it could not be read; list: NULL */
    size_t len;
};

struct queue_snapshot_damage {
    char key[65];    /* the record's key as text, at most 64 bytes (a queue ID when sound) */
    const char *why; /* "content checksum mismatch", ... (a string constant) */
};

struct queue_snapshot {
    size_t nmsg; /* list: every message, in queue ID (= arrival) order; show: the one */
    struct queue_snapshot_msg *msg;
    size_t nrecords, ndamaged;             /* verify: records walked, damaged ones */
    bool walked;                           /* verify: the walk reached the last record */
    struct queue_snapshot_damage *damaged; /* verify: each, moved to the corrupt queue */
    char *corrupt_dir;                     /* list, verify: queue_directory/corrupt */
    size_t ncorrupt;                       /* ... and the messages it keeps */
    char **corrupt;                        /* their names (NAME of NAME.env) */
};

/* queue_snapshot_free - free a snapshot; NULL is fine */
void queue_snapshot_free(struct queue_snapshot *s);

/* Control (ternctl). Each blocks the caller until the queue thread did it.
 * list, show and verify set *out to a snapshot (see above) or NULL. After a
 * failure *out may still hold what was gathered before it: show, the
 * envelope when the content cannot be read; verify, the records walked
 * (those damaged are moved already). */
int queue_ctl_list(struct queue *q, struct queue_snapshot **out); /* like mailq */
int queue_ctl_show(struct queue *q, const char *qid, struct queue_snapshot **out);
int queue_ctl_flush(struct queue *q); /* all deferred: try now */
int queue_ctl_hold(struct queue *q, const char *qid);
int queue_ctl_release(struct queue *q, const char *qid);
int queue_ctl_delete(struct queue *q, const char *qid); /* "ALL" deletes all */
/* queue_ctl_reload - p's minimal/maximal_backoff_time, maximal/bounce_queue_lifetime and
 * myhostname (the bounces' name) from now on (a reload; the rest of p is not read) */
int queue_ctl_reload(struct queue *q, const struct queue_params *p);
/* queue_ctl_verify - every record's checksums; the damaged go to corrupt/ */
int queue_ctl_verify(struct queue *q, struct queue_snapshot **out);

/* Histograms: count[i] holds observations <= bound[i] and > bound[i-1];
 * the last slot is the overflow (+Inf). Bounds are the arrays below. */
#define QUEUE_HIST_SLOTS 12
extern const double queue_commit_seconds_bounds[QUEUE_HIST_SLOTS - 1];
extern const double queue_batch_size_bounds[QUEUE_HIST_SLOTS - 1];

struct queue_stats {
    uint64_t received, delivered, deferred, bounced, commits, committed_msgs;
    uint64_t queue_size; /* messages on disk now */
    uint64_t corrupt;    /* records moved to the corrupt queue since start */
    /* Durable commits: how long mdb_txn_commit (write + flush) took, and
     * how many submitted messages each one carried. */
    uint64_t commit_seconds_count[QUEUE_HIST_SLOTS];
    double commit_seconds_sum;
    uint64_t batch_size_count[QUEUE_HIST_SLOTS];
    uint64_t batch_size_sum;
};
void queue_get_stats(struct queue *q, struct queue_stats *st);

#endif
