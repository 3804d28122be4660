/* The forward pass on a CUDA GPU (partial offload): the first n layers of the
 * model run on the GPU, the rest on the CPU (model/forward.c), with the
 * hidden state copied across once per pass. Weights are uploaded once per
 * engine; the GPU layers' KV cache lives in device memory, paged with the
 * same block tables and physical rows as the host cache (kv_cache.h).
 *
 * Built only with the CUDA backend (BRISK_HAVE_CUDA); without it, asking for
 * GPU layers is an error and "as many as fit" means none. */
#ifndef BRISK_MODEL_FORWARD_CUDA_H
#define BRISK_MODEL_FORWARD_CUDA_H

#include "runtime/engine.h"

/* Device memory automatic placement (-1 layers) leaves free: cuBLAS, the CUDA
 * context and fragmentation (brisk_gpu_info.reserve_bytes tells users). */
#define GPU_RESERVE_BYTES ((uint64_t)768 << 20)

/* Set up e->gpu for `requested` layers (0 = none: e->gpu stays NULL; -1 = as
 * many as fit in free device memory, fewer when an allocation fails; more than
 * the model has = all). Needs e's KV cache and parameters. Errors: no device,
 * a model shape the kernels do not take, or out of device memory (the message
 * says how much was needed and how much was free). */
brisk_status gpu_forward_create(brisk_engine *e, int32_t requested, brisk_error *err);
void gpu_forward_free(gpu_forward *g);
int32_t gpu_forward_n_layers(const gpu_forward *g);

/* Host memory for n floats of the engine's logits: page-locked when g holds
 * the output matrix and n floats are at most a whole pass's logits (its downloads
 * then go straight into it), else (or when that fails) malloc'ed; *pinned
 * says which, for gpu_forward_host_release. g may be NULL. */
float *gpu_forward_host_floats(const gpu_forward *g, size_t n, bool *pinned);
void gpu_forward_host_release(float *p, bool pinned);

/* Run layers [0, n) of batch b on the GPU, starting from e->x (the embedded
 * tokens, host). Afterwards e->x holds the hidden state again when layers
 * remain for the CPU or b wants hidden rows. */
brisk_status gpu_forward_layers(brisk_engine *e, const fwd_batch *b, brisk_error *err);

/* True when every layer and the output matrix are on the GPU: then
 * gpu_forward_logits computes b's logit rows (final norm, output, softcap). */
bool gpu_forward_has_output(const gpu_forward *g);
brisk_status gpu_forward_logits(brisk_engine *e, const fwd_batch *b, brisk_error *err);

/* True when b runs entirely on the GPU (every layer and the output there; b
 * wants the logits of each of its <= 8 tokens and no hidden rows): then
 * gpu_forward_pass does the whole pass, token embedding to logits, as one
 * CUDA graph replay with one upload, one download and one synchronization. */
bool gpu_forward_whole(const gpu_forward *g, const fwd_batch *b);
brisk_status gpu_forward_pass(brisk_engine *e, const fwd_batch *b, brisk_error *err);

#endif
