/* Webhook form bodies and their signature: whatever parses round-trips
 * through the encoder, keys and values stay within their caps, and the
 * signature ignores the pairs' order and accepts exactly itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct flex_webhook_form form, again, reversed;
static char body[1 << 20];

static const char url[] = "http://127.0.0.1:9100/webhooks/backup/status";
static const char token[] = "testtoken";

static void check_param(const struct flex_webhook_param *p)
{
    if (p->key_len > FLEX_WEBHOOK_MAX_KEY || p->value_len > FLEX_WEBHOOK_MAX_VALUE ||
        p->key[p->key_len] != '\0' || p->value[p->value_len] != '\0' ||
        memchr(p->key, '\0', p->key_len) || memchr(p->value, '\0', p->value_len))
        abort();
}

static int same(const struct flex_webhook_param *a, const struct flex_webhook_param *b)
{
    return a->key_len == b->key_len && a->value_len == b->value_len &&
           memcmp(a->key, b->key, a->key_len) == 0 && memcmp(a->value, b->value, a->value_len) == 0;
}

static void check_signature(const uint8_t *data, size_t size)
{
    char sig[FLEX_WEBHOOK_SIG_BUFSZ], sig2[FLEX_WEBHOOK_SIG_BUFSZ];
    if (flex_webhook_sign(token, 9, url, sizeof(url) - 1, &form, sig) != FLEX_WEBHOOK_SIG_LEN ||
        strlen(sig) != FLEX_WEBHOOK_SIG_LEN)
        abort();
    if (!flex_webhook_verify(token, 9, url, sizeof(url) - 1, &form, sig, FLEX_WEBHOOK_SIG_LEN))
        abort();
    /* The order of the pairs is not signed. */
    flex_webhook_form_init(&reversed);
    for (unsigned i = form.n; i-- > 0;)
        if (flex_webhook_form_add(&reversed, form.params[i].key, form.params[i].key_len,
                                  form.params[i].value, form.params[i].value_len) != 0)
            abort();
    if (flex_webhook_sign(token, 9, url, sizeof(url) - 1, &reversed, sig2) !=
            FLEX_WEBHOOK_SIG_LEN ||
        strcmp(sig, sig2) != 0)
        abort();
    /* Any other header fails: a one-character change, and the input's
     * first bytes taken as a header (they pass only if they are it). */
    sig2[0] = sig2[0] == 'A' ? 'B' : 'A';
    if (flex_webhook_verify(token, 9, url, sizeof(url) - 1, &form, sig2, FLEX_WEBHOOK_SIG_LEN))
        abort();
    size_t hl = size < FLEX_WEBHOOK_SIG_LEN ? size : FLEX_WEBHOOK_SIG_LEN;
    bool want = hl == FLEX_WEBHOOK_SIG_LEN && memcmp(data, sig, hl) == 0;
    if (flex_webhook_verify(token, 9, url, sizeof(url) - 1, &form, (const char *)data, hl) != want)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct flex_webhook_error err;
    int n = flex_webhook_form_parse(&form, (const char *)data, size, &err);
    if (n < 0) {
        if (err.code != n || err.offset > size || err.reason[0] == '\0' || form.n != 0)
            abort();
        return 0;
    }
    if ((unsigned)n != form.n || n > FLEX_WEBHOOK_MAX_PARAMS)
        abort();
    for (unsigned i = 0; i < form.n; i++) {
        check_param(&form.params[i]);
        int at = flex_webhook_form_find(&form, form.params[i].key, form.params[i].key_len, 0);
        if (at < 0 || (unsigned)at > i)
            abort();
    }
    /* Encoded and parsed again: the same pairs in the same order. */
    int len = flex_webhook_form_encode(&form, body, sizeof(body));
    if (len < 0 || (size_t)len != strlen(body))
        abort();
    if (flex_webhook_form_parse(&again, body, (size_t)len, &err) != n)
        abort();
    for (unsigned i = 0; i < form.n; i++)
        if (!same(&form.params[i], &again.params[i]))
            abort();
    check_signature(data, size);
    return 0;
}
