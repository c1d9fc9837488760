#!/usr/bin/env bash
# NAME
#	test_bounds.sh - issue 9 part 1: backpressure, write timeouts, per-record deadlines, junk
#	and error limits
# DESCRIPTION
#	Hostile clients (tests/integration/bounds_it.py, python3 raw sockets) against ternd:
#	(a) clients with a 4 KiB receive window that send "EHLO x" or pipelined
#	    RSET/MAIL/RCPT/NOOP/VRFY/HELP and never read: ternd's VmRSS stays bounded;
#	    pipelined commands are all answered once the client reads;
#	(b) 200 clients that never read: VmRSS grows less than 200 x the per-connection
#	    bound stated in core/smtpd/server.c's header (BOUNDS); 100 more inside TLS;
#	(c) write timeout: a client that stops reading is dropped within smtpd_timeout plus
#	    a margin, logged "timeout after EHLO", and its session is freed (disconnect line);
#	(d) slowloris, one octet a second, in command mode and in DATA: 421 4.4.2 at the
#	    deadline (smtpd_per_record_deadline); a client above smtpd_min_data_rate is not
#	    dropped although its DATA takes longer than smtpd_timeout;
#	(e) junk loops (RSET/NOOP/VRFY/HELP, MAIL/RSET, HELP) end with 421 4.7.0 too many
#	    errors (smtpd_junk_command_limit, smtpd_soft_error_limit with its sleep,
#	    smtpd_hard_error_limit), the maillog stays small;
#	(f) a normal client sending 300 messages on one connection, with refused recipients
#	    and RSET/NOOP in each, is never cut off (the counters reset per message).
#	The junk limit is set out of the way for (a)-(d), so that backpressure and timeouts
#	are what is tested there.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init bounds

# bounds - bounds_it.py CMD ARGS... counted like py_checks
bounds() { TERN_IT_PY=$IT_DIR/bounds_it.py py_checks "$@"; }

# Per-connection worst case without envelope and message content, from
# core/smtpd/server.c's header (BOUNDS): 160 KiB, 320 KiB with TLS. Measured growth is
# compared with it, times a factor for malloc's arenas and the kernel's view of pages.
# Under ASan (quarantine, redzones) the factor is larger.
# SLACK covers what does not scale with connections (malloc's arenas; under ASan its
# quarantine of freed memory, kept small here, and the shadow of the heap).
PER_CONN_KB=160
PER_CONN_TLS_KB=320
FACTOR=2
SLACK_KB=4096
# an ASan build: gcc links libasan dynamically, clang (the CI's TERN_FUZZ build) statically
if ldd "$TERND" 2>/dev/null | grep -q libasan ||
    grep -qE '^TERN_(SANITIZE|FUZZ):BOOL=ON' "$TERN_BUILD/CMakeCache.txt" 2>/dev/null; then
    FACTOR=8
    SLACK_KB=32768
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16
fi

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"
read -r P_HUB < <(pick_ports 1)
start_sink hub "127.0.0.1:$P_HUB" || die "smtp-sink"
RELAY="relayhost = [127.0.0.1]:$P_HUB
mynetworks = 127.0.0.9/32
relay_domains = relay.test
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
# hundreds of connections from one client outside mynetworks: per-client limits are
# test_anvil.sh's business, these instances measure what one connection costs
smtpd_client_connection_count_limit = 0"

write_main_cf flood <<EOF
$RELAY
smtpd_junk_command_limit = 1000000000
EOF
# a fresh process for the TLS measurement: memory freed by other tests would hide growth
write_main_cf tlsflood <<EOF
$RELAY
smtpd_junk_command_limit = 1000000000
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_security_level = may
EOF
write_main_cf tmo <<EOF
$RELAY
smtpd_junk_command_limit = 1000000000
smtpd_timeout = 3s
EOF
write_main_cf junk <<EOF
$RELAY
EOF
write_main_cf normal <<EOF
$RELAY
EOF
for n in flood tlsflood tmo junk normal; do
    start_ternd $n || die "ternd $n did not start"
done

say "(a) clients that never read:"
bounds flood 127.0.0.1 "$(ternd_port flood)" "${IT_PID[flood]}" ehlo 2 6 $((16 << 20)) \
    $((2 * PER_CONN_KB * FACTOR + SLACK_KB))
bounds flood 127.0.0.1 "$(ternd_port flood)" "${IT_PID[flood]}" pipeline 2 6 $((16 << 20)) \
    $((2 * PER_CONN_KB * FACTOR + SLACK_KB))
bounds answered 127.0.0.1 "$(ternd_port flood)" 100000

say "(b) 200 clients that never read:"
bounds many 127.0.0.1 "$(ternd_port flood)" "${IT_PID[flood]}" 200 $((64 << 10)) \
    $((200 * PER_CONN_KB * FACTOR + SLACK_KB))
bounds many 127.0.0.1 "$(ternd_port tlsflood)" "${IT_PID[tlsflood]}" 100 $((64 << 10)) \
    $((100 * PER_CONN_TLS_KB * FACTOR + SLACK_KB)) "$PKI/ca.pem"

say "(c) write timeout:"
bounds write-timeout 127.0.0.1 "$(ternd_port tmo)" 3 6
check "write timeout: logged as Postfix does (timeout after EHLO from unknown[127.0.0.1])" \
    wait_until 10 maillog_has tmo 'timeout after EHLO from unknown\[127\.0\.0\.1\]'
check "write timeout: the session is freed (its disconnect line)" \
    wait_until 10 maillog_has tmo 'disconnect from unknown\[127\.0\.0\.1\] ehlo='

say "(d) slowloris:"
bounds slowloris 127.0.0.1 "$(ternd_port tmo)" 3 5 cmd ok@relay.test
bounds slowloris 127.0.0.1 "$(ternd_port tmo)" 3 5 data ok@relay.test
check "slowloris: 'timeout after DATA (N bytes)' logged" \
    wait_until 10 maillog_has tmo 'timeout after DATA \([0-9]+ bytes\) from unknown\[127\.0\.0\.1\]'
bounds data-rate 127.0.0.1 "$(ternd_port tmo)" 3 ok@relay.test

say "(e) junk commands:"
bounds junk 127.0.0.1 "$(ternd_port junk)" junk 60
bounds junk 127.0.0.1 "$(ternd_port junk)" mailrset 60
bounds junk 127.0.0.1 "$(ternd_port junk)" help 60
check "junk: 'too many errors after' logged" \
    maillog_has junk 'too many errors after (RSET|NOOP|VRFY|HELP|MAIL) from unknown\[127\.0\.0\.1\]'
lines=$(wc -l <"$WORK/junk/maillog")
check "junk: the maillog stays small ($lines lines)" test "$lines" -lt 1000

say "(f) a normal client:"
bounds messages 127.0.0.1 "$(ternd_port normal)" 300 ok@relay.test no@ext.test
check "normal: no 'too many errors' logged" bash -c "! grep -q 'too many errors' '$WORK/normal/maillog'"

for n in flood tlsflood tmo junk normal; do
    check "ternd $n exits on SIGTERM" stop_ternd $n
done
it_done
