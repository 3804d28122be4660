// Prompt GEMM: W dequantized to f16 slice by slice, each slice multiplied by
// cuBLAS on the tensor cores (f16 inputs, f32 accumulation and output).
//
// cuBLAS is opened with dlopen on first use, not linked: merely loading
// libcublasLt costs ~150 MB of resident memory (its relocations), which every
// CPU-only run of a CUDA build would pay.
#include <cublas_v2.h>
#include <dlfcn.h>
#include <new>
#include <stdio.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

struct brisk_cuda_blas {
    cublasHandle_t handle;
    cudaStream_t stream;
};

namespace {

struct cublas_api {
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasSetStream_v2) set_stream;
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                              const void *, const void *, cudaDataType, int, const void *,
                              cudaDataType, int, const void *, void *, cudaDataType, int,
                              cublasComputeType_t, cublasGemmAlgo_t);
    char error[256];
};

cublas_api load_cublas() {
    cublas_api api = {};
    char name[64];
    snprintf(name, sizeof name, "libcublas.so.%d", CUBLAS_VER_MAJOR);
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(api.error, sizeof api.error, "cannot load %s: %s", name, dlerror());
        return api;
    }
    api.create = (decltype(api.create))dlsym(lib, "cublasCreate_v2");
    api.destroy = (decltype(api.destroy))dlsym(lib, "cublasDestroy_v2");
    api.set_stream = (decltype(api.set_stream))dlsym(lib, "cublasSetStream_v2");
    api.gemm_ex = (decltype(api.gemm_ex))dlsym(lib, "cublasGemmEx");
    if (!api.create || !api.destroy || !api.set_stream || !api.gemm_ex) {
        snprintf(api.error, sizeof api.error, "%s lacks cublasCreate_v2/cublasGemmEx", name);
        api.create = nullptr;
    }
    return api; // the library stays loaded for the process
}

const cublas_api &cublas() {
    static const cublas_api api = load_cublas();
    return api;
}

} // namespace

// Slices of at most this many bytes of f16 weights (F16 weights need none).
static const size_t GEMM_SLICE_BYTES = (size_t)64 << 20;

extern "C" brisk_status brisk_cuda_blas_create(brisk_cuda_blas **blas, void *stream,
                                               brisk_error *err) {
    *blas = nullptr;
    const cublas_api &api = cublas();
    if (!api.create) return brisk_fail(err, BRISK_ERR_IO, "cuBLAS: %s", api.error);
    brisk_cuda_blas *b = new (std::nothrow) brisk_cuda_blas();
    if (!b) return brisk_fail(err, BRISK_ERR_NOMEM, "CUDA: out of host memory");
    cublasStatus_t st = api.create(&b->handle);
    if (st != CUBLAS_STATUS_SUCCESS) {
        delete b;
        return brisk_fail(err, BRISK_ERR_IO, "cuBLAS: cublasCreate failed (%d)", (int)st);
    }
    b->stream = (cudaStream_t)stream;
    api.set_stream(b->handle, b->stream);
    *blas = b;
    return BRISK_OK;
}

extern "C" void brisk_cuda_blas_free(brisk_cuda_blas *blas) {
    if (!blas) return;
    cublas().destroy(blas->handle);
    delete blas;
}

static int64_t slice_rows(const brisk_cuda_weight *w) {
    int64_t rows = (int64_t)(GEMM_SLICE_BYTES / ((size_t)w->n_in * 2)) / 16 * 16;
    if (rows < 16) rows = 16;
    return rows < w->n_out ? rows : w->n_out;
}

extern "C" size_t brisk_cuda_gemm_scratch_bytes(const brisk_cuda_weight *w) {
    if (w->type == BRISK_TYPE_F16) return 0;
    return (size_t)slice_rows(w) * (size_t)w->n_in * 2;
}

extern "C" brisk_status brisk_cuda_gemm(brisk_cuda_blas *blas, const brisk_cuda_weight *w,
                                        const void *d_x, float *d_y, int n_tokens, void *d_scratch,
                                        brisk_error *err) {
    if (n_tokens < 0) return brisk_fail(err, BRISK_ERR_ARG, "CUDA gemm: %d tokens", n_tokens);
    if (n_tokens == 0) return BRISK_OK;
    const float one = 1.0f, zero = 0.0f;
    const int64_t step = w->type == BRISK_TYPE_F16 ? w->n_out : slice_rows(w);
    for (int64_t row0 = 0; row0 < w->n_out; row0 += step) {
        const int64_t rows = w->n_out - row0 < step ? w->n_out - row0 : step;
        const void *a = (const uint8_t *)w->d_data + (size_t)row0 * (size_t)w->n_in * 2;
        if (w->type != BRISK_TYPE_F16) {
            brisk_status st = brisk_cuda_weight_to_f16(w, row0, rows, d_scratch, blas->stream, err);
            if (st != BRISK_OK) return st;
            a = d_scratch;
        }
        // Column-major view: Y^T[rows, tokens] (ld n_out) = W_slice (as k x rows, transposed)
        // times X^T (k x tokens).
        cublasStatus_t cs = cublas().gemm_ex(blas->handle, CUBLAS_OP_T, CUBLAS_OP_N, (int)rows, n_tokens,
                                         (int)w->n_in, &one, a, CUDA_R_16F, (int)w->n_in, d_x,
                                         CUDA_R_16F, (int)w->n_in, &zero, d_y + row0, CUDA_R_32F,
                                         (int)w->n_out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
        if (cs != CUBLAS_STATUS_SUCCESS)
            return brisk_fail(err, BRISK_ERR_IO, "cuBLAS: cublasGemmEx failed (%d)", (int)cs);
    }
    return BRISK_OK;
}
