#!/bin/sh
# Regenerates the TEST-ONLY certificates of runtime-tests/tls (see README.md).
# Needs openssl. Run from this directory: sh generate.sh
set -eu
days=36500   # 100 years: the suites must not start failing when a certificate expires
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The test CA (its key is thrown away: nothing else is ever signed with it).
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
  -subj "/CN=tern runtime-tests CA (TEST ONLY)" \
  -keyout "$tmp/ca.key" -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

# The server certificate: localhost and 127.0.0.1, signed by the test CA.
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
  -keyout server.key -out "$tmp/server.csr"
cat > "$tmp/ext.cnf" <<CNF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
CNF
openssl x509 -req -in "$tmp/server.csr" -CA ca.pem -CAkey "$tmp/ca.key" -CAcreateserial \
  -CAserial "$tmp/ca.srl" -days "$days" -sha256 -extfile "$tmp/ext.cnf" -out server.pem

# Another CA that signed nothing here: a client trusting only it must fail the handshake.
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
  -subj "/CN=some other CA (TEST ONLY)" -keyout "$tmp/other.key" -out other-ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

# A key that does not belong to server.pem.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out wrong.key 2>/dev/null
