#include "utf.h"

#include "err.h"

size_t flex_utf8_put(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int flex_utf8_validate(const char *s, size_t len, struct flex_text_error *err)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int n = flex_utf8_next(p + i, len - i, &cp);
        if (n < 0) {
            if (err) {
                err->code = n;
                err->offset = i;
            }
            return n;
        }
        i += (size_t)n;
    }
    return 0;
}

long flex_utf8_to_utf16be(const char *s, size_t len, unsigned char *out, size_t outsz,
                          struct flex_text_error *err)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int n = flex_utf8_next(p + i, len - i, &cp);
        if (n < 0) {
            err->code = n;
            err->offset = i;
            return n;
        }
        size_t need = cp >= 0x10000 ? 4 : 2;
        if (o + need > outsz) {
            err->code = FLEX_E_TOOLONG;
            err->offset = i;
            return FLEX_E_TOOLONG;
        }
        if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            uint32_t hi = 0xD800 | (v >> 10), lo = 0xDC00 | (v & 0x3FF);
            out[o++] = (unsigned char)(hi >> 8);
            out[o++] = (unsigned char)hi;
            out[o++] = (unsigned char)(lo >> 8);
            out[o++] = (unsigned char)lo;
        } else {
            out[o++] = (unsigned char)(cp >> 8);
            out[o++] = (unsigned char)cp;
        }
        i += (size_t)n;
    }
    return (long)(o / 2);
}

long flex_utf16be_to_utf8(const unsigned char *s, size_t len, char *out, size_t outsz)
{
    size_t o = 0;
    unsigned char tmp[4];
    for (size_t i = 0; i < len; i += 2) {
        uint32_t cp;
        if (i + 1 >= len) {
            cp = 0xFFFD; /* odd trailing byte */
        } else {
            uint32_t u = ((uint32_t)s[i] << 8) | s[i + 1];
            cp = u;
            if (u >= 0xD800 && u <= 0xDBFF) {
                uint32_t lo = i + 3 < len ? (((uint32_t)s[i + 2] << 8) | s[i + 3]) : 0;
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    i += 2;
                } else {
                    cp = 0xFFFD;
                }
            } else if ((u >= 0xDC00 && u <= 0xDFFF) || u == 0) {
                cp = 0xFFFD; /* a lone low half; a NUL would end the C string early */
            }
        }
        size_t n = flex_utf8_put(cp, tmp);
        if (o + n + 1 > outsz)
            return FLEX_E_NOSPACE;
        for (size_t k = 0; k < n; k++)
            out[o++] = (char)tmp[k];
    }
    if (outsz == 0)
        return FLEX_E_NOSPACE;
    out[o] = '\0';
    return (long)o;
}
