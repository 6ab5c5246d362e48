#include "sms.h"

#include "err.h"
#include "gsm7.h"

#define GSM_SINGLE 160
#define GSM_MULTI 153
#define UCS2_SINGLE 70
#define UCS2_MULTI 67

/* Cuts |sms->data| into parts: one when it holds at most |single| units of
 * |unit| bytes, else parts of at most |multi| units, none ending inside an
 * escape or surrogate pair. */
static int segment(struct flex_sms *sms, size_t unit, size_t single, size_t multi,
                   unsigned max_parts)
{
    size_t units = sms->len / unit;
    if (units <= single) {
        sms->nparts = 1;
        sms->part_end[0] = sms->len;
        return 0;
    }
    size_t pos = 0; /* in units */
    unsigned n = 0;
    while (pos < units) {
        if (n == max_parts)
            return FLEX_E_TOOMANY;
        size_t end = pos + multi < units ? pos + multi : units;
        if (end < units) {
            const unsigned char *last = sms->data + (end - 1) * unit;
            /* GSM-7: the last septet is an ESC whose partner is in the next
             * part.  UCS-2: the last unit is a high surrogate. */
            if ((unit == 1 && last[0] == FLEX_GSM7_ESC) ||
                (unit == 2 && last[0] >= 0xD8 && last[0] <= 0xDB))
                end--;
        }
        sms->part_end[n++] = (uint16_t)(end * unit);
        pos = end;
    }
    sms->nparts = (uint16_t)n;
    return 0;
}

int flex_sms_encode(struct flex_sms *sms, const char *text, size_t len, unsigned max_parts,
                    struct flex_text_error *err)
{
    if (max_parts < 1 || max_parts > FLEX_SMS_MAX_PARTS)
        return FLEX_E_INVAL;
    if (len == 0) {
        err->code = FLEX_E_TOOSHORT;
        err->offset = 0;
        return FLEX_E_TOOSHORT;
    }
    size_t gsm_cap = max_parts == 1 ? GSM_SINGLE : (size_t)max_parts * GSM_MULTI;
    long n = flex_gsm7_encode(text, len, sms->data, gsm_cap, err);
    if (n >= 0) {
        sms->coding = FLEX_SMS_GSM7;
        sms->len = (uint16_t)n;
        sms->units = (uint16_t)n;
        int rc = segment(sms, 1, GSM_SINGLE, GSM_MULTI, max_parts);
        if (rc) {
            err->code = rc;
            err->offset = 0;
        }
        return rc;
    }
    if (n == FLEX_E_UTF8)
        return (int)n;
    if (n == FLEX_E_TOOLONG) {
        /* Too long for GSM-7 and maybe not GSM at all: UCS-2 is never
         * shorter, but validate the rest so a bad byte is still reported as
         * such. */
        int rc = flex_utf8_validate(text, len, err);
        if (rc)
            return rc;
        err->code = FLEX_E_TOOMANY;
        err->offset = 0;
        return FLEX_E_TOOMANY;
    }
    /* Not GSM: UTF-16BE. */
    size_t ucs_cap = (max_parts == 1 ? UCS2_SINGLE : (size_t)max_parts * UCS2_MULTI) * 2;
    n = flex_utf8_to_utf16be(text, len, sms->data, ucs_cap, err);
    if (n == FLEX_E_TOOLONG) {
        int rc = flex_utf8_validate(text, len, err);
        if (rc)
            return rc;
        err->code = FLEX_E_TOOMANY;
        return FLEX_E_TOOMANY;
    }
    if (n < 0)
        return (int)n;
    sms->coding = FLEX_SMS_UCS2;
    sms->len = (uint16_t)(n * 2);
    sms->units = (uint16_t)n;
    int rc = segment(sms, 2, UCS2_SINGLE, UCS2_MULTI, max_parts);
    if (rc) {
        err->code = rc;
        err->offset = 0;
    }
    return rc;
}

/* ---- receiving ----------------------------------------------------------- */

/* The alphabet of a data_coding: SMPP's own values below 0x10, GSM 03.38's
 * coding groups above (3.4's "reserved" range, used by SMSCs that pass the
 * handset's DCS on). */
enum { ALPHA_GSM7, ALPHA_UCS2, ALPHA_8BIT };

static int dcs_alphabet(uint8_t dcs)
{
    if (dcs < 0x10) /* SMPP: 0 default, 1 IA5, 3 Latin-1, 8 UCS-2, ... */
        return dcs == 0 || dcs == 1 ? ALPHA_GSM7 : dcs == 8 ? ALPHA_UCS2 : ALPHA_8BIT;
    if (dcs < 0x80) { /* general data coding (00xx, 01xx): bits 3-2 the alphabet */
        unsigned a = (dcs >> 2) & 3;
        return a == 0 ? ALPHA_GSM7 : a == 2 ? ALPHA_UCS2 : ALPHA_8BIT;
    }
    if (dcs >= 0xC0 && dcs < 0xE0) /* message waiting, default alphabet */
        return ALPHA_GSM7;
    if (dcs >= 0xE0 && dcs < 0xF0) /* message waiting, UCS-2 */
        return ALPHA_UCS2;
    if (dcs >= 0xF0) /* data coding / message class: bit 2 is 8-bit data */
        return dcs & 0x04 ? ALPHA_8BIT : ALPHA_GSM7;
    return (dcs & 0x0f) == 0 ? ALPHA_GSM7 : ALPHA_8BIT; /* reserved 0x80-0xBF */
}

bool flex_sms_dcs_gsm7(uint8_t dcs)
{
    return dcs_alphabet(dcs) == ALPHA_GSM7;
}

bool flex_sms_dcs_ucs2(uint8_t dcs)
{
    return dcs_alphabet(dcs) == ALPHA_UCS2;
}

size_t flex_sms_char_boundary(uint8_t dcs, const uint8_t *b, size_t n)
{
    if (flex_sms_dcs_ucs2(dcs)) {
        n &= ~(size_t)1;
        /* A high surrogate only ever starts a pair: its low half was cut. */
        if (n >= 2 && b[n - 2] >= 0xD8 && b[n - 2] <= 0xDB)
            n -= 2;
        return n;
    }
    if (!flex_sms_dcs_gsm7(dcs))
        return n;
    size_t i = 0;
    while (i < n) {
        size_t step = (b[i] & 0x7F) == FLEX_GSM7_ESC ? 2 : 1;
        if (i + step > n)
            break;
        i += step;
    }
    return i;
}

long flex_sms_decode(uint8_t dcs, const uint8_t *b, size_t n, char *out, size_t outsz)
{
    if (flex_sms_dcs_ucs2(dcs))
        return flex_utf16be_to_utf8(b, n, out, outsz);
    if (flex_sms_dcs_gsm7(dcs))
        return flex_gsm7_decode(b, n, out, outsz);
    /* Latin-1 (3) and the rest: bytes as Latin-1 */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 3 + 1 > outsz)
            return FLEX_E_NOSPACE;
        /* a NUL would end the C string early: U+FFFD */
        o += flex_utf8_put(b[i] ? b[i] : 0xFFFD, (unsigned char *)out + o);
    }
    if (outsz == 0)
        return FLEX_E_NOSPACE;
    out[o] = '\0';
    return (long)o;
}
