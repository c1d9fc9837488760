#!/usr/bin/env bash
# NAME
#	test_haproxy.sh - issue 15, checks 1 and 5: three ternd nodes behind
#	HAProxy with the PROXY protocol see each client's own address
# DESCRIPTION
#	Debian's haproxy, started here with its own config on loopback ports,
#	balances round-robin over three nodes n1..n3 with send-proxy-v2 (and a
#	second frontend to n1 with send-proxy, v1; a third on [::1]). Every node
#	has smtpd_upstream_proxy_protocol = haproxy and mynetworks =
#	127.0.0.3/32; HAProxy itself connects from 127.0.0.9. Clients bind
#	their source address: 127.0.0.3 is inside mynetworks, 127.0.0.2 and
#	::1 are not.
#	Check 1: the inside client relays through every node, the outside ones
#	are refused relay (554 5.7.1); the maillog's client= and the Received:
#	header the sink stores name the client, never HAProxy's 127.0.0.9.
#	Check 5: straight to a node's port, a missing header (plain EHLO),
#	garbage, a truncated v2 header (the timeout ends it), v2 with a length
#	too short for its family, v2 longer than PROXY_MAX and a v1 line without
#	its end each close the connection without a word of SMTP, with a log
#	line and a count in ternctl stats; a v1 and a v2 header to n0, a node
#	without smtpd_upstream_proxy_protocol, are refused after its greeting;
#	afterwards every node still serves. Also: a v2 LOCAL header (HAProxy's
#	health check) gets a session of the socket's own address, and an smtps
#	listener behind a v2 header reads the ClientHello that came in the same
#	segment.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init haproxy
command -v haproxy >/dev/null || skip "haproxy not installed"
command -v swaks >/dev/null || skip "swaks not installed"

read -r P_SINK P_FE P_FE1 P_FE6 P_SMTPS < <(pick_ports 5)
start_sink out "127.0.0.1:$P_SINK" || die "smtp-sink"
make_pki "$WORK/pki"

for n in n1 n2 n3; do
    smtps=
    [[ $n == n1 ]] && smtps="smtps_listen = 127.0.0.1:$P_SMTPS"
    write_main_cf "$n" <<EOF
relayhost = [127.0.0.1]:$P_SINK
mynetworks = 127.0.0.3/32
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_upstream_proxy_protocol = haproxy
smtpd_upstream_proxy_timeout = 2s
smtpd_tls_cert_file = $WORK/pki/server.pem
smtpd_tls_key_file = $WORK/pki/server.key
$smtps
EOF
    start_ternd "$n" || die "ternd $n did not start"
done
write_main_cf n0 <<EOF
relayhost = [127.0.0.1]:$P_SINK
EOF
start_ternd n0 || die "ternd n0 did not start"

start_haproxy "$P_FE" n1 n2 n3 <<EOF || die "haproxy did not start"
    source 127.0.0.9
frontend v2v6
    bind [::1]:$P_FE6
    default_backend nodes
frontend v1
    bind 127.0.0.1:$P_FE1
    default_backend n1v1
backend n1v1
    source 127.0.0.9
    server n1 127.0.0.1:$(ternd_port n1) send-proxy
EOF

# send SERVER PORT SRC RCPT ID - a message through swaks from source address SRC
send() {
    swaks --server "$1" --port "$2" --local-interface "$3" --ehlo "client-$5.test" \
        -f alice@snd.test -t "$4" --header "X-Test-Id: $5" --timeout 20 >"$WORK/swaks-$5.log" 2>&1
}
# no_haproxy_client NODE - NODE's maillog never has HAProxy's address as a client
no_haproxy_client() { ! maillog_has "$1" '127\.0\.0\.9'; }
# hex - stdin as hex digits
hex() { od -An -v -tx1 | tr -d ' \n'; }
sent() { grep -q '^<-  250 .*queued as' "$WORK/swaks-$1.log"; }
refused_relay() { grep -q '^<\*\* 554 5\.7\.1 .*Relay access denied' "$WORK/swaks-$1.log"; }

# check 1: inside, round-robin over the three nodes
for i in 1 2 3 4 5 6; do
    send 127.0.0.1 "$P_FE" 127.0.0.3 "bob$i@far.test" "in$i"
    check "inside client (127.0.0.3) through HAProxy v2, message $i: 250 queued" sent "in$i"
done
send 127.0.0.1 "$P_FE1" 127.0.0.3 bob7@far.test in7
check "inside client through HAProxy v1 (send-proxy): 250 queued" sent in7
check "the sink has the 7 messages" wait_until 30 sink_has out 7
for n in n1 n2 n3; do
    check "$n relayed for client=unknown[127.0.0.3]" \
        maillog_has "$n" ': client=unknown\[127\.0\.0\.3\]'
    check "$n never names HAProxy's 127.0.0.9" no_haproxy_client "$n"
done
check "every Received: header names the client 127.0.0.3" \
    test "$(sink_match_count out '^Received: from client-in[0-9]\.test \(unknown \[127\.0\.0\.3\]\)')" = 7
check "no Received: header names HAProxy's 127.0.0.9" \
    test "$(sink_match_count out '^Received: from .*\[127\.0\.0\.9\]')" = 0

# check 1: outside, refused relay whichever node serves it
for i in 1 2 3; do
    send 127.0.0.1 "$P_FE" 127.0.0.2 "eve$i@far.test" "out$i"
    check "outside client (127.0.0.2) through HAProxy, attempt $i: 554 5.7.1 Relay access denied" \
        refused_relay "out$i"
done
# swaks needs IO::Socket::INET6 for IPv6: smtplib instead
pyp() { run_checks "$PY" "$IT_DIR/proxy_it.py" "$@"; }
pyp relay-refused ::1 "$P_FE6" ::1
check "the refusals are logged for 127.0.0.2" \
    test "$(cat "$WORK"/n[123]/maillog | grep -c 'reject: RCPT from unknown\[127\.0\.0\.2\]')" = 3
check "the IPv6 refusal is logged for ::1" \
    grep -q 'reject: RCPT from unknown\[::1\]' "$WORK/n1/maillog" "$WORK/n2/maillog" "$WORK/n3/maillog"

# check 5: bad headers straight to n2's port
P2=$(ternd_port n2)
SIG=0d0a0d0a000d0a515549540a
pyp refused "$P2" "no header, EHLO first" "$(printf 'EHLO x\r\n' | hex)"
pyp refused "$P2" "garbage" "$({ printf '\377'; head -c 200 /dev/urandom; } | hex)"
pyp refused "$P2" "v2 cut short (the timeout ends it)" "${SIG}2111000c7f000002"
pyp refused "$P2" "v2 with a length too short for IPv4" "${SIG}211100087f0000027f00000100190019"
pyp refused "$P2" "v2 longer than PROXY_MAX" "${SIG}21110fff7f0000027f00000100190019"
pyp refused "$P2" "v2 version 1 in the binary form" "${SIG}111100007f0000027f00000100190019"
pyp refused "$P2" "v1 line that never ends" "$(printf 'PROXY TCP4 %0120d' 0 | hex)"
pyp refused "$P2" "v1 with a bad address" "$(printf 'PROXY TCP4 1.2.3 127.0.0.1 1 2\r\nEHLO x\r\n' | hex)"
check "n2 logged each refusal with its reason" \
    test "$(maillog_count n2 'upstream proxy header from 127\.0\.0\.1\[[0-9]+\]: .*; connection closed')" -ge 8
check "n2 logged the timeout" maillog_has n2 'no complete header within smtpd_upstream_proxy_timeout'
check "n2 counts the refusals (ternctl stats proxy_header_refused >= 8)" \
    stat_ge n2 proxy_header_refused 8
pyp local "$P2" 127.0.0.4
check "the LOCAL session is the socket's own (connect from unknown[127.0.0.4])" \
    maillog_has n2 'connect from unknown\[127\.0\.0\.4\]'
pyp smtps "$P_SMTPS" 127.0.0.5 "$WORK/pki/ca.pem"
check "n1's smtps session is for the header's client 127.0.0.5" \
    maillog_has n1 'connect from unknown\[127\.0\.0\.5\]'

# check 5: headers to a listener without smtpd_upstream_proxy_protocol
P0=$(ternd_port n0)
pyp refused-after-greeting "$P0" "v1 header to a plain listener" \
    "$(printf 'PROXY TCP4 127.0.0.9 127.0.0.1 1000 25\r\nEHLO x\r\n' | hex)"
pyp refused-after-greeting "$P0" "v2 header to a plain listener" "${SIG}211100177f0000097f00000103e80019"

# every node goes on serving
for i in 1 2 3; do
    send 127.0.0.1 "$P_FE" 127.0.0.3 "after$i@far.test" "after$i"
    check "after the bad headers, message $i through HAProxy: 250 queued" sent "after$i"
done
send 127.0.0.1 "$P0" 127.0.0.1 after0@far.test after0
check "n0 still serves: 250 queued" sent after0
check "the sink has all 11 messages" wait_until 30 sink_has out 11

stop_proc haproxy TERM
for n in n0 n1 n2 n3; do
    check "$n drains and exits on SIGTERM" stop_ternd "$n"
done
it_done
