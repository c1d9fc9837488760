/*
 * NAME
 *	smtpd - the SMTP server protocol of one session, without I/O
 * SYNOPSIS
 *	struct smtpd_session *s;
 *	smtpd_new(&s, &params, &hooks);
 *	smtpd_greeting(s, &out);                       // 220 banner
 *	act = smtpd_input(s, bytes, n, &out);          // feed what was received
 *	act = smtpd_commit_done(s, status, &out);      // the queue answered
 *	act = smtpd_auth_done(s, &result, &out);       // a pending SASL step answered
 *	act = smtpd_lookup_done(s, &out);              // a policy lookup is back
 *	if (smtpd_pending(s)) act = smtpd_resume(s, &out); // once `out` has drained
 *	smtpd_timeout(s, &out);                        // idle too long: 421
 *	smtpd_free(s);
 * DESCRIPTION
 *	A state machine for RFC 5321 ESMTP: EHLO/HELO, MAIL, RCPT, DATA, RSET,
 *	NOOP, QUIT, VRFY (252), HELP; extensions PIPELINING, SIZE, 8BITMIME,
 *	ENHANCEDSTATUSCODES, DSN (RFC 3461: NOTIFY, ORCPT, RET, ENVID kept with
 *	the message), SMTPUTF8. The event loop feeds it bytes and writes what it
 *	appends to `out`; the session never touches a socket, so every
 *	conversation can be tested as a script of bytes in, bytes out.
 *
 *	Input is buffered inside the session; replies to pipelined commands are
 *	appended together, at most SMTPD_OUT_BATCH octets of them per call: then
 *	parsing stops with the rest of the input kept, smtpd_pending() says so,
 *	further input is only buffered, and smtpd_resume() goes on (the caller
 *	does that when its output has drained, and reads nothing meanwhile).
 *
 *	Errors as Postfix counts them: every 4xx/5xx reply but 421/521, and each
 *	HELO, EHLO, RSET, NOOP, VRFY or HELP beyond junk_command_limit (Postfix
 *	does not count HELP; tern does). From soft_error_limit errors on, each
 *	reply stops parsing and asks to be held error_sleep_ms
 *	(smtpd_reply_delay_ms()); at hard_error_limit: "421 4.7.0 <host> Error:
 *	too many errors", logged "too many errors after CMD from name[addr]", and
 *	SMTPD_CLOSE. A queued message resets errors and junk commands.
 *	smtpd_records() counts complete requests (command lines, AUTH responses,
 *	messages) so that the caller can restart a per-request deadline.
 *
 *	Limits: command lines 512 octets incl. CRLF (500 5.5.2
 *	"Line too long", rest of the line discarded), text lines 1000 octets
 *	(the message is refused at its end with 500 5.5.2), message_size_limit
 *	(552 5.3.4, counted on content; SIZE= above it refused at MAIL),
 *	smtpd_recipient_limit (452 4.5.3 Too many recipients).
 *
 *	A command whose verb is one of forbidden_commands (smtpd_forbidden_commands:
 *	CONNECT, GET, POST as in Postfix, and PROXY, a balancer's header sent to a
 *	listener that does not expect one) is logged "non-SMTP command from
 *	name[addr]: LINE" and ends the session with Postfix's "221 2.7.0 Error: I
 *	can break rules, too. Goodbye."
 *
 *	Bare CR or bare LF anywhere (commands or DATA) ends the session: the
 *	transaction is discarded and the reply is "521 5.5.2 <myhostname> Error:
 *	bare <CR> or <LF> received" followed by SMTPD_CLOSE. So no end-of-data
 *	variant can split a message or smuggle a second envelope.
 *
 *	At the end of DATA the session builds a struct queue_msg (Received
 *	header prepended, dot-unstuffed, CRLF) and calls hooks->submit(); it then
 *	returns SMTPD_WAIT and ignores input (buffering it) until the caller
 *	calls smtpd_commit_done() with the queue's answer: 0 gives "250 2.0.0 Ok:
 *	queued as QID", -ENOSPC gives "452 4.3.1 Insufficient system storage",
 *	other errors "451 4.3.0 Error: queue file write error".
 *
 *	Relay permission is asked of hooks->check_rcpt() for every RCPT.
 *	hooks->check_stage() runs the other restriction lists where Postfix
 *	does: the client list at connect (a rejection replaces the greeting,
 *	then every command but QUIT gets "503 5.7.0 Error: access denied for
 *	name[addr]"), the helo list at HELO/EHLO, the sender list at MAIL
 *	(those three only with delay_reject off: otherwise check_rcpt runs
 *	them), the data list at DATA and the end-of-data list before the
 *	message is handed to the queue. Rejections are logged as Postfix logs
 *	them ("NOQUEUE: reject: MAIL from name[addr]: 553 5.7.1 ...").
 *	A policy hook may need an answer it does not have yet (the DNS status
 *	of the sender domain for reject_unknown_sender_domain): it starts the
 *	lookup and returns a verdict whose `lookup` is set. The command (MAIL,
 *	RCPT, DATA or the end of the message) then pauses unanswered: the
 *	session returns SMTPD_WAIT and holds input as during a commit, until
 *	the caller calls smtpd_lookup_done(), which asks the hook again (it now
 *	has the answer) and goes on with that command and the held input. A
 *	timeout, a shutdown or a disconnect meanwhile work as during a commit;
 *	the session keeps one paused command, so a client has at most one
 *	lookup out.
 *	Postfix's client rate limits are asked of hooks->event_ok() at MAIL,
 *	RCPT and AUTH, where Postfix asks anvil (after the command's syntax
 *	check for MAIL and RCPT, before anything else for AUTH); a refusal is
 *	"450 4.7.1 Error: too much mail from ADDR" (too many recipients, too
 *	many AUTH commands) and counts as an error. When the client has too
 *	many connections the caller sends smtpd_refuse() instead of the
 *	greeting: "421 4.7.0 host Error: too many connections from ADDR".
 *	Log lines (component "smtpd"): "connect from name[addr]",
 *	"QID: client=name[addr]", "disconnect from name[addr] ehlo=1 mail=1 ...",
 *	"NOQUEUE: reject: RCPT from name[addr]: 554 5.7.1 <x>: Relay access
 *	denied; from=<s> to=<r> proto=ESMTP helo=<h>".
 *
 *	TLS (RFC 3207, RFC 8314). With tls_available the EHLO reply offers
 *	STARTTLS; the command answers "220 2.0.0 Ready to start TLS", drops
 *	every octet that was received after it (CVE-2011-0411: nothing sent in
 *	plaintext is parsed inside TLS), forgets HELO/EHLO and returns
 *	SMTPD_STARTTLS: the caller runs the handshake and feeds no more input
 *	until it is done, then calls smtpd_tls_started() with what the
 *	Received: header and the policy need. STARTTLS is then no longer
 *	offered; a second one gets "503 5.5.1 Error: TLS already active". With
 *	tls_required (smtpd_tls_security_level = encrypt, or the talk's
 *	smtpd_enforce_tls = yes) every command before STARTTLS but EHLO, HELO,
 *	STARTTLS, NOOP, RSET and QUIT gets "530 5.7.0 Must issue a STARTTLS
 *	command first" (RFC 3207 4 and issue 9's list; Postfix 3.7 refuses RSET
 *	too, tern lets a client reset, which carries nothing; an unknown
 *	command still gets 502), and AUTH is not offered before TLS
 *	whatever sasl_mechs says (mandatory TLS implies smtpd_tls_auth_only, as
 *	in Postfix): no password crosses the wire in clear. With tls_wrapper
 *	(smtps_listen) the session starts with TLS already on: the caller
 *	sends the greeting only after the handshake.
 *
 *	The Received: header carries the client's words made safe
 *	(base/printable.h): the HELO name as one token (no space, parentheses,
 *	';' or controls, so it cannot add clauses or forge a hop), the
 *	recipient and certificate names without control characters.
 *
 *	When smtpd_tls_started() got a received text (smtpd_tls_received_header
 *	= yes), the Received: header carries Postfix's annotation:
 *	  Received: from helo (name [addr])
 *		(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))
 *		(Client CN "c", Issuer "i" (verified OK))
 *		by myhostname (tern) with ESMTPS id QID
 *	the second line being "(Client did not present a certificate)" when one
 *	was asked for and none came, "(No client certificate requested)" when
 *	none was asked for.
 *
 *	AUTH (RFC 4954). With sasl_enabled the EHLO reply offers "AUTH mechs"
 *	from sasl_mechs (before TLS) or sasl_mechs_tls (inside TLS); NULL or
 *	"" offers nothing in that state (smtpd_tls_auth_only, or options that
 *	leave no mechanism), and AUTH then gets "503 5.5.1 Error:
 *	authentication not enabled". AUTH twice: "503 5.5.1 Error: already
 *	authenticated"; inside a transaction: "503 5.5.1 Error: MAIL
 *	transaction in progress"; a mechanism not offered: "504 5.5.4
 *	Unsupported authentication mechanism". The exchange runs through
 *	hooks->auth_step() (raw bytes; this module does the base64): 334
 *	challenges, "235 2.7.0 Authentication successful", "535 5.7.8 Error:
 *	authentication failed: why", "454 4.7.0 Temporary authentication
 *	failure: why". The hook may instead leave the step pending
 *	(SMTPD_AUTH_PENDING: it runs elsewhere, as smtpd/server runs Cyrus on a
 *	thread pool): the session then returns SMTPD_WAIT and holds input as
 *	it does for a commit, until the caller hands the outcome to
 *	smtpd_auth_done(), which answers and parses what was held. A timeout
 *	or shutdown meanwhile works as during a commit. A client "*" ends it
 *	with "501 5.7.0 Authentication aborted", undecodable base64 with "501
 *	5.5.2 Cannot decode response"; either way hooks->auth_end() drops the
 *	exchange's state (never while a step is pending). After the
 *	n-th failure, smtpd_reply_delay_ms() asks the caller to hold the
 *	output (policy_sasl_auth_delay_ms). STARTTLS forgets an
 *	authentication (RFC 3207 4.2). The protocol name gains "A" (ESMTPA,
 *	ESMTPSA; RFC 3848), the "client=" log line gets ", sasl_method=M,
 *	sasl_username=U", and with sasl_received_header the Received: header
 *	says "(Authenticated sender: U)" as Postfix's
 *	smtpd_sasl_authenticated_header. MAIL accepts AUTH=<...> (RFC 4954 5)
 *	when AUTH is enabled. AUTH lines may be 12288 octets long (RFC 4954 4).
 */
#ifndef TERN_SMTPD_SMTPD_H
#define TERN_SMTPD_SMTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/buf.h"
#include "policy/policy_relay.h"
#include "queue/queue.h"

struct smtpd_session;

enum smtpd_action {
    SMTPD_CONTINUE = 0, /* keep reading */
    SMTPD_WAIT,         /* a commit, a SASL step or a policy lookup is pending: stop
                         * reading until smtpd_commit_done() / smtpd_auth_done() /
                         * smtpd_lookup_done() */
    SMTPD_CLOSE,        /* write out, then close */
    SMTPD_STARTTLS,     /* write out, discard unread input, start TLS */
};

struct smtpd_params {
    const char *myhostname;
    const char *banner;      /* smtpd_banner, expanded; "220 " is prepended */
    const char *client_addr; /* numeric */
    const char *client_name; /* "unknown" when no reverse name */
    int client_port;
    const char *server_addr;
    long message_size_limit; /* 0 = none */
    int recipient_limit;
    int hopcount_limit;         /* Received: count (own included) refused with 554 5.4.6; 0: none */
    bool tls_available;         /* offer STARTTLS */
    bool tls_required;          /* smtpd_tls_security_level = encrypt: 530 before TLS */
    bool tls_wrapper;           /* smtps: TLS is on from the start (no STARTTLS) */
    bool sasl_enabled;          /* smtpd_sasl_auth_enable */
    const char *sasl_mechs;     /* offered before TLS; NULL/"": none (borrowed: must outlive
                                 * the session, e.g. the runtime the caller holds) */
    const char *sasl_mechs_tls; /* offered inside TLS; NULL/"": none (borrowed likewise) */
    bool sasl_broken_clients;   /* broken_sasl_auth_clients: also "AUTH=mechs" */
    bool sasl_received_header;  /* smtpd_sasl_authenticated_header */
    int junk_command_limit;     /* smtpd_junk_command_limit; 0: Postfix's 100 */
    int soft_error_limit;       /* smtpd_soft_error_limit; 0: Postfix's 10 */
    int hard_error_limit;       /* smtpd_hard_error_limit; 0: Postfix's 20 */
    unsigned error_sleep_ms;    /* smtpd_error_sleep_time; 0: replies are never held */
    bool delay_reject;          /* smtpd_delay_reject: no check_stage at connect/HELO/MAIL */
    char *const *forbidden_commands; /* smtpd_forbidden_commands (borrowed likewise) */
    size_t nforbidden;
};

/* replies appended by one smtpd_input()/smtpd_resume() before parsing stops (plus one reply) */
#define SMTPD_OUT_BATCH 4096

enum smtpd_auth_status {
    SMTPD_AUTH_OK,       /* authenticated: username set */
    SMTPD_AUTH_CONTINUE, /* send the challenge out[0..outlen) */
    SMTPD_AUTH_FAIL,     /* 535; why says why */
    SMTPD_AUTH_TEMPFAIL, /* 454 */
    SMTPD_AUTH_PENDING,  /* (from the hook only) the outcome comes with smtpd_auth_done() */
};

/* one step's outcome; pointers stay valid until the next hook call */
struct smtpd_auth_result {
    enum smtpd_auth_status status;
    const char *out;
    size_t outlen;
    const char *username;
    const char *why;
};

/* what the handshake told the caller; strings are copied by smtpd_tls_started() */
struct smtpd_tls_state {
    const char *received; /* "(using TLSv1.3 with cipher ...)"; NULL: no annotation */
    bool ask_ccert;       /* a client certificate was requested */
    bool peer_cert;       /* the client presented one */
    bool peer_trusted;    /* its chain verified */
    const char *peer_CN, *issuer_CN;
    const char *ccert_fingerprint;        /* per smtpd_tls_fingerprint_digest; NULL: none */
    const char *ccert_pubkey_fingerprint; /* NULL: none */
};

/* client events that Postfix's anvil counts */
enum smtpd_event { SMTPD_EVENT_MAIL, SMTPD_EVENT_RCPT, SMTPD_EVENT_AUTH };

struct smtpd_hooks {
    void *arg;
    /* submit - takes ownership of m on success (return 0) and will later
     * cause smtpd_commit_done(); on error (-errno) the session frees m and
     * answers 451. */
    int (*submit)(void *arg, struct queue_msg *m);
    /* check_rcpt - relay permission; fill v (v->code == 0: permit; v->lookup set: the hook
     * started a lookup, the command waits for smtpd_lookup_done() and asks again) */
    void (*check_rcpt)(void *arg, const struct policy_addr *rcpt, struct policy_verdict *v);
    /* check_stage - another restriction list: client (connect), helo, sender (MAIL) unless
     * delay_reject, data (DATA) and end-of-data (before the message is queued); fill v. The
     * session's smtpd_helo()/smtpd_sender() already hold the value being judged. */
    void (*check_stage)(void *arg, enum policy_stage stage, struct policy_verdict *v);
    /* auth_step - one SASL step; mech is set on the first (in: the initial response or NULL),
     * tls says which options apply. mech and in are valid during the call only: a hook that
     * answers SMTPD_AUTH_PENDING copies them. */
    void (*auth_step)(void *arg, const char *mech, const char *in, size_t inlen, bool tls,
                      struct smtpd_auth_result *r);
    /* auth_end - the exchange is over (done, failed or cancelled): drop its state */
    void (*auth_end)(void *arg);
    /* event_ok - count the event against the client's rate limit; false: over it, refuse the
     * command (450 4.7.1). NULL: no limits */
    bool (*event_ok)(void *arg, enum smtpd_event ev);
    /* space_ok - room in the queue for a message of size octets (SIZE=, or 0)? false: 452 4.3.1 */
    bool (*space_ok)(void *arg, unsigned long long size);
};

int smtpd_new(struct smtpd_session **out, const struct smtpd_params *p,
              const struct smtpd_hooks *h);
void smtpd_free(struct smtpd_session *s);
void smtpd_greeting(struct smtpd_session *s, struct buf *out);
enum smtpd_action smtpd_input(struct smtpd_session *s, const char *data, size_t len,
                              struct buf *out);
enum smtpd_action smtpd_commit_done(struct smtpd_session *s, int status, struct buf *out);
/* smtpd_auth_done - the outcome of the step auth_step left pending (r's strings are borrowed for
 * the call); any other time it changes nothing */
enum smtpd_action smtpd_auth_done(struct smtpd_session *s, const struct smtpd_auth_result *r,
                                  struct buf *out);
/* smtpd_lookup_done - the lookup a policy hook started (verdict's lookup) is over: ask the hook
 * again and go on; any other time it changes nothing */
enum smtpd_action smtpd_lookup_done(struct smtpd_session *s, struct buf *out);
/* smtpd_refuse - instead of the greeting, the client is over its connection count or rate:
 * "421 4.7.0 <host> Error: too many connections from ADDR"; returns SMTPD_CLOSE */
enum smtpd_action smtpd_refuse(struct smtpd_session *s, struct buf *out);
/* smtpd_timeout - logs "timeout after X from name[addr]", answers "421 4.4.2 <host> Error: timeout
 * exceeded" unless out is NULL (the peer stopped reading); returns SMTPD_CLOSE */
enum smtpd_action smtpd_timeout(struct smtpd_session *s, struct buf *out);
/* smtpd_pending - parsing stopped (SMTPD_OUT_BATCH reached, or a reply to hold): call
 * smtpd_resume() once the output has drained or the hold is over; input fed meanwhile is kept */
bool smtpd_pending(const struct smtpd_session *s);
/* smtpd_resume - parse the input the session kept; also after smtpd_commit_done() */
enum smtpd_action smtpd_resume(struct smtpd_session *s, struct buf *out);
/* smtpd_records - complete requests so far: command lines, AUTH responses, messages */
unsigned long smtpd_records(const struct smtpd_session *s);
/* smtpd_in_data - between 354 and the end of the message */
bool smtpd_in_data(const struct smtpd_session *s);
/* smtpd_shutdown - daemon draining: "421 4.3.2 <host> Service shutting down" unless mid-commit */
enum smtpd_action smtpd_shutdown(struct smtpd_session *s, struct buf *out);
/* smtpd_disconnected - the peer went away; logs the disconnect line */
void smtpd_disconnected(struct smtpd_session *s);
/* smtpd_tls_started - the handshake after STARTTLS (or on an smtps connection) succeeded; 0 or
 * -ENOMEM */
int smtpd_tls_started(struct smtpd_session *s, const struct smtpd_tls_state *t);
/* smtpd_tls_active - STARTTLS was accepted or the session is smtps */
bool smtpd_tls_active(const struct smtpd_session *s);
/* smtpd_ccert_fingerprint - fingerprint of a verified client certificate (pubkey: of its key),
 * NULL if none; valid until smtpd_free() */
const char *smtpd_ccert_fingerprint(const struct smtpd_session *s, bool pubkey);
/* smtpd_ccert_presented - fingerprint of any certificate the client presented, verified or not
 * (pubkey: of its key; relay_clientcerts needs no verification), NULL if none; valid until
 * smtpd_free() */
const char *smtpd_ccert_presented(const struct smtpd_session *s, bool pubkey);
/* smtpd_helo - the HELO/EHLO argument, NULL before one; smtpd_sender - the MAIL FROM address,
 * NULL outside a transaction, "" for <>; smtpd_smtputf8 - MAIL FROM said SMTPUTF8. Valid until
 * the next command. */
const char *smtpd_helo(const struct smtpd_session *s);
const char *smtpd_sender(const struct smtpd_session *s);
bool smtpd_smtputf8(const struct smtpd_session *s);
/* smtpd_sasl_username - the SASL-authenticated user, NULL if none; valid until smtpd_free() */
const char *smtpd_sasl_username(const struct smtpd_session *s);
/* smtpd_reply_delay_ms - how long to hold the output just produced (after a failed AUTH), once;
 * 0 = send now */
unsigned smtpd_reply_delay_ms(struct smtpd_session *s);

#endif
