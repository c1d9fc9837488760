/*
 * NAME
 *	queue_crc - CRC-32C (Castagnoli) of queue records
 * SYNOPSIS
 *	uint32_t c = queue_crc32c(0, data, len);
 *	c = queue_crc32c(c, more, morelen);     // continue over more bytes
 * DESCRIPTION
 *	Every envelope record ends with the CRC-32C of what precedes it, and
 *	carries the CRC-32C of the message content: a flipped bit in the file
 *	is found on read instead of delivered (queue_store.c). Table driven,
 *	one table built on first use (thread-safe with pthread_once); the cost
 *	is about one table lookup per byte, small beside the fdatasync that
 *	every record waits for anyway.
 */
#include <pthread.h>

#include "queue/queue_impl.h"

static uint32_t crc_table[256];
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
}

/* queue_crc32c - CRC-32C of p[0..len), continuing from crc (0 to start) */
uint32_t queue_crc32c(uint32_t crc, const void *p, size_t len)
{
    const unsigned char *s = p;
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (len--)
        crc = crc_table[(crc ^ *s++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
