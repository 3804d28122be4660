/* Weight panels: 16 rows of a quantized matrix repacked, once at load time,
 * so that a SIMD register holds the same few elements of 16 rows and i32 lane
 * r accumulates row r. The activations are broadcast, and a K-quant's
 * per-row sub-block scales become one vector per sub-block, applied once per
 * 16 rows x sub-block instead of once per weight vector (kernels.h).
 *
 * Each layout lists its bytes in the order the kernels consume them, so a
 * panel is read as one sequential stream (r = row 0..15).
 *
 * K-quants are bytes, 4 elements of a row per 32-bit lane: a 64-byte vector
 * m holds, at byte 4r+b, element 4m+b of row r in its low nibble and element
 * 128+4m+b in its high nibble (m = 0..31), so the kernels multiply it with
 * the activation quads 4m..4m+3 and 128+4m..+3 broadcast to every lane:
 *
 * Q4_K, per 256-element super-block, 2368 bytes (value = d * sc[j] * q - dmin * mn[j]):
 *   [0, 64)      d[r], dmin[r] (f16)
 *   4 x 576 bytes, sub-block pair j = 0..3 (sub-blocks j and 4 + j):
 *     sc[j][r], sc[4+j][r], mn[j][r], mn[4+j][r] (u8, 16 each), then the
 *     8 vectors m = 8j..8j+7 (q in 0..15)
 *
 * Q6_K, per super-block, 3360 bytes (q in 0..63, value = d * sc[g] * (q - 32)):
 *   [0, 32)      d[r] (f16)
 *   8 x 416 bytes, group pair g = 0..7 (16-element groups g and 8 + g):
 *     sc[g][r], sc[8+g][r] (i8, 16 each), then for m = 4g and 4g+2: the high
 *     bits of vectors m, m+1 (byte 4r+b = hi(q[r][4m+b]) | hi(q[r][128+4m+b]) << 2 |
 *     hi(q[r][4m+4+b]) << 4 | hi(q[r][132+4m+b]) << 6, hi = q >> 4), then
 *     vectors m and m+1 of the low 4 bits
 *
 * The others hold 16-bit pairs: a 32-byte chunk holds one element pair of
 * every row, byte 2r+t = row r's element t.
 *
 * Q8_0, per 32-element block, 544 bytes:
 *   [0, 32)      d[r] (f16), then 16 chunks: byte 2r+t = q[r][2c+t] (i8)
 *
 * Q4_0, Q4_1, Q5_0, Q5_1, per 32-element block (q unsigned, value = d * q + m,
 * m = -8d / -16d for Q4_0 / Q5_0), 288 / 320 / 352 / 384 bytes:
 *   d[r] (f16, 32 bytes); m[r] (f16, 32 bytes; Q4_1, Q5_1 only);
 *   Q5 only, 2 x 32 bytes of fifth bits: block h, byte 2r+t, bits 2(c%4) and
 *     2(c%4)+1 = bit 4 of q[r][2c+t] and q[r][16+2c+t], for chunks c = 4h..4h+3;
 *   8 chunks: byte 2r+t = (q[r][2c+t] & 15) | (q[r][16+2c+t] & 15) << 4
 */
#include <string.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/kernels_common.h"

/* Q4_K block: d, dmin, scales[12], qs[128]; element e's quant is nibble
 * (e / 32) % 2 of qs[32 * (e / 64) + e % 32]. */
static inline int q4_k_quant(const uint8_t *b, int e) {
    return (b[16 + 32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 15;
}

static void pack_q4_k(const void *src, uint64_t row_bytes, int64_t n_in, void *dst) {
    uint8_t *out = dst;
    for (int64_t i = 0; i < n_in / 256; i++, out += CPU_PANEL_Q4_K_BYTES) {
        for (int r = 0; r < CPU_PANEL_ROWS; r++) {
            const uint8_t *b = (const uint8_t *)src + (uint64_t)r * row_bytes + (uint64_t)i * 144;
            for (int e = 0; e < 128; e++)
                out[CPU_PANEL_Q4_K_VEC(e / 4) + 4 * r + e % 4] = (uint8_t)(q4_k_quant(b, e) | q4_k_quant(b, 128 + e) << 4);
            uint8_t sc[8], mn[8];
            qb_scale_min_k4(b + 4, sc, mn);
            for (int j = 0; j < 4; j++) {
                uint8_t *o = out + CPU_PANEL_Q4_K_PAIR(j);
                o[r] = sc[j];
                o[16 + r] = sc[4 + j];
                o[32 + r] = mn[j];
                o[48 + r] = mn[4 + j];
            }
            memcpy(out + 2 * r, b, 2);
            memcpy(out + 32 + 2 * r, b + 2, 2);
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
            for (int e = 0; e < 128; e++) {
                const int m = e / 4, k = 4 * r + e % 4;
                out[CPU_PANEL_Q6_K_VEC(m) + k] = (uint8_t)(q6_low(b, e) | q6_low(b, 128 + e) << 4);
                if (m % 2 == 0)
                    out[CPU_PANEL_Q6_K_HIGH(m) + k] = (uint8_t)(q6_high(b, e) | q6_high(b, 128 + e) << 2 |
                                                                q6_high(b, e + 4) << 4 | q6_high(b, 132 + e) << 6);
            }
            for (int g = 0; g < 8; g++) {
                out[CPU_PANEL_Q6_K_PAIR(g) + r] = b[192 + g];
                out[CPU_PANEL_Q6_K_PAIR(g) + 16 + r] = b[192 + 8 + g];
            }
            memcpy(out + 2 * r, b + 208, 2);
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
                for (int t = 0; t < 2; t++) out[32 + 32 * c + 2 * r + t] = b[2 + 2 * c + t];
            memcpy(out + 2 * r, b, 2);
        }
    }
}

/* Q4_0 (d, qs[16]), Q4_1 (d, m, qs[16]), Q5_0 (d, qh[4], qs[16]), Q5_1 (d, m,
 * qh[4], qs[16]): element j < 16 is the low nibble of qs[j], 16 + j the high
 * one; Q5's fifth bit of element j is bit j of qh. */
static void pack_legacy(const void *src, uint64_t row_bytes, int64_t n_in, void *dst, int q5, int has_min) {
    const int block = 2 + 2 * has_min + 4 * q5 + 16;
    uint8_t *out = dst;
    for (int64_t i = 0; i < n_in / 32; i++, out += CPU_PANEL_LEGACY_BYTES(q5, has_min)) {
        uint8_t *hi = out + 32 + 32 * has_min, *chunks = hi + 64 * q5;
        for (int r = 0; r < CPU_PANEL_ROWS; r++) {
            const uint8_t *b = (const uint8_t *)src + (uint64_t)r * row_bytes + (uint64_t)i * block;
            const uint8_t *qs = b + block - 16;
            const uint32_t qh = q5 ? kc_u32(b + 2 + 2 * has_min) : 0;
            uint8_t q[32];
            for (int j = 0; j < 16; j++) {
                q[j] = (uint8_t)((qs[j] & 15) | ((qh >> j) & 1) << 4);
                q[16 + j] = (uint8_t)((qs[j] >> 4) | ((qh >> (16 + j)) & 1) << 4);
            }
            for (int c = 0; c < 8; c++)
                for (int t = 0; t < 2; t++) {
                    chunks[32 * c + 2 * r + t] = (uint8_t)((q[2 * c + t] & 15) | (q[16 + 2 * c + t] & 15) << 4);
                    if (q5) {
                        uint8_t *h = &hi[32 * (c / 4) + 2 * r + t];
                        if (c % 4 == 0) *h = 0;
                        *h |= (uint8_t)((q[2 * c + t] >> 4) << (2 * (c % 4)) | (q[16 + 2 * c + t] >> 4) << (2 * (c % 4) + 1));
                    }
                }
            memcpy(out + 2 * r, b, 2);
            if (has_min) memcpy(out + 32 + 2 * r, b + 2, 2);
        }
    }
}

uint64_t cpu_panel_bytes(brisk_type type, int64_t n_in) {
    switch (type) {
    case BRISK_TYPE_Q4_K: return (uint64_t)(n_in / 256) * CPU_PANEL_Q4_K_BYTES;
    case BRISK_TYPE_Q6_K: return (uint64_t)(n_in / 256) * CPU_PANEL_Q6_K_BYTES;
    case BRISK_TYPE_Q8_0: return (uint64_t)(n_in / 32) * CPU_PANEL_Q8_0_BYTES;
    case BRISK_TYPE_Q4_0: return (uint64_t)(n_in / 32) * CPU_PANEL_LEGACY_BYTES(0, 0);
    case BRISK_TYPE_Q4_1: return (uint64_t)(n_in / 32) * CPU_PANEL_LEGACY_BYTES(0, 1);
    case BRISK_TYPE_Q5_0: return (uint64_t)(n_in / 32) * CPU_PANEL_LEGACY_BYTES(1, 0);
    case BRISK_TYPE_Q5_1: return (uint64_t)(n_in / 32) * CPU_PANEL_LEGACY_BYTES(1, 1);
    default: return 0;
    }
}

void cpu_panel_pack(brisk_type type, const void *rows, uint64_t row_bytes, int64_t n_in, void *panel) {
    switch (type) {
    case BRISK_TYPE_Q4_K: pack_q4_k(rows, row_bytes, n_in, panel); break;
    case BRISK_TYPE_Q6_K: pack_q6_k(rows, row_bytes, n_in, panel); break;
    case BRISK_TYPE_Q8_0: pack_q8_0(rows, row_bytes, n_in, panel); break;
    case BRISK_TYPE_Q4_0: pack_legacy(rows, row_bytes, n_in, panel, 0, 0); break;
    case BRISK_TYPE_Q4_1: pack_legacy(rows, row_bytes, n_in, panel, 0, 1); break;
    case BRISK_TYPE_Q5_0: pack_legacy(rows, row_bytes, n_in, panel, 1, 0); break;
    case BRISK_TYPE_Q5_1: pack_legacy(rows, row_bytes, n_in, panel, 1, 1); break;
    default: break;
    }
}
