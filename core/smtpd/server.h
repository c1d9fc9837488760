/*
 * NAME
 *	server - inbound sessions: a conn on the ring plus an smtpd protocol session
 * DESCRIPTION
 *	server_accept() is called by a listener on its worker's thread. The
 *	session feeds received bytes to smtpd/smtpd, writes its replies, hands
 *	finished messages to the queue and resumes reading when the queue's
 *	commit result comes back (posted to the worker's loop). It lives until
 *	both the connection is closed and no commit result is outstanding.
 *
 *	Every session is bounded: in memory (smtpd/server.c's BOUNDS, stopping
 *	to read a client that does not read its replies), in time per request
 *	and per reply (smtpd_timeout, smtpd_per_request_deadline,
 *	smtpd_min_data_rate), and in errors and junk commands (Postfix's
 *	smtpd_*_error_limit, smtpd_junk_command_limit, smtpd_error_sleep_time).
 */
#ifndef TERN_SMTPD_SERVER_H
#define TERN_SMTPD_SERVER_H

#include "core/smtpd/listen.h"

struct worker;
struct server_session;

void server_accept(struct worker *w, int fd, enum listen_kind kind);
/* server_drain_all - worker draining: 421 to every session not waiting for a commit */
void server_drain_all(struct worker *w);

#endif
