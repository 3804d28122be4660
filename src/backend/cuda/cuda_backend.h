/* The CUDA backend's C interface. Implemented in .cu files; callable from C.
 *
 * Conventions
 *  - Device memory is plain cudaMalloc memory (never managed memory). Every
 *    allocation goes through brisk_cuda_alloc, whose error says how many bytes
 *    were needed and how many were free.
 *  - Pointers named d_* are device pointers. `stream` is a cudaStream_t passed
 *    as void * (NULL = the legacy default stream), so this header stays C.
 *  - Kernel launchers only enqueue work: they check the launch, not the result
 *    (the caller synchronizes). They take no host-side locks and allocate
 *    nothing, so a decode step made of them can be captured in a CUDA graph.
 *  - Shapes in comments are [rows, cols], row-major, cols contiguous.
 *  - Activations are f32, except the inputs of matrix products, which are f16
 *    (rmsnorm and the gated activations can write them directly). */
#ifndef BRISK_CUDA_BACKEND_H
#define BRISK_CUDA_BACKEND_H

#include "brisk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- devices and memory ---------------------------------------------------- */

/* Number of usable CUDA devices (0 when there is no driver or no GPU). */
int brisk_cuda_device_count(void);

/* "NVIDIA H100 80GB HBM3, 79.1 GiB, sm_90, 132 SMs" into buf. */
brisk_status brisk_cuda_device_describe(int device, char *buf, size_t buf_size, brisk_error *err);

/* cudaMalloc of `bytes` on the current device. On failure: BRISK_ERR_NOMEM and
 * "CUDA: cannot allocate <what>: needed N MiB, M MiB free of T MiB". */
brisk_status brisk_cuda_alloc(void **d_ptr, size_t bytes, const char *what, brisk_error *err);
void brisk_cuda_free(void *d_ptr);

/* Device-to-device copy bandwidth in GB/s, bytes read + written (the figure
 * decode speed is compared with): cudaMemcpy between two buffers of `bytes`
 * (1 GiB is what brisk bench uses), the median of 9 timed runs. */
brisk_status brisk_cuda_copy_bandwidth(size_t bytes, double *gbps, brisk_error *err);

/* Blocking copies and a device synchronize, with errors as brisk errors. */
brisk_status brisk_cuda_upload(void *d_dst, const void *src, size_t bytes, brisk_error *err);
brisk_status brisk_cuda_download(void *dst, const void *d_src, size_t bytes, brisk_error *err);
brisk_status brisk_cuda_sync(brisk_error *err);
/* Device-to-device copy (blocking). */
brisk_status brisk_cuda_copy(void *d_dst, const void *d_src, size_t bytes, brisk_error *err);
/* Streams (non-blocking with respect to the legacy stream), copies queued on
 * them, and CUDA graphs captured from them: capture_begin, enqueue work,
 * capture_end (keep = false drops it, e.g. after an error while capturing). */
brisk_status brisk_cuda_stream_create(void **stream, brisk_error *err);
void brisk_cuda_stream_free(void *stream);
brisk_status brisk_cuda_stream_sync(void *stream, brisk_error *err);
brisk_status brisk_cuda_upload_async(void *d_dst, const void *src, size_t bytes, void *stream, brisk_error *err);
brisk_status brisk_cuda_download_async(void *dst, const void *d_src, size_t bytes, void *stream, brisk_error *err);
brisk_status brisk_cuda_capture_begin(void *stream, brisk_error *err);
brisk_status brisk_cuda_capture_end(void *stream, bool keep, void **graph_exec, brisk_error *err);
brisk_status brisk_cuda_graph_launch(void *graph_exec, void *stream, brisk_error *err);
void brisk_cuda_graph_free(void *graph_exec);
/* Page-locked host memory (copies from/to it are truly asynchronous). */
brisk_status brisk_cuda_host_alloc(void **p, size_t bytes, const char *what, brisk_error *err);
void brisk_cuda_host_free(void *p);
/* Free and total memory of the current device. */
brisk_status brisk_cuda_mem_info(size_t *free_bytes, size_t *total_bytes, brisk_error *err);

/* ---- weights ----------------------------------------------------------------- */

/* A weight matrix on the device: n_out rows of n_in elements (GGUF ne =
 * [n_in, n_out]), repacked at upload into the layout the kernels stream
 * fastest (same bytes per element as the file; cuda_weights.cu documents each):
 *   F16  : unchanged, [n_out, n_in] halves.
 *   Q8_0 : quants [n_out, n_in] int8, then scales [n_out, n_in/32] f16.
 *   Q4_K : unchanged 144-byte super-blocks (already 16-byte aligned: 16-byte
 *          header d, dmin, scales[12]; then qs[128]).
 *   Q6_K : [n_out, n_in/256] 208-byte blocks ql[128] qh[64] scales[16], then
 *          d [n_out, n_in/256] f16 (the 210-byte file block is not 16-byte
 *          aligned; split this way every 16-byte load is aligned). */
typedef struct brisk_cuda_weight {
    brisk_type type;
    int64_t n_in, n_out;
    void *d_data;   /* device memory, owned */
    size_t bytes;   /* of d_data (= the file's bytes for the matrix) */
} brisk_cuda_weight;

/* True for the types brisk_cuda_weight_upload takes (F16, Q8_0, Q4_K, Q6_K). */
bool brisk_cuda_weight_type_supported(brisk_type type);

/* Upload a matrix stored as in a GGUF file (n_out rows of brisk_type_row_bytes(
 * type, n_in) bytes) and repack it. n_in must be a multiple of 256 for the
 * K-quants, of 32 for Q8_0 and of 8 for F16; n_out a multiple of 16. */
brisk_status brisk_cuda_weight_upload(brisk_cuda_weight *w, brisk_type type, int64_t n_in,
                                      int64_t n_out, const void *host_data, brisk_error *err);
void brisk_cuda_weight_free(brisk_cuda_weight *w);

/* ---- matrix products -------------------------------------------------------- */

/* Decode GEMV, 1..8 columns: d_y[c, :] = W d_x[c, :] for c < n_cols.
 * d_x: [n_cols, n_in] f16; d_y: [n_cols, n_out] f32. Tensor-core kernel that
 * streams the weights once for all columns (1 column of F16: brisk_cuda_gemv_f16). */
#define BRISK_CUDA_GEMV_MAX_COLS 8
brisk_status brisk_cuda_gemv(const brisk_cuda_weight *w, const void *d_x, float *d_y, int n_cols,
                             void *stream, brisk_error *err);
/* The same with a chosen kernel configuration, for the bench: 0 = the default,
 * 1..4 = the tensor-core kernel's (warps per block, groups in flight) (4,2)
 * (4,4) (8,2) (8,4) (also for 1 column of F16). */
brisk_status brisk_cuda_gemv_variant(const brisk_cuda_weight *w, const void *d_x, float *d_y,
                                     int n_cols, int variant, void *stream, brisk_error *err);

/* Decode GEMV of one column for F16 weights on the CUDA cores (cuda_gemv_f16.cu;
 * brisk_cuda_gemv takes it for 1 column of F16): each warp streams whole rows
 * with 16-byte loads past L1, f32 products and sums. d_x16: [n_in] f16. Modes:
 *   STORE: up to 3 matrices of one n_in that read the same x (q/k/v) in one
 *          launch: d_ys[m] = ws[m] x;
 *   ADD:   one matrix: d_ys[0] += W x (the residual add of a 1-token pass);
 *   ACT:   ws = {gate, up} (same shape): d_out16 = f16(act(gate x) * (up x))
 *          (GELU-tanh when gelu, else SiLU; = brisk_cuda_act_mul of the two
 *          products), the down matrix's input; d_ys unused;
 *   ROPE:  q/k/v of one token as STORE, then rope's fields (role, cache, pos,
 *          rows, inv_freq, head_dim, n_rot, mscale: as brisk_cuda_gemv_q8_fused's
 *          ROPE) rotate q into d_ys and k, v into their f16 caches
 *          (= STORE + brisk_cuda_rope_kv_store, adjacent pairs only).
 * Every matrix F16 with n_in a multiple of 8 and n_out of 16; rope: NULL
 * unless ROPE. */
typedef enum {
    BRISK_CUDA_F16_STORE,
    BRISK_CUDA_F16_ADD,
    BRISK_CUDA_F16_ACT,
    BRISK_CUDA_F16_ROPE,
} brisk_cuda_f16_mode;
struct brisk_cuda_q8_fusion;
brisk_status brisk_cuda_gemv_f16(const brisk_cuda_weight *const *ws, float *const *d_ys, int n, const void *d_x16,
                                 brisk_cuda_f16_mode mode, bool gelu, void *d_out16,
                                 const struct brisk_cuda_q8_fusion *rope, void *stream, brisk_error *err);
/* One matrix (STORE) with configuration `variant` (0 = the default, up to
 * brisk_cuda_gemv_f16_variants() - 1; cuda_gemv_f16.cu lists them), for the
 * bench. BRISK_CUDA_F16_VARIANT=v makes v every launch's configuration. */
brisk_status brisk_cuda_gemv_f16_variant(const brisk_cuda_weight *w, const void *d_x16, float *d_y, int variant,
                                         void *stream, brisk_error *err);
int brisk_cuda_gemv_f16_variants(void);
/* False when BRISK_CUDA_F16_GEMV=0: brisk_cuda_gemv then runs 1 column of F16
 * on the tensor-core kernel (the figures before this kernel, for the bench). */
bool brisk_cuda_gemv_f16_enabled(void);

/* Decode GEMV of one column on int8 activations (cuda_gemv_q8.cu; dp4a): the
 * faster path for Q4_K, Q6_K and Q8_0 weights (n_in a multiple of 64).
 * x is first quantized from f16 by brisk_cuda_quantize_x8 into the "xq8"
 * format (per column brisk_cuda_xq8_bytes(n_in) bytes: int8 planes hi[n_in]
 * and lo[n_in], then per 32 elements {f32 d, i32 sums of 256 hi + lo over
 * each half, pad}; x ~= d * (256 hi + lo), ~16 bits; cuda_gemv_q8.cu has the
 * exact rule); one quantized x serves every matrix that reads it. The result
 * is the f32 dot of the dequantized weights with the dequantized x. */
size_t brisk_cuda_xq8_bytes(int64_t n_in);
bool brisk_cuda_gemv_q8_supported(const brisk_cuda_weight *w);
brisk_status brisk_cuda_quantize_x8(const void *d_x16, void *d_xq, int n_cols, int64_t n_in, void *stream,
                                    brisk_error *err);
brisk_status brisk_cuda_gemv_q8(const brisk_cuda_weight *w, const void *d_xq, float *d_y, void *stream,
                                brisk_error *err);
/* The same adding to d_y: d_y += W x (the residual add of a 1-token pass in
 * the GEMV's epilogue). */
brisk_status brisk_cuda_gemv_q8_add(const brisk_cuda_weight *w, const void *d_xq, float *d_y, void *stream,
                                    brisk_error *err);
/* Up to 3 matrices of one type and n_in that read the same x (q/k/v, gate/up)
 * in one launch: d_ys[m] = ws[m] x. */
brisk_status brisk_cuda_gemv_q8_group(const brisk_cuda_weight *const *ws, float *const *d_ys, int n, const void *d_xq,
                                      void *stream, brisk_error *err);
/* Fused producers of a 1-token pass's matrix input (f16 in d_out16 and xq8):
 *  f32_to_xq: d_x f32 [n_in] (with d_up: act(d_x) * d_up, as act_mul);
 *  rmsnorm_xq: one row; with d_add, d_x += d_add first (written back);
 *    width a multiple of 64 up to 12288 (brisk_cuda_rmsnorm_xq_supported);
 *    without d_add and width a multiple of 512 spread over width / 512 blocks.
 * The f16 values equal those of act_mul / f32_to_f16 / rmsnorm, and xq8 is
 * their brisk_cuda_quantize_x8 encoding. */
brisk_status brisk_cuda_f32_to_xq(const float *d_x, const float *d_up, bool gelu, void *d_out16, void *d_xq,
                                  int64_t n_in, void *stream, brisk_error *err);
bool brisk_cuda_rmsnorm_xq_supported(int width);
brisk_status brisk_cuda_rmsnorm_xq(float *d_x, const float *d_add, const float *d_w, void *d_out16, void *d_xq,
                                   int width, float eps, void *stream, brisk_error *err);
/* The pre-norm encoding (cuda_xq.cuh): xq8 of x * w for an RMSNorm's input x
 * and weight w, each 32-block's sum of x^2 in its pad word. A GEMV reading it
 * with in_norm multiplies its dots by rsqrt(sum / n_in + eps): the result of
 * rmsnorm_xq + gemv_q8 without the f16 rounding of the normalized row (no f16
 * copy is written: every reader must be an int8 GEMV). With d_add, d_x +=
 * d_add first (written back). width a multiple of 64. */
brisk_status brisk_cuda_prenorm_xq(float *d_x, const float *d_add, const float *d_w, void *d_xq, int width,
                                   void *stream, brisk_error *err);

/* Work fused into a 1-token int8 GEMV's launch (brisk_cuda_gemv_q8_fused), so
 * that a decode step has fewer kernel boundaries:
 *   in_norm: d_xq is pre-norm encoded (above); with any mode.
 *   ADD_NORM: one matrix: d_ys[0] += W x (the residual), then out_xq = the
 *     pre-norm encoding of the new d_ys[0] with norm_w (the next RMSNorm).
 *   ACT: ws = {gate, up} (same shape): act_out = f16-rounded act(gate x) *
 *     (up x) (f32), out16 its f16 copy, out_xq its xq8 (= brisk_cuda_f32_to_xq).
 *   ROPE: q/k/v of one token: role[m] 0 = q: rotated, f32 into d_ys[m]; 1 = k:
 *     rotated, f16 into cache[m] row rows[0]; 2 = v: f16 into cache[m] row
 *     rows[0] (= brisk_cuda_rope_kv_store, adjacent pairs only: not NeoX).
 *     kv_q8: the caches are Q8 of kv_rows rows (cuda_kv.cuh): k and v also
 *     go to d_ys[m] (f32 scratch) and each 32 of them are quantized by the
 *     last warp to finish them, counted in `counters` as ACT's.
 * ADD_NORM: a block of 32 / R warps (R rows each) takes 32 rows and encodes them itself. ACT
 * encodes each 32 outputs in the last warp to finish them, counted in
 * `counters` (brisk_cuda_q8_counters_bytes(rows; ROPE: of all the matrices),
 * zeroed once before first use; every launch leaves them zero). Rows: a multiple of 32 (ADD_NORM, ACT).
 * The matrices of one launch: one n_in; one weight type (ADD_NORM, ACT) or
 * two runs of types (none, ROPE: e.g. q, k Q4_K then v Q6_K). */
typedef enum {
    BRISK_CUDA_FUSE_NONE,
    BRISK_CUDA_FUSE_ADD_NORM,
    BRISK_CUDA_FUSE_ACT,
    BRISK_CUDA_FUSE_ROPE,
} brisk_cuda_fuse_mode;
typedef struct brisk_cuda_q8_fusion {
    brisk_cuda_fuse_mode mode;
    bool in_norm;
    float in_eps;
    const float *norm_w;   /* ADD_NORM */
    float *act_out;        /* ACT */
    void *out16;           /* ACT */
    void *out_xq;          /* ADD_NORM, ACT */
    void *counters;        /* ACT; ROPE with kv_q8 */
    bool gelu;             /* ACT: GELU-tanh, else SiLU */
    int role[3];           /* ROPE */
    void *cache[3];        /* ROPE: f16 [kv rows, n_out of the matrix], or Q8 (kv_q8) */
    bool kv_q8;            /* ROPE */
    int64_t kv_rows;       /* ROPE, kv_q8: the caches' rows */
    const int32_t *pos, *rows;
    const float *inv_freq; /* as brisk_cuda_rope */
    int head_dim, n_rot;
    float mscale;
} brisk_cuda_q8_fusion;
size_t brisk_cuda_q8_counters_bytes(int64_t n_out);
brisk_status brisk_cuda_gemv_q8_fused(const brisk_cuda_weight *const *ws, float *const *d_ys, int n, const void *d_xq,
                                      const brisk_cuda_q8_fusion *fusion, void *stream, brisk_error *err);
/* variant for the bench: 0 = the default; 1..8 = (rows per warp, units in flight per lane) =
 * (1, 1), (2, 1), (1, 2), (2, 2), (4, 1), (4, 2), then with registers capped so that 6 / 4 blocks
 * of 4 warps fit on an SM: (2, 1), (4, 1). */
#define BRISK_CUDA_GEMV_Q8_VARIANTS 8
brisk_status brisk_cuda_gemv_q8_variant(const brisk_cuda_weight *w, const void *d_xq, float *d_y, int variant,
                                        void *stream, brisk_error *err);

/* Prompt GEMM: d_y[t, :] = W d_x[t, :] for t < n_tokens (any count).
 * d_x: [n_tokens, n_in] f16; d_y: [n_tokens, n_out] f32. W is dequantized to
 * f16 in slices of rows into d_scratch (brisk_cuda_gemm_scratch_bytes), each
 * slice multiplied by cuBLAS on the tensor cores (f32 accumulation). */
typedef struct brisk_cuda_blas brisk_cuda_blas; /* a cuBLAS handle bound to a stream */
brisk_status brisk_cuda_blas_create(brisk_cuda_blas **blas, void *stream, brisk_error *err);
void brisk_cuda_blas_free(brisk_cuda_blas *blas);
size_t brisk_cuda_gemm_scratch_bytes(const brisk_cuda_weight *w);
brisk_status brisk_cuda_gemm(brisk_cuda_blas *blas, const brisk_cuda_weight *w, const void *d_x,
                             float *d_y, int n_tokens, void *d_scratch, brisk_error *err);

/* W as f16 [n_out, n_in] into d_out (also what the GEMM uses per slice). */
brisk_status brisk_cuda_weight_to_f16(const brisk_cuda_weight *w, int64_t row0, int64_t n_rows,
                                      void *d_out, void *stream, brisk_error *err);

/* d_out[t, :] = scale * row d_tokens[t] of W (the token embedding), f32
 * [n_tokens, n_in]; values as weight_to_f16 decodes them (f16 precision). */
brisk_status brisk_cuda_embed(const brisk_cuda_weight *w, const int32_t *d_tokens, int n_tokens, float scale,
                              float *d_out, void *stream, brisk_error *err);

/* ---- element-wise and normalization ops ------------------------------------------- */

/* Per row of d_x [n_rows, width]: x / rms(x) * w (d_w [width] or NULL).
 * Writes d_out (f32) and/or d_out16 (f16); either may be NULL; d_out may be d_x. */
brisk_status brisk_cuda_rmsnorm(const float *d_x, const float *d_w, float *d_out, void *d_out16,
                                int n_rows, int width, float eps, void *stream, brisk_error *err);

/* RoPE in place on d_x [n_tokens, n_heads, head_dim]: the first n_rot dims of
 * each head rotate by d_pos[t] * d_inv_freq[i] (i < n_rot/2, the frequencies of
 * model/rope.c's rope_table with its scaling folded in), cos and sin times
 * mscale. neox: rotate (x_i, x_{i+n_rot/2}); else adjacent pairs. */
brisk_status brisk_cuda_rope(float *d_x, const int32_t *d_pos, const float *d_inv_freq, int n_tokens,
                             int n_heads, int head_dim, int n_rot, bool neox, float mscale,
                             void *stream, brisk_error *err);

/* ---- the KV cache -------------------------------------------------------------------- */

/* Element type of a layer's device KV cache of `rows` rows of `width`
 * elements (one row per cache slot: all KV heads, head-contiguous):
 *   F16: [rows, width] halves.
 *   Q8 : [rows, width] int8 q, then [rows, width / 32] f16 scales d, one per
 *        32 consecutive elements of a row (x = q * d; q8_0's rule: d =
 *        f16(max |x| / 127), q = round-to-even(x / d) clamped to +-127).
 *        width and the head dims must be multiples of 32; ~53% of F16's bytes. */
typedef enum brisk_cuda_kv_type { BRISK_CUDA_KV_F16 = 0, BRISK_CUDA_KV_Q8 = 1 } brisk_cuda_kv_type;

size_t brisk_cuda_kv_bytes(brisk_cuda_kv_type type, int64_t rows, int64_t width);
/* Rows src_row .. + n_rows to dst_row .. of a cache (copy-on-write of a
 * block; blocking). */
brisk_status brisk_cuda_kv_copy_rows(void *d_cache, brisk_cuda_kv_type type, int64_t rows, int64_t width,
                                     int64_t dst_row, int64_t src_row, int64_t n_rows, brisk_error *err);

/* The rope of q and k and the KV cache store of one layer in one launch:
 * brisk_cuda_rope on d_q [n_tokens, n_head, head_dim] and d_k [n_tokens,
 * n_head_kv, head_dim], then brisk_cuda_kv_store of k and of d_v [n_tokens,
 * n_head_kv, head_dim_v] (rows d_rows) into the caches of kv_type and
 * cache_rows rows. Q8: d_k is left as it was (only the cache holds the
 * rotated k). */
brisk_status brisk_cuda_rope_kv_store(float *d_q, float *d_k, const float *d_v, const int32_t *d_pos,
                                      const float *d_inv_freq, int n_tokens, int n_head, int n_head_kv, int head_dim,
                                      int head_dim_v, int n_rot, bool neox, float mscale, void *d_kcache,
                                      void *d_vcache, brisk_cuda_kv_type kv_type, int64_t cache_rows,
                                      const int32_t *d_rows, void *stream, brisk_error *err);

/* d_out16 = act(gate) * up over n elements (f16 out: the input of the down
 * projection). gelu: GELU with the tanh approximation; else SiLU. */
brisk_status brisk_cuda_act_mul(const float *d_gate, const float *d_up, void *d_out16, int64_t n,
                                bool gelu, void *stream, brisk_error *err);

/* d_x += d_y over n elements. */
brisk_status brisk_cuda_add(float *d_x, const float *d_y, int64_t n, void *stream, brisk_error *err);

/* f32 -> f16 (round to nearest even) over n elements. */
brisk_status brisk_cuda_f32_to_f16(const float *d_x, void *d_out16, int64_t n, void *stream,
                                   brisk_error *err);

/* d_y[r, :] += d_b over n_rows rows of width elements. */
brisk_status brisk_cuda_add_bias(float *d_y, const float *d_b, int n_rows, int width, void *stream,
                                 brisk_error *err);

/* Row r of d_src [n_rows, width] f32 to row d_rows[r] of d_cache (a cache of
 * type and cache_rows rows of width elements). */
brisk_status brisk_cuda_kv_store(const float *d_src, void *d_cache, brisk_cuda_kv_type type, int64_t cache_rows,
                                 const int32_t *d_rows, int n_rows, int width, void *stream, brisk_error *err);

/* d_dst[r, :] = d_src[d_rows[r], :] for r < n_rows (f32, width elements). */
brisk_status brisk_cuda_gather_rows(const float *d_src, const int32_t *d_rows, float *d_dst, int n_rows,
                                    int width, void *stream, brisk_error *err);

/* ---- attention over the KV cache ---------------------------------------------- */

/* Softmax attention for n_q query tokens of one sequence, split over the
 * context (flash-decoding) and over query tokens (prefill).
 *   d_q   [n_q, n_head, head_dim] f32 (after RoPE)
 *   d_k   [n_ctx, n_head_kv, head_dim], d_v [n_ctx, n_head_kv, head_dim_v] of s->kv_type
 *         (Q8: n_ctx = s->kv_rows; the attention reads q * d in f32, or f16(q * d)
 *         on the tensor cores)
 *   d_pos [n_q] int32: query t sees cache rows first..d_pos[t] (causal), with
 *         first = d_pos[t] - window + 1 when window > 0 (sliding), else 0.
 *   d_out [n_q, n_head, head_dim_v] f32
 * Query head h reads KV head h / (n_head / n_head_kv) (GQA). Scores are
 * q.k * scale, then softcap * tanh(s / softcap) when softcap > 0.
 * n_splits: context splits per query (1 for prefill; decode: see
 * brisk_cuda_attention_splits); d_scratch: brisk_cuda_attention_scratch_bytes.
 * Positions are read on the device, so a captured graph replays for any length. */
typedef struct brisk_cuda_attn_shape {
    int n_q, n_head, n_head_kv, head_dim, head_dim_v;
    int window;
    float scale, softcap;
    brisk_cuda_kv_type kv_type; /* of d_k and d_v (F16 when zero-initialized) */
    int64_t kv_rows;            /* Q8: the rows of d_k and d_v (their scales follow them) */
    int long_context;           /* nonzero: contexts of thousands of positions (a Q8 cache on the tensor
                                   cores then goes through the kernel that loads it straight to registers,
                                   faster there than the one staging it through shared memory) */
} brisk_cuda_attn_shape;

int brisk_cuda_attention_splits(const brisk_cuda_attn_shape *s, int max_kv_len);
/* Whether brisk_cuda_attention(_paged) runs on the tensor cores for this
 * shape (head_dim == head_dim_v == 64 or 128: f16 q and probabilities, f32
 * sums, relative error ~1e-4 like the prefill kernel); other shapes run on
 * the CUDA cores in f32 (f16 K/V). */
bool brisk_cuda_attention_tensor_cores(const brisk_cuda_attn_shape *s);
size_t brisk_cuda_attention_scratch_bytes(const brisk_cuda_attn_shape *s, int n_splits);
brisk_status brisk_cuda_attention(const brisk_cuda_attn_shape *s, const float *d_q, const void *d_k,
                                  const void *d_v, const int32_t *d_pos, float *d_out, int n_splits,
                                  void *d_scratch, void *stream, brisk_error *err);
/* The same over a paged cache holding the queries of several sequences: query
 * t's position p is at row d_tables[d_table_off[t] + p / block_size] *
 * block_size + p % block_size of d_k / d_v (the engine's block tables, laid
 * end to end in d_tables). */
brisk_status brisk_cuda_attention_paged(const brisk_cuda_attn_shape *s, const float *d_q, const void *d_k,
                                        const void *d_v, const int32_t *d_pos, const int32_t *d_tables,
                                        const int32_t *d_table_off, int block_size, float *d_out,
                                        int n_splits, void *d_scratch, void *stream, brisk_error *err);

/* The same for one query with n_splits > 1 (brisk_cuda_attention_xq_supported)
 * writing, instead of the f32 output, what brisk_cuda_f32_to_xq makes of it:
 * d_out16 [n_head * head_dim_v] f16 and d_xq its xq8 encoding (the input of
 * the int8 GEMV), from the split merge (one launch fewer). */
bool brisk_cuda_attention_xq_supported(const brisk_cuda_attn_shape *s, int n_splits);
brisk_status brisk_cuda_attention_paged_xq(const brisk_cuda_attn_shape *s, const float *d_q, const void *d_k,
                                           const void *d_v, const int32_t *d_pos, const int32_t *d_tables,
                                           const int32_t *d_table_off, int block_size, void *d_out16, void *d_xq,
                                           int n_splits, void *d_scratch, void *stream, brisk_error *err);

/* Prefill attention on the tensor cores (cuda_attention_prefill.cu; f16 q
 * and probabilities, f32 accumulation): the same function as
 * brisk_cuda_attention_paged for n_q queries of ONE sequence, whose block
 * table is d_table (NULL: row p = position p). Shapes it takes:
 * brisk_cuda_attention_prefill_supported (head_dim and head_dim_v multiples
 * of 16 up to 256, groups <= 8). */
bool brisk_cuda_attention_prefill_supported(const brisk_cuda_attn_shape *s);
brisk_status brisk_cuda_attention_prefill(const brisk_cuda_attn_shape *s, const float *d_q, const void *d_k,
                                          const void *d_v, const int32_t *d_pos, const int32_t *d_table,
                                          int block_size, float *d_out, void *stream, brisk_error *err);

/* ---- tests ---------------------------------------------------------------------- */

/* Dequantize n elements of F16 or Q8_0 (file layout, host buffers) on the GPU
 * to f32; bit-exact with the CPU reference. */
brisk_status brisk_cuda_dequantize(brisk_type type, const void *src, float *dst, int64_t n,
                                   brisk_error *err);

#ifdef __cplusplus
}
#endif

#endif
