#!/bin/sh
# gen-dane.sh - the DANE test chains used by tests/unit/tls/test_dane.c (run once; files are committed)
#   dane-root.pem     "DANE Test Root", self-signed CA (ECDSA P-256)
#   dane-int.pem      "DANE Test Intermediate", a CA signed by the root
#   dane-leaf.pem     mx.dane.example (SANs mx.dane.example, *.wild.dane.example) signed by the
#                     intermediate; the file is leaf + intermediate + root, as a server sends it
#   dane-expired.pem  the same names and signer, valid only in 2001; leaf + intermediate + root
#   dane-leaf.key     the leaf's key (both leaves share it)
set -e
cd "$(dirname "$0")"
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cat >"$w/ca.cnf" <<CNF
[ca]
default_ca = dflt
[dflt]
database = $w/index
new_certs_dir = $w
serial = $w/serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
[leaf]
basicConstraints = CA:FALSE
subjectAltName = DNS:mx.dane.example, DNS:*.wild.dane.example
[inter]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
CNF
: >"$w/index"
echo 01 >"$w/serial"
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ec "$w/root.key"
openssl req -x509 -new -key "$w/root.key" -out dane-root.pem -days 30000 -subj "/CN=DANE Test Root" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
ec "$w/int.key"
openssl req -new -key "$w/int.key" -out "$w/int.csr" -subj "/CN=DANE Test Intermediate"
openssl ca -batch -config "$w/ca.cnf" -extensions inter -cert dane-root.pem -keyfile "$w/root.key" \
    -days 30000 -in "$w/int.csr" -out "$w/int.crt" 2>/dev/null
openssl x509 -in "$w/int.crt" -out dane-int.pem
ec dane-leaf.key
openssl req -new -key dane-leaf.key -out "$w/leaf.csr" -subj "/CN=mx.dane.example"
openssl ca -batch -config "$w/ca.cnf" -extensions leaf -cert dane-int.pem -keyfile "$w/int.key" \
    -days 30000 -in "$w/leaf.csr" -out "$w/leaf.crt" 2>/dev/null
openssl ca -batch -config "$w/ca.cnf" -extensions leaf -cert dane-int.pem -keyfile "$w/int.key" \
    -startdate 20010101000000Z -enddate 20011231000000Z -in "$w/leaf.csr" -out "$w/old.crt" 2>/dev/null
openssl x509 -in "$w/leaf.crt" >dane-leaf.pem
cat dane-int.pem dane-root.pem >>dane-leaf.pem
openssl x509 -in "$w/old.crt" >dane-expired.pem
cat dane-int.pem dane-root.pem >>dane-expired.pem
chmod 600 dane-leaf.key
