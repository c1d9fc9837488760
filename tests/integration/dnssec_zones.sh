#!/bin/sh
# NAME
#	dnssec_zones.sh - sign test zones and write an NSD configuration to serve them on loopback
# SYNOPSIS
#	dnssec_zones.sh DIR PORT
#	nsd -c DIR/nsd.conf -d &      # the caller starts (and later stops) NSD
# DESCRIPTION
#	DIR holds one NAME.zone per zone (NAME: the origin, e.g. dane.test.zone), in
#	zone file format with $ORIGIN and $TTL, its SOA and NS first. A zone whose
#	first line is "; signed" is signed with a fresh ECDSA P-256 key pair (KSK and
#	ZSK, ldns-keygen, ldns-signzone) and its DS record is appended to DIR/ta.ds,
#	the trust anchors for the resolver under test; other zones are served
#	unsigned (insecure: no anchor covers them). A record line that ends with
#	"; bogus" gets its RRSIG spoiled after signing (one character of the
#	signature changed), so that a validating resolver calls the answer bogus.
#	NSD listens on 127.0.0.1:PORT only, runs in the foreground as the caller,
#	keeps its files in DIR.
# DIAGNOSTICS
#	Exit 0, or non-zero with a message when a tool fails.
set -eu
dir=$1 port=$2
cd "$dir"
: >ta.ds
{
    printf 'server:\n  ip-address: 127.0.0.1@%s\n  port: %s\n  database: ""\n' "$port" "$port"
    printf '  zonelistfile: "%s/zone.list"\n  xfrdfile: "%s/xfrd.state"\n' "$PWD" "$PWD"
    printf '  pidfile: ""\n  username: ""\n  chroot: ""\n  zonesdir: "%s"\n' "$PWD"
    printf '  logfile: "%s/nsd.log"\n  verbosity: 1\nremote-control:\n  control-enable: no\n' "$PWD"
} >nsd.conf
for z in *.zone; do
    name=${z%.zone}
    file=$z
    if head -1 "$z" | grep -q '^; signed'; then
        ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$name")
        zsk=$(ldns-keygen -a ECDSAP256SHA256 "$name")
        ldns-signzone -n -f "$name.signed" "$z" "$ksk" "$zsk"
        cat "$ksk.ds" >>ta.ds
        # owner and type of each record marked "; bogus": spoil the RRSIG that covers it
        grep '; bogus$' "$z" | while read -r owner rest; do
            type=$(echo "$rest" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[A-Z]+$/ && $i != "IN") { print $i; exit } }')
            case $owner in *.) fqdn=$owner ;; @) fqdn=$name. ;; *) fqdn=$owner.$name. ;; esac
            awk -v o="$fqdn" -v t="$type" 'BEGIN { OFS = "\t" }
                tolower($1) == tolower(o) && $4 == "RRSIG" && $5 == t {
                    s = $NF; c = substr(s, 1, 1); $NF = (c == "A" ? "B" : "A") substr(s, 2) }
                { print }' "$name.signed" >"$name.tmp"
            mv "$name.tmp" "$name.signed"
        done
        file=$name.signed
    fi
    printf 'zone:\n  name: %s\n  zonefile: %s\n' "$name" "$file" >>nsd.conf
done
