#!/usr/bin/env bash
# NAME
#	test_ctl.sh - ternctl queue operations, ternd -n / check, SIGHUP reload
# DESCRIPTION
#	Long backoff (60 s), so that only `ternctl flush` makes a deferred
#	message go out within the test. The relayhost sink starts down:
#	  queue lists the deferred messages; show ID names the recipient;
#	  hold ID keeps one back through a flush; release ID + flush sends it;
#	  delete ID / delete ALL remove messages that then never arrive.
#	Then SIGHUP after pointing relayhost at a second sink: new mail goes
#	there. Finally `ternd -c DIR check` on broken configs fails naming the
#	parameter, and an unknown parameter only warns, naming the line.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init ctl

read -r P_HUB P_HUB2 < <(pick_ports 2)
write_main_cf t <<EOF
relayhost = [127.0.0.1]:$P_HUB
minimal_backoff_time = 60s
maximal_backoff_time = 120s
smtp_connect_timeout = 2s
EOF
start_ternd t || die "ternd did not start"
PORT=$(ternd_port t)

# send ID RCPT - submit; prints the queue ID
send() {
    local out
    "$PY" "$TERN_IT_PY" gen-message "$WORK/$1.eml" "$1" 0
    out=$("$PY" "$TERN_IT_PY" send 127.0.0.1 "$PORT" alice@snd.test "$2" "$WORK/$1.eml" 2>&1)
    [[ $out == "250 "*"queued as "* ]] || { say "$1: $out"; return 1; }
    echo "${out##*queued as }"
}

Q1=$(send ctl-1 r1@hub.test) || fail "submit ctl-1"
Q2=$(send ctl-2 r2@hub.test) || fail "submit ctl-2"
Q3=$(send ctl-3 r3@hub.test) || fail "submit ctl-3"
Q4=$(send ctl-4 r4@hub.test) || fail "submit ctl-4"
deferred4() { (($(maillog_count t 'status=deferred') >= 4)); }
check "all four deferred (sink down)" wait_until 20 deferred4
# quiescent: no delivery attempt in flight (a flush does not touch an active recipient)
quiet() {
    local n
    n=$(maillog_count t 'status=deferred')
    sleep 1.5
    [[ $n == $(maillog_count t 'status=deferred') ]]
}
wait_until 20 quiet

qout=$(ternctl t queue 2>&1)
for q in "$Q1" "$Q2" "$Q3" "$Q4"; do
    check "ternctl queue lists $q" grep -q "$q" <<<"$qout"
done
check "ternctl queue shows the recipient" grep -q 'r1@hub.test' <<<"$qout"
check "ternctl show $Q1 names its recipient" bash -c "'$TERNCTL' -c '$WORK/t/etc' show '$Q1' | grep -q 'r1@hub.test'"
check "ternctl show of an unknown ID fails" bash -c "! '$TERNCTL' -c '$WORK/t/etc' show NOSUCHID >/dev/null 2>&1"
check "ternctl hold $Q2" ternctl t hold "$Q2"
check "ternctl delete $Q3" ternctl t delete "$Q3"
check "$Q3 is gone from the queue" bash -c "! '$TERNCTL' -c '$WORK/t/etc' queue | grep -q '$Q3'"
check "maillog: $Q3 removed" wait_until 5 maillog_has t "$Q3: removed"

start_sink hub "127.0.0.1:$P_HUB" || die "smtp-sink"
check "ternctl flush" ternctl t flush

# A local client that connects to the control socket and says nothing (or never reads) must not
# stall the control thread: it is cut off after CONTROL_IO_TIMEOUT_S and ternctl answers again.
"$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
time.sleep(40)
' "$WORK/t/queue/control" &
IT_PID[mute]=$!
sleep 1
check "ternctl answers while a silent client holds the control socket" timeout 20 "$TERNCTL" -c "$WORK/t/etc" stats
kill "${IT_PID[mute]}" 2>/dev/null; unset "IT_PID[mute]"
check "after flush: ctl-1 arrives" wait_until 20 sink_match_has hub '^X-Test-Id: ctl-1$' 1
check "after flush: ctl-4 arrives" wait_until 20 sink_match_has hub '^X-Test-Id: ctl-4$' 1
sleep 2
check "held ctl-2 did not go out" test "$(sink_match_count hub '^X-Test-Id: ctl-2$')" -eq 0
check "deleted ctl-3 did not go out" test "$(sink_match_count hub '^X-Test-Id: ctl-3$')" -eq 0
check "ternctl queue still lists the held $Q2" bash -c "'$TERNCTL' -c '$WORK/t/etc' queue | grep -q '$Q2'"
check "ternctl release $Q2" ternctl t release "$Q2"
ternctl t flush >/dev/null 2>&1
check "released ctl-2 arrives" wait_until 20 sink_match_has hub '^X-Test-Id: ctl-2$' 1
check "ctl-3 never arrived" test "$(sink_match_count hub '^X-Test-Id: ctl-3$')" -eq 0

# delete ALL
stop_sink hub
send ctl-5 r5@hub.test >/dev/null || fail "submit ctl-5"
send ctl-6 r6@hub.test >/dev/null || fail "submit ctl-6"
check "ternctl delete ALL" ternctl t delete ALL
empty_queue() { ternctl t queue 2>&1 | grep -qi 'queue is empty'; }
check "queue is empty after delete ALL" wait_until 10 empty_queue
check "ternctl stats answers" bash -c "'$TERNCTL' -c '$WORK/t/etc' stats | grep -q ."

# SIGHUP: relayhost moves to a second sink
start_sink hub2 "127.0.0.1:$P_HUB2" || die "smtp-sink hub2"
sed -i "s/^relayhost = .*/relayhost = [127.0.0.1]:$P_HUB2/" "$WORK/t/etc/main.cf"
kill -HUP "${IT_PID[t]}"
sleep 1
check "ternd survives SIGHUP" alive t
send ctl-7 r7@hub.test >/dev/null || fail "submit ctl-7 after reload"
check "after SIGHUP, new mail goes to the new relayhost" wait_until 20 sink_match_has hub2 '^X-Test-Id: ctl-7$' 1
check "ternd -n shows the reloaded relayhost" bash -c "'$TERND' -c '$WORK/t/etc' -n | grep -q '^relayhost = \[127.0.0.1\]:$P_HUB2'"
check "ternd exits on SIGTERM" stop_ternd t
check "ctl-5, ctl-6 (deleted) never arrived" \
    test "$(sink_match_count hub '^X-Test-Id: ctl-[56]$')$(sink_match_count hub2 '^X-Test-Id: ctl-[56]$')" = 00

# ternd check: bad values fail naming the parameter; unknown names warn with the line
mkdir -p "$WORK/bad/etc"
bad_check() { # VALUE-LINE PARAM
    printf 'queue_directory = %s\nmail_owner = %s\n%s\n' "$WORK/bad/queue" "$(id -un)" "$1" >"$WORK/bad/etc/main.cf"
    local out
    out=$("$TERND" -c "$WORK/bad/etc" check 2>&1) && { say "check accepted: $1"; return 1; }
    grep -q "$2" <<<"$out" || { say "message does not name $2: $out"; return 1; }
}
check "check: bad time value fails naming it" bad_check 'minimal_backoff_time = soon' minimal_backoff_time
check "check: bad size value fails naming it" bad_check 'message_size_limit = big' message_size_limit
check "check: bad number fails naming it" bad_check 'smtpd_recipient_limit = many' smtpd_recipient_limit
check "check: bad listen address fails naming it" bad_check 'smtpd_listen = 127.0.0.1:notaport' smtpd_listen
printf 'queue_directory = %s\nmail_owner = %s\n\n# comment\nno_such_parameter = 1\n' "$WORK/bad/queue" "$(id -un)" >"$WORK/bad/etc/main.cf"
out=$("$TERND" -c "$WORK/bad/etc" check 2>&1)
rc=$?
check "check: an unknown parameter is not fatal" test "$rc" -eq 0
check "check: the unknown parameter's warning names it and line 5 ($out)" \
    grep -Eq 'no_such_parameter.*5|5.*no_such_parameter' <<<"$out"
it_done
