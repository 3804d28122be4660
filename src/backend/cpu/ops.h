/* CPU kernels of the forward pass (generic C; SIMD variants come per ISA).
 * Shapes in comments: [rows, cols], row-major, cols contiguous. */
#ifndef BRISK_CPU_OPS_H
#define BRISK_CPU_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "brisk.h"

/* A weight matrix used in place from the mapped file: n_out rows of n_in
 * elements of `type` (GGUF ne = [n_in, n_out]); optionally also repacked into
 * panels of 16 rows (backend/cpu/kernels.h) for the kernels that read them. */
typedef struct cpu_weight {
    brisk_type type;
    const void *data;
    int64_t n_in, n_out;
    uint64_t row_bytes;
    void *panels;          /* [n_out / 16] panels of panel_bytes, or NULL */
    uint64_t panel_bytes;
    bool panels_owned;     /* made by cpu_weight_make_panels (else in a caller's arena) */
} cpu_weight;

/* Repack w into panels when this CPU's kernels have a panel kernel for its
 * type and it has at least 16 rows (BRISK_PANELS=0 in the environment turns
 * this off), on the threads of tp (or the caller's alone when NULL). Rows
 * past the last full panel stay with the row kernels. drop_source: w->data
 * is a read-only file mapping whose packed pages may be dropped from the
 * process afterwards (they fault back in from the file when read again; on
 * anonymous memory this would zero them). Returns false only when out of
 * memory. */
bool cpu_weight_make_panels(cpu_weight *w, threadpool *tp, bool drop_source);
void cpu_weight_free_panels(cpu_weight *w);
/* The same in two steps, for many weights in one arena: the bytes w's panels
 * need (0: w gets none), then packing them into dst (64-byte aligned). */
uint64_t cpu_weight_panels_bytes(const cpu_weight *w);
void cpu_weight_pack_panels(cpu_weight *w, void *dst, threadpool *tp, bool drop_source);
/* Anonymous memory in 2 MiB-aligned huge pages where the kernel allows. */
void *cpu_huge_alloc(size_t bytes);
void cpu_huge_free(void *p, size_t bytes);

/* y[t, :] = W x[t, :] for t < n_tokens.  x: [n_tokens, n_in], y: [n_tokens, n_out].
 * scratch: n_threads * n_in floats (one dequantized row per thread). */
void cpu_matmul(threadpool *tp, const cpu_weight *w, const float *x, float *y, int n_tokens,
                float *scratch);

/* Work the caller does on its own thread right before a matmul reads x
 * (e.g. the norm that writes x): the other threads, already released, start
 * loading their weights meanwhile instead of waiting for the job. */
typedef struct cpu_prologue {
    void (*fn)(void *arg);
    void *arg;
} cpu_prologue;

/* y[i][t, :] = W_i x[t, :] for n_w (1..CPU_MATMUL_MAX_WEIGHTS) weights of the
 * same n_in (e.g. attention q, k, v): the activations are converted once and
 * all the weights are one job for the threads. `before` (NULL: none) runs
 * first, on the caller's thread. */
#define CPU_MATMUL_MAX_WEIGHTS 4
void cpu_matmul_n(threadpool *tp, int n_w, const cpu_weight *const *w, const float *x, float *const *y, int n_tokens,
                  float *scratch, const cpu_prologue *before);

/* One row of W (e.g. an embedding) as f32: out[n_in]. */
void cpu_weight_row(const cpu_weight *w, int64_t row, float *out);

/* out = x / rms(x) * w over n elements (w may be NULL for no scale). */
void cpu_rmsnorm(const float *x, const float *w, float *out, int64_t n, float eps);

float cpu_dot(const float *a, const float *b, int64_t n);

/* Activations on n elements: out = act(gate) * up. */
void cpu_silu_mul(const float *gate, const float *up, float *out, int64_t n);
void cpu_gelu_tanh_mul(const float *gate, const float *up, float *out, int64_t n);

/* Softmax in place over n elements (entries of -INFINITY get probability 0). */
void cpu_softmax(float *x, int64_t n);

#endif
