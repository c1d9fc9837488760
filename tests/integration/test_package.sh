#!/usr/bin/env bash
# NAME
#	test_package.sh - the .deb: build, lintian, install into a clean Debian 12, boot, purge
# DESCRIPTION
#	1. takes the package TERN_PKG_DEB when set (tests/run.sh builds it once
#	   for this test and the appliance image, from TERN_PKG_BUILD), else
#	   builds tern_VERSION_amd64.deb with firmware-image/deb/build, from
#	   $TERN_BUILD when that is a build without sanitizers, else from
#	   $TERN_SOURCE/build (tests/run.sh's release build) when it is one,
#	   else in a build directory of its own;
#	2. lintian reports no error;
#	3. mmdebstrap makes a minbase bookworm root (systemd, logrotate) from
#	   the Debian archive and `apt-get install ./tern_*.deb` runs in it:
#	   the package's Depends must pull every library; then the files, the
#	   man pages (tern.conf(5) names every parameter `ternd -n` could
#	   show), the conffiles, the tern user, and `systemd-analyze verify`
#	   of tern.service inside that root;
#	4. boots the root with systemd-nspawn -b (host network), tern.service
#	   on a free port relaying to smtp-sink on the host's loopback, with
#	   WatchdogSec=3s through a drop-in: it becomes active (READY=1), one
#	   message from swaks arrives, the service is still active and not
#	   restarted after several watchdog intervals (the pings come),
#	   `systemctl reload` keeps it active, `logrotate -f` rotates the
#	   maillog and the next message is logged in the new file; after a
#	   restart a third message is relayed and queue and log stay tern's;
#	   when nspawn cannot boot here, this part is skipped with a message;
#	5. `apt-get remove` keeps /var/lib/tern and /etc/tern/main.cf,
#	   `apt-get purge` removes /var/lib/tern, /var/log/tern, /etc/tern and
#	   the user.
#	Needs root, network access to the Debian archive and the packages in
#	.ci/install-deps. About 2 minutes on 2 cores (most of it mmdebstrap).
#	TERN_PKG_BUILD=DIR builds the package there.
. "$(dirname "$0")/lib.sh"
it_init package
need_root "mmdebstrap, chroot and systemd-nspawn"
for tool in mmdebstrap lintian dpkg-shlibdeps systemd-nspawn swaks; do
    command -v "$tool" >/dev/null || skip "$tool not installed (.ci/install-deps)"
done

t0=$SECONDS
# 1. the package, from a build without sanitizers (TERN_PKG_BUILD, else found below),
#    or TERN_PKG_DEB made from that build; its generated tern.conf(5) is compared below
sanitized() { grep -qE '^TERN_(SANITIZE|FUZZ):BOOL=ON' "$1/CMakeCache.txt" 2>/dev/null; }
pkg_build=${TERN_PKG_BUILD:-}
if [[ -z $pkg_build ]]; then
    if [[ -f $TERN_BUILD/CMakeCache.txt ]] && ! sanitized "$TERN_BUILD"; then
        pkg_build=$TERN_BUILD
    elif [[ -f $TERN_SOURCE/build/CMakeCache.txt ]] && ! sanitized "$TERN_SOURCE/build"; then
        pkg_build=$TERN_SOURCE/build
    else
        pkg_build=$WORK/build
    fi
fi
if [[ -n ${TERN_PKG_DEB:-} ]]; then
    deb=$TERN_PKG_DEB
    [[ -f $deb ]] || die "TERN_PKG_DEB=$deb: no such file"
    say "the package: $deb (TERN_PKG_DEB), built in $pkg_build"
else
    say "building the package in $pkg_build"
    deb=$(JOBS=2 bash "$TERN_SOURCE/firmware-image/deb/build" "$pkg_build" "$WORK/out" 2>"$WORK/build.out" | tail -n 1)
    if [[ ! -f $deb ]]; then
        tail -n 30 "$WORK/build.out" >&2
        die "no package built"
    fi
    say "$deb built in $((SECONDS - t0))s"
fi
check "package is named tern_<version>_amd64.deb" eval '[[ $(basename "$deb") =~ ^tern_[0-9]+\.[0-9]+\.[0-9]+_amd64\.deb$ ]]'

# 2. lintian: no error (warnings and notes are printed)
lintian --fail-on error "$deb" >"$WORK/lintian.out" 2>&1
lrc=$?
grep -v '^running with root' "$WORK/lintian.out" >&2
check "lintian reports no error" test "$lrc" = 0

# 3. a clean Debian 12 with the package installed by apt
ROOT=$WORK/root
t1=$SECONDS
if ! mmdebstrap --variant=minbase --include=systemd,systemd-sysv,logrotate \
    --customize-hook="copy-in $deb /tmp" \
    --customize-hook='chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /tmp/'"$(basename "$deb")" \
    --customize-hook='chroot "$1" apt-get clean' \
    bookworm "$ROOT" http://deb.debian.org/debian >"$WORK/mmdebstrap.out" 2>&1; then
    tail -n 30 "$WORK/mmdebstrap.out" >&2
    die "mmdebstrap or apt-get install ./$(basename "$deb") failed"
fi
say "Debian 12 root with tern installed in $((SECONDS - t1))s"
in_root() { chroot "$ROOT" "$@"; }

installed() { in_root dpkg-query -W -f='${Status}' tern 2>/dev/null | grep -q 'install ok installed'; }
check "apt-get install ./tern_*.deb in a clean bookworm" installed
for lib in libwolfssl35 liblmdb0 liburing2 libunbound8 libsasl2-2 libmicrohttpd12; do
    check "Depends pulled $lib" eval "in_root dpkg-query -W -f='\${Status}' $lib | grep -q 'install ok installed'"
done
for f in /usr/sbin/ternd /usr/sbin/ternctl /usr/sbin/ternmap /lib/systemd/system/tern.service \
    /etc/tern/main.cf /etc/logrotate.d/tern /usr/share/man/man8/tern.8.gz \
    /usr/share/man/man1/ternctl.1.gz /usr/share/man/man1/ternmap.1.gz \
    /usr/share/man/man5/tern.conf.5.gz /usr/share/doc/tern/copyright; do
    check "installed $f" test -e "$ROOT$f"
done
for b in ternd ternctl ternmap; do
    check "$b is stripped" eval '! readelf -S "$ROOT/usr/sbin/$b" | grep -qE "\.(symtab|debug_info)"'
done
check "ternd -V prints the package version" eval \
    'in_root ternd -V | grep -qx "ternd $(dpkg-deb -f "$deb" Version)"'
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' tern)
check "main.cf is a conffile" eval '[[ $conffiles == *"/etc/tern/main.cf "* ]]'
check "logrotate config is a conffile" eval '[[ $conffiles == *"/etc/logrotate.d/tern "* ]]'
check "system user tern exists" eval 'uid=$(in_root getent passwd tern | cut -d: -f3) && ((uid < 1000))'
check "default main.cf passes ternd check" in_root ternd -c /etc/tern check
# tern.conf(5): the installed page is the one the build generated from the parameter table
# (unit_core_test_confdoc holds that every parameter is in it) and documents what main.cf sets
check "installed tern.conf(5) is the generated page" \
    cmp -s "$ROOT/usr/share/man/man5/tern.conf.5.gz" "$pkg_build/core/man/tern.conf.5.gz"
man5=$(zcat "$ROOT/usr/share/man/man5/tern.conf.5.gz")
for p in $(grep -oE '^[a-z_]+' "$ROOT/etc/tern/main.cf"); do
    check "tern.conf(5) documents $p" grep -qx ".B $p" <<<"$man5"
done
verify_out=$(in_root systemd-analyze verify --man=no tern.service 2>&1)
vrc=$?
[[ -n $verify_out ]] && say "systemd-analyze verify: $verify_out"
check "systemd-analyze verify tern.service" eval '((vrc == 0)) && [[ -z $verify_out ]]'
check "io_uring syscalls are in the unit's filter" \
    grep -q '^SystemCallFilter=.*io_uring_setup.*io_uring_enter.*io_uring_register' "$ROOT/lib/systemd/system/tern.service"

# 4. boot it under systemd and relay one message
read -r P_TERN P_SINK < <(pick_ports 2)
start_sink a "127.0.0.1:$P_SINK" || die "smtp-sink"
cat >>"$ROOT/etc/tern/main.cf" <<EOF
# test_package.sh: a free port on the shared loopback, the host's smtp-sink
smtpd_listen = 127.0.0.1:$P_TERN
relayhost = [127.0.0.1]:$P_SINK
EOF
mkdir -p "$ROOT/etc/systemd/system/tern.service.d"
printf '[Service]\nWatchdogSec=3s\n' >"$ROOT/etc/systemd/system/tern.service.d/test.conf"
t2=$SECONDS
spawn nspawn systemd-nspawn -q -b --register=no --keep-unit -D "$ROOT"
leader() {
    local pid
    pid=$(pgrep -P "${IT_PID[nspawn]}" | head -n 1) && [[ -n $pid ]] && echo "$pid"
}
in_boot() { nsenter -t "$(leader)" -m -u -i -p -- "$@"; }
booted=0
if wait_until 60 eval 'timeout 5 nsenter -t "$(leader)" -m -u -i -p -- systemctl is-active -q multi-user.target 2>/dev/null'; then
    booted=1
fi
if ((booted == 0)); then
    say "SKIP part 4: systemd-nspawn -b does not boot here ($(tail -n 3 "$WORK/nspawn.out" | tr '\n' ' '))"
else
    say "booted in $((SECONDS - t2))s"
    check "tern.service active (READY=1 sent)" wait_until 20 in_boot systemctl is-active -q tern.service
    check "ternd listens on 127.0.0.1:$P_TERN" wait_until 10 port_open 127.0.0.1 "$P_TERN"
    check "swaks: message accepted" eval 'swaks --server "127.0.0.1:$P_TERN" -f a@example.org -t b@example.net --h-Subject pkg-1 >"$WORK/swaks1.out" 2>&1'
    check "message relayed to smtp-sink" wait_until 20 sink_has a 1
    check "maillog written" eval 'grep -q "status=sent" "$ROOT/var/log/tern/maillog"'
    check "ternctl -c /etc/tern stats talks to the service" eval 'in_boot ternctl -c /etc/tern stats >"$WORK/stats.out" 2>&1'
    mainpid=$(in_boot systemctl show -p MainPID --value tern.service)
    check "ternd (pid $mainpid in the container) runs as tern" eval '[[ $(in_boot stat -c %U "/proc/$mainpid") == tern ]]'
    sleep 7 # more than two watchdog intervals
    check "still active after 7 s under WatchdogSec=3s (pings arrive)" in_boot systemctl is-active -q tern.service
    check "not restarted by the watchdog" eval '[[ $(in_boot systemctl show -p NRestarts --value tern.service) == 0 ]]'
    check "systemctl reload tern" in_boot systemctl reload tern.service
    check "active after the reload" in_boot systemctl is-active -q tern.service
    check "reload logged" wait_until 10 grep -q 'reload -- version' "$ROOT/var/log/tern/maillog"
    check "logrotate -f /etc/logrotate.d/tern" in_boot logrotate -f /etc/logrotate.d/tern
    check "swaks: second message accepted" eval 'swaks --server "127.0.0.1:$P_TERN" -f a@example.org -t c@example.net --h-Subject pkg-2 >"$WORK/swaks2.out" 2>&1'
    check "second message relayed" wait_until 20 sink_has a 2
    check "after rotation the new maillog gets the lines" wait_until 10 grep -q 'to=<c@example.net>.*status=sent' "$ROOT/var/log/tern/maillog"
    check "rotated maillog.1 kept the earlier lines" grep -q 'to=<b@example.net>' "$ROOT/var/log/tern/maillog.1"
    check "new maillog owned by tern" eval '[[ $(stat -c %u "$ROOT/var/log/tern/maillog") == $(in_root getent passwd tern | cut -d: -f3) ]]'
    # a restart: root (CAP_DAC_OVERRIDE) opens the queue and cache files tern owns now, and
    # systemd's StateDirectory=/LogsDirectory= leave their contents to tern
    check "systemctl restart tern" in_boot systemctl restart tern.service
    check "active after the restart" wait_until 20 in_boot systemctl is-active -q tern.service
    check "swaks: third message accepted" eval 'swaks --server "127.0.0.1:$P_TERN" -f a@example.org -t d@example.net --h-Subject pkg-3 >"$WORK/swaks3.out" 2>&1'
    check "third message relayed" wait_until 20 sink_has a 3
    check "maillog still owned by tern after the restart" eval '[[ $(stat -c %u "$ROOT/var/log/tern/maillog") == $(in_root getent passwd tern | cut -d: -f3) ]]'
    check "queue owned by tern" eval '[[ $(stat -c %u "$ROOT/var/lib/tern/queue") == $(in_root getent passwd tern | cut -d: -f3) ]]'
    in_boot journalctl -u tern.service --no-pager -o cat >"$WORK/journal.out" 2>&1
    check "no watchdog timeout in the journal" eval '! grep -qi watchdog "$WORK/journal.out"'
    check "systemctl stop tern (drain, STOPPING=1)" in_boot systemctl stop tern.service
    in_boot systemctl poweroff >/dev/null 2>&1
fi
stop_proc nspawn TERM || say "systemd-nspawn needed SIGKILL"
rm -rf "$ROOT/etc/systemd/system/tern.service.d"

# 5. remove keeps the queue and the configuration; purge removes everything
in_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q tern >"$WORK/remove.out" 2>&1
check "apt-get remove" eval '! installed'
check "remove keeps /var/lib/tern" test -d "$ROOT/var/lib/tern"
check "remove keeps /etc/tern/main.cf" test -f "$ROOT/etc/tern/main.cf"
check "remove keeps the user" eval 'in_root getent passwd tern >/dev/null'
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q tern >"$WORK/purge.out" 2>&1
check "apt-get purge" eval '! in_root dpkg-query -W tern >/dev/null 2>&1 || [[ $(in_root dpkg-query -W -f="\${Status}" tern) == *not-installed* ]]'
for d in /var/lib/tern /var/log/tern /etc/tern /etc/logrotate.d/tern; do
    check "purge removes $d" test ! -e "$ROOT$d"
done
check "purge removes the user" eval '! in_root getent passwd tern >/dev/null'
say "package test took $((SECONDS - t0))s"
it_done
