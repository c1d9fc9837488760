/*
 * test_session - TLS over memory buffers: two tls_sessions handshaking with
 * each other (tables of configurations), data both ways, close_notify,
 * fingerprints against the openssl CLI, and interop with a real
 * `openssl s_server` over a loopback socket (including resumption).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/base/buf.h"
#include "tls/tls_cache.h"
#include "tls/tls_ctx.h"
#include "tls/tls_fprint.h"
#include "tls/tls_dane.h"
#include "tls/tls_session.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

static char data_dir[1024];

/* path - a file in tests/unit/tls/data */
static const char *path(const char *name)
{
    static char bufs[32][1200];
    static int next;
    char *b = bufs[next++ % 32];
    snprintf(b, sizeof(bufs[0]), "%s/%s", data_dir, name);
    return b;
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(data_dir, sizeof(data_dir), "%s", __FILE__);
    char *slash = strrchr(data_dir, '/');
    if (slash)
        *slash = 0;
    strncat(data_dir, "/data", sizeof(data_dir) - strlen(data_dir) - 1);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* pump - shuttle bytes until both handshakes end; 0 both done, else the first failure */
static int pump(struct tls_session *c, struct tls_session *s, int *crc, int *src)
{
    struct buf wire = BUF_INIT;
    *crc = *src = -EAGAIN;
    for (int round = 0; round < 50; round++) {
        if (*crc == -EAGAIN)
            *crc = tls_session_handshake(c);
        tls_session_take_output(c, &wire);
        if (buf_used(&wire))
            tls_session_feed(s, buf_ptr(&wire), buf_used(&wire));
        buf_reset(&wire);
        if (*src == -EAGAIN)
            *src = tls_session_handshake(s);
        tls_session_take_output(s, &wire);
        if (buf_used(&wire))
            tls_session_feed(c, buf_ptr(&wire), buf_used(&wire));
        buf_reset(&wire);
        if (*crc != -EAGAIN && *src != -EAGAIN)
            break;
        if ((*crc < 0 && *crc != -EAGAIN) || (*src < 0 && *src != -EAGAIN)) {
            /* one side failed: let the other see the alert once more */
            if (*crc == -EAGAIN)
                *crc = tls_session_handshake(c);
            if (*src == -EAGAIN)
                *src = tls_session_handshake(s);
            break;
        }
    }
    buf_free(&wire);
    return *crc ? *crc : *src;
}

/* transfer - from one session to the other: write, shuttle, read all */
static void transfer(struct tls_session *from, struct tls_session *to, const char *data, size_t n)
{
    struct buf wire = BUF_INIT, plain = BUF_INIT;
    assert_int_equal(tls_session_write(from, data, n), 0);
    tls_session_take_output(from, &wire);
    assert_true(buf_used(&wire) > n);
    assert_int_equal(tls_session_feed(to, buf_ptr(&wire), buf_used(&wire)), 0);
    for (int i = 0; i < 10 && buf_used(&plain) < n; i++) {
        int r = tls_session_read(to, &plain);
        if (r == -EAGAIN)
            break;
        assert_true(r > 0);
    }
    assert_int_equal(buf_used(&plain), n);
    assert_memory_equal(buf_ptr(&plain), data, n);
    /* anything the reader produced (e.g. a ticket ack) goes back */
    buf_reset(&wire);
    tls_session_take_output(to, &wire);
    if (buf_used(&wire))
        tls_session_feed(from, buf_ptr(&wire), buf_used(&wire));
    buf_free(&wire);
    buf_free(&plain);
}

/* openssl_fp - fingerprint of a PEM file as the openssl CLI prints it */
static void openssl_fp(const char *pem, bool pubkey, const char *digest, char *out, size_t len)
{
    char cmd[3000], line[512] = "";
    if (pubkey)
        snprintf(cmd, sizeof(cmd),
                 "openssl x509 -in '%s' -pubkey -noout | openssl pkey -pubin -outform DER | "
                 "openssl dgst -%s -c",
                 pem, digest);
    else
        snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -noout -fingerprint -%s", pem, digest);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    pclose(f);
    char *v = strrchr(line, '=');
    assert_non_null(v);
    v++;
    v += strspn(v, " ");
    v[strcspn(v, "\r\n")] = 0;
    for (char *p = v; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    snprintf(out, len, "%s", v);
}

struct hs_case {
    const char *name;
    struct tls_ctx_params server, client;
    const char *client_ciphers; /* raw wolfSSL list for the client, or NULL */
    bool ok;
    const char *protocol;      /* expected, or NULL */
    const char *cipher_prefix; /* expected prefix, or NULL */
    bool client_trusts;        /* client sees a trusted server chain */
    const char *server_pem;    /* which certificate the server showed */
    bool server_sees_ccert, server_trusts;
};

/* test_handshake_table - configurations, outcomes, and what each side learns */
static void test_handshake_table(void **state)
{
    (void)state;
    const char *rsa = path("server-rsa.pem"), *rsak = path("server-rsa.key");
    const char *ec = path("server-ec.pem"), *eck = path("server-ec.key");
    const char *ca = path("ca.pem");
    const struct hs_case cases[] = {
        {"rsa tls1.3 verified",
         {.cert_file = rsa, .key_file = rsak},
         {.CAfile = ca},
         NULL,
         true,
         "TLSv1.3",
         "TLS_",
         true,
         "server-rsa.pem",
         false,
         false},
        {"no CA: not trusted, still encrypted",
         {.cert_file = rsa, .key_file = rsak},
         {0},
         NULL,
         true,
         "TLSv1.3",
         "TLS_",
         false,
         "server-rsa.pem",
         false,
         false},
        {"wrong CA",
         {.cert_file = rsa, .key_file = rsak},
         {.CAfile = path("other-ca.pem")},
         NULL,
         true,
         "TLSv1.3",
         "TLS_",
         false,
         "server-rsa.pem",
         false,
         false},
        {"client caps at tls1.2",
         {.cert_file = rsa, .key_file = rsak},
         {.CAfile = ca, .protocols = "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.3"},
         NULL,
         true,
         "TLSv1.2",
         "ECDHE-RSA-",
         true,
         "server-rsa.pem",
         false,
         false},
        {"server >=TLSv1.3, client <=TLSv1.2",
         {.cert_file = rsa, .key_file = rsak, .protocols = ">=TLSv1.3"},
         {.CAfile = ca, .protocols = "<=TLSv1.2"},
         NULL,
         false,
         NULL,
         NULL,
         false,
         NULL,
         false,
         false},
        {"dual certs, tls1.3 client gets ECDSA",
         {.cert_file = rsa, .key_file = rsak, .eccert_file = ec, .eckey_file = eck},
         {.CAfile = ca},
         NULL,
         true,
         "TLSv1.3",
         "TLS_",
         true,
         "server-ec.pem",
         false,
         false},
        {"dual certs, RSA-only tls1.2 client gets RSA",
         {.cert_file = rsa, .key_file = rsak, .eccert_file = ec, .eckey_file = eck},
         {.CAfile = ca, .protocols = "TLSv1.2"},
         "ECDHE-RSA-AES128-GCM-SHA256",
         true,
         "TLSv1.2",
         "ECDHE-RSA-AES128-GCM-SHA256",
         true,
         "server-rsa.pem",
         false,
         false},
        {"ECDSA only",
         {.eccert_file = ec, .eckey_file = eck},
         {.CAfile = ca, .protocols = "TLSv1.2"},
         NULL,
         true,
         "TLSv1.2",
         "ECDHE-ECDSA-",
         true,
         "server-ec.pem",
         false,
         false},
        {"ask_ccert, client presents a trusted cert",
         {.cert_file = rsa, .key_file = rsak, .CAfile = ca, .ask_ccert = true},
         {.CAfile = ca, .cert_file = path("client.pem"), .key_file = path("client.key")},
         NULL,
         true,
         "TLSv1.3",
         "TLS_",
         true,
         "server-rsa.pem",
         true,
         true},
        {"ask_ccert, untrusted client cert is noted, not fatal",
         {.cert_file = rsa, .key_file = rsak, .CAfile = ca, .ask_ccert = true},
         {.CAfile = ca, .cert_file = path("other.pem"), .key_file = path("other.key")},
         NULL,
         true,
         "TLSv1.3",
         "TLS_",
         true,
         "server-rsa.pem",
         true,
         false},
        {"ask_ccert, client without cert",
         {.cert_file = rsa, .key_file = rsak, .CAfile = ca, .ask_ccert = true},
         {.CAfile = ca},
         NULL,
         true,
         "TLSv1.3",
         "TLS_",
         true,
         "server-rsa.pem",
         false,
         false},
        {"req_ccert, client without cert fails",
         {.cert_file = rsa, .key_file = rsak, .CAfile = ca, .req_ccert = true},
         {.CAfile = ca},
         NULL,
         false,
         NULL,
         NULL,
         false,
         NULL,
         false,
         false},
        {"req_ccert, untrusted client cert fails",
         {.cert_file = rsa, .key_file = rsak, .CAfile = ca, .req_ccert = true},
         {.CAfile = ca, .cert_file = path("other.pem"), .key_file = path("other.key")},
         NULL,
         false,
         NULL,
         NULL,
         false,
         NULL,
         false,
         false},
        {"req_ccert, trusted client cert",
         {.cert_file = rsa, .key_file = rsak, .CAfile = ca, .req_ccert = true},
         {.CAfile = ca, .cert_file = path("client.pem"), .key_file = path("client.key")},
         NULL,
         true,
         "TLSv1.3",
         "TLS_",
         true,
         "server-rsa.pem",
         true,
         true},
        {"high grade",
         {.cert_file = rsa, .key_file = rsak, .cipher_grade = "high"},
         {.CAfile = ca, .cipher_grade = "medium", .protocols = "TLSv1.2"},
         NULL,
         true,
         "TLSv1.2",
         "ECDHE-RSA-",
         true,
         "server-rsa.pem",
         false,
         false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hs_case *t = &cases[i];
        char err[256];
        struct tls_ctx *sctx, *cctx;
        struct tls_session *s, *c;
        int crc, src;
        if (tls_ctx_new(&sctx, true, &t->server, err, sizeof(err)) != 0)
            fail_msg("case %s: server ctx: %s", t->name, err);
        if (tls_ctx_new(&cctx, false, &t->client, err, sizeof(err)) != 0)
            fail_msg("case %s: client ctx: %s", t->name, err);
        if (t->client_ciphers)
            assert_int_equal(wolfSSL_CTX_set_cipher_list(tls_ctx_wolf(cctx, 0), t->client_ciphers),
                             WOLFSSL_SUCCESS);
        assert_int_equal(tls_session_new(&s, sctx, true, NULL), 0);
        assert_int_equal(tls_session_new(&c, cctx, false, "server.example.com"), 0);
        int rc = pump(c, s, &crc, &src);
        if (!t->ok) {
            if (rc == 0)
                fail_msg("case %s: handshake succeeded", t->name);
            const char *e = *tls_session_error(s) ? tls_session_error(s) : tls_session_error(c);
            if (!*e)
                fail_msg("case %s: no error text", t->name);
            assert_null(tls_session_info(crc == 0 && src == 0 ? NULL : (src ? s : c)));
        } else {
            if (rc != 0)
                fail_msg("case %s: client %d (%s) server %d (%s)", t->name, crc,
                         tls_session_error(c), src, tls_session_error(s));
            const struct tls_info *ci = tls_session_info(c), *si = tls_session_info(s);
            assert_non_null(ci);
            assert_non_null(si);
            if (strcmp(ci->protocol, t->protocol) != 0 || strcmp(si->protocol, t->protocol) != 0)
                fail_msg("case %s: protocol %s/%s", t->name, ci->protocol, si->protocol);
            if (strncmp(ci->cipher, t->cipher_prefix, strlen(t->cipher_prefix)) != 0)
                fail_msg("case %s: cipher %s", t->name, ci->cipher);
            assert_string_equal(ci->cipher, si->cipher);
            assert_true(ci->cipher_bits >= 128);
            assert_false(ci->reused);
            assert_true(ci->peer_cert);
            if (ci->peer_trusted != t->client_trusts)
                fail_msg("case %s: client trust %d (%s)", t->name, ci->peer_trusted,
                         ci->verify_error);
            assert_true(ci->peer_trusted ? ci->verify_error[0] == 0 : ci->verify_error[0] != 0);
            assert_string_equal(ci->peer_CN, "server.example.com");
            assert_string_equal(ci->issuer_CN,
                                strstr(t->server_pem, "other") ? "Other CA" : "Tern Test CA");
            /* which certificate: compare fingerprints with the file's */
            char got[TLS_FPRINT_MAX], want[TLS_FPRINT_MAX];
            assert_true(tls_session_fingerprint(c, TLS_DIGEST_SHA256, false, got, sizeof(got)) > 0);
            openssl_fp(path(t->server_pem), false, "sha256", want, sizeof(want));
            if (strcmp(got, want) != 0)
                fail_msg("case %s: server cert %s, want %s (%s)", t->name, got, want,
                         t->server_pem);
            if (si->peer_cert != t->server_sees_ccert || si->peer_trusted != t->server_trusts)
                fail_msg("case %s: server sees ccert %d trusted %d (%s)", t->name, si->peer_cert,
                         si->peer_trusted, si->verify_error);
            if (si->peer_cert)
                assert_string_equal(si->peer_CN,
                                    t->server_trusts ? "client.example.com" : "server.example.com");
            /* names */
            const char *good[] = {"nomatch.example.com", "server.example.com"};
            const char *wild[] = {"mx1.relay.example.com"};
            const char *bad[] = {"example.com", "a.b.relay.example.com", "other.example.com"};
            const char *dot[] = {".example.com"};
            assert_int_equal(tls_session_peer_match(c, good, 2), 1);
            assert_int_equal(tls_session_peer_match(c, wild, 1), 1);
            assert_int_equal(tls_session_peer_match(c, bad, 3), 0);
            assert_int_equal(tls_session_peer_match(c, dot, 1), 1);
            /* Received header text */
            char rx[200];
            assert_true(tls_session_received_text(s, rx, sizeof(rx)) > 0);
            char want_rx[200];
            snprintf(want_rx, sizeof(want_rx), "(using %s with cipher %s (%d/%d bits))",
                     t->protocol, si->cipher, si->cipher_bits, si->cipher_alg_bits);
            assert_string_equal(rx, want_rx);
            /* data both ways */
            transfer(c, s, "EHLO client.example.com\r\n", 25);
            transfer(s, c, "250 ok\r\n", 8);
        }
        tls_session_free(c);
        tls_session_free(s);
        tls_ctx_free(cctx);
        tls_ctx_free(sctx);
    }
}

/* make_pair - a verified TLS 1.3 pair, handshaken */
static void make_pair(struct tls_ctx **sctx, struct tls_ctx **cctx, struct tls_session **s,
                      struct tls_session **c)
{
    char err[256];
    struct tls_ctx_params sp = {.cert_file = path("server-rsa.pem"),
                                .key_file = path("server-rsa.key")};
    struct tls_ctx_params cp = {.CAfile = path("ca.pem")};
    int crc, src;
    assert_int_equal(tls_ctx_new(sctx, true, &sp, err, sizeof(err)), 0);
    assert_int_equal(tls_ctx_new(cctx, false, &cp, err, sizeof(err)), 0);
    assert_int_equal(tls_session_new(s, *sctx, true, NULL), 0);
    assert_int_equal(tls_session_new(c, *cctx, false, "server.example.com"), 0);
    assert_int_equal(pump(*c, *s, &crc, &src), 0);
}

/* tlsa - a TLSA record from "usage selector type" and a hex digest, into rd (3 + 32 octets) */
static struct tls_tlsa tlsa(unsigned char rd[35], unsigned u, unsigned sel, const char *hex)
{
    struct tls_tlsa rr;
    rd[0] = (unsigned char)u, rd[1] = (unsigned char)sel, rd[2] = 1;
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        rd[3 + i] = (unsigned char)v;
    }
    assert_int_equal(tls_dane_parse(rd, 35, &rr), 0);
    return rr;
}

/* test_session_dane - the chain a server sent (leaf, intermediate, root: dane-leaf.pem) is what
 * the TLSA records are matched against, on the client's side, with no CA configured */
static void test_session_dane(void **state)
{
    (void)state;
    char err[256];
    struct tls_ctx *sctx, *cctx;
    struct tls_session *s, *c;
    struct tls_ctx_params sp = {.cert_file = path("dane-leaf.pem"),
                                .key_file = path("dane-leaf.key")};
    struct tls_ctx_params cp = {0};
    int crc, src;
    assert_int_equal(tls_ctx_new(&sctx, true, &sp, err, sizeof(err)), 0);
    assert_int_equal(tls_ctx_new(&cctx, false, &cp, err, sizeof(err)), 0);
    assert_int_equal(tls_session_new(&s, sctx, true, NULL), 0);
    assert_int_equal(tls_session_new(&c, cctx, false, "mx.dane.example"), 0);
    assert_int_equal(pump(c, s, &crc, &src), 0);
    assert_false(tls_session_info(c)->peer_trusted); /* no CAs: only DANE can say yes */
    const char *refs[] = {"mx.dane.example"};
    unsigned char rd[35];
    struct tls_dane_result r;
    /* openssl x509 -in data/dane-int.pem -outform DER | sha256sum */
    struct tls_tlsa ta =
        tlsa(rd, 2, 0, "fd5abc974111b71c011905f083391fdabd9c32689cfac476d8619f0ab1a668a9");
    assert_int_equal(tls_session_dane(c, &ta, 1, refs, 1, &r), 0);
    assert_int_equal(r.status, TLS_DANE_MATCH);
    assert_int_equal(r.depth, 1);
    /* the leaf's key (openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256sum) */
    struct tls_tlsa ee =
        tlsa(rd, 3, 1, "d1f661baf7156e88516dd96b7d0ec43b6e1db1bc51ab616776b771f891da2b62");
    assert_int_equal(tls_session_dane(c, &ee, 1, refs, 1, &r), 0);
    assert_int_equal(r.status, TLS_DANE_MATCH);
    assert_int_equal(r.depth, 0);
    /* another server's chain matches neither */
    tls_session_free(s);
    tls_session_free(c);
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);
    make_pair(&sctx, &cctx, &s, &c);
    assert_int_equal(tls_session_dane(c, &ee, 1, refs, 1, &r), 0);
    assert_int_equal(r.status, TLS_DANE_FAIL);
    tls_session_free(s);
    tls_session_free(c);
    tls_ctx_free(sctx);
    tls_ctx_free(cctx);
}

/* test_session_restrict - per-session protocols= (per-site policy) narrow the context's */
static void test_session_restrict(void **state)
{
    (void)state;
    static const struct {
        const char *server_protocols; /* context */
        const char *client_protocols; /* session */
        const char *want;             /* negotiated, NULL: handshake fails */
    } cases[] = {
        {NULL, NULL, "TLSv1.3"},          {NULL, "!TLSv1.3", "TLSv1.2"},
        {NULL, "<=TLSv1.2", "TLSv1.2"},   {NULL, ">=TLSv1.2", "TLSv1.3"},
        {"<=TLSv1.2", ">=TLSv1.3", NULL}, {"<=TLSv1.2", "TLSv1.2", "TLSv1.2"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tls_ctx *sctx, *cctx;
        struct tls_session *s, *c;
        struct tls_ctx_params sp = {.cert_file = path("server-rsa.pem"),
                                    .key_file = path("server-rsa.key"),
                                    .protocols = cases[i].server_protocols};
        struct tls_ctx_params cp = {.CAfile = path("ca.pem")};
        int crc, src;
        assert_int_equal(tls_ctx_new(&sctx, true, &sp, err, sizeof(err)), 0);
        assert_int_equal(tls_ctx_new(&cctx, false, &cp, err, sizeof(err)), 0);
        assert_int_equal(tls_session_new(&s, sctx, true, NULL), 0);
        assert_int_equal(tls_session_new(&c, cctx, false, "server.example.com"), 0);
        assert_int_equal(tls_session_restrict(c, cases[i].client_protocols, "high", "aNULL, MD5",
                                              err, sizeof(err)),
                         0);
        int rc = pump(c, s, &crc, &src);
        const struct tls_info *info = rc == 0 ? tls_session_info(c) : NULL;
        if (cases[i].want && (!info || strcmp(info->protocol, cases[i].want) != 0))
            fail_msg("case %zu: protocol %s want %s (rc %d)", i, info ? info->protocol : "-",
                     cases[i].want, rc);
        if (!cases[i].want && rc == 0)
            fail_msg("case %zu: handshake succeeded, want a failure", i);
        tls_session_free(c);
        tls_session_free(s);
        tls_ctx_free(cctx);
        tls_ctx_free(sctx);
    }
    /* a bad list is refused with a message, the session unchanged */
    struct tls_ctx *cctx;
    struct tls_session *c;
    struct tls_ctx_params cp = {.CAfile = path("ca.pem")};
    assert_int_equal(tls_ctx_new(&cctx, false, &cp, err, sizeof(err)), 0);
    assert_int_equal(tls_session_new(&c, cctx, false, "server.example.com"), 0);
    err[0] = 0;
    assert_int_equal(tls_session_restrict(c, "TLSv9", NULL, NULL, err, sizeof(err)), -EINVAL);
    assert_true(err[0] != 0);
    tls_session_free(c);
    tls_ctx_free(cctx);
}

/* test_bulk_and_close - large data in pieces, byte-at-a-time feeding, close_notify */
static void test_bulk_and_close(void **state)
{
    (void)state;
    struct tls_ctx *sctx, *cctx;
    struct tls_session *s, *c;
    make_pair(&sctx, &cctx, &s, &c);

    size_t n = 200000;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    transfer(c, s, big, n);
    transfer(s, c, big, n);

    /* feed one byte at a time: reads return -EAGAIN until a record is complete */
    struct buf wire = BUF_INIT, plain = BUF_INIT;
    assert_int_equal(tls_session_write(c, "QUIT\r\n", 6), 0);
    tls_session_take_output(c, &wire);
    int eagains = 0;
    for (size_t i = 0; i < buf_used(&wire); i++) {
        tls_session_feed(s, buf_ptr(&wire) + i, 1);
        int r = tls_session_read(s, &plain);
        if (r == -EAGAIN)
            eagains++;
        else
            assert_int_equal(r, 6);
    }
    assert_true(eagains > 0);
    assert_string_equal(buf_ptr(&plain), "QUIT\r\n");

    /* close_notify: the reader sees end of stream (0), not an error */
    buf_reset(&wire);
    assert_int_equal(tls_session_shutdown(c), 0);
    assert_true(tls_session_take_output(c, &wire) > 0);
    tls_session_feed(s, buf_ptr(&wire), buf_used(&wire));
    assert_int_equal(tls_session_read(s, &plain), 0);
    assert_int_equal(tls_session_read(s, &plain), 0);

    /* garbage after the handshake is a protocol error with text */
    struct tls_ctx *sctx2, *cctx2;
    struct tls_session *s2, *c2;
    make_pair(&sctx2, &cctx2, &s2, &c2);
    tls_session_feed(s2, "\x17\x03\x03\x00\x20garbagegarbagegarbagegarbage1234", 37);
    assert_int_equal(tls_session_read(s2, &plain), -EPROTO);
    assert_true(strlen(tls_session_error(s2)) > 0);

    /* peer closes the stream mid-handshake */
    struct tls_session *s3;
    assert_int_equal(tls_session_new(&s3, sctx, true, NULL), 0);
    tls_session_feed(s3, "\x16\x03\x01", 3);
    assert_int_equal(tls_session_handshake(s3), -EAGAIN);
    tls_session_feed(s3, NULL, 0);
    assert_int_equal(tls_session_handshake(s3), -ECONNRESET);

    tls_session_free(s3);
    tls_session_free(s2);
    tls_session_free(c2);
    tls_ctx_free(sctx2);
    tls_ctx_free(cctx2);
    buf_free(&wire);
    buf_free(&plain);
    free(big);
    tls_session_free(c);
    tls_session_free(s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* test_fingerprints - tls_fprint_der against `openssl x509 -fingerprint` and pkey digests */
static void test_fingerprints(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        enum tls_digest d;
        const char *dname;
        bool pubkey;
    } cases[] = {
        {"server-rsa.pem", TLS_DIGEST_SHA256, "sha256", false},
        {"server-rsa.pem", TLS_DIGEST_SHA1, "sha1", false},
        {"server-rsa.pem", TLS_DIGEST_MD5, "md5", false},
        {"server-rsa.pem", TLS_DIGEST_SHA256, "sha256", true},
        {"server-ec.pem", TLS_DIGEST_SHA256, "sha256", false},
        {"server-ec.pem", TLS_DIGEST_SHA256, "sha256", true},
        {"client.pem", TLS_DIGEST_SHA1, "sha1", true},
        {"client.pem", TLS_DIGEST_MD5, "md5", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char cmd[1500], want[TLS_FPRINT_MAX], got[TLS_FPRINT_MAX];
        unsigned char der[4096];
        snprintf(cmd, sizeof(cmd), "openssl x509 -in '%s' -outform DER", path(cases[i].file));
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        size_t n = fread(der, 1, sizeof(der), f);
        pclose(f);
        assert_true(n > 100);
        assert_true(tls_fprint_der(der, n, cases[i].d, cases[i].pubkey, got, sizeof(got)) > 0);
        openssl_fp(path(cases[i].file), cases[i].pubkey, cases[i].dname, want, sizeof(want));
        if (strcmp(got, want) != 0)
            fail_msg("case %zu %s %s%s: got %s want %s", i, cases[i].file, cases[i].dname,
                     cases[i].pubkey ? " pubkey" : "", got, want);
    }
    /* formatting and digest names */
    static const unsigned char md[] = {0x00, 0xab, 0x7f};
    char out[16];
    assert_int_equal(tls_fprint_format(md, 3, out, sizeof(out)), 8);
    assert_string_equal(out, "00:AB:7F");
    assert_int_equal(tls_fprint_format(md, 3, out, 8), -ENOSPC);
    /* a 16-octet md5 as Postfix prints it */
    static const unsigned char md5[] = {0x00, 0x8b, 0x02, 0x30, 0x9d, 0x18, 0xf4, 0x81,
                                        0x5d, 0x2f, 0x48, 0xe4, 0x5b, 0x17, 0x82, 0xa7};
    char long_out[64];
    assert_int_equal(tls_fprint_format(md5, sizeof(md5), long_out, sizeof(long_out)), 47);
    assert_string_equal(long_out, "00:8B:02:30:9D:18:F4:81:5D:2F:48:E4:5B:17:82:A7");
    enum tls_digest d;
    assert_int_equal(tls_fprint_digest_parse("SHA256", &d), 0);
    assert_int_equal(d, TLS_DIGEST_SHA256);
    assert_int_equal(tls_fprint_digest_parse("sha512", &d), -EINVAL);
}

/* test_ctx_errors - bad parameters give -errno and a message naming the file */
static void test_ctx_errors(void **state)
{
    (void)state;
    const struct {
        bool server;
        struct tls_ctx_params p;
        int rc;
        const char *in_msg;
    } cases[] = {
        {true, {.cert_file = "/nonexistent/cert.pem"}, -ENOENT, "/nonexistent/cert.pem"},
        {true, {0}, -EINVAL, "certificate"},
        {true,
         {.cert_file = path("server-rsa.pem"), .key_file = path("server-ec.key")},
         -EINVAL,
         "server-ec.key"},
        {true,
         {.cert_file = path("gen.sh"), .key_file = path("server-rsa.key")},
         -EINVAL,
         "gen.sh"},
        {false, {.CAfile = "/nonexistent/ca.pem"}, -ENOENT, "/nonexistent/ca.pem"},
        {false, {.CApath = "/nonexistent/dir"}, -ENOENT, "/nonexistent/dir"},
        {false, {.protocols = "!TLSv1.2 TLSv9"}, -EINVAL, "TLSv9"},
        {false, {.protocols = "SSLv2"}, -EINVAL, "SSLv2"},
        {false, {.protocols = "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1"}, 0, NULL},
        {false, {.protocols = ">=TLSv1.2"}, 0, NULL},
        {false, {.CApath = data_dir}, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tls_ctx *ctx = NULL;
        char err[256] = "";
        int rc = tls_ctx_new(&ctx, cases[i].server, &cases[i].p, err, sizeof(err));
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d want %d (%s)", i, rc, cases[i].rc, err);
        if (cases[i].in_msg && !strstr(err, cases[i].in_msg))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err, cases[i].in_msg);
        assert_true(rc == 0 ? ctx != NULL : ctx == NULL);
        tls_ctx_free(ctx);
    }
}

/* test_key_file_check - private keys must not be readable by group or others */
static void test_key_file_check(void **state)
{
    (void)state;
    static const struct {
        mode_t mode;
        int rc;
    } cases[] = {{0600, 0},      {0400, 0},      {0640, -EPERM},
                 {0604, -EPERM}, {0644, -EPERM}, {0610, -EPERM}};
    char name[] = "/tmp/tern-key-XXXXXX", err[256];
    int fd = mkstemp(name);
    assert_true(fd >= 0);
    close(fd);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(chmod(name, cases[i].mode), 0);
        int rc = tls_ctx_key_file_check(name, err, sizeof(err));
        if (rc != cases[i].rc)
            fail_msg("mode %04o: rc %d (%s)", (unsigned)cases[i].mode, rc, err);
        if (rc)
            assert_non_null(strstr(err, name));
    }
    unlink(name);
    assert_int_equal(tls_ctx_key_file_check(name, err, sizeof(err)), -ENOENT);
}

/* test_capath - a c_rehash directory as the only trust anchor */
static void test_capath(void **state)
{
    (void)state;
    char dir[] = "/tmp/tern-capath-XXXXXX", cmd[3000];
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd), "cp '%s' %s/ && echo not a cert > %s/README && openssl rehash %s",
             path("ca.pem"), dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    char err[256];
    struct tls_ctx *sctx, *cctx;
    struct tls_session *s, *c;
    struct tls_ctx_params sp = {.cert_file = path("server-rsa.pem"),
                                .key_file = path("server-rsa.key")};
    struct tls_ctx_params cp = {.CApath = dir};
    int crc, src;
    assert_int_equal(tls_ctx_new(&sctx, true, &sp, err, sizeof(err)), 0);
    if (tls_ctx_new(&cctx, false, &cp, err, sizeof(err)) != 0)
        fail_msg("CApath: %s", err);
    assert_int_equal(tls_session_new(&s, sctx, true, NULL), 0);
    assert_int_equal(tls_session_new(&c, cctx, false, NULL), 0);
    assert_int_equal(pump(c, s, &crc, &src), 0);
    assert_true(tls_session_info(c)->peer_trusted);
    tls_session_free(c);
    tls_session_free(s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* free_port - a loopback TCP port that was free a moment ago */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* connect_retry - connect to 127.0.0.1:port, waiting for the server to start (bounded) */
static int connect_retry(int port)
{
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        close(fd);
        usleep(50000);
    }
    return -1;
}

/* sock_flush - write all pending ciphertext */
static void sock_flush(int fd, struct tls_session *t)
{
    struct buf out = BUF_INIT;
    tls_session_take_output(t, &out);
    size_t off = 0;
    while (off < buf_used(&out)) {
        ssize_t w = write(fd, buf_ptr(&out) + off, buf_used(&out) - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    buf_free(&out);
}

/* sock_feed - one read (5 s at most) fed to the session; bytes read, 0 at EOF */
static ssize_t sock_feed(int fd, struct tls_session *t)
{
    char b[16384];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5000) != 1)
        return -1;
    ssize_t r = read(fd, b, sizeof(b));
    if (r >= 0)
        tls_session_feed(t, b, (size_t)r);
    return r;
}

/* s_server_round - one connection to openssl s_server -rev; returns the session saved after */
static void s_server_round(int port, struct tls_ctx *cctx, struct buf *saved, bool expect_reuse)
{
    struct tls_session *c;
    struct buf plain = BUF_INIT;
    int fd = connect_retry(port);
    assert_true(fd >= 0);
    assert_int_equal(tls_session_new(&c, cctx, false, "server.example.com"), 0);
    if (buf_used(saved))
        assert_int_equal(tls_session_resume(c, buf_ptr(saved), buf_used(saved)), 0);
    int rc = -EAGAIN;
    for (int i = 0; i < 50 && rc == -EAGAIN; i++) {
        rc = tls_session_handshake(c);
        sock_flush(fd, c);
        if (rc == -EAGAIN)
            assert_true(sock_feed(fd, c) > 0);
    }
    if (rc != 0)
        fail_msg("handshake with s_server: %s", tls_session_error(c));
    const struct tls_info *ci = tls_session_info(c);
    assert_string_equal(ci->protocol, "TLSv1.3");
    assert_int_equal(ci->reused, expect_reuse);
    assert_true(ci->peer_trusted);
    assert_string_equal(ci->peer_CN, "server.example.com");

    assert_int_equal(tls_session_write(c, "hello tern\n", 11), 0);
    sock_flush(fd, c);
    for (int i = 0; i < 50 && !strchr(buf_ptr(&plain), '\n'); i++) {
        int r = tls_session_read(c, &plain);
        sock_flush(fd, c);
        if (r == -EAGAIN)
            assert_true(sock_feed(fd, c) > 0);
        else
            assert_true(r > 0);
    }
    assert_string_equal(buf_ptr(&plain), "nret olleh\n");
    assert_true(tls_session_has_ticket(c));
    buf_reset(saved);
    assert_int_equal(tls_session_save(c, saved), 0);
    assert_true(buf_used(saved) > 100);
    tls_session_shutdown(c);
    sock_flush(fd, c);
    close(fd);
    tls_session_free(c);
    buf_free(&plain);
}

/* test_openssl_s_server - interop and client-side resumption with a real peer */
static void test_openssl_s_server(void **state)
{
    (void)state;
    int port = free_port();
    char accept_arg[32];
    snprintf(accept_arg, sizeof(accept_arg), "127.0.0.1:%d", port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0), dup2(null, 1), dup2(null, 2);
        execlp("openssl", "openssl", "s_server", "-accept", accept_arg, "-cert",
               path("server-rsa.pem"), "-key", path("server-rsa.key"), "-rev", "-naccept", "2",
               "-quiet", (char *)NULL);
        _exit(127);
    }
    char err[256];
    struct tls_ctx *cctx;
    struct tls_ctx_params cp = {.CAfile = path("ca.pem"), .protocols = ">=TLSv1.2"};
    assert_int_equal(tls_ctx_new(&cctx, false, &cp, err, sizeof(err)), 0);
    struct buf saved = BUF_INIT;
    s_server_round(port, cctx, &saved, false);
    /* a fresh context: nothing in wolfSSL's memory helps, only the saved bytes */
    tls_ctx_free(cctx);
    assert_int_equal(tls_ctx_new(&cctx, false, &cp, err, sizeof(err)), 0);
    s_server_round(port, cctx, &saved, true);
    tls_ctx_free(cctx);
    buf_free(&saved);
    int status;
    pid_t done = 0;
    for (int i = 0; i < 100 && (done = waitpid(pid, &status, WNOHANG)) == 0; i++)
        usleep(20000);
    if (done == 0) {
        kill(pid, SIGTERM);
        waitpid(pid, &status, 0);
    }
}

/* s_client_round - serve one `openssl s_client` connection; returns its output in out */
static void s_client_round(struct tls_ctx *sctx, const char *sess_file, bool sess_in,
                           bool want_reuse, char *out, size_t outlen)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof(sa);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &slen), 0);
    char connect_arg[32], out_file[] = "/tmp/tern-s_client-XXXXXX";
    snprintf(connect_arg, sizeof(connect_arg), "127.0.0.1:%d", ntohs(sa.sin_port));
    int ofd = mkstemp(out_file);
    int in[2];
    assert_true(ofd >= 0);
    assert_int_equal(pipe(in), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0), dup2(ofd, 1), dup2(ofd, 2);
        close(in[1]);
        execlp("openssl", "openssl", "s_client", "-connect", connect_arg, "-servername",
               "server.example.com", "-CAfile", path("ca.pem"), "-verify_return_error",
               sess_in ? "-sess_in" : "-sess_out", sess_file, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    int fd = accept(lfd, NULL, NULL);
    assert_true(fd >= 0);
    close(lfd);

    struct tls_session *s;
    struct buf plain = BUF_INIT;
    assert_int_equal(tls_session_new(&s, sctx, true, NULL), 0);
    int rc = -EAGAIN;
    for (int i = 0; i < 50 && rc == -EAGAIN; i++) {
        rc = tls_session_handshake(s);
        sock_flush(fd, s);
        if (rc == -EAGAIN)
            assert_true(sock_feed(fd, s) > 0);
    }
    if (rc != 0)
        fail_msg("handshake with s_client: %s", tls_session_error(s));
    assert_int_equal(tls_session_info(s)->reused, want_reuse);
    assert_int_equal(tls_session_write(s, "220 tern ready\n", 15), 0);
    sock_flush(fd, s);
    usleep(300000); /* let s_client read the tickets and the greeting */
    close(in[1]);   /* s_client: end of input, close_notify, exit */
    for (int i = 0; i < 50; i++) {
        int r = tls_session_read(s, &plain);
        sock_flush(fd, s);
        if (r == 0)
            break;
        if (r == -EAGAIN && sock_feed(fd, s) <= 0)
            break;
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(fd);
    tls_session_free(s);
    buf_free(&plain);
    ssize_t n = pread(ofd, out, outlen - 1, 0);
    out[n > 0 ? n : 0] = 0;
    close(ofd);
    unlink(out_file);
}

/* test_openssl_s_client - our server verified by s_client, resumed across a "restart" */
static void test_openssl_s_client(void **state)
{
    (void)state;
    char dir[] = "/tmp/tern-s_client-dir-XXXXXX", cache_path[100], sess[100], err[256], cmd[200];
    static char out[65536];
    assert_non_null(mkdtemp(dir));
    snprintf(cache_path, sizeof(cache_path), "%s/cache.lmdb", dir);
    snprintf(sess, sizeof(sess), "%s/sess.pem", dir);
    struct tls_ctx_params sp = {.cert_file = path("server-rsa.pem"),
                                .key_file = path("server-rsa.key")};
    for (int round = 0; round < 2; round++) {
        struct tls_cache *tc;
        struct tls_ctx *sctx;
        assert_int_equal(tls_cache_open(&tc, cache_path, 0), 0);
        assert_int_equal(tls_ctx_new(&sctx, true, &sp, err, sizeof(err)), 0);
        assert_int_equal(tls_ctx_use_cache(sctx, tc, 3600), 0);
        s_client_round(sctx, sess, round == 1, round == 1, out, sizeof(out));
        if (!strstr(out, "Verify return code: 0 (ok)") || !strstr(out, "220 tern ready"))
            fail_msg("round %d: s_client said:\n%s", round, out);
        if (!strstr(out, round == 0 ? "New, TLSv1.3" : "Reused, TLSv1.3"))
            fail_msg("round %d: not %s:\n%s", round, round ? "reused" : "new", out);
        tls_ctx_free(sctx);
        tls_cache_close(tc);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* test_summary - the "TLS connection established" text of both sides, as Postfix 3.x writes it */
static void test_summary(void **state)
{
    (void)state;
    const struct {
        const char *name;
        struct tls_ctx_params server, client;
        const char *server_says, *client_says; /* expected text after the bits */
    } cases[] = {
        {"tls1.3 rsa",
         {.cert_file = path("server-rsa.pem"), .key_file = path("server-rsa.key")},
         {.CAfile = path("ca.pem")},
         " server-signature RSA-PSS (2048 bits) server-digest SHA256",
         " server-signature RSA-PSS (2048 bits)"},
        {"tls1.3 ecdsa, rsa client certificate",
         {.eccert_file = path("server-ec.pem"),
          .eckey_file = path("server-ec.key"),
          .CAfile = path("ca.pem"),
          .ask_ccert = true},
         {.CAfile = path("ca.pem"),
          .cert_file = path("client.pem"),
          .key_file = path("client.key")},
         " server-signature ECDSA (prime256v1) server-digest SHA256 client-signature RSA-PSS (2048 "
         "bits)",
         " server-signature ECDSA (prime256v1) client-signature RSA-PSS (2048 bits) client-digest "
         "SHA256"},
        {"tls1.2: no details, as Postfix",
         {.cert_file = path("server-rsa.pem"), .key_file = path("server-rsa.key")},
         {.CAfile = path("ca.pem"), .protocols = "TLSv1.2"},
         "",
         ""},
    };
    for (size_t n = 0; n < sizeof(cases) / sizeof(cases[0]); n++) {
        struct tls_ctx *sctx, *cctx;
        struct tls_session *s, *c;
        char err[256], text[512], want[512];
        int crc, src;
        assert_int_equal(tls_ctx_new(&sctx, true, &cases[n].server, err, sizeof(err)), 0);
        assert_int_equal(tls_ctx_new(&cctx, false, &cases[n].client, err, sizeof(err)), 0);
        assert_int_equal(tls_session_new(&s, sctx, true, NULL), 0);
        assert_int_equal(tls_session_new(&c, cctx, false, "server.example.com"), 0);
        assert_int_equal(pump(c, s, &crc, &src), 0);
        for (int side = 0; side < 2; side++) {
            struct tls_session *t = side ? c : s;
            const struct tls_info *i = tls_session_info(t);
            assert_true(tls_session_summary(t, text, sizeof(text)) > 0);
            int k = snprintf(want, sizeof(want), "%s with cipher %s (%d/%d bits)", i->protocol,
                             i->cipher, i->cipher_bits, i->cipher_alg_bits);
            if (strncmp(text, want, (size_t)k) != 0)
                fail_msg("%s: %s", cases[n].name, text);
            const char *rest = text + k;
            if (strcmp(i->protocol, "TLSv1.3") == 0) {
                /* key-exchange X25519 or ECDHE (curve): whatever both offered first */
                assert_true(strncmp(rest, " key-exchange ", 14) == 0);
                rest = strstr(rest, " server-signature");
                assert_non_null(rest);
            }
            const char *expect = side ? cases[n].client_says : cases[n].server_says;
            if (strcmp(rest, expect) != 0)
                fail_msg("%s (%s): \"%s\", want \"%s\"", cases[n].name, side ? "client" : "server",
                         rest, expect);
        }
        assert_int_equal(tls_session_summary(s, text, 20), -ENOSPC);
        tls_session_free(s);
        tls_session_free(c);
        tls_ctx_free(cctx);
        tls_ctx_free(sctx);
    }
}

struct resume_case {
    const char *name;
    const char *protocols;  /* the client's */
    const char *cert, *key; /* presented on the full handshake */
    bool forget;            /* drop the server's kept identities before resuming */
    bool want_cert, want_trusted;
    const char *want_CN;
};

/* resume_round - one client/server handshake over memory; the client's session saved to saved */
static const struct tls_info *resume_round(struct tls_ctx *sctx, struct tls_ctx *cctx,
                                           struct buf *saved, struct tls_session **s,
                                           struct tls_session **c)
{
    int crc, src;
    assert_int_equal(tls_session_new(s, sctx, true, NULL), 0);
    assert_int_equal(tls_session_new(c, cctx, false, "server.example.com"), 0);
    if (buf_used(saved))
        assert_int_equal(tls_session_resume(*c, buf_ptr(saved), buf_used(saved)), 0);
    assert_int_equal(pump(*c, *s, &crc, &src), 0);
    /* a TLS 1.3 ticket comes after the handshake: the client reads it with the greeting */
    transfer(*s, *c, "220 tern\r\n", 10);
    buf_reset(saved);
    assert_int_equal(tls_session_save(*c, saved), 0);
    return tls_session_info(*s);
}

/* test_resume_identity - the server's view of a client certificate survives resumption from a
 * ticket (issue 10: TLS 1.2 tickets came back anonymous); a lost identity is anonymous */
static void test_resume_identity(void **state)
{
    (void)state;
    const struct resume_case cases[] = {
        {"tls1.2 ticket", "TLSv1.2", "client.pem", "client.key", false, true, true,
         "client.example.com"},
        {"tls1.3 ticket", "TLSv1.3", "client.pem", "client.key", false, true, true,
         "client.example.com"},
        {"tls1.2 ticket, untrusted certificate", "TLSv1.2", "other.pem", "other.key", false, true,
         false, "server.example.com"},
        {"tls1.2 ticket, identity lost", "TLSv1.2", "client.pem", "client.key", true, false, false,
         ""},
        {"tls1.2 ticket, no certificate", "TLSv1.2", NULL, NULL, false, false, false, ""},
    };
    char dir[] = "/tmp/tern-resume-XXXXXX", cache_path[100], err[256], cmd[200];
    assert_non_null(mkdtemp(dir));
    snprintf(cache_path, sizeof(cache_path), "%s/cache.lmdb", dir);
    struct tls_cache *tc;
    assert_int_equal(tls_cache_open(&tc, cache_path, 0), 0);
    struct tls_ctx_params sp = {.cert_file = path("server-rsa.pem"),
                                .key_file = path("server-rsa.key"),
                                .CAfile = path("ca.pem"),
                                .ask_ccert = true};
    for (size_t n = 0; n < sizeof(cases) / sizeof(cases[0]); n++) {
        const struct resume_case *t = &cases[n];
        struct tls_ctx *sctx, *cctx, *cctx2;
        struct tls_session *s, *c;
        struct buf saved = BUF_INIT;
        char fp_full[TLS_FPRINT_MAX] = "", fp_resumed[TLS_FPRINT_MAX] = "";
        struct tls_ctx_params cp = {.CAfile = path("ca.pem"),
                                    .protocols = t->protocols,
                                    .cert_file = t->cert ? path(t->cert) : NULL,
                                    .key_file = t->key ? path(t->key) : NULL};
        struct tls_ctx_params cp2 = {.CAfile = path("ca.pem"), .protocols = t->protocols};
        assert_int_equal(tls_ctx_new(&sctx, true, &sp, err, sizeof(err)), 0);
        assert_int_equal(tls_ctx_use_cache(sctx, tc, 3600), 0);
        assert_int_equal(tls_ctx_new(&cctx, false, &cp, err, sizeof(err)), 0);
        /* the second connection offers no certificate: what comes back is what tern kept */
        assert_int_equal(tls_ctx_new(&cctx2, false, &cp2, err, sizeof(err)), 0);

        const struct tls_info *si = resume_round(sctx, cctx, &saved, &s, &c);
        assert_false(si->reused);
        assert_int_equal(si->peer_cert, t->cert != NULL);
        if (t->cert)
            assert_int_equal(
                tls_session_fingerprint(s, TLS_DIGEST_SHA256, false, fp_full, sizeof(fp_full)) > 0,
                true);
        tls_session_free(s);
        tls_session_free(c);
        assert_int_equal(tls_cache_flush(tc), 0);
        if (t->forget)
            assert_true(tls_cache_purge(tc, TLS_CACHE_PEERS) >= 1);

        si = resume_round(sctx, cctx2, &saved, &s, &c);
        if (!si->reused)
            fail_msg("%s: not resumed", t->name);
        if (si->peer_cert != t->want_cert || si->peer_trusted != t->want_trusted)
            fail_msg("%s: resumed: peer_cert %d trusted %d, want %d %d", t->name, si->peer_cert,
                     si->peer_trusted, t->want_cert, t->want_trusted);
        assert_string_equal(si->peer_CN, t->want_CN);
        if (t->want_cert) {
            assert_true(tls_session_fingerprint(s, TLS_DIGEST_SHA256, false, fp_resumed,
                                                sizeof(fp_resumed)) > 0);
            assert_string_equal(fp_resumed, fp_full);
            assert_string_equal(si->issuer_CN, t->want_trusted ? "Tern Test CA" : "Other CA");
            if (!t->want_trusted)
                assert_true(si->verify_error[0] != 0);
        } else {
            assert_int_equal(tls_session_fingerprint(s, TLS_DIGEST_SHA256, false, fp_resumed,
                                                     sizeof(fp_resumed)),
                             -ENOENT);
        }
        tls_session_free(s);
        tls_session_free(c);
        tls_ctx_free(cctx2);
        tls_ctx_free(cctx);
        tls_ctx_free(sctx);
        buf_free(&saved);
    }
    tls_cache_close(tc);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_table),  cmocka_unit_test(test_bulk_and_close),
        cmocka_unit_test(test_fingerprints),     cmocka_unit_test(test_ctx_errors),
        cmocka_unit_test(test_capath),           cmocka_unit_test(test_openssl_s_server),
        cmocka_unit_test(test_openssl_s_client), cmocka_unit_test(test_key_file_check),
        cmocka_unit_test(test_session_restrict), cmocka_unit_test(test_resume_identity),
        cmocka_unit_test(test_summary),          cmocka_unit_test(test_session_dane),
    };
    return cmocka_run_group_tests(tests, setup_dir, NULL);
}
