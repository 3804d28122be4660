/* The forward pass shared by every supported family: a pre-norm decoder
 * block (attention + gated MLP) repeated n_layer times. What differs between
 * families is data in arch_desc and hparams (see model.h), read top to bottom
 * here like the math.
 *
 *   x = embed(tokens) [* sqrt(n_embd)]
 *   for each layer:
 *     h = rmsnorm(x) ; q,k,v = h Wq,Wk,Wv [+ b] ; [qk-norm] ; rope(q,k) ; cache k,v
 *     a = softmax(q k^T * scale + causal/sliding mask) v ; o = a Wo ; [post-norm]
 *     x = x + o
 *     h = rmsnorm(x) ; f = (act(h Wgate) * h Wup) Wdown ; [post-norm] ; x = x + f
 *   logits = rmsnorm(x) Wout [softcap]                                          */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/fp16.h"
#include "runtime/context.h"

/* ---- KV cache rows -------------------------------------------------------- */

static size_t kv_elem_size(const brisk_context *c) { return c->kv_f32 ? 4 : 2; }

/* Address of row `pos` of layer `il` in a cache whose rows are `width` wide. */
static void *kv_row(const brisk_context *c, void *cache, int il, int32_t pos, int64_t width) {
    size_t row = (size_t)width * kv_elem_size(c);
    return (uint8_t *)cache + ((size_t)il * (size_t)c->n_ctx + (size_t)pos) * row;
}

static void kv_store(const brisk_context *c, void *dst, const float *src, int64_t n) {
    if (c->kv_f32) { memcpy(dst, src, (size_t)n * 4); return; }
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = brisk_f32_to_fp16(src[i]);
}

/* dot(q, row[0..n)) for a cache row of either element type. */
static float kv_dot(const brisk_context *c, const float *q, const void *row, int64_t n) {
    if (c->kv_f32) return cpu_dot(q, row, n);
    const uint16_t *h = row;
    float acc = 0.0f;
    for (int64_t i = 0; i < n; i++) acc += q[i] * brisk_fp16_to_f32(h[i]);
    return acc;
}

/* out += w * row */
static void kv_axpy(const brisk_context *c, float *out, float w, const void *row, int64_t n) {
    if (c->kv_f32) {
        const float *r = row;
        for (int64_t i = 0; i < n; i++) out[i] += w * r[i];
        return;
    }
    const uint16_t *h = row;
    for (int64_t i = 0; i < n; i++) out[i] += w * brisk_fp16_to_f32(h[i]);
}

/* ---- attention -------------------------------------------------------------- */

typedef struct attn_job {
    brisk_context *c;
    int il;
    int32_t n_tokens;
} attn_job;

/* One (token, head) pair per work item: scores over the visible cache rows,
 * softmax, weighted sum of values. Output: c->attn [n_tokens, n_head * head_dim_v]. */
static void attention_worker(void *p, int ith, int nth) {
    const attn_job *job = p;
    brisk_context *c = job->c;
    const hparams *hp = &c->model->hp;
    const layer_weights *ly = &c->model->layers[job->il];
    int group = hp->n_head / hp->n_head_kv;
    int64_t k_width = (int64_t)hp->n_head_kv * hp->head_dim, v_width = (int64_t)hp->n_head_kv * hp->head_dim_v;
    float *scores = c->scores + (int64_t)ith * c->n_ctx;
    long w0, w1;
    threadpool_slice((long)job->n_tokens * hp->n_head, ith, nth, &w0, &w1);
    for (long w = w0; w < w1; w++) {
        int32_t t = (int32_t)(w / hp->n_head);
        int h = (int)(w % hp->n_head), g = h / group;
        int32_t pos = c->n_past + t;
        int32_t first = ly->sliding && pos - hp->n_swa + 1 > 0 ? pos - hp->n_swa + 1 : 0;
        const float *q = c->q + (int64_t)t * hp->n_head * hp->head_dim + (int64_t)h * hp->head_dim;
        for (int32_t j = first; j <= pos; j++) {
            const float *krow = (const float *)kv_row(c, c->k_cache, job->il, j, k_width);
            const void *kh = (const uint8_t *)krow + (size_t)g * hp->head_dim * kv_elem_size(c);
            float s = kv_dot(c, q, kh, hp->head_dim) * hp->attn_scale;
            if (hp->attn_softcap > 0) s = hp->attn_softcap * tanhf(s / hp->attn_softcap);
            scores[j - first] = s;
        }
        int32_t n_vis = pos - first + 1;
        cpu_softmax(scores, n_vis);
        float *out = c->attn + (int64_t)t * hp->n_head * hp->head_dim_v + (int64_t)h * hp->head_dim_v;
        memset(out, 0, (size_t)hp->head_dim_v * sizeof(float));
        for (int32_t j = first; j <= pos; j++) {
            const uint8_t *vrow = kv_row(c, c->v_cache, job->il, j, v_width);
            kv_axpy(c, out, scores[j - first], vrow + (size_t)g * hp->head_dim_v * kv_elem_size(c), hp->head_dim_v);
        }
    }
}

/* ---- the block ---------------------------------------------------------------- */

/* Show the input rows x[n, width] of weight "blk.<il>.<what>.weight" (il < 0:
 * "<what>.weight") to the context's observer, if it has one. */
static void observe(brisk_context *c, int il, const char *what, const float *x, int32_t n, int64_t width) {
    if (!c->observer) return;
    char name[96];
    if (il >= 0) snprintf(name, sizeof name, "blk.%d.%s.weight", il, what);
    else snprintf(name, sizeof name, "%s.weight", what);
    c->observer(c->observer_user, name, x, n, width);
}

static void add_bias(float *y, const float *b, int32_t n_tokens, int64_t width) {
    if (!b) return;
    for (int32_t t = 0; t < n_tokens; t++)
        for (int64_t i = 0; i < width; i++) y[(int64_t)t * width + i] += b[i];
}

static void rmsnorm_rows(const float *x, const float *w, float *out, int32_t n_rows, int64_t width, float eps) {
    for (int32_t r = 0; r < n_rows; r++)
        cpu_rmsnorm(x + (int64_t)r * width, w, out + (int64_t)r * width, width, eps);
}

static void add_rows(float *x, const float *y, int32_t n_tokens, int64_t width) {
    for (int64_t i = 0; i < (int64_t)n_tokens * width; i++) x[i] += y[i];
}

static void attention_block(brisk_context *c, int il, int32_t n) {
    const brisk_model *m = c->model;
    const hparams *hp = &m->hp;
    const layer_weights *ly = &m->layers[il];
    int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, k_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v;

    rmsnorm_rows(c->x, ly->attn_norm, c->xn, n, hp->n_embd, hp->norm_eps);
    observe(c, il, "attn_q", c->xn, n, hp->n_embd);
    observe(c, il, "attn_k", c->xn, n, hp->n_embd);
    observe(c, il, "attn_v", c->xn, n, hp->n_embd);
    cpu_matmul(c->tp, &ly->wq, c->xn, c->q, n, c->scratch);
    cpu_matmul(c->tp, &ly->wk, c->xn, c->k, n, c->scratch);
    cpu_matmul(c->tp, &ly->wv, c->xn, c->v, n, c->scratch);
    add_bias(c->q, ly->bq, n, q_dim);
    add_bias(c->k, ly->bk, n, k_dim);
    add_bias(c->v, ly->bv, n, v_dim);
    if (m->arch->qk_norm) {
        rmsnorm_rows(c->q, ly->q_norm, c->q, n * hp->n_head, hp->head_dim, hp->norm_eps);
        rmsnorm_rows(c->k, ly->k_norm, c->k, n * hp->n_head_kv, hp->head_dim, hp->norm_eps);
    }
    const rope_table *rt = ly->sliding ? &c->rope_local : &c->rope_global;
    for (int32_t t = 0; t < n; t++) {
        int32_t pos = c->n_past + t;
        for (int h = 0; h < hp->n_head; h++) rope_apply(rt, c->q + t * q_dim + (int64_t)h * hp->head_dim, pos);
        for (int h = 0; h < hp->n_head_kv; h++) rope_apply(rt, c->k + t * k_dim + (int64_t)h * hp->head_dim, pos);
        kv_store(c, kv_row(c, c->k_cache, il, pos, k_dim), c->k + t * k_dim, k_dim);
        kv_store(c, kv_row(c, c->v_cache, il, pos, v_dim), c->v + t * v_dim, v_dim);
    }
    attn_job job = {c, il, n};
    threadpool_run(c->tp, attention_worker, &job);
    observe(c, il, "attn_output", c->attn, n, (int64_t)hp->n_head * hp->head_dim_v);
    cpu_matmul(c->tp, &ly->wo, c->attn, c->o, n, c->scratch);
    if (ly->post_attn_norm) rmsnorm_rows(c->o, ly->post_attn_norm, c->o, n, hp->n_embd, hp->norm_eps);
    add_rows(c->x, c->o, n, hp->n_embd);
}

static void ffn_block(brisk_context *c, int il, int32_t n) {
    const brisk_model *m = c->model;
    const hparams *hp = &m->hp;
    const layer_weights *ly = &m->layers[il];
    rmsnorm_rows(c->x, ly->ffn_norm, c->xn, n, hp->n_embd, hp->norm_eps);
    observe(c, il, "ffn_gate", c->xn, n, hp->n_embd);
    observe(c, il, "ffn_up", c->xn, n, hp->n_embd);
    cpu_matmul(c->tp, &ly->w_gate, c->xn, c->gate, n, c->scratch);
    cpu_matmul(c->tp, &ly->w_up, c->xn, c->up, n, c->scratch);
    int64_t ff = (int64_t)n * hp->n_ff;
    if (m->arch->act == ACT_GELU_TANH) cpu_gelu_tanh_mul(c->gate, c->up, c->gate, ff);
    else cpu_silu_mul(c->gate, c->up, c->gate, ff);
    observe(c, il, "ffn_down", c->gate, n, hp->n_ff);
    cpu_matmul(c->tp, &ly->w_down, c->gate, c->o, n, c->scratch);
    if (ly->post_ffn_norm) rmsnorm_rows(c->o, ly->post_ffn_norm, c->o, n, hp->n_embd, hp->norm_eps);
    add_rows(c->x, c->o, n, hp->n_embd);
}

void model_forward(brisk_context *c, const brisk_token *tokens, int32_t n, bool all_logits, float *out) {
    const brisk_model *m = c->model;
    const hparams *hp = &m->hp;
    float scale = m->arch->embed_scale ? sqrtf((float)hp->n_embd) : 1.0f;
    for (int32_t t = 0; t < n; t++) {
        float *row = c->x + (int64_t)t * hp->n_embd;
        cpu_weight_row(&m->tok_embd, tokens[t], row);
        if (scale != 1.0f)
            for (int64_t i = 0; i < hp->n_embd; i++) row[i] *= scale;
    }
    for (int il = 0; il < hp->n_layer; il++) {
        attention_block(c, il, n);
        ffn_block(c, il, n);
    }
    if (!out) return;
    /* Only the rows whose logits are wanted go through the output matrix. */
    int32_t first = all_logits ? 0 : n - 1, n_out = n - first;
    rmsnorm_rows(c->x + (int64_t)first * hp->n_embd, m->output_norm, c->xn, n_out, hp->n_embd, hp->norm_eps);
    observe(c, -1, m->output.data == m->tok_embd.data ? "token_embd" : "output", c->xn, n_out, hp->n_embd);
    cpu_matmul(c->tp, &m->output, c->xn, out, n_out, c->scratch);
    if (hp->final_softcap > 0)
        for (int64_t i = 0; i < (int64_t)n_out * hp->n_vocab; i++)
            out[i] = hp->final_softcap * tanhf(out[i] / hp->final_softcap);
}
