#!/usr/bin/env bash
# NAME
#	test_redis.sh - issue 15, check 2: three nodes behind HAProxy share TLS
#	sessions and ticket keys through Redis
# DESCRIPTION
#	Debian's redis-server on a loopback port (no disk), three ternd nodes
#	with smtpd_tls_session_cache_database = redis:FILE (each its own near
#	cache) and smtpd_tls_session_cache_timeout = 8s, so that ticket keys
#	rotate every 8 s; HAProxy round-robin in front with send-proxy-v2.
#	A python3 client submits 300 messages, each over a new connection with
#	STARTTLS offering the ticket of the one before, spread over 30 s:
#	  - every submission gets 250, the client sees the first handshake
#	    full and every other one resumed;
#	  - the nodes' /metrics count exactly 1 full inbound handshake in the
#	    cluster and 299 resumed, on all three nodes;
#	  - the ticket keys rotated during the run, each next key made by one
#	    node (the election's winner) and held by all three.
#	Check 4: a second run of 300 over 45 s; Redis is killed 10 s in and
#	started again, empty, 15 s later: every submission still gets 250 and
#	is delivered, full handshakes rise while it is away (a key rotation
#	falls in the gap, and each node makes its own) and are back to none in
#	the last 10 s, when the nodes have exchanged their keys again.
#	Outbound, the nodes share the client session cache too (the destination
#	is a tern-bench sink with STARTTLS that counts handshakes): at most one
#	full handshake per node, made at the start. Then a fourth node started
#	after the runs loads what Redis holds: its near cache has the cluster's
#	ticket keys, and its first delivery resumes a session another node made.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init redis
command -v redis-server >/dev/null || skip "redis-server not installed"
command -v haproxy >/dev/null || skip "haproxy not installed"

BENCH=${TERN_BENCH:-$TERN_BUILD/bench/tern-bench}
[[ -x $BENCH ]] || die "no tern-bench at $BENCH"
read -r P_SINK P_FE P_REDIS < <(pick_ports 3)
make_pki "$WORK/pki"
# the destination: STARTTLS with its own session cache; it counts full and resumed handshakes
spawn sink "$BENCH" sink --listen "127.0.0.1:$P_SINK" --starttls --cert "$WORK/pki/server.pem" \
    --key "$WORK/pki/server.key" --session-cache --count-file "$WORK/sink.counts" --quiet
wait_listen sink 127.0.0.1 "$P_SINK" || die "tern-bench sink did not listen"
counter() { bench_counter "$WORK/sink.counts" "$1"; }
sink_has() { (($(counter messages) >= $2)); }
start_redis "$P_REDIS" || die "redis-server did not listen"

# node NAME [direct] - a node that shares its TLS state through Redis, behind HAProxy unless
#	"direct"
node() {
    local n=$1 pm proxy="smtpd_upstream_proxy_protocol = haproxy"
    [[ ${2:-} == direct ]] && proxy=
    pm=$(pick_ports 1)
    echo "$pm" >"$WORK/$n.metrics"
    cat >"$WORK/$n.redis.cf" <<EOF
hosts = 127.0.0.1:$P_REDIS
prefix = it:
timeout = 500ms
cache_file = $WORK/$n/near
EOF
    write_main_cf "$n" <<EOF
relayhost = [127.0.0.1]:$P_SINK
$proxy
smtpd_tls_security_level = may
smtpd_tls_cert_file = $WORK/pki/server.pem
smtpd_tls_key_file = $WORK/pki/server.key
smtpd_tls_session_cache_database = redis:$WORK/$n.redis.cf
smtpd_tls_session_cache_timeout = 8s
smtp_tls_security_level = encrypt
smtp_tls_CAfile = $WORK/pki/ca.pem
smtp_tls_session_cache_database = redis:$WORK/$n.redis.cf
metrics_listen = 127.0.0.1:$pm
EOF
    start_ternd "$n"
}
for n in n1 n2 n3; do node "$n" || die "ternd $n did not start"; done

start_haproxy "$P_FE" n1 n2 n3 </dev/null || die "haproxy did not start"
check "every node connected to Redis" \
    wait_until 10 eval 'maillog_has n1 "redis .*: connected" && maillog_has n2 "redis .*: connected" && maillog_has n3 "redis .*: connected"'

cpy() { run_checks "$PY" "$IT_DIR/cluster_it.py" "$@"; }
metric() { "$PY" "$IT_DIR/cluster_it.py" metric "http://127.0.0.1:$(cat "$WORK/$1.metrics")/metrics" \
    tern_tls_handshakes_total "direction=\"inbound\",result=\"$2\""; }
# sum_metric RESULT - inbound handshakes with RESULT over the three nodes
sum_metric() { echo $(($(metric n1 "$1") + $(metric n2 "$1") + $(metric n3 "$1"))); }
# redis_metric NODE NAME - NAME{use="smtpd_tls_session_cache"} on NODE's /metrics
redis_metric() { "$PY" "$IT_DIR/cluster_it.py" metric "http://127.0.0.1:$(cat "$WORK/$1.metrics")/metrics" \
    "tern_$2" 'use="smtpd_tls_session_cache"'; }

cpy resume 127.0.0.1 "$P_FE" "$WORK/pki/ca.pem" 300 30 "$WORK/resume.out"
check "the sink has the 300 messages" wait_until 60 sink_has out 300
full=$(sum_metric full) resumed=$(sum_metric resumed)
say "inbound handshakes: full $full, resumed $resumed (n1 $(metric n1 resumed), n2 $(metric n2 resumed), n3 $(metric n3 resumed) resumed)"
check "exactly 1 full inbound handshake in the cluster (/metrics)" test "$full" = 1
check "299 resumed inbound handshakes in the cluster (/metrics)" test "$resumed" = 299
for n in n1 n2 n3; do
    check "$n resumed sessions made elsewhere (>= 90 of its ~100)" test "$(metric "$n" resumed)" -ge 90
    check "$n: /metrics says its link to Redis is up" test "$(redis_metric "$n" redis_up)" = 1
    check "$n: /metrics counts entries it sent to Redis and took from it" \
        test "$(redis_metric "$n" redis_entries_sent_total)" -gt 0 -a \
        "$(redis_metric "$n" redis_entries_received_total)" -gt 0
done

# ticket keys: each live one (expired ones go at each cache's own pace) as every node's near
# cache holds it; keys keep rotating, so the three lists are read until they agree (bounded)
keys_of() { ternctl "$1" tls-cache list | awk '$1 == "ticket-keys" && $4 != "(expired)" { print $2 }' | sort; }
keys_agree() {
    local n
    for n in n1 n2 n3; do keys_of "$n" >"$WORK/$n.keys"; done
    [[ -s $WORK/n1.keys ]] && cmp -s "$WORK/n1.keys" "$WORK/n2.keys" && cmp -s "$WORK/n1.keys" "$WORK/n3.keys"
}
check "the ticket keys rotated during the run (>= 3 keys made)" \
    test "$(cat "$WORK"/n[123]/maillog | grep -c "made the cluster's next ticket key")" -ge 3
check "n1, n2 and n3 hold the same live ticket keys" wait_until 20 keys_agree
say "live ticket keys on n1: $(tr '\n' ' ' <"$WORK/n1.keys")"
# starts - the start time of every key some node made for the cluster, one line each
starts() { cat "$WORK"/n[123]/maillog | sed -n "s/.*made the cluster's next ticket key, encrypting from //p"; }
check "each next key was made by one node only (no start time twice)" \
    test "$(starts | sort | uniq -d | wc -l)" = 0

# check 4: Redis stops in the middle of a load run and comes back empty 15 s later
full_before=$(sum_metric full)
spawn outage "$PY" "$IT_DIR/cluster_it.py" resume 127.0.0.1 "$P_FE" "$WORK/pki/ca.pem" 300 45 \
    "$WORK/outage.res"
sleep 10
t_kill=$(date +%s)
stop_proc redis KILL
check "with Redis away, /metrics says the link is down" wait_until 5 eval '[[ $(redis_metric n1 redis_up) == 0 ]]'
sleep $((t_kill + 15 - $(date +%s)))
t_back=$(date +%s)
start_redis "$P_REDIS" || die "redis-server did not come back"
check "the load run ends (bounded)" wait_until 70 test -s "$WORK/outage.res"
stop_proc outage TERM
say "$(grep submissions "$WORK/outage.out")"
# full_in FROM TO - full handshakes of the submissions that began from FROM to before TO (epoch s)
full_in() { awk -v a="$1" -v b="$2" '$4 >= a && $4 < b && $2 == "full"' "$WORK/outage.res" | wc -l; }
t0=$(awk 'NR == 2 { print $4 }' "$WORK/outage.res") # after the first, full by design
check "during the outage every submission still got 250" \
    test "$(awk '$3 != 250' "$WORK/outage.res" | wc -l)" = 0 -a "$(wc -l <"$WORK/outage.res")" = 300
check "the sink has all 600 messages" wait_until 60 sink_has out 600
say "outage run: full handshakes before/while away/5 s after/later: $(full_in "$t0" "$t_kill")" \
    "$(full_in "$t_kill" "$t_back") $(full_in "$t_back" $((t_back + 5))) $(full_in $((t_back + 5)) 9999999999)"
check "before Redis went away, every handshake resumed" test "$(full_in "$t0" "$t_kill")" = 0
check "with Redis away, full handshakes rose (tickets of a node's own key fail elsewhere)" \
    test "$(full_in "$t_kill" $((t_back + 5)))" -ge 3
check "once Redis was back, they fell back to none from 10 s after" \
    test "$(full_in $((t_back + 10)) 9999999999)" = 0
check "/metrics counted the same full handshakes as the client" \
    test "$(($(sum_metric full) - full_before))" = "$(full_in 0 9999999999)"
check "and up again once it was back" test "$(redis_metric n1 redis_up)" = 1
check "the nodes said Redis was away, and loaded again when it was back" \
    eval 'maillog_has n1 "redis .*: .*TLS state stays on this node" && [[ $(maillog_count n1 "redis .*: connected") -ge 2 ]]'

# outbound: the nodes resume one another's sessions with the destination
say "the sink's handshakes so far: $(counter tls_full) full, $(counter tls_resumed) resumed"
check "outbound, the three nodes made at most 3 full handshakes (one each at the start)" \
    test "$(counter tls_full)" -le 3

# a node that joins later loads what Redis holds
out_full=$(counter tls_full)
node n4 direct || die "ternd n4 did not start"
check "n4 loaded the cluster's entries from Redis" \
    wait_until 10 maillog_has n4 'redis .*: connected; [1-9][0-9]* entries of other nodes loaded'
keys_of n1 >"$WORK/n1.keys"
keys_of n4 >"$WORK/n4.keys"
check "n4's near cache has the current ticket keys" \
    test -n "$(comm -12 "$WORK/n1.keys" "$WORK/n4.keys")"
check "n4 relays a message" submit_msg "$(ternd_port n4)" n4-first alice@snd.test n4@far.test
check "n4's first delivery reached the sink" wait_until 30 sink_has out 601
check "... over a session another node made: no new full handshake at the sink" \
    test "$(counter tls_full)" = "$out_full"

stop_proc haproxy TERM
for n in n1 n2 n3 n4; do check "$n drains and exits on SIGTERM" stop_ternd "$n"; done
stop_proc sink TERM
stop_proc redis TERM
it_done
