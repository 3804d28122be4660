// RoPE's rotation on the device, shared by the RoPE + KV store kernel
// (cuda_ops.cu) and the GEMV epilogues that rotate q and k as they produce
// them (cuda_gemv_q8.cu, cuda_gemv_f16.cu): the same arithmetic everywhere, so
// the fused paths stay bit-exact with the unfused one.
#ifndef BRISK_CUDA_ROPE_CUH
#define BRISK_CUDA_ROPE_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "backend/cuda/cuda_backend.h"

namespace brisk_cuda {

// The rotation of a fused q/k/v epilogue (brisk_cuda_q8_fusion's RoPE fields):
// the token's position pos[0] and cache row rows[0] on the device,
// model/rope.c's frequencies inv_freq[n_rot / 2], the rotated dims n_rot of
// each head_dim, YaRN's attention factor mscale.
struct RopeArgs {
    const int32_t *pos, *rows;
    const float *inv_freq;
    int head_dim, n_rot;
    float mscale;
};

// The RopeArgs of a fusion, or false when its shape is not one the epilogues
// take (positions, rows and frequencies given; head_dim even; n_rot even and
// at most head_dim).
inline bool rope_args(const brisk_cuda_q8_fusion *fu, RopeArgs *out) {
    if (!fu || !fu->pos || !fu->rows || !fu->inv_freq || fu->head_dim <= 0 || fu->head_dim % 2 || fu->n_rot < 0 ||
        fu->n_rot % 2 || fu->n_rot > fu->head_dim)
        return false;
    *out = RopeArgs{fu->pos, fu->rows, fu->inv_freq, fu->head_dim, fu->n_rot, fu->mscale};
    return true;
}

// (x0, x1) = the elements of rotated pair p (< n_rot / 2) at position pos:
// angle pos * inv_freq[p] (model/rope.c's frequencies, uploaded once), cos
// and sin scaled by mscale (YaRN's attention factor, else 1).
__device__ __forceinline__ float2 rope_rotate(float x0, float x1, int p, float pos, const float *inv_freq,
                                              float mscale) {
    const float angle = pos * __ldg(inv_freq + p);
    float s, c;
    sincosf(angle, &s, &c);
    c *= mscale;
    s *= mscale;
    return make_float2(x0 * c - x1 * s, x0 * s + x1 * c);
}

// The adjacent pair (x0, x1) at rows (row, row + 1), row even, of a q or k
// vector [heads x head_dim] of the token at *f.pos. Dims past n_rot stay as
// they are.
__device__ __forceinline__ void rope_rotate_rows(const RopeArgs &f, int64_t row, float &x0, float &x1) {
    const int d = (int)(row % f.head_dim);
    if (d >= f.n_rot) return;
    const float2 r = rope_rotate(x0, x1, d / 2, (float)__ldg(f.pos), f.inv_freq, f.mscale);
    x0 = r.x;
    x1 = r.y;
}

} // namespace brisk_cuda

#endif
