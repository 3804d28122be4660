// Weight upload: each matrix is repacked on the host into the layout its
// kernels stream (cuda_backend.h and cuda_formats.cuh describe each), then
// copied into one plain device allocation. The repacked bytes equal the file's.
#include <cstdlib>
#include <cstring>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_pdl.cuh"
#include "backend/cuda/cuda_formats.cuh"

extern "C" {
#include "quant/quant.h"
}

using namespace brisk_cuda;

extern "C" bool brisk_cuda_weight_type_supported(brisk_type type) {
    return type == BRISK_TYPE_F16 || type == BRISK_TYPE_Q8_0 || type == BRISK_TYPE_Q4_K ||
           type == BRISK_TYPE_Q6_K;
}

// Elements per group of 4 chunks: the GEMV's unit along a row (cuda_gemv.cu).
static int64_t row_granule(brisk_type type) {
    switch (type) {
    case BRISK_TYPE_F16: return 4 * FmtF16::CHUNK;
    case BRISK_TYPE_Q8_0: return 4 * FmtQ8_0::CHUNK;
    case BRISK_TYPE_Q4_K: return 256;
    case BRISK_TYPE_Q6_K: return 256;
    default: return 0;
    }
}

// Q8_0 file blocks (f16 d, int8 qs[32]) -> quants [n_out, n_in], then d [n_out, n_in/32].
static void repack_q8_0(const uint8_t *src, uint8_t *dst, int64_t n_in, int64_t n_out) {
    const int64_t nb = n_in / 32;
    uint8_t *d = dst + n_out * n_in;
    for (int64_t b = 0; b < n_out * nb; b++) {
        memcpy(d + 2 * b, src + 34 * b, 2);
        memcpy(dst + 32 * b, src + 34 * b + 2, 32);
    }
}

// Q6_K file blocks (ql[128], qh[64], scales[16], f16 d) -> 208-byte blocks, then d.
static void repack_q6_k(const uint8_t *src, uint8_t *dst, int64_t n_in, int64_t n_out) {
    const int64_t n_blocks = n_out * (n_in / 256);
    uint8_t *d = dst + n_blocks * 208;
    for (int64_t b = 0; b < n_blocks; b++) {
        memcpy(dst + 208 * b, src + 210 * b, 208);
        memcpy(d + 2 * b, src + 210 * b + 208, 2);
    }
}

extern "C" brisk_status brisk_cuda_weight_upload(brisk_cuda_weight *w, brisk_type type,
                                                 int64_t n_in, int64_t n_out,
                                                 const void *host_data, brisk_error *err) {
    memset(w, 0, sizeof *w);
    const brisk_type_info *ti = brisk_type_get(type);
    if (!ti || !brisk_cuda_weight_type_supported(type))
        return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "CUDA weights: type %s not supported",
                          ti ? ti->name : "?");
    const int64_t granule = row_granule(type);
    if (n_in <= 0 || n_out <= 0 || n_in % granule || n_out % 16)
        return brisk_fail(err, BRISK_ERR_ARG,
                          "CUDA weights: %s matrix %lld x %lld: rows must be a multiple of %lld "
                          "elements and the row count of 16",
                          ti->name, (long long)n_out, (long long)n_in, (long long)granule);
    const size_t bytes = (size_t)brisk_type_row_bytes(type, n_in) * (size_t)n_out;
    const uint8_t *src = (const uint8_t *)host_data;
    uint8_t *packed = nullptr;
    if (type == BRISK_TYPE_Q8_0 || type == BRISK_TYPE_Q6_K) {
        packed = (uint8_t *)malloc(bytes);
        if (!packed)
            return brisk_fail(err, BRISK_ERR_NOMEM, "CUDA weights: no host memory to repack %zu bytes",
                              bytes);
        if (type == BRISK_TYPE_Q8_0) repack_q8_0(src, packed, n_in, n_out);
        else repack_q6_k(src, packed, n_in, n_out);
        src = packed;
    }
    void *d_data = nullptr;
    brisk_status st = brisk_cuda_alloc(&d_data, bytes, "a weight matrix", err);
    if (st == BRISK_OK) st = brisk_cuda_upload(d_data, src, bytes, err);
    free(packed);
    if (st != BRISK_OK) {
        brisk_cuda_free(d_data);
        return st;
    }
    w->type = type;
    w->n_in = n_in;
    w->n_out = n_out;
    w->d_data = d_data;
    w->bytes = bytes;
    return BRISK_OK;
}

extern "C" void brisk_cuda_weight_free(brisk_cuda_weight *w) {
    brisk_cuda_free(w->d_data);
    memset(w, 0, sizeof *w);
}

// One thread per (row, chunk) of rows row0.. : decode and store the runs.
// out: [n_rows, n_in] f16.
template <class Fmt>
__global__ static void weight_to_f16(const uint8_t *w, int64_t n_in, int64_t n_out, int64_t row0,
                                     int64_t n_rows, half *out) {
    const int64_t chunks = n_in / Fmt::CHUNK;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n_rows * chunks) return;
    const int64_t r = i / chunks, ci = i % chunks;
    typename Fmt::Raw raw;
    Fmt::load(w, n_in, n_out, row0 + r, ci, raw);
    half2 v[Fmt::RUNS * Fmt::RUN / 2];
    Fmt::decode(raw, v);
#pragma unroll
    for (int run = 0; run < Fmt::RUNS; run++) {
        uint4 *dst = reinterpret_cast<uint4 *>(out + r * n_in + Fmt::run_start(ci, run));
        const uint4 *s = reinterpret_cast<const uint4 *>(v + run * Fmt::RUN / 2);
#pragma unroll
        for (int k = 0; k < Fmt::RUN / 8; k++) dst[k] = s[k];
    }
}

template <class Fmt>
static void launch_to_f16(const brisk_cuda_weight *w, int64_t row0, int64_t n_rows, half *out,
                          cudaStream_t stream) {
    const int64_t n = n_rows * (w->n_in / Fmt::CHUNK);
    const int threads = 256;
    weight_to_f16<Fmt><<<(unsigned)((n + threads - 1) / threads), threads, 0, stream>>>(
        (const uint8_t *)w->d_data, w->n_in, w->n_out, row0, n_rows, out);
}

extern "C" brisk_status brisk_cuda_weight_to_f16(const brisk_cuda_weight *w, int64_t row0,
                                                 int64_t n_rows, void *d_out, void *stream,
                                                 brisk_error *err) {
    if (row0 < 0 || n_rows < 0 || row0 + n_rows > w->n_out)
        return brisk_fail(err, BRISK_ERR_ARG, "CUDA weight_to_f16: rows %lld..%lld of %lld",
                          (long long)row0, (long long)(row0 + n_rows), (long long)w->n_out);
    if (n_rows == 0) return BRISK_OK;
    cudaStream_t s = (cudaStream_t)stream;
    half *out = (half *)d_out;
    switch (w->type) {
    case BRISK_TYPE_F16: launch_to_f16<FmtF16>(w, row0, n_rows, out, s); break;
    case BRISK_TYPE_Q8_0: launch_to_f16<FmtQ8_0>(w, row0, n_rows, out, s); break;
    case BRISK_TYPE_Q4_K: launch_to_f16<FmtQ4_K>(w, row0, n_rows, out, s); break;
    case BRISK_TYPE_Q6_K: launch_to_f16<FmtQ6_K>(w, row0, n_rows, out, s); break;
    default: return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "CUDA weight_to_f16: type");
    }
    CUDA_LAUNCHED(err, "weight_to_f16");
    return BRISK_OK;
}

// One thread per (token, chunk): out[t, :] = row tokens[t] of W, times scale, f32.
template <class Fmt>
__global__ static void embed_rows(const uint8_t *w, int64_t n_in, int64_t n_out, const int32_t *tokens,
                                  int n_tokens, float scale, float *out) {
    brisk_cuda::pdl_wait();
    brisk_cuda::pdl_trigger();
    const int64_t chunks = n_in / Fmt::CHUNK;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)n_tokens * chunks) return;
    const int64_t t = i / chunks, ci = i % chunks;
    int64_t row = tokens[t];
    if (row < 0 || row >= n_out) row = 0; // ids are checked on the host; never read out of bounds
    typename Fmt::Raw raw;
    Fmt::load(w, n_in, n_out, row, ci, raw);
    half2 v[Fmt::RUNS * Fmt::RUN / 2];
    Fmt::decode(raw, v);
#pragma unroll
    for (int run = 0; run < Fmt::RUNS; run++) {
        float2 *dst = reinterpret_cast<float2 *>(out + t * n_in + Fmt::run_start(ci, run));
#pragma unroll
        for (int k = 0; k < Fmt::RUN / 2; k++) {
            const float2 f = __half22float2(v[run * Fmt::RUN / 2 + k]);
            dst[k] = make_float2(f.x * scale, f.y * scale);
        }
    }
}

template <class Fmt>
static void launch_embed(const brisk_cuda_weight *w, const int32_t *tokens, int n, float scale, float *out,
                         cudaStream_t stream) {
    const int64_t total = (int64_t)n * (w->n_in / Fmt::CHUNK);
    const int threads = 128;
    brisk_cuda::pdl_launch(embed_rows<Fmt>, dim3((unsigned)((total + threads - 1) / threads)), dim3(threads), 0, stream,
                           (const uint8_t *)w->d_data, w->n_in, w->n_out, tokens, n, scale, out);
}

extern "C" brisk_status brisk_cuda_embed(const brisk_cuda_weight *w, const int32_t *d_tokens, int n_tokens,
                                         float scale, float *d_out, void *stream, brisk_error *err) {
    if (n_tokens <= 0) return n_tokens == 0 ? BRISK_OK : brisk_fail(err, BRISK_ERR_ARG, "CUDA embed: %d tokens", n_tokens);
    cudaStream_t s = (cudaStream_t)stream;
    switch (w->type) {
    case BRISK_TYPE_F16: launch_embed<FmtF16>(w, d_tokens, n_tokens, scale, d_out, s); break;
    case BRISK_TYPE_Q8_0: launch_embed<FmtQ8_0>(w, d_tokens, n_tokens, scale, d_out, s); break;
    case BRISK_TYPE_Q4_K: launch_embed<FmtQ4_K>(w, d_tokens, n_tokens, scale, d_out, s); break;
    case BRISK_TYPE_Q6_K: launch_embed<FmtQ6_K>(w, d_tokens, n_tokens, scale, d_out, s); break;
    default: return brisk_fail(err, BRISK_ERR_UNSUPPORTED, "CUDA embed: type");
    }
    CUDA_LAUNCHED(err, "embed");
    return BRISK_OK;
}
