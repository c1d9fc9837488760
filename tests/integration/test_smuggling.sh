#!/usr/bin/env bash
# NAME
#	test_smuggling.sh - check 4: SMTP smuggling, RFC 5321 limits, no open relay
# DESCRIPTION
#	One ternd with mynetworks = 127.0.0.9/32 (so the test client on
#	127.0.0.1 is outside it), relay_domains = relay.test, a relayhost sink,
#	smtpd_recipient_limit = 5, message_size_limit = 20000.
#
#	Smuggling: python3 raw sockets send a DATA whose body holds each
#	end-of-data variant (\n.\n, \n.\r\n, \r.\r, \r\n.\n, \r\n.\r, \n.\r,
#	\r.\n, ...) followed by a second MAIL/RCPT/DATA. tern must answer
#	521 5.5.2 (bare CR/LF), acknowledge at most one message, and the sink
#	must never see the smuggled recipient or the injected message.
#
#	Limits: command line > 512 -> 500 5.5.2; text line > 1000 -> 500 5.5.2 at
#	end of data; recipient 6 -> 452 4.5.3; oversize -> 552 5.3.4.
#
#	Relay: RCPT forms that route elsewhere (<u@ext.test>, <"u@ext.test">,
#	<u%ext.test@relay.test>, <@relay.test:u@ext.test>, <u!ext.test@relay.test>)
#	-> 554 5.7.1 Relay access denied; <u@relay.test> is accepted.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init smuggling

read -r P_HUB < <(pick_ports 1)
start_sink hub "127.0.0.1:$P_HUB" || die "smtp-sink"
write_main_cf t <<EOF
relayhost = [127.0.0.1]:$P_HUB
mynetworks = 127.0.0.9/32
relay_domains = relay.test
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_limit = 5
message_size_limit = 20000
EOF
start_ternd t || die "ternd did not start"
PORT=$(ternd_port t)

# a control message first: the sink is reachable, so "nothing arrived" below means something
"$PY" "$TERN_IT_PY" gen-message "$WORK/control.eml" control 0
out=$("$PY" "$TERN_IT_PY" send 127.0.0.1 "$PORT" outsider@snd.test control@relay.test "$WORK/control.eml" 2>&1)
check "control: mail from outside mynetworks to relay.test is accepted ($out)" test "${out%% *}" = 250
check "control: it reaches the sink" wait_until 30 sink_match_has hub '^X-Test-Id: control$' 1

say "smuggling variants:"
py_checks smuggle 127.0.0.1 "$PORT" relay.test
say "limits:"
py_checks limits 127.0.0.1 "$PORT" relay.test 5 20000
say "relay forms:"
py_checks relay-forms 127.0.0.1 "$PORT" relay.test

empty_queue() { ternctl t queue 2>&1 | grep -qi 'queue is empty'; }
check "queue drains" wait_until 30 empty_queue
sleep 1

check "the sink never saw a smuggled recipient" \
    test "$(sink_match_count hub '^X-Rcpt-Args: <(smuggled|cmd-smuggled)-')" -eq 0
check "the sink never saw an injected message" \
    test "$(sink_match_count hub '^X-Test-Id: injected-')" -eq 0
check "the sink never saw a message with Subject: injected" \
    test "$(sink_match_count hub '^Subject: injected')" -eq 0
for v in LF_LF LF_CRLF CR_CR CRLF_LF CRLF_CR LF_CR CR_LF CR_CRLF CRLF_CRCRLF; do
    n=$(sink_match_count hub "^X-Test-Id: smuggle-$v\$")
    check "$v: at most one message at the sink ($n)" test "$n" -le 1
    check "$v: the rejected message was discarded ($n delivered)" test "$n" -eq 0
done
check "the sink never saw the over-long-line message" \
    test "$(sink_match_count hub '^X-Test-Id: limits-longline$')" -eq 0
check "the sink never saw the oversize message" \
    test "$(sink_match_count hub '^X-Test-Id: limits-big$')" -eq 0
check "the 1000-octet-line message was delivered" sink_match_has hub '^X-Test-Id: limits-line1000$' 1
check "nothing for ext.test was relayed" \
    test "$(sink_match_count hub '^X-Rcpt-Args: <.*ext\.test')" -eq 0
check "maillog: relay denials are logged with the queue ID or client" \
    maillog_has t 'reject: RCPT from .*554 5\.7\.1'
check "ternd exits on SIGTERM" stop_ternd t
it_done
