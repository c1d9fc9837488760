#!/usr/bin/env bash
# NAME
#	test_queue_damage.sh - a damaged queue file never crashes ternd nor loses mail silently
# DESCRIPTION
#	Each case queues 20 messages for a next hop that is down (deferred;
#	one in three has a 20 KiB body on LMDB overflow pages), stops ternd,
#	damages queue_directory/data.mdb, and starts again:
#	  truncated   truncate -s 12288: start-up refused with a message naming
#	              the file (no SIGBUS); `ternd recover` moves it aside and
#	              ternd starts on a new queue
#	  empty       a zero-length data.mdb in a directory that held a queue:
#	              refused ("the queue was lost"), never an empty queue in silence
#	  missing     data.mdb removed: refused the same way
#	  leaf        the header of every leaf page damaged: refused, then recover
#	              salvages what reads; every message is delivered intact or
#	              kept in the corrupt queue
#	  flips       50 random bit flips past the meta pages (FLIP_SEED): ternd
#	              starts (or is refused and recovered), never dies of a
#	              signal, never delivers a damaged body, and every message is
#	              delivered or kept in the corrupt queue
#	  body        8 octets of one body overwritten while ternd is stopped: that
#	              message goes to the corrupt queue at start (logged once with
#	              its queue ID, listed by `ternctl queue`), the 19 others arrive
#	  live        the same while ternd runs: `ternctl queue verify` finds it
#	A queue ID is never overwritten: the unit tests (queue_id, queue) check it.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init queue_damage

QPY=$IT_DIR/queue_it.py
N=20
read -r P_SINK < <(pick_ports 1)

# prepare NAME - queue N deferred messages in instance NAME, then stop it
prepare() {
    local name=$1
    write_main_cf "$name" <<EOF
relayhost = [127.0.0.1]:$P_SINK
smtp_connect_timeout = 1s
EOF
    start_ternd "$name" || die "$name: ternd did not start"
    "$PY" "$QPY" submit 127.0.0.1 "$(ternd_port "$name")" "$N" "$name" "$WORK/acked-$name" >/dev/null ||
        die "$name: not every message was acknowledged"
    stop_ternd "$name" || die "$name: ternd needed SIGKILL"
}

# data - the queue file of NAME
data() { echo "$WORK/$1/queue/data.mdb"; }

# start_fg NAME - run ternd in the foreground (it must refuse at once; bounded); prints its exit code
start_fg() {
    local rc=0
    timeout 30 "$TERND" -c "$WORK/$1/etc" >>"$WORK/$1.fg" 2>&1 || rc=$?
    echo "$rc"
}

# refused NAME ERE - start-up stops with exit 1 (no signal, no timeout) and a maillog line matching ERE
refused() {
    local name=$1 ere=$2 rc
    rc=$(start_fg "$name")
    say "$name: ternd exited with $rc"
    [[ $rc == 1 ]] && maillog_has "$name" "$ere"
}

# recover NAME - ternd -c ... recover, its report shown
recover() {
    "$TERND" -c "$WORK/$1/etc" recover >"$WORK/$1.recover" 2>&1 || return 1
    while IFS= read -r l; do say "  recover: $l"; done <"$WORK/$1.recover"
}

# refused_then_recover NAME - start-up refused without a crash, naming the file; recover; start
refused_then_recover() {
    local name=$1 rc
    rc=$(start_fg "$name")
    say "$name: ternd exited with $rc"
    check "$name: no crash at start-up (refused, exit 1)" test "$rc" = 1
    check "$name: the refusal names data.mdb" maillog_has "$name" 'data\.mdb: .*not starting on it'
    check "$name: recover" recover "$name"
    check "$name: ternd starts after recover" start_ternd "$name"
}

# corrupt_count NAME - entries in the corrupt queue
corrupt_count() { find "$WORK/$1/queue/corrupt" -name '*.env' 2>/dev/null | wc -l; }

# field TEXT WORD - the number before WORD in TEXT
field() { grep -oE "[0-9]+ $2" <<<"$1" | grep -oE '^[0-9]+'; }

# queue_empty NAME - does ternctl say the queue is empty?
queue_empty() { ternctl "$1" queue 2>&1 | grep -qi 'queue is empty'; }

for c in truncated empty missing leaf flips body live; do prepare "$c"; done
start_ternd live || die "live: ternd did not restart"

# ---- truncated
truncate -s 12288 "$(data truncated)"
check "truncated: start-up refused with a message naming data.mdb" \
    refused truncated 'data\.mdb: .*truncated; not starting on it'
check "truncated: ternd recover starts a new queue" recover truncated
check "truncated: the damaged file is kept" compgen -G "$WORK/truncated/queue/data.mdb.damaged-*"
check "truncated: ternd starts after recover" start_ternd truncated

# ---- empty and missing
: >"$(data empty)"
check "empty: start-up refused (the queue was lost)" \
    refused empty 'data\.mdb: empty, but this directory held a queue'
rm -f "$(data missing)"
check "missing: start-up refused (the queue was lost)" \
    refused missing 'data\.mdb: missing, but this directory held a queue'
check "empty: ternd recover" recover empty
check "empty: ternd starts after recover" start_ternd empty

# ---- leaf page headers
"$PY" "$QPY" leaf-headers "$(data leaf)" | while IFS= read -r l; do say "leaf: $l"; done
refused_then_recover leaf

# ---- 50 bit flips past the meta pages: ternd starts, or refuses (exit 1) and recover helps
"$PY" "$QPY" flip "$(data flips)" 50 "${FLIP_SEED:-10}" 8192
if start_ternd flips; then
    say "flips: ternd started on the damaged file"
else
    refused_then_recover flips
fi

# ---- body overwritten while stopped
"$PY" "$QPY" overwrite "$(data body)" "body-0004 line 00007 " | while IFS= read -r l; do say "body: $l"; done
check "body: ternd starts" start_ternd body
check "body: the damaged message is saved to the corrupt queue, logged with its queue ID" \
    maillog_has body "warning: [0-9A-F]{16}: saving corrupt queue record \(content missing or checksum mismatch\) to corrupt/[0-9A-F]{16}"
check "body: ternctl queue lists it" bash -c "'$TERNCTL' -c '$WORK/body/etc' queue | grep -q '1 corrupt message kept for the operator'"

# ---- body overwritten while ternd runs: verify finds it
"$PY" "$QPY" overwrite "$(data live)" "live-0007 line 00003 " | while IFS= read -r l; do say "live: $l"; done
verify_out=$(ternctl live queue verify 2>&1)
while IFS= read -r l; do say "  verify: $l"; done <<<"$verify_out"
check "live: ternctl queue verify reports the damaged record" grep -q 'content checksum mismatch' <<<"$verify_out"
check "live: and moves it to the corrupt queue" test "$(corrupt_count live)" = 1

# ---- the next hop comes up: what is delivered is intact, the rest is accounted for
start_sink hub "127.0.0.1:$P_SINK" || die "smtp-sink"
for c in truncated empty leaf flips body live; do ternctl "$c" flush >/dev/null 2>&1; done
for c in truncated empty leaf flips body live; do
    wait_until 90 queue_empty "$c" || say "$c: queue not empty: $(ternctl "$c" queue 2>&1 | tail -n 3)"
    sleep 1
    t=$("$PY" "$QPY" deliveries "$WORK/acked-$c" "$(sink_dir hub)")
    d=$(field "$t" "delivered") dmg=$(field "$t" "damaged") k=$(corrupt_count "$c")
    say "$c: $t; $k in the corrupt queue"
    check "$c: no damaged body delivered" test "$dmg" = 0
    check "$c: ternd is still running" alive "$c"
    case $c in
    body | live) check "$c: the 19 intact messages arrived" test "$d" = 19 ;;
    leaf | flips)
        check "$c: every message delivered or in the corrupt queue ($d+$k)" test $((d + k)) -ge "$N"
        ;;
    esac
done
check "body: verify after delivery: nothing damaged left" \
    bash -c "'$TERNCTL' -c '$WORK/body/etc' queue verify | grep -q ', 0 damaged'"
for c in truncated empty leaf flips body live; do
    check "$c: ternd exits on SIGTERM" stop_ternd "$c"
done
it_done
