/*
 * test_dns_rr - the pure parts of dns_rr: TXT RDATA to text, TLSA query names
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/loop/dns_rr.h"

static void test_txt(void **state)
{
    (void)state;
    char out[64];
    /* two character-strings are joined without a separator (RFC 8461 3.1 allows a split record) */
    static const unsigned char two[] = "\x07v=STSv1\x09; id=2024";
    assert_int_equal(dns_rr_txt(two, sizeof(two) - 1, out, sizeof(out)), 16);
    assert_string_equal(out, "v=STSv1; id=2024");
    static const unsigned char empty[] = "\x00";
    assert_int_equal(dns_rr_txt(empty, 1, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* a length octet beyond the RDATA */
    static const unsigned char cut[] = "\x09v=STSv1";
    assert_int_equal(dns_rr_txt(cut, sizeof(cut) - 1, out, sizeof(out)), -EINVAL);
    /* longer than the output: refused, not cut */
    assert_int_equal(dns_rr_txt(two, sizeof(two) - 1, out, 16), -EINVAL);
    assert_int_equal(dns_rr_txt(two, sizeof(two) - 1, out, 17), 16);
}

static void test_tlsa_name(void **state)
{
    (void)state;
    char out[DNS_RR_NAME_MAX];
    assert_int_equal(dns_rr_tlsa_name("mx.example.com.", 25, out, sizeof(out)), 0);
    assert_string_equal(out, "_25._tcp.mx.example.com");
    assert_int_equal(dns_rr_tlsa_name("", 25, out, sizeof(out)), -EINVAL);
    assert_int_equal(dns_rr_tlsa_name("mx.example.com", 0, out, sizeof(out)), -EINVAL);
    assert_int_equal(dns_rr_tlsa_name("mx.example.com", 25, out, 10), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txt),
        cmocka_unit_test(test_tlsa_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
