/*
 * NAME
 *	bench_source - tern-bench source: an SMTP load generator on io_uring
 * SYNOPSIS
 *	tern-bench source --server 127.0.0.1:2525 --connections 50 --messages 10000
 *	    [--size 4k | --size-mix 1k:50,10k:30,1m:20] [--rcpts 1] [--per-conn K]
 *	    [--pipelining] [--starttls | --smtps] [--cafile F] [--cert F --key F]
 *	    [--from ADDR] [--to PATTERN] [--spread N] [--rate MSG/S] [--duration S]
 *	    [--threads T] [--timeout S] [--helo NAME] [--json FILE] [--quiet]
 *	    [--hold SECS [--ready-file F]]
 * DESCRIPTION
 *	N client sessions (delivery/smtpc's protocol machine over loop/conn) on one
 *	io_uring loop per thread send M messages in all. Closed loop by default
 *	(each session sends its next message as soon as the last is answered);
 *	with --rate, messages arrive at that fixed rate (open loop) and wait for
 *	a free session, which is how latency must be measured.
 *
 *	Latency is the time from handing the end of the content and its "."
 *	to the socket, to the reply to that ".", for 2xx replies, in a
 *	log-linear histogram of microseconds (bench_hist). Messages are
 *	counted by the reply they got: 2xx (every recipient accepted), 4xx (a
 *	deferral of any recipient, or of MAIL/DATA/"."), 5xx, or no reply
 *	(connection lost, timeout, TLS failure).
 *
 *	--per-conn K sends K messages per connection, then QUIT and reconnect
 *	(0: as many as there are). TLS sessions are resumed: each thread keeps
 *	the newest session (or TLS 1.3 ticket) it was given and offers it on
 *	its next connection, so connections opened one after another resume,
 *	while the first N opened at once all do full handshakes.
 *
 *	--to PATTERN: every "%d" becomes a counter (message index * rcpts +
 *	recipient index, modulo --spread when given); a PATTERN without "@" is
 *	a domain and gets "bench%d@" in front. --duration stops starting new
 *	messages after that many seconds; SIGINT/SIGTERM do the same.
 *
 *	--hold SECS keeps a session that has nothing (left) to send open and
 *	idle, after its EHLO (and STARTTLS), until SECS after the start or a
 *	signal, then QUITs; every connection slot opens one session even with
 *	--messages 0. That is how N idle TLS sessions are held against a relay
 *	(bench/run idle). --ready-file F is written ("held N") once all
 *	--connections sessions are held; the JSON has held_max.
 *
 *	A progress line goes to stderr every second; the summary to stdout;
 *	--json writes every figure. Exit 0 when every planned message got a
 *	reply (of any class), 1 otherwise, 2 for a usage error.
 */
#ifndef TERN_BENCH_SOURCE_H
#define TERN_BENCH_SOURCE_H

/* bench_source_main - "tern-bench source ..." (argv[0] is "source") */
int bench_source_main(int argc, char **argv);

#endif
