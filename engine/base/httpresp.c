#include "httpresp.h"

#include <string.h>
#include <strings.h>

/* The line at |p| (at most |n| bytes): its length without the CRLF, or -1
 * when no CRLF is within |n|. */
static long line_len(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n')
            return (long)i;
        else if (p[i] == '\n' || p[i] == '\r')
            return -2; /* a bare CR or LF: not HTTP */
    return -1;
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* |v| (|n| bytes) without the spaces and tabs around it. */
static void trim(const char **v, size_t *n)
{
    while (*n && (**v == ' ' || **v == '\t'))
        (*v)++, (*n)--;
    while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
        (*n)--;
}

/* Whether the comma-separated list |v| holds |tok| (case-insensitive). */
static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    while (n) {
        size_t i = 0;
        while (i < n && v[i] != ',')
            i++;
        const char *t = v;
        size_t tn = i;
        trim(&t, &tn);
        if (tn == tl && strncasecmp(t, tok, tl) == 0)
            return true;
        v += i < n ? i + 1 : i;
        n -= i < n ? i + 1 : i;
    }
    return false;
}

/* The chunked body at |p| (|n| bytes so far): its framed length, MORE or
 * BAD. */
static long chunked(const char *p, size_t n, bool eof)
{
    size_t at = 0, data = 0;
    for (;;) {
        long ll = line_len(p + at, n - at < 256 ? n - at : 256);
        if (ll == -1 && n - at < 256)
            return eof ? FLEX_HTTPRESP_BAD : FLEX_HTTPRESP_MORE;
        if (ll < 0)
            return FLEX_HTTPRESP_BAD;
        size_t size = 0, i = 0;
        for (; i < (size_t)ll && i < 9; i++) {
            char c = p[at + i];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                         : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                                : 16u;
            if (d == 16)
                break;
            size = size * 16 + d;
        }
        if (i == 0 || i > 8 ||
            (i < (size_t)ll && p[at + i] != ';' && p[at + i] != ' ' && p[at + i] != '\t'))
            return FLEX_HTTPRESP_BAD;
        if (size > FLEX_HTTPRESP_BODY_MAX - data)
            return FLEX_HTTPRESP_BAD;
        at += (size_t)ll + 2;
        if (at > FLEX_HTTPRESP_BODY_MAX + FLEX_HTTPRESP_HEAD_MAX) /* the framing, capped too */
            return FLEX_HTTPRESP_BAD;
        if (size == 0)
            break;
        if (n - at < size + 2)
            return eof ? FLEX_HTTPRESP_BAD : FLEX_HTTPRESP_MORE;
        if (p[at + size] != '\r' || p[at + size + 1] != '\n')
            return FLEX_HTTPRESP_BAD;
        at += size + 2;
        data += size;
    }
    /* the trailer: header lines, then a blank one */
    for (;;) {
        size_t room = n - at;
        size_t cap = FLEX_HTTPRESP_HEAD_MAX;
        long ll = line_len(p + at, room < cap ? room : cap);
        if (ll == -1 && room < cap)
            return eof ? FLEX_HTTPRESP_BAD : FLEX_HTTPRESP_MORE;
        if (ll < 0)
            return FLEX_HTTPRESP_BAD;
        at += (size_t)ll + 2;
        if (ll == 0)
            return (long)at;
        if (at > FLEX_HTTPRESP_BODY_MAX + FLEX_HTTPRESP_HEAD_MAX)
            return FLEX_HTTPRESP_BAD;
    }
}

long flex_httpresp_parse(const char *buf, size_t len, bool eof, struct flex_httpresp *r)
{
    memset(r, 0, sizeof(*r));
    size_t room = len < FLEX_HTTPRESP_HEAD_MAX ? len : FLEX_HTTPRESP_HEAD_MAX;
    /* the status line: HTTP/1.0 or HTTP/1.1, three digits, a reason */
    long ll = line_len(buf, room);
    if (ll == -1)
        return len >= FLEX_HTTPRESP_HEAD_MAX || eof ? FLEX_HTTPRESP_BAD : FLEX_HTTPRESP_MORE;
    if (ll < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
        buf[8] != ' ' || (ll > 12 && buf[12] != ' '))
        return FLEX_HTTPRESP_BAD;
    for (int i = 9; i < 12; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return FLEX_HTTPRESP_BAD;
    r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (r->status < 200 || r->status > 599) /* (1xx: none is asked for) */
        return FLEX_HTTPRESP_BAD;
    r->close = buf[7] == '0';
    bool has_cl = false, is_chunked = false, said_close = false;
    size_t cl = 0, at = (size_t)ll + 2;
    for (;;) {
        ll = line_len(buf + at, room - at);
        if (ll == -1)
            return len >= FLEX_HTTPRESP_HEAD_MAX || eof ? FLEX_HTTPRESP_BAD : FLEX_HTTPRESP_MORE;
        if (ll < 0)
            return FLEX_HTTPRESP_BAD;
        const char *h = buf + at;
        at += (size_t)ll + 2;
        if (ll == 0)
            break;
        size_t nl = 0;
        while (nl < (size_t)ll && is_tchar(h[nl]))
            nl++;
        if (nl == 0 || nl == (size_t)ll || h[nl] != ':') /* (a folded line too) */
            return FLEX_HTTPRESP_BAD;
        const char *v = h + nl + 1;
        size_t vn = (size_t)ll - nl - 1;
        trim(&v, &vn);
        if (nl == 14 && strncasecmp(h, "Content-Length", 14) == 0) {
            size_t x = 0;
            if (vn == 0 || vn > 9)
                return FLEX_HTTPRESP_BAD;
            for (size_t i = 0; i < vn; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return FLEX_HTTPRESP_BAD;
                x = x * 10 + (size_t)(v[i] - '0');
            }
            if ((has_cl && x != cl) || x > FLEX_HTTPRESP_BODY_MAX)
                return FLEX_HTTPRESP_BAD;
            has_cl = true;
            cl = x;
        } else if (nl == 17 && strncasecmp(h, "Transfer-Encoding", 17) == 0) {
            /* only chunked frames a body we can find the end of */
            if (vn != 7 || strncasecmp(v, "chunked", 7) != 0 || is_chunked)
                return FLEX_HTTPRESP_BAD;
            is_chunked = true;
        } else if (nl == 10 && strncasecmp(h, "Connection", 10) == 0) {
            /* close, once said, wins over a keep-alive anywhere */
            if (has_token(v, vn, "close"))
                r->close = said_close = true;
            else if (!said_close && has_token(v, vn, "keep-alive"))
                r->close = false;
        }
    }
    r->head_len = at;
    if (has_cl && is_chunked) /* (a sender must not send both) */
        return FLEX_HTTPRESP_BAD;
    if (r->status == 204 || r->status == 304)
        return (long)at;
    if (is_chunked) {
        long n = chunked(buf + at, len - at, eof);
        if (n <= 0)
            return n;
        r->body_len = (size_t)n;
        return (long)(at + r->body_len);
    }
    if (has_cl) {
        if (len - at < cl)
            return eof ? FLEX_HTTPRESP_BAD : FLEX_HTTPRESP_MORE;
        r->body_len = cl;
        return (long)(at + cl);
    }
    /* no length: the body ends with the connection */
    r->until_close = r->close = true;
    if (len - at > FLEX_HTTPRESP_BODY_MAX)
        return FLEX_HTTPRESP_BAD;
    if (!eof)
        return FLEX_HTTPRESP_MORE;
    r->body_len = len - at;
    return (long)len;
}
