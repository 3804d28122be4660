// Decode GEMV for one column on int8 activations (dp4a): y = W x.
//
// Why: the tensor-core GEMV (cuda_gemv.cu) turns every weight into an f16
// before the mma; for 4.5-bit Q4_K that is ~3 instructions per weight, more
// than the SMs can issue while the HBM streams (48-71% of copy bandwidth).
// Here x is quantized once per matrix input to int8 (per 32 elements: f32
// scale d and the integer sums of each half), and the weights' integer quants
// meet it in dp4a (4 multiply-adds per instruction) with the block scales
// applied once per 32 (Q4_K, Q8_0) or 16 (Q6_K) elements in f32.
//
// Activation format "xq8" per column of n_in elements (brisk_cuda_xq8_bytes):
//   int8 q[n_in], then n_in / 32 blocks {f32 d; int16 s0, s1}, with
//   x[i] ~= d * q[i], s0 = sum of q[0..15] of the block, s1 = of q[16..31].
//   d = max|x| / 127 of the block, q = rint(x * (127 / max|x|)) (0 when the
//   block is all zero).
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
    short s0, s1;
};

__host__ __device__ inline size_t xq8_bytes(int64_t n_in) { return (size_t)n_in + (size_t)(n_in / 32) * sizeof(XBlock); }

__device__ __forceinline__ uint4 ldg16(const void *p) { return __ldg(reinterpret_cast<const uint4 *>(p)); }

__device__ __forceinline__ int dp4a_words(uint4 w, uint4 x, int acc) {
    acc = __dp4a((int)w.x, (int)x.x, acc);
    acc = __dp4a((int)w.y, (int)x.y, acc);
    acc = __dp4a((int)w.z, (int)x.z, acc);
    return __dp4a((int)w.w, (int)x.w, acc);
}

__device__ __forceinline__ uint4 and4(uint4 v, uint32_t m) { return make_uint4(v.x & m, v.y & m, v.z & m, v.w & m); }
__device__ __forceinline__ uint4 shr4(uint4 v, int s) { return make_uint4(v.x >> s, v.y >> s, v.z >> s, v.w >> s); }

// Q4_K, file layout (144-byte super-blocks, see cuda_formats.cuh). Unit u of a
// row: super-block u / 4, c = u % 4: qs[32c .. 32c + 32): low nibbles =
// elements 64c + 0..31 (sub-block 2c), high nibbles = 64c + 32..63 (2c + 1).
struct UnitQ4_K {
    static constexpr int UNIT = 64;
    struct Raw { uint4 hdr, q0, q1, xl0, xl1, xh0, xh1; XBlock bl, bh; int c; };
    __device__ static void load(const uint8_t *w, const uint8_t *xq, int64_t n_in, int64_t n_out,
                                int64_t row, int64_t u, Raw &r) {
        const uint8_t *blk = w + (row * (n_in / 256) + u / 4) * 144;
        r.c = (int)(u % 4);
        r.hdr = ldg16(blk);
        r.q0 = ldg16(blk + 16 + 32 * r.c);
        r.q1 = ldg16(blk + 32 + 32 * r.c);
        const uint8_t *x = xq + u * 64;
        r.xl0 = ldg16(x);
        r.xl1 = ldg16(x + 16);
        r.xh0 = ldg16(x + 32);
        r.xh1 = ldg16(x + 48);
        const uint4 m = ldg16(reinterpret_cast<const XBlock *>(xq + n_in) + 2 * u);
        r.bl = {__uint_as_float(m.x), (short)(m.y & 0xFFFF), (short)(m.y >> 16)};
        r.bh = {__uint_as_float(m.z), (short)(m.w & 0xFFFF), (short)(m.w >> 16)};
    }
    __device__ static float dot(const Raw &r) {
        const uint32_t lo = 0x0F0F0F0Fu;
        const int s_lo = dp4a_words(and4(r.q1, lo), r.xl1, dp4a_words(and4(r.q0, lo), r.xl0, 0));
        const int s_hi = dp4a_words(and4(shr4(r.q1, 4), lo), r.xh1, dp4a_words(and4(shr4(r.q0, 4), lo), r.xh0, 0));
        // 6-bit scales/mins of sub-blocks 2c, 2c + 1: bytes 2p, 2p + 1 (p = c % 2)
        // of header words y (scales), z (mins), w (the high parts for c >= 2).
        const int sh = 16 * (r.c & 1);
        const uint32_t a = r.hdr.y >> sh, b = r.hdr.z >> sh, e = r.hdr.w >> sh;
        const uint32_t scs = r.c < 2 ? a & 0x3F3Fu : (e & 0x0F0Fu) | ((a >> 2) & 0x3030u);
        const uint32_t mns = r.c < 2 ? b & 0x3F3Fu : ((e >> 4) & 0x0F0Fu) | ((b >> 2) & 0x3030u);
        const float d = __half2float(__ushort_as_half((unsigned short)(r.hdr.x & 0xFFFF)));
        const float dmin = __half2float(__ushort_as_half((unsigned short)(r.hdr.x >> 16)));
        const int sum_l = r.bl.s0 + r.bl.s1, sum_h = r.bh.s0 + r.bh.s1;
        const float vl = d * (float)((int)(scs & 0xFF) * s_lo) - dmin * (float)((int)(mns & 0xFF) * sum_l);
        const float vh = d * (float)((int)((scs >> 8) & 0xFF) * s_hi) - dmin * (float)((int)((mns >> 8) & 0xFF) * sum_h);
        return r.bl.d * vl + r.bh.d * vh;
    }
};

// Q6_K, repacked (cuda_backend.h): 208-byte blocks ql[128] qh[64] scales[16],
// then d. Unit u: block u / 4, h = (u % 4) / 2, l0 = 16 (u % 2): run k (0..3)
// = elements 128h + 32k + l0 + 0..15 (one 16-element scale group each): low 4
// bits = nibble k / 2 of ql[64h + 32 (k % 2) + l0 + i], high 2 bits = bits 2k
// of qh[32h + l0 + i]. value = d * scale * (q - 32).
struct UnitQ6_K {
    static constexpr int UNIT = 64;
    struct Raw { uint4 ql0, ql1, qh, x[4]; uint32_t sc; float xd[4]; int xs[4]; unsigned short d; };
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
        const XBlock *xb = reinterpret_cast<const XBlock *>(xq + n_in) + e0 / 32;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            r.x[k] = ldg16(xq + e0 + 32 * k);
            const uint2 m = __ldg(reinterpret_cast<const uint2 *>(xb + k));
            r.xd[k] = __uint_as_float(m.x);
            r.xs[k] = l0 ? (int)(short)(m.y >> 16) : (int)(short)(m.y & 0xFFFF);
        }
    }
    __device__ static float dot(const Raw &r) {
        const uint32_t l0w[4] = {r.ql0.x, r.ql0.y, r.ql0.z, r.ql0.w};
        const uint32_t l1w[4] = {r.ql1.x, r.ql1.y, r.ql1.z, r.ql1.w};
        const uint32_t hw[4] = {r.qh.x, r.qh.y, r.qh.z, r.qh.w};
        float acc = 0.0f;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const uint32_t xw[4] = {r.x[k].x, r.x[k].y, r.x[k].z, r.x[k].w};
            int s = 0;
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const uint32_t q = (((k % 2 ? l1w[j] : l0w[j]) >> (4 * (k / 2))) & 0x0F0F0F0Fu) |
                                   (((hw[j] >> (2 * k)) & 0x03030303u) << 4);
                s = __dp4a((int)q, (int)xw[j], s);
            }
            const int scale = (int)(int8_t)((r.sc >> (8 * k)) & 0xFF);
            acc += r.xd[k] * (float)(scale * (s - 32 * r.xs[k]));
        }
        return __half2float(__ushort_as_half(r.d)) * acc;
    }
};

// Q8_0, repacked: quants [n_out, n_in] int8, then d [n_out, n_in / 32] f16.
// Unit u = elements 64u .. 64u + 63 (two blocks).
struct UnitQ8_0 {
    static constexpr int UNIT = 64;
    struct Raw { uint4 q[4], x[4]; uint32_t d; uint4 m; };
    __device__ static void load(const uint8_t *w, const uint8_t *xq, int64_t n_in, int64_t n_out,
                                int64_t row, int64_t u, Raw &r) {
        const uint8_t *q = w + row * n_in + u * 64;
        const uint8_t *x = xq + u * 64;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            r.q[k] = ldg16(q + 16 * k);
            r.x[k] = ldg16(x + 16 * k);
        }
        r.d = __ldg(reinterpret_cast<const uint32_t *>(w + n_out * n_in) + row * (n_in / 64) + u);
        r.m = ldg16(reinterpret_cast<const XBlock *>(xq + n_in) + 2 * u);
    }
    __device__ static float dot(const Raw &r) {
        const int s0 = dp4a_words(r.q[1], r.x[1], dp4a_words(r.q[0], r.x[0], 0));
        const int s1 = dp4a_words(r.q[3], r.x[3], dp4a_words(r.q[2], r.x[2], 0));
        const float d0 = __half2float(__ushort_as_half((unsigned short)(r.d & 0xFFFF)));
        const float d1 = __half2float(__ushort_as_half((unsigned short)(r.d >> 16)));
        return d0 * __uint_as_float(r.m.x) * (float)s0 + d1 * __uint_as_float(r.m.z) * (float)s1;
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

// One thread per 32-element block of one column: x16 [n_cols, n_in] -> xq8.
__global__ void quantize_x8_kernel(const half *__restrict__ x, uint8_t *__restrict__ xq, int64_t n_in,
                                   int64_t n_blocks_total) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_blocks_total) return;
    const int64_t per_col = n_in / 32, col = i / per_col, blk = i % per_col;
    const uint4 *src = reinterpret_cast<const uint4 *>(x + col * n_in + blk * 32);
    float v[32];
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const uint4 r = __ldg(src + k);
        const uint32_t words[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const half2 h = *reinterpret_cast<const half2 *>(&words[j]);
            v[8 * k + 2 * j] = __low2float(h);
            v[8 * k + 2 * j + 1] = __high2float(h);
        }
    }
    float amax = 0.0f;
#pragma unroll
    for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(v[k]));
    const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
    uint32_t packed[8];
    int s0 = 0, s1 = 0;
#pragma unroll
    for (int k = 0; k < 8; k++) {
        uint32_t word = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int q = __float2int_rn(v[4 * k + j] * id);
            if (k < 4) s0 += q;
            else s1 += q;
            word |= (uint32_t)(q & 0xFF) << (8 * j);
        }
        packed[k] = word;
    }
    uint8_t *col_base = xq + col * xq8_bytes(n_in);
    uint4 *dst = reinterpret_cast<uint4 *>(col_base + blk * 32);
    dst[0] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
    dst[1] = make_uint4(packed[4], packed[5], packed[6], packed[7]);
    XBlock *meta = reinterpret_cast<XBlock *>(col_base + n_in) + blk;
    *meta = {amax / 127.0f, (short)s0, (short)s1};
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

template <int UNROLL>
bool launch_type(const brisk_cuda_weight *w, const void *xq, float *y, cudaStream_t s) {
    switch (w->type) {
    case BRISK_TYPE_Q4_K: launch<UnitQ4_K, UNROLL>(w, xq, y, s); return true;
    case BRISK_TYPE_Q6_K: launch<UnitQ6_K, UNROLL>(w, xq, y, s); return true;
    case BRISK_TYPE_Q8_0: launch<UnitQ8_0, UNROLL>(w, xq, y, s); return true;
    default: return false;
    }
}

// variant: 0 = the default (2 units in flight per lane), 1 = 1, 2 = 4.
extern "C" brisk_status brisk_cuda_gemv_q8_variant(const brisk_cuda_weight *w, const void *d_xq, float *d_y,
                                                   int variant, void *stream, brisk_error *err) {
    if (w->n_in % 64)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_q8: n_in %lld (a multiple of 64)", (long long)w->n_in);
    cudaStream_t s = (cudaStream_t)stream;
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
