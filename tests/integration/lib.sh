# NAME
#	lib.sh - shared helpers for tern's integration tests
# SYNOPSIS
#	. "$(dirname "$0")/lib.sh"
#	it_init relay                      # temp workdir, traps, tool checks
#	read -r P1 P2 < <(pick_ports 2)
#	start_sink a 127.0.0.1:$P1         # Postfix smtp-sink, dumps to $WORK/sink-a/
#	write_main_cf t <<EOF              # $WORK/t/etc/main.cf: base params + these
#	relayhost = [127.0.0.1]:$P1
#	EOF
#	start_ternd t                      # background, waits until it listens
#	check "mail arrives" wait_until 30 sink_has a 1
#	it_done                            # "N passed, N failed", exit 0/1
# DESCRIPTION
#	Every test script sources this file. It makes one temporary directory
#	($WORK), runs every peer (ternd, smtp-sink, dnsmasq) as a background
#	process whose pid it records, and on exit kills each of them (TERM, then
#	KILL) and removes $WORK (kept when TERN_KEEP=1 or a check failed and
#	TERN_KEEP_ON_FAIL=1). All waits are bounded.
#
#	The binaries come from $TERN_BUILD (set by ctest; default ./build).
#	Exit codes follow automake/ctest: 0 pass, 1 fail, 77 skip.
# DIAGNOSTICS
#	A failing check prints "FAIL: description" and, at the end, the tail of
#	each ternd's maillog and stderr.

set -u -o pipefail

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TERN_SOURCE=${TERN_SOURCE:-$(cd "$IT_DIR/../.." && pwd)}
TERN_BUILD=${TERN_BUILD:-$TERN_SOURCE/build}
TERND=$TERN_BUILD/core/ternd
TERNCTL=$TERN_BUILD/core/ternctl
SMTP_SINK=${SMTP_SINK:-/usr/sbin/smtp-sink}
PY=${PYTHON:-python3}
TERN_IT_PY=$IT_DIR/tern_it.py

IT_NAME=
WORK=
IT_PASSED=0
IT_FAILED=0
declare -A IT_PID=()     # name -> pid of every background process we started

# IT_SLOW - 3 when $TERN_BUILD is an ASan+UBSan build (its programs run several times slower),
#	else 1: a test that must fit work into a fixed time (not assert a speed) scales by it
IT_SLOW=1
grep -qE '^TERN_(SANITIZE|FUZZ):BOOL=ON' "$TERN_BUILD/CMakeCache.txt" 2>/dev/null && IT_SLOW=3

# say - a progress line on stderr
say() { printf '%s: %s\n' "${IT_NAME:-it}" "$*" >&2; }

# skip - the whole script cannot run here: exit 77
skip() {
    say "SKIP: $*"
    exit 77
}

# pass / fail - count one check
pass() { IT_PASSED=$((IT_PASSED + 1)); say "ok: $*"; }
fail() { IT_FAILED=$((IT_FAILED + 1)); say "FAIL: $*"; }

# check - run a command as one check: "check DESCRIPTION cmd args..."
check() {
    local desc=$1
    shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# die - a broken precondition: stop the script now as a failure
die() {
    IT_FAILED=$((IT_FAILED + 1))
    say "FATAL: $*"
    exit 1
}

# it_init - temp workdir, traps, prerequisites
it_init() {
    IT_NAME=$1
    [[ -x $TERND ]] || die "no ternd at $TERND (build first, or set TERN_BUILD)"
    [[ -x $SMTP_SINK ]] || skip "smtp-sink not installed (apt-get install postfix)"
    command -v "$PY" >/dev/null || skip "python3 not installed"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern-it-$IT_NAME.XXXXXX") || die "mktemp"
    chmod 755 "$WORK"
    trap it_cleanup EXIT
    trap 'say "interrupted"; exit 1' INT TERM HUP
    say "workdir $WORK"
}

# it_cleanup - kill everything we started, print diagnostics, remove $WORK
it_cleanup() {
    local rc=$?
    local name pid i
    for name in "${!IT_PID[@]}"; do
        pid=${IT_PID[$name]}
        kill -TERM "$pid" 2>/dev/null
    done
    for name in "${!IT_PID[@]}"; do
        pid=${IT_PID[$name]}
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        { wait "$pid"; } 2>/dev/null
    done
    IT_PID=()
    release_ports
    # Under an ASan+UBSan build (tests/run.sh's second pass) a report in any process's output
    # fails the test, also one written at exit (LeakSanitizer runs when ternd has stopped).
    if [[ -n $WORK && -d $WORK ]] && ((rc != 77)) && sanitizer_reports; then
        IT_FAILED=$((IT_FAILED + 1))
        rc=1
    fi
    if ((IT_FAILED > 0 || rc != 0 && rc != 77)); then
        show_diagnostics
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${TERN_KEEP:-0} == 1 ]] || { ((IT_FAILED > 0)) && [[ ${TERN_KEEP_ON_FAIL:-0} == 1 ]]; }; then
            say "keeping $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}

# sanitizer_reports - true (and says where) when a process's output holds a sanitizer report
sanitizer_reports() {
    local f found=1
    for f in "$WORK"/*.out "$WORK"/*/*.out; do
        [[ -f $f ]] || continue
        if grep -aqE '^==[0-9]+==ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|^SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer|: runtime error: ' "$f"; then
            say "FAIL: sanitizer report in $f:"
            grep -aE -A12 '==ERROR: |runtime error: ' "$f" | head -n 40 >&2
            found=0
        fi
    done
    return $found
}

# show_diagnostics - tail of every ternd's maillog and stderr
show_diagnostics() {
    local f
    for f in "$WORK"/*/maillog "$WORK"/*.out; do
        [[ -s $f ]] || continue
        echo "----- tail of $f" >&2
        tail -n 25 "$f" >&2
    done
}

# it_done - summary line; exit 0 when every check passed, else 1
it_done() {
    say "$IT_PASSED passed, $IT_FAILED failed"
    ((IT_FAILED == 0)) && exit 0
    exit 1
}

# pick_ports - print N distinct free ports on 127.0.0.1 (TCP and UDP), one line, space-separated
#	ctest runs two tests at once, and a port is free only until its user binds it, so:
#	- the ports come from below the kernel's ephemeral range (ip_local_port_range), from a
#	  random start: no outgoing connection or bind to port 0, this test's or the other's, is
#	  given one meanwhile (a port from a bind to port 0 could be);
#	- each is reserved for this test until it exits (it_cleanup): a file named after the port
#	  in $IT_PORT_DIR holds the test's pid, written under a lock, so the other test skips it;
#	  the reservation of a test that died (killed by ctest's timeout) is taken over;
#	- it must be free for UDP too: dnsmasq and the fake DNS servers listen on both.
IT_PORT_DIR=${TMPDIR:-/tmp}/tern-it-ports
pick_ports() {
    "$PY" - "$1" "$$" "$IT_PORT_DIR" <<'EOF'
import fcntl, os, random, socket, sys
n, owner, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(d, exist_ok=True)
try:
    os.chmod(d, 0o1777)  # tests run as root and as users
except PermissionError:
    pass
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        eph = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    eph = 32768
lo, hi = (10000, eph - 1) if eph > 12000 else (1024, eph - 1)

def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True

def free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True

lock = os.open(os.path.join(d, ".lock"), os.O_RDONLY | os.O_CREAT, 0o666)
fcntl.flock(lock, fcntl.LOCK_EX)
got, start = [], random.randint(lo, hi)
for i in range(hi - lo + 1):
    port = lo + (start - lo + i) % (hi - lo + 1)
    path = os.path.join(d, str(port))
    try:
        with open(path) as f:
            holder = int(f.read() or 0)
    except FileNotFoundError:
        holder = 0
    except (OSError, ValueError):
        continue
    if holder and alive(holder) or not free(port):
        continue
    try:
        with open(path, "w") as f:
            f.write(str(owner))
    except OSError:
        continue
    got.append(port)
    if len(got) == n:
        break
else:
    sys.exit("pick_ports: fewer than %d free ports in %d-%d" % (n, lo, hi))
print(" ".join(map(str, got)))
EOF
}

# release_ports - drop this test's port reservations (pick_ports)
release_ports() {
    local f
    for f in "$IT_PORT_DIR"/[0-9]*; do
        [[ -f $f && $(<"$f") == "$$" ]] && rm -f "$f"
    done
    return 0
}

# spawn - start "cmd args..." in the background as NAME; output to $WORK/NAME.out
spawn() {
    local name=$1
    shift
    "$@" >"$WORK/$name.out" 2>&1 &
    IT_PID[$name]=$!
}

# alive - is the process NAME still running?
alive() {
    local pid=${IT_PID[$1]:-}
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# stop_proc - SIGTERM (or SIG) NAME and wait up to 10 s; then SIGKILL. Returns 1 if it needed KILL.
stop_proc() {
    local name=$1 sig=${2:-TERM} pid i rc=0
    pid=${IT_PID[$name]:-}
    [[ -n $pid ]] || return 0
    kill "-$sig" "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        rc=1
    fi
    { wait "$pid"; } 2>/dev/null
    unset "IT_PID[$name]"
    return $rc
}

# port_open - does HOST:PORT accept a TCP connection?
port_open() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_until - run "cmd args..." every 0.2 s until it succeeds or SECONDS pass
wait_until() {
    local secs=$1
    shift
    local deadline=$((SECONDS + secs))
    while :; do
        "$@" && return 0
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
}

# wait_listen - wait until NAME accepts on HOST:PORT (bounded), failing early if NAME died
wait_listen() {
    local name=$1 host=$2 port=$3 secs=${4:-15}
    local deadline=$((SECONDS + secs))
    while :; do
        port_open "$host" "$port" && return 0
        if ! alive "$name"; then
            say "$name exited before listening on $host:$port:"
            tail -n 20 "$WORK/$name.out" >&2
            return 1
        fi
        ((SECONDS >= deadline)) && { say "$name: $host:$port not listening after ${secs}s"; return 1; }
        sleep 0.1
    done
}

# write_main_cf - $WORK/NAME/etc/main.cf: the base test config plus stdin (later lines win)
#	Base: own queue and maillog under $WORK/NAME, a free smtpd port (in
#	$WORK/NAME/port, read it with ternd_port NAME), short backoff, 2 workers.
write_main_cf() {
    local name=$1 port owner
    port=${2:-$(pick_ports 1)}
    mkdir -p "$WORK/$name/etc" "$WORK/$name/queue"
    chmod 700 "$WORK/$name/queue"
    owner=$(id -un)
    echo "$port" >"$WORK/$name/port"
    {
        cat <<EOF
# written by tests/integration/lib.sh for test "$IT_NAME"
queue_directory = $WORK/$name/queue
maillog_file = $WORK/$name/maillog
myhostname = tern.$name.test
mail_owner = $owner
smtpd_listen = 127.0.0.1:$port
worker_threads = 2
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
smtpd_timeout = 30s
EOF
        cat
    } >"$WORK/$name/etc/main.cf"
}

# ternd_port - the smtpd port of instance NAME
ternd_port() { cat "$WORK/$1/port"; }

# start_ternd - run ternd -c $WORK/NAME/etc in the background; wait until it listens
start_ternd() {
    local name=$1 port
    port=$(ternd_port "$name")
    if port_open 127.0.0.1 "$port"; then
        say "port $port is taken before ternd $name started"
        return 1
    fi
    "$TERND" -c "$WORK/$name/etc" check >>"$WORK/$name.out" 2>&1 ||
        { say "ternd $name: config check failed:"; tail -n 5 "$WORK/$name.out" >&2; return 1; }
    "$TERND" -c "$WORK/$name/etc" >>"$WORK/$name.out" 2>&1 &
    IT_PID[$name]=$!
    wait_listen "$name" 127.0.0.1 "$port" 20
}

# stop_ternd - SIGTERM and wait for the drain (bounded); 1 if it had to be killed
stop_ternd() { stop_proc "$1" TERM; }

# kill9_ternd - SIGKILL, no drain
kill9_ternd() {
    local pid=${IT_PID[$1]:-}
    [[ -n $pid ]] || return 0
    kill -KILL "$pid" 2>/dev/null
    { wait "$pid"; } 2>/dev/null
    unset "IT_PID[$1]"
    return 0
}

# start_redis PORT - Debian's redis-server as process "redis" on 127.0.0.1:PORT, nothing on disk
start_redis() {
    spawn redis redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no
    wait_listen redis 127.0.0.1 "$1"
}

# bench_counter FILE NAME - the value of NAME in a tern-bench sink --count-file
bench_counter() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# start_haproxy PORT NODE... - Debian's haproxy as process "haproxy": TCP round-robin from
#	127.0.0.1:PORT over the smtpd ports of ternd NODEs, with send-proxy-v2 (backend "nodes");
#	lines on stdin are appended to that backend (and may open more sections)
start_haproxy() {
    local port=$1 n
    shift
    {
        printf 'defaults\n    mode tcp\n    timeout connect 5s\n'
        printf '    timeout client 30s\n    timeout server 30s\n'
        printf 'frontend f\n    bind 127.0.0.1:%s\n    default_backend nodes\n' "$port"
        printf 'backend nodes\n    balance roundrobin\n'
        for n in "$@"; do
            printf '    server %s 127.0.0.1:%s send-proxy-v2\n' "$n" "$(ternd_port "$n")"
        done
        cat
    } >"$WORK/haproxy.cfg"
    haproxy -c -f "$WORK/haproxy.cfg" >"$WORK/haproxy-check.out" 2>&1 ||
        { say "haproxy config: $(tail -n 3 "$WORK/haproxy-check.out")"; return 1; }
    spawn haproxy haproxy -db -f "$WORK/haproxy.cfg"
    wait_listen haproxy 127.0.0.1 "$port"
}

# ternctl - ternctl -c for instance NAME
ternctl() {
    local name=$1
    shift
    "$TERNCTL" -c "$WORK/$name/etc" "$@"
}

# maillog_has - does NAME's maillog contain a line matching the ERE?
maillog_has() { grep -Eq -- "$2" "$WORK/$1/maillog" 2>/dev/null; }

# maillog_count - number of lines of NAME's maillog matching the ERE
maillog_count() { grep -Ec -- "$2" "$WORK/$1/maillog" 2>/dev/null || true; }

# maillog_sent - has ternd NAME logged status=sent for recipient RCPT?
maillog_sent() { maillog_has "$1" "to=<$2>, .*status=sent"; }

# swaks_send NAME RCPT [SWAKS-OPTION...] - submit one small message from alice@snd.test to RCPT
#	through ternd NAME (plaintext, from 127.0.0.1) with swaks, the transcript kept in
#	$WORK/swaks-RCPT.log; true on "250 ... queued as", else says why and fails
swaks_send() {
    local name=$1 rcpt=$2
    shift 2
    swaks --server "127.0.0.1:$(ternd_port "$name")" -f alice@snd.test -t "$rcpt" --timeout 20 "$@" \
        >"$WORK/swaks-$rcpt.log" 2>&1
    grep -q '^<-  250 .*queued as' "$WORK/swaks-$rcpt.log" ||
        { say "submission for $rcpt failed:"; tail -n 4 "$WORK/swaks-$rcpt.log" >&2; return 1; }
}

# start_sink - Postfix smtp-sink as NAME on ADDR:PORT, dumping each message to $WORK/sink-NAME/
#	Extra smtp-sink options follow (e.g. -f RCPT for 5xx, -r RCPT for 4xx).
#	The dump directory survives a restart of the sink under the same name.
start_sink() {
    local name=$1 hostport=$2
    shift 2
    local dir=$WORK/sink-$name host=${hostport%:*} port=${hostport##*:}
    local -a user=()
    mkdir -p "$dir"
    [[ $(id -u) == 0 ]] && user=(-u root)
    spawn "sink-$name" "$SMTP_SINK" "${user[@]}" -d "$dir/%Y%m%d%H%M%S." "$@" "$hostport" 256
    wait_listen "sink-$name" "$host" "$port" 30
}

# submit_msg - generate message ID ($WORK/ID.eml, KIB KiB of filler) and submit it with smtplib
#	to 127.0.0.1:PORT from FROM to RCPTS (comma-separated): submit_msg PORT ID FROM RCPTS [KIB]
#	True on a 250 to the end of data; otherwise says the reply and fails.
submit_msg() {
    local out
    "$PY" "$TERN_IT_PY" gen-message "$WORK/$2.eml" "$2" "${5:-0}"
    out=$("$PY" "$TERN_IT_PY" send 127.0.0.1 "$1" "$3" "$4" "$WORK/$2.eml" 2>&1)
    [[ $out == "250 "* ]] || { say "$2: $out"; return 1; }
}

# stop_sink - stop sink NAME (its dumps stay)
stop_sink() { stop_proc "sink-$1" TERM; }

# sink_dir - the dump directory of sink NAME
sink_dir() { echo "$WORK/sink-$1"; }

# sink_count - number of complete messages sink NAME has dumped
#	A dump is complete once smtp-sink closed it: the file ends with "\n\n".
sink_count() {
    "$PY" "$TERN_IT_PY" count "$WORK/sink-$1"
}

# sink_has - true when sink NAME holds at least N messages
sink_has() {
    local n
    n=$(sink_count "$1") || return 1
    ((n >= $2))
}

# sink_files_matching - dumps of sink NAME containing a line matching the ERE
sink_files_matching() {
    local dir=$WORK/sink-$1
    [[ -d $dir ]] || return 0
    grep -El -- "$2" "$dir"/* 2>/dev/null || true
}

# sink_match_count - number of dumps of sink NAME with a line matching the ERE
sink_match_count() { sink_files_matching "$1" "$2" | wc -l; }

# sink_match_has - true when at least N dumps of sink NAME match the ERE
sink_match_has() { (($(sink_match_count "$1" "$2") >= $3)); }

# need_root - skip unless root (binding port 25 on 127.0.0.x)
need_root() { [[ $(id -u) == 0 ]] || skip "needs root: $*"; }

# py_checks - run tern_it.py CMD ARGS...; count its "ok ..."/"FAIL ..." lines as checks
py_checks() { run_checks "$PY" "$TERN_IT_PY" "$@"; }

# run_checks - run COMMAND ARGS...; count its "ok ..."/"FAIL ..." lines as checks
#	Other output lines are shown as they are. A non-zero exit without any
#	FAIL line (a crash) counts as one failure.
run_checks() {
    local line nfail=0 rc
    while IFS= read -r line; do
        case $line in
        "ok "*) pass "${line#ok }" ;;
        "FAIL "*) fail "${line#FAIL }"; nfail=$((nfail + 1)) ;;
        __rc=*) rc=${line#__rc=} ;;
        *) say "  $line" ;;
        esac
    done < <("$@" 2>&1; echo "__rc=$?")
    if [[ ${rc:-1} != 0 ]] && ((nfail == 0)); then
        fail "$* exited with status ${rc:-?}"
    fi
    return 0
}

# ---------------------------------------------------------------- TLS helpers
# (added for the TLS tests: test_tls_*.sh)

# make_pki DIR - a test PKI made with the openssl CLI (P-256 keys, 1 day):
#	DIR/ca.pem ca.key         "tern-it CA"
#	DIR/server.pem server.key CN localhost, SAN DNS:localhost, IP:127.0.0.1
#	DIR/client.pem client.key CN client.tern-it.test (clientAuth)
#	DIR/other-ca.pem          a CA nobody trusts, and DIR/rogue.pem rogue.key:
#	                          a "localhost" server certificate it signed
#	Keys are mode 600 (ternd refuses keys readable by others).
make_pki() {
    local d=$1
    mkdir -p "$d" || return 1
    (
        cd "$d" || exit 1
        set -e
        ossl() { openssl "$@" >/dev/null 2>&1; }
        for n in ca other-ca server client rogue; do
            ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$n.key"
            chmod 600 "$n.key"
        done
        ossl req -x509 -new -key ca.key -days 2 -subj "/O=tern-it/CN=tern-it CA" -out ca.pem \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        ossl req -x509 -new -key other-ca.key -days 2 -subj "/O=elsewhere/CN=other CA" -out other-ca.pem \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >server.ext
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=clientAuth" "subjectAltName=DNS:client.tern-it.test" >client.ext
        ossl req -new -key server.key -subj "/O=tern-it/CN=localhost" -out server.csr
        ossl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
            -extfile server.ext -out server.pem
        ossl req -new -key client.key -subj "/O=tern-it/CN=client.tern-it.test" -out client.csr
        ossl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
            -extfile client.ext -out client.pem
        ossl req -new -key rogue.key -subj "/O=elsewhere/CN=localhost" -out rogue.csr
        ossl x509 -req -in rogue.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -days 1 \
            -extfile server.ext -out rogue.pem
        chmod 644 ./*.pem
    ) || { say "make_pki: openssl failed in $d"; return 1; }
}

# pki_leaf DIR NAME CN CA [SAN] - DIR/NAME.key (mode 600) and DIR/NAME.pem: a P-256 certificate
#	for CN (serverAuth and clientAuth, 1 day) signed by DIR/CA.pem (ca or other-ca, as made by
#	make_pki); SAN defaults to DNS:CN
pki_leaf() {
    local d=$1 name=$2 cn=$3 ca=$4 san=${5:-DNS:$3}
    (
        cd "$d" || exit 1
        set -e
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key" 2>/dev/null
        chmod 600 "$name.key"
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$san" >"$name.ext"
        openssl req -new -key "$name.key" -subj "/O=tern-it/CN=$cn" -out "$name.csr" 2>/dev/null
        openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -days 1 \
            -extfile "$name.ext" -out "$name.pem" 2>/dev/null
        chmod 644 "$name.pem"
    ) || { say "pki_leaf: openssl failed for $name"; return 1; }
}

# queue_show_all NAME - `ternctl show` of every message in instance NAME's queue, into
#	$WORK/NAME-show (for show_block)
queue_show_all() {
    local id
    : >"$WORK/$1-show"
    for id in $(ternctl "$1" queue | grep -Eo '^[0-9A-F]{10,}' | sort -u); do
        ternctl "$1" show "$id" >>"$WORK/$1-show" 2>&1
    done
}

# show_block NAME ERE - the blocks of queue_show_all NAME that contain ERE
show_block() {
    awk -v re="$2" '/^\*\*\* ENVELOPE RECORDS/{if(b~re)printf "%s",b; b=""} {b=b $0 "\n"} END{if(b~re)printf "%s",b}' "$WORK/$1-show"
}

# stat_value - counter NAME from `ternctl stats` of instance INST (empty when absent)
stat_value() {
    ternctl "$1" stats 2>/dev/null | awk -v k="$2" '$1 == k { print $2; exit }'
}

# stat_ge - true when counter NAME of INST is at least N
stat_ge() {
    local v
    v=$(stat_value "$1" "$2")
    [[ -n $v ]] && (($v >= $3))
}

# Debian's Postfix binaries (peers for the TLS tests)
POSTFIX_MASTER=${POSTFIX_MASTER:-/usr/lib/postfix/sbin/master}
POSTFIX_CMD=${POSTFIX_CMD:-/usr/sbin/postfix}

# need_postfix - skip unless a private Postfix instance can run here (root, master, postfix user)
need_postfix() {
    [[ $(id -u) == 0 ]] || skip "a private Postfix instance needs root"
    [[ -x $POSTFIX_MASTER && -x $POSTFIX_CMD ]] || skip "Postfix not installed (apt-get install postfix)"
    getent passwd postfix >/dev/null || skip "no postfix user"
}

# write_postfix_cf - a private Postfix instance NAME under $WORK/pf-NAME, smtpd on 127.0.0.1:PORT
#	stdin adds to (and overrides) main.cf. Base: no local delivery
#	(mydestination empty), relay for 127.0.0.0/8, maillog_file
#	$WORK/pf-NAME/maillog, no chroot, quick retries.
write_postfix_cf() {
    local name=$1 port=$2 d=$WORK/pf-$1
    mkdir -p "$d/etc" "$d/queue" "$d/data" || return 1
    chown postfix: "$d/data"
    echo "$port" >"$d/port"
    {
        cat <<EOF
# written by tests/integration/lib.sh for test "$IT_NAME"
compatibility_level = 3.6
config_directory = $d/etc
queue_directory = $d/queue
data_directory = $d/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = pf-$name
maillog_file = $d/maillog
maillog_file_prefixes = /var, /tmp, $WORK
myhostname = pf-$name.test
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtp_address_preference = ipv4
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
smtp_connect_timeout = 5s
EOF
        cat
    } >"$d/etc/main.cf"
    cat >"$d/etc/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# postfix_port - smtpd port of Postfix instance NAME
postfix_port() { cat "$WORK/pf-$1/port"; }

# start_postfix - run Postfix instance NAME's master in the foreground as process "pf-NAME"
#	`postfix check` first creates the queue directories; the master runs
#	in a session of its own (setsid), so the TERM from stop_proc / the
#	exit trap reaches every Postfix process through its process group.
start_postfix() {
    local name=$1 d=$WORK/pf-$1 port
    port=$(postfix_port "$name")
    "$POSTFIX_CMD" -c "$d/etc" check >>"$WORK/pf-$name.check" 2>&1 ||
        { say "postfix check $name failed:"; tail -n 5 "$WORK/pf-$name.check" >&2; return 1; }
    spawn "pf-$name" setsid "$POSTFIX_MASTER" -c "$d/etc" -d
    wait_listen "pf-$name" 127.0.0.1 "$port" 20 ||
        { tail -n 10 "$d/maillog" >&2 2>/dev/null; return 1; }
}

# stop_postfix - stop Postfix instance NAME (its maillog stays)
stop_postfix() { stop_proc "pf-$1" TERM; }

# pf_maillog_has - does Postfix instance NAME's maillog have a line matching the ERE?
pf_maillog_has() { grep -Eq -- "$2" "$WORK/pf-$1/maillog" 2>/dev/null; }

# pf_maillog_count - lines of Postfix instance NAME's maillog matching the ERE
pf_maillog_count() { grep -Ec -- "$2" "$WORK/pf-$1/maillog" 2>/dev/null || true; }

# start_tls_sink - the python3 SMTP sink of tern_it.py as NAME on 127.0.0.1:PORT
#	Options after PORT go to `tern_it.py tls-sink` (--cert F --key F,
#	--mode tls|notls|hangup|garbage, --ca F to ask for a client cert).
#	Log (JSON lines): $WORK/psink-NAME/log; messages: $WORK/psink-NAME/msg-*.
start_tls_sink() {
    local name=$1 port=$2
    shift 2
    mkdir -p "$WORK/psink-$name"
    spawn "psink-$name" "$PY" "$TERN_IT_PY" tls-sink --listen "127.0.0.1:$port" \
        --dir "$WORK/psink-$name" "$@"
    wait_listen "psink-$name" 127.0.0.1 "$port" 30 # python3 + ssl start in seconds under load
}

# stop_tls_sink - stop python sink NAME (its log and messages stay)
stop_tls_sink() { stop_proc "psink-$1" TERM; }

# psink - `tern_it.py sink-query DIR WHAT` on python sink NAME (prints a number)
psink() {
    local name=$1
    shift
    "$PY" "$TERN_IT_PY" sink-query "$WORK/psink-$name" "$@"
}

# psink_ge - true when `psink NAME WHAT [SINCE]` is at least N: psink_ge NAME WHAT N [SINCE]
psink_ge() {
    local v
    v=$(psink "$1" "$2" ${4:+"$4"}) || return 1
    ((v >= $3))
}
