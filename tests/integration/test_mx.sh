#!/usr/bin/env bash
# NAME
#	test_mx.sh - check 2: MX delivery through a real DNS server on loopback
# DESCRIPTION
#	dnsmasq (Debian's dnsmasq-base) on 127.0.0.1:<free port> serves the
#	zone below; ternd's dns_servers points at it and there is no relayhost.
#	MX delivery goes to port 25, so the sinks listen on 127.0.0.2:25,
#	127.0.0.3:25 and 127.0.0.4:25 (root only; skipped otherwise).
#
#	dom1.test      MX 10 mx.dom1.test (127.0.0.2), MX 20 backup.dom1.test (127.0.0.3)
#	dom2.test      MX 10 mx.dom2.test (127.0.0.3)
#	fallback.test  MX 5 dead.fallback.test (127.0.0.5, nothing listens), MX 10 mx.dom2.test
#	implicit.test  no MX, A 127.0.0.3 (implicit MX)
#	snd.test       MX 10 mx.snd.test (127.0.0.4): the sender's domain, gets the bounce
#	nullmx.test    MX 0 . (RFC 7505 null MX): mail to it bounces
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init mx
need_root "smtp-sinks on 127.0.0.x:25"
command -v dnsmasq >/dev/null || skip "dnsmasq not installed (apt-get install dnsmasq-base)"
for a in 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5; do
    port_open "$a" 25 && skip "$a:25 is already taken (a default Postfix instance running?)"
done

read -r P_DNS < <(pick_ports 1)
spawn dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port="$P_DNS" --conf-file=/dev/null --pid-file= \
    --user=root --local=/test/ --log-queries --log-facility="$WORK/dnsmasq.log" \
    --mx-host=dom1.test,mx.dom1.test,10 --mx-host=dom1.test,backup.dom1.test,20 \
    --host-record=mx.dom1.test,127.0.0.2 --host-record=backup.dom1.test,127.0.0.3 \
    --mx-host=dom2.test,mx.dom2.test,10 --host-record=mx.dom2.test,127.0.0.3 \
    --mx-host=fallback.test,dead.fallback.test,5 --mx-host=fallback.test,mx.dom2.test,10 \
    --host-record=dead.fallback.test,127.0.0.5 \
    --host-record=implicit.test,127.0.0.3 \
    --mx-host=snd.test,mx.snd.test,10 --host-record=mx.snd.test,127.0.0.4 \
    --dns-rr=nullmx.test,15,000000

dns_up() { "$PY" "$TERN_IT_PY" dns-query 127.0.0.1 "$P_DNS" dom1.test MX 2>/dev/null | grep -q '^MX 10 mx.dom1.test'; }
wait_until 10 dns_up || die "dnsmasq does not answer on 127.0.0.1:$P_DNS"
nullmx=$("$PY" "$TERN_IT_PY" dns-query 127.0.0.1 "$P_DNS" nullmx.test MX)
[[ $nullmx == *"MX 0 ."* ]] || die "dnsmasq does not serve the null MX: $nullmx"

start_sink mx1 127.0.0.2:25 || die "sink on 127.0.0.2:25"
start_sink mx2 127.0.0.3:25 || die "sink on 127.0.0.3:25"
start_sink snd 127.0.0.4:25 || die "sink on 127.0.0.4:25"

write_main_cf t <<EOF
dns_servers = 127.0.0.1:$P_DNS
relayhost =
transport_maps =
EOF
start_ternd t || die "ternd did not start"
PORT=$(ternd_port t)

# send ID FROM RCPTS - submit a generated message with smtplib
send() { submit_msg "$PORT" "$1" "$2" "$3" 0; }

check "submit to dom1.test" send mx-dom1 alice@snd.test u1@dom1.test
check "submit to dom2.test" send mx-dom2 alice@snd.test u2@dom2.test
check "submit to fallback.test" send mx-fallback alice@snd.test u3@fallback.test
check "submit to implicit.test" send mx-implicit alice@snd.test u4@implicit.test
check "submit to nullmx.test" send mx-null alice@snd.test u5@nullmx.test

check "dom1.test mail reaches mx.dom1.test (127.0.0.2, preference 10)" \
    wait_until 30 sink_match_has mx1 '^X-Test-Id: mx-dom1$' 1
check "dom2.test mail reaches mx.dom2.test (127.0.0.3)" \
    wait_until 30 sink_match_has mx2 '^X-Test-Id: mx-dom2$' 1
check "dom1.test mail is not at the preference-20 MX" \
    test "$(sink_match_count mx2 '^X-Test-Id: mx-dom1$')" -eq 0
check "dom2.test mail is not at dom1's MX" \
    test "$(sink_match_count mx1 '^X-Test-Id: mx-dom2$')" -eq 0
check "fallback.test: unreachable preference-5 MX, mail reaches the preference-10 MX" \
    wait_until 30 sink_match_has mx2 '^X-Test-Id: mx-fallback$' 1
check "implicit.test (A record only) reaches 127.0.0.3" \
    wait_until 30 sink_match_has mx2 '^X-Test-Id: mx-implicit$' 1

d=$(sink_files_matching mx1 '^X-Test-Id: mx-dom1$' | head -n 1)
[[ -n $d ]] && py_checks body-check "$d" "$WORK/mx-dom1.eml" mx-dom1
check "maillog: dom1.test delivered via mx.dom1.test[127.0.0.2]:25" \
    maillog_has t 'to=<u1@dom1.test>, relay=mx\.dom1\.test\[127\.0\.0\.2\]:25, .*status=sent'
check "maillog: dom2.test delivered via mx.dom2.test[127.0.0.3]:25" \
    maillog_has t 'to=<u2@dom2.test>, relay=mx\.dom2\.test\[127\.0\.0\.3\]:25, .*status=sent'

# null MX: the recipient bounces, the DSN goes to alice@snd.test at 127.0.0.4
check "maillog: the null-MX recipient is bounced with a 5.x.x status" \
    wait_until 30 maillog_has t 'to=<u5@nullmx.test>, .*dsn=5\.[0-9]+\.[0-9]+, status=bounced'
check "null MX: the bounce reaches the sender's MX (127.0.0.4)" \
    wait_until 30 sink_match_has snd '^X-Rcpt-Args: <alice@snd.test>' 1
b=$(sink_files_matching snd '^X-Rcpt-Args: <alice@snd.test>' | head -n 1)
[[ -n $b ]] && py_checks dsn-check "$b" alice@snd.test u5@nullmx.test
check "nothing was delivered to the null-MX domain's name" \
    test "$(sink_match_count mx1 '^X-Rcpt-Args: <u5@nullmx.test>') $(sink_match_count mx2 '^X-Rcpt-Args: <u5@nullmx.test>')" = "0 0"
check "tern asked dnsmasq (dns_servers) for the MX records" \
    grep -q 'query\[MX\] dom1.test from 127.0.0.1' "$WORK/dnsmasq.log"

empty_queue() { ternctl t queue 2>&1 | grep -qi 'queue is empty'; }
check "queue is empty at the end" wait_until 20 empty_queue
check "ternd exits on SIGTERM" stop_ternd t
it_done
