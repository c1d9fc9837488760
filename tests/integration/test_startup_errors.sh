#!/usr/bin/env bash
# NAME
#	test_startup_errors.sh - ternd on a bad configuration: the error, and nothing else
# DESCRIPTION
#	ternd (the daemon, not `check`), ternd -n and ternctl are started on
#	configurations that cannot work: a bad value, a table that does not
#	exist, an unknown restriction, a key file that is missing, a listen
#	port that is taken. Each must exit non-zero within the bound, with a
#	message naming the culprit, and leave no sanitizer report behind: under
#	an ASan+UBSan build (the CI's second pass) LeakSanitizer runs at exit,
#	and whatever start-up allocated before it failed must be freed or
#	still reachable.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init startup_errors

# clean_exit OUT - OUT has no report of AddressSanitizer, LeakSanitizer or UBSan
clean_exit() {
    ! grep -Eq 'Sanitizer|runtime error:' "$1"
}

# bad_start LABEL PATTERN [PROGRAM ARGS...] - write stdin as the config's tail, start, check
#	PROGRAM defaults to ternd -c DIR. PATTERN is an ERE the output must contain.
bad_start() {
    local label=$1 pattern=$2 rc out=$WORK/$1.out
    shift 2
    write_main_cf "$label" >/dev/null
    local -a cmd=("$TERND" -c "$WORK/$label/etc")
    (($#)) && cmd=("$@")
    timeout 20 "${cmd[@]/@DIR@/$WORK/$label/etc}" >"$out" 2>&1
    rc=$?
    check "$label: exits non-zero (rc $rc), not by the timeout" test "$rc" -ne 0 -a "$rc" -ne 124
    check "$label: names the problem" grep -Eq -- "$pattern" "$out" "$WORK/$label/maillog"
    check "$label: no sanitizer report" clean_exit "$out"
}

bad_start bad-value 'smtpd_timeout' <<EOF
smtpd_timeout = soon
EOF
bad_start bad-value-n 'smtpd_recipient_limit' "$TERND" -c @DIR@ -n <<EOF
smtpd_recipient_limit = many
EOF
bad_start bad-value-ctl 'message_size_limit' "$TERNCTL" -c @DIR@ queue <<EOF
message_size_limit = big
EOF
bad_start redis-missing 'smtpd_tls_session_cache_database = redis:/nonexistent/redis.cf: /nonexistent/redis.cf: No such file' <<EOF
smtpd_tls_session_cache_database = redis:/nonexistent/redis.cf
EOF
printf 'hosts = 127.0.0.1:6379\ntls = yes\n' >"$WORK/redis-tls.cf"
bad_start redis-tls "redis-tls.cf, line 2: tls: TLS to Redis is not available" <<EOF
smtp_tls_session_cache_database = redis:$WORK/redis-tls.cf
EOF
printf 'server = 127.0.0.1\n' >"$WORK/redis-unknown.cf"
bad_start redis-unknown "redis-unknown.cf, line 1: server: unknown parameter" "$TERND" -c @DIR@ check <<EOF
smtpd_tls_session_cache_database = redis:$WORK/redis-unknown.cf
EOF
printf '[mx.example]:25 fingerprint match=AA:BB enable_rpk=yes\n' >"$WORK/rpk-policy"
bad_start rpk 'enable_rpk=yes.*not supported' <<EOF
smtp_tls_policy_maps = texthash:$WORK/rpk-policy
EOF
bad_start forbidden-table 'smtpd_forbidden_commands: "regexp:\{\{/\^\[\^A-Z\]/" is a table' <<'EOF'
smtpd_forbidden_commands = CONNECT GET POST regexp:{{/^[^A-Z]/ Bogus}}
EOF
bad_start rate-limit 'bad value for default_destination_rate_limit' <<EOF
default_destination_rate_limit = fast
EOF
bad_start proxy-type 'smtpd_upstream_proxy_protocol: unsupported protocol type "nginx"' <<EOF
smtpd_upstream_proxy_protocol = nginx
EOF
bad_start missing-table 'texthash:/nonexistent/transport' <<EOF
transport_maps = texthash:/nonexistent/transport
EOF
bad_start bad-restriction 'no_such_restriction' <<EOF
smtpd_relay_restrictions = permit_mynetworks, no_such_restriction
EOF
bad_start unknown-sender-restriction 'smtpd_sender_restrictions: unknown restriction "reject_everything"' <<EOF
smtpd_sender_restrictions = reject_everything
EOF
bad_start unimplemented-restriction 'tern does not implement the restriction "reject_unknown_recipient_domain"' <<EOF
smtpd_recipient_restrictions = reject_non_fqdn_recipient, reject_unknown_recipient_domain
EOF
bad_start unknown-address-code 'unknown_address_reject_code: 250 is not a 4xx or 5xx reply code' <<EOF
smtpd_sender_restrictions = reject_unknown_sender_domain
unknown_address_reject_code = 250
EOF
bad_start unknown-tempfail-action 'unknown_address_tempfail_action: "defer_if_reject": tern implements defer_if_permit and defer' <<EOF
smtpd_sender_restrictions = reject_unknown_sender_domain
unknown_address_tempfail_action = defer_if_reject
EOF
bad_start reject-tempfail-action 'reject_tempfail_action: "warn": tern implements defer_if_permit and defer' <<EOF
reject_tempfail_action = warn
EOF
bad_start unimplemented-restriction-check 'reject_rbl_client' "$TERND" -c @DIR@ check <<EOF
smtpd_client_restrictions = reject_rbl_client zen.spamhaus.org
EOF
bad_start login-maps-missing 'smtpd_sender_login_maps' <<EOF
smtpd_sender_restrictions = reject_sender_login_mismatch
EOF
# a NUL byte in main.cf: an error naming file and line, not a value cut short
bad_start nul-byte 'main\.cf line 1[0-9]: NUL byte' < <(printf 'smtpd_banner = tern\000 ESMTP\n')
# parameters tern knows but does not implement: their name and why, never a silent no-op
bad_start alias-maps 'alias_maps: tern delivers nothing locally' <<EOF
alias_maps = hash:/etc/aliases
EOF
bad_start dh-param-file 'smtpd_tls_dh1024_param_file: tern does not implement it' "$TERND" -c @DIR@ check <<EOF
smtpd_tls_dh1024_param_file = /etc/ssl/dh2048.pem
EOF
bad_start virtual-alias 'virtual_alias_maps: tern does not implement address rewriting' <<EOF
virtual_alias_maps = hash:/etc/postfix/virtual
EOF
bad_start inet-both 'inet_interfaces: smtpd_listen is set too' <<EOF
inet_interfaces = 10.0.0.1
EOF
bad_start missing-key 'key' <<EOF
smtpd_tls_security_level = may
smtpd_tls_cert_file = /nonexistent/cert.pem
smtpd_tls_key_file = /nonexistent/key.pem
EOF
read -r P_BUSY < <(pick_ports 1)
spawn busy "$PY" -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(60)' "$P_BUSY"
wait_listen busy 127.0.0.1 "$P_BUSY" 10 || die "port holder"
bad_start port-taken "127.0.0.1:$P_BUSY.*Address already in use" <<EOF
smtpd_listen = 127.0.0.1:$P_BUSY
EOF
stop_proc busy
it_done
