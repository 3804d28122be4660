// Decode GEMV for one column on ~16-bit integer activations (dp4a): y = W x.
//
// Why: the tensor-core GEMV (cuda_gemv.cu) turns every weight into an f16
// before the mma; for 4.5-bit Q4_K that is ~3 instructions per weight, more
// than the SMs issue while the HBM streams (48-71% of copy bandwidth). Here x
// comes pre-encoded as two int8 planes (the xq8 format, cuda_xq.cuh) and the
// weights' integer quants meet both planes in dp4a (4 multiply-adds per
// instruction; the weight extraction is shared), with the block scales
// applied once per 32 (Q4_K, Q8_0) or 16 (Q6_K) elements in f32. The result
// is the f32 dot of the dequantized weights with the dequantized x.
//
// Kernel: each warp takes R consecutive weight rows; lane i takes units i,
// i + 32, ... of the rows (a unit = 64 weights: 48 bytes of Q4_K/Q6_K, 64 of
// Q8_0), loading the unit's x once for the R rows and UNROLL units before
// using any; then the warp adds its lanes.
//
// Fused work of a decode step (brisk_cuda_gemv_q8_fused; fewer kernels per
// step): a pre-norm x (IN_NORM: the dots times 1 / rms(x)), and an epilogue
// (Mode): ADD_NORM (residual add + the next norm's pre-norm encoding), ACT
// (act(gate) * up + its encoding), ROPE (RoPE + the K/V store: f16, or Q8 by
// each 32-block's last warp).
#include <cuda_fp16.h>

#include <stdlib.h>
#include <string.h>

#include <type_traits>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_kv.cuh"
#include "backend/cuda/cuda_pdl.cuh"
#include "backend/cuda/cuda_rope.cuh"
#include "backend/cuda/cuda_xq.cuh"

using namespace brisk_cuda;

namespace {

// 16 bytes of weights. PAST_L1: not kept in L1 (no_allocate), which then
// holds the activations every warp of the SM re-reads: faster with 4 rows per
// warp (H100, Q4_K 14336 x 4096: 97% of copy vs 85% through L1), slower with
// 2 (83% vs 85%).
template <bool PAST_L1>
__device__ __forceinline__ uint4 ldw16(const void *p) {
    if (!PAST_L1) return __ldg(reinterpret_cast<const uint4 *>(p));
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
        : "l"(p));
    return r;
}

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

__device__ __forceinline__ uint4 and4(uint4 v, uint32_t m) { return make_uint4(v.x & m, v.y & m, v.z & m, v.w & m); }
__device__ __forceinline__ uint4 shr4(uint4 v, int s) { return make_uint4(v.x >> s, v.y >> s, v.z >> s, v.w >> s); }

// Q4_K, file layout (144-byte super-blocks, see cuda_formats.cuh). Unit u of a
// row: super-block u / 4, c = u % 4: qs[32c .. 32c + 32): low nibbles =
// elements 64c + 0..31 (sub-block 2c), high nibbles = 64c + 32..63 (2c + 1).
struct UnitQ4_K {
    struct X { uint4 x[8]; int sum_l, sum_h; float dl, dh; }; // x[0..3] hi planes of the unit's 64, x[4..7] lo
    struct W { uint4 hdr, q0, q1; };
    __device__ static void load_x(const uint8_t *xq, int64_t n_in, int64_t u, X &r) {
#pragma unroll
        for (int k = 0; k < 4; k++) {
            r.x[k] = ld_prev16(xq + u * 64 + 16 * k);
            r.x[4 + k] = ld_prev16(xq + n_in + u * 64 + 16 * k);
        }
        const XBlock *m = reinterpret_cast<const XBlock *>(xq + 2 * n_in) + 2 * u;
        const uint4 ml = ld_prev16(m), mh = ld_prev16(m + 1);
        r.dl = __uint_as_float(ml.x);
        r.sum_l = (int)ml.y + (int)ml.z;
        r.dh = __uint_as_float(mh.x);
        r.sum_h = (int)mh.y + (int)mh.z;
    }
    template <bool PAST_L1>
    __device__ static void load_w(const uint8_t *w, int64_t n_in, int64_t n_out, int64_t row, int64_t u, W &r) {
        const uint8_t *blk = w + (row * (n_in / 256) + u / 4) * 144;
        const int c = (int)(u % 4);
        r.hdr = ldw16<PAST_L1>(blk);
        r.q0 = ldw16<PAST_L1>(blk + 16 + 32 * c);
        r.q1 = ldw16<PAST_L1>(blk + 32 + 32 * c);
    }
    __device__ static float dot(const W &r, const X &x, int64_t u) {
        const int c = (int)(u % 4);
        const uint32_t lo = 0x0F0F0F0Fu;
        const int s_lo = dp4a_hl(and4(r.q1, lo), x.x[1], x.x[5], dp4a_hl(and4(r.q0, lo), x.x[0], x.x[4], 0));
        const int s_hi = dp4a_hl(and4(shr4(r.q1, 4), lo), x.x[3], x.x[7], dp4a_hl(and4(shr4(r.q0, 4), lo), x.x[2], x.x[6], 0));
        // 6-bit scales/mins of sub-blocks 2c, 2c + 1: bytes 2p, 2p + 1 (p = c % 2)
        // of header words y (scales), z (mins), w (the high parts for c >= 2).
        const int sh = 16 * (c & 1);
        const uint32_t a = r.hdr.y >> sh, b = r.hdr.z >> sh, e = r.hdr.w >> sh;
        const uint32_t scs = c < 2 ? a & 0x3F3Fu : (e & 0x0F0Fu) | ((a >> 2) & 0x3030u);
        const uint32_t mns = c < 2 ? b & 0x3F3Fu : ((e >> 4) & 0x0F0Fu) | ((b >> 2) & 0x3030u);
        const float d = __half2float(__ushort_as_half((unsigned short)(r.hdr.x & 0xFFFF)));
        const float dmin = __half2float(__ushort_as_half((unsigned short)(r.hdr.x >> 16)));
        // |sc * s| <= 63 * 32 * 15 * 127 * 257 < 2^31
        const float vl = d * (float)((int)(scs & 0xFF) * s_lo) - dmin * (float)((int)(mns & 0xFF) * x.sum_l);
        const float vh = d * (float)((int)((scs >> 8) & 0xFF) * s_hi) - dmin * (float)((int)((mns >> 8) & 0xFF) * x.sum_h);
        return x.dl * vl + x.dh * vh;
    }
};

// Q6_K, repacked (cuda_backend.h): 208-byte blocks ql[128] qh[64] scales[16],
// then d. Unit u: block u / 4, h = (u % 4) / 2, l0 = 16 (u % 2): run k (0..3)
// = elements 128h + 32k + l0 + 0..15 (one 16-element scale group each): low 4
// bits = nibble k / 2 of ql[64h + 32 (k % 2) + l0 + i], high 2 bits = bits 2k
// of qh[32h + l0 + i]. value = d * scale * (q - 32).
struct UnitQ6_K {
    struct X { uint4 x[4], xl[4]; float xd[4]; int xs[4]; };
    struct W { uint4 ql0, ql1, qh; uint32_t sc; unsigned short d; };
    __device__ static int64_t first(int64_t u) { return (u / 4) * 256 + 128 * ((u % 4) / 2) + 16 * (u % 2); }
    __device__ static void load_x(const uint8_t *xq, int64_t n_in, int64_t u, X &r) {
        const int64_t e0 = first(u); // element of run 0
        const XBlock *xb = reinterpret_cast<const XBlock *>(xq + 2 * n_in) + e0 / 32;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            r.x[k] = ld_prev16(xq + e0 + 32 * k);
            r.xl[k] = ld_prev16(xq + n_in + e0 + 32 * k);
            const uint4 m = ld_prev16(xb + k);
            r.xd[k] = __uint_as_float(m.x);
            r.xs[k] = (int)(u % 2 ? m.z : m.y);
        }
    }
    template <bool PAST_L1>
    __device__ static void load_w(const uint8_t *w, int64_t n_in, int64_t n_out, int64_t row, int64_t u, W &r) {
        const int64_t nb = n_in / 256, b = row * nb + u / 4;
        const uint8_t *blk = w + b * 208;
        const int h = (int)(u % 4) / 2, l0 = 16 * (int)(u % 2);
        r.ql0 = ldw16<PAST_L1>(blk + 64 * h + l0);
        r.ql1 = ldw16<PAST_L1>(blk + 64 * h + 32 + l0);
        r.qh = ldw16<PAST_L1>(blk + 128 + 32 * h + l0);
        // scales 8h + 2k + l0 / 16 for k = 0..3: bytes 8h + l0/16 + {0, 2, 4, 6}
        const uint2 s8 = __ldg(reinterpret_cast<const uint2 *>(blk + 192 + 8 * h));
        r.sc = __byte_perm(s8.x, s8.y, l0 ? 0x7531u : 0x6420u);
        r.d = __ldg(reinterpret_cast<const unsigned short *>(w + n_out * nb * 208) + b);
    }
    __device__ static float dot(const W &r, const X &x, int64_t) {
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
            const int s = dp4a_hl(make_uint4(qw[0], qw[1], qw[2], qw[3]), x.x[k], x.xl[k], 0);
            const int scale = (int)(int8_t)((r.sc >> (8 * k)) & 0xFF);
            // |s - 32 xs| <= 16 * 95 * 127 * 257 < 2^31; the scale multiply in f32
            acc += x.xd[k] * (float)scale * (float)(s - 32 * x.xs[k]);
        }
        return __half2float(__ushort_as_half(r.d)) * acc;
    }
};

// Q8_0, repacked: quants [n_out, n_in] int8, then d [n_out, n_in / 32] f16.
// Unit u = elements 64u .. 64u + 63 (two blocks).
struct UnitQ8_0 {
    struct X { uint4 x[4], xl[4]; float d0, d1; };
    struct W { uint4 q[4]; uint32_t d; };
    __device__ static void load_x(const uint8_t *xq, int64_t n_in, int64_t u, X &r) {
#pragma unroll
        for (int k = 0; k < 4; k++) {
            r.x[k] = ld_prev16(xq + u * 64 + 16 * k);
            r.xl[k] = ld_prev16(xq + n_in + u * 64 + 16 * k);
        }
        const float *m = reinterpret_cast<const float *>(reinterpret_cast<const XBlock *>(xq + 2 * n_in) + 2 * u);
        r.d0 = __uint_as_float(ld_prev32(m));
        r.d1 = __uint_as_float(ld_prev32(m + 4));
    }
    template <bool PAST_L1>
    __device__ static void load_w(const uint8_t *w, int64_t n_in, int64_t n_out, int64_t row, int64_t u, W &r) {
        const uint8_t *q = w + row * n_in + u * 64;
#pragma unroll
        for (int k = 0; k < 4; k++) r.q[k] = ldw16<PAST_L1>(q + 16 * k);
        r.d = __ldg(reinterpret_cast<const uint32_t *>(w + n_out * n_in) + row * (n_in / 64) + u);
    }
    __device__ static float dot(const W &r, const X &x, int64_t) {
        const int s0 = dp4a_hl(r.q[1], x.x[1], x.xl[1], dp4a_hl(r.q[0], x.x[0], x.xl[0], 0));
        const int s1 = dp4a_hl(r.q[3], x.x[3], x.xl[3], dp4a_hl(r.q[2], x.x[2], x.xl[2], 0));
        const float d0 = __half2float(__ushort_as_half((unsigned short)(r.d & 0xFFFF)));
        const float d1 = __half2float(__ushort_as_half((unsigned short)(r.d >> 16)));
        return d0 * x.d0 * (float)s0 + d1 * x.d1 * (float)s1;
    }
};

// Up to MAX_GROUP matrices of one n_in that read the same x, in one launch:
// blocks [block_end[m - 1], block_end[m]) take matrix m. The matrices are of
// at most two types, one run each: blocks from u1_begin on are of the second
// (a q/k/v group whose v is Q6_K beside Q4_K q and k: one launch, not two).
const int MAX_GROUP = 3;
struct Group {
    const uint8_t *w[MAX_GROUP];
    float *y[MAX_GROUP];
    int64_t n_out[MAX_GROUP];
    unsigned block_end[MAX_GROUP];
    unsigned u1_begin;
    bool accumulate; // y += W x (else y = W x)
};

// What the kernel does besides y = W x (brisk_cuda_q8_fusion, cuda_backend.h).
enum Mode { PLAIN, ADD_NORM, ACT, ROPE };
struct Fuse {
    float in_eps;   // IN_NORM: x is pre-norm encoded (cuda_xq.cuh): dots times 1 / rms
    // ADD_NORM: y += W x (y = the residual), then out_xq = the pre-norm encoding of y with norm_w.
    // ACT: matrix 0 = gate, 1 = up; warp row i: act(gate_i) * up_i (rounded to f16) into
    //      act_out[i] (f32) and out16[i], then out_xq = its xq8 encoding.
    const float *norm_w;
    float *act_out;
    half *out16;
    uint8_t *out_xq;
    unsigned *counters; // ACT, ROPE into a Q8 cache: per 32 outputs, zero between launches (the last warp resets it)
    bool gelu;
    // ROPE: role[m] 0 = q (rotated, f32 into y), 1 = k (rotated, f16 into cache[1]), 2 = v (f16 into cache[2]);
    // cache row rope.rows[0], position rope.pos[0]; adjacent pairs (2p, 2p + 1) of the first n_rot dims of each head.
    // kv_q8: the caches are Q8 of kv_rows rows (cuda_kv.cuh): k and v go to y as f32 and each 32-block
    // is quantized by its last warp (finish_kv_block, counted in counters).
    int role[MAX_GROUP];
    void *cache[MAX_GROUP];
    bool kv_q8;
    int64_t kv_rows;
    RopeArgs rope;
};

// The 32-row blocks of ACT's outputs and of a Q8 KV store are finished by
// their last warp (rows 32 - RW .. 31 of the block, RW rows per warp: its
// thread block is dispatched after the block's others, so waiting for them
// cannot deadlock). The other warps count themselves in *count with a release
// reduction and exit at once; the last one waits (acquire) for the count,
// resets it and goes on to read their values from L2. Whether the caller is
// that warp.
template <int RW>
__device__ __forceinline__ bool last_warp_of_block(unsigned *count, int64_t row0) {
    const int lane = threadIdx.x % 32;
    if (row0 % 32 != 32 - RW) {
        if (lane == 0) asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(count) : "memory");
        return false;
    }
    if (lane == 0) {
        unsigned c;
        for (;;) {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(c) : "l"(count) : "memory");
            if (c >= 32 / RW - 1) break;
            __nanosleep(64);
        }
        *count = 0; // the next launch that counts here comes after this grid
    }
    __syncwarp(); // lane 0's acquire orders the other lanes' loads too
    return true;
}

// ACT: the xq8 encoding of the 32-block of act(gate) * up holding rows row0 ..
// row0 + RW - 1.
template <int RW>
__device__ __forceinline__ void finish_block(const Fuse &f, const float *vals, int64_t n, int64_t row0) {
    if (!last_warp_of_block<RW>(f.counters + row0 / 32, row0)) return;
    const int lane = threadIdx.x % 32;
    const bool on = lane < 8;
    const int64_t blk = row0 / 32, e = blk * 32 + 4 * (on ? lane : 0);
    const float4 v4 = __ldcg(reinterpret_cast<const float4 *>(vals + e));
    const float v[4] = {v4.x, v4.y, v4.z, v4.w};
    quantize_group(v, on, f.out_xq, n, blk);
}

// ROPE into a Q8 cache: the 32-block of k or v rows holding rows row0 ..
// row0 + R - 1 (their f32 values in vals), quantized by q8_quantize_lane (the
// rule of rope_kv_store); its counter: `counter`.
template <int R>
__device__ __forceinline__ void finish_kv_block(const Fuse &f, const float *vals, void *cache, int64_t n_out,
                                                int64_t row0, int64_t counter) {
    if (!last_warp_of_block<R>(f.counters + counter, row0)) return;
    const int lane = threadIdx.x % 32;
    const int64_t blk = row0 / 32, row = __ldg(f.rope.rows);
    half d;
    const int8_t q = q8_quantize_lane(__ldcg(vals + blk * 32 + lane), &d);
    int8_t *qs = static_cast<int8_t *>(cache);
    qs[row * n_out + blk * 32 + lane] = q;
    if (lane == 0) reinterpret_cast<half *>(qs + f.kv_rows * n_out)[row * (n_out / 32) + blk] = d;
}

// Pads of a pre-norm x a lane loads before the main loop (n_in <= 4096: all of
// them; more are read after it).
const int PADS_AHEAD = 4;

// One block's work of gemv_q8_kernel for weight type U (WARPS warps of R rows).
template <class U, int WARPS, int R, int UNROLL, int MODE, bool IN_NORM>
__device__ __forceinline__ void gemv_block(const Group &grp, const Fuse &f, const uint8_t *__restrict__ xq,
                                           int64_t n_in) {
    static_assert(MODE != ACT || R % 2 == 0, "ACT takes R / 2 gate rows and the same rows of up");
    static_assert(MODE == PLAIN || R % 2 == 0, "ADD_NORM and ROPE take row pairs");
    // selects with constant indices (an indexed kernel parameter would be copied to local memory)
    const bool m0 = MODE == ACT || blockIdx.x < grp.block_end[0], m1 = !m0 && blockIdx.x < grp.block_end[1];
    const unsigned block = blockIdx.x - (m0 ? 0u : m1 ? grp.block_end[0] : grp.block_end[1]);
    const uint8_t *__restrict__ w = m0 ? grp.w[0] : m1 ? grp.w[1] : grp.w[2];
    float *__restrict__ y = m0 ? grp.y[0] : m1 ? grp.y[1] : grp.y[2];
    const int64_t n_out = m0 ? grp.n_out[0] : m1 ? grp.n_out[1] : grp.n_out[2];
    const int lane = threadIdx.x % 32;
    // ACT: the warp's rows are rows i .. i + R / 2 - 1 of gate, then the same rows of up
    const int64_t row0 = ((int64_t)block * WARPS + threadIdx.x / 32) * (MODE == ACT ? R / 2 : R);
    if (MODE != ADD_NORM && row0 >= n_out) { // (ADD_NORM: n_out is a multiple of the block's 32 rows)
        brisk_cuda::pdl_wait();
        return;
    }
    const int64_t n_units = n_in / 64;
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.0f;
    // rows past the end re-read the last row (never stored)
    int64_t rows[R];
    const uint8_t *wr[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        rows[r] = MODE == ACT ? row0 + r % (R / 2) : row0 + r < n_out ? row0 + r : n_out - 1;
        wr[r] = MODE == ACT && r >= R / 2 ? grp.w[1] : w;
    }
    // the first units' weights do not depend on the kernel before: in flight
    // before waiting for it (programmatic dependent launch, cuda_pdl.cuh)
    typename U::W ws[UNROLL][R];
#pragma unroll
    for (int i = 0; i < UNROLL; i++) {
        const int64_t u = lane + 32 * i;
        if (u >= n_units) break;
#pragma unroll
        for (int r = 0; r < R; r++) U::template load_w<(R >= 4)>(wr[r], n_in, n_out, rows[r], u, ws[i][r]);
    }
    brisk_cuda::pdl_wait();
    // pre-norm x: the blocks' sums of squares, loaded now, added after the loop
    const XBlock *xb = reinterpret_cast<const XBlock *>(xq + 2 * n_in);
    const int64_t n_blocks = n_in / 32;
    int pads[PADS_AHEAD];
#pragma unroll
    for (int k = 0; k < PADS_AHEAD; k++) pads[k] = IN_NORM && lane + 32 * k < n_blocks ? (int)ld_prev32(&xb[lane + 32 * k].pad) : 0;
    for (int64_t base = lane; base < n_units; base += 32 * UNROLL) {
        typename U::X xs[UNROLL];
#pragma unroll
        for (int i = 0; i < UNROLL; i++) {
            const int64_t u = base + 32 * i;
            if (u >= n_units) break;
            U::load_x(xq, n_in, u, xs[i]);
            if (base != lane)
#pragma unroll
                for (int r = 0; r < R; r++) U::template load_w<(R >= 4)>(wr[r], n_in, n_out, rows[r], u, ws[i][r]);
        }
#pragma unroll
        for (int i = 0; i < UNROLL; i++) {
            const int64_t u = base + 32 * i;
            if (u >= n_units) break;
#pragma unroll
            for (int r = 0; r < R; r++) acc[r] += U::dot(ws[i][r], xs[i], u);
        }
    }
    float scale = 1.0f;
    if (IN_NORM) { // 1 / rms(x): the pads in a fixed order (every launch that reads this x agrees)
        float ss = 0.0f;
#pragma unroll
        for (int k = 0; k < PADS_AHEAD; k++) ss += __int_as_float(pads[k]);
        for (int64_t i = lane + 32 * PADS_AHEAD; i < n_blocks; i += 32) ss += __int_as_float((int)ld_prev32(&xb[i].pad));
#pragma unroll
        for (int o = 16; o > 0; o /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        scale = rsqrtf(ss / (float)n_in + f.in_eps);
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
#pragma unroll
        for (int o = 16; o > 0; o /= 2) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
        if (IN_NORM) acc[r] *= scale;
    }
    if (MODE == PLAIN) {
#pragma unroll
        for (int r = 0; r < R; r++)
            if (lane == 0 && row0 + r < n_out) y[row0 + r] = grp.accumulate ? y[row0 + r] + acc[r] : acc[r];
    } else if (MODE == ADD_NORM) { // the block's 32 rows: new residual, then its pre-norm encoding
        __shared__ float x_sh[32];
        if (lane == 0)
#pragma unroll
            for (int r = 0; r < R; r++) {
                const float x = y[row0 + r] + acc[r];
                y[row0 + r] = x;
                x_sh[row0 % 32 + r] = x;
            }
        __syncthreads();
        if (threadIdx.x < 32) {
            const bool on = lane < 8;
            const int64_t blk = row0 / 32, e = blk * 32 + 4 * (on ? lane : 0);
            const float4 v4 = *reinterpret_cast<const float4 *>(x_sh + 4 * (on ? lane : 0));
            const float4 w4 = __ldg(reinterpret_cast<const float4 *>(f.norm_w + e));
            const float v[4] = {v4.x, v4.y, v4.z, v4.w}, wv[4] = {w4.x, w4.y, w4.z, w4.w};
            prenorm_group(v, wv, on, f.out_xq, n_out, blk);
        }
    } else if constexpr (MODE == ACT) { // (constexpr: R / 2 > 0 only where MODE is ACT)
#pragma unroll
        for (int j = 0; j < R / 2; j++) {
            const float v = __half2float(__float2half_rn(act(acc[j], f.gelu) * acc[R / 2 + j]));
            if (lane == 0) {
                f.act_out[row0 + j] = v;
                f.out16[row0 + j] = __float2half_rn(v);
            }
        }
        finish_block<R / 2>(f, f.act_out, n_out, row0);
    } else { // ROPE: rows (row0 + 2p, row0 + 2p + 1) are a pair (row0 and n_out even)
        const int role = m0 ? f.role[0] : m1 ? f.role[1] : f.role[2];
        void *cache = m0 ? f.cache[0] : m1 ? f.cache[1] : f.cache[2];
#pragma unroll
        for (int p = 0; p < R / 2; p++) {
            const int64_t row = row0 + 2 * p;
            float x0 = acc[2 * p], x1 = acc[2 * p + 1];
            if (role != 2) rope_rotate_rows(f.rope, row, x0, x1);
            if (lane == 0 && row < n_out) {
                if (role == 0 || f.kv_q8) {
                    *reinterpret_cast<float2 *>(y + row) = make_float2(x0, x1);
                } else {
                    half *c = static_cast<half *>(cache) + (int64_t)__ldg(f.rope.rows) * n_out + row;
                    *reinterpret_cast<half2 *>(c) = __floats2half2_rn(x0, x1);
                }
            }
        }
        if (role != 0 && f.kv_q8) // (the counters of matrix m follow those of the matrices before it)
            finish_kv_block<R>(f, y, cache, n_out,
                               row0, (row0 + (m0 ? 0 : m1 ? grp.n_out[0] : grp.n_out[0] + grp.n_out[1])) / 32);
    }
}

template <class U0, class U1, int WARPS, int R, int UNROLL, int MODE, bool IN_NORM>
__device__ __forceinline__ void gemv_grid(const Group &grp, const Fuse &f, const uint8_t *__restrict__ xq,
                                          int64_t n_in) {
    brisk_cuda::pdl_trigger();
    if (std::is_same<U0, U1>::value || blockIdx.x < grp.u1_begin)
        gemv_block<U0, WARPS, R, UNROLL, MODE, IN_NORM>(grp, f, xq, n_in);
    else
        gemv_block<U1, WARPS, R, UNROLL, MODE, IN_NORM>(grp, f, xq, n_in);
}

template <class U0, class U1, int WARPS, int R, int UNROLL, int MODE, bool IN_NORM>
__global__ void __launch_bounds__(WARPS * 32)
gemv_q8_kernel(Group grp, Fuse f, const uint8_t *__restrict__ xq, int64_t n_in) {
    gemv_grid<U0, U1, WARPS, R, UNROLL, MODE, IN_NORM>(grp, f, xq, n_in);
}

// With registers capped so that MIN_BLOCKS blocks fit on an SM (bench variants;
// a minimum of 1 block would already change the allocation: Q6_K, 2 rows: 136
// registers instead of 126, 12 warps per SM instead of 16). The decode
// launches stay uncapped: Q4_K 4 rows at 128 registers streamed 14336 x 4096
// at 100% of copy vs 96% alone, but decoded slower (392.4 vs 402.6 tok/s: the
// pre-norm and RoPE kernels spill; cuda9).
template <class U0, class U1, int WARPS, int R, int UNROLL, int MIN_BLOCKS, int MODE, bool IN_NORM>
__global__ void __launch_bounds__(WARPS * 32, MIN_BLOCKS)
gemv_q8_kernel_capped(Group grp, Fuse f, const uint8_t *__restrict__ xq, int64_t n_in) {
    gemv_grid<U0, U1, WARPS, R, UNROLL, MODE, IN_NORM>(grp, f, xq, n_in);
}

template <class U0, class U1, int R, int UNROLL, int MIN_BLOCKS, int MODE, bool IN_NORM>
void launch(const brisk_cuda_weight *const *ws, float *const *ys, int n, const void *xq, bool accumulate,
            const Fuse &f, cudaStream_t s) {
    constexpr int WARPS = MODE == ADD_NORM ? 32 / R : 4; // ADD_NORM: a block encodes its 32 rows
    const int64_t rows_per_block = WARPS * (MODE == ACT ? R / 2 : R);
    Group grp = {};
    grp.accumulate = accumulate;
    grp.u1_begin = ~0u;
    unsigned blocks = 0;
    for (int m = 0; m < MAX_GROUP; m++) {
        if (m < n) {
            if (ws[m]->type != ws[0]->type && grp.u1_begin == ~0u) grp.u1_begin = blocks;
            grp.w[m] = (const uint8_t *)ws[m]->d_data;
            grp.y[m] = ys ? ys[m] : nullptr;
            grp.n_out[m] = ws[m]->n_out;
            if (MODE != ACT || m == 0) blocks += (unsigned)((ws[m]->n_out + rows_per_block - 1) / rows_per_block);
        }
        grp.block_end[m] = blocks;
    }
    if constexpr (MIN_BLOCKS == 0)
        pdl_launch(gemv_q8_kernel<U0, U1, WARPS, R, UNROLL, MODE, IN_NORM>, dim3(blocks), dim3(WARPS * 32), 0, s, grp,
                   f, (const uint8_t *)xq, ws[0]->n_in);
    else
        pdl_launch(gemv_q8_kernel_capped<U0, U1, WARPS, R, UNROLL, MIN_BLOCKS, MODE, IN_NORM>, dim3(blocks),
                   dim3(WARPS * 32), 0, s, grp, f, (const uint8_t *)xq, ws[0]->n_in);
}

// The weight types of a launch: the first matrix's and the last's (at most two runs).
template <class U0, int R, int UNROLL, int MIN_BLOCKS, int MODE, bool IN_NORM>
bool launch_second(const brisk_cuda_weight *const *ws, float *const *ys, int n, const void *xq, bool acc,
                   const Fuse &f, cudaStream_t s) {
    const brisk_type t1 = ws[n - 1]->type;
    if (t1 == ws[0]->type) {
        launch<U0, U0, R, UNROLL, MIN_BLOCKS, MODE, IN_NORM>(ws, ys, n, xq, acc, f, s);
        return true;
    }
    if constexpr (MODE == PLAIN || MODE == ROPE) {
        switch (t1) {
        case BRISK_TYPE_Q4_K: launch<U0, UnitQ4_K, R, UNROLL, MIN_BLOCKS, MODE, IN_NORM>(ws, ys, n, xq, acc, f, s); return true;
        case BRISK_TYPE_Q6_K: launch<U0, UnitQ6_K, R, UNROLL, MIN_BLOCKS, MODE, IN_NORM>(ws, ys, n, xq, acc, f, s); return true;
        case BRISK_TYPE_Q8_0: launch<U0, UnitQ8_0, R, UNROLL, MIN_BLOCKS, MODE, IN_NORM>(ws, ys, n, xq, acc, f, s); return true;
        default: return false;
        }
    }
    return false;
}

template <int R, int UNROLL, int MODE, bool IN_NORM = false, int MIN_BLOCKS = 0>
bool launch_type(const brisk_cuda_weight *const *ws, float *const *ys, int n, const void *xq, bool acc,
                 const Fuse &f, cudaStream_t s) {
    switch (ws[0]->type) {
    case BRISK_TYPE_Q4_K: return launch_second<UnitQ4_K, R, UNROLL, MIN_BLOCKS, MODE, IN_NORM>(ws, ys, n, xq, acc, f, s);
    case BRISK_TYPE_Q6_K: return launch_second<UnitQ6_K, R, UNROLL, MIN_BLOCKS, MODE, IN_NORM>(ws, ys, n, xq, acc, f, s);
    case BRISK_TYPE_Q8_0: return launch_second<UnitQ8_0, R, UNROLL, MIN_BLOCKS, MODE, IN_NORM>(ws, ys, n, xq, acc, f, s);
    default: return false;
    }
}

// The launches of a decode step (every mode) with R rows per warp, 1 unit in
// flight per lane (ACT: R / 2 rows of gate and the same of up).
template <int R>
bool launch_mode(const brisk_cuda_weight *const *ws, float *const *ys, int n, const void *xq, bool acc,
                 const Fuse &f, int mode, bool in_norm, cudaStream_t s) {
    if (mode == ADD_NORM) return launch_type<R, 1, ADD_NORM>(ws, ys, n, xq, true, f, s);
    if (mode == ACT)
        return in_norm ? launch_type<R, 1, ACT, true>(ws, ys, n, xq, false, f, s)
                       : launch_type<R, 1, ACT>(ws, ys, n, xq, false, f, s);
    if (mode == ROPE)
        return in_norm ? launch_type<R, 1, ROPE, true>(ws, ys, n, xq, false, f, s)
                       : launch_type<R, 1, ROPE>(ws, ys, n, xq, false, f, s);
    return in_norm ? launch_type<R, 1, PLAIN, true>(ws, ys, n, xq, acc, f, s)
                   : launch_type<R, 1, PLAIN>(ws, ys, n, xq, acc, f, s);
}

// Rows per warp of the decode kernels: 4 where rows have at most 8192 inputs,
// else 2. 4 halves the activation loads per weight and doubles the bytes a
// warp has in flight: faster on the 4096-input matrices (H100, Q4_K 14336 x
// 4096: 96% of copy vs 84%), slower on the 14336-input down matrix (83% vs
// 103%); llama3-8b Q4_K_M decode 407.9 tok/s vs 386.5 with 2 everywhere
// (bench/results/2026-11-25-cuda-session5-final-h100.md, "cuda9").
// BRISK_CUDA_Q8_ROWS=2|4 forces one shape on every launch.
int decode_rows(int64_t n_in) {
    static const int mode = [] { // 2, 4, or 0 = by n_in
        const char *e = getenv("BRISK_CUDA_Q8_ROWS");
        return e && strcmp(e, "4") == 0 ? 4 : e && strcmp(e, "2") == 0 ? 2 : 0;
    }();
    return mode ? mode : n_in <= 8192 ? 4 : 2;
}

} // namespace

extern "C" bool brisk_cuda_gemv_q8_supported(const brisk_cuda_weight *w) {
    return w->type == BRISK_TYPE_Q4_K || w->type == BRISK_TYPE_Q6_K || w->type == BRISK_TYPE_Q8_0;
}

static brisk_status gemv_group(const brisk_cuda_weight *const *ws, float *const *ys, int n, const void *d_xq,
                               int variant, bool acc, const Fuse &f, int mode, bool in_norm, void *stream,
                               brisk_error *err) {
    if (n < 1 || n > MAX_GROUP) return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_q8: %d matrices (1..%d)", n, MAX_GROUP);
    int runs = 1;
    for (int m = 0; m < n; m++) {
        if (ws[m]->n_in % 64 || ws[m]->n_in != ws[0]->n_in || !brisk_cuda_gemv_q8_supported(ws[m]))
            return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_q8: matrices of one n_in (a multiple of 64), types "
                                                  "Q4_K, Q6_K, Q8_0");
        runs += m > 0 && ws[m]->type != ws[m - 1]->type;
    }
    if (runs > (mode == PLAIN || mode == ROPE ? 2 : 1))
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_q8: %d runs of weight types in one launch (at most %d)", runs,
                          mode == PLAIN || mode == ROPE ? 2 : 1);
    cudaStream_t s = (cudaStream_t)stream;
    bool ok;
    // a pre-norm x is read by the q/k/v (ROPE or PLAIN), gate/up (ACT or PLAIN) and output GEMVs
    if (mode != PLAIN || in_norm || variant < 1 || variant > BRISK_CUDA_GEMV_Q8_VARIANTS) {
        ok = decode_rows(ws[0]->n_in) == 4 ? launch_mode<4>(ws, ys, n, d_xq, acc, f, mode, in_norm, s)
                                           : launch_mode<2>(ws, ys, n, d_xq, acc, f, mode, in_norm, s);
    } else {
        switch (variant) { // (rows per warp, units in flight per lane[, blocks per SM the registers leave room for])
        case 1: ok = launch_type<1, 1, PLAIN>(ws, ys, n, d_xq, acc, f, s); break;
        case 2: ok = launch_type<2, 1, PLAIN>(ws, ys, n, d_xq, acc, f, s); break;
        case 3: ok = launch_type<1, 2, PLAIN>(ws, ys, n, d_xq, acc, f, s); break;
        case 4: ok = launch_type<2, 2, PLAIN>(ws, ys, n, d_xq, acc, f, s); break;
        case 5: ok = launch_type<4, 1, PLAIN>(ws, ys, n, d_xq, acc, f, s); break;
        case 6: ok = launch_type<4, 2, PLAIN>(ws, ys, n, d_xq, acc, f, s); break;
        case 7: ok = launch_type<2, 1, PLAIN, false, 6>(ws, ys, n, d_xq, acc, f, s); break;
        default: ok = launch_type<4, 1, PLAIN, false, 4>(ws, ys, n, d_xq, acc, f, s); break;
        }
    }
    if (!ok) return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "CUDA gemv_q8: weight type %d", (int)ws[0]->type);
    CUDA_LAUNCHED(err, "gemv_q8");
    return BRISK_OK;
}

static Fuse plain_fuse() { return Fuse{}; }

// variant: 0 = the default (decode_rows); 1..8 = (rows per warp, units in
// flight per lane) = (1, 1), (2, 1), (1, 2), (2, 2), (4, 1), (4, 2), then with
// registers capped for 6 / 4 blocks of 4 warps per SM: (2, 1), (4, 1).
extern "C" brisk_status brisk_cuda_gemv_q8_variant(const brisk_cuda_weight *w, const void *d_xq, float *d_y,
                                                   int variant, void *stream, brisk_error *err) {
    return gemv_group(&w, &d_y, 1, d_xq, variant, false, plain_fuse(), PLAIN, false, stream, err);
}

extern "C" brisk_status brisk_cuda_gemv_q8(const brisk_cuda_weight *w, const void *d_xq, float *d_y, void *stream,
                                           brisk_error *err) {
    return gemv_group(&w, &d_y, 1, d_xq, 0, false, plain_fuse(), PLAIN, false, stream, err);
}

extern "C" brisk_status brisk_cuda_gemv_q8_add(const brisk_cuda_weight *w, const void *d_xq, float *d_y, void *stream,
                                               brisk_error *err) {
    return gemv_group(&w, &d_y, 1, d_xq, 0, true, plain_fuse(), PLAIN, false, stream, err);
}

extern "C" brisk_status brisk_cuda_gemv_q8_group(const brisk_cuda_weight *const *ws, float *const *d_ys, int n,
                                                 const void *d_xq, void *stream, brisk_error *err) {
    return gemv_group(ws, d_ys, n, d_xq, 0, false, plain_fuse(), PLAIN, false, stream, err);
}

extern "C" size_t brisk_cuda_q8_counters_bytes(int64_t n_out) { return (size_t)((n_out + 31) / 32) * sizeof(unsigned); }

extern "C" brisk_status brisk_cuda_gemv_q8_fused(const brisk_cuda_weight *const *ws, float *const *d_ys, int n,
                                                 const void *d_xq, const brisk_cuda_q8_fusion *fu, void *stream,
                                                 brisk_error *err) {
    Fuse f = {};
    f.in_eps = fu->in_eps;
    const int mode = fu->mode == BRISK_CUDA_FUSE_ADD_NORM ? ADD_NORM
                     : fu->mode == BRISK_CUDA_FUSE_ACT    ? ACT
                     : fu->mode == BRISK_CUDA_FUSE_ROPE   ? ROPE
                                                          : PLAIN;
    if (n < 1 || n > MAX_GROUP) return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_q8_fused: %d matrices", n);
    const int64_t n_out = ws[0]->n_out;
    if (mode == ADD_NORM && fu->in_norm)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_q8_fused: add_norm reads a plain x (in_norm unsupported)");
    if (mode == ADD_NORM || mode == ACT) {
        if ((mode == ADD_NORM) != (n == 1) || (mode == ACT && n != 2) || n_out % 32 || !fu->out_xq ||
            (mode == ACT && !fu->counters) || (mode == ADD_NORM && (!fu->norm_w || !d_ys || !d_ys[0])) ||
            (mode == ACT && (ws[1]->n_out != n_out || !fu->act_out || !fu->out16)))
            return brisk_fail(err, BRISK_ERR_ARG,
                              "CUDA gemv_q8_fused: %s needs %s, %lld rows (a multiple of 32) and its outputs",
                              mode == ACT ? "act" : "add_norm", mode == ACT ? "gate and up" : "one matrix",
                              (long long)n_out);
        f.norm_w = fu->norm_w;
        f.act_out = fu->act_out;
        f.out16 = (half *)fu->out16;
        f.out_xq = (uint8_t *)fu->out_xq;
        f.counters = (unsigned *)fu->counters;
        f.gelu = fu->gelu;
    } else if (mode == ROPE) {
        if (!rope_args(fu, &f.rope))
            return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_q8_fused: rope of head_dim %d, n_rot %d", fu->head_dim,
                              fu->n_rot);
        if (fu->kv_q8 && (fu->head_dim % 32 || fu->kv_rows <= 0 || !fu->counters))
            return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_q8_fused: rope into a Q8 cache needs head_dim a multiple "
                                                  "of 32 (%d), its rows and counters", fu->head_dim);
        for (int m = 0; m < n; m++) {
            const int role = fu->role[m];
            if (role < 0 || role > 2 || ws[m]->n_out % fu->head_dim ||
                ((role == 0 || fu->kv_q8) && (!d_ys || !d_ys[m])) || (role != 0 && !fu->cache[m]))
                return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_q8_fused: rope matrix %d (role %d)", m, role);
            f.role[m] = role;
            f.cache[m] = fu->cache[m];
        }
        f.kv_q8 = fu->kv_q8;
        f.kv_rows = fu->kv_rows;
        f.counters = (unsigned *)fu->counters;
    }
    return gemv_group(ws, d_ys, n, d_xq, 0, mode == ADD_NORM, f, mode, fu->in_norm, stream, err);
}
