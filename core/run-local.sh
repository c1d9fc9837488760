#!/usr/bin/env bash
# NAME
#	core/run-local.sh - install, build and run tern on loopback, in the foreground
# SYNOPSIS
#	bash core/run-local.sh          # then: swaks --server 127.0.0.1:2525 -t you@example.org
# DESCRIPTION
#	On a fresh Debian 12 machine: installs the packages (.ci/install-deps),
#	builds into ./build, creates ./run/etc and ./run/queue, makes a
#	self-signed certificate ./run/etc/tls/cert.pem unless one is there,
#	writes ./run/etc/main.cf unless it exists (STARTTLS with that
#	certificate; edit it freely afterwards; it is kept), and runs `ternd -c ./run/etc` in the foreground. Ctrl-C (SIGINT) or
#	SIGTERM drains and stops it; SIGHUP reloads. Talk to it with
#	`build/core/ternctl -c run/etc queue|stats|...`; the log is ./run/maillog.
#
#	Started as root, ternd drops to mail_owner: this script creates the
#	system user `tern` when it is missing. When the checkout is not
#	reachable by that user (e.g. under /root), the state lives in
#	/var/lib/tern-local and ./run is a symbolic link to it, so the paths
#	below work as written; the script prints where the state is.
#
#	Environment: BUILD_DIR (default build), SKIP_INSTALL=1, SKIP_BUILD=1,
#	TERN_LISTEN (default 127.0.0.1:2525), TERN_STATE (default ./run).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
LISTEN=${TERN_LISTEN:-127.0.0.1:2525}

[[ ${SKIP_INSTALL:-0} == 1 ]] || bash .ci/install-deps
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
    cmake --build "$BUILD_DIR" -j"$(nproc 2>/dev/null || echo 2)"
fi
case $BUILD_DIR in /*) TERND=$BUILD_DIR/core/ternd ;; *) TERND=$SRC/$BUILD_DIR/core/ternd ;; esac

STATE=${TERN_STATE:-$SRC/run}
OWNER=$(id -un)
if [[ $(id -u) == 0 ]]; then
    OWNER=tern
    if ! getent passwd tern >/dev/null; then
        echo "run-local: creating system user tern"
        useradd --system --user-group --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin tern
    fi
    # the dropped daemon must reach its queue directory through every parent
    if [[ ! -L $STATE ]]; then
        mkdir -p "$STATE"
        if ! runuser -u tern -- test -x "$STATE"; then
            # e.g. a checkout under /root: the state lives where tern can reach it, and
            # ./run points there, so the README's `ternctl -c run/etc` works as written
            rmdir "$STATE" 2>/dev/null || true
            if [[ -e $STATE ]]; then
                echo "run-local: $STATE is not reachable by user tern and not empty; set TERN_STATE" >&2
                exit 1
            fi
            mkdir -p /var/lib/tern-local
            ln -s /var/lib/tern-local "$STATE"
        fi
    fi
    STATE=$(readlink -f "$STATE")
fi
mkdir -p "$STATE/etc" "$STATE/queue"
chmod 700 "$STATE/queue"
[[ $(id -u) == 0 ]] && chown "$OWNER:" "$STATE/queue"

# STARTTLS out of the box: a self-signed certificate for this host, made once
# (the key readable by its owner only: ternd reads it before dropping privileges)
TLSDIR=$STATE/etc/tls
if [[ ! -f $TLSDIR/cert.pem ]]; then
    mkdir -p "$TLSDIR"
    (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -days 3650 -subj "/CN=$(uname -n)" \
        -keyout "$TLSDIR/key.pem" -out "$TLSDIR/cert.pem" 2>/dev/null)
    echo "run-local: made a self-signed certificate $TLSDIR/cert.pem ($(openssl x509 -in "$TLSDIR/cert.pem" -noout -fingerprint -sha256))"
fi

CF=$STATE/etc/main.cf
if [[ ! -f $CF ]]; then
    cat >"$CF" <<CFEOF
# tern main.cf, written by core/run-local.sh (kept on later runs; edit freely).
# Postfix syntax and parameter names; \`ternd -c $STATE/etc -n\` shows what is set.
queue_directory = $STATE/queue
maillog_file = $STATE/maillog
mail_owner = $OWNER
smtpd_listen = $LISTEN
# STARTTLS offered with the certificate run-local made (replace with your own):
smtpd_tls_cert_file = $TLSDIR/cert.pem
smtpd_tls_key_file = $TLSDIR/key.pem
smtpd_tls_security_level = may
# Clients allowed to relay through tern (permit_mynetworks):
mynetworks = 127.0.0.0/8 [::1]/128
# Deliver through a smarthost instead of MX lookups:
#relayhost = [smtp.example.net]:587
# Per-domain next hops: "example.org smtp:[10.0.0.5]:25" lines in a file:
#transport_maps = texthash:$STATE/etc/transport
CFEOF
    echo "run-local: wrote $CF"
fi

"$TERND" -c "$STATE/etc" check
echo "run-local: state in $STATE (config $STATE/etc/main.cf, queue $STATE/queue)"
echo "run-local: ternd listening on $LISTEN (log: $STATE/maillog); Ctrl-C stops it"
exec "$TERND" -c "$STATE/etc"
