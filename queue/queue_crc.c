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
 *
 *	The instruction's result is needed by the next one (3 cycles), so one
 *	stream uses a third of what the CPU can do. Long inputs are cut in
 *	three streams of CRC_LONG (then CRC_SHORT) bytes, checksummed side by
 *	side, and joined: the register after a||b is Z(reg after a) ^ reg of
 *	b from 0, where Z, "run |b| zero bytes through", is linear and kept as
 *	four byte tables per stream length, built with the instruction itself
 *	at start. On 1 MB bodies the crc was 3.9% of ternd in bench/run mixed
 *	(perf); bench figures are in bench/RESULTS.md.
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
#define CRC_LONG 8192 /* bytes per stream in a three-stream step */
#define CRC_SHORT 256
static bool crc_hw_ok;                  /* the CPU has SSE4.2 */
static uint32_t zl[4][256], zs[4][256]; /* Z for CRC_LONG and CRC_SHORT zero bytes */
static void zeros_tables(uint32_t t[4][256], size_t len);
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
    if (crc_hw_ok) {
        zeros_tables(zl, CRC_LONG);
        zeros_tables(zs, CRC_SHORT);
    }
#endif
}

#if defined(__x86_64__)
/* zeros_hw - the register after len (a multiple of 8) zero bytes from c */
__attribute__((target("sse4.2"))) static uint32_t zeros_hw(uint32_t c, size_t len)
{
    uint64_t x = c;
    for (; len >= 8; len -= 8)
        x = _mm_crc32_u64(x, 0);
    return (uint32_t)x;
}

/* zeros_tables - t[k][b] = Z(b << 8k) for len zero bytes: Z is linear, so by its bits */
static void zeros_tables(uint32_t t[4][256], size_t len)
{
    uint32_t bit[32];
    for (int i = 0; i < 32; i++)
        bit[i] = zeros_hw(1u << i, len);
    for (int k = 0; k < 4; k++)
        for (unsigned b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int j = 0; j < 8; j++)
                if (b >> j & 1)
                    v ^= bit[8 * k + j];
            t[k][b] = v;
        }
}

/* zeros - Z(c) from its byte tables */
static inline uint32_t zeros(uint32_t t[4][256], uint32_t c)
{
    return t[0][c & 0xff] ^ t[1][c >> 8 & 0xff] ^ t[2][c >> 16 & 0xff] ^ t[3][c >> 24];
}

/* load64 - eight bytes at any alignment */
static inline uint64_t load64(const unsigned char *s)
{
    uint64_t v;
    memcpy(&v, s, sizeof(v));
    return v;
}

/* crc_streams - whole steps of three streams of n bytes from c; advances *s and *len */
__attribute__((target("sse4.2"))) static uint32_t
crc_streams(uint32_t c, const unsigned char **s, size_t *len, size_t n, uint32_t t[4][256])
{
    const unsigned char *p = *s;
    for (; *len >= 3 * n; *len -= 3 * n, p += 3 * n) {
        uint64_t c0 = c, c1 = 0, c2 = 0;
        for (size_t i = 0; i < n; i += 8) {
            c0 = _mm_crc32_u64(c0, load64(p + i));
            c1 = _mm_crc32_u64(c1, load64(p + n + i));
            c2 = _mm_crc32_u64(c2, load64(p + 2 * n + i));
        }
        c = zeros(t, zeros(t, (uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
    }
    *s = p;
    return c;
}

/* crc_hw - the SSE4.2 instruction over s[0..len), on the inverted crc */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *s,
                                                         size_t len)
{
    crc = crc_streams(crc, &s, &len, CRC_LONG, zl);
    crc = crc_streams(crc, &s, &len, CRC_SHORT, zs);
    uint64_t c = crc;
    for (; len >= 8; s += 8, len -= 8)
        c = _mm_crc32_u64(c, load64(s));
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
