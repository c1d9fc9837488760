#!/usr/bin/env bash
# NAME
#	test_forbidden_commands.sh - non-SMTP commands end the session as Postfix's
#	smtpd ends it: smtpd_forbidden_commands, and message headers sent as commands
# DESCRIPTION
#	tern and Postfix's smtpd (its defaults) side by side; the same dialogues
#	(restrict_it.py) must hold on both:
#	  - "GET / HTTP/1.0", "CONNECT host:443 HTTP/1.1" and "POST /" (the
#	    default smtpd_forbidden_commands) and "123 hello" (no letter first:
#	    Postfix's default regexp:{{/^[^A-Z]/ Bogus}}) get "221 2.7.0 Error: I
#	    can break rules, too. Goodbye." and the connection closes;
#	  - a message header sent as a command after EHLO ("Subject: hello",
#	    "From:<a@snd.test>", "X-Mailer: x") gets the same 221 and the close:
#	    a client that lost track of DATA, or a web form abusing port 25;
#	  - an unknown command that is no header ("FOO bar", "Subject hello")
#	    gets 500 5.5.2, STARTTLS without TLS 502 5.5.1 (the code as Postfix's,
#	    the text tern's: "STARTTLS not offered"), AUTH without SASL 503 5.5.1,
#	    and the session goes on (QUIT answers 221 2.0.0).
#	tern logs "warning: non-SMTP command from CLIENT: LINE", as Postfix does.
#	(A table in smtpd_forbidden_commands stops start-up: test_startup_errors.)
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init forbidden
need_postfix

read -r P_PF < <(pick_ports 1)
write_main_cf t </dev/null
start_ternd t || die "ternd t did not start"
write_postfix_cf pf "$P_PF" </dev/null
start_postfix pf || die "Postfix pf did not start"

# dialogue NAME - the script on stdin, run against tern and Postfix; ok when both hold it
dialogue() {
    local peer port bad=0
    cat >"$WORK/$1.script"
    for peer in tern postfix; do
        port=$(ternd_port t)
        [[ $peer == postfix ]] && port=$P_PF
        "$PY" "$IT_DIR/restrict_it.py" 127.0.0.1 "$port" "$WORK/$1.script" >"$WORK/$1.$peer" 2>&1 ||
            { grep '^step' "$WORK/$1.$peer" | sed "s/^/$peer: /" >&2; bad=1; }
    done
    return $bad
}

for cmd in 'GET / HTTP/1.0' 'CONNECT mx.example:443 HTTP/1.1' 'POST /' '123 hello'; do
    check "\"$cmd\" before EHLO: 221 2.7.0 and the close, on both" dialogue "web-${cmd%% *}" <<EOF
S: 220
C: $cmd
S: 221 2.7.0 Error: I can break rules, too. Goodbye.
S: (connection closed)
EOF
done

for cmd in 'Subject: hello' 'From:<a@snd.test>' 'X-Mailer: x'; do
    check "header \"$cmd\" as a command: 221 2.7.0 and the close, on both" \
        dialogue "header-${cmd%%:*}" <<EOF
S: 220
C: EHLO client.test
S: 250
C: $cmd
S: 221 2.7.0 Error: I can break rules, too. Goodbye.
S: (connection closed)
EOF
done

check "unknown commands 500 5.5.2, STARTTLS 502 5.5.1, AUTH 503 5.5.1; the session goes on, on both" \
    dialogue unknown <<'EOF'
S: 220
C: EHLO client.test
S: 250
C: FOO bar
S: 500 5.5.2 Error: command not recognized
C: Subject hello
S: 500 5.5.2 Error: command not recognized
C: STARTTLS
S: 502 5.5.1 Error:
C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
S: 503 5.5.1 Error: authentication not enabled
C: QUIT
S: 221 2.0.0
EOF

check "tern logs the header command as Postfix does" \
    maillog_has t 'warning: non-SMTP command from [^ ]+\[127\.0\.0\.1\]: Subject: hello'
check "... and Postfix too (the same line)" \
    pf_maillog_has pf 'warning: non-SMTP command from [^ ]+\[127\.0\.0\.1\]: Subject: hello'

stop_ternd t
stop_postfix pf

it_done
