/*
 * NAME
 *	tls_wolf - the wolfSSL library's process and thread set-up, error messages
 * DESCRIPTION
 *	See tls_wolf.h. tls_wolf_init() is safe from any thread at any time
 *	(pthread_once); tls_wolf_thread_done() frees only the calling thread's
 *	cache. tls_wolf_seterr() formats into a caller's buffer, truncating,
 *	and does nothing without one.
 * DIAGNOSTICS
 *	None: nothing here fails in a way the caller could act on.
 */
#include "tls/tls_wolf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "tls/tls_internal.h"

static pthread_once_t wolf_once = PTHREAD_ONCE_INIT;

/* wolf_init_once - the pthread_once body */
static void wolf_init_once(void)
{
    wolfSSL_Init();
}

/* tls_wolf_init - wolfSSL_Init once per process */
void tls_wolf_init(void)
{
    pthread_once(&wolf_once, wolf_init_once);
}

/* tls_wolf_seterr - format an error message into err (may be NULL) */
void tls_wolf_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* tls_wolf_thread_done - release wolfSSL's per-thread fixed-point ECC cache */
void tls_wolf_thread_done(void)
{
#if defined(FP_ECC) || defined(HAVE_ECC)
    wc_ecc_fp_free();
#endif
}
