#!/usr/bin/env bash
# NAME
#	test_sasl_enforce.sh - issue 9 part 4: no AUTH before STARTTLS under enforce
# DESCRIPTION
#	ternd with SASL (Cyrus, pwcheck_method: saslauthd through the fake
#	saslauthd of tern_sasl_it.py, which counts the passwords it is asked to
#	check) and mandatory TLS, spelled both ways: smtpd_tls_security_level
#	= encrypt, and the talk's smtpd_use_tls = yes with smtpd_enforce_tls =
#	yes. smtpd_tls_auth_only = no and options that allow PLAIN without TLS,
#	so only the enforcement keeps AUTH out of plaintext. Checks (RFC 3207
#	4, as Postfix 3.7): before STARTTLS the EHLO reply has no AUTH, AUTH
#	PLAIN with the right password gets 530 5.7.0 and saslauthd never sees
#	it, HELP/VRFY/MAIL/RCPT/DATA get 530, NOOP and RSET 250; after STARTTLS AUTH
#	PLAIN LOGIN is offered and AUTH PLAIN gets 235 with one password check.
#	swaks --tls --auth PLAIN then submits a message.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init sasl_enforce
command -v swaks >/dev/null || skip "swaks not installed"
[[ -n $(find /usr/lib -name 'libplain.so*' 2>/dev/null | head -1) ]] ||
    skip "Cyrus PLAIN plugin not installed (libsasl2-modules)"

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"
read -r P_SINK < <(pick_ports 1)
start_sink s "127.0.0.1:$P_SINK" || die "smtp-sink"

# instance NAME ENFORCEMENT... - ternd with SASL through the fake saslauthd at $WORK/NAME-sasl/mux
instance() {
    local name=$1
    shift
    mkdir -p "$WORK/$name-sasl"
    printf '%s\n' "pwcheck_method: saslauthd" "saslauthd_path: $WORK/$name-sasl/mux" \
        "mech_list: PLAIN LOGIN" >"$WORK/$name-sasl/smtpd.conf"
    {
        printf '%s\n' "mynetworks = 127.0.0.9/32" "relayhost = [127.0.0.1]:$P_SINK" \
            "smtpd_tls_cert_file = $PKI/server.pem" "smtpd_tls_key_file = $PKI/server.key" \
            "smtpd_sasl_auth_enable = yes" "cyrus_sasl_config_path = $WORK/$name-sasl" \
            "smtpd_tls_auth_only = no" "smtpd_sasl_security_options = noanonymous" \
            "smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination"
        printf '%s\n' "$@"
    } | write_main_cf "$name"
    start_ternd "$name"
}

instance enc "smtpd_tls_security_level = encrypt" || die "ternd enc did not start"
instance talk "smtpd_use_tls = yes" "smtpd_enforce_tls = yes" || die "ternd talk did not start"
for name in enc talk; do
    say "--- $name"
    TERN_IT_PY=$IT_DIR/tern_sasl_it.py py_checks enforce 127.0.0.1 "$(ternd_port $name)" \
        "$PKI/ca.pem" "$WORK/$name-sasl/mux" alice 'wonder land'
    check "$name: the 530s are logged in the disconnect line" \
        maillog_has "$name" 'disconnect from unknown\[127\.0\.0\.1\] ehlo=2 starttls=1 auth=1/3 mail=1/2 rcpt=0/1 data=0/1 rset=1 noop=1 vrfy=0/1 help=0/1'
done

# a real client: swaks with STARTTLS and AUTH PLAIN, against a saslauthd that answers at once
"$PY" "$IT_DIR/tern_sasl_it.py" saslauthd "$WORK/enc-sasl/mux" alice 'wonder land' >"$WORK/saslauthd.out" 2>&1 &
IT_PID[saslauthd]=$!
wait_until 10 grep -q listening "$WORK/saslauthd.out" || die "the fake saslauthd did not start"
check "swaks --tls --auth PLAIN submits through the enforcing ternd" bash -c "
    swaks --server 127.0.0.1:$(ternd_port enc) --tls --auth PLAIN --auth-user alice \
        --auth-password 'wonder land' -f alice@snd.test -t x@far.test --timeout 20 \
        >'$WORK/swaks-tls.log' 2>&1 && grep -q '^<~  235 ' '$WORK/swaks-tls.log' &&
        grep -q '^<~  250 .*queued as' '$WORK/swaks-tls.log'"
check "swaks without --tls finds no AUTH and does not authenticate" bash -c "
    ! swaks --server 127.0.0.1:$(ternd_port enc) --auth PLAIN --auth-user alice \
        --auth-password 'wonder land' -f alice@snd.test -t y@far.test --timeout 20 \
        >'$WORK/swaks-plain.log' 2>&1; ! grep -q ' 235 ' '$WORK/swaks-plain.log'"
check "the authenticated message reaches the relayhost" wait_until 20 sink_has s 1
it_done
