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
        rope_apply(&rt, ref + (int64_t)t * n_heads * rc->head_dim, n_heads, rc->head_dim, pos[t]);
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

/* rmsnorm_xq: x += add (exact), f16 output within one f16 rounding of the
 * CPU rmsnorm, xq8 bit-exact with the host encoding of that f16 output. */
static void check_rmsnorm_xq(int width, bool with_add) {
    float *x = random_floats(width, -3, 3), *a = random_floats(width, -1, 1), *w = random_floats(width, 0.5f, 1.5f);
    float *sum = malloc((size_t)width * 4), *ref = malloc((size_t)width * 4), *xs = malloc((size_t)width * 4);
    for (int i = 0; i < width; i++) sum[i] = with_add ? x[i] + a[i] : x[i];
    cpu_rmsnorm(sum, w, ref, width, 1e-5f);
    float *d_x = gpu_upload_copy(x, (size_t)width * 4), *d_a = gpu_upload_copy(a, (size_t)width * 4);
    float *d_w = gpu_upload_copy(w, (size_t)width * 4);
    const size_t xq_bytes = brisk_cuda_xq8_bytes(width);
    void *d_16 = gpu_alloc_poisoned((size_t)width * 2), *d_xq = gpu_alloc_poisoned(xq_bytes);
    brisk_error err;
    bool ok = brisk_cuda_rmsnorm_xq(d_x, with_add ? d_a : NULL, d_w, d_16, d_xq, width, 1e-5f, NULL, &err) == BRISK_OK;
    uint16_t *h = malloc((size_t)width * 2);
    uint8_t *xq = malloc(xq_bytes), *xq_ref = malloc(xq_bytes);
    gpu_download(h, d_16, (size_t)width * 2);
    gpu_download(xq, d_xq, xq_bytes);
    gpu_download(xs, d_x, (size_t)width * 4);
    bool add_ok = memcmp(xs, sum, (size_t)width * 4) == 0;
    bool ok16 = close_f16(h, ref, width);
    for (int i = 0; i < width; i++) xs[i] = brisk_fp16_to_f32(h[i]);
    host_quantize_x8(xs, width, xq_ref);
    bool same = memcmp(xq, xq_ref, xq_bytes) == 0;
    gpu_check(ok && add_ok && ok16 && same, "rmsnorm_xq %d%s: x += add %s, f16 %s, xq8 %s the host encoding", width,
              with_add ? " with add" : "", add_ok ? "exact" : "BAD", ok16 ? "ok" : "BAD", same ? "==" : "!=");
    brisk_cuda_free(d_x); brisk_cuda_free(d_a); brisk_cuda_free(d_w); brisk_cuda_free(d_16); brisk_cuda_free(d_xq);
    free(x); free(a); free(w); free(sum); free(ref); free(xs); free(h); free(xq); free(xq_ref);
}

/* f32_to_xq: f16 output as f32_to_f16 / act_mul (bit-exact / within one f16
 * rounding of the CPU), xq8 bit-exact with the host encoding of it. */
static void check_f32_to_xq(int64_t n, int act) {
    float *x = random_floats(n, -6, 6), *u = random_floats(n, -4, 4), *ref = malloc((size_t)n * 4);
    if (act == 1) cpu_silu_mul(x, u, ref, n);
    else if (act == 2) cpu_gelu_tanh_mul(x, u, ref, n);
    else memcpy(ref, x, (size_t)n * 4);
    float *d_x = gpu_upload_copy(x, (size_t)n * 4), *d_u = gpu_upload_copy(u, (size_t)n * 4);
    const size_t xq_bytes = brisk_cuda_xq8_bytes(n);
    void *d_16 = gpu_alloc_poisoned((size_t)n * 2), *d_xq = gpu_alloc_poisoned(xq_bytes);
    brisk_error err;
    bool ok = brisk_cuda_f32_to_xq(d_x, act ? d_u : NULL, act == 2, d_16, d_xq, n, NULL, &err) == BRISK_OK;
    uint16_t *h = malloc((size_t)n * 2);
    uint8_t *xq = malloc(xq_bytes), *xq_ref = malloc(xq_bytes);
    gpu_download(h, d_16, (size_t)n * 2);
    gpu_download(xq, d_xq, xq_bytes);
    bool ok16 = true;
    if (act) ok16 = close_f16(h, ref, n);
    else
        for (int64_t i = 0; i < n; i++) ok16 &= h[i] == brisk_f32_to_fp16(x[i]);
    float *hv = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) hv[i] = brisk_fp16_to_f32(h[i]);
    host_quantize_x8(hv, n, xq_ref);
    bool same = memcmp(xq, xq_ref, xq_bytes) == 0;
    gpu_check(ok && ok16 && same, "f32_to_xq %s (%lld values): f16 %s, xq8 %s the host encoding",
              act == 1 ? "silu * up" : act == 2 ? "gelu_tanh * up" : "plain", (long long)n, ok16 ? "ok" : "BAD",
              same ? "==" : "!=");
    brisk_cuda_free(d_x); brisk_cuda_free(d_u); brisk_cuda_free(d_16); brisk_cuda_free(d_xq);
    free(x); free(u); free(ref); free(h); free(xq); free(xq_ref); free(hv);
}

void host_kv_quantize_q8(const float *x, int64_t n, int8_t *q, uint16_t *d) {
    for (int64_t b = 0; b < n / 32; b++) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[32 * b + i]));
        d[b] = brisk_f32_to_fp16(amax / 127.0f);
        const float df = brisk_fp16_to_f32(d[b]);
        for (int i = 0; i < 32; i++) {
            const float v = df == 0.0f ? 0.0f : rintf(x[32 * b + i] / df);
            q[32 * b + i] = (int8_t)fminf(fmaxf(v, -127.0f), 127.0f);
        }
    }
}

/* rope_kv_store = rope(q), rope(k), kv_store(k), kv_store(v) (bit-exact), into
 * an f16 or a Q8 cache. */
static void check_rope_kv_store(bool neox, int head_dim, int n_rot, brisk_cuda_kv_type kt) {
    const int n_tokens = 3, n_head = 8, n_head_kv = 2, head_dim_v = head_dim, cache_rows = 40;
    const int64_t nq = (int64_t)n_tokens * n_head * head_dim, nk = (int64_t)n_tokens * n_head_kv * head_dim;
    const int64_t k_dim = (int64_t)n_head_kv * head_dim;
    const size_t cache = brisk_cuda_kv_bytes(kt, cache_rows, k_dim);
    float *q = random_floats(nq, -2, 2), *k = random_floats(nk, -2, 2), *v = random_floats(nk, -2, 2);
    float *f = random_floats(n_rot / 2, 0.001f, 1.0f);
    int32_t pos[3] = {0, 17, 4000}, rows[3] = {5, 31, 12};
    float *d_f = gpu_upload_copy(f, (size_t)n_rot / 2 * 4);
    int32_t *d_pos = gpu_upload_copy(pos, sizeof pos), *d_rows = gpu_upload_copy(rows, sizeof rows);
    float *d_q[2], *d_k[2], *d_v;
    void *d_kc[2], *d_vc[2];
    for (int i = 0; i < 2; i++) {
        d_q[i] = gpu_upload_copy(q, (size_t)nq * 4);
        d_k[i] = gpu_upload_copy(k, (size_t)nk * 4);
        d_kc[i] = gpu_alloc_poisoned(cache);
        d_vc[i] = gpu_alloc_poisoned(cache);
    }
    d_v = gpu_upload_copy(v, (size_t)nk * 4);
    brisk_error err;
    bool ok = brisk_cuda_rope(d_q[0], d_pos, d_f, n_tokens, n_head, head_dim, n_rot, neox, 0.9f, NULL, &err) == BRISK_OK &&
              brisk_cuda_rope(d_k[0], d_pos, d_f, n_tokens, n_head_kv, head_dim, n_rot, neox, 0.9f, NULL, &err) == BRISK_OK &&
              brisk_cuda_kv_store(d_k[0], d_kc[0], kt, cache_rows, d_rows, n_tokens, (int)k_dim, NULL, &err) == BRISK_OK &&
              brisk_cuda_kv_store(d_v, d_vc[0], kt, cache_rows, d_rows, n_tokens, (int)k_dim, NULL, &err) == BRISK_OK &&
              brisk_cuda_rope_kv_store(d_q[1], d_k[1], d_v, d_pos, d_f, n_tokens, n_head, n_head_kv, head_dim,
                                       head_dim_v, n_rot, neox, 0.9f, d_kc[1], d_vc[1], kt, cache_rows, d_rows, NULL,
                                       &err) == BRISK_OK;
    float *qa = malloc((size_t)nq * 4), *qb = malloc((size_t)nq * 4);
    uint8_t *ca = malloc(cache), *cb = malloc(cache);
    gpu_download(qa, d_q[0], (size_t)nq * 4);
    gpu_download(qb, d_q[1], (size_t)nq * 4);
    bool same = memcmp(qa, qb, (size_t)nq * 4) == 0;
    if (kt == BRISK_CUDA_KV_F16) { /* the rotated k, written back in place (Q8: k is left as it was) */
        gpu_download(qa, d_k[0], (size_t)nk * 4);
        gpu_download(qb, d_k[1], (size_t)nk * 4);
        same &= memcmp(qa, qb, (size_t)nk * 4) == 0;
    } else {
        gpu_download(qb, d_k[1], (size_t)nk * 4);
        same &= memcmp(k, qb, (size_t)nk * 4) == 0;
    }
    for (int i = 0; i < 2; i++) {
        void *const *c = i ? d_vc : d_kc;
        gpu_download(ca, c[0], cache);
        gpu_download(cb, c[1], cache);
        same &= memcmp(ca, cb, cache) == 0;
    }
    gpu_check(ok && same, "rope_kv_store %s head_dim %d n_rot %d, %s cache: %s the separate kernels%s",
              neox ? "neox" : "normal", head_dim, n_rot, kt == BRISK_CUDA_KV_Q8 ? "Q8" : "f16",
              same ? "bit-exact with" : "differs from", ok ? "" : err.msg);
    for (int i = 0; i < 2; i++) {
        brisk_cuda_free(d_q[i]); brisk_cuda_free(d_k[i]); brisk_cuda_free(d_kc[i]); brisk_cuda_free(d_vc[i]);
    }
    brisk_cuda_free(d_v); brisk_cuda_free(d_f); brisk_cuda_free(d_pos); brisk_cuda_free(d_rows);
    free(q); free(k); free(v); free(f); free(qa); free(qb); free(ca); free(cb);
}

/* kv_store into a Q8 cache == the host rule (cuda_backend.h) byte for byte, the
 * rows not stored untouched; dequantized within half a step of the input; and
 * brisk_cuda_kv_copy_rows copies values and scales. */
static void check_kv_store_q8(int width, float range) {
    const int n_rows = 5, cache_rows = 48;
    const int32_t rows[5] = {7, 0, 47, 20, 21};
    const int64_t n = (int64_t)n_rows * width;
    float *x = random_floats(n, -range, range);
    for (int i = 0; i < 32; i++) x[32 + i] = 0.0f;                 /* an all-zero block: d = 0 */
    x[64] = range * 3;                                             /* an outlier in a block */
    const size_t bytes = brisk_cuda_kv_bytes(BRISK_CUDA_KV_Q8, cache_rows, width);
    float *d_x = gpu_upload_copy(x, (size_t)n * 4);
    int32_t *d_rows = gpu_upload_copy(rows, sizeof rows);
    void *d_c = gpu_alloc_poisoned(bytes);
    brisk_error err;
    bool ok = brisk_cuda_kv_store(d_x, d_c, BRISK_CUDA_KV_Q8, cache_rows, d_rows, n_rows, width, NULL, &err) == BRISK_OK;
    uint8_t *got = malloc(bytes), *want = malloc(bytes);
    gpu_download(got, d_c, bytes);
    memset(want, 0xff, bytes);
    int8_t *wq = (int8_t *)want;
    uint16_t *wd = (uint16_t *)(want + (size_t)cache_rows * width);
    double worst = 0.0; /* max |dequantized - x| / (d / 2) */
    for (int r = 0; r < n_rows; r++) {
        host_kv_quantize_q8(x + (int64_t)r * width, width, wq + (int64_t)rows[r] * width, wd + (int64_t)rows[r] * (width / 32));
        for (int i = 0; i < width; i++) {
            const float d = brisk_fp16_to_f32(wd[(int64_t)rows[r] * (width / 32) + i / 32]);
            const float back = wq[(int64_t)rows[r] * width + i] * d, e = fabsf(back - x[(int64_t)r * width + i]);
            if (d > 0 && e / (d / 2) > worst) worst = e / (d / 2);
            if (d == 0 && e > 0) worst = 1e9;
        }
    }
    const bool same = memcmp(got, want, bytes) == 0;
    /* d is rounded to f16, so a value can land a hair over half a step away */
    gpu_check(ok && same && worst <= 1.01, "kv_store Q8 width %d: %s the host rule; round trip within %.3f half-steps%s",
              width, same ? "bit-exact with" : "DIFFERS from", worst, ok ? "" : err.msg);
    /* copy rows 20, 21 (and their scales) to 30, 31 */
    ok = brisk_cuda_kv_copy_rows(d_c, BRISK_CUDA_KV_Q8, cache_rows, width, 30, 20, 2, &err) == BRISK_OK;
    memcpy(wq + 30 * width, wq + 20 * width, (size_t)2 * width);
    memcpy(wd + 30 * (width / 32), wd + 20 * (width / 32), (size_t)2 * (width / 32) * 2);
    gpu_download(got, d_c, bytes);
    const bool same2 = memcmp(got, want, bytes) == 0;
    const bool bad_rejected =
        brisk_cuda_kv_copy_rows(d_c, BRISK_CUDA_KV_Q8, cache_rows, width, 47, 20, 2, &err) == BRISK_ERR_ARG;
    gpu_check(ok && same2 && bad_rejected, "kv_copy_rows Q8 width %d: values and scales copied, rows past the cache "
              "rejected", width);
    brisk_cuda_free(d_x); brisk_cuda_free(d_rows); brisk_cuda_free(d_c);
    free(x); free(got); free(want);
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
    check_rmsnorm_xq(4096, true);
    check_rmsnorm_xq(2048, false);
    check_rmsnorm_xq(4096, false); /* sliced over 8 blocks */
    check_rmsnorm_xq(4160, false); /* not a multiple of 512: one block */
    check_rmsnorm_xq(11264, true);
    check_f32_to_xq(4096, 0);
    check_f32_to_xq(14336, 1);
    check_f32_to_xq(2048 + 64, 2);
    for (int kt = 0; kt < 2; kt++) {
        check_rope_kv_store(false, 128, 128, (brisk_cuda_kv_type)kt);
        check_rope_kv_store(true, 128, 64, (brisk_cuda_kv_type)kt);
        check_rope_kv_store(true, 64, 64, (brisk_cuda_kv_type)kt);
    }
    check_rope_kv_store(false, 96, 32, BRISK_CUDA_KV_Q8);
    check_rope_kv_store(true, 256, 256, BRISK_CUDA_KV_Q8);
    check_kv_store_q8(1024, 4.0f);
    check_kv_store_q8(64, 1e-3f);
}
