// Attention over the f16 KV cache, split over the context (flash-decoding).
//
// attn_split: one block per (KV head, context split, query token). It serves
// all the query heads of its KV head (GQA group), so each K and V row is read
// once per group. The split's rows are walked in tiles of TILE positions,
// staged in shared memory with 16-byte loads (all of a tile's loads in
// flight at once), with an online softmax (running max m and sum l per head, accumulators rescaled
// by exp(m_old - m_new)). Scores: one warp per position, each lane holding
// head_dim/32 elements of q for every head of the group, reduced by shuffles.
// Values: each thread owns up to 2 output dims of every head.
// With one split it writes the normalized output; with several it writes
// (m, l, unnormalized output) per split and attn_combine merges them.
#include <cuda_fp16.h>
#include <math.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_pdl.cuh"

namespace {

const int THREADS = 128, WARPS = THREADS / 32;
const int TILE = 32;            // context rows per step (one per lane in the softmax)
const int MAX_GROUP = 8;        // query heads per KV head
const int MAX_PAIRS = 4;        // ceil(head_dim / 64) (head_dim <= 256)
const int MAX_DIMS = 2;         // head_dim_v / THREADS (head_dim_v <= 256)
const int TARGET_BLOCKS = 1056; // about eight blocks per SM on an H100 (a long context's KV streams)
const int MAX_SPLITS = 128;
const int MAX_SPLITS_COMBINE = 1024; // splits a launch takes (attn_combine's weights in shared memory)

struct Shape {
    int n_q, n_head, n_head_kv, head_dim, head_dim_v, window, group, n_splits;
    float scale, softcap;
    // Paged cache: query qi's position p is at row tables[table_off[qi] + p / block_size]
    // * block_size + p % block_size. tables == nullptr: row p.
    const int32_t *tables, *table_off;
    int block_size;
};

__device__ __forceinline__ int64_t cache_row(const Shape &s, const int32_t *table, int p) {
    return table ? (int64_t)table[p / s.block_size] * s.block_size + p % s.block_size : p;
}

// The context rows [start, end) of this block's split for query position pos.
__device__ void split_range(const Shape &s, int pos, int split, int &start, int &end) {
    const int first = s.window > 0 && pos - s.window + 1 > 0 ? pos - s.window + 1 : 0;
    const int n = pos + 1 - first;
    // at least one tile per split: a launch sized for the longest context
    // (fixed split count, so a captured graph serves every length) leaves
    // the splits past the context empty.
    int chunk = (n + s.n_splits - 1) / s.n_splits;
    if (chunk < TILE) chunk = TILE;
    start = first + split * chunk;
    end = start + chunk < pos + 1 ? start + chunk : pos + 1;
}

__global__ void __launch_bounds__(THREADS)
attn_split(Shape s, const float *__restrict__ q, const half *__restrict__ kc,
           const half *__restrict__ vc, const int32_t *__restrict__ pos, float *__restrict__ out,
           float *__restrict__ part) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    const int kvh = blockIdx.x, split = blockIdx.y, qi = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int G = s.group, half_dim = s.head_dim / 2, pairs = (half_dim + 31) / 32;
    __shared__ float p_s[MAX_GROUP][TILE];
    __shared__ float alpha_s[MAX_GROUP], m_s[MAX_GROUP], l_s[MAX_GROUP];
    __shared__ __align__(16) half k_s[TILE * 64 * MAX_PAIRS], v_s[TILE * THREADS * MAX_DIMS];

    int start, end;
    split_range(s, pos[qi], split, start, end);
    const int32_t *table = s.tables ? s.tables + s.table_off[qi] : nullptr;
    if (start >= end && s.n_splits > 1) { // past the context: only (m, l) = (-inf, 0), which attn_combine skips
        if (threadIdx.x < G) {
            const int64_t slot = ((int64_t)qi * s.n_head + kvh * G + threadIdx.x) * s.n_splits + split;
            float *ml = part + (int64_t)s.n_q * s.n_head * s.n_splits * s.head_dim_v + 2 * slot;
            ml[0] = -INFINITY;
            ml[1] = 0.0f;
        }
        return;
    }

    // q of the group's heads, lane's pairs (2 * (lane + 32 i), +1), in registers.
    float2 qr[MAX_GROUP][MAX_PAIRS];
#pragma unroll
    for (int h = 0; h < MAX_GROUP; h++)
#pragma unroll
        for (int i = 0; i < MAX_PAIRS; i++) {
            qr[h][i] = make_float2(0.0f, 0.0f);
            if (h < G && i < pairs && lane + 32 * i < half_dim) {
                const float *qh = q + ((int64_t)qi * s.n_head + (int64_t)kvh * G + h) * s.head_dim;
                qr[h][i] = *reinterpret_cast<const float2 *>(qh + 2 * (lane + 32 * i));
            }
        }
    if (threadIdx.x < MAX_GROUP) {
        m_s[threadIdx.x] = -INFINITY;
        l_s[threadIdx.x] = 0.0f;
    }
    float acc[MAX_GROUP][MAX_DIMS];
#pragma unroll
    for (int h = 0; h < MAX_GROUP; h++)
#pragma unroll
        for (int i = 0; i < MAX_DIMS; i++) acc[h][i] = 0.0f;

    const int64_t k_stride = (int64_t)s.n_head_kv * s.head_dim;
    const int64_t v_stride = (int64_t)s.n_head_kv * s.head_dim_v;
    const int k_vecs = s.head_dim / 8, v_vecs = s.head_dim_v / 8; // 16-byte vectors per row
    for (int t0 = start; t0 < end; t0 += TILE) {
        const int n_t = end - t0 < TILE ? end - t0 : TILE;
        // the tile's K and V rows into shared memory, every load in flight at once
        for (int i = threadIdx.x; i < n_t * k_vecs; i += THREADS) {
            const int row = i / k_vecs, col = i % k_vecs;
            reinterpret_cast<uint4 *>(k_s)[row * k_vecs + col] = __ldg(
                reinterpret_cast<const uint4 *>(kc + cache_row(s, table, t0 + row) * k_stride + (int64_t)kvh * s.head_dim) + col);
        }
        for (int i = threadIdx.x; i < n_t * v_vecs; i += THREADS) {
            const int row = i / v_vecs, col = i % v_vecs;
            reinterpret_cast<uint4 *>(v_s)[row * v_vecs + col] = __ldg(
                reinterpret_cast<const uint4 *>(vc + cache_row(s, table, t0 + row) * v_stride + (int64_t)kvh * s.head_dim_v) + col);
        }
        __syncthreads();
        // scores of rows jj = warp, warp + WARPS, ...
        for (int jj = warp; jj < TILE; jj += WARPS) {
            float sc[MAX_GROUP];
#pragma unroll
            for (int h = 0; h < MAX_GROUP; h++) sc[h] = 0.0f;
            if (jj < n_t) {
                const half2 *kr = reinterpret_cast<const half2 *>(k_s + jj * s.head_dim);
#pragma unroll
                for (int i = 0; i < MAX_PAIRS; i++) {
                    if (i >= pairs || lane + 32 * i >= half_dim) break;
                    const float2 kv = __half22float2(kr[lane + 32 * i]);
#pragma unroll
                    for (int h = 0; h < MAX_GROUP; h++) sc[h] += qr[h][i].x * kv.x + qr[h][i].y * kv.y;
                }
            }
#pragma unroll
            for (int h = 0; h < MAX_GROUP; h++) {
                if (h >= G) break;
                float v = sc[h];
                for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
                if (lane == 0) {
                    v *= s.scale;
                    if (s.softcap > 0.0f) v = s.softcap * tanhf(v / s.softcap);
                    p_s[h][jj] = jj < n_t ? v : -INFINITY;
                }
            }
        }
        __syncthreads();
        // online softmax update, one warp per head, one row per lane
        for (int h = warp; h < G; h += WARPS) {
            const float a = p_s[h][lane];
            float mx = a;
            for (int o = 16; o > 0; o /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
            const float m_old = m_s[h], m_new = fmaxf(m_old, mx);
            const float pa = expf(a - m_new);
            p_s[h][lane] = pa;
            float sum = pa;
            for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            if (lane == 0) {
                const float alpha = expf(m_old - m_new); // 0 on the first tile
                alpha_s[h] = alpha;
                l_s[h] = l_s[h] * alpha + sum;
                m_s[h] = m_new;
            }
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < MAX_DIMS; i++) {
            const int d = threadIdx.x + THREADS * i;
            if (d >= s.head_dim_v) break;
#pragma unroll
            for (int h = 0; h < MAX_GROUP; h++)
                if (h < G) acc[h][i] *= alpha_s[h];
            for (int jj = 0; jj < n_t; jj++) {
                const float vv = __half2float(v_s[jj * s.head_dim_v + d]);
#pragma unroll
                for (int h = 0; h < MAX_GROUP; h++)
                    if (h < G) acc[h][i] += p_s[h][jj] * vv;
            }
        }
        __syncthreads(); // the tile buffers, p_s and alpha_s are rewritten by the next tile
    }
    __syncthreads(); // m_s and l_s, also when the split is empty

#pragma unroll
    for (int h = 0; h < MAX_GROUP; h++) {
        if (h >= G) break;
        const int head = kvh * G + h;
        const int64_t qh = (int64_t)qi * s.n_head + head;
        if (s.n_splits == 1) {
            const float inv = 1.0f / l_s[h];
#pragma unroll
            for (int i = 0; i < MAX_DIMS; i++) {
                const int d = threadIdx.x + THREADS * i;
                if (d < s.head_dim_v) out[qh * s.head_dim_v + d] = acc[h][i] * inv;
            }
        } else {
            const int64_t slot = qh * s.n_splits + split;
            float *po = part + slot * s.head_dim_v;
#pragma unroll
            for (int i = 0; i < MAX_DIMS; i++) {
                const int d = threadIdx.x + THREADS * i;
                if (d < s.head_dim_v) po[d] = acc[h][i];
            }
            if (threadIdx.x == 0) {
                float *ml = part + (int64_t)s.n_q * s.n_head * s.n_splits * s.head_dim_v + 2 * slot;
                ml[0] = m_s[h]; // -inf and 0 for an empty split
                ml[1] = l_s[h];
            }
        }
    }
}

// One block per (query head, query token): merge the splits' partial results.
// The split weights exp(m_k - M) go to shared memory; then warp w adds splits
// w, w + WARPS, ... (lane: 4 dims per 128, loads of several splits in flight)
// and the warps' sums meet in shared memory. Empty splits (m = -inf) are
// skipped: they wrote no output.
__global__ void __launch_bounds__(THREADS) attn_combine(Shape s, const float *__restrict__ part, float *__restrict__ out) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    const int head = blockIdx.x, qi = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t qh = (int64_t)qi * s.n_head + head;
    const float *ml = part + (int64_t)s.n_q * s.n_head * s.n_splits * s.head_dim_v + 2 * qh * s.n_splits;
    __shared__ float wgt[MAX_SPLITS_COMBINE];
    __shared__ float red[WARPS][THREADS * MAX_DIMS];
    __shared__ float m_red[WARPS], l_red[WARPS];
    float M = -INFINITY;
    for (int k = threadIdx.x; k < s.n_splits; k += THREADS) M = fmaxf(M, ml[2 * k]);
    for (int o = 16; o > 0; o /= 2) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
    if (lane == 0) m_red[warp] = M;
    __syncthreads();
    M = m_red[0];
    for (int i = 1; i < WARPS; i++) M = fmaxf(M, m_red[i]);
    float L = 0.0f;
    for (int k = threadIdx.x; k < s.n_splits; k += THREADS) {
        const float mk = ml[2 * k];
        const float wk = mk == -INFINITY ? 0.0f : expf(mk - M);
        wgt[k] = wk;
        L += ml[2 * k + 1] * wk;
    }
    for (int o = 16; o > 0; o /= 2) L += __shfl_xor_sync(0xffffffffu, L, o);
    if (lane == 0) l_red[warp] = L;
    __syncthreads();
    L = 0.0f;
    for (int i = 0; i < WARPS; i++) L += l_red[i];
    const float inv = 1.0f / L;
    for (int d0 = 0; d0 < s.head_dim_v; d0 += 128) {
        const int d = d0 + 4 * lane;
        float4 acc = make_float4(0, 0, 0, 0);
        if (d < s.head_dim_v) {
#pragma unroll 4
            for (int k = warp; k < s.n_splits; k += WARPS) {
                const float wk = wgt[k];
                if (wk == 0.0f) continue;
                const float4 p = *reinterpret_cast<const float4 *>(part + (qh * s.n_splits + k) * s.head_dim_v + d);
                acc.x += wk * p.x, acc.y += wk * p.y, acc.z += wk * p.z, acc.w += wk * p.w;
            }
            red[warp][d] = acc.x, red[warp][d + 1] = acc.y, red[warp][d + 2] = acc.z, red[warp][d + 3] = acc.w;
        }
    }
    __syncthreads();
    for (int d = threadIdx.x; d < s.head_dim_v; d += THREADS) {
        float o = 0.0f;
        for (int i = 0; i < WARPS; i++) o += red[i][d];
        out[qh * s.head_dim_v + d] = o * inv;
    }
}

} // namespace

extern "C" int brisk_cuda_attention_splits(const brisk_cuda_attn_shape *s, int max_kv_len) {
    const int blocks = s->n_head_kv * (s->n_q > 0 ? s->n_q : 1);
    int splits = (TARGET_BLOCKS + blocks - 1) / blocks;
    const int by_len = (max_kv_len + TILE - 1) / TILE; // at least one tile per split
    if (splits > by_len) splits = by_len;
    if (splits > MAX_SPLITS) splits = MAX_SPLITS;
    return splits < 1 ? 1 : splits;
}

extern "C" size_t brisk_cuda_attention_scratch_bytes(const brisk_cuda_attn_shape *s, int n_splits) {
    if (n_splits <= 1) return 0;
    return (size_t)s->n_q * s->n_head * n_splits * (s->head_dim_v + 2) * sizeof(float);
}

extern "C" brisk_status brisk_cuda_attention(const brisk_cuda_attn_shape *s, const float *d_q,
                                             const void *d_k, const void *d_v, const int32_t *d_pos,
                                             float *d_out, int n_splits, void *d_scratch,
                                             void *stream, brisk_error *err) {
    return brisk_cuda_attention_paged(s, d_q, d_k, d_v, d_pos, nullptr, nullptr, 0, d_out, n_splits,
                                      d_scratch, stream, err);
}

extern "C" brisk_status brisk_cuda_attention_paged(const brisk_cuda_attn_shape *s, const float *d_q,
                                                   const void *d_k, const void *d_v,
                                                   const int32_t *d_pos, const int32_t *d_tables,
                                                   const int32_t *d_table_off, int block_size,
                                                   float *d_out, int n_splits, void *d_scratch,
                                                   void *stream, brisk_error *err) {
    if (d_tables && (block_size <= 0 || !d_table_off))
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA attention: a paged cache needs block_size > 0 and table offsets");
    if (s->n_q < 0 || s->n_head_kv <= 0 || s->n_head % s->n_head_kv ||
        s->n_head / s->n_head_kv > MAX_GROUP || s->head_dim <= 0 || s->head_dim % 8 || s->head_dim > 64 * MAX_PAIRS ||
        s->head_dim_v <= 0 || s->head_dim_v % 8 || s->head_dim_v > THREADS * MAX_DIMS || n_splits < 1 || n_splits > MAX_SPLITS_COMBINE)
        return brisk_fail(err, BRISK_ERR_UNSUPPORTED,
                          "CUDA attention: %d heads / %d KV heads, head_dim %d/%d, %d splits "
                          "(supported: group <= %d, head_dim a multiple of 8 up to %d, "
                          "head_dim_v a multiple of 8 up to %d, 1..%d splits)",
                          s->n_head, s->n_head_kv, s->head_dim, s->head_dim_v, n_splits, MAX_GROUP,
                          64 * MAX_PAIRS, THREADS * MAX_DIMS, MAX_SPLITS_COMBINE);
    if (s->n_q == 0) return BRISK_OK;
    if (n_splits > 1 && !d_scratch)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA attention: %d splits need scratch", n_splits);
    Shape sh = {s->n_q,      s->n_head, s->n_head_kv, s->head_dim, s->head_dim_v,
                s->window,   s->n_head / s->n_head_kv, n_splits, s->scale, s->softcap,
                d_tables,    d_table_off, block_size};
    cudaStream_t st = (cudaStream_t)stream;
    dim3 grid((unsigned)s->n_head_kv, (unsigned)n_splits, (unsigned)s->n_q);
    brisk_cuda::pdl_launch(attn_split, grid, dim3(THREADS), 0, st, sh, d_q, (const half *)d_k, (const half *)d_v, d_pos,
                                         d_out, (float *)d_scratch);
    CUDA_LAUNCHED(err, "attention");
    if (n_splits > 1) {
        brisk_cuda::pdl_launch(attn_combine, dim3((unsigned)s->n_head, (unsigned)s->n_q), dim3(THREADS), 0, st, sh,
                               (const float *)d_scratch, d_out);
        CUDA_LAUNCHED(err, "attention combine");
    }
    return BRISK_OK;
}
