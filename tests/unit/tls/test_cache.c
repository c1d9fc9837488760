/*
 * test_cache - the LMDB session cache: entries and expiry, sweep, list and
 * purge, a corrupt or foreign file set aside, the size bound, ticket-key
 * rotation, and resumption (TLS 1.3 tickets, TLS 1.2 session IDs) across two
 * separately opened cache instances, as across a daemon restart; the write
 * queue: puts that return while another process holds LMDB's writer lock, gets
 * served from the queue, flush, drain on close, the queue bound, and many
 * threads sharing one cache with few commits and syncs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/base/buf.h"
#include "tls/tls_cache.h"
#include "tls/tls_ctx.h"
#include "tls/tls_session.h"
#include "tls/tls_ticket.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

static char data_dir[1024];
static char tmp_dir[64];
static char db_path[128];

/* path - a file in tests/unit/tls/data */
static const char *path(const char *name)
{
    static char bufs[16][1200];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, sizeof(bufs[0]), "%s/%s", data_dir, name);
    return b;
}

static int setup(void **state)
{
    (void)state;
    snprintf(data_dir, sizeof(data_dir), "%s", __FILE__);
    char *slash = strrchr(data_dir, '/');
    if (slash)
        *slash = 0;
    strncat(data_dir, "/data", sizeof(data_dir) - strlen(data_dir) - 1);
    snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/tern-tls-cache-XXXXXX");
    if (!mkdtemp(tmp_dir))
        return -1;
    snprintf(db_path, sizeof(db_path), "%s/cache.lmdb", tmp_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* fresh - remove the cache files between tests */
static void fresh(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -f %s/cache.lmdb*", tmp_dir);
    assert_int_equal(system(cmd), 0);
}

/* count_fn - walk callback that counts */
static int count_fn(enum tls_cache_kind kind, const void *k, size_t klen, const void *v,
                    size_t vlen, time_t expires, void *arg)
{
    (void)kind, (void)k, (void)klen, (void)v, (void)vlen, (void)expires;
    ++*(int *)arg;
    return 0;
}

/* test_entries - put/get/expiry/delete/walk/purge as a table of steps */
static void test_entries(void **state)
{
    (void)state;
    fresh();
    struct tls_cache *tc;
    assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
    time_t now = time(NULL);
    enum { PUT, GET, DEL, SWEEP, PURGE, COUNT };
    static const char *const key1 = "example.com&mx1.example.com&192.0.2.1&25&may&0123abcd";
    static const struct {
        int op;
        enum tls_cache_kind kind;
        const char *key, *val;
        long expires; /* relative to now */
        long at;      /* get/sweep time relative to now */
        int rc;
    } steps[] = {
        {GET, TLS_CACHE_CLIENT, key1, NULL, 0, 0, -ENOENT},
        {PUT, TLS_CACHE_CLIENT, key1, "session-1", 100, 0, 0},
        {GET, TLS_CACHE_CLIENT, key1, "session-1", 0, 0, 0},
        {GET, TLS_CACHE_SERVER, key1, NULL, 0, 0, -ENOENT},   /* kinds are separate */
        {GET, TLS_CACHE_CLIENT, key1, NULL, 0, 100, -ENOENT}, /* expired at its expiry */
        {GET, TLS_CACHE_CLIENT, key1, "session-1", 0, 99, 0},
        {PUT, TLS_CACHE_CLIENT, key1, "session-2", 200, 0, 0}, /* replace */
        {GET, TLS_CACHE_CLIENT, key1, "session-2", 0, 150, 0},
        {PUT, TLS_CACHE_SERVER, "\x01\x02\x03", "server-1", 10, 0, 0},
        {PUT, TLS_CACHE_SERVER, "\x01\x02\x04", "server-2", 20, 0, 0},
        {PUT, TLS_CACHE_SERVER, "\x01\x02\x05", "server-3", 300, 0, 0},
        {PUT, TLS_CACHE_SERVER, "\x01\x02\x06", "server-4", 15, 0, 0},
        {COUNT, TLS_CACHE_SERVER, NULL, NULL, 0, 0, 4},
        {SWEEP, 0, NULL, NULL, 0, 25, 3}, /* three adjacent expired server entries */
        {COUNT, TLS_CACHE_SERVER, NULL, NULL, 0, 0, 1},
        {COUNT, TLS_CACHE_CLIENT, NULL, NULL, 0, 0, 1},
        {GET, TLS_CACHE_SERVER, "\x01\x02\x05", "server-3", 0, 0, 0},
        {DEL, TLS_CACHE_SERVER, "\x01\x02\x05", NULL, 0, 0, 0},
        {DEL, TLS_CACHE_SERVER, "\x01\x02\x05", NULL, 0, 0, -ENOENT},
        {PUT, TLS_CACHE_SERVER, "", "empty key", 10, 0, -EINVAL},
        {PURGE, TLS_CACHE_CLIENT, NULL, NULL, 0, 0, 1},
        {COUNT, TLS_CACHE_CLIENT, NULL, NULL, 0, 0, 0},
        {PUT, TLS_CACHE_SERVER, "a", "x", 10, 0, 0},
        {PUT, TLS_CACHE_TICKET_KEYS, "b", "y", 10, 0, 0},
        {PURGE, -1, NULL, NULL, 0, 0, 2},
        {SWEEP, 0, NULL, NULL, 0, 1000, 0},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct buf v = BUF_INIT;
        int rc = 0, n = 0;
        const char *k = steps[i].key;
        size_t klen = k ? strlen(k) : 0;
        switch (steps[i].op) {
        case PUT:
            rc = tls_cache_put(tc, steps[i].kind, k, klen, steps[i].val, strlen(steps[i].val),
                               now + steps[i].expires);
            break;
        case GET:
            rc = tls_cache_get(tc, steps[i].kind, k, klen, &v, now + steps[i].at, NULL);
            if (rc == 0 && strcmp(buf_ptr(&v), steps[i].val) != 0)
                fail_msg("step %zu: got \"%s\"", i, buf_ptr(&v));
            break;
        case DEL:
            rc = tls_cache_delete(tc, steps[i].kind, k, klen);
            break;
        case SWEEP:
            rc = tls_cache_sweep(tc, now + steps[i].at);
            break;
        case PURGE:
            rc = tls_cache_purge(tc, (int)steps[i].kind);
            break;
        case COUNT:
            rc = tls_cache_walk(tc, steps[i].kind, count_fn, &n);
            assert_int_equal(rc, n);
            break;
        }
        if (rc != steps[i].rc)
            fail_msg("step %zu: rc %d want %d", i, rc, steps[i].rc);
        buf_free(&v);
    }
    /* survives close and reopen */
    assert_int_equal(tls_cache_put(tc, TLS_CACHE_CLIENT, "k", 1, "v", 1, now + 60), 0);
    tls_cache_close(tc);
    assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
    struct buf v = BUF_INIT;
    assert_int_equal(tls_cache_get(tc, TLS_CACHE_CLIENT, "k", 1, &v, now, NULL), 0);
    assert_string_equal(buf_ptr(&v), "v");
    buf_free(&v);
    tls_cache_close(tc);
}

/* broken_files - how many PATH.broken.* files exist */
static int broken_files(void)
{
    DIR *d = opendir(tmp_dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strstr(e->d_name, "cache.lmdb.broken."))
            n++;
    closedir(d);
    return n;
}

/* test_broken_files - garbage and another program's LMDB file are set aside, not fatal */
static void test_broken_files(void **state)
{
    (void)state;
    static const char *const kinds[] = {"garbage", "foreign lmdb", "short"};
    for (size_t i = 0; i < 3; i++) {
        fresh();
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -f %s/cache.lmdb.broken.*", tmp_dir);
        assert_int_equal(system(cmd), 0);
        if (i == 0 || i == 2) {
            int fd = open(db_path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
            assert_true(fd >= 0);
            char junk[8192];
            memset(junk, 'x', sizeof(junk));
            assert_true(write(fd, junk, i == 0 ? sizeof(junk) : 10) > 0);
            close(fd);
        } else {
            /* an LMDB file with plain keys in its main database, like postmap's */
            MDB_env *env;
            MDB_txn *txn;
            MDB_dbi dbi;
            MDB_val k = {7, "example"}, v = {2, "OK"};
            assert_int_equal(mdb_env_create(&env), 0);
            assert_int_equal(mdb_env_open(env, db_path, MDB_NOSUBDIR, 0600), 0);
            assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
            assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
            assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
            assert_int_equal(mdb_txn_commit(txn), 0);
            mdb_env_close(env);
        }
        struct tls_cache *tc;
        int rc = tls_cache_open(&tc, db_path, 0);
        if (rc != 0)
            fail_msg("%s: open %d", kinds[i], rc);
        assert_int_equal(broken_files(), 1);
        time_t now = time(NULL);
        assert_int_equal(tls_cache_put(tc, TLS_CACHE_CLIENT, "k", 1, "v", 1, now + 60), 0);
        tls_cache_close(tc);
        /* the rebuilt file is ours: no second rename */
        assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
        assert_int_equal(broken_files(), 1);
        tls_cache_close(tc);
    }
}

/* test_size_bound - a small map stays usable: old entries make room for new ones */
static void test_size_bound(void **state)
{
    (void)state;
    fresh();
    struct tls_cache *tc;
    size_t map = 256 * 1024;
    assert_int_equal(tls_cache_open(&tc, db_path, map), 0);
    time_t now = time(NULL);
    char val[1500];
    memset(val, 's', sizeof(val));
    for (int i = 0; i < 1000; i++) {
        char key[64];
        snprintf(key, sizeof(key), "nexthop%04d&host&addr&25&may&digest", i);
        int rc =
            tls_cache_put(tc, TLS_CACHE_CLIENT, key, strlen(key), val, sizeof(val), now + 1000 + i);
        if (rc != 0)
            fail_msg("put %d: %d", i, rc);
    }
    /* puts are queued; eviction happens as the writer thread stores them. Under load a batch
     * may still find the map full after its evictions and drop an entry (a cache may: logged),
     * so of the newest (those that expire last) some are kept; the oldest are gone. */
    assert_int_equal(tls_cache_flush(tc), 0);
    struct buf v = BUF_INIT;
    int recent = 0;
    for (int i = 950; i < 1000; i++) {
        char key[64];
        snprintf(key, sizeof(key), "nexthop%04d&host&addr&25&may&digest", i);
        buf_reset(&v);
        if (tls_cache_get(tc, TLS_CACHE_CLIENT, key, strlen(key), &v, now, NULL) == 0 &&
            buf_used(&v) == sizeof(val))
            recent++;
    }
    if (recent == 0)
        fail_msg("none of the 50 newest entries kept");
    const char *oldest = "nexthop0000&host&addr&25&may&digest";
    assert_int_equal(tls_cache_get(tc, TLS_CACHE_CLIENT, oldest, strlen(oldest), &v, now, NULL),
                     -ENOENT);
    /* and the full map stays usable: one more entry, alone in its batch, is stored */
    const char *late = "late&host&addr&25&may&digest";
    assert_int_equal(
        tls_cache_put(tc, TLS_CACHE_CLIENT, late, strlen(late), val, sizeof(val), now + 5000), 0);
    assert_int_equal(tls_cache_flush(tc), 0);
    buf_reset(&v);
    assert_int_equal(tls_cache_get(tc, TLS_CACHE_CLIENT, late, strlen(late), &v, now, NULL), 0);
    assert_int_equal(buf_used(&v), sizeof(val));
    int n = 0;
    tls_cache_walk(tc, TLS_CACHE_CLIENT, count_fn, &n);
    assert_true(n > 10 && n < 1000);
    struct stat st;
    assert_int_equal(stat(db_path, &st), 0);
    assert_true((size_t)st.st_size <= map);
    buf_free(&v);
    tls_cache_close(tc);
}

/* test_full_map_keeps_storing - whatever batches filled the map, eviction still commits and the
 * cache goes on storing. Bursts of random length, each flushed, make the writer's batches differ
 * from seed to seed; before the writer kept room for eviction, about one seed in eleven filled the
 * map to the last page, after which no transaction (eviction included) could commit again. */
static void test_full_map_keeps_storing(void **state)
{
    (void)state;
    char val[1500];
    memset(val, 's', sizeof(val));
    time_t now = time(NULL);
    for (unsigned seed = 1; seed <= 40; seed++) {
        fresh();
        struct tls_cache *tc;
        assert_int_equal(tls_cache_open(&tc, db_path, 256 * 1024), 0);
        srand(seed);
        for (int i = 0; i < 600;) {
            int burst = 1 + rand() % 120;
            for (int j = 0; j < burst && i < 600; j++, i++) {
                char key[64];
                snprintf(key, sizeof(key), "nexthop%04d&host&addr&25&may&digest", i);
                assert_int_equal(tls_cache_put(tc, TLS_CACHE_CLIENT, key, strlen(key), val,
                                               sizeof(val), now + 1000 + i),
                                 0);
            }
            assert_int_equal(tls_cache_flush(tc), 0);
        }
        const char *late = "late&host&addr&25&may&digest";
        assert_int_equal(
            tls_cache_put(tc, TLS_CACHE_CLIENT, late, strlen(late), val, sizeof(val), now + 5000),
            0);
        assert_int_equal(tls_cache_flush(tc), 0);
        struct buf v = BUF_INIT;
        if (tls_cache_get(tc, TLS_CACHE_CLIENT, late, strlen(late), &v, now, NULL) != 0)
            fail_msg("seed %u: the map stayed full; a new entry was not stored", seed);
        buf_free(&v);
        tls_cache_close(tc);
    }
}

/* test_ticket_rotation - encrypt for the first half of a key's life, decrypt for all of it */
static void test_ticket_rotation(void **state)
{
    (void)state;
    fresh();
    struct tls_cache *tc;
    assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
    const unsigned T = 3600;
    time_t t0 = time(NULL);
    struct tls_ticket_key a, b, c, k;
    static const struct {
        long at;      /* relative to t0 */
        char current; /* 'A', 'B' or 'C' (new) */
        bool a_decrypts;
    } steps[] = {
        {0, 'A', true},          {1, 'A', true},
        {T - 1, 'A', true},      {T, 'B', true},         /* A has only T left: a new key encrypts */
        {T + 10, 'B', true},     {2 * T - 1, 'B', true}, /* A still decrypts */
        {2 * T, 'C', false},                             /* A expired, B has only T left */
        {2 * T + 5, 'C', false},
    };
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        time_t now = t0 + steps[i].at;
        assert_int_equal(tls_ticket_current(tc, T, now, &k), 0);
        if (i == 0)
            a = k;
        if (steps[i].current == 'B' && b.expires == 0)
            b = k;
        if (steps[i].current == 'C' && c.expires == 0) {
            c = k;
            if (memcmp(k.name, a.name, 16) == 0 || memcmp(k.name, b.name, 16) == 0)
                fail_msg("step %zu: expected a new key", i);
        }
        const struct tls_ticket_key *want = steps[i].current == 'A'   ? &a
                                            : steps[i].current == 'B' ? &b
                                                                      : &c;
        if (want && memcmp(k.name, want->name, sizeof(k.name)) != 0)
            fail_msg("step %zu: wrong current key", i);
        assert_true(k.expires > now + (time_t)T);
        int rc = tls_ticket_find(tc, a.name, now, &k);
        if ((rc == 0) != steps[i].a_decrypts)
            fail_msg("step %zu: key A find %d", i, rc);
        if (rc == 0)
            assert_memory_equal(k.aes, a.aes, sizeof(k.aes));
    }
    assert_memory_not_equal(a.aes, b.aes, sizeof(a.aes));
    assert_memory_not_equal(a.hmac, b.hmac, sizeof(a.hmac));
    /* the keys survive a reopen */
    tls_cache_close(tc);
    assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
    assert_int_equal(tls_ticket_find(tc, b.name, t0 + T + 1, &k), 0);
    assert_memory_equal(k.hmac, b.hmac, sizeof(k.hmac));
    tls_cache_close(tc);
}

/* pump - shuttle bytes until both handshakes end, then let the client read tickets */
static int pump(struct tls_session *c, struct tls_session *s)
{
    struct buf wire = BUF_INIT, plain = BUF_INIT;
    int crc = -EAGAIN, src = -EAGAIN;
    for (int round = 0; round < 50 && (crc == -EAGAIN || src == -EAGAIN); round++) {
        if (crc == -EAGAIN)
            crc = tls_session_handshake(c);
        tls_session_take_output(c, &wire);
        if (buf_used(&wire))
            tls_session_feed(s, buf_ptr(&wire), buf_used(&wire));
        buf_reset(&wire);
        if (src == -EAGAIN)
            src = tls_session_handshake(s);
        tls_session_take_output(s, &wire);
        if (buf_used(&wire))
            tls_session_feed(c, buf_ptr(&wire), buf_used(&wire));
        buf_reset(&wire);
        if ((crc < 0 && crc != -EAGAIN) || (src < 0 && src != -EAGAIN))
            break;
    }
    if (crc == 0 && src == 0)
        assert_int_equal(tls_session_read(c, &plain), -EAGAIN); /* NewSessionTicket, no data */
    buf_free(&wire);
    buf_free(&plain);
    return crc ? crc : src;
}

struct restart_case {
    const char *name;
    const char *protocols;
    bool tls12_ids;    /* TLS 1.2 with session IDs instead of tickets */
    bool server_cache; /* the restarted server has the cache */
    bool want_reuse;
    enum tls_cache_kind server_kind; /* where the server's state lives */
};

/* one_connection - a handshake; returns the saved client session in saved */
static void one_connection(const struct restart_case *t, struct tls_cache *tc, struct buf *saved,
                           bool want_reuse)
{
    char err[256];
    struct tls_ctx *sctx, *cctx;
    struct tls_session *s, *c;
    struct tls_ctx_params sp = {.cert_file = path("server-rsa.pem"),
                                .key_file = path("server-rsa.key"),
                                .protocols = t->protocols};
    struct tls_ctx_params cp = {.CAfile = path("ca.pem"), .protocols = t->protocols};
    assert_int_equal(tls_ctx_new(&sctx, true, &sp, err, sizeof(err)), 0);
    if (tc)
        assert_int_equal(tls_ctx_use_cache(sctx, tc, 3600), 0);
    if (t->tls12_ids)
        wolfSSL_CTX_NoTicketTLSv12(tls_ctx_wolf(sctx, 0));
    assert_int_equal(tls_ctx_new(&cctx, false, &cp, err, sizeof(err)), 0);
    assert_int_equal(tls_session_new(&s, sctx, true, NULL), 0);
    assert_int_equal(tls_session_new(&c, cctx, false, "server.example.com"), 0);
    if (buf_used(saved))
        assert_int_equal(tls_session_resume(c, buf_ptr(saved), buf_used(saved)), 0);
    int rc = pump(c, s);
    if (rc != 0)
        fail_msg("%s: handshake %s / %s", t->name, tls_session_error(c), tls_session_error(s));
    const struct tls_info *ci = tls_session_info(c), *si = tls_session_info(s);
    if (ci->reused != want_reuse || si->reused != want_reuse)
        fail_msg("%s: reused client %d server %d, want %d", t->name, ci->reused, si->reused,
                 want_reuse);
    /* a resumed session reports the trust and names of the full one */
    assert_true(ci->peer_cert);
    assert_true(ci->peer_trusted);
    assert_string_equal(ci->peer_CN, "server.example.com");
    const char *ref[] = {"server.example.com"};
    assert_int_equal(tls_session_peer_match(c, ref, 1), 1);
    buf_reset(saved);
    assert_int_equal(tls_session_save(c, saved), 0);
    tls_session_free(c);
    tls_session_free(s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* test_resume_across_restart - sessions and ticket keys live in the file, not the process */
static void test_resume_across_restart(void **state)
{
    (void)state;
    static const struct restart_case cases[] = {
        {"tls1.3 tickets", NULL, false, true, true, TLS_CACHE_TICKET_KEYS},
        {"tls1.2 tickets", "TLSv1.2", false, true, true, TLS_CACHE_TICKET_KEYS},
        {"tls1.2 session ids", "TLSv1.2", true, true, true, TLS_CACHE_SERVER},
        {"tls1.3, restarted without the cache", NULL, false, false, false, TLS_CACHE_TICKET_KEYS},
        {"tls1.2 ids, restarted without the cache", "TLSv1.2", true, false, false,
         TLS_CACHE_SERVER},
    };
    const char *ckey = "example.com&server.example.com&192.0.2.1&25&verify&digest";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct restart_case *t = &cases[i];
        struct buf saved = BUF_INIT;
        struct tls_cache *tc;
        time_t now = time(NULL);
        fresh();
        /* first "process": full handshake; the client stores its session in the cache */
        assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
        one_connection(t, tc, &saved, false);
        assert_int_equal(tls_cache_put(tc, TLS_CACHE_CLIENT, ckey, strlen(ckey), buf_ptr(&saved),
                                       buf_used(&saved), now + 3600),
                         0);
        int n = 0;
        tls_cache_walk(tc, t->server_kind, count_fn, &n);
        if (n < 1)
            fail_msg("%s: nothing in %s", t->name, tls_cache_kind_name(t->server_kind));
        tls_cache_close(tc);
        buf_reset(&saved);
        /* second "process": everything new but the file */
        assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
        assert_int_equal(tls_cache_get(tc, TLS_CACHE_CLIENT, ckey, strlen(ckey), &saved, now, NULL),
                         0);
        one_connection(t, t->server_cache ? tc : NULL, &saved, t->want_reuse);
        tls_cache_close(tc);
        buf_free(&saved);
    }
}

/* A child process that holds LMDB's writer lock on db_path: while it does, the
 * cache's writer thread cannot commit, so whatever a test sees came from the
 * queue, and a put that touched the disk would hang. */
struct blocker {
    pid_t pid;
    int to_child, from_child;
};

/* blocker_start - fork the child before the parent starts threads; it waits for blocker_hold */
static void blocker_start(struct blocker *b)
{
    int down[2], up[2];
    assert_int_equal(pipe(down), 0);
    assert_int_equal(pipe(up), 0);
    b->pid = fork();
    assert_true(b->pid >= 0);
    if (b->pid == 0) {
        MDB_env *env;
        MDB_txn *txn;
        unsigned char c;
        close(down[1]);
        close(up[0]);
        if (read(down[0], &c, 1) != 1 || mdb_env_create(&env) != 0 ||
            mdb_env_open(env, db_path, MDB_NOSUBDIR, 0600) != 0 ||
            mdb_txn_begin(env, NULL, 0, &txn) != 0)
            _exit(2);
        if (write(up[1], "h", 1) != 1 || read(down[0], &c, 1) != 1)
            _exit(3);
        usleep((useconds_t)c * 10000); /* keep holding c * 10 ms after the release */
        mdb_txn_abort(txn);
        mdb_env_close(env);
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    b->to_child = down[1];
    b->from_child = up[0];
}

/* blocker_hold - return once the child holds the writer lock */
static void blocker_hold(struct blocker *b)
{
    char c;
    assert_int_equal(write(b->to_child, "g", 1), 1);
    assert_int_equal(read(b->from_child, &c, 1), 1);
}

/* blocker_release - let go after delay_10ms * 10 ms; blocker_reap collects the child */
static void blocker_release(struct blocker *b, unsigned char delay_10ms)
{
    assert_int_equal(write(b->to_child, &delay_10ms, 1), 1);
}

/* blocker_reap - wait for the child; it must have exited 0 */
static void blocker_reap(struct blocker *b)
{
    int status;
    assert_int_equal(waitpid(b->pid, &status, 0), b->pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(b->to_child);
    close(b->from_child);
}

/* raw_lookup - look key up in the file from another process; 0 found with val, 1 absent */
static int raw_lookup(const char *dbname, const char *key, const char *val)
{
    pid_t pid = fork();
    int status;
    assert_true(pid >= 0);
    if (pid == 0) {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        MDB_val k = {strlen(key), (void *)key}, v;
        if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 8) != 0 ||
            mdb_env_open(env, db_path, MDB_NOSUBDIR | MDB_RDONLY, 0600) != 0 ||
            mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0 ||
            mdb_dbi_open(txn, dbname, 0, &dbi) != 0)
            _exit(2);
        int rc = mdb_get(txn, dbi, &k, &v);
        if (rc == MDB_NOTFOUND)
            _exit(1);
        _exit(rc == 0 && v.mv_size == 8 + strlen(val) &&
                      memcmp((char *)v.mv_data + 8, val, strlen(val)) == 0
                  ? 0
                  : 2);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* test_queue_visible - with the file locked by another writer, puts return and gets see them */
static void test_queue_visible(void **state)
{
    (void)state;
    enum { PUT, GET, DEL };
    static const struct {
        int op;
        enum tls_cache_kind kind;
        const char *key, *val;
        long expires; /* relative to now */
        long at;      /* get time relative to now */
        int rc;
    } steps[] = {
        {GET, TLS_CACHE_CLIENT, "k1", NULL, 0, 0, -ENOENT},
        {PUT, TLS_CACHE_CLIENT, "k1", "v1", 100, 0, 0},
        {GET, TLS_CACHE_CLIENT, "k1", "v1", 0, 0, 0},
        {PUT, TLS_CACHE_CLIENT, "k1", "v2", 100, 0, 0},
        {GET, TLS_CACHE_CLIENT, "k1", "v2", 0, 0, 0},         /* newest wins */
        {GET, TLS_CACHE_SERVER, "k1", NULL, 0, 0, -ENOENT},   /* kinds are separate */
        {GET, TLS_CACHE_CLIENT, "k1", NULL, 0, 100, -ENOENT}, /* expiry holds in the queue */
        {PUT, TLS_CACHE_SERVER, "k2", "x", 100, 0, 0},
        {DEL, TLS_CACHE_SERVER, "k2", NULL, 0, 0, 0},
        {GET, TLS_CACHE_SERVER, "k2", NULL, 0, 0, -ENOENT},
        {DEL, TLS_CACHE_SERVER, "k2", NULL, 0, 0, -ENOENT},
        {DEL, TLS_CACHE_SERVER, "never", NULL, 0, 0, -ENOENT},
        {PUT, TLS_CACHE_SERVER, "k3", "y", 100, 0, 0},
        {DEL, TLS_CACHE_SERVER, "k3", NULL, 0, 0, 0},
        {PUT, TLS_CACHE_SERVER, "k3", "z", 100, 0, 0}, /* put after delete */
        {GET, TLS_CACHE_SERVER, "k3", "z", 0, 0, 0},
    };
    struct blocker b;
    struct tls_cache *tc;
    struct tls_cache_stats st0, st;
    fresh();
    time_t now = time(NULL);
    blocker_start(&b);
    assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
    /* an entry in the file before the lock: deleting it is queued too */
    assert_int_equal(tls_cache_put(tc, TLS_CACHE_CLIENT, "old", 3, "o", 1, now + 100), 0);
    assert_int_equal(tls_cache_flush(tc), 0);
    blocker_hold(&b);
    tls_cache_stats(tc, &st0);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct buf v = BUF_INIT;
        int rc = 0;
        const char *k = steps[i].key;
        switch (steps[i].op) {
        case PUT:
            rc = tls_cache_put(tc, steps[i].kind, k, strlen(k), steps[i].val, strlen(steps[i].val),
                               now + steps[i].expires);
            break;
        case GET:
            rc = tls_cache_get(tc, steps[i].kind, k, strlen(k), &v, now + steps[i].at, NULL);
            if (rc == 0 && strcmp(buf_ptr(&v), steps[i].val) != 0)
                fail_msg("step %zu: got \"%s\"", i, buf_ptr(&v));
            break;
        case DEL:
            rc = tls_cache_delete(tc, steps[i].kind, k, strlen(k));
            break;
        }
        if (rc != steps[i].rc)
            fail_msg("step %zu: rc %d want %d", i, rc, steps[i].rc);
        buf_free(&v);
    }
    struct buf v = BUF_INIT;
    assert_int_equal(tls_cache_delete(tc, TLS_CACHE_CLIENT, "old", 3), 0);
    assert_int_equal(tls_cache_get(tc, TLS_CACHE_CLIENT, "old", 3, &v, now, NULL), -ENOENT);
    assert_int_equal(tls_cache_delete(tc, TLS_CACHE_CLIENT, "old", 3), -ENOENT);
    /* a ticket key made now is found at once (tls_ticket.c reads it back); no
     * ticket key was queued before, so tls_ticket_current's walk does not wait */
    struct tls_ticket_key key, found;
    assert_int_equal(tls_ticket_current(tc, 3600, now, &key), 0);
    assert_int_equal(tls_ticket_find(tc, key.name, now, &found), 0);
    assert_memory_equal(found.aes, key.aes, sizeof(key.aes));
    /* nothing reached the file: the writer waits for the lock */
    tls_cache_stats(tc, &st);
    assert_int_equal(st.commits, st0.commits);
    assert_true(st.unwritten > 0);
    assert_int_equal(raw_lookup("client", "k1", "v2"), 1);
    assert_int_equal(raw_lookup("client", "old", "o"), 0);
    blocker_release(&b, 0);
    assert_int_equal(tls_cache_flush(tc), 0);
    blocker_reap(&b);
    tls_cache_stats(tc, &st);
    assert_int_equal(st.unwritten, 0);
    assert_true(st.commits > st0.commits);
    /* the file now says what the queue said */
    assert_int_equal(raw_lookup("client", "k1", "v2"), 0);
    assert_int_equal(raw_lookup("server", "k2", "x"), 1);
    assert_int_equal(raw_lookup("server", "k3", "z"), 0);
    assert_int_equal(raw_lookup("client", "old", "o"), 1);
    assert_int_equal(tls_ticket_current(tc, 3600, now + 1, &found), 0);
    assert_memory_equal(found.name, key.name, sizeof(key.name)); /* no second key */
    buf_free(&v);
    tls_cache_close(tc);
}

/* test_flush_persists - after flush the entry is in the file, seen by another process */
static void test_flush_persists(void **state)
{
    (void)state;
    struct tls_cache *tc;
    struct tls_cache_stats st;
    struct buf v = BUF_INIT;
    fresh();
    time_t now = time(NULL);
    assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
    assert_int_equal(tls_cache_put(tc, TLS_CACHE_SERVER, "sid", 3, "session", 7, now + 60), 0);
    assert_int_equal(tls_cache_flush(tc), 0);
    tls_cache_stats(tc, &st);
    assert_int_equal(st.unwritten, 0);
    assert_int_equal(raw_lookup("server", "sid", "session"), 0);
    /* the disk flush follows within about a second */
    for (int i = 0; i < 300 && st.syncs == 0; i++) {
        usleep(10000);
        tls_cache_stats(tc, &st);
    }
    assert_int_equal(st.syncs, 1);
    tls_cache_close(tc);
    assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
    assert_int_equal(tls_cache_get(tc, TLS_CACHE_SERVER, "sid", 3, &v, now, NULL), 0);
    assert_string_equal(buf_ptr(&v), "session");
    buf_free(&v);
    tls_cache_close(tc);
}

/* test_close_drains - close writes what is still queued */
static void test_close_drains(void **state)
{
    (void)state;
    struct blocker b;
    struct tls_cache *tc;
    struct tls_cache_stats st;
    const int n = 500;
    fresh();
    time_t now = time(NULL);
    blocker_start(&b);
    assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
    blocker_hold(&b);
    for (int i = 0; i < n; i++) {
        char key[32], val[32];
        snprintf(key, sizeof(key), "key%03d", i);
        snprintf(val, sizeof(val), "val%03d", i);
        assert_int_equal(
            tls_cache_put(tc, TLS_CACHE_CLIENT, key, strlen(key), val, strlen(val), now + 60), 0);
    }
    tls_cache_stats(tc, &st);
    assert_int_equal(st.unwritten, n);
    blocker_release(&b, 20); /* still locked for 200 ms while close waits */
    tls_cache_close(tc);
    blocker_reap(&b);
    assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
    int count = 0;
    assert_int_equal(tls_cache_walk(tc, TLS_CACHE_CLIENT, count_fn, &count), n);
    struct buf v = BUF_INIT;
    assert_int_equal(tls_cache_get(tc, TLS_CACHE_CLIENT, "key499", 6, &v, now, NULL), 0);
    assert_string_equal(buf_ptr(&v), "val499");
    buf_free(&v);
    tls_cache_close(tc);
}

/* test_queue_bound - a full queue drops its oldest entries, by count and by bytes */
static void test_queue_bound(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        size_t vlen;
        int puts;
    } cases[] = {
        /* queue and inflight batch each hold one bound at most: 100+ must go */
        {"count", 8, 2 * TLS_CACHE_PENDING_MAX + 100},
        {"bytes", 64 * 1024, 2 * (int)(TLS_CACHE_PENDING_BYTES / (64 * 1024)) + 100},
    };
    static char val[64 * 1024];
    memset(val, 'v', sizeof(val));
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct blocker b;
        struct tls_cache *tc;
        struct tls_cache_stats st;
        char key[32];
        fresh();
        time_t now = time(NULL);
        blocker_start(&b);
        assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
        blocker_hold(&b);
        for (int i = 0; i < cases[c].puts; i++) {
            snprintf(key, sizeof(key), "key%05d", i);
            assert_int_equal(
                tls_cache_put(tc, TLS_CACHE_CLIENT, key, strlen(key), val, cases[c].vlen, now + 60),
                0);
        }
        tls_cache_stats(tc, &st);
        if (st.dropped < 100 || st.dropped + st.unwritten != (unsigned long long)cases[c].puts)
            fail_msg("%s: dropped %llu unwritten %llu of %d", cases[c].name, st.dropped,
                     st.unwritten, cases[c].puts);
        struct buf v = BUF_INIT;
        assert_int_equal(tls_cache_get(tc, TLS_CACHE_CLIENT, key, strlen(key), &v, now, NULL), 0);
        assert_int_equal(buf_used(&v), cases[c].vlen);
        buf_free(&v);
        blocker_release(&b, 0);
        tls_cache_close(tc);
        blocker_reap(&b);
        assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
        int count = 0;
        tls_cache_walk(tc, TLS_CACHE_CLIENT, count_fn, &count);
        if ((unsigned long long)count != st.unwritten)
            fail_msg("%s: %d in the file, want %llu", cases[c].name, count, st.unwritten);
        tls_cache_close(tc);
    }
}

/* THREADS * PUTS_EACH stays under TLS_CACHE_PENDING_MAX, so that no entry can be dropped even
 * when the writer thread gets no CPU until the end (a loaded CI machine) */
enum { THREADS = 8, PUTS_EACH = 500 };
_Static_assert(THREADS * PUTS_EACH < TLS_CACHE_PENDING_MAX, "the test must not overflow the queue");

struct worker {
    struct tls_cache *tc;
    int id;
    time_t now;
    int errors;
};

/* worker_main - puts, gets of what it just put, and some deletes, as a handshake thread would */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct buf v = BUF_INIT;
    for (int i = 0; i < PUTS_EACH; i++) {
        char key[32], val[32];
        snprintf(key, sizeof(key), "t%d-key%04d", w->id, i);
        snprintf(val, sizeof(val), "t%d-val%04d", w->id, i);
        if (tls_cache_put(w->tc, TLS_CACHE_CLIENT, key, strlen(key), val, strlen(val),
                          w->now + 60) != 0)
            w->errors++;
        buf_reset(&v);
        if (tls_cache_get(w->tc, TLS_CACHE_CLIENT, key, strlen(key), &v, w->now, NULL) != 0 ||
            buf_used(&v) != strlen(val) || memcmp(buf_ptr(&v), val, strlen(val)) != 0)
            w->errors++;
        if (i % 10 == 0) {
            if (tls_cache_delete(w->tc, TLS_CACHE_CLIENT, key, strlen(key)) != 0 ||
                tls_cache_get(w->tc, TLS_CACHE_CLIENT, key, strlen(key), &v, w->now, NULL) !=
                    -ENOENT)
                w->errors++;
        }
    }
    buf_free(&v);
    return NULL;
}

/* test_threads - 8 threads x 1000 puts on one cache: batched commits, bounded syncs */
static void test_threads(void **state)
{
    (void)state;
    struct tls_cache *tc;
    struct tls_cache_stats st;
    pthread_t th[THREADS];
    struct worker w[THREADS];
    struct timespec t0, t1;
    fresh();
    assert_int_equal(tls_cache_open(&tc, db_path, 0), 0);
    time_t now = time(NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.tc = tc, .id = i, .now = now};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].errors, 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(tls_cache_flush(tc), 0);
    tls_cache_stats(tc, &st);
    print_message("%d puts in %.3f s: %llu commits, %llu syncs, %llu dropped\n",
                  THREADS * PUTS_EACH, secs, st.commits, st.syncs, st.dropped);
    assert_int_equal(st.puts, THREADS * PUTS_EACH);
    assert_int_equal(st.dropped, 0);
    assert_true(secs < 10); /* a sanity bound, not a benchmark: one sync per put took longer */
    assert_true(st.commits * 10 < st.puts);
    assert_true((double)st.syncs <= secs + 2);
    int count = 0;
    tls_cache_walk(tc, TLS_CACHE_CLIENT, count_fn, &count);
    assert_int_equal(count, THREADS * PUTS_EACH * 9 / 10);
    tls_cache_close(tc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries),         cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_size_bound),      cmocka_unit_test(test_full_map_keeps_storing),
        cmocka_unit_test(test_ticket_rotation), cmocka_unit_test(test_resume_across_restart),
        cmocka_unit_test(test_queue_visible),   cmocka_unit_test(test_flush_persists),
        cmocka_unit_test(test_close_drains),    cmocka_unit_test(test_queue_bound),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
