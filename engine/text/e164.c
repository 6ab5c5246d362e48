#include "e164.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

#define MAX_DIGITS 15
#define MIN_INTL_DIGITS 7
/* room for an 011 or 00 prefix in front of 15 digits */
#define DIGIT_CAP (MAX_DIGITS + 3)

static int fail(struct flex_e164_error *err, int code, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct flex_e164_error *err, int code, size_t offset, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        err->offset = offset;
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
        va_end(ap);
    }
    return code;
}

static int is_sep(char c)
{
    return c == ' ' || c == '\t' || c == '.' || c == '-' || c == '(' || c == ')' || c == '/';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Checks a NANP area code (|d| = 3 digits) or exchange. */
static int check_nxx(const char *d, int is_area, struct flex_e164_error *err, size_t off)
{
    int code = is_area ? FLEX_E_AREACODE : FLEX_E_EXCHANGE;
    const char *what = is_area ? "area code" : "exchange";
    if (d[0] < '2')
        return fail(err, code, off, "%s cannot start with %d", what, d[0] - '0');
    if (d[1] == '1' && d[2] == '1')
        return fail(err, code, off, "%s %.3s is a service code (N11)", what, d);
    if (is_area && d[1] == '9')
        return fail(err, code, off, "%s %.3s is reserved (middle digit 9)", what, d);
    return 0;
}

static int finish_nanp(const char *d, char *out, struct flex_e164_error *err)
{
    /* |d| holds 10 digits: NPA NXX XXXX */
    int rc = check_nxx(d, 1, err, 0);
    if (rc == 0)
        rc = check_nxx(d + 3, 0, err, 0);
    if (rc)
        return rc;
    out[0] = '+';
    out[1] = '1';
    memcpy(out + 2, d, 10);
    out[12] = '\0';
    return 12;
}

static int finish_intl(const char *d, size_t n, char *out, struct flex_e164_error *err)
{
    if (n == 0 || d[0] == '0')
        return fail(err, FLEX_E_COUNTRY, 0, "country code cannot start with 0");
    if (d[0] == '1') {
        if (n < 11)
            return fail(err, FLEX_E_TOOSHORT, 0, "too short: %zu digits, NANP needs 11", n);
        if (n > 11)
            return fail(err, FLEX_E_TOOLONG, 0, "too long: %zu digits, NANP needs 11", n);
        return finish_nanp(d + 1, out, err);
    }
    if (n > MAX_DIGITS)
        return fail(err, FLEX_E_TOOLONG, 0, "too long: %zu digits, E.164 allows %d", n, MAX_DIGITS);
    if (n < MIN_INTL_DIGITS)
        return fail(err, FLEX_E_TOOSHORT, 0, "too short: %zu digits, E.164 needs at least %d", n,
                    MIN_INTL_DIGITS);
    out[0] = '+';
    memcpy(out + 1, d, n);
    out[n + 1] = '\0';
    return (int)n + 1;
}

int flex_e164_normalize(const char *in, size_t len, char out[FLEX_E164_BUFSZ],
                        struct flex_e164_error *err)
{
    char d[DIGIT_CAP];
    size_t n = 0, i = 0;
    int plus = 0;

    while (i < len && (in[i] == ' ' || in[i] == '\t'))
        i++;
    if (i < len && in[i] == '+') {
        plus = 1;
        i++;
    }
    for (; i < len; i++) {
        char c = in[i];
        if (c >= '0' && c <= '9') {
            if (n == DIGIT_CAP)
                return fail(err, FLEX_E_TOOLONG, i, "too long: more than %d digits", MAX_DIGITS);
            d[n++] = c;
        } else if (is_sep(c)) {
            continue;
        } else if (is_alpha(c)) {
            return fail(err, FLEX_E_LETTERS, i, "letter at offset %zu", i);
        } else {
            return fail(err, FLEX_E_SYNTAX, i, "unexpected character at offset %zu", i);
        }
    }
    if (n == 0)
        return fail(err, FLEX_E_TOOSHORT, 0, "no digits");
    if (plus)
        return finish_intl(d, n, out, err);
    /* International dialing prefixes: 00 (ITU) and 011 (NANP). */
    if (n > 3 && d[0] == '0' && d[1] == '1' && d[2] == '1')
        return finish_intl(d + 3, n - 3, out, err);
    if (n > 2 && d[0] == '0' && d[1] == '0')
        return finish_intl(d + 2, n - 2, out, err);
    if (n == 11 && d[0] == '1')
        return finish_nanp(d + 1, out, err);
    if (n < 10)
        return fail(err, FLEX_E_TOOSHORT, 0, "too short: %zu digits, NANP needs 10", n);
    if (n == 10)
        return finish_nanp(d, out, err);
    if (n == 11)
        return fail(err, FLEX_E_COUNTRY, 0,
                    "11 digits must start with country code 1 (or use +CC)");
    return fail(err, FLEX_E_TOOLONG, 0, "too long: %zu digits, NANP needs 10 (or use +CC)", n);
}

int flex_e164_is_normal(const char *s, size_t len)
{
    if (len < 1 + MIN_INTL_DIGITS || len > 1 + MAX_DIGITS || s[0] != '+' || s[1] == '0')
        return 0;
    for (size_t i = 1; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}
