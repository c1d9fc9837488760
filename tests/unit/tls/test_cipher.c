/*
 * test_cipher - the cipher suites wolfSSL ends up with for Postfix's grades
 * (export, low, medium, high, null), protocol ranges and exclusions, on the
 * server and the client side, read back from the wolfSSL objects
 * themselves (wolfSSL_get_ciphers_compat), per context and per session.
 *
 * Debian's wolfSSL compiles in suites that OpenSSL 3 dropped (RC4, 3DES,
 * NULL, anonymous, PSK, integrity-only TLS 1.3): none of them may appear in
 * any list tern configures, whatever the grade.
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

/* ssl_names - the suites of one WOLFSSL, ":"-separated and ":"-framed (":A:B:") */
static void ssl_names(WOLFSSL *ssl, char *out, size_t len)
{
    WOLF_STACK_OF(WOLFSSL_CIPHER) *sk = wolfSSL_get_ciphers_compat(ssl);
    size_t used = (size_t)snprintf(out, len, ":");
    for (int i = 0; sk && i < wolfSSL_sk_SSL_CIPHER_num(sk) && used < len; i++)
        used +=
            (size_t)snprintf(out + used, len - used,
                             "%s:", wolfSSL_CIPHER_get_name(wolfSSL_sk_SSL_CIPHER_value(sk, i)));
    assert_true(used < len);
}

/* ctx_names - the suites a new WOLFSSL from the primary context starts with */
static void ctx_names(struct tls_ctx *ctx, char *out, size_t len)
{
    WOLFSSL *ssl = wolfSSL_new(tls_ctx_wolf(ctx, 0));
    assert_non_null(ssl);
    ssl_names(ssl, out, len);
    wolfSSL_free(ssl);
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
     * ChaCha20 code points (-OLD) */
    static const char *const bad_parts[] = {"NULL",  "RC4",  "DES", "EXP", "MD5",  "ADH",
                                            "AECDH", "anon", "PSK", "SRP", "-OLD", "TLS13-SHA"};
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
    {true, NULL, ">=TLSv1.2", false},
    {false, NULL, ">=TLSv1.2", false},
    {true, "MEDIUM", "TLSv1.2 TLSv1.3", false},
    {false, "High", "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", false},
    /* the legacy grades add CBC (still never RC4, 3DES, NULL, ...) */
    {true, "low", ">=TLSv1.2", true},
    {false, "low", ">=TLSv1.2", true},
    {true, "export", ">=TLSv1.2", true},
    {false, "export", ">=TLSv1.2", true},
    /* widened below TLS 1.2: CBC joins, as those protocols have no AEAD suite */
    {true, "medium", ">=TLSv1", true},
    {false, "medium", "!SSLv2, !SSLv3", true},
    {true, "high", NULL, true},
    {false, NULL, NULL, true},
};

/* test_grades - the effective list per grade, protocol range and side */
static void test_grades(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(grade_cases) / sizeof(grade_cases[0]); i++) {
        const struct grade_case *c = &grade_cases[i];
        struct tls_ctx_params p = {.protocols = c->protocols, .cipher_grade = c->grade};
        if (c->server) {
            p.cert_file = path("server-ec.pem");
            p.key_file = path("server-ec.key");
        }
        struct tls_ctx *ctx = NULL;
        char err[256] = "", list[8192], bad[128];
        int rc = tls_ctx_new(&ctx, c->server, &p, err, sizeof(err));
        if (rc < 0)
            fail_msg("case %zu (%s %s %s): %s", i, c->server ? "server" : "client",
                     c->grade ? c->grade : "-", c->protocols ? c->protocols : "-", err);
        ctx_names(ctx, list, sizeof(list));
        if (!never_offered(list, bad, sizeof(bad)))
            fail_msg("case %zu (%s %s %s): offers %s in %s", i, c->server ? "server" : "client",
                     c->grade ? c->grade : "-", c->protocols ? c->protocols : "-", bad, list);
        if (!has(list, "TLS13-AES128-GCM-SHA256") || !has(list, "ECDHE-ECDSA-AES128-GCM-SHA256") ||
            !has(list, "ECDHE-RSA-AES256-GCM-SHA384") ||
            !has(list, "ECDHE-ECDSA-CHACHA20-POLY1305"))
            fail_msg("case %zu: an expected AEAD suite is missing from %s", i, list);
        if (c->cbc != (cbc_count(list) > 0))
            fail_msg("case %zu (%s %s %s): %d CBC suites, want %s: %s", i,
                     c->server ? "server" : "client", c->grade ? c->grade : "-",
                     c->protocols ? c->protocols : "-", cbc_count(list), c->cbc ? "some" : "none",
                     list);
        if (c->cbc && !has(list, "ECDHE-ECDSA-AES128-SHA"))
            fail_msg("case %zu: no TLS 1.0/1.1-capable CBC suite in %s", i, list);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grades),
        cmocka_unit_test(test_bad_grades),
    };
    return cmocka_run_group_tests(tests, setup_dir, NULL);
}
