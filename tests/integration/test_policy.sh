#!/usr/bin/env bash
# NAME
#	test_policy.sh - issue 4 checks 3 and 4: certificate relaying and
#	per-site client TLS policy
# DESCRIPTION
#	Check 3 (server): tern "srv" with mynetworks = 127.0.0.9/32, so the
#	test client on 127.0.0.1 is outside it; smtpd_tls_ask_ccert = yes,
#	smtpd_recipient_restrictions = check_ccert_access, permit_tls_clientcerts,
#	reject_unauth_destination. A python client does STARTTLS and RCPT:
#	  client.pem (our CA, certificate fingerprint in relay_clientcerts) relays;
#	  rogue.pem (foreign CA, public-key fingerprint in relay_clientcerts)
#	    relays too: the handshake completes although the chain does not
#	    verify, the fingerprint is the credential;
#	  no certificate, or stranger.pem (our CA, not listed): 554 5.7.1;
#	  banned.pem (listed in relay_clientcerts AND REJECT in
#	    check_ccert_access): 554 5.7.1 Client certificate rejected.
#	`ternd check` warns when a certificate rule is configured while
#	smtpd_tls_ask_ccert = no.
#	Check 4 (client): smtp_tls_per_site (the talk's table) keyed by the
#	next hop "[localhost]:PORT", global level may (smtp_use_tls = yes),
#	python sinks on loopback:
#	  NONE to a sink offering STARTTLS: never starts TLS;
#	  MAY to a sink without STARTTLS and to one that hangs up after 220:
#	    delivered in plaintext;
#	  MUST to a sink whose certificate names wrong.example, and MUST to a
#	    sink without STARTTLS: deferred, no MAIL FROM / RCPT / DATA seen;
#	  MUST to the right name: delivered, "Verified";
#	  MUST_NOPEERMATCH to the wrong name: delivered over TLS;
#	the log says "tls=<level> (smtp_tls_per_site ...: key)".
#	Per-site protocols=/ciphers=/exclude= in smtp_tls_policy_maps: a site
#	with protocols=!SSLv2:!SSLv3:!TLSv1.3 is reached over TLSv1.2 (the
#	python sink records the version), one with protocols=>=TLSv1.3 over
#	TLSv1.3.
#	`ternd check` refuses a dane entry in smtp_tls_policy_maps without
#	smtp_dns_support_level = dnssec, and accepts it with (test_dane.sh delivers).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init policy
command -v openssl >/dev/null || skip "openssl CLI not installed"
command -v swaks >/dev/null || skip "swaks not installed"

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"

# extra_cert NAME CN CA - a key and certificate NAME.pem signed by CA (ca or other-ca)
extra_cert() {
    (
        cd "$PKI" || exit 1
        set -e
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
        chmod 600 "$1.key"
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=DNS:$2" >"$1.ext"
        openssl req -new -key "$1.key" -subj "/O=tern-it/CN=$2" -out "$1.csr" 2>/dev/null
        openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 1 \
            -extfile "$1.ext" -out "$1.pem" 2>/dev/null
        chmod 644 "$1.pem"
    )
}
extra_cert stranger stranger.tern-it.test ca || die "cannot make stranger.pem"
extra_cert banned banned.tern-it.test ca || die "cannot make banned.pem"
extra_cert wrong wrong.example ca || die "cannot make wrong.pem"

# fp FILE - certificate fingerprint (sha256), as Postfix prints it
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
# pkey_fp FILE - public-key fingerprint (sha256 of the DER SubjectPublicKeyInfo)
pkey_fp() {
    openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
        openssl dgst -sha256 -binary | od -An -tx1 | tr -d ' \n' | tr a-f A-F | sed 's/../&:/g; s/:$//'
}

# ================================================================ check 3
read -r P_RSINK < <(pick_ports 1)
start_sink r "127.0.0.1:$P_RSINK" || die "smtp-sink r"

cat >"$WORK/relay_clientcerts" <<EOF
# client.pem by certificate fingerprint, rogue.pem by public-key fingerprint
$(fp "$PKI/client.pem") client.tern-it.test
$(pkey_fp "$PKI/rogue.pem") rogue
$(fp "$PKI/banned.pem") banned
EOF
cat >"$WORK/ccert_access" <<EOF
$(fp "$PKI/banned.pem") REJECT certificate revoked
EOF

SRV_COMMON="mynetworks = 127.0.0.9/32
relayhost = [127.0.0.1]:$P_RSINK
smtpd_tls_security_level = may
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_CAfile = $PKI/ca.pem
smtpd_tls_loglevel = 2
smtpd_tls_fingerprint_digest = sha256
relay_clientcerts = texthash:$WORK/relay_clientcerts
smtpd_relay_restrictions =
smtpd_recipient_restrictions = check_ccert_access texthash:$WORK/ccert_access,
    permit_tls_clientcerts, reject_unauth_destination"

write_main_cf srv <<EOF
$SRV_COMMON
smtpd_tls_ask_ccert = yes
EOF
start_ternd srv || die "ternd srv did not start"

cat >"$WORK/ccsend.py" <<'EOF'
# ccsend.py PORT CAFILE RCPT [CERT KEY] - STARTTLS with an optional client
# certificate; prints "rcpt CODE TEXT" and, after a 250, "data CODE"
import smtplib, ssl, sys
port, cafile, rcpt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
if len(sys.argv) > 5:
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    s.ehlo("ccert-client.test")
    s.starttls(context=ctx)
    s.ehlo("ccert-client.test")
    code, resp = s.mail("alice@outside.test")
    if code != 250:
        print("mail", code, resp.decode())
        sys.exit(0)
    code, resp = s.rcpt(rcpt)
    print("rcpt", code, resp.decode())
    if code == 250:
        code, resp = s.data(b"Subject: ccert relay\r\n\r\nhello\r\n")
        print("data", code)
EOF

# ccsend RCPT [CERTNAME] - output of one session to srv (saved in $WORK/cc-RCPT.out)
ccsend() {
    local cert=()
    [[ -n ${2:-} ]] && cert=("$PKI/$2.pem" "$PKI/$2.key")
    "$PY" "$WORK/ccsend.py" "$(ternd_port srv)" "$PKI/ca.pem" "$1" "${cert[@]}" \
        >"$WORK/cc-${1%%@*}.out" 2>&1
    cat "$WORK/cc-${1%%@*}.out"
}
# relays RCPT [CERTNAME] - RCPT 250 and DATA 250
relays() { ccsend "$@" | grep -q '^data 250'; }
# refused RCPT [CERTNAME] ERE - RCPT answered 554 5.7.1 with text matching ERE
refused() { ccsend "$1" "${2:-}" | grep -Eq "^rcpt 554 5\.7\.1 .*$3"; }

check "ccert: listed certificate fingerprint relays" relays c1@far.test client
check "ccert: foreign-CA certificate with listed public-key fingerprint relays" relays c2@far.test rogue
check "ccert: no certificate gets 554 5.7.1" refused c3@far.test "" "Relay access denied"
check "ccert: unknown certificate gets 554 5.7.1" refused c4@far.test stranger "Relay access denied"
check "ccert: check_ccert_access REJECT wins over relay_clientcerts" \
    refused c5@far.test banned "Client certificate rejected: certificate revoked"
check "ccert: both relayed messages reach the relayhost" wait_until 30 sink_has r 2
check "ccert: tern's log shows the untrusted foreign-CA certificate's handshake" \
    maillog_has srv 'Untrusted TLS connection established from'
check "ccert: nothing else was relayed" bash -c "sleep 2; (( \$('$PY' '$TERN_IT_PY' count '$WORK/sink-r') == 2 ))"
stop_ternd srv

write_main_cf nocc <<EOF
$SRV_COMMON
smtpd_tls_ask_ccert = no
EOF
"$TERND" -c "$WORK/nocc/etc" check >"$WORK/nocc-check.out" 2>&1
check "ternd check warns about certificate rules without smtpd_tls_ask_ccert" \
    grep -q 'warning: .*smtpd_tls_ask_ccert = no' "$WORK/nocc-check.out"

# ================================================================ check 4
read -r P_NONE P_MAYN P_MAYH P_MUSTW P_MUSTN P_MUSTG P_NOPM < <(pick_ports 7)
start_tls_sink none "$P_NONE" --cert "$PKI/server.pem" --key "$PKI/server.key" || die "sink none"
start_tls_sink mayn "$P_MAYN" --mode notls || die "sink mayn"
start_tls_sink mayh "$P_MAYH" --mode hangup || die "sink mayh"
start_tls_sink mustw "$P_MUSTW" --cert "$PKI/wrong.pem" --key "$PKI/wrong.key" || die "sink mustw"
start_tls_sink mustn "$P_MUSTN" --mode notls || die "sink mustn"
start_tls_sink mustg "$P_MUSTG" --cert "$PKI/server.pem" --key "$PKI/server.key" || die "sink mustg"
start_tls_sink nopm "$P_NOPM" --cert "$PKI/wrong.pem" --key "$PKI/wrong.key" || die "sink nopm"

: >"$WORK/transport"
: >"$WORK/tls_per_site"
for s in none:NONE mayn:MAY mayh:MAY mustw:MUST mustn:MUST mustg:MUST nopm:MUST_NOPEERMATCH; do
    name=${s%%:*}
    var=P_${name^^}
    echo "$name.test smtp:[localhost]:${!var}" >>"$WORK/transport"
    echo "[localhost]:${!var} ${s##*:}" >>"$WORK/tls_per_site"
done

write_main_cf cli <<EOF
mynetworks = 127.0.0.0/8
transport_maps = texthash:$WORK/transport
smtp_use_tls = yes
smtp_tls_per_site = texthash:$WORK/tls_per_site
smtp_tls_CAfile = $PKI/ca.pem
smtp_tls_loglevel = 1
EOF
start_ternd cli || die "ternd cli did not start"

# deferred RCPT ERE - deferred with dsn 4.7.5 and a reason matching ERE
deferred() { maillog_has cli "to=<$1>, .*dsn=4\.7\.5, status=deferred \($2"; }

for s in none mayn mayh mustw mustn mustg nopm; do
    check "per-site: submit for $s.test" swaks_send cli "a@$s.test"
done

check "NONE: delivered" wait_until 30 maillog_sent cli a@none.test
check "NONE: no STARTTLS although offered, message in the clear" \
    bash -c "(( \$('$PY' '$TERN_IT_PY' sink-query '$WORK/psink-none' starttls-cmds) == 0 && \$('$PY' '$TERN_IT_PY' sink-query '$WORK/psink-none' plain-messages) == 1 ))"
check "MAY: delivered in plaintext to the site without STARTTLS" wait_until 30 psink_ge mayn plain-messages 1
check "MAY: delivered in plaintext after a failed handshake" wait_until 40 psink_ge mayh plain-messages 1
check "MAY: ... which was tried with TLS first" psink_ge mayh tls-fail 1
check "MUST (right name): delivered" wait_until 30 maillog_sent cli a@mustg.test
check "MUST (right name): over TLS, Verified" \
    bash -c "(( \$('$PY' '$TERN_IT_PY' sink-query '$WORK/psink-mustg' tls-messages) == 1 )) && grep -q 'Verified TLS connection established to localhost\[127.0.0.1\]:$P_MUSTG' '$WORK/cli/maillog'"
check "MUST_NOPEERMATCH (wrong name): delivered" wait_until 30 maillog_sent cli a@nopm.test
check "MUST_NOPEERMATCH (wrong name): over TLS" psink_ge nopm tls-messages 1
check "MUST (wrong name): tern tried, more than once" wait_until 30 psink_ge mustw tls 2
check "MUST (no STARTTLS): tern tried, more than once" wait_until 30 psink_ge mustn connects 2
check "MUST (wrong name): deferred 4.7.5, certificate not verified" \
    wait_until 10 deferred a@mustw.test "Server certificate not verified"
check "MUST (no STARTTLS): deferred 4.7.5, TLS not offered" \
    wait_until 10 deferred a@mustn.test "TLS is required, but was not offered"
for s in mustw mustn; do
    check "MUST: $s saw no MAIL FROM at all" test "$(psink "$s" mail-cmds)" -eq 0
    check "MUST: $s saw no RCPT/DATA in the clear" test "$(psink "$s" plain-data-cmds)" -eq 0
    check "MUST: $s has no message" test "$(psink "$s" messages)" -eq 0
done
check "MUST: never status=sent for them" bash -c "! grep -Eq 'to=<a@must[wn].test>, .*status=sent' '$WORK/cli/maillog'"
check "log: policy line names level, table and key (MUST)" \
    maillog_has cli "tls=verify \(smtp_tls_per_site texthash:$WORK/tls_per_site: \[localhost\]:$P_MUSTG\)"
check "log: policy line for NONE" maillog_has cli "tls=none \(smtp_tls_per_site .*\[localhost\]:$P_NONE\)"
check "log: policy line for MUST_NOPEERMATCH" \
    maillog_has cli "tls=encrypt \(smtp_tls_per_site .*\[localhost\]:$P_NOPM\)"
check "log: the name that held for MUST" maillog_has cli "tls=verify, match localhost"
stop_ternd cli

# per-site protocols= from smtp_tls_policy_maps narrows the session below the global limits
read -r P_PROTO12 P_PROTO13 < <(pick_ports 2)
start_tls_sink proto12 "$P_PROTO12" --cert "$PKI/server.pem" --key "$PKI/server.key" || die "sink proto12"
start_tls_sink proto13 "$P_PROTO13" --cert "$PKI/server.pem" --key "$PKI/server.key" || die "sink proto13"
cat >"$WORK/transport-proto" <<EOF
p12.test smtp:[localhost]:$P_PROTO12
p13.test smtp:[localhost]:$P_PROTO13
EOF
cat >"$WORK/tls_policy-proto" <<EOF
[localhost]:$P_PROTO12 encrypt protocols=!SSLv2:!SSLv3:!TLSv1.3 ciphers=high exclude=aNULL:MD5
[localhost]:$P_PROTO13 encrypt protocols=>=TLSv1.3
EOF
write_main_cf proto <<EOF
mynetworks = 127.0.0.0/8
transport_maps = texthash:$WORK/transport-proto
smtp_tls_policy_maps = texthash:$WORK/tls_policy-proto
smtp_tls_loglevel = 1
EOF
start_ternd proto || die "ternd proto did not start"
for d in p12 p13; do
    check "protocols=: submit for $d.test" swaks --server "127.0.0.1:$(ternd_port proto)" \
        -f a@snd.test -t "a@$d.test" --timeout 20 --silent 2
done
check "protocols=!TLSv1.3: delivered" wait_until 30 maillog_has proto 'to=<a@p12\.test>, .*status=sent'
check "protocols=!TLSv1.3: the sink saw TLSv1.2" bash -c "'$PY' '$TERN_IT_PY' sink-query '$WORK/psink-proto12' show | grep -q '\"version\": \"TLSv1.2\"'"
check "protocols=>=TLSv1.3: delivered" wait_until 30 maillog_has proto 'to=<a@p13\.test>, .*status=sent'
check "protocols=>=TLSv1.3: the sink saw TLSv1.3" bash -c "'$PY' '$TERN_IT_PY' sink-query '$WORK/psink-proto13' show | grep -q '\"version\": \"TLSv1.3\"'"
check "protocols=: tern logs the TLSv1.2 connection" maillog_has proto "TLS connection established to localhost\[127\.0\.0\.1\]:$P_PROTO12: TLSv1\.2"
stop_ternd proto

write_main_cf dane <<EOF
smtp_tls_security_level = may
smtp_tls_policy_maps = inline:{ example.com=dane }
EOF
"$TERND" -c "$WORK/dane/etc" check >"$WORK/dane-check.out" 2>&1
check "ternd check refuses a dane entry in smtp_tls_policy_maps without DNSSEC" test $? -ne 0
check "... and says it needs smtp_dns_support_level = dnssec" \
    grep -q 'needs smtp_dns_support_level = dnssec' "$WORK/dane-check.out"
echo "smtp_dns_support_level = dnssec" >>"$WORK/dane/etc/main.cf"
"$TERND" -c "$WORK/dane/etc" check >"$WORK/dane-check2.out" 2>&1
check "ternd check accepts it with smtp_dns_support_level = dnssec" test $? -eq 0

it_done
