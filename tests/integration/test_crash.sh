#!/usr/bin/env bash
# NAME
#	test_crash.sh - check 3: kill -9 loses no acknowledged message
# DESCRIPTION
#	The relayhost (an smtp-sink) is down. Round 1: N messages are submitted
#	over C concurrent connections (python3 threads, smtplib); the moment the
#	last reply arrives, ternd gets SIGKILL. Round 2: the same, but SIGKILL
#	comes after half of the messages are acknowledged, with the others in
#	flight. ternd is restarted after each kill with the same config, then
#	the sink comes up: every message that got "250 ... queued as" must
#	arrive (matched by its X-Test-Id header). Duplicates are allowed and
#	reported. TERN_CRASH_N and TERN_CRASH_CONC override N (200) and C (20).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init crash

N=${TERN_CRASH_N:-200}
CONC=${TERN_CRASH_CONC:-20}
read -r P_SINK < <(pick_ports 1)

write_main_cf t <<EOF
relayhost = [127.0.0.1]:$P_SINK
smtp_connect_timeout = 2s
EOF
start_ternd t || die "ternd did not start"
PORT=$(ternd_port t)

# crash_round NAME KILL_AFTER - submit, kill -9, restart
crash_round() {
    local round=$1 kill_after=${2:-} pid
    pid=${IT_PID[t]}
    local when="after the last reply"
    [[ -n $kill_after ]] && when="after $kill_after acks, the rest in flight"
    say "round $round: $N messages over $CONC connections, SIGKILL $when"
    "$PY" "$TERN_IT_PY" crash-submit 127.0.0.1 "$PORT" "$N" "$CONC" "$pid" \
        "$WORK/acked-$round" ${kill_after:+"$kill_after"} 2>&1 | while IFS= read -r l; do say "  $l"; done
    check "round $round: ternd was killed" bash -c "! kill -0 $pid 2>/dev/null"
    kill9_ternd t
    local nacked
    nacked=$(wc -l <"$WORK/acked-$round")
    check "round $round: some messages were acknowledged ($nacked)" test "$nacked" -gt 0
    check "round $round: ternd restarts on the same queue" start_ternd t
}

crash_round 1
crash_round 2 $((N / 2))
cat "$WORK/acked-1" "$WORK/acked-2" >"$WORK/acked-all"
total=$(wc -l <"$WORK/acked-all")

# what the restarted daemon says it holds (informational: the stats format is not fixed)
say "after restart: $(ternctl t stats 2>&1 | grep -E '^queue_size' || echo 'no queue_size in ternctl stats')"

start_sink hub "127.0.0.1:$P_SINK" || die "smtp-sink"
all_arrived() { "$PY" "$TERN_IT_PY" acked-check "$WORK/acked-all" "$(sink_dir hub)" >/dev/null 2>&1; }
check "every acknowledged message ($total) arrived after the restart" wait_until 120 all_arrived
py_out=$("$PY" "$TERN_IT_PY" acked-check "$WORK/acked-all" "$(sink_dir hub)" 2>&1)
while IFS= read -r l; do say "$l"; done <<<"$py_out"
for r in 1 2; do
    "$PY" "$TERN_IT_PY" acked-check "$WORK/acked-$r" "$(sink_dir hub)" 2>&1 |
        head -n 1 | while IFS= read -r l; do say "round $r: $l"; done
done

empty_queue() { ternctl t queue 2>&1 | grep -qi 'queue is empty'; }
check "queue is empty at the end" wait_until 60 empty_queue
check "ternd exits on SIGTERM" stop_ternd t
it_done
