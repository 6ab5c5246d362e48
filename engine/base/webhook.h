/*
 * Twilio-style webhooks, sans-I/O: the application/x-www-form-urlencoded
 * bodies of status callbacks and inbound messages, and their
 * X-Twilio-Signature.
 *
 * The form parser is bounded everywhere: a body of at most
 * FLEX_WEBHOOK_MAX_BODY bytes, at most FLEX_WEBHOOK_MAX_PARAMS pairs, keys
 * of at most FLEX_WEBHOOK_MAX_KEY and values of at most
 * FLEX_WEBHOOK_MAX_VALUE bytes once decoded.  '+' decodes to a space and
 * %XX to its byte; a '%' without two hex digits, and a NUL byte (raw or
 * %00), reject the whole body.  Empty segments ("a=1&&b=2", a trailing
 * '&') are skipped; a segment without '=' is a key with an empty value.
 * Duplicate keys are kept, in order: Twilio signs each of them.  Text is
 * not checked for UTF-8 here (the consumer of each field does that).
 *
 * Decoded keys and values are copied, NUL-terminated, into the form's own
 * arena, so a form must not be copied by value (its pointers point into
 * itself).  An all-zero form is a valid empty one.
 *
 * The signature (https://www.twilio.com/docs/usage/webhooks/webhooks-security)
 * is Base64(HMAC-SHA1(auth_token, URL + k1 + v1 + k2 + v2 ...)) over every
 * POST parameter sorted by key in byte order, equal keys by value; URL is
 * the full URL the request was sent to, query string included, exactly as
 * the sender wrote it.  OpenSSL computes the MAC (it allocates internally:
 * the only allocation of this module).
 */
#ifndef FLEX_WEBHOOK_H
#define FLEX_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

#define FLEX_WEBHOOK_MAX_BODY (16 * 1024)
#define FLEX_WEBHOOK_MAX_PARAMS 64
#define FLEX_WEBHOOK_MAX_KEY 64
#define FLEX_WEBHOOK_MAX_VALUE 4096
/* Every decoded byte of a body (never more than the body) and a NUL after
 * each key and value. */
#define FLEX_WEBHOOK_ARENA (FLEX_WEBHOOK_MAX_BODY + 2 * FLEX_WEBHOOK_MAX_PARAMS)
#define FLEX_WEBHOOK_SIG_LEN 28 /* Base64 of the 20 bytes of HMAC-SHA1 */
#define FLEX_WEBHOOK_SIG_BUFSZ (FLEX_WEBHOOK_SIG_LEN + 1)

/* What exactly was wrong with a body, beside the FLEX_E_* code. */
enum flex_webhook_why {
    FLEX_WEBHOOK_OK,
    FLEX_WEBHOOK_BODY_TOO_LONG, /* FLEX_E_TOOLONG */
    FLEX_WEBHOOK_BAD_ESCAPE,    /* FLEX_E_SYNTAX: '%' without two hex digits */
    FLEX_WEBHOOK_NUL,           /* FLEX_E_SYNTAX: a NUL byte once decoded */
    FLEX_WEBHOOK_TOO_MANY,      /* FLEX_E_TOOMANY: more than MAX_PARAMS pairs */
    FLEX_WEBHOOK_KEY_TOO_LONG,  /* FLEX_E_TOOLONG */
    FLEX_WEBHOOK_VALUE_TOO_LONG /* FLEX_E_TOOLONG */
};

/* Why a body was rejected, for the operator (no field text in it). */
struct flex_webhook_error {
    int code; /* FLEX_E_* */
    enum flex_webhook_why why;
    size_t offset; /* byte offset in the body where the problem is */
    char reason[96];
};

struct flex_webhook_param {
    const char *key; /* decoded, NUL-terminated, in the form's arena */
    size_t key_len;
    const char *value; /* likewise */
    size_t value_len;
};

struct flex_webhook_form {
    unsigned n; /* params[0 .. n-1] are set, in body order */
    struct flex_webhook_param params[FLEX_WEBHOOK_MAX_PARAMS];
    size_t _used;
    char _arena[FLEX_WEBHOOK_ARENA];
};

/* Empties |f| (all-zero is empty too). */
void flex_webhook_form_init(struct flex_webhook_form *f);

/* Parses |len| bytes at |body| (borrowed; need not be NUL-terminated) into
 * |f|, which is emptied first.  Returns the number of pairs (>= 0), or
 * with |*err| filled (when |err| is not NULL) and |f| empty:
 *   FLEX_E_TOOLONG   the body, a key or a value over its cap
 *   FLEX_E_SYNTAX    a malformed %-escape, or a NUL byte
 *   FLEX_E_TOOMANY   more than FLEX_WEBHOOK_MAX_PARAMS pairs */
int flex_webhook_form_parse(struct flex_webhook_form *f, const char *body, size_t len,
                            struct flex_webhook_error *err);

/* Appends one pair (both borrowed, copied; not encoded) to |f|, for a
 * sender building a body.  Returns 0, or FLEX_E_TOOMANY (|f| full),
 * FLEX_E_TOOLONG (key or value over its cap), FLEX_E_INVAL (a NUL byte in
 * either), FLEX_E_NOSPACE (the arena full); |f| is unchanged on error. */
int flex_webhook_form_add(struct flex_webhook_form *f, const char *key, size_t key_len,
                          const char *value, size_t value_len);

/* The first pair of |f| whose key is |key| (NUL-terminated, borrowed), or
 * NULL.  The result is valid until |f| is parsed into, emptied or freed. */
const struct flex_webhook_param *flex_webhook_form_get(const struct flex_webhook_form *f,
                                                       const char *key);

/* The index of the first pair at or after |from| whose key is the
 * |key_len| bytes at |key| (borrowed), or FLEX_E_NOTFOUND: walks
 * duplicate keys. */
int flex_webhook_form_find(const struct flex_webhook_form *f, const char *key, size_t key_len,
                           unsigned from);

/* Writes |f| as a form body into |out| (|cap| bytes, NUL-terminated):
 * "k=v&k=v", pairs in order, bytes other than ALPHA / DIGIT / "-._~"
 * percent-encoded (%XX, upper case) and a space as '+'.  Returns the
 * length written (without the NUL), or FLEX_E_NOSPACE when it does not
 * fit (|out| then holds an empty string when |cap| > 0). */
int flex_webhook_form_encode(const struct flex_webhook_form *f, char *out, size_t cap);

/* The X-Twilio-Signature of |f| sent to the |url_len| bytes at |url| under
 * the |token_len| bytes at |token| (all borrowed), into |out|
 * (NUL-terminated).  Returns FLEX_WEBHOOK_SIG_LEN, or FLEX_E_INVAL (an
 * empty token; OpenSSL failed). */
int flex_webhook_sign(const char *token, size_t token_len, const char *url, size_t url_len,
                      const struct flex_webhook_form *f, char out[FLEX_WEBHOOK_SIG_BUFSZ]);

/* Whether |header| (|header_len| bytes, borrowed; NULL when the request
 * had none) is the signature of |f| sent to |url| under |token|.  The
 * comparison takes the same time wherever the first difference is
 * (CRYPTO_memcmp).  False for a missing header, one of another length, an
 * empty token. */
bool flex_webhook_verify(const char *token, size_t token_len, const char *url, size_t url_len,
                         const struct flex_webhook_form *f, const char *header, size_t header_len);

#endif
