#!/usr/bin/env bash
# NAME
#	test_metrics.sh - metrics_listen: Prometheus text over HTTP, counts that
#	match what the peers saw
# DESCRIPTION
#	  a) `ternd check` refuses a metrics_listen that is not
#	     numeric-address:port; ternd refuses to start when the port is
#	     taken, naming metrics_listen.
#	  b) ternd with metrics_listen on a free loopback port relays 40
#	     messages, STARTTLS on both legs: tern-bench source (4 connections,
#	     5 messages each, so connections resume) -> ternd ->
#	     tern-bench sink (STARTTLS, session cache, every 10th transaction
#	     deferred with 451).
#	  c) GET /metrics: 200, Prometheus text (every sample has HELP and
#	     TYPE); /other: 404; POST: 405.
#	  d) The counts: messages received = 40 = the source's 2xx; recipients
#	     delivered = 40 = the sink's messages; recipients deferred = the
#	     sink's 451s; queue size 0; inbound connections = the source's
#	     connections; inbound full/resumed handshakes = the source's;
#	     outbound full/resumed handshakes = the sink's; outbound
#	     connections = the sink's; the histograms are cumulative, their
#	     +Inf bucket equals _count, commit _count = queue commits, batch
#	     _sum = 40.
#	  e) With 1100 more inbound connections open (ternd's descriptors
#	     above FD_SETSIZE), a scrape still works and counts them.
#	Only 127.0.0.1; every wait bounded; counts, never timings.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init metrics
BENCH=${TERN_BENCH:-$TERN_BUILD/bench/tern-bench}
[[ -x $BENCH ]] || die "no tern-bench at $BENCH (build the tern-bench target)"
command -v openssl >/dev/null || skip "openssl not installed"

N=40
# e) needs descriptors above FD_SETSIZE in ternd and in python (ternd inherits this limit)
(($(ulimit -n) >= 4096)) || ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
read -r P_SINK P_M P_BUSY < <(pick_ports 3)
make_pki "$WORK/pki" || die "make_pki"
K=$WORK/pki

# scrape PATH [METHOD] - "STATUS CONTENT-TYPE" on line 1, the body after; $WORK/scrape.out
scrape() {
    "$PY" - "http://127.0.0.1:$P_M$1" "${2:-GET}" >"$WORK/scrape.out" 2>&1 <<'EOF'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[2], data=b"x" if sys.argv[2] == "POST" else None)
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.headers.get("Content-Type"))
        sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get("Content-Type"))
EOF
}

# metric NAME[{LABELS}] - a sample's value from the last scrape ("" when absent)
metric() { awk -v k="$1" 'NR > 1 && $1 == k { print $2; exit }' "$WORK/scrape.out"; }

# well_formed - every sample of the last scrape belongs to a family with HELP and TYPE,
#	every histogram's buckets are cumulative and end in +Inf = _count
well_formed() {
    "$PY" - "$WORK/scrape.out" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().splitlines()[1:]
helps, types, ok = set(), {}, True
hist = {}
for l in lines:
    if l.startswith("# HELP "):
        helps.add(l.split()[2])
    elif l.startswith("# TYPE "):
        types[l.split()[2]] = l.split()[3]
    elif l.strip():
        m = re.match(r'^([a-z_]+)(\{[^}]*\})? (\S+)$', l)
        if not m:
            print("bad line:", l); ok = False; continue
        name = m.group(1)
        fam = re.sub(r'_(bucket|sum|count)$', '', name) if name not in types else name
        if fam not in helps or fam not in types:
            print("no HELP/TYPE for", name); ok = False
        if not name.startswith("tern_"):
            print("not prefixed:", name); ok = False
        float(m.group(3))
        if types.get(fam) == "histogram":
            h = hist.setdefault(fam, {"buckets": []})
            if name.endswith("_bucket"):
                h["buckets"].append((m.group(2), float(m.group(3))))
            else:
                h[name[len(fam) + 1:]] = float(m.group(3))
for fam, h in hist.items():
    vals = [v for _, v in h["buckets"]]
    if vals != sorted(vals) or not h["buckets"][-1][0].endswith('"+Inf"}') or vals[-1] != h.get("count"):
        print("bad histogram", fam, h); ok = False
if len(hist) < 2:
    print("histograms missing:", list(hist)); ok = False
sys.exit(0 if ok else 1)
EOF
}

# eq DESC GOT WANT - one check that two numbers are equal
eq() {
    if [[ -n $2 && $2 == "$3" ]]; then pass "$1 ($2)"; else fail "$1: got '$2', want '$3'"; fi
}

# jget FILE KEY - a value from a JSON file
jget() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# scount KEY - a total from the sink's count file
scount() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print -1 }' "$WORK/sink.counts"; }

# ---------------------------------------------------------------- a) bad values
write_main_cf t <<EOF
metrics_listen = localhost:$P_M
EOF
check "a: ternd check refuses a metrics_listen host name" \
    bash -c "! '$TERND' -c '$WORK/t/etc' check >'$WORK/check.out' 2>&1"
check "a: ... and says why" grep -q 'metrics_listen = localhost.*numeric' "$WORK/check.out"
write_main_cf t <<EOF
metrics_listen = 127.0.0.1
EOF
check "a: ternd check refuses a metrics_listen without a port" \
    bash -c "! '$TERND' -c '$WORK/t/etc' check >/dev/null 2>&1"
spawn busy "$PY" -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(60)' "$P_BUSY"
wait_listen busy 127.0.0.1 "$P_BUSY" 10 || die "port holder"
write_main_cf t <<EOF
metrics_listen = 127.0.0.1:$P_BUSY
EOF
check "a: ternd exits non-zero when the metrics port is taken" \
    bash -c "! timeout 20 '$TERND' -c '$WORK/t/etc' >'$WORK/busy.out' 2>&1"
check "a: ... naming metrics_listen and the cause" \
    grep -Eq "metrics_listen = 127.0.0.1:$P_BUSY: Address already in use" "$WORK/busy.out" "$WORK/t/maillog"
stop_proc busy
rm -rf "$WORK/t"

# ---------------------------------------------------------------- b) relay with TLS both legs
spawn sink "$BENCH" sink --listen "127.0.0.1:$P_SINK" --starttls --cert "$K/server.pem" --key "$K/server.key" \
    --session-cache --defer-pct 10 --count-file "$WORK/sink.counts"
wait_until 10 test -s "$WORK/sink.counts" || die "tern-bench sink did not start"
write_main_cf t <<EOF
metrics_listen = 127.0.0.1:$P_M
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$P_SINK
smtpd_tls_security_level = may
smtpd_tls_cert_file = $K/server.pem
smtpd_tls_key_file = $K/server.key
smtpd_tls_session_cache_database = lmdb:$WORK/t/smtpd_scache
smtp_tls_security_level = encrypt
smtp_tls_CAfile = $K/ca.pem
smtp_tls_session_cache_database = lmdb:$WORK/t/smtp_scache
EOF
start_ternd t || die "ternd did not start"
wait_until 10 port_open 127.0.0.1 "$P_M" || die "metrics port not listening"
scrape /metrics
C0=$(metric tern_inbound_connections_total) # start_ternd's probe connection
check "b: source sends $N messages with STARTTLS" timeout 60 "$BENCH" source --quiet \
    --server "127.0.0.1:$(ternd_port t)" --starttls --cafile "$K/ca.pem" --connections 4 \
    --messages "$N" --per-conn 5 --json "$WORK/src.json"
sink_done() { [[ $(scount messages) == "$N" ]]; }
check "b: the sink got $N messages (deferred ones retried)" wait_until 30 sink_done

# ---------------------------------------------------------------- c) HTTP
scrape /metrics
check "c: GET /metrics is 200 text/plain version 0.0.4" grep -q '^200 text/plain; version=0.0.4' "$WORK/scrape.out"
check "c: the exposition is well formed" well_formed
queue_empty() { scrape /metrics && [[ $(metric tern_queue_messages) == 0 ]]; }
check "c: queue size drops to 0" wait_until 15 queue_empty
cp "$WORK/scrape.out" "$WORK/metrics.txt"
scrape /other
check "c: GET /other is 404" grep -q '^404' "$WORK/scrape.out"
scrape /metrics POST
check "c: POST /metrics is 405" grep -q '^405' "$WORK/scrape.out"
cp "$WORK/metrics.txt" "$WORK/scrape.out"

# ---------------------------------------------------------------- d) counts
stop_proc sink || fail "d: sink needed SIGKILL"
hs() { metric "tern_tls_handshakes_total{direction=\"$1\",result=\"$2\"}"; }
eq "d: messages received = source 2xx" "$(metric tern_messages_received_total)" "$(jget "$WORK/src.json" reply_2xx)"
eq "d: messages received = $N" "$(metric tern_messages_received_total)" "$N"
eq "d: recipients delivered = sink messages" "$(metric tern_recipients_delivered_total)" "$(scount messages)"
eq "d: recipients deferred = sink 451s" "$(metric tern_recipients_deferred_total)" "$(scount deferred)"
check "d: some transactions were deferred" test "$(scount deferred)" -ge 1
eq "d: nothing bounced" "$(metric tern_recipients_bounced_total)" 0
eq "d: inbound connections = source connections" "$(($(metric tern_inbound_connections_total) - C0))" \
    "$(jget "$WORK/src.json" connections_opened)"
eq "d: inbound full handshakes = source's" "$(hs inbound full)" "$(jget "$WORK/src.json" tls_full)"
eq "d: inbound resumed handshakes = source's" "$(hs inbound resumed)" "$(jget "$WORK/src.json" tls_resumed)"
check "d: some inbound handshakes resumed" test "$(hs inbound resumed)" -ge 1
eq "d: no inbound handshake failed" "$(hs inbound failed)" 0
eq "d: outbound full handshakes = sink's" "$(hs outbound full)" "$(scount tls_full)"
eq "d: outbound resumed handshakes = sink's" "$(hs outbound resumed)" "$(scount tls_resumed)"
eq "d: no outbound handshake failed" "$(hs outbound failed)" 0
eq "d: outbound connections = sink connections" "$(metric tern_outbound_connections_total)" "$(scount connections)"
eq "d: cache hits + misses = outbound handshakes" \
    "$(($(metric tern_tls_session_cache_hits_total) + $(metric tern_tls_session_cache_misses_total)))" \
    "$(($(hs outbound full) + $(hs outbound resumed)))"
eq "d: commit histogram count = queue commits" "$(metric tern_queue_commit_seconds_count)" \
    "$(metric tern_queue_commits_total)"
eq "d: batch histogram sum = messages received" "$(metric tern_queue_commit_batch_size_sum)" "$N"
eq "d: committed messages = $N" "$(metric tern_queue_committed_messages_total)" "$N"

# ---------------------------------------------------------------- e) many descriptors
if (($(ulimit -n) >= 2048)); then
    spawn many "$PY" -c 'import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(1100)]
open(sys.argv[2], "w").write("open\n")
time.sleep(60)' "$(ternd_port t)" "$WORK/many.ready"
    check "e: 1100 connections open" wait_until 20 test -s "$WORK/many.ready"
    C1=$(metric tern_inbound_connections_total)
    many_counted() { scrape /metrics && (($(metric tern_inbound_connections_total) >= C1 + 1100)); }
    check "e: /metrics answers with 1100 more sessions open and counts them" wait_until 10 many_counted
    stop_proc many
else
    say "e: skipped: open files limited to $(ulimit -n)"
fi
check "d: ternd stops cleanly (metrics thread included)" stop_ternd t
it_done
