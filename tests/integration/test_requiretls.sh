#!/usr/bin/env bash
# NAME
#	test_requiretls.sh - issue 14 check 4: REQUIRETLS (RFC 8689) on both legs
# DESCRIPTION
#	Instances (test PKI from lib.sh make_pki; "localhost" certificates):
#	  a    the relay under test: STARTTLS offered to submitters; transport_maps
#	       and smtp_tls_policy_maps send each test domain to one peer:
#	         plain.test  smtp-sink, no TLS at all
#	         may.test    tern b as [127.0.0.1]: TLS at level may, not verified
#	         pf.test     Postfix smtpd with STARTTLS, level secure: verified, but
#	                     Postfix 3.7 does not offer REQUIRETLS
#	         ok.test     tern b as [localhost], level secure: verified and offered
#	         snd.test    the senders' domain, also to b at level secure, so the
#	                     reports (which travel with REQUIRETLS) can arrive
#	  b    a second tern: STARTTLS, relays on to a closed port, so what it
#	       accepts stays in its queue for `ternctl show`.
#	Server side (a, python3 smtplib): no REQUIRETLS in the EHLO reply in the clear,
#	MAIL FROM ... REQUIRETLS in the clear gets 530 5.7.10; after STARTTLS the keyword
#	is there and the parameter accepted.
#	Client side: REQUIRETLS messages to plain.test, may.test and pf.test bounce with
#	5.7.30 (the maillog says why) and their peers see no message; the one to ok.test
#	reaches b with REQUIRETLS on MAIL FROM (b's queue file says requiretls: yes). The
#	same message without REQUIRETLS to pf.test is delivered. Each report reaches b
#	with REQUIRETLS, says 5.7.30, and holds the original headers but not the body.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init requiretls
need_postfix
PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"
read -r P_A P_B P_PF P_SINK P_DEAD < <(pick_ports 5)

write_main_cf b "$P_B" <<EOF
mynetworks = 127.0.0.0/8
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_security_level = may
relayhost = [127.0.0.1]:$P_DEAD
EOF
start_ternd b || die "ternd b did not start"

write_postfix_cf px "$P_PF" <<EOF
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_security_level = may
relayhost = [127.0.0.1]:$P_DEAD
EOF
start_postfix px || die "Postfix px did not start"
start_sink plain "127.0.0.1:$P_SINK" || die "smtp-sink did not start"

cat >"$WORK/transport" <<EOF
plain.test smtp:[127.0.0.1]:$P_SINK
may.test smtp:[127.0.0.1]:$P_B
pf.test smtp:[localhost]:$P_PF
ok.test smtp:[localhost]:$P_B
snd.test smtp:[localhost]:$P_B
EOF
cat >"$WORK/tls_policy" <<EOF
[127.0.0.1]:$P_B may
[localhost]:$P_PF secure
[localhost]:$P_B secure
EOF
write_main_cf a "$P_A" <<EOF
mynetworks = 127.0.0.0/8
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_security_level = may
transport_maps = texthash:$WORK/transport
smtp_tls_security_level = may
smtp_tls_policy_maps = texthash:$WORK/tls_policy
smtp_tls_CAfile = $PKI/ca.pem
smtp_tls_loglevel = 1
EOF
start_ternd a || die "ternd a did not start"

# The server side, and the submissions: "ok ..." / "FAIL ..." lines become checks
cat >"$WORK/submit.py" <<'PYEOF'
import smtplib, ssl, sys
port = int(sys.argv[1])
def check(what, cond):
    print(("ok " if cond else "FAIL ") + what)
def message(tag):
    return ("From: s@snd.test\r\nTo: u@dest\r\nSubject: requiretls %s\r\n"
            "Message-ID: <%s@snd.test>\r\n\r\nBODY-MARKER-%s\r\n" % (tag, tag, tag)).encode()
s = smtplib.SMTP("127.0.0.1", port, timeout=20)
s.ehlo("client.test")
check("in the clear, EHLO does not offer REQUIRETLS", not s.has_extn("requiretls"))
code, text = s.mail("s@snd.test", ["REQUIRETLS"])
check("in the clear, MAIL FROM ... REQUIRETLS gets 530 5.7.10 (%d %s)" % (code, text.decode()),
      code == 530 and text.startswith(b"5.7.10"))
s.rset()
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
s.ehlo("client.test")
check("over TLS, EHLO offers REQUIRETLS", s.has_extn("requiretls"))
for tag, rcpt, opts in (("rt-plain", "u@plain.test", ["REQUIRETLS"]),
                        ("rt-may", "u@may.test", ["REQUIRETLS"]),
                        ("rt-pf", "u@pf.test", ["REQUIRETLS"]),
                        ("rt-ok", "u@ok.test", ["REQUIRETLS"]),
                        ("no-rt-pf", "u@pf.test", [])):
    try:
        s.sendmail("s@snd.test", [rcpt], message(tag), mail_options=opts)
        check("%s: accepted%s" % (tag, " with REQUIRETLS" if opts else ""), True)
    except smtplib.SMTPException as e:
        check("%s: accepted (%s)" % (tag, e), False)
s.quit()
PYEOF
run_checks "$PY" "$WORK/submit.py" "$P_A"

# bounced RCPT WHY - a's maillog: RCPT bounced with 5.7.30 and a reason matching WHY
bounced() { maillog_has a "to=<$1>, .*dsn=5\.7\.30, status=bounced \($2"; }
check "plain.test: bounced 5.7.30, TLS missing" wait_until 30 bounced u@plain.test \
    "REQUIRETLS: the TLS connection to host 127.0.0.1\[127.0.0.1\] was not encrypted"
check "may.test: bounced 5.7.30, TLS not verified" wait_until 30 bounced u@may.test \
    "REQUIRETLS: the TLS connection to host 127.0.0.1\[127.0.0.1\] was not verified"
check "pf.test: bounced 5.7.30, REQUIRETLS not offered" wait_until 30 bounced u@pf.test \
    "REQUIRETLS support required, but not offered by host localhost\[127.0.0.1\]"
check "ok.test: delivered" wait_until 30 maillog_has a "to=<u@ok.test>, .*status=sent"
check "ok.test: over Verified TLS" maillog_has a "Verified TLS connection established to localhost\[127.0.0.1\]:$P_B"
check "pf.test without REQUIRETLS: delivered" wait_until 30 maillog_has a "to=<u@pf.test>, .*status=sent"
check "the smtp-sink got no message" test "$(sink_count plain)" -eq 0
check "Postfix received one message only" test "$(pf_maillog_count px 'cleanup.*message-id=<')" -eq 1
check "... the one without REQUIRETLS" pf_maillog_has px 'cleanup.*message-id=<no-rt-pf@snd.test>'

# b: what it holds (relayhost closed): the ok.test message and three reports
three_reports() { (($(maillog_count a 'to=<s@snd.test>, .*status=sent') >= 3)); }
check "the three reports reached b" wait_until 40 three_reports
queue_show_all b
okmsg=$(show_block b 'BODY-MARKER-rt-ok')
check "b: the ok.test message is there" grep -q 'u@ok.test' <<<"$okmsg"
check "b: it came with REQUIRETLS on MAIL FROM" grep -q '^requiretls: yes' <<<"$okmsg"
reports=$(show_block b 'Status: 5\.7\.30')
check "b: three reports with Status: 5.7.30" test "$(grep -c '^\*\*\* ENVELOPE RECORDS' <<<"$reports")" -eq 3
check "b: every report came with REQUIRETLS" \
    test "$(grep -c '^requiretls: yes' <<<"$reports")" -eq 3
for tag in rt-plain rt-may rt-pf; do
    check "report for $tag: the original headers, as text/rfc822-headers" \
        bash -c "grep -q 'Subject: requiretls $tag' <<<\"\$1\" && grep -q 'text/rfc822-headers' <<<\"\$1\"" _ "$reports"
    check "report for $tag: not the body" bash -c "! grep -q 'BODY-MARKER-$tag' <<<\"\$1\"" _ "$reports"
done
it_done
