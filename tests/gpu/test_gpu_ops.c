/* Element-wise and normalization kernels against the CPU ones
 * (backend/cpu/ops.c, model/rope.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/ops.h"
#include "base/fp16.h"
#include "gpu_test.h"
#include "model/rope.h"

static float *random_floats(int64_t n, float lo, float hi) {
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = gpu_rand_uniform(lo, hi);
    return x;
}

static double *to_double(const float *x, int64_t n) {
    double *d = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* f16 output: within one f16 rounding of the f32 reference. */
static bool close_f16(const uint16_t *h, const float *ref, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = brisk_fp16_to_f32(h[i]);
        if (!(fabsf(v - ref[i]) <= 1e-3f * fabsf(ref[i]) + 1e-6f)) return false;
    }
    return true;
}

static void check_rmsnorm(int n_rows, int width, bool weighted) {
    const int64_t n = (int64_t)n_rows * width;
    float *x = random_floats(n, -3, 3), *w = weighted ? random_floats(width, 0.5f, 1.5f) : NULL;
    float *ref = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
    for (int r = 0; r < n_rows; r++) cpu_rmsnorm(x + (int64_t)r * width, w, ref + (int64_t)r * width, width, 1e-5f);
    float *d_x = gpu_upload_copy(x, (size_t)n * 4), *d_w = w ? gpu_upload_copy(w, (size_t)width * 4) : NULL;
    float *d_y = gpu_alloc_poisoned((size_t)n * 4);
    void *d_y16 = gpu_alloc_poisoned((size_t)n * 2);
    brisk_error err;
    bool ok = brisk_cuda_rmsnorm(d_x, d_w, d_y, d_y16, n_rows, width, 1e-5f, NULL, &err) == BRISK_OK;
    uint16_t *y16 = malloc((size_t)n * 2);
    gpu_download(y, d_y, (size_t)n * 4);
    gpu_download(y16, d_y16, (size_t)n * 2);
    double *rd = to_double(ref, n);
    double rel = gpu_rel_err(y, rd, n);
    bool ok16 = close_f16(y16, ref, n);
    /* in place */
    ok = ok && brisk_cuda_rmsnorm(d_x, d_w, d_x, NULL, n_rows, width, 1e-5f, NULL, &err) == BRISK_OK;
    gpu_download(y, d_x, (size_t)n * 4);
    double rel_in_place = gpu_rel_err(y, rd, n);
    gpu_check(ok && rel <= 1e-6 && rel_in_place <= 1e-6 && ok16,
              "rmsnorm %dx%d%s: rel err %.2e, in place %.2e (tol 1e-6), f16 out %s", n_rows, width,
              weighted ? " weighted" : "", rel, rel_in_place, ok16 ? "ok" : "BAD");
    brisk_cuda_free(d_x); brisk_cuda_free(d_w); brisk_cuda_free(d_y); brisk_cuda_free(d_y16);
    free(x); free(w); free(ref); free(y); free(y16); free(rd);
}

typedef struct rope_case {
    const char *name;
    rope_style style;
    rope_scaling scaling;
    int head_dim, n_rot;
    float base;
    bool freq_factors;
} rope_case;

static void check_rope(const rope_case *rc) {
    const int n_tokens = 9, n_heads = 5;
    hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.n_rot = rc->n_rot;
    hp.head_dim = rc->head_dim;
    hp.scaling = rc->scaling;
    hp.rope_factor = 4.0f;
    hp.rope_orig_ctx = 8192;
    hp.yarn_beta_fast = 32.0f;
    hp.yarn_beta_slow = 1.0f;
    hp.yarn_attn_factor = 1.0f;
    float *ff = rc->freq_factors ? random_floats(rc->n_rot / 2, 1.0f, 8.0f) : NULL;
    rope_table rt;
    if (!rope_table_init(&rt, &hp, rc->style, rc->base, true, ff)) {
        gpu_check(false, "rope %s: table", rc->name);
        return;
    }
    const int64_t n = (int64_t)n_tokens * n_heads * rc->head_dim;
    float *x = random_floats(n, -2, 2), *ref = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
    memcpy(ref, x, (size_t)n * 4);
    int32_t pos[9];
    for (int t = 0; t < n_tokens; t++) {
        pos[t] = t == 0 ? 0 : (int32_t)(gpu_rand_u32() % 32768);
        for (int h = 0; h < n_heads; h++) rope_apply(&rt, ref + ((int64_t)t * n_heads + h) * rc->head_dim, pos[t]);
    }
    float *d_x = gpu_upload_copy(x, (size_t)n * 4), *d_f = gpu_upload_copy(rt.inv_freq, (size_t)rc->n_rot / 2 * 4);
    int32_t *d_pos = gpu_upload_copy(pos, sizeof pos);
    brisk_error err;
    bool ok = brisk_cuda_rope(d_x, d_pos, d_f, n_tokens, n_heads, rc->head_dim, rc->n_rot,
                              rc->style == ROPE_NEOX, rt.mscale, NULL, &err) == BRISK_OK;
    gpu_download(y, d_x, (size_t)n * 4);
    double *rd = to_double(ref, n);
    double rel = gpu_rel_err(y, rd, n);
    gpu_check(ok && rel <= 1e-5, "rope %s: rel err %.2e (tol 1e-5), mscale %.3f", rc->name, rel, rt.mscale);
    rope_table_free(&rt);
    brisk_cuda_free(d_x); brisk_cuda_free(d_f); brisk_cuda_free(d_pos);
    free(ff); free(x); free(ref); free(y); free(rd);
}

static void check_act(bool gelu) {
    const int64_t n = 14336 * 3 + 5;
    float *g = random_floats(n, -8, 8), *u = random_floats(n, -4, 4), *ref = malloc((size_t)n * 4);
    if (gelu) cpu_gelu_tanh_mul(g, u, ref, n);
    else cpu_silu_mul(g, u, ref, n);
    float *d_g = gpu_upload_copy(g, (size_t)n * 4), *d_u = gpu_upload_copy(u, (size_t)n * 4);
    void *d_o = gpu_alloc_poisoned((size_t)n * 2);
    brisk_error err;
    bool ok = brisk_cuda_act_mul(d_g, d_u, d_o, n, gelu, NULL, &err) == BRISK_OK;
    uint16_t *o = malloc((size_t)n * 2);
    gpu_download(o, d_o, (size_t)n * 2);
    gpu_check(ok && close_f16(o, ref, n), "%s * up -> f16 (%lld values, within 1e-3 relative)",
              gelu ? "gelu_tanh" : "silu", (long long)n);
    brisk_cuda_free(d_g); brisk_cuda_free(d_u); brisk_cuda_free(d_o);
    free(g); free(u); free(ref); free(o);
}

static void check_add_and_convert(void) {
    const int64_t n = 4096 * 7 + 3;
    float *x = random_floats(n, -5, 5), *y = random_floats(n, -5, 5), *out = malloc((size_t)n * 4);
    float *d_x = gpu_upload_copy(x, (size_t)n * 4), *d_y = gpu_upload_copy(y, (size_t)n * 4);
    void *d_16 = gpu_alloc_poisoned((size_t)n * 2);
    brisk_error err;
    bool ok = brisk_cuda_add(d_x, d_y, n, NULL, &err) == BRISK_OK;
    gpu_download(out, d_x, (size_t)n * 4);
    bool exact = true;
    for (int64_t i = 0; i < n; i++) exact &= out[i] == x[i] + y[i];
    gpu_check(ok && exact, "add (%lld values, exact)", (long long)n);
    ok = brisk_cuda_f32_to_f16(d_y, d_16, n, NULL, &err) == BRISK_OK;
    uint16_t *h = malloc((size_t)n * 2);
    gpu_download(h, d_16, (size_t)n * 2);
    exact = true;
    for (int64_t i = 0; i < n; i++) exact &= h[i] == brisk_f32_to_fp16(y[i]);
    gpu_check(ok && exact, "f32_to_f16 (%lld values, bit-exact with the CPU conversion)", (long long)n);
    brisk_cuda_free(d_x); brisk_cuda_free(d_y); brisk_cuda_free(d_16);
    free(x); free(y); free(out); free(h);
}

void gpu_test_ops(void) {
    check_rmsnorm(7, 4096, true);
    check_rmsnorm(3, 576, false);
    check_rmsnorm(64, 128, true); /* per-head q/k norm */
    const rope_case cases[] = {
        {"normal llama3 freq factors", ROPE_NORMAL, ROPE_SCALING_NONE, 128, 128, 500000.0f, true},
        {"neox", ROPE_NEOX, ROPE_SCALING_NONE, 64, 64, 10000.0f, false},
        {"neox yarn partial", ROPE_NEOX, ROPE_SCALING_YARN, 128, 64, 1000000.0f, false},
        {"normal linear", ROPE_NORMAL, ROPE_SCALING_LINEAR, 256, 256, 10000.0f, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_rope(&cases[i]);
    check_act(false);
    check_act(true);
    check_add_and_convert();
}
