// Device-side decoding of the repacked weight layouts (cuda_weights.cu).
//
// Each format is read in "chunks": one thread loads a chunk of one row with
// 16-byte loads (load), then turns it into f16 pairs (decode). A chunk is RUNS
// runs of RUN contiguous elements of the row; decode writes w[r * RUN/2 + j] =
// (element run_start(r) + 2j, element run_start(r) + 2j + 1). The GEMV loads
// the activations of the same runs, so any order inside a chunk works as long
// as both sides follow run_start.
//
// Quants become f16 exactly through the 0x6400 trick: the half with bits
// 0x6400 | u (u < 1024) is 1024 + u. Scales are computed in f32 exactly as the
// CPU reference does (d * (float)scale), then rounded once to f16.
#ifndef BRISK_CUDA_FORMATS_CUH
#define BRISK_CUDA_FORMATS_CUH

#include <cuda_fp16.h>
#include <stdint.h>

namespace brisk_cuda {

// Byte i (0..15) of v; selects instead of an indexed array, which would live
// in local memory when i is not a compile-time constant.
__device__ __forceinline__ int byte_at(uint4 v, int i) {
    const int w = i >> 2;
    const uint32_t word = w == 0 ? v.x : w == 1 ? v.y : w == 2 ? v.z : v.w;
    return (int)((word >> (8 * (i & 3))) & 0xFFu);
}

__device__ __forceinline__ half2 u32_as_half2(uint32_t u) {
    return *reinterpret_cast<half2 *>(&u);
}

// Bytes 0,1 (sel 0x4140) or 2,3 (sel 0x4342) of v as the halves 1024 + byte.
__device__ __forceinline__ half2 bytes_to_1024_plus(uint32_t v, uint32_t sel) {
    return u32_as_half2(__byte_perm(v, 0x64646464u, sel));
}

// Four unsigned bytes of v, as halves 1024 + byte, minus `bias` (exact), times
// scale: out[0] = bytes 0,1; out[1] = bytes 2,3.
__device__ __forceinline__ void bytes_to_half2x2(uint32_t v, half2 bias, half2 scale, half2 *out) {
    out[0] = __hmul2(__hsub2(bytes_to_1024_plus(v, 0x4140), bias), scale);
    out[1] = __hmul2(__hsub2(bytes_to_1024_plus(v, 0x4342), bias), scale);
}

// F16: [n_out, n_in] halves. Chunk = 8 elements = one 16-byte load.
struct FmtF16 {
    static constexpr int RUNS = 1, RUN = 8, CHUNK = 8;
    struct Raw { uint4 q; };
    __device__ static void load(const uint8_t *w, int64_t n_in, int64_t n_out, int64_t row,
                                int64_t ci, Raw &r) {
        r.q = __ldg(reinterpret_cast<const uint4 *>(w + (row * n_in + ci * 8) * 2));
    }
    __device__ static int64_t run_start(int64_t ci, int) { return ci * 8; }
    __device__ static void decode(const Raw &r, half2 *out) {
        out[0] = u32_as_half2(r.q.x);
        out[1] = u32_as_half2(r.q.y);
        out[2] = u32_as_half2(r.q.z);
        out[3] = u32_as_half2(r.q.w);
    }
};

// Q8_0 repacked: quants [n_out, n_in] int8, then d [n_out, n_in / 32] f16.
// Chunk = 16 elements (half a block): value = d * q.
struct FmtQ8_0 {
    static constexpr int RUNS = 1, RUN = 16, CHUNK = 16;
    struct Raw { uint4 q; unsigned short d; };
    __device__ static void load(const uint8_t *w, int64_t n_in, int64_t n_out, int64_t row,
                                int64_t ci, Raw &r) {
        r.q = __ldg(reinterpret_cast<const uint4 *>(w + row * n_in + ci * 16));
        const unsigned short *d = reinterpret_cast<const unsigned short *>(w + n_out * n_in);
        r.d = __ldg(d + row * (n_in / 32) + ci / 2);
    }
    __device__ static int64_t run_start(int64_t ci, int) { return ci * 16; }
    __device__ static void decode(const Raw &r, half2 *out) {
        const half2 scale = __half2half2(__ushort_as_half(r.d));
        const half2 bias = __float2half2_rn(1024.0f + 128.0f); // int8 ^ 0x80 = q + 128
        const uint32_t v[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
#pragma unroll
        for (int k = 0; k < 4; k++) bytes_to_half2x2(v[k] ^ 0x80808080u, bias, scale, out + 2 * k);
    }
};

// Q4_K: the file's 144-byte super-blocks [n_out, n_in / 256]: 16-byte header
// (f16 d, f16 dmin, scales[12]) then qs[128]. Chunk ci (8 per super-block):
// b = ci / 8, c = (ci % 8) / 2, h = ci % 2 reads qs[32c + 16h .. +16): run 0 =
// the low nibbles (elements 64c + 16h + 0..15, sub-block 2c), run 1 = the
// high nibbles (elements 64c + 32 + 16h + 0..15, sub-block 2c + 1).
// value = (d * sc) * q - dmin * m.
struct FmtQ4_K {
    static constexpr int RUNS = 2, RUN = 16, CHUNK = 32;
    struct Raw { uint4 hdr, q; int c; };
    __device__ static void load(const uint8_t *w, int64_t n_in, int64_t n_out, int64_t row,
                                int64_t ci, Raw &r) {
        const uint8_t *blk = w + (row * (n_in / 256) + ci / 8) * 144;
        const int c = (int)(ci % 8) / 2, h = (int)(ci % 2);
        r.hdr = __ldg(reinterpret_cast<const uint4 *>(blk));
        r.q = __ldg(reinterpret_cast<const uint4 *>(blk + 16 + 32 * c + 16 * h));
        r.c = c;
    }
    __device__ static int64_t run_start(int64_t ci, int run) {
        return (ci / 8) * 256 + 64 * ((ci % 8) / 2) + 16 * (ci % 2) + 32 * run;
    }
    // 6-bit scale and min of sub-block j. The 12 scale bytes are header bytes
    // 4..15 (words y, z, w); sub-block j uses byte j % 4 of each word.
    __device__ static void scale_min(uint4 hdr, int j, int &sc, int &m) {
        const int sh = 8 * (j & 3);
        const int a = (int)(hdr.y >> sh) & 0xFF, b = (int)(hdr.z >> sh) & 0xFF;
        const int e = (int)(hdr.w >> sh) & 0xFF;
        sc = j < 4 ? a & 63 : (e & 0x0F) | ((a >> 2) & 0x30);
        m = j < 4 ? b & 63 : (e >> 4) | ((b >> 2) & 0x30);
    }
    __device__ static void decode(const Raw &r, half2 *out) {
        const float d = __half2float(__ushort_as_half((unsigned short)(r.hdr.x & 0xFFFF)));
        const float dmin = __half2float(__ushort_as_half((unsigned short)(r.hdr.x >> 16)));
        const half2 bias = __float2half2_rn(1024.0f);
        const uint32_t v[4] = {r.q.x, r.q.y, r.q.z, r.q.w};
#pragma unroll
        for (int run = 0; run < 2; run++) {
            int sc, m;
            scale_min(r.hdr, 2 * r.c + run, sc, m);
            const half2 dl = __float2half2_rn(d * (float)sc);
            const half2 ml = __float2half2_rn(dmin * (float)m);
#pragma unroll
            for (int k = 0; k < 4; k++) {
                const uint32_t nib = (v[k] >> (4 * run)) & 0x0F0F0F0Fu;
                half2 *o = out + 8 * run + 2 * k;
                o[0] = __hfma2(__hsub2(bytes_to_1024_plus(nib, 0x4140), bias), dl, __hneg2(ml));
                o[1] = __hfma2(__hsub2(bytes_to_1024_plus(nib, 0x4342), bias), dl, __hneg2(ml));
            }
        }
    }
};

// Q6_K repacked: [n_out, n_in / 256] 208-byte blocks (ql[128], qh[64],
// i8 scales[16]), then d [n_out, n_in / 256] f16. Chunk ci (4 per block):
// b = ci / 4, h = (ci % 4) / 2, l0 = 16 * (ci % 2); run k (0..3) = elements
// 128h + 32k + l0 + 0..15: low 4 bits = nibble k/2 of ql[64h + 32(k%2) + l0 + i],
// high 2 bits = bits 2k of qh[32h + l0 + i]; value = (d * scale) * (q - 32).
struct FmtQ6_K {
    static constexpr int RUNS = 4, RUN = 16, CHUNK = 64;
    struct Raw { uint4 ql0, ql1, qh, sc; unsigned short d; int h, l0; };
    __device__ static void load(const uint8_t *w, int64_t n_in, int64_t n_out, int64_t row,
                                int64_t ci, Raw &r) {
        const int64_t nb = n_in / 256, b = row * nb + ci / 4;
        const uint8_t *blk = w + b * 208;
        const int h = (int)(ci % 4) / 2, l0 = 16 * (int)(ci % 2);
        r.ql0 = __ldg(reinterpret_cast<const uint4 *>(blk + 64 * h + l0));
        r.ql1 = __ldg(reinterpret_cast<const uint4 *>(blk + 64 * h + 32 + l0));
        r.qh = __ldg(reinterpret_cast<const uint4 *>(blk + 128 + 32 * h + l0));
        r.sc = __ldg(reinterpret_cast<const uint4 *>(blk + 192));
        r.d = __ldg(reinterpret_cast<const unsigned short *>(w + n_out * nb * 208) + b);
        r.h = h;
        r.l0 = l0;
    }
    __device__ static int64_t run_start(int64_t ci, int run) {
        return (ci / 4) * 256 + 128 * ((ci % 4) / 2) + 32 * run + 16 * (ci % 2);
    }
    __device__ static void decode(const Raw &r, half2 *out) {
        const float d = __half2float(__ushort_as_half(r.d));
        const uint32_t l0w[4] = {r.ql0.x, r.ql0.y, r.ql0.z, r.ql0.w};
        const uint32_t l1w[4] = {r.ql1.x, r.ql1.y, r.ql1.z, r.ql1.w};
        const uint32_t hw[4] = {r.qh.x, r.qh.y, r.qh.z, r.qh.w};
        const half2 bias = __float2half2_rn(1024.0f + 32.0f);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            const int scale = (int8_t)byte_at(r.sc, 8 * r.h + 2 * k + r.l0 / 16);
            const half2 dl = __float2half2_rn(d * (float)scale);
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const uint32_t lo = ((k % 2 ? l1w[j] : l0w[j]) >> (4 * (k / 2))) & 0x0F0F0F0Fu;
                const uint32_t hi = ((hw[j] >> (2 * k)) & 0x03030303u) << 4;
                bytes_to_half2x2(lo | hi, bias, dl, out + 8 * k + 2 * j);
            }
        }
    }
};

} // namespace brisk_cuda

#endif
