/*
 * Client-side TLS set-up shared by every outgoing TLS connection (the SMPP
 * sessions, the Redis store): TLS 1.2 or later, the peer's certificate
 * checked against a CA file (or the system store) and against the name or
 * address dialled, and the reason put in words when that fails.
 */
#ifndef FLEX_TLS_H
#define FLEX_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct ssl_ctx_st;
struct ssl_st;

/* A client context.  |verify|: the peer's certificate must chain to |ca|
 * (a PEM file; NULL or "" the system store).  |cert| and |key| (PEM files,
 * both or neither) are a client certificate for servers that ask for one.
 * Returns NULL with a one-line reason in |why| (names a file, never its
 * contents). */
struct ssl_ctx_st *flex_tls_client_ctx(const char *ca, const char *cert, const char *key,
                                       bool verify, char *why, size_t whysz);

/* Prepares |ssl| for a connection to |host| (a name or an IP address):
 * SNI for a name, and with |verify| the certificate must name |host|.
 * Returns 0, or -1 when OpenSSL refused (out of memory). */
int flex_tls_client_peer(struct ssl_st *ssl, const char *host, bool verify);

/* Why the TLS connection |ssl| failed: the certificate check's verdict when
 * it failed ("certificate: unable to get local issuer certificate",
 * "Hostname mismatch", "certificate has expired"), else OpenSSL's last
 * error, else that the peer closed the connection.  Clears OpenSSL's error
 * queue. */
void flex_tls_reason(const struct ssl_st *ssl, char *buf, size_t n);

#endif
