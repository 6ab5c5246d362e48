/*
 * Parsers for typed configuration values.  Each takes a NUL-terminated
 * value (borrowed), returns 0 and the parsed value, or FLEX_E_INVAL /
 * FLEX_E_RANGE with a one-line reason in |why| (|whysz| bytes) that names
 * the expected form.  Shared by the config loader and flexctl.
 */
#ifndef FLEX_CFGVAL_H
#define FLEX_CFGVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int flex_cfgval_bool(const char *v, bool *out, char *why, size_t whysz);
int flex_cfgval_uint(const char *v, uint64_t min, uint64_t max, uint64_t *out, char *why,
                     size_t whysz);
int flex_cfgval_double(const char *v, double min, double max, double *out, char *why, size_t whysz);
/* "250ms", "30s", "5m", "2h", "1d"; a bare number is in |unit_ms| units.
 * Result in milliseconds, within [min_ms, max_ms]. */
int flex_cfgval_duration(const char *v, uint64_t unit_ms, uint64_t min_ms, uint64_t max_ms,
                         uint64_t *out_ms, char *why, size_t whysz);
/* "H:MM" or "HH:MM", 00:00-23:59 -> minutes after midnight. */
int flex_cfgval_hhmm(const char *v, uint32_t *out_min, char *why, size_t whysz);
/* An IANA zone name present in the tz database ($TZDIR or
 * /usr/share/zoneinfo), e.g. "America/New_York". */
int flex_cfgval_timezone(const char *v, char *why, size_t whysz);
/* "host:port" or "[v6]:port", port 1-65535. */
int flex_cfgval_hostport(const char *v, char *why, size_t whysz);
/* "redis://[user:password@]host[:port][/db]", "rediss://..." (TLS) or
 * "unix:///path[?db=N]". */
int flex_cfgval_redis_url(const char *v, char *why, size_t whysz);

/* The candidate nearest |word| by edit distance (case-insensitive), if near
 * enough to be a typo of it (at most 1 edit for short words, a third of the
 * length for longer ones); NULL otherwise.  For "did you mean". */
const char *flex_cfgval_nearest(const char *word, const char *const *cands, size_t n);
/* The zone of the tz database nearest |name| (a typo such as
 * "America/NewYork"), into |out|; false when none is near. */
bool flex_cfgval_zone_suggest(const char *name, char *out, size_t outsz);
/* A zone that exists but should not be used for a practice, with what to
 * use instead ("EST": fixed UTC-5 all year, "America/New_York"); NULL for a
 * good zone.  |*why| says what is wrong with it. */
const char *flex_cfgval_zone_legacy(const char *name, const char **why);

/* Whether |host| (a name or an address) is this machine: localhost,
 * 127.0.0.0/8, ::1.  Connections elsewhere without TLS, or without
 * verification, are warned about. */
bool flex_cfgval_is_loopback(const char *host);

/* |url| with the password of its user part ("scheme://user:PASSWORD@" or
 * "scheme://PASSWORD@") replaced by "****", into |out| (cut to fit,
 * NUL-terminated): what may be logged or printed of a URL.  Every message
 * that names a Redis URL goes through this. */
void flex_cfgval_redact_url(const char *url, char *out, size_t outsz);
/* "http://host..." or "https://host...". */
int flex_cfgval_http_url(const char *v, char *why, size_t whysz);
/* A section name: 1-64 of [A-Za-z0-9_-]. */
bool flex_cfgval_name_ok(const char *v, size_t len);

#endif
