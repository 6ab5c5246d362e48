#include "tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>

static void last_error(const char *what, const char *file, char *why, size_t whysz)
{
    char e[160];
    unsigned long code = ERR_peek_last_error();
    if (code)
        ERR_error_string_n(code, e, sizeof(e));
    else
        snprintf(e, sizeof(e), "unknown error");
    ERR_clear_error();
    snprintf(why, whysz, "%s %s: %s", what, file, e);
}

SSL_CTX *flex_tls_client_ctx(const char *ca, const char *cert, const char *key, bool verify,
                             char *why, size_t whysz)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(why, whysz, "cannot create a TLS context (out of memory)");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (ca && ca[0]) {
            if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
                last_error("cannot read the CA file", ca, why, whysz);
                goto fail;
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            last_error("cannot read", "the system's CA store", why, whysz);
            goto fail;
        }
    }
    if ((cert && cert[0]) != (key && key[0])) {
        snprintf(why, whysz, "a client certificate needs both its certificate and its key file");
        goto fail;
    }
    if (cert && cert[0]) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
            last_error("cannot read the client certificate", cert, why, whysz);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            last_error("cannot read the client key", key, why, whysz);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            last_error("the client key does not match the certificate", cert, why, whysz);
            goto fail;
        }
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int flex_tls_client_peer(SSL *ssl, const char *host, bool verify)
{
    unsigned char tmp[16];
    bool is_ip = inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
    if (!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1)
        return -1;
    if (!verify)
        return 0;
    /* The name or address dialled, checked against the certificate. */
    if (is_ip)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS); /* "f*.example.com" no */
    return SSL_set1_host(ssl, host) == 1 ? 0 : -1;
}

void flex_tls_reason(const SSL *ssl, char *buf, size_t n)
{
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    if (v != X509_V_OK)
        snprintf(buf, n, "certificate: %s", X509_verify_cert_error_string(v));
    else if (e)
        ERR_error_string_n(e, buf, n);
    else
        snprintf(buf, n, "the connection closed during TLS");
    ERR_clear_error();
}
