/*
 * UTF-8 validation and conversion to and from UTF-16BE (UCS-2 on the wire,
 * with surrogate pairs for characters beyond the BMP, as handsets expect for
 * emoji).  Sans-I/O: bytes in, bytes out, every read bounded by the length.
 */
#ifndef FLEX_UTF_H
#define FLEX_UTF_H

#include <stddef.h>
#include <stdint.h>

#include "utf8.h" /* flex_utf8_next */

/* Where a conversion failed. */
struct flex_text_error {
    int code;      /* FLEX_E_UTF8, FLEX_E_NOTGSM, FLEX_E_TOOLONG, ... */
    size_t offset; /* byte offset in the input */
};

/* Encodes |cp| into |out| (4 bytes of room); returns bytes written. */
size_t flex_utf8_put(uint32_t cp, unsigned char *out);

/* Checks that |len| bytes at |s| are valid UTF-8.  Returns 0 or FLEX_E_UTF8
 * with |err->offset| at the first bad byte. */
int flex_utf8_validate(const char *s, size_t len, struct flex_text_error *err);

/* UTF-8 -> UTF-16BE.  Returns the number of 16-bit units written to |out|
 * (|outsz| bytes of room), or FLEX_E_UTF8 / FLEX_E_TOOLONG with |*err|. */
long flex_utf8_to_utf16be(const char *s, size_t len, unsigned char *out, size_t outsz,
                          struct flex_text_error *err);

/* UTF-16BE (|len| bytes, from the wire) -> UTF-8, NUL-terminated.  Unpaired
 * surrogates, an odd trailing byte and U+0000 (which would end the string
 * early) become U+FFFD (a text from a handset is shown, not dropped).  Returns bytes written
 * (excluding the NUL) or FLEX_E_NOSPACE. */
long flex_utf16be_to_utf8(const unsigned char *s, size_t len, char *out, size_t outsz);

#endif
