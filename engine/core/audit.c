#include "audit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "utf.h"

#define HLEN 64 /* hex digits of an h */
#define DAY_MS 86400000LL
#define MAX_MS 253402300800000LL /* 10000-01-01: a day keeps its 4-digit year */
/* ',"h":"' + 64 hex + '"}': what follows the hashed part of a line. */
#define HTAIL (6 + HLEN + 2)
/* '{"seq":' + 20 digits + ',' before a body; HTAIL and '\n' after it. */
#define OVERHEAD (7 + 20 + 1 + HTAIL + 1)
/* How much of a file's end is read to find its last line. */
#define TAIL_READ (64 * 1024)

static const char zero_h[HLEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct buf {
    char *p;
    size_t len, cap;
};

/* A pending event in struct buf: this header, then |len| bytes of body,
 * '"t":"...","ev":"..."[,fields]'.  seq and h are added when the line is
 * written, under the file lock, because only then is the previous line
 * known (another process may have appended since). */
struct rec {
    int64_t at_ms;
    uint32_t len;
};

struct flex_audit {
    char *path;
    const char *base;        /* basename of path, inside it */
    pthread_mutex_t pend_mu; /* guards pend and stop */
    struct buf pend;
    pthread_cond_t wake; /* with pend_mu: stops the background thread */
    bool stop;
    pthread_t thr;
    unsigned long bg_errors; /* background thread only */
    pthread_mutex_t io_mu;   /* one flush at a time; guards every field below */
    EVP_MAC_CTX *mac;
    struct buf work, out; /* lines being written; their text */
    int fd;
    int64_t file_day;  /* UTC day the open file covers; -1 not read yet */
    off_t end;         /* file size after our last write or catch-up; -1 unknown */
    bool need_nl;      /* the file ends inside a line: end it first */
    uint64_t last_seq; /* the chain's last line known here; 0 none */
    char last_h[HLEN + 1];
    char last_file[NAME_MAX + 1]; /* basename of the file that holds it */
    bool dirty;                   /* written since the last fdatasync */
    int64_t synced_ns;            /* CLOCK_MONOTONIC of the last fdatasync */
};

static const char *base_of(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The directory of |path| (owned by the caller). */
static char *dir_of(const char *path)
{
    const char *base = base_of(path);
    if (base == path)
        return flex_strdup(".");
    return flex_strndup(path, base - path > 1 ? (size_t)(base - path - 1) : 1);
}

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    b->p = flex_realloc(b->p, cap);
    b->cap = cap;
}

static void buf_put(struct buf *b, const void *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* ---- UTC calendar (H. Hinnant's algorithms: no gmtime, no locale) ---- */

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void fmt_day(char out[16], int64_t day)
{
    int y;
    unsigned m, d;
    civil_from_days(day, &y, &m, &d);
    snprintf(out, 16, "%04d-%02u-%02u", y, m, d);
}

/* |width| decimal digits of |v| at |p|; returns the end.  By hand, not
 * snprintf: formatting was a third of an append's cost. */
static char *put_digits(char *p, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

static char *put_u64(char *p, uint64_t v)
{
    int w = 1;
    for (uint64_t x = v; x >= 10; x /= 10)
        w++;
    return put_digits(p, v, w);
}

/* "2026-11-30T08:55:22.123Z" (24 bytes, no NUL) for |ms| in [0, MAX_MS). */
static size_t fmt_time(char out[24], int64_t ms)
{
    int y;
    unsigned m, d, in = (unsigned)(ms % DAY_MS);
    civil_from_days(ms / DAY_MS, &y, &m, &d);
    char *p = put_digits(out, (uint64_t)y, 4);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p++ = 'T';
    p = put_digits(p, in / 3600000, 2);
    *p++ = ':';
    p = put_digits(p, in / 60000 % 60, 2);
    *p++ = ':';
    p = put_digits(p, in / 1000 % 60, 2);
    *p++ = '.';
    p = put_digits(p, in % 1000, 3);
    *p++ = 'Z';
    return (size_t)(p - out);
}

/* The day of the 10 bytes "YYYY-MM-DD" at |s|, or -1. */
static int64_t parse_day(const char *s)
{
    unsigned v[3] = {0, 0, 0};
    for (int i = 0, k = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (s[i] != '-')
                return -1;
            k++;
        } else if (s[i] >= '0' && s[i] <= '9') {
            v[k] = v[k] * 10 + (unsigned)(s[i] - '0');
        } else {
            return -1;
        }
    }
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31)
        return -1;
    return days_from_civil((int)v[0], v[1], v[2]);
}

/* ---- field fragments ------------------------------------------------ */

/* JSON string content for |len| bytes at |s|, written to |dst| unless NULL;
 * returns its length.  Invalid UTF-8 becomes \ufffd, so that every line is
 * JSON a parser accepts. */
static bool plain_ascii(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static size_t json_escape(char *dst, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t run = i; /* ids and names are plain ASCII: copied a run at a time */
        while (run < len && plain_ascii((unsigned char)s[run]))
            run++;
        if (run > i) {
            if (dst)
                memcpy(dst + n, s + i, run - i);
            n += run - i;
            i = run;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        size_t k = 1, adv = 1;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            k = 2;
        } else if (c < 0x20 || c == 0x7f) {
            k = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
        } else if (c < 0x80) {
            tmp[0] = (char)c;
        } else {
            uint32_t cp;
            int r = flex_utf8_next((const unsigned char *)s + i, len - i, &cp);
            adv = r > 0 ? (size_t)r : 1;
            k = r > 0 ? (size_t)r : 6;
            memcpy(tmp, r > 0 ? s + i : "\\ufffd", k);
        }
        if (dst)
            memcpy(dst + n, tmp, k);
        n += k;
        i += adv;
    }
    return n;
}

enum member_kind { RAW, QUOTED, ESCAPED }; /* number; escaped text; text to escape */

/* Appends [","]"name":value when it fits; see flex_audit_field_str(). */
static size_t put_member(char *buf, size_t bufsz, size_t pos, const char *name, const char *v,
                         size_t vlen, enum member_kind kind)
{
    size_t nlen = strlen(name), ne = json_escape(NULL, name, nlen);
    size_t ve = kind == ESCAPED ? json_escape(NULL, v, vlen) : vlen;
    size_t need = (pos > 0) + ne + 3 + ve + (kind != RAW ? 2 : 0);
    if (pos >= bufsz || need >= bufsz - pos) {
        if (pos < bufsz)
            buf[pos] = '\0';
        return pos + need;
    }
    char *p = buf + pos;
    if (pos > 0)
        *p++ = ',';
    *p++ = '"';
    p += json_escape(p, name, nlen);
    memcpy(p, "\":", 2);
    p += 2;
    if (kind != RAW)
        *p++ = '"';
    if (kind == ESCAPED) {
        p += json_escape(p, v, vlen);
    } else {
        memcpy(p, v, vlen);
        p += vlen;
    }
    if (kind != RAW)
        *p++ = '"';
    *p = '\0';
    return pos + need;
}

size_t flex_audit_field_str(char *buf, size_t bufsz, size_t pos, const char *name,
                            const char *value)
{
    if (!value)
        return put_member(buf, bufsz, pos, name, "null", 4, RAW);
    return put_member(buf, bufsz, pos, name, value, strlen(value), ESCAPED);
}

size_t flex_audit_field_int(char *buf, size_t bufsz, size_t pos, const char *name, long long value)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", value);
    return put_member(buf, bufsz, pos, name, num, (size_t)n, RAW);
}

size_t flex_audit_field_phone(char *buf, size_t bufsz, size_t pos, const char *name,
                              const char *phone)
{
    char digits[33];
    size_t k = 0;
    /* Separators dropped first: the log's mask works on digit runs, and
     * "202 555 0143" has none of 7. */
    for (size_t i = 0; phone && phone[i] && i < 64 && k < 32; i++)
        if (phone[i] == '+' || (phone[i] >= '0' && phone[i] <= '9'))
            digits[k++] = phone[i];
    char masked[sizeof(digits) * 6];
    size_t m = flex_log_escape(masked, sizeof(masked), digits, k, true);
    return put_member(buf, bufsz, pos, name, masked, m, QUOTED);
}

/* ---- HMAC ---------------------------------------------------------------- */

/* An HMAC-SHA256 context keyed with |key| (copied), or NULL. */
static EVP_MAC_CTX *mac_new(const void *key, size_t keylen)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac)
        return NULL;
    EVP_MAC_CTX *c = EVP_MAC_CTX_new(mac); /* holds its own reference */
    EVP_MAC_free(mac);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (c && !EVP_MAC_init(c, key, keylen, params)) {
        EVP_MAC_CTX_free(c);
        return NULL;
    }
    return c;
}

/* |hex| = HMAC(|prev| (64 hex) || |len| bytes at |text| || "}"): the line
 * without its h member is the text up to that member plus the closing
 * brace.  |hex| may be |prev|.  Returns 0 or FLEX_E_INVAL. */
static int mac_hex(EVP_MAC_CTX *c, const char *prev, const char *text, size_t len,
                   char hex[HLEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    /* A NULL key re-initialises with the key set in mac_new(). */
    if (!EVP_MAC_init(c, NULL, 0, NULL) || !EVP_MAC_update(c, (const unsigned char *)prev, HLEN) ||
        !EVP_MAC_update(c, (const unsigned char *)text, len) ||
        !EVP_MAC_update(c, (const unsigned char *)"}", 1) ||
        !EVP_MAC_final(c, md, &mdlen, sizeof(md)) || mdlen != HLEN / 2)
        return FLEX_E_INVAL;
    for (size_t i = 0; i < HLEN / 2; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[HLEN] = '\0';
    return 0;
}

static bool is_hex64(const char *s, size_t len)
{
    if (len != HLEN)
        return false;
    for (size_t i = 0; i < HLEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* ---- reading our own files ------------------------------------------------ */

static int pread_full(int fd, char *b, size_t n, off_t at)
{
    while (n > 0) {
        ssize_t r = pread(fd, b, n, at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        b += r;
        n -= (size_t)r;
        at += r;
    }
    return 0;
}

/* seq and h of a line this module wrote (|len| bytes, no newline). */
static int parse_own(const char *line, size_t len, uint64_t *seq, char h[HLEN + 1])
{
    if (len < 8 + HTAIL || memcmp(line, "{\"seq\":", 7) != 0 ||
        memcmp(line + len - HTAIL, ",\"h\":\"", 6) != 0 || memcmp(line + len - 2, "\"}", 2) != 0 ||
        !is_hex64(line + len - HTAIL + 6, HLEN))
        return FLEX_E_CORRUPT;
    uint64_t v = 0;
    size_t i = 7;
    while (i < 26 && line[i] >= '0' && line[i] <= '9')
        v = v * 10 + (uint64_t)(line[i++] - '0');
    if (i == 7 || line[i] != ',' || v == 0)
        return FLEX_E_CORRUPT;
    *seq = v;
    memcpy(h, line + len - HTAIL + 6, HLEN);
    h[HLEN] = '\0';
    return 0;
}

/* seq and h of the last complete line of |fd| (|size| bytes), and whether
 * the file ends inside a line (a write cut short, a crash). */
static int read_last(int fd, off_t size, uint64_t *seq, char h[HLEN + 1], bool *partial)
{
    if (size <= 0)
        return FLEX_E_CORRUPT;
    size_t want = size < TAIL_READ ? (size_t)size : TAIL_READ;
    char *b = flex_malloc(want);
    int rc = pread_full(fd, b, want, size - (off_t)want);
    if (rc == 0) {
        *partial = b[want - 1] != '\n';
        size_t e = want; /* b[e - 1] will be the last newline */
        while (e > 0 && b[e - 1] != '\n')
            e--;
        size_t s = e > 0 ? e - 1 : 0;
        while (s > 0 && b[s - 1] != '\n')
            s--;
        if (e == 0 || (s == 0 && (off_t)want < size))
            rc = FLEX_E_CORRUPT; /* no line, or one longer than any we write */
        else
            rc = parse_own(b + s, e - 1 - s, seq, h);
    }
    flex_free(b);
    return rc;
}

/* The day of the file's first line (its chain header). */
static int read_day(int fd, off_t size, int64_t *day)
{
    char b[64];
    size_t want = size < (off_t)sizeof(b) ? (size_t)size : sizeof(b);
    int rc = pread_full(fd, b, want, 0);
    if (rc < 0)
        return rc;
    const char *t = memmem(b, want, ",\"t\":\"", 6);
    if (!t || t + 6 + 10 > b + want || (*day = parse_day(t + 6)) < 0)
        return FLEX_E_CORRUPT;
    return 0;
}

/* ---- appending ------------------------------------------------------------ */

static int open_fd(struct flex_audit *a)
{
    int fd = open(a->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    a->fd = fd;
    a->file_day = -1;
    a->end = -1;
    a->need_nl = false;
    return 0;
}

/* Closes the file (which releases its lock), synced if we wrote to it: a
 * rotated file is complete on disk before the next one starts. */
static void close_fd(struct flex_audit *a)
{
    if (a->fd < 0)
        return;
    if (a->dirty)
        fdatasync(a->fd);
    close(a->fd);
    a->fd = -1;
    a->dirty = false;
}

/* Appends line |seq| of |body| to a->out, chained on |h|, which becomes
 * this line's h. */
static int format_line(struct flex_audit *a, uint64_t seq, char h[HLEN + 1], const char *body,
                       size_t blen)
{
    char head[32] = "{\"seq\":";
    char *e = put_u64(head + 7, seq);
    *e++ = ',';
    buf_reserve(&a->out, (size_t)(e - head) + blen + HTAIL + 1);
    size_t start = a->out.len;
    buf_put(&a->out, head, (size_t)(e - head));
    buf_put(&a->out, body, blen);
    int rc = mac_hex(a->mac, h, a->out.p + start, a->out.len - start, h);
    if (rc < 0)
        return rc;
    buf_put(&a->out, ",\"h\":\"", 6);
    buf_put(&a->out, h, HLEN);
    buf_put(&a->out, "\"}\n", 3);
    return 0;
}

/* The newest rotated file: its basename, last h and seq, and the first day
 * a file after it may cover.  Leaves them alone when there is none. */
static int newest_rotated(struct flex_audit *a, char name[NAME_MAX + 1], char h[HLEN + 1],
                          uint64_t *seq, int64_t *min_day)
{
    char **paths;
    size_t n;
    int rc = flex_audit_paths(a->path, &paths, &n);
    if (rc < 0 || n < 2) {
        if (rc == 0)
            flex_audit_paths_free(paths, n);
        return rc;
    }
    const char *p = paths[n - 2], *b = base_of(p);
    struct stat st;
    bool partial;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        rc = -errno;
    else
        rc = read_last(fd, st.st_size, seq, h, &partial);
    if (fd >= 0)
        close(fd);
    snprintf(name, NAME_MAX + 1, "%s", b);
    *min_day = parse_day(b + strlen(b) - 10) + 1;
    flex_audit_paths_free(paths, n);
    return rc;
}

/* With the lock held on an empty PATH: writes its chain header, naming the
 * newest rotated file and its last h (or "" and zeros: a new chain). */
static int start_file(struct flex_audit *a, int64_t at_ms)
{
    char prev_file[NAME_MAX + 1] = "", prev_h[HLEN + 1], body[NAME_MAX * 6 + 200];
    uint64_t seq = 0;
    int64_t min_day = 0;
    memcpy(prev_h, zero_h, sizeof(prev_h));
    int rc = newest_rotated(a, prev_file, prev_h, &seq, &min_day);
    if (rc < 0)
        return rc;
    /* Lines we wrote or read that no file holds any more (PATH deleted or
     * emptied under us): chain on from them, so that verify reports the
     * loss instead of a clean start. */
    if (a->last_seq > seq) {
        snprintf(prev_file, sizeof(prev_file), "%s", a->last_file);
        memcpy(prev_h, a->last_h, sizeof(prev_h));
        seq = a->last_seq;
    }
    if (at_ms < min_day * DAY_MS) /* a clock behind the last rotation */
        at_ms = min_day * DAY_MS;
    char t[32], esc[NAME_MAX * 6 + 1];
    t[fmt_time(t, at_ms)] = '\0';
    esc[json_escape(esc, prev_file, strlen(prev_file))] = '\0';
    int bl = snprintf(body, sizeof(body),
                      "\"t\":\"%s\",\"ev\":\"chain\",\"prev_file\":\"%s\","
                      "\"prev_h\":\"%s\"",
                      t, esc, prev_h);
    a->out.len = 0;
    if ((rc = format_line(a, seq + 1, prev_h, body, (size_t)bl)) < 0)
        return rc;
    ssize_t w = write(a->fd, a->out.p, a->out.len);
    if (w != (ssize_t)a->out.len) /* a partial header is redone: see catch_up() */
        return w < 0 ? -errno : -ENOSPC;
    a->last_seq = seq + 1;
    memcpy(a->last_h, prev_h, sizeof(prev_h));
    snprintf(a->last_file, sizeof(a->last_file), "%s", a->base);
    a->file_day = at_ms / DAY_MS;
    a->end = w;
    a->need_nl = false;
    a->dirty = true;
    return 0;
}

/* 1 when the |size| bytes (< FLEX_AUDIT_LINE_MAX) of |fd| hold no newline. */
static int no_whole_line(int fd, off_t size)
{
    char b[FLEX_AUDIT_LINE_MAX];
    int rc = pread_full(fd, b, (size_t)size, 0);
    return rc < 0 ? rc : memchr(b, '\n', (size_t)size) == NULL;
}

/* With the lock held: brings the chain state up to the end of the file,
 * which other processes may have appended to (or which is new). */
static int catch_up(struct flex_audit *a, const struct stat *fs, int64_t hdr_at)
{
    if (fs->st_size == 0)
        return start_file(a, hdr_at);
    if (a->end == fs->st_size && a->file_day >= 0)
        return 0;
    int rc = fs->st_size < FLEX_AUDIT_LINE_MAX ? no_whole_line(a->fd, fs->st_size) : 0;
    if (rc > 0) {
        /* Not one whole line, so no record: a chain header cut short (the
         * disk was full when the file started).  Start the file again. */
        if (ftruncate(a->fd, 0) < 0)
            return -errno;
        return start_file(a, hdr_at);
    }
    if (rc == 0 && a->file_day < 0)
        rc = read_day(a->fd, fs->st_size, &a->file_day);
    if (rc < 0)
        return rc;
    if (a->end >= 0 && fs->st_size < a->end) {
        /* Shorter than we left it: lines were cut off.  Chaining on from
         * what we know (not from what is left) makes verify report it. */
        char c;
        rc = pread_full(a->fd, &c, 1, fs->st_size - 1);
        a->need_nl = rc == 0 && c != '\n';
    } else {
        uint64_t seq;
        char h[HLEN + 1];
        rc = read_last(a->fd, fs->st_size, &seq, h, &a->need_nl);
        if (rc == 0) {
            a->last_seq = seq;
            memcpy(a->last_h, h, sizeof(h));
            snprintf(a->last_file, sizeof(a->last_file), "%s", a->base);
        }
    }
    if (rc == 0)
        a->end = fs->st_size;
    return rc;
}

/* Opens PATH if needed and locks it, following a rotation or replacement
 * by another process (PATH no longer names our inode), then catches up.
 * On 0 the file is locked. */
static int lock_current(struct flex_audit *a, int64_t hdr_at)
{
    for (int tries = 0; tries < 16; tries++) {
        int rc = a->fd < 0 ? open_fd(a) : 0;
        if (rc < 0)
            return rc;
        while ((rc = flock(a->fd, LOCK_EX)) < 0 && errno == EINTR)
            ;
        if (rc < 0)
            return -errno;
        struct stat ps, fs;
        int st = stat(a->path, &ps) == 0 ? 0 : errno;
        if (fstat(a->fd, &fs) < 0)
            st = errno;
        if (st == 0 && ps.st_ino == fs.st_ino && ps.st_dev == fs.st_dev) {
            rc = catch_up(a, &fs, hdr_at);
            if (rc < 0)
                flock(a->fd, LOCK_UN);
            return rc;
        }
        flock(a->fd, LOCK_UN);
        if (st != 0 && st != ENOENT)
            return -st;
        close_fd(a);
    }
    return -EAGAIN;
}

static int64_t rec_at(const struct flex_audit *a, size_t off)
{
    struct rec r;
    memcpy(&r, a->work.p + off, sizeof(r));
    return r.at_ms;
}

/* With the lock held: writes, with one write(2), the lines from |*off| up
 * to the first of a later day than the file's, and moves |*off| past the
 * lines written. */
static int write_day(struct flex_audit *a, size_t *off)
{
    a->out.len = 0;
    if (a->need_nl)
        buf_put(&a->out, "\n", 1);
    uint64_t seq = a->last_seq;
    char h[HLEN + 1];
    memcpy(h, a->last_h, sizeof(h));
    size_t o = *off;
    while (o < a->work.len && rec_at(a, o) / DAY_MS <= a->file_day) {
        struct rec r;
        memcpy(&r, a->work.p + o, sizeof(r));
        int rc = format_line(a, ++seq, h, a->work.p + o + sizeof(r), r.len);
        if (rc < 0)
            return rc;
        o += sizeof(r) + r.len;
    }
    if (o == *off)
        return 0;
    ssize_t n;
    while ((n = write(a->fd, a->out.p, a->out.len)) < 0 && errno == EINTR)
        ;
    if (n == (ssize_t)a->out.len) {
        a->last_seq = seq;
        memcpy(a->last_h, h, sizeof(h));
        snprintf(a->last_file, sizeof(a->last_file), "%s", a->base);
        a->end += n;
        a->need_nl = false;
        a->dirty = true;
        *off = o;
        return 0;
    }
    int rc = n < 0 ? -errno : -ENOSPC;
    if (n > 0) {
        /* Cut short (disk full): the whole lines that made it are done; the
         * next flush ends the partial one and reads the chain back. */
        size_t done = 0;
        for (const char *p = a->out.p; (p = memchr(p, '\n', (size_t)(a->out.p + n - p))); p++)
            done++;
        for (done -= a->need_nl; done > 0; done--) {
            struct rec r;
            memcpy(&r, a->work.p + *off, sizeof(r));
            *off += sizeof(r) + r.len;
        }
        a->end = -1;
        a->dirty = true;
    }
    return rc;
}

/* With the lock held and the file's day all written: renames PATH to
 * PATH.DAY.  Returns 0; 1 when that name is taken (the clock went back:
 * the lines stay in PATH); or -errno. */
static int rotate(struct flex_audit *a)
{
    char day[16], to[PATH_MAX];
    fmt_day(day, a->file_day);
    if (snprintf(to, sizeof(to), "%s.%s", a->path, day) >= (int)sizeof(to))
        return -ENAMETOOLONG;
    int rc = renameat2(AT_FDCWD, a->path, AT_FDCWD, to, RENAME_NOREPLACE);
    if (rc < 0 && errno == EINVAL) /* a file system without RENAME_NOREPLACE */
        rc = link(a->path, to) == 0 ? unlink(a->path) : -1;
    if (rc < 0)
        return errno == EEXIST ? 1 : -errno;
    snprintf(a->last_file, sizeof(a->last_file), "%s.%s", a->base, day);
    return 0;
}

/* Appends a->work under the file lock, rotating at day changes; leaves in
 * a->work the lines not written. */
static int append_work(struct flex_audit *a)
{
    size_t off = 0;
    int rc = lock_current(a, rec_at(a, 0));
    bool locked = rc == 0;
    while (locked) {
        rc = write_day(a, &off);
        if (rc < 0 || off == a->work.len)
            break;
        rc = rotate(a);
        if (rc > 0) {
            a->file_day = rec_at(a, off) / DAY_MS;
            continue;
        }
        if (rc < 0)
            break;
        close_fd(a);
        rc = lock_current(a, rec_at(a, off));
        locked = rc == 0;
    }
    if (locked)
        flock(a->fd, LOCK_UN);
    memmove(a->work.p, a->work.p + off, a->work.len - off);
    a->work.len -= off;
    return rc;
}

/* Puts the lines a flush could not write back in front of those added
 * since, keeping their order. */
static void requeue(struct flex_audit *a)
{
    pthread_mutex_lock(&a->pend_mu);
    buf_reserve(&a->pend, a->work.len);
    memmove(a->pend.p + a->work.len, a->pend.p, a->pend.len);
    memcpy(a->pend.p, a->work.p, a->work.len);
    a->pend.len += a->work.len;
    pthread_mutex_unlock(&a->pend_mu);
    a->work.len = 0;
}

static int sync_maybe(struct flex_audit *a, bool force)
{
    if (!a->dirty || a->fd < 0)
        return 0;
    int64_t now = (int64_t)flex_mono_ns();
    if (!force && now - a->synced_ns < 1000000000)
        return 0;
    if (fdatasync(a->fd) < 0)
        return -errno;
    a->dirty = false;
    a->synced_ns = now;
    return 0;
}

int flex_audit_flush(struct flex_audit *a)
{
    if (!a)
        return 0;
    pthread_mutex_lock(&a->io_mu);
    pthread_mutex_lock(&a->pend_mu);
    struct buf t = a->work; /* empty: every flush leaves it so */
    a->work = a->pend;
    a->pend = t;
    pthread_mutex_unlock(&a->pend_mu);
    int rc = a->work.len ? append_work(a) : 0;
    if (a->work.len)
        requeue(a);
    int src = sync_maybe(a, false);
    pthread_mutex_unlock(&a->io_mu);
    return rc < 0 ? rc : src;
}

static bool valid_ev(const char *ev)
{
    size_t i = 0;
    for (; ev && ev[i] && i <= 32; i++)
        if (!((ev[i] >= 'a' && ev[i] <= 'z') || (ev[i] >= '0' && ev[i] <= '9') || ev[i] == '_'))
            return false;
    return i >= 1 && i <= 32;
}

int flex_audit_add(struct flex_audit *a, int64_t at_ms, const char *ev, const char *fields,
                   size_t flen)
{
    if (!a)
        return 0;
    if (at_ms < 0 || at_ms >= MAX_MS || !valid_ev(ev) ||
        (flen && (!fields || memchr(fields, '\n', flen))))
        return FLEX_E_INVAL;
    char head[96] = "\"t\":\"", *h = head + 5;
    size_t evlen = strlen(ev); /* valid_ev() bounded it */
    h += fmt_time(h, at_ms);
    memcpy(h, "\",\"ev\":\"", 8);
    memcpy(h + 8, ev, evlen);
    h[8 + evlen] = '"';
    size_t hl = (size_t)(h + 9 + evlen - head);
    size_t blen = hl + (flen ? 1 + flen : 0);
    if (blen + OVERHEAD > FLEX_AUDIT_LINE_MAX)
        return FLEX_E_TOOLONG;
    struct rec r = {at_ms, (uint32_t)blen};
    pthread_mutex_lock(&a->pend_mu);
    while (a->pend.len + sizeof(r) + blen > FLEX_AUDIT_PENDING_MAX) {
        pthread_mutex_unlock(&a->pend_mu);
        int rc = flex_audit_flush(a);
        pthread_mutex_lock(&a->pend_mu);
        if (rc < 0 && a->pend.len + sizeof(r) + blen > FLEX_AUDIT_PENDING_MAX) {
            pthread_mutex_unlock(&a->pend_mu);
            return rc;
        }
    }
    buf_reserve(&a->pend, sizeof(r) + blen);
    char *p = a->pend.p + a->pend.len;
    memcpy(p, &r, sizeof(r));
    memcpy(p + sizeof(r), head, hl);
    if (flen) {
        p[sizeof(r) + hl] = ',';
        memcpy(p + sizeof(r) + hl + 1, fields, flen);
    }
    a->pend.len += sizeof(r) + blen;
    pthread_mutex_unlock(&a->pend_mu);
    return 0;
}

/* ---- the handle -------------------------------------------------------------- */

/* Flushes every second until stopped; logs failures (the first, then every
 * 60th in a row), since no caller sees them. */
static void *bg_main(void *arg)
{
    struct flex_audit *a = arg;
    struct flex_log_ctx ctx = {.component = "audit", .id = a->path};
    pthread_mutex_lock(&a->pend_mu);
    while (!a->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&a->wake, &a->pend_mu, &ts);
        if (a->stop)
            break;
        pthread_mutex_unlock(&a->pend_mu);
        int rc = flex_audit_flush(a);
        if (rc < 0 && a->bg_errors++ % 60 == 0)
            flex_log(FLEX_LOG_ERROR, &ctx, rc,
                     "audit log append failed (%lu in a row); lines "
                     "stay pending",
                     a->bg_errors);
        if (rc == 0)
            a->bg_errors = 0;
        pthread_mutex_lock(&a->pend_mu);
    }
    pthread_mutex_unlock(&a->pend_mu);
    return NULL;
}

/* Opens PATH when it exists; else checks that it can be created there.
 * The file itself is created by the first flush, with its chain header, so
 * that no empty file (which verify rejects) is left by a flexd that never
 * wrote a line. */
static int probe_file(struct flex_audit *a)
{
    int fd = open(a->path, O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd >= 0) {
        a->fd = fd;
        a->file_day = -1;
        a->end = -1;
        return 0;
    }
    if (errno != ENOENT)
        return -errno;
    char *dir = dir_of(a->path);
    int rc = access(dir, W_OK | X_OK) == 0 ? 0 : -errno;
    flex_free(dir);
    return rc;
}

static void audit_free(struct flex_audit *a)
{
    if (a->fd >= 0)
        close(a->fd);
    EVP_MAC_CTX_free(a->mac);
    flex_free(a->pend.p);
    flex_free(a->work.p);
    flex_free(a->out.p);
    flex_free(a->path);
    flex_free(a);
}

static int start_thread(struct flex_audit *a)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&a->pend_mu, NULL);
    pthread_mutex_init(&a->io_mu, NULL);
    int rc = pthread_create(&a->thr, NULL, bg_main, a);
    if (rc != 0) {
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->pend_mu);
        pthread_mutex_destroy(&a->io_mu);
    }
    return -rc;
}

int flex_audit_open(struct flex_audit **out, const char *path, const void *key, size_t keylen,
                    char *err, size_t errsz)
{
    *out = NULL;
    if (!path || !*path)
        return 0;
    const char *why = NULL;
    int rc = FLEX_E_INVAL;
    struct flex_audit *a = flex_calloc(1, sizeof(*a));
    a->fd = -1;
    a->path = flex_strdup(path);
    a->base = base_of(a->path);
    if (!key || keylen == 0)
        why = "the audit key is empty";
    else if (!*a->base || strlen(a->base) + 11 > NAME_MAX)
        why = "bad file name (rotated files add 11 characters)";
    else if (!(a->mac = mac_new(key, keylen)))
        why = "OpenSSL has no HMAC-SHA256";
    else if ((rc = probe_file(a)) < 0 || (rc = start_thread(a)) < 0)
        why = strerror(-rc);
    if (why) {
        if (errsz)
            snprintf(err, errsz, "audit log %s: %s", path, why);
        audit_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void flex_audit_close(struct flex_audit *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->pend_mu);
    a->stop = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->pend_mu);
    pthread_join(a->thr, NULL);
    int rc = flex_audit_flush(a);
    if (rc == 0)
        rc = sync_maybe(a, true);
    if (rc < 0 || a->pend.len) {
        struct flex_log_ctx ctx = {.component = "audit", .id = a->path};
        flex_log(FLEX_LOG_ERROR, &ctx, rc, "audit log closed with %zu bytes of lines unwritten",
                 a->pend.len);
    }
    close_fd(a);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->pend_mu);
    pthread_mutex_destroy(&a->io_mu);
    audit_free(a);
}

/* ---- verify ------------------------------------------------------------------ */

struct vstate {
    FILE *out;
    EVP_MAC_CTX *mac;
    const char *file;      /* being read */
    const char *prev_file; /* the one before it in the list; NULL */
    unsigned long line;
    bool any;         /* a line was checked */
    uint64_t seq;     /* of the last line checked */
    char h[HLEN + 1]; /* its h (or the first header's prev_h) */
    size_t lines, files;
    uint64_t first_seq;
    char first_t[32], last_t[32];
    char origin[NAME_MAX + 1]; /* the first header's prev_file */
    bool genesis;              /* ... and its prev_h was zeros */
};

__attribute__((format(printf, 2, 3))) static int bad(struct vstate *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(v->out, "%s:%lu: ", v->file, v->line);
    vfprintf(v->out, fmt, ap);
    fputc('\n', v->out);
    va_end(ap);
    return 1;
}

/* Line 1 of a file: a chain header continuing the previous file. */
static int check_header(struct vstate *v, json_t *j, const char *ev)
{
    const char *pf = json_string_value(json_object_get(j, "prev_file"));
    const char *ph = json_string_value(json_object_get(j, "prev_h"));
    if (strcmp(ev, "chain") != 0 || !pf || !ph || !is_hex64(ph, strlen(ph)))
        return bad(v, "no chain header (every file starts with one)");
    if (!v->any) { /* the first file: its chain may start before the list */
        snprintf(v->origin, sizeof(v->origin), "%s", pf);
        v->genesis = strcmp(ph, zero_h) == 0;
        memcpy(v->h, ph, sizeof(v->h));
        return 0;
    }
    const char *prev = base_of(v->prev_file);
    if (!*pf)
        return bad(v, "a new chain starts here, after %s", prev);
    if (strcmp(pf, prev) != 0)
        return bad(v, "missing file %s before %s", pf, base_of(v->file));
    if (strcmp(ph, v->h) != 0)
        return bad(v, "chain header does not continue %s (lines missing at its end?)", prev);
    return 0;
}

/* One parsed line (|n| bytes at |s|, no newline). */
static int check_obj(struct vstate *v, json_t *j, const char *s, size_t n)
{
    json_t *jseq = json_object_get(j, "seq");
    const char *t = json_string_value(json_object_get(j, "t"));
    const char *ev = json_string_value(json_object_get(j, "ev"));
    const char *h = json_string_value(json_object_get(j, "h"));
    if (!json_is_integer(jseq) || json_integer_value(jseq) < 1 || !t || !ev || !h ||
        !is_hex64(h, strlen(h)) || n < 8 + HTAIL || memcmp(s + n - HTAIL, ",\"h\":\"", 6) != 0 ||
        memcmp(s + n - HTAIL + 6, h, HLEN) != 0 || memcmp(s + n - 2, "\"}", 2) != 0)
        return bad(v, "not an audit line (seq, t, ev, and h last, expected)");
    uint64_t seq = (uint64_t)json_integer_value(jseq);
    int rc = v->line == 1               ? check_header(v, j, ev)
             : strcmp(ev, "chain") == 0 ? bad(v, "chain header inside a file")
                                        : 0;
    if (rc)
        return rc;
    if (v->any && seq != v->seq + 1)
        return bad(v, "sequence gap: expected seq %llu, found %llu", (unsigned long long)v->seq + 1,
                   (unsigned long long)seq);
    char mac[HLEN + 1];
    if (mac_hex(v->mac, v->h, s, n - HTAIL, mac) < 0)
        return bad(v, "cannot compute the HMAC");
    if (CRYPTO_memcmp(mac, h, HLEN) != 0)
        return bad(v, v->any ? "hmac mismatch" : "hmac mismatch (wrong key, or line edited)");
    if (!v->any) {
        v->first_seq = seq;
        snprintf(v->first_t, sizeof(v->first_t), "%s", t);
    }
    snprintf(v->last_t, sizeof(v->last_t), "%s", t);
    v->any = true;
    v->seq = seq;
    memcpy(v->h, h, sizeof(v->h));
    v->lines++;
    return 0;
}

static int check_line(struct vstate *v, const char *s, size_t n)
{
    if (n == 0 || s[n - 1] != '\n')
        return bad(v, "truncated line");
    json_error_t je;
    json_t *j = json_loadb(s, n - 1, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return bad(v, "not JSON");
    }
    int rc = check_obj(v, j, s, n - 1);
    json_decref(j);
    return rc;
}

/* The size of the file of |f| at a moment no writer holds its lock, so that
 * a line being appended meanwhile is not taken for a truncated one. */
static off_t stable_size(FILE *f)
{
    int fd = fileno(f);
    bool locked = flock(fd, LOCK_SH) == 0;
    struct stat st;
    off_t size = fstat(fd, &st) == 0 ? st.st_size : -1;
    if (locked)
        flock(fd, LOCK_UN);
    return size;
}

static int verify_file(struct vstate *v, const char *path)
{
    FILE *f = fopen(path, "r");
    off_t left = f ? stable_size(f) : -1;
    if (left < 0) {
        int e = errno;
        fprintf(v->out, "%s: %s\n", path, strerror(e));
        if (f)
            fclose(f);
        return -e;
    }
    v->file = path;
    v->line = 0;
    char *s = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && left > 0 && (n = getline(&s, &cap, f)) > 0) {
        if (n > left)
            n = (ssize_t)left; /* appended after the snapshot */
        left -= n;
        v->line++;
        rc = check_line(v, s, (size_t)n);
    }
    if (rc == 0 && ferror(f)) {
        rc = -(errno ? errno : EIO);
        fprintf(v->out, "%s: %s\n", path, strerror(-rc));
    } else if (rc == 0 && v->line == 0) {
        fprintf(v->out, "%s: empty file (no chain header)\n", path);
        rc = 1;
    }
    free(s);
    fclose(f);
    v->files++;
    return rc;
}

int flex_audit_verify(const char *const *paths, size_t n, const void *key, size_t keylen, FILE *out)
{
    if (n == 0 || !key || keylen == 0)
        return FLEX_E_INVAL;
    struct vstate v = {.out = out};
    if (!(v.mac = mac_new(key, keylen)))
        return FLEX_E_INVAL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        v.prev_file = i ? paths[i - 1] : NULL;
        rc = verify_file(&v, paths[i]);
    }
    if (rc == 0)
        fprintf(out,
                "intact: %zu line%s in %zu file%s, first seq %llu at %s, last seq %llu at "
                "%s; %s%s%s\n",
                v.lines, v.lines == 1 ? "" : "s", v.files, v.files == 1 ? "" : "s",
                (unsigned long long)v.first_seq, v.first_t, (unsigned long long)v.seq, v.last_t,
                v.genesis ? "the chain starts here" : "continues from ", v.genesis ? "" : v.origin,
                v.genesis ? "" : " (not checked)");
    EVP_MAC_CTX_free(v.mac);
    return rc;
}

/* ---- file lists -------------------------------------------------------------- */

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int flex_audit_paths(const char *path, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *base = base_of(path);
    size_t blen = strlen(base), plen = strlen(path);
    char *dir = dir_of(path);
    DIR *d = opendir(dir);
    int e = errno;
    flex_free(dir);
    if (!d)
        return -e;
    char **v = NULL;
    size_t k = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (strncmp(nm, base, blen) != 0 || nm[blen] != '.' || strlen(nm + blen) != 11 ||
            parse_day(nm + blen + 1) < 0)
            continue;
        if (k + 2 > cap)
            v = flex_realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
        v[k] = flex_malloc(plen + 12);
        memcpy(v[k], path, plen);
        memcpy(v[k++] + plen, nm + blen, 12);
    }
    closedir(d);
    if (k > 1)
        qsort(v, k, sizeof(*v), cmp_str);
    if (k + 1 > cap)
        v = flex_realloc(v, (k + 1) * sizeof(*v));
    v[k++] = flex_strdup(path);
    *out = v;
    *n = k;
    return 0;
}

void flex_audit_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++)
        flex_free(paths[i]);
    flex_free(paths);
}
