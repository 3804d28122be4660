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
 *   logits = rmsnorm(x) Wout [softcap]
 *
 * A pass holds tokens of several sequences (brisk_engine): each token carries
 * its position and its sequence's KV block table, so the weights are read once
 * per pass for all of them while attention stays within each sequence.        */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu/kernels.h"
#include "model/forward_cuda.h"
#include "runtime/engine.h"

/* ---- attention -------------------------------------------------------------- */

typedef struct attn_job {
    brisk_engine *e;
    const fwd_batch *b;
    int il;
    const cpu_kernels *k; /* dot_f32 rows of an f32 cache; attn_*_f16 over an f16 one */
} attn_job;

/* Rows first .. last (positions) of a sequence in runs that are consecutive
 * in the cache (within one block): fn(run's first position, run length). */
#define FOR_EACH_RUN(kv, first, last, j, run, body)                                                   \
    for (int32_t j = (first), run; j <= (last); j += run) {                                           \
        run = (kv)->block_size - j % (kv)->block_size;                                                \
        if (run > (last) + 1 - j) run = (last) + 1 - j;                                               \
        body;                                                                                         \
    }

/* Ask for `bytes` from p into the cache, one request per 64-byte line. */
static void prefetch_bytes(const void *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 64) __builtin_prefetch((const char *)p + i, 0, 3);
}

/* One (token, KV head) pair per work item, for the `group` query heads that
 * share that KV head: scores over the rows of its sequence it can see (a K row
 * is read once for all of them), softmax, weighted sum of values (a V row is
 * converted once). An f16 cache goes through the backend's attention kernels
 * a block's run of rows at a time; an f32 one (exact mode) row by row.
 * Output: e->attn [n, n_head * head_dim_v]. */
static void attention_worker(void *p, int ith, int nth) {
    const attn_job *job = p;
    brisk_engine *e = job->e;
    const fwd_batch *b = job->b;
    const kv_cache *kv = &e->kv;
    const hparams *hp = &e->model->hp;
    const layer_weights *ly = &e->model->layers[job->il];
    const int group = hp->n_head / hp->n_head_kv, hd = hp->head_dim, hdv = hp->head_dim_v;
    float *scores = e->scores + (int64_t)ith * group * e->n_ctx_seq; /* [group][n_ctx_seq] */
    long w0, w1;
    threadpool_slice((long)b->n * hp->n_head_kv, ith, nth, &w0, &w1);
    for (long w = w0; w < w1; w++) {
        int32_t t = (int32_t)(w / hp->n_head_kv);
        int g = (int)(w % hp->n_head_kv);
        int32_t pos = b->pos[t];
        const int32_t *table = b->tables[t];
        int32_t first = ly->sliding && pos - hp->n_swa + 1 > 0 ? pos - hp->n_swa + 1 : 0, n_vis = pos - first + 1;
        /* [group][hd], times the attention scale (so the scores need no pass of their own for it) */
        const float *q_in = e->q + (int64_t)t * hp->n_head * hd + (int64_t)g * group * hd;
        float *q = e->q_scaled + (int64_t)ith * group * hd;
        for (int64_t i = 0; i < (int64_t)group * hd; i++) q[i] = q_in[i] * hp->attn_scale;
        if (kv->f32) {
            for (int32_t j = first; j <= pos; j++) {
                const float *krow = kv_k_at(kv, job->il, kv_pos_row(kv, table, j), g);
                for (int c = 0; c < group; c++)
                    scores[(int64_t)c * e->n_ctx_seq + (j - first)] = job->k->dot_f32(krow, q + (int64_t)c * hd, hd);
            }
        } else {
            FOR_EACH_RUN(kv, first, pos, j, run, {
                const uint16_t *krow = kv_k_at(kv, job->il, kv_pos_row(kv, table, j), g);
                /* a run is one cache block, placed anywhere: ask for this run's V rows (read after
                 * the softmax) and the next run's K rows now, the hardware prefetcher cannot */
                prefetch_bytes(kv_v_at(kv, job->il, kv_pos_row(kv, table, j), g), (size_t)run * hdv * 2);
                if (j + run <= pos)
                    prefetch_bytes(kv_k_at(kv, job->il, kv_pos_row(kv, table, j + run), g),
                                   (size_t)(pos + 1 - j - run < run ? pos + 1 - j - run : run) * hd * 2);
                job->k->attn_scores_f16(krow, (size_t)hd, run, q, group, hd, scores + (j - first),
                                        (size_t)e->n_ctx_seq);
            })
        }
        float *out = e->attn + (int64_t)t * hp->n_head * hdv + (int64_t)g * group * hdv; /* [group][hdv] */
        for (int c = 0; c < group; c++) {
            float *sc = scores + (int64_t)c * e->n_ctx_seq;
            if (hp->attn_softcap > 0)
                for (int32_t j = 0; j < n_vis; j++) sc[j] = hp->attn_softcap * tanhf(sc[j] / hp->attn_softcap);
            cpu_softmax(sc, n_vis);
        }
        memset(out, 0, (size_t)group * hdv * sizeof(float));
        if (kv->f32) {
            for (int32_t j = first; j <= pos; j++) {
                const float *v = kv_v_at(kv, job->il, kv_pos_row(kv, table, j), g);
                for (int c = 0; c < group; c++) {
                    float pj = scores[(int64_t)c * e->n_ctx_seq + (j - first)], *o = out + (int64_t)c * hdv;
                    for (int64_t i = 0; i < hdv; i++) o[i] += pj * v[i];
                }
            }
        } else {
            FOR_EACH_RUN(kv, first, pos, j, run, {
                const uint16_t *vrow = kv_v_at(kv, job->il, kv_pos_row(kv, table, j), g);
                job->k->attn_values_f16(vrow, (size_t)hdv, run, scores + (j - first), (size_t)e->n_ctx_seq,
                                        group, hdv, out);
            })
        }
    }
}

static void kv_store(const kv_cache *kv, const cpu_kernels *k, void *dst, const float *src, int64_t n) {
    if (kv->f32) memcpy(dst, src, (size_t)n * 4);
    else k->f32_to_f16(src, dst, n);
}

/* ---- the block ---------------------------------------------------------------- */

/* Show the input rows x[n, width] of weight "blk.<il>.<what>.weight" (il < 0:
 * "<what>.weight") to the engine's observer, if it has one (brisk imatrix). */
static void observe(brisk_engine *e, int il, const char *what, const float *x, int32_t n, int64_t width) {
    if (!e->observer) return;
    char name[96];
    if (il >= 0) snprintf(name, sizeof name, "blk.%d.%s.weight", il, what);
    else snprintf(name, sizeof name, "%s.weight", what);
    e->observer(e->observer_user, name, x, n, width);
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

/* xn = rmsnorm(x) with weight w, then the observer sees it as the input of
 * the named matmuls: the prologue of those matmuls (cpu_prologue). */
typedef struct norm_prologue {
    brisk_engine *e;
    int il;
    int32_t n;
    const float *w;
    const char *inputs_of[3]; /* NULL-terminated when fewer */
} norm_prologue;

static void norm_prologue_run(void *p) {
    const norm_prologue *np = p;
    const hparams *hp = &np->e->model->hp;
    rmsnorm_rows(np->e->x, np->w, np->e->xn, np->n, hp->n_embd, hp->norm_eps);
    for (int i = 0; i < 3 && np->inputs_of[i]; i++) observe(np->e, np->il, np->inputs_of[i], np->e->xn, np->n, hp->n_embd);
}

static void attention_block(brisk_engine *e, const fwd_batch *b, int il) {
    const brisk_model *m = e->model;
    const hparams *hp = &m->hp;
    const layer_weights *ly = &m->layers[il];
    kv_cache *kv = &e->kv;
    int32_t n = b->n;
    int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, k_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    int64_t v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v;

    norm_prologue norm = {e, il, n, ly->attn_norm, {"attn_q", "attn_k", "attn_v"}};
    cpu_matmul_n(e->tp, 3, (const cpu_weight *[]){&ly->wq, &ly->wk, &ly->wv}, e->xn, (float *[]){e->q, e->k, e->v}, n,
                 e->scratch, &(cpu_prologue){norm_prologue_run, &norm});
    add_bias(e->q, ly->bq, n, q_dim);
    add_bias(e->k, ly->bk, n, k_dim);
    add_bias(e->v, ly->bv, n, v_dim);
    if (m->arch->qk_norm) {
        rmsnorm_rows(e->q, ly->q_norm, e->q, n * hp->n_head, hp->head_dim, hp->norm_eps);
        rmsnorm_rows(e->k, ly->k_norm, e->k, n * hp->n_head_kv, hp->head_dim, hp->norm_eps);
    }
    const rope_table *rt = ly->sliding ? &e->rope_local : &e->rope_global;
    const cpu_kernels *k = cpu_kernels_best();
    for (int32_t t = 0; t < n; t++) {
        int32_t pos = b->pos[t];
        int64_t row = kv_pos_row(kv, b->tables[t], pos);
        rope_apply(rt, e->q + t * q_dim, hp->n_head, hp->head_dim, pos);
        rope_apply(rt, e->k + t * k_dim, hp->n_head_kv, hp->head_dim, pos);
        for (int h = 0; h < hp->n_head_kv; h++) {
            kv_store(kv, k, kv_k_at(kv, il, row, h), e->k + t * k_dim + (int64_t)h * hp->head_dim, hp->head_dim);
            kv_store(kv, k, kv_v_at(kv, il, row, h), e->v + t * v_dim + (int64_t)h * hp->head_dim_v, hp->head_dim_v);
        }
    }
    attn_job job = {e, b, il, k};
    threadpool_run(e->tp, attention_worker, &job);
    observe(e, il, "attn_output", e->attn, n, (int64_t)hp->n_head * hp->head_dim_v);
    cpu_matmul(e->tp, &ly->wo, e->attn, e->o, n, e->scratch);
    if (ly->post_attn_norm) rmsnorm_rows(e->o, ly->post_attn_norm, e->o, n, hp->n_embd, hp->norm_eps);
    add_rows(e->x, e->o, n, hp->n_embd);
}

/* gate = act(gate) * up, elementwise: on the pool, or as the prologue of the
 * down matmul when there are few elements (one token's). */
typedef struct act_job {
    float *gate;
    const float *up;
    int64_t n;
    bool gelu;
} act_job;

#define ACT_PROLOGUE_MAX 16384 /* elements */

static void act_worker(void *p, int ith, int nth) {
    const act_job *job = p;
    long b, end;
    threadpool_slice((long)job->n, ith, nth, &b, &end);
    if (job->gelu) cpu_gelu_tanh_mul(job->gate + b, job->up + b, job->gate + b, end - b);
    else cpu_silu_mul(job->gate + b, job->up + b, job->gate + b, end - b);
}

typedef struct down_prologue {
    brisk_engine *e;
    int il;
    int32_t n;
    act_job act;
    bool run_act;
} down_prologue;

static void down_prologue_run(void *p) {
    down_prologue *dp = p;
    if (dp->run_act) act_worker(&dp->act, 0, 1);
    observe(dp->e, dp->il, "ffn_down", dp->e->gate, dp->n, dp->e->model->hp.n_ff);
}

static void ffn_block(brisk_engine *e, int il, int32_t n) {
    const brisk_model *m = e->model;
    const hparams *hp = &m->hp;
    const layer_weights *ly = &m->layers[il];
    norm_prologue norm = {e, il, n, ly->ffn_norm, {"ffn_gate", "ffn_up", NULL}};
    cpu_matmul_n(e->tp, 2, (const cpu_weight *[]){&ly->w_gate, &ly->w_up}, e->xn, (float *[]){e->gate, e->up}, n,
                 e->scratch, &(cpu_prologue){norm_prologue_run, &norm});
    down_prologue down = {e, il, n, {e->gate, e->up, (int64_t)n * hp->n_ff, m->arch->act == ACT_GELU_TANH}, false};
    down.run_act = down.act.n <= ACT_PROLOGUE_MAX;
    if (!down.run_act) threadpool_run(e->tp, act_worker, &down.act);
    cpu_matmul_n(e->tp, 1, &(const cpu_weight *){&ly->w_down}, e->gate, &(float *){e->o}, n, e->scratch,
                 &(cpu_prologue){down_prologue_run, &down});
    if (ly->post_ffn_norm) rmsnorm_rows(e->o, ly->post_ffn_norm, e->o, n, hp->n_embd, hp->norm_eps);
    add_rows(e->x, e->o, n, hp->n_embd);
}

/* out[r] = rmsnorm(x[rows[r]]) for r < n_rows */
static void final_norm_rows(brisk_engine *e, const int32_t *rows, int32_t n_rows, float *out) {
    const hparams *hp = &e->model->hp;
    for (int32_t r = 0; r < n_rows; r++)
        cpu_rmsnorm(e->x + (int64_t)rows[r] * hp->n_embd, e->model->output_norm, out + (int64_t)r * hp->n_embd,
                    hp->n_embd, hp->norm_eps);
}

brisk_status model_forward(brisk_engine *e, const fwd_batch *b, brisk_error *err) {
    const brisk_model *m = e->model;
    const hparams *hp = &m->hp;
    if (gpu_forward_whole(e->gpu, b)) return gpu_forward_pass(e, b, err); /* model/forward_cuda.c */
    float scale = m->arch->embed_scale ? sqrtf((float)hp->n_embd) : 1.0f;
    for (int32_t t = 0; t < b->n; t++) {
        float *row = e->x + (int64_t)t * hp->n_embd;
        cpu_weight_row(&m->tok_embd, b->tokens[t], row);
        if (scale != 1.0f)
            for (int64_t i = 0; i < hp->n_embd; i++) row[i] *= scale;
    }
    int first_cpu_layer = 0;
    if (e->gpu) { /* the first layers on the GPU (model/forward_cuda.c) */
        brisk_status st = gpu_forward_layers(e, b, err);
        if (st != BRISK_OK) return st;
        first_cpu_layer = gpu_forward_n_layers(e->gpu);
    }
    for (int il = first_cpu_layer; il < hp->n_layer; il++) {
        attention_block(e, b, il);
        ffn_block(e, il, b->n);
    }
    if (b->n_hidden_rows > 0) final_norm_rows(e, b->hidden_rows, b->n_hidden_rows, b->hidden);
    if (b->n_logit_rows == 0) return BRISK_OK;
    if (gpu_forward_has_output(e->gpu)) return gpu_forward_logits(e, b, err);
    /* Only the rows whose logits are wanted go through the output matrix. */
    final_norm_rows(e, b->logit_rows, b->n_logit_rows, e->xn);
    observe(e, -1, m->output.data == m->tok_embd.data ? "token_embd" : "output", e->xn, b->n_logit_rows, hp->n_embd);
    cpu_matmul(e->tp, &m->output, e->xn, b->logits, b->n_logit_rows, e->scratch);
    if (hp->final_softcap > 0)
        for (int64_t i = 0; i < (int64_t)b->n_logit_rows * hp->n_vocab; i++)
            b->logits[i] = hp->final_softcap * tanhf(b->logits[i] / hp->final_softcap);
    return BRISK_OK;
}
