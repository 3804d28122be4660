// Attention over the KV cache (f16 or Q8: cuda_kv.cuh), split over the
// context (flash-decoding).
// Two split kernels: attn_split_mma (tensor cores; head_dim == head_dim_v ==
// 64 or 128, the common case; described at the kernel; over a Q8 cache its
// variant attn_split_mma_q8 stages the tiles through shared memory) and
// attn_split (CUDA cores, f32; any head_dim multiple of 8 up to 256), then
// attn_combine when there are several splits.
//
// attn_split: one block per (KV head, context split, query token), serving
// all the query heads of its KV head (GQA group): each K and V row is read
// once per group. A row of head_dim halves is read by LPR lanes, one 16-byte
// vector each (LPR = head_dim / 8 rounded up to a power of two), so a warp
// holds 32 / LPR "streams", each walking its own rows of the split with its
// own online softmax (running max m and sum l per head, in log2 units, and
// the unnormalized output of its lanes' 8 dims). A stream loads R rows of K
// and V at once, one step ahead of their use (two steps' loads in flight
// while it computes), and needs no barrier:
// the scores are reduced over the row's lanes by shuffles. At the end the
// streams of a warp merge by shuffles, the warps through shared memory.
// With one split the block writes the normalized output; with several it
// writes (m, l, unnormalized output) per split and attn_combine merges them.
#include <cuda_fp16.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_kv.cuh"
#include "backend/cuda/cuda_pdl.cuh"
#include "backend/cuda/cuda_xq.cuh"

namespace {

const int THREADS = 128, WARPS = THREADS / 32;
const int MIN_CHUNK = 32;       // context rows a split takes at least
const int MAX_GROUP = 8;        // query heads per KV head
const int MAX_DIM = 256;        // head_dim and head_dim_v: multiples of 8 up to this
const int TARGET_BLOCKS = 264;  // one wave of two blocks per SM on an H100 (a long context's KV streams)
const int MAX_SPLITS = 128;
const int MAX_SPLITS_COMBINE = 1024; // splits a launch takes
const float LOG2E = 1.4426950408889634f;

struct Shape {
    int n_q, n_head, n_head_kv, head_dim, head_dim_v, window, group, n_splits;
    float scale, softcap;
    // Paged cache: query qi's position p is at row tables[table_off[qi] + p / block_size]
    // * block_size + p % block_size. tables == nullptr: row p.
    const int32_t *tables, *table_off;
    int block_size;
};

__device__ __forceinline__ int64_t cache_row(const Shape &s, const int32_t *table, int p) {
    return table ? (int64_t)__ldg(table + p / s.block_size) * s.block_size + p % s.block_size : p;
}

// The context rows [start, end) of this block's split for query position pos.
__device__ void split_range(const Shape &s, int pos, int split, int &start, int &end) {
    const int first = s.window > 0 && pos - s.window + 1 > 0 ? pos - s.window + 1 : 0;
    const int n = pos + 1 - first;
    // at least MIN_CHUNK rows per split: a launch sized for the longest
    // context (fixed split count, so a captured graph serves every length)
    // leaves the splits past the context empty.
    // Splits start at multiples of 16 (from first rounded down; the first
    // split starts at first), so attn_split_mma's 16-position tiles are
    // aligned: with a block size that is a multiple of 16 a tile's rows are
    // consecutive rows of one cache block.
    const int base = first & ~15;
    int chunk = (n + 15 + s.n_splits - 1) / s.n_splits; // the splits cover base .. pos
    if (chunk < MIN_CHUNK) chunk = MIN_CHUNK;
    chunk = (chunk + 15) & ~15;
    start = base + split * chunk;
    end = start + chunk < pos + 1 ? start + chunk : pos + 1;
    if (start < first) start = first;
}

// exp2(a - b), 0 when a is -inf (also when b is: an empty state merged into another).
__device__ __forceinline__ float weight(float a, float b) { return a == -INFINITY ? 0.0f : exp2f(a - b); }

// After the warps of a block stored their (m, l, unnormalized output) per
// head in shared memory (a warp with no rows: -inf, 0, 0) and synchronized:
// the warps merged (m_sh becomes each warp's weight), one output (head, dim)
// per thread and step, written normalized (one split) or as the split's
// partial result for attn_combine.
template <int MAXG, int DV>
__device__ void store_merged(const Shape &s, float (&m_sh)[WARPS][MAXG], float (&l_sh)[WARPS][MAXG],
                             const float (&acc_sh)[WARPS][MAXG][DV], int kvh, int split, int qi, float *out,
                             float *part) {
    const int G = s.group;
    __shared__ float mx_sh[MAXG], sum_sh[MAXG];
    if (threadIdx.x < G) { // per head: the max, each warp's weight (in m_sh) and the sum
        const int h = threadIdx.x;
        float mx = -INFINITY, sum = 0.0f;
#pragma unroll
        for (int w = 0; w < WARPS; w++) mx = fmaxf(mx, m_sh[w][h]);
#pragma unroll
        for (int w = 0; w < WARPS; w++) {
            m_sh[w][h] = weight(m_sh[w][h], mx);
            sum += l_sh[w][h] * m_sh[w][h];
        }
        mx_sh[h] = mx;
        sum_sh[h] = sum;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < G * s.head_dim_v; i += THREADS) {
        const int h = i / s.head_dim_v, d = i % s.head_dim_v;
        float o = 0.0f;
#pragma unroll
        for (int w = 0; w < WARPS; w++) o += acc_sh[w][h][d] * m_sh[w][h];
        const int64_t qh = (int64_t)qi * s.n_head + kvh * G + h;
        if (s.n_splits == 1) {
            out[qh * s.head_dim_v + d] = o / sum_sh[h];
        } else {
            const int64_t slot = qh * s.n_splits + split;
            part[slot * s.head_dim_v + d] = o;
            if (d == 0) {
                float *ml = part + (int64_t)s.n_q * s.n_head * s.n_splits * s.head_dim_v + 2 * slot;
                ml[0] = mx_sh[h]; // -inf and 0 for a split with no rows
                ml[1] = sum_sh[h];
            }
        }
    }
}

// A split past the context: only (m, l) = (-inf, 0) per head, which attn_combine skips.
__device__ void store_empty(const Shape &s, int kvh, int split, int qi, float *part) {
    if (threadIdx.x < s.group) {
        const int64_t slot = ((int64_t)qi * s.n_head + kvh * s.group + threadIdx.x) * s.n_splits + split;
        float *ml = part + (int64_t)s.n_q * s.n_head * s.n_splits * s.head_dim_v + 2 * slot;
        ml[0] = -INFINITY;
        ml[1] = 0.0f;
    }
}

// The split [start, end) of query qi's context that this block takes, for a
// kernel that has not yet waited for the kernel before; a split past the
// context is written as empty (after that wait) and false returned.
__device__ __forceinline__ bool split_or_empty(const Shape &s, int p_last, int kvh, int split, int qi, float *part,
                                               int &start, int &end) {
    split_range(s, p_last, split, start, end);
    if (start < end || s.n_splits <= 1) return true;
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    store_empty(s, kvh, split, qi, part);
    return false;
}

// LPR: lanes per K/V row (4, 8, 16, 32); MAXG: query heads per KV head the
// registers hold (s.group <= MAXG).
template <int LPR, int MAXG, bool Q8>
__global__ void __launch_bounds__(THREADS, MAXG >= 4 ? 2 : 3)
attn_split(Shape s, const float *__restrict__ q, brisk_cuda::KvRef kc, brisk_cuda::KvRef vc,
           const int32_t *__restrict__ pos, float *__restrict__ out, float *__restrict__ part) {
    using Piece = brisk_cuda::KvPiece<Q8>;
    constexpr int STREAMS = THREADS / LPR;      // streams per block
    constexpr int R = MAXG >= 8 ? 2 : 4;        // rows per stream per step (registers)
    constexpr int STEP = STREAMS * R;           // rows per block per step
    constexpr int DV = LPR * 8;                 // head_dim_v a block covers
    __shared__ float m_sh[WARPS][MAXG], l_sh[WARPS][MAXG];
    __shared__ __align__(16) float acc_sh[WARPS][MAXG][DV];

    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    const int kvh = blockIdx.x, split = blockIdx.y, qi = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, sub = lane % LPR;
    const int stream = threadIdx.x / LPR;
    const int G = s.group;
    int start, end;
    split_range(s, pos[qi], split, start, end);
    if (start >= end && s.n_splits > 1) {
        store_empty(s, kvh, split, qi, part);
        return;
    }
    const int32_t *table = s.tables ? s.tables + s.table_off[qi] : nullptr;
    const bool k_on = sub < s.head_dim / 8, v_on = sub < s.head_dim_v / 8;

    // q of the group's heads at this lane's 8 dims, times scale (and log2 e
    // when there is no softcap, so that the scores come out in log2 units)
    const float q_mul = s.softcap > 0.0f ? s.scale : s.scale * LOG2E;
    float qr[MAXG][8];
#pragma unroll
    for (int h = 0; h < MAXG; h++) {
        float4 a = make_float4(0, 0, 0, 0), b = a;
        if (h < G && k_on) {
            const float4 *qh = reinterpret_cast<const float4 *>(
                q + ((int64_t)qi * s.n_head + (int64_t)kvh * G + h) * s.head_dim + 8 * sub);
            a = qh[0];
            b = qh[1];
        }
        qr[h][0] = a.x * q_mul, qr[h][1] = a.y * q_mul, qr[h][2] = a.z * q_mul, qr[h][3] = a.w * q_mul;
        qr[h][4] = b.x * q_mul, qr[h][5] = b.y * q_mul, qr[h][6] = b.z * q_mul, qr[h][7] = b.w * q_mul;
    }
    float m[MAXG], l[MAXG], acc[MAXG][8];
#pragma unroll
    for (int h = 0; h < MAXG; h++) {
        m[h] = -INFINITY;
        l[h] = 0.0f;
#pragma unroll
        for (int j = 0; j < 8; j++) acc[h][j] = 0.0f;
    }

    const int64_t ke = (int64_t)kvh * s.head_dim + 8 * sub, ve = (int64_t)kvh * s.head_dim_v + 8 * sub;
    // this stream's rows of a step: t0 + r * STREAMS + stream (row -1: past
    // the end). Software pipeline: the K/V rows of the next step are loaded
    // while this step's are used, the table entries of the one after that too.
    int64_t row[R];
    Piece kr[R], vr[R];
    bool valid[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int t = start + r * STREAMS + stream;
        row[r] = t < end ? cache_row(s, table, t) : -1;
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
        valid[r] = row[r] >= 0;
        kr[r] = valid[r] && k_on ? brisk_cuda::kv_load<Q8>(kc, row[r], ke) : brisk_cuda::kv_zero<Q8>();
        vr[r] = valid[r] && v_on ? brisk_cuda::kv_load<Q8>(vc, row[r], ve) : brisk_cuda::kv_zero<Q8>();
        const int t = start + STEP + r * STREAMS + stream;
        row[r] = t < end ? cache_row(s, table, t) : -1;
    }
    for (int t0 = start; t0 < end; t0 += STEP) {
        Piece kn[R], vn[R];
        bool vn_ok[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
            vn_ok[r] = row[r] >= 0;
            kn[r] = vn_ok[r] && k_on ? brisk_cuda::kv_load<Q8>(kc, row[r], ke) : brisk_cuda::kv_zero<Q8>();
            vn[r] = vn_ok[r] && v_on ? brisk_cuda::kv_load<Q8>(vc, row[r], ve) : brisk_cuda::kv_zero<Q8>();
            const int t = t0 + 2 * STEP + r * STREAMS + stream;
            row[r] = t < end ? cache_row(s, table, t) : -1;
        }
        // scores of the R rows for every head, reduced over the row's lanes
        float sc[R][MAXG];
#pragma unroll
        for (int r = 0; r < R; r++) {
            float kf[8];
            brisk_cuda::kv_floats(kr[r], kf);
#pragma unroll
            for (int h = 0; h < MAXG; h++) {
                float d = 0.0f;
#pragma unroll
                for (int j = 0; j < 8; j++) d += qr[h][j] * kf[j];
                sc[r][h] = d;
            }
        }
#pragma unroll
        for (int o = LPR / 2; o > 0; o /= 2)
#pragma unroll
            for (int r = 0; r < R; r++)
#pragma unroll
                for (int h = 0; h < MAXG; h++) sc[r][h] += __shfl_xor_sync(0xffffffffu, sc[r][h], o);
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int h = 0; h < MAXG; h++) {
                if (s.softcap > 0.0f) sc[r][h] = s.softcap * tanhf(sc[r][h] / s.softcap) * LOG2E;
                if (!valid[r]) sc[r][h] = -INFINITY;
            }
        // online softmax and the values
        float vf[R][8];
#pragma unroll
        for (int r = 0; r < R; r++) brisk_cuda::kv_floats(vr[r], vf[r]);
#pragma unroll
        for (int h = 0; h < MAXG; h++) {
            float mx = m[h];
#pragma unroll
            for (int r = 0; r < R; r++) mx = fmaxf(mx, sc[r][h]);
            if (mx == -INFINITY) continue; // no row of this stream yet
            const float alpha = weight(m[h], mx);
            m[h] = mx;
            l[h] *= alpha;
#pragma unroll
            for (int j = 0; j < 8; j++) acc[h][j] *= alpha;
#pragma unroll
            for (int r = 0; r < R; r++) {
                const float p = exp2f(sc[r][h] - mx); // 0 for a row past the end
                l[h] += p;
#pragma unroll
                for (int j = 0; j < 8; j++) acc[h][j] += p * vf[r][j];
            }
        }
#pragma unroll
        for (int r = 0; r < R; r++) kr[r] = kn[r], vr[r] = vn[r], valid[r] = vn_ok[r];
    }

    // the warp's streams merged (lanes sub of every stream hold the same dims)
#pragma unroll
    for (int o = LPR; o < 32; o *= 2)
#pragma unroll
        for (int h = 0; h < MAXG; h++) {
            const float mo = __shfl_xor_sync(0xffffffffu, m[h], o), lo = __shfl_xor_sync(0xffffffffu, l[h], o);
            const float mx = fmaxf(m[h], mo), a = weight(m[h], mx), b = weight(mo, mx);
            l[h] = l[h] * a + lo * b;
#pragma unroll
            for (int j = 0; j < 8; j++) acc[h][j] = acc[h][j] * a + __shfl_xor_sync(0xffffffffu, acc[h][j], o) * b;
            m[h] = mx;
        }
    if (lane < LPR) {
#pragma unroll
        for (int h = 0; h < MAXG; h++) {
            if (lane == 0) m_sh[warp][h] = m[h], l_sh[warp][h] = l[h];
            if (v_on) {
                float4 *dst = reinterpret_cast<float4 *>(&acc_sh[warp][h][8 * sub]);
                dst[0] = make_float4(acc[h][0], acc[h][1], acc[h][2], acc[h][3]);
                dst[1] = make_float4(acc[h][4], acc[h][5], acc[h][6], acc[h][7]);
            }
        }
    }
    __syncthreads();
    store_merged(s, m_sh, l_sh, acc_sh, kvh, split, qi, out, part);
}

// d[0..1] += A B for one mma.m16n8k16 (f16 in, f32 out) whose A rows 8..15
// are zero (a1 = a3 = 0): only the C rows 0..7 (d[0], d[1]) are kept.
__device__ __forceinline__ void mma_rows8(float (&d)[2], uint32_t a0, uint32_t a2, uint32_t b0, uint32_t b1) {
    // rows 8..15 (A's rows there are zero): D = C there, whatever C holds, and
    // dropped; left undefined (an empty asm defines them), so no register is
    // zeroed per mma (a row of D depends on its row of A and C only)
    float x2, x3;
    asm("" : "=f"(x2), "=f"(x3));
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(x2), "+f"(x3)
                 : "r"(a0), "r"(0u), "r"(a2), "r"(0u), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
    const half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t *>(&h);
}

__device__ __forceinline__ uint32_t word(const uint4 &u, int i) {
    return i == 0 ? u.x : i == 1 ? u.y : i == 2 ? u.z : u.w;
}

// The tensor-core kernels' parts (attn_split_mma, attn_split_mma_q8). Lane
// (g, c) = (lane / 4, lane % 4) of a warp holds query head g.

// The A fragments of q (head g, dims 32 j + 8 c ..), times scale (and log2 e
// without a softcap): qa[j][w] = the pair of dims 2w, 2w + 1 of the 8.
template <int D>
__device__ __forceinline__ void q_fragments(const Shape &s, const float *__restrict__ q, int qi, int kvh, int g, int c,
                                            uint32_t (&qa)[D / 32][4]) {
    const float q_mul = s.softcap > 0.0f ? s.scale : s.scale * LOG2E;
#pragma unroll
    for (int j = 0; j < D / 32; j++) {
        float4 a = make_float4(0, 0, 0, 0), b = a;
        if (g < s.group) {
            const float4 *qh = reinterpret_cast<const float4 *>(
                q + ((int64_t)qi * s.n_head + (int64_t)kvh * s.group + g) * D + 32 * j + 8 * c);
            a = qh[0];
            b = qh[1];
        }
        qa[j][0] = pack_half2(a.x * q_mul, a.y * q_mul), qa[j][1] = pack_half2(a.z * q_mul, a.w * q_mul);
        qa[j][2] = pack_half2(b.x * q_mul, b.y * q_mul), qa[j][3] = pack_half2(b.z * q_mul, b.w * q_mul);
    }
}

// One tile of 16 positions t0 .. t0 + 15 into the warp's online softmax: kr
// = the K pieces (rows t0 + 8 nb + g, dims 32 j + 8 c ..), vr = the V pieces
// (rows t0 + 2c, + 1, + 8, + 9, dims 64 h + 8 g ..), zeros outside [start,
// end) (p = 0 must not meet NaN). m: head g's running max (log2 units), l:
// this lane's part of its sum, o: head g, dims 64 h + 16 c + j (o[8h + j][0])
// and + 8 (o[8h + j][1]).
template <int D, bool Q8>
__device__ __forceinline__ void tile_update(const Shape &s, const brisk_cuda::KvPiece<Q8> (&kr)[2][D / 32],
                                            const brisk_cuda::KvPiece<Q8> (&vr)[4][D / 64],
                                            const uint32_t (&qa)[D / 32][4], int t0, int start, int end, int c,
                                            float &m, float &l, float (&o)[D / 64 * 8][2]) {
    constexpr int NJ = D / 32, NH = D / 64;
    const int v_off[4] = {2 * c, 2 * c + 1, 2 * c + 8, 2 * c + 9}; // this lane's V rows of a tile
    // S: sc[nb] = head g at positions t0 + 8 nb + 2c, + 1 (two accumulators
    // per n-block: chains of D / 32 mma instead of D / 16)
    float sc[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}}, sc2[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
#pragma unroll
    for (int nb = 0; nb < 2; nb++)
#pragma unroll
        for (int j = 0; j < NJ; j++) {
            const uint4 k8 = brisk_cuda::kv_halves(kr[nb][j]);
            mma_rows8(sc[nb], qa[j][0], qa[j][1], k8.x, k8.y);
            mma_rows8(sc2[nb], qa[j][2], qa[j][3], k8.z, k8.w);
        }
    float sv[4] = {sc[0][0] + sc2[0][0], sc[0][1] + sc2[0][1], sc[1][0] + sc2[1][0],
                   sc[1][1] + sc2[1][1]}; // positions t0 + v_off[i]
    float mx = m;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        if (s.softcap > 0.0f) sv[i] = s.softcap * tanhf(sv[i] / s.softcap) * LOG2E;
        if (t0 + v_off[i] >= end || t0 + v_off[i] < start) sv[i] = -INFINITY;
        mx = fmaxf(mx, sv[i]);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2)); // finite: the tile has a position in [start, end)
    const float alpha = weight(m, mx);
    m = mx;
    const uint32_t pa0 = pack_half2(exp2f(sv[0] - mx), exp2f(sv[1] - mx));
    const uint32_t pa2 = pack_half2(exp2f(sv[2] - mx), exp2f(sv[3] - mx));
    const float2 p01 = __half22float2(*reinterpret_cast<const half2 *>(&pa0));
    const float2 p23 = __half22float2(*reinterpret_cast<const half2 *>(&pa2));
    l = l * alpha + (p01.x + p01.y) + (p23.x + p23.y); // the rounded probabilities the mma uses
    if (__any_sync(0xffffffffu, alpha != 1.0f)) // no head's max grew (most tiles of a long context): o stays
#pragma unroll
        for (int n = 0; n < NH * 8; n++) o[n][0] *= alpha, o[n][1] *= alpha;
#pragma unroll
    for (int h = 0; h < NH; h++) {
        uint4 v8[4];
#pragma unroll
        for (int i = 0; i < 4; i++) v8[i] = brisk_cuda::kv_halves(vr[i][h]);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const uint32_t sel = j % 2 ? 0x7632u : 0x5410u; // high or low halves of the two words
            const uint32_t b0 = __byte_perm(word(v8[0], j / 2), word(v8[1], j / 2), sel);
            const uint32_t b1 = __byte_perm(word(v8[2], j / 2), word(v8[3], j / 2), sel);
            mma_rows8(o[8 * h + j], pa0, pa2, b0, b1);
        }
    }
}

// The warps' (m, l, o) merged (store_merged): the block's output or its split's partial result.
template <int D>
__device__ __forceinline__ void finish_mma(const Shape &s, float m, float l, const float (&o)[D / 64 * 8][2], int warp,
                                           int g, int c, int kvh, int split, int qi, float *out, float *part) {
    __shared__ float m_sh[WARPS][MAX_GROUP], l_sh[WARPS][MAX_GROUP];
    __shared__ __align__(16) float acc_sh[WARPS][MAX_GROUP][D];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    if (g < s.group) {
        if (c == 0) m_sh[warp][g] = m, l_sh[warp][g] = l;
#pragma unroll
        for (int h = 0; h < D / 64; h++)
#pragma unroll
            for (int j = 0; j < 8; j++) {
                acc_sh[warp][g][64 * h + 16 * c + j] = o[8 * h + j][0];
                acc_sh[warp][g][64 * h + 16 * c + 8 + j] = o[8 * h + j][1];
            }
    }
    __syncthreads();
    store_merged(s, m_sh, l_sh, acc_sh, kvh, split, qi, out, part);
}

// The same on the tensor cores (f16 q and probabilities, f32 sums; head_dim
// == head_dim_v == D = 64 or 128, groups <= 8). Each warp takes tiles of 16
// positions of the split (tile i: warp i % WARPS) with its own online softmax.
// Lane (g, c) = (lane / 4, lane % 4) holds query head g (rows 8..15 of the
// mma's M are zero padding). Scores S[head, 16 positions] = Q K^T: per 8
// positions one mma n-block, D / 16 k-steps; the k order is permuted (as in
// cuda_gemv.cu: lane c holds dims 32 j + 8 c .. + 7 of a row, j < D / 32),
// so each 16-byte K load feeds two k-steps' B fragments and the same
// permutation of q forms the A fragments. Then O[head, D] += P V over the 16
// positions: D / 8 n-blocks (dims 64 h + 8 n + j for column n, n-block
// (h, j)); lane (g, c) loads 16 bytes (dims 64 h + 8 g ..) of the V rows
// 2c, 2c + 1, 2c + 8, 2c + 9 and pairs their halves with byte permutes.
// Q8 caches (cuda_kv.cuh): the same pieces as 8 int8 + their block's scale
// (one scale load per head row), converted to f16(q * d) before the mma. U:
// tiles of 16 positions a warp loads at once (1; 2 = as many bytes in flight
// as one f16 tile, measured no faster: q8_tiles).
template <int D, bool Q8, int U>
__global__ void __launch_bounds__(THREADS, D > 64 ? 2 : 3) // 2: 220 registers, no spills (3: spills, 20.0 vs 18.1 us)
attn_split_mma(Shape s, const float *__restrict__ q, brisk_cuda::KvRef kc, brisk_cuda::KvRef vc,
               const int32_t *__restrict__ pos, float *__restrict__ out, float *__restrict__ part) {
    using Piece = brisk_cuda::KvPiece<Q8>;
    constexpr int NJ = D / 32, NH = D / 64, TILE = 16;

    // Before waiting for the kernel before (programmatic dependent launch):
    // the positions and block tables (uploaded before the pass) and the
    // first tiles when they hold only rows of earlier passes (this pass's rows,
    // positions > pos - n_q, are stored by the kernel before). Safe while the
    // kernel before waits for its own predecessor before it triggers this
    // one (rope_kv_store does): everything earlier in the stream is then done.
    const int kvh = blockIdx.x, split = blockIdx.y, qi = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
    const int p_last = pos[qi];
    int start, end;
    if (!split_or_empty(s, p_last, kvh, split, qi, part, start, end)) return;
    const int32_t *table = s.tables ? s.tables + s.table_off[qi] : nullptr;
    const int64_t ke = (int64_t)kvh * D + 8 * c, ve = (int64_t)kvh * D + 8 * g; // this lane's element offsets
    const int v_off[4] = {2 * c, 2 * c + 1, 2 * c + 8, 2 * c + 9}; // this lane's V rows of a tile
    // a tile's 16 rows are consecutive: contiguous cache, or cache blocks of a multiple of 16 rows
    const bool one_block = !table || s.block_size % TILE == 0;
    // the K and V pieces of the tile at t0 (zeros outside the split: p = 0 must not meet NaN)
    // Q8: the scales of a head row in one load (rs), the 8 values of a piece
    auto row_scales = [&](const brisk_cuda::KvRef &ref, int64_t row) -> uint2 {
        if constexpr (Q8) return brisk_cuda::kv_row_scales<D>(ref, row, (int64_t)kvh * D);
        else return make_uint2(0, 0);
    };
    auto piece = [&](const brisk_cuda::KvRef &ref, int64_t row, int64_t e, int block, const uint2 &rs) -> Piece {
        if constexpr (Q8) return {brisk_cuda::kv_load_q(ref, row, e), brisk_cuda::kv_scale_at(rs, block)};
        else return brisk_cuda::kv_load<false>(ref, row, e);
    };
    auto load_tile = [&](int t0, Piece(&kr)[2][NJ], Piece(&vr)[4][NH]) {
        const int64_t row0 = one_block ? cache_row(s, table, t0 > start ? t0 : start) - (t0 > start ? 0 : start - t0) : 0;
        if (one_block && t0 >= start && t0 + TILE <= end) { // a whole tile of consecutive rows: no checks
#pragma unroll
            for (int nb = 0; nb < 2; nb++) {
                const uint2 rs = row_scales(kc, row0 + 8 * nb + g);
#pragma unroll
                for (int j = 0; j < NJ; j++) kr[nb][j] = piece(kc, row0 + 8 * nb + g, ke + 32 * j, j, rs);
            }
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const uint2 rs = row_scales(vc, row0 + v_off[i]);
#pragma unroll
                for (int h = 0; h < NH; h++) vr[i][h] = piece(vc, row0 + v_off[i], ve + 64 * h, 2 * h + g / 4, rs);
            }
            return;
        }
#pragma unroll
        for (int nb = 0; nb < 2; nb++) {
            const int t = t0 + 8 * nb + g;
            const bool ok = t >= start && t < end;
            const int64_t row = !ok ? 0 : one_block ? row0 + 8 * nb + g : cache_row(s, table, t);
            const uint2 rs = ok ? row_scales(kc, row) : make_uint2(0, 0);
#pragma unroll
            for (int j = 0; j < NJ; j++) kr[nb][j] = ok ? piece(kc, row, ke + 32 * j, j, rs) : brisk_cuda::kv_zero<Q8>();
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int t = t0 + v_off[i];
            const bool ok = t >= start && t < end;
            const int64_t row = !ok ? 0 : one_block ? row0 + v_off[i] : cache_row(s, table, t);
            const uint2 rs = ok ? row_scales(vc, row) : make_uint2(0, 0);
#pragma unroll
            for (int h = 0; h < NH; h++)
                vr[i][h] = ok ? piece(vc, row, ve + 64 * h, 2 * h + g / 4, rs) : brisk_cuda::kv_zero<Q8>();
        }
    };
    const int first_t0 = (start & ~(TILE - 1)) + warp * TILE * U;
    Piece kr[U][2][NJ], vr[U][4][NH];
    bool loaded = first_t0 < end && first_t0 + TILE * U <= p_last - s.n_q + 1;
    if (loaded)
#pragma unroll
        for (int u = 0; u < U; u++) load_tile(first_t0 + TILE * u, kr[u], vr[u]);
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();

    uint32_t qa[NJ][4];
    q_fragments<D>(s, q, qi, kvh, g, c, qa);
    float m = -INFINITY, l = 0.0f, o[NH * 8][2];
#pragma unroll
    for (int n = 0; n < NH * 8; n++) o[n][0] = o[n][1] = 0.0f;
    for (int t_u = first_t0; t_u < end; t_u += WARPS * TILE * U) {
        if (!loaded)
#pragma unroll
            for (int u = 0; u < U; u++) load_tile(t_u + TILE * u, kr[u], vr[u]);
        loaded = false;
#pragma unroll
        for (int u = 0; u < U; u++) {
            if (t_u + TILE * u >= end) break;
            tile_update<D, Q8>(s, kr[u], vr[u], qa, t_u + TILE * u, start, end, c, m, l, o);
        }
    }
    finish_mma<D>(s, m, l, o, warp, g, c, kvh, split, qi, out, part);
}

// cp.async (sm_80+) of N = 4, 8 or 16 bytes from global to shared memory;
// ok == false: the N bytes are zero-filled, nothing is read. No "memory"
// clobber: the table loads of the next copies may move above it (the reads
// of a buffer are ordered before its refill by __syncwarp, its copies before
// the reads by cp_async_wait).
template <int N> __device__ __forceinline__ void cp_async(void *dst, const void *src, bool ok) {
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    if constexpr (N == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(ok ? 16 : 0));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(d), "l"(src), "n"(N), "r"(ok ? N : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// attn_split_mma over a Q8 cache with the tiles staged through shared
// memory: each warp keeps its next Q8_RING tiles in flight as cp.async
// copies into its own ring of tile buffers (rows outside [start, end)
// zero-filled), so a split's bytes are requested up front (llama3-8b at 8192
// positions, 33 splits: all 4 tiles of every warp, 135 KB per SM; with
// programmatic dependent launch those of earlier passes' rows before the
// kernel before has finished) instead of one 4 KB tile per warp at a time
// (attn_split_mma). A tile buffer: K [16][D], V [16][D] int8 (the 16-byte
// chunk ch of row r at chunk ch ^ swz(r), so that the lanes' 8-byte reads
// of a K piece (rows g, chunks 2j + c/2) or a V piece (rows 2c + 0/1/8/9,
// chunks 4h + g/2) hit 32 different banks per half-warp), then the K and V
// scales [16][D / 32]. The arithmetic is attn_split_mma's (tile_update):
// the same result bit for bit.
// Measured (H100, llama3-8b layer, bench/results/2026-11-25-cuda-kv-q8-h100.md):
// 5.8 / 6.3 / 14.9 us at 128 / 512 / 8192 positions alone (attn_split_mma:
// 5.2 / 5.7 / 14.2; ncu: 8 warps per SM issuing every 5.6 cycles, DRAM 33%
// busy: the per-warp instruction chain is the limit), but decode after 8192
// tokens 335-338 tok/s end to end (attn_split_mma: 329.5). Session 8: a
// tile's first cache row looked up once, and a whole tile inside the split
// copied without per-row checks: 14.8 -> 13.7 us at 8192 (paged), 6.4 -> 5.9
// at 512; ncu at 8192: 8 warps per SM (registers and shared memory allow 2
// blocks), 6.2 cycles per issued instruction, 42% of the stall samples on
// the long scoreboard (the copies). Computing the next tile's scores beside
// the current tile's P V (software pipelining) measured slower (14.1 us).
const int Q8_RING = 4; // tiles per warp in flight
template <int D> __host__ __device__ constexpr int q8_tile_bytes() { return 2 * 16 * D + 2 * 16 * (D / 32) * 2; }
template <int D> __host__ __device__ constexpr int q8_ring_bytes() { return WARPS * Q8_RING * q8_tile_bytes<D>(); }

template <int D> __device__ __forceinline__ int q8_swizzle(int r) { return (2 * ((r + (r >> 2)) & 3)) & (D / 16 - 1); }

template <int D>
__global__ void __launch_bounds__(THREADS, D > 64 ? 2 : 3) // 2: 210 registers, 86 KB of shared memory
attn_split_mma_q8(Shape s, const float *__restrict__ q, brisk_cuda::KvRef kc, brisk_cuda::KvRef vc,
                  const int32_t *__restrict__ pos, float *__restrict__ out, float *__restrict__ part) {
    using Piece = brisk_cuda::KvPiece<true>;
    constexpr int NJ = D / 32, NH = D / 64, TILE = 16, CH = D / 16, NS = D / 32, TB = q8_tile_bytes<D>();
    constexpr int STEP = WARPS * TILE; // positions between a warp's tiles
    extern __shared__ __align__(16) uint8_t q8_ring_sh[];
    const int kvh = blockIdx.x, split = blockIdx.y, qi = blockIdx.z;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
    const int p_last = pos[qi];
    int start, end;
    if (!split_or_empty(s, p_last, kvh, split, qi, part, start, end)) return;
    const int32_t *table = s.tables ? s.tables + s.table_off[qi] : nullptr;
    uint8_t *ring = q8_ring_sh + warp * Q8_RING * TB;
    const int8_t *kq = static_cast<const int8_t *>(kc.data) + (int64_t)kvh * D;
    const int8_t *vq = static_cast<const int8_t *>(vc.data) + (int64_t)kvh * D;
    const half *ksc = kc.scales + (int64_t)kvh * NS, *vsc = vc.scales + (int64_t)kvh * NS;
    const int64_t width = kc.width, s_width = kc.width / 32; // head_dim == head_dim_v: K and V rows alike

    // a tile's 16 rows are consecutive: contiguous cache, or cache blocks of a multiple of 16 rows
    const bool one_block = !table || s.block_size % TILE == 0;
    // the cache row of position t of the tile at t0 (row0: its first row, from tile_row0)
    auto row_of = [&](int64_t row0, int t0, int t) -> int64_t {
        return one_block ? row0 + (t - t0) : cache_row(s, table, t);
    };
    // one_block: the row of position t0 (the tile's rows before start extrapolated from start's)
    auto tile_row0 = [&](int t0) -> int64_t {
        return one_block ? cache_row(s, table, t0 > start ? t0 : start) - (t0 > start ? 0 : start - t0) : 0;
    };
    // the copies of the tile at t0 (< end) into buffer b (the warp's lanes share them out)
    auto issue = [&](int t0, int b) {
        uint8_t *kb = ring + b * TB, *vb = kb + TILE * D;
        half *ksb = reinterpret_cast<half *>(vb + TILE * D), *vsb = ksb + TILE * NS;
        if (one_block && t0 >= start && t0 + TILE <= end) { // 16 consecutive rows, all in the split: no checks
            const int64_t row0 = cache_row(s, table, t0);
            const int8_t *kp = kq + row0 * width, *vp = vq + row0 * width;
#pragma unroll
            for (int i = 0; i < TILE * CH / 32; i++) {
                const int idx = lane + 32 * i, r = idx / CH, ch = idx % CH;
                const int dst = r * D + 16 * (ch ^ q8_swizzle<D>(r));
                cp_async<16>(kb + dst, kp + r * width + 16 * ch, true);
                cp_async<16>(vb + dst, vp + r * width + 16 * ch, true);
            }
            const int r = lane % TILE;
            if (lane < TILE) cp_async<2 * NS>(ksb + r * NS, ksc + (row0 + r) * s_width, true);
            else cp_async<2 * NS>(vsb + r * NS, vsc + (row0 + r) * s_width, true);
            return;
        }
        const int64_t row0 = tile_row0(t0);
#pragma unroll
        for (int i = 0; i < TILE * CH / 32; i++) {
            const int idx = lane + 32 * i, r = idx / CH, ch = idx % CH, t = t0 + r;
            const bool ok = t >= start && t < end;
            const int64_t row = ok ? row_of(row0, t0, t) : 0;
            const int dst = r * D + 16 * (ch ^ q8_swizzle<D>(r));
            cp_async<16>(kb + dst, kq + row * width + 16 * ch, ok);
            cp_async<16>(vb + dst, vq + row * width + 16 * ch, ok);
        }
        const int r = lane % TILE, t = t0 + r;
        const bool ok = t >= start && t < end;
        const int64_t row = ok ? row_of(row0, t0, t) : 0;
        if (lane < TILE) cp_async<2 * NS>(ksb + r * NS, ksc + row * s_width, ok);
        else cp_async<2 * NS>(vsb + r * NS, vsc + row * s_width, ok);
    };
    auto scales_of = [](const half *p) -> uint2 {
        if constexpr (D == 128) return *reinterpret_cast<const uint2 *>(p);
        else return make_uint2(*reinterpret_cast<const unsigned int *>(p), 0u);
    };
    auto k_bytes = [&](const uint8_t *kb, int r, int j) -> uint2 {
        return *reinterpret_cast<const uint2 *>(kb + r * D + 16 * ((2 * j + c / 2) ^ q8_swizzle<D>(r)) + 8 * (c % 2));
    };
    // the V pieces of the tile in buffer b (as attn_split_mma's load_tile)
    auto read_v = [&](int b, Piece(&vr)[4][NH]) {
        const uint8_t *vb = ring + b * TB + TILE * D;
        const half *vsb = reinterpret_cast<const half *>(vb + TILE * D) + TILE * NS;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const int r = 2 * c + (i % 2) + 8 * (i / 2);
            const uint2 rs = scales_of(vsb + r * NS);
#pragma unroll
            for (int h = 0; h < NH; h++)
                vr[i][h] = {*reinterpret_cast<const uint2 *>(vb + r * D + 16 * ((4 * h + g / 2) ^ q8_swizzle<D>(r)) +
                                                             8 * (g % 2)),
                            brisk_cuda::kv_scale_at(rs, 2 * h + g / 4)};
        }
    };
    // the K pieces with their scales (as attn_split_mma's load_tile)
    auto read_k = [&](int b, Piece(&kr)[2][NJ]) {
        const uint8_t *kb = ring + b * TB;
        const half *ksb = reinterpret_cast<const half *>(kb + 2 * TILE * D);
#pragma unroll
        for (int nb = 0; nb < 2; nb++) {
            const int r = 8 * nb + g;
            const uint2 rs = scales_of(ksb + r * NS);
#pragma unroll
            for (int j = 0; j < NJ; j++) kr[nb][j] = {k_bytes(kb, r, j), brisk_cuda::kv_scale_at(rs, j)};
        }
    };
    // The ring's first tiles: those with only rows of earlier passes before
    // waiting for the kernel before (as attn_split_mma), the rest after. One
    // commit group per tile (empty past the split).
    const int first_t0 = (start & ~(TILE - 1)) + warp * TILE, old_end = p_last - s.n_q + 1;
    int k = 0;
    for (; k < Q8_RING && first_t0 + k * STEP + TILE <= old_end; k++) {
        if (first_t0 + k * STEP < end) issue(first_t0 + k * STEP, k);
        cp_async_commit();
    }
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    for (; k < Q8_RING; k++) {
        if (first_t0 + k * STEP < end) issue(first_t0 + k * STEP, k);
        cp_async_commit();
    }

    uint32_t qa[NJ][4];
    q_fragments<D>(s, q, qi, kvh, g, c, qa);
    float m = -INFINITY, l = 0.0f, o[NH * 8][2];
#pragma unroll
    for (int n = 0; n < NH * 8; n++) o[n][0] = o[n][1] = 0.0f;
    for (int t0 = first_t0, b = 0; t0 < end; t0 += STEP, b = (b + 1) % Q8_RING) {
        cp_async_wait<Q8_RING - 1>(); // this lane's copies of the tile landed
        __syncwarp();                 // and the other lanes'
        Piece kr[2][NJ], vr[4][NH];
        read_k(b, kr);
        read_v(b, vr);
        __syncwarp(); // buffer b read by every lane: refill it
        if (t0 + Q8_RING * STEP < end) issue(t0 + Q8_RING * STEP, b);
        cp_async_commit();
        tile_update<D, true>(s, kr, vr, qa, t0, start, end, c, m, l, o);
    }
    finish_mma<D>(s, m, l, o, warp, g, c, kvh, split, qi, out, part);
}

// One block per (query head, query token): merge the splits' partial results
// (m in log2 units). Warp w takes splits w * BATCH.., loading a batch of
// BATCH splits' (m, l, output) at once (lane: 4 dims per 128) and merging
// them into its own running (m, l, output); the warps meet in shared memory.
// Empty splits (m = -inf) wrote no output: their loads are ignored.
// xq != nullptr (one query, head_dim_v a multiple of 32): instead of the f32
// output, its f16 copy out16 and xq8 encoding (the o matrix's input).
const int C_THREADS = 256, C_WARPS = C_THREADS / 32, C_BATCH = 8;

__global__ void __launch_bounds__(C_THREADS)
attn_combine(Shape s, const float *__restrict__ part, float *__restrict__ out, half *__restrict__ out16,
             uint8_t *__restrict__ xq) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    const int head = blockIdx.x, qi = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t qh = (int64_t)qi * s.n_head + head;
    const float *ml = part + (int64_t)s.n_q * s.n_head * s.n_splits * s.head_dim_v + 2 * qh * s.n_splits;
    const float *pp = part + qh * s.n_splits * s.head_dim_v;
    __shared__ float m_red[C_WARPS], l_red[C_WARPS];
    __shared__ __align__(16) float o_red[C_WARPS][128];
    for (int d0 = 0; d0 < s.head_dim_v; d0 += 128) {
        const int d = d0 + 4 * lane;
        const bool on = d < s.head_dim_v; // head_dim_v is a multiple of 8: 4 dims all in or all out
        float mw = -INFINITY, lw = 0.0f;
        float4 ow = make_float4(0, 0, 0, 0);
        for (int k0 = warp * C_BATCH; k0 < s.n_splits; k0 += C_WARPS * C_BATCH) {
            float mk[C_BATCH], lk[C_BATCH];
            float4 pk[C_BATCH];
#pragma unroll
            for (int b = 0; b < C_BATCH; b++) {
                const int k = k0 + b;
                mk[b] = k < s.n_splits ? ml[2 * k] : -INFINITY;
                lk[b] = k < s.n_splits ? ml[2 * k + 1] : 0.0f;
                pk[b] = k < s.n_splits && on ? *reinterpret_cast<const float4 *>(pp + (int64_t)k * s.head_dim_v + d)
                                             : make_float4(0, 0, 0, 0);
            }
#pragma unroll
            for (int b = 0; b < C_BATCH; b++) {
                if (mk[b] == -INFINITY) continue;
                const float mx = fmaxf(mw, mk[b]), a = weight(mw, mx), w = exp2f(mk[b] - mx);
                lw = lw * a + lk[b] * w;
                ow.x = ow.x * a + pk[b].x * w, ow.y = ow.y * a + pk[b].y * w;
                ow.z = ow.z * a + pk[b].z * w, ow.w = ow.w * a + pk[b].w * w;
                mw = mx;
            }
        }
        if (lane == 0) m_red[warp] = mw, l_red[warp] = lw;
        if (on) *reinterpret_cast<float4 *>(&o_red[warp][4 * lane]) = ow;
        __syncthreads();
        if (warp == 0) { // lane: dims d .. d + 3 (8 lanes: one 32-block of the xq8 encoding)
            float mx = -INFINITY;
            for (int w = 0; w < C_WARPS; w++) mx = fmaxf(mx, m_red[w]);
            float sum = 0.0f, v[4] = {0, 0, 0, 0};
            for (int w = 0; w < C_WARPS; w++) {
                const float a = weight(m_red[w], mx);
                sum += l_red[w] * a;
                if (on)
#pragma unroll
                    for (int j = 0; j < 4; j++) v[j] += o_red[w][4 * lane + j] * a;
            }
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] /= sum;
            if (!xq) {
                if (on) *reinterpret_cast<float4 *>(out + qh * s.head_dim_v + d) = make_float4(v[0], v[1], v[2], v[3]);
            } else { // as brisk_cuda_f32_to_xq of the output: f16 (the matrix input) and its xq8
                const int64_t n_in = (int64_t)s.n_head * s.head_dim_v, e = (int64_t)head * s.head_dim_v + d;
#pragma unroll
                for (int j = 0; j < 4; j++) v[j] = __half2float(__float2half_rn(v[j]));
                if (on) brisk_cuda::store_halves4(out16 + e, v);
                brisk_cuda::quantize_group(v, on, xq, n_in, on ? e / 32 : 0);
            }
        }
        __syncthreads(); // m_red, l_red and o_red are rewritten by the next 128 dims
    }
}

template <int LPR, bool Q8>
void launch_split(int max_group, dim3 grid, cudaStream_t st, const Shape &sh, const float *q, const brisk_cuda::KvRef &k,
                  const brisk_cuda::KvRef &v, const int32_t *pos, float *out, float *part) {
    if (max_group <= 1) brisk_cuda::pdl_launch(attn_split<LPR, 1, Q8>, grid, dim3(THREADS), 0, st, sh, q, k, v, pos, out, part);
    else if (max_group <= 2) brisk_cuda::pdl_launch(attn_split<LPR, 2, Q8>, grid, dim3(THREADS), 0, st, sh, q, k, v, pos, out, part);
    else if (max_group <= 4) brisk_cuda::pdl_launch(attn_split<LPR, 4, Q8>, grid, dim3(THREADS), 0, st, sh, q, k, v, pos, out, part);
    else brisk_cuda::pdl_launch(attn_split<LPR, 8, Q8>, grid, dim3(THREADS), 0, st, sh, q, k, v, pos, out, part);
}

// How the tensor-core kernel reads a Q8 cache, forced by BRISK_CUDA_KV_TILES
// (for measuring): 0 = by context (the default: staged through shared memory,
// attn_split_mma_q8, unless long_context: then q8_one_tile); 1 or 2 = straight
// to registers, that many tiles per warp at once (attn_split_mma). H100,
// llama3-8b layer at 128 / 8192 positions alone (session 7): 2 tiles 6.8 /
// 14.3 us, 1 tile 5.2 / 14.2 us, staged 5.8 / 14.9 us.
int q8_tiles() {
    static const int tiles = [] {
        const char *e = getenv("BRISK_CUDA_KV_TILES");
        return e && strcmp(e, "2") == 0 ? 2 : e && strcmp(e, "1") == 0 ? 1 : 0;
    }();
    return tiles;
}

// A Q8 cache through attn_split_mma, one tile per warp: BRISK_CUDA_KV_TILES=1, or long contexts by
// default (H100, llama3-8b Q4_K_M, decode after 8192 positions 371.3-373.6 tok/s vs 367.8-369.2
// staged; after 512 399.4-400.3 vs 403.6-405.4: bench/results/2026-11-25-cuda-session8-h100.md).
bool q8_one_tile(const brisk_cuda_attn_shape *s) {
    return q8_tiles() == 1 || (q8_tiles() == 0 && s->long_context);
}

bool q8_staged(const brisk_cuda_attn_shape *s) {
    return s->kv_type == BRISK_CUDA_KV_Q8 && brisk_cuda_attention_tensor_cores(s) && q8_tiles() == 0 &&
           !s->long_context;
}

// attn_split_mma_q8 for head_dim D: its shared memory above the default 48 KB allowed once, then the launch.
template <int D>
brisk_status launch_q8(dim3 grid, cudaStream_t st, const Shape &sh, const float *q, const brisk_cuda::KvRef &k,
                       const brisk_cuda::KvRef &v, const int32_t *pos, float *out, float *part, brisk_error *err) {
    static bool allowed = false;
    if (!allowed) {
        CUDA_TRY(err, cudaFuncSetAttribute(attn_split_mma_q8<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           q8_ring_bytes<D>()));
        allowed = true;
    }
    brisk_cuda::pdl_launch(attn_split_mma_q8<D>, grid, dim3(THREADS), (size_t)q8_ring_bytes<D>(), st, sh, q, k, v,
                           pos, out, part);
    return BRISK_OK;
}

// The split kernel for this shape and cache type (a Q8 cache on the tensor
// cores: attention() launches attn_split_mma_q8 unless the context is long or
// BRISK_CUDA_KV_TILES says otherwise).
template <bool Q8>
void launch_splits(const brisk_cuda_attn_shape *s, int group, dim3 grid, cudaStream_t st, const Shape &sh,
                   const float *q, const brisk_cuda::KvRef &k, const brisk_cuda::KvRef &v, const int32_t *pos,
                   float *out, float *part) {
    const int vecs = (s->head_dim > s->head_dim_v ? s->head_dim : s->head_dim_v) / 8; // 8-element pieces per row
    if (brisk_cuda_attention_tensor_cores(s) && Q8 && q8_one_tile(s)) {
        if (s->head_dim == 64) brisk_cuda::pdl_launch(attn_split_mma<64, Q8, 1>, grid, dim3(THREADS), 0, st, sh, q, k, v, pos, out, part);
        else brisk_cuda::pdl_launch(attn_split_mma<128, Q8, 1>, grid, dim3(THREADS), 0, st, sh, q, k, v, pos, out, part);
        return;
    }
    constexpr int U = Q8 ? 2 : 1;
    if (brisk_cuda_attention_tensor_cores(s) && s->head_dim == 64)
        brisk_cuda::pdl_launch(attn_split_mma<64, Q8, U>, grid, dim3(THREADS), 0, st, sh, q, k, v, pos, out, part);
    else if (brisk_cuda_attention_tensor_cores(s))
        brisk_cuda::pdl_launch(attn_split_mma<128, Q8, U>, grid, dim3(THREADS), 0, st, sh, q, k, v, pos, out, part);
    else if (vecs <= 4) launch_split<4, Q8>(group, grid, st, sh, q, k, v, pos, out, part);
    else if (vecs <= 8) launch_split<8, Q8>(group, grid, st, sh, q, k, v, pos, out, part);
    else if (vecs <= 16) launch_split<16, Q8>(group, grid, st, sh, q, k, v, pos, out, part);
    else launch_split<32, Q8>(group, grid, st, sh, q, k, v, pos, out, part);
}

} // namespace

extern "C" int brisk_cuda_attention_splits(const brisk_cuda_attn_shape *s, int max_kv_len) {
    const int blocks = s->n_head_kv * (s->n_q > 0 ? s->n_q : 1);
    int splits = (TARGET_BLOCKS + blocks - 1) / blocks;
    const int by_len = (max_kv_len + MIN_CHUNK - 1) / MIN_CHUNK;
    if (splits > by_len) splits = by_len;
    if (splits > MAX_SPLITS) splits = MAX_SPLITS;
    return splits < 1 ? 1 : splits;
}

extern "C" bool brisk_cuda_attention_tensor_cores(const brisk_cuda_attn_shape *s) {
    return s->head_dim == s->head_dim_v && (s->head_dim == 64 || s->head_dim == 128) && s->n_head_kv > 0 &&
           s->n_head % s->n_head_kv == 0 && s->n_head / s->n_head_kv <= MAX_GROUP;
}

extern "C" size_t brisk_cuda_attention_scratch_bytes(const brisk_cuda_attn_shape *s, int n_splits) {
    if (n_splits <= 1) return 0;
    return (size_t)s->n_q * s->n_head * n_splits * (s->head_dim_v + 2) * sizeof(float);
}

extern "C" brisk_status brisk_cuda_attention(const brisk_cuda_attn_shape *s, const float *d_q,
                                             const void *d_k, const void *d_v, const int32_t *d_pos,
                                             float *d_out, int n_splits, void *d_scratch,
                                             void *stream, brisk_error *err) {
    return brisk_cuda_attention_paged(s, d_q, d_k, d_v, d_pos, nullptr, nullptr, 0, d_out, n_splits,
                                      d_scratch, stream, err);
}

static brisk_status attention(const brisk_cuda_attn_shape *s, const float *d_q, const void *d_k, const void *d_v,
                              const int32_t *d_pos, const int32_t *d_tables, const int32_t *d_table_off,
                              int block_size, float *d_out, void *d_out16, void *d_xq, int n_splits, void *d_scratch,
                              void *stream, brisk_error *err) {
    if (d_tables && (block_size <= 0 || !d_table_off))
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA attention: a paged cache needs block_size > 0 and table offsets");
    if (s->n_q < 0 || s->n_head_kv <= 0 || s->n_head % s->n_head_kv ||
        s->n_head / s->n_head_kv > MAX_GROUP || s->head_dim <= 0 || s->head_dim % 8 || s->head_dim > MAX_DIM ||
        s->head_dim_v <= 0 || s->head_dim_v % 8 || s->head_dim_v > MAX_DIM || n_splits < 1 || n_splits > MAX_SPLITS_COMBINE)
        return brisk_fail(err, BRISK_ERR_UNSUPPORTED,
                          "CUDA attention: %d heads / %d KV heads, head_dim %d/%d, %d splits "
                          "(supported: group <= %d, head_dims multiples of 8 up to %d, 1..%d splits)",
                          s->n_head, s->n_head_kv, s->head_dim, s->head_dim_v, n_splits, MAX_GROUP,
                          MAX_DIM, MAX_SPLITS_COMBINE);
    if (s->kv_type == BRISK_CUDA_KV_Q8 && (s->head_dim % 32 || s->head_dim_v % 32 || s->kv_rows <= 0))
        return brisk_fail(err, BRISK_ERR_UNSUPPORTED,
                          "CUDA attention: a Q8 KV cache needs head dims that are multiples of 32 (%d/%d) and its "
                          "row count", s->head_dim, s->head_dim_v);
    if (s->n_q == 0) return BRISK_OK;
    if (n_splits > 1 && !d_scratch)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA attention: %d splits need scratch", n_splits);
    const int group = s->n_head / s->n_head_kv;
    Shape sh = {s->n_q,      s->n_head, s->n_head_kv, s->head_dim, s->head_dim_v,
                s->window,   group,     n_splits,     s->scale,    s->softcap,
                d_tables,    d_table_off, block_size};
    cudaStream_t st = (cudaStream_t)stream;
    dim3 grid((unsigned)s->n_head_kv, (unsigned)n_splits, (unsigned)s->n_q);
    const bool q8 = s->kv_type == BRISK_CUDA_KV_Q8;
    const brisk_cuda::KvRef k = brisk_cuda::kv_ref(d_k, q8, s->kv_rows, (int64_t)s->n_head_kv * s->head_dim);
    const brisk_cuda::KvRef v = brisk_cuda::kv_ref(d_v, q8, s->kv_rows, (int64_t)s->n_head_kv * s->head_dim_v);
    float *part = (float *)d_scratch;
    if (q8_staged(s)) {
        const brisk_status rc = s->head_dim == 64 ? launch_q8<64>(grid, st, sh, d_q, k, v, d_pos, d_out, part, err)
                                                  : launch_q8<128>(grid, st, sh, d_q, k, v, d_pos, d_out, part, err);
        if (rc != BRISK_OK) return rc;
    } else if (q8) launch_splits<true>(s, group, grid, st, sh, d_q, k, v, d_pos, d_out, part);
    else launch_splits<false>(s, group, grid, st, sh, d_q, k, v, d_pos, d_out, part);
    CUDA_LAUNCHED(err, "attention");
    if (n_splits > 1) {
        brisk_cuda::pdl_launch(attn_combine, dim3((unsigned)s->n_head, (unsigned)s->n_q), dim3(C_THREADS), 0, st, sh,
                               (const float *)d_scratch, d_out, (half *)d_out16, (uint8_t *)d_xq);
        CUDA_LAUNCHED(err, "attention combine");
    }
    return BRISK_OK;
}

extern "C" brisk_status brisk_cuda_attention_paged(const brisk_cuda_attn_shape *s, const float *d_q,
                                                   const void *d_k, const void *d_v,
                                                   const int32_t *d_pos, const int32_t *d_tables,
                                                   const int32_t *d_table_off, int block_size,
                                                   float *d_out, int n_splits, void *d_scratch,
                                                   void *stream, brisk_error *err) {
    return attention(s, d_q, d_k, d_v, d_pos, d_tables, d_table_off, block_size, d_out, nullptr, nullptr, n_splits,
                     d_scratch, stream, err);
}

extern "C" bool brisk_cuda_attention_xq_supported(const brisk_cuda_attn_shape *s, int n_splits) {
    return s->n_q == 1 && n_splits > 1 && s->head_dim_v % 32 == 0 && (int64_t)s->n_head * s->head_dim_v % 64 == 0;
}

extern "C" brisk_status brisk_cuda_attention_paged_xq(const brisk_cuda_attn_shape *s, const float *d_q,
                                                      const void *d_k, const void *d_v, const int32_t *d_pos,
                                                      const int32_t *d_tables, const int32_t *d_table_off,
                                                      int block_size, void *d_out16, void *d_xq, int n_splits,
                                                      void *d_scratch, void *stream, brisk_error *err) {
    if (!brisk_cuda_attention_xq_supported(s, n_splits) || !d_out16 || !d_xq)
        return brisk_fail(err, BRISK_ERR_ARG,
                          "CUDA attention to xq8: %d queries, %d splits, head_dim_v %d (one query, > 1 split, "
                          "head_dim_v a multiple of 32)",
                          s->n_q, n_splits, s->head_dim_v);
    return attention(s, d_q, d_k, d_v, d_pos, d_tables, d_table_off, block_size, nullptr, d_out16, d_xq, n_splits,
                     d_scratch, stream, err);
}
