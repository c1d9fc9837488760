#!/usr/bin/env bash
# NAME
#	test_dane.sh - issue 14 check 1: DANE (RFC 7672) against a DNSSEC-signed zone served on
#	loopback by NSD, validated by tern itself (smtp_dns_support_level = dnssec)
# DESCRIPTION
#	dnssec_zones.sh signs dane.test with a fresh key (ldns-signzone) and serves it, with the
#	unsigned plain.test beside it, from NSD on a picked port; its DS record is tern's only
#	trust anchor (dnssec_trust_anchor_file). Each domain below has one MX host on
#	127.0.0.1 and its own python TLS sink (tern_it.py tls-sink); transport_maps sends
#	"domain" to "domain:PORT", so the MX is looked up and the TLSA records are those of
#	_PORT._tcp.MXHOST. tern runs with smtp_tls_security_level = dane:
#	  ee.dane.test      TLSA 3 1 1 of the sink's key           -> Verified, delivered
#	  wrong.dane.test   TLSA 3 1 1 of another key              -> deferred, no MAIL at the sink
#	  ta.dane.test      TLSA 2 1 1 of the CA; the sink sends leaf + CA, the leaf names
#	                    mx-ta.dane.test                        -> Verified, delivered
#	  bogus.dane.test   its TLSA record's signature spoiled    -> deferred, no MAIL
#	  notlsa.dane.test  no TLSA, dane-only (smtp_tls_policy_maps) -> deferred, no MAIL
#	  cn.dane.test      MX alias.dane.test, a CNAME of mx-ee.dane.test, whose TLSA
#	                    record the ee sink matches               -> Verified (RFC 7672 2.2.2)
#	  two.dane.test     MX 10 with a bogus TLSA record on 127.0.0.2, MX 20 the ee sink's
#	                    host on 127.0.0.1                      -> the first is skipped, the second delivers
#	  plain.test        unsigned zone                          -> may: delivered
#	With "TLS-Required: No" (RFC 8689) the messages to wrong and bogus are delivered, over
#	TLS, while those without the header stay deferred.
#	The maillog names the TLSA record that matched. After a restart the sessions with ee
#	and ta resume from the session cache (keyed by the TLSA records' digest), as the sinks
#	see it.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init dane
command -v nsd >/dev/null || skip "nsd not installed"
command -v ldns-signzone >/dev/null || skip "ldnsutils not installed"
command -v swaks >/dev/null || skip "swaks not installed"
PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"
pki_leaf "$PKI" mxta mx-ta.dane.test ca || die "cannot make the DANE-TA leaf"
cat "$PKI/mxta.pem" "$PKI/ca.pem" >"$PKI/mxta-chain.pem" # DANE-TA: the server sends the anchor
read -r P_DNS P_EE P_WRONG P_TA P_BOGUS P_NOTLSA P_PLAIN < <(pick_ports 7)

# spki PEM - the SHA2-256 of a certificate's SubjectPublicKeyInfo, in hex (TLSA selector 1, type 1)
spki() { openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64; }
EE=$(spki "$PKI/server.pem")
CA=$(spki "$PKI/ca.pem")
OTHER=$(spki "$PKI/rogue.pem")
[[ ${#EE} == 64 && ${#CA} == 64 && ${#OTHER} == 64 ]] || die "cannot compute the TLSA data"

mkdir -p "$WORK/dns"
cat >"$WORK/dns/dane.test.zone" <<EOF
; signed
\$ORIGIN dane.test.
\$TTL 300
@ IN SOA ns.dane.test. hostmaster.dane.test. 1 3600 600 86400 300
@ IN NS ns.dane.test.
ns IN A 127.0.0.1
ee IN MX 10 mx-ee.dane.test.
mx-ee IN A 127.0.0.1
_$P_EE._tcp.mx-ee IN TLSA 3 1 1 $EE
wrong IN MX 10 mx-wrong.dane.test.
mx-wrong IN A 127.0.0.1
_$P_WRONG._tcp.mx-wrong IN TLSA 3 1 1 $OTHER
ta IN MX 10 mx-ta.dane.test.
mx-ta IN A 127.0.0.1
_$P_TA._tcp.mx-ta IN TLSA 2 1 1 $CA
bogus IN MX 10 mx-bogus.dane.test.
mx-bogus IN A 127.0.0.1
_$P_BOGUS._tcp.mx-bogus IN TLSA 3 1 1 $EE ; bogus
notlsa IN MX 10 mx-notlsa.dane.test.
mx-notlsa IN A 127.0.0.1
cn IN MX 10 alias.dane.test.
alias IN CNAME mx-ee.dane.test.
two IN MX 10 mx-bad.dane.test.
two IN MX 20 mx-ee.dane.test.
mx-bad IN A 127.0.0.2
_$P_EE._tcp.mx-bad IN TLSA 3 1 1 $EE ; bogus
EOF
cat >"$WORK/dns/plain.test.zone" <<EOF
\$ORIGIN plain.test.
\$TTL 300
@ IN SOA ns.plain.test. hostmaster.plain.test. 1 3600 600 86400 300
@ IN NS ns.plain.test.
ns IN A 127.0.0.1
@ IN MX 10 mx.plain.test.
mx IN A 127.0.0.1
_$P_PLAIN._tcp.mx IN TLSA 3 1 1 $OTHER
EOF
sh "$(dirname "$0")/dnssec_zones.sh" "$WORK/dns" "$P_DNS" >"$WORK/dns/sign.log" 2>&1 ||
    die "cannot sign the test zones: $(tail -n 3 "$WORK/dns/sign.log")"
spawn nsd nsd -c "$WORK/dns/nsd.conf" -d
wait_until 15 "$PY" "$TERN_IT_PY" dns-query 127.0.0.1 "$P_DNS" ee.dane.test MX >/dev/null 2>&1 ||
    die "NSD does not answer (see $WORK/dns/nsd.log)"

for s in ee wrong bogus notlsa plain; do
    port_var=P_${s^^}
    start_tls_sink "$s" "${!port_var}" --cert "$PKI/server.pem" --key "$PKI/server.key" ||
        die "python sink $s"
done
start_tls_sink ta "$P_TA" --cert "$PKI/mxta-chain.pem" --key "$PKI/mxta.key" || die "python sink ta"
BOGUS_C0=$(psink bogus connects) # wait_listen's probe counts as one

cat >"$WORK/transport" <<EOF
ee.dane.test      smtp:ee.dane.test:$P_EE
wrong.dane.test   smtp:wrong.dane.test:$P_WRONG
ta.dane.test      smtp:ta.dane.test:$P_TA
bogus.dane.test   smtp:bogus.dane.test:$P_BOGUS
notlsa.dane.test  smtp:notlsa.dane.test:$P_NOTLSA
two.dane.test     smtp:two.dane.test:$P_EE
cn.dane.test      smtp:cn.dane.test:$P_EE
plain.test        smtp:plain.test:$P_PLAIN
EOF
write_main_cf t <<EOF
mynetworks = 127.0.0.0/8
transport_maps = texthash:$WORK/transport
dns_servers = 127.0.0.1:$P_DNS
smtp_dns_support_level = dnssec
dnssec_trust_anchor_file = $WORK/dns/ta.ds
smtp_tls_security_level = dane
smtp_tls_policy_maps = inline:{ notlsa.dane.test:$P_NOTLSA=dane-only }
smtp_tls_loglevel = 1
smtp_tls_session_cache_database = lmdb:$WORK/t/smtp_scache
EOF
start_ternd t || die "ternd t did not start"

deferred() { maillog_has t "to=<$1>, .*status=deferred"; }

for r in a@ee.dane.test a@wrong.dane.test a@ta.dane.test a@bogus.dane.test \
    a@notlsa.dane.test a@plain.test a@two.dane.test a@cn.dane.test; do
    check "submit for $r" swaks_send t "$r"
done

# --- matching TLSA 3 1 1: Verified, the record named ------------------------------------
check "3 1 1: delivered" wait_until 30 maillog_sent t a@ee.dane.test
check "3 1 1: Verified TLS connection established to mx-ee.dane.test" \
    maillog_has t "Verified TLS connection established to mx-ee\.dane\.test\[127\.0\.0\.1\]:$P_EE"
check "3 1 1: the maillog names the TLSA record that matched" \
    maillog_has t "mx-ee\.dane\.test\[127\.0\.0\.1\]:$P_EE: tls=dane, match TLSA 3 1 1 ${EE:0:12}\.\.\. \(DANE-EE, depth 0\)"
check "3 1 1: the sink got the message inside TLS" psink_ge ee tls-messages 1

# --- an MX host that is a CNAME: the TLSA records of the expanded name ----------------------
check "CNAME: delivered" wait_until 30 maillog_sent t a@cn.dane.test
check "CNAME: the records were looked up at the expanded name" \
    maillog_has t "cn\.dane\.test:$P_EE: TLSA records at mx-ee\.dane\.test, the CNAME-expanded name of alias\.dane\.test"
check "CNAME: Verified TLS connection established to alias.dane.test" \
    maillog_has t "Verified TLS connection established to alias\.dane\.test\[127\.0\.0\.1\]:$P_EE"

# --- the first MX's TLSA answer is bogus: skipped, the second one takes the mail ------------
check "two MX, the first bogus: delivered" wait_until 30 maillog_sent t a@two.dane.test
check "two MX: the first was not tried (its TLSA lookup failed)" \
    maillog_has t "mx-bad\.dane\.test\[127\.0\.0\.2\]:$P_EE: TLS is required, but TLSA lookup error"
check "two MX: delivered to the second one" \
    maillog_has t "to=<a@two.dane.test>, relay=mx-ee\.dane\.test\[127\.0\.0\.1\]:$P_EE, .*status=sent"

# --- TLSA 2 1 1 on the CA ----------------------------------------------------------------
check "2 1 1 on the CA: delivered" wait_until 30 maillog_sent t a@ta.dane.test
check "2 1 1: Verified, the CA at depth 1" \
    maillog_has t "mx-ta\.dane\.test\[127\.0\.0\.1\]:$P_TA: tls=dane, match TLSA 2 1 1 ${CA:0:12}\.\.\. \(DANE-TA, depth 1\)"

# --- unsigned domain under dane: opportunistic ------------------------------------------
check "unsigned domain: delivered (may)" wait_until 30 maillog_sent t a@plain.test
check "unsigned domain: the maillog says why the level is may" \
    maillog_has t "mx\.plain\.test\[127\.0\.0\.1\]:$P_PLAIN: dane: the MX or address records are not DNSSEC-validated: TLS level may"

# --- wrong TLSA, bogus signature, dane-only without TLSA: deferred, nothing said -------------
check "wrong TLSA: deferred" wait_until 30 deferred a@wrong.dane.test
check "wrong TLSA: the maillog says the certificate was not verified" \
    maillog_has t "to=<a@wrong.dane.test>, .*status=deferred .*Server certificate not verified"
check "bogus TLSA signature: deferred" wait_until 30 deferred a@bogus.dane.test
check "bogus TLSA signature: the maillog says the TLSA lookup failed" \
    maillog_has t "to=<a@bogus.dane.test>, .*status=deferred .*TLSA lookup error"
check "dane-only without TLSA: deferred" wait_until 30 deferred a@notlsa.dane.test
check "dane-only without TLSA: the maillog says why" \
    maillog_has t "to=<a@notlsa.dane.test>, .*status=deferred .*dane-only: no TLSA records"
sleep 3 # a retry or two (backoff 1-2 s)
for s in wrong bogus notlsa; do
    check "$s: the sink saw no MAIL FROM (got $(psink "$s" mail-cmds))" test "$(psink "$s" mail-cmds)" -eq 0
    check "$s: the sink has no message" test "$(psink "$s" messages)" -eq 0
done
check "bogus: tern never connected to its sink (the TLSA lookup failed first)" \
    test "$(psink bogus connects)" -eq "$BOGUS_C0"
# --- "TLS-Required: No" (RFC 8689): the recipient's DANE policy yields, TLS is still tried ---
for r in c@wrong.dane.test c@bogus.dane.test; do
    check "submit for $r with TLS-Required: No" swaks_send t "$r" --add-header "TLS-Required: No"
done
check "TLS-Required: No, wrong TLSA: delivered" wait_until 30 maillog_sent t c@wrong.dane.test
check "TLS-Required: No, wrong TLSA: over TLS all the same" psink_ge wrong tls-messages 1
check "TLS-Required: No, bogus TLSA: delivered" wait_until 30 maillog_sent t c@bogus.dane.test
check "TLS-Required: No, bogus TLSA: over TLS all the same" psink_ge bogus tls-messages 1
check "TLS-Required: No: the certificate was not taken for verified" \
    maillog_has t "(Untrusted|Trusted) TLS connection established to mx-wrong\.dane\.test\[127\.0\.0\.1\]:$P_WRONG"
check "without the header, a@wrong.dane.test is still deferred" \
    bash -c "! grep -q 'to=<a@wrong.dane.test>, .*status=sent' '$WORK/t/maillog'"

# --- TLS-RPT: the DANE sessions are counted per day and policy domain -----------------------
check "TLS-RPT: the sessions under ee's TLSA records are counted (tls-cache list)" \
    bash -c "'$TERNCTL' -c '$WORK/t/etc' tls-cache list | grep -Eq '^tlsrpt [0-9-]+/tlsa/ee\.dane\.test '"
check "TLS-RPT: so are the failures under wrong's" \
    bash -c "'$TERNCTL' -c '$WORK/t/etc' tls-cache list | grep -Eq '^tlsrpt [0-9-]+/tlsa/wrong\.dane\.test '"

# --- a restart: DANE sessions resume from the cache, keyed by the TLSA records ---------------
EE_L0=$(psink ee lines)
TA_L0=$(psink ta lines)
check "ternd t stops" stop_ternd t
check "ternd t starts again" start_ternd t
check "submit for ee.dane.test after the restart" swaks_send t b@ee.dane.test
check "submit for ta.dane.test after the restart" swaks_send t b@ta.dane.test
check "after the restart: delivered to ee" wait_until 30 maillog_sent t b@ee.dane.test
check "after the restart: delivered to ta" wait_until 30 maillog_sent t b@ta.dane.test
check "ee sink: the session after the restart was resumed" test "$(psink ee tls-resumed "$EE_L0")" -ge 1
check "ta sink (DANE-TA): the session after the restart was resumed" \
    test "$(psink ta tls-resumed "$TA_L0")" -ge 1
check "the maillog: a resumed DANE session counts as matched" \
    maillog_has t "mx-ta\.dane\.test\[127\.0\.0\.1\]:$P_TA: tls=dane, match TLSA records [0-9a-f]{16} \(resumed session\)"

check "ee sink: four messages (ee, two, cn, ee again), ta sink: two" \
    bash -c "(( \$('$PY' '$TERN_IT_PY' sink-query '$WORK/psink-ee' messages) == 4 && \$('$PY' '$TERN_IT_PY' sink-query '$WORK/psink-ta' messages) == 2 ))"

it_done
