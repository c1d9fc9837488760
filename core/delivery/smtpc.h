/*
 * NAME
 *	smtpc - the SMTP client protocol of one connection, without I/O
 * SYNOPSIS
 *	struct smtpc_session *c;
 *	smtpc_new(&c, &params);
 *	ev = smtpc_input(c, bytes, n, &out);   // feed server replies
 *	if (ev == SMTPC_READY) smtpc_send(c, delivery, body, len, &out);
 *	ev == SMTPC_TXN_DONE: delivery->rcpt[i] results are filled in
 *	smtpc_quit(c, &out);
 * DESCRIPTION
 *	Speaks to one server for possibly many transactions (connection reuse):
 *	greeting, EHLO (HELO if EHLO is refused with 5xx), then transactions.
 *	With PIPELINING offered (and params.pipelining), MAIL, all RCPTs and
 *	DATA go in one write; otherwise one command at a time. After the 354 the
 *	content is sent dot-stuffed with CRLF line ends whatever the input
 *	(bare LF becomes CRLF), then ".". SIZE=, BODY=8BITMIME, SMTPUTF8 and
 *	the DSN parameters are sent when the server offers the extension.
 *	Between transactions nothing is sent when the last one succeeded;
 *	after a failed one, RSET.
 *
 *	Results per recipient: 2xx on RCPT and on the final dot -> RCPT_SENT;
 *	4xx -> RCPT_DEFERRED; 5xx -> RCPT_BOUNCED; MAIL or DATA failures apply
 *	to every recipient of the transaction. reason is "host[addr] said: 550
 *	5.1.1 ... (in reply to RCPT TO command)" as Postfix writes it, or the
 *	server's "250 ..." text for delivered ones.
 *
 *	A greeting or EHLO 4xx/5xx, or a protocol error, gives SMTPC_FAILED
 *	with smtpc_error() text; the connection is then useless.
 *
 *	STARTTLS (RFC 3207): with params.starttls and STARTTLS in the EHLO
 *	reply, STARTTLS is sent right after it; its 220 gives SMTPC_STARTTLS
 *	(any bytes the server sent after the 220 are discarded: they were not
 *	protected). The caller starts TLS and calls smtpc_tls_started(), which
 *	forgets the extensions and sends EHLO again; its reply gives READY.
 *	When TLS was wanted but cannot be had on this connection (STARTTLS
 *	refused with 4xx/5xx, or, with params.require_tls, not offered) the
 *	event is SMTPC_NO_TLS: smtpc_error() says why ("TLS is required, but
 *	was not offered by host X[addr]") and the session is READY in
 *	plaintext. Without require_tls the caller may go on; with it,
 *	smtpc_send() refuses (-EPERM) until TLS is up, so no MAIL is ever
 *	sent in plaintext: the caller says QUIT.
 *
 *	AUTH (RFC 4954): with params.auth and AUTH in the EHLO reply (the one
 *	inside TLS when TLS is used), the session authenticates before it is
 *	READY: auth->start() picks a mechanism from the server's list and
 *	gives the initial response, auth->step() answers each 334 challenge
 *	(this module does the base64). 235 gives READY (or NO_TLS, when
 *	STARTTLS had been refused and the caller may go on in plaintext).
 *	No usable mechanism (e.g. noplaintext without TLS) gives SMTPC_FAILED
 *	before any AUTH is sent: "SASL authentication failed; cannot
 *	authenticate to server host[addr]: no mechanism available"; a refusal
 *	gives SMTPC_FAILED with "SASL authentication failed; server host[addr]
 *	said: 535 ...". smtpc_auth_failed() tells these apart from other
 *	failures (Postfix defers them with 4.7.0). A server that does not
 *	offer AUTH gets none, as with Postfix.
 */
#ifndef TERN_DELIVERY_SMTPC_H
#define TERN_DELIVERY_SMTPC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/buf.h"
#include "queue/queue.h"

struct smtpc_session;

enum smtpc_event {
    SMTPC_NEED_MORE = 0, /* nothing to do until more input */
    SMTPC_READY,         /* handshake done or transaction finished: can send a transaction */
    SMTPC_TXN_DONE,      /* the transaction's results are filled in; next state is READY */
    SMTPC_FAILED,   /* unusable: see smtpc_error(); results of an open transaction are DEFERRED */
    SMTPC_CLOSED,   /* QUIT answered */
    SMTPC_STARTTLS, /* 220 to STARTTLS received: start TLS, then smtpc_tls_started() */
    SMTPC_NO_TLS,   /* TLS wanted, not to be had (see smtpc_error()); READY in plaintext */
};

/* SASL for the client; borrowed for the session's life. Strings handed back stay valid until
 * the next call. Return 0, -ENOENT (no usable mechanism) or another -errno; *why says why. */
struct smtpc_auth {
    void *arg;
    int (*start)(void *arg, const char *server_mechs, bool tls, const char **mech, const char **out,
                 size_t *outlen, const char **why); /* *out NULL: none */
    int (*step)(void *arg, const char *in, size_t inlen, const char **out, size_t *outlen,
                const char **why);
};

struct smtpc_params {
    const char *helo_name;
    const char *peer_name;         /* "mx.example.com[192.0.2.1]:25" for reasons */
    bool pipelining;               /* use PIPELINING if offered */
    bool starttls;                 /* use STARTTLS if offered */
    bool require_tls;              /* no transaction without TLS (implies starttls) */
    const struct smtpc_auth *auth; /* NULL: never AUTH */
};

int smtpc_new(struct smtpc_session **out, const struct smtpc_params *p);
void smtpc_free(struct smtpc_session *c);
enum smtpc_event smtpc_input(struct smtpc_session *c, const char *data, size_t len,
                             struct buf *out);
/* smtpc_send - start a transaction; d and body are borrowed until SMTPC_TXN_DONE/FAILED */
int smtpc_send(struct smtpc_session *c, struct queue_delivery *d, const char *body, size_t len,
               struct buf *out);
void smtpc_quit(struct smtpc_session *c, struct buf *out);
const char *smtpc_error(const struct smtpc_session *c);
/* smtpc_fail_open - mark the open transaction's recipients deferred with reason (timeout, reset) */
void smtpc_fail_open(struct smtpc_session *c, const char *reason);
bool smtpc_offers(const struct smtpc_session *c, const char *ext); /* "PIPELINING", "STARTTLS" */
/* smtpc_tls_started - TLS is up after SMTPC_STARTTLS: forget the extensions, EHLO again */
int smtpc_tls_started(struct smtpc_session *c, struct buf *out);
/* smtpc_tls_active - smtpc_tls_started() was called */
bool smtpc_tls_active(const struct smtpc_session *c);
/* smtpc_starttls_offered - the server offered STARTTLS before TLS (kept across the re-EHLO) */
bool smtpc_starttls_offered(const struct smtpc_session *c);
/* smtpc_auth_failed - the session failed because SASL authentication did */
bool smtpc_auth_failed(const struct smtpc_session *c);
/* smtpc_authenticated - AUTH succeeded on this connection */
bool smtpc_authenticated(const struct smtpc_session *c);

#endif
