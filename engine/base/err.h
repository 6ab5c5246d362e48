/*
 * One error space for the whole project.
 *
 * Functions return 0 on success, -errno when a system call failed, or a
 * negative FLEX_E_* code below.  FLEX_E_* codes live in a reserved range
 * (-1000 and below) so they never collide with -errno values.  Codes at or
 * below FLEX_E_FATAL mean the session/bind that produced them must be torn
 * down; codes above it concern one item (a job, a line, a PDU field).
 */
#ifndef FLEX_ERR_H
#define FLEX_ERR_H

enum flex_err {
    FLEX_E_BASE = -1000,
    FLEX_E_INVAL = -1001,       /* bad argument or value */
    FLEX_E_SYNTAX = -1002,      /* malformed input text */
    FLEX_E_RANGE = -1003,       /* value outside its allowed range */
    FLEX_E_TOOLONG = -1004,     /* input longer than allowed */
    FLEX_E_TOOSHORT = -1005,    /* input shorter than allowed */
    FLEX_E_NOSPACE = -1006,     /* caller's output buffer too small */
    FLEX_E_LETTERS = -1007,     /* phone number contains letters */
    FLEX_E_AREACODE = -1008,    /* invalid NANP area code */
    FLEX_E_EXCHANGE = -1009,    /* invalid NANP exchange (central office) code */
    FLEX_E_COUNTRY = -1010,     /* invalid country code */
    FLEX_E_UTF8 = -1011,        /* invalid UTF-8 */
    FLEX_E_NOTGSM = -1012,      /* text not representable in GSM 03.38 */
    FLEX_E_PLACEHOLDER = -1013, /* unknown template placeholder */
    FLEX_E_NOTFOUND = -1014,    /* lookup missed */
    FLEX_E_FULL = -1015,        /* a bounded structure is full */
    FLEX_E_CORRUPT = -1016,     /* serialized data failed its checks */
    FLEX_E_KEY = -1017,         /* data was made with another secret key */
    FLEX_E_CONFIG = -1018,      /* configuration has errors */
    FLEX_E_TOOMANY = -1019,     /* more parts/items than allowed */

    FLEX_E_FATAL = -1500, /* at or below: tear the session down */
};

/* Short English description of |err| (a FLEX_E_* code or -errno).  Returns a
 * static string, never NULL. */
const char *flex_strerror(int err);

#endif
