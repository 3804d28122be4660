/* Activation formats for the integer dot kernels, and their reference
 * quantizers. The SIMD quantizers (kernels_avx2.c, kernels_avx512.c,
 * kernels_neon.c) compute the same operations and must agree bit for bit:
 *   amax = max |x| over the block, d = amax / CPU_ACT_QMAX,
 *   id = d ? 1 / d : 0, q = rint(x * id) (to nearest, ties to even). */
#include <math.h>
#include <string.h>

#include "backend/cpu/kernels.h"

size_t cpu_act_row_bytes(cpu_act_format f, int64_t n) {
    switch (f) {
    case CPU_ACT_F32: return (size_t)n * sizeof(float);
    case CPU_ACT_Q16_32: return (size_t)(n / 32) * sizeof(act_q16_32);
    case CPU_ACT_Q16_256: return (size_t)(n / 256) * sizeof(act_q16_256);
    default: return 0;
    }
}

cpu_act_format cpu_act_format_of(brisk_type type) {
    switch (type) {
    case BRISK_TYPE_F32: case BRISK_TYPE_F16: case BRISK_TYPE_BF16:
        return CPU_ACT_F32;
    case BRISK_TYPE_Q4_0: case BRISK_TYPE_Q4_1: case BRISK_TYPE_Q5_0: case BRISK_TYPE_Q5_1:
    case BRISK_TYPE_Q8_0: case BRISK_TYPE_IQ4_NL: case BRISK_TYPE_MXFP4:
        return CPU_ACT_Q16_32;
    case BRISK_TYPE_Q2_K: case BRISK_TYPE_Q3_K: case BRISK_TYPE_Q4_K: case BRISK_TYPE_Q5_K:
    case BRISK_TYPE_Q6_K: case BRISK_TYPE_Q8_K: case BRISK_TYPE_IQ4_XS:
        return CPU_ACT_Q16_256;
    default:
        return CPU_ACT_NONE;
    }
}

/* One block of k values into q; returns d. */
static float quant_block(const float *x, int16_t *q, int k) {
    float amax = 0.0f;
    for (int i = 0; i < k; i++) amax = fmaxf(amax, fabsf(x[i]));
    const float d = amax / (float)CPU_ACT_QMAX;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < k; i++) q[i] = (int16_t)rintf(x[i] * id);
    return d;
}

void cpu_quant_act_q16_32_ref(const float *x, void *dst, int64_t n) {
    act_q16_32 *b = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        b[i].d = quant_block(x, b[i].q, 32);
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) sum += b[i].q[j];
        b[i].s = b[i].d * (float)sum;
    }
}

void cpu_quant_act_q16_256_ref(const float *x, void *dst, int64_t n) {
    act_q16_256 *b = dst;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        b[i].d = quant_block(x, b[i].q, 256);
        for (int g = 0; g < 16; g++) {
            int32_t sum = 0;
            for (int l = 0; l < 16; l++) sum += b[i].q[16 * g + l];
            b[i].ssum[g] = b[i].d * (float)sum;
        }
        act_q16_256_split(&b[i]);
    }
}
