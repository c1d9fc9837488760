/*
 * redis_mirror - a node's TLS cache shared through Redis; see redis/redis_mirror.h.
 *
 * One thread per mirrored cache (a redis_worker) owns two connections: `cmd` for SET,
 * SCAN/MGET and the ticket election, `sub` subscribed to the channel (a subscribed connection
 * may do nothing else). It sleeps on the subscription's socket and the worker's eventfd, which
 * the putting threads ring when the queue goes from empty to not. Everything in Redis is
 * written by this file: a key's value is the entry's 8-octet big-endian expiry then its value,
 * a message is
 *	node id (16) | kind (1) | expiry (8) | key length (2) | key | value
 * and a node skips its own messages by the id.
 */
#include "core/redis/redis_mirror.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/base/buf.h"
#include "core/base/log.h"
#include "core/base/time.h"
#include "core/redis/redis_link.h"
#include "core/redis/redis_worker.h"
#include "tls/tls_ticket.h"

#define NODE_LEN 16
#define MSG_HEAD (NODE_LEN + 1 + 8 + 2)
#define TICK_MS 1000
#define LOG_MS 60000

struct out {
    struct out *next;
    enum tls_cache_kind kind;
    time_t expires;
    size_t klen, vlen;
    unsigned char data[]; /* key, then value */
};

struct redis_mirror {
    const struct redis_conf *conf;
    struct tls_cache *tc;
    unsigned ticket_timeout;
    unsigned char node[NODE_LEN];
    char channel[160];
    size_t chlen;
    struct redis_worker w;
    struct out *head, *tail; /* under w.mu */
    size_t count, bytes;
    redisContext *cmd, *sub; /* the thread's; NULL while down */
    uint64_t next_tick;
    atomic_ullong sent, received, dropped, errors;
};

/* put_be - n octets of v, big-endian */
static void put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* key_name - "<prefix>tls:<kind>:<hex key>" into b */
static int key_name(const struct redis_mirror *m, struct buf *b, enum tls_cache_kind kind,
                    const unsigned char *key, size_t klen)
{
    buf_reset(b);
    if (buf_printf(b, "%stls:%s:", m->conf->prefix, tls_cache_kind_name(kind)) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < klen; i++)
        if (buf_printf(b, "%02x", key[i]) < 0)
            return -ENOMEM;
    return 0;
}

/* mirror_put - tls_cache's hook, on the putting thread: queue a copy, ring when it was empty */
static void mirror_put(void *arg, enum tls_cache_kind kind, const void *key, size_t klen,
                       const void *val, size_t vlen, time_t expires)
{
    struct redis_mirror *m = arg;
    struct out *o = malloc(sizeof(*o) + klen + vlen);
    if (!o) {
        atomic_fetch_add(&m->dropped, 1);
        return;
    }
    *o = (struct out){.kind = kind, .expires = expires, .klen = klen, .vlen = vlen};
    memcpy(o->data, key, klen);
    memcpy(o->data + klen, val, vlen);
    struct out *old = NULL;
    pthread_mutex_lock(&m->w.mu);
    bool was_empty = !m->head;
    if (m->tail)
        m->tail->next = o;
    else
        m->head = o;
    m->tail = o;
    m->count++;
    m->bytes += klen + vlen;
    if (m->count > REDIS_MIRROR_QUEUE_MAX || m->bytes > REDIS_MIRROR_QUEUE_BYTES) {
        old = m->head; /* the oldest goes; o itself when it is alone and too big */
        m->head = old->next;
        if (!m->head)
            m->tail = NULL;
        m->count--;
        m->bytes -= old->klen + old->vlen;
    }
    pthread_mutex_unlock(&m->w.mu);
    if (old) {
        atomic_fetch_add(&m->dropped, 1);
        free(old);
    }
    if (was_empty)
        redis_worker_ring(&m->w);
}

/* down - the connections broke: say so (why may be a context's errstr), free them */
static void down(struct redis_mirror *m, const char *why)
{
    redis_worker_down(&m->w, why);
    atomic_fetch_add(&m->errors, 1);
    if (m->cmd)
        redisFree(m->cmd);
    if (m->sub)
        redisFree(m->sub);
    m->cmd = m->sub = NULL;
}

/* take - one entry from a message or a stored value into the near cache */
static void take(struct redis_mirror *m, enum tls_cache_kind kind, const void *key, size_t klen,
                 const void *val, size_t vlen, time_t expires)
{
    if (expires > time(NULL) && tls_cache_put_copy(m->tc, kind, key, klen, val, vlen, expires) == 0)
        atomic_fetch_add(&m->received, 1);
}

/* kind_of - the kind a "<prefix>tls:<kind>:" key names; -1 if none */
static int kind_of(const struct redis_mirror *m, const char *name, size_t len, size_t *hex_at)
{
    size_t pl = strlen(m->conf->prefix);
    if (len < pl + 4 || memcmp(name, m->conf->prefix, pl) != 0 || memcmp(name + pl, "tls:", 4))
        return -1;
    for (int k = 0; k < TLS_CACHE_KINDS; k++) {
        const char *kn = tls_cache_kind_name((enum tls_cache_kind)k);
        size_t kl = strlen(kn);
        if (len > pl + 4 + kl && !memcmp(name + pl + 4, kn, kl) && name[pl + 4 + kl] == ':') {
            *hex_at = pl + 4 + kl + 1;
            return k;
        }
    }
    return -1;
}

/* load_value - one "<prefix>tls:<kind>:<hex>" key and its stored value */
static void load_value(struct redis_mirror *m, const char *name, size_t nlen, const redisReply *v)
{
    size_t at;
    int kind = kind_of(m, name, nlen, &at);
    size_t hexlen = nlen - at;
    unsigned char key[512];
    if (kind < 0 || !v || v->type != REDIS_REPLY_STRING || v->len < 8 || hexlen % 2 ||
        hexlen / 2 > sizeof(key))
        return;
    for (size_t i = 0; i < hexlen / 2; i++) {
        unsigned x;
        if (sscanf(name + at + 2 * i, "%2x", &x) != 1)
            return;
        key[i] = (unsigned char)x;
    }
    const unsigned char *p = (const unsigned char *)v->str;
    take(m, (enum tls_cache_kind)kind, key, hexlen / 2, p + 8, (size_t)v->len - 8,
         (time_t)get_be(p, 8));
}

/* load - what Redis already holds: SCAN the prefix, MGET each batch; false if the link broke */
static bool load(struct redis_mirror *m)
{
    char cursor[32] = "0";
    char match[200];
    snprintf(match, sizeof(match), "%stls:*", m->conf->prefix);
    unsigned long long seen = 0;
    do {
        redisReply *r = redis_link_command(m->cmd, "SCAN %s MATCH %s COUNT 500", cursor, match);
        if (!r)
            return false;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return true; /* not what SCAN says: nothing to load */
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        if (keys->elements > 0) {
            size_t n = keys->elements + 1;
            const char **argv = calloc(n, sizeof(*argv));
            size_t *lens = calloc(n, sizeof(*lens));
            redisReply *vals = NULL;
            if (argv && lens) {
                argv[0] = "MGET";
                lens[0] = 4;
                for (size_t i = 0; i < keys->elements; i++) {
                    argv[i + 1] = keys->element[i]->str;
                    lens[i + 1] = (size_t)keys->element[i]->len;
                }
                vals = redisCommandArgv(m->cmd, (int)n, argv, lens);
            }
            free(argv);
            free(lens);
            if (!vals) {
                freeReplyObject(r);
                return false;
            }
            for (size_t i = 0;
                 vals->type == REDIS_REPLY_ARRAY && i < vals->elements && i < keys->elements; i++)
                load_value(m, keys->element[i]->str, (size_t)keys->element[i]->len,
                           vals->element[i]);
            seen += keys->elements;
            freeReplyObject(vals);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0 && seen < REDIS_MIRROR_LOAD_MAX && !atomic_load(&m->w.stop));
    return true;
}

struct reseed {
    struct redis_mirror *m;
    time_t now;
    unsigned long n;
};

/* reseed_fn - walk callback: queue one live entry of this node's for Redis */
static int reseed_fn(enum tls_cache_kind kind, const void *key, size_t klen, const void *val,
                     size_t vlen, time_t expires, void *arg)
{
    struct reseed *r = arg;
    if (expires > r->now) {
        mirror_put(r->m, kind, key, klen, val, vlen, expires);
        r->n++;
    }
    return r->n >= REDIS_MIRROR_LOAD_MAX;
}

/* reseed - what the near cache holds goes to Redis again: a Redis that restarted empty, or
 * missed this node's puts while it was away, learns them back (at most REDIS_MIRROR_LOAD_MAX,
 * and what the send queue holds) */
static unsigned long reseed(struct redis_mirror *m)
{
    static const enum tls_cache_kind shared[] = {TLS_CACHE_CLIENT, TLS_CACHE_SERVER,
                                                 TLS_CACHE_TICKET_KEYS, TLS_CACHE_PEERS};
    struct reseed r = {.m = m, .now = time(NULL)};
    for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
        tls_cache_walk(m->tc, shared[i], reseed_fn, &r);
    return r.n;
}

/* connect_all - both connections, the subscription, the load, then the reseed */
static bool connect_all(struct redis_mirror *m)
{
    char why[256];
    if (!(m->cmd = redis_link_open(m->conf, why, sizeof(why))) ||
        !(m->sub = redis_link_open(m->conf, why, sizeof(why)))) {
        down(m, why);
        return false;
    }
    redisReply *r = redis_link_command(m->sub, "SUBSCRIBE %b", m->channel, m->chlen);
    bool ok = r && r->type == REDIS_REPLY_ARRAY;
    if (r)
        freeReplyObject(r);
    if (!ok) {
        down(m, "SUBSCRIBE failed");
        return false;
    }
    unsigned long long before = atomic_load(&m->received);
    if (!load(m)) {
        down(m, m->cmd && m->cmd->err ? m->cmd->errstr : "loading failed");
        return false;
    }
    bool was_away = redis_worker_up(&m->w);
    unsigned long long loaded = atomic_load(&m->received) - before;
    log_info("tlsmgr",
             "redis %s: connected; %llu entries of other nodes loaded, %lu of this "
             "node's sent%s",
             m->conf->path, loaded, reseed(m), was_away ? " (it was away)" : "");
    return true;
}

/* message - one published entry; a node's own are skipped */
static void message(struct redis_mirror *m, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    const unsigned char *p = (const unsigned char *)r->element[2]->str;
    size_t len = (size_t)r->element[2]->len;
    if (len < MSG_HEAD || len > REDIS_MIRROR_MSG_MAX || !memcmp(p, m->node, NODE_LEN))
        return;
    enum tls_cache_kind kind = p[NODE_LEN];
    time_t expires = (time_t)get_be(p + NODE_LEN + 1, 8);
    size_t klen = (size_t)get_be(p + NODE_LEN + 9, 2);
    if ((unsigned)kind >= TLS_CACHE_KINDS || klen == 0 || klen > len - MSG_HEAD)
        return;
    take(m, kind, p + MSG_HEAD, klen, p + MSG_HEAD + klen, len - MSG_HEAD - klen, expires);
}

/* receive - what the subscription has; false if it broke */
static bool receive(struct redis_mirror *m)
{
    if (redisBufferRead(m->sub) != REDIS_OK)
        return false;
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(m->sub, &reply) != REDIS_OK)
            return false;
        if (!reply)
            return true;
        message(m, reply);
        freeReplyObject(reply);
    }
}

/* send_queued - SET and PUBLISH everything queued, pipelined; false if the link broke */
static bool send_queued(struct redis_mirror *m)
{
    pthread_mutex_lock(&m->w.mu);
    struct out *list = m->head;
    m->head = m->tail = NULL;
    m->count = m->bytes = 0;
    pthread_mutex_unlock(&m->w.mu);
    struct buf name = BUF_INIT, val = BUF_INIT, msg = BUF_INIT;
    time_t now = time(NULL);
    size_t pending = 0;
    bool ok = true;
    for (struct out *o = list; o; o = o->next) {
        if (o->expires <= now || key_name(m, &name, o->kind, o->data, o->klen) < 0)
            continue;
        unsigned char head[MSG_HEAD];
        memcpy(head, m->node, NODE_LEN);
        head[NODE_LEN] = (unsigned char)o->kind;
        put_be(head + NODE_LEN + 1, (uint64_t)o->expires, 8);
        put_be(head + NODE_LEN + 9, o->klen, 2);
        buf_reset(&val);
        buf_reset(&msg);
        if (buf_append(&val, head + NODE_LEN + 1, 8) < 0 ||
            buf_append(&val, o->data + o->klen, o->vlen) < 0 ||
            buf_append(&msg, head, sizeof(head)) < 0 ||
            buf_append(&msg, o->data, o->klen + o->vlen) < 0)
            continue;
        redisAppendCommand(m->cmd, "SET %b %b EXAT %lld", buf_ptr(&name), buf_used(&name),
                           buf_ptr(&val), buf_used(&val), (long long)o->expires);
        redisAppendCommand(m->cmd, "PUBLISH %b %b", m->channel, m->chlen, buf_ptr(&msg),
                           buf_used(&msg));
        pending += 2;
    }
    for (; pending > 0; pending--) {
        void *reply = NULL;
        if (redisGetReply(m->cmd, &reply) != REDIS_OK || !reply) {
            ok = false;
            break;
        }
        redisReply *r = reply;
        if (r->type == REDIS_REPLY_ERROR) {
            unsigned long n;
            atomic_fetch_add(&m->errors, 1);
            if (lograte_tick(&m->w.down_log, time_mono_ms(), LOG_MS, &n))
                log_warn("tlsmgr", "redis %s: %s (%lu errors since the last warning)",
                         m->conf->path, r->str, n);
        } else if (r->type == REDIS_REPLY_STATUS) {
            atomic_fetch_add(&m->sent, 1);
        }
        freeReplyObject(r);
    }
    if (!ok) /* what was still on its way is lost: another node's full handshake at worst */
        atomic_fetch_add(&m->dropped, pending / 2);
    buf_free(&name);
    buf_free(&val);
    buf_free(&msg);
    while (list) {
        struct out *next = list->next;
        explicit_bzero(list->data, list->klen + list->vlen); /* ticket keys among them */
        free(list);
        list = next;
    }
    return ok;
}

/* tick - once a second: the next ticket key, made by the node that wins the election */
static bool tick(struct redis_mirror *m)
{
    time_t now = time(NULL), start;
    unsigned t = m->ticket_timeout;
    time_t lead = t / 2 < REDIS_MIRROR_LEAD_MAX ? t / 2 : REDIS_MIRROR_LEAD_MAX;
    if (!t || !tls_ticket_next_due(m->tc, t, now, lead, &start))
        return true;
    redisReply *r =
        redis_link_command(m->cmd, "SET %stls:ticket-next:%lld %b NX EX %u", m->conf->prefix,
                           (long long)start, m->node, (size_t)NODE_LEN, 2 * t);
    if (!r)
        return false;
    bool won = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    struct tls_ticket_key k;
    if (won && tls_ticket_make(m->tc, t, start, &k) == 0)
        log_info("tlsmgr", "redis %s: made the cluster's next ticket key, encrypting from %lld",
                 m->conf->path, (long long)start);
    explicit_bzero(&k, sizeof(k));
    return true;
}

static void *run(void *arg)
{
    struct redis_mirror *m = arg;
    while (!atomic_load(&m->w.stop)) {
        uint64_t now = time_mono_ms();
        if (!m->cmd && now < m->w.retry_at) {
            redis_worker_wait(&m->w, -1, (int)(m->w.retry_at - now));
            continue;
        }
        if (!m->cmd && !connect_all(m))
            continue;
        now = time_mono_ms();
        int ms = m->next_tick > now ? (int)(m->next_tick - now) : 0;
        if (redis_worker_wait(&m->w, m->sub->fd, ms) && !receive(m)) {
            down(m, m->sub->errstr[0] ? m->sub->errstr : "the subscription closed");
            continue;
        }
        if (!send_queued(m)) {
            down(m, m->cmd->errstr[0] ? m->cmd->errstr : "a command failed");
            continue;
        }
        if (time_mono_ms() >= m->next_tick) {
            m->next_tick = time_mono_ms() + TICK_MS;
            if (!tick(m))
                down(m, m->cmd->errstr[0] ? m->cmd->errstr : "the ticket election failed");
        }
    }
    return NULL;
}

int redis_mirror_start(struct redis_mirror **out, const struct redis_conf *conf,
                       struct tls_cache *cache, unsigned ticket_timeout)
{
    struct redis_mirror *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->conf = conf;
    m->tc = cache;
    m->ticket_timeout = ticket_timeout;
    m->chlen = (size_t)snprintf(m->channel, sizeof(m->channel), "%stls", conf->prefix);
    if (m->chlen >= sizeof(m->channel) || getrandom(m->node, NODE_LEN, 0) != NODE_LEN) {
        free(m);
        return -EINVAL;
    }
    m->w = (struct redis_worker){
        .conf = conf, .facility = "tlsmgr", .meanwhile = "TLS state stays on this node"};
    tls_cache_set_mirror(cache, mirror_put, m);
    int rc = redis_worker_start(&m->w, run, m);
    if (rc < 0) {
        tls_cache_set_mirror(cache, NULL, NULL);
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void redis_mirror_stop(struct redis_mirror *m)
{
    if (!m)
        return;
    tls_cache_set_mirror(m->tc, NULL, NULL);
    redis_worker_join(&m->w);
    if (m->cmd)
        redisFree(m->cmd);
    if (m->sub)
        redisFree(m->sub);
    for (struct out *o = m->head, *next; o; o = next) {
        next = o->next;
        explicit_bzero(o->data, o->klen + o->vlen);
        free(o);
    }
    redis_worker_free(&m->w);
    free(m);
}

void redis_mirror_stats(struct redis_mirror *m, struct redis_mirror_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!m)
        return;
    st->up = atomic_load(&m->w.up);
    st->sent = atomic_load(&m->sent);
    st->received = atomic_load(&m->received);
    st->dropped = atomic_load(&m->dropped);
    st->errors = atomic_load(&m->errors);
}
