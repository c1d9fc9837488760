/*
 * redis_lease - connection leases per destination through Redis; see redis/redis_lease.h.
 *
 * One thread (redis_worker) and one connection. Requests (acquire, release, tokens) come through
 * a list under the worker's mutex, and ring it; the thread answers each acquire with one script
 * run, renews what it holds every ttl/3 with one pipelined batch, and keeps the held leases in a
 * plain array (member name, destination) - a node holds as many as it has outbound connections.
 */
#include "core/redis/redis_lease.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/base/log.h"
#include "core/base/time.h"
#include "core/redis/redis_link.h"
#include "core/redis/redis_worker.h"

/* drop the expired, add ARGV[1] with expiry now + ARGV[3] ms if fewer than ARGV[2] remain */
static const char acquire_lua[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
    "if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then "
    "  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1]) "
    "  redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3])) "
    "  return 1 "
    "end "
    "return 0";
/* (re)set ARGV[1]'s expiry to now + ARGV[2] ms */
static const char renew_lua[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) "
    "redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2])) "
    "return 1";

/* add ARGV[1] to this second's count; grant what was left under ARGV[2] (at most ARGV[1]) */
static const char tokens_lua[] = "local used = redis.call('INCRBY', KEYS[1], ARGV[1]) "
                                 "redis.call('EXPIRE', KEYS[1], 5) "
                                 "local before = used - tonumber(ARGV[1]) "
                                 "local limit = tonumber(ARGV[2]) "
                                 "if before >= limit then return 0 end "
                                 "return math.min(tonumber(ARGV[1]), limit - before)";

enum req_kind { REQ_ACQUIRE, REQ_RELEASE, REQ_TOKENS };

struct req {
    struct req *next;
    enum req_kind kind;
    uint64_t id; /* release; tokens: the second */
    int limit;   /* acquire, tokens */
    int want;    /* tokens */
    redis_lease_fn *fn;
    void *arg;
    char dest[]; /* acquire, tokens */
};

struct held {
    uint64_t id;
    char *key;           /* <prefix>lease:<destination> */
    uint64_t release_at; /* released: when it goes (mono ms); 0: in use */
};

struct redis_lease {
    const struct redis_conf *conf;
    unsigned ttl_ms;
    char node[33]; /* hex: members are "<node>:<id>" */
    struct redis_worker w;
    struct req *head, *tail; /* under w.mu */
    size_t nreq;
    uint64_t next_id; /* under w.mu */
    redisContext *c;  /* the thread's; NULL while down */
    struct held *held;
    size_t nheld, capheld;
    uint64_t next_renew;
};

/* push - queue a request and ring; false when the queue is full */
static bool push(struct redis_lease *rl, struct req *r)
{
    pthread_mutex_lock(&rl->w.mu);
    bool ok = rl->nreq < REDIS_LEASE_QUEUE_MAX && !atomic_load(&rl->w.stop);
    if (ok) {
        if (rl->tail)
            rl->tail->next = r;
        else
            rl->head = r;
        rl->tail = r;
        rl->nreq++;
    }
    pthread_mutex_unlock(&rl->w.mu);
    if (ok)
        redis_worker_ring(&rl->w);
    return ok;
}

/* ask - queue an acquire or tokens request for dest; answered UNAVAILABLE (STOPPED) at once when
 * it cannot be queued */
static void ask(struct redis_lease *rl, struct req proto, const char *dest)
{
    size_t n = strlen(dest);
    struct req *r = calloc(1, sizeof(*r) + n + 1);
    if (r) {
        *r = proto;
        memcpy(r->dest, dest, n + 1);
    }
    if (!r || !push(rl, r)) {
        free(r);
        proto.fn(proto.arg,
                 atomic_load(&rl->w.stop) ? REDIS_LEASE_STOPPED : REDIS_LEASE_UNAVAILABLE, 0);
    }
}

void redis_lease_acquire(struct redis_lease *rl, const char *dest, int limit, redis_lease_fn *fn,
                         void *arg)
{
    ask(rl, (struct req){.kind = REQ_ACQUIRE, .limit = limit, .fn = fn, .arg = arg}, dest);
}

void redis_lease_tokens(struct redis_lease *rl, const char *dest, uint64_t second, int want,
                        int limit, redis_lease_fn *fn, void *arg)
{
    ask(rl,
        (struct req){
            .kind = REQ_TOKENS, .id = second, .limit = limit, .want = want, .fn = fn, .arg = arg},
        dest);
}

void redis_lease_release(struct redis_lease *rl, uint64_t id)
{
    struct req *r = calloc(1, sizeof(*r) + 1);
    if (!r)
        return; /* it expires in Redis by itself */
    *r = (struct req){.kind = REQ_RELEASE, .id = id};
    if (!push(rl, r))
        free(r);
}

/* down - the connection broke: say so, free it */
static void down(struct redis_lease *rl, const char *why)
{
    redis_worker_down(&rl->w, why);
    if (rl->c)
        redisFree(rl->c);
    rl->c = NULL;
}

/* find - the index of held lease id, or nheld */
static size_t find(const struct redis_lease *rl, uint64_t id)
{
    size_t i = 0;
    while (i < rl->nheld && rl->held[i].id != id)
        i++;
    return i;
}

/* forget - drop held lease i (not in Redis: the caller did that) */
static void forget(struct redis_lease *rl, size_t i)
{
    free(rl->held[i].key);
    rl->held[i] = rl->held[--rl->nheld];
}

/* acquire - one script run; the answer to the caller in every case */
static void acquire(struct redis_lease *rl, struct req *r)
{
    char *key = NULL;
    uint64_t id;
    if (atomic_load(&rl->w.stop)) {
        r->fn(r->arg, REDIS_LEASE_STOPPED, 0);
        return;
    }
    pthread_mutex_lock(&rl->w.mu);
    id = ++rl->next_id;
    pthread_mutex_unlock(&rl->w.mu);
    if (!rl->c || rl->nheld >= REDIS_LEASE_HELD_MAX ||
        asprintf(&key, "%slease:%s", rl->conf->prefix, r->dest) < 0) {
        r->fn(r->arg, REDIS_LEASE_UNAVAILABLE, 0);
        return;
    }
    if (rl->nheld == rl->capheld) {
        size_t cap = rl->capheld ? 2 * rl->capheld : 64;
        struct held *h = realloc(rl->held, cap * sizeof(*h));
        if (!h) {
            free(key);
            r->fn(r->arg, REDIS_LEASE_UNAVAILABLE, 0);
            return;
        }
        rl->held = h;
        rl->capheld = cap;
    }
    redisReply *rep = redis_link_command(rl->c, "EVAL %s 1 %s %s:%llu %d %u", acquire_lua, key,
                                         rl->node, (unsigned long long)id, r->limit, rl->ttl_ms);
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        if (rep && rep->type == REDIS_REPLY_ERROR)
            log_warn("qmgr", "redis %s: lease script: %s", rl->conf->path, rep->str);
        if (!rep)
            down(rl, "a lease request failed");
        if (rep)
            freeReplyObject(rep);
        free(key);
        r->fn(r->arg, REDIS_LEASE_UNAVAILABLE, 0);
        return;
    }
    bool granted = rep->integer == 1;
    freeReplyObject(rep);
    if (granted)
        rl->held[rl->nheld++] = (struct held){.id = id, .key = key};
    else
        free(key);
    r->fn(r->arg, granted ? REDIS_LEASE_GRANTED : REDIS_LEASE_REFUSED, granted ? id : 0);
}

/* release_now - ZREM held lease i; forgotten here whatever Redis says (it expires there at
 * worst) */
static void release_now(struct redis_lease *rl, size_t i)
{
    uint64_t id = rl->held[i].id;
    if (rl->c) {
        redisReply *rep = redis_link_command(rl->c, "ZREM %s %s:%llu", rl->held[i].key, rl->node,
                                             (unsigned long long)id);
        if (rep)
            freeReplyObject(rep);
        else
            down(rl, "a lease release failed");
    }
    forget(rl, i);
}

/* release - the connection is gone: the lease goes REDIS_LEASE_LINGER_MS later, when the peer
 * has surely seen the close (else another node's new connection could meet the old one there) */
static void release(struct redis_lease *rl, uint64_t id)
{
    size_t i = find(rl, id);
    if (i < rl->nheld && !rl->held[i].release_at)
        rl->held[i].release_at = time_mono_ms() + REDIS_LEASE_LINGER_MS;
}

/* release_due - the lingering leases whose time came (all of them when stopping); the earliest
 * one still to come, or UINT64_MAX */
static uint64_t release_due(struct redis_lease *rl, bool all)
{
    uint64_t now = time_mono_ms(), next = UINT64_MAX;
    for (size_t i = 0; i < rl->nheld;) {
        uint64_t at = rl->held[i].release_at;
        if (at && (all || at <= now)) {
            release_now(rl, i); /* the last one moved to i */
            continue;
        }
        if (at && at < next)
            next = at;
        i++;
    }
    return next;
}

/* renew - every held lease's expiry moved on, in one pipeline; false if the link broke */
static bool renew(struct redis_lease *rl)
{
    for (size_t i = 0; i < rl->nheld; i++)
        redisAppendCommand(rl->c, "EVAL %s 1 %s %s:%llu %u", renew_lua, rl->held[i].key, rl->node,
                           (unsigned long long)rl->held[i].id, rl->ttl_ms);
    for (size_t i = 0; i < rl->nheld; i++) {
        void *rep = NULL;
        if (redisGetReply(rl->c, &rep) != REDIS_OK || !rep)
            return false;
        freeReplyObject(rep);
    }
    return true;
}

/* tokens - this second's share of the destination's rate; the answer in every case */
static void tokens(struct redis_lease *rl, struct req *r)
{
    if (atomic_load(&rl->w.stop) || !rl->c) {
        r->fn(r->arg, atomic_load(&rl->w.stop) ? REDIS_LEASE_STOPPED : REDIS_LEASE_UNAVAILABLE, 0);
        return;
    }
    redisReply *rep =
        redis_link_command(rl->c, "EVAL %s 1 %srate:%s:%llu %d %d", tokens_lua, rl->conf->prefix,
                           r->dest, (unsigned long long)r->id, r->want, r->limit);
    if (!rep)
        down(rl, "a rate request failed");
    bool ok = rep && rep->type == REDIS_REPLY_INTEGER;
    long long got = ok ? rep->integer : 0;
    if (rep)
        freeReplyObject(rep);
    r->fn(r->arg, ok ? REDIS_LEASE_GRANTED : REDIS_LEASE_UNAVAILABLE, ok ? (uint64_t)got : 0);
}

/* serve - every queued request */
static void serve(struct redis_lease *rl)
{
    pthread_mutex_lock(&rl->w.mu);
    struct req *list = rl->head;
    rl->head = rl->tail = NULL;
    rl->nreq = 0;
    pthread_mutex_unlock(&rl->w.mu);
    while (list) {
        struct req *next = list->next;
        if (list->kind == REQ_RELEASE)
            release(rl, list->id);
        else if (list->kind == REQ_TOKENS)
            tokens(rl, list);
        else
            acquire(rl, list);
        free(list);
        list = next;
    }
}

static void *run(void *arg)
{
    struct redis_lease *rl = arg;
    while (!atomic_load(&rl->w.stop)) {
        uint64_t now = time_mono_ms();
        if (!rl->c && now >= rl->w.retry_at) {
            char why[256];
            if (!(rl->c = redis_link_open(rl->conf, why, sizeof(why)))) {
                down(rl, why);
            } else {
                if (redis_worker_up(&rl->w))
                    log_info("qmgr",
                             "redis %s: connected again; destination limits hold "
                             "across the nodes",
                             rl->conf->path);
                rl->next_renew = 0; /* re-add what is held: Redis may have lost it */
            }
        }
        if (rl->c && now >= rl->next_renew) {
            rl->next_renew = now + rl->ttl_ms / 3;
            if (!renew(rl))
                down(rl, "renewing the leases failed");
        }
        serve(rl);
        uint64_t next = rl->c ? rl->next_renew : rl->w.retry_at, linger = release_due(rl, false);
        if (linger < next)
            next = linger;
        now = time_mono_ms();
        redis_worker_wait(&rl->w, -1, next > now ? (int)(next - now) : 0);
    }
    serve(rl); /* releases go out; acquires are answered STOPPED */
    for (size_t i = 0; i < rl->nheld; i++)
        release(rl, rl->held[i].id);
    release_due(rl, true);
    return NULL;
}

int redis_lease_start(struct redis_lease **out, const struct redis_conf *conf, unsigned ttl_ms)
{
    struct redis_lease *rl = calloc(1, sizeof(*rl));
    unsigned char node[16];
    if (!rl)
        return -ENOMEM;
    rl->conf = conf;
    rl->ttl_ms = ttl_ms >= 300 ? ttl_ms : 300;
    if (getrandom(node, sizeof(node), 0) != (ssize_t)sizeof(node)) {
        free(rl);
        return -EIO;
    }
    for (size_t i = 0; i < sizeof(node); i++)
        snprintf(rl->node + 2 * i, 3, "%02x", node[i]);
    rl->w = (struct redis_worker){
        .conf = conf, .facility = "qmgr", .meanwhile = "destination limits hold per node"};
    log_info("qmgr", "redis %s: destination leases as node %s, %u ms each", conf->path, rl->node,
             rl->ttl_ms);
    int rc = redis_worker_start(&rl->w, run, rl);
    if (rc < 0) {
        free(rl);
        return rc;
    }
    *out = rl;
    return 0;
}

void redis_lease_stop(struct redis_lease *rl)
{
    if (!rl)
        return;
    redis_worker_join(&rl->w);
    pthread_mutex_lock(&rl->w.mu);
    struct req *list = rl->head; /* pushed after the last serve() */
    rl->head = rl->tail = NULL;
    pthread_mutex_unlock(&rl->w.mu);
    for (struct req *r = list, *next; r; r = next) {
        next = r->next;
        if (r->kind != REQ_RELEASE)
            r->fn(r->arg, REDIS_LEASE_STOPPED, 0);
        free(r);
    }
    if (rl->c)
        redisFree(rl->c);
    rl->c = NULL;
}

bool redis_lease_up(struct redis_lease *rl)
{
    return rl && atomic_load(&rl->w.up);
}

void redis_lease_free(struct redis_lease *rl)
{
    if (!rl)
        return;
    free(rl->held);
    redis_worker_free(&rl->w);
    free(rl);
}
