/*
 * NAME
 *	authjob - one inbound SMTP AUTH exchange, its Cyrus steps run off the rings
 * SYNOPSIS
 *	struct pool *pool;
 *	authjob_pool_new(&pool);                       // once: the SASL threads
 *
 *	struct authjob *j;
 *	authjob_new(&j, &params, loop, done, arg);      // at the AUTH command
 *	rc = authjob_step(j, pool, "PLAIN", in, inlen); // 0: done(arg) runs later on loop's thread
 *	...
 *	void done(void *arg) { authjob_result(j, &r); smtpd_auth_done(smtpd, &r, out); }
 *	authjob_free(j);                                // the exchange is over
 * DESCRIPTION
 *	A Cyrus step may wait for a long time: with pwcheck_method: saslauthd
 *	(PAM, LDAP, Kerberos behind it, the usual Postfix set-up) it is a
 *	blocking round trip to another daemon. Run on a worker's ring it would
 *	stall every session of that worker, so each step of the exchange
 *	(sasl_server_new on the first one, sasl_server_start or
 *	sasl_server_step) runs on a pool thread (loop/pool.h) and the outcome
 *	comes back to the session's ring with loop_post(). Steps of one
 *	exchange never overlap (the protocol waits for each answer), so one
 *	Cyrus connection is never used by two threads at once, which is all
 *	Cyrus asks once it is initialised (auth/auth.h).
 *
 *	The job copies what it needs (the session's addresses, the client's
 *	response, wiped after use), so a session may go away while a step
 *	runs: the caller keeps its own state alive until done() (smtpd/server
 *	counts the step as a reference, as it does a queue commit).
 *
 *	Bounds: AUTHJOB_THREADS steps run at once, AUTHJOB_QUEUE more wait;
 *	beyond that authjob_step() fails at once with -EAGAIN and the session
 *	answers 454 4.7.0 (try later) instead of waiting. A waiting or running
 *	step holds one response (at most 9 KiB decoded from a 12288-octet
 *	line) and one Cyrus connection: (8 + 64) of them at most.
 *
 *	Threads: authjob_new/step/result/free on the session's thread; the
 *	pool thread owns the job between authjob_step() and done().
 * DIAGNOSTICS
 *	authjob_new: 0 or -ENOMEM. authjob_step: 0, -EAGAIN (pool full),
 *	-ENOMEM, -EBUSY (a step is already running), -ESHUTDOWN.
 */
#ifndef TERN_SMTPD_AUTHJOB_H
#define TERN_SMTPD_AUTHJOB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/auth/auth.h"
#include "core/loop/loop.h"
#include "core/loop/pool.h"
#include "core/smtpd/smtpd.h"

#define AUTHJOB_THREADS 8 /* SASL steps that may block at once (saslauthd's own default is 5) */
#define AUTHJOB_QUEUE 64  /* steps waiting for a thread; more: 454 at once */

struct authjob;

/* authjob_pool_new - the pool the steps run on ("tern-sasl" threads) */
int authjob_pool_new(struct pool **out);
/* authjob_new - an exchange with these properties (copied); done(arg) runs on l's thread */
int authjob_new(struct authjob **out, const struct auth_server_params *p, struct loop *l,
                loop_post_fn *done, void *arg);
/* authjob_step - submit one step (mech set: the first, in NULL: no initial response) */
int authjob_step(struct authjob *j, struct pool *pool, const char *mech, const char *in,
                 size_t inlen);
/* authjob_result - in done(): the step's outcome; strings valid until the next step or free */
void authjob_result(struct authjob *j, struct smtpd_auth_result *r);
/* authjob_busy - is a step submitted and its done() not yet run? */
bool authjob_busy(const struct authjob *j);
/* authjob_free - not while busy; NULL is fine */
void authjob_free(struct authjob *j);

#endif
