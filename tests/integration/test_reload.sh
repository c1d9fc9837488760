#!/usr/bin/env bash
# NAME
#	test_reload.sh - issue 10 section 4: SIGHUP re-reads renewed TLS files
# DESCRIPTION
#	tern "t" serves STARTTLS and smtps with certificate A (CN a.tern-it.test).
#	  1. A is replaced by B at the same paths (certificate, key and CAfile
#	     rewritten in place: no parameter changes), kill -HUP: the reload is
#	     logged and openssl s_client sees B, on STARTTLS and on smtps.
#	  2. A SIGHUP with nothing changed keeps the contexts (no "changed" line).
#	  3. The certificate file is replaced by garbage, kill -HUP: an error
#	     naming the file is logged, tern keeps serving B (never without TLS).
#	  4. The good file back, kill -HUP: C (a third certificate) is served.
#	  5. A parameter used only at start-up changed (smtpd_listen): the
#	     reload warns that it needs a restart, naming it, and not the ones
#	     it does change (smtpd_banner, relayhost, now a closed port).
#	  6. The queue's retry times and lifetimes change with a reload, as in
#	     Postfix: a message deferred under the default maximal_queue_lifetime
#	     (5d) expires at its next retry once a reload set it to 3s.
#	  7. myhostname changes with the same reload, the bounces' too: the
#	     notification of that expiry comes from MAILER-DAEMON@ the new name.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init reload
command -v openssl >/dev/null || skip "openssl CLI not installed"

PKI=$WORK/pki
make_pki "$PKI" || die "cannot make the test PKI"
for n in a b c; do
    pki_leaf "$PKI" "$n" "$n.tern-it.test" ca "DNS:localhost,IP:127.0.0.1" || die "cannot make $n.pem"
done
mkdir -p "$WORK/tls"
# install NAME - copy NAME.pem/NAME.key over the files tern uses (in place: same inode)
install_cert() {
    cat "$PKI/$1.pem" >"$WORK/tls/cert.pem" && cat "$PKI/$1.key" >"$WORK/tls/key.pem"
}
install_cert a
chmod 600 "$WORK/tls/key.pem"

read -r P_SMTPS < <(pick_ports 1)
write_main_cf t <<EOF
mynetworks = 127.0.0.0/8
smtps_listen = 127.0.0.1:$P_SMTPS
smtpd_tls_security_level = may
smtpd_tls_cert_file = $WORK/tls/cert.pem
smtpd_tls_key_file = $WORK/tls/key.pem
smtpd_tls_CAfile = $PKI/ca.pem
smtpd_tls_loglevel = 1
EOF
start_ternd t || die "ternd t did not start"
PORT=$(ternd_port t)

# served_cn WHERE - the subject CN tern shows on STARTTLS or smtps
served_cn() {
    local target=(-starttls smtp -connect "127.0.0.1:$PORT")
    [[ $1 == smtps ]] && target=(-connect "127.0.0.1:$P_SMTPS")
    { sleep 0.5; printf 'QUIT\r\n'; } | timeout 10 openssl s_client -servername localhost \
        "${target[@]}" 2>/dev/null | openssl x509 -noout -subject 2>/dev/null |
        sed -n 's/.*CN *= *//p'
}
# serves CN WHERE - tern shows certificate CN on WHERE
serves() {
    local got
    got=$(served_cn "$2")
    [[ $got == "$1" ]] || { say "  $2 served CN '$got', expected '$1'"; return 1; }
}
# hup_and_wait N - SIGHUP t and wait for its Nth "reload --" line
hup_and_wait() {
    kill -HUP "${IT_PID[t]}"
    wait_until 10 bash -c "(( \$(grep -c 'reload -- version' '$WORK/t/maillog') >= $1 ))"
}

check "before: STARTTLS serves A" serves a.tern-it.test starttls
check "before: smtps serves A" serves a.tern-it.test smtps

# 1. renewed in place
install_cert b
check "SIGHUP after B replaced A in place: reloaded" hup_and_wait 1
check "after the reload: STARTTLS serves B" serves b.tern-it.test starttls
check "after the reload: smtps serves B" serves b.tern-it.test smtps
check "the reload names the changed file" maillog_has t "cert\.pem.*changed|changed.*cert\.pem"

# 2. nothing changed
n_changed=$(maillog_count t 'changed')
check "SIGHUP with nothing changed: reloaded" hup_and_wait 2
check "SIGHUP with nothing changed: no file reported changed" \
    test "$(maillog_count t 'changed')" -eq "$n_changed"
check "SIGHUP with nothing changed: still B" serves b.tern-it.test starttls

# 3. a broken file keeps the old context
echo "not a certificate" >"$WORK/tls/cert.pem"
check "SIGHUP with a broken certificate file: reload done" hup_and_wait 3
check "the broken certificate is logged as an error naming the file" \
    maillog_has t "error: .*cert\.pem"
check "with the broken file: STARTTLS still serves B" serves b.tern-it.test starttls
check "with the broken file: smtps still serves B" serves b.tern-it.test smtps

# 4. fixed again
install_cert c
check "SIGHUP after the fix: reloaded" hup_and_wait 4
check "after the fix: STARTTLS serves C" serves c.tern-it.test starttls
check "no reload so far said a restart is needed" eval '! maillog_has t "in effect after a restart"'

# 5. parameters used only at start-up: the reload says a restart is needed, naming them
read -r P_DEAD < <(pick_ports 1)
printf 'smtpd_listen = 127.0.0.1:%s\nsmtpd_banner = $myhostname hi\nrelayhost = [127.0.0.1]:%s\n' \
    "$(pick_ports 1)" "$P_DEAD" >>"$WORK/t/etc/main.cf"
check "SIGHUP with start-up parameters changed: reloaded" hup_and_wait 5
check "the reload says smtpd_listen needs a restart" \
    maillog_has t "warning: reload: smtpd_listen changed: used only at start-up"
check "... and not smtpd_banner or relayhost, which a reload does change" \
    eval '! maillog_has t "reload: .*(smtpd_banner|relayhost).*changed"'

# 6. the queue's retry times and lifetimes change with a reload (as in Postfix, whose qmgr
#    rereads them): a message deferred under the default 5d expires once the reload set 3s
check "a message to a next hop that is down: queued" swaks_send t late@far.test
check "... and deferred" wait_until 30 maillog_has t 'to=<late@far\.test>, .*status=deferred'
printf 'maximal_queue_lifetime = 3s\nmyhostname = renamed.tern-it.test\n' >>"$WORK/t/etc/main.cf"
check "SIGHUP with maximal_queue_lifetime = 3s and a new myhostname: reloaded" hup_and_wait 6
check "the reload does not call maximal_queue_lifetime a start-up parameter" \
    eval '! maillog_has t "reload: .*maximal_queue_lifetime.*changed"'
check "the message expires at its next retry (maximal_backoff_time 2s)" \
    wait_until 20 maillog_has t 'status=expired, returned to sender'

# 7. ... and the notification comes from the reloaded myhostname (it waits in the queue: the
#    relayhost is down)
check "the notification is queued" wait_until 10 maillog_has t 'sender non-delivery notification: '
BQID=$(sed -n 's/.*sender non-delivery notification: \([A-Za-z0-9]*\).*/\1/p' "$WORK/t/maillog" | tail -1)
ternctl t show "$BQID" >"$WORK/bounce-show" 2>&1
check "the notification is from MAILER-DAEMON@renamed.tern-it.test, the reloaded myhostname" \
    grep -q '^From: MAILER-DAEMON@renamed\.tern-it\.test' "$WORK/bounce-show"
check "ternd exits on SIGTERM within 10 s" stop_ternd t

it_done
