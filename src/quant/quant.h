/* Internal view of tensor element types: one traits row per type drives
 * block sizes, dequantization and reference quantization.
 *
 * Adding a type = one row in traits.c plus its row functions. Each row
 * function handles n elements, n a multiple of the type's block size. */
#ifndef BRISK_QUANT_QUANT_H
#define BRISK_QUANT_QUANT_H

#include <stdint.h>

#include "brisk.h"

#define QK_K 256 /* super-block size of the K-quants and IQ4_XS */
#define QK_LEGACY 32 /* block size of Q4_0..Q8_1, IQ4_NL, MXFP4 */

typedef void (*brisk_dequantize_fn)(const void *src, float *dst, int64_t n);
typedef void (*brisk_quantize_fn)(const float *src, void *dst, int64_t n);
/* Quantize with importance weights imp[n] (one per element of src), NULL = uniform. */
typedef void (*brisk_quantize_imp_fn)(const float *src, void *dst, int64_t n, const float *imp);

typedef struct brisk_type_traits {
    brisk_type_info info;         /* public part: name, block size, bytes per block */
    brisk_dequantize_fn dequantize; /* NULL if brisk cannot read this type's values */
    brisk_quantize_fn quantize;     /* NULL if brisk cannot produce this type */
    brisk_quantize_imp_fn quantize_imp; /* NULL when the type's search takes no importance */
} brisk_type_traits;

/* NULL for ids brisk does not know. */
const brisk_type_traits *brisk_type_traits_get(uint32_t type);

/* Row functions, one pair per type (defined in the files named). */
/* float.c */
void brisk_dequantize_f32(const void *src, float *dst, int64_t n);
void brisk_quantize_f32(const float *src, void *dst, int64_t n);
void brisk_dequantize_f16(const void *src, float *dst, int64_t n);
void brisk_quantize_f16(const float *src, void *dst, int64_t n);
void brisk_dequantize_bf16(const void *src, float *dst, int64_t n);
void brisk_quantize_bf16(const float *src, void *dst, int64_t n);
/* legacy.c: 32-element blocks with one (or two) scales */
void brisk_dequantize_q4_0(const void *src, float *dst, int64_t n);
void brisk_quantize_q4_0(const float *src, void *dst, int64_t n);
void brisk_quantize_q4_0_imp(const float *src, void *dst, int64_t n, const float *imp); /* legacy_imp.c */
void brisk_dequantize_q4_1(const void *src, float *dst, int64_t n);
void brisk_quantize_q4_1(const float *src, void *dst, int64_t n);
void brisk_quantize_q4_1_imp(const float *src, void *dst, int64_t n, const float *imp); /* legacy_imp.c */
void brisk_dequantize_q5_0(const void *src, float *dst, int64_t n);
void brisk_quantize_q5_0(const float *src, void *dst, int64_t n);
void brisk_quantize_q5_0_imp(const float *src, void *dst, int64_t n, const float *imp); /* legacy_imp.c */
void brisk_dequantize_q5_1(const void *src, float *dst, int64_t n);
void brisk_quantize_q5_1(const float *src, void *dst, int64_t n);
void brisk_quantize_q5_1_imp(const float *src, void *dst, int64_t n, const float *imp); /* legacy_imp.c */
void brisk_dequantize_q8_0(const void *src, float *dst, int64_t n);
void brisk_quantize_q8_0(const float *src, void *dst, int64_t n);
/* kquant_dequant.c and kquant_quantize.c: 256-element super-blocks */
void brisk_dequantize_q2_k(const void *src, float *dst, int64_t n);
void brisk_quantize_q2_k(const float *src, void *dst, int64_t n);
void brisk_quantize_q2_k_imp(const float *src, void *dst, int64_t n, const float *imp);
void brisk_dequantize_q3_k(const void *src, float *dst, int64_t n);
void brisk_quantize_q3_k(const float *src, void *dst, int64_t n);
void brisk_quantize_q3_k_imp(const float *src, void *dst, int64_t n, const float *imp);
void brisk_dequantize_q4_k(const void *src, float *dst, int64_t n);
void brisk_quantize_q4_k(const float *src, void *dst, int64_t n);
void brisk_quantize_q4_k_imp(const float *src, void *dst, int64_t n, const float *imp);
void brisk_dequantize_q5_k(const void *src, float *dst, int64_t n);
void brisk_quantize_q5_k(const float *src, void *dst, int64_t n);
void brisk_quantize_q5_k_imp(const float *src, void *dst, int64_t n, const float *imp);
void brisk_dequantize_q6_k(const void *src, float *dst, int64_t n);
void brisk_quantize_q6_k(const float *src, void *dst, int64_t n);
void brisk_quantize_q6_k_imp(const float *src, void *dst, int64_t n, const float *imp);
void brisk_dequantize_q8_k(const void *src, float *dst, int64_t n);
void brisk_quantize_q8_k(const float *src, void *dst, int64_t n);
/* nonlinear.c: non-linear 4-bit codebooks (dequantization only) and MXFP4 */
void brisk_dequantize_iq4_nl(const void *src, float *dst, int64_t n);
void brisk_dequantize_iq4_xs(const void *src, float *dst, int64_t n);
void brisk_dequantize_mxfp4(const void *src, float *dst, int64_t n);
void brisk_quantize_mxfp4(const float *src, void *dst, int64_t n);

#endif
