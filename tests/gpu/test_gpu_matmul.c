/* Weights on the GPU: dequantization (file layout and repacked), decode GEMV
 * and prompt GEMM, against the CPU reference dequantization. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "gpu_test.h"

static void put_half(uint8_t *p, uint16_t h) { memcpy(p, &h, 2); }

/* A matrix in the file layout: random bytes everywhere (every quant and
 * 6-bit scale pattern), then every f16 field replaced by a random finite half
 * of a realistic size. */
uint8_t *random_weights(brisk_type type, int64_t n_in, int64_t n_out, size_t *bytes_out) {
    const brisk_type_info *ti = brisk_type_get(type);
    const size_t bytes = (size_t)brisk_type_row_bytes(type, n_in) * (size_t)n_out;
    uint8_t *w = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)gpu_rand_u32();
    const size_t nb = bytes / ti->block_bytes;
    for (size_t b = 0; b < nb; b++) {
        uint8_t *blk = w + b * ti->block_bytes;
        switch (type) {
        case BRISK_TYPE_F16: put_half(blk, gpu_rand_half(-8, 0)); break;
        case BRISK_TYPE_Q8_0: put_half(blk, gpu_rand_half(-12, -6)); break;
        case BRISK_TYPE_Q4_K:
            put_half(blk, gpu_rand_half(-14, -9));
            put_half(blk + 2, gpu_rand_half(-14, -9));
            break;
        case BRISK_TYPE_Q6_K: put_half(blk + 208, gpu_rand_half(-14, -9)); break;
        default: break;
        }
    }
    *bytes_out = bytes;
    return w;
}

static float *cpu_dequant(brisk_type type, const uint8_t *w, int64_t n) {
    float *out = malloc((size_t)n * sizeof(float));
    brisk_error err;
    if (brisk_dequantize(type, w, out, n, &err) != BRISK_OK) {
        printf("FAIL cpu dequantize: %s\n", err.msg);
        exit(1);
    }
    return out;
}

static const brisk_type weight_types[] = {BRISK_TYPE_F16, BRISK_TYPE_Q8_0, BRISK_TYPE_Q4_K,
                                          BRISK_TYPE_Q6_K};
static const char *tname(brisk_type t) { return brisk_type_get(t)->name; }

/* F16 and Q8_0 straight from the file layout: bit-exact. */
static void check_dequant_exact(brisk_type type, int64_t n) {
    size_t bytes;
    uint8_t *src = random_weights(type, n, 1, &bytes);
    float *cpu = cpu_dequant(type, src, n), *gpu = malloc((size_t)n * sizeof(float));
    brisk_error err;
    bool ok = brisk_cuda_dequantize(type, src, gpu, n, &err) == BRISK_OK;
    int64_t bad = 0;
    for (int64_t i = 0; ok && i < n; i++) bad += memcmp(&cpu[i], &gpu[i], 4) != 0;
    gpu_check(ok && !bad, "dequantize %s (%lld values, bit-exact): %s%lld differ", tname(type),
              (long long)n, ok ? "" : err.msg, (long long)bad);
    free(src); free(cpu); free(gpu);
}

/* Upload (repack) then weight_to_f16: each value within one f16 rounding of
 * the block's largest value (scales are rounded to f16 once, then q * dl - ml
 * once more). */
static void check_to_f16(brisk_type type, int64_t n_in, int64_t n_out) {
    size_t bytes;
    uint8_t *src = random_weights(type, n_in, n_out, &bytes);
    const int64_t n = n_in * n_out;
    float *cpu = cpu_dequant(type, src, n);
    brisk_cuda_weight w;
    brisk_error err;
    if (brisk_cuda_weight_upload(&w, type, n_in, n_out, src, &err) != BRISK_OK) {
        gpu_check(false, "upload %s: %s", tname(type), err.msg);
        free(src); free(cpu);
        return;
    }
    void *d_out = gpu_alloc_poisoned((size_t)n * 2);
    bool ok = brisk_cuda_weight_to_f16(&w, 0, n_out, d_out, NULL, &err) == BRISK_OK;
    uint16_t *h = malloc((size_t)n * 2);
    gpu_download(h, d_out, (size_t)n * 2);
    const int64_t block = type == BRISK_TYPE_Q4_K || type == BRISK_TYPE_Q6_K ? 256 : 32;
    int64_t bad = 0;
    double worst = 0;
    for (int64_t b0 = 0; b0 < n; b0 += block) {
        float mx = 0;
        for (int64_t i = b0; i < b0 + block; i++) mx = fmaxf(mx, fabsf(cpu[i]));
        for (int64_t i = b0; i < b0 + block; i++) {
            double e = fabs((double)brisk_fp16_to_f32(h[i]) - cpu[i]) / (mx > 0 ? mx : 1);
            if (!(e <= 4e-3)) bad++;
            if (e > worst || isnan(e)) worst = isnan(e) ? INFINITY : e;
        }
    }
    gpu_check(ok && !bad, "weight_to_f16 %s %lldx%lld: max error %.2e of the block max (tol 4e-3), %lld bad",
              tname(type), (long long)n_out, (long long)n_in, worst, (long long)bad);
    brisk_cuda_free(d_out);
    brisk_cuda_weight_free(&w);
    free(src); free(cpu); free(h);
}

void gpu_test_dequant(void) {
    check_dequant_exact(BRISK_TYPE_F16, 32 * 100003);
    check_dequant_exact(BRISK_TYPE_Q8_0, 32 * 100003);
    for (size_t i = 0; i < sizeof weight_types / sizeof weight_types[0]; i++) {
        check_to_f16(weight_types[i], 512, 48);
        check_to_f16(weight_types[i], 2816, 32);
    }
}

/* Random activations rounded to f16: [n_cols, n_in] as f16 bits and as f32. */
static void random_acts(int64_t n, uint16_t *x16, float *x32) {
    for (int64_t i = 0; i < n; i++) {
        x16[i] = brisk_f32_to_fp16(gpu_rand_uniform(-1.0f, 1.0f));
        x32[i] = brisk_fp16_to_f32(x16[i]);
    }
}

/* y_ref[c, o] = sum_k W[o, k] x[c, k] in double. */
static double *reference_matmul(const float *W, const float *x, int64_t n_in, int64_t n_out, int n_cols) {
    double *y = malloc((size_t)n_cols * (size_t)n_out * sizeof(double));
    for (int c = 0; c < n_cols; c++)
        for (int64_t o = 0; o < n_out; o++) {
            double s = 0;
            for (int64_t k = 0; k < n_in; k++) s += (double)W[o * n_in + k] * x[c * n_in + k];
            y[c * n_out + o] = s;
        }
    return y;
}

static double matmul_tol(brisk_type type) {
    return type == BRISK_TYPE_F16 ? 1e-5 : type == BRISK_TYPE_Q4_K ? 3e-3 : 2e-3;
}

/* gemm: false = brisk_cuda_gemv (n_cols <= 8), true = brisk_cuda_gemm. Also
 * checks that the row past the last output stays untouched. */
static void check_matmul(brisk_type type, int64_t n_in, int64_t n_out, int n_cols, bool gemm,
                         int variant) {
    size_t bytes;
    uint8_t *src = random_weights(type, n_in, n_out, &bytes);
    float *W = cpu_dequant(type, src, n_in * n_out);
    uint16_t *x16 = malloc((size_t)n_cols * n_in * 2);
    float *x32 = malloc((size_t)n_cols * n_in * sizeof(float));
    random_acts(n_cols * n_in, x16, x32);
    double *ref = reference_matmul(W, x32, n_in, n_out, n_cols);
    brisk_cuda_weight w;
    brisk_error err;
    bool ok = brisk_cuda_weight_upload(&w, type, n_in, n_out, src, &err) == BRISK_OK;
    const size_t y_bytes = (size_t)(n_cols + 1) * n_out * sizeof(float);
    float *y = malloc(y_bytes);
    double rel = INFINITY;
    bool guard = false;
    if (ok) {
        void *d_x = gpu_upload_copy(x16, (size_t)n_cols * n_in * 2);
        float *d_y = gpu_alloc_poisoned(y_bytes);
        if (gemm) {
            brisk_cuda_blas *blas = NULL;
            void *scratch = NULL;
            ok = brisk_cuda_blas_create(&blas, NULL, &err) == BRISK_OK &&
                 brisk_cuda_alloc(&scratch, brisk_cuda_gemm_scratch_bytes(&w), "scratch", &err) == BRISK_OK &&
                 brisk_cuda_gemm(blas, &w, d_x, d_y, n_cols, scratch, &err) == BRISK_OK;
            brisk_cuda_sync(NULL);
            brisk_cuda_free(scratch);
            brisk_cuda_blas_free(blas);
        } else {
            ok = brisk_cuda_gemv_variant(&w, d_x, d_y, n_cols, variant, NULL, &err) == BRISK_OK;
        }
        gpu_download(y, d_y, y_bytes);
        rel = gpu_rel_err(y, ref, (int64_t)n_cols * n_out);
        guard = true;
        for (int64_t o = 0; o < n_out; o++) {
            uint32_t u;
            memcpy(&u, &y[(int64_t)n_cols * n_out + o], 4);
            guard &= u == 0xFFFFFFFFu;
        }
        brisk_cuda_free(d_x);
        brisk_cuda_free(d_y);
        brisk_cuda_weight_free(&w);
    }
    gpu_check(ok && rel <= matmul_tol(type) && guard,
              "%s %s %lldx%lld, %d cols%s: rel err %.2e (tol %.0e)%s%s", gemm ? "gemm" : "gemv",
              tname(type), (long long)n_out, (long long)n_in, n_cols,
              variant ? " (variant)" : "", rel, matmul_tol(type), guard ? "" : ", wrote past the end",
              ok ? "" : err.msg);
    free(src); free(W); free(x16); free(x32); free(ref); free(y);
}

/* The xq8 activation format of brisk_cuda_quantize_x8, computed on the host
 * the same way (cuda_gemv_q8.cu): per 32 elements v = x * (127 / max|x|),
 * hi = rint(v), lo = clamp(rint((v - hi) * 256), -127, 127), d = max|x| /
 * 127 / 256, sums of 256 hi + lo over each half. */
void host_quantize_x8(const float *x, int64_t n_in, uint8_t *out) {
    for (int64_t b = 0; b < n_in / 32; b++) {
        float amax = 0;
        for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(x[32 * b + k]));
        const float id = amax > 0 ? 127.0f / amax : 0.0f, d = amax / 127.0f / 256.0f;
        int32_t m[4] = {0, 0, 0, 0};
        for (int k = 0; k < 32; k++) {
            const float t = x[32 * b + k] * id;
            const int h = (int)rintf(t);
            int l = (int)rintf((t - (float)h) * 256.0f);
            l = l < -127 ? -127 : l > 127 ? 127 : l;
            out[32 * b + k] = (uint8_t)(int8_t)h;
            out[n_in + 32 * b + k] = (uint8_t)(int8_t)l;
            m[1 + k / 16] += 256 * h + l;
        }
        memcpy(&m[0], &d, 4);
        memcpy(out + 2 * n_in + 16 * b, m, 16);
    }
}

/* x ~= d * (256 hi + lo) of an xq8 column. */
void host_dequantize_x8(const uint8_t *xq, int64_t n_in, float *x) {
    for (int64_t k = 0; k < n_in; k++) {
        float d;
        memcpy(&d, xq + 2 * n_in + 16 * (k / 32), 4);
        x[k] = d * (float)(256 * (int)(int8_t)xq[k] + (int)(int8_t)xq[n_in + k]);
    }
}

/* quantize_x8 (bit-exact with the host) and gemv_q8: against the dot of the
 * dequantized weights with the dequantized x (f32 accumulation only), and
 * against the f16 x (~16-bit activations: ~1e-5 relative error expected). */
static void check_gemv_q8(brisk_type type, int64_t n_in, int64_t n_out, int variant) {
    size_t bytes;
    uint8_t *src = random_weights(type, n_in, n_out, &bytes);
    float *W = cpu_dequant(type, src, n_in * n_out);
    const int n_cols = 3; /* quantize 3 columns, multiply the last */
    uint16_t *x16 = malloc((size_t)n_cols * n_in * 2);
    float *x32 = malloc((size_t)n_cols * n_in * sizeof(float));
    random_acts(n_cols * n_in, x16, x32);
    /* one block of exact zeros (d = 0) and one with a large outlier */
    for (int k = 0; k < 32; k++) x16[(n_cols - 1) * n_in + k] = 0, x32[(n_cols - 1) * n_in + k] = 0;
    x16[(n_cols - 1) * n_in + 40] = brisk_f32_to_fp16(-300.0f);
    x32[(n_cols - 1) * n_in + 40] = brisk_fp16_to_f32(x16[(n_cols - 1) * n_in + 40]);
    const size_t xq_bytes = brisk_cuda_xq8_bytes(n_in);
    uint8_t *xq_host = malloc((size_t)n_cols * xq_bytes), *xq_dev = malloc((size_t)n_cols * xq_bytes);
    for (int c = 0; c < n_cols; c++) host_quantize_x8(x32 + (int64_t)c * n_in, n_in, xq_host + c * xq_bytes);
    const float *xl = x32 + (int64_t)(n_cols - 1) * n_in;
    const uint8_t *xql = xq_host + (n_cols - 1) * xq_bytes;
    float *xdq = malloc((size_t)n_in * sizeof(float)); /* the dequantized x */
    host_dequantize_x8(xql, n_in, xdq);
    double *ref_q = reference_matmul(W, xdq, n_in, n_out, 1), *ref_x = reference_matmul(W, xl, n_in, n_out, 1);
    brisk_cuda_weight w;
    brisk_error err;
    bool ok = brisk_cuda_weight_upload(&w, type, n_in, n_out, src, &err) == BRISK_OK;
    const size_t y_bytes = (size_t)(n_out + 16) * sizeof(float);
    float *y = malloc(y_bytes);
    double rel_q = INFINITY, rel_x = INFINITY;
    bool guard = false, same = false, as_v2 = false; /* as_v2: bit for bit as variant 2 (same sums, same order) */
    if (ok) {
        void *d_x = gpu_upload_copy(x16, (size_t)n_cols * n_in * 2);
        void *d_xq = gpu_alloc_poisoned((size_t)n_cols * xq_bytes);
        float *d_y = gpu_alloc_poisoned(y_bytes);
        ok = brisk_cuda_quantize_x8(d_x, d_xq, n_cols, n_in, NULL, &err) == BRISK_OK &&
             brisk_cuda_gemv_q8_variant(&w, (uint8_t *)d_xq + (n_cols - 1) * xq_bytes, d_y, variant, NULL, &err) ==
                 BRISK_OK;
        gpu_download(xq_dev, d_xq, (size_t)n_cols * xq_bytes);
        gpu_download(y, d_y, y_bytes);
        same = memcmp(xq_host, xq_dev, (size_t)n_cols * xq_bytes) == 0;
        float *d_y2 = gpu_alloc_poisoned(y_bytes), *y2 = malloc(y_bytes);
        ok = ok && brisk_cuda_gemv_q8_variant(&w, (uint8_t *)d_xq + (n_cols - 1) * xq_bytes, d_y2, 2, NULL, &err) ==
                       BRISK_OK;
        gpu_download(y2, d_y2, y_bytes);
        as_v2 = memcmp(y, y2, y_bytes) == 0;
        brisk_cuda_free(d_y2);
        free(y2);
        rel_q = gpu_rel_err(y, ref_q, n_out);
        rel_x = gpu_rel_err(y, ref_x, n_out);
        guard = true;
        for (int64_t o = n_out; o < n_out + 16; o++) {
            uint32_t u;
            memcpy(&u, &y[o], 4);
            guard &= u == 0xFFFFFFFFu;
        }
        brisk_cuda_free(d_x);
        brisk_cuda_free(d_xq);
        brisk_cuda_free(d_y);
        brisk_cuda_weight_free(&w);
    }
    gpu_check(ok && same && rel_q <= 1e-5 && rel_x <= 2e-4 && guard && as_v2,
              "gemv_q8 %s %lldx%lld variant %d: xq8 %s host, rel err %.2e vs quantized x (tol 1e-5), %.2e vs f16 x "
              "(tol 2e-4), y %s variant 2's%s%s",
              tname(type), (long long)n_out, (long long)n_in, variant, same ? "==" : "!=", rel_q, rel_x,
              as_v2 ? "==" : "!=", guard ? "" : ", wrote past the end", ok ? "" : err.msg);
    free(src); free(W); free(x16); free(x32); free(xq_host); free(xq_dev); free(xdq); free(ref_q); free(ref_x);
    free(y);
}

static float *random_floats_host(int64_t n) {
    float *v = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) v[i] = gpu_rand_uniform(-2, 2);
    return v;
}

/* gemv_q8_group: three matrices of different heights in one launch give
 * exactly the results of three single launches. */
static void check_gemv_q8_group(brisk_type type) {
    const int64_t n_in = 1024, n_outs[3] = {256, 64, 48};
    brisk_cuda_weight w[3];
    float *d_y[3], *d_y1[3];
    brisk_error err;
    bool ok = true;
    for (int m = 0; m < 3; m++) {
        size_t bytes;
        uint8_t *src = random_weights(type, n_in, n_outs[m], &bytes);
        ok &= brisk_cuda_weight_upload(&w[m], type, n_in, n_outs[m], src, &err) == BRISK_OK;
        d_y[m] = gpu_alloc_poisoned((size_t)n_outs[m] * 4);
        d_y1[m] = gpu_alloc_poisoned((size_t)n_outs[m] * 4);
        free(src);
    }
    uint16_t *x16 = malloc((size_t)n_in * 2);
    float *x32 = malloc((size_t)n_in * 4);
    random_acts(n_in, x16, x32);
    void *d_x = gpu_upload_copy(x16, (size_t)n_in * 2), *d_xq = gpu_alloc_poisoned(brisk_cuda_xq8_bytes(n_in));
    const brisk_cuda_weight *ws[3] = {&w[0], &w[1], &w[2]};
    ok = ok && brisk_cuda_quantize_x8(d_x, d_xq, 1, n_in, NULL, &err) == BRISK_OK &&
         brisk_cuda_gemv_q8_group(ws, d_y, 3, d_xq, NULL, &err) == BRISK_OK;
    bool same = true;
    for (int m = 0; ok && m < 3; m++) {
        ok = brisk_cuda_gemv_q8(&w[m], d_xq, d_y1[m], NULL, &err) == BRISK_OK;
        float *a = malloc((size_t)n_outs[m] * 4), *b = malloc((size_t)n_outs[m] * 4);
        gpu_download(a, d_y[m], (size_t)n_outs[m] * 4);
        gpu_download(b, d_y1[m], (size_t)n_outs[m] * 4);
        same &= memcmp(a, b, (size_t)n_outs[m] * 4) == 0;
        free(a); free(b);
    }
    gpu_check(ok && same, "gemv_q8_group %s (3 matrices, 256/64/48 rows): %s single launches%s", tname(type),
              same ? "bit-exact with" : "differs from", ok ? "" : err.msg);
    /* gemv_q8_add: y0 + W x, the f32 sum of y0 and gemv_q8's result */
    float *y0 = random_floats_host(n_outs[0]), *yw = malloc((size_t)n_outs[0] * 4), *ya = malloc((size_t)n_outs[0] * 4);
    float *d_acc = gpu_upload_copy(y0, (size_t)n_outs[0] * 4);
    bool ok_add = ok && brisk_cuda_gemv_q8_add(&w[0], d_xq, d_acc, NULL, &err) == BRISK_OK;
    gpu_download(ya, d_acc, (size_t)n_outs[0] * 4);
    gpu_download(yw, d_y1[0], (size_t)n_outs[0] * 4);
    bool sum_ok = true;
    for (int64_t r = 0; r < n_outs[0]; r++) sum_ok &= ya[r] == y0[r] + yw[r];
    gpu_check(ok_add && sum_ok, "gemv_q8_add %s (%lld rows): y0 + W x %s%s", tname(type), (long long)n_outs[0],
              sum_ok ? "== y0 + gemv_q8" : "differs", ok_add ? "" : err.msg);
    brisk_cuda_free(d_acc);
    free(y0); free(yw); free(ya);
    for (int m = 0; m < 3; m++) {
        brisk_cuda_weight_free(&w[m]);
        brisk_cuda_free(d_y[m]);
        brisk_cuda_free(d_y1[m]);
    }
    brisk_cuda_free(d_x); brisk_cuda_free(d_xq);
    free(x16); free(x32);
}

void gpu_test_matmul(void) {
    for (size_t i = 0; i < sizeof weight_types / sizeof weight_types[0]; i++) {
        brisk_type t = weight_types[i];
        for (int c = 1; c <= BRISK_CUDA_GEMV_MAX_COLS; c++) check_matmul(t, 512, 48, c, false, 0);
        check_matmul(t, 2816, 144, 1, false, 0);
        check_matmul(t, 2816, 144, 5, false, 0);
        for (int v = 1; v <= 4; v++) check_matmul(t, 1536, 32, 3, false, v);
        if (t == BRISK_TYPE_F16 || t == BRISK_TYPE_Q8_0) check_matmul(t, 576, 64, 2, false, 0);
        check_matmul(t, 512, 48, 37, true, 0);
        check_matmul(t, 2816, 144, 1, true, 0);
    }
    const brisk_type q8_types[] = {BRISK_TYPE_Q4_K, BRISK_TYPE_Q6_K, BRISK_TYPE_Q8_0};
    for (size_t i = 0; i < 3; i++)
        for (int v = 0; v <= BRISK_CUDA_GEMV_Q8_VARIANTS; v++) {
            check_gemv_q8(q8_types[i], 512, 48, v);
            check_gemv_q8(q8_types[i], 4352, 144, v);
        }
    check_gemv_q8(BRISK_TYPE_Q8_0, 576, 32, 0);
    for (size_t i = 0; i < 3; i++) check_gemv_q8_group(q8_types[i]);
    /* several slices of dequantized rows (64 MiB each) */
    check_matmul(BRISK_TYPE_Q4_K, 14336, 2352, 3, true, 0);
}
