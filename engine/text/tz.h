/*
 * Time zones: a reader of the tz database's compiled files (TZif, RFC
 * 8536) and of the POSIX TZ rule at their end.
 *
 * Why not localtime_r(): it follows the process-wide TZ variable, and
 * changing that while other threads format times is a data race.  flexd
 * needs the local time of many zones at once (quiet hours per location,
 * reminder texts in the location's zone), so each zone is read once into
 * an immutable struct that any thread may use.
 */
#ifndef FLEX_TZ_H
#define FLEX_TZ_H

#include <stddef.h>
#include <stdint.h>

struct flex_tz;

/* Parses the TZif bytes |data| (|len|, borrowed).  Returns 0 and a new
 * zone in |*out| (free with flex_tz_del), or FLEX_E_SYNTAX with the reason
 * in |why| for a file that is not a valid TZif version 1 to 4. */
int flex_tz_parse(const uint8_t *data, size_t len, struct flex_tz **out, char *why, size_t whysz);

/* The zone |name| ("America/Chicago") from $TZDIR or /usr/share/zoneinfo,
 * read once and kept until flex_tz_free_all(): the pointer stays valid,
 * and may be shared by every thread.  NULL when the file is missing or
 * invalid.  Thread-safe (a mutex, taken only here: at config load). */
const struct flex_tz *flex_tz_get(const char *name);
void flex_tz_free_all(void);

void flex_tz_del(struct flex_tz *tz);

/* Seconds east of UTC in |tz| at the Unix time |t|. */
int32_t flex_tz_offset(const struct flex_tz *tz, int64_t t);

/* Broken-down local time. */
struct flex_tm {
    int year, month, day; /* month 1..12 */
    int hour, min, sec;
    int wday; /* 0 = Sunday */
};

/* The local time in |tz| of the Unix time |t|. */
void flex_tz_local(const struct flex_tz *tz, int64_t t, struct flex_tm *out);

/* The Unix time of the local wall time |tm| (wday ignored) in |tz|.  A
 * wall time skipped by a spring-forward gap is taken as if the offset
 * before the gap still applied (02:30 -> 03:30); one repeated in the fall
 * is taken at its first occurrence. */
int64_t flex_tz_to_utc(const struct flex_tz *tz, const struct flex_tm *tm);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t flex_tz_days_from_civil(int y, int m, int d);
void flex_tz_civil_from_days(int64_t days, int *y, int *m, int *d);

#endif
