/*
 * NAME
 *	fuzz_base64 - libFuzzer target: base/base64, as AUTH lines reach it
 * DESCRIPTION
 *	The input is decoded as a client's AUTH response line would be (the
 *	output room the smtpd session gives it, tlen / 4 * 3 + 1), and again
 *	into a room one decision smaller, which must fail with -ENOSPC, never
 *	write past it. Properties:
 *	  - a decoded length is at most 3/4 of the text and the text's length
 *	    is a multiple of 4;
 *	  - what decodes, encodes back to text of the same length that decodes
 *	    to the same octets (the encoder's output is canonical);
 *	  - any octets encode to text that decodes back to them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/base64.h"
#include "fuzz_input.h"

/* check_roundtrip - octets -> base64 -> the same octets */
static void check_roundtrip(const uint8_t *p, size_t n)
{
    struct buf b = BUF_INIT;
    FUZZ_CHECK(base64_encode(&b, p, n) == 0);
    FUZZ_CHECK(buf_used(&b) == (n + 2) / 3 * 4);
    unsigned char *back = malloc(n + 1);
    FUZZ_CHECK(back != NULL);
    int m = base64_decode(buf_ptr(&b), buf_used(&b), back, n + 1);
    FUZZ_CHECK(m >= 0 && (size_t)m == n && memcmp(back, p, n) == 0);
    free(back);
    buf_free(&b);
}

/* LLVMFuzzerTestOneInput - decode as an AUTH line, then the round trips */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = fuzz_input_init(data, size);
    size_t shrink = fuzz_input_pick(&in, 4);
    const char *text = (const char *)in.p;
    size_t tlen = in.n;

    /* as smtpd_auth_decode: exactly the room a well-formed line needs, plus one */
    size_t cap = tlen / 4 * 3 + 1;
    unsigned char *out = malloc(cap);
    FUZZ_CHECK(out != NULL);
    int n = base64_decode(text, tlen, out, cap);
    FUZZ_CHECK(n >= 0 || n == -EINVAL);
    if (n >= 0) {
        FUZZ_CHECK(tlen % 4 == 0 && (size_t)n <= tlen / 4 * 3);
        struct buf b = BUF_INIT;
        FUZZ_CHECK(base64_encode(&b, out, (size_t)n) == 0);
        FUZZ_CHECK(buf_used(&b) == tlen);
        unsigned char *again = malloc(cap);
        FUZZ_CHECK(again != NULL);
        int m = base64_decode(buf_ptr(&b), buf_used(&b), again, cap);
        FUZZ_CHECK(m == n && memcmp(again, out, (size_t)n) == 0);
        free(again);
        buf_free(&b);

        /* a room too small by 1..3 octets is refused, never overrun (ASan watches) */
        if (shrink > 0 && (size_t)n >= shrink) {
            size_t small = (size_t)n - shrink;
            unsigned char *tight = malloc(small ? small : 1);
            FUZZ_CHECK(tight != NULL);
            FUZZ_CHECK(base64_decode(text, tlen, tight, small) == -ENOSPC);
            free(tight);
        }
    }
    free(out);
    check_roundtrip(data, size);
    return 0;
}
