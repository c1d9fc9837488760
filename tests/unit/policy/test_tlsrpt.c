/*
 * test_tlsrpt - the _smtp._tls TXT record (RFC 8460 3) and the JSON report (4.4)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy_tlsrpt.h"

static void test_txt(void **state)
{
    (void)state;
    char rua[POLICY_TLSRPT_RUA_MAX][POLICY_TLSRPT_URI_LEN], err[200];
    size_t n;
    static const char ok[] = "v=TLSRPTv1; rua=mailto:r@example.com, https://x.example/r,ftp://no";
    assert_int_equal(policy_tlsrpt_txt(ok, strlen(ok), rua, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rua[0], "mailto:r@example.com");
    assert_string_equal(rua[1], "https://x.example/r");
    static const char *const bad[] = {
        "v=TLSRPTv2; rua=mailto:r@x",                 /* version */
        "rua=mailto:r@x; v=TLSRPTv1",                 /* v= not first */
        "v=TLSRPTv1",                                 /* no rua */
        "v=TLSRPTv1; rua=ftp://x",                    /* no usable rua */
        "v=TLSRPTv1; rua=mailto:a@x; rua=mailto:b@x", /* two */
        "v=TLSRPTv1; junk",                           /* not key=value */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (policy_tlsrpt_txt(bad[i], strlen(bad[i]), rua, &n, err, sizeof(err)) != -EINVAL)
            fail_msg("accepted: %s", bad[i]);
}

static void test_json(void **state)
{
    (void)state;
    static const char *const strings[] = {"version: STSv1", "mode: enforce"};
    static const char *const mx[] = {"mx.example.com"};
    struct policy_tlsrpt_failure f = {"certificate-host-mismatch", "192.0.2.1", "mx.example.com",
                                      "198.51.100.7", 3};
    struct policy_tlsrpt_policy p = {"sts", "example.com", strings, 2, mx, 1, 5, 3, &f, 1};
    struct policy_tlsrpt_report r = {
        "tern \"test\"", "mailto:postmaster@tern.test", "id-1", 1700000000, 1700086399, &p, 1};
    struct buf b = BUF_INIT;
    assert_int_equal(policy_tlsrpt_json(&b, &r), 0);
    assert_int_equal(buf_append(&b, "", 1), 0);
    const char *j = buf_ptr(&b);
    static const char *const want[] = {
        "\"organization-name\": \"tern \\\"test\\\"\"",
        "\"date-range\": {\"start-datetime\": \"2023-11-14T22:13:20Z\", \"end-datetime\": "
        "\"2023-11-15T22:13:19Z\"}",
        "\"policy-type\": \"sts\", \"policy-string\": [\"version: STSv1\", \"mode: enforce\"], "
        "\"policy-domain\": \"example.com\", \"mx-host\": [\"mx.example.com\"]",
        "\"summary\": {\"total-successful-session-count\": 5, \"total-failure-session-count\": 3}",
        "\"failure-details\": [{\"result-type\": \"certificate-host-mismatch\", "
        "\"sending-mta-ip\": "
        "\"192.0.2.1\", \"receiving-mx-hostname\": \"mx.example.com\", \"receiving-ip\": "
        "\"198.51.100.7\", \"failed-session-count\": 3}]",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(j, want[i]))
            fail_msg("missing %s in %s", want[i], j);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txt),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
