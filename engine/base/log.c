#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "utf8.h"

/* The default sink.  It is process-wide by nature (there is one stderr); its
 * fields are atomics, so no lock is needed to change the level. */
static struct flex_logger default_logger = {
    .level = FLEX_LOG_INFO,
    .unmasked = false,
    .fd = 2,
};

struct flex_logger *flex_log_default(void)
{
    return &default_logger;
}

static const char *const level_names[] = {"debug", "info", "warn", "error", "fatal"};

const char *flex_log_level_name(enum flex_log_level lvl)
{
    if ((unsigned)lvl >= sizeof(level_names) / sizeof(level_names[0]))
        return "unknown";
    return level_names[lvl];
}

int flex_log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Appends one byte or escape sequence; returns false when out of room. */
static bool put_escaped(char *out, size_t outsz, size_t *n, unsigned char c)
{
    char tmp[8];
    size_t len;
    switch (c) {
    case '"':
        memcpy(tmp, "\\\"", 2);
        len = 2;
        break;
    case '\\':
        memcpy(tmp, "\\\\", 2);
        len = 2;
        break;
    case '\n':
        memcpy(tmp, "\\n", 2);
        len = 2;
        break;
    case '\r':
        memcpy(tmp, "\\r", 2);
        len = 2;
        break;
    case '\t':
        memcpy(tmp, "\\t", 2);
        len = 2;
        break;
    default:
        if (c < 0x20 || c == 0x7f) {
            len = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
        } else {
            tmp[0] = (char)c;
            len = 1;
        }
    }
    if (*n + len + 1 > outsz)
        return false;
    memcpy(out + *n, tmp, len);
    *n += len;
    return true;
}

/* A stream entry id as Redis makes them: digits, '-', digits (at most 20
 * each).  Anything else is masked like any other text. */
static bool is_entry_id(const char *s)
{
    size_t a = 0, b = 0;
    while (is_digit(s[a]))
        a++;
    if (a == 0 || a > 20 || s[a] != '-')
        return false;
    while (is_digit(s[a + 1 + b]))
        b++;
    return b > 0 && b <= 20 && s[a + 1 + b] == '\0';
}

size_t flex_log_escape(char *out, size_t outsz, const char *src, size_t len, bool mask)
{
    size_t n = 0;
    if (outsz == 0)
        return 0;
    for (size_t i = 0; i < len;) {
        if (mask && is_digit(src[i])) {
            size_t j = i;
            while (j < len && is_digit(src[j]))
                j++;
            size_t run = j - i;
            /* 7+ digits is a phone number or could identify one: keep all but
             * the last four, so operators can still tell area and exchange. */
            for (size_t k = i; k < j; k++) {
                unsigned char c = (run >= 7 && k >= j - 4) ? '*' : (unsigned char)src[k];
                if (!put_escaped(out, outsz, &n, c))
                    goto done;
            }
            i = j;
            continue;
        }
        if ((unsigned char)src[i] >= 0x80) { /* a whole valid sequence, or U+FFFD */
            uint32_t cp;
            int k = flex_utf8_next((const unsigned char *)src + i, len - i, &cp);
            const char *s = k > 0 ? src + i : "\\ufffd";
            size_t sl = k > 0 ? (size_t)k : 6;
            if (n + sl + 1 > outsz)
                break;
            memcpy(out + n, s, sl);
            n += sl;
            i += k > 0 ? (size_t)k : 1;
            continue;
        }
        if (!put_escaped(out, outsz, &n, (unsigned char)src[i]))
            break;
        i++;
    }
done: /* a sequence is copied whole or not at all: never cut inside one */
    out[n] = '\0';
    return n;
}

void flex_log_write(enum flex_log_level lvl, const struct flex_log_ctx *ctx, int err,
                    const char *fmt, ...)
{
    struct flex_logger *l = (ctx && ctx->logger) ? ctx->logger : flex_log_default();
    bool mask = !atomic_load_explicit(&l->unmasked, memory_order_relaxed);
    int saved_errno = errno;
    char msg[2048], esc[3072], line[4096];
    va_list ap;

    va_start(ap, fmt);
    int mlen = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (mlen < 0)
        mlen = 0;
    if ((size_t)mlen >= sizeof(msg))
        mlen = sizeof(msg) - 1;
    flex_log_escape(esc, sizeof(esc), msg, (size_t)mlen, mask);

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    size_t n = (size_t)snprintf(line, sizeof(line),
                                "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                tm.tm_sec, ts.tv_nsec / 1000000, flex_log_level_name(lvl));
    if (ctx && ctx->component && n < sizeof(line)) {
        char c[128];
        flex_log_escape(c, sizeof(c), ctx->component, strlen(ctx->component), false);
        n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"component\":\"%s\"", c);
    }
    if (ctx && ctx->id && n < sizeof(line)) {
        char c[256];
        flex_log_escape(c, sizeof(c), ctx->id, strlen(ctx->id), mask);
        n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"id\":\"%s\"", c);
    }
    if (ctx && ctx->entry && n < sizeof(line)) {
        char c[64];
        flex_log_escape(c, sizeof(c), ctx->entry, strlen(ctx->entry),
                        mask && !is_entry_id(ctx->entry));
        n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"entry\":\"%s\"", c);
    }
    if (n < sizeof(line))
        n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"msg\":\"%s\"", esc);
    if (err && n < sizeof(line))
        n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"err\":\"%s\",\"code\":%d",
                              flex_strerror(err), err);
    if (n >= sizeof(line) - 3)
        n = sizeof(line) - 3; /* a cut line still ends as an object */
    line[n++] = '}';
    line[n++] = '\n';
    /* One write per line so lines from several threads never interleave. */
    ssize_t w = write(l->fd, line, n);
    (void)w;
    errno = saved_errno;
}
