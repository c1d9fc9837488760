#!/usr/bin/env bash
# NAME
#	bench/run-tls-handshakes.sh - issue 3 check 7: outbound TLS handshakes
#	per N messages to one destination, before and after a restart; CPU per
#	message with TLS on both legs, tern beside Postfix
# SYNOPSIS
#	bash bench/run-tls-handshakes.sh                       # 1000 messages per round, tern and Postfix
#	BENCH_MESSAGES=200 BENCH_RELAYS=tern bash bench/run-tls-handshakes.sh
# DESCRIPTION
#	One TLS destination: tests/integration/tern_it.py tls-sink (python ssl,
#	a STARTTLS SMTP peer that logs per TLS session whether it was resumed:
#	the peer's own count, not the relay's). One relay at a time, with the
#	same certificates (a test PKI made with the openssl CLI):
#
#	  tern_it.py tls-load (STARTTLS, CA-verified, 1 message per connection,
#	      BENCH_SESSIONS parallel) --> relay (smtpd TLS may) --STARTTLS,
#	      smtp_tls_security_level = encrypt, LMDB/btree session cache-->
#	      tls-sink
#
#	Per relay, two rounds of BENCH_MESSAGES messages: round 1 on a fresh
#	start (empty caches), then the relay is restarted (tern: SIGTERM and
#	start; Postfix: master stopped and started) and round 2 follows.
#	Reported per round: outbound handshakes as the peer saw them (full,
#	resumed), as tern counts them (ternctl stats), outbound connections,
#	seconds, and the relay's CPU per message.
#
#	CPU: tern = utime + stime of ternd; Postfix = master utime + stime +
#	cutime + cstime plus every live child's (as bench/run-postfix-compare.sh),
#	sampled before the load starts and after the peer holds every message.
#	The load source and the peer are not counted. With TLS inbound, the
#	python client's handshakes are the cost of the relay's smtpd too.
#
#	Environment: BENCH_MESSAGES (1000), BENCH_SESSIONS (10), BENCH_SIZE
#	(1024), BENCH_RELAYS ("tern postfix"), BENCH_INBOUND (tls|plain, tls),
#	BENCH_DIR (/var/tmp), BENCH_TIMEOUT (600 s per round), TERN_BUILD
#	(./build), BENCH_KEEP=1 keeps the work directory. Postfix needs root.
# DIAGNOSTICS
#	A round that does not complete within BENCH_TIMEOUT is marked
#	"incomplete"; the work directory is kept then.
set -u -o pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
export TERN_SOURCE=$SRC
export TERN_BUILD=${TERN_BUILD:-$SRC/build}
export TMPDIR=${BENCH_DIR:-/var/tmp}
M=${BENCH_MESSAGES:-1000}
S=${BENCH_SESSIONS:-10}
L=${BENCH_SIZE:-1024}
RELAYS=${BENCH_RELAYS:-tern postfix}
INBOUND=${BENCH_INBOUND:-tls}
TIMEOUT=${BENCH_TIMEOUT:-600}
TICKS=$(getconf CLK_TCK)

# lib.sh: temp dir, cleanup of every process started, PKI, Postfix instance and python sink helpers
# shellcheck source=tests/integration/lib.sh
. "$SRC/tests/integration/lib.sh"
it_init tlsbench
[[ ${BENCH_KEEP:-0} == 1 ]] && export TERN_KEEP=1
export PYTHONDONTWRITEBYTECODE=1

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the PKI"
RESULTS=$WORK/results
: >"$RESULTS"

# stat_ticks, postfix_ticks
. "$SRC/bench/bench_cpu.sh"

# relay_ticks NAME
relay_ticks() {
    if [[ $1 == tern ]]; then stat_ticks "${IT_PID[tern]}"; else postfix_ticks "${IT_PID[pf-relay]}"; fi
}

# start_relay NAME - start relay NAME (config written once, on the first start)
start_relay() {
    if [[ $1 == tern ]]; then
        if [[ ! -f $WORK/tern/etc/main.cf ]]; then
            write_main_cf tern "$P_RELAY" <<EOF
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$P_SINK
default_destination_concurrency_limit = 20
smtpd_tls_security_level = may
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_session_cache_database = lmdb:$WORK/tern/smtpd_scache
smtp_tls_security_level = encrypt
smtp_tls_CAfile = $PKI/ca.pem
smtp_tls_session_cache_database = lmdb:$WORK/tern/smtp_scache
EOF
        fi
        start_ternd tern
    else
        if [[ ! -f $WORK/pf-relay/etc/main.cf ]]; then
            write_postfix_cf relay "$P_RELAY" <<EOF
relayhost = [127.0.0.1]:$P_SINK
default_destination_concurrency_limit = 20
default_process_limit = 200
smtpd_tls_security_level = may
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_session_cache_database = btree:$WORK/pf-relay/data/smtpd_scache
smtp_tls_security_level = encrypt
smtp_tls_CAfile = $PKI/ca.pem
smtp_tls_session_cache_database = btree:$WORK/pf-relay/data/smtp_scache
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
EOF
        fi
        start_postfix relay
    fi
}

# stop_relay NAME
stop_relay() {
    if [[ $1 == tern ]]; then stop_ternd tern; else stop_postfix relay; fi
}

# round NAME LABEL - one round of $M messages; appends a line to $RESULTS
round() {
    local name=$1 label=$2 l0 m0 c0 c1 t0 t1 status=complete load_opts=() sink_msgs
    l0=$(psink peer lines)
    m0=$(psink peer messages)
    [[ $INBOUND == tls ]] && load_opts=(--cafile "$PKI/ca.pem")
    c0=$(relay_ticks "$name")
    t0=$(date +%s.%N)
    "$PY" "$TERN_IT_PY" tls-load 127.0.0.1 "$P_RELAY" "$M" "$S" --size "$L" "${load_opts[@]}" \
        >"$WORK/load-$name-$label.out" 2>&1 || say "$name $label: load source reported errors: $(tail -n 2 "$WORK/load-$name-$label.out")"
    if ! wait_until "$TIMEOUT" psink_ge peer messages $((m0 + M)); then
        status=incomplete
        export TERN_KEEP=1
    fi
    t1=$(date +%s.%N)
    c1=$(relay_ticks "$name")
    sink_msgs=$(($(psink peer messages) - m0))
    local pfull pres tfull=- tres=- conns=-
    pfull=$(psink peer tls-full "$l0")
    pres=$(psink peer tls-resumed "$l0")
    if [[ $name == tern ]]; then
        tfull=$(stat_value tern tls_outbound_full_handshakes)
        tres=$(stat_value tern tls_outbound_resumed_handshakes)
        conns=$(stat_value tern outbound_connections)
    fi
    awk -v n="$name" -v r="$label" -v m="$sink_msgs" -v pf="$pfull" -v pr="$pres" -v tf="${tfull:--}" \
        -v tr="${tres:--}" -v oc="${conns:--}" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" \
        -v hz="$TICKS" -v st="$status" 'BEGIN {
            cpu = (c1 - c0) / hz
            printf "%-8s %-14s %8d %10d %12d %10s %12s %8s %8.2f %8.2f %10.3f  %s\n", n, r, m, pf, pr,
                tf, tr, oc, t1 - t0, cpu, (m > 0 ? cpu * 1000 / m : 0), st }' >>"$RESULTS"
}

read -r P_SINK P_RELAY < <(pick_ports 2)
start_tls_sink peer "$P_SINK" --cert "$PKI/server.pem" --key "$PKI/server.key" || die "python TLS peer"

for r in $RELAYS; do
    if [[ $r == postfix ]] && { [[ $(id -u) != 0 ]] || [[ ! -x $POSTFIX_MASTER ]]; }; then
        say "skipping Postfix (needs root and Debian's postfix)"
        continue
    fi
    say "$r: round 1 (fresh start), $M messages"
    start_relay "$r" || { say "$r did not start"; continue; }
    sleep 1
    round "$r" "1-fresh"
    say "$r: restart"
    stop_relay "$r"
    start_relay "$r" || { say "$r did not restart"; continue; }
    sleep 1
    say "$r: round 2 (after restart), $M messages"
    round "$r" "2-restarted"
    stop_relay "$r"
done

echo
echo "Outbound TLS handshakes per $M messages to one destination, inbound $INBOUND, $S sessions, $L octets, $(nproc) CPUs, $(uname -r)"
printf "%-8s %-14s %8s %10s %12s %10s %12s %8s %8s %8s %10s  %s\n" relay round delivered \
    peer_full peer_resumed tern_full tern_resumed out_conn seconds cpu_s cpu_ms/msg status
cat "$RESULTS"
echo
echo "peer_full/peer_resumed: TLS sessions as the destination saw them (python ssl session_reused)"
echo "tern_full/tern_resumed/out_conn: ternctl stats (counters start at 0 with each ternd start)"
echo "commands:"
echo "  peer:   python3 tests/integration/tern_it.py tls-sink --listen 127.0.0.1:SINK --cert server.pem --key server.key"
echo "  load:   python3 tests/integration/tern_it.py tls-load 127.0.0.1 RELAY $M $S --size $L${INBOUND/tls/ --cafile ca.pem}"
echo "  relays: smtpd TLS may + smtp_tls_security_level = encrypt to [127.0.0.1]:SINK, same certificates (config in $0)"
echo "  cpu:    tern = ternd utime+stime; postfix = master utime+stime+cutime+cstime + live children's"
trap - EXIT
it_cleanup
exit 0
