#!/usr/bin/env bash
# NAME
#	test_tls_client.sh - issue 3 checks 4, 5 and 6: tern's SMTP client over
#	STARTTLS to Postfix, to openssl s_server and to a python3 ssl peer
# DESCRIPTION
#	Peers (all on 127.0.0.1, each the next hop of one domain through
#	transport_maps):
#	  px.test    Postfix smtpd, smtpd_tls_security_level = may, discard
#	             transport, smtpd_tls_loglevel = 2 (logs "Reusing old session")
#	  ps.test    tern_it.py tls-sink (python ssl; logs session_reused per TLS session)
#	  ps12.test  the same, at most TLS 1.2 (session ID / ticket resumption)
#	  ss.test    tern_it.py sserver-sink: the TLS is openssl s_server's, whose
#	             own output says "Reused session-ID"
#	  hang.test  offers STARTTLS, hangs up after the 220
#	  garb.test  offers STARTTLS, answers the ClientHello with non-TLS octets
#	  notls.test no STARTTLS at all
#	Check 4: with smtp_tls_security_level = may, one message to px, ps and
#	ss each arrives over TLS and the peer's log says so.
#	Check 5: ternd is restarted; the next message to each peer travels on a
#	resumed session, as the peer reports it (and ternctl stats).
#	Check 6: may to hang/garb: delivered in plaintext on a retry; encrypt
#	(both spellings) to notls/hang: stays deferred, the peer never sees
#	MAIL FROM (nor RCPT/DATA) in the clear.
#	Also: verify/secure with smtp_tls_CAfile (next hop [localhost], SNI
#	"localhost"), a certificate from a foreign CA stays deferred;
#	smtp_tls_note_starttls_offer at level none.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init tls_client
need_postfix
command -v openssl >/dev/null || skip "openssl CLI not installed"
command -v swaks >/dev/null || skip "swaks not installed"

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"

read -r P_PX P_PS P_SS P_SSI P_HANG P_GARB P_NOTLS P_HANG2 P_NOTLS2 P_ROGUE P_PS12 < <(pick_ports 11)

write_postfix_cf px "$P_PX" <<EOF
smtpd_tls_security_level = may
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_loglevel = 2
smtpd_tls_received_header = yes
default_transport = discard
relay_transport = discard
EOF
start_postfix px || die "Postfix px did not start"
start_tls_sink ps "$P_PS" --cert "$PKI/server.pem" --key "$PKI/server.key" || die "python sink ps"
mkdir -p "$WORK/psink-ss"
spawn psink-ss "$PY" "$TERN_IT_PY" sserver-sink "$WORK/psink-ss" "$P_SS" "$P_SSI" \
    "$PKI/server.pem" "$PKI/server.key"
wait_listen psink-ss 127.0.0.1 "$P_SS" 15 || die "s_server peer"
start_tls_sink hang "$P_HANG" --mode hangup || die "python sink hang"
start_tls_sink garb "$P_GARB" --mode garbage || die "python sink garb"
start_tls_sink notls "$P_NOTLS" --mode notls || die "python sink notls"
start_tls_sink hang2 "$P_HANG2" --mode hangup || die "python sink hang2"
start_tls_sink notls2 "$P_NOTLS2" --mode notls || die "python sink notls2"
start_tls_sink rogue "$P_ROGUE" --cert "$PKI/rogue.pem" --key "$PKI/rogue.key" || die "python sink rogue"
start_tls_sink ps12 "$P_PS12" --cert "$PKI/server.pem" --key "$PKI/server.key" --max-tls 1.2 || die "python sink ps12"

cat >"$WORK/transport" <<EOF
px.test     smtp:[127.0.0.1]:$P_PX
ps.test     smtp:[127.0.0.1]:$P_PS
ps12.test   smtp:[127.0.0.1]:$P_PS12
ss.test     smtp:[127.0.0.1]:$P_SS
hang.test   smtp:[127.0.0.1]:$P_HANG
garb.test   smtp:[127.0.0.1]:$P_GARB
notls.test  smtp:[127.0.0.1]:$P_NOTLS
hang2.test  smtp:[127.0.0.1]:$P_HANG2
notls2.test smtp:[127.0.0.1]:$P_NOTLS2
good.test   smtp:[localhost]:$P_PS
rogue.test  smtp:[localhost]:$P_ROGUE
EOF

# tern_cf NAME EXTRA - a tern instance routing by $WORK/transport, client TLS per EXTRA
tern_cf() {
    write_main_cf "$1" <<EOF
mynetworks = 127.0.0.0/8
transport_maps = texthash:$WORK/transport
smtp_tls_CAfile = $PKI/ca.pem
smtp_tls_loglevel = 1
smtp_tls_session_cache_database = lmdb:$WORK/$1/smtp_scache
$2
EOF
}
tern_cf t "smtp_tls_security_level = may"
start_ternd t || die "ternd t did not start"

py() { "$PY" "$TERN_IT_PY" "$@"; }

# send INST RCPT - submit one small message to instance INST (plaintext, from 127.0.0.1)
send() {
    local id=${2%%@*}-$RANDOM
    swaks --server "127.0.0.1:$(ternd_port "$1")" -f alice@snd.test -t "$2" \
        --header "X-Test-Id: $id" --timeout 20 >"$WORK/swaks-$1-$2.log" 2>&1
    grep -q '^<-  250 .*queued as' "$WORK/swaks-$1-$2.log" ||
        { say "submission to $1 for $2 failed:"; tail -n 4 "$WORK/swaks-$1-$2.log" >&2; return 1; }
}

# sent_count INST RCPT - tern's status=sent lines for RCPT
sent_count() { maillog_count "$1" "to=<$2>, .*status=sent"; }
sent_ge() { (($(sent_count "$1" "$2") >= $3)); }

# pf_resumed - Postfix px's "Reusing old session" lines
pf_resumed() { pf_maillog_count px 'Reusing old session'; }
pf_resumed_gt() { (($(pf_resumed) > $1)); }
# ss_count ERE - lines of s_server's own output matching ERE
ss_count() { grep -iEc -- "$1" "$WORK/psink-ss/s_server.log" 2>/dev/null || true; }
ss_count_gt() { (($(ss_count "$1") > $2)); }

# --- check 4: TLS to Postfix, s_server, python ----------------------------------
check "submit for px.test" send t a1@px.test
check "submit for ps.test" send t a1@ps.test
check "submit for ss.test" send t a1@ss.test
check "submit for ps12.test (TLS 1.2 peer)" send t a1@ps12.test
check "tern: status=sent to Postfix" wait_until 30 sent_ge t a1@px.test 1
check "tern: status=sent to the python peer" wait_until 30 sent_ge t a1@ps.test 1
check "tern: status=sent to the s_server peer" wait_until 30 sent_ge t a1@ss.test 1
check "tern: status=sent to the TLS 1.2 python peer" wait_until 30 sent_ge t a1@ps12.test 1
check "TLS 1.2 python peer: the message arrived inside TLS" psink_ge ps12 tls-messages 1
check "Postfix's log: TLS connection established from tern" \
    wait_until 10 pf_maillog_has px 'TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.[23] with cipher'
check "Postfix accepted the message (client=, then discarded)" \
    wait_until 10 pf_maillog_has px 'to=<a1@px.test>, relay=none, .*status=sent'
check "python peer: the message arrived inside TLS" psink_ge ps tls-messages 1
check "python peer: no MAIL FROM in the clear" test "$(psink ps plain-mail-cmds)" -eq 0
check "s_server's output: a TLS session (CIPHER is ...)" test "$(ss_count '^CIPHER is ')" -ge 1
check "s_server peer: the message arrived inside TLS" psink_ge ss tls-messages 1
check "tern's log: TLS connection established to the python peer" \
    maillog_has t "TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$P_PS: TLSv1\.3 with cipher"
check "tern's log: ... and to Postfix" \
    maillog_has t "TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$P_PX: TLSv1\.[23] with cipher"
check "ternctl stats: tls_outbound_full_handshakes >= 4 (got $(stat_value t tls_outbound_full_handshakes))" \
    stat_ge t tls_outbound_full_handshakes 4
ternctl t tls-cache list >"$WORK/cache-list-1.out" 2>&1
check "ternctl tls-cache list shows client sessions for the next hops" \
    grep -q "$P_PS" "$WORK/cache-list-1.out"

# --- check 5: resumption across a ternd restart, seen by the peer ------------------
PF_R0=$(pf_resumed)
SS_R0=$(ss_count '^Reused session-ID')
PS_L0=$(psink ps lines)
PS12_L0=$(psink ps12 lines)
check "ternd t stops" stop_ternd t
check "ternd t starts again" start_ternd t
check "submit for px.test after the restart" send t a2@px.test
check "submit for ps.test after the restart" send t a2@ps.test
check "submit for ss.test after the restart" send t a2@ss.test
check "submit for ps12.test after the restart" send t a2@ps12.test
check "after restart: delivered to Postfix" wait_until 30 sent_ge t a2@px.test 1
check "after restart: delivered to the python peer" wait_until 30 sent_ge t a2@ps.test 1
check "after restart: delivered to the s_server peer" wait_until 30 sent_ge t a2@ss.test 1
check "after restart: delivered to the TLS 1.2 python peer" wait_until 30 sent_ge t a2@ps12.test 1
check "TLS 1.2 python peer: the session after the restart was resumed" \
    test "$(psink ps12 tls-resumed "$PS12_L0")" -ge 1
check "python peer: the first TLS session after the restart was resumed (session_reused)" \
    test "$(psink ps tls-resumed "$PS_L0")" -ge 1
check "python peer: no full handshake after the restart (got $(psink ps tls-full "$PS_L0"))" \
    test "$(psink ps tls-full "$PS_L0")" -eq 0
check "Postfix's log: Reusing old session after the restart" wait_until 10 pf_resumed_gt "$PF_R0"
check "s_server's output: Reused session-ID after the restart" wait_until 10 ss_count_gt '^Reused session-ID' "$SS_R0"
check "ternctl stats: tls_outbound_resumed_handshakes >= 4 after the restart (got $(stat_value t tls_outbound_resumed_handshakes))" \
    stat_ge t tls_outbound_resumed_handshakes 4
check "ternctl stats: no full outbound handshake after the restart (got $(stat_value t tls_outbound_full_handshakes))" \
    test "$(stat_value t tls_outbound_full_handshakes)" = 0

# --- check 6: may falls back to plaintext, encrypt never ---------------------------
check "submit for hang.test (may)" send t a3@hang.test
check "submit for garb.test (may)" send t a3@garb.test
check "may: delivered to the peer that hangs up after STARTTLS, on a retry" wait_until 40 psink_ge hang messages 1
check "may: ... in plaintext, after a failed TLS attempt" \
    bash -c "(( \$('$PY' '$TERN_IT_PY' sink-query '$WORK/psink-hang' tls-fail) >= 1 && \$('$PY' '$TERN_IT_PY' sink-query '$WORK/psink-hang' plain-messages) >= 1 ))"
check "may: delivered to the peer that answers STARTTLS with garbage, on a retry" wait_until 40 psink_ge garb messages 1
check "may: ... in plaintext, after a failed TLS attempt" \
    bash -c "(( \$('$PY' '$TERN_IT_PY' sink-query '$WORK/psink-garb' tls-fail) >= 1 && \$('$PY' '$TERN_IT_PY' sink-query '$WORK/psink-garb' plain-messages) >= 1 ))"
check "tern: status=sent for hang.test and garb.test" \
    bash -c "grep -Eq 'to=<a3@hang.test>, .*status=sent' '$WORK/t/maillog' && grep -Eq 'to=<a3@garb.test>, .*status=sent' '$WORK/t/maillog'"

tern_cf enc "smtp_tls_security_level = encrypt"
tern_cf talk "smtp_use_tls = yes
smtp_enforce_tls = yes"
start_ternd enc || die "ternd enc did not start"
start_ternd talk || die "ternd talk did not start"
check "encrypt: submit for notls.test" send enc a4@notls.test
check "encrypt: submit for hang2.test" send enc a4@hang2.test
check "encrypt: submit for ps.test" send enc a4@ps.test
check "smtp_enforce_tls: submit for notls2.test" send talk a4@notls2.test
check "encrypt: the TLS peer still gets its message" wait_until 30 sent_ge enc a4@ps.test 1
# give the scheduler several retries (backoff 1-2 s)
check "encrypt: tern connected to the peer without STARTTLS (and retried)" wait_until 30 psink_ge notls connects 2
check "encrypt: tern tried TLS with the peer that hangs up, more than once" wait_until 30 psink_ge hang2 tls-fail 2
check "smtp_enforce_tls: tern connected to the peer without STARTTLS" wait_until 30 psink_ge notls2 connects 2
sleep 2
for s in notls hang2 notls2; do
    check "encrypt: $s saw no MAIL FROM at all (got $(psink "$s" mail-cmds))" test "$(psink "$s" mail-cmds)" -eq 0
    check "encrypt: $s saw no RCPT/DATA in the clear" test "$(psink "$s" plain-data-cmds)" -eq 0
    check "encrypt: $s has no message" test "$(psink "$s" messages)" -eq 0
done
check "encrypt: a4@notls.test deferred in tern's log" maillog_has enc 'to=<a4@notls.test>, .*status=deferred'
check "encrypt: a4@hang2.test deferred in tern's log" maillog_has enc 'to=<a4@hang2.test>, .*status=deferred'
check "smtp_enforce_tls: a4@notls2.test deferred in tern's log" maillog_has talk 'to=<a4@notls2.test>, .*status=deferred'
check "encrypt: never status=sent for them" \
    bash -c "! grep -Eq 'to=<a4@(notls|hang2|notls2).test>, .*status=sent' '$WORK/enc/maillog' '$WORK/talk/maillog'"
check "encrypt: both messages still in the queue" bash -c "'$TERNCTL' -c '$WORK/enc/etc' queue | grep -q 'a4@notls.test' && '$TERNCTL' -c '$WORK/enc/etc' queue | grep -q 'a4@hang2.test'"
stop_ternd enc
stop_ternd talk

# --- levels none, verify, secure; SNI -------------------------------------------
tern_cf none "smtp_tls_security_level = none
smtp_tls_note_starttls_offer = yes"
start_ternd none || die "ternd none did not start"
PS_L1=$(psink ps lines)
check "none: submit for ps.test" send none a5@ps.test
check "none: delivered" wait_until 30 sent_ge none a5@ps.test 1
check "none: the peer saw no STARTTLS, the message came in the clear" \
    bash -c "(( \$('$PY' '$TERN_IT_PY' sink-query '$WORK/psink-ps' starttls-cmds $PS_L1) == 0 && \$('$PY' '$TERN_IT_PY' sink-query '$WORK/psink-ps' plain-messages $PS_L1) == 1 ))"
check "none: smtp_tls_note_starttls_offer logs 'Host offered STARTTLS: [127.0.0.1]'" \
    maillog_has none 'Host offered STARTTLS: \[127\.0\.0\.1\]'
stop_ternd none

for level in verify secure; do
    tern_cf "$level" "smtp_tls_security_level = $level"
    start_ternd "$level" || { fail "ternd $level did not start"; continue; }
    PS_L1=$(psink ps lines)
    ROGUE_L1=$(psink rogue lines)
    check "$level: submit for good.test ([localhost], CA-signed certificate)" send "$level" "a6@good.test"
    check "$level: submit for rogue.test ([localhost], foreign CA)" send "$level" "a6@rogue.test"
    check "$level: delivered to good.test" wait_until 30 sent_ge "$level" a6@good.test 1
    check "$level: Verified TLS connection established to localhost[127.0.0.1]" \
        maillog_has "$level" "Verified TLS connection established to localhost\[127\.0\.0\.1\]:$P_PS"
    check "$level: SNI localhost reached the peer (got $(psink ps sni "$PS_L1"))" \
        bash -c "'$PY' '$TERN_IT_PY' sink-query '$WORK/psink-ps' sni $PS_L1 | grep -qw localhost"
    check "$level: tern tried the foreign-CA peer" wait_until 20 psink_ge rogue connects 1 "$ROGUE_L1"
    sleep 3
    check "$level: the foreign-CA peer saw no MAIL FROM" \
        test "$(psink rogue mail-cmds "$ROGUE_L1")" -eq 0
    check "$level: a6@rogue.test deferred" maillog_has "$level" 'to=<a6@rogue.test>, .*status=deferred'
    stop_ternd "$level"
done

check "ternd t exits on SIGTERM within 10 s" stop_ternd t
check "Postfix px stops" stop_postfix px
it_done
