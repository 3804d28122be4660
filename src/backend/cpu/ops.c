/* Generic C kernels of the forward pass other than the matmul (matmul.c). */
#include "backend/cpu/ops.h"

#include <math.h>
#include <string.h>

#include "quant/quant.h"

float cpu_dot(const float *a, const float *b, int64_t n) {
    /* 16 independent partial sums let the compiler vectorize without
     * reassociating a single accumulator. */
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
    float tail = 0.0f;
    for (; i < n; i++) tail += a[i] * b[i];
    for (int j = 8; j > 0; j /= 2)
        for (int k = 0; k < j; k++) acc[k] += acc[k + j];
    return acc[0] + tail;
}

void cpu_weight_row(const cpu_weight *w, int64_t row, float *out) {
    const brisk_type_traits *t = brisk_type_traits_get(w->type);
    t->dequantize((const uint8_t *)w->data + (uint64_t)row * w->row_bytes, out, w->n_in);
}

/* e^x without libm calls or branches, so that loops over it vectorize:
 * x = n ln2 + r (|r| <= ln2 / 2, ln2 in two parts), e^r by its degree-6
 * Taylor polynomial (relative error < 2e-7 over the range), times 2^n built
 * in the exponent bits. x is clamped to [-87, 88]: the result stays a normal
 * float (e^-87 = 1.6e-38 stands for anything smaller, e^88 for larger). */
static inline float fast_expf(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* rounded: 1.5 * 2^23 drops the fraction */
    const float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

/* Vector widths by CPU (gcc / clang function multi-versioning, x86 only). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

/* The sum of squares in double over 8 interleaved partial sums (one serial
 * chain of double adds made a 16-row norm ~10 us, in the caller's prologue
 * while the other threads wait). */
VECTOR_CLONES void cpu_rmsnorm(const float *x, const float *w, float *out, int64_t n, float eps) {
    double part[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) part[l] += (double)x[i + l] * x[i + l];
    double ss = 0.0;
    for (; i < n; i++) ss += (double)x[i] * x[i];
    for (int l = 0; l < 8; l++) ss += part[l];
    const float scale = (float)(1.0 / sqrt(ss / (double)n + eps));
    if (w)
        for (i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
    else
        for (i = 0; i < n; i++) out[i] = x[i] * scale;
}

VECTOR_CLONES void cpu_silu_mul(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + fast_expf(-gate[i])) * up[i];
}

/* 1 + tanh(y) = 2 - 2 / (e^2y + 1): exact at both ends through the clamped
 * exp, absolute error ~1e-7 near 0 (where the 1 + dominates anyway). */
VECTOR_CLONES void cpu_gelu_tanh_mul(const float *gate, const float *up, float *out, int64_t n) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        const float one_plus_tanh = 2.0f - 2.0f / (fast_expf(2.0f * k * (g + 0.044715f * g * g * g)) + 1.0f);
        out[i] = 0.5f * g * one_plus_tanh * up[i];
    }
}

VECTOR_CLONES void cpu_softmax(float *x, int64_t n) {
    float lane_max[16]; /* 16 partial maxima, then 16 partial sums: vectorizes without reassociating one */
    for (int j = 0; j < 16; j++) lane_max[j] = -INFINITY;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) lane_max[j] = x[i + j] > lane_max[j] ? x[i + j] : lane_max[j];
    float mx = -INFINITY;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int j = 0; j < 16; j++) mx = lane_max[j] > mx ? lane_max[j] : mx;
    float part[16] = {0};
    i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            const float e = x[i + j] == -INFINITY ? 0.0f : fast_expf(x[i + j] - mx);
            x[i + j] = e;
            part[j] += e;
        }
    double sum = 0.0;
    for (; i < n; i++) {
        x[i] = x[i] == -INFINITY ? 0.0f : fast_expf(x[i] - mx);
        sum += x[i];
    }
    for (int j = 0; j < 16; j++) sum += part[j];
    float inv = (float)(1.0 / sum);
    for (i = 0; i < n; i++) x[i] *= inv;
}
