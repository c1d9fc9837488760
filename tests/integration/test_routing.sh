#!/usr/bin/env bash
# NAME
#	test_routing.sh - issue 10 §2: no silent bounces, no loops, no silent discards
# DESCRIPTION
#	dnsmasq on 127.0.0.1:<free port> is ternd's dns_servers; transport_maps
#	routes each test domain (no port 25 needed, no root):
#	  snd.test       -> [127.0.0.1]:SINK        the sender's domain: bounces land here
#	  viarelay.test  -> [nx-relay.test]:SINK    a [host] next hop that DNS does not know
#	  viahost.test   -> nx-host.test:SINK       a host next hop (MX lookup) DNS does not know
#	  discardhost    -> discard:SINK            a next hop host literally named "discard"
#	                                           (A 127.0.0.1): must reach the sink
#	  nxdomain.test  (no entry, MX lookup)      the recipient's own domain does not exist
#	  discard        (no entry, MX lookup)      a recipient domain named "discard" (A 127.0.0.1):
#	                                           tried by SMTP at port 25, never dropped
#	  loop.test      -> [127.0.0.1]:TERN        tern's own listener
#	  mxloop.test    -> mxloop.test:TERN        MX 10 mx.mxloop.test = 127.0.0.1 (tern)
#	  mxbackup.test  -> mxbackup.test:TERN      MX 10 127.0.0.2 (nothing there), MX 20 tern
#	  proxyloop.test -> [127.0.0.9]:2525        listed in proxy_interfaces
#	A next hop that is tern bounces 5.4.6 "mail for X loops back to myself";
#	tern as a backup MX tries only the better MX (Postfix's rule).
#	  utf8.test      -> [127.0.0.1]:SINK        smtp-sink: does not offer SMTPUTF8
#	  utf8ok.test    -> fault_peer.py           offers SMTPUTF8
#	A message received with SMTPUTF8 that needs it (UTF-8 in the envelope or
#	the headers) bounces 5.6.7 at a server without SMTPUTF8; one that does
#	not need it goes there without the parameter; a server that offers it
#	gets SMTPUTF8 passed through.
#	Wanted: a next hop that DNS does not find defers (4.4.3, status=deferred,
#	nothing bounced); NXDOMAIN for the recipient's own domain bounces (5.4.4)
#	with a DSN to the sender; a domain or host named "discard" is never
#	dropped: only a transport says discard. A message whose Received:
#	headers (tern's own included) reach hopcount_limit (50) is refused at
#	the end of DATA with "554 5.4.6 Error: too many hops" (Postfix's text with
#	X.4.6, routing loop detected, RFC 3463; Postfix's smtpd says 5.4.0).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init routing
command -v dnsmasq >/dev/null || skip "dnsmasq not installed (apt-get install dnsmasq-base)"

read -r P_DNS P_SND P_T P_U8 < <(pick_ports 4)
spawn dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port="$P_DNS" --conf-file=/dev/null --pid-file= \
    --user=root --local=/test/ --local=/discard/ --log-queries --log-facility="$WORK/dnsmasq.log" \
    --host-record=known.test,127.0.0.1 --host-record=discard,127.0.0.1 \
    --mx-host=mxloop.test,mx.mxloop.test,10 --host-record=mx.mxloop.test,127.0.0.1 \
    --mx-host=mxbackup.test,best.mxbackup.test,10 --host-record=best.mxbackup.test,127.0.0.2 \
    --mx-host=mxbackup.test,mx.mxloop.test,20

dns_up() { "$PY" "$TERN_IT_PY" dns-query 127.0.0.1 "$P_DNS" known.test A 2>/dev/null | grep -q '127.0.0.1'; }
wait_until 10 dns_up || die "dnsmasq does not answer on 127.0.0.1:$P_DNS"

start_sink snd "127.0.0.1:$P_SND" || die "smtp-sink snd"
spawn u8peer "$PY" "$IT_DIR/fault_peer.py" "$P_U8" "$WORK/u8peer" ok smtputf8
wait_until 10 test -e "$WORK/u8peer/ready" || die "fault_peer (SMTPUTF8) did not start"

cat >"$WORK/transport" <<EOF
snd.test       smtp:[127.0.0.1]:$P_SND
viarelay.test  smtp:[nx-relay.test]:$P_SND
viahost.test   smtp:nx-host.test:$P_SND
discardhost    smtp:discard:$P_SND
loop.test      smtp:[127.0.0.1]:$P_T
mxloop.test    smtp:mxloop.test:$P_T
mxbackup.test  smtp:mxbackup.test:$P_T
proxyloop.test smtp:[127.0.0.9]:2525
utf8.test      smtp:[127.0.0.1]:$P_SND
utf8ok.test    smtp:[127.0.0.1]:$P_U8
EOF
write_main_cf t "$P_T" <<EOF
dns_servers = 127.0.0.1:$P_DNS
transport_maps = texthash:$WORK/transport
relayhost =
proxy_interfaces = 127.0.0.9:2525
EOF
start_ternd t || die "ternd did not start"
PORT=$(ternd_port t)

# send ID FROM RCPTS - submit a generated message with smtplib
send() { submit_msg "$PORT" "$1" "$2" "$3" 0; }
# bounced_to - how many DSNs at the snd sink name RCPT (a regex) as the failed recipient
bounced_to() { sink_match_count snd "^Final-Recipient: rfc822; ?$1"; }
# test_ge - "test_ge CMD ARGS... N": CMD ARGS prints a number >= N
test_ge() { (($("${@:1:$#-1}") >= ${!#})); }
# queue_holds - ternctl queue lists at least N recipients matching REGEX
queue_holds() { (($(ternctl t queue 2>&1 | grep -Ec -- "$1") >= $2)); }

# --- 1. a next hop that DNS does not find defers; the recipient's own domain bounces
check "submit to viarelay.test ([nx-relay.test] next hop)" send relay alice@snd.test u1@viarelay.test
check "submit to viahost.test (nx-host.test next hop)" send host alice@snd.test u2@viahost.test
check "submit to nxdomain.test (the recipient's own domain)" send nxd alice@snd.test u3@nxdomain.test
check "maillog: [nx-relay.test] next hop deferred 4.4.3, Host or domain name not found" \
    wait_until 30 maillog_has t 'to=<u1@viarelay.test>, .*dsn=4\.4\.3, status=deferred \(Host or domain name not found'
check "maillog: nx-host.test next hop deferred 4.4.3, Host or domain name not found" \
    wait_until 30 maillog_has t 'to=<u2@viahost.test>, .*dsn=4\.4\.3, status=deferred \(Host or domain name not found'
check "maillog: nxdomain.test recipient bounced 5.4.4" \
    wait_until 30 maillog_has t 'to=<u3@nxdomain.test>, .*dsn=5\.4\.4, status=bounced \(Host or domain name not found'
check "the nxdomain.test bounce reaches alice@snd.test" \
    wait_until 30 test_ge bounced_to 'u3@nxdomain\.test' 1
check "maillog: the [nx-relay.test] recipient is retried (deferred again)" \
    wait_until 30 test_ge maillog_count t 'to=<u1@viarelay.test>, .*status=deferred' 2
check "maillog: no next-hop recipient was ever bounced" \
    test "$(maillog_count t 'to=<u[12]@via(relay|host)\.test>, .*status=bounced')" -eq 0
check "no DSN for a next-hop recipient reached the sender" \
    test "$(bounced_to 'u[12]@via')" -eq 0
check "ternctl queue still holds both next-hop recipients" queue_holds 'u[12]@via(relay|host)\.test' 2

# --- 4. only a transport says discard
check "submit to u4@discard (a domain named discard)" send disc alice@snd.test u4@discard
check "submit to u5@discardhost (next hop host named discard)" send dischost alice@snd.test u5@discardhost
check "maillog: u4@discard is not discarded: SMTP to its implicit MX discard[127.0.0.1]:25" \
    wait_until 30 maillog_has t 'to=<u4@discard>, .*discard\[127\.0\.0\.1\]:25'
check "maillog: u5@discardhost reaches the sink through host discard" \
    wait_until 30 maillog_has t 'to=<u5@discardhost>, relay=discard\[127\.0\.0\.1\]:'"$P_SND"', .*status=sent'
check "u5@discardhost's message is at the sink" \
    wait_until 30 sink_match_has snd '^X-Test-Id: dischost$' 1
check "maillog: nothing was discarded" \
    test "$(maillog_count t 'status=sent \(discarded')" -eq 0

# --- 2. hopcount_limit (default 50): Received: headers, tern's own included
# hops_msg FILE ID N - a message with N Received: headers
hops_msg() {
    "$PY" - "$@" <<'PY'
import sys
path, tid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
hdr = b"".join(b"Received: from hop%d.example (hop%d.example [192.0.2.%d])\r\n\tby relay%d.example"
               b" with ESMTP id H%d; Thu, 3 Dec 2026 10:00:00 +0000\r\n" % (i, i, i % 250 + 1, i, i)
               for i in range(n))
open(path, "wb").write(hdr + b"From: alice@snd.test\r\nTo: u@snd.test\r\nSubject: hops\r\n"
                       b"X-Test-Id: " + tid.encode() + b"\r\n\r\nbody")
PY
}
# send_hops ID N - submit a message with N Received: headers; print the final reply
send_hops() {
    hops_msg "$WORK/$1.eml" "$1" "$2"
    "$PY" "$TERN_IT_PY" send 127.0.0.1 "$PORT" alice@snd.test "$1@snd.test" "$WORK/$1.eml" 2>&1
}
r51=$(send_hops hops51 51)
check "51 Received: headers: 554 5.4.6 Error: too many hops at end of DATA ($r51)" \
    grep -q '^554 5.4.6 Error: too many hops' <<<"$r51"
r49=$(send_hops hops49 49)
check "49 Received: headers (50 with tern's own): refused (554 5.4.6) ($r49)" \
    grep -q '^554 5.4.6' <<<"$r49"
r48=$(send_hops hops48 48)
check "48 Received: headers (49 with tern's own): accepted ($r48)" grep -q '^250 ' <<<"$r48"
check "the 48-hop message is delivered" wait_until 30 sink_match_has snd '^X-Test-Id: hops48$' 1
check "maillog: the refusal is logged with its count" \
    maillog_has t 'reject: END-OF-MESSAGE from .*554 5\.4\.6 Error: too many hops \(50 Received'
check "nothing of the refused messages reached a sink" \
    test "$(sink_match_count snd '^X-Test-Id: hops(51|49)$')" -eq 0

# --- 3. a next hop that is tern itself: "mail for X loops back to myself", 5.4.6
check "submit to loop.test ([127.0.0.1]:own port)" send loop alice@snd.test u6@loop.test
check "submit to mxloop.test (its MX is tern)" send mxloop alice@snd.test u7@mxloop.test
check "submit to proxyloop.test ([127.0.0.9]:2525 in proxy_interfaces)" \
    send proxyloop alice@snd.test u8@proxyloop.test
check "submit to mxbackup.test (tern is its preference-20 MX)" send mxbackup alice@snd.test u9@mxbackup.test
check "maillog: [127.0.0.1]:own port bounced 5.4.6, loops back to myself" \
    wait_until 30 maillog_has t 'to=<u6@loop.test>, .*dsn=5\.4\.6, status=bounced \(mail for 127\.0\.0\.1 loops back to myself\)'
check "maillog: an MX that is tern bounced 5.4.6, loops back to myself" \
    wait_until 30 maillog_has t 'to=<u7@mxloop.test>, .*dsn=5\.4\.6, status=bounced \(mail for mxloop\.test loops back to myself\)'
check "maillog: a proxy_interfaces next hop bounced 5.4.6" \
    wait_until 30 maillog_has t 'to=<u8@proxyloop.test>, .*dsn=5\.4\.6, status=bounced \(mail for 127\.0\.0\.9 loops back to myself\)'
check "maillog: tern as backup MX: only the better MX is tried (deferred)" \
    wait_until 30 maillog_has t 'to=<u9@mxbackup.test>, .*status=deferred \(connect to best\.mxbackup\.test\[127\.0\.0\.2\]'
check "the loop bounces reach alice@snd.test" \
    wait_until 30 test_ge bounced_to 'u[678]@(mx|proxy)?loop\.test' 3
check "no looping message came back into tern (each received once)" \
    test "$(maillog_count t 'message-id=<(loop|mxloop|proxyloop)@tern-it\.test>')" -eq 3
check "maillog: tern warns about the loop" maillog_has t 'warning: .*loops back to myself'
check "maillog: the backup-MX recipient never reached tern's own smtpd" \
    test "$(maillog_count t 'to=<u9@mxbackup.test>, relay=mx\.mxloop')" -eq 0

# --- 6. SMTPUTF8 (RFC 6531): no silent downgrade of what needs UTF-8
# send_utf8 ID SENDER RCPT SUBJECT - submit with MAIL ... SMTPUTF8 (smtplib); print the reply
send_utf8() {
    "$PY" - 127.0.0.1 "$PORT" "$@" <<'PY'
import smtplib, sys
host, port, tid, sender, rcpt, subject = sys.argv[1:7]
msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@tern-it.test>\r\n"
       "X-Test-Id: %s\r\n\r\nK\u00f6rper mit Umlaut.\r\n" % (sender, rcpt, subject, tid, tid))
with smtplib.SMTP(host, int(port), timeout=30) as s:
    s.ehlo("python-client.test")
    if not s.has_extn("smtputf8"):
        print("tern does not offer SMTPUTF8")
        sys.exit(1)
    code, resp = s.mail(sender, ["SMTPUTF8", "BODY=8BITMIME"])
    if code == 250:
        code, resp = s.rcpt(rcpt)
    if code == 250:
        code, resp = s.data(msg.encode("utf-8"))
    print(code, resp.decode("utf-8", "replace"))
PY
}
r=$(send_utf8 u8rcpt alice@snd.test "j$(printf '\xc3\xbc')rgen@utf8.test" ascii 2>&1)
check "submit SMTPUTF8, UTF-8 recipient -> utf8.test ($r)" grep -q '^250 ' <<<"$r"
r=$(send_utf8 u8hdr alice@snd.test hdr@utf8.test "Gr$(printf '\xc3\xbc')e" 2>&1)
check "submit SMTPUTF8, UTF-8 Subject only -> utf8.test ($r)" grep -q '^250 ' <<<"$r"
r=$(send_utf8 u8none alice@snd.test plain@utf8.test "plain ascii" 2>&1)
check "submit SMTPUTF8, nothing needs UTF-8 -> utf8.test ($r)" grep -q '^250 ' <<<"$r"
r=$(send_utf8 u8pass "b$(printf '\xc3\xb6')b@snd.test" "$(printf '\xc3\xa5')sa@utf8ok.test" ascii 2>&1)
check "submit SMTPUTF8, UTF-8 envelope -> utf8ok.test (offers SMTPUTF8) ($r)" grep -q '^250 ' <<<"$r"

check "maillog: UTF-8 recipient bounced 5.6.7, SMTPUTF8 is required, but was not offered" \
    wait_until 30 maillog_has t "to=<j$(printf '\xc3\xbc')rgen@utf8.test>, .*dsn=5\\.6\\.7, status=bounced \\(SMTPUTF8 is required, but was not offered by host 127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]\\)"
check "maillog: UTF-8 Subject bounced 5.6.7" \
    wait_until 30 maillog_has t 'to=<hdr@utf8.test>, .*dsn=5\.6\.7, status=bounced \(SMTPUTF8 is required'
check "maillog: the ASCII-only message is sent (downgraded)" \
    wait_until 30 maillog_has t 'to=<plain@utf8.test>, .*status=sent'
check "the downgraded message reached smtp-sink without SMTPUTF8 in MAIL" \
    wait_until 30 sink_match_has snd '^X-Test-Id: u8none' 1
d=$(sink_files_matching snd '^X-Test-Id: u8none' | head -n 1)
check "... its X-Mail-Args has no SMTPUTF8" bash -c '! grep -qi "^X-Mail-Args:.*SMTPUTF8" "$0"' "$d"
check "no message needing UTF-8 reached smtp-sink (only their bounces, to alice)" \
    test "$(sink_match_count snd '^X-Rcpt-Args: <(hdr|j.*rgen)@utf8\.test>')" -eq 0
check "the 5.6.7 bounces reach alice@snd.test" \
    wait_until 30 test_ge sink_match_count snd '^Final-Recipient: .*(rcpt;|@utf8\.test)' 2
check "maillog: the UTF-8 envelope is sent to the server that offers SMTPUTF8" \
    wait_until 30 maillog_has t "to=<$(printf '\xc3\xa5')sa@utf8ok.test>, .*status=sent"
check "... with MAIL FROM:<...> SMTPUTF8" \
    grep -q 'MAIL FROM:<.*> .*SMTPUTF8' "$WORK/u8peer/peer.log"
check "... and the UTF-8 Body arrived there" \
    bash -c 'grep -lq "^X-Test-Id: u8pass" "$0"/msg-*.eml' "$WORK/u8peer"

check "ternd exits on SIGTERM" stop_ternd t

# --- the same through relayhost: [host] and host that DNS does not know defer; relayhost =
# [127.0.0.1]:own port bounces 5.4.6 (its bounce, to <alice@snd.test> through the same
# relayhost, loops too, and being from <> is dropped)
for rh in "[nx-relayhost.test]:$P_SND" "nx-relayhost.test:$P_SND" "[127.0.0.1]:own"; do
    read -r p < <(pick_ports 1)
    n=$((${n:-0} + 1))
    write_main_cf "rh$n" "$p" <<EOF
dns_servers = 127.0.0.1:$P_DNS
relayhost = ${rh/own/$p}
EOF
    start_ternd "rh$n" || die "ternd rh$n did not start"
    check "relayhost = $rh: submit" submit_msg "$p" "rh$n" alice@snd.test "u@rh$n.test"
done
check "relayhost = [nx-relayhost.test]: deferred 4.4.3" \
    wait_until 30 maillog_has rh1 'to=<u@rh1\.test>, .*dsn=4\.4\.3, status=deferred \(Host or domain name not found'
check "relayhost = nx-relayhost.test (MX lookup): deferred 4.4.3" \
    wait_until 30 maillog_has rh2 'to=<u@rh2\.test>, .*dsn=4\.4\.3, status=deferred \(Host or domain name not found'
check "relayhost = [127.0.0.1]:own port: bounced 5.4.6, loops back to myself" \
    wait_until 30 maillog_has rh3 'to=<u@rh3\.test>, .*dsn=5\.4\.6, status=bounced \(mail for 127\.0\.0\.1 loops back to myself\)'
check "relayhost: nothing bounced for the unknown relay hosts" \
    test "$(maillog_count rh1 'status=bounced')$(maillog_count rh2 'status=bounced')" = 00
for n in 1 2 3; do check "ternd rh$n exits on SIGTERM" stop_ternd "rh$n"; done

# --- proxy_interfaces takes numeric addresses only: a name stops start-up and check with its name
write_main_cf bad <<EOF
proxy_interfaces = gateway.example
EOF
out=$(timeout 20 "$TERND" -c "$WORK/bad/etc" 2>&1)
rc=$?
check "proxy_interfaces = gateway.example: ternd does not start (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "... and says why: $out" grep -q 'proxy_interfaces.*gateway.example' <<<"$out"
out=$("$TERND" -c "$WORK/bad/etc" check 2>&1)
rc=$?
check "ternd check fails on it too (rc $rc): $out" \
    bash -c '(($1 != 0)) && grep -q "proxy_interfaces.*gateway.example" <<<"$0"' "$out" "$rc"
it_done
