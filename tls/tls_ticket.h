/*
 * NAME
 *	tls_ticket - session ticket keys that rotate in the cache and survive restarts
 * SYNOPSIS
 *	#include "tls/tls_ticket.h"
 *
 *	struct tls_ticket_key k;
 *	tls_ticket_current(cache, timeout, time(NULL), &k);     // the key to encrypt with
 *	tls_ticket_find(cache, name, time(NULL), &k);           // a key to decrypt with
 * DESCRIPTION
 *	Postfix's tlsmgr job for tickets, kept in the LMDB cache so that every
 *	thread, a restarted daemon and other nodes sharing the file all accept
 *	the same tickets (TLS 1.3 resumption and TLS 1.2 tickets).
 *
 *	A key lives for 2 * timeout. It encrypts new tickets during the first
 *	half of its life and only decrypts during the second half, so a ticket
 *	(lifetime hint: timeout) can always be decrypted until it expires. When
 *	no key has at least timeout left, tls_ticket_current() makes a new one
 *	(name 16 random bytes, AES-256 key, HMAC-SHA256 key); two threads racing
 *	here at worst both make one, which is harmless.
 *
 *	Ahead of time: a cluster sharing the keys (core/redis) makes the next key
 *	before it is needed, tls_ticket_next_due() saying when and
 *	tls_ticket_make() with a start in the future: a key encrypts only from its
 *	start (expires - 2 * timeout) on, so every node has it before any uses
 *	it, and all switch at that second. Among started keys the one with the
 *	latest expiry encrypts, the first in key order among equals.
 *
 *	Tickets are sealed with AES-256-CTR and authenticated with HMAC-SHA256
 *	over key name, IV and ciphertext (tls_ticket_cb in tls_internal.h, the
 *	callback wolfSSL calls; installed by tls_ctx_use_cache()). A ticket made
 *	with a key that is now decrypt-only is accepted and replaced by a fresh
 *	one.
 * DIAGNOSTICS
 *	0, -ENOENT (no such or expired key), -errno from tls_cache.
 */
#ifndef TERN_TLS_TICKET_H
#define TERN_TLS_TICKET_H

#include <stdbool.h>
#include <time.h>

struct tls_cache;

#define TLS_TICKET_NAME_LEN 16
#define TLS_TICKET_AES_LEN 32
#define TLS_TICKET_HMAC_LEN 32

struct tls_ticket_key {
    unsigned char name[TLS_TICKET_NAME_LEN];
    unsigned char aes[TLS_TICKET_AES_LEN];
    unsigned char hmac[TLS_TICKET_HMAC_LEN];
    time_t expires;
};

/* tls_ticket_current - the key to encrypt with at now, made when needed */
int tls_ticket_current(struct tls_cache *tc, unsigned timeout, time_t now,
                       struct tls_ticket_key *out);
/* tls_ticket_next_due - true when the key to follow the current one is due (the current one
 * stops encrypting within lead, and no later key exists); *start is when it must start. With
 * no key at all, the first is due, from the start of this timeout-long period (so that nodes
 * asking within one period agree on it) */
bool tls_ticket_next_due(struct tls_cache *tc, unsigned timeout, time_t now, time_t lead,
                         time_t *start);
/* tls_ticket_make - make and store a key that encrypts from start on (expires start + 2 *
 * timeout); until start, tls_ticket_current() does not choose it */
int tls_ticket_make(struct tls_cache *tc, unsigned timeout, time_t start,
                    struct tls_ticket_key *out);
/* tls_ticket_find - the key called name, if not expired at now */
int tls_ticket_find(struct tls_cache *tc, const unsigned char name[TLS_TICKET_NAME_LEN], time_t now,
                    struct tls_ticket_key *out);

#endif
