/* Shapes of real model architectures and llama.cpp-style quantization
 * recipes, shared by `brisk synth` (which writes such models with random
 * weights) and `brisk fit` (which estimates their memory and speed).
 *
 * Recipes. A single type name (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, MXFP4) puts every matrix, token_embd and
 * output included, in that type (llama.cpp calls this --pure). A mix name
 * follows llama.cpp's recipe of that name (llama_tensor_get_type) for dense
 * models:
 *   base type: Q3_K for Q3_K_S/M/L, Q4_K for Q4_K_S/M, Q5_K for Q5_K_S/M
 *   output.weight:  Q6_K          token_embd.weight: the base type
 *   attn_v:  Q3_K_M: Q5_K in layers 0-1, else Q4_K;  Q3_K_L: Q5_K;
 *            Q4_K_S: Q5_K in layers 0-3;  Q4_K_M, Q5_K_M: Q6_K where more_bits(i)
 *   ffn_down: Q3_K_M: Q5_K in the first n_layer/16 layers, else Q4_K;  Q3_K_L: Q5_K;
 *            Q4_K_S: Q5_K in the first n_layer/8 layers;  Q4_K_M, Q5_K_M: Q6_K where more_bits(i)
 *   attn_output: Q3_K_M: Q4_K;  Q3_K_L: Q5_K
 *   everything else: the base type
 * with more_bits(i) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2 (about half the layers).
 * Norm weights and biases are always F32. A row length that is not a multiple
 * of the chosen type's block falls back as llama.cpp does: Q2_K/Q3_K/Q4_K ->
 * Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, and to F16 when not a multiple of 32. */
#ifndef BRISK_CLI_SHAPES_H
#define BRISK_CLI_SHAPES_H

#include <stdbool.h>
#include <stdint.h>

#include "brisk.h"

typedef struct synth_shape {
    const char *name;   /* "llama3-8b"; "custom" for the --n-embd form */
    const char *arch;   /* general.architecture: llama, qwen2, qwen3 */
    int32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab;
    int32_t head_dim;   /* 0: n_embd / n_head */
    int32_t n_ctx_train;
    float rope_base;
} synth_shape;

extern const synth_shape synth_shapes[];
extern const int synth_n_shapes;
const synth_shape *synth_shape_find(const char *name);
int32_t synth_head_dim(const synth_shape *s);
/* "" when the shape is consistent, else what is wrong. */
const char *synth_shape_check(const synth_shape *s);

typedef enum synth_mix {
    MIX_NONE = 0, /* a single type */
    MIX_Q3_K_S, MIX_Q3_K_M, MIX_Q3_K_L, MIX_Q4_K_S, MIX_Q4_K_M, MIX_Q5_K_S, MIX_Q5_K_M,
} synth_mix;

typedef struct synth_recipe {
    const char *name; /* as the user wrote it, upper case: "Q4_K_M" */
    brisk_type base;
    synth_mix mix;
    int ftype;        /* general.file_type (llama_ftype) */
} synth_recipe;

/* Recognise a type or mix name (case-insensitive). */
bool synth_recipe_find(const char *name, synth_recipe *out);
/* The recipe names, for usage and error messages. */
const char *synth_recipe_list(void);

typedef enum synth_role {
    ROLE_EMBD, ROLE_OUTPUT, ROLE_Q, ROLE_K, ROLE_V, ROLE_O, ROLE_GATE, ROLE_UP, ROLE_DOWN,
    ROLE_NORM, ROLE_BIAS,
} synth_role;

typedef struct synth_tensor {
    char name[64];
    synth_role role;
    int layer;           /* -1 outside the blocks */
    brisk_type type;
    uint32_t n_dims;
    int64_t ne[2];       /* ne[0] is the row length */
    uint64_t n_bytes;
} synth_tensor;

/* The tensors of a model of this shape under this recipe, in file order.
 * Returns the count (written to out when out != NULL; out holds max entries). */
int synth_tensors(const synth_shape *s, const synth_recipe *r, synth_tensor *out, int max);
/* Sum of tensor bytes and parameters of such a model. */
uint64_t synth_model_bytes(const synth_shape *s, const synth_recipe *r, uint64_t *n_params);

#endif
