/* Activation formats for the integer dot kernels, and their reference
 * quantizers. The SIMD quantizers (kernels_avx2.c, kernels_neon.c) compute
 * the same operations in the same order and must agree bit for bit:
 *   amax = max |x| over the block, d = amax / 127, id = d ? 1 / d : 0,
 *   t = x * id, qs = rint(t), qr = rint((t - qs) * CPU_ACT_RES), rounding to
 *   nearest, ties to even (the default mode). */
#include <math.h>
#include <string.h>

#include "backend/cpu/kernels.h"
/* Activation quantization must round x * id before subtracting (bit-identical
 * across ISAs): no implicit FMA contraction in this file. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

size_t cpu_act_row_bytes(cpu_act_format f, int64_t n) {
    switch (f) {
    case CPU_ACT_F32: return (size_t)n * sizeof(float);
    case CPU_ACT_Q8_32: return (size_t)(n / 32) * sizeof(act_q8_32);
    case CPU_ACT_Q8_256: return (size_t)(n / 256) * sizeof(act_q8_256);
    default: return 0;
    }
}

cpu_act_format cpu_act_format_of(brisk_type type) {
    switch (type) {
    case BRISK_TYPE_F32: case BRISK_TYPE_F16: case BRISK_TYPE_BF16:
        return CPU_ACT_F32;
    case BRISK_TYPE_Q4_0: case BRISK_TYPE_Q4_1: case BRISK_TYPE_Q5_0: case BRISK_TYPE_Q5_1:
    case BRISK_TYPE_Q8_0: case BRISK_TYPE_IQ4_NL: case BRISK_TYPE_MXFP4:
        return CPU_ACT_Q8_32;
    case BRISK_TYPE_Q2_K: case BRISK_TYPE_Q3_K: case BRISK_TYPE_Q4_K: case BRISK_TYPE_Q5_K:
    case BRISK_TYPE_Q6_K: case BRISK_TYPE_Q8_K: case BRISK_TYPE_IQ4_XS:
        return CPU_ACT_Q8_256;
    default:
        return CPU_ACT_NONE;
    }
}

/* One block of k values: returns d, writes qs and qr. t - q is exact (t and
 * its rounding are within a factor of two, or q is 0), so the residual has a
 * single rounding, as in the SIMD versions. */
static float quant_block(const float *x, int8_t *qs, int8_t *qr, int k) {
    float amax = 0.0f;
    for (int i = 0; i < k; i++) amax = fmaxf(amax, fabsf(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < k; i++) {
        const float t = x[i] * id;
        const float q = rintf(t);
        qs[i] = (int8_t)q;
        qr[i] = (int8_t)rintf((t - q) * (float)CPU_ACT_RES);
    }
    return d;
}

void cpu_quant_act_q8_32_ref(const float *x, void *dst, int64_t n) {
    act_q8_32 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        b[i].d = quant_block(x, b[i].qs, b[i].qr, 32);
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) sum += CPU_ACT_RES * b[i].qs[j] + b[i].qr[j];
        b[i].s = b[i].d * (float)sum / (float)CPU_ACT_RES;
    }
}

void cpu_quant_act_q8_256_ref(const float *x, void *dst, int64_t n) {
    act_q8_256 *b = dst;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        b[i].d = quant_block(x, b[i].qs, b[i].qr, 256);
        for (int j = 0; j < 16; j++) {
            int32_t sum = 0;
            for (int l = 0; l < 16; l++) sum += CPU_ACT_RES * b[i].qs[16 * j + l] + b[i].qr[16 * j + l];
            b[i].bsum[j] = sum;
        }
    }
}
