/* CPU matmul kernels: one table per ISA, indexed by weight type.
 *
 * A matmul y = W x runs in two steps:
 *   1. the activations x [n_tokens, n_in] are converted once per call into
 *      the format the weight type's kernel reads (cpu_act_format_of):
 *        CPU_ACT_F32     f32 as they are   (F32, F16, BF16 weights; exact mode)
 *        CPU_ACT_Q16_32  act_q16_32 blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 *                                           IQ4_NL, MXFP4)
 *        CPU_ACT_Q16_256 act_q16_256 blocks (Q2_K..Q6_K, Q8_K, IQ4_XS)
 *   2. per weight row, a dot kernel against 1..CPU_MAX_COLS activation rows
 *      (tokens) at once, so a weight block is decoded once for several tokens.
 *
 * Every table entry of the generic table is the reference its SIMD variants
 * are tested against (tests/c/test_cpu_kernels.c); an ISA table may leave a
 * type NULL, and dispatch then takes the next ISA's kernel (avx512 -> avx2 ->
 * generic). */
#ifndef BRISK_CPU_KERNELS_H
#define BRISK_CPU_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brisk.h"

#define CPU_MAX_COLS 4 /* tokens per pass over a weight row */

typedef enum cpu_act_format {
    CPU_ACT_NONE = 0, /* the type has no kernel (cannot be computed with) */
    CPU_ACT_F32,
    CPU_ACT_Q16_32,
    CPU_ACT_Q16_256,
} cpu_act_format;

/* Activations are quantized to 16-bit integers per block (plain 8-bit
 * activations failed the logit bars: mean KL 0.02 on Gemma 3 270M, top-1
 * flips on the random-weight fixtures):
 *   d = max|x| / CPU_ACT_QMAX over the block, q = round(x / d),
 *   x ~= d * q, error <= d / 2.
 * Kernels widen the weight quants (and K-quant sub-block scales) to 16 bits
 * and use 16 x 16 -> 32-bit multiply-adds (vpmaddwd / vpdpwssd / smlal). */
#define CPU_ACT_QMAX 32767

/* 32 activations; s = d * sum(q), for weight formats with an offset or
 * minimum.  72 bytes. */
typedef struct act_q16_32 {
    int16_t q[32];
    float d;
    float s;
} act_q16_32;

/* 256 activations; ssum[g] = d * sum(q) over elements 16g .. 16g+15 (for
 * K-quant mins, which are per 16 or 32 elements). lo/hi split every q into
 * bytes, q = 256 * hi + lo, for the byte-domain panel kernels (u8 x s8 dot
 * products: lo . w and w . hi); every quantizer fills them
 * (act_q16_256_split).  1092 bytes. */
typedef struct act_q16_256 {
    int16_t q[256];
    float d;
    float ssum[16];
    uint8_t lo[256]; /* q & 0xFF */
    int8_t hi[256];  /* q >> 8 (arithmetic) */
} act_q16_256;

static inline void act_q16_256_split(act_q16_256 *b) {
    for (int i = 0; i < 256; i++) {
        b->lo[i] = (uint8_t)(b->q[i] & 0xFF);
        b->hi[i] = (int8_t)(b->q[i] >> 8);
    }
}

/* Bytes of one converted activation row of n elements (n a multiple of the
 * format's block size). */
size_t cpu_act_row_bytes(cpu_act_format f, int64_t n);

/* The activation format the kernels of weight type `type` read. */
cpu_act_format cpu_act_format_of(brisk_type type);

/* out[c * out_stride] = sum_i W_row[i] * a_c[i] for c < nc (1..CPU_MAX_COLS),
 * a_c = (const char *)act + c * act_stride, a row in the type's act format.
 *   n: elements of the row, a multiple of the type's block size. */
typedef void (*cpu_dot_fn)(int64_t n, const void *w_row, const void *act, size_t act_stride, int nc,
                           float *out, size_t out_stride);

/* Convert n f32 activations (n a multiple of 32 / 256) to blocks. */
typedef void (*cpu_quant_act_fn)(const float *x, void *dst, int64_t n);

/* In order of preference (a later ISA is preferred where the CPU has it). */
typedef enum cpu_isa {
    CPU_ISA_GENERIC = 0,
    CPU_ISA_NEON,       /* aarch64 Advanced SIMD (+ dotprod not assumed) */
    CPU_ISA_AVX2,       /* AVX2 + FMA + F16C */
    CPU_ISA_AVX512,     /* + AVX-512 F, BW, VL */
    CPU_ISA_AVX512VNNI, /* + AVX-512 VNNI */
    CPU_ISA_COUNT,
} cpu_isa;

/* ---- weight panels (panels.c) ------------------------------------------------
 * 16 rows of a matrix repacked once at load time so that SIMD lane r works on
 * row r: out[c * out_stride + r] = row r . activation column c, r < 16, c < nc
 * (nc <= CPU_PANEL_MAX_COLS). Types with a panel layout: Q4_K, Q6_K, Q8_0, Q4_0,
 * Q4_1, Q5_0, Q5_1. The K-quant panels hold bytes (4 elements of a row per
 * 32-bit lane, for u8 x s8 dot products with the act_q16_256 lo/hi planes);
 * the others 16-bit pairs (2 elements per lane, x act_q16_32.q pairs). */
#define CPU_PANEL_ROWS 16
#define CPU_PANEL_Q4_K_BYTES 2368 /* per 256 elements of the 16 rows */
#define CPU_PANEL_Q6_K_BYTES 3360 /* per 256 */
#define CPU_PANEL_Q8_0_BYTES 544  /* per 32 */
/* Q4_0, Q4_1, Q5_0, Q5_1, per 32: d, [m], [high bits], 8 chunks (panels.c) */
#define CPU_PANEL_LEGACY_BYTES(q5, has_min) (32 + 32 * (has_min) + 64 * (q5) + 256)
/* Offsets inside one block of a panel (layouts in panels.c). */
#define CPU_PANEL_Q4_K_PAIR(j) (64 + 576 * (j))                          /* scales of sub-blocks j, 4+j */
#define CPU_PANEL_Q4_K_VEC(m) (CPU_PANEL_Q4_K_PAIR((m) / 8) + 64 + 64 * ((m) % 8)) /* m = 0..31 */
#define CPU_PANEL_Q6_K_PAIR(g) (32 + 416 * (g))                          /* scales of groups g, 8+g */
#define CPU_PANEL_Q6_K_HIGH(m) (CPU_PANEL_Q6_K_PAIR((m) / 4) + 32 + 192 * ((m) % 4 / 2)) /* vectors m, m+1 (m even) */
#define CPU_PANEL_Q6_K_VEC(m) (CPU_PANEL_Q6_K_HIGH((m) & ~1) + 64 + 64 * ((m) % 2))
#define CPU_PANEL_Q8_0_CHUNK(c) (32 + 32 * (c))

/* Most columns one panel_dot call takes (matmul passes a batch's tokens in
 * groups of this many; a kernel may work through them 4 at a time). */
#define CPU_PANEL_MAX_COLS 16

typedef void (*cpu_panel_dot_fn)(int64_t n, const void *panel, const void *act, size_t act_stride, int nc,
                                 float *out, size_t out_stride);

/* False when BRISK_PANELS=0 in the environment: weights stay in rows. */
bool cpu_panels_enabled(void);
/* Bytes of one panel of rows of n elements (0: the type has no panel layout). */
uint64_t cpu_panel_bytes(brisk_type type, int64_t n);
/* Repack 16 rows (row r at rows + r * row_bytes) of n elements into a panel. */
void cpu_panel_pack(brisk_type type, const void *rows, uint64_t row_bytes, int64_t n, void *panel);

/* Attention over an F16 KV cache, for the nq query heads q_c = q + c * hd
 * (c < nq) that share one KV head, and n cache rows at row + j * stride
 * (j < n; stride in elements, >= the row's length):
 *   scores:  s[c * ss + j] = q_c . k_j                      (k_j: hd elements)
 *   values:  out[c * hdv + i] += sum_j p[c * ps + j] * v_j[i]  (v_j: hdv)
 * Any hd, hdv >= 1 and nq >= 1. */
typedef void (*cpu_attn_scores_fn)(const uint16_t *k, size_t stride, int n, const float *q, int nq, int hd,
                                   float *s, size_t ss);
typedef void (*cpu_attn_values_fn)(const uint16_t *v, size_t stride, int n, const float *p, size_t ps, int nq,
                                   int hdv, float *out);

typedef struct cpu_kernels {
    const char *name;
    cpu_dot_fn dot[BRISK_TYPE_COUNT]; /* NULL: the next ISA down has it */
    cpu_panel_dot_fn panel_dot[BRISK_TYPE_COUNT]; /* NULL: no panel kernel */
    cpu_quant_act_fn quant_q16_32, quant_q16_256;
    float (*dot_f32)(const float *a, const float *b, int64_t n); /* exact mode */
    cpu_attn_scores_fn attn_scores_f16;
    cpu_attn_values_fn attn_values_f16;
    /* y[i] = f16(x[i]), rounded to nearest even (NaN stays NaN): what the
     * f16 KV cache stores; every table's equals brisk_f32_to_fp16. */
    void (*f32_to_f16)(const float *x, uint16_t *y, int64_t n);
} cpu_kernels;

/* Tables per ISA; NULL when this build does not contain the ISA. */
const cpu_kernels *cpu_kernels_generic(void);
const cpu_kernels *cpu_kernels_avx2(void);
const cpu_kernels *cpu_kernels_neon(void);
const cpu_kernels *cpu_kernels_avx512(void);
const cpu_kernels *cpu_kernels_avx512vnni(void);

/* The table for an ISA if this build has it AND this CPU runs it, else NULL. */
const cpu_kernels *cpu_kernels_for(cpu_isa isa);

/* The best table for this CPU, with every NULL entry filled from the next
 * ISA down (and finally the generic table). Chosen once (thread-safe);
 * BRISK_ISA=generic|neon|avx2|avx512|avx512vnni in the environment forces one
 * (for tests and benchmarks). */
const cpu_kernels *cpu_kernels_best(void);

/* Reference activation quantizers (also the generic table's). */
void cpu_quant_act_q16_32_ref(const float *x, void *dst, int64_t n);
void cpu_quant_act_q16_256_ref(const float *x, void *dst, int64_t n);

#endif
