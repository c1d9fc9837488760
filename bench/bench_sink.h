/*
 * NAME
 *	bench_sink - tern-bench sink: an SMTP server that counts and discards mail
 * SYNOPSIS
 *	tern-bench sink --listen 127.0.0.1:2525 [--listen 127.0.0.2:2525 ...]
 *	    [--starttls | --smtps] [--cert F --key F] [--cafile F]
 *	    [--session-cache [--cache-file F]] [--defer-pct P] [--reject-pct P]
 *	    [--delay-ms D] [--count-file F] [--json F] [--exit-after M]
 *	    [--hostname NAME] [--quiet]
 * DESCRIPTION
 *	Accepts SMTP on every --listen address (several "destinations") on
 *	one io_uring loop, offers PIPELINING, 8BITMIME, SIZE, ENHANCEDSTATUSCODES
 *	and (with --starttls) STARTTLS with its own certificate; --smtps makes
 *	every listener implicit TLS. The content is read and dropped.
 *
 *	Counted per listen address and in all: connections, transactions
 *	(ended by "."), messages (250 to the "."), their bytes (content as
 *	received on the wire, dot-stuffed, without the final "."), recipients
 *	of accepted messages, deferred (451) and rejected (550) transactions,
 *	and TLS handshakes: full, resumed (tls_session_info()->reused) and
 *	failed; with --cafile a client certificate is asked for, and
 *	ccert_trusted counts handshakes whose client certificate verified
 *	against it (as tls_session_info() reports it, resumed ones included).
 *
 *	--defer-pct P answers 451 4.3.0 to P% of transactions, --reject-pct
 *	550 5.7.1 to P%: deterministically (every 100/P-th transaction,
 *	across all listeners), so that counts in a test are exact.
 *	--delay-ms D holds every batch of replies D ms (one batch per read:
 *	a pipelined MAIL/RCPT/DATA costs one delay, the "." another).
 *
 *	--session-cache makes server-side resumption work across connections:
 *	session IDs and TLS 1.3 ticket keys in a tls_cache (LMDB) file,
 *	--cache-file or a temporary one removed at exit. Without it, whatever
 *	wolfSSL does by itself applies.
 *
 *	--count-file writes "name value" lines (totals, then "ADDR:PORT.name
 *	value" per listener, then connections_now and peak_connections: the
 *	sessions open now and the most ever open at once; a session is over
 *	when its QUIT is answered, before the close, so that a client opening
 *	its next connection on the 221 is not counted twice), --json the same as
 *	JSON; both every 100 ms and on SIGTERM/SIGINT or after --exit-after M
 *	accepted messages, then it exits 0.
 */
#ifndef TERN_BENCH_SINK_H
#define TERN_BENCH_SINK_H

/* bench_sink_main - "tern-bench sink ..." (argv[0] is "sink") */
int bench_sink_main(int argc, char **argv);

#endif
