/*
 * test_dane - tls_dane: TLSA records against certificate chains, the cases of RFC 7672 3.1
 * (DANE-EE: the leaf alone, no names, no dates; DANE-TA: an anchor in the chain, the chain
 * verified up to it, the leaf's names checked) and RFC 7671 (unusable records).
 *
 * The chains are data/dane-*.pem (gen-dane.sh): root -> intermediate -> mx.dane.example, and
 * an expired leaf with the same key. The expected digests were computed with the openssl
 * command line, not with the code under test:
 *   openssl x509 -in F -outform DER | sha256sum                                   (selector 0)
 *   openssl x509 -in F -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum (1)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tls/tls_internal.h"

#include <wolfssl/wolfcrypt/asn_public.h>

#include "tls/tls_dane.h"

#define LEAF_CERT256 "bfee1d0e9ad529a9417b0d6c4dae1198e3f3bb21f16dcce76c43dffaa42a5fd1"
#define LEAF_SPKI256 "d1f661baf7156e88516dd96b7d0ec43b6e1db1bc51ab616776b771f891da2b62"
#define LEAF_CERT512                                                                               \
    "391adfbdd5c5aaa3c613aae9b1d68fc7a89902a546b8cd5871ed234fd84b53fcfa69d668b76a66a3a4c74ddde8"   \
    "93b5ff019e9f96e133358f3a507b3c4d967b53"
#define LEAF_SPKI512                                                                               \
    "c355abfc6bfc42ec974d05ed3218aba1b85d70927cee9798daca67ea63868a10837c326f54e7fc3a8bb56328e9"   \
    "5b2d9b08c6dcd066abba0d0e284fde45c713fb"
#define INT_CERT256 "fd5abc974111b71c011905f083391fdabd9c32689cfac476d8619f0ab1a668a9"
#define INT_SPKI256 "a3530a40b3ab219edfe07ee849d6b39d5f25fb181ce29809c9c7ae346482621b"
#define ROOT_CERT256 "f6dfe9c1c2d47b42091b77ace27db5051718a74049cb209aafb9893dc2915b01"
#define ROOT_SPKI256 "98acf4cc315283ae23f72806934a3846cd9eec1274a41372db0cdb58be79e6c4"
#define TERN_CA_CERT256 "f81cb5c182922b673e549f797a78d9eb4fefd14da9a8534d1c036a0f10cab584"

struct chain {
    struct tls_der c[4];
    unsigned char *mem[4];
    size_t n;
};

/* load_chain - every certificate of a PEM file, as DER, in file order */
static void load_chain(const char *name, struct chain *ch)
{
    char path[512], *pem = NULL;
    snprintf(path, sizeof(path), "%s/%s", TLS_DATA_DIR, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 16384;
            assert_non_null(pem = realloc(pem, cap));
        }
        size_t r = fread(pem + len, 1, 4096, f);
        len += r;
        if (r == 0)
            break;
    }
    fclose(f);
    pem[len] = 0;
    ch->n = 0;
    const char *end_tag = "-----END CERTIFICATE-----";
    for (char *p = strstr(pem, "-----BEGIN CERTIFICATE-----"); p && ch->n < 4;
         p = strstr(p, "-----BEGIN CERTIFICATE-----")) {
        char *e = strstr(p, end_tag);
        assert_non_null(e);
        e += strlen(end_tag);
        unsigned char *der = malloc(8192);
        assert_non_null(der);
        int n = wc_CertPemToDer((const unsigned char *)p, (int)(e - p), der, 8192, CERT_TYPE);
        assert_true(n > 0);
        ch->mem[ch->n] = der;
        ch->c[ch->n++] = (struct tls_der){der, (size_t)n};
        p = e;
    }
    free(pem);
}

static void free_chain(struct chain *ch)
{
    for (size_t i = 0; i < ch->n; i++)
        free(ch->mem[i]);
}

struct rec {
    unsigned char rdata[3 + 64];
    struct tls_tlsa rr;
};

/* rec - a TLSA record "u s m hex" as the DNS would hand it over */
static void rec(struct rec *r, unsigned u, unsigned s, unsigned m, const char *hex)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= 64);
    r->rdata[0] = (unsigned char)u;
    r->rdata[1] = (unsigned char)s;
    r->rdata[2] = (unsigned char)m;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        r->rdata[3 + i] = (unsigned char)v;
    }
    assert_int_equal(tls_dane_parse(r->rdata, 3 + n, &r->rr), 0);
}

/* check - one record against a chain file with the given reference names */
static struct tls_dane_result check(const struct tls_tlsa *rrs, size_t nrr, const char *file,
                                    const char *ref)
{
    struct chain ch;
    struct tls_dane_result r;
    const char *refs[] = {ref};
    load_chain(file, &ch);
    assert_int_equal(tls_dane_check(rrs, nrr, ch.c, ch.n, refs, ref ? 1 : 0, &r), 0);
    free_chain(&ch);
    return r;
}

/* DANE-EE: the leaf's certificate or key, any digest; names and dates are not looked at */
static void test_ee(void **state)
{
    (void)state;
    static const struct {
        unsigned s, m;
        const char *hex;
    } cases[] = {
        {1, 1, LEAF_SPKI256},
        {0, 1, LEAF_CERT256},
        {1, 2, LEAF_SPKI512},
        {0, 2, LEAF_CERT512},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rec r;
        rec(&r, 3, cases[i].s, cases[i].m, cases[i].hex);
        struct tls_dane_result res = check(&r.rr, 1, "dane-leaf.pem", "mx.unrelated.example");
        assert_int_equal(res.status, TLS_DANE_MATCH);
        assert_int_equal(res.depth, 0);
    }
    /* 3 1 1 still matches the expired certificate with the same key (RFC 7672 3.1.1) */
    struct rec r;
    rec(&r, 3, 1, 1, LEAF_SPKI256);
    assert_int_equal(check(&r.rr, 1, "dane-expired.pem", NULL).status, TLS_DANE_MATCH);
    /* a DANE-EE record of the intermediate does not match: EE is the leaf only */
    rec(&r, 3, 1, 1, INT_SPKI256);
    struct tls_dane_result res = check(&r.rr, 1, "dane-leaf.pem", "mx.dane.example");
    assert_int_equal(res.status, TLS_DANE_FAIL);
    assert_non_null(strstr(res.why, "DANE-EE"));
}

/* 3 0 0: the whole certificate as the data */
static void test_ee_full(void **state)
{
    (void)state;
    struct chain ch;
    load_chain("dane-leaf.pem", &ch);
    unsigned char *rd = malloc(3 + ch.c[0].len);
    assert_non_null(rd);
    rd[0] = 3, rd[1] = 0, rd[2] = 0;
    memcpy(rd + 3, ch.c[0].der, ch.c[0].len);
    struct tls_tlsa rr;
    struct tls_dane_result r;
    assert_int_equal(tls_dane_parse(rd, 3 + ch.c[0].len, &rr), 0);
    assert_int_equal(tls_dane_check(&rr, 1, ch.c, ch.n, NULL, 0, &r), 0);
    assert_int_equal(r.status, TLS_DANE_MATCH);
    rd[3 + ch.c[0].len / 2] ^= 1; /* one bit off */
    assert_int_equal(tls_dane_check(&rr, 1, ch.c, ch.n, NULL, 0, &r), 0);
    assert_int_equal(r.status, TLS_DANE_FAIL);
    free(rd);
    free_chain(&ch);
}

/* a wrong digest, a digest of another certificate: no match, and the reason says so */
static void test_ee_wrong(void **state)
{
    (void)state;
    struct rec r;
    char bad[] = LEAF_SPKI256;
    bad[0] = bad[0] == '0' ? '1' : '0';
    rec(&r, 3, 1, 1, bad);
    struct tls_dane_result res = check(&r.rr, 1, "dane-leaf.pem", "mx.dane.example");
    assert_int_equal(res.status, TLS_DANE_FAIL);
    rec(&r, 3, 0, 1, LEAF_SPKI256); /* the key's digest given as the certificate's */
    assert_int_equal(check(&r.rr, 1, "dane-leaf.pem", NULL).status, TLS_DANE_FAIL);
    rec(&r, 3, 1, 1, LEAF_SPKI256); /* another server's chain */
    assert_int_equal(check(&r.rr, 1, "server-rsa.pem", NULL).status, TLS_DANE_FAIL);
}

/* DANE-TA: on the intermediate or the root, certificate or key; the leaf must be named */
static void test_ta(void **state)
{
    (void)state;
    static const struct {
        unsigned s;
        const char *hex;
        size_t depth;
    } cases[] = {
        {0, INT_CERT256, 1},
        {1, INT_SPKI256, 1},
        {0, ROOT_CERT256, 2},
        {1, ROOT_SPKI256, 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rec r;
        rec(&r, 2, cases[i].s, 1, cases[i].hex);
        struct tls_dane_result res = check(&r.rr, 1, "dane-leaf.pem", "mx.dane.example");
        assert_int_equal(res.status, TLS_DANE_MATCH);
        assert_int_equal(res.depth, cases[i].depth);
        /* a wildcard as the whole left-most label */
        res = check(&r.rr, 1, "dane-leaf.pem", "a.wild.dane.example");
        assert_int_equal(res.status, TLS_DANE_MATCH);
        /* a name the certificate does not carry (RFC 7672 3.2.2) */
        res = check(&r.rr, 1, "dane-leaf.pem", "mx.other.example");
        assert_int_equal(res.status, TLS_DANE_FAIL);
        assert_non_null(strstr(res.why, "does not name mx.other.example"));
        res = check(&r.rr, 1, "dane-leaf.pem", "a.b.wild.dane.example");
        assert_int_equal(res.status, TLS_DANE_FAIL);
    }
}

/* DANE-TA: an expired leaf below the anchor fails; a record for another CA fails; the leaf
 * itself is no trust anchor; an anchor the chain does not lead to fails */
static void test_ta_fail(void **state)
{
    (void)state;
    struct rec r;
    rec(&r, 2, 0, 1, INT_CERT256);
    struct tls_dane_result res = check(&r.rr, 1, "dane-expired.pem", "mx.dane.example");
    assert_int_equal(res.status, TLS_DANE_FAIL);
    assert_non_null(strstr(res.why, "depth 0 does not verify"));
    rec(&r, 2, 0, 1, TERN_CA_CERT256);
    res = check(&r.rr, 1, "dane-leaf.pem", "mx.dane.example");
    assert_int_equal(res.status, TLS_DANE_FAIL);
    assert_non_null(strstr(res.why, "no certificate above the leaf"));
    rec(&r, 2, 1, 1, LEAF_SPKI256);
    assert_int_equal(check(&r.rr, 1, "dane-leaf.pem", "mx.dane.example").status, TLS_DANE_FAIL);
    /* the test CA's record, a chain signed by another CA with the test CA appended */
    struct chain other, ca;
    load_chain("other.pem", &other);
    load_chain("ca.pem", &ca);
    struct tls_der forged[] = {other.c[0], ca.c[0]};
    const char *refs[] = {"server.example.com"};
    rec(&r, 2, 0, 1, TERN_CA_CERT256);
    assert_int_equal(tls_dane_check(&r.rr, 1, forged, 2, refs, 1, &res), 0);
    assert_int_equal(res.status, TLS_DANE_FAIL);
    assert_non_null(strstr(res.why, "does not verify"));
    free_chain(&other);
    free_chain(&ca);
}

/* PKIX usages, unknown selectors or matching types, digests of the wrong length: unusable;
 * an unusable record beside a usable one is skipped */
static void test_unusable(void **state)
{
    (void)state;
    struct rec r[6];
    rec(&r[0], 0, 0, 1, ROOT_CERT256);
    rec(&r[1], 1, 1, 1, LEAF_SPKI256);
    rec(&r[2], 3, 2, 1, LEAF_SPKI256);
    rec(&r[3], 3, 1, 3, LEAF_SPKI256);
    rec(&r[4], 3, 1, 1, "d1f661baf7156e88516dd96b7d0ec43b6e1db1bc51ab616776b771f891da2b"); /* 31 */
    rec(&r[5], 3, 1, 2, LEAF_SPKI256); /* a SHA2-256 digest as SHA2-512 */
    struct tls_tlsa rrs[7];
    for (size_t i = 0; i < 6; i++) {
        assert_false(tls_dane_usable(&r[i].rr));
        rrs[i] = r[i].rr;
    }
    assert_int_equal(check(rrs, 6, "dane-leaf.pem", "mx.dane.example").status, TLS_DANE_UNUSABLE);
    struct rec ok;
    rec(&ok, 3, 1, 1, LEAF_SPKI256);
    rrs[6] = ok.rr;
    struct tls_dane_result res = check(rrs, 7, "dane-leaf.pem", "mx.dane.example");
    assert_int_equal(res.status, TLS_DANE_MATCH);
    assert_int_equal(res.rr, 6);
    /* no certificate at all: a usable set still fails */
    assert_int_equal(tls_dane_check(rrs, 7, NULL, 0, NULL, 0, &res), 0);
    assert_int_equal(res.status, TLS_DANE_FAIL);
}

/* the RDATA bounds, and the maillog form */
static void test_parse_describe(void **state)
{
    (void)state;
    struct tls_tlsa rr;
    const unsigned char three[] = {3, 1, 1};
    assert_int_equal(tls_dane_parse(three, 3, &rr), -EINVAL);
    unsigned char *big = calloc(1, 3 + TLS_DANE_DATA_MAX + 1);
    assert_non_null(big);
    assert_int_equal(tls_dane_parse(big, 3 + TLS_DANE_DATA_MAX + 1, &rr), -EINVAL);
    assert_int_equal(tls_dane_parse(big, 3 + TLS_DANE_DATA_MAX, &rr), 0);
    free(big);
    struct rec r;
    rec(&r, 3, 1, 1, LEAF_SPKI256);
    char out[64];
    assert_true(tls_dane_describe(&r.rr, out, sizeof(out)) > 0);
    assert_string_equal(out, "3 1 1 d1f661baf715...");
    assert_int_equal(tls_dane_describe(&r.rr, out, 8), -ENOSPC);
}

/* the digest names the set, not the order its records came in */
static void test_digest(void **state)
{
    (void)state;
    struct rec a, b, c;
    rec(&a, 3, 1, 1, LEAF_SPKI256);
    rec(&b, 2, 0, 1, INT_CERT256);
    rec(&c, 2, 0, 1, ROOT_CERT256);
    struct tls_tlsa ab[] = {a.rr, b.rr}, ba[] = {b.rr, a.rr}, ac[] = {a.rr, c.rr};
    char d1[17], d2[17], d3[17], d4[17];
    assert_int_equal(tls_dane_digest(ab, 2, d1), 0);
    assert_int_equal(tls_dane_digest(ba, 2, d2), 0);
    assert_int_equal(tls_dane_digest(ac, 2, d3), 0);
    assert_int_equal(tls_dane_digest(ab, 1, d4), 0);
    assert_int_equal(strlen(d1), 16);
    assert_string_equal(d1, d2);
    assert_string_not_equal(d1, d3);
    assert_string_not_equal(d1, d4);
    /* the same data under another usage is another record */
    struct rec a2;
    rec(&a2, 2, 1, 1, LEAF_SPKI256);
    struct tls_tlsa a2b[] = {a2.rr, b.rr};
    assert_int_equal(tls_dane_digest(a2b, 2, d4), 0);
    assert_string_not_equal(d1, d4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ee),
        cmocka_unit_test(test_ee_full),
        cmocka_unit_test(test_ee_wrong),
        cmocka_unit_test(test_ta),
        cmocka_unit_test(test_ta_fail),
        cmocka_unit_test(test_unusable),
        cmocka_unit_test(test_parse_describe),
        cmocka_unit_test(test_digest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
