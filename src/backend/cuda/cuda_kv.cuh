// The device KV cache's element types, for the kernels that store into it
// (rope_kv_store, kv_store) and read it (the attention kernels). Layout of a
// cache of `rows` rows of `width` elements (cuda_backend.h, brisk_cuda_kv_type):
//   F16: [rows, width] halves.
//   Q8 : [rows, width] int8 q, then [rows, width / 32] f16 scales d (one per
//        32 consecutive elements of a row; head dims are multiples of 32, so
//        a 32-block never crosses heads): x = q * d.
// A reader takes 8 consecutive elements of a row at a time (a "piece":
// element offset a multiple of 8): 16 bytes (F16) or 8 bytes + the block's
// scale (Q8), converted to 8 halves or 8 floats where they are used.
#ifndef BRISK_CUDA_KV_CUH
#define BRISK_CUDA_KV_CUH

#include <cuda_fp16.h>
#include <stdint.h>

namespace brisk_cuda {

struct KvRef {
    const void *data;     // the cache
    const half *scales;   // Q8: data + rows * width bytes; F16: nullptr
    int64_t width;        // elements per row
};

inline KvRef kv_ref(const void *data, bool q8, int64_t rows, int64_t width) {
    KvRef r = {data, q8 ? reinterpret_cast<const half *>(static_cast<const int8_t *>(data) + rows * width) : nullptr,
               width};
    return r;
}

template <bool Q8> struct KvPiece;
template <> struct KvPiece<false> { uint4 v; };       // 8 halves
template <> struct KvPiece<true> { uint2 q; half d; }; // 8 int8 values and their scale

template <bool Q8> __device__ __forceinline__ KvPiece<Q8> kv_zero();
template <> __device__ __forceinline__ KvPiece<false> kv_zero<false>() { return {make_uint4(0, 0, 0, 0)}; }
template <> __device__ __forceinline__ KvPiece<true> kv_zero<true>() { return {make_uint2(0, 0), __ushort_as_half(0)}; }

// Elements e .. e + 7 of cache row `row`.
template <bool Q8> __device__ __forceinline__ KvPiece<Q8> kv_load(const KvRef &c, int64_t row, int64_t e);
template <> __device__ __forceinline__ KvPiece<false> kv_load<false>(const KvRef &c, int64_t row, int64_t e) {
    return {__ldg(reinterpret_cast<const uint4 *>(static_cast<const half *>(c.data) + row * c.width + e))};
}
template <> __device__ __forceinline__ KvPiece<true> kv_load<true>(const KvRef &c, int64_t row, int64_t e) {
    KvPiece<true> p;
    p.q = __ldg(reinterpret_cast<const uint2 *>(static_cast<const int8_t *>(c.data) + row * c.width + e));
    p.d = __ldg(c.scales + row * (c.width / 32) + e / 32);
    return p;
}

// Q8: the 8 values at e of row `row` alone, and the D / 32 scales of the head
// row that starts at e0 (D = 64: in .x; D = 128: 4 halves), one load for all
// the pieces of a head row; kv_scale_at picks scale i.
__device__ __forceinline__ uint2 kv_load_q(const KvRef &c, int64_t row, int64_t e) {
    return __ldg(reinterpret_cast<const uint2 *>(static_cast<const int8_t *>(c.data) + row * c.width + e));
}
template <int D> __device__ __forceinline__ uint2 kv_row_scales(const KvRef &c, int64_t row, int64_t e0) {
    const half *p = c.scales + row * (c.width / 32) + e0 / 32;
    if constexpr (D == 128) return __ldg(reinterpret_cast<const uint2 *>(p));
    else return make_uint2(__ldg(reinterpret_cast<const unsigned int *>(p)), 0u);
}
__device__ __forceinline__ half kv_scale_at(const uint2 &s, int i) {
    const uint32_t w = i < 2 ? s.x : s.y;
    return __ushort_as_half((unsigned short)(i % 2 ? w >> 16 : w & 0xffffu));
}

// Two int8 (bytes lo, lo + 1 of w, already xor 0x80: u = q + 128) to halves
// q * d: the bytes become the mantissas of 1024 + u (exact), minus 1152, times d.
__device__ __forceinline__ uint32_t q8_pair(uint32_t w, uint32_t sel, half2 d2) {
    const uint32_t bits = __byte_perm(w, 0x64646464u, sel);
    const half2 v = __hmul2(__hsub2(*reinterpret_cast<const half2 *>(&bits), __float2half2_rn(1152.0f)), d2);
    return *reinterpret_cast<const uint32_t *>(&v);
}

// A piece as 8 halves (F16: as stored; Q8: f16(q * d), the product rounded once).
__device__ __forceinline__ uint4 kv_halves(const KvPiece<false> &p) { return p.v; }
__device__ __forceinline__ uint4 kv_halves(const KvPiece<true> &p) {
    const uint32_t x = p.q.x ^ 0x80808080u, y = p.q.y ^ 0x80808080u;
    const half2 d2 = __half2half2(p.d);
    return make_uint4(q8_pair(x, 0x4140u, d2), q8_pair(x, 0x4342u, d2), q8_pair(y, 0x4140u, d2),
                      q8_pair(y, 0x4342u, d2));
}

// A piece as 8 floats (F16: exact; Q8: q * d in f32, exact).
__device__ __forceinline__ void kv_floats(const KvPiece<false> &p, float f[8]) {
    const half2 *h = reinterpret_cast<const half2 *>(&p.v);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const float2 v = __half22float2(h[i]);
        f[2 * i] = v.x;
        f[2 * i + 1] = v.y;
    }
}
__device__ __forceinline__ void kv_floats(const KvPiece<true> &p, float f[8]) {
    const float d = __half2float(p.d);
    const char4 a = *reinterpret_cast<const char4 *>(&p.q.x), b = *reinterpret_cast<const char4 *>(&p.q.y);
    f[0] = a.x * d, f[1] = a.y * d, f[2] = a.z * d, f[3] = a.w * d;
    f[4] = b.x * d, f[5] = b.y * d, f[6] = b.z * d, f[7] = b.w * d;
}

// The Q8 rule for one 32-block whose element i is x_i (the caller's lane i of
// a warp: every lane of the warp calls this with its element): d =
// f16(max |x| / 127), q_i = round-to-even(x_i / d) clamped to [-127, 127]
// (0 when d is 0). Returns q_i; *d_out = d.
__device__ __forceinline__ int8_t q8_quantize_lane(float x, half *d_out) {
    float amax = fabsf(x);
#pragma unroll
    for (int o = 16; o > 0; o /= 2) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const half d = __float2half_rn(amax / 127.0f);
    const float df = __half2float(d);
    *d_out = d;
    if (df == 0.0f) return 0;
    const float q = rintf(x / df);
    return (int8_t)fminf(fmaxf(q, -127.0f), 127.0f);
}

} // namespace brisk_cuda

#endif
