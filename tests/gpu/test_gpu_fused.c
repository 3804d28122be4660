/* The work fused into the 1-token int8 GEMV (brisk_cuda_gemv_q8_fused) and
 * the pre-norm encoding (brisk_cuda_prenorm_xq), on random data:
 *  - prenorm_xq: the xq8 of x * w bit-exact with the host encoding, the
 *    blocks' sums of x^2 within f32 rounding of the host's;
 *  - in_norm: the GEMV of a pre-norm input against W rmsnorm(x) in double;
 *  - ADD_NORM / ACT / ROPE: bit-exact with the unfused kernels they replace
 *    (gemv_q8_add + prenorm_xq; the gate/up GEMV + f32_to_xq; the q/k/v GEMV
 *    + rope_kv_store), each launched twice (ACT's block counters must be left
 *    at zero by every launch);
 *  - launches of two weight-type runs: bit-exact with one launch per matrix;
 *  - a pre-norm reader right behind the GEMV that writes its input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "gpu_test.h"

static const char *tname(brisk_type t) { return brisk_type_get(t)->name; }

static float *rand_floats(int64_t n, float lo, float hi) {
    float *v = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) v[i] = gpu_rand_uniform(lo, hi);
    return v;
}

static bool upload_weight(brisk_cuda_weight *w, brisk_type type, int64_t n_in, int64_t n_out, float **dequant) {
    size_t bytes;
    uint8_t *src = random_weights(type, n_in, n_out, &bytes);
    brisk_error err;
    bool ok = brisk_cuda_weight_upload(w, type, n_in, n_out, src, &err) == BRISK_OK;
    if (!ok) printf("upload %s: %s\n", tname(type), err.msg);
    if (dequant) {
        *dequant = malloc((size_t)(n_in * n_out) * sizeof(float));
        ok = ok && brisk_dequantize(type, src, *dequant, n_in * n_out, &err) == BRISK_OK;
    }
    free(src);
    return ok;
}

/* A plain xq8 input: random f16 values quantized by quantize_x8. */
static void *random_plain_xq(int64_t n_in) {
    uint16_t *x16 = malloc((size_t)n_in * 2);
    for (int64_t i = 0; i < n_in; i++) x16[i] = brisk_f32_to_fp16(gpu_rand_uniform(-1, 1));
    void *d_x = gpu_upload_copy(x16, (size_t)n_in * 2), *d_xq = gpu_alloc_poisoned(brisk_cuda_xq8_bytes(n_in));
    brisk_error err;
    if (brisk_cuda_quantize_x8(d_x, d_xq, 1, n_in, NULL, &err) != BRISK_OK) printf("quantize_x8: %s\n", err.msg);
    brisk_cuda_free(d_x);
    free(x16);
    return d_xq;
}

/* A pre-norm xq8 input of random x and norm weight (prenorm_xq). */
static void *random_prenorm_xq(int64_t n_in) {
    float *x = rand_floats(n_in, -3, 3), *w = rand_floats(n_in, 0.5f, 1.5f);
    float *d_x = gpu_upload_copy(x, (size_t)n_in * 4), *d_w = gpu_upload_copy(w, (size_t)n_in * 4);
    void *d_xq = gpu_alloc_poisoned(brisk_cuda_xq8_bytes(n_in));
    brisk_error err;
    if (brisk_cuda_prenorm_xq(d_x, NULL, d_w, d_xq, (int)n_in, NULL, &err) != BRISK_OK)
        printf("prenorm_xq: %s\n", err.msg);
    brisk_cuda_free(d_x);
    brisk_cuda_free(d_w);
    free(x);
    free(w);
    return d_xq;
}

static void *zeroed_counters(int64_t n_out) {
    size_t bytes = brisk_cuda_q8_counters_bytes(n_out);
    void *zeros = calloc(1, bytes);
    void *d = gpu_upload_copy(zeros, bytes);
    free(zeros);
    return d;
}

/* prenorm_xq: x (+= add, exact), xq8 of x * w == the host encoding, pads =
 * the blocks' sums of x^2 (rel 1e-6: another summation order). */
static void check_prenorm_xq(int width, bool with_add) {
    float *x = rand_floats(width, -3, 3), *a = rand_floats(width, -1, 1), *w = rand_floats(width, 0.5f, 1.5f);
    float *sum = malloc((size_t)width * 4), *xw = malloc((size_t)width * 4), *back = malloc((size_t)width * 4);
    for (int i = 0; i < width; i++) {
        sum[i] = with_add ? x[i] + a[i] : x[i];
        xw[i] = sum[i] * w[i];
    }
    float *d_x = gpu_upload_copy(x, (size_t)width * 4), *d_a = gpu_upload_copy(a, (size_t)width * 4);
    float *d_w = gpu_upload_copy(w, (size_t)width * 4);
    const size_t xq_bytes = brisk_cuda_xq8_bytes(width);
    void *d_xq = gpu_alloc_poisoned(xq_bytes);
    brisk_error err;
    bool ok = brisk_cuda_prenorm_xq(d_x, with_add ? d_a : NULL, d_w, d_xq, width, NULL, &err) == BRISK_OK;
    uint8_t *xq = malloc(xq_bytes), *xq_ref = malloc(xq_bytes);
    gpu_download(xq, d_xq, xq_bytes);
    gpu_download(back, d_x, (size_t)width * 4);
    host_quantize_x8(xw, width, xq_ref);
    bool add_ok = memcmp(back, sum, (size_t)width * 4) == 0;
    bool same = memcmp(xq, xq_ref, 2 * (size_t)width) == 0;
    double worst = 0;
    for (int b = 0; b < width / 32; b++) {
        const uint8_t *blk = xq + 2 * (size_t)width + 16 * (size_t)b, *ref = xq_ref + 2 * (size_t)width + 16 * (size_t)b;
        same &= memcmp(blk, ref, 12) == 0; /* d, s0, s1 */
        float pad;
        memcpy(&pad, blk + 12, 4);
        double ss = 0;
        for (int k = 0; k < 32; k++) ss += (double)sum[32 * b + k] * sum[32 * b + k];
        double e = fabs(pad - ss) / ss;
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    gpu_check(ok && add_ok && same && worst <= 1e-6,
              "prenorm_xq %d%s: x += add %s, xq8 of x * w %s the host encoding, sums of x^2 rel err %.1e (tol 1e-6)%s",
              width, with_add ? " with add" : "", add_ok ? "exact" : "BAD", same ? "==" : "!=", worst,
              ok ? "" : err.msg);
    brisk_cuda_free(d_x); brisk_cuda_free(d_a); brisk_cuda_free(d_w); brisk_cuda_free(d_xq);
    free(x); free(a); free(w); free(sum); free(xw); free(back); free(xq); free(xq_ref);
}

/* in_norm: W rmsnorm(x) * w from the pre-norm encoding of x, vs double
 * (xq8 ~16 bits: rel err ~1e-5). */
static void check_in_norm(brisk_type type, int64_t n_in, int64_t n_out) {
    float *x = rand_floats(n_in, -3, 3), *w = rand_floats(n_in, 0.5f, 1.5f), *W = NULL;
    brisk_cuda_weight m;
    bool ok = upload_weight(&m, type, n_in, n_out, &W);
    double ss = 0;
    for (int64_t i = 0; i < n_in; i++) ss += (double)x[i] * x[i];
    const float eps = 1e-5f;
    const double scale = 1.0 / sqrt(ss / (double)n_in + eps);
    double *ref = malloc((size_t)n_out * sizeof(double));
    for (int64_t o = 0; o < n_out; o++) {
        double s = 0;
        for (int64_t k = 0; k < n_in; k++) s += (double)W[o * n_in + k] * x[k] * scale * w[k];
        ref[o] = s;
    }
    float *d_x = gpu_upload_copy(x, (size_t)n_in * 4), *d_w = gpu_upload_copy(w, (size_t)n_in * 4);
    void *d_xq = gpu_alloc_poisoned(brisk_cuda_xq8_bytes(n_in));
    float *d_y = gpu_alloc_poisoned((size_t)n_out * 4), *y = malloc((size_t)n_out * 4);
    brisk_error err;
    const brisk_cuda_weight *ws[1] = {&m};
    brisk_cuda_q8_fusion f = {.mode = BRISK_CUDA_FUSE_NONE, .in_norm = true, .in_eps = eps};
    ok = ok && brisk_cuda_prenorm_xq(d_x, NULL, d_w, d_xq, (int)n_in, NULL, &err) == BRISK_OK &&
         brisk_cuda_gemv_q8_fused(ws, &d_y, 1, d_xq, &f, NULL, &err) == BRISK_OK;
    gpu_download(y, d_y, (size_t)n_out * 4);
    double rel = gpu_rel_err(y, ref, n_out);
    gpu_check(ok && rel <= 1e-4, "gemv_q8 in_norm %s %lldx%lld: rel err %.2e vs W rmsnorm(x) in double (tol 1e-4)%s",
              tname(type), (long long)n_out, (long long)n_in, rel, ok ? "" : err.msg);
    brisk_cuda_free(d_x); brisk_cuda_free(d_w); brisk_cuda_free(d_xq); brisk_cuda_free(d_y);
    brisk_cuda_weight_free(&m);
    free(x); free(w); free(W); free(ref); free(y);
}

/* ADD_NORM: x += W xq and the pre-norm encoding of the new x, twice: equal
 * to gemv_q8_add + prenorm_xq. */
static void check_add_norm(brisk_type type, int64_t n_in, int64_t n_out, bool in_norm) {
    brisk_cuda_weight m;
    bool ok = upload_weight(&m, type, n_in, n_out, NULL);
    void *d_in = in_norm ? random_prenorm_xq(n_in) : random_plain_xq(n_in);
    float *x0 = rand_floats(n_out, -2, 2), *nw = rand_floats(n_out, 0.5f, 1.5f);
    float *d_x = gpu_upload_copy(x0, (size_t)n_out * 4), *d_ref = gpu_upload_copy(x0, (size_t)n_out * 4);
    float *d_nw = gpu_upload_copy(nw, (size_t)n_out * 4);
    const size_t xq_bytes = brisk_cuda_xq8_bytes(n_out);
    void *d_out = gpu_alloc_poisoned(xq_bytes), *d_out_ref = gpu_alloc_poisoned(xq_bytes);
    brisk_error err;
    const brisk_cuda_weight *ws[1] = {&m};
    brisk_cuda_q8_fusion f = {.mode = BRISK_CUDA_FUSE_ADD_NORM, .in_norm = in_norm, .in_eps = 1e-6f, .norm_w = d_nw,
                              .out_xq = d_out};
    brisk_cuda_q8_fusion plain = {.mode = BRISK_CUDA_FUSE_NONE, .in_norm = in_norm, .in_eps = 1e-6f};
    float *d_y = gpu_alloc_poisoned((size_t)n_out * 4);
    bool same = true;
    for (int rep = 0; rep < 2 && ok; rep++) {
        ok = brisk_cuda_gemv_q8_fused(ws, &d_x, 1, d_in, &f, NULL, &err) == BRISK_OK &&
             brisk_cuda_gemv_q8_fused(ws, &d_y, 1, d_in, &plain, NULL, &err) == BRISK_OK &&
             brisk_cuda_add(d_ref, d_y, n_out, NULL, &err) == BRISK_OK &&
             brisk_cuda_prenorm_xq(d_ref, NULL, d_nw, d_out_ref, (int)n_out, NULL, &err) == BRISK_OK;
        same &= ok && gpu_same_bytes(d_x, d_ref, (size_t)n_out * 4) && gpu_same_bytes(d_out, d_out_ref, xq_bytes);
    }
    gpu_check(ok && same, "gemv_q8 add_norm %s %lldx%lld%s: x and its pre-norm xq8 %s gemv_q8 + add + prenorm_xq "
              "(2 launches)%s", tname(type), (long long)n_out, (long long)n_in, in_norm ? " in_norm" : "",
              same ? "bit-exact with" : "differ from", ok ? "" : err.msg);
    brisk_cuda_free(d_x); brisk_cuda_free(d_ref); brisk_cuda_free(d_nw); brisk_cuda_free(d_out);
    brisk_cuda_free(d_out_ref); brisk_cuda_free(d_y); brisk_cuda_free(d_in);
    brisk_cuda_weight_free(&m);
    free(x0); free(nw);
}

/* ACT: act(gate x) * (up x) -> f32, f16, xq8, twice: equal to the gate/up
 * GEMV + f32_to_xq. */
static void check_act_fused(brisk_type type, int64_t n_in, int64_t n_ff, bool gelu, bool in_norm) {
    brisk_cuda_weight gate, up;
    bool ok = upload_weight(&gate, type, n_in, n_ff, NULL) && upload_weight(&up, type, n_in, n_ff, NULL);
    void *d_in = in_norm ? random_prenorm_xq(n_in) : random_plain_xq(n_in);
    const size_t xq_bytes = brisk_cuda_xq8_bytes(n_ff);
    float *d_act = gpu_alloc_poisoned((size_t)n_ff * 4), *d_g = gpu_alloc_poisoned((size_t)n_ff * 4);
    float *d_u = gpu_alloc_poisoned((size_t)n_ff * 4);
    void *d_16 = gpu_alloc_poisoned((size_t)n_ff * 2), *d_16_ref = gpu_alloc_poisoned((size_t)n_ff * 2);
    void *d_xq = gpu_alloc_poisoned(xq_bytes), *d_xq_ref = gpu_alloc_poisoned(xq_bytes);
    void *d_cnt = zeroed_counters(n_ff);
    brisk_error err;
    const brisk_cuda_weight *ws[2] = {&gate, &up};
    float *ys[2] = {d_g, d_u};
    brisk_cuda_q8_fusion f = {.mode = BRISK_CUDA_FUSE_ACT, .in_norm = in_norm, .in_eps = 1e-5f, .act_out = d_act,
                              .out16 = d_16, .out_xq = d_xq, .counters = d_cnt, .gelu = gelu};
    brisk_cuda_q8_fusion plain = {.mode = BRISK_CUDA_FUSE_NONE, .in_norm = in_norm, .in_eps = 1e-5f};
    bool same = true, f32_ok = true;
    for (int rep = 0; rep < 2 && ok; rep++) {
        ok = brisk_cuda_gemv_q8_fused(ws, ys, 2, d_in, &f, NULL, &err) == BRISK_OK &&
             brisk_cuda_gemv_q8_fused(ws, ys, 2, d_in, &plain, NULL, &err) == BRISK_OK &&
             brisk_cuda_f32_to_xq(d_g, d_u, gelu, d_16_ref, d_xq_ref, n_ff, NULL, &err) == BRISK_OK;
        same &= ok && gpu_same_bytes(d_16, d_16_ref, (size_t)n_ff * 2) && gpu_same_bytes(d_xq, d_xq_ref, xq_bytes);
        float *a = malloc((size_t)n_ff * 4);
        uint16_t *h = malloc((size_t)n_ff * 2);
        gpu_download(a, d_act, (size_t)n_ff * 4);
        gpu_download(h, d_16, (size_t)n_ff * 2);
        for (int64_t i = 0; i < n_ff; i++) f32_ok &= a[i] == brisk_fp16_to_f32(h[i]);
        free(a);
        free(h);
    }
    gpu_check(ok && same && f32_ok, "gemv_q8 act %s %s %lldx%lld%s: f16 and xq8 %s the GEMV + f32_to_xq, f32 %s "
              "(2 launches)%s", gelu ? "gelu" : "silu", tname(type), (long long)n_ff, (long long)n_in,
              in_norm ? " in_norm" : "", same ? "bit-exact with" : "differ from", f32_ok ? "== f16" : "!= f16",
              ok ? "" : err.msg);
    brisk_cuda_free(d_act); brisk_cuda_free(d_g); brisk_cuda_free(d_u); brisk_cuda_free(d_16);
    brisk_cuda_free(d_16_ref); brisk_cuda_free(d_xq); brisk_cuda_free(d_xq_ref); brisk_cuda_free(d_cnt);
    brisk_cuda_free(d_in);
    brisk_cuda_weight_free(&gate); brisk_cuda_weight_free(&up);
}

/* ROPE: q/k/v GEMVs with RoPE and the KV store in the epilogue (q and k of
 * `type`, v of v_type: one launch, or q/k and v in two; an f16 or a Q8
 * cache): equal to the GEMVs + rope_kv_store of one token. */
static void check_rope_fused(brisk_type type, brisk_type v_type, int head_dim, int n_rot, bool in_norm,
                             bool one_launch, bool kv_q8) {
    const int64_t n_in = 1024, n_head = 4, n_head_kv = 2, q_dim = n_head * head_dim, kv_dim = n_head_kv * head_dim;
    const int64_t cache_rows = 24;
    brisk_cuda_weight wq, wk, wv;
    bool ok = upload_weight(&wq, type, n_in, q_dim, NULL) && upload_weight(&wk, type, n_in, kv_dim, NULL) &&
              upload_weight(&wv, v_type, n_in, kv_dim, NULL);
    void *d_in = in_norm ? random_prenorm_xq(n_in) : random_plain_xq(n_in);
    float *freq = rand_floats(n_rot / 2, 0.001f, 1.0f);
    int32_t pos = 3001, row = 17;
    float *d_f = gpu_upload_copy(freq, (size_t)(n_rot / 2) * 4);
    int32_t *d_pos = gpu_upload_copy(&pos, 4), *d_row = gpu_upload_copy(&row, 4);
    float *d_q = gpu_alloc_poisoned((size_t)q_dim * 4), *d_q_ref = gpu_alloc_poisoned((size_t)q_dim * 4);
    float *d_k = gpu_alloc_poisoned((size_t)kv_dim * 4), *d_v = gpu_alloc_poisoned((size_t)kv_dim * 4);
    const brisk_cuda_kv_type kv_type = kv_q8 ? BRISK_CUDA_KV_Q8 : BRISK_CUDA_KV_F16;
    const size_t cache_bytes = brisk_cuda_kv_bytes(kv_type, cache_rows, kv_dim);
    void *d_kc = gpu_alloc_poisoned(cache_bytes), *d_vc = gpu_alloc_poisoned(cache_bytes);
    void *d_kc_ref = gpu_alloc_poisoned(cache_bytes), *d_vc_ref = gpu_alloc_poisoned(cache_bytes);
    /* the Q8 store's f32 scratch (d_ys of k and v) and its counters */
    float *d_ks = gpu_alloc_poisoned((size_t)kv_dim * 4), *d_vs = gpu_alloc_poisoned((size_t)kv_dim * 4);
    void *d_cnt = zeroed_counters(q_dim + 2 * kv_dim);
    brisk_error err;
    brisk_cuda_q8_fusion f = {.mode = BRISK_CUDA_FUSE_ROPE, .in_norm = in_norm, .in_eps = 1e-5f,
                              .role = {0, 1, 0}, .cache = {NULL, d_kc, NULL}, .pos = d_pos, .rows = d_row,
                              .inv_freq = d_f, .head_dim = head_dim, .n_rot = n_rot, .mscale = 0.9f,
                              .kv_q8 = kv_q8, .kv_rows = cache_rows, .counters = d_cnt};
    brisk_cuda_q8_fusion fv = f;
    fv.role[0] = 2;
    fv.cache[0] = d_vc;
    brisk_cuda_q8_fusion plain = {.mode = BRISK_CUDA_FUSE_NONE, .in_norm = in_norm, .in_eps = 1e-5f};
    const brisk_cuda_weight *qk[2] = {&wq, &wk}, *v[1] = {&wv};
    float *qk_out[2] = {d_q, kv_q8 ? d_ks : NULL}, *qk_ref[2] = {d_q_ref, d_k}, *v_out[1] = {d_vs};
    bool same = true;
    const brisk_cuda_weight *qkv[3] = {&wq, &wk, &wv};
    float *qkv_out[3] = {d_q, qk_out[1], kv_q8 ? d_vs : NULL};
    brisk_cuda_q8_fusion f3 = f;
    f3.role[2] = 2;
    f3.cache[2] = d_vc;
    for (int rep = 0; rep < 2 && ok; rep++) {
        ok = (one_launch ? brisk_cuda_gemv_q8_fused(qkv, qkv_out, 3, d_in, &f3, NULL, &err) == BRISK_OK
                         : brisk_cuda_gemv_q8_fused(qk, qk_out, 2, d_in, &f, NULL, &err) == BRISK_OK &&
                               brisk_cuda_gemv_q8_fused(v, kv_q8 ? v_out : NULL, 1, d_in, &fv, NULL, &err) ==
                                   BRISK_OK) &&
             brisk_cuda_gemv_q8_fused(qk, qk_ref, 2, d_in, &plain, NULL, &err) == BRISK_OK &&
             brisk_cuda_gemv_q8_fused(v, &d_v, 1, d_in, &plain, NULL, &err) == BRISK_OK &&
             brisk_cuda_rope_kv_store(d_q_ref, d_k, d_v, d_pos, d_f, 1, (int)n_head, (int)n_head_kv, head_dim, head_dim,
                                      n_rot, false, 0.9f, d_kc_ref, d_vc_ref, kv_type, cache_rows, d_row, NULL,
                                      &err) == BRISK_OK;
        same &= ok && gpu_same_bytes(d_q, d_q_ref, (size_t)q_dim * 4) && gpu_same_bytes(d_kc, d_kc_ref, cache_bytes) &&
                gpu_same_bytes(d_vc, d_vc_ref, cache_bytes);
    }
    gpu_check(ok && same, "gemv_q8 rope %s/%s head_dim %d n_rot %d%s, %s, %s cache: q and the K/V cache %s the "
              "GEMVs + rope_kv_store%s", tname(type), tname(v_type), head_dim, n_rot, in_norm ? " in_norm" : "",
              one_launch ? "one launch" : "two launches", kv_q8 ? "Q8" : "f16",
              same ? "bit-exact with" : "differ from", ok ? "" : err.msg);
    brisk_cuda_free(d_ks); brisk_cuda_free(d_vs); brisk_cuda_free(d_cnt);
    brisk_cuda_free(d_in); brisk_cuda_free(d_f); brisk_cuda_free(d_pos); brisk_cuda_free(d_row);
    brisk_cuda_free(d_q); brisk_cuda_free(d_q_ref); brisk_cuda_free(d_k); brisk_cuda_free(d_v);
    brisk_cuda_free(d_kc); brisk_cuda_free(d_vc); brisk_cuda_free(d_kc_ref); brisk_cuda_free(d_vc_ref);
    brisk_cuda_weight_free(&wq); brisk_cuda_weight_free(&wk); brisk_cuda_weight_free(&wv);
    free(freq);
}

/* A plain group of two weight-type runs (Q4_K, Q4_K, Q6_K: the q/k/v of
 * llama3 Q4_K_M's layers) in one launch: bit-exact with single launches. */
static void check_mixed_group(brisk_type t0, brisk_type t1) {
    const int64_t n_in = 1024, n_outs[3] = {256, 64, 64};
    const brisk_type types[3] = {t0, t0, t1};
    brisk_cuda_weight w[3];
    float *d_y[3], *d_y1[3];
    bool ok = true;
    for (int m = 0; m < 3; m++) {
        ok &= upload_weight(&w[m], types[m], n_in, n_outs[m], NULL);
        d_y[m] = gpu_alloc_poisoned((size_t)n_outs[m] * 4);
        d_y1[m] = gpu_alloc_poisoned((size_t)n_outs[m] * 4);
    }
    void *d_in = random_plain_xq(n_in);
    const brisk_cuda_weight *ws[3] = {&w[0], &w[1], &w[2]};
    brisk_error err;
    ok = ok && brisk_cuda_gemv_q8_group(ws, d_y, 3, d_in, NULL, &err) == BRISK_OK;
    bool same = true;
    for (int m = 0; ok && m < 3; m++) {
        ok = brisk_cuda_gemv_q8(&w[m], d_in, d_y1[m], NULL, &err) == BRISK_OK;
        same &= ok && gpu_same_bytes(d_y[m], d_y1[m], (size_t)n_outs[m] * 4);
    }
    /* three runs (t0, t1, t0) are refused */
    const brisk_cuda_weight *ws3[3] = {&w[0], &w[2], &w[1]};
    brisk_error err3;
    bool refused = brisk_cuda_gemv_q8_group(ws3, d_y, 3, d_in, NULL, &err3) == BRISK_ERR_ARG;
    gpu_check(ok && same && refused, "gemv_q8_group %s, %s, %s in one launch: %s single launches; 3 runs %s%s",
              tname(t0), tname(t0), tname(t1), same ? "bit-exact with" : "differs from",
              refused ? "refused" : "ACCEPTED", ok ? "" : err.msg);
    for (int m = 0; m < 3; m++) {
        brisk_cuda_weight_free(&w[m]);
        brisk_cuda_free(d_y[m]);
        brisk_cuda_free(d_y1[m]);
    }
    brisk_cuda_free(d_in);
}

/* A pre-norm reader launched right behind the ADD_NORM GEMV that writes its
 * input, in one stream (programmatic dependent launch: the reader's blocks
 * start while the writer still streams its long rows), over a buffer that
 * held another pre-norm encoding (sums of squares ~1e4 times larger): equal,
 * bit for bit, to the same reader launched after the writer finished. Fails
 * where a load of the input runs before the reader's wait for the kernel
 * before (cuda9: ptxas hoisted __ldg loads of the sums of squares above
 * griddepcontrol.wait; the tiny fixtures' fused decode read stale 1 / rms).
 * Readers shaped like the fixtures' gate/up (one type) and q/k/v (two). */
static void check_read_behind_writer(const brisk_type *types, const int64_t *n_outs, int n_mats, int64_t n) {
    const int64_t writer_in = 65536; /* long rows: the writer runs for tens of us */
    void *stream = NULL;
    brisk_error err;
    bool ok = brisk_cuda_stream_create(&stream, &err) == BRISK_OK;
    brisk_cuda_weight writer, readers[3];
    ok = ok && upload_weight(&writer, BRISK_TYPE_Q8_0, writer_in, n, NULL);
    for (int m = 0; m < n_mats; m++) ok = ok && upload_weight(&readers[m], types[m], n, n_outs[m], NULL);
    void *d_in = random_plain_xq(writer_in);
    float *x0 = rand_floats(n, -2, 2), *nw = rand_floats(n, 0.5f, 1.5f), *big = rand_floats(n, -200, 200);
    float *d_x = gpu_upload_copy(x0, (size_t)n * 4), *d_nw = gpu_upload_copy(nw, (size_t)n * 4);
    float *d_big = gpu_upload_copy(big, (size_t)n * 4);
    const size_t xq_bytes = brisk_cuda_xq8_bytes(n);
    void *d_buf = gpu_alloc_poisoned(xq_bytes);
    uint8_t *stale = malloc(xq_bytes);
    /* the stale content: the pre-norm encoding of another, much larger x */
    ok = ok && brisk_cuda_prenorm_xq(d_big, NULL, d_nw, d_buf, (int)n, NULL, &err) == BRISK_OK;
    gpu_download(stale, d_buf, xq_bytes);
    float *d_y[3], *d_ref[3];
    for (int m = 0; m < n_mats; m++) {
        d_y[m] = gpu_alloc_poisoned((size_t)n_outs[m] * 4);
        d_ref[m] = gpu_alloc_poisoned((size_t)n_outs[m] * 4);
    }
    const brisk_cuda_weight *ws[1] = {&writer}, *rs[3] = {&readers[0], &readers[1], &readers[2]};
    brisk_cuda_q8_fusion add = {.mode = BRISK_CUDA_FUSE_ADD_NORM, .norm_w = d_nw, .out_xq = d_buf};
    brisk_cuda_q8_fusion read = {.mode = BRISK_CUDA_FUSE_NONE, .in_norm = true, .in_eps = 1e-5f};
    bool same = true;
    for (int rep = 0; rep < 8 && ok; rep++) { /* rep 0: the reference, the reader after a sync */
        ok = brisk_cuda_upload_async(d_x, x0, (size_t)n * 4, stream, &err) == BRISK_OK &&
             brisk_cuda_upload_async(d_buf, stale, xq_bytes, stream, &err) == BRISK_OK &&
             brisk_cuda_gemv_q8_fused(ws, &d_x, 1, d_in, &add, stream, &err) == BRISK_OK &&
             (rep > 0 || brisk_cuda_stream_sync(stream, &err) == BRISK_OK) &&
             brisk_cuda_gemv_q8_fused(rs, rep ? d_y : d_ref, n_mats, d_buf, &read, stream, &err) == BRISK_OK &&
             brisk_cuda_stream_sync(stream, &err) == BRISK_OK;
        for (int m = 0; ok && rep > 0 && m < n_mats; m++) same &= gpu_same_bytes(d_y[m], d_ref[m], (size_t)n_outs[m] * 4);
    }
    gpu_check(ok && same, "gemv_q8 in_norm %s x%d (%lld inputs) right behind the add_norm writing its input: %s "
              "the reader after a sync (7 launches over a stale encoding)%s", tname(types[0]), n_mats, (long long)n,
              same ? "bit-exact with" : "differs from", ok ? "" : err.msg);
    for (int m = 0; m < n_mats; m++) {
        brisk_cuda_free(d_y[m]);
        brisk_cuda_free(d_ref[m]);
        brisk_cuda_weight_free(&readers[m]);
    }
    brisk_cuda_weight_free(&writer);
    brisk_cuda_free(d_in); brisk_cuda_free(d_x); brisk_cuda_free(d_nw); brisk_cuda_free(d_big); brisk_cuda_free(d_buf);
    brisk_cuda_stream_free(stream);
    free(x0); free(nw); free(big); free(stale);
}

/* Shapes the fused modes refuse, with an error and no launch. */
static void check_fused_errors(void) {
    brisk_cuda_weight m;
    bool ok = upload_weight(&m, BRISK_TYPE_Q4_K, 256, 48, NULL);
    void *d_in = random_plain_xq(256), *d_out = gpu_alloc_poisoned(brisk_cuda_xq8_bytes(48));
    void *d_cnt = zeroed_counters(48);
    float *d_x = gpu_alloc_poisoned(48 * 4);
    const brisk_cuda_weight *ws[2] = {&m, &m};
    brisk_error err;
    brisk_cuda_q8_fusion add = {.mode = BRISK_CUDA_FUSE_ADD_NORM, .norm_w = d_x, .out_xq = d_out, .counters = d_cnt};
    bool refused = ok && brisk_cuda_gemv_q8_fused(ws, &d_x, 1, d_in, &add, NULL, &err) == BRISK_ERR_ARG; /* 48 rows */
    brisk_cuda_q8_fusion act = {.mode = BRISK_CUDA_FUSE_ACT, .out_xq = d_out, .counters = d_cnt};
    refused &= brisk_cuda_gemv_q8_fused(ws, NULL, 1, d_in, &act, NULL, &err) == BRISK_ERR_ARG; /* one matrix */
    brisk_cuda_q8_fusion rope = {.mode = BRISK_CUDA_FUSE_ROPE, .head_dim = 7};
    refused &= brisk_cuda_gemv_q8_fused(ws, &d_x, 1, d_in, &rope, NULL, &err) == BRISK_ERR_ARG;
    refused &= brisk_cuda_prenorm_xq(d_x, NULL, NULL, d_out, 48, NULL, &err) == BRISK_ERR_ARG;
    brisk_cuda_weight m64;
    if (upload_weight(&m64, BRISK_TYPE_Q4_K, 256, 64, NULL)) {
        const brisk_cuda_weight *w64[1] = {&m64};
        brisk_cuda_q8_fusion add_in = add;
        add_in.in_norm = true; /* the residual GEMVs read a plain x */
        refused &= brisk_cuda_gemv_q8_fused(w64, &d_x, 1, d_in, &add_in, NULL, &err) == BRISK_ERR_ARG;
        brisk_cuda_weight_free(&m64);
    }
    gpu_check(refused, "gemv_q8_fused / prenorm_xq refuse bad shapes (%s)", refused ? err.msg : "accepted one");
    brisk_cuda_free(d_in); brisk_cuda_free(d_out); brisk_cuda_free(d_cnt); brisk_cuda_free(d_x);
    brisk_cuda_weight_free(&m);
}

void gpu_test_fused(void) {
    check_prenorm_xq(4096, false);
    check_prenorm_xq(2048 + 64, true);
    const brisk_type types[] = {BRISK_TYPE_Q4_K, BRISK_TYPE_Q6_K, BRISK_TYPE_Q8_0};
    for (int i = 0; i < 3; i++) {
        check_in_norm(types[i], 1024, 96);
        check_add_norm(types[i], 2048, 1024, false);
        check_act_fused(types[i], 1024, 1536, false, true);
        check_rope_fused(types[i], types[(i + 1) % 3], 128, 128, true, true, false);
        check_rope_fused(types[i], types[(i + 1) % 3], 128, 128, true, true, true);
        check_mixed_group(types[i], types[(i + 1) % 3]);
    }
    check_in_norm(BRISK_TYPE_Q4_K, 4096, 64);
    check_add_norm(BRISK_TYPE_Q4_K, 1024, 4096, false);
    check_act_fused(BRISK_TYPE_Q6_K, 512, 640, true, false);
    check_rope_fused(BRISK_TYPE_Q4_K, BRISK_TYPE_Q4_K, 128, 64, false, true, false);
    check_rope_fused(BRISK_TYPE_Q8_0, BRISK_TYPE_Q6_K, 64, 64, true, false, false);
    check_rope_fused(BRISK_TYPE_Q4_K, BRISK_TYPE_Q6_K, 64, 32, false, true, false);
    check_rope_fused(BRISK_TYPE_Q4_K, BRISK_TYPE_Q4_K, 128, 64, false, true, true);
    check_rope_fused(BRISK_TYPE_Q8_0, BRISK_TYPE_Q6_K, 64, 64, true, false, true);
    check_rope_fused(BRISK_TYPE_Q4_K, BRISK_TYPE_Q6_K, 64, 32, false, true, true);
    const brisk_type gate_up[2] = {BRISK_TYPE_Q8_0, BRISK_TYPE_Q8_0}, qkv[3] = {BRISK_TYPE_Q4_K, BRISK_TYPE_Q4_K,
                                                                                BRISK_TYPE_Q6_K};
    const int64_t gate_up_outs[2] = {512, 512}, qkv_outs[3] = {256, 128, 128};
    check_read_behind_writer(gate_up, gate_up_outs, 2, 256);
    check_read_behind_writer(qkv, qkv_outs, 3, 256);
    check_fused_errors();
}
