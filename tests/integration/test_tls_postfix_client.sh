#!/usr/bin/env bash
# NAME
#	test_tls_postfix_client.sh - issue 3 check 3: Postfix from Debian, as a
#	client that presents a certificate, relays through tern over TLS
# DESCRIPTION
#	  swaks --> Postfix "pc" (relayhost = tern, smtp_tls_security_level =
#	  encrypt, smtp_tls_cert_file/key_file = the client certificate,
#	  smtp_tls_CAfile = the test CA) --STARTTLS--> ternd "t"
#	  (smtpd_tls_ask_ccert = yes, smtpd_tls_received_header = yes,
#	  smtpd_tls_CAfile = the test CA) --> smtp-sink "hub"
#	The message at the sink carries tern's Received header with the TLS
#	annotation and the client certificate line
#	  (Client CN "client.tern-it.test", Issuer "tern-it CA" (verified OK))
#	and Postfix's maillog shows the TLS connection to tern (Trusted: the
#	chain verified against the CA). Then ternd is restarted with
#	smtpd_tls_req_ccert = yes: Postfix with its certificate still relays;
#	swaks over TLS without a certificate gets no 250.
#	Last, issue 4 check 3: with mynetworks = 127.0.0.9/32 (Postfix is
#	outside it) and permit_tls_clientcerts, Postfix relays because the md5
#	fingerprint of its certificate is in relay_clientcerts, and is refused
#	554 5.7.1 once the table no longer lists it.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init tls_postfix_client
need_postfix
command -v openssl >/dev/null || skip "openssl CLI not installed"
command -v swaks >/dev/null || skip "swaks not installed"

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"

read -r P_HUB P_PC < <(pick_ports 2)
start_sink hub "127.0.0.1:$P_HUB" || die "smtp-sink hub"

# tern_cf EXTRA - instance t's main.cf (same port each time) plus EXTRA lines
tern_cf() {
    write_main_cf t "${T_PORT:-}" <<EOF
relayhost = [127.0.0.1]:$P_HUB
mynetworks = 127.0.0.0/8
smtpd_tls_security_level = may
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_CAfile = $PKI/ca.pem
smtpd_tls_ask_ccert = yes
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
smtpd_tls_session_cache_database = lmdb:$WORK/t/smtpd_scache
$1
EOF
}
tern_cf ""
T_PORT=$(ternd_port t)
start_ternd t || die "ternd did not start"

write_postfix_cf pc "$P_PC" <<EOF
relayhost = [127.0.0.1]:$T_PORT
smtp_tls_security_level = encrypt
smtp_tls_cert_file = $PKI/client.pem
smtp_tls_key_file = $PKI/client.key
smtp_tls_CAfile = $PKI/ca.pem
smtp_tls_loglevel = 1
smtp_tls_session_cache_database = lmdb:$WORK/pf-pc/data/smtp_scache
EOF
start_postfix pc || die "Postfix pc did not start"

py() { "$PY" "$TERN_IT_PY" "$@"; }

# submit_pc ID - plaintext submission to Postfix pc
submit_pc() {
    py gen-message "$WORK/$1.eml" "$1" 0
    swaks --server "127.0.0.1:$P_PC" --ehlo swaks-client.test -f alice@snd.test -t "$1@other.test" \
        --data "@$WORK/$1.eml" --timeout 30 >"$WORK/swaks-$1.log" 2>&1
    grep -q '^<-  250 .*queued as' "$WORK/swaks-$1.log" ||
        { say "swaks $1:"; tail -n 6 "$WORK/swaks-$1.log" >&2; return 1; }
}
dump_of() { sink_files_matching hub "^X-Test-Id: $1\$" | head -n 1; }

check "Postfix pc accepts the submission" submit_pc ask
check "the message reaches the sink through Postfix and tern" wait_until 60 sink_match_has hub '^X-Test-Id: ask$' 1
d=$(dump_of ask)
if [[ -n $d ]]; then
    check "tern's Received: (using TLSv1.3 with cipher ...)" \
        grep -Eq '^[[:space:]]+\(using TLSv1\.3 with cipher [A-Z0-9_-]+ \([0-9]+/[0-9]+ bits\)' "$d"
    check "tern's Received: (Client CN \"client.tern-it.test\", Issuer \"tern-it CA\" (verified OK))" \
        grep -Fq '(Client CN "client.tern-it.test", Issuer "tern-it CA" (verified OK))' "$d"
    check "tern's Received names Postfix's HELO (pf-pc.test) and ESMTPS" \
        bash -c "grep -A4 '^Received: from pf-pc.test' '$d' | grep -q 'with ESMTPS'"
    check "Postfix's own Received follows tern's" grep -q 'by pf-pc.test (Postfix)' "$d"
else
    fail "message 'ask' not at the sink"
fi
check "Postfix's log: Trusted TLS connection established to tern" \
    pf_maillog_has pc "Trusted TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$T_PORT: TLSv1\.3 with cipher"
check "Postfix's log: status=sent via tern" \
    pf_maillog_has pc "to=<ask@other.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$T_PORT, .*status=sent"
check "tern's log: Trusted TLS connection established from Postfix" \
    maillog_has t 'Trusted TLS connection established from .*127\.0\.0\.1\]: TLSv1\.3'

# --- smtpd_tls_req_ccert = yes ---------------------------------------------------
check "ternd t stops" stop_ternd t
tern_cf "smtpd_tls_security_level = encrypt
smtpd_tls_req_ccert = yes"
check "ternd t starts with smtpd_tls_req_ccert = yes" start_ternd t
check "Postfix pc accepts a second submission" submit_pc req
check "with req_ccert, Postfix's certificate gets the message through" \
    wait_until 60 sink_match_has hub '^X-Test-Id: req$' 1
d=$(dump_of req)
[[ -n $d ]] && check "req: Received shows the verified client certificate" \
    grep -Fq '(Client CN "client.tern-it.test", Issuer "tern-it CA" (verified OK))' "$d"
py gen-message "$WORK/nocert.eml" nocert 0
swaks --server "127.0.0.1:$T_PORT" --tls -f alice@snd.test -t nocert@other.test \
    --data "@$WORK/nocert.eml" --timeout 20 >"$WORK/swaks-nocert.log" 2>&1
check "with req_ccert, a TLS client without a certificate gets no 250 for its message" \
    bash -c "! grep -q '^<[-~]  250 .*queued as' '$WORK/swaks-nocert.log'"
sleep 2
check "... and nothing of it reaches the sink" test "$(sink_match_count hub '^X-Test-Id: nocert$')" -eq 0

# --- issue 4 check 3: Postfix relays from outside mynetworks by its certificate ---------
md5() { openssl x509 -in "$1" -noout -fingerprint -md5 | cut -d= -f2; }
printf '%s postfix-pc\n' "$(md5 "$PKI/client.pem")" >"$WORK/relay_clientcerts"
check "ternd t stops" stop_ternd t
tern_cf "mynetworks = 127.0.0.9/32
relay_clientcerts = texthash:$WORK/relay_clientcerts
smtpd_recipient_restrictions = permit_tls_clientcerts, reject_unauth_destination"
check "ternd t starts with relay_clientcerts" start_ternd t
check "Postfix pc accepts a third submission" submit_pc ccert
check "Postfix's certificate (md5 in relay_clientcerts) relays from outside mynetworks" \
    wait_until 60 sink_match_has hub '^X-Test-Id: ccert$' 1
check "ternd t stops" stop_ternd t
printf '00:8B:02:30:9D:18:F4:81:5D:2F:48:E4:5B:17:82:A7 client_1\n' >"$WORK/relay_clientcerts"
check "ternd t starts with a relay_clientcerts that lacks Postfix's certificate" start_ternd t
check "Postfix pc accepts a fourth submission" submit_pc stranger
check "tern refuses to relay it: 554 5.7.1 Relay access denied" \
    wait_until 60 maillog_has t 'reject: RCPT .*554 5\.7\.1 <stranger@other\.test>: Relay access denied'
check "... and it never reaches the sink" test "$(sink_match_count hub '^X-Test-Id: stranger$')" -eq 0

check "Postfix pc stops" stop_postfix pc
check "ternd exits on SIGTERM within 10 s" stop_ternd t
it_done
