#!/usr/bin/env bash
# NAME
#	test_escape.sh - issue 9 part 3: a client cannot write into tern's logs or headers
# DESCRIPTION
#	A raw-socket client sends the inputs that reached the maillog and the
#	Received: header raw before: EHLO names with VT/FF ("vtff^K^LX-Injected:
#	yes"), ESC sequences and BEL ("logesc^[[31mRED^[[0m^G"), a HELO that
#	forges a hop ("evil) by trusted.example (Postfix) with ESMTP id FAKE;
#	..."), and an SMTPUTF8 MAIL FROM with a C1 control (U+0085) and U+202E
#	RIGHT-TO-LEFT OVERRIDE. Each session relays one message to smtp-sink and
#	has one recipient refused (so the HELO and the sender reach a reject
#	log line too).
#
#	Checks: the maillog holds no C0 control other than the line end, no DEL,
#	no C1 control and no bidi override, and shows '?' in their place (Postfix's
#	printable()); valid UTF-8 is still logged as sent; each Received: header
#	tern wrote has exactly one "by" clause, its HELO is a single token, and
#	no header line of the message was injected.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init escape

read -r P_HUB < <(pick_ports 1)
start_sink hub "127.0.0.1:$P_HUB" || die "smtp-sink hub"
# 127.0.0.1 is outside mynetworks: mail to relay.test is accepted (relay_domains),
# to elsewhere.test refused with a log line that names the HELO and the sender.
write_main_cf t <<EOF
relayhost = [127.0.0.1]:$P_HUB
mynetworks = 192.0.2.0/24
relay_domains = relay.test
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
EOF
start_ternd t || die "ternd did not start"
PORT=$(ternd_port t)

# session ID EHLO-ARG SENDER [SMTPUTF8] - one message and one refused RCPT, raw bytes
session() {
    "$PY" - "$PORT" "$@" <<'PYEOF'
import socket, sys
port, tid, helo, sender = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
utf8 = len(sys.argv) > 5
enc = lambda s: s.encode("utf-8", "surrogateescape")
s = socket.create_connection(("127.0.0.1", port), timeout=20)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        line = f.readline()
        if not line:
            sys.exit("connection closed; got %r" % lines)
        lines.append(line)
        if line[3:4] != b"-":
            return line[:3].decode()
def cmd(b, want):
    s.sendall(b + b"\r\n")
    got = reply()
    if got != want:
        sys.exit("%r: want %s, got %s" % (b, want, got))
reply()
cmd(b"EHLO " + enc(helo), "250")
cmd(b"MAIL FROM:<" + enc(sender) + b">" + (b" SMTPUTF8" if utf8 else b""), "250")
cmd(b"RCPT TO:<refused@elsewhere.test>", "554")
if not utf8:
    cmd(b"RCPT TO:<bob@relay.test>", "250")
    cmd(b"DATA", "354")
    cmd(b"X-Test-Id: " + tid.encode() + b"\r\nSubject: escape\r\n\r\nbody\r\n.", "250")
cmd(b"QUIT", "221")
PYEOF
}

H_VTFF=$'vtff\v\fX-Injected: yes'
H_ESC=$'logesc\e[31mRED\e[0m\a'
H_FORGE='evil) by trusted.example (Postfix) with ESMTP id FAKE; Thu, 1 Jan 2026 00:00:00 +0000'
# UTF-8 written as octets: $'\u...' depends on the locale, and CI may run in C
S_UTF8=$'ab\xc2\x85cd\xe2\x80\xaeef@snd.test'
S_VALID=$'j\xc3\xbcrgen@snd.test'

check "EHLO with VT/FF is relayed" session vtff "$H_VTFF" alice@snd.test
check "EHLO with ESC and BEL is relayed" session esc "$H_ESC" alice@snd.test
check "HELO that forges a hop is relayed" session forge "$H_FORGE" alice@snd.test
check "SMTPUTF8 sender with U+0085 and U+202E is accepted" session utf8 x.test "$S_UTF8" utf8
check "SMTPUTF8 sender in valid UTF-8 is accepted" session valid x.test "$S_VALID" utf8
check "three messages reached the sink" wait_until 30 sink_has hub 3
wait_until 10 maillog_has t 'reject: RCPT.*helo=<x\.test>' >/dev/null

LOG=$WORK/t/maillog
# bad_octets FILE - count of lines with C0 controls (but LF), DEL, C1 (UTF-8 C2 80..9F) or U+202E
bad_octets() {
    LC_ALL=C grep -cP '[\x00-\x08\x0a-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80\xae|\r' "$1" || true
}
check "maillog: no control, C1 or bidi character" test "$(bad_octets "$LOG")" -eq 0
check "maillog: VT/FF HELO logged with '?'" maillog_has t 'helo=<vtff\?\?X-Injected: yes>'
check "maillog: ESC/BEL HELO logged with '?'" maillog_has t 'helo=<logesc\?\[31mRED\?\[0m\?>'
check "maillog: C1 and U+202E in the sender logged as '?'" maillog_has t 'from=<ab\?cd\?ef@snd\.test>'
check "maillog: valid UTF-8 logged as sent" maillog_has t "from=<${S_VALID//./\\.}>"

# received_of ID - tern's Received: header (unfolded) in the dump of message ID
received_of() {
    local dump
    dump=$(sink_files_matching hub "^X-Test-Id: $1\$" | head -n 1)
    [[ -n $dump ]] || return 1
    "$PY" - "$dump" <<'PYEOF'
import sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
hdrs, cur = [], None
for line in lines:
    if line == b"":
        break
    if line[:1] in (b" ", b"\t") and cur is not None:
        hdrs[-1] += b" " + line.strip()
    else:
        hdrs.append(line)
        cur = line
ours = [h for h in hdrs if h.startswith(b"Received: from ") and b"(tern)" in h]
sys.stdout.buffer.write(ours[0] + b"\n" if ours else b"")
PYEOF
}
# header_names ID - the header field names of message ID, one a line
header_names() {
    local dump
    dump=$(sink_files_matching hub "^X-Test-Id: $1\$" | head -n 1)
    sed -n '/^$/q; /^[^ \t]/s/:.*//p' "$dump"
}

R_VTFF=$(received_of vtff)
R_FORGE=$(received_of forge)
R_ESC=$(received_of esc)
check "Received: VT/FF HELO is one token" grep -qF 'Received: from vtff??X-Injected:?yes (unknown [127.0.0.1])' <<<"$R_VTFF"
check "Received: ESC/BEL HELO has no control" grep -qF 'from logesc?[31mRED?[0m? (unknown' <<<"$R_ESC"
check "no X-Injected header field" test "$(header_names vtff | grep -c '^X-Injected')" -eq 0
check "Received: forged HELO is one token" \
    grep -qF 'from evil??by?trusted.example??Postfix??with?ESMTP?id?FAKE??Thu,?1?Jan?2026?00:00:00?+0000 (unknown' <<<"$R_FORGE"
check "Received: one 'by' clause, tern's" test "$(grep -o ' by [^ ]*' <<<"$R_FORGE")" = " by tern.t.test"
check "Received: no control character in any header" \
    test "$(sink_files_matching hub '^X-Test-Id: ' | xargs -r cat | bad_octets /dev/stdin)" -eq 0

it_done
