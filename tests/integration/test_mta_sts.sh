#!/usr/bin/env bash
# NAME
#	test_mta_sts.sh - issue 14 check 2: MTA-STS (RFC 8461) against policies served over HTTPS
# DESCRIPTION
#	sts_env.sh: dnsmasq serves, for each domain D below, MX D -> mx.D (127.0.0.1), the TXT
#	record _mta-sts.D "v=STSv1; id=1", and mta-sts.D -> 127.0.0.77, where python3's
#	http.server answers https://mta-sts.D/.well-known/mta-sts.txt on port 443 with a
#	certificate of the test CA (smtp_tls_CAfile), logging each request. Each D has its own python TLS sink
#	(tern_it.py tls-sink; transport_maps: "D smtp:D:PORT", so the MX is looked up):
#	  ok.test       enforce, mx: mx.ok.test; the sink's certificate names mx.ok.test
#	                                                     -> Verified, delivered
#	  bad.test      enforce; the sink's certificate names localhost
#	                                                     -> deferred, no MAIL at the sink
#	  nomatch.test  enforce, mx: other.nomatch.test      -> the MX is not tried, deferred
#	  tst.test      testing; certificate names localhost -> delivered, the failure logged
#	  big.test      enforce, but a policy of 70 KB       -> ignored (logged): delivered
#	  ver.test      enforce, but "version: STSv2"        -> ignored (logged): delivered
#	  slow.test     enforce; the sink's certificate names localhost; the policy server
#	                answers after 3 s, and a second message arrives meanwhile
#	                                                     -> both deferred, no MAIL at the sink:
#	                no connection starts before the policy is settled
#	After a restart a message to ok.test is delivered under the kept policy: the HTTPS
#	server saw one fetch of mta-sts.ok.test in all (the policy is in the TLS cache).
#	  rt.test       enforce, mx: mx.rt.test; a second MX, mx2.rt.test, the policy does not
#	                name; the sink's certificate names mx.rt.test, and it does not offer
#	                REQUIRETLS. Two messages in one session (t offers STARTTLS after the
#	                restart), a REQUIRETLS one first: mx.rt.test cannot carry it, the next MX
#	                host is blocked by the policy -> deferred, saying so; the second
#	                message, without REQUIRETLS, is delivered to mx.rt.test all the same
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init mta_sts
need_root "port 443 on 127.0.0.77 for the policy server"
. "$(dirname "$0")/sts_env.sh"
DOMAINS=(ok bad nomatch tst big ver)
STS_DNS_EXTRA=(--mx-host=rt.test,mx2.rt.test,20 --host-record=mx2.rt.test,127.0.0.1)
sts_env 127.0.0.77 "${DOMAINS[@]}" rt slow
pki_leaf "$PKI" mxok mx.ok.test ca || die "cannot make mx.ok.test's certificate"
pki_leaf "$PKI" mxrt mx.rt.test ca || die "cannot make mx.rt.test's certificate"
read -r P_OK P_BAD P_NOMATCH P_TST P_BIG P_VER P_RT P_SLOW < <(pick_ports 8)
sts_policy STSv1 enforce mx.ok.test >"$WORK/sts/mta-sts.ok.test"
sts_policy STSv1 enforce mx.bad.test >"$WORK/sts/mta-sts.bad.test"
sts_policy STSv1 enforce other.nomatch.test >"$WORK/sts/mta-sts.nomatch.test"
sts_policy STSv1 testing mx.tst.test >"$WORK/sts/mta-sts.tst.test"
sts_policy STSv2 enforce mx.ver.test >"$WORK/sts/mta-sts.ver.test"
sts_policy STSv1 enforce mx.rt.test >"$WORK/sts/mta-sts.rt.test"
sts_policy STSv1 enforce mx.slow.test >"$WORK/sts/mta-sts.slow.test"
echo 3 >"$WORK/sts/mta-sts.slow.test.delay"
{
    sts_policy STSv1 enforce mx.big.test
    for i in $(seq 1 1000); do printf 'x-pad%d: %060d\r\n' "$i" 0; done
} >"$WORK/sts/mta-sts.big.test"

# --- the SMTP sinks ----------------------------------------------------------------------------
start_tls_sink ok "$P_OK" --cert "$PKI/mxok.pem" --key "$PKI/mxok.key" || die "python sink ok"
start_tls_sink rt "$P_RT" --cert "$PKI/mxrt.pem" --key "$PKI/mxrt.key" || die "python sink rt"
start_tls_sink slow "$P_SLOW" --cert "$PKI/server.pem" --key "$PKI/server.key" ||
    die "python sink slow"
for d in bad nomatch tst big ver; do
    port_var=P_${d^^}
    start_tls_sink "$d" "${!port_var}" --cert "$PKI/server.pem" --key "$PKI/server.key" ||
        die "python sink $d"
done
NOMATCH_C0=$(psink nomatch connects) # wait_listen's probe counts as one

: >"$WORK/transport"
for d in "${DOMAINS[@]}"; do
    port_var=P_${d^^}
    echo "$d.test smtp:$d.test:${!port_var}" >>"$WORK/transport"
done
echo "rt.test smtp:rt.test:$P_RT" >>"$WORK/transport"
echo "slow.test smtp:slow.test:$P_SLOW" >>"$WORK/transport"
sts_ternd || die "ternd t did not start"

deferred() { maillog_has t "to=<$1>, .*status=deferred"; }

# slow.test first: the second message comes while the policy is being fetched (3 s)
check "submit for a@slow.test" swaks_send t a@slow.test
fetching_slow() { (($(fetches slow) >= 1)); }
check "the policy of slow.test is being fetched" wait_until 10 fetching_slow
check "submit for b@slow.test while it is" swaks_send t b@slow.test

for d in "${DOMAINS[@]}"; do
    check "submit for a@$d.test" swaks_send t "a@$d.test"
done

check "enforce, certificate valid for the MX: delivered" wait_until 30 maillog_sent t a@ok.test
check "enforce: the policy was fetched and is enforced" \
    maillog_has t "MTA-STS policy of ok\.test: mode enforce, max_age 86400, 1 mx pattern \(fetched\)"
check "enforce: Verified TLS connection established to mx.ok.test" \
    maillog_has t "Verified TLS connection established to mx\.ok\.test\[127\.0\.0\.1\]:$P_OK"
check "enforce: the sink got the message inside TLS" psink_ge ok tls-messages 1

check "enforce, certificate not valid for the MX: deferred" wait_until 30 deferred a@bad.test
check "enforce: the maillog says the certificate was not verified" \
    maillog_has t "to=<a@bad.test>, .*status=deferred .*Server certificate not verified"
check "enforce, MX not in the policy: deferred" wait_until 30 deferred a@nomatch.test
check "enforce: the maillog says the MX host is not one the policy names" \
    maillog_has t "MTA-STS policy of nomatch\.test \(enforce\): MX host mx\.nomatch\.test is not one it names"

check "testing: delivered" wait_until 30 maillog_sent t a@tst.test
check "testing: the failure is logged" \
    maillog_has t "MTA-STS policy of tst\.test \(testing\) not met: the certificate does not name the MX host"

check "a policy over the size limit: delivered (no policy)" wait_until 30 maillog_sent t a@big.test
check "... and the maillog says it was ignored" \
    maillog_has t "MTA-STS policy of big\.test: cannot fetch it: the policy is larger than 65536 octets"
check "a policy with a bad version line: delivered (no policy)" wait_until 30 maillog_sent t a@ver.test
check "... and the maillog says it was ignored" maillog_has t "MTA-STS policy of ver\.test ignored: "

check "slow.test: a@slow.test deferred under the policy" wait_until 30 maillog_has t \
    "to=<a@slow.test>, .*status=deferred .*Server certificate not verified"
check "slow.test: b@slow.test deferred under the policy" wait_until 30 maillog_has t \
    "to=<b@slow.test>, .*status=deferred .*Server certificate not verified"
check "slow.test: nothing went out before the policy was settled (no 'sent')" \
    eval '! maillog_has t "to=<[ab]@slow\.test>, .*status=sent"'
sleep 3 # a retry or two (backoff 1-2 s)
check "slow: the sink saw no MAIL FROM (got $(psink slow mail-cmds))" test "$(psink slow mail-cmds)" -eq 0
check "bad: the sink saw no MAIL FROM (got $(psink bad mail-cmds))" test "$(psink bad mail-cmds)" -eq 0
check "nomatch: tern never connected to its sink" test "$(psink nomatch connects)" -eq "$NOMATCH_C0"

# --- a restart: the kept policy, no new fetch -----------------------------------------------
check "one fetch of mta-sts.ok.test so far" test "$(fetches ok)" -eq 1
check "ternd t stops" stop_ternd t
printf 'smtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\nsmtpd_tls_security_level = may\n' \
    "$PKI/server.pem" "$PKI/server.key" >>"$WORK/t/etc/main.cf" # STARTTLS, for REQUIRETLS below
check "ternd t starts again" start_ternd t
check "submit for b@ok.test after the restart" swaks_send t b@ok.test
check "after the restart: delivered to ok.test" wait_until 30 maillog_sent t b@ok.test
check "after the restart: under the kept policy" \
    maillog_has t "MTA-STS policy of ok\.test: mode enforce, max_age 86400, 1 mx pattern \(kept\)"
check "still one fetch of mta-sts.ok.test (got $(fetches ok))" test "$(fetches ok)" -eq 1

# --- REQUIRETLS: the next MX host is one the policy does not name ---------------------------
cat >"$WORK/rt.py" <<'PYEOF'
import smtplib, ssl, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
for rcpt, opts in (("a@rt.test", ["REQUIRETLS"]), ("b@rt.test", [])):
    try:
        s.sendmail("s@snd.test", [rcpt], b"Subject: rt\r\n\r\nrt\r\n", mail_options=opts)
        print("ok %s: accepted%s" % (rcpt, " with REQUIRETLS" if opts else ""))
    except smtplib.SMTPException as e:
        print("FAIL %s: accepted (%s)" % (rcpt, e))
s.quit()
PYEOF
run_checks "$PY" "$WORK/rt.py" "$(ternd_port t)"
check "REQUIRETLS: mx.rt.test does not offer it, the next MX host is tried" wait_until 30 \
    maillog_has t 'REQUIRETLS support required, but not offered by host mx\.rt\.test\[127\.0\.0\.1\]: trying the next MX host'
check "... it is one the policy does not name: deferred, saying so" wait_until 30 maillog_has t \
    'to=<a@rt\.test>, .*status=deferred \(MTA-STS policy of rt\.test \(enforce\): MX host mx2\.rt\.test is not one it names'
check "the message without REQUIRETLS behind it: delivered to mx.rt.test" \
    wait_until 30 maillog_sent t b@rt.test
check "mx.rt.test got that one message only" test "$(psink rt messages)" -eq 1
it_done
