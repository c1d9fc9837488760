#!/usr/bin/env bash
# NAME
#	test_tls_server.sh - issue 3 checks 1, 2 and 5 (second half): tern's
#	smtpd with STARTTLS and smtps, against openssl s_client, swaks and
#	python3 smtplib
# DESCRIPTION
#	A test PKI is made with the openssl CLI (lib.sh make_pki). Instances:
#	  t     smtpd_tls_security_level = may, smtps_listen, Received header,
#	        LMDB session cache; relayhost = smtp-sink "hub"
#	  enc   smtpd_tls_security_level = encrypt
#	  talk  the talk's smtpd_use_tls = yes, smtpd_enforce_tls = yes and a
#	        btree: session cache
#	Checks:
#	  1. s_client -starttls smtp verifies tern's certificate (return code 0;
#	     against a foreign CA it fails); swaks --tls, swaks --tlsc (smtps)
#	     and smtplib starttls() submit mail that reaches the sink with
#	     "(using TLSv1.3 with cipher ...)" in tern's Received header.
#	  2. EHLO/STARTTLS/NOOP in one write: one 220, no reply to the NOOP in
#	     TLS; a second STARTTLS gets 503; with encrypt, MAIL before STARTTLS
#	     gets 530 5.7.0 (both parameter spellings).
#	  5. s_client -sess_out, restart ternd, -sess_in: "Reused" (TLS 1.3
#	     ticket, TLS 1.2 ticket, TLS 1.2 session ID from the LMDB cache).
#	Also: ternd check refuses a key readable by others; ternctl tls-cache
#	list|purge; ternctl stats counts inbound full and resumed handshakes.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init tls_server
command -v openssl >/dev/null || skip "openssl CLI not installed"
command -v swaks >/dev/null || skip "swaks not installed"

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"

read -r P_HUB P_SMTPS < <(pick_ports 2)
start_sink hub "127.0.0.1:$P_HUB" || die "smtp-sink hub"

write_main_cf t <<EOF
relayhost = [127.0.0.1]:$P_HUB
mynetworks = 127.0.0.0/8
smtps_listen = 127.0.0.1:$P_SMTPS
smtpd_tls_security_level = may
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_CAfile = $PKI/ca.pem
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
smtpd_tls_session_cache_database = lmdb:$WORK/t/smtpd_scache
smtpd_tls_session_cache_timeout = 3600s
EOF
start_ternd t || die "ternd t did not start"
PORT=$(ternd_port t)

py() { "$PY" "$TERN_IT_PY" "$@"; }

# s_client_out NAME ARGS... - openssl s_client -starttls smtp to instance t (or -connect given),
#	stdin: a QUIT after a second (so TLS 1.3 tickets arrive); output to $WORK/s_client-NAME.log
s_client_out() {
    local name=$1
    shift
    { sleep 1; printf 'QUIT\r\n'; sleep 1; } |
        timeout 20 openssl s_client -ign_eof -servername localhost "$@" >"$WORK/s_client-$name.log" 2>&1
}

# --- check 1: the certificate verifies ---------------------------------
s_client_out verify -starttls smtp -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.pem" \
    -verify_return_error -verify_hostname localhost
check "s_client -starttls smtp: Verify return code: 0 (ok)" \
    grep -q 'Verify return code: 0 (ok)' "$WORK/s_client-verify.log"
check "s_client -starttls smtp: TLSv1.3 negotiated" grep -Eq 'New, TLSv1\.3|Protocol *: TLSv1\.3' "$WORK/s_client-verify.log"
s_client_out foreign -starttls smtp -connect "127.0.0.1:$PORT" -CAfile "$PKI/other-ca.pem" -verify_return_error
check "s_client against a foreign CA does not verify (control)" \
    bash -c "! grep -q 'Verify return code: 0 (ok)' '$WORK/s_client-foreign.log'"
s_client_out smtps -connect "127.0.0.1:$P_SMTPS" -CAfile "$PKI/ca.pem" -verify_return_error -verify_hostname localhost
check "s_client to smtps_listen (implicit TLS): Verify return code: 0 (ok)" \
    grep -q 'Verify return code: 0 (ok)' "$WORK/s_client-smtps.log"
check "smtps greets inside TLS (220 after the handshake)" grep -q '^220 ' "$WORK/s_client-smtps.log"

# --- check 1: submissions over TLS --------------------------------------
# submit_swaks ID TLSOPT PORT - swaks with --tls or --tlsc, verifying tern's certificate
submit_swaks() {
    local id=$1 opt=$2 port=$3
    py gen-message "$WORK/$id.eml" "$id" 0
    swaks --server "127.0.0.1:$port" "$opt" --tls-verify --tls-ca-path "$PKI/ca.pem" \
        --ehlo swaks-client.test -f alice@snd.test -t "$id@other.test" \
        --data "@$WORK/$id.eml" --timeout 30 >"$WORK/swaks-$id.log" 2>&1
    grep -q '^<[-~]  250 .*queued as' "$WORK/swaks-$id.log" ||
        { say "swaks $id:"; tail -n 8 "$WORK/swaks-$id.log" >&2; return 1; }
    grep -q 'TLS started' "$WORK/swaks-$id.log" || { say "swaks $id: no 'TLS started'"; return 1; }
}

# submit_py ID MODE PORT - smtplib with starttls() (MODE starttls) or SMTP_SSL (MODE smtps)
submit_py() {
    local id=$1 mode=$2 port=$3 out
    py gen-message "$WORK/$id.eml" "$id" 0
    out=$(py tls-send 127.0.0.1 "$port" alice@snd.test "$id@other.test" "$WORK/$id.eml" \
        "$PKI/ca.pem" "$mode" 2>&1)
    say "  smtplib $id: ${out//$'\n'/ | }"
    [[ $out == *"250 "*"queued as"* ]]
}

# dump_of ID - the dump at the hub sink carrying X-Test-Id: ID
dump_of() { sink_files_matching hub "^X-Test-Id: $1\$" | head -n 1; }

check "swaks --tls submits (STARTTLS, verified)" submit_swaks swaks-tls --tls "$PORT"
check "smtplib starttls() submits" submit_py py-starttls starttls "$PORT"
check "swaks --tlsc submits to smtps_listen" submit_swaks swaks-tlsc --tlsc "$P_SMTPS"
check "smtplib SMTP_SSL submits to smtps_listen" submit_py py-smtps smtps "$P_SMTPS"
py gen-message "$WORK/plain.eml" plain 0
check "plaintext submission still works with may" \
    bash -c "swaks --server 127.0.0.1:$PORT -f alice@snd.test -t plain@other.test --data @$WORK/plain.eml >'$WORK/swaks-plain.log' 2>&1"

check "the sink received all 5 messages" wait_until 30 sink_has hub 5
for id in swaks-tls py-starttls swaks-tlsc py-smtps; do
    d=$(dump_of "$id")
    if [[ -z $d ]]; then
        fail "$id: not at the sink"
        continue
    fi
    check "$id: tern's Received carries (using TLSv1.3 with cipher ...)" \
        grep -Eq '^[[:space:]]+\(using TLSv1\.3 with cipher [A-Z0-9_-]+ \([0-9]+/[0-9]+ bits\)' "$d"
    check "$id: Received says ESMTPS (RFC 3848)" grep -Eq 'with E?SMTPS[A]? id|with UTF8SMTPS id' "$d"
    check "$id: no client certificate line claims a certificate" \
        grep -Eq '\((No client certificate requested|Client did not present a certificate)\)' "$d"
done
d=$(dump_of plain)
if [[ -n $d ]]; then
    check "plaintext message: no TLS annotation" bash -c "! grep -q 'using TLS' '$d'"
else
    fail "plain: not at the sink"
fi
check "maillog: TLS connection established from ... TLSv1.3 with cipher" \
    maillog_has t 'TLS connection established from [^ ]*127\.0\.0\.1\]: TLSv1\.3 with cipher'

# --- check 2: injection, state reset, 503 -------------------------------
py_checks tls-inject 127.0.0.1 "$PORT" "$PKI/ca.pem" other.test

# --- check 2: encrypt: 530 before STARTTLS, both spellings ---------------
write_main_cf enc <<EOF
relayhost = [127.0.0.1]:$P_HUB
mynetworks = 127.0.0.0/8
smtpd_tls_security_level = encrypt
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
EOF
write_main_cf talk <<EOF
relayhost = [127.0.0.1]:$P_HUB
mynetworks = 127.0.0.0/8
smtpd_use_tls = yes
smtpd_enforce_tls = yes
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_session_cache_database = btree:$WORK/talk/smtpd_scache
EOF
for inst in enc talk; do
    if start_ternd "$inst"; then
        py_checks tls-encrypt-required 127.0.0.1 "$(ternd_port "$inst")" "$PKI/ca.pem" "x@other.test"
        stop_ternd "$inst"
    else
        fail "ternd $inst (encrypt) did not start"
    fi
done

# --- key permissions --------------------------------------------------------
cp "$PKI/server.key" "$WORK/open.key"
chmod 644 "$WORK/open.key"
mkdir -p "$WORK/perm/etc"
sed "s|^smtpd_tls_key_file = .*|smtpd_tls_key_file = $WORK/open.key|" "$WORK/t/etc/main.cf" >"$WORK/perm/etc/main.cf"
"$TERND" -c "$WORK/perm/etc" check >"$WORK/perm.out" 2>&1
rc=$?
check "ternd check refuses a key readable by others (exit $rc)" test "$rc" -ne 0
check "ternd check names the key file" grep -q "open.key" "$WORK/perm.out"

# --- check 5 (second half): s_client sessions resume across a restart -------
# cases: name s_client-options
RESUME_CASES=(
    "tls13-ticket -tls1_3"
    "tls12-ticket -tls1_2"
    "tls12-sessid -tls1_2 -no_ticket"
)
for c in "${RESUME_CASES[@]}"; do
    read -r name opts <<<"$c"
    # shellcheck disable=SC2086
    s_client_out "$name-1" -starttls smtp -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.pem" \
        $opts -sess_out "$WORK/$name.sess"
    check "$name: first connection is a new session" grep -q '^New, TLS' "$WORK/s_client-$name-1.log"
    check "$name: session saved (-sess_out)" test -s "$WORK/$name.sess"
done
full_before=$(stat_value t tls_inbound_full_handshakes)
check "ternctl stats: tls_inbound_full_handshakes counted (${full_before:-missing})" \
    stat_ge t tls_inbound_full_handshakes 5
check "ternctl tls-cache list works" bash -c "'$TERNCTL' -c '$WORK/t/etc' tls-cache list >'$WORK/cache-list.out' 2>&1"
say "  tls-cache list: $(head -c 300 "$WORK/cache-list.out" | tr '\n' '|')"

check "ternd t stops for the restart" stop_ternd t
check "ternd t starts again" start_ternd t
for c in "${RESUME_CASES[@]}"; do
    read -r name opts <<<"$c"
    [[ -s $WORK/$name.sess ]] || { fail "$name: no saved session"; continue; }
    # shellcheck disable=SC2086
    s_client_out "$name-2" -starttls smtp -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.pem" \
        $opts -sess_in "$WORK/$name.sess"
    check "$name: resumed after the ternd restart (s_client says Reused)" \
        grep -q '^Reused, TLS' "$WORK/s_client-$name-2.log"
done
check "ternctl stats: tls_inbound_resumed_handshakes >= 3 after the restart (got $(stat_value t tls_inbound_resumed_handshakes))" \
    stat_ge t tls_inbound_resumed_handshakes 3

# purge: the server-side session cache is emptied, a session ID no longer resumes
check "ternctl tls-cache purge works" bash -c "'$TERNCTL' -c '$WORK/t/etc' tls-cache purge >'$WORK/cache-purge.out' 2>&1"
if [[ -s $WORK/tls12-sessid.sess ]]; then
    s_client_out sessid-purged -starttls smtp -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.pem" \
        -tls1_2 -no_ticket -sess_in "$WORK/tls12-sessid.sess"
    check "after tls-cache purge, the TLS 1.2 session ID is not resumed" \
        grep -q '^New, TLS' "$WORK/s_client-sessid-purged.log"
fi
check "ternd exits on SIGTERM within 10 s" stop_ternd t

it_done
