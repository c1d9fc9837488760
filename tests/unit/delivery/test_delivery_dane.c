/*
 * test_delivery_dane - delivery_dane: the level an attempt at dane or dane-only gets from what
 * DNSSEC said about the MX host (RFC 7672 2.2, the table in delivery_dane.h), and the copy of a
 * TLSA answer that an attempt keeps
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/delivery/delivery_dane.h"

static const unsigned char ee[3 + 32] = {3, 1, 1, 0xd1, 0xf6};   /* DANE-EE SPKI SHA2-256 */
static const unsigned char pkix[3 + 32] = {1, 1, 1, 0xd1, 0xf6}; /* PKIX-EE: unusable */

/* answer - a dns_rr_result with the given records */
static struct dns_rr_result answer(enum dns_status st, bool secure, size_t n,
                                   const unsigned char *rec)
{
    struct dns_rr_result r = {.status = st, .secure = secure, .n = n};
    for (size_t i = 0; i < n; i++) {
        r.rdata[i] = rec;
        r.len[i] = 35;
    }
    if (st == DNS_TEMPFAIL)
        snprintf(r.error, sizeof(r.error), "Host not found, try again");
    return r;
}

static int level_of(enum tls_level want, bool addr_secure, const struct dns_rr_result *a,
                    enum tls_level *out, char *why)
{
    struct delivery_dane *t = NULL;
    if (a)
        assert_int_equal(delivery_dane_from_dns(&t, a, "mx.example"), 0);
    int rc = delivery_dane_level(want, addr_secure, t, out, why, 200);
    delivery_dane_free(t);
    return rc;
}

/* the table of delivery_dane.h, row by row, both levels */
static void test_table(void **state)
{
    (void)state;
    struct dns_rr_result fail = answer(DNS_TEMPFAIL, false, 0, NULL);
    struct dns_rr_result insecure = answer(DNS_OK, false, 1, ee);
    struct dns_rr_result none = answer(DNS_NOTFOUND, true, 0, NULL);
    struct dns_rr_result unusable = answer(DNS_OK, true, 2, pkix);
    struct dns_rr_result good = answer(DNS_OK, true, 1, ee);
    static const struct {
        bool addr_secure;
        int row;       /* 0 not looked up, 1 fail, 2 insecure, 3 none, 4 unusable, 5 usable */
        int dane;      /* expected level, -1 defer */
        int dane_only; /* expected level, -1 defer */
    } rows[] = {
        {false, 0, TLS_LEVEL_MAY, -1},
        {true, 1, -1, -1},
        {true, 2, TLS_LEVEL_MAY, -1},
        {true, 3, TLS_LEVEL_MAY, -1},
        {true, 4, TLS_LEVEL_ENCRYPT, -1},
        {true, 5, TLS_LEVEL_DANE, TLS_LEVEL_DANE},
        {false, 5, TLS_LEVEL_MAY, -1}, /* records, but the address was not validated */
        {true, 0, -1, -1},             /* validated, but no TLSA answer kept */
    };
    const struct dns_rr_result *ans[] = {NULL, &fail, &insecure, &none, &unusable, &good};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        for (int only = 0; only < 2; only++) {
            enum tls_level out = TLS_LEVEL_NONE;
            char why[200] = "";
            int want = only ? rows[i].dane_only : rows[i].dane;
            int rc = level_of(only ? TLS_LEVEL_DANE_ONLY : TLS_LEVEL_DANE, rows[i].addr_secure,
                              ans[rows[i].row], &out, why);
            if (want < 0) {
                if (rc != -EAGAIN || !why[0])
                    fail_msg("row %zu %s: want a deferral, got %d", i, only ? "dane-only" : "dane",
                             rc);
            } else if (rc != 0 || (int)out != want) {
                fail_msg("row %zu %s: want level %d, got rc %d level %d", i,
                         only ? "dane-only" : "dane", want, rc, (int)out);
            }
        }
    }
    /* other levels pass through untouched */
    enum tls_level out;
    char why[200];
    assert_int_equal(delivery_dane_level(TLS_LEVEL_VERIFY, false, NULL, &out, why, 200), 0);
    assert_int_equal(out, TLS_LEVEL_VERIFY);
}

/* an attempt's copy is its own: the answer's memory can go */
static void test_dup(void **state)
{
    (void)state;
    unsigned char rec[35];
    memcpy(rec, ee, sizeof(rec));
    struct dns_rr_result a = answer(DNS_OK, true, 1, rec);
    struct delivery_dane *t, *c;
    assert_int_equal(delivery_dane_from_dns(&t, &a, "mx.example"), 0);
    memset(rec, 0, sizeof(rec)); /* the DNS answer is freed after the callback */
    assert_int_equal(t->n, 1);
    assert_int_equal(t->rr[0].usage, 3);
    assert_int_equal(delivery_dane_dup(&c, t), 0);
    delivery_dane_free(t);
    assert_int_equal(c->state, DELIVERY_DANE_RECORDS);
    assert_int_equal(c->rr[0].len, 32);
    assert_int_equal(c->rr[0].data[0], 0xd1);
    delivery_dane_free(c);
    /* a malformed RDATA (3 octets) is no record */
    a.len[0] = 3;
    assert_int_equal(delivery_dane_from_dns(&t, &a, "mx.example"), 0);
    assert_int_equal(t->n, 0);
    delivery_dane_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_dup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
