/* UTF-8 helpers, and GPT-2's byte-level alphabet.
 *
 * Byte-level BPE spells every byte as a printable code point so that a token
 * is a string: the bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for
 * themselves; the other 68 bytes (controls, space, 0x7F..0xA0, 0xAD) are
 * spelled U+0100, U+0101, ... in byte order (so ' ' is 'Ġ' U+0120, '\n' is
 * 'Ċ' U+010A). */
#include <string.h>

#include "tokenizer/tok_internal.h"

/* Second-byte range of a lead byte (Unicode Table 3-7), or 0 for no lead. */
static int lead_info(uint8_t b, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (b < 0x80) return 1;
    if (b < 0xC2) return 0;
    if (b < 0xE0) return 2;
    if (b < 0xF0) {
        if (b == 0xE0) *lo = 0xA0;
        if (b == 0xED) *hi = 0x9F;
        return 3;
    }
    if (b < 0xF5) {
        if (b == 0xF0) *lo = 0x90;
        if (b == 0xF4) *hi = 0x8F;
        return 4;
    }
    return 0;
}

int utf8_classify(const uint8_t *s, size_t n) {
    if (n == 0) return 0;
    uint8_t lo, hi;
    int len = lead_info(s[0], &lo, &hi);
    if (len == 0) return -1;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) return 0; /* valid so far, cut off */
        uint8_t c = s[i];
        if (i == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xBF)) return -i;
    }
    return len;
}

int utf8_char_len(const uint8_t *s, size_t n) {
    int r = utf8_classify(s, n);
    return r > 0 ? r : 0;
}

int utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t utf8_count_chars(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n;) {
        int len = utf8_char_len((const uint8_t *)s + i, n - i);
        i += len > 0 ? (size_t)len : 1;
        count++;
    }
    return count;
}

static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The non-printable bytes, in order, are 0x00..0x20 (33), 0x7F..0xA0 (34)
 * and 0xAD: the k-th of them is spelled U+0100 + k. */
uint32_t bytelevel_byte_to_cp(uint8_t b) {
    if (byte_is_printable(b)) return b;
    if (b <= 0x20) return 0x100u + b;
    if (b <= 0xA0) return 0x100u + 33 + (b - 0x7Fu);
    return 0x100u + 67; /* 0xAD */
}

int bytelevel_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return byte_is_printable(cp) ? (int)cp : -1;
    uint32_t k = cp - 0x100;
    if (k <= 32) return (int)k;
    if (k <= 66) return (int)(0x7F + (k - 33));
    if (k == 67) return 0xAD;
    return -1;
}

int64_t bytelevel_decode(const char *s, size_t n, char *out) {
    const uint8_t *u = (const uint8_t *)s;
    int64_t k = 0;
    for (size_t i = 0; i < n;) {
        int len = utf8_char_len(u + i, n - i);
        if (len == 0 || len > 2) return -1; /* every alphabet char is 1 or 2 bytes */
        uint32_t cp = len == 1 ? u[i] : ((uint32_t)(u[i] & 0x1F) << 6) | (u[i + 1] & 0x3F);
        int b = bytelevel_cp_to_byte(cp);
        if (b < 0) return -1;
        out[k++] = (char)b;
        i += (size_t)len;
    }
    return k;
}
