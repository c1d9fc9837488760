#!/usr/bin/env bash
# NAME
#	test_restrictions.sh - issue 10 §3: smtpd_client/helo/sender/data/end_of_data
#	restrictions, with smtpd_delay_reject yes and no, against real clients
# DESCRIPTION
#	login: SASL (sasldb, as test_sasl.sh) with smtpd_sender_restrictions =
#	  reject_sender_login_mismatch and smtpd_sender_login_maps: swaks
#	  authenticated as alice sends as alice@ (queued, arrives), as bob@
#	  (553 5.7.1 "not owned by user alice"), and as unowned@ (553 too);
#	  without AUTH, bob@ gets 553 5.7.1 "not logged in". Before issue 10
#	  the list was stored and never applied: alice could send as anyone.
#	delay: smtpd_delay_reject = yes (the default); a Python client sees the
#	  helo, sender and recipient lists answer at RCPT TO with Postfix's
#	  codes and texts (non-FQDN and invalid HELO, non-FQDN sender and
#	  recipient, check_sender_access with a parent domain and a "550 5.7.0
#	  text" value, check_recipient_access), a mydestination recipient gets
#	  550 5.1.1 (never relayed), smtpd_data_restrictions answers DATA and
#	  smtpd_end_of_data_restrictions the final dot; one good message
#	  arrives; tern logs "reject: RCPT from ...", as Postfix does.
#	nodelay: smtpd_delay_reject = no: a client the client list rejects
#	  (connecting from 127.0.0.2) gets the rejection instead of the
#	  greeting and 503 5.7.0 for every command but QUIT; HELO and MAIL
#	  are answered at once; a permit in the client list grants no relaying.
#	unknown: reject_unknown_sender_domain, dnsmasq on loopback as ternd's
#	  dns_servers: a sender domain with an MX, or only an A record (any
#	  case, or UTF-8 as its A-label), is accepted, also pipelined; an
#	  NXDOMAIN one gets 450 4.1.8 "Domain not found", a null MX one 550
#	  5.7.27, one whose zone SERVFAILs 450 4.1.8, one whose server never
#	  answers 450 4.1.8 after the lookup timeout; <> passes. A client that
#	  disconnects while its lookup is out leaves ternd serving (and, in the
#	  ASan build, reporting nothing). unknown550: unknown_address_reject_code
#	  = 550 gives 550 5.1.8; with smtpd_delay_reject = no the answer comes
#	  at MAIL, and a DNS failure under defer_if_permit lets MAIL pass and
#	  answers 450 4.1.8 at RCPT; unknowndefer: reject_tempfail_action =
#	  defer answers it at MAIL.
#	interfaces (root only): inet_interfaces = 127.0.0.201 without
#	  smtpd_listen: ternd answers SMTP on 127.0.0.201:25.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init restrictions
command -v swaks >/dev/null || skip "swaks not installed"
command -v saslpasswd2 >/dev/null || skip "saslpasswd2 not installed (apt-get install sasl2-bin)"

read -r P_SINK < <(pick_ports 1)
start_sink r "127.0.0.1:$P_SINK" || die "smtp-sink r"

# dialogue NAME PORT - run the script on stdin against 127.0.0.1:PORT (restrict_it.py)
dialogue() {
    cat >"$WORK/$1.script"
    "$PY" "$IT_DIR/restrict_it.py" 127.0.0.1 "$2" "$WORK/$1.script" >"$WORK/$1.result" 2>&1
}
# dialogue_ok NAME - the dialogue matched every reply (mismatches are shown)
dialogue_ok() {
    [[ ! -s $WORK/$1.result ]] || { cat "$WORK/$1.result" >&2; return 1; }
}

# ================================================================ login
mkdir -p "$WORK/sasl"
echo 'wonder land' | saslpasswd2 -p -c -f "$WORK/sasl/sasldb2" -u tern.login.test alice || die saslpasswd2
cat >"$WORK/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $WORK/sasl/sasldb2
mech_list: PLAIN LOGIN
EOF
write_main_cf login <<EOF
mynetworks = 127.0.0.9/32
relayhost = [127.0.0.1]:$P_SINK
smtpd_sasl_auth_enable = yes
cyrus_sasl_config_path = $WORK/sasl
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_sender_restrictions = reject_sender_login_mismatch
smtpd_sender_login_maps = inline:{ alice@snd.test=alice, bob@snd.test=bob }
EOF
start_ternd login || die "ternd login did not start"
# as_alice NAME FROM - swaks AUTH PLAIN as alice, MAIL FROM:<FROM>; log in $WORK/swaks-NAME.log
as_alice() {
    swaks --server "127.0.0.1:$(ternd_port login)" -f "$2" -t "$1@far.test" --auth PLAIN \
        --auth-user alice --auth-password 'wonder land' --timeout 20 >"$WORK/swaks-$1.log" 2>&1
}
as_alice own alice@snd.test
check "login: alice sends as alice@snd.test" grep -q '^<-  250 .*queued as' "$WORK/swaks-own.log"
as_alice other bob@snd.test
check "login: alice may not send as bob@snd.test (553 5.7.1 not owned by user alice)" \
    grep -q '^<\*\* 553 5.7.1 <bob@snd.test>: Sender address rejected: not owned by user alice' \
    "$WORK/swaks-other.log"
check "login: nothing of alice's as bob was queued" bash -c "! grep -q 'queued as' '$WORK/swaks-other.log'"
as_alice unowned nobody@snd.test
check "login: an address nobody owns is refused to alice too" \
    grep -q '^<\*\* 553 5.7.1 <nobody@snd.test>: Sender address rejected: not owned by user alice' \
    "$WORK/swaks-unowned.log"
swaks --server "127.0.0.1:$(ternd_port login)" -f bob@snd.test -t anon@far.test --timeout 20 \
    >"$WORK/swaks-anon.log" 2>&1
check "login: bob@snd.test without AUTH: 553 5.7.1 not logged in" \
    grep -q '^<\*\* 553 5.7.1 <bob@snd.test>: Sender address rejected: not logged in' "$WORK/swaks-anon.log"
check "login: tern logs the rejection as Postfix does" \
    maillog_has login '(NOQUEUE|[0-9A-F]+): reject: RCPT from [^ ]+\[127\.0\.0\.1\]: 553 5\.7\.1 <bob@snd\.test>: Sender address rejected: not owned by user alice; from=<bob@snd\.test> to=<other@far\.test> proto=ESMTPA helo=<'
check "login: exactly alice's own message arrives" wait_until 20 sink_has r 1
sleep 1
check "login: and nothing else" test "$(sink_count r)" -eq 1
stop_ternd login

# ================================================================ delay
write_main_cf delay <<EOF
relayhost = [127.0.0.1]:$P_SINK
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_helo_restrictions = reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname
smtpd_sender_restrictions = reject_non_fqdn_sender,
    check_sender_access inline:{ spam@bad.test=REJECT, { bad2.test = 550 5.7.0 go away } }
smtpd_recipient_restrictions = reject_non_fqdn_recipient,
    check_recipient_access inline:{ blocked@far.test=REJECT }
smtpd_data_restrictions = check_sender_access inline:{ nodata@snd.test=REJECT }
smtpd_end_of_data_restrictions = check_sender_access inline:{ noeod@snd.test=REJECT }
EOF
start_ternd delay || die "ternd delay did not start"
dialogue delay "$(ternd_port delay)" <<'EOF'
S: 220
C: EHLO nodot
S: 250
C: MAIL FROM:<a@snd.test>
S: 250
C: RCPT TO:<x@far.test>
S: 504 5.5.2 <nodot>: Helo command rejected: need fully-qualified hostname
C: EHLO bad!name.test
S: 250
C: MAIL FROM:<a@snd.test>
S: 250
C: RCPT TO:<x@far.test>
S: 501 5.5.2 <bad!name.test>: Helo command rejected: Invalid name
C: EHLO [127.0.0.1]
S: 250
C: MAIL FROM:<user>
S: 250
C: RCPT TO:<x@far.test>
S: 504 5.5.2 <user>: Sender address rejected: need fully-qualified address
C: RSET
S: 250
C: MAIL FROM:<spam@bad.test>
S: 250
C: RCPT TO:<x@far.test>
S: 554 5.7.1 <spam@bad.test>: Sender address rejected: Access denied
C: RSET
S: 250
C: MAIL FROM:<x@mx.sub.bad2.test>
S: 250
C: RCPT TO:<x@far.test>
S: 550 5.7.0 <x@mx.sub.bad2.test>: Sender address rejected: go away
C: RSET
S: 250
C: MAIL FROM:<a@snd.test>
S: 250
C: RCPT TO:<blocked@far.test>
S: 554 5.7.1 <blocked@far.test>: Recipient address rejected: Access denied
C: RCPT TO:<someone>
S: 504 5.5.2 <someone>: Recipient address rejected: need fully-qualified address
C: RCPT TO:<root@localhost.delay.test>
S: 550 5.1.1 <root@localhost.delay.test>: Recipient address rejected: User unknown in local recipient table
C: RCPT TO:<postmaster@tern.delay.test>
S: 550 5.1.1 <postmaster@tern.delay.test>: Recipient address rejected: User unknown in local recipient table
C: RSET
S: 250
C: MAIL FROM:<nodata@snd.test>
S: 250
C: RCPT TO:<x@far.test>
S: 250
C: DATA
S: 554 5.7.1 <nodata@snd.test>: Sender address rejected: Access denied
C: RSET
S: 250
C: MAIL FROM:<noeod@snd.test>
S: 250
C: RCPT TO:<x@far.test>
S: 250
C: DATA
S: 354
.
S: 554 5.7.1 <noeod@snd.test>: Sender address rejected: Access denied
C: MAIL FROM:<good@snd.test>
S: 250
C: RCPT TO:<good@far.test>
S: 250
C: DATA
S: 354
.
S: 250
C: QUIT
S: 221
EOF
check "delay: every list answers at RCPT TO, DATA and end of data as Postfix does" dialogue_ok delay
check "delay: the good message arrives" wait_until 20 sink_has r 2
check "delay: tern logs reject: RCPT" \
    maillog_has delay '(NOQUEUE|[0-9A-F]+): reject: RCPT from [^ ]+\[127\.0\.0\.1\]: 504 5\.5\.2 <nodot>: Helo command rejected'
check "delay: tern logs reject: DATA" maillog_has delay 'reject: DATA from .*<nodata@snd\.test>'
check "delay: tern logs reject: END-OF-MESSAGE" maillog_has delay 'reject: END-OF-MESSAGE from .*<noeod@snd\.test>'
sleep 1
check "delay: nothing else was relayed (the mydestination recipients above all)" test "$(sink_count r)" -eq 2
stop_ternd delay

# ================================================================ nodelay
write_main_cf nodelay <<EOF
mynetworks = 127.0.0.9/32
relayhost = [127.0.0.1]:$P_SINK
smtpd_delay_reject = no
smtpd_client_restrictions = check_client_access inline:{ 127.0.0.2=REJECT }, permit
smtpd_helo_restrictions = reject_non_fqdn_helo_hostname
smtpd_sender_restrictions = check_sender_access inline:{ spam@bad.test=REJECT }
EOF
start_ternd nodelay || die "ternd nodelay did not start"
dialogue nodelay "$(ternd_port nodelay)" <<'EOF'
SRC> 127.0.0.2
S: 554 5.7.1 <unknown[127.0.0.2]>: Client host rejected: Access denied
C: EHLO ok.test
S: 503 5.7.0 Error: access denied for unknown[127.0.0.2]
C: MAIL FROM:<a@snd.test>
S: 503 5.7.0 Error: access denied for unknown[127.0.0.2]
C: QUIT
S: 221
--
SRC> 127.0.0.1
S: 220
C: EHLO nodot
S: 504 5.5.2 <nodot>: Helo command rejected: need fully-qualified hostname
C: EHLO ok.test
S: 250
C: MAIL FROM:<spam@bad.test>
S: 554 5.7.1 <spam@bad.test>: Sender address rejected: Access denied
C: MAIL FROM:<a@snd.test>
S: 250
C: RCPT TO:<x@far.test>
S: 554 5.7.1 <x@far.test>: Relay access denied
C: QUIT
S: 221
EOF
check "nodelay: client, helo and sender lists answer at connect, HELO and MAIL" dialogue_ok nodelay
check "nodelay: tern logs reject: CONNECT" \
    maillog_has nodelay 'NOQUEUE: reject: CONNECT from [^ ]+\[127\.0\.0\.2\]: 554 5\.7\.1'
check "nodelay: tern logs reject: MAIL" \
    maillog_has nodelay 'NOQUEUE: reject: MAIL from [^ ]+\[127\.0\.0\.1\]: 554 5\.7\.1 <spam@bad\.test>'
stop_ternd nodelay

# ================================================================ unknown
if command -v dnsmasq >/dev/null; then
    read -r P_DNS P_SF P_SLOW < <(pick_ports 3)
    spawn servfail "$PY" "$IT_DIR/restrict_it.py" dns-servfail "$P_SF"
    spawn silent "$PY" "$IT_DIR/restrict_it.py" dns-silent "$P_SLOW"
    spawn dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
        --listen-address=127.0.0.1 --port="$P_DNS" --conf-file=/dev/null --pid-file= \
        --user=root --local=/test/ --log-queries --log-facility="$WORK/dnsmasq.log" \
        --mx-host=mx.known.test,mail.known.test,10 --host-record=mail.known.test,127.0.0.1 \
        --host-record=aonly.test,127.0.0.1 --host-record=xn--bcher-kva.test,127.0.0.1 \
        --dns-rr=nullmx.test,15,000000 \
        --server=/sf.test/127.0.0.1#"$P_SF" --server=/slow.test/127.0.0.1#"$P_SLOW"
    dns_up() { "$PY" "$TERN_IT_PY" dns-query 127.0.0.1 "$P_DNS" aonly.test A 2>/dev/null | grep -q '127.0.0.1'; }
    wait_until 10 dns_up || die "dnsmasq does not answer on 127.0.0.1:$P_DNS"

    write_main_cf unknown <<EOF
relayhost = [127.0.0.1]:$P_SINK
dns_servers = 127.0.0.1:$P_DNS
smtpd_sender_restrictions = reject_unknown_sender_domain
EOF
    start_ternd unknown || die "ternd unknown did not start"
    before=$(sink_count r)
    dialogue unknown "$(ternd_port unknown)" <<'EOF'
S: 220
C: EHLO client.test
S: 250
C: MAIL FROM:<a@mx.known.test>
S: 250
C: RCPT TO:<x@far.test>
S: 250
C: DATA
S: 354
.
S: 250
C: MAIL FROM:<a@AOnly.TEST>
S: 250
C: RCPT TO:<x@far.test>
S: 250
C: RSET
S: 250
C: MAIL FROM:<a@nx.test>
S: 250
C: RCPT TO:<x@far.test>
S: 450 4.1.8 <a@nx.test>: Sender address rejected: Domain not found
C: RSET
S: 250
C: MAIL FROM:<a@nullmx.test>
S: 250
C: RCPT TO:<x@far.test>
S: 550 5.7.27 <a@nullmx.test>: Sender address rejected: Domain nullmx.test does not accept mail (nullMX)
C: RSET
S: 250
C: MAIL FROM:<a@x.sf.test>
S: 250
C: RCPT TO:<x@far.test>
S: 450 4.1.8 <a@x.sf.test>: Sender address rejected: Domain not found
C: RSET
S: 250
C: MAIL FROM:<>
S: 250
C: RCPT TO:<x@far.test>
S: 250
C: RSET
S: 250
C: MAIL FROM:<a@bücher.test> SMTPUTF8
S: 250
C: RCPT TO:<x@far.test>
S: 250
C: RSET
S: 250
C: MAIL FROM:<b@nx.test>
C: RCPT TO:<x@far.test>
C: RCPT TO:<y@far.test>
C: NOOP
S: 250
S: 450 4.1.8 <b@nx.test>: Sender address rejected: Domain not found
S: 450 4.1.8 <b@nx.test>: Sender address rejected: Domain not found
S: 250
C: RSET
S: 250
C: MAIL FROM:<a@y.slow.test>
S: 250
C: RCPT TO:<x@far.test>
S: 450 4.1.8 <a@y.slow.test>: Sender address rejected: Domain not found
C: QUIT
S: 221
--
S: 220
C: EHLO client.test
S: 250
C: MAIL FROM:<a@z.slow.test>
S: 250
C: RCPT TO:<x@far.test>
--
S: 220
C: EHLO client.test
S: 250
C: MAIL FROM:<c@mx.known.test>
S: 250
C: RCPT TO:<x@far.test>
S: 250
C: QUIT
S: 221
EOF
    check "unknown: known, A-only, UTF-8 and <> senders pass; NXDOMAIN 450 4.1.8, null MX 550 5.7.27, SERVFAIL and timeout 450 4.1.8" \
        dialogue_ok unknown
    check "unknown: the message from a known domain arrives" wait_until 20 sink_has r $((before + 1))
    check "unknown: tern logs the rejection as Postfix does" \
        maillog_has unknown '(NOQUEUE|[0-9A-F]+): reject: RCPT from [^ ]+\[127\.0\.0\.1\]: 450 4\.1\.8 <a@nx\.test>: Sender address rejected: Domain not found; from=<a@nx\.test> to=<x@far\.test>'
    check "unknown: the UTF-8 domain was looked up as its A-label" \
        grep -q 'query\[MX\] xn--bcher-kva.test' "$WORK/dnsmasq.log"
    check "unknown: the client that left during its lookup is logged at once" \
        maillog_has unknown 'lost connection after RCPT from'
    check "unknown: its lookup was cancelled (no answer to a client that is gone)" \
        bash -c "! grep -q 'a@z\.slow\.test' '$WORK/unknown/maillog'"
    check "unknown: ternd is still running" alive unknown
    stop_ternd unknown

    write_main_cf unknown550 <<EOF
relayhost = [127.0.0.1]:$P_SINK
dns_servers = 127.0.0.1:$P_DNS
unknown_address_reject_code = 550
smtpd_delay_reject = no
smtpd_sender_restrictions = reject_unknown_sender_domain
EOF
    start_ternd unknown550 || die "ternd unknown550 did not start"
    dialogue unknown550 "$(ternd_port unknown550)" <<'EOF'
S: 220
C: EHLO client.test
S: 250
C: MAIL FROM:<a@nx.test>
S: 550 5.1.8 <a@nx.test>: Sender address rejected: Domain not found
C: MAIL FROM:<a@x.sf.test>
S: 250
C: RCPT TO:<x@far.test>
S: 450 4.1.8 <a@x.sf.test>: Sender address rejected: Domain not found
C: RSET
S: 250
C: MAIL FROM:<a@mx.known.test>
S: 250
C: RCPT TO:<x@far.test>
S: 250
C: QUIT
S: 221
EOF
    check "unknown550: 550 5.1.8 at MAIL; a DNS failure (defer_if_permit) answers 450 4.1.8 at RCPT" \
        dialogue_ok unknown550
    check "unknown550: ternd -n shows unknown_address_reject_code" \
        bash -c "'$TERND' -c '$WORK/unknown550/etc' -n | grep -qx 'unknown_address_reject_code = 550'"
    stop_ternd unknown550

    write_main_cf unknowndefer <<EOF
relayhost = [127.0.0.1]:$P_SINK
dns_servers = 127.0.0.1:$P_DNS
smtpd_delay_reject = no
reject_tempfail_action = defer
smtpd_sender_restrictions = reject_unknown_sender_domain
EOF
    start_ternd unknowndefer || die "ternd unknowndefer did not start"
    dialogue unknowndefer "$(ternd_port unknowndefer)" <<'EOF'
S: 220
C: EHLO client.test
S: 250
C: MAIL FROM:<a@x.sf.test>
S: 450 4.1.8 <a@x.sf.test>: Sender address rejected: Domain not found
C: MAIL FROM:<a@nx.test>
S: 450 4.1.8 <a@nx.test>: Sender address rejected: Domain not found
C: QUIT
S: 221
EOF
    check "unknowndefer: unknown_address_tempfail_action = \$reject_tempfail_action = defer answers at MAIL" \
        dialogue_ok unknowndefer
    stop_ternd unknowndefer
else
    say "unknown: skipped (dnsmasq not installed)"
fi

# ================================================================ interfaces
# inet_interfaces names the port-25 listeners when smtpd_listen is not set (before issue 10 it
# was accepted and tern listened on 127.0.0.1:25 regardless). Port 25 needs root; 127.0.0.201
# is an address no other test binds (test_mx.sh uses 127.0.0.2-4).
if [[ $(id -u) == 0 ]]; then
    write_main_cf ifaces >/dev/null <<EOF
inet_interfaces = 127.0.0.201
inet_protocols = ipv4
EOF
    sed -i '/^smtpd_listen = /d' "$WORK/ifaces/etc/main.cf"
    if port_open 127.0.0.201 25; then
        fail "interfaces: 127.0.0.201:25 is taken before ternd started"
    else
        spawn ifaces "$TERND" -c "$WORK/ifaces/etc"
        check "interfaces: ternd listens on 127.0.0.201:25" wait_listen ifaces 127.0.0.201 25 20
        "$PY" - "$WORK/ifaces.result" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.201", 25), timeout=20)
greeting = s.makefile("rb").readline().decode()
open(sys.argv[1], "w").write("" if greeting.startswith("220 ") else "greeting: " + greeting)
EOF
        check "interfaces: it answers SMTP there" dialogue_ok ifaces
        stop_proc ifaces TERM
    fi
else
    say "interfaces: skipped (port 25 needs root)"
fi

it_done
