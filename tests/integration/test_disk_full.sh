#!/usr/bin/env bash
# NAME
#	test_disk_full.sh - a full disk answers 452 4.3.1, loses nothing; queue_minfree
# DESCRIPTION
#	queue_directory is on a small tmpfs the test mounts (8 MB; needs root;
#	unmounted on exit). The next hop is down, so everything stays queued.
#	  1. message_size_limit = 0 (no free space check at MAIL): 200 KiB
#	     messages until one is refused at the end of DATA (the commit
#	     fails) with Postfix's "452 4.3.1 Insufficient system storage",
#	     never a 250 for what is not on disk and never 451;
#	  2. (SIGHUP) message_size_limit with 1.5 x it above the free space:
#	     MAIL gets 452 4.3.1 (and the warning is logged); queue_minfree
#	     above the free space: 452 4.3.1 too;
#	  3. the next hop comes up: every acknowledged message arrives, and the
#	     queue drains to empty (a full disk does not wedge it).
#	The full LMDB map (removals commit when DSNs cannot) is tested by the
#	unit test test_queue (test_map_full_drain).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init disk_full
need_root "mounts a tmpfs"

QPY=$IT_DIR/queue_it.py
MNT=$(mktemp -d /tmp/tern-it-tmpfs.XXXXXX) || die "mktemp"
mount -t tmpfs -o size=8m,mode=0700 tern-it "$MNT" || skip "cannot mount a tmpfs here"
# cleanup_mount - ternd off the mount first, then unmount, then lib.sh's cleanup (which exits)
cleanup_mount() {
    local rc=$?
    stop_proc t TERM
    umount -l "$MNT" 2>/dev/null && rmdir "$MNT" 2>/dev/null
    (exit $rc)
    it_cleanup
}
trap cleanup_mount EXIT

read -r P_SINK < <(pick_ports 1)
write_main_cf t <<EOF
queue_directory = $MNT/queue
relayhost = [127.0.0.1]:$P_SINK
smtp_connect_timeout = 1s
message_size_limit = 0
queue_map_size = 64m
EOF
mkdir -p "$MNT/queue" && chmod 700 "$MNT/queue"
start_ternd t || die "ternd did not start"
PORT=$(ternd_port t)

out=$("$PY" "$QPY" fill 127.0.0.1 "$PORT" 200 200 "$WORK/acked")
say "fill: $out"
check "a commit on a full file system is answered 452 4.3.1 Insufficient system storage" \
    grep -qE 'then at DATA: 452 4\.3\.1 Insufficient system storage' <<<"$out"
check "some messages were accepted first" test "$(wc -l <"$WORK/acked")" -gt 5
check "ternd is still running" alive t

# 1.5 x message_size_limit, then queue_minfree, above what is free: MAIL is refused at once
echo "message_size_limit = 4000000" >>"$WORK/t/etc/main.cf"
kill -HUP "${IT_PID[t]}"
mail_refused() { "$PY" "$QPY" mail-reply 127.0.0.1 "$PORT" | grep -q '^452 4\.3\.1 Insufficient system storage'; }
check "1.5 x message_size_limit: MAIL refused with 452 4.3.1" wait_until 10 mail_refused
echo "queue_minfree = 100m" >>"$WORK/t/etc/main.cf"
kill -HUP "${IT_PID[t]}"
check "queue_minfree: MAIL refused with 452 4.3.1" wait_until 10 mail_refused
check "queue_minfree: logged like Postfix" maillog_has t 'not enough free space in mail queue'

start_sink hub "127.0.0.1:$P_SINK" || die "smtp-sink"
ternctl t flush >/dev/null 2>&1
all_arrived() { "$PY" "$TERN_IT_PY" acked-check "$WORK/acked" "$(sink_dir hub)" >/dev/null 2>&1; }
check "every acknowledged message ($(wc -l <"$WORK/acked")) arrived" wait_until 120 all_arrived
"$PY" "$TERN_IT_PY" acked-check "$WORK/acked" "$(sink_dir hub)" 2>&1 | head -n 2 | while IFS= read -r l; do say "$l"; done
empty_queue() { ternctl t queue 2>&1 | grep -qi 'queue is empty'; }
check "the queue drains to empty" wait_until 60 empty_queue
check "ternd exits on SIGTERM" stop_ternd t
it_done
