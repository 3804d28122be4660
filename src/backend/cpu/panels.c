/* Weight panels: 16 rows of a quantized matrix repacked, once at load time,
 * so that a SIMD register holds the same two elements of 16 rows and i32 lane
 * r accumulates row r. The activation pair is broadcast, and a K-quant's
 * per-row sub-block scales become one vector per sub-block, applied once per
 * 16 rows x sub-block instead of once per weight vector (kernels.h).
 *
 * Layouts, per block of the source type (r = row 0..15, t = 0..1, byte 2r+t
 * of a 32-byte chunk is row r's element of the chunk's pair e, e+1 with
 * e = 2c + t... spelled out per type):
 *
 * Q4_K, per 256-element super-block, 2368 bytes:
 *   [0, 2048)    64 chunks; byte 2r+t of chunk c = q[r][2c+t] | q[r][128+2c+t] << 4
 *                (low nibbles: sub-blocks 0..3, high nibbles: sub-blocks 4..7)
 *   [2048, 2176) sc[j][r], u8 (6-bit sub-block scales), j = 0..7
 *   [2176, 2304) mn[j][r], u8 (6-bit sub-block mins)
 *   [2304, 2336) d[r], f16     [2336, 2368) dmin[r], f16
 *   value = d * sc[j] * q - dmin * mn[j]
 *
 * Q6_K, per super-block, 3360 bytes (q in 0..63, value = d * sc[g] * (q - 32)):
 *   [0, 2048)    64 chunks of the low 4 bits, as Q4_K
 *   [2048, 3072) 32 blocks of the high 2 bits; byte 2r+t of block k =
 *                hi(q[r][4k+t]) | hi(q[r][128+4k+t]) << 2 | hi(q[r][4k+2+t]) << 4 |
 *                hi(q[r][128+4k+2+t]) << 6   (chunks 2k and 2k+1)
 *   [3072, 3328) sc[g][r], i8, g = 0..15 (16-element groups)
 *   [3328, 3360) d[r], f16
 *
 * Q8_0, per 32-element block, 544 bytes:
 *   [0, 512)     16 chunks; byte 2r+t of chunk c = q[r][2c+t], i8
 *   [512, 544)   d[r], f16
 */
#include <string.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/kernels_common.h"

/* Q4_K block: d, dmin, scales[12], qs[128]; element e's quant is nibble
 * (e / 32) % 2 of qs[32 * (e / 64) + e % 32]. Chunk byte for e < 128 holds
 * elements e and 128 + e, which sit in the same nibble 64 bytes apart. */
static void pack_q4_k(const void *src, uint64_t row_bytes, int64_t n_in, void *dst) {
    uint8_t *out = dst;
    for (int64_t i = 0; i < n_in / 256; i++, out += CPU_PANEL_Q4_K_BYTES) {
        for (int r = 0; r < CPU_PANEL_ROWS; r++) {
            const uint8_t *b = (const uint8_t *)src + (uint64_t)r * row_bytes + (uint64_t)i * 144;
            const uint8_t *qs = b + 16;
            for (int e = 0; e < 128; e++) {
                const int byte = 32 * (e / 64) + e % 32, shift = 4 * ((e / 32) % 2);
                const int lo = (qs[byte] >> shift) & 15, hi = (qs[byte + 64] >> shift) & 15;
                out[32 * (e / 2) + 2 * r + e % 2] = (uint8_t)(lo | hi << 4);
            }
            uint8_t sc[8], mn[8];
            kc_scale_min_k4(b + 4, sc, mn);
            for (int j = 0; j < 8; j++) {
                out[2048 + 16 * j + r] = sc[j];
                out[2176 + 16 * j + r] = mn[j];
            }
            memcpy(out + 2304 + 2 * r, b, 2);
            memcpy(out + 2336 + 2 * r, b + 2, 2);
        }
    }
}

/* Q6_K block: ql[128], qh[64], scales[16] (i8), d. Element e = 128 h + k
 * (k < 128): low 4 bits are nibble k / 64 of ql[64 h + k % 64], high 2 bits
 * are bits 2 (k / 32) of qh[32 h + k % 32]. */
static inline int q6_low(const uint8_t *b, int e) {
    const int h = e / 128, k = e % 128;
    return (b[64 * h + k % 64] >> (4 * (k / 64))) & 15;
}
static inline int q6_high(const uint8_t *b, int e) {
    const int h = e / 128, k = e % 128;
    return (b[128 + 32 * h + k % 32] >> (2 * (k / 32))) & 3;
}

static void pack_q6_k(const void *src, uint64_t row_bytes, int64_t n_in, void *dst) {
    uint8_t *out = dst;
    for (int64_t i = 0; i < n_in / 256; i++, out += CPU_PANEL_Q6_K_BYTES) {
        for (int r = 0; r < CPU_PANEL_ROWS; r++) {
            const uint8_t *b = (const uint8_t *)src + (uint64_t)r * row_bytes + (uint64_t)i * 210;
            for (int e = 0; e < 128; e++)
                out[32 * (e / 2) + 2 * r + e % 2] = (uint8_t)(q6_low(b, e) | q6_low(b, 128 + e) << 4);
            for (int k = 0; k < 32; k++)
                for (int t = 0; t < 2; t++) {
                    const int e = 4 * k + t;
                    out[2048 + 32 * k + 2 * r + t] =
                        (uint8_t)(q6_high(b, e) | q6_high(b, 128 + e) << 2 | q6_high(b, e + 2) << 4 |
                                  q6_high(b, 130 + e) << 6);
                }
            for (int g = 0; g < 16; g++) out[3072 + 16 * g + r] = b[192 + g];
            memcpy(out + 3328 + 2 * r, b + 208, 2);
        }
    }
}

/* Q8_0 block: d, qs[32]. */
static void pack_q8_0(const void *src, uint64_t row_bytes, int64_t n_in, void *dst) {
    uint8_t *out = dst;
    for (int64_t i = 0; i < n_in / 32; i++, out += CPU_PANEL_Q8_0_BYTES) {
        for (int r = 0; r < CPU_PANEL_ROWS; r++) {
            const uint8_t *b = (const uint8_t *)src + (uint64_t)r * row_bytes + (uint64_t)i * 34;
            for (int c = 0; c < 16; c++)
                for (int t = 0; t < 2; t++) out[32 * c + 2 * r + t] = b[2 + 2 * c + t];
            memcpy(out + 512 + 2 * r, b, 2);
        }
    }
}

uint64_t cpu_panel_bytes(brisk_type type, int64_t n_in) {
    switch (type) {
    case BRISK_TYPE_Q4_K: return (uint64_t)(n_in / 256) * CPU_PANEL_Q4_K_BYTES;
    case BRISK_TYPE_Q6_K: return (uint64_t)(n_in / 256) * CPU_PANEL_Q6_K_BYTES;
    case BRISK_TYPE_Q8_0: return (uint64_t)(n_in / 32) * CPU_PANEL_Q8_0_BYTES;
    default: return 0;
    }
}

void cpu_panel_pack(brisk_type type, const void *rows, uint64_t row_bytes, int64_t n_in, void *panel) {
    switch (type) {
    case BRISK_TYPE_Q4_K: pack_q4_k(rows, row_bytes, n_in, panel); break;
    case BRISK_TYPE_Q6_K: pack_q6_k(rows, row_bytes, n_in, panel); break;
    case BRISK_TYPE_Q8_0: pack_q8_0(rows, row_bytes, n_in, panel); break;
    default: break;
    }
}
