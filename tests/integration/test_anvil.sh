#!/usr/bin/env bash
# NAME
#	test_anvil.sh - issue 9 part 2: per-client connection and rate limits, the total
#	connection cap, running out of descriptors
# DESCRIPTION
#	Every instance has mynetworks = 127.0.0.9/32, so the test client on
#	127.0.0.1 is outside it, and 2 workers, so a client's connections land
#	on both (SO_REUSEPORT): the counts must be shared.
#	  count: smtpd_client_connection_count_limit = 5: five connections are
#	    greeted, the sixth gets "421 4.7.0 host Error: too many connections
#	    from 127.0.0.1" and is closed, the five still work, after one closes a
#	    new one is greeted; Postfix's warning is logged. With the default (50)
#	    60 held connections: 50 greeted, 10 refused.
#	  smtps: with a limit of 1 the second smtps client gets its 421 inside
#	    TLS, after the handshake, as Postfix; the warning says "service smtps".
#	  reload: the limit raised from 2 to 4 by SIGHUP lets a third and fourth
#	    connection in beside the two held across the reload.
#	  rate: smtpd_client_connection_rate_limit = 3, anvil_rate_time_unit = 3s:
#	    the fourth connection gets 421 4.7.0, one after the time unit is greeted.
#	  message/recipient/auth rates: 450 4.7.1 "too much mail from",
#	    "too many recipients from", "too many AUTH commands from" 127.0.0.1 and
#	    Postfix's warnings; the message rate is per client across sessions.
#	  exceptions: 127.0.0.1 in smtpd_client_event_limit_exceptions, or in
#	    mynetworks (the default exceptions): no limit applies.
#	  total: smtpd_total_connection_limit = 4: the fifth connection gets
#	    "421 4.3.2 host Error: too many connections", a freed slot is reused.
#	  descriptors: ternd under prlimit --nofile=128:128 (it cannot raise it)
#	    with smtpd_total_connection_limit above what 128 descriptors allow and
#	    200 held connections: accepts fail with EMFILE; in 5 s the maillog grows
#	    by fewer than 50 lines and ternd uses less than 1.5 s of CPU; a ternctl
#	    started meanwhile is answered once the clients leave, a new client is
#	    greeted. With the derived default cap the same 200 connections get a
#	    220 or a 421, none an accept failure. Started with a soft limit below
#	    its hard limit, ternd raises it and logs so.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init anvil
command -v prlimit >/dev/null || skip "prlimit not installed (util-linux)"
ANVIL_PY=$IT_DIR/anvil_it.py

# anvil_checks CMD ARGS... - py_checks with anvil_it.py
anvil_checks() { TERN_IT_PY=$ANVIL_PY py_checks "$@"; }

BASE="mynetworks = 127.0.0.9/32
relay_domains = far.test
relayhost = [127.0.0.1]:9"

# instance NAME LINES - write main.cf (BASE + LINES) and start ternd NAME
instance() {
    write_main_cf "$1" <<EOF
$BASE
$2
EOF
    start_ternd "$1" || die "ternd $1 did not start"
    sleep 0.5 # start_ternd's probe is a connection of 127.0.0.1 too: let ternd count it out
}

# ---------------------------------------------------------------- count
instance count "smtpd_client_connection_count_limit = 5"
anvil_checks at-limit 127.0.0.1 "$(ternd_port count)" 5 \
    '^421 4\.7\.0 tern\.count\.test Error: too many connections from 127\.0\.0\.1$' count
check "count: Postfix's warning is logged" maillog_has count \
    'warning: Connection concurrency limit exceeded: 6 from unknown\[127\.0\.0\.1\] for service smtp'
stop_ternd count

instance dflt ""
anvil_checks flood 127.0.0.1 "$(ternd_port dflt)" 60 50 '^421 4\.7\.0 .* too many connections from 127\.0\.0\.1$'
stop_ternd dflt

# smtps: the 421 comes inside TLS, after the handshake, as Postfix's
make_pki "$WORK/pki" || die "cannot make the test PKI"
read -r P_SMTPS < <(pick_ports 1)
instance smtps "smtpd_client_connection_count_limit = 1
smtps_listen = 127.0.0.1:$P_SMTPS
smtpd_tls_cert_file = $WORK/pki/server.pem
smtpd_tls_key_file = $WORK/pki/server.key"
wait_listen smtps 127.0.0.1 "$P_SMTPS" || die "smtps_listen"
anvil_checks smtps-limit 127.0.0.1 "$P_SMTPS" "$WORK/pki/ca.pem"
check "smtps: Postfix's warning names the service" maillog_has smtps \
    'warning: Connection concurrency limit exceeded: 2 from unknown\[127\.0\.0\.1\] for service smtps'
stop_ternd smtps

# ---------------------------------------------------------------- reload
instance reload "smtpd_client_connection_count_limit = 2"
P=$(ternd_port reload)
rm -f "$WORK/stop-reload"
spawn hold-reload "$PY" "$ANVIL_PY" hold 127.0.0.1 "$P" 2 "$WORK/stop-reload" 60
check "reload: two connections held" wait_until 10 grep -q '^held 2' "$WORK/hold-reload.out"
anvil_checks flood 127.0.0.1 "$P" 1 0 '^421 4\.7\.0 '
sed -i 's/^smtpd_client_connection_count_limit = 2$/smtpd_client_connection_count_limit = 4/' \
    "$WORK/reload/etc/main.cf"
kill -HUP "${IT_PID[reload]}"
check "reload: logged" wait_until 10 maillog_has reload 'reload -- version'
anvil_checks flood 127.0.0.1 "$P" 3 2 '^421 4\.7\.0 '
touch "$WORK/stop-reload"
stop_ternd reload

# ---------------------------------------------------------------- rates
instance rate "smtpd_client_connection_rate_limit = 3
anvil_rate_time_unit = 3s"
sleep 3.5 # start_ternd's probe was a connection too: let its time unit pass
anvil_checks conn-rate 127.0.0.1 "$(ternd_port rate)" 3 3
check "rate: Postfix's warning is logged" maillog_has rate \
    'warning: Connection rate limit exceeded: 4 from unknown\[127\.0\.0\.1\] for service smtp'
stop_ternd rate

instance msgs "smtpd_client_message_rate_limit = 3"
anvil_checks msg-rate 127.0.0.1 "$(ternd_port msgs)" 3
check "message rate: Postfix's warning is logged" maillog_has msgs \
    'warning: Message delivery request rate limit exceeded: 4 from unknown\[127\.0\.0\.1\] for service smtp'
stop_ternd msgs

instance rcpts "smtpd_client_recipient_rate_limit = 4"
anvil_checks rcpt-rate 127.0.0.1 "$(ternd_port rcpts)" 4 r@far.test
check "recipient rate: Postfix's warning is logged" maillog_has rcpts \
    'warning: Recipient address rate limit exceeded: 5 from unknown\[127\.0\.0\.1\] for service smtp'
stop_ternd rcpts

if command -v saslpasswd2 >/dev/null; then
    mkdir -p "$WORK/sasl"
    echo 'wonder land' | saslpasswd2 -p -c -f "$WORK/sasl/sasldb2" -u tern.auth.test alice ||
        die "saslpasswd2"
    cat >"$WORK/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $WORK/sasl/sasldb2
mech_list: PLAIN LOGIN
EOF
    instance auth "smtpd_client_auth_rate_limit = 2
smtpd_sasl_auth_enable = yes
cyrus_sasl_config_path = $WORK/sasl"
    anvil_checks auth-rate 127.0.0.1 "$(ternd_port auth)" 2 alice 'wonder land'
    check "auth rate: Postfix's warning is logged" maillog_has auth \
        'warning: AUTH command rate limit exceeded: 3 from unknown\[127\.0\.0\.1\] for service smtp'
    stop_ternd auth
else
    fail "auth rate: saslpasswd2 not installed (sasl2-bin)"
fi

# ---------------------------------------------------------------- exceptions
LIMITS="smtpd_client_connection_count_limit = 2
smtpd_client_connection_rate_limit = 2
smtpd_client_message_rate_limit = 1
smtpd_client_recipient_rate_limit = 1"
instance exc1 "$LIMITS
smtpd_client_event_limit_exceptions = 10.0.0.0/8, 127.0.0.1"
anvil_checks exempt 127.0.0.1 "$(ternd_port exc1)" 6 r@far.test
stop_ternd exc1
instance exc2 "$LIMITS
mynetworks = 127.0.0.0/8"
anvil_checks exempt 127.0.0.1 "$(ternd_port exc2)" 6 r@far.test
stop_ternd exc2
write_main_cf exc3 <<EOF
$BASE
smtpd_client_event_limit_exceptions = 127.0.0.1, mail.example.com
EOF
check "exceptions: a hostname is refused at start-up, naming the parameter" bash -c \
    "! '$TERND' -c '$WORK/exc3/etc' check 2>&1 | tee '$WORK/exc3.out' >/dev/null;
     grep -q 'smtpd_client_event_limit_exceptions.*mail.example.com' '$WORK/exc3.out'"

# ---------------------------------------------------------------- total cap
instance total "smtpd_total_connection_limit = 4"
anvil_checks at-limit 127.0.0.1 "$(ternd_port total)" 4 \
    '^421 4\.3\.2 tern\.total\.test Error: too many connections$' total
check "total: the refusal is logged" maillog_has total \
    'warning: .*too many connections in total.*smtpd_total_connection_limit = 4'
stop_ternd total

# ---------------------------------------------------------------- descriptors
# start_limited NAME PRLIMIT-ARGS... - start_ternd under prlimit
start_limited() {
    local name=$1 port
    shift
    port=$(ternd_port "$name")
    prlimit "$@" -- "$TERND" -c "$WORK/$name/etc" >>"$WORK/$name.out" 2>&1 &
    IT_PID[$name]=$!
    wait_listen "$name" 127.0.0.1 "$port" 20
}

# cpu_ticks PID - utime + stime of PID in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

write_main_cf fd <<EOF
$BASE
smtpd_client_connection_count_limit = 0
smtpd_total_connection_limit = 1000
EOF
start_limited fd --nofile=128:128 || die "ternd fd did not start under prlimit"
P=$(ternd_port fd)
PID=${IT_PID[fd]}
rm -f "$WORK/stop-fd"
spawn hold-fd "$PY" "$ANVIL_PY" hold 127.0.0.1 "$P" 200 "$WORK/stop-fd" 120
check "descriptors: 200 connections held" wait_until 30 grep -q '^held 200' "$WORK/hold-fd.out"
sleep 1
# a control request while no descriptor is free: answered once they are
spawn ctl-fd timeout 60 "$TERNCTL" -c "$WORK/fd/etc" stats
sleep 0.5
lines0=$(wc -l <"$WORK/fd/maillog")
cpu0=$(cpu_ticks "$PID")
sleep 5
lines1=$(wc -l <"$WORK/fd/maillog")
cpu1=$(cpu_ticks "$PID")
HZ=$(getconf CLK_TCK)
say "descriptors: in 5 s the maillog grew by $((lines1 - lines0)) lines, ternd used $(((cpu1 - cpu0) * 1000 / HZ)) ms of CPU"
check "descriptors: the maillog grows by fewer than 50 lines in 5 s ($((lines1 - lines0)))" \
    test $((lines1 - lines0)) -lt 50
check "descriptors: ternd uses less than 1.5 s of CPU in 5 s ($(((cpu1 - cpu0) * 1000 / HZ)) ms)" \
    test $(((cpu1 - cpu0) * 1000 / HZ)) -lt 1500
check "descriptors: the failed accepts are logged" maillog_has fd 'accept.*Too many open files'
touch "$WORK/stop-fd"
check "descriptors: the holder let go" wait_until 20 grep -q '^closed' "$WORK/hold-fd.out"
anvil_checks greet 127.0.0.1 "$P"
ctl_done() { ! alive ctl-fd && grep -q '^inbound_connections' "$WORK/ctl-fd.out"; }
check "descriptors: the ternctl request made meanwhile is answered" wait_until 30 ctl_done
check "descriptors: ternctl works" bash -c \
    "timeout 20 '$TERNCTL' -c '$WORK/fd/etc' stats | grep -q inbound_connections"
check "descriptors: ternd is still running" alive fd
stop_ternd fd

# the derived cap: every one of 200 connections gets an answer, 220 or 421
write_main_cf fd2 <<EOF
$BASE
smtpd_client_connection_count_limit = 0
EOF
start_limited fd2 --nofile=128:128 || die "ternd fd2 did not start under prlimit"
check "descriptors: the limit that could not be raised is logged" \
    maillog_has fd2 'descriptor limit 128, already the hard limit'
CAP=$(sed -n 's/.*smtpd_total_connection_limit = \([0-9]*\) (derived.*/\1/p' "$WORK/fd2/maillog" | head -1)
check "descriptors: the derived cap is logged (${CAP:-none})" test -n "$CAP"
anvil_checks flood 127.0.0.1 "$(ternd_port fd2)" 200 "${CAP:-0}" '^421 4\.3\.2 .* too many connections$'
check "descriptors: no accept failed" bash -c "! grep -q 'accept.*Too many open files' '$WORK/fd2/maillog'"
stop_ternd fd2

write_main_cf fd3 <<EOF
$BASE
EOF
start_limited fd3 --nofile=256:4096 || die "ternd fd3 did not start under prlimit"
check "descriptors: a soft limit below the hard limit is raised and logged" \
    maillog_has fd3 'descriptor limit raised from 256 to 4096'
stop_ternd fd3

it_done
