/* libFuzzer target for the GGUF reader: any byte string must either be
 * rejected with an error or parse into a file object whose every value and
 * tensor can be walked (and the first block of each tensor dequantized)
 * without a crash, a hang or a sanitizer report.
 *
 * Built twice: as `fuzz_gguf` with -fsanitize=fuzzer (BRISK_FUZZ=ON), and
 * into brisk_tests, where test_fuzz_regressions.c replays the seed corpus and
 * every crasher ever found through the same entry point. */
#include <stdint.h>
#include <stdlib.h>

#include "brisk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t walk_value(const brisk_gguf_value *v, int depth) {
    uint64_t h = (uint64_t)v->type;
    if (v->type == BRISK_GGUF_STRING) {
        for (uint64_t i = 0; i < v->v.str.len; i++) h = h * 31 + (uint8_t)v->v.str.ptr[i];
    } else if (v->type == BRISK_GGUF_ARRAY) {
        brisk_gguf_value e;
        for (uint64_t i = 0; i < v->v.arr.n; i++) {
            if (!brisk_gguf_array_get(v, i, &e)) abort(); /* every index below n must work */
            h += walk_value(&e, depth + 1);
        }
        if (brisk_gguf_array_get(v, v->v.arr.n, &e)) abort(); /* and n itself must not */
    } else {
        int64_t i;
        uint64_t u;
        double f;
        h += brisk_gguf_value_int(v, &i) ? (uint64_t)i : 0;
        h += brisk_gguf_value_uint(v, &u) ? u : 0;
        h += brisk_gguf_value_float(v, &f) ? (uint64_t)(f == f) : 0;
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    brisk_error err;
    brisk_gguf *g = brisk_gguf_open_memory(data, size, &err);
    if (!g) {
        if (err.status == BRISK_OK || err.msg[0] == '\0') abort(); /* failures must say why */
        return 0;
    }
    volatile uint64_t sink = 0;
    for (uint64_t i = 0; i < brisk_gguf_n_kv(g); i++) {
        const brisk_gguf_kv *kv = brisk_gguf_kv_at(g, i);
        sink += walk_value(&kv->value, 0) + kv->key.len;
    }
    float block[256];
    for (uint64_t i = 0; i < brisk_gguf_n_tensors(g); i++) {
        const brisk_gguf_tensor *t = brisk_gguf_tensor_at(g, i);
        const brisk_type_info *ti = brisk_type_get(t->type);
        if (!ti) abort(); /* the reader only accepts known types */
        const uint8_t *p = t->data;
        if (t->n_bytes) sink += p[0] + p[t->n_bytes - 1]; /* data lies inside the input */
        if (ti->can_dequantize && t->n_elements >= ti->block_size && ti->block_size <= 256)
            brisk_dequantize(t->type, t->data, block, ti->block_size, &err);
    }
    (void)sink;
    brisk_gguf_close(g);
    return 0;
}
