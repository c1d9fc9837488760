/*
 * test_proxy - the PROXY protocol header: v1 and v2 as HAProxy sends them, every prefix of a good
 * one asks for more, every damaged one is refused, nothing past the header is read
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/smtpd/proxy.h"

/* HAProxy 2.6 (Debian 12), "send-proxy-v2 proxy-v2-options crc32c,unique-id", captured: a
 * client at 127.0.0.2:34121 to 127.0.0.1:47000, then the client's own "EHLO x\r\n" */
static const char haproxy_v2_hex[] = "0d0a0d0a000d0a515549540a211100167f0000027f0000018549b798"
                                     "0300046d50798c050000"
                                     "45484c4f20780d0a";
#define HAPROXY_V2_LEN 38

static size_t unhex(const char *hex, unsigned char *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1]; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (unsigned char)v;
    }
    return n;
}

static long parse(const void *p, size_t n, struct proxy_header *h)
{
    const char *why;
    long rc = proxy_parse(p, n, h, &why);
    assert_non_null(why);
    if (rc < 0)
        assert_true(why[0] != 0); /* a refusal always says why */
    return rc;
}

/* every proper prefix of a good header asks for more */
static void assert_prefixes_wait(const void *p, size_t n)
{
    struct proxy_header h;
    for (size_t i = 0; i < n; i++)
        if (parse(p, i, &h) != 0)
            fail_msg("prefix of %zu octets of %zu did not ask for more", i, n);
}

static void test_haproxy_v2(void **state)
{
    (void)state;
    unsigned char b[64];
    size_t n = unhex(haproxy_v2_hex, b);
    struct proxy_header h;
    assert_int_equal(parse(b, n, &h), HAPROXY_V2_LEN);
    assert_int_equal(h.version, 2);
    assert_false(h.local);
    assert_string_equal(h.src, "127.0.0.2");
    assert_int_equal(h.sport, 34121);
    assert_string_equal(h.dst, "127.0.0.1");
    assert_int_equal(h.dport, 47000);
    assert_prefixes_wait(b, HAPROXY_V2_LEN);
    /* one bit changed anywhere in the address or a TLV: the CRC32C refuses it */
    for (size_t i = 16; i < HAPROXY_V2_LEN; i++) {
        if (i == 16 + 12) /* the CRC TLV's type: an unknown TLV, and no CRC to check */
            continue;
        b[i] ^= 0x10;
        assert_true(parse(b, n, &h) < 0);
        b[i] ^= 0x10;
    }
}

/* build_v2 - a v2 header: command, family/transport, addresses and extra TLV octets */
static size_t build_v2(unsigned char *b, int cmd, int famproto, const void *body, size_t blen)
{
    static const unsigned char sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                          0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
    memcpy(b, sig, 12);
    b[12] = (unsigned char)(0x20 | cmd);
    b[13] = (unsigned char)famproto;
    b[14] = (unsigned char)(blen >> 8);
    b[15] = (unsigned char)blen;
    memcpy(b + 16, body, blen);
    return 16 + blen;
}

static void test_v2_forms(void **state)
{
    (void)state;
    unsigned char b[2048];
    struct proxy_header h;
    /* IPv6, with an ALPN and a NOOP TLV */
    unsigned char v6[36 + 8 + 3] = {0};
    v6[0] = 0x20, v6[1] = 0x01, v6[2] = 0x0d, v6[3] = 0xb8, v6[15] = 0x05; /* 2001:db8::5 */
    v6[31] = 1;                                                            /* ::1 */
    v6[32] = 0x30, v6[33] = 0x39, v6[34] = 0x00, v6[35] = 0x19;            /* 12345 -> 25 */
    memcpy(v6 + 36, "\x01\x00\x05smtp!", 8);
    memcpy(v6 + 44, "\x04\x00\x00", 3);
    size_t n = build_v2(b, 1, 0x21, v6, sizeof(v6));
    assert_int_equal(parse(b, n, &h), (long)n);
    assert_string_equal(h.src, "2001:db8::5");
    assert_string_equal(h.dst, "::1");
    assert_int_equal(h.sport, 12345);
    assert_int_equal(h.dport, 25);
    assert_prefixes_wait(b, n);
    /* an IPv4-mapped client is an IPv4 client */
    unsigned char m[36] = {0};
    m[10] = m[11] = 0xff, m[12] = 192, m[13] = 0, m[14] = 2, m[15] = 7;
    n = build_v2(b, 1, 0x21, m, sizeof(m));
    assert_int_equal(parse(b, n, &h), (long)n);
    assert_string_equal(h.src, "192.0.2.7");
    /* LOCAL (HAProxy's health check): no client, whatever the family */
    n = build_v2(b, 0, 0x00, "", 0);
    assert_int_equal(parse(b, n, &h), 16);
    assert_true(h.local);
    /* PROXY with UNSPEC, or a unix socket: no client address to use */
    n = build_v2(b, 1, 0x00, "", 0);
    assert_int_equal(parse(b, n, &h), 16);
    assert_true(h.local);
    unsigned char un[216] = {0};
    n = build_v2(b, 1, 0x31, un, sizeof(un));
    assert_int_equal(parse(b, n, &h), (long)n);
    assert_true(h.local);
}

static void test_v2_refused(void **state)
{
    (void)state;
    unsigned char b[2048], v4[12] = {127, 0, 0, 2, 127, 0, 0, 1, 0, 1, 0, 25};
    struct proxy_header h;
    size_t n = build_v2(b, 1, 0x11, v4, sizeof(v4));
    assert_int_equal(parse(b, n, &h), 28);
    b[12] = 0x11; /* version 1 in binary */
    assert_int_equal(parse(b, n, &h), -EBADMSG);
    b[12] = 0x22; /* command 2 */
    assert_int_equal(parse(b, n, &h), -EBADMSG);
    b[12] = 0x21, b[13] = 0x12; /* UDP */
    assert_int_equal(parse(b, n, &h), -EBADMSG);
    b[13] = 0x41; /* family 4 */
    assert_int_equal(parse(b, n, &h), -EBADMSG);
    b[13] = 0x11, b[15] = 8; /* a length too short for two IPv4 addresses and ports */
    assert_int_equal(parse(b, 16, &h), -EBADMSG);
    b[13] = 0x21, b[15] = 12; /* IPv6 in the length of IPv4 */
    assert_int_equal(parse(b, n, &h), -EBADMSG);
    /* longer than PROXY_MAX: refused from the fixed part alone */
    b[13] = 0x11, b[14] = 0x10, b[15] = 0;
    assert_int_equal(parse(b, 16, &h), -EMSGSIZE);
    /* a TLV longer than what is left, a TLV header cut short */
    unsigned char t[12 + 4];
    memcpy(t, v4, 12);
    memcpy(t + 12, "\x05\x00\x02x", 4);
    n = build_v2(b, 1, 0x11, t, sizeof(t));
    assert_int_equal(parse(b, n, &h), -EBADMSG);
    n = build_v2(b, 1, 0x11, t, 14);
    assert_int_equal(parse(b, n, &h), -EBADMSG);
    /* a CRC32C TLV of the wrong size */
    memcpy(t + 12, "\x03\x00\x01x", 4);
    n = build_v2(b, 1, 0x11, t, sizeof(t));
    assert_int_equal(parse(b, n, &h), -EBADMSG);
}

static const struct {
    const char *line;
    long want; /* octets of the header, 0: more, < 0: refused */
    const char *src, *dst;
    int sport, dport;
} v1_cases[] = {
    {"PROXY TCP4 192.0.2.1 198.51.100.1 56324 25\r\nEHLO", 44, "192.0.2.1", "198.51.100.1", 56324,
     25},
    {"PROXY TCP6 2001:db8::1 ::1 65535 0\r\n", 36, "2001:db8::1", "::1", 65535, 0},
    {"PROXY TCP6 ::ffff:10.1.2.3 ::1 1 2\r\n", 36, "10.1.2.3", "::1", 1, 2},
    {"PROXY UNKNOWN\r\n", 15, NULL, NULL, 0, 0},
    {"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", 35, NULL, NULL, 0, 0},
    {"PROXY TCP4 192.0.2.1 198.51.100.1 56324", 0, NULL, NULL, 0, 0},
    {"PROX", 0, NULL, NULL, 0, 0},
    {"PROXY TCP4 192.0.2.1 198.51.100.1 56324 25\r", 0, NULL, NULL, 0, 0},
    {"PROXY TCP4 192.0.2.1 198.51.100.1 56324 25\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY TCP4 192.0.2.1 198.51.100.1 56324 25\rX", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY TCP6 192.0.2.1 ::1 1 2\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY TCP4 192.0.2.1  198.51.100.1 1 2\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY TCP4 192.0.2.1 198.51.100.1 1 2 3\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY TCP4 192.0.2.1 198.51.100.1 1\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY TCP4 192.0.2.1 198.51.100.1 65536 2\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY TCP4 192.0.2.1 198.51.100.1 025 2\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY TCP4 192.0.2.1 198.51.100.1 -1 2\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY TCP4 1.2.3 198.51.100.1 1 2\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY UDP4 192.0.2.1 198.51.100.1 1 2\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY tcp4 192.0.2.1 198.51.100.1 1 2\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"PROXY TCP4 192.0.2.1 198.51.100.1 1 2\t\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"EHLO client.example\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"GET / HTTP/1.0\r\n", -EBADMSG, NULL, NULL, 0, 0},
    {"\r\n\r\n\x01", -EBADMSG, NULL, NULL, 0, 0},
};

static void test_v1(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(v1_cases) / sizeof(v1_cases[0]); i++) {
        const char *line = v1_cases[i].line;
        struct proxy_header h;
        long rc = parse(line, strlen(line), &h);
        if (rc != v1_cases[i].want)
            fail_msg("\"%s\": %ld, expected %ld", line, rc, v1_cases[i].want);
        if (rc > 0) {
            assert_int_equal(h.version, 1);
            assert_int_equal(h.local, v1_cases[i].src == NULL);
            assert_prefixes_wait(line, (size_t)rc);
        }
        if (rc > 0 && v1_cases[i].src) {
            assert_string_equal(h.src, v1_cases[i].src);
            assert_string_equal(h.dst, v1_cases[i].dst);
            assert_int_equal(h.sport, v1_cases[i].sport);
            assert_int_equal(h.dport, v1_cases[i].dport);
        }
    }
}

/* the v1 line is at most 107 octets with its CR LF */
static void test_v1_length(void **state)
{
    (void)state;
    char line[256];
    struct proxy_header h;
    /* the longest UNKNOWN line: 107 octets */
    int n = snprintf(line, sizeof(line), "PROXY UNKNOWN %090d\r\n", 0);
    assert_int_equal(n, 106);
    n = snprintf(line, sizeof(line), "PROXY UNKNOWN %091d\r\n", 0);
    assert_int_equal(parse(line, (size_t)n, &h), 107);
    n = snprintf(line, sizeof(line), "PROXY UNKNOWN %092d\r\n", 0);
    assert_int_equal(parse(line, (size_t)n, &h), -EMSGSIZE);
    /* no CR within 107 octets: refused without waiting for more */
    memset(line, 'A', sizeof(line));
    memcpy(line, "PROXY ", 6);
    assert_int_equal(parse(line, 106, &h), 0);
    assert_int_equal(parse(line, 107, &h), -EMSGSIZE);
    assert_int_equal(parse(line, sizeof(line), &h), -EMSGSIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_haproxy_v2), cmocka_unit_test(test_v2_forms),
        cmocka_unit_test(test_v2_refused), cmocka_unit_test(test_v1),
        cmocka_unit_test(test_v1_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
