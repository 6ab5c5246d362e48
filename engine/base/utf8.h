/*
 * One UTF-8 code point decoded and checked: bytes only, for the layers that
 * write text out (the log's JSON escaping) as well as engine/text's
 * conversions (utf.h), which build on it.
 */
#ifndef FLEX_UTF8_H
#define FLEX_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one code point from |s| (|len| > 0 bytes, borrowed).  Returns the
 * bytes consumed (1-4) and sets |*cp|, or FLEX_E_UTF8 for an invalid,
 * overlong, truncated or surrogate sequence or one beyond U+10FFFF. */
int flex_utf8_next(const unsigned char *s, size_t len, uint32_t *cp);

#endif
