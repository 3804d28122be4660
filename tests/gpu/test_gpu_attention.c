/* Attention over an f16 KV cache against a CPU reference written like
 * model/forward.c's attention_worker (f32 scores, cpu_softmax, f32 sums). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/ops.h"
#include "base/fp16.h"
#include "gpu_test.h"

typedef struct attn_case {
    const char *name;
    brisk_cuda_attn_shape s;
    int first_pos;  /* query t sits at position first_pos + t */
    int n_splits;   /* 0 = brisk_cuda_attention_splits */
    int block_size; /* > 0: a paged cache (shuffled blocks, two copies of the table) */
} attn_case;

/* A block table for n_ctx rows in blocks of bs: table [2 * n_blocks] = the
 * shuffled physical blocks (out of n_blocks + 3), twice (queries alternate
 * between the copies, which checks the per-query table offsets). */
static void make_table(int n_ctx, int bs, int32_t *table) {
    const int nb = (n_ctx + bs - 1) / bs, n_phys = nb + 3;
    int32_t *perm = malloc((size_t)n_phys * sizeof *perm);
    for (int i = 0; i < n_phys; i++) perm[i] = i;
    for (int i = n_phys - 1; i > 0; i--) {
        int j = (int)(gpu_rand_u32() % (uint32_t)(i + 1));
        int32_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    for (int i = 0; i < nb; i++) table[i] = table[nb + i] = perm[i];
    free(perm);
}

/* Rows of row_bytes scattered into the table's blocks ((n_blocks + 3) * bs
 * rows; the unused ones filled with the byte `fill`). */
static uint8_t *make_paged(const void *rows, int n_ctx, size_t row_bytes, int bs, const int32_t *table, uint8_t fill) {
    const int n_phys = (n_ctx + bs - 1) / bs + 3;
    uint8_t *paged = malloc((size_t)n_phys * bs * row_bytes);
    memset(paged, fill, (size_t)n_phys * bs * row_bytes);
    for (int j = 0; j < n_ctx; j++)
        memcpy(paged + ((size_t)table[j / bs] * bs + j % bs) * row_bytes, (const uint8_t *)rows + (size_t)j * row_bytes,
               row_bytes);
    return paged;
}

/* x [n_ctx, width] as a device cache of type kt (paged through table when bs
 * > 0, else row p = position p); *rows = its row count. x is replaced by what
 * the cache holds (f16-rounded, or q * d). */
static void *upload_cache(float *x, int n_ctx, int width, brisk_cuda_kv_type kt, int bs, const int32_t *table,
                          int64_t *rows) {
    const int64_t n = (int64_t)n_ctx * width;
    *rows = bs ? (int64_t)((n_ctx + bs - 1) / bs + 3) * bs : n_ctx;
    uint8_t *dev = malloc(brisk_cuda_kv_bytes(kt, *rows, width));
    if (kt == BRISK_CUDA_KV_F16) {
        uint16_t *h = malloc((size_t)n * 2);
        for (int64_t i = 0; i < n; i++) {
            h[i] = brisk_f32_to_fp16(x[i]);
            x[i] = brisk_fp16_to_f32(h[i]);
        }
        uint8_t *p = bs ? make_paged(h, n_ctx, (size_t)width * 2, bs, table, 0x7e) : NULL; /* unused rows: NaN */
        memcpy(dev, p ? p : (uint8_t *)h, (size_t)*rows * width * 2);
        free(p); free(h);
    } else {
        int8_t *q = malloc((size_t)n);
        uint16_t *d = malloc((size_t)n / 32 * 2);
        host_kv_quantize_q8(x, n, q, d);
        for (int64_t i = 0; i < n; i++) x[i] = q[i] * brisk_fp16_to_f32(d[i / 32]);
        uint8_t *pq = bs ? make_paged(q, n_ctx, (size_t)width, bs, table, 0x7f) : NULL;
        uint8_t *pd = bs ? make_paged(d, n_ctx, (size_t)width / 16, bs, table, 0x7e) : NULL; /* unused: NaN scales */
        memcpy(dev, pq ? pq : (uint8_t *)q, (size_t)*rows * width);
        memcpy(dev + (size_t)*rows * width, pd ? pd : (uint8_t *)d, (size_t)*rows * width / 16);
        free(pq); free(pd); free(q); free(d);
    }
    void *d_cache = gpu_upload_copy(dev, brisk_cuda_kv_bytes(kt, *rows, width));
    free(dev);
    return d_cache;
}

static void reference(const attn_case *c, const float *q, const float *k, const float *v, double *out) {
    const brisk_cuda_attn_shape *s = &c->s;
    const int group = s->n_head / s->n_head_kv, n_ctx = c->first_pos + s->n_q;
    float *scores = malloc((size_t)n_ctx * sizeof(float));
    float *acc = malloc((size_t)s->head_dim_v * 4);
    for (int t = 0; t < s->n_q; t++)
        for (int h = 0; h < s->n_head; h++) {
            const int g = h / group, pos = c->first_pos + t;
            const int first = s->window > 0 && pos - s->window + 1 > 0 ? pos - s->window + 1 : 0;
            const float *qh = q + ((int64_t)t * s->n_head + h) * s->head_dim;
            for (int j = first; j <= pos; j++) {
                float sc = cpu_dot(qh, k + ((int64_t)j * s->n_head_kv + g) * s->head_dim, s->head_dim) * s->scale;
                if (s->softcap > 0) sc = s->softcap * tanhf(sc / s->softcap);
                scores[j - first] = sc;
            }
            cpu_softmax(scores, pos - first + 1);
            memset(acc, 0, (size_t)s->head_dim_v * 4);
            for (int j = first; j <= pos; j++) {
                const float *vr = v + ((int64_t)j * s->n_head_kv + g) * s->head_dim_v;
                for (int d = 0; d < s->head_dim_v; d++) acc[d] += scores[j - first] * vr[d];
            }
            for (int d = 0; d < s->head_dim_v; d++)
                out[((int64_t)t * s->n_head + h) * s->head_dim_v + d] = acc[d];
        }
    free(scores); free(acc);
}

/* One case over an f16 or a Q8 cache, against the f32 reference over what the
 * cache holds (the f16 values, or the dequantized q * d). */
static void check_attention(const attn_case *cs, brisk_cuda_kv_type kt) {
    attn_case cc = *cs;
    const attn_case *c = &cc;
    brisk_cuda_attn_shape *s = &cc.s;
    s->kv_type = kt;
    const char *kv_name = kt == BRISK_CUDA_KV_Q8 ? "Q8 cache" : "f16 cache";
    const int n_ctx = c->first_pos + s->n_q;
    const int64_t nq = (int64_t)s->n_q * s->n_head * s->head_dim;
    const int64_t nk = (int64_t)n_ctx * s->n_head_kv * s->head_dim;
    const int64_t nv = (int64_t)n_ctx * s->n_head_kv * s->head_dim_v;
    const int64_t no = (int64_t)s->n_q * s->n_head * s->head_dim_v;
    float *q = malloc((size_t)nq * 4), *out = malloc((size_t)no * 4);
    float *k = malloc((size_t)nk * 4), *v = malloc((size_t)nv * 4);
    for (int64_t i = 0; i < nq; i++) q[i] = gpu_rand_uniform(-1, 1);
    for (int64_t i = 0; i < nk; i++) k[i] = gpu_rand_uniform(-1, 1);
    for (int64_t i = 0; i < nv; i++) v[i] = gpu_rand_uniform(-1, 1);
    int32_t *pos = malloc((size_t)s->n_q * 4);
    for (int t = 0; t < s->n_q; t++) pos[t] = c->first_pos + t;

    const int splits = c->n_splits ? c->n_splits : brisk_cuda_attention_splits(s, n_ctx);
    float *d_q = gpu_upload_copy(q, (size_t)nq * 4), *d_out = gpu_alloc_poisoned((size_t)no * 4);
    void *d_k, *d_v;
    int32_t *d_pos = gpu_upload_copy(pos, (size_t)s->n_q * 4), *d_tables = NULL, *d_off = NULL;
    const int bs = c->block_size, nb = bs ? (n_ctx + bs - 1) / bs : 0;
    int32_t *table = bs ? malloc((size_t)2 * nb * sizeof *table) : NULL;
    if (bs) {
        int32_t *off = malloc((size_t)s->n_q * sizeof *off);
        make_table(n_ctx, bs, table);
        for (int t = 0; t < s->n_q; t++) off[t] = (t % 2) * nb;
        d_tables = gpu_upload_copy(table, (size_t)2 * nb * sizeof *table);
        d_off = gpu_upload_copy(off, (size_t)s->n_q * sizeof *off);
        free(off);
    }
    d_k = upload_cache(k, n_ctx, s->n_head_kv * s->head_dim, kt, bs, table, &s->kv_rows);
    d_v = upload_cache(v, n_ctx, s->n_head_kv * s->head_dim_v, kt, bs, table, &s->kv_rows);
    free(table);
    double *ref = malloc((size_t)no * sizeof(double));
    reference(c, q, k, v, ref);
    void *scratch = NULL;
    brisk_error err;
    bool ok = brisk_cuda_alloc(&scratch, brisk_cuda_attention_scratch_bytes(s, splits), "scratch", &err) == BRISK_OK &&
              brisk_cuda_attention_paged(s, d_q, d_k, d_v, d_pos, d_tables, d_off, bs, d_out, splits, scratch, NULL,
                                         &err) == BRISK_OK;
    gpu_download(out, d_out, (size_t)no * 4);
    double rel = gpu_rel_err(out, ref, no);
    /* the tensor-core kernel rounds q and the probabilities to f16, as the prefill kernel does */
    const bool tc = brisk_cuda_attention_tensor_cores(s);
    const double tol = tc ? 3e-3 : 1e-5;
    gpu_check(ok && rel <= tol, "attention %s (%d queries at %d.., %d splits%s, %s, %s): rel err %.2e (tol %.0e)%s",
              c->name, s->n_q, c->first_pos, splits, bs ? ", paged" : "", tc ? "tensor cores" : "CUDA cores", kv_name,
              rel, tol, ok ? "" : err.msg);
    if (ok && brisk_cuda_attention_xq_supported(s, splits)) {
        /* the merge's own f16 + xq8 output == brisk_cuda_f32_to_xq of its f32 output */
        const int64_t n_in = (int64_t)s->n_head * s->head_dim_v;
        const size_t xq_bytes = brisk_cuda_xq8_bytes(n_in);
        void *d16a = gpu_alloc_poisoned((size_t)n_in * 2), *d16b = gpu_alloc_poisoned((size_t)n_in * 2);
        void *dxa = gpu_alloc_poisoned(xq_bytes), *dxb = gpu_alloc_poisoned(xq_bytes);
        bool ok2 = brisk_cuda_attention_paged_xq(s, d_q, d_k, d_v, d_pos, d_tables, d_off, bs, d16a, dxa, splits, scratch,
                                                 NULL, &err) == BRISK_OK &&
                   brisk_cuda_f32_to_xq(d_out, NULL, false, d16b, dxb, n_in, NULL, &err) == BRISK_OK;
        uint8_t *ha = malloc(xq_bytes + (size_t)n_in * 2), *hb = malloc(xq_bytes + (size_t)n_in * 2);
        gpu_download(ha, d16a, (size_t)n_in * 2);
        gpu_download(ha + n_in * 2, dxa, xq_bytes);
        gpu_download(hb, d16b, (size_t)n_in * 2);
        gpu_download(hb + n_in * 2, dxb, xq_bytes);
        const bool same = memcmp(ha, hb, xq_bytes + (size_t)n_in * 2) == 0;
        gpu_check(ok2 && same, "attention %s (%s) to f16 + xq8 in the merge: %s f32_to_xq of the f32 output%s", c->name,
                  kv_name, same ? "bit-exact with" : "DIFFERS from", ok2 ? "" : err.msg);
        brisk_cuda_free(d16a); brisk_cuda_free(d16b); brisk_cuda_free(dxa); brisk_cuda_free(dxb);
        free(ha); free(hb);
    }
    if (s->n_q > 1 && brisk_cuda_attention_prefill_supported(s)) {
        /* the tensor-core prefill kernel: q and the probabilities in f16 */
        float *d_out2 = gpu_alloc_poisoned((size_t)no * 4);
        ok = brisk_cuda_attention_prefill(s, d_q, d_k, d_v, d_pos, d_tables, bs, d_out2, NULL, &err) == BRISK_OK;
        gpu_download(out, d_out2, (size_t)no * 4);
        rel = gpu_rel_err(out, ref, no);
        gpu_check(ok && rel <= 3e-3, "prefill attention (tensor cores) %s (%d queries at %d..%s, %s): rel err %.2e (tol 3e-3)%s",
                  c->name, s->n_q, c->first_pos, bs ? ", paged" : "", kv_name, rel, ok ? "" : err.msg);
        brisk_cuda_free(d_out2);
    }
    brisk_cuda_free(d_tables); brisk_cuda_free(d_off);
    brisk_cuda_free(d_q); brisk_cuda_free(d_out); brisk_cuda_free(d_k); brisk_cuda_free(d_v);
    brisk_cuda_free(d_pos); brisk_cuda_free(scratch);
    free(q); free(out); free(k); free(v); free(pos); free(ref);
}

void gpu_test_attention(void) {
    const float s128 = 1.0f / sqrtf(128.0f), s64 = 0.125f, s256 = 1.0f / 16.0f;
    const attn_case cases[] = {
        /* name, {n_q, n_head, n_head_kv, head_dim, head_dim_v, window, scale, softcap, kv_type, kv_rows,
           long_context}, first_pos, splits, block (kv_type and kv_rows: set by check_attention) */
        {"decode llama3 GQA 4", {1, 32, 8, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 1000, 0, 0},
        {"decode first token", {1, 32, 8, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 0, 0, 0},
        {"decode many splits", {1, 8, 2, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 4999, 37, 0},
        {"decode, splits sized for a longer context (empty ones)", {1, 32, 8, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 300, 128, 16},
        {"decode 8192 positions, 128 splits", {1, 32, 8, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 8191, 128, 0},
        {"decode no GQA hd64", {1, 9, 9, 64, 64, 0, s64, 0, BRISK_CUDA_KV_F16, 0, 0}, 300, 0, 0},
        {"decode GQA 8", {1, 16, 2, 64, 64, 0, s64, 0, BRISK_CUDA_KV_F16, 0, 0}, 777, 0, 0},
        {"decode sliding softcap hd256", {1, 8, 4, 256, 256, 64, s256, 50.0f, BRISK_CUDA_KV_F16, 0, 0}, 700, 0, 0},
        {"prefill causal", {45, 32, 8, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 20, 1, 0},
        {"prefill causal from 0", {70, 4, 2, 64, 64, 0, s64, 0, BRISK_CUDA_KV_F16, 0, 0}, 0, 1, 0},
        {"prefill split", {13, 8, 8, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 400, 3, 0},
        {"prefill sliding", {40, 8, 4, 256, 256, 16, s256, 0, BRISK_CUDA_KV_F16, 0, 0}, 10, 1, 0},
        {"decode hd32 GQA 2", {1, 4, 2, 32, 32, 0, 0.17678f, 0, BRISK_CUDA_KV_F16, 0, 0}, 500, 0, 0},
        {"decode hd96", {1, 4, 2, 96, 96, 0, 0.10206f, 0, BRISK_CUDA_KV_F16, 0, 0}, 333, 0, 0},
        {"prefill hd96", {21, 4, 2, 96, 96, 0, 0.10206f, 0, BRISK_CUDA_KV_F16, 0, 0}, 5, 1, 0},
        {"decode hd80 (gemma3-like widths)", {1, 8, 8, 80, 80, 0, 0.1118f, 0, BRISK_CUDA_KV_F16, 0, 0}, 90, 0, 0},
        {"decode paged", {1, 32, 8, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 1000, 0, 16},
        {"decode paged, split inside blocks", {1, 8, 2, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 777, 9, 7},
        {"prefill paged", {37, 8, 4, 64, 64, 0, s64, 0, BRISK_CUDA_KV_F16, 0, 0}, 50, 1, 16},
        {"prefill paged sliding", {20, 8, 4, 256, 256, 16, s256, 0, BRISK_CUDA_KV_F16, 0, 0}, 30, 2, 4},
        {"prefill 130 tokens GQA 4 paged", {130, 32, 8, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 300, 1, 16},
        {"prefill softcap window GQA 8", {50, 16, 2, 64, 64, 100, s64, 30.0f, BRISK_CUDA_KV_F16, 0, 0}, 200, 1, 0},
        /* the decode kernel's shapes: lanes per row 4/8/16/32, groups rounded up (3 -> 4, 7 -> 8) */
        {"decode 8192 positions paged, engine splits", {1, 32, 8, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 8191, 0, 16},
        {"decode 8192 positions paged, long context", {1, 32, 8, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 1}, 8191, 0, 16},
        {"decode GQA 7 (qwen2.5-0.5b-like)", {1, 14, 2, 64, 64, 0, s64, 0, BRISK_CUDA_KV_F16, 0, 0}, 1234, 0, 16},
        {"decode GQA 3 hd16", {1, 6, 2, 16, 16, 0, 0.25f, 0, BRISK_CUDA_KV_F16, 0, 0}, 200, 5, 0},
        {"decode GQA 6 hd128 sliding window inside a split", {1, 12, 2, 128, 128, 100, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 3000, 20, 16},
        {"decode head_dim 64 / head_dim_v 32", {1, 8, 4, 64, 32, 0, s64, 0, BRISK_CUDA_KV_F16, 0, 0}, 150, 3, 0},
        {"decode head_dim 96 / head_dim_v 256", {1, 8, 8, 96, 256, 0, 0.10206f, 0, BRISK_CUDA_KV_F16, 0, 0}, 77, 2, 0},
        {"decode 8 queries (a batch) paged, many splits", {8, 32, 8, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 600, 24, 16},
        {"decode one split, long", {1, 16, 4, 128, 128, 0, s128, 0, BRISK_CUDA_KV_F16, 0, 0}, 2500, 1, 16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_attention(&cases[i], BRISK_CUDA_KV_F16);
        if (cases[i].s.head_dim % 32 == 0 && cases[i].s.head_dim_v % 32 == 0) check_attention(&cases[i], BRISK_CUDA_KV_Q8);
    }
    /* a Q8 cache needs head dims that are multiples of 32 */
    const brisk_cuda_attn_shape bad = {1, 8, 8, 80, 80, 0, 0.1f, 0, BRISK_CUDA_KV_Q8, 64, 0};
    brisk_error err;
    gpu_check(brisk_cuda_attention(&bad, NULL, NULL, NULL, NULL, NULL, 1, NULL, NULL, &err) == BRISK_ERR_UNSUPPORTED,
              "attention over a Q8 cache with head_dim 80: refused (%s)", err.msg);
}
