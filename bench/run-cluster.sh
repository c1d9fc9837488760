#!/usr/bin/env bash
# NAME
#	bench/run-cluster.sh - one tern node against three behind HAProxy sharing Redis
# SYNOPSIS
#	bench/run cluster                       # the same as bench/run-cluster.sh
#	BENCH_MESSAGES=2000 bench/run cluster   # quick run
# DESCRIPTION
#	Issue 15's benchmark. Both setups relay the same load with TLS on both
#	legs, on this machine (2 cores: the three nodes, HAProxy, Redis, the
#	source and the sink all share them, so this measures what the cluster
#	costs, not what three machines would give):
#
#	  tern-bench source --starttls --connections BENCH_CONNECTIONS
#	    --per-conn BENCH_PER_CONN (new connections, each offering the
#	    ticket of the one before)
#	  --> "one":     one ternd, LMDB session caches
#	      "cluster": HAProxy (round-robin, send-proxy-v2) over three
#	                 ternd, TLS caches redis:, destination_lease_database
#	                 redis:, one Redis
#	  --> tern-bench sink --starttls --session-cache (the one destination)
#
#	Reported per setup: messages/s end to end (first submission to the
#	sink's last receipt), inbound full handshakes per 1000 messages (the
#	nodes' /metrics), outbound full handshakes per 1000 (the sink's
#	count), the sink's peak connection count (the limit is
#	default_destination_concurrency_limit = BENCH_LIMIT, per node for
#	"one", across the nodes for "cluster"). A Markdown table goes to
#	stdout and to BENCH_RESULTS/cluster-DATE.md.
#
#	Environment: BENCH_MESSAGES (5000), BENCH_CONNECTIONS (20),
#	BENCH_PER_CONN (10), BENCH_SIZE (4096), BENCH_LIMIT (10),
#	BENCH_TIMEOUT (300 s per setup), BENCH_RESULTS (bench/results),
#	TERN_BUILD (./build), BENCH_KEEP=1 keeps the work directory.
set -u -o pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
TB=${TERN_BUILD:-./build}
TERN_BUILD=$(cd "$TB" 2>/dev/null && pwd) || { echo "bench: no build directory $TB" >&2; exit 1; }
export TERN_BUILD TERN_SOURCE=$SRC TMPDIR=${BENCH_DIR:-/var/tmp}
M=${BENCH_MESSAGES:-5000} C=${BENCH_CONNECTIONS:-20} K=${BENCH_PER_CONN:-10}
L=${BENCH_SIZE:-4096} LIMIT=${BENCH_LIMIT:-10} TIMEOUT=${BENCH_TIMEOUT:-300}
RESULTS=${BENCH_RESULTS:-$SRC/bench/results}
TERN_BENCH=$TERN_BUILD/bench/tern-bench
# shellcheck source=tests/integration/lib.sh
. "$SRC/tests/integration/lib.sh"
it_init bench-cluster
[[ ${BENCH_KEEP:-0} == 1 ]] && export TERN_KEEP=1
for p in haproxy redis-server "$TERN_BENCH"; do command -v "$p" >/dev/null || die "no $p"; done
make_pki "$WORK/pki" || die "cannot make the PKI"
read -r P_SINK P_FE P_REDIS < <(pick_ports 3)
printf 'hosts = 127.0.0.1:%s\nprefix = bench:\n' "$P_REDIS" >"$WORK/redis.cf"

# node NAME SETUP - a relay node; its metrics port in $WORK/NAME.metrics
node() {
    local n=$1 setup=$2 pm caches
    pm=$(pick_ports 1)
    echo "$pm" >"$WORK/$n.metrics"
    if [[ $setup == cluster ]]; then
        caches="smtpd_upstream_proxy_protocol = haproxy
smtpd_tls_session_cache_database = redis:$WORK/redis.cf
smtp_tls_session_cache_database = redis:$WORK/redis.cf
destination_lease_database = redis:$WORK/redis.cf"
    else
        caches="smtpd_tls_session_cache_database = lmdb:$WORK/$n/smtpd_scache
smtp_tls_session_cache_database = lmdb:$WORK/$n/smtp_scache"
    fi
    write_main_cf "$n" <<EOF
relayhost = [127.0.0.1]:$P_SINK
default_destination_concurrency_limit = $LIMIT
smtpd_tls_security_level = may
smtpd_tls_cert_file = $WORK/pki/server.pem
smtpd_tls_key_file = $WORK/pki/server.key
smtp_tls_security_level = encrypt
smtp_tls_CAfile = $WORK/pki/ca.pem
metrics_listen = 127.0.0.1:$pm
message_size_limit = 0
$caches
EOF
    start_ternd "$n"
}

# inbound_full NODE... - inbound full handshakes summed over the nodes
inbound_full() {
    local n sum=0 v
    for n in "$@"; do
        v=$("$PY" "$IT_DIR/cluster_it.py" metric "http://127.0.0.1:$(cat "$WORK/$n.metrics")/metrics" \
            tern_tls_handshakes_total 'direction="inbound",result="full"')
        sum=$((sum + v))
    done
    echo "$sum"
}
counter() { bench_counter "$WORK/sink.counts" "$1"; }

# run SETUP NODE... - one setup end to end; a table row on stdout
run() {
    local setup=$1 server
    shift
    start_redis "$P_REDIS" || die "redis-server"
    spawn sink "$TERN_BENCH" sink --listen "127.0.0.1:$P_SINK" --starttls --cert "$WORK/pki/server.pem" \
        --key "$WORK/pki/server.key" --session-cache --count-file "$WORK/sink.counts" --quiet
    wait_listen sink 127.0.0.1 "$P_SINK" || die "tern-bench sink"
    for n in "$@"; do node "$n" "$setup" || die "ternd $n"; done
    server=127.0.0.1:$(ternd_port "$1")
    if [[ $setup == cluster ]]; then
        start_haproxy "$P_FE" "$@" </dev/null || die "haproxy"
        server=127.0.0.1:$P_FE
    fi
    local t0 t1
    t0=$(date +%s.%N)
    "$TERN_BENCH" source --server "$server" --starttls --cafile "$WORK/pki/ca.pem" --connections "$C" \
        --messages "$M" --per-conn "$K" --size "$L" --quiet >"$WORK/source-$setup.out" 2>&1 ||
        say "$setup: the source said: $(tail -n 2 "$WORK/source-$setup.out")"
    wait_until "$TIMEOUT" eval '(($(counter messages) >= M))' || say "$setup: the sink has $(counter messages) of $M"
    t1=$(date +%s.%N)
    local got full
    got=$(counter messages)
    full=$(inbound_full "$@")
    awk -v s="$setup" -v n="$#" -v m="$got" -v a="$t0" -v b="$t1" -v fi="$full" \
        -v fo="$(counter tls_full)" -v pk="$(counter peak_connections)" 'BEGIN {
        t = b - a
        printf "| %s | %d | %d | %.0f | %.2f | %.2f | %d |\n", s, n, m, m / t, 1000 * fi / m,
               1000 * fo / m, pk }'
    stop_proc haproxy TERM
    for n in "$@"; do stop_ternd "$n"; done
    stop_proc sink TERM
    stop_proc redis TERM
}

mkdir -p "$RESULTS"
out=$RESULTS/cluster-$(date -u +%Y%m%dT%H%M%SZ).md
{
    echo "$M messages of $L octets, $C connections of $K messages each, STARTTLS both legs," \
        "default_destination_concurrency_limit = $LIMIT; $(nproc) cores, $(date -u +%F)"
    echo
    echo "| setup | nodes | messages | msg/s end to end | inbound full handshakes / 1000 | outbound full handshakes / 1000 | sink peak connections |"
    echo "|---|---|---|---|---|---|---|"
    run one a1
    run cluster c1 c2 c3
} | tee "$out"
say "written to $out"
it_done
