/* Generic C kernels of the forward pass other than the matmul (matmul.c). */
#include "backend/cpu/ops.h"

#include <math.h>

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

void cpu_rmsnorm(const float *x, const float *w, float *out, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * (w ? w[i] : 1.0f);
}

void cpu_silu_mul(const float *gate, const float *up, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void cpu_gelu_tanh_mul(const float *gate, const float *up, float *out, int64_t n) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = 0.5f * g * (1.0f + tanhf(k * (g + 0.044715f * g * g * g))) * up[i];
    }
}

void cpu_softmax(float *x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = x[i] == -INFINITY ? 0.0f : expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}
