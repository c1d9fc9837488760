/*
 * test_cipher - the cipher suites tern's wolfSSL objects really use for
 * Postfix's grades (export, low, medium, high, null), protocol ranges and
 * exclusions, on both sides, per context and per session:
 *   client: the suites of the ClientHello a tls_session sends;
 *   server: every suite this wolfSSL has, offered alone by a plain wolfSSL
 *           client: the ones a handshake completes with.
 * (wolfSSL_get_ciphers_compat() is no witness: in 5.5 it leaves suites out.)
 *
 * Debian's wolfSSL compiles in suites that OpenSSL 3 dropped (RC4, 3DES,
 * NULL, anonymous, PSK, integrity-only TLS 1.3): none of them may be
 * offered or accepted, whatever the grade. Also Postfix's exclusion syntax
 * (tls_cipher_list) and the per-session lists of a per-site policy
 * (tls_session_restrict).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/base/buf.h"
#include "tls/tls_cipher.h"
#include "tls/tls_ctx.h"
#include "tls/tls_session.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

static char data_dir[1024];

/* path - a file in tests/unit/tls/data */
static const char *path(const char *name)
{
    static char bufs[8][1200];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s/%s", data_dir, name);
    return b;
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(data_dir, sizeof(data_dir), "%s", TLS_DATA_DIR);
    return 0;
}

/* hello_suites - the suites of the ClientHello at the start of wire, ":"-framed wolfSSL names */
static void hello_suites(const unsigned char *p, size_t n, char *out, size_t len)
{
    /* record header 5, handshake header 4, version 2, random 32, session id */
    assert_true(n > 5 + 4 + 2 + 32 + 1 && p[0] == 22 && p[5] == 1);
    size_t at = 5 + 4 + 2 + 32;
    at += 1 + p[at];
    assert_true(at + 2 <= n);
    size_t sl = (size_t)p[at] << 8 | p[at + 1], used = (size_t)snprintf(out, len, ":");
    at += 2;
    assert_true(at + sl <= n);
    for (size_t i = 0; i + 1 < sl; i += 2) {
        const char *name = wolfSSL_get_cipher_name_from_suite(p[at + i], p[at + i + 1]);
        char unknown[16];
        if (!name || !strcmp(name, "None")) {
            snprintf(unknown, sizeof(unknown), "0x%02x%02x", p[at + i], p[at + i + 1]);
            name = unknown;
        }
        used += (size_t)snprintf(out + used, len - used, "%s:", name);
        assert_true(used < len);
    }
}

/* client_offer - the suites a client session of ctx offers, after tls_session_restrict() when
 * any of protocols, grade, exclude is set; the restrict's return code */
static int client_offer(struct tls_ctx *ctx, const char *protocols, const char *grade,
                        const char *exclude, char *out, size_t len, char *err, size_t errlen)
{
    struct tls_session *s;
    struct buf wire = BUF_INIT;
    int rc = 0;
    assert_int_equal(tls_session_new(&s, ctx, false, "mx.example.net"), 0);
    if (protocols || grade || exclude)
        rc = tls_session_restrict(s, protocols, grade, exclude, err, errlen);
    if (rc == 0) {
        assert_int_equal(tls_session_handshake(s), -EAGAIN);
        assert_true(tls_session_take_output(s, &wire) > 0);
        hello_suites((const unsigned char *)buf_ptr(&wire), buf_used(&wire), out, len);
    }
    buf_free(&wire);
    tls_session_free(s);
    return rc;
}

/* a plain wolfSSL client over memory: what the server probe offers */
struct mem_io {
    struct buf in; /* from the server, not yet read */
    size_t off;
};

static int mem_recv(WOLFSSL *ssl, char *b, int sz, void *arg)
{
    (void)ssl;
    struct mem_io *m = arg;
    size_t left = buf_used(&m->in) - m->off;
    if (left == 0)
        return WOLFSSL_CBIO_ERR_WANT_READ;
    size_t n = left < (size_t)sz ? left : (size_t)sz;
    memcpy(b, buf_ptr(&m->in) + m->off, n);
    m->off += n;
    return (int)n;
}

static struct tls_session *probe_server; /* where mem_send delivers */

static int mem_send(WOLFSSL *ssl, char *b, int sz, void *arg)
{
    (void)ssl;
    (void)arg;
    return tls_session_feed(probe_server, b, (size_t)sz) == 0 ? sz : WOLFSSL_CBIO_ERR_GENERAL;
}

/* probe_chosen - does a plain wolfSSL client offering the suites of NAME (one, or a ":" list of
 * one protocol) in that order complete a handshake with a server session of sctx? The suite the
 * server chose in *chosen when it does (and chosen is not null) */
static bool probe_chosen(struct tls_ctx *sctx, const char *name, char *chosen, size_t len)
{
    bool tls13 = !strncmp(name, "TLS13-", 6), done = false;
    WOLFSSL_CTX *cw = wolfSSL_CTX_new(wolfTLS_client_method());
    assert_non_null(cw);
    wolfSSL_CTX_set_verify(cw, WOLFSSL_VERIFY_NONE, NULL);
    wolfSSL_CTX_set_min_proto_version(cw, tls13 ? TLS1_3_VERSION : TLS1_1_VERSION);
    wolfSSL_CTX_set_max_proto_version(cw, tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
    if (wolfSSL_CTX_set_cipher_list(cw, name) != WOLFSSL_SUCCESS) {
        wolfSSL_CTX_free(cw);
        return false;
    }
    WOLFSSL *c = wolfSSL_new(cw);
    struct mem_io m = {.in = BUF_INIT};
    struct tls_session *s;
    assert_int_equal(tls_session_new(&s, sctx, true, NULL), 0);
    probe_server = s;
    wolfSSL_SSLSetIORecv(c, mem_recv);
    wolfSSL_SSLSetIOSend(c, mem_send);
    wolfSSL_SetIOReadCtx(c, &m);
    wolfSSL_SetIOWriteCtx(c, &m);
    for (int round = 0; round < 20 && !done; round++) {
        int rc = wolfSSL_connect(c);
        if (rc != WOLFSSL_SUCCESS && wolfSSL_get_error(c, rc) != WOLFSSL_ERROR_WANT_READ)
            break;
        int src = tls_session_handshake(s);
        tls_session_take_output(s, &m.in);
        done = rc == WOLFSSL_SUCCESS && src == 0;
        if (src < 0 && src != -EAGAIN)
            break;
    }
    if (done && chosen)
        snprintf(chosen, len, "%s", wolfSSL_get_cipher_name(c));
    tls_session_free(s);
    buf_free(&m.in);
    wolfSSL_free(c);
    wolfSSL_CTX_free(cw);
    return done;
}

/* probe - does a one-suite client complete a handshake with a server session of sctx? */
static bool probe(struct tls_ctx *sctx, const char *name)
{
    return probe_chosen(sctx, name, NULL, 0);
}

/* server_accepts - every suite this wolfSSL has that a one-suite client completes with */
static void server_accepts(struct tls_ctx *sctx, char *out, size_t len)
{
    static char all[16384];
    assert_int_equal(wolfSSL_get_ciphers(all, (int)sizeof(all)), WOLFSSL_SUCCESS);
    size_t used = (size_t)snprintf(out, len, ":");
    for (char *save = NULL, *name = strtok_r(all, ":", &save); name;
         name = strtok_r(NULL, ":", &save))
        if (probe(sctx, name)) {
            used += (size_t)snprintf(out + used, len - used, "%s:", name);
            assert_true(used < len);
        }
}

/* has - is suite NAME in the framed list? */
static bool has(const char *list, const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), ":%s:", name);
    return strstr(list, key) != NULL;
}

/* never_offered - no suite of a class tern must never offer; the offender in *bad */
static bool never_offered(const char *list, char *bad, size_t badlen)
{
    /* NULL (also TLS 1.3 integrity-only TLS13-SHA256-SHA256), RC4, DES and 3DES
     * (DES-CBC3), EXPORT, MD5, anonymous (ADH, AECDH), PSK, SRP, the draft
     * ChaCha20 code points (-OLD), CCM with a 64-bit tag, code points
     * wolfSSL has no name for (0x....) */
    static const char *const bad_parts[] = {"NULL", "RC4",       "DES",   "EXP",  "MD5",
                                            "ADH",  "AECDH",     "anon",  "PSK",  "SRP",
                                            "-OLD", "TLS13-SHA", "CCM-8", "CCM8", "0x"};
    const char *p = list + 1;
    while (*p) {
        size_t n = strcspn(p, ":");
        for (size_t i = 0; i < sizeof(bad_parts) / sizeof(bad_parts[0]); i++) {
            char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)n, p);
            if (strstr(name, bad_parts[i])) {
                snprintf(bad, badlen, "%s", name);
                return false;
            }
        }
        p += n + (p[n] == ':');
    }
    return true;
}

/* cbc_count - suites of the list that are not AEAD (CBC with an HMAC) */
static int cbc_count(const char *list)
{
    int n = 0;
    const char *p = list + 1;
    while (*p) {
        size_t len = strcspn(p, ":");
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)len, p);
        if (strncmp(name, "TLS13-", 6) != 0 && !strstr(name, "GCM") && !strstr(name, "CCM") &&
            !strstr(name, "CHACHA20-POLY1305"))
            n++;
        p += len + (p[len] == ':');
    }
    return n;
}

struct grade_case {
    bool server;
    const char *grade;     /* NULL: the context's default */
    const char *protocols; /* NULL: all */
    bool cbc;              /* CBC suites expected (legacy grades, or below TLS 1.2) */
};

static const struct grade_case grade_cases[] = {
    /* Postfix's defaults: medium, TLS 1.2 and up: AEAD with forward secrecy only */
    {true, "medium", ">=TLSv1.2", false},
    {false, "medium", ">=TLSv1.2", false},
    {true, "high", ">=TLSv1.2", false},
    {false, "high", ">=TLSv1.2", false},
    {false, NULL, ">=TLSv1.2", false},
    {false, "MEDIUM", "TLSv1.2 TLSv1.3", false},
    {false, "High", "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", false},
    /* the legacy grades add CBC (still never RC4, 3DES, NULL, ...) */
    {true, "low", ">=TLSv1.2", true},
    {false, "low", ">=TLSv1.2", true},
    {false, "export", ">=TLSv1.2", true},
    /* widened below TLS 1.2: CBC joins, as those protocols have no AEAD suite */
    {true, "medium", ">=TLSv1", true},
    {false, "medium", "!SSLv2, !SSLv3", true},
    {false, NULL, NULL, true},
};

/* test_grades - what each side really offers or accepts per grade and protocol range */
static void test_grades(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(grade_cases) / sizeof(grade_cases[0]); i++) {
        const struct grade_case *c = &grade_cases[i];
        struct tls_ctx_params p = {.protocols = c->protocols, .cipher_grade = c->grade};
        if (c->server) { /* both certificates: RSA and ECDSA suites can be probed */
            p.cert_file = path("server-rsa.pem");
            p.key_file = path("server-rsa.key");
            p.eccert_file = path("server-ec.pem");
            p.eckey_file = path("server-ec.key");
        }
        struct tls_ctx *ctx = NULL;
        char err[256] = "", list[8192], bad[128];
        if (tls_ctx_new(&ctx, c->server, &p, err, sizeof(err)) < 0)
            fail_msg("case %zu (%s %s %s): %s", i, c->server ? "server" : "client",
                     c->grade ? c->grade : "-", c->protocols ? c->protocols : "-", err);
        if (c->server)
            server_accepts(ctx, list, sizeof(list));
        else
            assert_int_equal(
                client_offer(ctx, NULL, NULL, NULL, list, sizeof(list), err, sizeof(err)), 0);
        if (!never_offered(list, bad, sizeof(bad)))
            fail_msg("case %zu (%s %s %s): %s %s in %s", i, c->server ? "server" : "client",
                     c->grade ? c->grade : "-", c->protocols ? c->protocols : "-",
                     c->server ? "accepts" : "offers", bad, list);
        if (!has(list, "TLS13-AES128-GCM-SHA256") || !has(list, "TLS13-AES256-GCM-SHA384") ||
            !has(list, "ECDHE-ECDSA-AES128-GCM-SHA256") ||
            !has(list, "ECDHE-RSA-AES256-GCM-SHA384") ||
            !has(list, "ECDHE-ECDSA-CHACHA20-POLY1305"))
            fail_msg("case %zu: an expected AEAD suite is missing from %s", i, list);
        if (c->cbc != (cbc_count(list) > 0))
            fail_msg("case %zu (%s %s %s): %d CBC suites, want %s: %s", i,
                     c->server ? "server" : "client", c->grade ? c->grade : "-",
                     c->protocols ? c->protocols : "-", cbc_count(list), c->cbc ? "some" : "none",
                     list);
        if (c->cbc && !has(list, "ECDHE-ECDSA-AES128-SHA") && !has(list, "ECDHE-RSA-AES128-SHA"))
            fail_msg("case %zu: no TLS 1.0/1.1-capable CBC suite in %s", i, list);
        if (!c->server && has(list, "DHE-RSA-AES256-GCM-SHA384") == false)
            fail_msg("case %zu: the client offers no DHE suite: %s", i, list);
        tls_ctx_free(ctx);
    }
}

/* test_bad_grades - null (no encryption) and unknown grades are refused with their name */
static void test_bad_grades(void **state)
{
    (void)state;
    static const struct {
        bool server;
        const char *grade;
        const char *in_msg;
    } cases[] = {
        {true, "null", "null"},
        {false, "null", "null"},
        {false, "NULL", "NULL"},
        {true, "strong", "strong"},
        {false, "HIGH:MEDIUM:!RC4", "HIGH:MEDIUM:!RC4"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tls_ctx_params p = {.cipher_grade = cases[i].grade};
        if (cases[i].server) {
            p.cert_file = path("server-ec.pem");
            p.key_file = path("server-ec.key");
        }
        struct tls_ctx *ctx = NULL;
        char err[256] = "";
        int rc = tls_ctx_new(&ctx, cases[i].server, &p, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, cases[i].in_msg))
            fail_msg("case %zu (%s): rc %d, message \"%s\"", i, cases[i].grade, rc, err);
        assert_null(ctx);
    }
}

/* framed - ":LIST:" of a tls_cipher_list() result, for has() */
static void framed(const char *list, char *out, size_t len)
{
    assert_true((size_t)snprintf(out, len, ":%s:", list) < len);
}

struct exclude_case {
    const char *grade, *exclude, *protocols;
    int rc;             /* 0 (some suites) or the error */
    const char *gone;   /* suites that must be absent, ":"-separated, or NULL */
    const char *kept;   /* suites that must be there, ":"-separated, or NULL */
    const char *in_msg; /* for an error: in the message */
};

static const struct exclude_case exclude_cases[] = {
    {"low", "CAMELLIA", ">=TLSv1.2", 0, "DHE-RSA-CAMELLIA256-SHA:DHE-RSA-CAMELLIA128-SHA256",
     "DHE-RSA-AES256-SHA", NULL},
    {"low", "kEDH+aRSA", ">=TLSv1.2", 0,
     "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-SHA:DHE-RSA-CHACHA20-POLY1305",
     "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384", NULL},
    {"low", "SHA1", ">=TLSv1.2", 0, "ECDHE-ECDSA-AES128-SHA:DHE-RSA-CAMELLIA128-SHA",
     "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256", NULL},
    {"low", "SHA256 SHA384", ">=TLSv1.2", 0, "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES256-SHA384",
     "ECDHE-ECDSA-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA", NULL},
    /* properties leave TLS 1.3 alone, as in OpenSSL; names reach it */
    {"medium", "AES256", ">=TLSv1.2", 0, "ECDHE-ECDSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384",
     "TLS13-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256", NULL},
    {"medium", "TLS_AES_256_GCM_SHA384, ECDHE-RSA-AES128-GCM-SHA256", ">=TLSv1.2", 0,
     "TLS13-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256",
     "TLS13-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256", NULL},
    {"high", "ecdhe-ecdsa-chacha20-poly1305", ">=TLSv1.2", 0, "ECDHE-ECDSA-CHACHA20-POLY1305",
     "ECDHE-RSA-CHACHA20-POLY1305", NULL},
    /* a hardening list copied from a Postfix main.cf: nothing tern offers is in it */
    {"medium",
     "aNULL, eNULL, EXPORT, DES, RC4, MD5, PSK, aECDH, EDH-DSS-DES-CBC3-SHA, "
     "EDH-RSA-DES-CBC3-SHA, KRB5-DES, CBC3-SHA",
     ">=TLSv1.2", 0, NULL, "TLS13-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", NULL},
    {"medium", "AESGCM+CHACHA20", ">=TLSv1.2", 0, NULL, "ECDHE-RSA-AES128-GCM-SHA256", NULL},
    {"medium", "AESGCM:CHACHA20:AESCCM", ">=TLSv1.2", 0,
     "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-CCM", "TLS13-AES128-GCM-SHA256", NULL},
    /* errors: nothing left, bad words */
    {"medium", "AESGCM:CHACHA20:AESCCM", "TLSv1.2", -EINVAL, NULL, NULL, "leaves no cipher suite"},
    {"high", "ALL", "<=TLSv1.2", -EINVAL, NULL, NULL, "leaves no cipher suite"},
    {"medium", "!aNULL", NULL, -EINVAL, NULL, NULL, "\"!aNULL\""},
    {"medium", "AES265", NULL, -EINVAL, NULL, NULL, "\"AES265\""},
    {"medium", "kEDH+aRAS", NULL, -EINVAL, NULL, NULL, "\"kEDH+aRAS\""},
    {"null", NULL, NULL, -EINVAL, NULL, NULL, "tern never offers NULL ciphers"},
    {"bogus", NULL, NULL, -EINVAL, NULL, NULL, "\"bogus\""},
};

/* check_names - every ":"-separated name of want is (present) or is not in the framed list */
static void check_names(size_t i, const char *list, const char *want, bool present)
{
    for (const char *p = want ? want : ""; *p;) {
        size_t n = strcspn(p, ":");
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        if (has(list, name) != present)
            fail_msg("case %zu: %s %s in %s", i, name, present ? "missing" : "still there", list);
        p += n + (p[n] == ':');
    }
}

/* test_exclusions - Postfix's exclusion syntax over the table (tls_cipher_list) */
static void test_exclusions(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(exclude_cases) / sizeof(exclude_cases[0]); i++) {
        const struct exclude_case *c = &exclude_cases[i];
        unsigned mask = TLS_PROTO_ALL;
        char list[TLS_CIPHER_LIST_MAX], fr[TLS_CIPHER_LIST_MAX + 2], err[256] = "", bad[128];
        if (c->protocols)
            assert_int_equal(tls_protocols_parse(c->protocols, &mask, err, sizeof(err)), 0);
        int rc = tls_cipher_list(list, sizeof(list), c->grade, c->exclude, mask, err, sizeof(err));
        if (c->rc < 0) {
            if (rc != c->rc || !strstr(err, c->in_msg))
                fail_msg("case %zu: rc %d want %d, message \"%s\" lacks \"%s\"", i, rc, c->rc, err,
                         c->in_msg);
            continue;
        }
        if (rc <= 0)
            fail_msg("case %zu: rc %d (%s)", i, rc, err);
        framed(list, fr, sizeof(fr));
        if (!never_offered(fr, bad, sizeof(bad)))
            fail_msg("case %zu: offers %s", i, bad);
        check_names(i, fr, c->gone, false);
        check_names(i, fr, c->kept, true);
        /* the same answer through tls_cipher_check, which start-up uses */
        assert_int_equal(tls_cipher_check(c->grade, c->exclude, mask, err, sizeof(err)), 0);
    }
    char tiny[16], err[256];
    assert_int_equal(
        tls_cipher_list(tiny, sizeof(tiny), "medium", NULL, TLS_PROTO_ALL, err, sizeof(err)),
        -ENOSPC);
}

struct session_case {
    const char *ctx_grade, *ctx_exclude, *ctx_protocols; /* the client context */
    const char *protocols, *grade, *exclude;             /* the session (per-site policy) */
    int rc;
    bool cbc;
    const char *gone, *kept;
};

static const struct session_case session_cases[] = {
    /* nothing given per session: the context's list */
    {"medium", NULL, ">=TLSv1.2", NULL, NULL, NULL, 0, false, NULL, "ECDHE-RSA-AES128-GCM-SHA256"},
    /* protocols=>=TLSv1 for one site: the CBC suites TLS 1.1 needs join for that session */
    {"medium", NULL, ">=TLSv1.2", ">=TLSv1", NULL, NULL, 0, true, NULL,
     "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384"},
    /* a context widened below TLS 1.2, a session narrowed to TLS 1.2: AEAD only again */
    {"medium", NULL, ">=TLSv1", "TLSv1.2", NULL, NULL, 0, false, "TLS13-AES128-CCM-8-SHA256",
     "ECDHE-RSA-AES128-GCM-SHA256"},
    {"medium", NULL, ">=TLSv1.2", NULL, "low", NULL, 0, true, NULL, "TLS13-AES128-GCM-SHA256"},
    {"low", NULL, ">=TLSv1.2", NULL, "high", NULL, 0, false, NULL, NULL},
    /* the context's exclusions hold when the session names none, the session's replace them */
    {"low", "CAMELLIA", ">=TLSv1.2", ">=TLSv1", NULL, NULL, 0, true,
     "DHE-RSA-CAMELLIA128-SHA:DHE-RSA-CAMELLIA256-SHA256", "DHE-RSA-AES128-SHA"},
    {"low", "CAMELLIA", ">=TLSv1.2", NULL, NULL, "kEDH+AES", 0, true,
     "DHE-RSA-AES128-SHA:DHE-RSA-AES256-GCM-SHA384",
     "ECDHE-RSA-AES128-SHA:DHE-RSA-CAMELLIA128-SHA"},
    {"medium", "CHACHA20", ">=TLSv1.2", NULL, "high", NULL, 0, false,
     "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS13-CHACHA20-POLY1305-SHA256"},
    /* a bad per-site value is an error, never wolfSSL's default list */
    {"medium", NULL, ">=TLSv1.2", NULL, "null", NULL, -EINVAL, false, NULL, NULL},
    {"medium", NULL, ">=TLSv1.2", NULL, NULL, "RC5", -EINVAL, false, NULL, NULL},
    {"medium", NULL, ">=TLSv1.2", "TLSv1.2", NULL, "AESGCM CHACHA20 AESCCM", -EINVAL, false, NULL,
     NULL},
};

/* test_session_lists - per-session protocols=/ciphers=/exclude= recompute the session's list */
static void test_session_lists(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(session_cases) / sizeof(session_cases[0]); i++) {
        const struct session_case *c = &session_cases[i];
        struct tls_ctx_params p = {
            .protocols = c->ctx_protocols, .cipher_grade = c->ctx_grade, .exclude = c->ctx_exclude};
        struct tls_ctx *ctx = NULL;
        char err[256] = "", list[8192], bad[128];
        if (tls_ctx_new(&ctx, false, &p, err, sizeof(err)) < 0)
            fail_msg("case %zu: %s", i, err);
        int rc = client_offer(ctx, c->protocols ? c->protocols : "", c->grade ? c->grade : "",
                              c->exclude ? c->exclude : "", list, sizeof(list), err, sizeof(err));
        if (rc != c->rc)
            fail_msg("case %zu: rc %d want %d (%s)", i, rc, c->rc, err);
        if (rc < 0) {
            assert_true(err[0] != 0);
        } else {
            if (!never_offered(list, bad, sizeof(bad)))
                fail_msg("case %zu: offers %s", i, bad);
            if (c->cbc != (cbc_count(list) > 0))
                fail_msg("case %zu: %d CBC suites, want %s: %s", i, cbc_count(list),
                         c->cbc ? "some" : "none", list);
            check_names(i, list, c->gone, false);
            check_names(i, list, c->kept, true);
        }
        tls_ctx_free(ctx);
    }
}

/* before - is suite A offered before suite B in the framed list (both present)? */
static bool before(const char *list, const char *a, const char *b)
{
    char ka[128], kb[128];
    snprintf(ka, sizeof(ka), ":%s:", a);
    snprintf(kb, sizeof(kb), ":%s:", b);
    const char *pa = strstr(list, ka), *pb = strstr(list, kb);
    return pa && pb && pa < pb;
}

/* test_preference - where wolfSSL does AES in software, ChaCha20-Poly1305 leads each AEAD group
 * as the client offers it and as the server chooses it (the server's order wins over a client
 * that lists AES-GCM first); with AES instructions, OpenSSL's order (AES-256-GCM first) */
static void test_preference(void **state)
{
    (void)state;
#if defined(WOLFSSL_AESNI) || defined(WOLFSSL_ARMASM)
    const bool chacha_first = false;
#else
    const bool chacha_first = true;
#endif
    struct tls_ctx_params p = {0};
    struct tls_ctx *ctx = NULL;
    char err[256] = "", list[8192], chosen[128] = "";
    assert_int_equal(tls_ctx_new(&ctx, false, &p, err, sizeof(err)), 0);
    assert_int_equal(client_offer(ctx, NULL, NULL, NULL, list, sizeof(list), err, sizeof(err)), 0);
    static const char *const pairs[][2] = {
        {"TLS13-CHACHA20-POLY1305-SHA256", "TLS13-AES256-GCM-SHA384"},
        {"ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES256-GCM-SHA384"},
        {"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-GCM-SHA256"},
        {"DHE-RSA-CHACHA20-POLY1305", "DHE-RSA-AES256-GCM-SHA384"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
        if (before(list, pairs[i][0], pairs[i][1]) != chacha_first)
            fail_msg("client: %s %s %s in %s", pairs[i][0], chacha_first ? "not before" : "before",
                     pairs[i][1], list);
    /* forward secrecy first: no DHE suite before an ECDHE one, whatever the cipher */
    if (!before(list, "ECDHE-RSA-AES128-GCM-SHA256", "DHE-RSA-CHACHA20-POLY1305"))
        fail_msg("client: a DHE suite before ECDHE in %s", list);
    tls_ctx_free(ctx);

    p.cert_file = path("server-rsa.pem");
    p.key_file = path("server-rsa.key");
    assert_int_equal(tls_ctx_new(&ctx, true, &p, err, sizeof(err)), 0);
    assert_true(probe_chosen(ctx, "TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256", chosen,
                             sizeof(chosen)));
    assert_string_equal(chosen, chacha_first ? "TLS13-CHACHA20-POLY1305-SHA256"
                                             : "TLS13-AES256-GCM-SHA384");
    assert_true(probe_chosen(ctx, "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305", chosen,
                             sizeof(chosen)));
    assert_string_equal(chosen, chacha_first ? "ECDHE-RSA-CHACHA20-POLY1305"
                                             : "ECDHE-RSA-AES256-GCM-SHA384");
    tls_ctx_free(ctx);
}

/* test_ctx_exclude_errors - a bad exclusion list or one that leaves nothing fails tls_ctx_new */
static void test_ctx_exclude_errors(void **state)
{
    (void)state;
    static const struct {
        const char *protocols, *exclude, *in_msg;
    } cases[] = {
        {">=TLSv1.2", "aNULL !MD5", "\"!MD5\""},
        {"TLSv1.2", "AESGCM, CHACHA20, AESCCM", "leaves no cipher suite"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tls_ctx_params p = {.protocols = cases[i].protocols, .exclude = cases[i].exclude};
        struct tls_ctx *ctx = NULL;
        char err[256] = "";
        int rc = tls_ctx_new(&ctx, false, &p, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, cases[i].in_msg))
            fail_msg("case %zu: rc %d, message \"%s\"", i, rc, err);
        assert_null(ctx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grades),     cmocka_unit_test(test_bad_grades),
        cmocka_unit_test(test_exclusions), cmocka_unit_test(test_session_lists),
        cmocka_unit_test(test_preference), cmocka_unit_test(test_ctx_exclude_errors),
    };
    return cmocka_run_group_tests(tests, setup_dir, NULL);
}
