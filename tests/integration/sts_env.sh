# shellcheck shell=bash
# NAME
#	sts_env.sh - MTA-STS surroundings for a test: PKI, DNS, the HTTPS policy server
# SYNOPSIS
#	. "$(dirname "$0")/sts_env.sh"        # after lib.sh and it_init; needs root
#	sts_env ADDR D1 D2 ...                 # domains D1.test, D2.test, ...
#	sts_policy VERSION MODE MX >"$WORK/sts/mta-sts.D1.test"
#	fetches D1                             # requests for mta-sts.D1.test so far
#	sts_ternd                              # ternd "t" with $WORK/transport, started
#	swaks_send t RCPT; maillog_sent t RCPT # (lib.sh) submit with swaks; "status=sent" logged?
# DESCRIPTION
#	sts_env makes the test PKI in $PKI (lib.sh make_pki, plus "sts", a
#	certificate for every mta-sts.D.test), then starts dnsmasq on a picked
#	port ($P_DNS) serving for each domain: MX D.test -> mx.D.test
#	(127.0.0.1), the TXT record _mta-sts.D.test "v=STSv1; id=1", and
#	mta-sts.D.test -> ADDR, plus the dnsmasq options in the array
#	STS_DNS_EXTRA; and python3's http.server on ADDR:443 with the sts
#	certificate, answering /.well-known/mta-sts.txt for Host mta-sts.D.test
#	with $WORK/sts/mta-sts.D.test (text/plain) - after the seconds in
#	$WORK/sts/mta-sts.D.test.delay when that file exists -, keeping the body of a POST
#	as $WORK/sts/post-N (its Content-Type in post-N.type: TLS-RPT reports),
#	and logging each request to $WORK/sts.log. Each test uses an ADDR of its own (127.0.0.77, ...), so
#	two can run side by side. sts_ternd writes and starts instance t:
#	transport_maps texthash:$WORK/transport (the test writes it), tern's
#	DNS the test's dnsmasq, smtp_tls_CAfile the test CA, level may,
#	smtp_tls_loglevel 1, and a client TLS cache (MTA-STS policies, TLS-RPT
#	results).

# sts_policy VERSION MODE MX - a policy file on stdout (max_age 86400)
sts_policy() { printf 'version: %s\r\nmode: %s\r\nmx: %s\r\nmax_age: 86400\r\n' "$@"; }

# fetches D - how many times the policy of D.test was asked for
fetches() { grep -c "^mta-sts.$1.test " "$WORK/sts.log" || true; }

# sts_env ADDR DOMAIN... - see above
sts_env() {
    local addr=$1 d san="" first=$2
    shift
    command -v dnsmasq >/dev/null || skip "dnsmasq not installed (apt-get install dnsmasq-base)"
    port_open "$addr" 443 && skip "$addr:443 is already taken"
    PKI=$WORK/pki
    make_pki "$PKI" || die "cannot make the test PKI"
    for d in "$@"; do san+="${san:+,}DNS:mta-sts.$d.test"; done
    pki_leaf "$PKI" sts "mta-sts.$first.test" ca "$san" ||
        die "cannot make the policy server's certificate"
    read -r P_DNS < <(pick_ports 1)
    local -a dns_args=("${STS_DNS_EXTRA[@]}")
    for d in "$@"; do
        dns_args+=(--mx-host="$d.test,mx.$d.test,10" --host-record="mx.$d.test,127.0.0.1"
            --txt-record="_mta-sts.$d.test,v=STSv1; id=1" --host-record="mta-sts.$d.test,$addr")
    done
    spawn dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces \
        --listen-address=127.0.0.1 --port="$P_DNS" --conf-file=/dev/null --pid-file= \
        --user=root --local=/test/ --log-queries --log-facility="$WORK/dnsmasq.log" "${dns_args[@]}"
    sts_dns_up() {
        "$PY" "$TERN_IT_PY" dns-query 127.0.0.1 "$P_DNS" "$first.test" MX 2>/dev/null |
            grep -q "^MX 10 mx.$first.test"
    }
    wait_until 10 sts_dns_up || die "dnsmasq does not answer on 127.0.0.1:$P_DNS"
    mkdir -p "$WORK/sts"
    cat >"$WORK/sts.py" <<'PYEOF'
import http.server, ssl, sys, os, time
root, log, cert, key, addr = sys.argv[1:6]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        with open(log, "a") as f:
            f.write("%s %s\n" % (host, self.path))
        path = os.path.join(root, os.path.basename(host))
        if os.path.isfile(path + ".delay"):
            time.sleep(float(open(path + ".delay").read()))
        if self.path != "/.well-known/mta-sts.txt" or not os.path.isfile(path):
            self.send_error(404)
            return
        body = open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        # a TLS-RPT report (RFC 8460 5.4): kept as post-N, with its Content-Type
        n = len([f for f in os.listdir(root) if f.startswith("post-")]) + 1
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(os.path.join(root, "post-%d" % n), "wb") as f:
            f.write(body)
        with open(os.path.join(root, "post-%d.type" % n), "w") as f:
            f.write(self.headers.get("Content-Type") or "")
        with open(log, "a") as f:
            f.write("POST %s %s\n" % ((self.headers.get("Host") or "").split(":")[0], self.path))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer((addr, 443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PYEOF
    : >"$WORK/sts.log"
    spawn https "$PY" "$WORK/sts.py" "$WORK/sts" "$WORK/sts.log" "$PKI/sts.pem" "$PKI/sts.key" "$addr"
    wait_listen https "$addr" 443 30 || die "the policy server did not start"
}

# sts_ternd - instance t for MTA-STS tests, started
sts_ternd() {
    write_main_cf t <<EOF
mynetworks = 127.0.0.0/8
transport_maps = texthash:$WORK/transport
dns_servers = 127.0.0.1:$P_DNS
smtp_tls_security_level = may
smtp_tls_CAfile = $PKI/ca.pem
smtp_tls_loglevel = 1
smtp_tls_session_cache_database = lmdb:$WORK/t/smtp_scache
EOF
    start_ternd t
}
