#!/usr/bin/env bash
# NAME
#	test_drain.sh - SIGTERM while the queue hands out retries: nothing lost, nothing leaked
# DESCRIPTION
#	300 messages wait for a next hop that refuses connections, with a 1 s
#	backoff, so the queue thread hands deliveries to the workers all the
#	time. ternd is stopped with SIGTERM (the drain) DRAINS times (default
#	6), each time restarted on the same queue. Each stop must end with
#	"stopped" in the maillog within 10 s and (in the ASan build) without a leak report: a delivery the
#	queue handed to a worker that had already stopped was never returned
#	nor freed (LeakSanitizer: make_delivery, seen in CI in test_policy).
#	At the end the next hop comes up and every message arrives.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init drain

QPY=$IT_DIR/queue_it.py
DRAINS=${DRAINS:-6}
N=300
read -r P_HOP < <(pick_ports 1)

write_main_cf t <<EOF
relayhost = [127.0.0.1]:$P_HOP
minimal_backoff_time = 1s
maximal_backoff_time = 1s
smtp_connect_timeout = 2s
EOF
start_ternd t || die "ternd did not start"
PORT=$(ternd_port t)
check "$N messages accepted while the next hop is down" \
    "$PY" "$QPY" submit 127.0.0.1 "$PORT" "$N" drain "$WORK/acked"
check "deliveries are being retried" wait_until 30 maillog_has t 'status=deferred'

for ((k = 1; k <= DRAINS; k++)); do
    sleep "1.$((RANDOM % 10))"
    stopped_before=$(maillog_count t 'tern/master\[[0-9]+\]: stopped')
    check "drain $k: ternd exits on SIGTERM within 10 s" stop_ternd t
    check "drain $k: the maillog says stopped" \
        test "$(maillog_count t 'tern/master\[[0-9]+\]: stopped')" -gt "$stopped_before"
    check "drain $k: no sanitizer report" bash -c "! grep -aqE '==ERROR: |runtime error: ' '$WORK/t.out'"
    if ((k < DRAINS)); then
        start_ternd t || die "ternd did not restart after drain $k"
    fi
done

start_sink hop "127.0.0.1:$P_HOP" || die "smtp-sink"
start_ternd t || die "ternd did not start at the end"
# all_arrived - every acknowledged message reached the next hop, intact
all_arrived() {
    "$PY" "$QPY" deliveries "$WORK/acked" "$(sink_dir hop)" >"$WORK/deliveries"
    grep -q "^$N delivered, $N intact, 0 damaged" "$WORK/deliveries"
}
check "every message arrives intact once the next hop is up" wait_until 120 all_arrived
say "$(cat "$WORK/deliveries")"

stop_ternd t
stop_sink hop
it_done
