/* The model object: hyperparameters, architecture traits and the weights,
 * bound to tensors of the mapped GGUF file (large matrices are used in place;
 * only small vectors — norms, biases — are converted to f32 at load). */
#ifndef BRISK_MODEL_MODEL_H
#define BRISK_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/cpu/ops.h"
#include "brisk.h"

struct hparams;

typedef enum rope_style {
    ROPE_NORMAL, /* rotate adjacent pairs (x0,x1),(x2,x3)...: llama in GGUF (Q/K rows permuted) */
    ROPE_NEOX,   /* rotate halves (x_i, x_{i+d/2}): qwen2, qwen3, gemma3 */
} rope_style;

typedef enum activation { ACT_SILU, ACT_GELU_TANH } activation;

typedef enum rope_scaling { ROPE_SCALING_NONE, ROPE_SCALING_LINEAR, ROPE_SCALING_YARN } rope_scaling;

/* What distinguishes one family from another, as data (one per family file). */
typedef struct arch_desc {
    const char *name;    /* general.architecture */
    rope_style rope;
    activation act;
    bool qk_norm;        /* per-head RMSNorm of q and k before RoPE (qwen3, gemma3) */
    bool post_norms;     /* RMSNorm after attention and after the FFN (gemma3) */
    bool embed_scale;    /* embeddings times sqrt(n_embd) (gemma) */
    int swa_period;      /* every swa_period-th layer is global, others sliding-window; 0 = none */
    float swa_rope_base; /* RoPE base of the sliding-window layers */
    /* Optional: settle hyperparameters the metadata does not carry (after loading). */
    void (*finish_hparams)(struct hparams *hp);
} arch_desc;

/* The architecture descriptor for a general.architecture name, or NULL. */
const arch_desc *arch_find(const char *name, size_t len);
/* "llama, qwen2, qwen3, gemma3" for error messages. */
const char *arch_supported_list(void);

typedef struct hparams {
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head, n_head_kv;
    int32_t head_dim;   /* of q and k */
    int32_t head_dim_v; /* of v */
    int32_t n_ff;
    int32_t n_rot;      /* dims that RoPE rotates (<= head_dim) */
    float norm_eps;
    float rope_base;
    rope_scaling scaling;
    float rope_factor;     /* linear / yarn scale factor */
    int32_t rope_orig_ctx; /* yarn: original context length */
    float yarn_beta_fast, yarn_beta_slow;
    float yarn_attn_factor; /* multiplies the yarn magnitude scale */
    int32_t n_swa;          /* sliding window (tokens), when the arch has one */
    float attn_scale;       /* multiplies q.k */
    float final_softcap;    /* 0 = off: logits = c * tanh(logits / c) */
    float attn_softcap;     /* 0 = off, same on attention scores */
} hparams;

typedef struct layer_weights {
    const float *attn_norm;      /* [n_embd] */
    cpu_weight wq, wk, wv, wo;   /* [n_embd -> n_head*hd], [n_embd -> n_head_kv*hd], ..., [n_head*hd_v -> n_embd] */
    const float *bq, *bk, *bv;   /* optional biases of q, k, v */
    const float *q_norm, *k_norm; /* [head_dim] (qk_norm) */
    const float *post_attn_norm; /* [n_embd] (post_norms) */
    const float *ffn_norm;       /* [n_embd] */
    cpu_weight w_gate, w_up;     /* [n_embd -> n_ff] */
    cpu_weight w_down;           /* [n_ff -> n_embd] */
    const float *post_ffn_norm;  /* [n_embd] (post_norms) */
    bool sliding;                /* attends to the last n_swa tokens only */
    float rope_base;
} layer_weights;

struct brisk_model {
    brisk_gguf *gguf;
    brisk_vocab *vocab;
    const arch_desc *arch;
    hparams hp;
    cpu_weight tok_embd;       /* [n_embd, n_vocab]: row t is token t's embedding */
    cpu_weight output;         /* [n_embd -> n_vocab]; = tok_embd when tied */
    const float *output_norm;  /* [n_embd] */
    const float *rope_freq_factors; /* optional [n_rot/2] (llama3-style scaling) */
    layer_weights *layers;     /* [n_layer] */
    void *panel_arena;         /* the matrices' CPU panels (backend/cpu/kernels.h), or NULL */
    size_t panel_arena_bytes;
    float **owned;             /* f32 copies of small vectors */
    int n_owned, cap_owned;
    uint64_t n_params, n_bytes;
};

#endif
