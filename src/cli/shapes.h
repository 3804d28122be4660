/* Shapes of real model architectures, shared by `brisk synth` (which writes
 * such models with random weights) and `brisk fit` (which estimates their
 * memory and speed). The quantization recipes (which tensor gets which type
 * under "Q4_K_M" and so on) are src/quant/mix.h, shared with `brisk quantize`;
 * here a single type name (Q4_0, Q2_K, Q6_K...) puts every matrix, token_embd
 * and output included, in that type (llama.cpp's --pure). */
#ifndef BRISK_CLI_SHAPES_H
#define BRISK_CLI_SHAPES_H

#include <stdbool.h>
#include <stdint.h>

#include "brisk.h"
#include "quant/mix.h"

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

typedef quant_recipe synth_recipe;

/* A recipe name (case-insensitive); single type names are pure (see above). */
static inline bool synth_recipe_find(const char *name, synth_recipe *out) { return quant_recipe_find(name, true, out); }
static inline const char *synth_recipe_list(void) { return quant_recipe_list(); }

typedef struct synth_tensor {
    char name[64];
    tensor_role role;
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
