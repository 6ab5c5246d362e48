/*
 * Choosing the coding of a text and cutting it into SMS parts.
 *
 * A text goes out in GSM 03.38 (data_coding 0) when every character is in the
 * default alphabet or its extension, else in UCS-2/UTF-16BE (data_coding 8).
 * GSM-7 is never dearer than UCS-2 for a text both can carry (2 septets per
 * character at worst, 160/153 per part, against 70/67 units), so the choice
 * is GSM-7 whenever possible.
 *
 *                 one part    each part of a long text (6-octet UDH)
 *   GSM-7         160 septets 153 septets
 *   UCS-2          70 units    67 units
 *
 * A part never ends between ESC and the character it escapes, nor between
 * the two halves of a surrogate pair (an emoji).
 */
#ifndef FLEX_SMS_H
#define FLEX_SMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "utf.h"

#define FLEX_SMS_MAX_PARTS 10
#define FLEX_SMS_BUF (FLEX_SMS_MAX_PARTS * 160)

enum flex_sms_coding {
    FLEX_SMS_GSM7 = 0, /* SMPP data_coding 0: unpacked septets, one per octet */
    FLEX_SMS_UCS2 = 8, /* SMPP data_coding 8: UTF-16BE */
};

/* An encoded text.  Caller-owned (it is large: keep one per worker, not per
 * message).  Part i is data[start_i, part_end[i]) with start_0 = 0 and
 * start_i = part_end[i-1]. */
struct flex_sms {
    enum flex_sms_coding coding;
    uint16_t nparts;
    uint16_t units; /* septets (GSM-7) or 16-bit units (UCS-2) in all */
    uint16_t len;   /* bytes used in data */
    uint16_t part_end[FLEX_SMS_MAX_PARTS];
    unsigned char data[FLEX_SMS_BUF];
};

/* Encodes |len| bytes of UTF-8 at |text| (borrowed) into |sms|, in at most
 * |max_parts| parts (1..FLEX_SMS_MAX_PARTS).  Returns 0, or
 *   FLEX_E_UTF8      invalid UTF-8, |err->offset| at the first bad byte
 *   FLEX_E_TOOMANY   the text needs more than |max_parts| parts
 *   FLEX_E_TOOSHORT  empty text
 *   FLEX_E_INVAL     |max_parts| out of range */
int flex_sms_encode(struct flex_sms *sms, const char *text, size_t len, unsigned max_parts,
                    struct flex_text_error *err);

/* Bytes of part |i| and where it starts. */
static inline size_t flex_sms_part_start(const struct flex_sms *sms, unsigned i)
{
    return i == 0 ? 0 : sms->part_end[i - 1];
}

/* ---- receiving: user data of a data_coding into UTF-8 ------------------- */

/* Whether data_coding |dcs| is read as GSM 03.38 (unpacked septets, one
 * per octet): 0, 1, and the default alphabet of GSM 03.38's coding groups
 * (general 00xx/01xx, message waiting 1100/1101, data 1111 with bit 2
 * clear), which many SMSCs pass through as data_coding for texts received. */
bool flex_sms_dcs_gsm7(uint8_t dcs);

/* Whether |dcs| is read as UCS-2 (UTF-16BE): 8, and the UCS-2 of GSM
 * 03.38's coding groups (0x18-0x1B, 0x38-0x3B... with a message class or
 * auto-deletion; message waiting 1110).  Anything neither GSM-7 nor UCS-2
 * is read as Latin-1. */
bool flex_sms_dcs_ucs2(uint8_t dcs);

/* Length of the longest prefix of |b| within |n| bytes that ends on a
 * character boundary, read as flex_sms_decode reads: a GSM-7 escape and the
 * septet after it are one character, and so are a UCS-2 high surrogate and
 * the unit after it. */
size_t flex_sms_char_boundary(uint8_t dcs, const uint8_t *b, size_t n);

/* Decodes |n| bytes of user data |b| of data_coding |dcs| (GSM-7, UCS-2
 * (8) with surrogate pairs, anything else as Latin-1; a NUL of UCS-2 or
 * Latin-1 becomes U+FFFD, never an early end) into UTF-8 at |out|
 * (|outsz| bytes, NUL-terminated).  Returns the length, or FLEX_E_NOSPACE
 * when it does not fit (3 output bytes per input byte always fit). */
long flex_sms_decode(uint8_t dcs, const uint8_t *b, size_t n, char *out, size_t outsz);

#endif
