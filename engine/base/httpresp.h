/*
 * The framing of an HTTP/1.x response as a client reads it off a kept-alive
 * connection: where the response ends (Content-Length, chunked, or the
 * connection's close), its status, and whether the server closes after it.
 * Bytes from the network: every length is checked against what was read,
 * and a head over FLEX_HTTPRESP_HEAD_MAX or a body over FLEX_HTTPRESP_BODY_MAX
 * is an error, never a larger read.  Used by httpsim's webhook sender
 * (bench/httpsim_send.c); tests/fuzz/fuzz_httpresp.c feeds it several responses
 * in a row.
 */
#ifndef FLEX_HTTPRESP_H
#define FLEX_HTTPRESP_H

#include <stdbool.h>
#include <stddef.h>

#define FLEX_HTTPRESP_HEAD_MAX 8192        /* status line and headers */
#define FLEX_HTTPRESP_BODY_MAX (64 * 1024) /* a body (a webhook's answer is short) */

enum {
    FLEX_HTTPRESP_MORE = 0, /* incomplete: read more */
    FLEX_HTTPRESP_BAD = -1, /* malformed, or over a cap: close the connection */
};

struct flex_httpresp {
    int status;       /* 100-599 */
    bool close;       /* the server closes the connection after it */
    size_t head_len;  /* status line and headers, the blank line included */
    size_t body_len;  /* the body's bytes as sent (chunked: its framing included) */
    bool until_close; /* no length: the body is what comes until the close */
};

/* Reads the response at the start of |buf| (|len| bytes so far; |eof|: the
 * server closed and nothing more comes).  Returns the bytes it takes, head
 * and body (what follows is the next response's), with |*r| filled;
 * FLEX_HTTPRESP_MORE; or FLEX_HTTPRESP_BAD.  A 1xx response is BAD (the
 * client sends no Expect); 204, 304 and 1xx carry no body. */
long flex_httpresp_parse(const char *buf, size_t len, bool eof, struct flex_httpresp *r);

#endif
