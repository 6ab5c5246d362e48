/* Twilio-style webhooks: the form parser's decoding and every rejection,
 * the encoder's round trip, and X-Twilio-Signature against Twilio's own
 * documented example and vectors made with openssl. */
#include "test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "webhook.h"

/* The forms are ~18 KiB: static, so the tests do not lean on the stack. */
static struct flex_webhook_form form, form2;

static int parse(struct flex_webhook_form *f, const char *body, struct flex_webhook_error *err)
{
    return flex_webhook_form_parse(f, body, strlen(body), err);
}

static void has(const struct flex_webhook_form *f, unsigned i, const char *key, const char *value)
{
    assert_true(i < f->n);
    assert_int_equal(f->params[i].key_len, strlen(key));
    assert_memory_equal(f->params[i].key, key, strlen(key) + 1);
    assert_int_equal(f->params[i].value_len, strlen(value));
    assert_memory_equal(f->params[i].value, value, strlen(value) + 1);
}

static void test_webhook_parse_decodes(void **state)
{
    (void)state;
    struct flex_webhook_error err = {0};
    assert_int_equal(parse(&form,
                           "To=%2B12025550101&From=%2b12025550100&Body=Hello+world%21+%C3%A9"
                           "&Sms+Sid=SM1",
                           &err),
                     4);
    has(&form, 0, "To", "+12025550101");
    has(&form, 1, "From", "+12025550100");
    has(&form, 2, "Body", "Hello world! \xc3\xa9");
    has(&form, 3, "Sms Sid", "SM1");
    assert_int_equal(err.code, 0);
    const struct flex_webhook_param *p = flex_webhook_form_get(&form, "Body");
    assert_non_null(p);
    assert_string_equal(p->value, "Hello world! \xc3\xa9");
    assert_null(flex_webhook_form_get(&form, "body")); /* keys are case-sensitive */
    assert_null(flex_webhook_form_get(&form, "Missing"));
}

static void test_webhook_parse_edges(void **state)
{
    (void)state;
    assert_int_equal(parse(&form, "", NULL), 0);
    assert_int_equal(parse(&form, "&&&", NULL), 0);
    assert_int_equal(parse(&form, "a", NULL), 1);
    has(&form, 0, "a", "");
    assert_int_equal(parse(&form, "a=&=v&b=1=2&&c=%3D%26&", NULL), 4);
    has(&form, 0, "a", "");
    has(&form, 1, "", "v");
    has(&form, 2, "b", "1=2");
    has(&form, 3, "c", "=&");
    assert_int_equal(parse(&form, "k=%25%2B+", NULL), 1);
    has(&form, 0, "k", "%+ ");
    /* An all-zero form is empty. */
    static struct flex_webhook_form zero;
    assert_int_equal(zero.n, 0);
    assert_null(flex_webhook_form_get(&zero, "a"));
}

static void test_webhook_parse_duplicates(void **state)
{
    (void)state;
    assert_int_equal(parse(&form, "a=2&b=x&a=1&a=3", NULL), 4);
    assert_int_equal(flex_webhook_form_find(&form, "a", 1, 0), 0);
    assert_int_equal(flex_webhook_form_find(&form, "a", 1, 1), 2);
    assert_int_equal(flex_webhook_form_find(&form, "a", 1, 3), 3);
    assert_int_equal(flex_webhook_form_find(&form, "a", 1, 4), FLEX_E_NOTFOUND);
    assert_int_equal(flex_webhook_form_find(&form, "ab", 2, 0), FLEX_E_NOTFOUND);
    assert_string_equal(flex_webhook_form_get(&form, "a")->value, "2");
}

static void rejects(const char *body, size_t len, int code, enum flex_webhook_why why,
                    size_t offset, const char *reason_part)
{
    struct flex_webhook_error err = {0};
    int rc = flex_webhook_form_parse(&form, body, len, &err);
    if (rc != code || err.why != why || err.offset != offset)
        fail_msg("'%.40s' (%zu bytes): got %d why %d offset %zu (%s), want %d why %d offset %zu",
                 body, len, rc, err.why, err.offset, err.reason, code, why, offset);
    if (!strstr(err.reason, reason_part))
        fail_msg("reason '%s' lacks '%s'", err.reason, reason_part);
    assert_int_equal(err.code, code);
    assert_int_equal(form.n, 0); /* nothing half-parsed is left */
}

static void test_webhook_parse_rejects_escapes_and_nul(void **state)
{
    (void)state;
    rejects("a=%", 3, FLEX_E_SYNTAX, FLEX_WEBHOOK_BAD_ESCAPE, 2, "malformed %-escape at offset 2");
    rejects("a=%4", 4, FLEX_E_SYNTAX, FLEX_WEBHOOK_BAD_ESCAPE, 2, "offset 2");
    rejects("a=%4&b=1", 8, FLEX_E_SYNTAX, FLEX_WEBHOOK_BAD_ESCAPE, 2, "offset 2");
    rejects("a=1&b%G1=2", 10, FLEX_E_SYNTAX, FLEX_WEBHOOK_BAD_ESCAPE, 5, "offset 5");
    rejects("a=%zz", 5, FLEX_E_SYNTAX, FLEX_WEBHOOK_BAD_ESCAPE, 2, "%-escape");
    rejects("a=b%", 4, FLEX_E_SYNTAX, FLEX_WEBHOOK_BAD_ESCAPE, 3, "offset 3");
    /* The escape may not borrow the '&' or '=' that ends its field. */
    rejects("a=%1&2", 6, FLEX_E_SYNTAX, FLEX_WEBHOOK_BAD_ESCAPE, 2, "offset 2");
    rejects("a%4=1", 5, FLEX_E_SYNTAX, FLEX_WEBHOOK_BAD_ESCAPE, 1, "offset 1");
    rejects("a=x%00y", 7, FLEX_E_SYNTAX, FLEX_WEBHOOK_NUL, 3, "NUL byte at offset 3");
    rejects("a=1&b\0=2", 8, FLEX_E_SYNTAX, FLEX_WEBHOOK_NUL, 5, "NUL byte at offset 5");
    rejects("%00=1", 5, FLEX_E_SYNTAX, FLEX_WEBHOOK_NUL, 0, "NUL");
}

static void test_webhook_parse_rejects_sizes(void **state)
{
    (void)state;
    static char body[FLEX_WEBHOOK_MAX_BODY + 64];
    /* 64 parameters pass, the 65th is refused. */
    size_t n = 0;
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%sk%d=%d", i ? "&" : "", i, i);
    const char *amp64 = body;
    for (int i = 0; i < 64; i++)
        amp64 = strchr(amp64, '&') + 1;
    assert_int_equal(flex_webhook_form_parse(&form, body, (size_t)(amp64 - 1 - body), NULL), 64);
    has(&form, 63, "k63", "63");
    rejects(body, n, FLEX_E_TOOMANY, FLEX_WEBHOOK_TOO_MANY, (size_t)(amp64 - body),
            "more than 64 parameters");
    /* Empty segments do not count. */
    memmove(body + 2, body, n + 1);
    memcpy(body, "&&", 2);
    assert_int_equal(flex_webhook_form_parse(&form, body, (size_t)(amp64 - 1 - body) + 2, NULL),
                     64);

    /* A key of 64 bytes passes, 65 fails (counted decoded: %41 is one). */
    memset(body, 'k', 64);
    memcpy(body + 64, "=v", 3);
    assert_int_equal(parse(&form, body, NULL), 1);
    assert_int_equal(form.params[0].key_len, 64);
    memcpy(body, "%41", 3);
    assert_int_equal(parse(&form, body, NULL), 1);
    assert_int_equal(form.params[0].key_len, 62);
    memset(body, 'k', 65);
    memcpy(body + 65, "=v", 3);
    rejects(body, 67, FLEX_E_TOOLONG, FLEX_WEBHOOK_KEY_TOO_LONG, 0, "longer than 64 bytes");
    memcpy(body, "a=1&", 4);
    memset(body + 4, 'k', 65);
    rejects(body, 69, FLEX_E_TOOLONG, FLEX_WEBHOOK_KEY_TOO_LONG, 4, "key at offset 4");

    /* A value of 4,096 bytes passes, 4,097 fails. */
    memcpy(body, "v=", 2);
    memset(body + 2, 'x', 4097);
    assert_int_equal(flex_webhook_form_parse(&form, body, 2 + 4096, NULL), 1);
    assert_int_equal(form.params[0].value_len, 4096);
    rejects(body, 2 + 4097, FLEX_E_TOOLONG, FLEX_WEBHOOK_VALUE_TOO_LONG, 2,
            "value at offset 2 longer than 4096 bytes");
    /* ... counted decoded: 4,096 escapes are 4,096 bytes. */
    n = 2;
    for (int i = 0; i < 4096; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%%41");
    assert_int_equal(flex_webhook_form_parse(&form, body, n, NULL), 1);
    assert_int_equal(form.params[0].value_len, 4096);

    /* A body of 16 KiB passes, one byte more fails before anything else. */
    n = 0;
    for (int i = 0; n < FLEX_WEBHOOK_MAX_BODY; i++) {
        body[n++] = i % 4096 == 0 ? '&' : 'x';
        if (i % 4096 == 1)
            body[n - 1] = '=';
    }
    assert_int_equal(flex_webhook_form_parse(&form, body, FLEX_WEBHOOK_MAX_BODY, NULL), 4);
    body[FLEX_WEBHOOK_MAX_BODY] = 'x';
    rejects(body, FLEX_WEBHOOK_MAX_BODY + 1, FLEX_E_TOOLONG, FLEX_WEBHOOK_BODY_TOO_LONG,
            FLEX_WEBHOOK_MAX_BODY, "body of 16385 bytes exceeds 16384");
}

static void test_webhook_encode_round_trip(void **state)
{
    (void)state;
    char all[256], out[4096];
    for (int i = 0; i < 255; i++)
        all[i] = (char)(i + 1); /* every byte but NUL */
    flex_webhook_form_init(&form);
    assert_int_equal(flex_webhook_form_add(&form, "Body", 4, "Hi Zo\xc3\xab, 50% off & more=yes+",
                                           strlen("Hi Zo\xc3\xab, 50% off & more=yes+")),
                     0);
    assert_int_equal(flex_webhook_form_add(&form, "To", 2, "+12025550101", 12), 0);
    assert_int_equal(flex_webhook_form_add(&form, "a b&c=d", 7, "", 0), 0);
    assert_int_equal(flex_webhook_form_add(&form, "all", 3, all, 255), 0);
    assert_int_equal(flex_webhook_form_add(&form, "To", 2, "dup", 3), 0);
    int n = flex_webhook_form_encode(&form, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(out));
    assert_memory_equal(out,
                        "Body=Hi+Zo%C3%AB%2C+50%25+off+%26+more%3Dyes%2B&To=%2B12025550101&"
                        "a+b%26c%3Dd=&all=%01%02",
                        strlen("Body=Hi+Zo%C3%AB%2C+50%25+off+%26+more%3Dyes%2B&To=%2B12025550101&"
                               "a+b%26c%3Dd=&all=%01%02"));
    assert_int_equal(flex_webhook_form_parse(&form2, out, (size_t)n, NULL), 5);
    for (unsigned i = 0; i < form.n; i++) {
        assert_int_equal(form2.params[i].key_len, form.params[i].key_len);
        assert_memory_equal(form2.params[i].key, form.params[i].key, form.params[i].key_len);
        assert_int_equal(form2.params[i].value_len, form.params[i].value_len);
        assert_memory_equal(form2.params[i].value, form.params[i].value, form.params[i].value_len);
    }
    /* Every buffer size short of the whole: refused, and nothing half written. */
    for (size_t cap = 0; cap <= (size_t)n; cap++) {
        char small[4096];
        memset(small, '#', sizeof(small));
        assert_int_equal(flex_webhook_form_encode(&form, small, cap), FLEX_E_NOSPACE);
        if (cap > 0)
            assert_int_equal(small[0], '\0');
        assert_int_equal(small[cap], '#'); /* never past |cap| */
    }
    assert_int_equal(flex_webhook_form_encode(&form, out, (size_t)n + 1), n);
    flex_webhook_form_init(&form);
    assert_int_equal(flex_webhook_form_encode(&form, out, 1), 0);
    assert_string_equal(out, "");
}

static void test_webhook_add_rejects(void **state)
{
    (void)state;
    static char big[FLEX_WEBHOOK_MAX_VALUE + 1];
    memset(big, 'v', sizeof(big));
    flex_webhook_form_init(&form);
    assert_int_equal(flex_webhook_form_add(&form, big, FLEX_WEBHOOK_MAX_KEY + 1, "v", 1),
                     FLEX_E_TOOLONG);
    assert_int_equal(flex_webhook_form_add(&form, "k", 1, big, sizeof(big)), FLEX_E_TOOLONG);
    assert_int_equal(flex_webhook_form_add(&form, "k", 1, "a\0b", 3), FLEX_E_INVAL);
    assert_int_equal(flex_webhook_form_add(&form, "k\0", 2, "ab", 2), FLEX_E_INVAL);
    assert_int_equal(form.n, 0);
    /* The arena holds four values of 4,096 bytes, not five. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(flex_webhook_form_add(&form, "k", 1, big, FLEX_WEBHOOK_MAX_VALUE), 0);
    assert_int_equal(flex_webhook_form_add(&form, "k", 1, big, FLEX_WEBHOOK_MAX_VALUE),
                     FLEX_E_NOSPACE);
    assert_int_equal(form.n, 4);
    flex_webhook_form_init(&form);
    for (int i = 0; i < FLEX_WEBHOOK_MAX_PARAMS; i++)
        assert_int_equal(flex_webhook_form_add(&form, "k", 1, "v", 1), 0);
    assert_int_equal(flex_webhook_form_add(&form, "k", 1, "v", 1), FLEX_E_TOOMANY);
}

/* Twilio's documented example (docs/usage/security, "Validating Requests";
 * the same in twilio-php's docs/usage/validation.rst): auth token 12345,
 * this URL and these parameters give 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.  The
 * expected value was checked independently:
 *   printf '%s' 'https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDE'\
 *     'Caller+12349013030Digits1234From+12349013030To+18005551212' |
 *     openssl dgst -sha1 -hmac 12345 -binary | base64
 * The body lists them out of order: the signature sorts them. */
static const char twilio_url[] = "https://mycompany.com/myapp.php?foo=1&bar=2";
static const char twilio_sig[] = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

static void test_webhook_signature_twilio_vector(void **state)
{
    (void)state;
    char sig[FLEX_WEBHOOK_SIG_BUFSZ];
    assert_int_equal(parse(&form,
                           "To=%2B18005551212&From=%2B12349013030&Digits=1234&"
                           "CallSid=CA1234567890ABCDE&Caller=%2B12349013030",
                           NULL),
                     5);
    assert_int_equal(flex_webhook_sign("12345", 5, twilio_url, strlen(twilio_url), &form, sig),
                     FLEX_WEBHOOK_SIG_LEN);
    assert_string_equal(sig, twilio_sig);
    assert_true(flex_webhook_verify("12345", 5, twilio_url, strlen(twilio_url), &form, twilio_sig,
                                    strlen(twilio_sig)));
}

/* Sorted by key in byte order ('A' < 'a', "a" < "ab"), equal keys by
 * value, whatever the body's order.  Expected from openssl:
 *   printf '%s' 'http://127.0.0.1:9100/webhooks/backup/statusA3a1a2ab0b1' |
 *     openssl dgst -sha1 -hmac testtoken -binary | base64 */
static void test_webhook_signature_sort_order(void **state)
{
    (void)state;
    static const char url[] = "http://127.0.0.1:9100/webhooks/backup/status";
    static const char *const bodies[] = {"a=2&b=1&a=1&A=3&ab=0", "b=1&ab=0&a=1&a=2&A=3",
                                         "A=3&a=1&a=2&ab=0&b=1", "ab=0&a=2&A=3&b=1&a=1"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char sig[FLEX_WEBHOOK_SIG_BUFSZ];
        assert_int_equal(parse(&form, bodies[i], NULL), 5);
        assert_int_equal(flex_webhook_sign("testtoken", 9, url, strlen(url), &form, sig),
                         FLEX_WEBHOOK_SIG_LEN);
        assert_string_equal(sig, "hREBTKZn/7y3YYcWESAKxqA/BRE=");
    }
    /* No parameters: the URL alone. */
    char sig[FLEX_WEBHOOK_SIG_BUFSZ];
    flex_webhook_form_init(&form);
    assert_int_equal(flex_webhook_sign("testtoken", 9, url, strlen(url), &form, sig),
                     FLEX_WEBHOOK_SIG_LEN);
    assert_string_equal(sig, "3OrzyqsQMY5MpJPXo6hNbjHc1r4=");
}

static void test_webhook_signature_rejections(void **state)
{
    (void)state;
    char sig[FLEX_WEBHOOK_SIG_BUFSZ], bad[64];
    size_t ul = strlen(twilio_url);
    assert_int_equal(parse(&form,
                           "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&"
                           "From=%2B12349013030&To=%2B18005551212",
                           NULL),
                     5);
    /* Every single character changed. */
    for (size_t i = 0; i < FLEX_WEBHOOK_SIG_LEN; i++) {
        memcpy(bad, twilio_sig, sizeof(twilio_sig));
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        assert_false(flex_webhook_verify("12345", 5, twilio_url, ul, &form, bad, 28));
    }
    /* Missing, short, long headers. */
    assert_false(flex_webhook_verify("12345", 5, twilio_url, ul, &form, NULL, 0));
    assert_false(flex_webhook_verify("12345", 5, twilio_url, ul, &form, "", 0));
    assert_false(flex_webhook_verify("12345", 5, twilio_url, ul, &form, twilio_sig, 27));
    snprintf(bad, sizeof(bad), "%s=", twilio_sig);
    assert_false(flex_webhook_verify("12345", 5, twilio_url, ul, &form, bad, 29));
    static char huge[100000];
    memset(huge, 'A', sizeof(huge));
    memcpy(huge, twilio_sig, 28);
    assert_false(flex_webhook_verify("12345", 5, twilio_url, ul, &form, huge, sizeof(huge)));
    /* Another token; an empty one. */
    assert_false(flex_webhook_verify("12346", 5, twilio_url, ul, &form, twilio_sig, 28));
    assert_false(flex_webhook_verify("", 0, twilio_url, ul, &form, twilio_sig, 28));
    assert_int_equal(flex_webhook_sign("", 0, twilio_url, ul, &form, sig), FLEX_E_INVAL);
    assert_string_equal(sig, "");
    /* A parameter changed, added or dropped. */
    assert_int_equal(parse(&form2,
                           "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1235&"
                           "From=%2B12349013030&To=%2B18005551212",
                           NULL),
                     5);
    assert_false(flex_webhook_verify("12345", 5, twilio_url, ul, &form2, twilio_sig, 28));
    assert_int_equal(flex_webhook_form_add(&form2, "Digits", 6, "1234", 4), 0);
    assert_false(flex_webhook_verify("12345", 5, twilio_url, ul, &form2, twilio_sig, 28));
    form.n--;
    assert_false(flex_webhook_verify("12345", 5, twilio_url, ul, &form, twilio_sig, 28));
}

/* A signature made for one URL is no good for another. */
static void test_webhook_signature_other_url(void **state)
{
    (void)state;
    static const char *const others[] = {
        "http://mycompany.com/myapp.php?foo=1&bar=2",
        "https://mycompany.com/myapp.php?foo=1",
        "https://mycompany.com/myapp.php?bar=2&foo=1",
        "https://mycompany.com/myapp.php",
        "https://mycompany.com/myapp.php?foo=1&bar=2/",
        "https://mycompany.com:443/myapp.php?foo=1&bar=2",
    };
    assert_int_equal(parse(&form,
                           "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&"
                           "From=%2B12349013030&To=%2B18005551212",
                           NULL),
                     5);
    assert_true(
        flex_webhook_verify("12345", 5, twilio_url, strlen(twilio_url), &form, twilio_sig, 28));
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
        assert_false(
            flex_webhook_verify("12345", 5, others[i], strlen(others[i]), &form, twilio_sig, 28));
    /* The URL's length is what is signed, not up to a NUL. */
    assert_false(
        flex_webhook_verify("12345", 5, twilio_url, strlen(twilio_url) - 1, &form, twilio_sig, 28));
}

/* A sender's round trip: build, sign, encode; the receiver parses and
 * verifies. */
static void test_webhook_sender_to_receiver(void **state)
{
    (void)state;
    static const char url[] = "http://127.0.0.1:9100/webhooks/backup/inbound";
    char body[2048], sig[FLEX_WEBHOOK_SIG_BUFSZ];
    flex_webhook_form_init(&form);
    static const char *const kv[][2] = {
        {"MessageSid", "SM0123456789abcdef0123456789abcdef"},
        {"AccountSid", "ACtest"},
        {"From", "+12025550101"},
        {"To", "+12025550100"},
        {"Body", "Sí, confirmo & gracias 😀 100%"},
        {"NumMedia", "0"},
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        assert_int_equal(
            flex_webhook_form_add(&form, kv[i][0], strlen(kv[i][0]), kv[i][1], strlen(kv[i][1])),
            0);
    assert_int_equal(flex_webhook_sign("testtoken", 9, url, strlen(url), &form, sig), 28);
    int n = flex_webhook_form_encode(&form, body, sizeof(body));
    assert_true(n > 0);
    assert_int_equal(flex_webhook_form_parse(&form2, body, (size_t)n, NULL), 6);
    assert_true(flex_webhook_verify("testtoken", 9, url, strlen(url), &form2, sig, strlen(sig)));
    assert_string_equal(flex_webhook_form_get(&form2, "Body")->value,
                        "Sí, confirmo & gracias 😀 100%");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_webhook_parse_decodes),
        cmocka_unit_test(test_webhook_parse_edges),
        cmocka_unit_test(test_webhook_parse_duplicates),
        cmocka_unit_test(test_webhook_parse_rejects_escapes_and_nul),
        cmocka_unit_test(test_webhook_parse_rejects_sizes),
        cmocka_unit_test(test_webhook_encode_round_trip),
        cmocka_unit_test(test_webhook_add_rejects),
        cmocka_unit_test(test_webhook_signature_twilio_vector),
        cmocka_unit_test(test_webhook_signature_sort_order),
        cmocka_unit_test(test_webhook_signature_rejections),
        cmocka_unit_test(test_webhook_signature_other_url),
        cmocka_unit_test(test_webhook_sender_to_receiver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
