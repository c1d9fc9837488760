/*
 * NAME
 *	tls_wolf - the wolfSSL library's process and thread set-up for tls/
 * SYNOPSIS
 *	#include "tls/tls_wolf.h"
 *
 *	tls_wolf_thread_done();   // last thing a thread that did TLS does
 * DESCRIPTION
 *	wolfSSL_Init() runs once per process, on the first context or cipher
 *	list built (tls_wolf_init(), private to tls/). What a thread must do
 *	before it exits is public: Debian's wolfSSL keeps a fixed-point ECC
 *	cache per thread, which only that thread can free.
 *
 *	tls_wolf.c also holds the folder's error-message helper,
 *	tls_wolf_seterr() (tls_internal.h).
 */
#ifndef TERN_TLS_WOLF_H
#define TERN_TLS_WOLF_H

/* tls_wolf_thread_done - a thread that did TLS is about to exit: free wolfSSL's per-thread ECC
 * cache (Debian's build keeps one per thread; without this it stays allocated) */
void tls_wolf_thread_done(void);

#endif
