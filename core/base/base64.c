/*
 * base64 - RFC 4648 base64; see base/base64.h.
 */
#include "core/base/base64.h"

#include <errno.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64_encode - append the encoding of data to out */
int base64_encode(struct buf *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    char quad[4];
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        quad[0] = b64_alphabet[(v >> 18) & 63];
        quad[1] = b64_alphabet[(v >> 12) & 63];
        quad[2] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        quad[3] = i + 2 < len ? b64_alphabet[v & 63] : '=';
        if (buf_append(out, quad, 4) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* b64_value - the 6-bit value of c, or -1 */
static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* base64_decode - strict decoding of text[0..len) */
int base64_decode(const char *text, size_t len, unsigned char *out, size_t cap)
{
    if (len % 4)
        return -EINVAL;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int pad = 0;
        if (i + 4 == len && text[i + 3] == '=')
            pad = text[i + 2] == '=' ? 2 : 1;
        unsigned v = 0;
        for (int k = 0; k < 4; k++) {
            int d = k >= 4 - pad ? 0 : b64_value(text[i + k]);
            if (d < 0)
                return -EINVAL;
            v = v << 6 | (unsigned)d;
        }
        size_t bytes = 3 - (size_t)pad;
        if (n + bytes > cap)
            return -ENOSPC;
        out[n++] = (unsigned char)(v >> 16);
        if (bytes > 1)
            out[n++] = (unsigned char)(v >> 8);
        if (bytes > 2)
            out[n++] = (unsigned char)v;
    }
    return (int)n;
}
