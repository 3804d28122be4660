/* gguf_tool: a test helper around brisk's GGUF reader and writer.
 *
 *   gguf_tool copy IN OUT          re-write IN through brisk: same version, every
 *                                  key and value (in order, via
 *                                  brisk_gguf_writer_set), every tensor with its data
 *   gguf_tool sample OUT [VERSION] write a sample file from scratch (v3 unless
 *                                  VERSION is 2): every metadata value type, a
 *                                  string array, nested arrays, an empty array,
 *                                  alignment 64 and F32, F16, Q8_0 and Q4_K tensors
 *
 * Exits 0 on success, 1 with the error message on stderr on failure, 2 on
 * bad usage. tests/py/test_gguf_interop.py knows the sample's contents: keep
 * the two in step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brisk.h"

static int fail(const char *what, const brisk_error *err) {
    fprintf(stderr, "gguf_tool: %s: %s\n", what, err ? err->msg : "");
    return 1;
}

/* A NUL-terminated copy of s; NULL if s holds a NUL byte (the writer takes C strings). */
static char *cstr(brisk_str s) {
    if (memchr(s.ptr, 0, (size_t)s.len)) return NULL;
    char *c = malloc((size_t)s.len + 1);
    if (!c) return NULL;
    memcpy(c, s.ptr, (size_t)s.len);
    c[s.len] = 0;
    return c;
}

static int cmd_copy(const char *in, const char *out) {
    brisk_error err;
    brisk_gguf *g = brisk_gguf_open(in, &err);
    if (!g) return fail("reading", &err);
    int rc = 0;
    brisk_gguf_writer *w = brisk_gguf_writer_create(brisk_gguf_version(g), &err);
    if (!w) {
        brisk_gguf_close(g);
        return fail("creating the writer", &err);
    }
    for (uint64_t i = 0; i < brisk_gguf_n_kv(g) && rc == 0; i++) {
        const brisk_gguf_kv *kv = brisk_gguf_kv_at(g, i);
        char *key = cstr(kv->key);
        if (!key) {
            fprintf(stderr, "gguf_tool: key %llu holds a NUL byte and cannot be copied\n",
                    (unsigned long long)i);
            rc = 1;
            break;
        }
        /* values read from a file are what the writer takes: arrays point at
         * their packed elements, strings and nested arrays at their tables */
        if (brisk_gguf_writer_set(w, key, &kv->value, &err) != BRISK_OK) rc = fail(key, &err);
        free(key);
    }
    for (uint64_t i = 0; i < brisk_gguf_n_tensors(g) && rc == 0; i++) {
        const brisk_gguf_tensor *t = brisk_gguf_tensor_at(g, i);
        char *name = cstr(t->name);
        if (!name) {
            fprintf(stderr, "gguf_tool: the name of tensor %llu holds a NUL byte\n", (unsigned long long)i);
            rc = 1;
            break;
        }
        if (brisk_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne, t->data, &err) != BRISK_OK)
            rc = fail(name, &err);
        free(name);
    }
    if (rc == 0 && brisk_gguf_writer_write(w, out, &err) != BRISK_OK) rc = fail("writing", &err);
    brisk_gguf_writer_free(w);
    brisk_gguf_close(g); /* the tensor data is read from the mapping while writing */
    return rc;
}

/* ---- the sample ----------------------------------------------------------- */

static const uint8_t S_U8[3] = {0, 7, 255};
static const int8_t S_I8[3] = {-128, -1, 127};
static const uint16_t S_U16[3] = {0, 258, 65535};
static const int16_t S_I16[3] = {-32768, 5, 32767};
static const uint32_t S_U32[3] = {0, 0x01020304u, 0xFFFFFFFFu};
static const int32_t S_I32[3] = {INT32_MIN, 0, INT32_MAX};
static const float S_F32[3] = {1.5f, -0.25f, 0.1f};
static const uint8_t S_BOOL[3] = {1, 0, 1};
static const uint64_t S_U64[3] = {0, 1ull << 40, UINT64_MAX};
static const int64_t S_I64[3] = {INT64_MIN, -2, INT64_MAX};
static const double S_F64[3] = {0.1, -2.5, 1e300};

static int cmd_sample(const char *out, uint32_t version) {
    brisk_error err;
    brisk_gguf_writer *w = brisk_gguf_writer_create(version, &err);
    if (!w) return fail("creating the writer", &err);
    brisk_status st = BRISK_OK;
#define SET(key, val)                                                  \
    do {                                                               \
        brisk_gguf_value v_ = val;                                     \
        if (!st) st = brisk_gguf_writer_set(w, key, &v_, &err);        \
    } while (0)
    if (!st) st = brisk_gguf_writer_set_str(w, "general.architecture", "sample", &err);
    if (!st) st = brisk_gguf_writer_set_u32(w, "general.alignment", 64, &err);
    SET("sample.uint8", ((brisk_gguf_value){.type = BRISK_GGUF_UINT8, .v.u64 = 250}));
    SET("sample.int8", ((brisk_gguf_value){.type = BRISK_GGUF_INT8, .v.i64 = -120}));
    SET("sample.uint16", ((brisk_gguf_value){.type = BRISK_GGUF_UINT16, .v.u64 = 65000}));
    SET("sample.int16", ((brisk_gguf_value){.type = BRISK_GGUF_INT16, .v.i64 = -32000}));
    SET("sample.uint32", ((brisk_gguf_value){.type = BRISK_GGUF_UINT32, .v.u64 = 4000000000u}));
    SET("sample.int32", ((brisk_gguf_value){.type = BRISK_GGUF_INT32, .v.i64 = -2000000000}));
    SET("sample.float32", ((brisk_gguf_value){.type = BRISK_GGUF_FLOAT32, .v.f64 = 0.1f}));
    SET("sample.bool", ((brisk_gguf_value){.type = BRISK_GGUF_BOOL, .v.b = true}));
    SET("sample.bool_false", ((brisk_gguf_value){.type = BRISK_GGUF_BOOL, .v.b = false}));
    SET("sample.string", ((brisk_gguf_value){.type = BRISK_GGUF_STRING,
                                             .v.str = {"h\xc3\xa9llo w\xc3\xb6rld", 13}}));
    SET("sample.uint64", ((brisk_gguf_value){.type = BRISK_GGUF_UINT64, .v.u64 = UINT64_MAX}));
    SET("sample.int64", ((brisk_gguf_value){.type = BRISK_GGUF_INT64, .v.i64 = INT64_MIN}));
    SET("sample.float64", ((brisk_gguf_value){.type = BRISK_GGUF_FLOAT64, .v.f64 = -1.0 / 3.0}));
    static const struct { const char *key; brisk_gguf_type t; const void *data; } arrays[] = {
        {"sample.array.uint8", BRISK_GGUF_UINT8, S_U8},
        {"sample.array.int8", BRISK_GGUF_INT8, S_I8},
        {"sample.array.uint16", BRISK_GGUF_UINT16, S_U16},
        {"sample.array.int16", BRISK_GGUF_INT16, S_I16},
        {"sample.array.uint32", BRISK_GGUF_UINT32, S_U32},
        {"sample.array.int32", BRISK_GGUF_INT32, S_I32},
        {"sample.array.float32", BRISK_GGUF_FLOAT32, S_F32},
        {"sample.array.bool", BRISK_GGUF_BOOL, S_BOOL},
        {"sample.array.uint64", BRISK_GGUF_UINT64, S_U64},
        {"sample.array.int64", BRISK_GGUF_INT64, S_I64},
        {"sample.array.float64", BRISK_GGUF_FLOAT64, S_F64},
    };
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0] && !st; i++)
        st = brisk_gguf_writer_set_array(w, arrays[i].key, arrays[i].t, arrays[i].data, 3, &err);
    if (!st) st = brisk_gguf_writer_set_array(w, "sample.array.empty", BRISK_GGUF_UINT32, NULL, 0, &err);
    static const char *const tokens[4] = {"<unk>", "", "h\xc3\xa9llo", "a b"};
    if (!st) st = brisk_gguf_writer_set_str_array(w, "sample.tokens", tokens, 4, &err);

    /* sample.nested = [[1, 2, 3] (int32), ["x", "yz"], [[7, 8] (uint8)]] */
    static const int32_t ints[3] = {1, 2, 3};
    static const uint8_t bytes[2] = {7, 8};
    static const brisk_str strs[2] = {{"x", 1}, {"yz", 2}};
    brisk_gguf_value innermost = {.type = BRISK_GGUF_ARRAY};
    innermost.v.arr.elem_type = BRISK_GGUF_UINT8;
    innermost.v.arr.n = 2;
    innermost.v.arr.raw = bytes;
    brisk_gguf_value items[3];
    memset(items, 0, sizeof items);
    items[0].type = items[1].type = items[2].type = BRISK_GGUF_ARRAY;
    items[0].v.arr.elem_type = BRISK_GGUF_INT32;
    items[0].v.arr.n = 3;
    items[0].v.arr.raw = ints;
    items[1].v.arr.elem_type = BRISK_GGUF_STRING;
    items[1].v.arr.n = 2;
    items[1].v.arr.strs = strs;
    items[2].v.arr.elem_type = BRISK_GGUF_ARRAY;
    items[2].v.arr.n = 1;
    items[2].v.arr.items = &innermost;
    brisk_gguf_value nested = {.type = BRISK_GGUF_ARRAY};
    nested.v.arr.elem_type = BRISK_GGUF_ARRAY;
    nested.v.arr.n = 3;
    nested.v.arr.items = items;
    SET("sample.nested", nested);
#undef SET
    if (st) {
        brisk_gguf_writer_free(w);
        return fail("setting metadata", &err);
    }

    /* Tensors, with contents the Python test recomputes:
     *   sample.f32  F32 [8, 3]    element i = (i - 10) * 0.25
     *   sample.f16  F16 [16]      element i has the bits 0x3c00 + 37 i
     *   sample.q8_0 Q8_0 [64, 2]  block b: d = 0x2c00, qs[j] = (7 j + 3 b) & 0xff
     *   sample.q4_k Q4_K [256, 2] block b: d = 0x3000, dmin = 0x2400,
     *                             scales[k] = (5 k + b) & 0x3f, qs[j] = (13 j + 7 b) & 0xff */
    static float f32[24];
    static uint16_t f16[16];
    static uint8_t q8_0[4 * 34], q4_k[2 * 144];
    for (int i = 0; i < 24; i++) f32[i] = (float)(i - 10) * 0.25f;
    for (int i = 0; i < 16; i++) f16[i] = (uint16_t)(0x3c00 + 37 * i);
    for (int b = 0; b < 4; b++) {
        uint8_t *blk = q8_0 + 34 * b;
        blk[0] = 0x00;
        blk[1] = 0x2c;
        for (int j = 0; j < 32; j++) blk[2 + j] = (uint8_t)((7 * j + 3 * b) & 0xff);
    }
    for (int b = 0; b < 2; b++) {
        uint8_t *blk = q4_k + 144 * b;
        blk[0] = 0x00;
        blk[1] = 0x30;
        blk[2] = 0x00;
        blk[3] = 0x24;
        for (int k = 0; k < 12; k++) blk[4 + k] = (uint8_t)((5 * k + b) & 0x3f);
        for (int j = 0; j < 128; j++) blk[16 + j] = (uint8_t)((13 * j + 7 * b) & 0xff);
    }
    const int64_t ne_f32[2] = {8, 3}, ne_f16[1] = {16}, ne_q8[2] = {64, 2}, ne_q4k[2] = {256, 2};
    if (!st) st = brisk_gguf_writer_add_tensor(w, "sample.f32", BRISK_TYPE_F32, 2, ne_f32, f32, &err);
    if (!st) st = brisk_gguf_writer_add_tensor(w, "sample.f16", BRISK_TYPE_F16, 1, ne_f16, f16, &err);
    if (!st) st = brisk_gguf_writer_add_tensor(w, "sample.q8_0", BRISK_TYPE_Q8_0, 2, ne_q8, q8_0, &err);
    if (!st) st = brisk_gguf_writer_add_tensor(w, "sample.q4_k", BRISK_TYPE_Q4_K, 2, ne_q4k, q4_k, &err);
    if (st) {
        brisk_gguf_writer_free(w);
        return fail("adding tensors", &err);
    }
    int rc = brisk_gguf_writer_write(w, out, &err) == BRISK_OK ? 0 : fail("writing", &err);
    brisk_gguf_writer_free(w);
    return rc;
}

static int usage(void) {
    fprintf(stderr, "usage: gguf_tool copy IN OUT\n"
                    "       gguf_tool sample OUT [VERSION]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "copy")) return cmd_copy(argv[2], argv[3]);
    if ((argc == 3 || argc == 4) && !strcmp(argv[1], "sample")) {
        uint32_t version = 3;
        if (argc == 4) {
            if (strcmp(argv[3], "2") && strcmp(argv[3], "3")) return usage();
            version = (uint32_t)atoi(argv[3]);
        }
        return cmd_sample(argv[2], version);
    }
    return usage();
}
