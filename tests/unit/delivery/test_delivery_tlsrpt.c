/*
 * test_delivery_tlsrpt - the TLS-RPT record: keys made and read back, values read by
 * delivery_tlsrpt_parse (a table), and what delivery_tlsrpt_note leaves in a client TLS cache
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <time.h>

#include <cmocka.h>

#include "core/base/buf.h"
#include "core/base/tmpdir.h"
#include "core/delivery/delivery_tlsrpt.h"
#include "policy/policy_mtasts.h"
#include "tls/tls_cache.h"

static void test_key(void **state)
{
    (void)state;
    static const struct {
        const char *type, *domain;
    } cases[] = {{"sts", "example.com"}, {"tlsa", "a.b.example"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char key[400], day[DELIVERY_TLSRPT_DAY_LEN], type[DELIVERY_TLSRPT_TYPE_LEN];
        char domain[DELIVERY_TLSRPT_DOMAIN_LEN];
        assert_int_equal(
            delivery_tlsrpt_key(86400 * 3 + 5, cases[i].type, cases[i].domain, key, sizeof(key)),
            0);
        assert_int_equal(delivery_tlsrpt_key_parse(key, day, type, domain), 0);
        assert_string_equal(day, "1970-01-04");
        assert_string_equal(type, cases[i].type);
        assert_string_equal(domain, cases[i].domain);
    }
    char day[DELIVERY_TLSRPT_DAY_LEN], type[DELIVERY_TLSRPT_TYPE_LEN];
    char domain[DELIVERY_TLSRPT_DOMAIN_LEN];
    assert_int_equal(delivery_tlsrpt_key_parse("1970-01-04/sts", day, type, domain), -EINVAL);
    assert_int_equal(delivery_tlsrpt_key(0, "sts", "example.com", day, 8), -ENAMETOOLONG);
}

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *val;
        unsigned long ok, failed;
        size_t npolicy, nmx, nfail;
        const char *first_policy, *first_mx, *fail_type, *fail_mx, *fail_ip;
        unsigned long fail_count;
    } cases[] = {
        {"", 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"ok 3\nfail 0\n", 3, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
        {"ok 1\nfail 2\np version: STSv1\np mode: enforce\nm mx.example.com\n"
         "f 2 certificate-host-mismatch mx.example.com 192.0.2.1\n",
         1, 2, 2, 1, 1, "version: STSv1", "mx.example.com", "certificate-host-mismatch",
         "mx.example.com", "192.0.2.1", 2},
        {"ok 0\nfail 1\nf 1 sts-policy-fetch-error - -\n", 0, 1, 0, 0, 1, NULL, NULL,
         "sts-policy-fetch-error", "", "", 1},
        {"ok 0\nfail 1\nf 1 short\nx what\n", 0, 1, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *v = strdup(cases[i].val);
        struct delivery_tlsrpt_record rec;
        assert_non_null(v);
        delivery_tlsrpt_parse(v, &rec);
        assert_int_equal(rec.ok, cases[i].ok);
        assert_int_equal(rec.failed, cases[i].failed);
        assert_int_equal(rec.npolicy, cases[i].npolicy);
        assert_int_equal(rec.nmx, cases[i].nmx);
        assert_int_equal(rec.nfail, cases[i].nfail);
        if (cases[i].first_policy)
            assert_string_equal(rec.policy[0], cases[i].first_policy);
        if (cases[i].first_mx)
            assert_string_equal(rec.mx[0], cases[i].first_mx);
        if (cases[i].fail_type) {
            assert_string_equal(rec.fail[0].result_type, cases[i].fail_type);
            assert_string_equal(rec.fail[0].mx, cases[i].fail_mx);
            assert_string_equal(rec.fail[0].receiving_ip, cases[i].fail_ip);
            assert_string_equal(rec.fail[0].sending_ip, "");
            assert_int_equal(rec.fail[0].count, cases[i].fail_count);
        }
        free(v);
    }
    struct delivery_tlsrpt_record rec;
    delivery_tlsrpt_parse(NULL, &rec);
    assert_int_equal(rec.ok + rec.failed + rec.npolicy + rec.nmx + rec.nfail, 0);
}

/* test_note - results noted in a cache read back as one record per type and domain */
static void test_note(void **state)
{
    (void)state;
    char dir[256], path[300], cmd[400], key[400];
    struct tls_cache *tc = NULL;
    struct policy_mtasts sts = {.mode = POLICY_MTASTS_ENFORCE, .max_age = 86400, .nmx = 2};
    snprintf(sts.mx[0], sizeof(sts.mx[0]), "mx1.example.com");
    snprintf(sts.mx[1], sizeof(sts.mx[1]), "*.example.com");
    assert_int_equal(tmpdir_make(dir, sizeof(dir), "test_delivery_tlsrpt"), 0);
    snprintf(path, sizeof(path), "%s/cache.lmdb", dir);
    assert_int_equal(tls_cache_open(&tc, path, 0), 0);

    delivery_tlsrpt_note(tc, "sts", "example.com", &sts, NULL, "mx1.example.com", "192.0.2.1");
    delivery_tlsrpt_note(tc, "sts", "example.com", &sts, "validation-failure", "mx2.example.com",
                         "192.0.2.2");
    delivery_tlsrpt_note(tc, "sts", "example.com", &sts, "validation-failure", "mx2.example.com",
                         "192.0.2.2");
    delivery_tlsrpt_note(tc, "sts", "example.com", NULL, "sts-policy-fetch-error", "", NULL);
    delivery_tlsrpt_note(tc, "sts", "example.com", &sts, NULL, "mx1.example.com", "192.0.2.1");

    struct buf v = BUF_INIT;
    time_t now = time(NULL);
    assert_int_equal(delivery_tlsrpt_key(now, "sts", "example.com", key, sizeof(key)), 0);
    assert_int_equal(tls_cache_get(tc, TLS_CACHE_TLSRPT, key, strlen(key), &v, now, NULL), 0);
    assert_string_equal(buf_ptr(&v), "ok 2\nfail 3\n"
                                     "p version: STSv1\np mode: enforce\np mx: mx1.example.com\n"
                                     "p mx: *.example.com\np max_age: 86400\n"
                                     "m mx1.example.com\nm *.example.com\n"
                                     "f 2 validation-failure mx2.example.com 192.0.2.2\n"
                                     "f 1 sts-policy-fetch-error - -\n");
    struct delivery_tlsrpt_record rec;
    delivery_tlsrpt_parse(buf_ptr(&v), &rec);
    assert_int_equal(rec.ok, 2);
    assert_int_equal(rec.failed, 3);
    assert_int_equal(rec.npolicy, 5); /* version, mode, two mx, max_age */
    assert_string_equal(rec.policy[0], "version: STSv1");
    assert_string_equal(rec.policy[1], "mode: enforce");
    assert_string_equal(rec.policy[4], "max_age: 86400");
    assert_int_equal(rec.nmx, 2);
    assert_string_equal(rec.mx[1], "*.example.com");
    assert_int_equal(rec.nfail, 2);
    assert_int_equal(rec.fail[0].count, 2);
    assert_string_equal(rec.fail[0].result_type, "validation-failure");
    assert_string_equal(rec.fail[0].mx, "mx2.example.com");
    assert_string_equal(rec.fail[0].receiving_ip, "192.0.2.2");
    assert_int_equal(rec.fail[1].count, 1);
    assert_string_equal(rec.fail[1].result_type, "sts-policy-fetch-error");
    assert_string_equal(rec.fail[1].mx, "");
    assert_string_equal(rec.fail[1].receiving_ip, "");
    buf_free(&v);

    tls_cache_close(tc);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_note),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
