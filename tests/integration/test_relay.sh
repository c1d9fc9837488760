#!/usr/bin/env bash
# NAME
#	test_relay.sh - check 1: mail submitted with swaks and python3 smtplib
#	reaches Postfix's smtp-sink unchanged, via relayhost and via transport_maps
# DESCRIPTION
#	Two sinks: "hub" is the relayhost, "tm" is the next hop that
#	transport_maps names for tm.test. Test messages carry dot lines, a lone
#	dot, 998-octet lines, 8-bit text, folded headers and (one of them) 300 KiB
#	of filler. Each must arrive with tern's Received header prepended and
#	otherwise byte for byte what the client sent (smtp-sink stores LF line
#	ends and unstuffs dots, so the comparison is on that form).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init relay
command -v swaks >/dev/null || skip "swaks not installed"

read -r P_HUB P_TM < <(pick_ports 2)
start_sink hub "127.0.0.1:$P_HUB" || die "smtp-sink hub"
start_sink tm "127.0.0.1:$P_TM" || die "smtp-sink tm"

cat >"$WORK/transport" <<EOF
# domain      nexthop
tm.test       smtp:[127.0.0.1]:$P_TM
.sub.tm.test  smtp:[127.0.0.1]:$P_TM
EOF
write_main_cf t <<EOF
relayhost = [127.0.0.1]:$P_HUB
transport_maps = texthash:$WORK/transport
EOF
start_ternd t || die "ternd did not start"
PORT=$(ternd_port t)

py() { "$PY" "$TERN_IT_PY" "$@"; }

# submit_swaks ID FROM TO FILE - submit with swaks; true on "250 ... queued as"
submit_swaks() {
    swaks --server "127.0.0.1:$PORT" --ehlo swaks-client.test -f "$2" -t "$3" \
        --data "@$4" --timeout 30 >"$WORK/swaks-$1.log" 2>&1
    grep -q '^<-  250 .*queued as' "$WORK/swaks-$1.log" ||
        { say "swaks $1:"; tail -n 8 "$WORK/swaks-$1.log" >&2; return 1; }
}

# submit_py ID FROM RCPTS FILE [8bit] - submit with smtplib
submit_py() {
    local out
    out=$(py send 127.0.0.1 "$PORT" "$2" "$3" "$4" "${5:-}" 2>&1)
    [[ $out == "250 "*"queued as"* ]] || { say "smtplib $1: $out"; return 1; }
}

# dump_of SINK ID - the one dump in SINK carrying X-Test-Id: ID
dump_of() { sink_files_matching "$1" "^X-Test-Id: $2\$" | head -n 1; }

# cases: id client from recipients sink size_kib
CASES=(
    "swaks-hub swaks alice@snd.test bob@other.test hub 0"
    "py-hub py alice@snd.test carol@other.test hub 0"
    "py-hub-big py alice@snd.test dave@other.test hub 300"
    "py-hub-multi py alice@snd.test r1@multi.test,r2@multi.test,r3@multi.test hub 0"
    "swaks-tm swaks alice@snd.test erin@tm.test tm 0"
    "py-tm py alice@snd.test frank@tm.test tm 0"
    "py-tm-sub py alice@snd.test grace@x.sub.tm.test tm 4"
)

n_hub=0 n_tm=0
for c in "${CASES[@]}"; do
    read -r id client from rcpts sink kib <<<"$c"
    py gen-message "$WORK/$id.eml" "$id" "$kib"
    if [[ $client == swaks ]]; then
        check "$id: swaks submission gets 250 queued as" submit_swaks "$id" "$from" "$rcpts" "$WORK/$id.eml"
    else
        check "$id: smtplib submission gets 250 queued as" submit_py "$id" "$from" "$rcpts" "$WORK/$id.eml" 8bit
    fi
    if [[ $sink == hub ]]; then n_hub=$((n_hub + 1)); else n_tm=$((n_tm + 1)); fi
done

check "relayhost sink received $n_hub messages" wait_until 30 sink_has hub "$n_hub"
check "transport_maps sink received $n_tm messages" wait_until 30 sink_has tm "$n_tm"

for c in "${CASES[@]}"; do
    read -r id client from rcpts sink kib <<<"$c"
    other=hub
    [[ $sink == hub ]] && other=tm
    dump=$(dump_of "$sink" "$id")
    if [[ -z $dump ]]; then
        fail "$id: not at sink $sink"
        continue
    fi
    check "$id: not at sink $other" test "$(sink_match_count "$other" "^X-Test-Id: $id\$")" -eq 0
    py_checks body-check "$dump" "$WORK/$id.eml" "$id"
    env=$(py envelope "$dump")
    env=${env%%$'\t'*}
    check "$id: envelope sender kept (got $env)" test "${env%% *}" = "<$from>"
    # every recipient arrived (in one transaction or several)
    for r in ${rcpts//,/ }; do
        check "$id: recipient <$r> delivered" sink_match_has "$sink" "^X-Rcpt-Args: <$r>" 1
    done
done

# several recipients of one domain go in one transaction
multi=$(dump_of hub py-hub-multi)
if [[ -n $multi ]]; then
    check "py-hub-multi: 3 recipients of one domain in one transaction" \
        test "$(grep -c '^X-Rcpt-Args: ' "$multi")" -eq 3
fi
check "no duplicate deliveries at hub" test "$(sink_count hub)" -eq "$n_hub"

# maillog: Postfix-format delivery lines with the right relay
check "maillog: status=sent via the relayhost" \
    maillog_has t "to=<bob@other.test>, relay=[^,]*127\.0\.0\.1\]:$P_HUB, .*delay=.*, delays=.*, dsn=2\.[0-9.]+, status=sent \(250"
check "maillog: status=sent via transport_maps" \
    maillog_has t "to=<erin@tm.test>, relay=[^,]*127\.0\.0\.1\]:$P_TM, .*dsn=2\.[0-9.]+, status=sent \(250"
check "maillog: every line of a delivery carries a queue ID" \
    maillog_has t '^.*: [0-9A-Za-z]{6,}: to=<'

empty_queue() { ternctl t queue 2>&1 | grep -qi 'queue is empty'; }
check "ternctl queue: empty after delivery" wait_until 15 empty_queue
check "ternd -n shows the relayhost" bash -c "'$TERND' -c '$WORK/t/etc' -n | grep -q '^relayhost = \[127.0.0.1\]:$P_HUB'"
check "ternd exits on SIGTERM within 10 s" stop_ternd t

it_done
