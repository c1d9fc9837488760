#!/usr/bin/env bash
# NAME
#	test_bounce_retry.sh - check 5: 5xx -> DSN bounce to the sender, 4xx -> retry
# DESCRIPTION
#	transport_maps routes three domains to three smtp-sinks:
#	  rcpt.test  -> "reject": answers RCPT with 500 5.3.0 (smtp-sink -f RCPT)
#	  retry.test -> "retry": first answers RCPT with 450 4.3.0 (-r RCPT), is
#	                then restarted accepting on the same port
#	  snd.test   -> "snd": the sender's domain; bounces land here
#	The bounce must come from <>, go to the sender through the relay, be a
#	multipart/report naming the failed recipient. A message from <> that
#	fails gets no bounce at all. The deferred message arrives after retry.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init bounce

read -r P_REJ P_RETRY P_SND < <(pick_ports 3)
start_sink reject "127.0.0.1:$P_REJ" -f RCPT || die "smtp-sink reject"
start_sink retry "127.0.0.1:$P_RETRY" -r RCPT || die "smtp-sink retry (soft)"
start_sink snd "127.0.0.1:$P_SND" || die "smtp-sink snd"

cat >"$WORK/transport" <<EOF
rcpt.test   smtp:[127.0.0.1]:$P_REJ
retry.test  smtp:[127.0.0.1]:$P_RETRY
snd.test    smtp:[127.0.0.1]:$P_SND
EOF
write_main_cf t <<EOF
transport_maps = texthash:$WORK/transport
# nothing may leak elsewhere
relayhost = [127.0.0.1]:9
EOF
start_ternd t || die "ternd did not start"
PORT=$(ternd_port t)

send() { submit_msg "$PORT" "$1" "$2" "$3" 1; }

# --- 5xx: bounce
check "submit alice@snd.test -> bob@rcpt.test" send hard alice@snd.test bob@rcpt.test
check "maillog: bob@rcpt.test bounced with dsn=5.x.x" \
    wait_until 30 maillog_has t 'to=<bob@rcpt.test>, relay=[^,]*127\.0\.0\.1\]:'"$P_REJ"', .*dsn=5\.[0-9]+\.[0-9]+, status=bounced \(.*500'
check "a bounce reaches alice@snd.test through the relay" \
    wait_until 30 sink_match_has snd '^X-Rcpt-Args: <alice@snd.test>' 1
b=$(sink_files_matching snd '^X-Rcpt-Args: <alice@snd.test>' | head -n 1)
if [[ -n $b ]]; then
    py_checks dsn-check "$b" alice@snd.test bob@rcpt.test
    check "the bounce quotes the remote server's reply" grep -q '500 5\.3\.0' "$b"
    check "the bounce returns the original message (or its headers)" grep -q '^X-Test-Id: hard$' "$b"
fi

# --- a failing message from <> gets no bounce
check "submit <> -> bob2@rcpt.test" send nullsender "" bob2@rcpt.test
check "maillog: bob2@rcpt.test bounced" \
    wait_until 30 maillog_has t 'to=<bob2@rcpt.test>, .*status=bounced'
sleep 3
check "no bounce for a message from <> (the snd sink holds only the first bounce)" \
    test "$(sink_count snd)" -eq 1

# --- 4xx: deferred, then delivered after retry
check "submit alice@snd.test -> carol@retry.test" send soft alice@snd.test carol@retry.test
check "maillog: carol@retry.test deferred with dsn=4.x.x" \
    wait_until 30 maillog_has t 'to=<carol@retry.test>, .*dsn=4\.[0-9]+\.[0-9]+, status=deferred'
check "ternctl queue lists the deferred message" \
    bash -c "'$TERNCTL' -c '$WORK/t/etc' queue | grep -q 'carol@retry.test'"
stop_sink retry
start_sink retry "127.0.0.1:$P_RETRY" || die "smtp-sink retry (accepting)"
check "carol@retry.test arrives after a retry" \
    wait_until 40 sink_match_has retry '^X-Test-Id: soft$' 1
check "maillog: carol@retry.test status=sent" \
    wait_until 10 maillog_has t 'to=<carol@retry.test>, .*status=sent'
d=$(sink_files_matching retry '^X-Test-Id: soft$' | head -n 1)
[[ -n $d ]] && py_checks body-check "$d" "$WORK/soft.eml" soft
check "no bounce and no delay warning for the retried message" \
    test "$(sink_count snd)" -eq 1

empty_queue() { ternctl "$1" queue 2>&1 | grep -qi 'queue is empty'; }
check "queue is empty at the end" wait_until 20 empty_queue t
check "ternd exits on SIGTERM" stop_ternd t

# --- expiry: a recipient that only ever gets 4xx bounces after maximal_queue_lifetime
read -r P_ALW4 < <(pick_ports 1)
start_sink always4 "127.0.0.1:$P_ALW4" -r RCPT || die "smtp-sink always4"
cat >"$WORK/transport-exp" <<EOF
stuck.test  smtp:[127.0.0.1]:$P_ALW4
snd.test    smtp:[127.0.0.1]:$P_SND
EOF
write_main_cf exp <<EOF
transport_maps = texthash:$WORK/transport-exp
relayhost = [127.0.0.1]:9
maximal_queue_lifetime = 3s
bounce_queue_lifetime = 3s
EOF
start_ternd exp || die "ternd exp did not start"
PORT=$(ternd_port exp)
check "submit alice@snd.test -> dave@stuck.test" send expire alice@snd.test dave@stuck.test
check "maillog: dave@stuck.test deferred first" \
    wait_until 20 maillog_has exp 'to=<dave@stuck.test>, .*status=deferred'
# Postfix logs expiry as "QID: from=<...>, status=expired, returned to sender"
check "maillog: the message expired after maximal_queue_lifetime (3s)" \
    wait_until 30 maillog_has exp 'from=<alice@snd.test>, status=expired, returned to sender|to=<dave@stuck.test>, .*status=bounced'
check "the expiry bounce reaches alice@snd.test" wait_until 20 sink_has snd 2
b=$(sink_files_matching snd '^X-Test-Id: expire$' | head -n 1)
[[ -n $b ]] && py_checks dsn-check "$b" alice@snd.test dave@stuck.test
check "queue (exp) is empty at the end" wait_until 20 empty_queue exp
check "ternd (exp) exits on SIGTERM" stop_ternd exp

# --- mid-session faults (issue 10 §5): the next hop resets the connection in the middle
# of DATA, or answers 421 to MAIL, RCPT, DATA or the end of data. Each domain has its own
# fault_peer.py that fails its first connection(s) that way and accepts afterwards: the
# message stays queued (deferred, 4.x.x), is delivered on a later try, and exactly once.
FAULTS="rst-data 421-mail 421-rcpt 421-data 421-dot 421-dot,rst-data"
: >"$WORK/transport-flt"
i=0
for f in $FAULTS; do
    i=$((i + 1))
    read -r p < <(pick_ports 1)
    spawn "peer$i" "$PY" "$IT_DIR/fault_peer.py" "$p" "$WORK/peer$i" "$f"
    wait_until 10 test -e "$WORK/peer$i/ready" || die "fault_peer $f did not start"
    echo "f$i.test smtp:[127.0.0.1]:$p" >>"$WORK/transport-flt"
done
echo "snd.test smtp:[127.0.0.1]:$P_SND" >>"$WORK/transport-flt"
write_main_cf flt <<EOF
transport_maps = texthash:$WORK/transport-flt
relayhost = [127.0.0.1]:9
EOF
start_ternd flt || die "ternd flt did not start"
PORT=$(ternd_port flt)
# peer_got N ID - how many messages peer N stored with X-Test-Id ID
peer_got() { grep -lx "X-Test-Id: $2"$'\r' "$WORK/peer$1"/msg-*.eml 2>/dev/null | wc -l; }
peer_has() { (($(peer_got "$1" "$2") >= 1)); }
i=0
for f in $FAULTS; do
    i=$((i + 1))
    check "submit alice@snd.test -> u@f$i.test (next hop: $f)" send "fault$i" alice@snd.test "u@f$i.test"
done
i=0
for f in $FAULTS; do
    i=$((i + 1))
    check "$f: u@f$i.test deferred first (4.x.x)" \
        wait_until 30 maillog_has flt "to=<u@f$i\\.test>, .*dsn=4\\.[0-9]+\\.[0-9]+, status=deferred"
    check "$f: the message arrives on a later connection" wait_until 40 peer_has "$i" "fault$i"
    check "$f: maillog: u@f$i.test status=sent" \
        wait_until 10 maillog_has flt "to=<u@f$i\\.test>, .*status=sent"
done
sleep 3 # a duplicate would come now, with the connection cache or a stray retry
i=0
for f in $FAULTS; do
    i=$((i + 1))
    check "$f: delivered exactly once" test "$(peer_got "$i" "fault$i")" -eq 1
    d=$(grep -lx "X-Test-Id: fault$i"$'\r' "$WORK/peer$i"/msg-*.eml 2>/dev/null | head -n 1)
    check "$f: the content is whole (its last line is there)" grep -q '^Last line\.' "$d"
    check "$f: never bounced" test "$(maillog_count flt "to=<u@f$i\\.test>, .*status=bounced")" -eq 0
done
check "rst-data: the peer did reset in the middle of DATA" \
    grep -q 'reset in the middle of DATA' "$WORK/peer1/peer.log"
check "no bounce reached the sender for any fault" \
    test "$(sink_match_count snd '^X-Test-Id: fault')" -eq 0
check "queue (flt) is empty at the end" wait_until 20 empty_queue flt
check "ternd (flt) exits on SIGTERM" stop_ternd flt
it_done
