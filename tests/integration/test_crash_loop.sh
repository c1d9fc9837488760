#!/usr/bin/env bash
# NAME
#	test_crash_loop.sh - kill -9 at random moments under continuous load loses nothing
# DESCRIPTION
#	test_crash.sh kills ternd twice at chosen moments with the next hop
#	down. Here the next hop (smtp-sink) is up all along and ternd is
#	killed KILLS times (default 20; KILLS=100 by hand) at random moments
#	(0.2 to 1.5 s apart, seed CRASH_SEED) while four clients submit
#	continuously (queue_it.py load) and deliveries are in flight; after
#	each kill it is restarted on the same queue (never refused: a queue
#	left by kill -9 is not a damaged one). At the end every acknowledged
#	(250) message must have arrived; duplicates (acceptable after a
#	crash) are counted and printed, with the totals.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init crash_loop

QPY=$IT_DIR/queue_it.py
KILLS=${KILLS:-20}
RANDOM=${CRASH_SEED:-$$}
read -r P_SINK < <(pick_ports 1)

write_main_cf t <<EOF
relayhost = [127.0.0.1]:$P_SINK
smtp_connect_timeout = 2s
EOF
start_sink hub "127.0.0.1:$P_SINK" || die "smtp-sink"
start_ternd t || die "ternd did not start"
PORT=$(ternd_port t)
spawn load "$PY" "$QPY" load 127.0.0.1 "$PORT" 3600 "$WORK/acked"

# port_closed - nobody accepts on ternd's port any more
port_closed() { ! port_open 127.0.0.1 "$PORT"; }

restarts=0
for ((k = 1; k <= KILLS; k++)); do
    sleep "$((RANDOM % 14 / 10 + 0)).$((RANDOM % 10))"
    sleep 0.2
    kill9_ternd t
    # the kernel closes a dead process's io_uring (and the listeners it holds) a little later
    wait_until 10 port_closed
    if ! start_ternd t; then
        fail "kill $k: ternd did not restart"
        break
    fi
    restarts=$((restarts + 1))
done
check "ternd restarted after each of the $KILLS kills" test "$restarts" = "$KILLS"
sleep 1
stop_proc load TERM
nacked=$(wc -l <"$WORK/acked")
check "messages were acknowledged under the kills ($nacked)" test "$nacked" -gt "$KILLS"
check "no refused start-up (a killed queue is not a damaged one)" \
    bash -c "! grep -q 'not starting on it' '$WORK/t/maillog'"

all_arrived() { "$PY" "$TERN_IT_PY" acked-check "$WORK/acked" "$(sink_dir hub)" >/dev/null 2>&1; }
check "every acknowledged message arrived" wait_until 180 all_arrived
"$PY" "$TERN_IT_PY" acked-check "$WORK/acked" "$(sink_dir hub)" 2>&1 | head -n 2 |
    while IFS= read -r l; do say "$KILLS kills: $l"; done
empty_queue() { ternctl t queue 2>&1 | grep -qi 'queue is empty'; }
check "the queue drains to empty" wait_until 120 empty_queue
check "ternd exits on SIGTERM" stop_ternd t
it_done
