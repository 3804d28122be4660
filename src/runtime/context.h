/* The inference context of one sequence: KV cache, activation buffers,
 * logits, the thread pool. Shared by context.c (lifetime, API) and
 * model/forward.c (the forward pass). */
#ifndef BRISK_RUNTIME_CONTEXT_H
#define BRISK_RUNTIME_CONTEXT_H

#include "base/threadpool.h"
#include "model/model.h"
#include "model/rope.h"

struct brisk_context {
    const brisk_model *model;
    brisk_context_params params;
    threadpool *tp;
    int32_t n_ctx;
    int32_t n_batch;   /* tokens per forward pass; longer evals are split */
    int32_t n_past;    /* tokens in the KV cache */
    bool kv_f32;       /* KV element type: f32 in exact mode, else f16 */
    void *k_cache;     /* [n_layer][n_ctx][n_head_kv * head_dim]   */
    void *v_cache;     /* [n_layer][n_ctx][n_head_kv * head_dim_v] */
    rope_table rope_global, rope_local;
    /* activations, [n_batch, width] each */
    float *x, *xn, *q, *k, *v, *attn, *o, *gate, *up;
    float *scores;     /* [n_threads][n_ctx] attention weights */
    float *scratch;    /* [n_threads][max n_in] matmul row buffers */
    /* logits of the last eval: [n_logits, n_vocab], and which tokens they belong to */
    float *logits;
    int32_t n_logits, cap_logits;
    int32_t last_n_tokens; /* tokens in the last eval */
    bool last_all_logits;
    brisk_matmul_observer observer; /* optional: sees each matmul's input (forward.c) */
    void *observer_user;
};

/* Run the forward pass on n <= n_batch tokens at positions n_past.. and store
 * their K/V. Logits: for every token into out[n, n_vocab] when all_logits,
 * else only the last token's into out[1, n_vocab]; none when out is NULL. */
void model_forward(brisk_context *c, const brisk_token *tokens, int32_t n, bool all_logits, float *out);

#endif
