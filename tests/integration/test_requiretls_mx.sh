#!/usr/bin/env bash
# NAME
#	test_requiretls_mx.sh - REQUIRETLS (RFC 8689 4.2.1) goes on to the next MX host
# DESCRIPTION
#	RFC 8689 4.2.1: when an MX host does not meet a REQUIRETLS message's requirements, the
#	client MUST QUIT and try the next MX host; only when none is left does the message bounce
#	(5.7.30). dnsmasq on loopback serves (MX delivery goes to port 25: root only):
#
#	rtls.test  MX 10 mx1.rtls.test (127.0.0.6), MX 20 mx2.rtls.test (127.0.0.7)
#	one.test   MX 10 mx1.rtls.test only
#	down.test  MX 10 mx1.rtls.test, MX 20 mx3.rtls.test (127.0.0.8: accepts, never greets)
#	snd.test   MX 10 mx2.rtls.test: the senders' domain, where the report goes
#
#	mx1  tern_it.py tls-sink on 127.0.0.6:25, a certificate for mx1.rtls.test: TLS that
#	     verifies, but no REQUIRETLS in its EHLO reply
#	b    tern on 127.0.0.7:25, a certificate for mx2.rtls.test: verified and REQUIRETLS; it
#	     relays on to a closed port, so what it accepts stays in its queue for `ternctl show`
#	a    the relay under test, level secure for the four domains; one connection per
#	     destination (default_destination_concurrency_limit = 1), greeting timeout 2 s
#
#	One session to a: a message without REQUIRETLS to rtls.test (it goes to mx1, the
#	preferred host), then a REQUIRETLS message to rtls.test (it must leave mx1 and reach b),
#	then one to one.test (no other MX: it bounces with 5.7.30, the report reaches b). Then a
#	REQUIRETLS message to down.test and, right after it, one without: the first waits for
#	mx3's greeting, holding down.test's one connection, and is deferred when it times out;
#	that says nothing about mx1, so the second (queued meanwhile) still reaches mx1.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init requiretls-mx
need_root "an MX host on 127.0.0.6:25 and one on 127.0.0.7:25"
command -v dnsmasq >/dev/null || skip "dnsmasq not installed (apt-get install dnsmasq-base)"
for a in 127.0.0.6 127.0.0.7 127.0.0.8; do
    port_open "$a" 25 && skip "$a:25 is already taken"
done
PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"
pki_leaf "$PKI" mx1 mx1.rtls.test ca || die "cannot make the mx1 certificate"
pki_leaf "$PKI" mx2 mx2.rtls.test ca || die "cannot make the mx2 certificate"
read -r P_DNS P_A P_B P_DEAD < <(pick_ports 4)

spawn dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
    --listen-address=127.0.0.1 --port="$P_DNS" --conf-file=/dev/null --pid-file= \
    --user=root --local=/test/ --log-facility="$WORK/dnsmasq.log" \
    --mx-host=rtls.test,mx1.rtls.test,10 --mx-host=rtls.test,mx2.rtls.test,20 \
    --mx-host=one.test,mx1.rtls.test,10 --mx-host=snd.test,mx2.rtls.test,10 \
    --mx-host=down.test,mx1.rtls.test,10 --mx-host=down.test,mx3.rtls.test,20 \
    --host-record=mx1.rtls.test,127.0.0.6 --host-record=mx2.rtls.test,127.0.0.7 \
    --host-record=mx3.rtls.test,127.0.0.8
dns_up() { "$PY" "$TERN_IT_PY" dns-query 127.0.0.1 "$P_DNS" rtls.test MX 2>/dev/null | grep -q '^MX 20 mx2.rtls.test'; }
wait_until 10 dns_up || die "dnsmasq does not answer on 127.0.0.1:$P_DNS"

# mx3: accepts connections and says nothing (stops by itself after 120 s)
spawn mx3 "$PY" -c 'import signal, socket
signal.alarm(120)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.8", 25))
s.listen(16)
held = []
while True:
    held.append(s.accept()[0])'
wait_listen mx3 127.0.0.8 25 10 || die "the silent listener did not listen on 127.0.0.8:25"
mkdir -p "$WORK/psink-mx1"
spawn psink-mx1 "$PY" "$TERN_IT_PY" tls-sink --listen 127.0.0.6:25 --dir "$WORK/psink-mx1" \
    --cert "$PKI/mx1.pem" --key "$PKI/mx1.key" --name mx1.rtls.test
wait_listen psink-mx1 127.0.0.6 25 30 || die "the tls-sink did not listen on 127.0.0.6:25"

write_main_cf b "$P_B" <<EOF
mynetworks = 127.0.0.0/8
smtpd_tls_cert_file = $PKI/mx2.pem
smtpd_tls_key_file = $PKI/mx2.key
smtpd_tls_security_level = may
relayhost = [127.0.0.1]:$P_DEAD
EOF
echo "smtpd_listen = 127.0.0.1:$P_B, 127.0.0.7:25" >>"$WORK/b/etc/main.cf"
start_ternd b || die "ternd b did not start"
wait_listen b 127.0.0.7 25 10 || die "ternd b does not listen on 127.0.0.7:25"

cat >"$WORK/tls_policy" <<EOF
rtls.test secure
one.test secure match=mx1.rtls.test
down.test secure match=mx1.rtls.test:mx3.rtls.test
snd.test secure match=mx2.rtls.test
EOF
write_main_cf a "$P_A" <<EOF
mynetworks = 127.0.0.0/8
dns_servers = 127.0.0.1:$P_DNS
relayhost =
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_security_level = may
smtp_tls_security_level = may
smtp_tls_policy_maps = texthash:$WORK/tls_policy
smtp_tls_CAfile = $PKI/ca.pem
smtp_tls_loglevel = 1
default_destination_concurrency_limit = 1
smtp_helo_timeout = 2s
EOF
start_ternd a || die "ternd a did not start"

cat >"$WORK/submit.py" <<'PYEOF'
import smtplib, ssl, sys, time
port, wait_file = int(sys.argv[1]), sys.argv[2]
def message(tag):
    return ("From: s@snd.test\r\nTo: u@dest\r\nSubject: requiretls %s\r\n"
            "Message-ID: <%s@snd.test>\r\n\r\nBODY-MARKER-%s\r\n" % (tag, tag, tag)).encode()
s = smtplib.SMTP("127.0.0.1", port, timeout=20)
s.ehlo("client.test")
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
s.ehlo("client.test")
def wait_for(text):
    for _ in range(300):
        if text in open(wait_file, errors="replace").read():
            return
        time.sleep(0.1)
for tag, rcpt, opts in (("plain-rtls", "u@rtls.test", []),
                        ("rt-rtls", "u@rtls.test", ["REQUIRETLS"]),
                        ("rt-one", "u@one.test", ["REQUIRETLS"]),
                        ("rt-down", "u@down.test", ["REQUIRETLS"]),
                        ("plain-down", "v@down.test", [])):
    try:
        s.sendmail("s@snd.test", [rcpt], message(tag), mail_options=opts)
        print("ok %s: accepted%s" % (tag, " with REQUIRETLS" if opts else ""))
    except smtplib.SMTPException as e:
        print("FAIL %s: accepted (%s)" % (tag, e))
    if tag == "plain-rtls":  # delivered first: mx1 answers, the MX order holds
        wait_for("to=<u@rtls.test>")
s.quit()
PYEOF
run_checks "$PY" "$WORK/submit.py" "$P_A" "$WORK/a/maillog"

check "without REQUIRETLS: delivered to mx1, the preferred MX host" wait_until 30 maillog_has a \
    'to=<u@rtls\.test>, relay=mx1\.rtls\.test\[127\.0\.0\.6\]:25, .*status=sent'
check "with REQUIRETLS: delivered to mx2, the next MX host" wait_until 30 maillog_has a \
    'to=<u@rtls\.test>, relay=mx2\.rtls\.test\[127\.0\.0\.7\]:25, .*status=sent'
check "... over Verified TLS to mx2" \
    maillog_has a 'Verified TLS connection established to mx2\.rtls\.test\[127\.0\.0\.7\]:25'
check "the maillog says why mx1 was left" maillog_has a \
    'REQUIRETLS support required, but not offered by host mx1\.rtls\.test\[127\.0\.0\.6\]: trying the next MX host'
check "one.test (no other MX host): bounced 5.7.30" wait_until 30 maillog_has a \
    'to=<u@one\.test>, .*dsn=5\.7\.30, status=bounced \(REQUIRETLS support required, but not offered by host mx1\.rtls\.test\[127\.0\.0\.6\]'
check "down.test: mx3 does not greet, the REQUIRETLS message is deferred" \
    wait_until 30 maillog_has a \
    'to=<u@down\.test>, relay=none, .*status=deferred \(.*mx3\.rtls\.test\[127\.0\.0\.8\]'
check "... and the next message to down.test, without REQUIRETLS, still reaches mx1" \
    wait_until 30 maillog_has a 'to=<v@down\.test>, relay=mx1\.rtls\.test\[127\.0\.0\.6\]:25, .*status=sent'
check "mx1 received the two messages without REQUIRETLS only" test "$(psink mx1 messages)" -eq 2
# two QUITs at mx1: the connection that delivered the first message, and the one that could
# not carry the REQUIRETLS message (EHLO, STARTTLS, EHLO, QUIT)
mx1_quits() { (($(psink mx1 quits) >= 2)); }
check "the connection to mx1 that could not carry it said QUIT" wait_until 10 mx1_quits

reached_b() { (($(maillog_count a 'relay=mx2\.rtls\.test\[127\.0\.0\.7\]:25, .*status=sent') >= 2)); }
check "the report of the one.test bounce reached b too" wait_until 30 reached_b
queue_show_all b
msg=$(show_block b 'BODY-MARKER-rt-rtls')
check "b holds the REQUIRETLS message to rtls.test" grep -q 'u@rtls.test' <<<"$msg"
check "... and it came with REQUIRETLS on MAIL FROM" grep -q '^requiretls: yes' <<<"$msg"
it_done
