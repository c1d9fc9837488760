#!/usr/bin/env bash
# NAME
#	test_tlsrpt.sh - issue 14 check 3: TLS-RPT (RFC 8460) reports of the MTA-STS results
# DESCRIPTION
#	sts_env.sh serves MTA-STS for three domains (policy server on 127.0.0.78:443), each with
#	a _smtp._tls record "v=TLSRPTv1; rua=mailto:reports@rua.test"; rua.test goes to a
#	Postfix smtp-sink through transport_maps. One message each:
#	  ok.test   enforce, the sink's certificate names mx.ok.test: one successful session
#	  bad.test  enforce, the certificate names localhost: every attempt fails
#	            (certificate-host-mismatch), until the message is put on hold
#	  tst.test  testing, the same certificate: delivered, one failed session; its rua also
#	            names https://mta-sts.tst.test/tlsrpt, where the report is POSTed
#	Then `ternctl tlsrpt send` queues one report per domain. The sink gets three messages:
#	multipart/report; report-type="tlsrpt" with the TLS-Report-Domain header and an
#	application/tlsrpt+gzip part, whose JSON validates against tlsrpt-schema.json (RFC 8460
#	section 4, checked with python3-jsonschema) and holds the counts the maillog shows:
#	ok 1/0, bad 0/N (N = the attempts logged), tst 0/1, with the policy strings and MX.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_init tlsrpt
need_root "port 443 on 127.0.0.78 for the policy server"
"$PY" -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema not installed"
. "$(dirname "$0")/sts_env.sh"
DOMAINS=(ok bad tst)
STS_DNS_EXTRA=()
for d in ok bad; do
    STS_DNS_EXTRA+=(--txt-record="_smtp._tls.$d.test,v=TLSRPTv1; rua=mailto:reports@rua.test")
done
# on its command line dnsmasq splits a value at commas into character-strings; in a
# configuration file a quoted value stays one string, commas included
echo 'txt-record=_smtp._tls.tst.test,"v=TLSRPTv1; rua=mailto:reports@rua.test,https://mta-sts.tst.test/tlsrpt"' >"$WORK/dns-extra.conf"
STS_DNS_EXTRA+=(--conf-file="$WORK/dns-extra.conf")
sts_env 127.0.0.78 "${DOMAINS[@]}"
pki_leaf "$PKI" mxok mx.ok.test ca || die "cannot make mx.ok.test's certificate"
read -r P_OK P_BAD P_TST P_RUA < <(pick_ports 4)
sts_policy STSv1 enforce mx.ok.test >"$WORK/sts/mta-sts.ok.test"
sts_policy STSv1 enforce mx.bad.test >"$WORK/sts/mta-sts.bad.test"
sts_policy STSv1 testing mx.tst.test >"$WORK/sts/mta-sts.tst.test"

start_tls_sink ok "$P_OK" --cert "$PKI/mxok.pem" --key "$PKI/mxok.key" || die "python sink ok"
start_tls_sink bad "$P_BAD" --cert "$PKI/server.pem" --key "$PKI/server.key" || die "sink bad"
start_tls_sink tst "$P_TST" --cert "$PKI/server.pem" --key "$PKI/server.key" || die "sink tst"
start_sink rua "127.0.0.1:$P_RUA" || die "smtp-sink for the reports"

cat >"$WORK/transport" <<EOT
ok.test smtp:ok.test:$P_OK
bad.test smtp:bad.test:$P_BAD
tst.test smtp:tst.test:$P_TST
rua.test smtp:[127.0.0.1]:$P_RUA
EOT
sts_ternd || die "ternd t did not start"

for d in "${DOMAINS[@]}"; do
    check "submit for a@$d.test" swaks_send t "a@$d.test"
done
check "ok.test: delivered" wait_until 30 maillog_sent t a@ok.test
check "tst.test: delivered" wait_until 30 maillog_sent t a@tst.test
two_tries() { (($(maillog_count t 'to=<a@bad.test>, .*status=deferred') >= 2)); }
check "bad.test: deferred twice" wait_until 30 two_tries
BADQ=$(ternctl t queue | grep -Eo '^[0-9A-F]{16}' | head -n 1)
check "bad.test: its message put on hold" ternctl t hold "$BADQ"
sleep 3 # an attempt under way ends
BAD_N=$(maillog_count t 'to=<a@bad.test>, .*status=deferred')
say "bad.test: $BAD_N failed attempts"

out=$(ternctl t tlsrpt send 2>&1)
say "ternctl tlsrpt send: $out"
check "ternctl tlsrpt send: a report for each of the three domains" \
    test "$(grep -c 'report .* queued to reports@rua.test' <<<"$out")" -eq 3
check "the three reports reach the rua mailbox" wait_until 30 sink_has rua 3
check "tst.test's report was POSTed to its https: rua too" grep -q '^POST mta-sts.tst.test /tlsrpt' "$WORK/sts.log"
check "... as application/tlsrpt+gzip" grep -qx 'application/tlsrpt+gzip' "$WORK/sts/post-1.type"

cat >"$WORK/check.py" <<'PYEOF'
import email, glob, gzip, json, sys, jsonschema
schema = json.load(open(sys.argv[2]))
want = {"ok.test": (1, 0, None), "bad.test": (0, int(sys.argv[3]), "certificate-host-mismatch"),
        "tst.test": (0, 1, "certificate-host-mismatch")}
mode = {"ok.test": "enforce", "bad.test": "enforce", "tst.test": "testing"}
seen = set()
def check(what, cond):
    print(("ok " if cond else "FAIL ") + what)
for path in sorted(glob.glob(sys.argv[1] + "/*")):
    raw = open(path, "rb").read()
    raw = raw[raw.find(b"\n") + 1:] if raw.startswith(b"From ") else raw
    msg = email.message_from_bytes(raw)
    dom = msg.get("TLS-Report-Domain")
    if dom not in want:
        continue
    seen.add(dom)
    check(dom + ": multipart/report; report-type=tlsrpt",
          msg.get_content_type() == "multipart/report" and msg.get_param("report-type") == "tlsrpt")
    check(dom + ": Subject names the domain", ("Report Domain: " + dom) in msg.get("Subject", ""))
    parts = [p for p in msg.walk() if p.get_content_type() == "application/tlsrpt+gzip"]
    check(dom + ": one application/tlsrpt+gzip part", len(parts) == 1)
    if not parts:
        continue
    name = parts[0].get_filename() or ""
    check(dom + ": its file name is submitter!domain!start!end!id.json.gz",
          name.endswith(".json.gz") and name.split("!")[1] == dom)
    rep = json.loads(gzip.decompress(parts[0].get_payload(decode=True)))
    try:
        jsonschema.validate(rep, schema)
        check(dom + ": the JSON validates against the RFC 8460 schema", True)
    except jsonschema.ValidationError as e:
        check(dom + ": the JSON validates against the RFC 8460 schema (%s)" % e.message, False)
    pol = [p for p in rep["policies"] if p["policy"]["policy-type"] == "sts"]
    check(dom + ": one sts policy", len(pol) == 1)
    if len(pol) != 1:
        continue
    p = pol[0]
    ok, failed, rtype = want[dom]
    s = p["summary"]
    check(dom + ": %d successful, %d failed sessions (got %d, %d)" % (
        ok, failed, s["total-successful-session-count"], s["total-failure-session-count"]),
        s["total-successful-session-count"] == ok and s["total-failure-session-count"] == failed)
    check(dom + ": policy-domain and mx-host",
          p["policy"]["policy-domain"] == dom and p["policy"].get("mx-host") == ["mx." + dom])
    check(dom + ": the policy string says mode " + mode[dom],
          "mode: " + mode[dom] in p["policy"].get("policy-string", []))
    fd = p.get("failure-details", [])
    if rtype:
        check(dom + ": failure details: %s at mx.%s (127.0.0.1), %d sessions" % (rtype, dom, failed),
              len(fd) == 1 and fd[0]["result-type"] == rtype and
              fd[0].get("receiving-mx-hostname") == "mx." + dom and
              fd[0].get("receiving-ip") == "127.0.0.1" and fd[0]["failed-session-count"] == failed)
    else:
        check(dom + ": no failure details", not fd)
check("a report for each domain (got %s)" % sorted(seen), seen == set(want))
posted = json.loads(gzip.decompress(open(sys.argv[4], "rb").read()))
try:
    jsonschema.validate(posted, schema)
    check("the POSTed report validates against the RFC 8460 schema", True)
except jsonschema.ValidationError as e:
    check("the POSTed report validates against the RFC 8460 schema (%s)" % e.message, False)
check("the POSTed report is tst.test's",
      [p["policy"]["policy-domain"] for p in posted["policies"]] == ["tst.test"])
PYEOF
run_checks "$PY" "$WORK/check.py" "$(sink_dir rua)" "$(dirname "$0")/tlsrpt-schema.json" "$BAD_N" "$WORK/sts/post-1"

out2=$(ternctl t tlsrpt send 2>&1)
check "a second send has nothing left to report" \
    bash -c "! grep -q 'queued' <<<\"\$1\"" _ "$out2"
it_done
