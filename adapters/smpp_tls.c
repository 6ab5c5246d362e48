/* SMPP over TLS: OpenSSL driven through memory BIOs, so the socket stays on
 * io_uring; ciphertext in through flex_smpp_tls_input(), out through
 * flex_smpp_tls_output(). */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

#include "err.h"
#include "mem.h"
#include "smpp_int.h"
#include "smpp_session.h"

#define PLAIN_CAP (FLEX_SMPP_MAX_PDU * 4)

/* Why the session's TLS failed, into s->tls_err: the certificate check's
 * verdict when it failed (expired, wrong host, unknown CA), else OpenSSL's
 * last error. */
static void tls_reason(struct session *s)
{
    long v = SSL_get_verify_result(s->ssl);
    unsigned long e = ERR_peek_last_error();
    if (v != X509_V_OK)
        snprintf(s->tls_err, sizeof(s->tls_err), "certificate: %s",
                 X509_verify_cert_error_string(v));
    else if (e)
        ERR_error_string_n(e, s->tls_err, sizeof(s->tls_err));
    else
        snprintf(s->tls_err, sizeof(s->tls_err), "the connection closed during TLS");
}

int flex_smpp_tls_ctx(struct flex_smpp_client *c)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return FLEX_E_INVAL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (c->cfg.tls_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = c->tls_ca ? SSL_CTX_load_verify_locations(ctx, c->tls_ca, NULL)
                           : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            SSL_CTX_free(ctx);
            return FLEX_E_INVAL;
        }
    }
    c->tls_ctx = ctx;
    return 0;
}

void flex_smpp_tls_ctx_free(struct flex_smpp_client *c)
{
    SSL_CTX_free(c->tls_ctx);
    c->tls_ctx = NULL;
}

int flex_smpp_tls_start(struct flex_smpp_client *c, struct session *s)
{
    SSL *ssl = SSL_new(c->tls_ctx);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    if (!ssl || !rb || !wb) {
        SSL_free(ssl);
        BIO_free(rb);
        BIO_free(wb);
        return FLEX_E_INVAL;
    }
    SSL_set_bio(ssl, rb, wb); /* the SSL owns both BIOs now */
    SSL_set_connect_state(ssl);
    unsigned char tmp[16];
    bool is_ip = inet_pton(AF_INET, c->host, tmp) == 1 || inet_pton(AF_INET6, c->host, tmp) == 1;
    if (!is_ip)
        SSL_set_tlsext_host_name(ssl, c->host);
    if (c->cfg.tls_verify) {
        /* Name or address checked against the certificate. */
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(vp, c->host);
        else
            SSL_set1_host(ssl, c->host);
    }
    s->ssl = ssl;
    s->rbio = rb;
    s->wbio = wb;
    if (!s->plain)
        s->plain = flex_malloc(PLAIN_CAP);
    s->plain_len = 0;
    return 0;
}

void flex_smpp_tls_end(struct session *s)
{
    if (s->ssl)
        SSL_free(s->ssl);
    s->ssl = NULL;
    s->rbio = s->wbio = NULL;
    s->plain_len = 0;
}

int flex_smpp_tls_input(struct session *s, const uint8_t *buf, size_t len)
{
    int done = 0;
    if (len && BIO_write(s->rbio, buf, (int)len) != (int)len)
        return FLEX_E_INVAL;
    if (!SSL_is_init_finished(s->ssl)) {
        int r = SSL_do_handshake(s->ssl);
        if (r != 1) {
            int e = SSL_get_error(s->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                tls_reason(s);
            ERR_clear_error();
            return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : FLEX_E_INVAL;
        }
        done = 1;
    }
    for (;;) {
        if (s->plain_len == PLAIN_CAP)
            return FLEX_E_INVAL; /* the peer floods: reset */
        int r = SSL_read(s->ssl, s->plain + s->plain_len, (int)(PLAIN_CAP - s->plain_len));
        if (r > 0) {
            s->plain_len += (size_t)r;
            continue;
        }
        int e = SSL_get_error(s->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            tls_reason(s);
        ERR_clear_error();
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return done;
        return FLEX_E_INVAL; /* closed or broken */
    }
}

int flex_smpp_tls_output(struct session *s, const uint8_t *plain, size_t len,
                         struct flex_sendbuf *out)
{
    if (len) {
        int r = SSL_write(s->ssl, plain, (int)len);
        if (r != (int)len) {
            ERR_clear_error();
            return FLEX_E_INVAL;
        }
    } else if (!SSL_is_init_finished(s->ssl)) {
        int r = SSL_do_handshake(s->ssl);
        if (r != 1) {
            int e = SSL_get_error(s->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                tls_reason(s);
            ERR_clear_error();
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                return FLEX_E_INVAL;
        }
    }
    size_t pending = BIO_ctrl_pending(s->wbio);
    if (pending == 0)
        return 0;
    int r = BIO_read(s->wbio, flex_sendbuf_reserve(out, pending), (int)pending);
    if (r > 0)
        flex_sendbuf_commit(out, (size_t)r);
    return 0;
}
