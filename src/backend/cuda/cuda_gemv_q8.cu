// Decode GEMV for one column on int8 activations (dp4a): y = W x.
//
// Why: the tensor-core GEMV (cuda_gemv.cu) turns every weight into an f16
// before the mma; for 4.5-bit Q4_K that is ~3 instructions per weight, more
// than the SMs can issue while the HBM streams (48-71% of copy bandwidth).
// Here x is quantized once per matrix input to integers of ~16 bits held as
// two int8 planes (hi and the rounding residual lo; one int8 plane alone
// flipped near-tied argmaxes of the logit tests), and the weights' integer
// quants meet both planes in dp4a (4 multiply-adds per instruction): the
// weight extraction is shared, the block scales are applied once per 32
// (Q4_K, Q8_0) or 16 (Q6_K) elements in f32.
//
// Activation format "xq8" per column of n_in elements (brisk_cuda_xq8_bytes):
//   int8 hi[n_in], int8 lo[n_in], then n_in / 32 blocks {f32 d; i32 s0, s1;
//   pad}: per 32 elements v = x * (127 / max|x|), hi = rint(v), lo =
//   clamp(rint((v - hi) * 256), -127, 127), x ~= d * (256 hi + lo) with
//   d = max|x| / 127 / 256; s0 / s1 = sums of 256 hi + lo over elements
//   0..15 / 16..31 of the block (all 0 for an all-zero block).
//
// Kernel: one warp per weight row; lane i takes units i, i + 32, ... (a unit =
// 64 weights: 48 bytes of Q4_K/Q6_K, 64 of Q8_0 in two 32-element halves),
// loads UNROLL units before using any, then the warp adds its lanes. The
// result is the f32 dot of the dequantized weights with the dequantized x.
#include <cuda_fp16.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace {

struct XBlock {
    float d;
    int s0, s1, pad;
};

__host__ __device__ inline size_t xq8_bytes(int64_t n_in) { return 2 * (size_t)n_in + (size_t)(n_in / 32) * sizeof(XBlock); }

// 16 bytes of weights (4 words) against 16 elements of x: 256 * hi + lo.
__device__ __forceinline__ int dp4a_hl(uint4 w, uint4 xh, uint4 xl, int acc) {
    int h = 0;
    h = __dp4a((int)w.x, (int)xh.x, h);
    h = __dp4a((int)w.y, (int)xh.y, h);
    h = __dp4a((int)w.z, (int)xh.z, h);
    h = __dp4a((int)w.w, (int)xh.w, h);
    acc = __dp4a((int)w.x, (int)xl.x, acc);
    acc = __dp4a((int)w.y, (int)xl.y, acc);
    acc = __dp4a((int)w.z, (int)xl.z, acc);
    acc = __dp4a((int)w.w, (int)xl.w, acc);
    return acc + 256 * h;
}

__device__ __forceinline__ uint4 ldg16(const void *p) { return __ldg(reinterpret_cast<const uint4 *>(p)); }

__device__ __forceinline__ uint4 and4(uint4 v, uint32_t m) { return make_uint4(v.x & m, v.y & m, v.z & m, v.w & m); }
__device__ __forceinline__ uint4 shr4(uint4 v, int s) { return make_uint4(v.x >> s, v.y >> s, v.z >> s, v.w >> s); }

// Q4_K, file layout (144-byte super-blocks, see cuda_formats.cuh). Unit u of a
// row: super-block u / 4, c = u % 4: qs[32c .. 32c + 32): low nibbles =
// elements 64c + 0..31 (sub-block 2c), high nibbles = 64c + 32..63 (2c + 1).
struct UnitQ4_K {
    static constexpr int UNIT = 64;
    struct Raw { uint4 hdr, q0, q1, x[8]; int sum_l, sum_h; float dl, dh; int c; };
    __device__ static void load(const uint8_t *w, const uint8_t *xq, int64_t n_in, int64_t n_out,
                                int64_t row, int64_t u, Raw &r) {
        const uint8_t *blk = w + (row * (n_in / 256) + u / 4) * 144;
        r.c = (int)(u % 4);
        r.hdr = ldg16(blk);
        r.q0 = ldg16(blk + 16 + 32 * r.c);
        r.q1 = ldg16(blk + 32 + 32 * r.c);
        // x[0..3]: hi of elements 0..63 of the unit, x[4..7]: lo
#pragma unroll
        for (int k = 0; k < 4; k++) {
            r.x[k] = ldg16(xq + u * 64 + 16 * k);
            r.x[4 + k] = ldg16(xq + n_in + u * 64 + 16 * k);
        }
        const XBlock *m = reinterpret_cast<const XBlock *>(xq + 2 * n_in) + 2 * u;
        const uint4 ml = ldg16(m), mh = ldg16(m + 1);
        r.dl = __uint_as_float(ml.x);
        r.sum_l = (int)ml.y + (int)ml.z;
        r.dh = __uint_as_float(mh.x);
        r.sum_h = (int)mh.y + (int)mh.z;
    }
    __device__ static float dot(const Raw &r) {
        const uint32_t lo = 0x0F0F0F0Fu;
        const int s_lo = dp4a_hl(and4(r.q1, lo), r.x[1], r.x[5], dp4a_hl(and4(r.q0, lo), r.x[0], r.x[4], 0));
        const int s_hi = dp4a_hl(and4(shr4(r.q1, 4), lo), r.x[3], r.x[7], dp4a_hl(and4(shr4(r.q0, 4), lo), r.x[2], r.x[6], 0));
        // 6-bit scales/mins of sub-blocks 2c, 2c + 1: bytes 2p, 2p + 1 (p = c % 2)
        // of header words y (scales), z (mins), w (the high parts for c >= 2).
        const int sh = 16 * (r.c & 1);
        const uint32_t a = r.hdr.y >> sh, b = r.hdr.z >> sh, e = r.hdr.w >> sh;
        const uint32_t scs = r.c < 2 ? a & 0x3F3Fu : (e & 0x0F0Fu) | ((a >> 2) & 0x3030u);
        const uint32_t mns = r.c < 2 ? b & 0x3F3Fu : ((e >> 4) & 0x0F0Fu) | ((b >> 2) & 0x3030u);
        const float d = __half2float(__ushort_as_half((unsigned short)(r.hdr.x & 0xFFFF)));
        const float dmin = __half2float(__ushort_as_half((unsigned short)(r.hdr.x >> 16)));
        // |sc * s| <= 63 * 32 * 15 * 127 * 257 < 2^31
        const float vl = d * (float)((int)(scs & 0xFF) * s_lo) - dmin * (float)((int)(mns & 0xFF) * r.sum_l);
        const float vh = d * (float)((int)((scs >> 8) & 0xFF) * s_hi) - dmin * (float)((int)((mns >> 8) & 0xFF) * r.sum_h);
        return r.dl * vl + r.dh * vh;
    }
};

// Q6_K, repacked (cuda_backend.h): 208-byte blocks ql[128] qh[64] scales[16],
// then d. Unit u: block u / 4, h = (u % 4) / 2, l0 = 16 (u % 2): run k (0..3)
// = elements 128h + 32k + l0 + 0..15 (one 16-element scale group each): low 4
// bits = nibble k / 2 of ql[64h + 32 (k % 2) + l0 + i], high 2 bits = bits 2k
// of qh[32h + l0 + i]. value = d * scale * (q - 32).
struct UnitQ6_K {
    static constexpr int UNIT = 64;
    struct Raw { uint4 ql0, ql1, qh, x[4], xl[4]; uint32_t sc; float xd[4]; int xs[4]; unsigned short d; };
    __device__ static void load(const uint8_t *w, const uint8_t *xq, int64_t n_in, int64_t n_out,
                                int64_t row, int64_t u, Raw &r) {
        const int64_t nb = n_in / 256, b = row * nb + u / 4;
        const uint8_t *blk = w + b * 208;
        const int h = (int)(u % 4) / 2, l0 = 16 * (int)(u % 2);
        r.ql0 = ldg16(blk + 64 * h + l0);
        r.ql1 = ldg16(blk + 64 * h + 32 + l0);
        r.qh = ldg16(blk + 128 + 32 * h + l0);
        // scales 8h + 2k + l0 / 16 for k = 0..3: bytes 8h + l0/16 + {0, 2, 4, 6}
        const uint2 s8 = __ldg(reinterpret_cast<const uint2 *>(blk + 192 + 8 * h));
        const uint32_t sel = l0 ? 0x7531u : 0x6420u;
        r.sc = __byte_perm(s8.x, s8.y, sel);
        r.d = __ldg(reinterpret_cast<const unsigned short *>(w + n_out * nb * 208) + b);
        const int64_t e0 = (u / 4) * 256 + 128 * h + l0; // element of run 0
        const XBlock *xb = reinterpret_cast<const XBlock *>(xq + 2 * n_in) + e0 / 32;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            r.x[k] = ldg16(xq + e0 + 32 * k);
            r.xl[k] = ldg16(xq + n_in + e0 + 32 * k);
            const uint4 m = ldg16(xb + k);
            r.xd[k] = __uint_as_float(m.x);
            r.xs[k] = (int)(l0 ? m.z : m.y);
        }
    }
    __device__ static float dot(const Raw &r) {
        const uint32_t l0w[4] = {r.ql0.x, r.ql0.y, r.ql0.z, r.ql0.w};
        const uint32_t l1w[4] = {r.ql1.x, r.ql1.y, r.ql1.z, r.ql1.w};
        const uint32_t hw[4] = {r.qh.x, r.qh.y, r.qh.z, r.qh.w};
        float acc = 0.0f;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            uint32_t qw[4];
#pragma unroll
            for (int j = 0; j < 4; j++)
                qw[j] = (((k % 2 ? l1w[j] : l0w[j]) >> (4 * (k / 2))) & 0x0F0F0F0Fu) |
                        (((hw[j] >> (2 * k)) & 0x03030303u) << 4);
            const int s = dp4a_hl(make_uint4(qw[0], qw[1], qw[2], qw[3]), r.x[k], r.xl[k], 0);
            const int scale = (int)(int8_t)((r.sc >> (8 * k)) & 0xFF);
            // |s - 32 xs| <= 16 * 95 * 127 * 257 < 2^31; the scale multiply in f32
            acc += r.xd[k] * (float)scale * (float)(s - 32 * r.xs[k]);
        }
        return __half2float(__ushort_as_half(r.d)) * acc;
    }
};

// Q8_0, repacked: quants [n_out, n_in] int8, then d [n_out, n_in / 32] f16.
// Unit u = elements 64u .. 64u + 63 (two blocks).
struct UnitQ8_0 {
    static constexpr int UNIT = 64;
    struct Raw { uint4 q[4], x[4], xl[4]; uint32_t d; float d0, d1; };
    __device__ static void load(const uint8_t *w, const uint8_t *xq, int64_t n_in, int64_t n_out,
                                int64_t row, int64_t u, Raw &r) {
        const uint8_t *q = w + row * n_in + u * 64;
        const uint8_t *x = xq + u * 64;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            r.q[k] = ldg16(q + 16 * k);
            r.x[k] = ldg16(x + 16 * k);
            r.xl[k] = ldg16(x + n_in + 16 * k);
        }
        r.d = __ldg(reinterpret_cast<const uint32_t *>(w + n_out * n_in) + row * (n_in / 64) + u);
        const float *m = reinterpret_cast<const float *>(reinterpret_cast<const XBlock *>(xq + 2 * n_in) + 2 * u);
        r.d0 = __ldg(m);
        r.d1 = __ldg(m + 4);
    }
    __device__ static float dot(const Raw &r) {
        const int s0 = dp4a_hl(r.q[1], r.x[1], r.xl[1], dp4a_hl(r.q[0], r.x[0], r.xl[0], 0));
        const int s1 = dp4a_hl(r.q[3], r.x[3], r.xl[3], dp4a_hl(r.q[2], r.x[2], r.xl[2], 0));
        const float d0 = __half2float(__ushort_as_half((unsigned short)(r.d & 0xFFFF)));
        const float d1 = __half2float(__ushort_as_half((unsigned short)(r.d >> 16)));
        return d0 * r.d0 * (float)s0 + d1 * r.d1 * (float)s1;
    }
};

template <class U, int WARPS, int UNROLL>
__global__ void __launch_bounds__(WARPS * 32)
gemv_q8_kernel(const uint8_t *__restrict__ w, const uint8_t *__restrict__ xq, float *__restrict__ y,
               int64_t n_in, int64_t n_out) {
    const int lane = threadIdx.x % 32;
    const int64_t row = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    if (row >= n_out) return;
    const int64_t n_units = n_in / U::UNIT;
    float acc = 0.0f;
    for (int64_t base = lane; base < n_units; base += 32 * UNROLL) {
        typename U::Raw r[UNROLL];
#pragma unroll
        for (int i = 0; i < UNROLL; i++)
            if (base + 32 * i < n_units) U::load(w, xq, n_in, n_out, row, base + 32 * i, r[i]);
#pragma unroll
        for (int i = 0; i < UNROLL; i++)
            if (base + 32 * i < n_units) acc += U::dot(r[i]);
    }
#pragma unroll
    for (int o = 16; o > 0; o /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) y[row] = acc;
}

template <class U, int UNROLL>
void launch(const brisk_cuda_weight *w, const void *xq, float *y, cudaStream_t s) {
    constexpr int WARPS = 4;
    gemv_q8_kernel<U, WARPS, UNROLL><<<(unsigned)((w->n_out + WARPS - 1) / WARPS), WARPS * 32, 0, s>>>(
        (const uint8_t *)w->d_data, (const uint8_t *)xq, y, w->n_in, w->n_out);
}

// The xq8 encoding of one 32-element block (v: the block's values in f32).
__device__ __forceinline__ void quantize32(const float (&v)[32], uint8_t *col_base, int64_t n_in, int64_t blk) {
    float amax = 0.0f;
#pragma unroll
    for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(v[k]));
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    uint32_t hi[8], lo[8];
    int s0 = 0, s1 = 0;
#pragma unroll
    for (int k = 0; k < 8; k++) {
        uint32_t wh = 0, wl = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const float t = v[4 * k + j] * id;
            const int h = __float2int_rn(t);
            const int l = max(-127, min(127, __float2int_rn((t - (float)h) * 256.0f)));
            if (k < 4) s0 += 256 * h + l;
            else s1 += 256 * h + l;
            wh |= (uint32_t)(h & 0xFF) << (8 * j);
            wl |= (uint32_t)(l & 0xFF) << (8 * j);
        }
        hi[k] = wh;
        lo[k] = wl;
    }
    uint4 *dh = reinterpret_cast<uint4 *>(col_base + blk * 32), *dl = reinterpret_cast<uint4 *>(col_base + n_in + blk * 32);
    dh[0] = make_uint4(hi[0], hi[1], hi[2], hi[3]);
    dh[1] = make_uint4(hi[4], hi[5], hi[6], hi[7]);
    dl[0] = make_uint4(lo[0], lo[1], lo[2], lo[3]);
    dl[1] = make_uint4(lo[4], lo[5], lo[6], lo[7]);
    XBlock *meta = reinterpret_cast<XBlock *>(col_base + 2 * n_in) + blk;
    *meta = {amax / 127.0f / 256.0f, s0, s1, 0};
}

__device__ __forceinline__ void halves_to_f32(uint4 r, float *v) {
    const uint32_t words[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const half2 h = *reinterpret_cast<const half2 *>(&words[j]);
        v[2 * j] = __low2float(h);
        v[2 * j + 1] = __high2float(h);
    }
}

__device__ __forceinline__ uint4 f32_to_halves(const float *v) {
    uint32_t w[4];
#pragma unroll
    for (int j = 0; j < 4; j++) {
        half2 h = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
        w[j] = *reinterpret_cast<uint32_t *>(&h);
    }
    return make_uint4(w[0], w[1], w[2], w[3]);
}

// One thread per 32-element block of one column: x16 [n_cols, n_in] -> xq8.
__global__ void quantize_x8_kernel(const half *__restrict__ x, uint8_t *__restrict__ xq, int64_t n_in,
                                   int64_t n_blocks_total) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_blocks_total) return;
    const int64_t per_col = n_in / 32, col = i / per_col, blk = i % per_col;
    const uint4 *src = reinterpret_cast<const uint4 *>(x + col * n_in + blk * 32);
    float v[32];
#pragma unroll
    for (int k = 0; k < 4; k++) halves_to_f32(__ldg(src + k), v + 8 * k);
    quantize32(v, xq + col * xq8_bytes(n_in), n_in, blk);
}

// One thread per 32-element block: f32 x -> f16 (out16) and xq8; with up
// != nullptr x = act(x) * up first (SiLU or GELU-tanh, as cuda_ops.cu).
__global__ void f32_to_xq_kernel(const float *__restrict__ x, const float *__restrict__ up, bool gelu,
                                 half *__restrict__ out16, uint8_t *__restrict__ xq, int64_t n_in) {
    const int64_t blk = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (blk >= n_in / 32) return;
    float v[32];
    const float4 *src = reinterpret_cast<const float4 *>(x + blk * 32);
#pragma unroll
    for (int k = 0; k < 8; k++) {
        const float4 f = __ldg(src + k);
        v[4 * k] = f.x, v[4 * k + 1] = f.y, v[4 * k + 2] = f.z, v[4 * k + 3] = f.w;
    }
    if (up) {
        const float4 *us = reinterpret_cast<const float4 *>(up + blk * 32);
#pragma unroll
        for (int k = 0; k < 8; k++) {
            const float4 f = __ldg(us + k);
            const float u4[4] = {f.x, f.y, f.z, f.w};
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const float g = v[4 * k + j];
                const float a = gelu ? 0.5f * g * (1.0f + tanhf(0.7978845608028654f * (g + 0.044715f * g * g * g)))
                                     : g / (1.0f + expf(-g));
                // as act_mul: the product rounded to f16 is the matrix input
                v[4 * k + j] = __half2float(__float2half_rn(a * u4[j]));
            }
        }
    } else {
#pragma unroll
        for (int k = 0; k < 32; k++) v[k] = __half2float(__float2half_rn(v[k]));
    }
    uint4 *dst = reinterpret_cast<uint4 *>(out16 + blk * 32);
#pragma unroll
    for (int k = 0; k < 4; k++) dst[k] = f32_to_halves(v + 8 * k);
    quantize32(v, xq, n_in, blk);
}

// One block for one row: x (+= add) -> rmsnorm(x) * w -> f16 (out16) and
// xq8. The row sits in shared memory between the passes, element i at
// i + i / 32 (a pad word per 32: a thread reading its block is conflict-free).
__global__ void __launch_bounds__(1024)
rmsnorm_xq_kernel(float *__restrict__ x, const float *__restrict__ add, const float *__restrict__ w,
                  half *__restrict__ out16, uint8_t *__restrict__ xq, int width, float eps) {
    extern __shared__ float row[];
    __shared__ float warp_sums[32];
    float ss = 0.0f;
#pragma unroll 4
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        float v = x[i];
        if (add) {
            v += add[i];
            x[i] = v;
        }
        row[i + i / 32] = v;
        ss += v * v;
    }
    for (int o = 16; o > 0; o /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        ss = threadIdx.x < blockDim.x / 32 ? warp_sums[threadIdx.x] : 0.0f;
        for (int o = 16; o > 0; o /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        if (threadIdx.x == 0) warp_sums[0] = ss;
    }
    __syncthreads();
    const float scale = rsqrtf(warp_sums[0] / (float)width + eps);
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        // as rmsnorm_kernel: the f16 of the normed value is the matrix input
        const half h = __float2half_rn(row[i + i / 32] * scale * (w ? w[i] : 1.0f));
        out16[i] = h;
        row[i + i / 32] = __half2float(h);
    }
    __syncthreads();
    for (int blk = threadIdx.x; blk < width / 32; blk += blockDim.x) {
        float v[32];
#pragma unroll
        for (int k = 0; k < 32; k++) v[k] = row[blk * 33 + k];
        quantize32(v, xq, width, blk);
    }
}

} // namespace

extern "C" size_t brisk_cuda_xq8_bytes(int64_t n_in) { return xq8_bytes(n_in); }

extern "C" bool brisk_cuda_gemv_q8_supported(const brisk_cuda_weight *w) {
    return w->type == BRISK_TYPE_Q4_K || w->type == BRISK_TYPE_Q6_K || w->type == BRISK_TYPE_Q8_0;
}

extern "C" brisk_status brisk_cuda_quantize_x8(const void *d_x16, void *d_xq, int n_cols, int64_t n_in,
                                               void *stream, brisk_error *err) {
    if (n_cols < 1 || n_in <= 0 || n_in % 64)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA quantize_x8: %d columns of %lld (a multiple of 64)", n_cols,
                          (long long)n_in);
    const int64_t n = (int64_t)n_cols * (n_in / 32);
    const int threads = 128;
    quantize_x8_kernel<<<(unsigned)((n + threads - 1) / threads), threads, 0, (cudaStream_t)stream>>>(
        (const half *)d_x16, (uint8_t *)d_xq, n_in, n);
    CUDA_LAUNCHED(err, "quantize_x8");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_f32_to_xq(const float *d_x, const float *d_up, bool gelu, void *d_out16,
                                            void *d_xq, int64_t n_in, void *stream, brisk_error *err) {
    if (n_in <= 0 || n_in % 64)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA f32_to_xq: %lld elements (a multiple of 64)", (long long)n_in);
    const int64_t n = n_in / 32;
    const int threads = 64;
    f32_to_xq_kernel<<<(unsigned)((n + threads - 1) / threads), threads, 0, (cudaStream_t)stream>>>(
        d_x, d_up, gelu, (half *)d_out16, (uint8_t *)d_xq, n_in);
    CUDA_LAUNCHED(err, "f32_to_xq");
    return BRISK_OK;
}

extern "C" bool brisk_cuda_rmsnorm_xq_supported(int width) { return width > 0 && width % 64 == 0 && width <= 11264; }

extern "C" brisk_status brisk_cuda_rmsnorm_xq(float *d_x, const float *d_add, const float *d_w, void *d_out16,
                                             void *d_xq, int width, float eps, void *stream, brisk_error *err) {
    if (!brisk_cuda_rmsnorm_xq_supported(width))
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA rmsnorm_xq: width %d (a multiple of 64 up to 11264)", width);
    const size_t smem = (size_t)(width + width / 32) * sizeof(float);
    rmsnorm_xq_kernel<<<1, 1024, smem, (cudaStream_t)stream>>>(d_x, d_add, d_w, (half *)d_out16, (uint8_t *)d_xq,
                                                              width, eps);
    CUDA_LAUNCHED(err, "rmsnorm_xq");
    return BRISK_OK;
}

template <int UNROLL>
bool launch_type(const brisk_cuda_weight *w, const void *xq, float *y, cudaStream_t s) {
    switch (w->type) {
    case BRISK_TYPE_Q4_K: launch<UnitQ4_K, UNROLL>(w, xq, y, s); return true;
    case BRISK_TYPE_Q6_K: launch<UnitQ6_K, UNROLL>(w, xq, y, s); return true;
    case BRISK_TYPE_Q8_0: launch<UnitQ8_0, UNROLL>(w, xq, y, s); return true;
    default: return false;
    }
}

// variant: 0 = the default (per type), 1 / 2 / 3 = 1 / 4 / 2 units in flight per lane.
extern "C" brisk_status brisk_cuda_gemv_q8_variant(const brisk_cuda_weight *w, const void *d_xq, float *d_y,
                                                   int variant, void *stream, brisk_error *err) {
    if (w->n_in % 64)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_q8: n_in %lld (a multiple of 64)", (long long)w->n_in);
    cudaStream_t s = (cudaStream_t)stream;
    if (variant == 0) // the measured best (bench/results/*cuda*): 1 unit per lane in flight, 2 for Q8_0 and small Q6_K
        variant = w->type == BRISK_TYPE_Q8_0 || (w->type == BRISK_TYPE_Q6_K && w->n_out <= 4096) ? 3 : 1;
    const bool ok = variant == 1   ? launch_type<1>(w, d_xq, d_y, s)
                    : variant == 2 ? launch_type<4>(w, d_xq, d_y, s)
                                   : launch_type<2>(w, d_xq, d_y, s);
    if (!ok) return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "CUDA gemv_q8: weight type %d", (int)w->type);
    CUDA_LAUNCHED(err, "gemv_q8");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_gemv_q8(const brisk_cuda_weight *w, const void *d_xq, float *d_y, void *stream,
                                           brisk_error *err) {
    return brisk_cuda_gemv_q8_variant(w, d_xq, d_y, 0, stream, err);
}
