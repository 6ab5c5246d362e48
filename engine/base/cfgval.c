#include "cfgval.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define WHY(...) (snprintf(why, whysz, __VA_ARGS__), FLEX_E_INVAL)

int flex_cfgval_bool(const char *v, bool *out, char *why, size_t whysz)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return WHY("expected a boolean (true/false, yes/no, on/off, 1/0)");
}

/* Digits only, no sign, no overflow. */
static int parse_digits(const char *v, const char **end, uint64_t *out)
{
    uint64_t n = 0;
    const char *p = v;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (UINT64_MAX - 9) / 10)
            return -1;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    *end = p;
    *out = n;
    return 0;
}

int flex_cfgval_uint(const char *v, uint64_t min, uint64_t max, uint64_t *out, char *why,
                     size_t whysz)
{
    const char *end;
    uint64_t n;
    if (parse_digits(v, &end, &n) < 0 || *end != '\0')
        return WHY("expected a whole number from %llu to %llu", (unsigned long long)min,
                   (unsigned long long)max);
    if (n < min || n > max) {
        snprintf(why, whysz, "%llu is out of range %llu..%llu", (unsigned long long)n,
                 (unsigned long long)min, (unsigned long long)max);
        return FLEX_E_RANGE;
    }
    *out = n;
    return 0;
}

int flex_cfgval_double(const char *v, double min, double max, double *out, char *why, size_t whysz)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !isfinite(d) || (*v < '0' && *v != '.'))
        return WHY("expected a number from %g to %g", min, max);
    if (d < min || d > max) {
        snprintf(why, whysz, "%g is out of range %g..%g", d, min, max);
        return FLEX_E_RANGE;
    }
    *out = d;
    return 0;
}

int flex_cfgval_duration(const char *v, uint64_t unit_ms, uint64_t min_ms, uint64_t max_ms,
                         uint64_t *out_ms, char *why, size_t whysz)
{
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const char *end;
    uint64_t n, mult = 0;
    if (parse_digits(v, &end, &n) < 0)
        return WHY("expected a duration: a number with ms, s, m, h or d");
    if (*end == '\0') {
        mult = unit_ms;
    } else {
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strcmp(end, units[i].suffix) == 0)
                mult = units[i].ms;
    }
    if (mult == 0)
        return WHY("unknown unit '%.8s' (use ms, s, m, h or d)", end);
    if (n > UINT64_MAX / mult || n * mult < min_ms || n * mult > max_ms) {
        snprintf(why, whysz, "duration out of range %llums..%llums", (unsigned long long)min_ms,
                 (unsigned long long)max_ms);
        return FLEX_E_RANGE;
    }
    *out_ms = n * mult;
    return 0;
}

int flex_cfgval_hhmm(const char *v, uint32_t *out_min, char *why, size_t whysz)
{
    const char *end;
    uint64_t h, m;
    if (parse_digits(v, &end, &h) < 0 || end - v > 2 || *end != ':')
        return WHY("expected a time of day HH:MM");
    const char *mp = end + 1;
    if (parse_digits(mp, &end, &m) < 0 || end - mp != 2 || *end != '\0')
        return WHY("expected a time of day HH:MM");
    if (h > 23 || m > 59) {
        snprintf(why, whysz, "time of day out of range 00:00..23:59");
        return FLEX_E_RANGE;
    }
    *out_min = (uint32_t)(h * 60 + m);
    return 0;
}

static bool tz_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '+' || c == '/';
}

int flex_cfgval_timezone(const char *v, char *why, size_t whysz)
{
    size_t len = strlen(v);
    if (len == 0 || len > 64 || v[0] == '/' || strstr(v, "..") || strstr(v, "//"))
        return WHY("expected an IANA time zone name such as America/New_York");
    for (size_t i = 0; i < len; i++)
        if (!tz_char_ok(v[i]))
            return WHY("expected an IANA time zone name such as America/New_York");
    if (strcmp(v, "localtime") == 0 || strcmp(v, "posixrules") == 0)
        return WHY("'%s' is not a zone name; use one such as America/New_York", v);
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", v);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char magic[4] = {0};
    struct stat st;
    bool ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read(fd, magic, 4) == 4 &&
              memcmp(magic, "TZif", 4) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok)
        return WHY("unknown time zone '%.64s' (not in the tz database)", v);
    return 0;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Levenshtein distance, case-insensitive, both at most 64 bytes (else a
 * large number). */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return 1000;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub = diag + (lower((unsigned char)a[i - 1]) != lower((unsigned char)b[j - 1]));
            size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[lb];
}

static size_t near_enough(const char *word)
{
    size_t len = strlen(word);
    return len < 6 ? 1 : len / 3;
}

const char *flex_cfgval_nearest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bd = near_enough(word) + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = cands[i] ? distance(word, cands[i]) : 1000;
        if (d < bd)
            bd = d, best = cands[i];
    }
    return best;
}

bool flex_cfgval_zone_suggest(const char *name, char *out, size_t outsz)
{
    const char *dir = getenv("TZDIR");
    char path[512], line[256];
    snprintf(path, sizeof(path), "%s/zone1970.tab", dir && *dir ? dir : "/usr/share/zoneinfo");
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t bd = near_enough(name) + 1;
    out[0] = '\0';
    while (fgets(line, sizeof(line), f)) { /* codes TAB coordinates TAB zone [TAB comment] */
        if (line[0] == '#')
            continue;
        char *z = strchr(line, '\t');
        z = z ? strchr(z + 1, '\t') : NULL;
        if (!z)
            continue;
        z++;
        z[strcspn(z, "\t\n")] = '\0';
        size_t d = distance(name, z);
        if (d < bd && strlen(z) < outsz) {
            bd = d;
            memcpy(out, z, strlen(z) + 1);
        }
    }
    fclose(f);
    return out[0] != '\0';
}

const char *flex_cfgval_zone_legacy(const char *name, const char **why)
{
    static const char *const fixed = "a fixed offset without daylight saving time: quiet hours "
                                     "and send times an hour off half of the year";
    static const char *const old = "a legacy name kept for compatibility";
    static const struct {
        const char *name, *use, *why;
    } zones[] = {
        {"EST", "America/New_York", NULL},
        {"MST", "America/Denver or America/Phoenix", NULL},
        {"HST", "Pacific/Honolulu", NULL},
        {"EST5EDT", "America/New_York", ""},
        {"CST6CDT", "America/Chicago", ""},
        {"MST7MDT", "America/Denver", ""},
        {"PST8PDT", "America/Los_Angeles", ""},
        {"US/Eastern", "America/New_York", ""},
        {"US/Central", "America/Chicago", ""},
        {"US/Mountain", "America/Denver", ""},
        {"US/Pacific", "America/Los_Angeles", ""},
        {"US/Alaska", "America/Anchorage", ""},
        {"US/Hawaii", "Pacific/Honolulu", ""},
        {"US/Arizona", "America/Phoenix", ""},
        {"US/East-Indiana", "America/Indiana/Indianapolis", ""},
        {"US/Michigan", "America/Detroit", ""},
        {"Canada/Eastern", "America/Toronto", ""},
        {"Canada/Central", "America/Winnipeg", ""},
        {"Canada/Mountain", "America/Edmonton", ""},
        {"Canada/Pacific", "America/Vancouver", ""},
        {"UTC", NULL, NULL},
        {"GMT", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
        if (strcmp(name, zones[i].name) == 0) {
            *why = zones[i].why ? old : fixed;
            return zones[i].use ? zones[i].use : "the practice's own zone (America/...)";
        }
    if (strncmp(name, "Etc/", 4) == 0 || strncmp(name, "SystemV/", 8) == 0) {
        *why = fixed;
        return "the practice's own zone (America/...)";
    }
    return NULL;
}

/* Checks "host:port" starting at |p|; |end| is the end of the authority. */
static int check_hostport(const char *p, const char *end, bool port_required, char *why,
                          size_t whysz)
{
    const char *colon;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb || rb == p + 1)
            return WHY("bad IPv6 address (expected [addr]:port)");
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        if (!colon && rb + 1 != end)
            return WHY("unexpected text after ']'");
    } else {
        colon = NULL;
        for (const char *q = p; q < end; q++)
            if (*q == ':')
                colon = q;
        if ((colon ? colon : end) == p)
            return WHY("missing host name");
        for (const char *q = p; q < (colon ? colon : end); q++)
            if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                  (*q >= '0' && *q <= '9') || *q == '.' || *q == '-' || *q == '_'))
                return WHY("bad character in host name");
    }
    if (!colon)
        return port_required ? WHY("missing port (expected host:port)") : 0;
    uint64_t port = 0;
    const char *q = colon + 1;
    for (; q < end && *q >= '0' && *q <= '9' && port <= 65535; q++)
        port = port * 10 + (uint64_t)(*q - '0');
    if (q != end || q == colon + 1 || port == 0 || port > 65535)
        return WHY("bad port (expected 1-65535)");
    return 0;
}

int flex_cfgval_hostport(const char *v, char *why, size_t whysz)
{
    return check_hostport(v, v + strlen(v), true, why, whysz);
}

int flex_cfgval_redis_url(const char *v, char *why, size_t whysz)
{
    if (strncmp(v, "unix://", 7) == 0) {
        if (v[7] != '/')
            return WHY("unix socket URL needs an absolute path: unix:///run/redis.sock");
        return 0;
    }
    const char *p;
    if (strncmp(v, "redis://", 8) == 0)
        p = v + 8;
    else if (strncmp(v, "rediss://", 9) == 0)
        p = v + 9;
    else
        return WHY("expected redis://host:port/db, rediss://host:port/db (TLS) or unix:///path");
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at)
        p = at + 1;
    int rc = check_hostport(p, end, false, why, whysz);
    if (rc)
        return rc;
    if (slash && slash[1]) {
        uint64_t db;
        char tmp[64];
        if (flex_cfgval_uint(slash + 1, 0, 15, &db, tmp, sizeof(tmp)) != 0)
            return WHY("bad database number after '/' (0-15)");
    }
    return 0;
}

bool flex_cfgval_is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0;
}

void flex_cfgval_redact_url(const char *url, char *out, size_t outsz)
{
    if (outsz == 0)
        return;
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : url;
    const char *at = NULL;
    for (const char *q = auth; *q; q++) /* the last '@' of all: a password may */
        if (*q == '@')                  /* hold '@', '/', '?' or '#' (nothing */
            at = q;                     /* after the host can hold '@') */
    if (!at) {
        snprintf(out, outsz, "%s", url);
        return;
    }
    if (!scheme) { /* a mistyped scheme ("redis:/u:pw@h"): all before the '@' */
        snprintf(out, outsz, "****%s", at);
        return;
    }
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    const char *user_end = colon ? colon : auth; /* no ':': it is all password */
    snprintf(out, outsz, "%.*s%.*s%s****%s", (int)(auth - url), url, (int)(user_end - auth), auth,
             colon ? ":" : "", at);
}

int flex_cfgval_http_url(const char *v, char *why, size_t whysz)
{
    const char *p;
    if (strncmp(v, "http://", 7) == 0)
        p = v + 7;
    else if (strncmp(v, "https://", 8) == 0)
        p = v + 8;
    else
        return WHY("expected an http:// or https:// URL");
    const char *end = p + strcspn(p, "/?#");
    return check_hostport(p, end, false, why, whysz);
}

bool flex_cfgval_name_ok(const char *v, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}
