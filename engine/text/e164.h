/*
 * Phone number normalization to E.164 ("+" and up to 15 digits).
 *
 * Accepted input:
 *   NANP:  2025550143, 202-555-0143, (202) 555.0143, 1 202 555 0143,
 *          +1 (202) 555-0143    -> +12025550143
 *   intl:  +44 20 7946 0958, 0044 20 7946 0958, 011 44 20 7946 0958
 *                                -> +442079460958
 * Separators: space, tab, '.', '-', '(', ')', '/'.  A '+' only first.
 * NANP numbers are checked against the numbering plan: area code and
 * exchange are NXX (N = 2-9), not N11 service codes; area codes with a
 * middle 9 are reserved.  The 555 exchange is valid (fictional numbers).
 */
#ifndef FLEX_E164_H
#define FLEX_E164_H

#include <stddef.h>

#define FLEX_E164_BUFSZ 17 /* '+', 15 digits, NUL */

/* Why a number was rejected, for the operator (no number text in it). */
struct flex_e164_error {
    int code;      /* FLEX_E_* */
    size_t offset; /* byte offset in the input where the problem is */
    char reason[96];
};

/* Normalizes |len| bytes at |in| (borrowed) into |out| (NUL-terminated).
 * Returns the length of |out| (>0) or a FLEX_E_* code with |*err| filled
 * (when |err| is not NULL):
 *   FLEX_E_TOOSHORT, FLEX_E_TOOLONG   digit count wrong for the plan
 *   FLEX_E_LETTERS                    a letter (vanity numbers, extensions)
 *   FLEX_E_SYNTAX                     another unexpected character
 *   FLEX_E_AREACODE, FLEX_E_EXCHANGE  invalid NANP area code / exchange
 *   FLEX_E_COUNTRY                    country code starting with 0 */
int flex_e164_normalize(const char *in, size_t len, char out[FLEX_E164_BUFSZ],
                        struct flex_e164_error *err);

/* True when |s| is already normalized (what flex_e164_normalize outputs). */
int flex_e164_is_normal(const char *s, size_t len);

#endif
