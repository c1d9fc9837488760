#!/usr/bin/env bash
# NAME
#	test_sasl_slow.sh - issue 9 part 4: SASL steps run off the rings
# DESCRIPTION
#	Cyrus SASL with pwcheck_method: saslauthd, pointed at a fake saslauthd
#	(tern_sasl_it.py, a unix socket speaking saslauthd's length-prefixed
#	protocol) that answers an AUTH only after 3 s. ternd runs with
#	worker_threads = 1, relays through a fake smarthost that requires AUTH
#	(tern's client side, smtp_sasl_password_maps), mynetworks covers the
#	test clients. tern_sasl_it.py slow checks, by the order of events, not
#	by their times:
#	  - while one AUTH PLAIN waits for saslauthd, 100 other sessions each
#	    send a message and get their 250, and tern authenticates to the
#	    smarthost and delivers there; then the slow AUTH gets 235;
#	  - two AUTHs are in saslauthd's hands at the same time (235 for the
#	    right password, 535 5.7.8 when saslauthd says NO);
#	  - a client that leaves mid-AUTH harms nothing;
#	  - AUTHs beyond the thread pool's queue get 454 4.7.0 at once;
#	  - SIGTERM while an AUTH waits: 235, then 421 4.3.2, and ternd exits.
#	A second ternd with smtpd_timeout = 2s and a saslauthd that holds the
#	request: 421 4.4.2 after AUTH, other sessions served meanwhile.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init sasl_slow
[[ -n $(find /usr/lib -name 'libplain.so*' 2>/dev/null | head -1) ]] ||
    skip "Cyrus PLAIN plugin not installed (libsasl2-modules)"

read -r P_HUB < <(pick_ports 1)
mkdir -p "$WORK/sasl" "$WORK/saslauthd"
printf '%s\n' "pwcheck_method: saslauthd" "saslauthd_path: $WORK/saslauthd/mux" \
    "mech_list: PLAIN LOGIN" >"$WORK/sasl/smtpd.conf"
printf '%s\n' "[127.0.0.1]:$P_HUB relayuser:relay pass" >"$WORK/sasl_passwd"
chmod 600 "$WORK/sasl_passwd"
write_main_cf slow <<EOF
worker_threads = 1
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$P_HUB
smtpd_sasl_auth_enable = yes
cyrus_sasl_config_path = $WORK/sasl
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:$WORK/sasl_passwd
smtp_sasl_security_options = noanonymous
EOF
start_ternd slow || die "ternd did not start"
TERN_IT_PY=$IT_DIR/tern_sasl_it.py py_checks slow 127.0.0.1 "$(ternd_port slow)" \
    "$WORK/saslauthd/mux" "$P_HUB" alice 'wonder land' relayuser 'relay pass' "${IT_PID[slow]}"
check "tern logs the client that left during AUTH" \
    maillog_has slow 'lost connection after AUTH from unknown\[127\.0\.0\.1\]'
check "tern logs the refused password" maillog_has slow 'SASL PLAIN authentication failed'
check "tern logs the temporary failures of the full pool" \
    maillog_has slow 'SASL PLAIN authentication aborted: too many authentications in progress'
# the last part sent SIGTERM with an AUTH waiting
check "ternd drains and exits after the SIGTERM" wait_until 40 bash -c "! kill -0 ${IT_PID[slow]} 2>/dev/null"
check "ternd logged its stop" maillog_has slow 'tern/master\[[0-9]+\]: stopped'
stop_ternd slow

# a saslauthd that does not answer: smtpd_timeout bounds the wait
write_main_cf hung <<EOF
worker_threads = 1
smtpd_timeout = 2s
smtpd_sasl_auth_enable = yes
cyrus_sasl_config_path = $WORK/sasl
EOF
start_ternd hung || die "ternd hung did not start"
TERN_IT_PY=$IT_DIR/tern_sasl_it.py py_checks hung 127.0.0.1 "$(ternd_port hung)" \
    "$WORK/saslauthd/mux" alice 'wonder land'
check "hung: tern logs the timeout after AUTH" \
    maillog_has hung 'timeout after AUTH from unknown\[127\.0\.0\.1\]'
check "hung: ternd stops cleanly" stop_ternd hung
it_done
