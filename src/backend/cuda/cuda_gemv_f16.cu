// Decode GEMV of one column for F16 weights, on the CUDA cores: y = W x with
// W [n_out, n_in] f16 and x [n_in] f16, f32 products and sums.
//
// One column needs no tensor cores: the work is streaming the weights. Each
// warp owns R consecutive rows of one matrix (of P "planes": P = 2 reads row
// r of gate and of up together, so that act(gate x) * (up x) is computed where
// both sums are) and walks the whole row: lane l loads the 16-byte chunks
// l, l + 32, ... so every load instruction of the warp reads 512 contiguous
// bytes of a row. U chunks per row are loaded before any is used (U * P * R
// 16-byte loads in flight per lane); the first U are issued before
// griddepcontrol.wait in the source, while the previous kernel still runs (the
// weights are never written by it; ptxas moves most of them below the wait,
// see NOTES). Weights bypass L1 (ld.global.nc.L1::no_allocate; some
// configurations add the L2::256B prefetch hint) so that x, read by every warp
// of the SM, stays in the read-only cache. A row's 32 lane sums are added with shuffles; lane j < P * R
// writes row j's result (ADD: the residual row is loaded right after the wait,
// not after the sums; ROPE: lane i rotates and stores the pair 2i, 2i + 1).
//
// Rows never straddle matrices (every n_out is a multiple of 16, R divides
// 16) and a warp past the last row only waits and exits, so any n_out that is
// a multiple of 16 works with any block size; n_in: any multiple of 8 (lanes
// past the row's last chunk load nothing).
#include "backend/cuda/cuda_act.cuh"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_pdl.cuh"
#include "backend/cuda/cuda_rope.cuh"

#include <cstdlib>
#include <cstring>
#include <cuda_fp16.h>

namespace {

// The weight-load flavours a configuration can use.
enum Cache { LDG = 0, NO_L1 = 1, NO_L1_L2_256 = 2 };

template <int CACHE>
__device__ __forceinline__ uint4 load_w(const uint4 *p) {
    uint4 v;
    if (CACHE == LDG) return __ldg(p);
    if (CACHE == NO_L1)
        asm("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
            : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
            : "l"(p));
    else
        asm("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0,%1,%2,%3}, [%4];"
            : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
            : "l"(p));
    return v;
}

// What a launch computes: the plain product of up to 3 matrices that read the
// same x (y[m] = W[m] x, their rows end to end), the residual add of one
// matrix (y[0] += W x), act(gate x) * (up x) rounded to f16 (P = 2), or q/k/v
// with RoPE and the f16 K/V store (ROPE; R even: a warp holds whole pairs).
enum Mode { STORE = 0, ADD = 1, ACT = 2, ROPE = 3 };

struct Job {
    const uint8_t *w[3];
    float *y[3];
    int64_t row_end[3]; // cumulative n_out of matrices 0..m (STORE); ACT: gate's n_out
    int n;              // matrices (STORE)
    int64_t total;      // rows the warps take: row_end[n - 1] (STORE), else gate's n_out
    int64_t n_in;
    half *out16; // ACT
    bool gelu;   // ACT
    // ROPE: role[m] 0 = q (rotated, f32 into y[m]), 1 = k (rotated, f16 into cache[m]), 2 = v (f16 into cache[m]);
    // cache row rope.rows[0], position rope.pos[0]; adjacent pairs (2p, 2p + 1) of the first n_rot dims of each head.
    int role[3];
    half *cache[3];
    brisk_cuda::RopeArgs rope;
};


__device__ __forceinline__ float dot8(uint4 w, uint4 x, float acc) {
    const half2 *wh = reinterpret_cast<const half2 *>(&w);
    const half2 *xh = reinterpret_cast<const half2 *>(&x);
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const float2 wf = __half22float2(wh[j]), xf = __half22float2(xh[j]);
        acc = fmaf(wf.x, xf.x, acc);
        acc = fmaf(wf.y, xf.y, acc);
    }
    return acc;
}

template <int R, int U, int WARPS, int CACHE, int MODE>
__global__ void __launch_bounds__(WARPS * 32) gemv_f16_kernel(Job job, const half *__restrict__ x) {
    constexpr int P = MODE == ACT ? 2 : 1;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t base = ((int64_t)blockIdx.x * WARPS + warp) * R; // first row, across the matrices
    if (base >= job.total) { // (the grid's last block may have idle warps)
        brisk_cuda::pdl_wait();
        return;
    }
    // (selects, not indexing: a parameter array indexed at run time is copied to local memory)
    constexpr bool GROUP = MODE == STORE || MODE == ROPE;
    static_assert(MODE != ROPE || R % 2 == 0, "ROPE takes row pairs");
    const int m = !GROUP ? 0 : base < job.row_end[0] ? 0 : base < job.row_end[1] ? 1 : 2;
    const int64_t row = base - (m == 0 ? 0 : m == 1 ? job.row_end[0] : job.row_end[1]);
    const uint8_t *wm = m == 0 ? job.w[0] : m == 1 ? job.w[1] : job.w[2];
    float *ym = m == 0 ? job.y[0] : m == 1 ? job.y[1] : job.y[2];
    const int64_t n_chunks = job.n_in / 8; // 16-byte chunks per row
    const uint4 *wrow[P * R];
#pragma unroll
    for (int p = 0; p < P; p++)
#pragma unroll
        for (int r = 0; r < R; r++)
            wrow[p * R + r] = reinterpret_cast<const uint4 *>(p == 0 ? wm : job.w[1]) + (row + r) * n_chunks;

    uint4 wv[U][P * R];
    const uint4 zero = make_uint4(0, 0, 0, 0);
    auto load_weights = [&](int64_t c0) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t c = c0 + u * 32 + lane;
#pragma unroll
            for (int i = 0; i < P * R; i++) wv[u][i] = c < n_chunks ? load_w<CACHE>(wrow[i] + c) : zero;
        }
    };
    load_weights(0);
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    float y_old = 0.0f; // ADD: lane r's row of the residual, loaded while the weights stream
    if (MODE == ADD && lane < R) y_old = ym[row + lane];

    const uint4 *x4 = reinterpret_cast<const uint4 *>(x);
    float acc[P * R];
#pragma unroll
    for (int i = 0; i < P * R; i++) acc[i] = 0.0f;
    for (int64_t c0 = 0;;) {
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int64_t c = c0 + u * 32 + lane;
            // x through the read-only cache (__ldg), an exception to cuda_pdl.cuh's ld_prev16 rule:
            // 181.1-181.4 vs 179.7-179.8 tok/s on llama3-8b F16 (H100, session 6), and cuobjdump
            // -sass shows every x load of these kernels after griddepcontrol.wait (ACQBULK); a
            // compiler update must be checked the same way.
            const uint4 xv = c < n_chunks ? __ldg(x4 + c) : zero;
#pragma unroll
            for (int i = 0; i < P * R; i++) acc[i] = dot8(wv[u][i], xv, acc[i]);
        }
        c0 += 32 * U;
        if (c0 >= n_chunks) break;
        load_weights(c0);
    }
#pragma unroll
    for (int i = 0; i < P * R; i++)
#pragma unroll
        for (int off = 16; off > 0; off /= 2) acc[i] += __shfl_xor_sync(0xFFFFFFFFu, acc[i], off);

    // every lane holds every sum; lane r writes row r (ROPE: lane i the pair 2i, 2i + 1)
    if constexpr (MODE == ROPE) {
        const int role = m == 0 ? job.role[0] : m == 1 ? job.role[1] : job.role[2];
        const int64_t n_out = m == 0 ? job.row_end[0] : m == 1 ? job.row_end[1] - job.row_end[0]
                                                               : job.row_end[2] - job.row_end[1];
#pragma unroll
        for (int i = 0; i < R / 2; i++) {
            if (lane != i) continue;
            float x0 = acc[2 * i], x1 = acc[2 * i + 1];
            const int64_t r0 = row + 2 * i;
            if (role != 2) brisk_cuda::rope_rotate_rows(job.rope, r0, x0, x1);
            if (role == 0) {
                *reinterpret_cast<float2 *>(ym + r0) = make_float2(x0, x1);
            } else {
                half *c = (m == 0 ? job.cache[0] : m == 1 ? job.cache[1] : job.cache[2]) +
                          (int64_t)__ldg(job.rope.rows) * n_out + r0;
                *reinterpret_cast<half2 *>(c) = __floats2half2_rn(x0, x1);
            }
        }
    } else {
#pragma unroll
        for (int r = 0; r < R; r++) {
            if (lane != r) continue;
            if (MODE == STORE) ym[row + r] = acc[r];
            if (MODE == ADD) ym[row + r] = y_old + acc[r];
            if (MODE == ACT) job.out16[row + r] = __float2half_rn(brisk_cuda::act(acc[r], job.gelu) * acc[R + r]);
        }
    }
}

// A configuration: rows per warp R (ACT: R / 2 rows of gate and of up, at
// least 1), chunks in flight per row U, warps per block, weight loads.
struct Config {
    int rows, unroll, warps, cache;
};

// Variants for the bench (brisk_cuda_gemv_f16_variant / BRISK_CUDA_F16_VARIANT); 0 is the default.
constexpr Config configs[] = {
    {2, 4, 4, NO_L1},        // 0: the default (session 6, llama3-8b F16 decode, two rounds of
                             //    one call: 181.7 / 182.0 tok/s vs 180.8 / 181.1 for 2)
    {1, 8, 4, NO_L1},        // 1
    {2, 8, 4, NO_L1_L2_256}, // 2: cuda10's default (variant 0 before session 6)
    {1, 16, 4, NO_L1},       // 3
    {4, 4, 8, NO_L1},        // 4: 32 rows per block
    {2, 8, 4, LDG},          // 5
    {2, 8, 4, NO_L1},        // 6
    {1, 8, 8, NO_L1_L2_256}, // 7
    {2, 4, 8, NO_L1_L2_256}, // 8
    {1, 16, 2, NO_L1_L2_256} // 9
};
constexpr int N_CONFIGS = sizeof configs / sizeof configs[0];

template <int V, int MODE>
void launch_mode(const Job &job, const half *x, cudaStream_t s) {
    constexpr Config c = configs[V];
    constexpr int R = MODE == ACT ? (c.rows >= 2 ? c.rows / 2 : 1) : MODE == ROPE ? (c.rows >= 2 ? c.rows : 2) : c.rows;
    const int64_t total = job.total;
    const int64_t rows_per_block = (int64_t)R * c.warps;
    brisk_cuda::pdl_launch(gemv_f16_kernel<R, c.unroll, c.warps, c.cache, MODE>,
                           dim3((unsigned)((total + rows_per_block - 1) / rows_per_block)), dim3(c.warps * 32), 0, s,
                           job, x);
}

template <int V>
void launch_variant(const Job &job, int mode, const half *x, cudaStream_t s) {
    if (mode == STORE) launch_mode<V, STORE>(job, x, s);
    else if (mode == ADD) launch_mode<V, ADD>(job, x, s);
    else if (mode == ACT) launch_mode<V, ACT>(job, x, s);
    else launch_mode<V, ROPE>(job, x, s);
}

void launch(const Job &job, int mode, int variant, const half *x, cudaStream_t s) {
    switch (variant) {
    case 1: launch_variant<1>(job, mode, x, s); break;
    case 2: launch_variant<2>(job, mode, x, s); break;
    case 3: launch_variant<3>(job, mode, x, s); break;
    case 4: launch_variant<4>(job, mode, x, s); break;
    case 5: launch_variant<5>(job, mode, x, s); break;
    case 6: launch_variant<6>(job, mode, x, s); break;
    case 7: launch_variant<7>(job, mode, x, s); break;
    case 8: launch_variant<8>(job, mode, x, s); break;
    case 9: launch_variant<9>(job, mode, x, s); break;
    default: launch_variant<0>(job, mode, x, s); break;
    }
}

// The configuration of a mode's launches (bench knobs): BRISK_CUDA_F16_VARIANT_
// <STORE|ADD|ACT|ROPE>, else BRISK_CUDA_F16_VARIANT (every mode), else 0.
int default_variant(brisk_cuda_f16_mode mode) {
    static int by_mode[4];
    static const bool read = [] {
        const char *all = getenv("BRISK_CUDA_F16_VARIANT");
        const char *names[4] = {"BRISK_CUDA_F16_VARIANT_STORE", "BRISK_CUDA_F16_VARIANT_ADD",
                                "BRISK_CUDA_F16_VARIANT_ACT", "BRISK_CUDA_F16_VARIANT_ROPE"};
        for (int m = 0; m < 4; m++) {
            const char *e = getenv(names[m]);
            const int i = e ? atoi(e) : all ? atoi(all) : 0;
            by_mode[m] = i >= 0 && i < N_CONFIGS ? i : 0;
        }
        return true;
    }();
    (void)read;
    return by_mode[(int)mode];
}

} // namespace

// BRISK_CUDA_F16_GEMV=0: 1 column of F16 on the tensor-core kernel, as before this kernel (bench knob).
extern "C" bool brisk_cuda_gemv_f16_enabled(void) {
    static const bool on = [] {
        const char *e = getenv("BRISK_CUDA_F16_GEMV");
        return !e || strcmp(e, "0") != 0;
    }();
    return on;
}

namespace {

brisk_status run(const brisk_cuda_weight *const *ws, float *const *d_ys, int n, const void *d_x16,
                 brisk_cuda_f16_mode mode, bool gelu, void *d_out16, const brisk_cuda_q8_fusion *rope, int variant,
                 void *stream, brisk_error *err) {
    const bool group = mode == BRISK_CUDA_F16_STORE || mode == BRISK_CUDA_F16_ROPE;
    const int need = group ? -1 : mode == BRISK_CUDA_F16_ADD ? 1 : 2;
    if (n < 1 || n > 3 || (need > 0 && n != need))
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_f16: %d matrices for mode %d", n, (int)mode);
    Job job = {};
    job.n = n;
    job.n_in = ws[0]->n_in;
    job.gelu = gelu;
    job.out16 = (half *)d_out16;
    int64_t end = 0;
    for (int i = 0; i < n; i++) {
        const brisk_cuda_weight *w = ws[i];
        if (w->type != BRISK_TYPE_F16 || w->n_in != job.n_in || w->n_in % 8 || w->n_out % 16 || w->n_out <= 0)
            return brisk_fail(err, BRISK_ERR_ARG,
                              "CUDA gemv_f16: matrix %d is %s %lld x %lld (F16, one n_in a multiple of 8, rows a "
                              "multiple of 16)",
                              i, brisk_type_get(w->type)->name, (long long)w->n_out, (long long)w->n_in);
        const bool to_y = mode == BRISK_CUDA_F16_ROPE ? rope && rope->role[i] == 0 : mode != BRISK_CUDA_F16_ACT;
        if (to_y && (!d_ys || !d_ys[i]))
            return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_f16: no output for matrix %d", i);
        job.w[i] = (const uint8_t *)w->d_data;
        job.y[i] = to_y ? d_ys[i] : nullptr;
        end += w->n_out;
        job.row_end[i] = end;
    }
    if (mode == BRISK_CUDA_F16_ACT) {
        if (ws[1]->n_out != ws[0]->n_out || !d_out16)
            return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_f16 act: gate and up of %lld and %lld rows, out16 %s",
                              (long long)ws[0]->n_out, (long long)ws[1]->n_out, d_out16 ? "set" : "missing");
        job.row_end[0] = ws[0]->n_out;
    }
    if (mode == BRISK_CUDA_F16_ROPE) {
        if (!brisk_cuda::rope_args(rope, &job.rope))
            return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_f16: rope of head_dim %d, n_rot %d",
                              rope ? rope->head_dim : 0, rope ? rope->n_rot : 0);
        for (int i = 0; i < n; i++) {
            const int role = rope->role[i];
            if (role < 0 || role > 2 || ws[i]->n_out % rope->head_dim || (role != 0 && !rope->cache[i]))
                return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_f16: rope matrix %d (role %d)", i, role);
            job.role[i] = role;
            job.cache[i] = (half *)rope->cache[i];
        }
    }
    job.total = job.row_end[group ? n - 1 : 0];
    launch(job, (int)mode, variant, (const half *)d_x16, (cudaStream_t)stream);
    CUDA_LAUNCHED(err, "gemv_f16");
    return BRISK_OK;
}

} // namespace

extern "C" brisk_status brisk_cuda_gemv_f16(const brisk_cuda_weight *const *ws, float *const *d_ys, int n,
                                            const void *d_x16, brisk_cuda_f16_mode mode, bool gelu, void *d_out16,
                                            const brisk_cuda_q8_fusion *rope, void *stream, brisk_error *err) {
    return run(ws, d_ys, n, d_x16, mode, gelu, d_out16, rope, default_variant(mode), stream, err);
}

extern "C" brisk_status brisk_cuda_gemv_f16_variant(const brisk_cuda_weight *w, const void *d_x16, float *d_y,
                                                    int variant, void *stream, brisk_error *err) {
    if (variant < 0 || variant >= N_CONFIGS)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv_f16: variant %d (0..%d)", variant, N_CONFIGS - 1);
    return run(&w, &d_y, 1, d_x16, BRISK_CUDA_F16_STORE, false, nullptr, nullptr, variant, stream, err);
}

extern "C" int brisk_cuda_gemv_f16_variants(void) { return N_CONFIGS; }
