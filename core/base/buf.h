/*
 * NAME
 *	buf - growable byte buffer
 * SYNOPSIS
 *	struct buf b = BUF_INIT;
 *	buf_append(&b, data, len); buf_printf(&b, "%s\r\n", text);
 *	buf_consume(&b, n); buf_free(&b);
 * DESCRIPTION
 *	The one buffer type of tern: protocol output, input reassembly, message
 *	content. `data[off..len)` is the live part; buf_consume() advances `off`
 *	and compacts lazily, so consuming from the front is O(1) amortised.
 *	The buffer owns `data`. Contents are kept NUL-terminated (data[len] == 0)
 *	so that text can be handed to string functions, but may hold NULs too.
 * DIAGNOSTICS
 *	Functions that grow return 0 or -ENOMEM; on failure the buffer is intact.
 */
#ifndef TERN_BASE_BUF_H
#define TERN_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t off; /* first live byte */
    size_t len; /* one past the last live byte */
    size_t cap;
};

#define BUF_INIT {0}

/* buf_ptr - first live byte */
static inline char *buf_ptr(const struct buf *b)
{
    return b->data ? b->data + b->off : (char *)"";
}
/* buf_used - number of live bytes */
static inline size_t buf_used(const struct buf *b)
{
    return b->len - b->off;
}

int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* buf_steal - hand data (NUL-terminated, live part moved to the front) to the caller */
char *buf_steal(struct buf *b, size_t *len);

#endif
