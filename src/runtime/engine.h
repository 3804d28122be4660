/* The engine behind brisk_engine_* and brisk_context: thread pool, paged KV
 * cache, open sequences, activation buffers and the outputs of the last eval.
 * Shared by engine.c (lifetime, API) and model/forward.c (the forward pass). */
#ifndef BRISK_RUNTIME_ENGINE_H
#define BRISK_RUNTIME_ENGINE_H

#include "base/threadpool.h"
#include "model/model.h"
#include "model/rope.h"
#include "runtime/kv_cache.h"

/* One forward pass: n tokens of one or more sequences. Every token's K/V row
 * is stored before attention, so tokens of one sequence in the same pass see
 * each other causally. */
typedef struct fwd_batch {
    int32_t n;
    const brisk_token *tokens;     /* [n] */
    const int32_t *pos;            /* [n] position of each token in its sequence */
    const int32_t *const *tables;  /* [n] block table of each token's sequence */
    /* Rows (increasing token indices) whose logits go to logits[n_logit_rows, n_vocab]. */
    int32_t n_logit_rows;
    const int32_t *logit_rows;
    float *logits;
    /* Rows whose final-normed hidden state goes to hidden[n_hidden_rows, n_embd]. */
    int32_t n_hidden_rows;
    const int32_t *hidden_rows;
    float *hidden;
} fwd_batch;

typedef struct gpu_forward gpu_forward; /* model/forward_cuda.h */

struct brisk_engine {
    const brisk_model *model;
    gpu_forward *gpu;      /* the layers on the GPU (CUDA builds), or NULL */
    brisk_engine_params params;
    threadpool *tp;
    int32_t n_ctx_seq, n_batch;
    kv_cache kv;
    kv_seq *seqs;          /* [n_seq_max] */
    bool *seq_open;        /* [n_seq_max] */
    int32_t n_open;
    rope_table rope_global, rope_local;
    /* activations, [n_batch, width] each */
    float *x, *xn, *q, *k, *v, *attn, *o, *gate, *up;
    float *scores;         /* [n_threads][n_head / n_head_kv][n_ctx_seq] attention weights */
    float *q_scaled;       /* [n_threads][n_head / n_head_kv][head_dim]: a KV head's queries x attn_scale */
    float *scratch;        /* [n_threads][max n_in] matmul row buffers */
    /* one pass's token metadata, [n_batch] each */
    brisk_token *b_tokens;
    int32_t *b_pos, *b_rows_logit, *b_rows_hidden;
    const int32_t **b_tables;
    /* outputs of the last eval: per item, where its rows start (-1: none) and how many */
    int32_t n_items, cap_items;
    int64_t *item_logit_off, *item_embd_off;
    int32_t *item_n_logits, *item_first_tok;
    float *logits;         /* [rows, n_vocab] (gpu_forward_host_floats: page-locked when a GPU pass downloads into it) */
    size_t cap_logits;     /* floats */
    bool logits_pinned;
    float *hidden;         /* [rows, n_embd] before pooling */
    size_t cap_hidden;
    float *embd;           /* [items with EMBED, n_embd] */
    size_t cap_embd;
    brisk_matmul_observer observer; /* optional: sees each matmul's input (forward.c; brisk imatrix) */
    void *observer_user;
};

brisk_status model_forward(brisk_engine *e, const fwd_batch *b, brisk_error *err);

#endif
