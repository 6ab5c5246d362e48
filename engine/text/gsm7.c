#include "gsm7.h"

#include "err.h"

/* Basic table: septet -> Unicode. */
static const uint16_t basic[128] = {
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, /* 00 */
    0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5, /* 08 */
    0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, /* 10 */
    0x03A3, 0x0398, 0x039E, 0x00A0, 0x00C6, 0x00E6, 0x00DF, 0x00C9, /* 18: 1B = ESC */
    0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027, /* 20 */
    0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F, /* 28 */
    0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037, /* 30 */
    0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F, /* 38 */
    0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047, /* 40 */
    0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F, /* 48 */
    0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057, /* 50 */
    0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7, /* 58 */
    0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067, /* 60 */
    0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F, /* 68 */
    0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077, /* 70 */
    0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0, /* 78 */
};

/* Extension table (after ESC): septet -> Unicode, 0 = unassigned. */
struct ext {
    uint8_t septet;
    uint16_t cp;
};
static const struct ext extension[] = {
    {0x0A, 0x000C}, {0x14, 0x005E}, {0x28, 0x007B}, {0x29, 0x007D}, {0x2F, 0x005C},
    {0x3C, 0x005B}, {0x3D, 0x007E}, {0x3E, 0x005D}, {0x40, 0x007C}, {0x65, 0x20AC},
};
#define NEXT (sizeof(extension) / sizeof(extension[0]))

/* Reverse table for U+0000-U+00FF, built once at first use: 0xFFFF none,
 * 0x00-0x7F basic, 0x100|code extension. */
static uint16_t latin[256];
/* Byte -> septet for the encoder's fast path: ASCII bytes of the basic
 * table; 0xFF for everything that needs the full path. */
static uint8_t fast[256];

static void build_latin(void)
{
    for (int i = 0; i < 256; i++)
        latin[i] = 0xFFFF;
    for (int s = 0; s < 128; s++)
        if (s != FLEX_GSM7_ESC && basic[s] < 256)
            latin[basic[s]] = (uint16_t)s;
    for (size_t i = 0; i < NEXT; i++)
        if (extension[i].cp < 256)
            latin[extension[i].cp] = (uint16_t)(0x100 | extension[i].septet);
    for (int b = 0; b < 256; b++)
        fast[b] = b < 0x80 && latin[b] < 0x80 ? (uint8_t)latin[b] : 0xFF;
}

/* Built before main() (and before any thread exists), then read-only. */
__attribute__((constructor)) static void gsm7_init(void)
{
    build_latin();
}

int flex_gsm7_lookup(uint32_t cp)
{
    if (cp < 256) {
        uint16_t v = latin[cp];
        return v == 0xFFFF ? -1 : v;
    }
    switch (cp) {
    case 0x0394: return 0x10;
    case 0x03A6: return 0x12;
    case 0x0393: return 0x13;
    case 0x039B: return 0x14;
    case 0x03A9: return 0x15;
    case 0x03A0: return 0x16;
    case 0x03A8: return 0x17;
    case 0x03A3: return 0x18;
    case 0x0398: return 0x19;
    case 0x039E: return 0x1A;
    case 0x20AC: return 0x100 | 0x65;
    default: return -1;
    }
}

long flex_gsm7_encode(const char *s, size_t len, unsigned char *out, size_t outsz,
                      struct flex_text_error *err)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        /* Fast path: a run of ASCII characters from the basic table, one
         * septet each, bounded by the input and the output room. */
        size_t stop = len - i < outsz - o ? len : i + (outsz - o);
        for (uint8_t g; i < stop && (g = fast[p[i]]) != 0xFF; i++)
            out[o++] = g;
        if (i == len)
            break;
        uint32_t cp;
        int n;
        if (p[i] < 0x80) {
            cp = p[i];
            n = 1;
        } else if ((n = flex_utf8_next(p + i, len - i, &cp)) < 0) {
            err->code = n;
            err->offset = i;
            return n;
        }
        int g = flex_gsm7_lookup(cp);
        if (g < 0) {
            err->code = FLEX_E_NOTGSM;
            err->offset = i;
            return FLEX_E_NOTGSM;
        }
        size_t need = g & 0x100 ? 2 : 1;
        if (o + need > outsz) {
            err->code = FLEX_E_TOOLONG;
            err->offset = i;
            return FLEX_E_TOOLONG;
        }
        if (g & 0x100)
            out[o++] = FLEX_GSM7_ESC;
        out[o++] = (unsigned char)(g & 0x7F);
        i += (size_t)n;
    }
    return (long)o;
}

long flex_gsm7_count(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    long count = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int n;
        if (p[i] < 0x80) {
            cp = p[i];
            n = 1;
        } else if ((n = flex_utf8_next(p + i, len - i, &cp)) < 0) {
            return -1;
        }
        int g = flex_gsm7_lookup(cp);
        if (g < 0)
            return -1;
        count += g & 0x100 ? 2 : 1;
        i += (size_t)n;
    }
    return count;
}

static uint32_t ext_lookup(unsigned char septet)
{
    for (size_t i = 0; i < NEXT; i++)
        if (extension[i].septet == septet)
            return extension[i].cp;
    return basic[septet]; /* 23.038: unknown escape shows the basic character */
}

long flex_gsm7_decode(const unsigned char *s, size_t len, char *out, size_t outsz)
{
    size_t o = 0;
    unsigned char tmp[4];
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i] & 0x7F;
        uint32_t cp;
        if (c == FLEX_GSM7_ESC) {
            /* A trailing ESC, or ESC ESC (reserved by 23.038 for a further
             * table), is shown as a space. */
            cp = 0x20;
            if (i + 1 < len) {
                unsigned char next = s[++i] & 0x7F;
                if (next != FLEX_GSM7_ESC)
                    cp = ext_lookup(next);
            }
        } else {
            cp = basic[c];
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

long flex_gsm7_pack(const unsigned char *septets, size_t n, unsigned char *out, size_t outsz)
{
    size_t need = (n * 7 + 7) / 8;
    if (need > outsz)
        return FLEX_E_NOSPACE;
    for (size_t i = 0; i < need; i++)
        out[i] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t bit = i * 7;
        unsigned v = septets[i] & 0x7F;
        out[bit / 8] |= (unsigned char)(v << (bit % 8));
        if (bit % 8 > 1)
            out[bit / 8 + 1] |= (unsigned char)(v >> (8 - bit % 8));
    }
    return (long)need;
}

long flex_gsm7_unpack(const unsigned char *octets, size_t len, size_t nseptets, unsigned char *out,
                      size_t outsz)
{
    if (nseptets > len * 8 / 7)
        nseptets = len * 8 / 7;
    if (nseptets > outsz)
        return FLEX_E_NOSPACE;
    for (size_t i = 0; i < nseptets; i++) {
        size_t bit = i * 7;
        unsigned v = octets[bit / 8] >> (bit % 8);
        if (bit % 8 > 1 && bit / 8 + 1 < len)
            v |= (unsigned)octets[bit / 8 + 1] << (8 - bit % 8);
        out[i] = (unsigned char)(v & 0x7F);
    }
    return (long)nseptets;
}
