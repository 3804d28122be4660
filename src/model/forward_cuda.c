/* The forward pass of the first n layers on a CUDA GPU (see forward_cuda.h).
 * Mirrors model/forward.c step for step:
 *
 *   h16 = rmsnorm(x) ; q,k,v = h16 Wq,Wk,Wv [+ b] ; [qk-norm] ; rope(q,k)
 *   k,v -> the layer's paged device cache (f16, or 8-bit with --kv-type q8_0) at each token's physical row
 *   attn = paged split-K attention (all sequences of the pass in one launch)
 *   o = f16(attn) Wo ; [post-norm] ; x += o
 *   h16 = rmsnorm(x) ; o = f16(act(h16 Wgate) * h16 Wup) Wdown ; [post-norm] ; x += o
 *
 * Matrix products: up to 32 tokens with the tensor-core GEMV (8 per launch;
 * 1 token: the int8 GEMV, or for F16 the CUDA-core kernel of cuda_gemv_f16.cu),
 * more with the cuBLAS GEMM. Weight types the kernels lack (Q4_0, Q5_x, BF16, F32, ...)
 * are converted to F16 at upload; so is an output matrix whose row count is
 * not a multiple of 16 (padded with zero rows). Everything runs on the legacy
 * default stream; each pass ends with a blocking download. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "model/forward_cuda.h"

#ifndef BRISK_HAVE_CUDA

brisk_status gpu_forward_create(brisk_engine *e, int32_t requested, brisk_error *err) {
    e->gpu = NULL;
    if (requested > 0)
        return brisk_fail(err, BRISK_ERR_UNSUPPORTED,
                          "--gpu-layers %d: this build has no CUDA backend (build with nvcc installed)", requested);
    return BRISK_OK;
}
void gpu_forward_free(gpu_forward *g) { (void)g; }
float *gpu_forward_host_floats(const gpu_forward *g, size_t n, bool *pinned) {
    (void)g;
    *pinned = false;
    return malloc(n * sizeof(float));
}
void gpu_forward_host_release(float *p, bool pinned) {
    (void)pinned;
    free(p);
}
int32_t gpu_forward_n_layers(const gpu_forward *g) { (void)g; return 0; }
brisk_status gpu_forward_layers(brisk_engine *e, const fwd_batch *b, brisk_error *err) {
    return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "no CUDA backend");
}
bool gpu_forward_has_output(const gpu_forward *g) { (void)g; return false; }
brisk_status gpu_forward_logits(brisk_engine *e, const fwd_batch *b, brisk_error *err) {
    return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "no CUDA backend");
}
bool gpu_forward_whole(const gpu_forward *g, const fwd_batch *b) { (void)g; (void)b; return false; }
brisk_status gpu_forward_pass(brisk_engine *e, const fwd_batch *b, brisk_error *err) {
    return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "no CUDA backend");
}

#else

#include <math.h>
#include <stdio.h>

#include "backend/cuda/cuda_backend.h"
#include "base/fp16.h"

#define MAX_DEVICE_ALLOCS 64
#define ATTN_SCRATCH_SLOTS 1024            /* query tokens x context splits the attention scratch holds */
#define MAX_SPLITS 128                     /* brisk_cuda_attention_splits' most */
/* Passes of up to this many tokens (BRISK_CUDA_GEMV_COLS overrides it) multiply
 * by the tensor-core GEMV, 8 columns per launch (each launch streams the
 * matrix once); longer ones dequantize each matrix to f16 slices for cuBLAS,
 * which moves ~7x a Q4_K matrix's bytes (its f16 copy written, then read), so
 * by that estimate the GEMM pays only from ~5 launches up. */
#define GEMV_COLS_DEFAULT 32
/* BRISK_CUDA_FUSE bits: work fused into the int8 GEMVs of a 1-token pass
 * (bench/results/2026-11-25-cuda-fusion-h100.md has each one's figures) */
#define FUSE_NORM 1 /* RMSNorm: the residual GEMV writes the pre-norm input, the readers apply 1 / rms */
#define FUSE_ACT 2  /* act(gate) * up and its encoding in the gate/up GEMV: off by default (llama3-8b
                       Q4_K_M decodes ~7% slower with it, Q8_0 the same) */
#define FUSE_ROPE 4 /* RoPE and the KV store in the q/k/v GEMV */
#define FUSE_TYPES 8 /* matrices of two weight types in one launch (q, k Q4_K + v Q6_K) */
#define FUSE_F16 16 /* F16 matrices (brisk_cuda_gemv_f16): q/k/v in one launch, act(gate) * up in the
                       gate/up launch, o/down adding into x */
#define FUSE_DEFAULT (FUSE_NORM | FUSE_ROPE | FUSE_TYPES | FUSE_F16)

typedef struct gpu_layer {
    brisk_cuda_weight wq, wk, wv, wo, gate, up, down;
    float *attn_norm, *bq, *bk, *bv, *q_norm, *k_norm, *post_attn_norm, *ffn_norm, *post_ffn_norm;
    void *k, *v; /* [kv rows, k_dim] / [kv rows, v_dim] of g->kv_type, rows as in the host cache */
} gpu_layer;

struct gpu_forward {
    int32_t n_layers;
    gpu_layer *layers;            /* [n_layers] */
    bool has_output;
    brisk_cuda_weight output;     /* [n_embd -> n_vocab_pad] */
    int64_t n_vocab_pad;
    float *output_norm;
    float *inv_freq_global, *inv_freq_local;
    brisk_cuda_blas *blas;
    void *stream;                 /* every pass's work, in order */
    bool use_graphs;              /* BRISK_CUDA_GRAPHS=0 turns them off */
    bool use_q8;                  /* 1-token passes: int8-activation GEMV (BRISK_CUDA_Q8=0 turns it off) */
    /* the layers of an n-token pass, by context class (long_context) and split count */
    void *graphs[2][BRISK_CUDA_GEMV_MAX_COLS + 1][MAX_SPLITS + 1];
    /* activations, [n_batch, width] */
    float *x, *q, *k, *v, *attn, *o, *gate, *up, *logits;
    void *h16;                    /* f16 input of the matrix products, [n_batch, max n_in] */
    void *act16;                  /* FUSE_F16: act(gate) * up of a 1-token pass, f16 [n_ff] (the down matrix's input) */
    void *xq;                     /* h16 of a 1-token pass quantized to int8 (brisk_cuda_quantize_x8) */
    /* Fusions of a 1-token pass (BRISK_CUDA_FUSE, bits FUSE_*; default FUSE_DEFAULT):
     * the producers fused into a GEMV's epilogue write the other xq buffer
     * than the one the GEMV reads (xq2 or xq); xq_in is where the next
     * GEMV's input is, xq_prenorm whether it is pre-norm encoded
     * (brisk_cuda_prenorm_xq: the GEMV applies 1 / rms), norm_ready whether
     * the last GEMV's epilogue already wrote the next norm's input. */
    int fuse;
    int gemv_cols;                /* the most tokens a pass multiplies by GEMV launches (GEMV_COLS_DEFAULT) */
    bool to_output;               /* the pass goes on to the output norm + matrix (whole_pass) */
    float norm_eps;
    void *xq2, *xq_in;
    bool xq_prenorm, norm_ready;
    void *counters;               /* brisk_cuda_q8_counters_bytes, zeroed */
    void *gemm_scratch, *attn_scratch;
    /* one pass's token metadata (device, and host staging) */
    /* d_meta / h_meta (page-locked): for an n-token pass, tokens[n] pos[n]
     * rows[n] table_off[n] logit_rows[n] tables[...] (meta_layout), copied in
     * one upload; the pointers below point into d_meta. */
    int32_t *d_meta, *h_meta;
    int32_t *d_tokens, *d_pos, *d_rows, *d_table_off, *d_logit_rows, *d_tables;
    int64_t max_tables;           /* entries the tables hold */
    const brisk_cuda_weight *embd; /* token embedding: &g->output when tied, else &g->embd_own */
    brisk_cuda_weight embd_own;
    void *pass_graphs[2][BRISK_CUDA_GEMV_MAX_COLS + 1]; /* whole n-token passes, embedding to logits, by class */
    bool long_context;            /* the pass being run or captured: context_is_long() */
    int attn_splits[BRISK_CUDA_GEMV_MAX_COLS + 1];   /* split count of an n-token pass (0: not yet set) */
    bool one_seq;                 /* the pass's tokens are all of one sequence (its table at d_tables) */
    bool o_pending;               /* x += o still to do (the last block's output in o, not yet added) */
    int64_t kv_rows, k_dim, v_dim;
    int32_t block_size;
    brisk_cuda_kv_type kv_type;   /* of the device KV cache (the engine's kv_type; the host cache stays f16) */
    brisk_error copy_err;         /* a failed KV block copy (kv_cache hook), reported by the next pass */
    void *allocs[MAX_DEVICE_ALLOCS];
    int n_allocs;
};

static brisk_status dalloc(gpu_forward *g, void **p, size_t bytes, const char *what, brisk_error *err) {
    *p = NULL;
    if (g->n_allocs == MAX_DEVICE_ALLOCS) return brisk_fail(err, BRISK_ERR_NOMEM, "CUDA: too many allocations");
    brisk_status st = brisk_cuda_alloc(p, bytes ? bytes : 16, what, err);
    if (st == BRISK_OK) g->allocs[g->n_allocs++] = *p;
    return st;
}

static void free_layer(gpu_layer *l) {
    brisk_cuda_weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->gate, &l->up, &l->down};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) brisk_cuda_weight_free(ws[i]);
    float *vs[] = {l->attn_norm, l->bq, l->bk, l->bv, l->q_norm, l->k_norm, l->post_attn_norm, l->ffn_norm,
                   l->post_ffn_norm};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) brisk_cuda_free(vs[i]);
    brisk_cuda_free(l->k);
    brisk_cuda_free(l->v);
}

void gpu_forward_free(gpu_forward *g) {
    if (!g) return;
    if (g->layers)
        for (int32_t i = 0; i < g->n_layers; i++) free_layer(&g->layers[i]);
    free(g->layers);
    brisk_cuda_weight_free(&g->output);
    brisk_cuda_free(g->output_norm);
    for (int i = 0; i < g->n_allocs; i++) brisk_cuda_free(g->allocs[i]);
    brisk_cuda_blas_free(g->blas);
    for (int c = 0; c < 2; c++)
        for (int n = 0; n <= BRISK_CUDA_GEMV_MAX_COLS; n++) {
            for (int s = 0; s <= MAX_SPLITS; s++) brisk_cuda_graph_free(g->graphs[c][n][s]);
            brisk_cuda_graph_free(g->pass_graphs[c][n]);
        }
    brisk_cuda_stream_free(g->stream);
    brisk_cuda_weight_free(&g->embd_own);
    brisk_cuda_host_free(g->h_meta);
    free(g);
}

int32_t gpu_forward_n_layers(const gpu_forward *g) { return g ? g->n_layers : 0; }
bool gpu_forward_has_output(const gpu_forward *g) { return g && g->has_output; }

/* ---- sizes and what the kernels take ------------------------------------------ */

static int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

/* Uploaded as stored (else converted to F16). */
static bool weight_native(const cpu_weight *w) {
    return brisk_cuda_weight_type_supported(w->type) && w->n_out % 16 == 0 && w->n_in % 8 == 0;
}

static size_t weight_device_bytes(const cpu_weight *w) {
    if (weight_native(w)) return (size_t)brisk_type_row_bytes(w->type, w->n_in) * (size_t)w->n_out;
    return (size_t)w->n_in * (size_t)round16(w->n_out) * 2;
}

static const cpu_weight *layer_matrix(const layer_weights *ly, int i) {
    const cpu_weight *ws[] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->w_gate, &ly->w_up, &ly->w_down};
    return ws[i];
}
#define N_LAYER_MATRICES 7

static size_t layer_bytes(const brisk_engine *e, int il) {
    const hparams *hp = &e->model->hp;
    size_t bytes = 0;
    for (int i = 0; i < N_LAYER_MATRICES; i++) bytes += weight_device_bytes(layer_matrix(&e->model->layers[il], i));
    const brisk_cuda_kv_type kt = e->params.kv_type == BRISK_KV_Q8_0 ? BRISK_CUDA_KV_Q8 : BRISK_CUDA_KV_F16;
    const int64_t rows = (int64_t)e->kv.n_blocks * e->kv.block_size;
    bytes += brisk_cuda_kv_bytes(kt, rows, e->kv.k_width) + brisk_cuda_kv_bytes(kt, rows, e->kv.v_width);
    bytes += (size_t)(6 * hp->n_embd + 2 * hp->head_dim + hp->n_head * hp->head_dim + 2 * e->kv.k_width) * 4;
    return bytes;
}

/* Why this model cannot run on the GPU, or NULL. */
static const char *unsupported_reason(const brisk_engine *e, char *buf, size_t size) {
    const hparams *hp = &e->model->hp;
    if (hp->n_head_kv <= 0 || hp->n_head % hp->n_head_kv || hp->n_head / hp->n_head_kv > 8 || hp->head_dim % 8 ||
        hp->head_dim > 256 || hp->head_dim_v % 8 || hp->head_dim_v > 256) {
        snprintf(buf, size, "attention of %d heads / %d KV heads, head_dim %d/%d (the CUDA kernel takes groups "
                 "<= 8, head_dim a multiple of 8 up to 256)", hp->n_head, hp->n_head_kv, hp->head_dim, hp->head_dim_v);
        return buf;
    }
    if (e->params.kv_type == BRISK_KV_Q8_0 && (hp->head_dim % 32 || hp->head_dim_v % 32)) {
        snprintf(buf, size, "--kv-type q8_0 with head_dim %d/%d (the 8-bit cache takes multiples of 32)", hp->head_dim,
                 hp->head_dim_v);
        return buf;
    }
    for (int il = 0; il < hp->n_layer; il++)
        for (int i = 0; i < N_LAYER_MATRICES; i++) {
            const cpu_weight *w = layer_matrix(&e->model->layers[il], i);
            if (w->n_in % 8 || w->n_out % 16) {
                snprintf(buf, size, "a %lld x %lld matrix in layer %d (rows must be a multiple of 16, columns of 8)",
                         (long long)w->n_out, (long long)w->n_in, il);
                return buf;
            }
        }
    if (e->model->output.n_in % 8) {
        snprintf(buf, size, "n_embd %d is not a multiple of 8", hp->n_embd);
        return buf;
    }
    return NULL;
}

/* ---- upload ---------------------------------------------------------------------- */

static brisk_status upload_weight(brisk_cuda_weight *dw, const cpu_weight *w, brisk_error *err) {
    if (weight_native(w)) return brisk_cuda_weight_upload(dw, w->type, w->n_in, w->n_out, w->data, err);
    int64_t n_pad = round16(w->n_out);
    uint16_t *h = calloc((size_t)n_pad * (size_t)w->n_in, sizeof *h);
    float *row = malloc((size_t)w->n_in * sizeof *row);
    brisk_status st;
    if (!h || !row) {
        st = brisk_fail(err, BRISK_ERR_NOMEM, "out of host memory converting a weight to F16 for the GPU");
    } else {
        for (int64_t r = 0; r < w->n_out; r++) {
            cpu_weight_row(w, r, row);
            for (int64_t i = 0; i < w->n_in; i++) h[r * w->n_in + i] = brisk_f32_to_fp16(row[i]);
        }
        st = brisk_cuda_weight_upload(dw, BRISK_TYPE_F16, w->n_in, n_pad, h, err);
    }
    free(h);
    free(row);
    return st;
}

static brisk_status upload_vec(float **d, const float *h, int64_t n, brisk_error *err) {
    *d = NULL;
    if (!h) return BRISK_OK;
    brisk_status st = brisk_cuda_alloc((void **)d, (size_t)n * sizeof(float), "a norm/bias vector", err);
    if (st == BRISK_OK) st = brisk_cuda_upload(*d, h, (size_t)n * sizeof(float), err);
    return st;
}

static brisk_status upload_layer(brisk_engine *e, gpu_forward *g, int il, brisk_error *err) {
    const hparams *hp = &e->model->hp;
    const layer_weights *ly = &e->model->layers[il];
    gpu_layer *l = &g->layers[il];
    brisk_cuda_weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->gate, &l->up, &l->down};
    brisk_status st = BRISK_OK;
    for (int i = 0; i < N_LAYER_MATRICES && st == BRISK_OK; i++) st = upload_weight(ws[i], layer_matrix(ly, i), err);
    int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, hd = hp->head_dim;
    struct { float **d; const float *h; int64_t n; } vs[] = {
        {&l->attn_norm, ly->attn_norm, hp->n_embd}, {&l->bq, ly->bq, q_dim}, {&l->bk, ly->bk, g->k_dim},
        {&l->bv, ly->bv, g->v_dim}, {&l->q_norm, ly->q_norm, hd}, {&l->k_norm, ly->k_norm, hd},
        {&l->post_attn_norm, ly->post_attn_norm, hp->n_embd}, {&l->ffn_norm, ly->ffn_norm, hp->n_embd},
        {&l->post_ffn_norm, ly->post_ffn_norm, hp->n_embd}};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0] && st == BRISK_OK; i++) st = upload_vec(vs[i].d, vs[i].h, vs[i].n, err);
    if (st == BRISK_OK)
        st = brisk_cuda_alloc(&l->k, brisk_cuda_kv_bytes(g->kv_type, g->kv_rows, g->k_dim), "the KV cache (K)", err);
    if (st == BRISK_OK)
        st = brisk_cuda_alloc(&l->v, brisk_cuda_kv_bytes(g->kv_type, g->kv_rows, g->v_dim), "the KV cache (V)", err);
    return st;
}

/* kv_cache's block-copy hook: copy-on-write of a shared block, on the device too. */
static void copy_block(void *user, int32_t dst, int32_t src) {
    gpu_forward *g = user;
    const int64_t bs = g->block_size;
    for (int32_t il = 0; il < g->n_layers && g->copy_err.status == BRISK_OK; il++) {
        gpu_layer *l = &g->layers[il];
        if (brisk_cuda_kv_copy_rows(l->k, g->kv_type, g->kv_rows, g->k_dim, dst * bs, src * bs, bs, &g->copy_err) ==
            BRISK_OK)
            brisk_cuda_kv_copy_rows(l->v, g->kv_type, g->kv_rows, g->v_dim, dst * bs, src * bs, bs, &g->copy_err);
    }
}

static brisk_status create_n(brisk_engine *e, int32_t n, gpu_forward **out, brisk_error *err) {
    const brisk_model *m = e->model;
    const hparams *hp = &m->hp;
    gpu_forward *g = calloc(1, sizeof *g);
    if (!g) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
    *out = g;
    g->n_layers = n;
    g->block_size = e->kv.block_size;
    g->kv_rows = (int64_t)e->kv.n_blocks * e->kv.block_size;
    g->k_dim = e->kv.k_width;
    g->v_dim = e->kv.v_width;
    g->kv_type = e->params.kv_type == BRISK_KV_Q8_0 ? BRISK_CUDA_KV_Q8 : BRISK_CUDA_KV_F16;
    g->has_output = n == hp->n_layer;
    const char *graphs = getenv("BRISK_CUDA_GRAPHS");
    g->use_graphs = !graphs || strcmp(graphs, "0") != 0;
    const char *q8 = getenv("BRISK_CUDA_Q8");
    g->use_q8 = !q8 || strcmp(q8, "0") != 0;
    const char *fuse = getenv("BRISK_CUDA_FUSE");
    g->fuse = fuse ? atoi(fuse) : FUSE_DEFAULT;
    const char *gemv_cols = getenv("BRISK_CUDA_GEMV_COLS");
    g->gemv_cols = gemv_cols ? atoi(gemv_cols) : GEMV_COLS_DEFAULT;
    g->norm_eps = hp->norm_eps;
    g->layers = calloc((size_t)n, sizeof *g->layers);
    if (!g->layers) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
    brisk_status st = brisk_cuda_stream_create(&g->stream, err);
    if (st == BRISK_OK) st = brisk_cuda_blas_create(&g->blas, g->stream, err);
    for (int32_t il = 0; il < n && st == BRISK_OK; il++) st = upload_layer(e, g, il, err);
    if (st == BRISK_OK && g->has_output) {
        g->n_vocab_pad = round16(hp->n_vocab);
        st = upload_weight(&g->output, &m->output, err);
        if (st == BRISK_OK) st = upload_vec(&g->output_norm, m->output_norm, hp->n_embd, err);
        g->embd = &g->output;
        if (st == BRISK_OK && m->tok_embd.data != m->output.data) {
            st = upload_weight(&g->embd_own, &m->tok_embd, err);
            g->embd = &g->embd_own;
        }
    }
    if (st != BRISK_OK) return st;

    int64_t B = e->n_batch, q_dim = (int64_t)hp->n_head * hp->head_dim, o_dim = (int64_t)hp->n_head * hp->head_dim_v;
    int64_t max_in = hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd;
    if (o_dim > max_in) max_in = o_dim;
    size_t gemm_scratch = 0;
    for (int32_t il = 0; il < n; il++) {
        gpu_layer *l = &g->layers[il];
        const brisk_cuda_weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->gate, &l->up, &l->down};
        for (int i = 0; i < N_LAYER_MATRICES; i++) {
            size_t s = brisk_cuda_gemm_scratch_bytes(ws[i]);
            if (s > gemm_scratch) gemm_scratch = s;
        }
    }
    if (g->has_output && brisk_cuda_gemm_scratch_bytes(&g->output) > gemm_scratch)
        gemm_scratch = brisk_cuda_gemm_scratch_bytes(&g->output);
    int64_t n_seq = e->params.n_seq_max < B ? e->params.n_seq_max : B;
    g->max_tables = n_seq * ((e->n_ctx_seq + g->block_size - 1) / g->block_size + 1);
    /* the GEMV counters: per 32 rows of gate (ACT) or of q/k/v (ROPE into a Q8 cache) */
    const int64_t qkv_rows = q_dim + g->k_dim + g->v_dim;
    const size_t counter_bytes = brisk_cuda_q8_counters_bytes(max_in > qkv_rows ? max_in : qkv_rows);
    struct { void **p; size_t bytes; const char *what; } bufs[] = {
        {(void **)&g->x, (size_t)(B * hp->n_embd) * 4, "activations"},
        {(void **)&g->q, (size_t)(B * q_dim) * 4, "activations"},
        {(void **)&g->k, (size_t)(B * g->k_dim) * 4, "activations"},
        {(void **)&g->v, (size_t)(B * g->v_dim) * 4, "activations"},
        {(void **)&g->attn, (size_t)(B * o_dim) * 4, "activations"},
        {(void **)&g->o, (size_t)(B * hp->n_embd) * 4, "activations"},
        {(void **)&g->gate, (size_t)(B * hp->n_ff) * 4, "activations"},
        {(void **)&g->up, (size_t)(B * hp->n_ff) * 4, "activations"},
        {(void **)&g->logits, g->has_output ? (size_t)(B * g->n_vocab_pad) * 4 : 0, "the logits"},
        {&g->h16, (size_t)(B * max_in) * 2, "activations"},
        {&g->act16, (size_t)hp->n_ff * 2, "activations"},
        {&g->xq, brisk_cuda_xq8_bytes((max_in + 63) / 64 * 64), "activations"},
        {&g->xq2, brisk_cuda_xq8_bytes((max_in + 63) / 64 * 64), "activations"},
        {&g->counters, counter_bytes, "GEMV counters"},
        {&g->gemm_scratch, gemm_scratch, "the GEMM scratch"},
        {&g->attn_scratch, (size_t)ATTN_SCRATCH_SLOTS * (size_t)hp->n_head * (size_t)(hp->head_dim_v + 2) * 4, "the attention scratch"},
        {(void **)&g->d_meta, (size_t)(5 * B + g->max_tables) * 4, "token metadata"},
    };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0] && st == BRISK_OK; i++)
        st = dalloc(g, bufs[i].p, bufs[i].bytes, bufs[i].what, err);
    if (st != BRISK_OK) return st;
    void *zeros = calloc(1, counter_bytes);
    if (!zeros) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
    st = brisk_cuda_upload(g->counters, zeros, counter_bytes, err);
    free(zeros);
    if (st != BRISK_OK) return st;
    st = brisk_cuda_host_alloc((void **)&g->h_meta, (size_t)(5 * B + g->max_tables) * 4, "token metadata", err);
    if (st != BRISK_OK) return st;
    int32_t half_rot = e->rope_global.n_rot / 2;
    st = dalloc(g, (void **)&g->inv_freq_global, (size_t)(half_rot > 0 ? half_rot : 1) * 4, "RoPE table", err);
    if (st == BRISK_OK && half_rot > 0)
        st = brisk_cuda_upload(g->inv_freq_global, e->rope_global.inv_freq, (size_t)half_rot * 4, err);
    half_rot = e->rope_local.n_rot / 2;
    if (st == BRISK_OK)
        st = dalloc(g, (void **)&g->inv_freq_local, (size_t)(half_rot > 0 ? half_rot : 1) * 4, "RoPE table", err);
    if (st == BRISK_OK && half_rot > 0)
        st = brisk_cuda_upload(g->inv_freq_local, e->rope_local.inv_freq, (size_t)half_rot * 4, err);
    if (st == BRISK_OK) st = brisk_cuda_sync(err); /* the uploads are done before work on g->stream */
    return st;
}

/* Layers that fit in free device memory (all the engine's buffers counted). */
static int32_t layers_that_fit(const brisk_engine *e, brisk_error *err) {
    const hparams *hp = &e->model->hp;
    size_t free_b = 0, total_b = 0;
    if (brisk_cuda_mem_info(&free_b, &total_b, err) != BRISK_OK) return 0;
    int64_t B = e->n_batch;
    size_t fixed = GPU_RESERVE_BYTES + (size_t)B * (size_t)(4 * hp->n_embd + 3 * hp->n_head * hp->head_dim + 2 * hp->n_ff) * 6;
    size_t output = weight_device_bytes(&e->model->output) + (size_t)B * (size_t)round16(hp->n_vocab) * 4;
    if (e->model->tok_embd.data != e->model->output.data) output += weight_device_bytes(&e->model->tok_embd);
    if (fixed > free_b) return 0;
    size_t budget = free_b - fixed, used = 0;
    int32_t n = 0;
    while (n < hp->n_layer) {
        size_t next = used + layer_bytes(e, n);
        if (next + (n + 1 == hp->n_layer ? output : 0) > budget) break;
        used = next;
        n++;
    }
    return n;
}

brisk_status gpu_forward_create(brisk_engine *e, int32_t requested, brisk_error *err) {
    e->gpu = NULL;
    const hparams *hp = &e->model->hp;
    if (requested == 0) return BRISK_OK;
    bool automatic = requested < 0;
    if (e->params.exact) {
        if (automatic) return BRISK_OK;
        return brisk_fail(err, BRISK_ERR_ARG, "--gpu-layers %d: exact mode (f32 KV cache) runs on the CPU only", requested);
    }
    if (brisk_cuda_device_count() == 0) {
        if (automatic) return BRISK_OK;
        return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "--gpu-layers %d: no CUDA device found", requested);
    }
    char why[256];
    if (unsupported_reason(e, why, sizeof why)) {
        if (automatic) return BRISK_OK;
        return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "--gpu-layers %d: this model cannot run on the GPU: %s",
                          requested, why);
    }
    int32_t n = requested > hp->n_layer ? hp->n_layer : requested;
    if (automatic) {
        n = layers_that_fit(e, err);
        brisk_error_clear(err);
    }
    for (;;) {
        if (n == 0) return BRISK_OK;
        gpu_forward *g = NULL;
        brisk_status st = create_n(e, n, &g, err);
        if (st == BRISK_OK) {
            e->gpu = g;
            e->kv.copy_hook = copy_block;
            e->kv.copy_hook_user = g;
            return BRISK_OK;
        }
        gpu_forward_free(g);
        if (!automatic || st != BRISK_ERR_NOMEM) return st;
        n--; /* the estimate was too generous: place one layer fewer */
        brisk_error_clear(err);
    }
}

/* ---- the pass ------------------------------------------------------------------ */

/* A 1-token pass reads its matrix inputs as int8 (g->xq) where the weight type
 * has that kernel: quantize h16 once after each kernel that writes it. */
static bool q8_input(const gpu_forward *g, int n, int64_t n_in) { return g->use_q8 && n == 1 && n_in % 64 == 0; }

/* The xq buffer a kernel of its own writes (nothing else reads it meanwhile):
 * the next GEMV's plain input. */
static void *standalone_xq(gpu_forward *g) {
    g->xq_in = g->xq;
    g->xq_prenorm = false;
    return g->xq;
}

/* The xq buffer a GEMV's fused epilogue writes: not the one it reads. */
static void *epilogue_xq(gpu_forward *g) { return g->xq_in == g->xq ? g->xq2 : g->xq; }

static brisk_status inputs_ready(gpu_forward *g, int n, int64_t n_in, brisk_error *err) {
    if (!q8_input(g, n, n_in)) return BRISK_OK;
    return brisk_cuda_quantize_x8(g->h16, standalone_xq(g), 1, n_in, g->stream, err);
}

/* The integer GEMV for this 1-token matrix? */
static bool use_q8_gemv(const gpu_forward *g, const brisk_cuda_weight *w, int n) {
    return q8_input(g, n, w->n_in) && brisk_cuda_gemv_q8_supported(w);
}

/* The 1-column F16 kernel with its fused launches (FUSE_F16) for this 1-token matrix? */
static bool use_f16_gemv(const gpu_forward *g, const brisk_cuda_weight *w, int n) {
    return (g->fuse & FUSE_F16) && n == 1 && w->type == BRISK_TYPE_F16 && brisk_cuda_gemv_f16_enabled();
}

static brisk_status matmul(gpu_forward *g, const brisk_cuda_weight *w, const void *x16, float *y, int n,
                           brisk_error *err) {
    if (use_q8_gemv(g, w, n)) {
        brisk_cuda_q8_fusion f = {.in_norm = g->xq_prenorm, .in_eps = g->norm_eps};
        return brisk_cuda_gemv_q8_fused(&w, &y, 1, g->xq_in, &f, g->stream, err);
    }
    if (n > g->gemv_cols && n > BRISK_CUDA_GEMV_MAX_COLS)
        return brisk_cuda_gemm(g->blas, w, x16, y, n, g->gemm_scratch, err);
    for (int c = 0; c < n; c += BRISK_CUDA_GEMV_MAX_COLS) {
        const int cols = n - c < BRISK_CUDA_GEMV_MAX_COLS ? n - c : BRISK_CUDA_GEMV_MAX_COLS;
        const brisk_status st = brisk_cuda_gemv(w, (const uint16_t *)x16 + (size_t)c * (size_t)w->n_in,
                                                y + (size_t)c * (size_t)w->n_out, cols, g->stream, err);
        if (st != BRISK_OK) return st;
    }
    return BRISK_OK;
}

#define TRY(call)                                   \
    do {                                            \
        brisk_status st_ = (call);                  \
        if (st_ != BRISK_OK) return st_;            \
    } while (0)

/* The fusion of the launch that takes matrices i .. j - 1 of a q/k/v group:
 * `rope` (NULL: none) with the roles and caches of those matrices. */
static brisk_cuda_q8_fusion run_fusion(const brisk_cuda_q8_fusion *rope, int i, int j) {
    brisk_cuda_q8_fusion f = {.mode = BRISK_CUDA_FUSE_NONE};
    if (!rope) return f;
    f = *rope;
    for (int m = i; m < j; m++) {
        f.role[m - i] = m;
        f.cache[m - i] = rope->cache[m];
    }
    return f;
}

/* ys[i] = ws[i] h16 for matrices that read the same input; on the int8 path
 * they go to the GPU in one launch (brisk_cuda_gemv_q8_fused) per two runs of
 * weight types, F16 ones (FUSE_F16) in one brisk_cuda_gemv_f16 launch,
 * with `rope` (NULL: none) as the RoPE + KV store epilogue (roles 0, 1, 2 =
 * q, k, v: matrices in that order). */
static brisk_status matmuls(gpu_forward *g, const brisk_cuda_weight *const *ws, float *const *ys, int count, int n,
                            const brisk_cuda_q8_fusion *rope, brisk_error *err) {
    for (int i = 0; i < count;) {
        int j = i + 1;
        if (use_q8_gemv(g, ws[i], n)) {
            /* up to two runs of weight types per launch (q, k Q4_K and v Q6_K: one launch) */
            int runs = 1;
            while (j < count && ws[j]->n_in == ws[i]->n_in && use_q8_gemv(g, ws[j], n) &&
                   (ws[j]->type == ws[j - 1]->type || ((g->fuse & FUSE_TYPES) && ++runs <= 2)))
                j++;
            brisk_cuda_q8_fusion f = run_fusion(rope, i, j);
            f.in_norm = g->xq_prenorm;
            f.in_eps = g->norm_eps;
            TRY(brisk_cuda_gemv_q8_fused(ws + i, ys + i, j - i, g->xq_in, &f, g->stream, err));
        } else if (use_f16_gemv(g, ws[i], n)) {
            while (j < count && j - i < 3 && use_f16_gemv(g, ws[j], n) && ws[j]->n_in == ws[i]->n_in) j++;
            brisk_cuda_q8_fusion f = run_fusion(rope, i, j);
            TRY(brisk_cuda_gemv_f16(ws + i, ys + i, j - i, g->h16, rope ? BRISK_CUDA_F16_ROPE : BRISK_CUDA_F16_STORE,
                                    false, NULL, rope ? &f : NULL, g->stream, err));
        } else {
            TRY(matmul(g, ws[i], g->h16, ys[i], n, err));
        }
        i = j;
    }
    return BRISK_OK;
}

/* Where an n-token pass's metadata lies in d_meta / h_meta. */
static void meta_layout(gpu_forward *g, int n) {
    g->d_tokens = g->d_meta;
    g->d_pos = g->d_meta + n;
    g->d_rows = g->d_meta + 2 * n;
    g->d_table_off = g->d_meta + 3 * n;
    g->d_logit_rows = g->d_meta + 4 * n;
    g->d_tables = g->d_meta + 5 * n;
}

/* Tokens, positions, physical cache rows, logit rows and the block tables of
 * the pass's sequences, staged in h_meta and copied in one upload. */
static brisk_status upload_batch(brisk_engine *e, gpu_forward *g, const fwd_batch *b, int32_t *max_len,
                                 brisk_error *err) {
    const int n = b->n;
    int32_t *h_tok = g->h_meta, *h_pos = h_tok + n, *h_rows = h_tok + 2 * n, *h_off = h_tok + 3 * n;
    int32_t *h_logit = h_tok + 4 * n, *h_tables = h_tok + 5 * n;
    int64_t n_tab = 0;
    *max_len = 0;
    meta_layout(g, n);
    g->one_seq = true;
    for (int32_t t = 0; t < n; t++) {
        h_tok[t] = b->tokens ? (int32_t)b->tokens[t] : 0;
        h_pos[t] = b->pos[t];
        h_rows[t] = (int32_t)kv_pos_row(&e->kv, b->tables[t], b->pos[t]);
        h_logit[t] = t < b->n_logit_rows ? b->logit_rows[t] : 0;
        if (b->pos[t] + 1 > *max_len) *max_len = b->pos[t] + 1;
        if (t == 0 || b->tables[t] != b->tables[t - 1]) {
            int32_t last = b->pos[t]; /* the run's last position: tokens of a sequence come in order */
            for (int32_t u = t; u < n && b->tables[u] == b->tables[t]; u++) last = b->pos[u];
            int32_t len = last / g->block_size + 1;
            if (n_tab + len > g->max_tables)
                return brisk_fail(err, BRISK_ERR_ARG, "GPU pass: block tables exceed %lld entries", (long long)g->max_tables);
            memcpy(h_tables + n_tab, b->tables[t], (size_t)len * sizeof(int32_t));
            h_off[t] = (int32_t)n_tab;
            n_tab += len;
            g->one_seq = t == 0;
        } else {
            h_off[t] = h_off[t - 1];
        }
    }
    return brisk_cuda_upload_async(g->d_meta, g->h_meta, (size_t)(5 * n + n_tab) * 4, g->stream, err);
}

/* Context splits of an n-token pass's attention: sized for the longest
 * context once, so one captured graph serves every length (the splits past
 * a shorter context are empty). */
static int attention_splits(brisk_engine *e, gpu_forward *g, int n, int32_t max_len) {
    const hparams *hp = &e->model->hp;
    brisk_cuda_attn_shape s = {.n_q = n, .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .head_dim = hp->head_dim,
                               .head_dim_v = hp->head_dim_v};
    int splits;
    if (n <= BRISK_CUDA_GEMV_MAX_COLS) {
        if (!g->attn_splits[n]) g->attn_splits[n] = brisk_cuda_attention_splits(&s, e->n_ctx_seq);
        splits = g->attn_splits[n];
    } else {
        splits = brisk_cuda_attention_splits(&s, max_len);
    }
    if (splits > MAX_SPLITS) splits = MAX_SPLITS;
    if ((int64_t)splits * n > ATTN_SCRATCH_SLOTS) splits = n >= ATTN_SCRATCH_SLOTS ? 1 : ATTN_SCRATCH_SLOTS / n;
    return splits;
}

/* Whether the pass's longest context (max_len positions) counts as long for
 * the attention kernels (brisk_cuda_attn_shape.long_context: a Q8 cache is
 * then read by the register-loading kernel); the captured graphs are kept per
 * class. */
#define LONG_CONTEXT 4096
static bool context_is_long(const gpu_forward *g, int32_t max_len) {
    return g->kv_type == BRISK_CUDA_KV_Q8 && max_len >= LONG_CONTEXT;
}

/* An RMSNorm of the pass and the matrices that read its output. */
typedef struct norm_site {
    const float *w;
    const brisk_cuda_weight *readers[3];
    int n_readers;
} norm_site;

/* Whether the norm's readers take the pre-norm encoding (FUSE_NORM): a
 * 1-token pass whose readers are all int8 GEMVs (no f16 copy is written). */
static bool prenorm_ok(const gpu_forward *g, int n, int width, const norm_site *site) {
    if (!site || !(g->fuse & FUSE_NORM) || !q8_input(g, n, width)) return false;
    for (int i = 0; i < site->n_readers; i++)
        if (!use_q8_gemv(g, site->readers[i], n)) return false;
    return true;
}

static norm_site attn_site(const gpu_layer *l) {
    return (norm_site){.w = l->attn_norm, .readers = {&l->wq, &l->wk, &l->wv}, .n_readers = 3};
}
static norm_site ffn_site(const gpu_layer *l) {
    return (norm_site){.w = l->ffn_norm, .readers = {&l->gate, &l->up}, .n_readers = 2};
}
static norm_site output_site(const gpu_forward *g) {
    return (norm_site){.w = g->output_norm, .readers = {&g->output}, .n_readers = 1};
}

/* The block's output matrix (wo, down) of the f16 input x16: o = W x16 for
 * the next norm_input's residual add (o_pending), or, on the int8 GEMV or the
 * F16 kernel (FUSE_F16) of a 1-token pass without a post-norm, x += W h in the
 * GEMV's epilogue (then the norm needs no add and spreads over several
 * blocks); with FUSE_NORM the int8 epilogue also writes the pre-norm input of
 * `next` (the norm after it; NULL: none), and the next norm_input has nothing
 * left to do (norm_ready). */
static brisk_status residual_matmul(gpu_forward *g, const brisk_cuda_weight *w, const void *x16, int n,
                                    bool post_norm, const norm_site *next, int width, brisk_error *err) {
    if (!post_norm && use_f16_gemv(g, w, n)) {
        g->o_pending = false;
        return brisk_cuda_gemv_f16(&w, &g->x, 1, x16, BRISK_CUDA_F16_ADD, false, NULL, NULL, g->stream, err);
    }
    g->o_pending = post_norm || !use_q8_gemv(g, w, n);
    if (g->o_pending) return matmul(g, w, x16, g->o, n, err);
    if (prenorm_ok(g, n, width, next) && width % 32 == 0) {
        void *out = epilogue_xq(g);
        /* (its input, the attention output or act(gate) * up, is never pre-norm encoded) */
        brisk_cuda_q8_fusion f = {.mode = BRISK_CUDA_FUSE_ADD_NORM, .norm_w = next->w, .out_xq = out};
        TRY(brisk_cuda_gemv_q8_fused(&w, &g->x, 1, g->xq_in, &f, g->stream, err));
        g->xq_in = out;
        g->xq_prenorm = true;
        g->norm_ready = true;
        return BRISK_OK;
    }
    return brisk_cuda_gemv_q8_add(w, g->xq_in, g->x, g->stream, err); /* its input is never pre-norm encoded */
}

/* h16 (and xq) = rmsnorm(x) * w over n rows of width, after x += o when
 * add_o (the previous block's residual, deferred so that 1-token passes fuse
 * it into the norm kernel). With FUSE_NORM (prenorm_ok): the pre-norm
 * encoding instead, unless the last GEMV wrote it already. */
static brisk_status norm_input(gpu_forward *g, int n, int width, const norm_site *site, float eps, bool add_o,
                               brisk_error *err) {
    const bool ready = g->norm_ready;
    g->norm_ready = false;
    if (prenorm_ok(g, n, width, site)) {
        if (ready) return BRISK_OK;
        TRY(brisk_cuda_prenorm_xq(g->x, add_o ? g->o : NULL, site->w, standalone_xq(g), width, g->stream, err));
        g->xq_prenorm = true;
        return BRISK_OK;
    }
    if (q8_input(g, n, width) && brisk_cuda_rmsnorm_xq_supported(width))
        return brisk_cuda_rmsnorm_xq(g->x, add_o ? g->o : NULL, site->w, g->h16, standalone_xq(g), width, eps,
                                     g->stream, err);
    if (add_o) TRY(brisk_cuda_add(g->x, g->o, (int64_t)n * width, g->stream, err));
    TRY(brisk_cuda_rmsnorm(g->x, site->w, NULL, g->h16, n, width, eps, g->stream, err));
    return inputs_ready(g, n, width, err);
}

/* The q/k/v GEMVs' RoPE + KV store epilogue (FUSE_ROPE) for this layer, or
 * false: 1-token passes with q/k/v all on the int8 GEMV or all on the F16
 * kernel (FUSE_F16: one launch), adjacent-pair RoPE (not NeoX: its pairs lie
 * in different warps), no biases or q/k norms (they come between the product
 * and the rotation). */
static bool rope_fusion(brisk_engine *e, gpu_forward *g, int il, int n, brisk_cuda_q8_fusion *f) {
    const brisk_model *m = e->model;
    const hparams *hp = &m->hp;
    const layer_weights *ly = &m->layers[il];
    gpu_layer *l = &g->layers[il];
    const rope_table *rt = ly->sliding ? &e->rope_local : &e->rope_global;
    const bool kv_q8 = g->kv_type == BRISK_CUDA_KV_Q8;
    if (!(g->fuse & FUSE_ROPE) || rt->style == ROPE_NEOX || l->bq || l->bk || l->bv || m->arch->qk_norm ||
        hp->head_dim % (kv_q8 ? 32 : 2) || hp->head_dim != hp->head_dim_v || rt->n_rot % 2 || rt->n_rot > hp->head_dim)
        return false;
    const brisk_cuda_weight *ws[] = {&l->wq, &l->wk, &l->wv};
    bool q8 = q8_input(g, n, hp->n_embd), f16 = true;
    for (int i = 0; i < 3; i++) {
        q8 = q8 && use_q8_gemv(g, ws[i], n);
        f16 = f16 && use_f16_gemv(g, ws[i], n) && ws[i]->n_in == ws[0]->n_in;
    }
    /* (the F16 GEMV stores into an f16 cache only: an 8-bit one then goes through brisk_cuda_rope_kv_store) */
    if (!q8 && (!f16 || kv_q8)) return false;
    *f = (brisk_cuda_q8_fusion){.mode = BRISK_CUDA_FUSE_ROPE, .cache = {NULL, l->k, l->v}, .pos = g->d_pos,
                                .rows = g->d_rows, .inv_freq = ly->sliding ? g->inv_freq_local : g->inv_freq_global,
                                .head_dim = hp->head_dim, .n_rot = rt->n_rot, .mscale = rt->mscale,
                                .kv_q8 = kv_q8, .kv_rows = g->kv_rows, .counters = g->counters};
    return true;
}

/* The attention half of layer il; leaves its output in g->o (x += o is the
 * next norm_input's) or adds it to x (residual_matmul). */
static brisk_status attention_block(brisk_engine *e, gpu_forward *g, int il, int n, int splits,
                                    brisk_error *err) {
    const brisk_model *m = e->model;
    const hparams *hp = &m->hp;
    const layer_weights *ly = &m->layers[il];
    gpu_layer *l = &g->layers[il];
    int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, o_dim = (int64_t)hp->n_head * hp->head_dim_v;
    const norm_site site = attn_site(l), next = ffn_site(l);
    TRY(norm_input(g, n, hp->n_embd, &site, hp->norm_eps, g->o_pending, err));
    const brisk_cuda_weight *qkv[] = {&l->wq, &l->wk, &l->wv};
    float *qkv_out[] = {g->q, g->k, g->v};
    brisk_cuda_q8_fusion rope;
    const bool fused_rope = rope_fusion(e, g, il, n, &rope);
    TRY(matmuls(g, qkv, qkv_out, 3, n, fused_rope ? &rope : NULL, err));
    if (l->bq) TRY(brisk_cuda_add_bias(g->q, l->bq, n, (int)q_dim, g->stream, err));
    if (l->bk) TRY(brisk_cuda_add_bias(g->k, l->bk, n, (int)g->k_dim, g->stream, err));
    if (l->bv) TRY(brisk_cuda_add_bias(g->v, l->bv, n, (int)g->v_dim, g->stream, err));
    if (m->arch->qk_norm) {
        TRY(brisk_cuda_rmsnorm(g->q, l->q_norm, g->q, NULL, n * hp->n_head, hp->head_dim, hp->norm_eps, g->stream, err));
        TRY(brisk_cuda_rmsnorm(g->k, l->k_norm, g->k, NULL, n * hp->n_head_kv, hp->head_dim, hp->norm_eps, g->stream, err));
    }
    const rope_table *rt = ly->sliding ? &e->rope_local : &e->rope_global;
    const float *inv_freq = ly->sliding ? g->inv_freq_local : g->inv_freq_global;
    bool neox = rt->style == ROPE_NEOX;
    if (!fused_rope)
        TRY(brisk_cuda_rope_kv_store(g->q, g->k, g->v, g->d_pos, inv_freq, n, hp->n_head, hp->n_head_kv, hp->head_dim,
                                     hp->head_dim_v, rt->n_rot, neox, rt->mscale, l->k, l->v, g->kv_type, g->kv_rows,
                                     g->d_rows, g->stream, err));
    brisk_cuda_attn_shape s = {.n_q = n, .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .head_dim = hp->head_dim,
                               .head_dim_v = hp->head_dim_v, .window = ly->sliding ? hp->n_swa : 0,
                               .scale = hp->attn_scale, .softcap = hp->attn_softcap, .kv_type = g->kv_type,
                               .kv_rows = g->kv_rows, .long_context = g->long_context};
    /* a 1-token pass with splits: the split merge writes the o matrix's inputs (f16 and xq8) itself */
    const bool merge_to_xq = q8_input(g, n, o_dim) && brisk_cuda_attention_xq_supported(&s, splits);
    if (n > BRISK_CUDA_GEMV_MAX_COLS && g->one_seq && brisk_cuda_attention_prefill_supported(&s))
        TRY(brisk_cuda_attention_prefill(&s, g->q, l->k, l->v, g->d_pos, g->d_tables, g->block_size, g->attn, g->stream,
                                         err));
    else if (merge_to_xq)
        TRY(brisk_cuda_attention_paged_xq(&s, g->q, l->k, l->v, g->d_pos, g->d_tables, g->d_table_off, g->block_size,
                                          g->h16, standalone_xq(g), splits, g->attn_scratch, g->stream, err));
    else
        TRY(brisk_cuda_attention_paged(&s, g->q, l->k, l->v, g->d_pos, g->d_tables, g->d_table_off, g->block_size,
                                       g->attn, splits, g->attn_scratch, g->stream, err));
    if (!merge_to_xq && q8_input(g, n, o_dim))
        TRY(brisk_cuda_f32_to_xq(g->attn, NULL, false, g->h16, standalone_xq(g), o_dim, g->stream, err));
    else if (!merge_to_xq)
        TRY(brisk_cuda_f32_to_f16(g->attn, g->h16, n * o_dim, g->stream, err));
    TRY(residual_matmul(g, &l->wo, g->h16, n, l->post_attn_norm != NULL, &next, hp->n_embd, err));
    if (l->post_attn_norm)
        TRY(brisk_cuda_rmsnorm(g->o, l->post_attn_norm, g->o, NULL, n, hp->n_embd, hp->norm_eps, g->stream, err));
    return BRISK_OK;
}

/* act(gate) * up and its encoding in the gate/up GEMV's epilogue (FUSE_ACT):
 * 1-token passes, gate and up of one type on the int8 GEMV. */
static bool act_fusion(const gpu_forward *g, const gpu_layer *l, int n, int n_ff) {
    return (g->fuse & FUSE_ACT) && q8_input(g, n, n_ff) && n_ff % 32 == 0 && use_q8_gemv(g, &l->gate, n) &&
           use_q8_gemv(g, &l->up, n) && l->gate.type == l->up.type && l->gate.n_out == l->up.n_out;
}

/* act(gate) * up in the F16 gate/up launch (FUSE_F16): 1-token passes, gate
 * and up F16 of one shape, a down matrix that reads f16 (not the int8 GEMV). */
static bool f16_act_fusion(const gpu_forward *g, const gpu_layer *l, int n) {
    return use_f16_gemv(g, &l->gate, n) && use_f16_gemv(g, &l->up, n) && l->gate.n_out == l->up.n_out &&
           l->gate.n_in == l->up.n_in && !use_q8_gemv(g, &l->down, n);
}

static brisk_status ffn_block(brisk_engine *e, gpu_forward *g, int il, int n, brisk_error *err) {
    const brisk_model *m = e->model;
    const hparams *hp = &m->hp;
    gpu_layer *l = &g->layers[il];
    const norm_site site = ffn_site(l);
    const norm_site next = il + 1 < g->n_layers ? attn_site(&g->layers[il + 1]) : output_site(g);
    TRY(norm_input(g, n, hp->n_embd, &site, hp->norm_eps, g->o_pending, err));
    const brisk_cuda_weight *gate_up[] = {&l->gate, &l->up};
    float *gate_up_out[] = {g->gate, g->up};
    bool gelu = m->arch->act == ACT_GELU_TANH;
    const void *down_in = g->h16;
    if (f16_act_fusion(g, l, n)) {
        TRY(brisk_cuda_gemv_f16(gate_up, NULL, 2, g->h16, BRISK_CUDA_F16_ACT, gelu, g->act16, NULL, g->stream, err));
        down_in = g->act16;
    } else if (act_fusion(g, l, n, hp->n_ff)) {
        void *out = epilogue_xq(g);
        brisk_cuda_q8_fusion f = {.mode = BRISK_CUDA_FUSE_ACT, .in_norm = g->xq_prenorm, .in_eps = g->norm_eps,
                                  .act_out = g->gate, .out16 = g->h16, .out_xq = out, .counters = g->counters,
                                  .gelu = gelu};
        TRY(brisk_cuda_gemv_q8_fused(gate_up, gate_up_out, 2, g->xq_in, &f, g->stream, err));
        g->xq_in = out;
        g->xq_prenorm = false;
    } else {
        TRY(matmuls(g, gate_up, gate_up_out, 2, n, NULL, err));
        if (q8_input(g, n, hp->n_ff))
            TRY(brisk_cuda_f32_to_xq(g->gate, g->up, gelu, g->h16, standalone_xq(g), hp->n_ff, g->stream, err));
        else
            TRY(brisk_cuda_act_mul(g->gate, g->up, g->h16, (int64_t)n * hp->n_ff, gelu, g->stream, err));
    }
    TRY(residual_matmul(g, &l->down, down_in, n, l->post_ffn_norm != NULL,
                        il + 1 < g->n_layers || g->to_output ? &next : NULL, hp->n_embd, err));
    if (l->post_ffn_norm)
        TRY(brisk_cuda_rmsnorm(g->o, l->post_ffn_norm, g->o, NULL, n, hp->n_embd, hp->norm_eps, g->stream, err));
    return BRISK_OK;
}

/* Final norm and output matrix of the n logit rows (d_logit_rows) -> g->logits.
 * A 1-token whole pass whose last GEMV wrote the output norm's pre-norm input
 * (norm_ready; its one logit row is row 0) goes straight to the matrix. */
static brisk_status output_block(brisk_engine *e, gpu_forward *g, int n, brisk_error *err) {
    const hparams *hp = &e->model->hp;
    const bool ready = g->norm_ready;
    g->norm_ready = false;
    if (ready && n == 1) return matmul(g, &g->output, g->h16, g->logits, n, err);
    TRY(brisk_cuda_gather_rows(g->x, g->d_logit_rows, g->o, n, hp->n_embd, g->stream, err));
    if (q8_input(g, n, hp->n_embd) && brisk_cuda_rmsnorm_xq_supported(hp->n_embd)) {
        TRY(brisk_cuda_rmsnorm_xq(g->o, NULL, g->output_norm, g->h16, standalone_xq(g), hp->n_embd, hp->norm_eps,
                                  g->stream, err));
    } else {
        TRY(brisk_cuda_rmsnorm(g->o, g->output_norm, NULL, g->h16, n, hp->n_embd, hp->norm_eps, g->stream, err));
        TRY(inputs_ready(g, n, hp->n_embd, err));
    }
    return matmul(g, &g->output, g->h16, g->logits, n, err);
}

static brisk_status run_layers(brisk_engine *e, gpu_forward *g, int n, int splits, brisk_error *err) {
    g->o_pending = false;
    g->norm_ready = false;
    standalone_xq(g);
    for (int il = 0; il < g->n_layers; il++) {
        TRY(attention_block(e, g, il, n, splits, err));
        TRY(ffn_block(e, g, il, n, err));
    }
    if (!g->o_pending) return BRISK_OK;
    g->o_pending = false;
    return brisk_cuda_add(g->x, g->o, (int64_t)n * e->model->hp.n_embd, g->stream, err);
}

/* The kernels of one pass: the first N layers (run_layers) or the whole pass (whole_pass). */
typedef brisk_status (*pass_fn)(brisk_engine *e, gpu_forward *g, int n, int splits, brisk_error *err);

/* Launch *graph, capturing it from `run` first if it does not exist yet. */
static brisk_status replay(brisk_engine *e, gpu_forward *g, void **graph, pass_fn run, int n, int splits,
                           brisk_error *err) {
    if (!*graph) {
        TRY(brisk_cuda_capture_begin(g->stream, err));
        brisk_status st = run(e, g, n, splits, err);
        brisk_error end_err;
        brisk_status st_end = brisk_cuda_capture_end(g->stream, st == BRISK_OK, graph, &end_err);
        if (st != BRISK_OK) return st;
        if (st_end != BRISK_OK) return brisk_fail(err, st_end, "%s", end_err.msg);
    }
    return brisk_cuda_graph_launch(*graph, g->stream, err);
}

brisk_status gpu_forward_layers(brisk_engine *e, const fwd_batch *b, brisk_error *err) {
    gpu_forward *g = e->gpu;
    const hparams *hp = &e->model->hp;
    if (g->copy_err.status != BRISK_OK)
        return brisk_fail(err, g->copy_err.status, "GPU KV block copy failed earlier: %s", g->copy_err.msg);
    int32_t max_len = 0;
    TRY(upload_batch(e, g, b, &max_len, err));
    TRY(brisk_cuda_upload_async(g->x, e->x, (size_t)b->n * (size_t)hp->n_embd * 4, g->stream, err));
    int splits = attention_splits(e, g, b->n, max_len);
    g->long_context = context_is_long(g, max_len);
    if (g->use_graphs && b->n <= BRISK_CUDA_GEMV_MAX_COLS) {
        /* decode: the layers as one graph replay (positions and tables are read on the device) */
        TRY(replay(e, g, &g->graphs[g->long_context][b->n][splits], run_layers, b->n, splits, err));
    } else {
        TRY(run_layers(e, g, b->n, splits, err));
    }
    if (!g->has_output || b->n_hidden_rows > 0)
        TRY(brisk_cuda_download_async(e->x, g->x, (size_t)b->n * (size_t)hp->n_embd * 4, g->stream, err));
    return brisk_cuda_stream_sync(g->stream, err);
}

float *gpu_forward_host_floats(const gpu_forward *g, size_t n, bool *pinned) {
    *pinned = false;
    void *p = NULL;
    brisk_error ignored;
    if (g && g->has_output && n <= (size_t)BRISK_CUDA_GEMV_MAX_COLS * (size_t)g->n_vocab_pad &&
        brisk_cuda_host_alloc(&p, n * sizeof(float), "logits", &ignored) == BRISK_OK) {
        *pinned = true;
        return p;
    }
    return malloc(n * sizeof(float));
}

void gpu_forward_host_release(float *p, bool pinned) {
    if (pinned) brisk_cuda_host_free(p);
    else free(p);
}

/* The n logit rows of the pass into b->logits (straight there: the engine's
 * logits are page-locked, gpu_forward_host_floats), then the final softcap. */
static brisk_status download_logits(brisk_engine *e, gpu_forward *g, const fwd_batch *b, int n, brisk_error *err) {
    const hparams *hp = &e->model->hp;
    size_t row = (size_t)hp->n_vocab * 4;
    if (g->n_vocab_pad == hp->n_vocab) {
        TRY(brisk_cuda_download_async(b->logits, g->logits, (size_t)n * row, g->stream, err));
    } else {
        for (int r = 0; r < n; r++)
            TRY(brisk_cuda_download_async(b->logits + (size_t)r * hp->n_vocab, g->logits + (size_t)r * g->n_vocab_pad,
                                          row, g->stream, err));
    }
    TRY(brisk_cuda_stream_sync(g->stream, err));
    if (hp->final_softcap > 0)
        for (int64_t i = 0; i < (int64_t)n * hp->n_vocab; i++)
            b->logits[i] = hp->final_softcap * tanhf(b->logits[i] / hp->final_softcap);
    return BRISK_OK;
}

brisk_status gpu_forward_logits(brisk_engine *e, const fwd_batch *b, brisk_error *err) {
    gpu_forward *g = e->gpu;
    int n = b->n_logit_rows;
    if (n > b->n) return brisk_fail(err, BRISK_ERR_ARG, "GPU pass: %d logit rows of %d", n, b->n);
    TRY(output_block(e, g, n, err));
    return download_logits(e, g, b, n, err);
}

/* The whole pass on the device: the GPU holds every layer and the output,
 * the pass wants the logits of each of its (<= 8) tokens and no hidden rows. */
bool gpu_forward_whole(const gpu_forward *g, const fwd_batch *b) {
    return g && g->has_output && b->n >= 1 && b->n <= BRISK_CUDA_GEMV_MAX_COLS && b->n_logit_rows == b->n &&
           b->n_hidden_rows == 0;
}

static brisk_status whole_pass(brisk_engine *e, gpu_forward *g, int n, int splits, brisk_error *err) {
    const brisk_model *m = e->model;
    const hparams *hp = &m->hp;
    float scale = m->arch->embed_scale ? sqrtf((float)hp->n_embd) : 1.0f;
    TRY(brisk_cuda_embed(g->embd, g->d_tokens, n, scale, g->x, g->stream, err));
    g->to_output = true;
    brisk_status st = run_layers(e, g, n, splits, err);
    g->to_output = false;
    if (st != BRISK_OK) return st;
    return output_block(e, g, n, err);
}

/* One upload of the metadata, one graph replay (embedding, layers, output),
 * one download of the logits, one synchronization. */
brisk_status gpu_forward_pass(brisk_engine *e, const fwd_batch *b, brisk_error *err) {
    gpu_forward *g = e->gpu;
    const hparams *hp = &e->model->hp;
    const int n = b->n;
    if (g->copy_err.status != BRISK_OK)
        return brisk_fail(err, g->copy_err.status, "GPU KV block copy failed earlier: %s", g->copy_err.msg);
    for (int t = 0; t < n; t++)
        if (b->tokens[t] < 0 || b->tokens[t] >= hp->n_vocab)
            return brisk_fail(err, BRISK_ERR_ARG, "token id %d out of range (vocabulary of %d)", (int)b->tokens[t],
                              hp->n_vocab);
    int32_t max_len = 0;
    TRY(upload_batch(e, g, b, &max_len, err));
    int splits = attention_splits(e, g, n, max_len);
    g->long_context = context_is_long(g, max_len);
    if (g->use_graphs) TRY(replay(e, g, &g->pass_graphs[g->long_context][n], whole_pass, n, splits, err));
    else TRY(whole_pass(e, g, n, splits, err));
    return download_logits(e, g, b, n, err);
}

#endif
