/* Bad requests give clear errors, not crashes. */
#include <stdio.h>
#include <string.h>

#include "gpu_test.h"

void gpu_test_errors(void) {
    brisk_error err;
    void *p = NULL;
    /* 1 PiB cannot be allocated; the message gives what was needed and what was free */
    brisk_status st = brisk_cuda_alloc(&p, (size_t)1 << 50, "a huge buffer", &err);
    gpu_check(st == BRISK_ERR_NOMEM && !p && strstr(err.msg, "needed 1073741824.0 MiB") &&
                  strstr(err.msg, "MiB free of"),
              "out of memory message: %s", err.msg);
    /* and the device still works afterwards */
    st = brisk_cuda_alloc(&p, 1024, "a small buffer", &err);
    gpu_check(st == BRISK_OK && p, "allocation after a failed one");
    brisk_cuda_free(p);

    brisk_cuda_weight w;
    uint8_t dummy[4096] = {0};
    st = brisk_cuda_weight_upload(&w, BRISK_TYPE_Q4_K, 100, 16, dummy, &err);
    gpu_check(st == BRISK_ERR_ARG, "Q4_K rows of 100 elements refused: %s", err.msg);
    st = brisk_cuda_weight_upload(&w, BRISK_TYPE_Q5_K, 256, 16, dummy, &err);
    gpu_check(st == BRISK_ERR_UNSUPPORTED, "Q5_K refused: %s", err.msg);
    st = brisk_cuda_gemv(&w, NULL, NULL, 9, NULL, &err);
    gpu_check(st == BRISK_ERR_ARG, "gemv with 9 columns refused: %s", err.msg);
    brisk_cuda_attn_shape s = {1, 12, 8, 128, 128, 0, 1.0f, 0, BRISK_CUDA_KV_F16, 0, 0};
    st = brisk_cuda_attention(&s, NULL, NULL, NULL, NULL, NULL, 1, NULL, NULL, &err);
    gpu_check(st == BRISK_ERR_UNSUPPORTED, "attention 12 heads / 8 KV heads refused: %s", err.msg);
    s.n_head = 8;
    s.head_dim = 84;
    st = brisk_cuda_attention(&s, NULL, NULL, NULL, NULL, NULL, 1, NULL, NULL, &err);
    gpu_check(st == BRISK_ERR_UNSUPPORTED, "attention head_dim 84 refused: %s", err.msg);
}
