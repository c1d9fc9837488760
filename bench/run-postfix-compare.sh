#!/usr/bin/env bash
# NAME
#	bench/run-postfix-compare.sh - tern vs Postfix 3.7 as a relay, side by side
# SYNOPSIS
#	bash bench/run-postfix-compare.sh                  # 20000 x 4 KiB, 50 sessions
#	BENCH_MESSAGES=500 bash bench/run-postfix-compare.sh   # smoke run
# DESCRIPTION
#	For each relay (tern, then Postfix from Debian), on loopback:
#
#	  smtp-sink -M $M 127.0.0.1:SINK 1024          the next hop, exits after M messages
#	  relay on 127.0.0.1:RELAY, relayhost = [127.0.0.1]:SINK
#	  smtp-source -s 50 -m $M -l 4096 -f bench@bench.test -t sink@sink.test 127.0.0.1:RELAY
#
#	and reports: submit time (smtp-source start to exit: every message got
#	its 250), end-to-end time (smtp-source start until the sink has received
#	all M messages and exited), messages/second end to end, and the relay's
#	CPU seconds during that interval.
#
#	CPU accounting (from /proc/PID/stat, clock ticks / CLK_TCK):
#	  tern:    utime + stime of the ternd process (all its threads).
#	  Postfix: for the instance's master process utime + stime + cutime +
#	           cstime (cutime/cstime hold every child it has reaped: smtpd,
#	           cleanup, smtp... processes that exited), plus utime + stime +
#	           cutime + cstime of each live child of the master. Sampled
#	           right before smtp-source starts and right after the sink has
#	           everything; the difference is reported.
#	smtp-source and smtp-sink are not counted for either.
#
#	The Postfix instance: own config directory (bench/postfix/*.cf.in filled
#	in), own queue and data directories, maillog_file, no chroot, started with
#	`postfix -c DIR start`. When /etc/postfix/main.cf exists, DIR is added to
#	its alternate_config_directories for the run and the old value restored.
#	Both queues live under one work directory on the same filesystem
#	(default /var/tmp: not a tmpfs, so fsync costs what it costs).
#
#	Both relays keep every message on stable storage before the 250: tern
#	with group commit, Postfix with one fsync per queue file.
#
#	Environment: BENCH_MESSAGES (20000), BENCH_SESSIONS (50), BENCH_SIZE
#	(4096), BENCH_RELAYS ("tern postfix"), BENCH_DIR (/var/tmp), BENCH_TIMEOUT
#	(seconds per relay, 900), BENCH_KEEP=1 keeps the work directory,
#	TERN_BUILD (./build). Must run as root (Postfix instance, sink -u).
# DIAGNOSTICS
#	A relay that does not deliver everything within BENCH_TIMEOUT is reported
#	as incomplete (msg/s 0); see its maillog in the kept work directory
#	(BENCH_KEEP=1).
set -u -o pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
TERN_BUILD=${TERN_BUILD:-$SRC/build}
M=${BENCH_MESSAGES:-20000}
S=${BENCH_SESSIONS:-50}
L=${BENCH_SIZE:-4096}
RELAYS=${BENCH_RELAYS:-tern postfix}
TIMEOUT=${BENCH_TIMEOUT:-900}
BASE=${BENCH_DIR:-/var/tmp}
TICKS=$(getconf CLK_TCK)

[[ $(id -u) == 0 ]] || { echo "run-postfix-compare: run as root" >&2; exit 1; }
for t in /usr/sbin/smtp-sink /usr/sbin/smtp-source /usr/sbin/postfix; do
    [[ -x $t ]] || { echo "run-postfix-compare: $t missing (apt-get install postfix)" >&2; exit 1; }
done

W=$(mktemp -d "$BASE/tern-bench.XXXXXX") || exit 1
chmod 755 "$W"
SINK_PID=
TERND_PID=
PF_DIR=
ALT_SAVED=
ALT_CHANGED=0

# cleanup - stop whatever still runs (by pid / by instance), restore Postfix's default main.cf
cleanup() {
    [[ -n $SINK_PID ]] && kill "$SINK_PID" 2>/dev/null
    if [[ -n $TERND_PID ]]; then
        kill "$TERND_PID" 2>/dev/null
        sleep 1
        kill -KILL "$TERND_PID" 2>/dev/null
    fi
    [[ -n $PF_DIR ]] && postfix -c "$PF_DIR/etc" stop >/dev/null 2>&1
    if ((ALT_CHANGED)); then
        postconf -e "alternate_config_directories = $ALT_SAVED"
    fi
    wait 2>/dev/null
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "work directory kept: $W"
    else
        rm -rf "$W"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

say() { echo "bench: $*" >&2; }

# now - seconds since the epoch, with nanoseconds
now() { date +%s.%N; }

# free_ports - N free TCP ports on 127.0.0.1
free_ports() {
    python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"
}

# wait_port - until 127.0.0.1:PORT accepts, at most SECS
wait_port() {
    local deadline=$((SECONDS + ${2:-20}))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

# stat_ticks, postfix_ticks
. "$SRC/bench/bench_cpu.sh"

# start_sink PORT - smtp-sink that exits after $M messages
start_sink() {
    /usr/sbin/smtp-sink -u root -M "$M" "127.0.0.1:$1" 1024 >"$W/sink-$2.out" 2>&1 &
    SINK_PID=$!
    wait_port "$1" 10
}

# start_tern RELAY_PORT SINK_PORT - ternd with relayhost = the sink
start_tern() {
    local d=$W/tern owner=root
    [[ -x $TERN_BUILD/core/ternd ]] || { say "no $TERN_BUILD/core/ternd: build first"; return 1; }
    getent passwd tern >/dev/null && owner=tern
    mkdir -p "$d/etc" "$d/queue"
    chmod 700 "$d/queue"
    cat >"$d/etc/main.cf" <<EOF
queue_directory = $d/queue
maillog_file = $d/maillog
mail_owner = $owner
myhostname = tern-bench.test
smtpd_listen = 127.0.0.1:$1
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$2
default_destination_concurrency_limit = 20
minimal_backoff_time = 1s
maximal_backoff_time = 2s
EOF
    "$TERN_BUILD/core/ternd" -c "$d/etc" >"$d/ternd.out" 2>&1 &
    TERND_PID=$!
    wait_port "$1" 20 || { say "ternd did not start:"; tail "$d/ternd.out" "$d/maillog" >&2; return 1; }
    RELAY_PID=$TERND_PID
}

# start_postfix RELAY_PORT SINK_PORT - a Postfix 3.7 relay instance of our own
start_postfix() {
    local d=$W/postfix
    mkdir -p "$d/etc" "$d/queue" "$d/data"
    chown postfix: "$d/data"
    sed -e "s|@CONFIG_DIR@|$d/etc|g; s|@QUEUE_DIR@|$d/queue|g; s|@DATA_DIR@|$d/data|g" \
        -e "s|@DIR@|$d|g; s|@SINK_PORT@|$2|g" "$SRC/bench/postfix/main.cf.in" >"$d/etc/main.cf"
    sed -e "s|@LISTEN@|127.0.0.1:$1|g" "$SRC/bench/postfix/master.cf.in" >"$d/etc/master.cf"
    if [[ -f /etc/postfix/main.cf ]]; then
        ALT_SAVED=$(postconf -h alternate_config_directories 2>/dev/null)
        postconf -e "alternate_config_directories = ${ALT_SAVED:+$ALT_SAVED, }$d/etc"
        ALT_CHANGED=1
    fi
    PF_DIR=$d
    postfix -c "$d/etc" check || { say "postfix check failed"; return 1; }
    postfix -c "$d/etc" start >/dev/null 2>&1 ||
        { say "postfix start failed:"; tail "$d/maillog" >&2; return 1; }
    wait_port "$1" 20 || { say "postfix does not listen:"; tail "$d/maillog" >&2; return 1; }
    RELAY_PID=$(tr -d ' \n' <"$d/queue/pid/master.pid")
}

# relay_ticks NAME - CPU ticks of the relay so far
relay_ticks() {
    if [[ $1 == tern ]]; then stat_ticks "$RELAY_PID"; else postfix_ticks "$RELAY_PID"; fi
}

# stop_relay NAME
stop_relay() {
    if [[ $1 == tern ]]; then
        kill "$TERND_PID" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$TERND_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$TERND_PID" 2>/dev/null
        wait "$TERND_PID" 2>/dev/null
        TERND_PID=
    else
        postfix -c "$PF_DIR/etc" stop >/dev/null 2>&1
        sleep 1
        PF_DIR=
        if ((ALT_CHANGED)); then
            postconf -e "alternate_config_directories = $ALT_SAVED"
            ALT_CHANGED=0
        fi
    fi
}

# run_one NAME - one measurement; appends a result line to $W/results
run_one() {
    local name=$1 sink_port relay_port t0 t1 t2 c0 c1 status=complete extra=
    read -r sink_port relay_port < <(free_ports 2)
    start_sink "$sink_port" "$name" || { say "smtp-sink did not start"; return 1; }
    "start_$name" "$relay_port" "$sink_port" || return 1
    sleep 1
    SOURCE_CMD="smtp-source -s $S -m $M -l $L -f bench@bench.test -t sink@sink.test 127.0.0.1:$relay_port"
    say "$name: $SOURCE_CMD"
    c0=$(relay_ticks "$name")
    t0=$(now)
    /usr/sbin/smtp-source -s "$S" -m "$M" -l "$L" -f bench@bench.test -t sink@sink.test \
        "127.0.0.1:$relay_port" >"$W/source-$name.out" 2>&1 || say "$name: smtp-source reported errors: $(tail -n 3 "$W/source-$name.out")"
    t1=$(now)
    local deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$SINK_PID" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            status=incomplete
            break
        fi
        sleep 0.02
    done
    t2=$(now)
    c1=$(relay_ticks "$name")
    kill "$SINK_PID" 2>/dev/null
    wait "$SINK_PID" 2>/dev/null
    SINK_PID=
    if [[ $name == tern ]]; then
        extra=$("$TERN_BUILD/core/ternctl" -c "$W/tern/etc" stats 2>/dev/null |
            awk '/^queue_flushes_per_message/ { printf "flushes/msg=%s", $2 }')
    else
        extra="fsync per queue file (Postfix)"
    fi
    stop_relay "$name"
    awk -v n="$name" -v m="$M" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v c0="$c0" -v c1="$c1" \
        -v hz="$TICKS" -v st="$status" -v ex="$extra" 'BEGIN {
            e2e = t2 - t0; cpu = (c1 - c0) / hz
            printf "%-8s %9d %10.2f %10.2f %10.1f %10.2f %10.3f  %s %s\n", n, m, t1 - t0, e2e,
                (st == "complete" ? m / e2e : 0), cpu, cpu * 1000 / m, st, ex }' >>"$W/results"
    echo "$name: $SOURCE_CMD" >>"$W/commands"
}

say "work directory $W ($(df -T "$W" | awk 'NR == 2 { print $2 }') filesystem), $M messages of $L octets over $S sessions"
for r in $RELAYS; do
    run_one "$r" || say "$r: run failed"
done

echo
echo "tern vs Postfix: $M messages x $L octets, $S parallel sessions, $(nproc) CPUs, $(uname -r)"
printf "%-8s %9s %10s %10s %10s %10s %10s  %s\n" relay messages submit_s e2e_s msg/s cpu_s cpu_ms/msg notes
cat "$W/results" 2>/dev/null
echo
echo "command lines:"
echo "  sink:   smtp-sink -u root -M $M 127.0.0.1:SINK_PORT 1024"
sed 's/^/  /' "$W/commands" 2>/dev/null
echo "  relay:  tern: ternd -c DIR (relayhost = [127.0.0.1]:SINK_PORT); postfix: postfix -c DIR start (bench/postfix/*.cf.in)"
echo "  cpu:    tern = ternd utime+stime; postfix = master utime+stime+cutime+cstime + live children's (see header)"
