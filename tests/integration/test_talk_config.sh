#!/usr/bin/env bash
# NAME
#	test_talk_config.sh - issue 4 check 1: the 2005 talk's main.cf, paths changed, runs
# DESCRIPTION
#	main.cf is assembled from the snippets of
#	shared/reference/postfix-tls-talk-2005.md (server-side TLS, session
#	caches, enforcing TLS, SASL options, client-side TLS, tls_per_site,
#	certificate-based relaying with relay_clientcerts and
#	check_ccert_access), with only the file paths changed and the "..."
#	elisions of restriction lists filled with Postfix's usual entries.
#	`ternmap hash:FILE` builds the talk's tables; `ternd check` passes; ternd
#	runs. With no compatibility_level (as in 2005) fingerprints are md5, as
#	in the talk's tables: a client whose md5 certificate fingerprint is in
#	relay_clientcerts relays from outside mynetworks, one without a
#	certificate gets 554 5.7.1, and the message arrives with the TLS
#	Received annotation.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init talk
command -v openssl >/dev/null || skip "openssl CLI not installed"
TERNMAP=$(dirname "$TERND")/ternmap
[[ -x $TERNMAP ]] || die "no ternmap next to $TERND"

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"
ETC=$WORK/postfix-etc                       # stands for /etc/postfix
mkdir -p "$ETC/certs"
cp "$PKI/server.pem" "$ETC/certs/cert.pem"
cp "$PKI/server.key" "$ETC/certs/key.pem"
chmod 600 "$ETC/certs/key.pem"
cp "$PKI/ca.pem" "$ETC/certs/ca-bundle.crt"

md5() { openssl x509 -in "$1" -noout -fingerprint -md5 | cut -d= -f2; }

# The talk's tables, with the talk's own example lines and ours.
cat >"$ETC/tls_per_site" <<EOF
dom.ain                NONE
host.dom.ain           MAY
important.host         MUST
some.host.dom.ain     MUST_NOPEERMATCH
EOF
cat >"$ETC/relay_clientcerts" <<EOF
00:8B:02:30:9D:18:F4:81:5D:2F:48:E4:5B:17:82:A7    client_1
$(md5 "$PKI/client.pem")    client_2
EOF
cat >"$ETC/client_cert_access" <<EOF
18:F4:81:5D:2F:82:A7:48:E4:5B:17:00:8B:02:30:9D some_restriction
$(md5 "$PKI/rogue.pem") REJECT
EOF
for t in tls_per_site relay_clientcerts client_cert_access; do
    check "ternmap hash:$t builds its table" "$TERNMAP" "hash:$ETC/$t"
done
check "ternmap -q finds the client's md5 fingerprint" \
    bash -c "'$TERNMAP' -q '$(md5 "$PKI/client.pem")' 'hash:$ETC/relay_clientcerts' | grep -q client_2"

read -r P_SINK < <(pick_ports 1)
start_sink hub "127.0.0.1:$P_SINK" || die "smtp-sink hub"

write_main_cf talk <<EOF
mynetworks = 127.0.0.9/32
relayhost = [127.0.0.1]:$P_SINK
smtpd_restriction_classes = some_restriction
some_restriction = reject

# --- Basic TLS server parameters
smtpd_use_tls = yes
smtpd_tls_loglevel = 2
smtpd_tls_received_header = yes
tls_random_source = dev:/dev/urandom
smtpd_tls_key_file = $ETC/certs/key.pem
smtpd_tls_cert_file = $ETC/certs/cert.pem
smtpd_tls_CAfile = $ETC/certs/ca-bundle.crt
smtpd_tls_CApath = $ETC/certs/

# --- Caching Postfix TLS server sessions
smtpd_tls_session_cache_database =  
    btree:$ETC/smtpd_scache
smtpd_tls_session_cache_timeout = 3600s

# --- Enforcing server-side TLS
smtpd_enforce_tls = yes

# --- Protecting Postfix server SMTP AUTH
smtpd_tls_auth_only = yes
smtpd_sasl_security_options = noanonymous, noplaintext  
smtpd_sasl_tls_security_options = noanonymous

# --- Basic client-side TLS
smtp_use_tls = yes  
smtp_tls_loglevel = 2
smtp_tls_CAfile = $ETC/certs/ca-bundle.crt
smtp_tls_CApath = $ETC/certs/

# --- Caching Postfix TLS client sessions
smtp_tls_session_cache_database =  
    btree:$ETC/smtp_scache  
smtp_tls_session_cache_timeout = 3600s

# --- Controlling TLS in Postfix smtp client
smtp_tls_note_starttls_offer = yes
smtp_tls_per_site = hash:$ETC/tls_per_site

# --- Protecting Postfix client SMTP AUTH
smtp_sasl_security_options = noanonymous, noplaintext  
smtp_sasl_tls_security_options = noanonymous

# --- Certificate based relaying
smtpd_tls_ask_ccert = yes
relay_clientcerts = hash:$ETC/relay_clientcerts
smtpd_recipient_restrictions =
    permit_mynetworks
    check_ccert_access hash:$ETC/client_cert_access
    permit_tls_clientcerts
    reject_unauth_destination

# --- Configuring the client-side
smtp_tls_cert_file = $ETC/certs/cert.pem  
smtp_tls_key_file = $ETC/certs/key.pem
EOF

"$TERND" -c "$WORK/talk/etc" check >"$WORK/check.out" 2>&1
check "ternd check accepts the talk's main.cf" test $? = 0
check "ternd check names no unknown parameter" bash -c "! grep -q 'unknown parameter' '$WORK/check.out'"
start_ternd talk || die "ternd did not start with the talk's main.cf"
PORT=$(ternd_port talk)

cat >"$WORK/send.py" <<'EOF'
# send.py PORT CAFILE [CERT KEY] - STARTTLS (the server enforces it), relay to outside.test
import smtplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
if len(sys.argv) > 4:
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    s.ehlo("talk-client.test")
    code, _ = s.mail("before-tls@inside.test")
    print("plain-mail", code)
    s.rset()
    s.starttls(context=ctx)
    s.ehlo("talk-client.test")
    s.mail("alice@inside.test")
    code, resp = s.rcpt("bob@outside.test")
    print("rcpt", code, resp.decode())
    if code == 250:
        code, _ = s.data(b"Subject: talk config\r\nX-Talk-Test: 1\r\n\r\nhello from 2005\r\n")
        print("data", code)
EOF

out=$("$PY" "$WORK/send.py" "$PORT" "$PKI/ca.pem" "$PKI/client.pem" "$PKI/client.key" 2>&1)
check "smtpd_enforce_tls: MAIL before STARTTLS gets 530" grep -q "plain-mail 530" <<<"$out"
check "md5 fingerprint in relay_clientcerts relays (250)" grep -q "rcpt 250" <<<"$out"
check "message accepted" grep -q "data 250" <<<"$out"
out=$("$PY" "$WORK/send.py" "$PORT" "$PKI/ca.pem" 2>&1)
check "no client certificate: 554 5.7.1" grep -q "rcpt 554 5.7.1" <<<"$out"
out=$("$PY" "$WORK/send.py" "$PORT" "$PKI/ca.pem" "$PKI/rogue.pem" "$PKI/rogue.key" 2>&1)
check "check_ccert_access REJECT: 554" grep -q "rcpt 554" <<<"$out"

wait_until 30 sink_match_has hub "X-Talk-Test: 1" 1
check "the relayed message reached the sink" sink_match_has hub "X-Talk-Test: 1" 1
check "it carries the TLS Received annotation" sink_match_has hub "using TLSv1" 1
check "and the client certificate line" sink_match_has hub 'Client CN "client.tern-it.test"' 1
it_done
