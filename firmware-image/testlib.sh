# firmware-image/testlib.sh - shared by test-boot, test-update, test-power-cut.
# Sourced. Every wait is bounded; only the qemu and sink this test started are
# killed, by PID.
#
# Environment: IMAGE (default firmware-image/out/tern-appliance.img),
# TERN_KEEP=1 keeps the work dir, BOOT_TIMEOUT (default 480 s: TCG is slow, and
# tests/run.sh boots the guests beside its other stages on the same cores).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGE=${IMAGE:-$here/out/tern-appliance.img}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-480}
[[ -f $IMAGE ]] || { echo "no image $IMAGE: run firmware-image/build first" >&2; exit 1; }
for t in qemu-system-x86_64 mcopy partx swaks python3; do
    command -v $t >/dev/null || { echo "$t missing (bash .ci/install-deps)" >&2; exit 1; }
done
W=$(mktemp -d /var/tmp/tern-image-test.XXXXXX)
QEMU_PID= SINK_PID= QEMU_RUNS=0 RESTARTS=0
QEMU_ARGS=() STICKS=() # extra qemu arguments; names of the plugged USB sticks ($W/NAME.vfat)
t0=$SECONDS
log() { printf '[%s %4ds] %s\n' "${TEST_NAME:-test}" $((SECONDS - t0)) "$*"; }
fail() { log "FAIL: $*"; exit 1; }
cleanup() {
    local rc=$?
    [[ -n $QEMU_PID ]] && kill -9 "$QEMU_PID" 2>/dev/null
    [[ -n $SINK_PID ]] && kill "$SINK_PID" 2>/dev/null
    wait 2>/dev/null
    if ((rc != 0)); then
        log "console (last 40 lines of $W/console.log):"
        tail -n 40 "$W/console.log" 2>/dev/null | sed 's/^/    /'
    fi
    if [[ ${TERN_KEEP:-0} == 1 || $rc != 0 ]]; then log "work dir kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

# free_port - an unused loopback TCP port
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SMTP_PORT=$(free_port)
SINK_PORT=$(free_port)
SINK_DIR=$W/sink

# part_offset IMG NAME - byte offset of the GPT partition called NAME
part_offset() {
    local start
    start=$(partx -g -o START,NAME "$1" | awk -v n="$2" '$2 == n {print $1}')
    [[ -n $start ]] || fail "no partition $2 in $1"
    echo $((start * 512))
}

# prepare_image [EXTRA_MAIN_CF_LINES] - copy the image, fill its TERNCFG
prepare_image() {
    cp --sparse=always "$IMAGE" "$W/disk.img"
    cp /usr/share/OVMF/OVMF_VARS.fd "$W/vars.fd"
    cat >"$W/main.cf" <<EOF
# written by firmware-image/testlib.sh
mynetworks = 127.0.0.0/8 10.0.2.0/24
relayhost = [10.0.2.2]:$SINK_PORT
smtpd_listen = 0.0.0.0:25
minimal_backoff_time = 5s
maximal_backoff_time = 10s
${1:-}
EOF
    local off
    off=$(part_offset "$W/disk.img" TERNCFG)
    mcopy -o -i "$W/disk.img@@$off" "$W/main.cf" ::main.cf
    log "image copied, TERNCFG main.cf written (relayhost [10.0.2.2]:$SINK_PORT)"
}

# start_qemu [EXTRA QEMU ARGS] - boot $W/disk.img, console to $W/console.log
# The guest's reboots are cold starts: qemu runs with -no-reboot, so a reset (the guest's own
# reboot, or the monitor's system_reset) makes it exit 0, and qemu_alive starts it again on
# the same disk, NVRAM and plugged sticks, appending to the same console log. Measured with 3
# busy loops beside it: a warm reset spent 75 s in OVMF and 195 s to tern-boot, a cold start
# 11 s and 108 s (a warm reset under TCG is what made test-update miss its deadline in CI).
start_qemu() {
    # each start_qemu gets a fresh console log; the earlier ones stay as console.N.log
    [[ -f $W/console.log ]] && mv "$W/console.log" "$W/console.$((++QEMU_RUNS)).log"
    QEMU_ARGS=("$@")
    launch_qemu
    BOOT_T=$SECONDS
    log "qemu started (pid $QEMU_PID), guest port 25 on 127.0.0.1:$SMTP_PORT"
}
# launch_qemu - one qemu process with QEMU_ARGS and a usb-storage device per plugged stick.
# -nodefaults: no VGA, no empty DVD drive; romfile=: no iPXE ROM for OVMF to load (the guest
# boots from its disk): less for TCG to emulate at every boot
launch_qemu() {
    local s usb=()
    for s in "${STICKS[@]}"; do
        usb+=(-drive "if=none,id=d$s,file=$W/$s.vfat,format=raw,readonly=on"
              -device "usb-storage,bus=xhci.0,drive=d$s,id=s$s")
    done
    qemu-system-x86_64 -accel tcg -machine q35 -nodefaults -no-reboot -m 1024 -smp 2 -display none \
        -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd \
        -drive if=pflash,format=raw,file="$W/vars.fd" \
        -drive file="$W/disk.img",format=raw,if=virtio,cache=${DISK_CACHE:-writeback} \
        -netdev user,id=n0,hostfwd=tcp:127.0.0.1:$SMTP_PORT-:25 -device virtio-net-pci,netdev=n0,romfile= \
        -device virtio-rng-pci \
        -chardev file,id=con,path="$W/console.log",append=on -serial chardev:con \
        -monitor unix:"$W/monitor.sock",server,nowait \
        "${QEMU_ARGS[@]}" "${usb[@]}" &
    QEMU_PID=$!
}

# qemu_alive - 0 while the guest runs (or none was started); when qemu exited 0 (a reset,
# see start_qemu) it is started again, at most 8 times per test; 1 when it died otherwise
qemu_alive() {
    [[ -z $QEMU_PID ]] && return 0
    kill -0 "$QEMU_PID" 2>/dev/null && return 0
    local rc=0
    wait "$QEMU_PID" || rc=$?
    QEMU_PID=
    ((rc == 0)) || { log "qemu exited with status $rc"; return 1; }
    ((++RESTARTS <= 8)) || { log "more than 8 resets"; return 1; }
    launch_qemu
    log "guest reset: qemu started again, cold (pid $QEMU_PID)"
}

# monitor CMD - one human-monitor command
monitor() {
    python3 - "$W/monitor.sock" "$1" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
time.sleep(0.3); s.recv(65536)
s.sendall(sys.argv[2].encode() + b"\n"); time.sleep(0.5); s.close()
EOF
}

kill_qemu() {
    [[ -n $QEMU_PID ]] || return 0
    kill -9 "$QEMU_PID" 2>/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
    QEMU_PID=
}

# banner_once - 0 when 127.0.0.1:$SMTP_PORT answers 220 within 5 s
banner_once() {
    python3 - "$SMTP_PORT" <<'EOF'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    l = s.makefile("rb").readline()
    s.sendall(b"QUIT\r\n"); s.close()
    sys.exit(0 if l.startswith(b"220") else 1)
except Exception:
    sys.exit(1)
EOF
}

# wait_banner - until tern's 220 banner answers (BOOT_TIMEOUT); sets BOOT_SECS
wait_banner() {
    local end=$((SECONDS + BOOT_TIMEOUT))
    while ((SECONDS < end)); do
        qemu_alive || fail "qemu exited"
        if banner_once; then
            BOOT_SECS=$((SECONDS - BOOT_T))
            log "220 banner after ${BOOT_SECS}s"
            return 0
        fi
        sleep 1
    done
    fail "no 220 banner within ${BOOT_TIMEOUT}s"
}

start_sink() {
    mkdir -p "$SINK_DIR"
    python3 "$here/sink.py" "$SINK_PORT" "$SINK_DIR" 2>>"$W/sink.log" &
    SINK_PID=$!
    local i
    for ((i = 0; i < 50; i++)); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1',$SINK_PORT),1)" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "sink did not start"
}
stop_sink() {
    [[ -n $SINK_PID ]] || return 0
    kill "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
    SINK_PID=
}

# send TOKEN - submit one message with STARTTLS; 0 when tern said 250
send() {
    timeout 60 swaks --server 127.0.0.1 --port "$SMTP_PORT" --tls --timeout 30 \
        -f sender@example.org -t rcpt@example.net --h-Subject "tern image test $1" \
        --body "token $1" >"$W/swaks-$1.log" 2>&1
}

# wait_delivered TOKEN [SECS] - until the sink holds a message with TOKEN
wait_delivered() {
    local end=$((SECONDS + ${2:-120}))
    while ((SECONDS < end)); do
        grep -lq "token $1" "$SINK_DIR"/*.eml 2>/dev/null && return 0
        sleep 1
    done
    return 1
}

# wait_console PATTERN SECS [COUNT] - until the console log has COUNT (1) lines matching
wait_console() {
    local end=$((SECONDS + $2)) n
    while ((SECONDS < end)); do
        n=$(grep -a -c -E "$1" "$W/console.log" 2>/dev/null || true)
        ((${n:-0} >= ${3:-1})) && return 0
        qemu_alive || fail "qemu exited"
        sleep 1
    done
    return 1
}
