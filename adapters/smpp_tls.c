/* SMPP over TLS: OpenSSL driven through memory BIOs, so the socket stays on
 * io_uring; ciphertext in through flex_smpp_tls_input(), out through
 * flex_smpp_tls_output(). */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "mem.h"
#include "smpp_int.h"
#include "tls.h"

#define PLAIN_CAP (FLEX_SMPP_MAX_PDU * 4)

static void tls_reason(struct session *s)
{
    flex_tls_reason(s->ssl, s->tls_err, sizeof(s->tls_err));
}

int flex_smpp_tls_ctx(struct flex_smpp_client *c)
{
    char why[256];
    c->tls_ctx = flex_tls_client_ctx(c->tls_ca, NULL, NULL, c->cfg.tls_verify, why, sizeof(why));
    if (!c->tls_ctx)
        flex_log(FLEX_LOG_ERROR, NULL, 0, "carrier %s: %s", c->name, why);
    return c->tls_ctx ? 0 : FLEX_E_INVAL;
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
    if (flex_tls_client_peer(ssl, c->host, c->cfg.tls_verify) != 0) {
        SSL_free(ssl);
        return FLEX_E_INVAL;
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
