#include "tz.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "mem.h"

#define TZ_MAX_TIMES 2000 /* the America zones have < 250 */
#define TZ_MAX_TYPES 256
#define TZ_FILE_MAX (256 * 1024)
#define TIME_LIMIT ((int64_t)1 << 40) /* ~35,000 years: times are clamped to it */

/* One rule date of a POSIX TZ string: Jn, n or Mm.w.d, plus a time. */
struct rule_date {
    char kind; /* 'J', 'D' (zero-based day), 'M' */
    int day, week, month;
    int32_t secs; /* local time of day of the change; may be < 0 or > 24 h */
};

struct flex_tz {
    int64_t *times; /* transitions, ascending */
    uint8_t *idx;   /* type after each transition */
    int32_t *offs;  /* type -> seconds east of UTC */
    size_t ntimes, ntypes;
    /* POSIX rule for times after the last transition */
    bool has_rule, has_dst;
    int32_t std_off, dst_off; /* seconds east */
    struct rule_date start, end;
};

/* ---- calendar --------------------------------------------------------- */

/* Howard Hinnant's days_from_civil/civil_from_days: exact for any year. */
int64_t flex_tz_days_from_civil(int y, int m, int d)
{
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void flex_tz_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- POSIX TZ rule ---------------------------------------------------- */

static const char *parse_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q && q - p >= 4 ? q + 1 : NULL;
    }
    const char *q = p;
    while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z'))
        q++;
    return q - p >= 3 ? q : NULL;
}

static int parse_num(const char **pp, int lo, int hi)
{
    const char *p = *pp;
    int v = 0, n = 0;
    while (*p >= '0' && *p <= '9' && n < 4)
        v = v * 10 + (*p++ - '0'), n++;
    *pp = p;
    return n == 0 || v < lo || v > hi ? -1 : v;
}

/* [+-]hh[:mm[:ss]] with hh up to |maxh|; returns seconds or INT32_MIN. */
static int32_t parse_hms(const char **pp, int maxh)
{
    const char *p = *pp;
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    int h = parse_num(&p, 0, maxh), m = 0, s = 0;
    if (h < 0)
        return INT32_MIN;
    if (*p == ':') {
        p++;
        if ((m = parse_num(&p, 0, 59)) < 0)
            return INT32_MIN;
        if (*p == ':') {
            p++;
            if ((s = parse_num(&p, 0, 59)) < 0)
                return INT32_MIN;
        }
    }
    *pp = p;
    return sign * (h * 3600 + m * 60 + s);
}

static int parse_rule_date(const char **pp, struct rule_date *r)
{
    const char *p = *pp;
    if (*p == 'J') {
        p++;
        r->kind = 'J';
        if ((r->day = parse_num(&p, 1, 365)) < 0)
            return -1;
    } else if (*p == 'M') {
        p++;
        r->kind = 'M';
        if ((r->month = parse_num(&p, 1, 12)) < 0 || *p++ != '.' ||
            (r->week = parse_num(&p, 1, 5)) < 0 || *p++ != '.' ||
            (r->day = parse_num(&p, 0, 6)) < 0)
            return -1;
    } else {
        r->kind = 'D';
        if ((r->day = parse_num(&p, 0, 365)) < 0)
            return -1;
    }
    r->secs = 7200;
    if (*p == '/') {
        p++;
        if ((r->secs = parse_hms(&p, 167)) == INT32_MIN)
            return -1;
    }
    *pp = p;
    return 0;
}

/* "EST5EDT,M3.2.0,M11.1.0", "MST7", "<+0330>-3:30" ... */
static int parse_rule(struct flex_tz *tz, const char *s)
{
    const char *p = parse_name(s);
    int32_t v;
    if (!p || (v = parse_hms(&p, 24)) == INT32_MIN)
        return -1;
    tz->std_off = -v;
    tz->dst_off = tz->std_off + 3600;
    tz->has_rule = true;
    if (*p == '\0')
        return 0;
    if (!(p = parse_name(p)))
        return -1;
    tz->has_dst = true;
    if (*p != ',' && *p != '\0') {
        if ((v = parse_hms(&p, 24)) == INT32_MIN)
            return -1;
        tz->dst_off = -v;
    }
    const char *dflt = ",M3.2.0,M11.1.0"; /* POSIX leaves it open; US rules */
    if (*p == '\0')
        p = dflt;
    if (*p++ != ',' || parse_rule_date(&p, &tz->start) != 0 || *p++ != ',' ||
        parse_rule_date(&p, &tz->end) != 0 || *p != '\0')
        return -1;
    return 0;
}

/* Local seconds since the epoch at 00:00 of rule date |r| in year |y|. */
static int64_t rule_day_start(const struct rule_date *r, int y)
{
    int64_t jan1 = flex_tz_days_from_civil(y, 1, 1), day;
    if (r->kind == 'J') {
        day = jan1 + r->day - 1 + (is_leap(y) && r->day >= 60);
    } else if (r->kind == 'D') {
        day = jan1 + r->day;
    } else {
        int64_t first = flex_tz_days_from_civil(y, r->month, 1);
        int dow = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
        int d = 1 + (r->day - dow + 7) % 7 + (r->week - 1) * 7;
        while (d > month_days(y, r->month))
            d -= 7;
        day = first + d - 1;
    }
    return day * 86400;
}

static int32_t rule_offset(const struct flex_tz *tz, int64_t t)
{
    if (!tz->has_dst)
        return tz->std_off;
    int y, m, d;
    flex_tz_civil_from_days(floor_div(t + tz->std_off, 86400), &y, &m, &d);
    int64_t start = rule_day_start(&tz->start, y) + tz->start.secs - tz->std_off;
    int64_t end = rule_day_start(&tz->end, y) + tz->end.secs - tz->dst_off;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? tz->dst_off : tz->std_off;
}

/* ---- TZif ------------------------------------------------------------- */

static int64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

struct counts {
    uint32_t isut, isstd, leap, time, type, chr;
};

static size_t block_size(const struct counts *c, int tsz)
{
    return (size_t)c->time * (tsz + 1) + (size_t)c->type * 6 + c->chr +
           (size_t)c->leap * (tsz + 4) + c->isstd + c->isut;
}

static int read_header(const uint8_t *p, size_t len, struct counts *c)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0 || (p[4] != 0 && (p[4] < '2' || p[4] > '4')))
        return -1;
    uint32_t *f[] = {&c->isut, &c->isstd, &c->leap, &c->time, &c->type, &c->chr};
    for (int i = 0; i < 6; i++)
        *f[i] = (uint32_t)be(p + 20 + 4 * i, 4);
    if (c->time > TZ_MAX_TIMES || c->type == 0 || c->type > TZ_MAX_TYPES || c->leap > 1000 ||
        c->chr > 1000 || (c->isut && c->isut != c->type) || (c->isstd && c->isstd != c->type))
        return -1;
    return 0;
}

#define FAIL(...) (snprintf(why, whysz, __VA_ARGS__), flex_tz_del(tz), FLEX_E_SYNTAX)

int flex_tz_parse(const uint8_t *data, size_t len, struct flex_tz **out, char *why, size_t whysz)
{
    struct flex_tz *tz = flex_calloc(1, sizeof(*tz));
    struct counts c;
    if (read_header(data, len, &c) != 0)
        return FAIL("not a TZif file");
    int tsz = 4;
    const uint8_t *p = data + 44, *end = data + len;
    if (data[4] != 0) { /* skip the 32-bit block; use the 64-bit one */
        size_t skip = block_size(&c, 4);
        if ((size_t)(end - p) < skip || read_header(p + skip, (size_t)(end - p) - skip, &c) != 0)
            return FAIL("bad TZif version 2+ header");
        p += skip + 44;
        tsz = 8;
    }
    if ((size_t)(end - p) < block_size(&c, tsz))
        return FAIL("TZif data shorter than its header says");
    tz->ntimes = c.time;
    tz->ntypes = c.type;
    tz->times = flex_malloc((c.time + 1) * sizeof(int64_t));
    tz->idx = flex_malloc(c.time + 1);
    tz->offs = flex_malloc(c.type * sizeof(int32_t));
    for (size_t i = 0; i < c.time; i++) {
        int64_t t = be(p + i * tsz, tsz);
        tz->times[i] = t < -TIME_LIMIT ? -TIME_LIMIT : t > TIME_LIMIT ? TIME_LIMIT : t;
        if (i && tz->times[i] < tz->times[i - 1])
            return FAIL("TZif transitions out of order");
    }
    p += (size_t)c.time * tsz;
    for (size_t i = 0; i < c.time; i++)
        if ((tz->idx[i] = p[i]) >= c.type)
            return FAIL("TZif transition names a missing type");
    p += c.time;
    for (size_t i = 0; i < c.type; i++) {
        int64_t off = be(p + i * 6, 4);
        if (off < -25 * 3600 || off > 26 * 3600)
            return FAIL("TZif offset out of range");
        tz->offs[i] = (int32_t)off;
    }
    p += block_size(&c, tsz) - (size_t)c.time * (tsz + 1);
    if (tsz == 8 && end - p >= 2 && *p == '\n') { /* footer: "\n<rule>\n" */
        const uint8_t *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        if (!nl || nl - p > 128)
            return FAIL("TZif footer without its newline");
        char rule[129];
        memcpy(rule, p + 1, (size_t)(nl - p - 1));
        rule[nl - p - 1] = '\0';
        if (rule[0] && parse_rule(tz, rule) != 0)
            return FAIL("bad TZ rule in the TZif footer");
    }
    *out = tz;
    return 0;
}

void flex_tz_del(struct flex_tz *tz)
{
    if (!tz)
        return;
    flex_free(tz->times);
    flex_free(tz->idx);
    flex_free(tz->offs);
    flex_free(tz);
}

int32_t flex_tz_offset(const struct flex_tz *tz, int64_t t)
{
    t = t < -TIME_LIMIT ? -TIME_LIMIT : t > TIME_LIMIT ? TIME_LIMIT : t;
    if (tz->ntimes == 0 || t < tz->times[0]) {
        if (tz->ntimes == 0 && tz->has_rule)
            return rule_offset(tz, t);
        return tz->offs[0];
    }
    if (t >= tz->times[tz->ntimes - 1] && tz->has_rule)
        return rule_offset(tz, t);
    size_t lo = 0, hi = tz->ntimes; /* last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->offs[tz->idx[lo]];
}

void flex_tz_local(const struct flex_tz *tz, int64_t t, struct flex_tm *o)
{
    int64_t l = t + flex_tz_offset(tz, t);
    int64_t days = floor_div(l, 86400), secs = l - days * 86400;
    flex_tz_civil_from_days(days, &o->year, &o->month, &o->day);
    o->hour = (int)(secs / 3600);
    o->min = (int)(secs / 60 % 60);
    o->sec = (int)(secs % 60);
    o->wday = (int)((days % 7 + 11) % 7);
}

int64_t flex_tz_to_utc(const struct flex_tz *tz, const struct flex_tm *tm)
{
    int64_t l = flex_tz_days_from_civil(tm->year, tm->month, tm->day) * 86400 + tm->hour * 3600 +
                tm->min * 60 + tm->sec;
    /* The offset a day earlier is the one before any change near |l|;
     * if it still holds at the candidate, that is the first occurrence. */
    int32_t before = flex_tz_offset(tz, l - 86400);
    int64_t t = l - before;
    int32_t at = flex_tz_offset(tz, t);
    if (at == before)
        return t;
    int64_t t2 = l - at; /* after the change */
    return flex_tz_offset(tz, t2) == at ? t2 : t;
}

/* ---- the zone cache --------------------------------------------------- */

struct zone {
    struct zone *next;
    struct flex_tz *tz;
    char name[65];
};

static pthread_mutex_t zones_mu = PTHREAD_MUTEX_INITIALIZER;
static struct zone *zones;

static struct flex_tz *load(const char *name)
{
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    struct flex_tz *tz = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size < TZ_FILE_MAX) {
        uint8_t *buf = flex_malloc((size_t)st.st_size);
        char why[80];
        if (read(fd, buf, (size_t)st.st_size) == st.st_size &&
            flex_tz_parse(buf, (size_t)st.st_size, &tz, why, sizeof(why)) != 0)
            tz = NULL;
        flex_free(buf);
    }
    close(fd);
    return tz;
}

const struct flex_tz *flex_tz_get(const char *name)
{
    if (strlen(name) > 64 || name[0] == '/' || strstr(name, ".."))
        return NULL;
    pthread_mutex_lock(&zones_mu);
    struct zone *z = zones;
    while (z && strcmp(z->name, name) != 0)
        z = z->next;
    if (!z) {
        struct flex_tz *tz = load(name);
        if (tz) {
            z = flex_calloc(1, sizeof(*z));
            z->tz = tz;
            snprintf(z->name, sizeof(z->name), "%s", name);
            z->next = zones;
            zones = z;
        }
    }
    pthread_mutex_unlock(&zones_mu);
    return z ? z->tz : NULL;
}

void flex_tz_free_all(void)
{
    pthread_mutex_lock(&zones_mu);
    while (zones) {
        struct zone *z = zones;
        zones = z->next;
        flex_tz_del(z->tz);
        flex_free(z);
    }
    pthread_mutex_unlock(&zones_mu);
}
