#!/usr/bin/env bash
# NAME
#	test_sasl.sh - issue 4 check 5: SMTP AUTH through Cyrus SASL, both directions
# DESCRIPTION
#	Server. A sasldb made with saslpasswd2 (user alice, realm = myhostname),
#	an smtpd.conf in cyrus_sasl_config_path (auxprop/sasldb, mech_list
#	PLAIN LOGIN CRAM-MD5), mynetworks that excludes the test client, relay
#	restrictions permit_sasl_authenticated, reject_unauth_destination.
#	  tls_only: smtpd_tls_auth_only = yes, the talk's general approach:
#	    no AUTH before STARTTLS (AUTH there: 503), relaying refused 554
#	    5.7.1, AUTH inside a transaction 503, inside TLS AUTH PLAIN LOGIN
#	    offered, wrong passwords 535 5.7.8 after a growing delay, "*"
#	    cancels (501 5.7.0), bad base64 501 5.5.2, empty 334 without an
#	    initial response, 235 2.7.0, AUTH twice 503, the authenticated
#	    client relays; the message arrives with "ESMTPSA" and tern logs
#	    sasl_method=PLAIN, sasl_username=alice.
#	  noplaintext: the talk's specific approach (smtpd_sasl_security_options
#	    = noanonymous, noplaintext; smtpd_sasl_tls_security_options =
#	    noanonymous): before TLS only CRAM-MD5 is offered and PLAIN gets 504;
#	    swaks authenticates with CRAM-MD5 in plaintext and with PLAIN over
#	    STARTTLS, and relays both times.
#	Client. A private Postfix instance is a smarthost that requires SASL
#	(smtpd_sasl_auth_enable = yes, relay only for permit_sasl_authenticated,
#	its own sasldb, STARTTLS, smtpd_tls_auth_only = yes) and relays on to an
#	smtp-sink. tern relays to it with smtp_sasl_auth_enable = yes and
#	smtp_sasl_password_maps keyed by the next hop "[127.0.0.1]:PORT":
#	  over STARTTLS (smtp_tls_security_level = encrypt): delivered, Postfix
#	    logs sasl_username=relayuser;
#	  a second Postfix smarthost offering AUTH PLAIN LOGIN without TLS, tern
#	    with smtp_tls_security_level = none and the talk's
#	    smtp_sasl_security_options = noanonymous, noplaintext: tern defers
#	    ("cannot authenticate ... no mechanism available"), Postfix's log
#	    shows the session had no AUTH command at all, nothing is relayed;
#	  a wrong password: Postfix answers 535, tern defers (soft bounce), the
#	    message stays queued.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init sasl
command -v saslpasswd2 >/dev/null || skip "saslpasswd2 not installed (apt-get install sasl2-bin)"
command -v swaks >/dev/null || skip "swaks not installed"
[[ -e /usr/lib/x86_64-linux-gnu/sasl2/libsasldb.so || -n $(find /usr/lib -name 'libsasldb.so*' 2>/dev/null | head -1) ]] ||
    skip "Cyrus sasldb plugin not installed (libsasl2-modules-db)"

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"

# sasl_dir DIR REALM USER PASSWORD [MECHS] - sasldb + smtpd.conf in DIR
sasl_dir() {
    mkdir -p "$1"
    echo "$4" | saslpasswd2 -p -c -f "$1/sasldb2" -u "$2" "$3" || return 1
    cat >"$1/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $1/sasldb2
mech_list: ${5:-PLAIN LOGIN CRAM-MD5}
EOF
}

# ================================================================ server
read -r P_RSINK < <(pick_ports 1)
start_sink r "127.0.0.1:$P_RSINK" || die "smtp-sink r"

SRV_COMMON="mynetworks = 127.0.0.9/32
relayhost = [127.0.0.1]:$P_RSINK
smtpd_tls_security_level = may
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_sasl_auth_enable = yes
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination"

# --- the general approach: smtpd_tls_auth_only
write_main_cf srv1 <<EOF
$SRV_COMMON
cyrus_sasl_config_path = $WORK/sasl-srv1
smtpd_tls_auth_only = yes
EOF
sasl_dir "$WORK/sasl-srv1" tern.srv1.test alice 'wonder land' || die "saslpasswd2"
start_ternd srv1 || die "ternd srv1 did not start"
py_checks sasl-server 127.0.0.1 "$(ternd_port srv1)" "$PKI/ca.pem" alice 'wonder land' \
    x1@far.test tls_only
check "tls_only: the authenticated message reaches the relayhost" wait_until 20 sink_has r 1
check "tls_only: Received: says ESMTPSA" bash -c "grep -l 'with ESMTPSA id' '$WORK'/sink-r/* >/dev/null"
check "tls_only: tern logs sasl_method=PLAIN, sasl_username=alice" \
    maillog_has srv1 'client=unknown\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=alice'
check "tls_only: failures are logged with the mechanism" \
    maillog_has srv1 'warning: unknown\[127\.0\.0\.1\]: SASL LOGIN authentication failed'
stop_ternd srv1

# --- the specific approach: no plaintext mechanisms without TLS
write_main_cf srv2 <<EOF
$SRV_COMMON
cyrus_sasl_config_path = $WORK/sasl-srv2
smtpd_sasl_security_options = noanonymous, noplaintext
smtpd_sasl_tls_security_options = noanonymous
EOF
sasl_dir "$WORK/sasl-srv2" tern.srv2.test alice 'wonder land' || die "saslpasswd2"
start_ternd srv2 || die "ternd srv2 did not start"
py_checks sasl-server 127.0.0.1 "$(ternd_port srv2)" "$PKI/ca.pem" alice 'wonder land' \
    x2@far.test noplaintext
swaks_auth() { # swaks_auth NAME MECH [--tls] - AUTH as alice and relay one message
    local name=$1 mech=$2
    shift 2
    swaks --server "127.0.0.1:$(ternd_port srv2)" -f alice@snd.test -t "$name@far.test" \
        --auth "$mech" --auth-user alice --auth-password 'wonder land' "$@" --timeout 20 \
        >"$WORK/swaks-$name.log" 2>&1
    grep -q '^<[-~]  235 ' "$WORK/swaks-$name.log" && grep -q '^<[-~]  250 .*queued as' "$WORK/swaks-$name.log"
}
check "noplaintext: swaks authenticates with CRAM-MD5 without TLS and relays" swaks_auth s1 CRAM-MD5
check "noplaintext: swaks authenticates with PLAIN over STARTTLS and relays" swaks_auth s2 PLAIN --tls
check "noplaintext: swaks cannot use PLAIN without TLS" bash -c "! swaks --server 127.0.0.1:$(ternd_port srv2) \
    -f a@snd.test -t s3@far.test --auth PLAIN --auth-user alice --auth-password x --timeout 20 \
    >'$WORK/swaks-s3.log' 2>&1 && ! grep -q '^<-  235' '$WORK/swaks-s3.log'"
check "noplaintext: three more messages reach the relayhost" wait_until 20 sink_has r 4
# Cyrus keeps the smtpd_sasl_path string it was initialised with: after a reload has freed the
# first configuration, AUTH must still work (found by fuzz_sasl; the ASan ternd aborted here)
kill -HUP "${IT_PID[srv2]}"
check "reload: ternd reloads its configuration" wait_until 10 maillog_has srv2 'reload -- version'
sleep 3 # cached outbound connections (smtp_connection_cache_time_limit 2s) hold the old one
check "reload: AUTH still works after SIGHUP" swaks_auth s4 CRAM-MD5
check "reload: ternd is still running" alive srv2
stop_ternd srv2

# ================================================================ client
need_postfix
read -r P_HUB1 P_HUB2 P_HSINK < <(pick_ports 3)
start_sink h "127.0.0.1:$P_HSINK" || die "smtp-sink h"

# pf_hub NAME PORT EXTRA - a Postfix smarthost that relays only for SASL-authenticated clients
pf_hub() {
    local name=$1 port=$2
    sasl_dir "$WORK/sasl-$name" "pf-$name.test" relayuser 'relay pass' "PLAIN LOGIN" || return 1
    chmod 644 "$WORK/sasl-$name/sasldb2"
    # Debian's Postfix reads $config_directory/sasl/smtpd.conf (seen with strace;
    # cyrus_sasl_config_path is not consulted), so smtpd.conf goes there.
    write_postfix_cf "$name" "$port" <<EOF
relayhost = [127.0.0.1]:$P_HSINK
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_relay_restrictions = permit_sasl_authenticated, reject
$3
EOF
    # the base config's mynetworks covers 127.0.0.1: tern must be outside it
    sed -i 's|^mynetworks = .*|mynetworks = 127.0.0.9/32|' "$WORK/pf-$name/etc/main.cf"
    mkdir -p "$WORK/pf-$name/etc/sasl"
    cp "$WORK/sasl-$name/smtpd.conf" "$WORK/pf-$name/etc/sasl/smtpd.conf"
    start_postfix "$name"
}
pf_hub hub1 "$P_HUB1" "smtpd_tls_security_level = may
smtpd_tls_cert_file = $PKI/server.pem
smtpd_tls_key_file = $PKI/server.key
smtpd_tls_auth_only = yes
smtpd_sasl_security_options = noanonymous" || die "Postfix hub1 did not start"
pf_hub hub2 "$P_HUB2" "smtpd_tls_security_level = none
smtpd_sasl_security_options = noanonymous" || die "Postfix hub2 did not start"

cat >"$WORK/transport" <<EOF
tls.test smtp:[127.0.0.1]:$P_HUB1
plain.test smtp:[127.0.0.1]:$P_HUB2
wrong.test smtp:[localhost]:$P_HUB1
EOF
cat >"$WORK/tls_policy" <<EOF
[127.0.0.1]:$P_HUB1 encrypt
[localhost]:$P_HUB1 encrypt
[127.0.0.1]:$P_HUB2 none
EOF
cat >"$WORK/sasl_passwd" <<EOF
# Postfix's smtp_sasl_password_maps syntax: next hop as written in the transport
[127.0.0.1]:$P_HUB1 relayuser:relay pass
[127.0.0.1]:$P_HUB2 relayuser:relay pass
[localhost]:$P_HUB1 relayuser:not the password
EOF
chmod 600 "$WORK/sasl_passwd"
write_main_cf cli <<EOF
mynetworks = 127.0.0.0/8
transport_maps = texthash:$WORK/transport
smtp_tls_policy_maps = texthash:$WORK/tls_policy
smtp_tls_loglevel = 1
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:$WORK/sasl_passwd
smtp_sasl_security_options = noanonymous, noplaintext
smtp_sasl_tls_security_options = noanonymous
EOF
start_ternd cli || die "ternd cli did not start"

send() {
    swaks --server "127.0.0.1:$(ternd_port cli)" -f app@snd.test -t "$1" --timeout 20 \
        >"$WORK/swaks-$1.log" 2>&1
    grep -q '^<-  250 .*queued as' "$WORK/swaks-$1.log"
}
check "client: submit for tls.test" send u1@tls.test
check "client: submit for plain.test" send u2@plain.test
check "client: submit for wrong.test" send u3@wrong.test

check "client: over STARTTLS tern authenticates and Postfix relays" \
    wait_until 30 maillog_has cli 'to=<u1@tls\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:[0-9]+, .*status=sent'
check "client: Postfix logs sasl_method=PLAIN, sasl_username=relayuser" \
    pf_maillog_has hub1 'client=localhost\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=relayuser'
check "client: the message reaches the smarthost's sink" wait_until 30 sink_has h 1
check "client: noplaintext without TLS defers with no mechanism available" \
    wait_until 30 maillog_has cli 'to=<u2@plain\.test>, .*dsn=4\.7\.0, status=deferred \(SASL authentication failed; cannot authenticate to server 127\.0\.0\.1\[127\.0\.0\.1\]: no mechanism available'
check "client: Postfix hub2 saw no AUTH command (credentials never sent in plaintext)" \
    bash -c "grep -E 'disconnect from' '$WORK/pf-hub2/maillog' | grep -q 'ehlo=1' &&
             ! grep -E 'disconnect from' '$WORK/pf-hub2/maillog' | grep -q 'auth='"
check "client: hub2 relayed nothing" bash -c "! grep -q 'to=<u2@plain.test>.*status=sent' '$WORK/pf-hub2/maillog'"
check "client: a wrong password is refused by Postfix and tern defers (soft bounce)" \
    wait_until 30 maillog_has cli 'to=<u3@wrong\.test>, .*dsn=4\.7\.[0-9]+, status=deferred \(SASL authentication failed; server localhost\[127\.0\.0\.1\] said: 535'
check "client: both refused messages are still queued" bash -c "(( \$('${TERNCTL}' -c '$WORK/cli/etc' queue | grep -Ec 'u2@plain.test|u3@wrong.test') == 2 ))"
check "client: only one message reached the sink" bash -c "sleep 2; (( \$('$PY' '$TERN_IT_PY' count '$WORK/sink-h') == 1 ))"
stop_ternd cli

# an unknown option word is refused by `ternd check`
write_main_cf bad <<EOF
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:$WORK/sasl_passwd
smtp_sasl_security_options = noanonymous, plaintext
EOF
check "ternd check refuses an unknown SASL option word" \
    bash -c "! '$TERND' -c '$WORK/bad/etc' check >'$WORK/bad-check.out' 2>&1 && grep -q 'unknown option \"plaintext\"' '$WORK/bad-check.out'"
it_done
