#!/usr/bin/env bash
# NAME
#	test_tls_resume.sh - issue 10 section 6: a client certificate's identity
#	survives every kind of TLS resumption
# DESCRIPTION
#	tern "r" relays for nobody on 127.0.0.1 but the holders of a certificate
#	listed in relay_clientcerts (mynetworks = 127.0.0.9/32,
#	smtpd_recipient_restrictions = permit_tls_clientcerts,
#	reject_unauth_destination), asks for client certificates and keeps an
#	LMDB session cache (session IDs and ticket keys).
#
#	For each kind of resumption - TLS 1.2 session ticket, TLS 1.2 session ID
#	(-no_ticket), TLS 1.3 ticket (PSK) - on STARTTLS and on smtps_listen,
#	openssl s_client presents client.pem and saves its session
#	(-sess_out): a full handshake, RCPT to a foreign domain gets 250, the
#	log says "Trusted TLS connection established". Then s_client offers the
#	saved session without a certificate of its own (-sess_in, no -cert:
#	whatever identity comes back is the one tern stored): s_client says
#	"Reused", RCPT still gets 250 (before the fix: 554 5.7.1 Relay access
#	denied), and the log says "Trusted TLS connection established" again.
#	The same after a ternd restart (sessions and ticket keys come from the
#	LMDB file).
#
#	The "TLS connection established" lines carry Postfix 3.x's TLS 1.3
#	details: key-exchange, server-signature, server-digest and, with a
#	client certificate, client-signature (a resumed session: no digests,
#	as Postfix 3.7).
#
#	Controls: a session made without a certificate resumes anonymous (554,
#	"Anonymous TLS connection established"); a session of a certificate that
#	is not listed resumes refused.
#
#	Postfix (when it can run here: root, Debian's postfix) as a TLS 1.2
#	client with a session cache sends three messages on three connections:
#	the later two are resumed and all three relay by the certificate.
#
#	Instance "nc" has no session cache: a TLS 1.2 client that asks for a
#	ticket resumes by session ID (wolfSSL's memory), TLS 1.3 by ticket, and
#	both keep the certificate.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init tls_resume
command -v openssl >/dev/null || skip "openssl CLI not installed"

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"
pki_leaf "$PKI" stranger stranger.tern-it.test ca || die "cannot make stranger.pem"

# fp FILE - certificate fingerprint (sha256), as Postfix prints it
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }

read -r P_SINK P_SMTPS < <(pick_ports 2)
start_sink r "127.0.0.1:$P_SINK" || die "smtp-sink r"
printf '%s client\n' "$(fp "$PKI/client.pem")" >"$WORK/relay_clientcerts"

write_main_cf r <<EOF
mynetworks = 127.0.0.9/32
relayhost = [127.0.0.1]:$P_SINK
smtps_listen = 127.0.0.1:$P_SMTPS
smtpd_tls_security_level = may
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_CAfile = $PKI/ca.pem
smtpd_tls_ask_ccert = yes
smtpd_tls_loglevel = 1
smtpd_tls_fingerprint_digest = sha256
smtpd_tls_session_cache_database = lmdb:$WORK/r/smtpd_scache
smtpd_tls_session_cache_timeout = 3600s
relay_clientcerts = texthash:$WORK/relay_clientcerts
smtpd_relay_restrictions =
smtpd_recipient_restrictions = permit_tls_clientcerts, reject_unauth_destination
EOF
start_ternd r || die "ternd r did not start"
INST=r

# session NAME WHERE ARGS... - one s_client session to $INST (WHERE: starttls or smtps): EHLO,
#	MAIL, RCPT to a foreign domain, QUIT, paced so that TLS 1.3 tickets arrive before the
#	session is saved; the transcript goes to $WORK/sc-NAME.log
session() {
    local name=$1 where=$2 target
    shift 2
    if [[ $where == smtps ]]; then
        target=(-connect "127.0.0.1:$P_SMTPS")
    else
        target=(-starttls smtp -connect "127.0.0.1:$(ternd_port "$INST")")
    fi
    {
        sleep 1
        printf 'EHLO resume.test\r\n'
        sleep 0.3
        printf 'MAIL FROM:<alice@outside.test>\r\n'
        sleep 0.3
        printf 'RCPT TO:<%s@far.test>\r\n' "$name"
        sleep 0.5
        printf 'QUIT\r\n'
        sleep 0.5
    } | timeout 20 openssl s_client -nocommands -ign_eof -servername localhost \
        -CAfile "$PKI/ca.pem" "${target[@]}" "$@" >"$WORK/sc-$name.log" 2>&1
}

# reused NAME / new NAME - what s_client said about the session
reused() { grep -q '^Reused, TLS' "$WORK/sc-$1.log"; }
new() { grep -q '^New, TLS' "$WORK/sc-$1.log"; }
# relayed NAME - RCPT got 250; refused NAME - RCPT got 554 5.7.1
relayed() { grep -Eq '^250 2\.1\.5 ' "$WORK/sc-$1.log"; }
refused() { grep -Eq '^554 5\.7\.1 ' "$WORK/sc-$1.log"; }
# logged KIND - the newest "TLS connection established" line of $INST starts with KIND
logged() {
    local last
    last=$(grep 'TLS connection established from' "$WORK/$INST/maillog" | tail -n 1)
    [[ $last == *" $1 TLS connection established from "* ]] ||
        { say "  last TLS line: $last"; return 1; }
}

# cases: name where s_client-options
CASES=(
    "t12ticket starttls -tls1_2"
    "t12sessid starttls -tls1_2 -no_ticket"
    "t13ticket starttls -tls1_3"
    "s12ticket smtps -tls1_2"
    "s12sessid smtps -tls1_2 -no_ticket"
    "s13ticket smtps -tls1_3"
)
CERT=(-cert "$PKI/client.pem" -key "$PKI/client.key")

for c in "${CASES[@]}"; do
    read -r name where opts <<<"$c"
    # shellcheck disable=SC2086
    session "$name-full" "$where" $opts "${CERT[@]}" -sess_out "$WORK/$name.sess"
    check "$name: full handshake with client.pem (New)" new "$name-full"
    check "$name: full handshake: RCPT relayed by relay_clientcerts" relayed "$name-full"
    check "$name: full handshake: logged Trusted" logged Trusted
    # shellcheck disable=SC2086
    session "$name-resumed" "$where" $opts -sess_in "$WORK/$name.sess"
    check "$name: resumed (Reused)" reused "$name-resumed"
    check "$name: resumed: RCPT still relayed by the certificate" relayed "$name-resumed"
    check "$name: resumed: logged Trusted" logged Trusted
done

# the log line carries Postfix 3.x's TLS 1.3 details (P-256 keys on both sides here)
check "log: full TLS 1.3 handshake with key-exchange, server-signature, server-digest, client-signature" \
    maillog_has r 'Trusted TLS connection established from [^ ]+: TLSv1\.3 with cipher TLS_[A-Z0-9_]+ \([0-9]+/[0-9]+ bits\) key-exchange [A-Z0-9]+( \([a-z0-9]+\))? server-signature ECDSA \(prime256v1\) server-digest SHA256 client-signature ECDSA \(prime256v1\)$'
check "log: a resumed TLS 1.3 session names the keys without digests (nothing was signed), as Postfix 3.7" \
    maillog_has r 'Trusted TLS connection established from [^ ]+: TLSv1\.3 with cipher TLS_[A-Z0-9_]+ \([0-9]+/[0-9]+ bits\) key-exchange [A-Z0-9]+( \([a-z0-9]+\))? server-signature ECDSA \(prime256v1\) client-signature ECDSA \(prime256v1\)$'
check "log: TLS 1.2 lines end after the cipher bits, as Postfix's" \
    maillog_has r 'TLS connection established from [^ ]+: TLSv1\.2 with cipher [A-Z0-9-]+ \([0-9]+/[0-9]+ bits\)$'

# controls: no certificate, and a certificate that is not listed, stay refused when resumed
session anon-full starttls -tls1_2 -sess_out "$WORK/anon.sess"
session anon-resumed starttls -tls1_2 -sess_in "$WORK/anon.sess"
check "control: anonymous TLS 1.2 ticket session resumed (Reused)" reused anon-resumed
check "control: anonymous resumed session is refused (554 5.7.1)" refused anon-resumed
check "control: anonymous resumed session logged Anonymous" logged Anonymous
session stranger-full starttls -tls1_2 -cert "$PKI/stranger.pem" -key "$PKI/stranger.key" \
    -sess_out "$WORK/stranger.sess"
session stranger-resumed starttls -tls1_2 -sess_in "$WORK/stranger.sess"
check "control: unlisted certificate's resumed session (Reused)" reused stranger-resumed
check "control: unlisted certificate's resumed session is refused (554 5.7.1)" refused stranger-resumed

# --- Postfix 3.7 as a TLS 1.2 submitter with a session cache (when it can run here) -----
# Three messages, one connection each (no connection cache): the second and third resume the
# session the first made, and all three relay by the certificate.
if [[ $(id -u) == 0 && -x $POSTFIX_MASTER && -x $POSTFIX_CMD ]] && getent passwd postfix >/dev/null &&
    command -v swaks >/dev/null; then
    read -r P_PC < <(pick_ports 1)
    write_postfix_cf pc "$P_PC" <<EOF
relayhost = [127.0.0.1]:$(ternd_port r)
smtp_tls_security_level = encrypt
smtp_tls_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.3
smtp_tls_mandatory_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.3
smtp_tls_cert_file = $PKI/client.pem
smtp_tls_key_file = $PKI/client.key
smtp_tls_CAfile = $PKI/ca.pem
smtp_tls_loglevel = 1
smtp_tls_session_cache_database = lmdb:$WORK/pf-pc/data/smtp_scache
smtp_connection_cache_on_demand = no
EOF
    if start_postfix pc; then
        resumed_before=$(stat_value r tls_inbound_resumed_handshakes)
        for i in 1 2 3; do
            swaks --server "127.0.0.1:$P_PC" --ehlo pf-submit.test -f alice@snd.test \
                -t "pf$i@far.test" --timeout 30 >"$WORK/swaks-pf$i.log" 2>&1
            check "Postfix: message $i relayed through tern by the certificate" \
                wait_until 60 pf_maillog_has pc "to=<pf$i@far\.test>, relay=127\.0\.0\.1.*status=sent"
        done
        check "Postfix: TLS 1.2 to tern" pf_maillog_has pc "TLS connection established to .*: TLSv1\.2"
        check "tern resumed Postfix's later sessions (resumed handshakes +2 or more)" \
            stat_ge r tls_inbound_resumed_handshakes $((${resumed_before:-0} + 2))
        check "tern refused none of Postfix's recipients" \
            bash -c "! grep -q 'reject: RCPT .*pf[0-9]@far' '$WORK/r/maillog'"
        stop_postfix pc
    else
        fail "Postfix pc did not start"
    fi
else
    say "no Postfix client here (needs root, Postfix and swaks): that part is skipped"
fi

# --- across a restart: sessions and ticket keys come from the LMDB file ------------------
check "ternd r stops for the restart" stop_ternd r
check "ternd r starts again" start_ternd r
for c in "${CASES[@]}"; do
    read -r name where opts <<<"$c"
    [[ -s $WORK/$name.sess ]] || { fail "$name: no saved session"; continue; }
    # shellcheck disable=SC2086
    session "$name-restart" "$where" $opts -sess_in "$WORK/$name.sess"
    check "$name: resumed after the restart (Reused)" reused "$name-restart"
    check "$name: after the restart: RCPT relayed by the certificate" relayed "$name-restart"
    check "$name: after the restart: logged Trusted" logged Trusted
done
check "ternd exits on SIGTERM within 10 s" stop_ternd r

# --- no session cache: session IDs in wolfSSL's memory, TLS 1.3 tickets -----------------
sed -e '/^smtpd_tls_session_cache/d' -e '/^smtps_listen/d' -e '/^smtpd_listen/d' \
    -e "/^queue_directory/s|/r/|/nc/|" -e "/^maillog_file/s|/r/|/nc/|" "$WORK/r/etc/main.cf" |
    write_main_cf nc
start_ternd nc || die "ternd nc did not start"
INST=nc
for c in "t12any starttls -tls1_2" "t13ticket starttls -tls1_3"; do
    read -r name where opts <<<"$c"
    # shellcheck disable=SC2086
    session "nc-$name-full" "$where" $opts "${CERT[@]}" -sess_out "$WORK/nc-$name.sess"
    check "no cache, $name: full handshake relays" relayed "nc-$name-full"
    # shellcheck disable=SC2086
    session "nc-$name-resumed" "$where" $opts -sess_in "$WORK/nc-$name.sess"
    check "no cache, $name: resumed (Reused)" reused "nc-$name-resumed"
    check "no cache, $name: resumed: RCPT relayed by the certificate" relayed "nc-$name-resumed"
    check "no cache, $name: resumed: logged Trusted" logged Trusted
done
check "ternd nc exits on SIGTERM within 10 s" stop_ternd nc

it_done
