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
    ok = ok && brisk_cuda_gemv_f16(ws, d_group, 3, d_x, BRISK_CUDA_F16_STORE, false, NULL, NULL, &err) == BRISK_OK;
    for (int i = 0; i < 3 && ok; i++)
        ok = brisk_cuda_gemv_f16(&ws[i], &d_one[i], 1, d_x, BRISK_CUDA_F16_STORE, false, NULL, NULL, &err) == BRISK_OK;
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
    bool ok_add = ok && brisk_cuda_gemv_f16(ws, &d_acc, 1, d_x, BRISK_CUDA_F16_ADD, false, NULL, NULL, &err) ==
                            BRISK_OK;
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
    ok_act = ok_act &&
             brisk_cuda_gemv_f16(&gu[1], &d_up, 1, d_x, BRISK_CUDA_F16_STORE, false, NULL, NULL, &err) == BRISK_OK;
    for (int gelu = 0; gelu < 2; gelu++) {
        void *d_fused = gpu_alloc_poisoned(48 * 2), *d_ref = gpu_alloc_poisoned(48 * 2);
        bool ok_g = ok_act &&
                    brisk_cuda_gemv_f16(gu, NULL, 2, d_x, BRISK_CUDA_F16_ACT, gelu, d_fused, NULL, &err) == BRISK_OK &&
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
    refused &= brisk_cuda_gemv_f16(mixed, ys, 2, d_x, BRISK_CUDA_F16_STORE, false, NULL, NULL, &err) == BRISK_ERR_ARG;
    refused &= brisk_cuda_gemv_f16(four, ys, 4, d_x, BRISK_CUDA_F16_STORE, false, NULL, NULL, &err) == BRISK_ERR_ARG;
    refused &= brisk_cuda_gemv_f16(one, ys, 1, d_x, BRISK_CUDA_F16_ACT, false, d_out, NULL, &err) == BRISK_ERR_ARG;
    refused &= brisk_cuda_gemv_f16(mixed, ys, 2, d_x, BRISK_CUDA_F16_ADD, false, NULL, NULL, &err) == BRISK_ERR_ARG;
    refused &= brisk_cuda_gemv_f16(wrong_type, ys, 1, d_x, BRISK_CUDA_F16_STORE, false, NULL, NULL, &err) ==
               BRISK_ERR_ARG;
    refused &= brisk_cuda_gemv_f16_variant(&a.w, d_x, d_y, brisk_cuda_gemv_f16_variants(), NULL, &err) ==
               BRISK_ERR_ARG;
    gpu_check(refused, "gemv_f16 refuses mixed n_in, 4 matrices, ACT of one, ADD of two, Q8_0, a bad variant (%s)",
              refused ? err.msg : "accepted one");
    free_matrix(&a);
    free_matrix(&b);
    brisk_cuda_free(d_y);
    brisk_cuda_free(d_x);
    brisk_cuda_free(d_out);
}

void gpu_test_gemv_f16(void) {
    for (int v = 0; v < brisk_cuda_gemv_f16_variants(); v++) {
        check_variant(v, 4096, 64);
        check_variant(v, 1000, 48); /* 125 chunks per row: the lanes' last step is partial */
        check_variant(v, 8, 16);    /* one chunk per row */
    }
    check_variant(0, 14336, 32);
    check_variant(0, 4104, 80);
    check_modes(4096);
    check_modes(1000);
    check_refusals();
}
