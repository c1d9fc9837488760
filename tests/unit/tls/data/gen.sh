#!/bin/sh
# gen.sh - make the throwaway test PKI used by tests/unit/tls (run once; files are committed)
#   ca.pem            test CA (RSA 2048)
#   server-rsa.pem    server.example.com (RSA), chain: leaf + ca; key in server-rsa.key
#   server-ec.pem     server.example.com (ECDSA P-256), chain: leaf + ca; key in server-ec.key
#   client.pem        client.example.com (RSA), chain; key in client.key
#   other-ca.pem      an unrelated CA; other.pem/other.key signed by it (untrusted peer)
set -e
cd "$(dirname "$0")"
DAYS=30000
ext() { printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\n' "$1" > ext.tmp; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days $DAYS -subj "/CN=Tern Test CA" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days $DAYS -subj "/CN=Other CA" 2>/dev/null
leaf() { # name keyspec subject san ca
    openssl req -new -newkey "$2" -nodes -keyout "$1.key" -out "$1.csr" -subj "$3" 2>/dev/null
    ext "$4"
    openssl x509 -req -in "$1.csr" -CA "$5.pem" -CAkey "$5.key" -CAcreateserial -days $DAYS -extfile ext.tmp -out "$1.crt" 2>/dev/null
    cat "$1.crt" "$5.pem" > "$1.pem"
    rm -f "$1.csr" "$1.crt"
}
leaf server-rsa rsa:2048 "/CN=server.example.com" "DNS:server.example.com,DNS:*.relay.example.com" ca
openssl ecparam -name prime256v1 -out ec.param
leaf server-ec ec:ec.param "/CN=server.example.com" "DNS:server.example.com,DNS:*.relay.example.com" ca
leaf client rsa:2048 "/CN=client.example.com" "DNS:client.example.com" ca
leaf other rsa:2048 "/CN=server.example.com" "DNS:server.example.com" other-ca
chmod 600 *.key
rm -f ext.tmp ec.param *.srl ca.key other-ca.key
