#!/usr/bin/env bash
# NAME
#	test_tls_scan.sh - issue 9 part 6: TLS defaults that a scanner passes,
#	on both legs
# DESCRIPTION
#	Debian's wolfSSL compiles in suites OpenSSL 3 dropped (RC4, 3DES, NULL,
#	anonymous, PSK) and TLS 1.1; tern's defaults must offer none of them.
#	Instances (test PKI from lib.sh make_pki: an ECDSA P-256 certificate):
#	  def   only smtpd_tls_cert_file/key_file (and level may, without which
#	        there is no STARTTLS); everything else at its default
#	  enc   the talk's smtpd_use_tls/smtpd_enforce_tls = yes: level encrypt,
#	        so the mandatory_* parameters
#	  wide  smtpd_tls_protocols = >=TLSv1 (Postfix's syntax to widen)
#	  cli   client: smtp_tls_security_level = encrypt, next hops below
#	  cliw  client: the talk's smtp_use_tls/smtp_enforce_tls = yes (with
#	        smtp_tls_enforce_peername = no: encrypt) and
#	        smtp_tls_mandatory_protocols = >=TLSv1
#	Config: ternd check refuses grade null, unknown grades and protocols,
#	OpenSSL's "!RC4" in an exclusion list and exclusions that leave no
#	suite, naming the parameter; a Postfix-style list is accepted.
#	Server checks:
#	  testssl.sh --starttls smtp -p -s -U against def (the release ternd when
#	  TERN_RELEASE_BUILD names it) reports nothing "NOT ok"
#	  nor "VULNERABLE", and did run its checks (TLS 1.2 offered, the
#	  vulnerability section is there). Its run time is printed.
#	  Hand-made ClientHellos (tern_it.py tls-hello-refused) offering only RC4,
#	  only 3DES, only NULL, only anonymous suites, or only TLS 1.1 get no
#	  ServerHello from def and enc; openssl s_client -tls1_1 fails against
#	  def and enc and succeeds against wide (TLS 1.1 accepted again).
#	Client checks:
#	  weak.test is a peer that logs the ClientHello and refuses it
#	  (tls-sink --mode hello): tern's hello offers no suite tern must never
#	  offer (named with testssl.sh's cipher mapping) and nothing below
#	  TLS 1.2. s11.test is openssl s_server limited to TLS 1.1: cli never
#	  completes the handshake, the mail stays deferred and neither peer sees
#	  MAIL FROM in the clear; cliw (widened) delivers it over TLSv1.1.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init tls_scan
command -v openssl >/dev/null || skip "openssl CLI not installed"
command -v testssl >/dev/null || skip "testssl.sh not installed (apt-get install testssl.sh)"
[[ -r /etc/testssl/cipher-mapping.txt ]] || skip "testssl.sh's cipher-mapping.txt is missing"

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"

# server_cf NAME EXTRA - an instance with the test certificate and EXTRA main.cf lines
server_cf() {
    write_main_cf "$1" <<EOF
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
$2
EOF
}
server_cf def "smtpd_tls_security_level = may"
server_cf enc "smtpd_use_tls = yes
smtpd_enforce_tls = yes"
server_cf wide "smtpd_tls_security_level = may
smtpd_tls_protocols = >=TLSv1"
# testssl.sh makes some 800 handshakes with def: 191 s against the ASan ternd, 37 s against
# the release one. So def is the release ternd when tests/run.sh names that build
# (TERN_RELEASE_BUILD); enc and wide stay on TERN_BUILD and get the hand-made ClientHellos too.
SCAN_TERND=$TERND
[[ -x ${TERN_RELEASE_BUILD:-}/core/ternd ]] && SCAN_TERND=$TERN_RELEASE_BUILD/core/ternd
say "def runs $SCAN_TERND"
TERND=$SCAN_TERND start_ternd def || die "ternd def did not start"
for n in enc wide; do
    start_ternd "$n" || die "ternd $n did not start"
done

# --- bad values stop start-up with the parameter named -----------------------------
# bad_check DESC PARAM-IN-MESSAGE MAIN.CF-LINES - `ternd check` refuses them, naming PARAM
bad_check() {
    server_cf bad "$3"
    if "$TERND" -c "$WORK/bad/etc" check >"$WORK/bad-check.out" 2>&1; then
        fail "$1: ternd check accepted it"
    elif grep -q -- "$2" "$WORK/bad-check.out"; then
        pass "$1: refused, naming $2"
    else
        fail "$1: refused without naming $2: $(head -n 1 "$WORK/bad-check.out")"
    fi
}
bad_check "smtpd_tls_ciphers = null (no encryption)" smtpd_tls_ciphers "smtpd_tls_ciphers = null"
bad_check "smtp_tls_mandatory_ciphers = strong" smtp_tls_mandatory_ciphers \
    "smtp_tls_mandatory_ciphers = strong"
bad_check "smtp_tls_protocols = >=TLSv9" smtp_tls_protocols "smtp_tls_protocols = >=TLSv9"
bad_check "smtpd_tls_exclude_ciphers = !RC4 (OpenSSL syntax, not Postfix's)" \
    smtpd_tls_exclude_ciphers "smtpd_tls_exclude_ciphers = !RC4"
bad_check "exclusions that leave TLS 1.2 without a suite" smtpd_tls_mandatory_exclude_ciphers \
    "smtpd_tls_mandatory_protocols = TLSv1.2
smtpd_tls_mandatory_exclude_ciphers = AESGCM, CHACHA20, AESCCM"
server_cf ok "smtp_tls_ciphers = export
smtp_tls_protocols = !SSLv2, !SSLv3
smtp_tls_exclude_ciphers = aNULL, kEDH+aRSA, EDH-RSA-DES-CBC3-SHA, MD5"
check "a Postfix-style exclusion list and the old protocol syntax are accepted" \
    "$TERND" -c "$WORK/ok/etc" check

# --- testssl.sh on the default configuration -------------------------------------
# -n none: no DNS (an address is given); --warnings off: never ask; --color 0:
# plain text to grep. The checks: protocols (-p), cipher categories (-s) and
# vulnerabilities (-U). --openssl-timeout bounds each openssl call.
SCAN=$WORK/testssl.out
t0=$SECONDS
timeout 900 testssl --quiet --color 0 --warnings off -n none --openssl-timeout 10 \
    --starttls smtp -p -s -U "127.0.0.1:$(ternd_port def)" >"$SCAN" 2>&1
rc=$?
say "testssl.sh took $((SECONDS - t0)) s (exit $rc)"
check "testssl.sh ran to the end (exit $rc, not timeout or a testssl error)" test "$rc" -lt 240
check "testssl.sh: TLS 1.2 offered" grep -Eq '^ TLS 1\.2 +offered' "$SCAN"
check "testssl.sh: TLS 1.3 offered" grep -Eq '^ TLS 1\.3 +offered' "$SCAN"
check "testssl.sh: TLS 1.1 not offered" grep -Eq '^ TLS 1\.1 +not offered' "$SCAN"
check "testssl.sh: TLS 1 not offered" grep -Eq '^ TLS 1 +not offered' "$SCAN"
check "testssl.sh: AEAD ciphers offered" grep -Eq 'Strong encryption \(AEAD ciphers\) +offered \(OK\)' "$SCAN"
check "testssl.sh: the vulnerability checks ran (RC4, SWEET32 lines)" \
    bash -c "grep -q '^ RC4 (CVE' '$SCAN' && grep -q '^ SWEET32 (CVE' '$SCAN'"
check "testssl.sh: nothing \"NOT ok\"" bash -c "! grep -n 'NOT ok' '$SCAN' >&2"
check "testssl.sh: nothing \"VULNERABLE\"" bash -c "! grep -n 'VULNERABLE' '$SCAN' >&2"
if ((IT_FAILED > 0)); then
    say "testssl.sh output:"
    cat "$SCAN" >&2
fi

# --- weak ClientHellos get no ServerHello -----------------------------------------
# code points: RC4 c007 c011 0005 0004; 3DES c008 c012 0016 000a; NULL c006 c010 0002
# 0001 003b; anonymous c018 c019 0034 003a 00a6 00a7; TLS 1.1 with its CBC suites c009
# c00a c013 c014 0033 0039
for n in def enc; do
    P=$(ternd_port "$n")
    py_checks tls-hello-refused 127.0.0.1 "$P" "$n: RC4-only ClientHello (RFC 7465)" c007,c011,0005,0004
    py_checks tls-hello-refused 127.0.0.1 "$P" "$n: 3DES-only ClientHello (SWEET32)" c008,c012,0016,000a
    py_checks tls-hello-refused 127.0.0.1 "$P" "$n: NULL-only ClientHello" c006,c010,0002,0001,003b
    py_checks tls-hello-refused 127.0.0.1 "$P" "$n: anonymous-only ClientHello" \
        c018,c019,0034,003a,00a6,00a7
    py_checks tls-hello-refused 127.0.0.1 "$P" "$n: TLS 1.1 ClientHello" \
        c009,c00a,c013,c014,0033,0039 1.1
done

# s_client_tls11 NAME - openssl s_client -tls1_1 (OpenSSL 3 needs @SECLEVEL=0 for it) to NAME
s_client_tls11() {
    { sleep 1; printf 'QUIT\r\n'; } |
        timeout 20 openssl s_client -starttls smtp -connect "127.0.0.1:$(ternd_port "$1")" \
            -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' -ign_eof >"$WORK/s_client11-$1.log" 2>&1
    grep -Eq '^ *Protocol *: TLSv1\.1' "$WORK/s_client11-$1.log" &&
        ! grep -q 'Cipher is (NONE)' "$WORK/s_client11-$1.log"
}
# fails - true when "cmd args..." fails
fails() { ! "$@"; }
check "s_client -tls1_1 to def fails" fails s_client_tls11 def
check "s_client -tls1_1 to enc fails" fails s_client_tls11 enc
check "smtpd_tls_protocols = >=TLSv1: s_client -tls1_1 to wide succeeds" s_client_tls11 wide

# --- the client leg ----------------------------------------------------------------
read -r P_WEAK P_S11 P_S11I < <(pick_ports 3)
start_tls_sink weak "$P_WEAK" --mode hello || die "python hello peer"
mkdir -p "$WORK/psink-s11"
spawn psink-s11 "$PY" "$TERN_IT_PY" sserver-sink "$WORK/psink-s11" "$P_S11" "$P_S11I" \
    "$PKI/server.pem" "$PKI/server.key" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
# 30 s as start_tls_sink: python3 and s_server took over 15 s to listen beside testssl.sh in CI
wait_listen psink-s11 127.0.0.1 "$P_S11" 30 || die "s_server TLS 1.1 peer"
cat >"$WORK/transport" <<EOF
weak.test smtp:[127.0.0.1]:$P_WEAK
s11.test  smtp:[127.0.0.1]:$P_S11
EOF

# client_cf NAME EXTRA - a tern instance routing by $WORK/transport, client TLS per EXTRA
client_cf() {
    write_main_cf "$1" <<EOF
mynetworks = 127.0.0.0/8
transport_maps = texthash:$WORK/transport
smtp_tls_loglevel = 1
$2
EOF
}

# send INST RCPT - submit one small message to instance INST
send() {
    swaks --server "127.0.0.1:$(ternd_port "$1")" -f alice@snd.test -t "$2" --timeout 20 \
        >"$WORK/swaks-$1-$2.log" 2>&1
    grep -q '^<-  250 .*queued as' "$WORK/swaks-$1-$2.log" ||
        { say "submission to $1 for $2 failed:"; tail -n 4 "$WORK/swaks-$1-$2.log" >&2; return 1; }
}

client_cf cli "smtp_tls_security_level = encrypt"
start_ternd cli || die "ternd cli did not start"
check "cli: submit for weak.test" send cli a@weak.test
check "cli: submit for s11.test" send cli a@s11.test
check "weak.test: tern sent a ClientHello (and retried)" wait_until 30 psink_ge weak tls-fail 2
check "s11.test: tern's handshake with the TLS 1.1 s_server failed (and was retried)" \
    wait_until 30 psink_ge s11 tls-fail 2
py_checks hello-check "$WORK/psink-weak" "tern's ClientHello (default client settings)"
check "cli: a@weak.test deferred" wait_until 20 maillog_has cli 'to=<a@weak\.test>, .*status=deferred'
check "cli: a@s11.test deferred" wait_until 20 maillog_has cli 'to=<a@s11\.test>, .*status=deferred'
check "cli: never status=sent" bash -c "! grep -Eq 'status=sent' '$WORK/cli/maillog'"
for s in weak s11; do
    check "$s: no MAIL FROM at all (got $(psink "$s" mail-cmds))" test "$(psink "$s" mail-cmds)" -eq 0
    check "$s: no message" test "$(psink "$s" messages)" -eq 0
done
check "cli: no TLS connection established" bash -c "! grep -q 'TLS connection established' '$WORK/cli/maillog'"
stop_ternd cli

client_cf cliw "smtp_use_tls = yes
smtp_enforce_tls = yes
smtp_tls_enforce_peername = no
smtp_tls_mandatory_protocols = >=TLSv1"
start_ternd cliw || die "ternd cliw did not start"
check "cliw: submit for s11.test" send cliw b@s11.test
check "smtp_tls_mandatory_protocols = >=TLSv1: delivered to the TLS 1.1 s_server" \
    wait_until 40 maillog_has cliw 'to=<b@s11\.test>, .*status=sent'
check "cliw: ... over TLSv1.1" \
    maillog_has cliw "TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$P_S11: TLSv1\.1 with cipher"
check "s11.test: the message arrived inside TLS" psink_ge s11 tls-messages 1

it_done
