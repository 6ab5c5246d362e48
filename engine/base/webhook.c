#include "webhook.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static int fail(struct flex_webhook_error *err, int code, enum flex_webhook_why why, size_t offset,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(struct flex_webhook_error *err, int code, enum flex_webhook_why why, size_t offset,
                const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        err->why = why;
        err->offset = offset;
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
        va_end(ap);
    }
    return code;
}

void flex_webhook_form_init(struct flex_webhook_form *f)
{
    f->n = 0;
    f->_used = 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes body[from, to) into the arena (NUL-terminated), at most |max|
 * bytes.  Returns the decoded length, or a FLEX_E_* code with |*err|. */
static int decode(struct flex_webhook_form *f, const char *body, size_t from, size_t to, size_t max,
                  bool is_key, struct flex_webhook_error *err)
{
    char *out = f->_arena + f->_used;
    size_t room = sizeof(f->_arena) - f->_used, n = 0;
    if (room == 0)
        return fail(err, FLEX_E_TOOLONG, FLEX_WEBHOOK_BODY_TOO_LONG, from,
                    "decoded body over %d bytes", FLEX_WEBHOOK_ARENA);
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)body[i];
        size_t at = i;
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < to ? hexval((unsigned char)body[i + 1]) : -1;
            int lo = hi >= 0 ? hexval((unsigned char)body[i + 2]) : -1;
            if (lo < 0)
                return fail(err, FLEX_E_SYNTAX, FLEX_WEBHOOK_BAD_ESCAPE, at,
                            "malformed %%-escape at offset %zu (want %%XX, X hex)", at);
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0')
            return fail(err, FLEX_E_SYNTAX, FLEX_WEBHOOK_NUL, at, "NUL byte at offset %zu", at);
        if (n == max && is_key)
            return fail(err, FLEX_E_TOOLONG, FLEX_WEBHOOK_KEY_TOO_LONG, from,
                        "key at offset %zu longer than %d bytes", from, FLEX_WEBHOOK_MAX_KEY);
        if (n == max)
            return fail(err, FLEX_E_TOOLONG, FLEX_WEBHOOK_VALUE_TOO_LONG, from,
                        "value at offset %zu longer than %d bytes", from, FLEX_WEBHOOK_MAX_VALUE);
        /* Decoding never grows the text, so a body within its cap always
         * fits the arena; checked all the same. */
        if (n + 1 >= room) /* this byte and the NUL */
            return fail(err, FLEX_E_TOOLONG, FLEX_WEBHOOK_BODY_TOO_LONG, at,
                        "decoded body over %d bytes", FLEX_WEBHOOK_ARENA);
        out[n++] = (char)c;
    }
    out[n] = '\0';
    f->_used += n + 1;
    return (int)n;
}

/* One "key[=value]" segment body[from, to), not empty. */
static int parse_pair(struct flex_webhook_form *f, const char *body, size_t from, size_t to,
                      struct flex_webhook_error *err)
{
    if (f->n == FLEX_WEBHOOK_MAX_PARAMS)
        return fail(err, FLEX_E_TOOMANY, FLEX_WEBHOOK_TOO_MANY, from,
                    "more than %d parameters (the next at offset %zu)", FLEX_WEBHOOK_MAX_PARAMS,
                    from);
    const char *eq = memchr(body + from, '=', to - from);
    size_t kend = eq ? (size_t)(eq - body) : to;
    struct flex_webhook_param *p = &f->params[f->n];
    p->key = f->_arena + f->_used;
    int kl = decode(f, body, from, kend, FLEX_WEBHOOK_MAX_KEY, true, err);
    if (kl < 0)
        return kl;
    p->key_len = (size_t)kl;
    p->value = f->_arena + f->_used;
    int vl = decode(f, body, eq ? kend + 1 : to, to, FLEX_WEBHOOK_MAX_VALUE, false, err);
    if (vl < 0)
        return vl;
    p->value_len = (size_t)vl;
    f->n++;
    return 0;
}

int flex_webhook_form_parse(struct flex_webhook_form *f, const char *body, size_t len,
                            struct flex_webhook_error *err)
{
    flex_webhook_form_init(f);
    if (len > FLEX_WEBHOOK_MAX_BODY)
        return fail(err, FLEX_E_TOOLONG, FLEX_WEBHOOK_BODY_TOO_LONG, FLEX_WEBHOOK_MAX_BODY,
                    "body of %zu bytes exceeds %d", len, FLEX_WEBHOOK_MAX_BODY);
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        if (end > i) {
            int rc = parse_pair(f, body, i, end, err);
            if (rc < 0) {
                flex_webhook_form_init(f);
                return rc;
            }
        }
        i = end + 1;
    }
    if (err) {
        err->code = 0;
        err->why = FLEX_WEBHOOK_OK;
        err->offset = 0;
        err->reason[0] = '\0';
    }
    return (int)f->n;
}

int flex_webhook_form_add(struct flex_webhook_form *f, const char *key, size_t key_len,
                          const char *value, size_t value_len)
{
    if (f->n == FLEX_WEBHOOK_MAX_PARAMS)
        return FLEX_E_TOOMANY;
    if (key_len > FLEX_WEBHOOK_MAX_KEY || value_len > FLEX_WEBHOOK_MAX_VALUE)
        return FLEX_E_TOOLONG;
    if (memchr(key, '\0', key_len) || memchr(value, '\0', value_len))
        return FLEX_E_INVAL;
    if (key_len + value_len + 2 > sizeof(f->_arena) - f->_used)
        return FLEX_E_NOSPACE;
    struct flex_webhook_param *p = &f->params[f->n++];
    char *k = f->_arena + f->_used;
    memcpy(k, key, key_len);
    k[key_len] = '\0';
    char *v = k + key_len + 1;
    memcpy(v, value, value_len);
    v[value_len] = '\0';
    f->_used += key_len + value_len + 2;
    *p = (struct flex_webhook_param){k, key_len, v, value_len};
    return 0;
}

int flex_webhook_form_find(const struct flex_webhook_form *f, const char *key, size_t key_len,
                           unsigned from)
{
    for (unsigned i = from; i < f->n && i < FLEX_WEBHOOK_MAX_PARAMS; i++)
        if (f->params[i].key_len == key_len && memcmp(f->params[i].key, key, key_len) == 0)
            return (int)i;
    return FLEX_E_NOTFOUND;
}

const struct flex_webhook_param *flex_webhook_form_get(const struct flex_webhook_form *f,
                                                       const char *key)
{
    int i = flex_webhook_form_find(f, key, strlen(key), 0);
    return i < 0 ? NULL : &f->params[i];
}

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Appends |s| encoded at |*o| in |out| (|cap| bytes, one kept for the
 * NUL); false when it does not fit. */
static bool encode_str(const char *s, size_t len, char *out, size_t cap, size_t *o)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t at = *o;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t need = unreserved(c) || c == ' ' ? 1 : 3;
        if (cap - at <= need)
            return false;
        if (need == 1) {
            out[at++] = c == ' ' ? '+' : (char)c;
        } else {
            out[at++] = '%';
            out[at++] = hex[c >> 4];
            out[at++] = hex[c & 15];
        }
    }
    *o = at;
    return true;
}

static bool put_char(char c, char *out, size_t cap, size_t *o)
{
    if (cap - *o <= 1)
        return false;
    out[(*o)++] = c;
    return true;
}

int flex_webhook_form_encode(const struct flex_webhook_form *f, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return FLEX_E_NOSPACE;
    for (unsigned i = 0; i < f->n && i < FLEX_WEBHOOK_MAX_PARAMS; i++) {
        const struct flex_webhook_param *p = &f->params[i];
        if ((i > 0 && !put_char('&', out, cap, &o)) ||
            !encode_str(p->key, p->key_len, out, cap, &o) || !put_char('=', out, cap, &o) ||
            !encode_str(p->value, p->value_len, out, cap, &o)) {
            out[0] = '\0';
            return FLEX_E_NOSPACE;
        }
    }
    out[o] = '\0';
    return (int)o;
}

/* Byte order of (key, value), shorter first when one is a prefix. */
static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int cmp_param(const struct flex_webhook_param *a, const struct flex_webhook_param *b)
{
    int c = cmp_bytes(a->key, a->key_len, b->key, b->key_len);
    return c ? c : cmp_bytes(a->value, a->value_len, b->value, b->value_len);
}

/* Insertion sort of at most MAX_PARAMS indices: stable and allocation-free. */
static void sort_params(const struct flex_webhook_form *f, uint8_t *idx, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t v = (uint8_t)i;
        unsigned j = i;
        while (j > 0 && cmp_param(&f->params[idx[j - 1]], &f->params[v]) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

/* HMAC-SHA1 through EVP_MAC (HMAC_CTX is deprecated in OpenSSL 3), fed
 * piece by piece so the signed string is never assembled. */
static int mac_sha1(const char *token, size_t token_len, const char *url, size_t url_len,
                    const struct flex_webhook_form *f, unsigned char md[20])
{
    unsigned n = f->n < FLEX_WEBHOOK_MAX_PARAMS ? f->n : FLEX_WEBHOOK_MAX_PARAMS;
    uint8_t idx[FLEX_WEBHOOK_MAX_PARAMS];
    sort_params(f, idx, n);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "SHA1";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    bool ok = ctx && EVP_MAC_init(ctx, (const unsigned char *)token, token_len, params) &&
              EVP_MAC_update(ctx, (const unsigned char *)url, url_len);
    for (unsigned i = 0; ok && i < n; i++) {
        const struct flex_webhook_param *p = &f->params[idx[i]];
        ok = EVP_MAC_update(ctx, (const unsigned char *)p->key, p->key_len) &&
             EVP_MAC_update(ctx, (const unsigned char *)p->value, p->value_len);
    }
    size_t mdlen = 0;
    ok = ok && EVP_MAC_final(ctx, md, &mdlen, 20) && mdlen == 20;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok ? 0 : FLEX_E_INVAL;
}

int flex_webhook_sign(const char *token, size_t token_len, const char *url, size_t url_len,
                      const struct flex_webhook_form *f, char out[FLEX_WEBHOOK_SIG_BUFSZ])
{
    unsigned char md[20];
    out[0] = '\0';
    if (token_len == 0)
        return FLEX_E_INVAL;
    int rc = mac_sha1(token, token_len, url, url_len, f, md);
    if (rc < 0)
        return rc;
    /* EVP_EncodeBlock writes 4 * ceil(20 / 3) = 28 characters and a NUL. */
    EVP_EncodeBlock((unsigned char *)out, md, (int)sizeof(md));
    return FLEX_WEBHOOK_SIG_LEN;
}

bool flex_webhook_verify(const char *token, size_t token_len, const char *url, size_t url_len,
                         const struct flex_webhook_form *f, const char *header, size_t header_len)
{
    char want[FLEX_WEBHOOK_SIG_BUFSZ];
    if (!header || header_len != FLEX_WEBHOOK_SIG_LEN)
        return false;
    if (flex_webhook_sign(token, token_len, url, url_len, f, want) != FLEX_WEBHOOK_SIG_LEN)
        return false;
    return CRYPTO_memcmp(want, header, FLEX_WEBHOOK_SIG_LEN) == 0;
}
