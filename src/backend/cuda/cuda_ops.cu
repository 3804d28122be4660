// Element-wise and normalization kernels of the forward pass (f32 math; the
// matmul inputs are written as f16).
#include <cuda_fp16.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kv.cuh"
#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_pdl.cuh"
#include "backend/cuda/cuda_reduce.cuh"
#include "backend/cuda/cuda_rope.cuh"

namespace {

const int THREADS = 256;

unsigned blocks_for(int64_t n) { return (unsigned)((n + THREADS - 1) / THREADS); }

// One block per row: sum of squares in f32 per thread, then across the block.
__global__ void rmsnorm_kernel(const float *x, const float *w, float *out, half *out16, int width,
                               float eps) {
    const int64_t row = blockIdx.x;
    const float *xr = x + row * width;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < width; i += blockDim.x) ss += xr[i] * xr[i];
    const float scale = rsqrtf(brisk_cuda::block_sum(ss) / (float)width + eps);
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        const float v = xr[i] * scale * (w ? w[i] : 1.0f);
        if (out) out[row * width + i] = v;
        if (out16) out16[row * width + i] = __float2half_rn(v);
    }
}

// One thread per (token, head, pair).
__global__ void rope_kernel(float *x, const int32_t *pos, const float *inv_freq, int n_tokens,
                            int n_heads, int head_dim, int n_rot, bool neox, float mscale) {
    const int half_rot = n_rot / 2;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n_tokens * n_heads * half_rot) return;
    const int p = (int)(i % half_rot);
    const int64_t th = i / half_rot; // token * n_heads + head
    const int t = (int)(th / n_heads);
    float *v = x + th * head_dim;
    const float angle = (float)pos[t] * inv_freq[p];
    float s, c;
    sincosf(angle, &s, &c);
    c *= mscale;
    s *= mscale;
    const int a = neox ? p : 2 * p, b = neox ? p + half_rot : 2 * p + 1;
    const float x0 = v[a], x1 = v[b];
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
}

__global__ void act_mul_kernel(const float *gate, const float *up, half *out, int64_t n, bool gelu) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float g = gate[i];
    out[i] = __float2half_rn(brisk_cuda::act(g, gelu) * up[i]);
}

__global__ void add_kernel(float *x, const float *y, int64_t n) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}

__global__ void to_f16_kernel(const float *x, half *out, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __float2half_rn(x[i]);
}

// Rotate pair p (< n_rot / 2) of one head vector v in place; a, b: its elements.
__device__ __forceinline__ void rope_pair(float *v, int p, int half_rot, float pos, const float *inv_freq,
                                          bool neox, float mscale, int &a, int &b) {
    a = neox ? p : 2 * p;
    b = neox ? p + half_rot : 2 * p + 1;
    const float2 r = brisk_cuda::rope_rotate(v[a], v[b], p, pos, inv_freq, mscale);
    v[a] = r.x;
    v[b] = r.y;
}

// One thread per (token, item); items: the q pairs to rotate, then the k
// pairs (rotated or not, stored to the cache), then the v elements (stored).
__global__ void rope_kv_kernel(float *q, float *k, const float *v, const int32_t *pos, const float *inv_freq,
                               int n_tokens, int n_head, int n_head_kv, int head_dim, int head_dim_v, int n_rot,
                               bool neox, float mscale, half *kc, half *vc, const int32_t *rows) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    const int half_rot = n_rot / 2, k_pairs = head_dim / 2;
    const int64_t nq = (int64_t)n_head * half_rot, nk = (int64_t)n_head_kv * k_pairs;
    const int64_t nv = (int64_t)n_head_kv * head_dim_v, per_token = nq + nk + nv;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n_tokens * per_token) return;
    const int t = (int)(i / per_token);
    int64_t j = i % per_token;
    const float p_t = (float)pos[t];
    const int64_t k_dim = (int64_t)n_head_kv * head_dim;
    int a, b;
    if (j < nq) {
        const int64_t h = j / half_rot;
        rope_pair(q + ((int64_t)t * n_head + h) * head_dim, (int)(j % half_rot), half_rot, p_t, inv_freq, neox,
                  mscale, a, b);
        return;
    }
    j -= nq;
    if (j < nk) {
        const int64_t h = j / k_pairs;
        const int p = (int)(j % k_pairs);
        float *kv = k + (int64_t)t * k_dim + h * head_dim;
        if (p < half_rot) {
            rope_pair(kv, p, half_rot, p_t, inv_freq, neox, mscale, a, b);
        } else {
            a = n_rot + 2 * (p - half_rot);
            b = a + 1;
        }
        half *dst = kc + (int64_t)rows[t] * k_dim + h * head_dim;
        dst[a] = __float2half_rn(kv[a]);
        dst[b] = __float2half_rn(kv[b]);
        return;
    }
    j -= nk;
    vc[(int64_t)rows[t] * nv + j] = __float2half_rn(v[(int64_t)t * nv + j]);
}

// The same into Q8 caches (cuda_kv.cuh). Threads [0, q_threads): the q
// pairs as above; then one warp per (token, KV head, 32-block of K or of V):
// lane i rotates (K) and quantizes element 32 b + i, so that the block is one
// register across the warp (its max by shuffles). k itself is left as it was
// (a K element's rope partner may sit in another warp's block).
__global__ void rope_kv_q8_kernel(float *q, const float *k, const float *v, const int32_t *pos, const float *inv_freq,
                                  int n_tokens, int n_head, int n_head_kv, int head_dim, int head_dim_v, int n_rot,
                                  bool neox, float mscale, int8_t *kc, int8_t *vc, int64_t cache_rows,
                                  const int32_t *rows, int64_t q_threads) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    const int half_rot = n_rot / 2;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < q_threads) {
        const int64_t nq = (int64_t)n_head * half_rot;
        if (i >= (int64_t)n_tokens * nq) return;
        const int t = (int)(i / nq), j = (int)(i % nq);
        int a, b;
        rope_pair(q + ((int64_t)t * n_head + j / half_rot) * head_dim, j % half_rot, half_rot, (float)pos[t], inv_freq,
                  neox, mscale, a, b);
        return;
    }
    const int kb = head_dim / 32, per_head = kb + head_dim_v / 32;
    const int64_t w = (i - q_threads) / 32;
    const int lane = threadIdx.x % 32;
    if (w >= (int64_t)n_tokens * n_head_kv * per_head) return; // whole warps: q_threads and blockDim are multiples of 32
    const int t = (int)(w / ((int64_t)n_head_kv * per_head)), r = (int)(w % ((int64_t)n_head_kv * per_head));
    const int h = r / per_head, blk = r % per_head;
    const bool is_k = blk < kb;
    const int hd = is_k ? head_dim : head_dim_v, width = n_head_kv * hd;
    const int e = 32 * (is_k ? blk : blk - kb) + lane; // element of the head row
    float x;
    if (is_k) {
        const float *kh = k + (int64_t)t * width + (int64_t)h * hd;
        x = kh[e];
        if (e < n_rot) {
            int p, a, b;
            if (neox) p = e < half_rot ? e : e - half_rot, a = p, b = p + half_rot;
            else p = e / 2, a = 2 * p, b = a + 1;
            const float2 rot = brisk_cuda::rope_rotate(kh[a], kh[b], p, (float)pos[t], inv_freq, mscale);
            x = e == a ? rot.x : rot.y;
        }
    } else {
        x = v[(int64_t)t * width + (int64_t)h * hd + e];
    }
    int8_t *cache = is_k ? kc : vc;
    half *scales = reinterpret_cast<half *>(cache + cache_rows * width);
    half d;
    const int8_t qv = brisk_cuda::q8_quantize_lane(x, &d);
    const int64_t row = rows[t], at = (int64_t)h * hd + e;
    cache[row * width + at] = qv;
    if (lane == 0) scales[row * (width / 32) + at / 32] = d;
}

} // namespace

extern "C" brisk_status brisk_cuda_rope_kv_store(float *d_q, float *d_k, const float *d_v, const int32_t *d_pos,
                                                 const float *d_inv_freq, int n_tokens, int n_head, int n_head_kv,
                                                 int head_dim, int head_dim_v, int n_rot, bool neox, float mscale,
                                                 void *d_kcache, void *d_vcache, brisk_cuda_kv_type kv_type,
                                                 int64_t cache_rows, const int32_t *d_rows, void *stream,
                                                 brisk_error *err) {
    if (n_tokens < 0 || n_head <= 0 || n_head_kv <= 0 || n_rot < 0 || n_rot % 2 || n_rot > head_dim || head_dim % 2)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA rope_kv_store: shape (n_rot %d, head_dim %d)", n_rot, head_dim);
    if (kv_type == BRISK_CUDA_KV_Q8) {
        if (head_dim % 32 || head_dim_v % 32 || cache_rows <= 0)
            return brisk_fail(err, BRISK_ERR_ARG,
                              "CUDA rope_kv_store: a Q8 cache needs head dims that are multiples of 32 (%d/%d)",
                              head_dim, head_dim_v);
        const int64_t q_threads = ((int64_t)n_tokens * n_head * (n_rot / 2) + 31) / 32 * 32;
        const int64_t n = q_threads + (int64_t)n_tokens * n_head_kv * (head_dim + head_dim_v);
        if (n_tokens == 0) return BRISK_OK;
        brisk_cuda::pdl_launch(rope_kv_q8_kernel, dim3(blocks_for(n)), dim3(THREADS), 0, (cudaStream_t)stream, d_q, d_k,
                               d_v, d_pos, d_inv_freq, n_tokens, n_head, n_head_kv, head_dim, head_dim_v, n_rot, neox,
                               mscale, (int8_t *)d_kcache, (int8_t *)d_vcache, cache_rows, d_rows, q_threads);
        CUDA_LAUNCHED(err, "rope_kv_store");
        return BRISK_OK;
    }
    const int64_t per_token = (int64_t)n_head * (n_rot / 2) + (int64_t)n_head_kv * (head_dim / 2) +
                              (int64_t)n_head_kv * head_dim_v;
    const int64_t n = per_token * n_tokens;
    if (n == 0) return BRISK_OK;
    brisk_cuda::pdl_launch(rope_kv_kernel, dim3(blocks_for(n)), dim3(THREADS), 0, (cudaStream_t)stream, d_q, d_k, d_v,
                           d_pos, d_inv_freq, n_tokens, n_head, n_head_kv, head_dim, head_dim_v, n_rot, neox, mscale,
                           (half *)d_kcache, (half *)d_vcache, d_rows);
    CUDA_LAUNCHED(err, "rope_kv_store");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_rmsnorm(const float *d_x, const float *d_w, float *d_out,
                                           void *d_out16, int n_rows, int width, float eps,
                                           void *stream, brisk_error *err) {
    if (n_rows < 0 || width <= 0) return brisk_fail(err, BRISK_ERR_ARG, "CUDA rmsnorm: shape");
    if (n_rows == 0) return BRISK_OK;
    rmsnorm_kernel<<<(unsigned)n_rows, THREADS, 0, (cudaStream_t)stream>>>(d_x, d_w, d_out,
                                                                          (half *)d_out16, width, eps);
    CUDA_LAUNCHED(err, "rmsnorm");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_rope(float *d_x, const int32_t *d_pos, const float *d_inv_freq,
                                        int n_tokens, int n_heads, int head_dim, int n_rot,
                                        bool neox, float mscale, void *stream, brisk_error *err) {
    if (n_tokens < 0 || n_heads <= 0 || n_rot < 0 || n_rot % 2 || n_rot > head_dim)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA rope: shape (n_rot %d, head_dim %d)", n_rot,
                          head_dim);
    const int64_t n = (int64_t)n_tokens * n_heads * (n_rot / 2);
    if (n == 0) return BRISK_OK;
    rope_kernel<<<blocks_for(n), THREADS, 0, (cudaStream_t)stream>>>(
        d_x, d_pos, d_inv_freq, n_tokens, n_heads, head_dim, n_rot, neox, mscale);
    CUDA_LAUNCHED(err, "rope");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_act_mul(const float *d_gate, const float *d_up, void *d_out16,
                                           int64_t n, bool gelu, void *stream, brisk_error *err) {
    if (n <= 0) return n == 0 ? BRISK_OK : brisk_fail(err, BRISK_ERR_ARG, "CUDA act_mul: n");
    act_mul_kernel<<<blocks_for(n), THREADS, 0, (cudaStream_t)stream>>>(d_gate, d_up,
                                                                       (half *)d_out16, n, gelu);
    CUDA_LAUNCHED(err, "act_mul");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_add(float *d_x, const float *d_y, int64_t n, void *stream,
                                       brisk_error *err) {
    if (n <= 0) return n == 0 ? BRISK_OK : brisk_fail(err, BRISK_ERR_ARG, "CUDA add: n");
    brisk_cuda::pdl_launch(add_kernel, dim3(blocks_for(n)), dim3(THREADS), 0, (cudaStream_t)stream, d_x, d_y, n);
    CUDA_LAUNCHED(err, "add");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_f32_to_f16(const float *d_x, void *d_out16, int64_t n,
                                              void *stream, brisk_error *err) {
    if (n <= 0) return n == 0 ? BRISK_OK : brisk_fail(err, BRISK_ERR_ARG, "CUDA f32_to_f16: n");
    to_f16_kernel<<<blocks_for(n), THREADS, 0, (cudaStream_t)stream>>>(d_x, (half *)d_out16, n);
    CUDA_LAUNCHED(err, "f32_to_f16");
    return BRISK_OK;
}
