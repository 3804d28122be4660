// Prefill attention on the tensor cores (wmma m16n16k16, f16 inputs, f32
// accumulation), flash-attention style: one block per (KV head, 16 query
// tokens); warp w serves query head kvh * G + w of the GQA group for the 16
// tokens. Per tile of 64 context rows (K and V staged in shared memory from
// the paged cache): S = Q K^T (16 x 64 per warp), then per row the online
// softmax (scale, softcap, causal and sliding-window masks) rescales the
// warp's O (16 x head_dim_v, f32 in shared memory) and O += P V with P in
// f16. The queries of one launch belong to one sequence (one block table).
#include <cuda_fp16.h>
#include <math.h>
#include <mma.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kv.cuh"

using namespace nvcuda;

namespace {

const int QT = 16;      // query tokens per block
const int KT = 64;      // context rows per tile
const int MAX_G = 8;    // query heads per KV head (warps per block)
const size_t MAX_SMEM = 200 * 1024;
const int LOADS = 8;    // 16-byte loads in flight per thread while staging
const int LDS = KT + 4; // row stride of S (floats) and
const int LDP = KT + 8; // of P (halves): padded against bank conflicts of the row-wise softmax

struct PrefillShape {
    int n_q, n_head, n_head_kv, head_dim, head_dim_v, window, group;
    float scale, softcap;
    const int32_t *table; // nullptr: row p is position p
    int block_size;
};

__host__ __device__ inline size_t smem_bytes(int G, int hd, int hdv) {
    return (size_t)G * QT * hd * 2            // Q (f16), warp-major rows
           + (size_t)KT * hd * 2 + (size_t)KT * hdv * 2 // K, V tile
           + (size_t)G * (QT * LDS * 4 + QT * LDP * 2 + QT * hdv * 4) // per warp: S, P, O
           + (size_t)G * QT * 3 * 4;          // per warp: m, l, alpha
}

// Q8: K/V pieces converted to f16(q * d) as they are staged (cuda_kv.cuh).
template <bool Q8>
__global__ void __launch_bounds__(32 * MAX_G)
attn_prefill(PrefillShape s, const float *__restrict__ q, brisk_cuda::KvRef kc, brisk_cuda::KvRef vc,
             const int32_t *__restrict__ pos, float *__restrict__ out) {
    extern __shared__ __align__(32) unsigned char smem[];
    const int G = s.group, hd = s.head_dim, hdv = s.head_dim_v;
    const int kvh = blockIdx.x, t0 = blockIdx.y * QT;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nthreads = blockDim.x;
    // shared memory: Q [G][16][hd] f16, K [64][hd] f16, V [64][hdv] f16, then
    // per warp S [16][64] f32, P [16][64] f16, O [16][hdv] f32, m/l/alpha [16]
    size_t off = 0;
    half *Qs = reinterpret_cast<half *>(smem + off);
    off += (size_t)G * QT * hd * 2;
    half *Ks = reinterpret_cast<half *>(smem + off);
    off += (size_t)KT * hd * 2;
    half *Vs = reinterpret_cast<half *>(smem + off);
    off += (size_t)KT * hdv * 2;
    float *Sw = reinterpret_cast<float *>(smem + off) + (size_t)warp * QT * LDS;
    off += (size_t)G * QT * LDS * 4;
    half *Pw = reinterpret_cast<half *>(smem + off) + (size_t)warp * QT * LDP;
    off += (size_t)G * QT * LDP * 2;
    float *Ow = reinterpret_cast<float *>(smem + off) + (size_t)warp * QT * hdv;
    off += (size_t)G * QT * hdv * 4;
    float *stats = reinterpret_cast<float *>(smem + off) + (size_t)warp * QT * 3;
    float *m_s = stats, *l_s = stats + QT, *a_s = stats + 2 * QT;
    const int n_valid = s.n_q - t0 < QT ? s.n_q - t0 : QT;

    // Q of the group's heads for the tile's tokens, f16; rows past n_q zero.
    // Loads in batches of LOADS per thread, all in flight before any store.
    const int q_vecs = G * QT * hd / 4;
    for (int base = 0; base < q_vecs; base += LOADS * nthreads) {
        float4 buf[LOADS];
#pragma unroll
        for (int j = 0; j < LOADS; j++) {
            const int i = base + threadIdx.x + j * nthreads, e = 4 * i;
            const int w = e / (QT * hd), t = (e / hd) % QT, d = e % hd;
            buf[j] = make_float4(0, 0, 0, 0);
            if (i < q_vecs && t < n_valid)
                buf[j] = *reinterpret_cast<const float4 *>(q + ((int64_t)(t0 + t) * s.n_head + (int64_t)kvh * G + w) * hd + d);
        }
#pragma unroll
        for (int j = 0; j < LOADS; j++) {
            const int i = base + threadIdx.x + j * nthreads;
            if (i < q_vecs) {
                reinterpret_cast<half2 *>(Qs)[2 * i] = __floats2half2_rn(buf[j].x, buf[j].y);
                reinterpret_cast<half2 *>(Qs)[2 * i + 1] = __floats2half2_rn(buf[j].z, buf[j].w);
            }
        }
    }
    for (int i = lane; i < QT * hdv; i += 32) Ow[i] = 0.0f;
    if (lane < QT) {
        m_s[lane] = -INFINITY;
        l_s[lane] = 0.0f;
    }
    // the tile's context range
    int kmax = 0, kmin = 1 << 30;
    for (int t = 0; t < n_valid; t++) {
        const int p = pos[t0 + t];
        kmax = max(kmax, p);
        kmin = min(kmin, s.window > 0 ? max(0, p - s.window + 1) : 0);
    }
    __syncthreads();

    for (int k0 = kmin; k0 <= kmax; k0 += KT) {
        // K and V rows k0 .. k0 + KT - 1 (past kmax: zeros), pieces of 8
        // elements, LOADS per thread in flight before any store
        const int kvecs = hd / 8, vvecs = hdv / 8, k_total = KT * kvecs, total = KT * (kvecs + vvecs);
        for (int base = 0; base < total; base += LOADS * nthreads) {
            brisk_cuda::KvPiece<Q8> buf[LOADS];
#pragma unroll
            for (int j = 0; j < LOADS; j++) {
                const int i = base + threadIdx.x + j * nthreads;
                const bool is_k = i < k_total;
                const int vi = is_k ? i : i - k_total, vecs = is_k ? kvecs : vvecs;
                const int r = vi / vecs, c = vi % vecs, p = k0 + r;
                buf[j] = brisk_cuda::kv_zero<Q8>();
                if (i < total && p <= kmax) {
                    const int64_t row = s.table ? (int64_t)s.table[p / s.block_size] * s.block_size + p % s.block_size : p;
                    buf[j] = is_k ? brisk_cuda::kv_load<Q8>(kc, row, (int64_t)kvh * hd + 8 * c)
                                  : brisk_cuda::kv_load<Q8>(vc, row, (int64_t)kvh * hdv + 8 * c);
                }
            }
#pragma unroll
            for (int j = 0; j < LOADS; j++) {
                const int i = base + threadIdx.x + j * nthreads;
                if (i < k_total) reinterpret_cast<uint4 *>(Ks)[i] = brisk_cuda::kv_halves(buf[j]);
                else if (i < total) reinterpret_cast<uint4 *>(Vs)[i - k_total] = brisk_cuda::kv_halves(buf[j]);
            }
        }
        __syncthreads();

        // S = Q K^T for this warp's head: [16 x 64]
        for (int nt = 0; nt < KT / 16; nt++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::fill_fragment(acc, 0.0f);
            for (int kk = 0; kk < hd; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> b;
                wmma::load_matrix_sync(a, Qs + (size_t)warp * QT * hd + kk, hd);
                wmma::load_matrix_sync(b, Ks + (size_t)nt * 16 * hd + kk, hd);
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(Sw + nt * 16, acc, LDS, wmma::mem_row_major);
        }
        __syncwarp();

        // online softmax: lanes 2r, 2r + 1 take row r, 32 columns each
        {
            const int r = lane / 2, c0 = (lane % 2) * 32;
            const bool row_ok = r < n_valid;
            const int p_q = row_ok ? pos[t0 + r] : -1;
            const int first = s.window > 0 ? p_q - s.window + 1 : 0;
            float mx = -INFINITY;
            for (int j = 0; j < 32; j++) {
                const int p = k0 + c0 + j;
                float v = Sw[r * LDS + c0 + j] * s.scale;
                if (s.softcap > 0.0f) v = s.softcap * tanhf(v / s.softcap);
                if (!row_ok || p > p_q || p < first) v = -INFINITY;
                Sw[r * LDS + c0 + j] = v;
                mx = fmaxf(mx, v);
            }
            mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
            const float m_old = m_s[r], m_new = fmaxf(m_old, mx);
            float sum = 0.0f;
            for (int j = 0; j < 32; j++) {
                const float v = Sw[r * LDS + c0 + j];
                const float pj = v == -INFINITY ? 0.0f : __expf(v - m_new);
                Pw[r * LDP + c0 + j] = __float2half_rn(pj);
                sum += pj;
            }
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            const float alpha = m_new == -INFINITY ? 1.0f : __expf(m_old - m_new); // 0 on the first real tile
            __syncwarp();
            if (lane % 2 == 0) {
                l_s[r] = l_s[r] * alpha + sum;
                m_s[r] = m_new;
                a_s[r] = alpha;
            }
            __syncwarp();
            float4 *o4 = reinterpret_cast<float4 *>(Ow + r * hdv + (lane % 2) * (hdv / 2));
            const float a = a_s[r];
            if (a != 1.0f)
                for (int d = 0; d < hdv / 8; d++) {
                    float4 v = o4[d];
                    v.x *= a, v.y *= a, v.z *= a, v.w *= a;
                    o4[d] = v;
                }
        }
        __syncwarp();

        // O += P V: [16 x 64] x [64 x hdv]
        for (int nt = 0; nt < hdv / 16; nt++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
            wmma::load_matrix_sync(acc, Ow + nt * 16, hdv, wmma::mem_row_major);
            for (int kk = 0; kk < KT; kk += 16) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> a;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::row_major> b;
                wmma::load_matrix_sync(a, Pw + kk, LDP);
                wmma::load_matrix_sync(b, Vs + (size_t)kk * hdv + nt * 16, hdv);
                wmma::mma_sync(acc, a, b, acc);
            }
            wmma::store_matrix_sync(Ow + nt * 16, acc, hdv, wmma::mem_row_major);
        }
        __syncthreads(); // K, V are rewritten by the next tile
    }

    for (int i = lane; i < n_valid * hdv; i += 32) {
        const int t = i / hdv, d = i % hdv;
        out[((int64_t)(t0 + t) * s.n_head + (int64_t)kvh * G + warp) * hdv + d] = Ow[t * hdv + d] / l_s[t];
    }
}

} // namespace

extern "C" bool brisk_cuda_attention_prefill_supported(const brisk_cuda_attn_shape *s) {
    if (s->n_head_kv <= 0 || s->n_head % s->n_head_kv) return false;
    const int G = s->n_head / s->n_head_kv;
    return G <= MAX_G && s->head_dim % 16 == 0 && s->head_dim_v % 16 == 0 && s->head_dim <= 256 &&
           s->head_dim_v <= 256 && smem_bytes(G, s->head_dim, s->head_dim_v) <= MAX_SMEM;
}

extern "C" brisk_status brisk_cuda_attention_prefill(const brisk_cuda_attn_shape *s, const float *d_q, const void *d_k,
                                                     const void *d_v, const int32_t *d_pos, const int32_t *d_table,
                                                     int block_size, float *d_out, void *stream, brisk_error *err) {
    if (!brisk_cuda_attention_prefill_supported(s))
        return brisk_fail(err, BRISK_ERR_UNSUPPORTED,
                          "CUDA prefill attention: %d heads / %d KV heads, head_dim %d/%d (supported: group <= %d, "
                          "head_dim a multiple of 16 up to 256, shared memory <= %zu KiB)",
                          s->n_head, s->n_head_kv, s->head_dim, s->head_dim_v, MAX_G, MAX_SMEM / 1024);
    if (s->kv_type == BRISK_CUDA_KV_Q8 && (s->head_dim % 32 || s->head_dim_v % 32 || s->kv_rows <= 0))
        return brisk_fail(err, BRISK_ERR_UNSUPPORTED,
                          "CUDA prefill attention: a Q8 KV cache needs head dims that are multiples of 32 (%d/%d) "
                          "and its row count", s->head_dim, s->head_dim_v);
    if (d_table && block_size <= 0)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA prefill attention: a paged cache needs block_size > 0");
    if (s->n_q <= 0) return BRISK_OK;
    const int G = s->n_head / s->n_head_kv;
    PrefillShape sh = {s->n_q, s->n_head, s->n_head_kv, s->head_dim, s->head_dim_v, s->window, G,
                       s->scale, s->softcap, d_table, block_size};
    const size_t smem = smem_bytes(G, s->head_dim, s->head_dim_v);
    const bool q8 = s->kv_type == BRISK_CUDA_KV_Q8;
    static size_t smem_allowed[2] = {0, 0}; // raised once per size (not during a graph capture after the first call)
    if (smem > smem_allowed[q8]) {
        CUDA_TRY(err, cudaFuncSetAttribute(q8 ? attn_prefill<true> : attn_prefill<false>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        smem_allowed[q8] = smem;
    }
    const brisk_cuda::KvRef k = brisk_cuda::kv_ref(d_k, q8, s->kv_rows, (int64_t)s->n_head_kv * s->head_dim);
    const brisk_cuda::KvRef v = brisk_cuda::kv_ref(d_v, q8, s->kv_rows, (int64_t)s->n_head_kv * s->head_dim_v);
    dim3 grid((unsigned)s->n_head_kv, (unsigned)((s->n_q + QT - 1) / QT));
    if (q8) attn_prefill<true><<<grid, 32 * G, smem, (cudaStream_t)stream>>>(sh, d_q, k, v, d_pos, d_out);
    else attn_prefill<false><<<grid, 32 * G, smem, (cudaStream_t)stream>>>(sh, d_q, k, v, d_pos, d_out);
    CUDA_LAUNCHED(err, "prefill attention");
    return BRISK_OK;
}
