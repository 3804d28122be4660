/* The 1-column F16 GEMV (brisk_cuda_gemv_f16, cuda_gemv_f16.cu) on random data:
 *  - every configuration against W x in double (f32 sums: rel err <= 1e-5), on
 *    n_in that are and are not multiples of 256 (the lanes' chunk step) and
 *    row counts that are not multiples of a block's rows;
 *  - q/k/v in one launch: each matrix bit-exact with its own launch;
 *  - ADD: y0 + W x bit-exact with y0 + the plain launch;
 *  - ACT: f16(act(gate x) * (up x)) bit-exact with brisk_cuda_act_mul of the
 *    plain launches' outputs (SiLU and GELU);
 *  - bad shapes and types refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fp16.h"
#include "gpu_test.h"

typedef struct host_matrix {
    brisk_cuda_weight w;
    float *W; /* [n_out, n_in] dequantized */
} host_matrix;

static bool make_matrix(host_matrix *m, int64_t n_in, int64_t n_out) {
    memset(m, 0, sizeof *m);
    size_t bytes;
    uint8_t *src = random_weights(BRISK_TYPE_F16, n_in, n_out, &bytes);
    brisk_error err;
    m->W = malloc((size_t)(n_in * n_out) * sizeof(float));
    bool ok = brisk_cuda_weight_upload(&m->w, BRISK_TYPE_F16, n_in, n_out, src, &err) == BRISK_OK &&
              brisk_dequantize(BRISK_TYPE_F16, src, m->W, n_in * n_out, &err) == BRISK_OK;
    if (!ok) printf("F16 matrix %lldx%lld: %s\n", (long long)n_out, (long long)n_in, err.msg);
    free(src);
    return ok;
}

static void free_matrix(host_matrix *m) {
    brisk_cuda_weight_free(&m->w);
    free(m->W);
}

/* Random f16 activations: device copy, and the values as f32 in x32. */
static void *random_x(int64_t n_in, float *x32) {
    uint16_t *x16 = malloc((size_t)n_in * 2);
    for (int64_t i = 0; i < n_in; i++) {
        x16[i] = brisk_f32_to_fp16(gpu_rand_uniform(-1.0f, 1.0f));
        x32[i] = brisk_fp16_to_f32(x16[i]);
    }
    void *d = gpu_upload_copy(x16, (size_t)n_in * 2);
    free(x16);
    return d;
}

static double rel_err_vs_double(const float *y, const float *W, const float *x, int64_t n_in, int64_t n_out) {
    double *ref = malloc((size_t)n_out * sizeof(double));
    for (int64_t o = 0; o < n_out; o++) {
        double s = 0;
        for (int64_t k = 0; k < n_in; k++) s += (double)W[o * n_in + k] * x[k];
        ref[o] = s;
    }
    double e = gpu_rel_err(y, ref, n_out);
    free(ref);
    return e;
}

/* One matrix, configuration `variant`, against double; the row past the end untouched. */
static void check_variant(int variant, int64_t n_in, int64_t n_out) {
    host_matrix m;
    float *x32 = malloc((size_t)n_in * sizeof(float)), *y = malloc((size_t)(n_out + 16) * 4);
    bool ok = make_matrix(&m, n_in, n_out);
    void *d_x = random_x(n_in, x32);
    float *d_y = gpu_alloc_poisoned((size_t)(n_out + 16) * 4);
    brisk_error err = {0};
    ok = ok && brisk_cuda_gemv_f16_variant(&m.w, d_x, d_y, variant, NULL, &err) == BRISK_OK;
    gpu_download(y, d_y, (size_t)(n_out + 16) * 4);
    const double rel = ok ? rel_err_vs_double(y, m.W, x32, n_in, n_out) : INFINITY;
    bool guard = true;
    for (int64_t o = n_out; o < n_out + 16; o++) {
        uint32_t u;
        memcpy(&u, &y[o], 4);
        guard &= u == 0xFFFFFFFFu;
    }
    gpu_check(ok && rel <= 1e-5 && guard, "gemv_f16 variant %d %lldx%lld: rel err %.2e (tol 1e-5)%s%s", variant,
              (long long)n_out, (long long)n_in, rel, guard ? "" : ", wrote past the end", ok ? "" : err.msg);
    brisk_cuda_free(d_x);
    brisk_cuda_free(d_y);
    free_matrix(&m);
    free(x32);
    free(y);
}

/* brisk_cuda_gemv_f16 without rope fields, true when it returned BRISK_OK (refusals: BRISK_ERR_ARG). */
static bool gemv(const brisk_cuda_weight *const *ws, float *const *ys, int n, const void *d_x, brisk_cuda_f16_mode mode,
                 bool gelu, void *d_out16, brisk_error *err) {
    brisk_status st = brisk_cuda_gemv_f16(ws, ys, n, d_x, mode, gelu, d_out16, NULL, NULL, err);
    if (st != BRISK_OK && st != BRISK_ERR_ARG) printf("gemv_f16: unexpected status %d: %s\n", (int)st, err->msg);
    return st == BRISK_OK;
}

static bool same_floats(const float *d_a, const float *d_b, int64_t n) {
    float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
    gpu_download(a, d_a, (size_t)n * 4);
    gpu_download(b, d_b, (size_t)n * 4);
    bool same = memcmp(a, b, (size_t)n * 4) == 0;
    free(a);
    free(b);
    return same;
}

/* q/k/v of 48, 16 and 32 rows in one launch, ADD and ACT on the same data. */
static void check_modes(int64_t n_in) {
    const int64_t rows[3] = {48, 16, 32};
    host_matrix m[3];
    bool ok = true;
    for (int i = 0; i < 3; i++) ok &= make_matrix(&m[i], n_in, rows[i]);
    float *x32 = malloc((size_t)n_in * sizeof(float));
    void *d_x = random_x(n_in, x32);
    float *d_group[3], *d_one[3];
    for (int i = 0; i < 3; i++) {
        d_group[i] = gpu_alloc_poisoned((size_t)rows[i] * 4);
        d_one[i] = gpu_alloc_poisoned((size_t)rows[i] * 4);
    }
    const brisk_cuda_weight *ws[3] = {&m[0].w, &m[1].w, &m[2].w};
    brisk_error err = {0};
    ok = ok && gemv(ws, d_group, 3, d_x, BRISK_CUDA_F16_STORE, false, NULL, &err);
    for (int i = 0; i < 3 && ok; i++) ok = gemv(&ws[i], &d_one[i], 1, d_x, BRISK_CUDA_F16_STORE, false, NULL, &err);
    bool same = ok;
    double worst = 0;
    for (int i = 0; i < 3 && ok; i++) {
        same &= same_floats(d_group[i], d_one[i], rows[i]);
        float *y = malloc((size_t)rows[i] * 4);
        gpu_download(y, d_group[i], (size_t)rows[i] * 4);
        double e = rel_err_vs_double(y, m[i].W, x32, n_in, rows[i]);
        if (!(e <= worst)) worst = e;
        free(y);
    }
    gpu_check(ok && same && worst <= 1e-5, "gemv_f16 q/k/v 48+16+32 x %lld in one launch: %s single launches, rel err "
              "%.2e (tol 1e-5)%s", (long long)n_in, same ? "==" : "differs from", worst, ok ? "" : err.msg);

    /* ADD: y0 += W x */
    float *y0 = malloc(48 * 4), *ya = malloc(48 * 4), *yw = malloc(48 * 4);
    for (int i = 0; i < 48; i++) y0[i] = gpu_rand_uniform(-4, 4);
    float *d_acc = gpu_upload_copy(y0, 48 * 4);
    bool ok_add = ok && gemv(ws, &d_acc, 1, d_x, BRISK_CUDA_F16_ADD, false, NULL, &err);
    gpu_download(ya, d_acc, 48 * 4);
    gpu_download(yw, d_one[0], 48 * 4);
    bool sum_ok = true;
    for (int i = 0; i < 48; i++) sum_ok &= ya[i] == y0[i] + yw[i];
    gpu_check(ok_add && sum_ok, "gemv_f16 add 48x%lld: y0 + W x %s%s", (long long)n_in,
              sum_ok ? "== y0 + the plain launch" : "differs", ok_add ? "" : err.msg);

    /* ACT: gate = m[0] (48 rows), up = another 48-row matrix */
    host_matrix up;
    bool ok_act = ok && make_matrix(&up, n_in, 48);
    float *d_up = gpu_alloc_poisoned(48 * 4);
    const brisk_cuda_weight *gu[2] = {&m[0].w, &up.w};
    ok_act = ok_act && gemv(&gu[1], &d_up, 1, d_x, BRISK_CUDA_F16_STORE, false, NULL, &err);
    for (int gelu = 0; gelu < 2; gelu++) {
        void *d_fused = gpu_alloc_poisoned(48 * 2), *d_ref = gpu_alloc_poisoned(48 * 2);
        bool ok_g = ok_act && gemv(gu, NULL, 2, d_x, BRISK_CUDA_F16_ACT, gelu, d_fused, &err) &&
                    brisk_cuda_act_mul(d_one[0], d_up, d_ref, 48, gelu, NULL, &err) == BRISK_OK;
        uint16_t a[48], b[48];
        gpu_download(a, d_fused, sizeof a);
        gpu_download(b, d_ref, sizeof b);
        bool same_act = memcmp(a, b, sizeof a) == 0;
        int nonzero = 0;
        for (int i = 0; i < 48; i++) nonzero += (a[i] & 0x7FFF) != 0;
        gpu_check(ok_g && same_act && nonzero > 24, "gemv_f16 act %s 2 x 48x%lld: f16 output %s act_mul of the plain "
                  "launches (%d of 48 non-zero)%s", gelu ? "GELU" : "SiLU", (long long)n_in,
                  same_act ? "==" : "differs from", nonzero, ok_g ? "" : err.msg);
        brisk_cuda_free(d_fused);
        brisk_cuda_free(d_ref);
    }
    free_matrix(&up);
    brisk_cuda_free(d_up);
    brisk_cuda_free(d_acc);
    free(y0); free(ya); free(yw);
    for (int i = 0; i < 3; i++) {
        free_matrix(&m[i]);
        brisk_cuda_free(d_group[i]);
        brisk_cuda_free(d_one[i]);
    }
    brisk_cuda_free(d_x);
    free(x32);
}

static void check_refusals(void) {
    host_matrix a, b;
    bool ok = make_matrix(&a, 256, 32) && make_matrix(&b, 512, 32);
    float *d_y = gpu_alloc_poisoned(64 * 4);
    void *d_x = gpu_alloc_poisoned(1024 * 2), *d_out = gpu_alloc_poisoned(64 * 2);
    float *ys[3] = {d_y, d_y, d_y};
    const brisk_cuda_weight *mixed[2] = {&a.w, &b.w}, *one[1] = {&a.w}, *four[4] = {&a.w, &a.w, &a.w, &a.w};
    brisk_cuda_weight q8 = a.w;
    q8.type = BRISK_TYPE_Q8_0;
    const brisk_cuda_weight *wrong_type[1] = {&q8};
    brisk_error err;
    bool refused = ok;
    refused &= !gemv(mixed, ys, 2, d_x, BRISK_CUDA_F16_STORE, false, NULL, &err);
    refused &= !gemv(four, ys, 4, d_x, BRISK_CUDA_F16_STORE, false, NULL, &err);
    refused &= !gemv(one, ys, 1, d_x, BRISK_CUDA_F16_ACT, false, d_out, &err);
    refused &= !gemv(mixed, ys, 2, d_x, BRISK_CUDA_F16_ADD, false, NULL, &err);
    refused &= !gemv(wrong_type, ys, 1, d_x, BRISK_CUDA_F16_STORE, false, NULL, &err);
    refused &= brisk_cuda_gemv_f16(one, ys, 1, d_x, BRISK_CUDA_F16_ROPE, false, NULL, NULL, NULL, &err) ==
               BRISK_ERR_ARG; /* ROPE without its fields */
    refused &= brisk_cuda_gemv_f16_variant(&a.w, d_x, d_y, brisk_cuda_gemv_f16_variants(), NULL, &err) ==
               BRISK_ERR_ARG;
    gpu_check(refused, "gemv_f16 refuses mixed n_in, 4 matrices, ACT of one, ADD of two, Q8_0, ROPE without rope, "
              "a bad variant (%s)",
              refused ? err.msg : "accepted one");
    free_matrix(&a);
    free_matrix(&b);
    brisk_cuda_free(d_y);
    brisk_cuda_free(d_x);
    brisk_cuda_free(d_out);
}

/* ROPE: q/k/v (4 heads, 2 KV heads) in one launch with RoPE and the f16 KV
 * store, twice (the cache rows of the first launch stay): bit-exact with the
 * STORE launch + rope_kv_store of one token. */
static void check_rope(int head_dim, int n_rot, int64_t n_in) {
    const int64_t n_head = 4, n_head_kv = 2, q_dim = n_head * head_dim, kv_dim = n_head_kv * head_dim;
    const int64_t cache_rows = 24;
    host_matrix m[3];
    bool ok = make_matrix(&m[0], n_in, q_dim) && make_matrix(&m[1], n_in, kv_dim) && make_matrix(&m[2], n_in, kv_dim);
    float *x32 = malloc((size_t)n_in * sizeof(float));
    void *d_x = random_x(n_in, x32);
    float *freq = malloc((size_t)(n_rot / 2 + 1) * sizeof(float));
    for (int i = 0; i < n_rot / 2; i++) freq[i] = gpu_rand_uniform(0.001f, 1.0f);
    int32_t pos = 3001, row = 17;
    float *d_f = gpu_upload_copy(freq, (size_t)(n_rot / 2 + 1) * 4);
    int32_t *d_pos = gpu_upload_copy(&pos, 4), *d_row = gpu_upload_copy(&row, 4);
    float *d_q = gpu_alloc_poisoned((size_t)q_dim * 4), *d_q_ref = gpu_alloc_poisoned((size_t)q_dim * 4);
    float *d_k = gpu_alloc_poisoned((size_t)kv_dim * 4), *d_v = gpu_alloc_poisoned((size_t)kv_dim * 4);
    const size_t cache_bytes = (size_t)(cache_rows * kv_dim) * 2;
    void *d_kc = gpu_alloc_poisoned(cache_bytes), *d_vc = gpu_alloc_poisoned(cache_bytes);
    void *d_kc_ref = gpu_alloc_poisoned(cache_bytes), *d_vc_ref = gpu_alloc_poisoned(cache_bytes);
    brisk_cuda_q8_fusion rope = {.mode = BRISK_CUDA_FUSE_ROPE, .role = {0, 1, 2}, .cache = {NULL, d_kc, d_vc},
                                 .pos = d_pos, .rows = d_row, .inv_freq = d_f, .head_dim = head_dim, .n_rot = n_rot,
                                 .mscale = 0.9f};
    const brisk_cuda_weight *qkv[3] = {&m[0].w, &m[1].w, &m[2].w};
    float *out[3] = {d_q, NULL, NULL}, *ref[3] = {d_q_ref, d_k, d_v};
    brisk_error err = {0};
    bool same = ok;
    for (int rep = 0; rep < 2 && ok; rep++) {
        ok = brisk_cuda_gemv_f16(qkv, out, 3, d_x, BRISK_CUDA_F16_ROPE, false, NULL, &rope, NULL, &err) == BRISK_OK &&
             gemv(qkv, ref, 3, d_x, BRISK_CUDA_F16_STORE, false, NULL, &err) &&
             brisk_cuda_rope_kv_store(d_q_ref, d_k, d_v, d_pos, d_f, 1, (int)n_head, (int)n_head_kv, head_dim, head_dim,
                                      n_rot, false, 0.9f, d_kc_ref, d_vc_ref, BRISK_CUDA_KV_F16, cache_rows, d_row, NULL,
                                      &err) == BRISK_OK;
        same &= ok && gpu_same_bytes(d_q, d_q_ref, (size_t)q_dim * 4) && gpu_same_bytes(d_kc, d_kc_ref, cache_bytes) &&
                gpu_same_bytes(d_vc, d_vc_ref, cache_bytes);
    }
    gpu_check(ok && same, "gemv_f16 rope head_dim %d n_rot %d n_in %lld: q and the K/V cache %s STORE + "
              "rope_kv_store%s", head_dim, n_rot, (long long)n_in, same ? "bit-exact with" : "differ from",
              ok ? "" : err.msg);
    brisk_cuda_free(d_x); brisk_cuda_free(d_f); brisk_cuda_free(d_pos); brisk_cuda_free(d_row);
    brisk_cuda_free(d_q); brisk_cuda_free(d_q_ref); brisk_cuda_free(d_k); brisk_cuda_free(d_v);
    brisk_cuda_free(d_kc); brisk_cuda_free(d_vc); brisk_cuda_free(d_kc_ref); brisk_cuda_free(d_vc_ref);
    for (int i = 0; i < 3; i++) free_matrix(&m[i]);
    free(freq);
    free(x32);
}

void gpu_test_gemv_f16(void) {
    for (int v = 0; v < brisk_cuda_gemv_f16_variants(); v++) {
        check_variant(v, 4096, 64);
        check_variant(v, 1056, 48); /* 132 chunks per row: the lanes' last step is partial */
        check_variant(v, 32, 16);   /* 4 chunks per row */
    }
    check_variant(0, 14336, 32);
    check_variant(0, 4128, 80);
    check_modes(4096);
    check_modes(1056);
    check_rope(128, 128, 4096);
    check_rope(64, 32, 1056); /* partial rotation */
    check_rope(96, 96, 512);
    check_refusals();
}
