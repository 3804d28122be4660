/* Quantization recipes: which type each tensor of a model gets under a
 * named file type ("Q4_K_M"). The one place for these rules; `brisk
 * quantize`, `brisk synth` and `brisk fit` all ask here.
 *
 * The names and rules are the established ones of llama.cpp's file types
 * (llama_tensor_get_type), for dense models:
 *   base type: Q2_K for Q2_K; Q3_K for Q3_K_S/M/L; Q4_K for Q4_K_S/M;
 *              Q5_K for Q5_K_S/M; the named type for Q4_0 .. Q8_0 and Q6_K
 *   output.weight (and token_embd.weight when the model has no output.weight,
 *   i.e. the output is tied to it): Q6_K, or Q8_0 when the base is Q8_0 or
 *   the row length is not a multiple of the base type's block
 *   token_embd.weight (untied): the base type
 *   attn_v:      Q2_K: Q4_K if n_head/n_head_kv >= 4 else Q3_K;
 *                Q3_K_M: Q5_K in layers 0-1 else Q4_K;  Q3_K_L: Q5_K;
 *                Q4_K_M, Q5_K_M: Q6_K where more_bits(i);  Q4_K_S: Q5_K in layers 0-3
 *   ffn_down:    Q2_K: Q3_K;  Q3_K_M: Q5_K for i < n/16, else Q4_K;  Q3_K_L: Q5_K;
 *                Q4_K_M, Q5_K_M: Q6_K where more_bits(i);  Q4_K_S: Q5_K for i < n/8;
 *                Q4_0 / Q5_0 with an importance matrix: Q4_1 / Q5_1 for i < n/8
 *   attn_output: Q2_K: Q3_K;  Q3_K_M: Q4_K;  Q3_K_L: Q5_K
 *   everything else: the base type
 * with more_bits(i) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2 (about half
 * of the layers). Only matrices are quantized: 1-D tensors (norms, biases)
 * stay F32. F32/F16/BF16 and the "pure" recipes put every matrix in one type.
 *
 * Row fallback: a type whose block does not divide the row length is
 * replaced: Q2_K/Q3_K -> Q4_0 (llama.cpp uses IQ4_NL, same 4.5 bits, which
 * brisk cannot produce yet), Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, and
 * F16 when even 32 does not divide it. */
#ifndef BRISK_QUANT_MIX_H
#define BRISK_QUANT_MIX_H

#include <stdbool.h>
#include <stdint.h>

#include "brisk.h"

typedef enum quant_mix {
    MIX_PURE = 0, /* every matrix in the base type */
    MIX_PLAIN,    /* output (or tied embedding) raised to Q6_K, the rest the base type */
    MIX_Q2_K, MIX_Q3_K_S, MIX_Q3_K_M, MIX_Q3_K_L, MIX_Q4_K_S, MIX_Q4_K_M, MIX_Q5_K_S, MIX_Q5_K_M,
} quant_mix;

typedef struct quant_recipe {
    const char *name; /* canonical spelling: "Q4_K_M" */
    brisk_type base;
    quant_mix mix;
    int ftype;        /* general.file_type (llama_ftype numbering) */
} quant_recipe;

/* Look a recipe up by name (case-insensitive). With singles_pure, names of
 * single types (Q4_0, Q2_K, Q6_K, Q8_0...) give MIX_PURE instead of their
 * file-type recipe (what `brisk synth` documents). False if unknown. */
bool quant_recipe_find(const char *name, bool singles_pure, quant_recipe *out);
/* All recipe names, for usage and error messages. */
const char *quant_recipe_list(void);

typedef enum tensor_role {
    ROLE_EMBD, ROLE_OUTPUT, ROLE_Q, ROLE_K, ROLE_V, ROLE_O, ROLE_GATE, ROLE_UP, ROLE_DOWN,
    ROLE_OTHER_MATRIX, /* a matrix the recipes have no rule for: base type */
    ROLE_NORM, ROLE_BIAS, /* vectors: never quantized */
} tensor_role;

/* Role of a tensor from its GGUF name ("blk.3.attn_v.weight") and shape;
 * *layer gets the block index or -1. */
tensor_role quant_role_of(const char *name, uint32_t n_dims, int *layer);

/* What the rules need to know about the model. */
typedef struct quant_model_info {
    int n_layer;
    int n_gqa;       /* n_head / n_head_kv */
    bool has_output; /* a separate output.weight exists (else token_embd is tied to the output) */
    bool has_imatrix;
} quant_model_info;

/* The type of a matrix under a recipe, after the row fallback. Vectors
 * (ROLE_NORM, ROLE_BIAS) get F32. */
brisk_type quant_mix_type(const quant_recipe *r, const quant_model_info *m, tensor_role role, int layer,
                          int64_t ne0);
/* The recipe's choice before the row fallback (quant_mix_type = quant_fit_row of it). */
brisk_type quant_mix_choice(const quant_recipe *r, const quant_model_info *m, tensor_role role, int layer,
                            int64_t ne0);
/* The row fallback alone (see above). */
brisk_type quant_fit_row(brisk_type t, int64_t ne0);

#endif
