/*
 * GSM 03.38 (3GPP TS 23.038) default alphabet and its extension table.
 *
 * Septets are handled unpacked, one per octet, as SMPP carries them with
 * data_coding 0.  A character from the extension table (^ { } \ [ ~ ] | EUR
 * and form feed) costs two septets: ESC (0x1B) then its code.
 */
#ifndef FLEX_GSM7_H
#define FLEX_GSM7_H

#include <stddef.h>
#include <stdint.h>

#include "utf.h"

#define FLEX_GSM7_ESC 0x1B

/* Septet code for code point |cp|: 0x00-0x7F basic table, 0x100|code for
 * the extension table (two septets), -1 when not representable. */
int flex_gsm7_lookup(uint32_t cp);

/* UTF-8 -> unpacked septets.  Returns the septet count written to |out|
 * (|outsz| bytes of room), or FLEX_E_UTF8, FLEX_E_NOTGSM or FLEX_E_TOOLONG
 * with |*err| giving the byte offset in |s|. */
long flex_gsm7_encode(const char *s, size_t len, unsigned char *out, size_t outsz,
                      struct flex_text_error *err);

/* Septet count |s| would need in GSM 03.38, or -1 when it is not
 * representable (or not valid UTF-8). */
long flex_gsm7_count(const char *s, size_t len);

/* Unpacked septets (from the wire) -> UTF-8, NUL-terminated.  Bits above
 * the seventh are ignored; an unknown escape shows the basic character, as
 * 23.038 asks of receivers; a trailing ESC becomes a space.  Returns bytes
 * written (excluding the NUL) or FLEX_E_NOSPACE. */
long flex_gsm7_decode(const unsigned char *s, size_t len, char *out, size_t outsz);

/* 7-bit packing (septets into octets, LSB first) and back.  pack returns the
 * octet count ((n*7+7)/8); unpack returns the septet count, |nseptets|
 * telling how many the octets hold.  Both return FLEX_E_NOSPACE when |out|
 * is too small. */
long flex_gsm7_pack(const unsigned char *septets, size_t n, unsigned char *out, size_t outsz);
long flex_gsm7_unpack(const unsigned char *octets, size_t len, size_t nseptets, unsigned char *out,
                      size_t outsz);

#endif
