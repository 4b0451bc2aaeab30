/* SPDX-License-Identifier: Apache-2.0 */
/*
 * utf8.h - strict UTF-8 decoding of one code point: what metadata strings
 * (meta/value.c) and the keyword tokenizer (text/token.c) accept. Refused:
 * continuation bytes as leads, overlong forms (C0, C1 and short E0/F0
 * sequences), surrogates (U+D800..U+DFFF), code points past U+10FFFF,
 * truncated sequences.
 */
#ifndef VEX_UTIL_UTF8_H
#define VEX_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The code point at s[0..n) (n >= 1) into *cp; returns its length in
 * bytes (1..4), or 0 when the bytes there are not valid UTF-8. */
static inline size_t vx_utf8_decode(const unsigned char *s, size_t n,
                                    uint32_t *cp)
{
    unsigned c = s[0];
    size_t len, i;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

#endif
