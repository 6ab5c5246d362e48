/* The framing of HTTP/1.x responses (engine/base/httpresp.h), as httpsim's
 * webhook sender reads them off kept-alive connections: each way a
 * response says where it ends, two responses in one read, every prefix of
 * one incomplete, and what is refused. */
#include "test_common.h"

#include <stdio.h>
#include <string.h>

#include "httpresp.h"

static long parse(const char *s, bool eof, struct flex_httpresp *r)
{
    return flex_httpresp_parse(s, strlen(s), eof, r);
}

/* Every proper prefix of |s| is incomplete; |s| itself takes |want|. */
static void prefixes(const char *s, long want)
{
    struct flex_httpresp r;
    for (size_t n = 0; n < strlen(s); n++)
        assert_int_equal(flex_httpresp_parse(s, n, false, &r), FLEX_HTTPRESP_MORE);
    assert_int_equal(flex_httpresp_parse(s, strlen(s), false, &r), want);
}

static void test_httpresp_content_length(void **state)
{
    (void)state;
    static const char s[] = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
                            "Content-Length: 11\r\n\r\n<Response/>";
    struct flex_httpresp r;
    assert_int_equal(parse(s, false, &r), (long)strlen(s));
    assert_int_equal(r.status, 200);
    assert_false(r.close);
    assert_int_equal(r.body_len, 11);
    assert_int_equal(r.head_len, strlen(s) - 11);
    prefixes(s, (long)strlen(s));
    /* the server closing early: the body is short */
    assert_int_equal(flex_httpresp_parse(s, strlen(s) - 1, true, &r), FLEX_HTTPRESP_BAD);
}

static void test_httpresp_two_in_one_read(void **state)
{
    (void)state;
    static const char a[] = "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n";
    static const char s[] = "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n"
                            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n"
                            "Connection: close\r\n\r\nno";
    struct flex_httpresp r;
    long n = parse(s, false, &r);
    assert_int_equal(n, (long)strlen(a));
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body_len, 0);
    assert_int_equal(parse(s + n, false, &r), (long)strlen(s + n));
    assert_int_equal(r.status, 503);
    assert_true(r.close);
    assert_memory_equal(s + n + r.head_len, "no", 2);
}

static void test_httpresp_chunked(void **state)
{
    (void)state;
    static const char s[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n"
                            "X-Trailer: 1\r\n\r\n";
    struct flex_httpresp r;
    assert_int_equal(parse(s, false, &r), (long)strlen(s));
    assert_int_equal(r.status, 200);
    assert_int_equal(r.head_len + r.body_len, strlen(s));
    prefixes(s, (long)strlen(s));
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabcX\r\n0\r\n\r\n",
                           false, &r),
                     FLEX_HTTPRESP_BAD); /* the data not followed by CRLF */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "123456789\r\n",
                           false, &r),
                     FLEX_HTTPRESP_BAD); /* a size over 8 hex digits */
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "fffff\r\n",
                           false, &r),
                     FLEX_HTTPRESP_BAD); /* over the body's cap */
    assert_int_equal(
        parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, &r),
        FLEX_HTTPRESP_BAD);
}

static void test_httpresp_until_close(void **state)
{
    (void)state;
    static const char s[] = "HTTP/1.0 200 OK\r\n\r\nbody";
    struct flex_httpresp r;
    assert_int_equal(parse(s, false, &r), FLEX_HTTPRESP_MORE);
    assert_int_equal(parse(s, true, &r), (long)strlen(s));
    assert_true(r.until_close);
    assert_true(r.close);
    assert_int_equal(r.body_len, 4);
}

static void test_httpresp_connection(void **state)
{
    (void)state;
    struct flex_httpresp r;
    assert_true(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, &r) > 0);
    assert_true(r.close); /* HTTP/1.0: closes unless it says keep-alive */
    assert_true(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
                      false, &r) > 0);
    assert_false(r.close);
    assert_true(parse("HTTP/1.1 200 OK\r\nConnection: upgrade , close\r\nContent-Length: 0\r\n\r\n",
                      false, &r) > 0);
    assert_true(r.close);
    assert_true(parse("HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\n"
                      "Content-Length: 0\r\n\r\n",
                      false, &r) > 0);
    assert_true(r.close); /* close, once said, wins */
    assert_true(parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, &r) > 0);
    assert_int_equal(r.status, 200); /* no reason phrase */
}

static void test_httpresp_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 600 Odd\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
    };
    struct flex_httpresp r;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], false, &r), FLEX_HTTPRESP_BAD);
    /* a head that never ends, past its cap */
    static char big[FLEX_HTTPRESP_HEAD_MAX + 64];
    size_t n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\n");
    while (n < FLEX_HTTPRESP_HEAD_MAX + 16)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "X: y\r\n");
    assert_int_equal(flex_httpresp_parse(big, n, false, &r), FLEX_HTTPRESP_BAD);
    /* a chunked body's framing is capped too: many tiny chunks with long
     * extensions */
    static char many[FLEX_HTTPRESP_BODY_MAX + 2 * FLEX_HTTPRESP_HEAD_MAX];
    size_t at = (size_t)snprintf(many, sizeof(many),
                                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    while (at + 256 < sizeof(many))
        at += (size_t)snprintf(many + at, sizeof(many) - at, "1;x=%0200d\r\na\r\n", 0);
    assert_int_equal(flex_httpresp_parse(many, at, false, &r), FLEX_HTTPRESP_BAD);
    /* the same length repeated is allowed */
    assert_true(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", false,
                      &r) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_httpresp_content_length),
        cmocka_unit_test(test_httpresp_two_in_one_read),
        cmocka_unit_test(test_httpresp_chunked),
        cmocka_unit_test(test_httpresp_until_close),
        cmocka_unit_test(test_httpresp_connection),
        cmocka_unit_test(test_httpresp_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
