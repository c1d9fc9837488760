/*
 * test_crc - queue_crc32c: the CRC-32C check value, continuation, and the hardware path
 * (SSE4.2 when the CPU has it) against the byte table for every length and alignment
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "queue/queue_impl.h"

/* the catalogue's check value of CRC-32C, and the empty input */
static void test_check_value(void **state)
{
    (void)state;
    assert_int_equal(queue_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(queue_crc32c(0, "", 0), 0);
    /* continuing over the rest equals one pass */
    uint32_t c = queue_crc32c(0, "1234", 4);
    assert_int_equal(queue_crc32c(c, "56789", 5), 0xE3069283u);
}

/* whatever path queue_crc32c takes, it equals the byte table: lengths 0..600, offsets 0..7 */
static void test_same_as_table(void **state)
{
    (void)state;
    static unsigned char buf[608];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; off + len <= 600; len++) {
            uint32_t want = queue_crc32c_table(0, buf + off, len);
            if (queue_crc32c(0, buf + off, len) != want)
                fail_msg("offset %zu length %zu", off, len);
            /* split anywhere: the continuation agrees too */
            size_t cut = len / 3;
            uint32_t c = queue_crc32c(0, buf + off, cut);
            assert_int_equal(queue_crc32c(c, buf + off + cut, len - cut), want);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_same_as_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
