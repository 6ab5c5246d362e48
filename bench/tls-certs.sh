#!/bin/sh
# Makes a throw-away PKI for Redis over TLS (rediss://) in DIR:
#   ca.crt ca.key            a CA
#   redis.crt redis.key      the server's, signed by it, for SAN (default
#                            IP:127.0.0.1,DNS:redis.flex.test: "localhost"
#                            deliberately absent, so that the tests can dial a
#                            name the certificate does not hold)
#   client.crt client.key    a client certificate signed by the CA
#   other-ca.crt             a second CA that signed nothing here
# Used by tests/integ/redis_tls.sh and `flexbench --redis-tls`.  Keys are
# P-256, valid 2 days; never use them for anything real.
#   sh bench/tls-certs.sh DIR [SAN]
set -eu
dir=$1
san=${2:-IP:127.0.0.1,DNS:redis.flex.test}
mkdir -p "$dir"
cd "$dir"
umask 077
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=Flex test CA" -out ca.crt
key other-ca.key
openssl req -x509 -new -key other-ca.key -sha256 -days 2 -subj "/CN=Flex other CA" \
    -out other-ca.crt
sign() { # name subject extensions
    key "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 2 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
sign redis "/CN=redis.flex.test" "subjectAltName=$san
extendedKeyUsage=serverAuth"
sign client "/CN=flexd" "extendedKeyUsage=clientAuth"
chmod 644 ca.crt other-ca.crt redis.crt client.crt
