/*
 * printable - make peer-supplied text safe for a log line or a header; see
 * base/printable.h.
 *
 * One scanner, printable_next(), classifies the character at a position:
 * its length in octets and whether it may stay. printable_fix() and
 * printable_copy() only differ in where they write.
 */
#include "core/base/printable.h"

#include <stdint.h>
#include <string.h>

/* printable_cp_ok - may this code point (>= 0x80) appear in a log line or header? */
static bool printable_cp_ok(uint32_t cp)
{
    if (cp <= 0x9f) /* C1 controls */
        return false;
    if (cp == 0x061c || cp == 0x180e || cp == 0xfeff) /* ALM, MVS, BOM */
        return false;
    if (cp >= 0x200b && cp <= 0x200f) /* zero width, LRM, RLM */
        return false;
    if (cp >= 0x2028 && cp <= 0x202e) /* line/paragraph separators, bidi embeddings/overrides */
        return false;
    if (cp >= 0x2060 && cp <= 0x206f) /* word joiner, invisible operators, bidi isolates */
        return false;
    if (cp >= 0xfff9 && cp <= 0xfffb) /* interlinear annotation */
        return false;
    if ((cp & 0xfffe) == 0xfffe || (cp >= 0xfdd0 && cp <= 0xfdef)) /* noncharacters */
        return false;
    if (cp >= 0xe0000 && cp <= 0xe007f) /* tag characters */
        return false;
    return true;
}

/* printable_utf8 - decode one well-formed UTF-8 sequence at p; its length, 0 if ill-formed */
static size_t printable_utf8(const unsigned char *p, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        v = v << 6 | (p[k] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* printable_next - length of the character at p (>= 1) and whether it may stay */
static size_t printable_next(const unsigned char *p, unsigned flags, bool *ok)
{
    unsigned char c = *p;
    if (c < 0x80) {
        *ok = c >= 0x20 && c < 0x7f;
        if (*ok && (flags & PRINTABLE_TOKEN))
            *ok = !strchr(" ()<>;\"\\", c);
        if (*ok && (flags & PRINTABLE_QUOTED))
            *ok = c != '"' && c != '\\';
        return 1;
    }
    uint32_t cp = 0;
    size_t n = (flags & PRINTABLE_UTF8) ? printable_utf8(p, &cp) : 0;
    if (n == 0) {
        *ok = false;
        return 1; /* one '?' per octet of anything ill-formed */
    }
    *ok = printable_cp_ok(cp);
    return n;
}

/* printable_fix - replace unsafe characters in place */
size_t printable_fix(char *s, unsigned flags)
{
    unsigned char *r = (unsigned char *)s, *w = r;
    while (*r) {
        bool ok;
        size_t n = printable_next(r, flags, &ok);
        if (ok) {
            memmove(w, r, n);
            w += n;
        } else {
            *w++ = '?';
        }
        r += n;
    }
    *w = 0;
    return (size_t)(w - (unsigned char *)s);
}

/* printable_copy - bounded safe copy */
size_t printable_copy(char *dst, size_t len, const char *src, unsigned flags)
{
    if (len == 0)
        return 0;
    const unsigned char *r = (const unsigned char *)(src ? src : "");
    size_t w = 0;
    while (*r) {
        bool ok;
        size_t n = printable_next(r, flags, &ok);
        size_t out = ok ? n : 1;
        if (w + out >= len)
            break;
        if (ok)
            memcpy(dst + w, r, n);
        else
            dst[w] = '?';
        w += out;
        r += n;
    }
    dst[w] = 0;
    return w;
}

/* printable_ok - true when s needs no change */
bool printable_ok(const char *s, unsigned flags)
{
    const unsigned char *r = (const unsigned char *)(s ? s : "");
    while (*r) {
        bool ok;
        r += printable_next(r, flags, &ok);
        if (!ok)
            return false;
    }
    return true;
}
