#!/usr/bin/env bash
# NAME
#	test_bench_tools.sh - tern-bench source and sink count correctly, against
#	each other and against Postfix's smtp-sink and smtp-source
# DESCRIPTION
#	A test of the bench instruments, not a timing: every figure checked is a
#	count. Cases:
#	  a) tern-bench source -> Postfix smtp-sink: every message sent is
#	     dumped once, with all its recipients; the source saw 2xx for each.
#	  b) Postfix smtp-source -> tern-bench sink: messages, recipients and
#	     connections as smtp-source sent them; SIGTERM writes the counts.
#	  c) source --starttls (client certificate) -> sink --starttls with a
#	     session cache, two listeners: counts per listener; connections
#	     opened one after another resume (full 1, resumed connections-1);
#	     with 3 concurrent connections, the first (up to) 3 are full
#	     handshakes and the rest resumed; source and sink agree on full vs
#	     resumed; the client certificate verifies at the sink.
#	  d) sink --defer-pct/--reject-pct: the source's 4xx and 5xx counts
#	     are the sink's deferred and rejected counts; --delay-ms and
#	     --exit-after work.
#	  e) --smtps on both sides.
#	  g) source --hold (bench/run idle): 300 STARTTLS sessions with no
#	     message (more than the source opens at once) are all held open
#	     at the same time, the --ready-file says so, the sink counts 300
#	     connections and handshakes and no transaction; at SIGTERM every
#	     session QUITs and the source exits 0. (The hold is long and
#	     SIGTERM ends it: how long 300 handshakes take depends on the
#	     machine's load, so no hold time could be right for the check.)
#	Only 127.0.0.1; every wait is bounded; lib.sh's trap stops every process.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init bench_tools
BENCH=${TERN_BENCH:-$TERN_BUILD/bench/tern-bench}
[[ -x $BENCH ]] || die "no tern-bench at $BENCH (build the tern-bench target)"
SMTP_SOURCE=${SMTP_SOURCE:-/usr/sbin/smtp-source}
[[ -x $SMTP_SOURCE ]] || skip "smtp-source not installed (apt-get install postfix)"
command -v openssl >/dev/null || skip "openssl not installed"

read -r P_A P_B P_C1 P_C2 P_D P_E P_F P_G < <(pick_ports 8)

# jget FILE KEY[.KEY...] - a value from a JSON file
jget() {
    "$PY" -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}

# bsink NAME PORT... -- ARGS - tern-bench sink as bsink-NAME on 127.0.0.1:PORT...
#	Counts in $WORK/bsink-NAME.counts (and .json), written every second and on SIGTERM.
bsink() {
    local name=$1
    shift
    local -a listen=()
    while (($#)) && [[ $1 != -- ]]; do
        listen+=(--listen "127.0.0.1:$1")
        shift
    done
    [[ ${1:-} == -- ]] && shift
    spawn "bsink-$name" "$BENCH" sink "${listen[@]}" --count-file "$WORK/bsink-$name.counts" \
        --json "$WORK/bsink-$name.json" "$@"
    # The sink writes its count file once every listener is bound. (A probe connection
    # like wait_listen's would be counted as a connection, and as a failed handshake.)
    wait_until 10 test -s "$WORK/bsink-$name.counts" ||
        { say "sink $name did not start:"; tail -n 5 "$WORK/bsink-$name.out" >&2; return 1; }
}

# bcount NAME KEY - a count of sink NAME ("messages", "127.0.0.1:PORT.tls_full", ...)
bcount() { awk -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print -1 }' "$WORK/bsink-$1.counts" 2>/dev/null; }

# eq DESC GOT WANT - one check that two numbers are equal
eq() {
    if [[ $2 == "$3" ]]; then pass "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}

# source_run NAME ARGS... - run tern-bench source (bounded), JSON in $WORK/src-NAME.json
source_run() {
    local name=$1
    shift
    timeout 120 "$BENCH" source --quiet --json "$WORK/src-$name.json" "$@" >"$WORK/src-$name.out" 2>&1
    local rc=$?
    ((rc == 0)) || { say "source $name exited $rc:"; tail -n 8 "$WORK/src-$name.out" >&2; }
    return "$rc"
}

# ---------------------------------------------------------------- a) source -> smtp-sink
start_sink a "127.0.0.1:$P_A" || die "smtp-sink"
check "a: source to smtp-sink exits 0" source_run a --server "127.0.0.1:$P_A" --connections 4 \
    --messages 120 --per-conn 7 --rcpts 2 --pipelining --size-mix 1k:3,64k:1 --to "r%d@dest%d.test"
eq "a: source counted 120 replies 2xx" "$(jget "$WORK/src-a.json" reply_2xx)" 120
eq "a: source counted 240 recipients 2xx" "$(jget "$WORK/src-a.json" rcpt_2xx)" 240
check "a: smtp-sink dumped 120 messages" wait_until 20 sink_has a 120
sleep 0.5
eq "a: smtp-sink holds exactly 120 messages" "$(sink_count a)" 120
eq "a: smtp-sink saw 240 recipients" "$(cat "$(sink_dir a)"/* | grep -c '^X-Rcpt-Args: ')" 240
check "a: at least 18 connections for 7 messages per connection" \
    test "$(jget "$WORK/src-a.json" connections_opened)" -ge 18
eq "a: smtp-sink got 30 large messages" "$(sink_match_count a '^Subject: tern-bench 65536 bytes')" 30

# ---------------------------------------------------------------- b) smtp-source -> sink
bsink b "$P_B" || die "tern-bench sink b"
check "b: smtp-source sends 150 messages in 4 sessions" timeout 120 "$SMTP_SOURCE" -d -s 4 -m 150 \
    -r 2 -l 4096 -f src@b.test -t dst@b.test "127.0.0.1:$P_B"
stop_proc bsink-b || fail "b: sink needed SIGKILL"
eq "b: sink counted 150 messages" "$(bcount b messages)" 150
eq "b: sink counted 300 recipients" "$(bcount b rcpts)" 300
eq "b: sink counted 150 transactions" "$(bcount b transactions)" 150
eq "b: sink counted 4 connections" "$(bcount b connections)" 4
eq "b: JSON agrees on messages" "$(jget "$WORK/bsink-b.json" messages)" 150

# ---------------------------------------------------------------- c) TLS with resumption
make_pki "$WORK/pki" || die "make_pki"
K=$WORK/pki
bsink c "$P_C1" "$P_C2" -- --starttls --cert "$K/server.pem" --key "$K/server.key" \
    --cafile "$K/ca.pem" --session-cache || die "tern-bench sink c"
check "c: sequential STARTTLS source exits 0" source_run c1 --server "127.0.0.1:$P_C1" \
    --connections 1 --messages 30 --per-conn 3 --starttls --cafile "$K/ca.pem" \
    --cert "$K/client.pem" --key "$K/client.key"
check "c: concurrent STARTTLS source exits 0" source_run c2 --server "127.0.0.1:$P_C2" \
    --connections 3 --messages 60 --per-conn 5 --pipelining --starttls --rcpts 3
stop_proc bsink-c || fail "c: sink needed SIGKILL"
eq "c: sink counted 90 messages in all" "$(bcount c messages)" 90
eq "c: listener 1 counted 30 messages" "$(bcount c "127.0.0.1:$P_C1.messages")" 30
eq "c: listener 2 counted 60 messages" "$(bcount c "127.0.0.1:$P_C2.messages")" 60
eq "c: listener 2 counted 180 recipients" "$(bcount c "127.0.0.1:$P_C2.rcpts")" 180
eq "c: listener 1 counted 10 connections" "$(bcount c "127.0.0.1:$P_C1.connections")" 10
eq "c: listener 1: one full handshake" "$(bcount c "127.0.0.1:$P_C1.tls_full")" 1
eq "c: listener 1: connections-1 = 9 resumed" "$(bcount c "127.0.0.1:$P_C1.tls_resumed")" 9
eq "c: listener 2 counted 12 connections" "$(bcount c "127.0.0.1:$P_C2.connections")" 12
# 3 opened at once: normally all 3 are full (no session saved yet); one that starts its
# handshake after another's first reply may already resume.
full2=$(bcount c "127.0.0.1:$P_C2.tls_full")
check "c: listener 2: 1..3 full handshakes ($full2) for 3 concurrent connections" \
    test "$full2" -ge 1 -a "$full2" -le 3
eq "c: listener 2: full + resumed = connections" \
    "$((full2 + $(bcount c "127.0.0.1:$P_C2.tls_resumed")))" 12
eq "c: no failed handshakes" "$(bcount c tls_failed)" 0
check "c: the client certificate verified at the sink" test "$(bcount c "127.0.0.1:$P_C1.ccert_trusted")" -ge 1
eq "c: source 1 agrees on full" "$(jget "$WORK/src-c1.json" tls_full)" 1
eq "c: source 1 agrees on resumed" "$(jget "$WORK/src-c1.json" tls_resumed)" 9
eq "c: source 2 agrees on full" "$(jget "$WORK/src-c2.json" tls_full)" "$full2"
eq "c: source 2 agrees on resumed" "$(jget "$WORK/src-c2.json" tls_resumed)" \
    "$(bcount c "127.0.0.1:$P_C2.tls_resumed")"
eq "c: sink bytes = source bytes" "$(bcount c bytes)" \
    "$(($(jget "$WORK/src-c1.json" bytes_2xx) + $(jget "$WORK/src-c2.json" bytes_2xx)))"

# ---------------------------------------------------------------- d) deferrals, rejections, delay
bsink d "$P_D" -- --defer-pct 20 --reject-pct 10 --delay-ms 3 || die "tern-bench sink d"
check "d: source against deferring sink exits 0" source_run d --server "127.0.0.1:$P_D" \
    --connections 2 --messages 50 --pipelining
stop_proc bsink-d || fail "d: sink needed SIGKILL"
eq "d: sink deferred 10" "$(bcount d deferred)" 10
eq "d: source counted 4xx = sink deferred" "$(jget "$WORK/src-d.json" reply_4xx)" "$(bcount d deferred)"
eq "d: source counted 5xx = sink rejected" "$(jget "$WORK/src-d.json" reply_5xx)" "$(bcount d rejected)"
eq "d: source counted 2xx = sink messages" "$(jget "$WORK/src-d.json" reply_2xx)" "$(bcount d messages)"
eq "d: transactions = 50" "$(bcount d transactions)" 50
lat=$(jget "$WORK/src-d.json" latency_us.p50)
check "d: latency p50 ($lat us) includes the 3 ms reply delay" test "$lat" -ge 3000

bsink f "$P_F" -- --exit-after 20 || die "tern-bench sink f"
check "f: source exits 0 with --exit-after on the sink" source_run f --server "127.0.0.1:$P_F" \
    --connections 1 --messages 20
check "f: sink exits by itself after 20 messages" wait_until 10 eval '! alive bsink-f'
eq "f: its count file says 20" "$(bcount f messages)" 20

# ---------------------------------------------------------------- e) implicit TLS
bsink e "$P_E" -- --smtps --cert "$K/server.pem" --key "$K/server.key" || die "tern-bench sink e"
check "e: smtps source exits 0" source_run e --server "127.0.0.1:$P_E" --smtps --connections 2 \
    --messages 40 --per-conn 10 --threads 2
stop_proc bsink-e || fail "e: sink needed SIGKILL"
eq "e: sink counted 40 messages" "$(bcount e messages)" 40
eq "e: sink handshakes = connections" "$(($(bcount e tls_full) + $(bcount e tls_resumed)))" \
    "$(bcount e connections)"
eq "e: source and sink agree on resumed" "$(jget "$WORK/src-e.json" tls_resumed)" \
    "$(bcount e tls_resumed)"

# ---------------------------------------------------------------- g) idle sessions held
bsink g "$P_G" -- --starttls --cert "$K/server.pem" --key "$K/server.key" --session-cache ||
    die "tern-bench sink g"
spawn src-g "$BENCH" source --quiet --server "127.0.0.1:$P_G" --starttls --connections 300 \
    --threads 2 --messages 0 --hold 600 --ready-file "$WORK/g.ready" --json "$WORK/src-g.json"
check "g: the ready file appears (300 sessions held)" wait_until $((30 * IT_SLOW)) test -s "$WORK/g.ready"
eq "g: ready file" "$(cat "$WORK/g.ready")" "held 300"
sleep 1.2 # the sink writes its counts every second
eq "g: sink counts 300 connections while held" "$(bcount g connections)" 300
kill -TERM "${IT_PID[src-g]}"
check "g: source QUITs its sessions and exits at SIGTERM" wait_until 30 eval '! alive src-g'
wait "${IT_PID[src-g]}" 2>/dev/null
eq "g: source exit status" "$?" 0
unset 'IT_PID[src-g]'
stop_proc bsink-g || fail "g: sink needed SIGKILL"
eq "g: source held_max" "$(jget "$WORK/src-g.json" held_max)" 300
eq "g: sink handshakes = 300" "$(($(bcount g tls_full) + $(bcount g tls_resumed)))" 300
eq "g: no transaction" "$(bcount g transactions)" 0
eq "g: no failed connection" "$(jget "$WORK/src-g.json" connect_errors)" 0

it_done
