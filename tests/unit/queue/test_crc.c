/*
 * test_crc - queue_crc32c: the CRC-32C check value, continuation, and the hardware path
 * (SSE4.2 when the CPU has it) against the byte table for every length and alignment, and
 * for long inputs around the three-stream step sizes (3 x 256 and 3 x 8192 bytes)
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

/* long inputs: every length near a multiple of the stream steps, and random ones to 200 KB */
static void test_long_same_as_table(void **state)
{
    (void)state;
    enum { MAX = 200000 };
    static unsigned char buf[MAX + 8];
    uint32_t x = 777;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    static const size_t steps[] = {768, 24576};
    for (size_t k = 0; k < 2; k++)
        for (size_t m = 1; m <= 4; m++)
            for (size_t len = m * steps[k] - 9; len <= m * steps[k] + 9; len++)
                if (queue_crc32c(0, buf + m, len) != queue_crc32c_table(0, buf + m, len))
                    fail_msg("offset %zu length %zu", m, len);
    for (int i = 0; i < 200; i++) {
        x = x * 1103515245u + 12345u;
        size_t len = (x >> 8) % MAX, off = x % 8;
        uint32_t c = queue_crc32c(0xdeadbeef, buf + off, len);
        if (c != queue_crc32c_table(0xdeadbeef, buf + off, len))
            fail_msg("offset %zu length %zu", off, len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_same_as_table),
        cmocka_unit_test(test_long_same_as_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
