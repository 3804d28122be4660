// Decode GEMV on the tensor cores: y[c, :] = W x[c, :] for up to 8 columns.
//
// One mma.m16n8k16 multiplies 16 weight rows by 8 activation columns over 16
// elements of k. Lane (g = lane / 4, t = lane % 4) of a warp supplies the A
// operand of rows g and g + 8 and the B operand of column g. A dot product
// does not care about the order of k, so instead of the mma's own k order each
// lane feeds elements of the chunks it loaded itself with 16-byte loads
// (cuda_formats.cuh): its pair w[2s] takes the mma's k = 2t, 2t+1 and w[2s+1]
// k = 2t+8, 2t+9, and column g's activations are loaded for the same elements.
// So the weights stream straight from memory to registers, once for all
// columns, with no shared memory and no shuffles.
//
// Grid: one block per 16 rows; its WARPS warps split the row's chunk groups
// (4 consecutive chunks, one per t) and add their partial sums in shared
// memory at the end. Each warp loads UNROLL groups before using any.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_pdl.cuh"
#include "backend/cuda/cuda_formats.cuh"

using namespace brisk_cuda;

namespace {

__device__ __forceinline__ uint32_t h2u(half2 h) { return *reinterpret_cast<uint32_t *>(&h); }

// acc += A (16x16 f16) * B (16x8 f16), f32 accumulators (PTX m16n8k16 layout).
__device__ __forceinline__ void mma_16816(float acc[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                          uint32_t a3, uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

template <class Fmt, int WARPS, int UNROLL>
__global__ void __launch_bounds__(WARPS * 32)
gemv_kernel(const uint8_t *__restrict__ w, const half *__restrict__ x, float *__restrict__ y,
            int64_t n_in, int64_t n_out, int n_cols) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    constexpr int PAIRS = Fmt::RUNS * Fmt::RUN / 2;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int g = lane / 4, t = lane % 4;
    const int64_t r0 = (int64_t)blockIdx.x * 16 + g, r1 = r0 + 8;
    const int64_t n_groups = n_in / Fmt::CHUNK / 4;
    const bool has_col = g < n_cols;
    const half *xc = x + (int64_t)(has_col ? g : 0) * n_in;
    float acc[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};

    for (int64_t base = warp; base < n_groups; base += WARPS * UNROLL) {
        typename Fmt::Raw ra[UNROLL], rb[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int64_t gi = base + (int64_t)u * WARPS;
            if (gi < n_groups) {
                Fmt::load(w, n_in, n_out, r0, gi * 4 + t, ra[u]);
                Fmt::load(w, n_in, n_out, r1, gi * 4 + t, rb[u]);
            }
        }
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int64_t gi = base + (int64_t)u * WARPS;
            if (gi >= n_groups) break;
            const int64_t ci = gi * 4 + t;
            half2 wa[PAIRS], wb[PAIRS];
            Fmt::decode(ra[u], wa);
            Fmt::decode(rb[u], wb);
#pragma unroll
            for (int run = 0; run < Fmt::RUNS; run++) {
                uint4 xv[Fmt::RUN / 8];
                const uint4 *xp = reinterpret_cast<const uint4 *>(xc + Fmt::run_start(ci, run));
#pragma unroll
                for (int k = 0; k < Fmt::RUN / 8; k++)
                    xv[k] = has_col ? brisk_cuda::ld_prev16(xp + k) : make_uint4(0, 0, 0, 0);
                const uint32_t *xb = reinterpret_cast<const uint32_t *>(xv);
#pragma unroll
                for (int s = 0; s < Fmt::RUN / 4; s++) {
                    const int p = run * Fmt::RUN / 2 + 2 * s;
                    mma_16816(acc[s % 2], h2u(wa[p]), h2u(wb[p]), h2u(wa[p + 1]), h2u(wb[p + 1]),
                              xb[2 * s], xb[2 * s + 1]);
                }
            }
        }
    }

    // c0, c1: row r0, columns 2t, 2t+1; c2, c3: row r1.
    __shared__ float part[WARPS][32][4];
#pragma unroll
    for (int i = 0; i < 4; i++) part[warp][lane][i] = acc[0][i] + acc[1][i];
    __syncthreads();
    if (warp != 0) return;
    float sum[4] = {0, 0, 0, 0};
#pragma unroll
    for (int wi = 0; wi < WARPS; wi++)
#pragma unroll
        for (int i = 0; i < 4; i++) sum[i] += part[wi][lane][i];
    const int c0 = 2 * t, c1 = 2 * t + 1;
    if (c0 < n_cols) {
        y[(int64_t)c0 * n_out + r0] = sum[0];
        y[(int64_t)c0 * n_out + r1] = sum[2];
    }
    if (c1 < n_cols) {
        y[(int64_t)c1 * n_out + r0] = sum[1];
        y[(int64_t)c1 * n_out + r1] = sum[3];
    }
}

template <class Fmt, int WARPS, int UNROLL>
void launch(const brisk_cuda_weight *w, const void *x, float *y, int n_cols, cudaStream_t s) {
    brisk_cuda::pdl_launch(gemv_kernel<Fmt, WARPS, UNROLL>, dim3((unsigned)(w->n_out / 16)), dim3(WARPS * 32), 0, s,
                           (const uint8_t *)w->d_data, (const half *)x, y, w->n_in, w->n_out, n_cols);
}

// The tuned configuration per type (bench/cuda_bench.c measures the others
// through brisk_cuda_gemv_variant).
template <int WARPS, int UNROLL>
bool launch_type(const brisk_cuda_weight *w, const void *x, float *y, int n_cols, cudaStream_t s) {
    switch (w->type) {
    case BRISK_TYPE_F16: launch<FmtF16, WARPS, UNROLL * 2>(w, x, y, n_cols, s); return true;
    case BRISK_TYPE_Q8_0: launch<FmtQ8_0, WARPS, UNROLL * 2>(w, x, y, n_cols, s); return true;
    case BRISK_TYPE_Q4_K: launch<FmtQ4_K, WARPS, UNROLL>(w, x, y, n_cols, s); return true;
    case BRISK_TYPE_Q6_K: launch<FmtQ6_K, WARPS, (UNROLL + 1) / 2>(w, x, y, n_cols, s); return true;
    default: return false;
    }
}

} // namespace

// variant: 0 = the default (1 column of F16: cuda_gemv_f16.cu's kernel); 1..4 = (warps,
// unroll) = (4,2), (4,4), (8,2), (8,4).
extern "C" brisk_status brisk_cuda_gemv_variant(const brisk_cuda_weight *w, const void *d_x,
                                                float *d_y, int n_cols, int variant, void *stream,
                                                brisk_error *err) {
    if (n_cols < 1 || n_cols > BRISK_CUDA_GEMV_MAX_COLS)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemv: %d columns (1..%d)", n_cols,
                          BRISK_CUDA_GEMV_MAX_COLS);
    if (variant == 0 && n_cols == 1 && w->type == BRISK_TYPE_F16 && brisk_cuda_gemv_f16_enabled())
        return brisk_cuda_gemv_f16(&w, &d_y, 1, d_x, BRISK_CUDA_F16_STORE, false, NULL, NULL, stream, err);
    cudaStream_t s = (cudaStream_t)stream;
    bool ok;
    switch (variant) {
    case 1: ok = launch_type<4, 2>(w, d_x, d_y, n_cols, s); break;
    case 2: ok = launch_type<4, 4>(w, d_x, d_y, n_cols, s); break;
    case 3: ok = launch_type<8, 2>(w, d_x, d_y, n_cols, s); break;
    case 4: ok = launch_type<8, 4>(w, d_x, d_y, n_cols, s); break;
    default: ok = launch_type<8, 2>(w, d_x, d_y, n_cols, s); break;
    }
    if (!ok) return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "CUDA gemv: weight type %d", (int)w->type);
    CUDA_LAUNCHED(err, "gemv");
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_gemv(const brisk_cuda_weight *w, const void *d_x, float *d_y,
                                        int n_cols, void *stream, brisk_error *err) {
    return brisk_cuda_gemv_variant(w, d_x, d_y, n_cols, 0, stream, err);
}
