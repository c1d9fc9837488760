/*
 * buf - growable byte buffer; see base/buf.h.
 */
#include "core/base/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* buf_reserve - make room for `extra` more bytes plus the terminating NUL */
int buf_reserve(struct buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    /* Compact first when more than half the buffer is consumed. */
    if (b->off > 0 && b->off >= b->cap / 2 && buf_used(b) + extra + 1 <= b->cap) {
        memmove(b->data, b->data + b->off, buf_used(b));
        b->len -= b->off;
        b->off = 0;
        b->data[b->len] = 0;
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* buf_append - append raw bytes */
int buf_append(struct buf *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

/* buf_puts - append a C string */
int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* buf_vprintf - append formatted text */
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof(tmp))
        return buf_append(b, tmp, (size_t)n);
    int rc = buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

/* buf_printf - append formatted text */
int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* buf_consume - drop n bytes from the front */
void buf_consume(struct buf *b, size_t n)
{
    if (n >= buf_used(b)) {
        buf_reset(b);
        return;
    }
    b->off += n;
}

/* buf_reset - empty the buffer, keep the memory */
void buf_reset(struct buf *b)
{
    b->off = b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

/* buf_free - release the memory */
void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

/* buf_steal - give the live bytes to the caller as a malloc'd string */
char *buf_steal(struct buf *b, size_t *len)
{
    if (!b->data && buf_append(b, "", 0) < 0)
        return NULL;
    if (b->off) {
        memmove(b->data, b->data + b->off, buf_used(b));
        b->len -= b->off;
        b->off = 0;
        b->data[b->len] = 0;
    }
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->off = b->len = b->cap = 0;
    return p;
}
