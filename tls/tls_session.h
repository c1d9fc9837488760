/*
 * NAME
 *	tls_session - one TLS session over memory buffers (the ring does the I/O)
 * SYNOPSIS
 *	#include "tls/tls_session.h"
 *
 *	struct tls_session *s;
 *	tls_session_new(&s, ctx, false, "mx.example.com");   // client with SNI
 *	tls_session_resume(s, saved, saved_len);             // optional: cached session
 *
 *	// on recv:             tls_session_feed(s, bytes, n);   (n == 0: peer closed)
 *	// until it returns 0:  rc = tls_session_handshake(s);   (-EAGAIN: need more input)
 *	// after any call:      tls_session_take_output(s, conn_out(c)); conn_flush(c);
 *	// then:                tls_session_read(s, &plain);  tls_session_write(s, text, len);
 *	tls_session_shutdown(s);  tls_session_take_output(s, out);   // close_notify
 *	tls_session_free(s);
 * DESCRIPTION
 *	wolfSSL reads ciphertext from an internal input buffer that feed()
 *	fills, and writes ciphertext to an internal output buffer that
 *	take_output() drains (wolfSSL_SSLSetIORecv/Send). No socket is touched;
 *	a session is used by one thread at a time.
 *
 *	tls_session_handshake() runs the handshake as far as the input allows.
 *	A server with an RSA and an ECDSA certificate creates its wolfSSL
 *	object only when the ClientHello is in, to pick the certificate.
 *
 *	Memory: the ciphertext buffers are freed whenever they are empty
 *	(take_output hands its buffer to an empty caller buffer instead of
 *	copying), and after the handshake the session gives back what wolfSSL
 *	no longer needs (a server: the handshake arrays; both: the all-zero
 *	pages of wolfSSL's 37.5 KiB session copy, MADV_DONTNEED). An idle server
 *	session is about 23 KiB resident, 21 of them wolfSSL's own objects.
 *
 *	tls_session_read() appends all plaintext that can be decrypted now. A
 *	TLS 1.3 client must keep reading after the handshake: the server's
 *	NewSessionTicket arrives then, and tls_session_save() only has a
 *	resumable session afterwards (tls_session_has_ticket()).
 *
 *	Verification: the peer chain is checked against the context's CAs; the
 *	outcome is in the info (peer_trusted, verify_error), the handshake goes
 *	on regardless (except a server with req_ccert). Names are checked by the
 *	caller with tls_session_peer_match(), per its security level.
 *
 *	Saved sessions (tls_session_save/resume) carry the verification outcome
 *	of the handshake that made them, so that a resumed session reports the
 *	same trust as the full one (a resumption shows no certificate).
 *
 *	A server resumes with the client certificate of the handshake that made
 *	the session, whatever the kind of resumption: a session ID or TLS 1.3
 *	ticket brings it back from the server cache (wolfSSL keeps the chain in
 *	the session), a TLS 1.2 ticket from the identity tls_ticket.c keeps for
 *	it. Its trust is that outcome re-checked against the context's CAs. A
 *	resumption whose identity is missing is anonymous.
 * DIAGNOSTICS
 *	handshake: 0 done, -EAGAIN need input, -EPROTO failure (text from
 *	tls_session_error(), e.g. the alert or the verification error),
 *	-ECONNRESET peer closed during the handshake, -ENOMEM.
 *	read: >0 bytes appended, -EAGAIN nothing yet, 0 the peer sent
 *	close_notify (or closed the stream), -EPROTO failure.
 *	write, feed, shutdown: 0 or -errno.
 */
#ifndef TERN_TLS_SESSION_H
#define TERN_TLS_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/buf.h"
#include "tls/tls_fprint.h"

struct tls_ctx;
struct tls_session;

/* what a Received header and the logs need, valid after the handshake */
struct tls_info {
    const char *protocol;   /* "TLSv1.3" (static string) */
    const char *cipher;     /* "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384" */
    int cipher_bits;        /* effective bits: 256 */
    int cipher_alg_bits;    /* algorithm bits: 256 */
    bool reused;            /* resumed session */
    bool peer_cert;         /* the peer presented a certificate (this handshake or the saved one) */
    bool peer_trusted;      /* its chain verified against our CAs */
    char peer_CN[256];      /* subject CommonName, "" if none */
    char issuer_CN[256];    /* issuer CommonName, "" if none */
    char verify_error[128]; /* why not trusted, "" if trusted or no certificate */
    /* TLS 1.3 handshake details as Postfix 3.x logs them ("" when unknown or TLS 1.2) */
    char kex[48];           /* "X25519", "ECDHE (prime256v1)", "DHE (2048 bits)" */
    char server_sig[48];    /* "RSA-PSS (2048 bits)", "ECDSA (prime256v1)" */
    char server_digest[16]; /* "SHA256", "" when resumed or unknown */
    char client_sig[48];    /* the client's certificate key, "" when it sent none */
    char client_digest[16]; /* "" when unknown */
};

int tls_session_new(struct tls_session **out, struct tls_ctx *ctx, bool is_server, const char *sni);
void tls_session_free(struct tls_session *s); /* NULL is fine */
/* tls_session_feed - ciphertext from the peer; n == 0 means the peer closed the stream */
int tls_session_feed(struct tls_session *s, const void *cipher, size_t n);
int tls_session_handshake(struct tls_session *s);
int tls_session_read(struct tls_session *s, struct buf *plain);
int tls_session_write(struct tls_session *s, const void *plain, size_t n);
/* tls_session_take_output - move pending ciphertext to cipher (the buffer itself when cipher is
 * empty); returns the byte count */
int tls_session_take_output(struct tls_session *s, struct buf *cipher);
/* tls_session_pending_output - ciphertext waiting to be taken */
size_t tls_session_pending_output(const struct tls_session *s);
/* tls_session_shutdown - queue close_notify */
int tls_session_shutdown(struct tls_session *s);
/* tls_session_error - text of the last failure, "" if none */
const char *tls_session_error(const struct tls_session *s);
/* tls_session_info - NULL before the handshake completed; valid until free */
const struct tls_info *tls_session_info(const struct tls_session *s);
/* tls_session_summary - the "TLS connection established" text after the peer, as Postfix 3.x:
 * "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519
 * server-signature RSA-PSS (2048 bits) server-digest SHA256"; length or -ENOSPC/-ENOTCONN */
int tls_session_summary(const struct tls_session *s, char *out, size_t len);
/* tls_session_received_text - "(using TLSv1.3 with cipher X (256/256 bits))" into out */
int tls_session_received_text(const struct tls_session *s, char *out, size_t len);

/* tls_session_fingerprint - peer certificate (or its public key) digest, "AB:CD:..." */
int tls_session_fingerprint(const struct tls_session *s, enum tls_digest d, bool pubkey, char *out,
                            size_t len);
/* tls_session_peer_match - does the peer certificate match any reference name? 1, 0, or -errno */
int tls_session_peer_match(const struct tls_session *s, const char *const *refs, size_t nrefs);
struct tls_tlsa;
struct tls_dane_result;
/* tls_session_dane - the peer's chain against TLSA records (tls_dane_check): this handshake's
 * chain, or on a resumed session only the leaf it was saved with; 0 (see r) or -ENOMEM */
int tls_session_dane(const struct tls_session *s, const struct tls_tlsa *rrs, size_t nrr,
                     const char *const *refs, size_t nrefs, struct tls_dane_result *r);
/* tls_session_forget_peer - after the handshake, once the caller has what it keeps of the peer
 * certificate (fingerprints, names): free tls_session's copies of it. The info stays valid;
 * fingerprint and peer_match say -ENOENT from then on, and a client can no longer save the
 * session (tls_session_save: -ENOENT). */
void tls_session_forget_peer(struct tls_session *s);

/* tls_session_restrict - narrow this session's protocols (Postfix syntax), cipher grade and
 * excluded ciphers below its context's (per-site protocols=, ciphers=, exclude=); NULL/"" leaves
 * that one as it is; before the handshake. 0, or -EINVAL with err */
int tls_session_restrict(struct tls_session *s, const char *protocols, const char *grade,
                         const char *exclude, char *err, size_t errlen);
/* tls_session_resume - client: offer a session saved by tls_session_save(); before the handshake */
int tls_session_resume(struct tls_session *s, const void *saved, size_t len);
/* tls_session_has_ticket - client: a resumable session is there to save. After a resumed TLS 1.3
 * handshake it is true at once (the old ticket): save only after reading, once the server's new
 * ticket can have arrived, or the next resumption fails ("binder does not verify"). */
bool tls_session_has_ticket(const struct tls_session *s);
/* tls_session_save - client: append the resumable session to out; -ENOENT if none */
int tls_session_save(struct tls_session *s, struct buf *out);

#endif
