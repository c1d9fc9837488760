/*
 * NAME
 *	queue_crc - CRC-32C (Castagnoli) of queue records
 * SYNOPSIS
 *	uint32_t c = queue_crc32c(0, data, len);
 *	c = queue_crc32c(c, more, morelen);     // continue over more bytes
 * DESCRIPTION
 *	Every envelope record ends with the CRC-32C of what precedes it, and
 *	carries the CRC-32C of the message content: a flipped bit in the file
 *	is found on read instead of delivered (queue_store.c).
 *
 *	Two paths, chosen once on first use (pthread_once): the SSE4.2 crc32
 *	instruction, eight bytes at a time, when the CPU has it (x86-64), else
 *	a byte table built then. Measured on 64 MiB: the table 410 MB/s, the
 *	instruction 8.8 GB/s; with the table, the checksums were half of
 *	ternd's own CPU time in `bench/run small` (perf, stop 20).
 *	queue_crc32c_table() is the table path alone, for the tests.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "queue/queue_impl.h"

static uint32_t crc_table[256];
#if defined(__x86_64__)
static bool crc_hw_ok; /* the CPU has SSE4.2 */
#endif
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* crc_init - the byte table of the reflected polynomial 0x82F63B78 */
static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw_ok = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
/* crc_hw - the SSE4.2 instruction over s[0..len), on the inverted crc */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *s,
                                                         size_t len)
{
    uint64_t c = crc;
    for (; len >= 8; s += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, s, sizeof(v));
        c = _mm_crc32_u64(c, v);
    }
    crc = (uint32_t)c;
    while (len--)
        crc = _mm_crc32_u8(crc, *s++);
    return crc;
}
#endif

/* queue_crc32c_table - the byte-table path alone */
uint32_t queue_crc32c_table(uint32_t crc, const void *p, size_t len)
{
    const unsigned char *s = p;
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *s++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* queue_crc32c - CRC-32C of p[0..len), continuing from crc (0 to start) */
uint32_t queue_crc32c(uint32_t crc, const void *p, size_t len)
{
    pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
    if (crc_hw_ok)
        return ~crc_hw(~crc, p, len);
#endif
    return queue_crc32c_table(crc, p, len);
}
