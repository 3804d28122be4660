/* CUDA kernel figures on llama3-8b shapes (run on the GPU machine):
 *   copy bandwidth (device-to-device cudaMemcpy, bytes read + written),
 *   decode GEMV per type / shape / column count: GB/s of weights streamed and
 *     % of the copy bandwidth (kernels replayed from a CUDA graph over enough
 *     copies of the matrix that it never sits in the L2 cache),
 *   prompt GEMM (512 tokens, dequantize + cuBLAS): TFLOP/s,
 *   attention: decode at 512 and 8192 positions, prefill of 512 tokens.
 * Usage: brisk_cuda_bench [quick|attention|attnq8|f16|f16prof|q8 [TYPE [SHAPE [VARIANT]]]]
 *   quick: Q4_K 4096x4096 only, for smoke runs; attention: the copy bandwidth and attention
 *   only; attnq8: the engine's Q8-cache attention cases at -d 512 and -d 8192 only; f16: the
 *   1-column F16 GEMV's configurations and the decode step's F16 launches;
 *   f16prof: single F16 launches for ncu; q8: the int8-activation GEMV's variants only (q8v0 =
 *   the decode default; Q4_K / Q6_K / Q8_0, or one TYPE by name, one SHAPE by its index in
 *   shapes[], one VARIANT: for profiling one kernel) */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"

#define CK(call)                                                                    \
    do {                                                                            \
        cudaError_t e_ = (call);                                                    \
        if (e_ != cudaSuccess) {                                                    \
            fprintf(stderr, "%s: %s (line %d)\n", #call, cudaGetErrorString(e_), __LINE__); \
            exit(1);                                                                \
        }                                                                           \
    } while (0)
#define BK(call)                                                                    \
    do {                                                                            \
        brisk_error err_;                                                           \
        if ((call) != BRISK_OK) {                                                   \
            fprintf(stderr, "%s: %s\n", #call, err_.msg);                           \
            exit(1);                                                                \
        }                                                                           \
    } while (0)
/* BK needs the error variable in the call: */
#define E (&err_)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static uint16_t rnd_half(int lo_exp, int hi_exp) {
    int e = lo_exp + (int)(rnd() % (uint32_t)(hi_exp - lo_exp));
    return (uint16_t)((((e + 15) << 10) | (rnd() & 0x3FF)) | (rnd() & 1 ? 0x8000 : 0));
}

/* Random file-layout matrix with finite realistic f16 fields. */
static uint8_t *random_matrix(brisk_type type, int64_t n_in, int64_t n_out, size_t *bytes) {
    const brisk_type_info *ti = brisk_type_get(type);
    *bytes = (size_t)brisk_type_row_bytes(type, n_in) * (size_t)n_out;
    uint8_t *w = malloc(*bytes);
    uint32_t *w32 = (uint32_t *)w;
    for (size_t i = 0; i < *bytes / 4; i++) w32[i] = rnd() ^ (rnd() << 16);
    for (size_t b = 0; b < *bytes / ti->block_bytes; b++) {
        uint8_t *blk = w + b * ti->block_bytes;
        uint16_t h = rnd_half(-14, -8);
        if (type == BRISK_TYPE_F16) h = rnd_half(-8, 0);
        size_t off = type == BRISK_TYPE_Q6_K ? 208 : 0;
        memcpy(blk + off, &h, 2);
        if (type == BRISK_TYPE_Q4_K) memcpy(blk + 2, &h, 2);
    }
    return w;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Median over `reps` replays of graph, in ms per replay. */
static float time_graph(cudaGraphExec_t exec, cudaStream_t s, int reps) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    float t[32];
    CK(cudaGraphLaunch(exec, s)); /* warm-up */
    CK(cudaStreamSynchronize(s));
    for (int r = 0; r < reps; r++) {
        CK(cudaEventRecord(a, s));
        CK(cudaGraphLaunch(exec, s));
        CK(cudaEventRecord(b, s));
        CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&t[r], a, b));
    }
    qsort(t, (size_t)reps, sizeof(float), cmp_float);
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return t[reps / 2];
}

typedef struct shape { const char *name; int64_t n_out, n_in; } shape;
static const shape shapes[] = {
    {"attn 4096x4096", 4096, 4096},
    {"attn kv 1024x4096", 1024, 4096},
    {"ffn up 14336x4096", 14336, 4096},
    {"ffn down 4096x14336", 4096, 14336},
    {"output 128256x4096", 128256, 4096},
};

/* GB/s of weight bytes for gemv over `copies` uploads of the matrix. */
/* d_xq != NULL: the int8-activation kernel (brisk_cuda_gemv_q8_variant, 1 column). */
static double bench_gemv(brisk_cuda_weight *ws, int copies, const void *d_x, const void *d_xq, float *d_y,
                         int cols, int variant, cudaStream_t s) {
    const int launches = copies < 40 ? 40 : copies;
    cudaGraph_t g;
    cudaGraphExec_t exec;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < launches; i++) {
        if (d_xq) BK(brisk_cuda_gemv_q8_variant(&ws[i % copies], d_xq, d_y, variant, s, E));
        else BK(brisk_cuda_gemv_variant(&ws[i % copies], d_x, d_y, cols, variant, s, E));
    }
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&exec, g, 0));
    float ms = time_graph(exec, s, 7);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(g);
    return (double)ws[0].bytes * launches / (ms * 1e-3) / 1e9;
}

/* A random matrix of `type` and shape sh uploaded as enough copies (at most
 * MAX_COPIES) that together they pass 256 MiB, so cycling through them the
 * L2 never holds the weights; returns the count, *bytes = one copy's size. */
#define MAX_COPIES 64
static int upload_copies(brisk_type type, const shape *sh, brisk_cuda_weight *ws, size_t *bytes) {
    uint8_t *host = random_matrix(type, sh->n_in, sh->n_out, bytes);
    int copies = (int)((size_t)256 << 20) / (int)(*bytes < ((size_t)1 << 30) ? *bytes : ((size_t)1 << 30)) + 1;
    if (copies > MAX_COPIES) copies = MAX_COPIES;
    for (int c = 0; c < copies; c++) BK(brisk_cuda_weight_upload(&ws[c], type, sh->n_in, sh->n_out, host, E));
    free(host);
    return copies;
}

/* GB/s of weights of one F16 launch in `mode` over n matrices (a graph of
 * >= 40 launches cycling through `copies` sets of them). */
static double bench_f16_launches(brisk_cuda_weight (*sets)[3], int copies, int n, brisk_cuda_f16_mode mode,
                                 const void *d_x, float *const *d_ys, void *d_out16, cudaStream_t s) {
    const int launches = copies < 40 ? 40 : copies;
    cudaGraph_t g;
    cudaGraphExec_t exec;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < launches; i++) {
        const brisk_cuda_weight *ws[3] = {&sets[i % copies][0], &sets[i % copies][1], &sets[i % copies][2]};
        BK(brisk_cuda_gemv_f16(ws, d_ys, n, d_x, mode, false, d_out16, NULL, s, E));
    }
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&exec, g, 0));
    float ms = time_graph(exec, s, 7);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(g);
    size_t bytes = 0;
    for (int m = 0; m < n; m++) bytes += sets[0][m].bytes;
    return (double)bytes * launches / (ms * 1e-3) / 1e9;
}

/* The F16 benches' device buffers: x, random f16 [14336] (the longest n_in);
 * out16, an f16 output of that length (ACT); y[3], f32 outputs of the largest
 * n_out (zeroed: ADD adds into them). */
typedef struct f16_io {
    void *x, *out16;
    float *y[3];
} f16_io;

static f16_io f16_io_alloc(void) {
    const int max_n = 14336;
    f16_io io;
    uint16_t *xh = malloc((size_t)max_n * 2);
    for (int64_t i = 0; i < max_n; i++) xh[i] = rnd_half(-6, 0);
    CK(cudaMalloc(&io.x, (size_t)max_n * 2));
    CK(cudaMalloc(&io.out16, (size_t)max_n * 2));
    CK(cudaMemcpy(io.x, xh, (size_t)max_n * 2, cudaMemcpyHostToDevice));
    free(xh);
    for (int m = 0; m < 3; m++) {
        CK(cudaMalloc((void **)&io.y[m], (size_t)128256 * 4));
        CK(cudaMemset(io.y[m], 0, (size_t)128256 * 4));
    }
    return io;
}

static void f16_io_free(f16_io *io) {
    cudaFree(io->x);
    cudaFree(io->out16);
    for (int m = 0; m < 3; m++) cudaFree(io->y[m]);
}

/* The F16 decode GEMV alone (`f16` mode): every configuration of the
 * 1-column kernel (brisk_cuda_gemv_f16_variant) and the tensor-core kernel's
 * default, per shape; then the decode step's F16 launches (q/k/v in one
 * launch, gate/up with act(gate) * up, down adding into x), GB/s of weights. */
static void bench_f16(double copy_gbs, cudaStream_t s) {
    const brisk_type type = BRISK_TYPE_F16;
    f16_io io = f16_io_alloc();
    void *d_x = io.x, *d_out16 = io.out16;
    float **d_y = io.y;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *sh = &shapes[si];
        size_t bytes;
        brisk_cuda_weight ws[MAX_COPIES];
        const int copies = upload_copies(type, sh, ws, &bytes);
        printf("F16 1col %-22s %7.1f MB  GB/s (%% of copy):", sh->name, (double)bytes / 1e6);
        double gbs = bench_gemv(ws, copies, d_x, NULL, d_y[0], 1, 3, s);
        printf("  tensor-core %5.0f (%3.0f%%)", gbs, 100 * gbs / copy_gbs);
        for (int v = 0; v < brisk_cuda_gemv_f16_variants(); v++) {
            const int launches = copies < 40 ? 40 : copies;
            cudaGraph_t g;
            cudaGraphExec_t exec;
            CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
            for (int i = 0; i < launches; i++) BK(brisk_cuda_gemv_f16_variant(&ws[i % copies], d_x, d_y[0], v, s, E));
            CK(cudaStreamEndCapture(s, &g));
            CK(cudaGraphInstantiate(&exec, g, 0));
            float ms = time_graph(exec, s, 7);
            cudaGraphExecDestroy(exec);
            cudaGraphDestroy(g);
            gbs = (double)bytes * launches / (ms * 1e-3) / 1e9;
            printf("  v%d %5.0f (%3.0f%%)", v, gbs, 100 * gbs / copy_gbs);
        }
        printf("\n");
        fflush(stdout);
        for (int c = 0; c < copies; c++) brisk_cuda_weight_free(&ws[c]);
    }
    /* the decode step's launches (BRISK_CUDA_F16_VARIANT picks their configuration) */
    static const struct { const char *name; int n; brisk_cuda_f16_mode mode; int64_t rows[3], n_in; } steps[] = {
        {"q/k/v 4096+1024+1024 x 4096", 3, BRISK_CUDA_F16_STORE, {4096, 1024, 1024}, 4096},
        {"o 4096x4096, x +=", 1, BRISK_CUDA_F16_ADD, {4096}, 4096},
        {"gate/up 2 x 14336x4096, act", 2, BRISK_CUDA_F16_ACT, {14336, 14336}, 4096},
        {"down 4096x14336, x +=", 1, BRISK_CUDA_F16_ADD, {4096}, 14336},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        size_t bytes = 0;
        for (int m = 0; m < steps[i].n; m++) bytes += (size_t)steps[i].rows[m] * steps[i].n_in * 2;
        int copies = (int)(((size_t)256 << 20) / bytes) + 1;
        if (copies > MAX_COPIES) copies = MAX_COPIES;
        brisk_cuda_weight (*sets)[3] = calloc((size_t)copies, sizeof *sets);
        for (int m = 0; m < steps[i].n; m++) {
            size_t b;
            uint8_t *host = random_matrix(type, steps[i].n_in, steps[i].rows[m], &b);
            for (int c = 0; c < copies; c++)
                BK(brisk_cuda_weight_upload(&sets[c][m], type, steps[i].n_in, steps[i].rows[m], host, E));
            free(host);
        }
        for (int m = steps[i].n; m < 3; m++)
            for (int c = 0; c < copies; c++) sets[c][m] = sets[c][0];
        double gbs = bench_f16_launches(sets, copies, steps[i].n, steps[i].mode, d_x, d_y, d_out16, s);
        printf("F16 decode launch %-30s %7.1f MB: %5.0f GB/s (%3.0f%%)\n", steps[i].name, (double)bytes / 1e6, gbs,
               100 * gbs / copy_gbs);
        fflush(stdout);
        for (int c = 0; c < copies; c++)
            for (int m = 0; m < steps[i].n; m++) brisk_cuda_weight_free(&sets[c][m]);
        free(sets);
    }
    f16_io_free(&io);
}

/* `f16prof`: single launches (no graph) for ncu: per shape the tensor-core
 * kernel's default, then variants 0, 1, 3 of the 1-column kernel; then the
 * q/k/v, gate/up (ACT) and down (ADD) launches of the default. */
static void profile_f16(cudaStream_t s) {
    f16_io io = f16_io_alloc();
    void *d_x = io.x, *d_out16 = io.out16;
    float **d_y = io.y;
    for (size_t si = 0; si < 4; si++) {
        const shape *sh = &shapes[si];
        size_t bytes;
        uint8_t *host = random_matrix(BRISK_TYPE_F16, sh->n_in, sh->n_out, &bytes);
        brisk_cuda_weight w, w2;
        BK(brisk_cuda_weight_upload(&w, BRISK_TYPE_F16, sh->n_in, sh->n_out, host, E));
        BK(brisk_cuda_weight_upload(&w2, BRISK_TYPE_F16, sh->n_in, sh->n_out, host, E));
        free(host);
        printf("profile: %s: tensor-core, v0, v1, v3", sh->name);
        BK(brisk_cuda_gemv_variant(&w, d_x, d_y[0], 1, 3, s, E));
        const int vs[] = {0, 1, 3};
        for (int i = 0; i < 3; i++) BK(brisk_cuda_gemv_f16_variant(&w, d_x, d_y[0], vs[i], s, E));
        if (si == 2) { /* gate/up with act */
            const brisk_cuda_weight *gu[2] = {&w, &w2};
            BK(brisk_cuda_gemv_f16(gu, NULL, 2, d_x, BRISK_CUDA_F16_ACT, false, d_out16, NULL, s, E));
            printf(", gate/up act");
        }
        if (si == 3) {
            const brisk_cuda_weight *one[1] = {&w};
            BK(brisk_cuda_gemv_f16(one, d_y, 1, d_x, BRISK_CUDA_F16_ADD, false, NULL, NULL, s, E));
            printf(", down add");
        }
        printf("\n");
        CK(cudaStreamSynchronize(s));
        brisk_cuda_weight_free(&w);
        brisk_cuda_weight_free(&w2);
    }
    f16_io_free(&io);
}

/* Prompt GEMM, 512 tokens, one copy (the dequantized slices are what stream):
 * prints its time and TFLOP/s. */
static void bench_gemm512(brisk_cuda_weight *ws, int copies, const shape *sh, const void *d_x, float *d_y,
                          cudaStream_t s, brisk_cuda_blas *blas) {
    const int max_tokens = 512;
    void *scratch = NULL;
    BK(brisk_cuda_alloc(&scratch, brisk_cuda_gemm_scratch_bytes(&ws[0]), "gemm scratch", E));
    BK(brisk_cuda_gemm(blas, &ws[0], d_x, d_y, max_tokens, scratch, E)); /* warm-up */
    cudaEvent_t ea, eb;
    CK(cudaEventCreate(&ea));
    CK(cudaEventCreate(&eb));
    float t[5];
    for (int r = 0; r < 5; r++) {
        CK(cudaEventRecord(ea, s));
        BK(brisk_cuda_gemm(blas, &ws[r % copies], d_x, d_y, max_tokens, scratch, E));
        CK(cudaEventRecord(eb, s));
        CK(cudaEventSynchronize(eb));
        CK(cudaEventElapsedTime(&t[r], ea, eb));
    }
    qsort(t, 5, sizeof(float), cmp_float);
    const float ms = t[2];
    cudaEventDestroy(ea);
    cudaEventDestroy(eb);
    printf("  gemm512 %.3f ms %.0f TFLOP/s\n", ms,
           2.0 * max_tokens * (double)sh->n_in * sh->n_out / (ms * 1e-3) / 1e12);
    fflush(stdout);
    brisk_cuda_free(scratch);
}

/* q8_only: the int8-activation variants only, of shape only_shape (-1: all) and
 * variant only_variant (0: all). */
static void bench_type(brisk_type type, double copy_gbs, cudaStream_t s, brisk_cuda_blas *blas,
                       bool quick, bool q8_only, int only_shape, int only_variant) {
    const char *tn = brisk_type_get(type)->name;
    for (size_t si = 0; si < (quick ? 1 : sizeof shapes / sizeof shapes[0]); si++) {
        if (only_shape >= 0 && (int)si != only_shape) continue;
        const shape *sh = &shapes[si];
        size_t bytes;
        brisk_cuda_weight ws[MAX_COPIES];
        const int copies = upload_copies(type, sh, ws, &bytes);
        const int max_tokens = 512;
        uint16_t *xh = malloc((size_t)max_tokens * sh->n_in * 2);
        for (int64_t i = 0; i < (int64_t)max_tokens * sh->n_in; i++) xh[i] = rnd_half(-6, 0);
        void *d_x;
        float *d_y;
        CK(cudaMalloc(&d_x, (size_t)max_tokens * sh->n_in * 2));
        CK(cudaMalloc((void **)&d_y, (size_t)max_tokens * sh->n_out * 4));
        CK(cudaMemcpy(d_x, xh, (size_t)max_tokens * sh->n_in * 2, cudaMemcpyHostToDevice));
        free(xh);
        printf("%-5s %-22s %7.1f MB  gemv GB/s (%% of copy):", tn, sh->name, (double)bytes / 1e6);
        for (int v = 1; v <= (q8_only ? 0 : 4); v++) {
            double gbs = bench_gemv(ws, copies, d_x, NULL, d_y, 1, v, s);
            printf("  v%d 1col %6.0f (%3.0f%%)", v, gbs, 100 * gbs / copy_gbs);
        }
        if (brisk_cuda_gemv_q8_supported(&ws[0])) {
            void *d_xq;
            CK(cudaMalloc(&d_xq, brisk_cuda_xq8_bytes(sh->n_in)));
            BK(brisk_cuda_quantize_x8(d_x, d_xq, 1, sh->n_in, s, E));
            for (int v = 0; v <= BRISK_CUDA_GEMV_Q8_VARIANTS; v++) { /* v0: the decode default */
                if (only_variant && v != only_variant) continue;
                double gbs = bench_gemv(ws, copies, NULL, d_xq, d_y, 1, v, s);
                printf("  q8v%d 1col %6.0f (%3.0f%%)", v, gbs, 100 * gbs / copy_gbs);
            }
            CK(cudaFree(d_xq));
        }
        const int cols[] = {1, 2, 4, 8};
        for (size_t ci = 0; ci < (q8_only ? 0 : 4); ci++) {
            double gbs = bench_gemv(ws, copies, d_x, NULL, d_y, cols[ci], 0, s);
            printf("  default %dcol %6.0f (%3.0f%%)", cols[ci], gbs, 100 * gbs / copy_gbs);
        }
        if (q8_only) printf("\n");
        else bench_gemm512(ws, copies, sh, d_x, d_y, s, blas);
        for (int c = 0; c < copies; c++) brisk_cuda_weight_free(&ws[c]);
        cudaFree(d_x);
        cudaFree(d_y);
    }
}

/* One decode attention case on a llama3-8b layer (32 heads, 8 KV heads,
 * head_dim 128, f16 or Q8 KV, random data): n_ctx positions, n_splits splits,
 * paged (block_size > 0: blocks of that many rows in shuffled order, as the
 * engine's cache) or contiguous. Eight caches rotate so that none sits in L2. */
static void bench_attention_decode(cudaStream_t s, int n_ctx, int n_splits, int block_size, brisk_cuda_kv_type kt,
                                   const char *note) {
    /* BRISK_BENCH_ATTN_CACHES=1: one cache, which stays in L2 (the kernel's time without DRAM) */
    const int N_CACHES = getenv("BRISK_BENCH_ATTN_CACHES") ? atoi(getenv("BRISK_BENCH_ATTN_CACHES")) : 8;
    if (N_CACHES < 1 || N_CACHES > 8) { fprintf(stderr, "BRISK_BENCH_ATTN_CACHES: 1 to 8\n"); exit(1); }
    const int n_blocks = block_size > 0 ? (n_ctx + block_size - 1) / block_size : 0;
    const int n_rows = block_size > 0 ? n_blocks * block_size : n_ctx;
    brisk_cuda_attn_shape sh = {1, 32, 8, 128, 128, 0, 0.088388f, 0, kt, n_rows, 0};
    const size_t cache_bytes = brisk_cuda_kv_bytes(kt, n_rows, 1024);
    const size_t kv_bytes = brisk_cuda_kv_bytes(kt, n_ctx, 1024); /* what one K or V read of n_ctx positions is */
    uint8_t *h = malloc(cache_bytes);
    if (kt == BRISK_CUDA_KV_F16) {
        for (size_t i = 0; i < (size_t)n_rows * 1024; i++) ((uint16_t *)h)[i] = rnd_half(-4, 1);
    } else {
        for (size_t i = 0; i < (size_t)n_rows * 1024; i++) h[i] = (uint8_t)(rnd() % 255 + 129); /* int8 -127..127 */
        uint16_t *d = (uint16_t *)(h + (size_t)n_rows * 1024);
        for (size_t i = 0; i < (size_t)n_rows * 32; i++) d[i] = rnd_half(-9, -6);
    }
    void *k[8], *v[8];
    for (int l = 0; l < N_CACHES; l++) {
        CK(cudaMalloc(&k[l], cache_bytes));
        CK(cudaMalloc(&v[l], cache_bytes));
        CK(cudaMemcpy(k[l], h, cache_bytes, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(v[l], h, cache_bytes, cudaMemcpyHostToDevice));
    }
    float q[32 * 128];
    for (int i = 0; i < 32 * 128; i++) q[i] = (float)(rnd() % 2001) / 1000.0f - 1.0f;
    float *d_q, *d_o;
    int32_t *d_pos, *d_table = NULL, *d_off = NULL, pos = n_ctx - 1, zero = 0;
    CK(cudaMalloc((void **)&d_q, sizeof q));
    CK(cudaMemcpy(d_q, q, sizeof q, cudaMemcpyHostToDevice));
    CK(cudaMalloc((void **)&d_o, 32 * 128 * 4));
    CK(cudaMalloc((void **)&d_pos, 4));
    CK(cudaMemcpy(d_pos, &pos, 4, cudaMemcpyHostToDevice));
    if (block_size > 0) {
        int32_t *table = malloc((size_t)n_blocks * sizeof *table);
        for (int i = 0; i < n_blocks; i++) table[i] = i;
        for (int i = n_blocks - 1; i > 0; i--) {
            int j = (int)(rnd() % (uint32_t)(i + 1));
            int32_t t = table[i]; table[i] = table[j]; table[j] = t;
        }
        CK(cudaMalloc((void **)&d_table, (size_t)n_blocks * sizeof *table));
        CK(cudaMemcpy(d_table, table, (size_t)n_blocks * sizeof *table, cudaMemcpyHostToDevice));
        CK(cudaMalloc((void **)&d_off, 4));
        CK(cudaMemcpy(d_off, &zero, 4, cudaMemcpyHostToDevice));
        free(table);
    }
    void *scratch;
    CK(cudaMalloc(&scratch, brisk_cuda_attention_scratch_bytes(&sh, n_splits) + 16));
    cudaGraph_t g;
    cudaGraphExec_t exec;
    const int launches = 32;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < launches; i++)
        BK(brisk_cuda_attention_paged(&sh, d_q, k[i % N_CACHES], v[i % N_CACHES], d_pos, d_table, d_off, block_size,
                                      d_o, n_splits, scratch, s, E));
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&exec, g, 0));
    float ms = time_graph(exec, s, 7) / launches;
    printf("attention decode llama3-8b layer, %5d positions, %3d splits%s%s%s: %.1f us, KV %.0f GB/s\n", n_ctx,
           n_splits, block_size > 0 ? ", paged" : "", kt == BRISK_CUDA_KV_Q8 ? ", Q8 KV" : "", note, ms * 1e3,
           2.0 * kv_bytes / (ms * 1e-3) / 1e9);
    fflush(stdout);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(g);
    for (int l = 0; l < N_CACHES; l++) { cudaFree(k[l]); cudaFree(v[l]); }
    cudaFree(d_q); cudaFree(d_o); cudaFree(d_pos); cudaFree(d_table); cudaFree(d_off); cudaFree(scratch);
    free(h);
}

/* rope_kv_store of one llama3-8b token (32 q heads, 8 KV heads, head_dim 128)
 * into an f16 or a Q8 cache, 64 launches in a graph. */
static void bench_rope_kv(cudaStream_t s, brisk_cuda_kv_type kt) {
    const int rows = 4096;
    float *d_q, *d_k, *d_v, *d_f;
    int32_t *d_pos, *d_rows, pos = 3000, row = 1234;
    void *kc, *vc;
    CK(cudaMalloc((void **)&d_q, 4096 * 4));
    CK(cudaMalloc((void **)&d_k, 1024 * 4));
    CK(cudaMalloc((void **)&d_v, 1024 * 4));
    CK(cudaMalloc((void **)&d_f, 64 * 4));
    CK(cudaMemset(d_q, 0x3c, 4096 * 4));
    CK(cudaMemset(d_k, 0x3c, 1024 * 4));
    CK(cudaMemset(d_v, 0x3c, 1024 * 4));
    CK(cudaMemset(d_f, 0x30, 64 * 4));
    CK(cudaMalloc((void **)&d_pos, 4));
    CK(cudaMalloc((void **)&d_rows, 4));
    CK(cudaMemcpy(d_pos, &pos, 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(d_rows, &row, 4, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&kc, brisk_cuda_kv_bytes(kt, rows, 1024)));
    CK(cudaMalloc(&vc, brisk_cuda_kv_bytes(kt, rows, 1024)));
    cudaGraph_t g;
    cudaGraphExec_t exec;
    const int launches = 64;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < launches; i++)
        BK(brisk_cuda_rope_kv_store(d_q, d_k, d_v, d_pos, d_f, 1, 32, 8, 128, 128, 128, false, 1.0f, kc, vc, kt, rows,
                                    d_rows, s, E));
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&exec, g, 0));
    const float ms = time_graph(exec, s, 7) / launches;
    printf("rope_kv_store llama3-8b, 1 token, %s cache: %.2f us\n", kt == BRISK_CUDA_KV_Q8 ? "Q8" : "f16", ms * 1e3);
    fflush(stdout);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(g);
    cudaFree(d_q); cudaFree(d_k); cudaFree(d_v); cudaFree(d_f); cudaFree(d_pos); cudaFree(d_rows);
    cudaFree(kc); cudaFree(vc);
}

static void bench_attention(cudaStream_t s) {
    bench_rope_kv(s, BRISK_CUDA_KV_F16);
    bench_rope_kv(s, BRISK_CUDA_KV_Q8);
    const brisk_cuda_kv_type F16 = BRISK_CUDA_KV_F16, Q8 = BRISK_CUDA_KV_Q8;
    for (int i = 0; i < 2; i++) {
        const brisk_cuda_kv_type kt = i ? Q8 : F16;
        /* brisk bench -n 128 (n_ctx 512: splits sized for it) and -d 8192 -n 128 (n_ctx 8320) */
        const brisk_cuda_attn_shape dec = {1, 32, 8, 128, 128, 0, 0.088388f, 0, kt, 0, 0};
        const int s512 = brisk_cuda_attention_splits(&dec, 512), s8320 = brisk_cuda_attention_splits(&dec, 8320);
        bench_attention_decode(s, 128, s512, 16, kt, " (decode at depth 0, n_ctx 512)");
        bench_attention_decode(s, 512, s8320, 16, kt, " (-d 512 with n_ctx 8320)");
        bench_attention_decode(s, 8192, s8320, 16, kt, " (the engine's case at -d 8192)");
        bench_attention_decode(s, 8192, brisk_cuda_attention_splits(&dec, 8192), 0, kt, "");
    }
    const brisk_cuda_attn_shape dec = {1, 32, 8, 128, 128, 0, 0.088388f, 0, F16, 0, 0};
    const int s512 = brisk_cuda_attention_splits(&dec, 512), s8320 = brisk_cuda_attention_splits(&dec, 8320);
    bench_attention_decode(s, 512, s512, 0, F16, "");
    bench_attention_decode(s, 512, s8320, 16, F16, " (sized for 8320)");
    const int sweep[] = {16, 32, 48, 64, 96, 128, 256};
    for (size_t i = 0; i < sizeof sweep / sizeof sweep[0]; i++)
        bench_attention_decode(s, 8192, sweep[i], 16, Q8, " (sweep)");
    /* prefill: 512 queries at positions 0..511 */
    {
        const int n = 512;
        brisk_cuda_attn_shape sh = {n, 32, 8, 128, 128, 0, 0.088388f, 0, BRISK_CUDA_KV_F16, 0, 0};
        void *k, *v;
        float *d_q, *d_o;
        int32_t *d_pos, pos[512];
        for (int i = 0; i < n; i++) pos[i] = i;
        CK(cudaMalloc(&k, (size_t)n * 1024 * 2));
        CK(cudaMalloc(&v, (size_t)n * 1024 * 2));
        CK(cudaMemset(k, 0x21, (size_t)n * 1024 * 2));
        CK(cudaMemset(v, 0x22, (size_t)n * 1024 * 2));
        CK(cudaMalloc((void **)&d_q, (size_t)n * 4096 * 4));
        CK(cudaMemset(d_q, 0x3c, (size_t)n * 4096 * 4));
        CK(cudaMalloc((void **)&d_o, (size_t)n * 4096 * 4));
        CK(cudaMalloc((void **)&d_pos, sizeof pos));
        CK(cudaMemcpy(d_pos, pos, sizeof pos, cudaMemcpyHostToDevice));
        cudaGraph_t g;
        cudaGraphExec_t exec;
        CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
        for (int i = 0; i < 4; i++) BK(brisk_cuda_attention(&sh, d_q, k, v, d_pos, d_o, 1, NULL, s, E));
        CK(cudaStreamEndCapture(s, &g));
        CK(cudaGraphInstantiate(&exec, g, 0));
        float ms = time_graph(exec, s, 5) / 4;
        double flops = 4.0 * 32 * 128 * (double)n * (n + 1) / 2;
        printf("attention prefill llama3-8b layer, 512 tokens: %.3f ms, %.1f TFLOP/s\n", ms,
               flops / (ms * 1e-3) / 1e12);
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(g);
        /* the tensor-core prefill kernel (its shared-memory attribute is set on the first call, outside capture) */
        BK(brisk_cuda_attention_prefill(&sh, d_q, k, v, d_pos, NULL, 0, d_o, s, E));
        CK(cudaStreamSynchronize(s));
        CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
        for (int i = 0; i < 4; i++) BK(brisk_cuda_attention_prefill(&sh, d_q, k, v, d_pos, NULL, 0, d_o, s, E));
        CK(cudaStreamEndCapture(s, &g));
        CK(cudaGraphInstantiate(&exec, g, 0));
        ms = time_graph(exec, s, 5) / 4;
        printf("attention prefill llama3-8b layer, 512 tokens, tensor cores: %.3f ms, %.1f TFLOP/s\n", ms,
               flops / (ms * 1e-3) / 1e12);
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(g);
        cudaFree(k); cudaFree(v); cudaFree(d_q); cudaFree(d_o); cudaFree(d_pos);
    }
}

int main(int argc, char **argv) {
    const bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    const bool attention_only = argc > 1 && strcmp(argv[1], "attention") == 0;
    const bool q8_only = argc > 1 && strcmp(argv[1], "q8") == 0;
    const bool f16_only = argc > 1 && strcmp(argv[1], "f16") == 0;
    char desc[256];
    BK(brisk_cuda_device_describe(0, desc, sizeof desc, E));
    printf("device: %s\n", desc);
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    double copy_gbs;
    BK(brisk_cuda_copy_bandwidth((size_t)1 << 30, &copy_gbs, E));
    printf("copy bandwidth (read + write): %.0f GB/s\n", copy_gbs);
    if (argc > 1 && strcmp(argv[1], "f16prof") == 0) {
        profile_f16(s);
        cudaStreamDestroy(s);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "attnq8") == 0) { /* the engine's Q8 cases only (-d 512 and -d 8192) */
        const brisk_cuda_attn_shape dec = {1, 32, 8, 128, 128, 0, 0.088388f, 0, BRISK_CUDA_KV_Q8, 0, 0};
        const int s8320 = brisk_cuda_attention_splits(&dec, 8320);
        bench_attention_decode(s, 512, s8320, 16, BRISK_CUDA_KV_Q8, " (-d 512 with n_ctx 8320)");
        bench_attention_decode(s, 8192, s8320, 16, BRISK_CUDA_KV_Q8, " (the engine's case at -d 8192)");
        cudaStreamDestroy(s);
        return 0;
    }
    if (f16_only) {
        bench_f16(copy_gbs, s);
        cudaStreamDestroy(s);
        return 0;
    }
    brisk_cuda_blas *blas;
    BK(brisk_cuda_blas_create(&blas, s, E));
    const brisk_type types[] = {BRISK_TYPE_Q4_K, BRISK_TYPE_Q6_K, BRISK_TYPE_Q8_0, BRISK_TYPE_F16};
    const size_t n_types = attention_only ? 0 : quick ? 1 : q8_only ? 3 : 4;
    const char *only_type = q8_only && argc > 2 ? argv[2] : NULL;
    const int only_shape = q8_only && argc > 3 ? atoi(argv[3]) : -1, only_variant = q8_only && argc > 4 ? atoi(argv[4]) : 0;
    for (size_t i = 0; i < n_types; i++)
        if (!only_type || strcmp(only_type, brisk_type_get(types[i])->name) == 0)
            bench_type(types[i], copy_gbs, s, blas, quick, q8_only, only_shape, only_variant);
    if (!q8_only) bench_attention(s);
    brisk_cuda_blas_free(blas);
    cudaStreamDestroy(s);
    return 0;
}
