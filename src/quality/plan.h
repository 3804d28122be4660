/* A quantization plan: for each tensor of an input GGUF file, the type it
 * gets in the output and the importance vector its quantizer uses. Built
 * from a recipe (src/quant/mix.h); `--target-size` then changes the types
 * (src/quality/target.h). Used by `brisk quantize`. */
#ifndef BRISK_QUALITY_PLAN_H
#define BRISK_QUALITY_PLAN_H

#include <stdbool.h>
#include <stdio.h>

#include "brisk.h"
#include "quality/imatrix.h"
#include "quant/mix.h"

typedef struct quant_tensor {
    char name[128];
    const brisk_gguf_tensor *src;
    tensor_role role;
    int layer;
    brisk_type type;   /* in the output */
    float *imp;        /* [ne0] mean square activations, or NULL */
} quant_tensor;

typedef struct quant_plan {
    quant_tensor *tensors; /* in the input's order */
    int n;
    quant_model_info info;
    int n_requantized;     /* matrices whose input is already quantized */
    int n_fallback;        /* matrices that took the row fallback */
    int n_missing_imatrix; /* matrices with an importance-taking type but no imatrix entry */
} quant_plan;

/* Plan every tensor of g under recipe r; im may be NULL. Fails on a tensor
 * brisk cannot read, an imatrix entry of the wrong width, or bad names. */
brisk_status quant_plan_build(quant_plan *p, const brisk_gguf *g, const quant_recipe *r, const imatrix *im,
                              brisk_error *err);
void quant_plan_free(quant_plan *p);
/* Is tensor i a matrix the plan may change (not a norm or bias)? */
bool quant_plan_is_matrix(const quant_plan *p, int i);
/* Bytes of the output tensors; *n_matrix_params gets the matrices' element count. */
uint64_t quant_plan_bytes(const quant_plan *p, uint64_t *matrix_bytes, uint64_t *n_matrix_params);
/* One line per output type (count, bytes) and the totals. */
void quant_plan_summary(const quant_plan *p, FILE *out);

#endif
