/* GGUF writer tests: files written to a temporary directory and read back with
 * brisk_gguf_open must hold exactly what was set and added, laid out as GGUF
 * requires; bad arguments must be refused without changing the writer; a
 * failed write must leave no file behind. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brisk.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* A fresh directory under /tmp; false (and a failed check) if none. */
static bool make_tmpdir(char dir[64]) {
    snprintf(dir, 64, "/tmp/brisk_gguf_write_XXXXXX");
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp: %s", strerror(errno));
        return false;
    }
    return true;
}

/* Remove dir, its files and its empty subdirectories. */
static void remove_tmpdir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (remove(path) != 0) rmdir(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static brisk_gguf_value u_val(brisk_gguf_type t, uint64_t u) { return (brisk_gguf_value){.type = t, .v.u64 = u}; }
static brisk_gguf_value i_val(brisk_gguf_type t, int64_t i) { return (brisk_gguf_value){.type = t, .v.i64 = i}; }
static brisk_gguf_value f_val(brisk_gguf_type t, double f) { return (brisk_gguf_value){.type = t, .v.f64 = f}; }
static brisk_gguf_value s_val(const char *s, uint64_t n) { return (brisk_gguf_value){.type = BRISK_GGUF_STRING, .v.str = {s, n}}; }

/* Bitwise equality of two scalar values of the same type. */
static bool same_scalar(const brisk_gguf_value *a, const brisk_gguf_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case BRISK_GGUF_UINT8: case BRISK_GGUF_UINT16: case BRISK_GGUF_UINT32: case BRISK_GGUF_UINT64:
        return a->v.u64 == b->v.u64;
    case BRISK_GGUF_INT8: case BRISK_GGUF_INT16: case BRISK_GGUF_INT32: case BRISK_GGUF_INT64:
        return a->v.i64 == b->v.i64;
    case BRISK_GGUF_FLOAT32: {
        double want = (double)(float)a->v.f64;
        return memcmp(&want, &b->v.f64, 8) == 0;
    }
    case BRISK_GGUF_FLOAT64: return memcmp(&a->v.f64, &b->v.f64, 8) == 0;
    case BRISK_GGUF_BOOL: return a->v.b == b->v.b;
    case BRISK_GGUF_STRING:
        return a->v.str.len == b->v.str.len && !memcmp(a->v.str.ptr, b->v.str.ptr, (size_t)a->v.str.len);
    default: return false;
    }
}

/* ------------------------------------------------------------------------ */
/* Round trip                                                                */
/* ------------------------------------------------------------------------ */

#define N_SCALARS 11
static brisk_gguf_value scalar(int i) {
    switch (i) {
    case 0: return u_val(BRISK_GGUF_UINT8, 255);
    case 1: return i_val(BRISK_GGUF_INT8, -128);
    case 2: return u_val(BRISK_GGUF_UINT16, 65535);
    case 3: return i_val(BRISK_GGUF_INT16, -32768);
    case 4: return u_val(BRISK_GGUF_UINT32, 0xFFFFFFFFu);
    case 5: return i_val(BRISK_GGUF_INT32, INT32_MIN);
    case 6: return f_val(BRISK_GGUF_FLOAT32, 0.1f);
    case 7: return (brisk_gguf_value){.type = BRISK_GGUF_BOOL, .v.b = true};
    case 8: return u_val(BRISK_GGUF_UINT64, UINT64_MAX);
    case 9: return i_val(BRISK_GGUF_INT64, INT64_MIN);
    default: return f_val(BRISK_GGUF_FLOAT64, -1.0 / 3.0);
    }
}

/* Packed little-endian test arrays, one per scalar type, 3 elements each. */
static const uint8_t A_U8[] = {0, 7, 255};
static const int8_t A_I8[] = {-128, -1, 127};
static const uint16_t A_U16[] = {0, 258, 65535};
static const int16_t A_I16[] = {-32768, 5, 32767};
static const uint32_t A_U32[] = {0, 0x01020304, 0xFFFFFFFF};
static const int32_t A_I32[] = {INT32_MIN, 0, INT32_MAX};
static const float A_F32[] = {1.5f, -0.0f, 1e-40f /* subnormal */};
static const uint8_t A_BOOL[] = {1, 0, 1};
static const uint64_t A_U64[] = {0, 1ull << 33, UINT64_MAX};
static const int64_t A_I64[] = {INT64_MIN, -2, INT64_MAX};
static const double A_F64[] = {0.1, -INFINITY, 1e308};
static const struct {
    brisk_gguf_type t;
    const void *data;
    size_t elem;
} ARRAYS[N_SCALARS] = {
    {BRISK_GGUF_UINT8, A_U8, 1},      {BRISK_GGUF_INT8, A_I8, 1},
    {BRISK_GGUF_UINT16, A_U16, 2},    {BRISK_GGUF_INT16, A_I16, 2},
    {BRISK_GGUF_UINT32, A_U32, 4},    {BRISK_GGUF_INT32, A_I32, 4},
    {BRISK_GGUF_FLOAT32, A_F32, 4},   {BRISK_GGUF_BOOL, A_BOOL, 1},
    {BRISK_GGUF_UINT64, A_U64, 8},    {BRISK_GGUF_INT64, A_I64, 8},
    {BRISK_GGUF_FLOAT64, A_F64, 8},
};

#define N_WT 8
static const struct {
    const char *name;
    brisk_type type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t n_bytes;
} WT[N_WT] = {
    {"token_embd.weight", BRISK_TYPE_F32, 2, {4, 3}, 48},
    {"output_norm.weight", BRISK_TYPE_F16, 1, {8}, 16},
    {"nothing", BRISK_TYPE_F32, 2, {4, 0}, 0}, /* shares its offset with the next */
    {"blk.0.attn_q.weight", BRISK_TYPE_Q8_0, 2, {64, 2}, 4 * 34},
    {"blk.0.ffn_up.weight", BRISK_TYPE_Q4_K, 2, {256, 2}, 2 * 144},
    {"blk.0.bf16", BRISK_TYPE_BF16, 3, {16, 1, 2}, 64},
    {"blk.0.i8", BRISK_TYPE_I8, 4, {5, 1, 1, 1}, 5},
    {"rope_freqs", BRISK_TYPE_F32, 1, {1}, 4},
};

static void fill_tensor(uint8_t *p, int t, uint64_t n) {
    for (uint64_t j = 0; j < n; j++) p[j] = (uint8_t)(j * 29 + (uint64_t)t * 101 + 3);
}

static const char *const TOKENS[] = {"<s>", "", "\xce\xb3\xce\xb5\xce\xb9\xce\xac", "with space", "a\tb"};
#define N_TOKENS 5

/* Writes everything through w; data must stay alive until the write. */
static void populate(brisk_gguf_writer *w, uint8_t *data[N_WT], uint32_t alignment) {
    brisk_error err;
#define OK(call) CHECK_MSG((call) == BRISK_OK, "%s: %s", #call, err.msg)
    OK(brisk_gguf_writer_set_str(w, "general.architecture", "llama", &err));
    OK(brisk_gguf_writer_set_u32(w, "test.replaced", 1, &err)); /* replaced below */
    for (int i = 0; i < N_SCALARS; i++) {
        char key[48];
        brisk_gguf_value v = scalar(i);
        snprintf(key, sizeof key, "test.scalar.%s", brisk_gguf_type_name(v.type));
        OK(brisk_gguf_writer_set(w, key, &v, &err));
    }
    if (alignment) OK(brisk_gguf_writer_set_u32(w, "general.alignment", alignment, &err));
    brisk_gguf_value s = s_val("a\0b\xe2\x82\xac", 6); /* embedded NUL, UTF-8 */
    OK(brisk_gguf_writer_set(w, "test.string", &s, &err));
    OK(brisk_gguf_writer_set_str(w, "test.string.empty", "", &err));
    for (int i = 0; i < N_SCALARS; i++) {
        char key[48];
        snprintf(key, sizeof key, "test.array.%s", brisk_gguf_type_name(ARRAYS[i].t));
        OK(brisk_gguf_writer_set_array(w, key, ARRAYS[i].t, ARRAYS[i].data, 3, &err));
    }
    OK(brisk_gguf_writer_set_array(w, "test.array.empty", BRISK_GGUF_INT64, NULL, 0, &err));
    OK(brisk_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", TOKENS, N_TOKENS, &err));
    /* [[1, 2] (int32), ["x"], [[9] (uint8)], [] (float32)] */
    static const int32_t ints[2] = {1, 2};
    static const uint8_t nine = 9;
    brisk_str x = {"x", 1};
    brisk_gguf_value innermost = {.type = BRISK_GGUF_ARRAY};
    innermost.v.arr.elem_type = BRISK_GGUF_UINT8;
    innermost.v.arr.n = 1;
    innermost.v.arr.raw = &nine;
    brisk_gguf_value items[4];
    memset(items, 0, sizeof items);
    for (int i = 0; i < 4; i++) items[i].type = BRISK_GGUF_ARRAY;
    items[0].v.arr.elem_type = BRISK_GGUF_INT32;
    items[0].v.arr.n = 2;
    items[0].v.arr.raw = ints;
    items[1].v.arr.elem_type = BRISK_GGUF_STRING;
    items[1].v.arr.n = 1;
    items[1].v.arr.strs = &x;
    items[2].v.arr.elem_type = BRISK_GGUF_ARRAY;
    items[2].v.arr.n = 1;
    items[2].v.arr.items = &innermost;
    items[3].v.arr.elem_type = BRISK_GGUF_FLOAT32;
    brisk_gguf_value nested = {.type = BRISK_GGUF_ARRAY};
    nested.v.arr.elem_type = BRISK_GGUF_ARRAY;
    nested.v.arr.n = 4;
    nested.v.arr.items = items;
    OK(brisk_gguf_writer_set(w, "test.array.nested", &nested, &err));
    /* setting a key again replaces its value (and type) where it was */
    OK(brisk_gguf_writer_set_str(w, "test.replaced", "second", &err));

    for (int t = 0; t < N_WT; t++) {
        data[t] = malloc(WT[t].n_bytes ? WT[t].n_bytes : 1);
        fill_tensor(data[t], t, WT[t].n_bytes);
        OK(brisk_gguf_writer_add_tensor(w, WT[t].name, WT[t].type, WT[t].n_dims, WT[t].ne, data[t], &err));
    }
#undef OK
}

static void check_file(const char *path, uint32_t version, uint32_t alignment) {
    brisk_error err;
    brisk_gguf *g = brisk_gguf_open(path, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (!g) return;
    const uint64_t align = alignment ? alignment : 32;
    CHECK_EQ_INT(brisk_gguf_version(g), version);
    CHECK_EQ_INT(brisk_gguf_alignment(g), align);
    CHECK_EQ_INT(brisk_gguf_file_size(g), file_size(path));

    /* keys in the order first set */
    const char *order[64];
    int n = 0;
    order[n++] = "general.architecture";
    order[n++] = "test.replaced";
    static char scalar_keys[N_SCALARS][48], array_keys[N_SCALARS][48];
    for (int i = 0; i < N_SCALARS; i++) {
        snprintf(scalar_keys[i], 48, "test.scalar.%s", brisk_gguf_type_name(scalar(i).type));
        order[n++] = scalar_keys[i];
    }
    if (alignment) order[n++] = "general.alignment";
    order[n++] = "test.string";
    order[n++] = "test.string.empty";
    for (int i = 0; i < N_SCALARS; i++) {
        snprintf(array_keys[i], 48, "test.array.%s", brisk_gguf_type_name(ARRAYS[i].t));
        order[n++] = array_keys[i];
    }
    order[n++] = "test.array.empty";
    order[n++] = "tokenizer.ggml.tokens";
    order[n++] = "test.array.nested";
    CHECK_EQ_INT(brisk_gguf_n_kv(g), n);
    for (int i = 0; i < n && (uint64_t)i < brisk_gguf_n_kv(g); i++)
        CHECK_MSG(brisk_str_eq(brisk_gguf_kv_at(g, (uint64_t)i)->key, order[i]), "key %d is not %s", i, order[i]);

    const brisk_gguf_value *v = brisk_gguf_find(g, "general.architecture");
    CHECK(v && v->type == BRISK_GGUF_STRING && brisk_str_eq(v->v.str, "llama"));
    v = brisk_gguf_find(g, "test.replaced");
    CHECK(v && v->type == BRISK_GGUF_STRING && brisk_str_eq(v->v.str, "second"));
    for (int i = 0; i < N_SCALARS; i++) {
        brisk_gguf_value want = scalar(i);
        v = brisk_gguf_find(g, scalar_keys[i]);
        CHECK_MSG(v && same_scalar(&want, v), "%s", scalar_keys[i]);
    }
    v = brisk_gguf_find(g, "general.alignment");
    if (alignment) CHECK(v && v->type == BRISK_GGUF_UINT32 && v->v.u64 == alignment);
    else CHECK(v == NULL);
    v = brisk_gguf_find(g, "test.string");
    CHECK(v && v->type == BRISK_GGUF_STRING && v->v.str.len == 6 && !memcmp(v->v.str.ptr, "a\0b\xe2\x82\xac", 6));
    v = brisk_gguf_find(g, "test.string.empty");
    CHECK(v && v->type == BRISK_GGUF_STRING && v->v.str.len == 0);
    for (int i = 0; i < N_SCALARS; i++) {
        v = brisk_gguf_find(g, array_keys[i]);
        CHECK_MSG(v && v->type == BRISK_GGUF_ARRAY && v->v.arr.elem_type == ARRAYS[i].t && v->v.arr.n == 3,
                  "%s", array_keys[i]);
        if (!v || v->type != BRISK_GGUF_ARRAY || v->v.arr.n != 3) continue;
        /* the elements are the bytes given, packed */
        CHECK_MSG(!memcmp(v->v.arr.raw, ARRAYS[i].data, 3 * ARRAYS[i].elem), "%s bytes", array_keys[i]);
    }
    v = brisk_gguf_find(g, "test.array.empty");
    CHECK(v && v->type == BRISK_GGUF_ARRAY && v->v.arr.elem_type == BRISK_GGUF_INT64 && v->v.arr.n == 0);
    v = brisk_gguf_find(g, "tokenizer.ggml.tokens");
    CHECK(v && v->type == BRISK_GGUF_ARRAY && v->v.arr.elem_type == BRISK_GGUF_STRING && v->v.arr.n == N_TOKENS);
    for (uint64_t i = 0; v && i < N_TOKENS && i < v->v.arr.n; i++) {
        brisk_gguf_value e;
        CHECK_MSG(brisk_gguf_array_get(v, i, &e) && brisk_str_eq(e.v.str, TOKENS[i]), "token %d", (int)i);
    }
    v = brisk_gguf_find(g, "test.array.nested");
    CHECK(v && v->type == BRISK_GGUF_ARRAY && v->v.arr.elem_type == BRISK_GGUF_ARRAY && v->v.arr.n == 4);
    if (v && v->v.arr.elem_type == BRISK_GGUF_ARRAY && v->v.arr.n == 4) {
        brisk_gguf_value a, e, inner;
        int64_t x;
        CHECK(brisk_gguf_array_get(v, 0, &a) && a.v.arr.elem_type == BRISK_GGUF_INT32 && a.v.arr.n == 2);
        CHECK(brisk_gguf_array_get(&a, 1, &e) && brisk_gguf_value_int(&e, &x) && x == 2);
        CHECK(brisk_gguf_array_get(v, 1, &a) && a.v.arr.elem_type == BRISK_GGUF_STRING && a.v.arr.n == 1);
        CHECK(brisk_gguf_array_get(&a, 0, &e) && brisk_str_eq(e.v.str, "x"));
        CHECK(brisk_gguf_array_get(v, 2, &a) && a.v.arr.elem_type == BRISK_GGUF_ARRAY && a.v.arr.n == 1);
        CHECK(brisk_gguf_array_get(&a, 0, &inner) && inner.v.arr.elem_type == BRISK_GGUF_UINT8 &&
              inner.v.arr.n == 1);
        CHECK(brisk_gguf_array_get(&inner, 0, &e) && e.type == BRISK_GGUF_UINT8 && e.v.u64 == 9);
        CHECK(brisk_gguf_array_get(v, 3, &a) && a.v.arr.elem_type == BRISK_GGUF_FLOAT32 && a.v.arr.n == 0);
    }

    /* tensors: in order, each at the next aligned offset, data as given */
    CHECK_EQ_INT(brisk_gguf_n_tensors(g), N_WT);
    uint64_t data_offset = brisk_gguf_data_offset(g);
    CHECK_EQ_INT(data_offset % align, 0);
    uint64_t expect_off = data_offset;
    for (int t = 0; t < N_WT && (uint64_t)t < brisk_gguf_n_tensors(g); t++) {
        const brisk_gguf_tensor *ti = brisk_gguf_tensor_at(g, (uint64_t)t);
        CHECK_MSG(brisk_str_eq(ti->name, WT[t].name), "tensor %d name", t);
        CHECK_EQ_INT(ti->type, WT[t].type);
        CHECK_EQ_INT(ti->n_dims, WT[t].n_dims);
        for (int d = 0; d < BRISK_MAX_DIMS; d++)
            CHECK_EQ_INT(ti->ne[d], (uint32_t)d < WT[t].n_dims ? WT[t].ne[d] : 1);
        CHECK_EQ_INT(ti->n_bytes, WT[t].n_bytes);
        CHECK_EQ_INT(ti->offset, expect_off);
        uint8_t *want = malloc(WT[t].n_bytes + 1);
        fill_tensor(want, t, WT[t].n_bytes);
        CHECK_MSG(!memcmp(ti->data, want, (size_t)WT[t].n_bytes), "tensor %s data", WT[t].name);
        free(want);
        expect_off += align_up(WT[t].n_bytes, align);
    }
    /* the data section is padded to the alignment after every tensor */
    CHECK_EQ_INT(brisk_gguf_file_size(g), expect_off);
    brisk_gguf_close(g);
}

static void round_trip(uint32_t version, uint32_t alignment) {
    char dir[64], path[128], tmp[140];
    if (!make_tmpdir(dir)) return;
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    brisk_error err;
    brisk_gguf_writer *w = brisk_gguf_writer_create(version, &err);
    CHECK_MSG(w != NULL, "%s", err.msg);
    if (!w) { remove_tmpdir(dir); return; }
    uint8_t *data[N_WT];
    populate(w, data, alignment);
    CHECK_MSG(brisk_gguf_writer_write(w, path, &err) == BRISK_OK, "%s", err.msg);
    brisk_gguf_writer_free(w);
    for (int t = 0; t < N_WT; t++) free(data[t]);
    CHECK(exists(path));
    CHECK(!exists(tmp)); /* renamed into place */
    check_file(path, version, alignment);
    remove_tmpdir(dir);
}

TEST(gguf_write_round_trip_v3_alignment_64) { round_trip(3, 64); }
TEST(gguf_write_round_trip_v2_alignment_64) { round_trip(2, 64); }
TEST(gguf_write_round_trip_v3_default_alignment) { round_trip(3, 0); }
TEST(gguf_write_round_trip_v2_alignment_8) { round_trip(2, 8); }

/* A writer's bool array stores 0/1 whatever bytes it was given. */
TEST(gguf_write_bool_array_normalized) {
    char dir[64], path[128];
    if (!make_tmpdir(dir)) return;
    snprintf(path, sizeof path, "%s/b.gguf", dir);
    brisk_error err;
    brisk_gguf_writer *w = brisk_gguf_writer_create(3, &err);
    static const uint8_t flags[4] = {0, 1, 2, 0xFF};
    CHECK(brisk_gguf_writer_set_array(w, "flags", BRISK_GGUF_BOOL, flags, 4, &err) == BRISK_OK);
    brisk_gguf_value b = {.type = BRISK_GGUF_BOOL, .v.b = true};
    CHECK(brisk_gguf_writer_set(w, "flag", &b, &err) == BRISK_OK);
    CHECK_MSG(brisk_gguf_writer_write(w, path, &err) == BRISK_OK, "%s", err.msg);
    brisk_gguf_writer_free(w);
    brisk_gguf *g = brisk_gguf_open(path, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        const brisk_gguf_value *v = brisk_gguf_find(g, "flags");
        CHECK(v && v->v.arr.n == 4 && !memcmp(v->v.arr.raw, "\0\1\1\1", 4));
        v = brisk_gguf_find(g, "flag");
        CHECK(v && v->type == BRISK_GGUF_BOOL && v->v.b);
        brisk_gguf_close(g);
    }
    remove_tmpdir(dir);
}

/* Setting a key again keeps one entry, at its first position, with the new value. */
TEST(gguf_write_set_twice_replaces) {
    char dir[64], path[128];
    if (!make_tmpdir(dir)) return;
    snprintf(path, sizeof path, "%s/r.gguf", dir);
    brisk_error err;
    brisk_gguf_writer *w = brisk_gguf_writer_create(3, &err);
    CHECK(brisk_gguf_writer_set_u32(w, "a", 1, &err) == BRISK_OK);
    CHECK(brisk_gguf_writer_set_u32(w, "b", 2, &err) == BRISK_OK);
    CHECK(brisk_gguf_writer_set_u32(w, "a", 3, &err) == BRISK_OK);
    static const char *const strs[2] = {"p", "q"};
    CHECK(brisk_gguf_writer_set_str_array(w, "b", strs, 2, &err) == BRISK_OK);
    CHECK(brisk_gguf_writer_set_u32(w, "general.alignment", 128, &err) == BRISK_OK);
    CHECK(brisk_gguf_writer_set_u32(w, "general.alignment", 16, &err) == BRISK_OK);
    const int64_t ne[1] = {4};
    static const float four[4] = {1, 2, 3, 4};
    CHECK(brisk_gguf_writer_add_tensor(w, "t", BRISK_TYPE_F32, 1, ne, four, &err) == BRISK_OK);
    CHECK(brisk_gguf_writer_add_tensor(w, "u", BRISK_TYPE_F32, 1, ne, four, &err) == BRISK_OK);
    CHECK_MSG(brisk_gguf_writer_write(w, path, &err) == BRISK_OK, "%s", err.msg);
    brisk_gguf_writer_free(w);
    brisk_gguf *g = brisk_gguf_open(path, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        CHECK_EQ_INT(brisk_gguf_n_kv(g), 3);
        CHECK(brisk_str_eq(brisk_gguf_kv_at(g, 0)->key, "a"));
        CHECK(brisk_str_eq(brisk_gguf_kv_at(g, 1)->key, "b"));
        CHECK(brisk_str_eq(brisk_gguf_kv_at(g, 2)->key, "general.alignment"));
        const brisk_gguf_value *v = brisk_gguf_find(g, "a");
        CHECK(v && v->type == BRISK_GGUF_UINT32 && v->v.u64 == 3);
        v = brisk_gguf_find(g, "b");
        CHECK(v && v->type == BRISK_GGUF_ARRAY && v->v.arr.elem_type == BRISK_GGUF_STRING && v->v.arr.n == 2);
        /* the layout follows the last alignment set */
        CHECK_EQ_INT(brisk_gguf_alignment(g), 16);
        CHECK_EQ_INT(brisk_gguf_data_offset(g) % 16, 0);
        CHECK_EQ_INT(brisk_gguf_tensor_at(g, 1)->offset, brisk_gguf_data_offset(g) + 16);
        brisk_gguf_close(g);
    }
    /* writing again over an existing file replaces it */
    w = brisk_gguf_writer_create(2, &err);
    CHECK(brisk_gguf_writer_set_u32(w, "only", 9, &err) == BRISK_OK);
    CHECK_MSG(brisk_gguf_writer_write(w, path, &err) == BRISK_OK, "%s", err.msg);
    brisk_gguf_writer_free(w);
    g = brisk_gguf_open(path, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        CHECK_EQ_INT(brisk_gguf_version(g), 2);
        CHECK_EQ_INT(brisk_gguf_n_kv(g), 1);
        CHECK_EQ_INT(brisk_gguf_n_tensors(g), 0);
        brisk_gguf_close(g);
    }
    remove_tmpdir(dir);
}

/* ------------------------------------------------------------------------ */
/* Argument errors                                                           */
/* ------------------------------------------------------------------------ */

#define EXPECT_ARG(call, sub)                                                       \
    do {                                                                            \
        memset(&err, 0, sizeof err);                                                \
        brisk_status st_ = (call);                                                  \
        CHECK_MSG(st_ == BRISK_ERR_ARG && err.status == BRISK_ERR_ARG,              \
                  "%s: status %d (%s)", #call, (int)st_, err.msg);                  \
        CHECK_MSG(strstr(err.msg, (sub)) != NULL, "%s: message lacks \"%s\": %s", #call, (sub), err.msg); \
    } while (0)

TEST(gguf_write_argument_errors) {
    brisk_error err;
    CHECK(brisk_gguf_writer_create(1, &err) == NULL && err.status == BRISK_ERR_ARG && strstr(err.msg, "version 1"));
    CHECK(brisk_gguf_writer_create(4, &err) == NULL && err.status == BRISK_ERR_ARG);
    CHECK(brisk_gguf_writer_create(0, NULL) == NULL);
    brisk_gguf_writer_free(NULL);

    brisk_gguf_writer *w = brisk_gguf_writer_create(3, &err);
    if (!w) { CHECK(0); return; }
    /* keys */
    EXPECT_ARG(brisk_gguf_writer_set_u32(w, "", 1, &err), "key");
    EXPECT_ARG(brisk_gguf_writer_set_u32(w, NULL, 1, &err), "key");
    char *longkey = malloc(65537);
    memset(longkey, 'k', 65536);
    longkey[65536] = 0;
    EXPECT_ARG(brisk_gguf_writer_set_u32(w, longkey, 1, &err), "key");
    longkey[65535] = 0;
    CHECK(brisk_gguf_writer_set_u32(w, longkey, 1, &err) == BRISK_OK); /* the limit itself is fine */
    free(longkey);
    CHECK(brisk_gguf_writer_set_u32(w, "", 1, NULL) == BRISK_ERR_ARG); /* err may be NULL */

    /* alignment: a uint32 power of two */
    CHECK(brisk_gguf_writer_set_u32(w, "general.alignment", 64, &err) == BRISK_OK);
    EXPECT_ARG(brisk_gguf_writer_set_u32(w, "general.alignment", 0, &err), "general.alignment");
    EXPECT_ARG(brisk_gguf_writer_set_u32(w, "general.alignment", 48, &err), "general.alignment");
    EXPECT_ARG(brisk_gguf_writer_set_u32(w, "general.alignment", 0x80000001u, &err), "general.alignment");
    brisk_gguf_value a64 = u_val(BRISK_GGUF_UINT64, 64);
    EXPECT_ARG(brisk_gguf_writer_set(w, "general.alignment", &a64, &err), "general.alignment");
    brisk_gguf_value as = s_val("64", 2);
    EXPECT_ARG(brisk_gguf_writer_set(w, "general.alignment", &as, &err), "general.alignment");
    /* a uint32 must fit in 32 bits; 2^32 is a power of two that does not */
    brisk_gguf_value a_big = u_val(BRISK_GGUF_UINT32, 1ull << 32);
    CHECK(brisk_gguf_writer_set(w, "general.alignment", &a_big, &err) == BRISK_ERR_ARG);

    /* values */
    brisk_gguf_value bad = {.type = (brisk_gguf_type)13};
    EXPECT_ARG(brisk_gguf_writer_set(w, "x", &bad, &err), "type");
    brisk_gguf_value arr = {.type = BRISK_GGUF_ARRAY};
    arr.v.arr.elem_type = (brisk_gguf_type)99;
    EXPECT_ARG(brisk_gguf_writer_set(w, "x", &arr, &err), "element type");
    arr.v.arr.elem_type = BRISK_GGUF_UINT32;
    arr.v.arr.n = 2;
    EXPECT_ARG(brisk_gguf_writer_set(w, "x", &arr, &err), "without data");
    brisk_gguf_value not_array = u_val(BRISK_GGUF_UINT8, 1);
    arr.v.arr.elem_type = BRISK_GGUF_ARRAY;
    arr.v.arr.n = 1;
    arr.v.arr.items = &not_array;
    EXPECT_ARG(brisk_gguf_writer_set(w, "x", &arr, &err), "array of arrays");
    EXPECT_ARG(brisk_gguf_writer_set_array(w, "x", BRISK_GGUF_STRING, NULL, 0, &err), "scalar");
    /* integers that do not fit their type are refused, not truncated */
    brisk_gguf_value r = u_val(BRISK_GGUF_UINT8, 256);
    EXPECT_ARG(brisk_gguf_writer_set(w, "x", &r, &err), "256 does not fit in a uint8");
    r = u_val(BRISK_GGUF_UINT16, 70000);
    CHECK(brisk_gguf_writer_set(w, "x", &r, &err) == BRISK_ERR_ARG);
    r = u_val(BRISK_GGUF_UINT32, 1ull << 32);
    CHECK(brisk_gguf_writer_set(w, "x", &r, &err) == BRISK_ERR_ARG);
    r = i_val(BRISK_GGUF_INT8, -129);
    EXPECT_ARG(brisk_gguf_writer_set(w, "x", &r, &err), "-129 does not fit in an int8");
    r = i_val(BRISK_GGUF_INT16, 40000);
    CHECK(brisk_gguf_writer_set(w, "x", &r, &err) == BRISK_ERR_ARG);
    r = i_val(BRISK_GGUF_INT32, (int64_t)INT32_MAX + 1);
    CHECK(brisk_gguf_writer_set(w, "x", &r, &err) == BRISK_ERR_ARG);
    r = i_val(BRISK_GGUF_INT8, -128); /* the extremes themselves fit */
    CHECK(brisk_gguf_writer_set(w, "i8", &r, &err) == BRISK_OK);

    /* tensors */
    static const uint8_t buf[1024];
    const int64_t ne4[1] = {4}, ne33[1] = {33}, ne_neg[2] = {4, -1}, ne_q[1] = {64};
    const int64_t ne_huge[2] = {INT64_MAX, 2}, ne_big_bytes[2] = {1ll << 62, 1};
    CHECK(brisk_gguf_writer_add_tensor(w, "t", BRISK_TYPE_F32, 1, ne4, buf, &err) == BRISK_OK);
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, "t", BRISK_TYPE_F16, 1, ne4, buf, &err), "'t' added twice");
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, "q", BRISK_TYPE_Q8_0, 1, ne33, buf, &err), "not a multiple");
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, "q", BRISK_TYPE_Q4_K, 1, ne_q, buf, &err), "'q'");
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, "z", BRISK_TYPE_F32, 0, ne4, buf, &err), "dims");
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, "z", BRISK_TYPE_F32, 5, ne4, buf, &err), "dims");
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, "z", (brisk_type)4, 1, ne4, buf, &err), "unknown type");
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, "z", BRISK_TYPE_COUNT, 1, ne4, buf, &err), "unknown type");
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, "", BRISK_TYPE_F32, 1, ne4, buf, &err), "name");
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, NULL, BRISK_TYPE_F32, 1, ne4, buf, &err), "name");
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, "z", BRISK_TYPE_F32, 2, ne_neg, buf, &err), "shape");
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, "z", BRISK_TYPE_F32, 1, ne4, NULL, &err), "no data");
    EXPECT_ARG(brisk_gguf_writer_add_tensor(w, "z", BRISK_TYPE_I8, 2, ne_huge, buf, &err), "'z'");
    /* the element count fits, the byte count (2^64) does not */
    CHECK(brisk_gguf_writer_add_tensor(w, "z", BRISK_TYPE_F32, 2, ne_big_bytes, buf, &err) == BRISK_ERR_ARG);

    /* nothing refused above reached the file */
    char dir[64], path[128];
    if (make_tmpdir(dir)) {
        snprintf(path, sizeof path, "%s/a.gguf", dir);
        CHECK_MSG(brisk_gguf_writer_write(w, path, &err) == BRISK_OK, "%s", err.msg);
        brisk_gguf *g = brisk_gguf_open(path, &err);
        CHECK_MSG(g != NULL, "%s", err.msg);
        if (g) {
            CHECK_EQ_INT(brisk_gguf_n_kv(g), 3); /* the long key, general.alignment, i8 */
            CHECK(brisk_gguf_find(g, "x") == NULL);
            CHECK_EQ_INT(brisk_gguf_alignment(g), 64);
            const brisk_gguf_value *v = brisk_gguf_find(g, "i8");
            CHECK(v && v->type == BRISK_GGUF_INT8 && v->v.i64 == -128);
            CHECK_EQ_INT(brisk_gguf_n_tensors(g), 1);
            const brisk_gguf_tensor *t = brisk_gguf_tensor_at(g, 0);
            CHECK(t && t->type == BRISK_TYPE_F32 && brisk_str_eq(t->name, "t"));
            brisk_gguf_close(g);
        }
        remove_tmpdir(dir);
    }
    brisk_gguf_writer_free(w);
}

/* ------------------------------------------------------------------------ */
/* Failed writes                                                             */
/* ------------------------------------------------------------------------ */

TEST(gguf_write_unwritable_path) {
    char dir[64], path[256], tmp[270];
    if (!make_tmpdir(dir)) return;
    brisk_error err;
    brisk_gguf_writer *w = brisk_gguf_writer_create(3, &err);
    CHECK(brisk_gguf_writer_set_str(w, "general.name", "x", &err) == BRISK_OK);
    const int64_t ne[1] = {256};
    static const uint8_t data[1024];
    CHECK(brisk_gguf_writer_add_tensor(w, "t", BRISK_TYPE_F32, 1, ne, data, &err) == BRISK_OK);

    /* a directory that does not exist */
    snprintf(path, sizeof path, "%s/no/such/dir/x.gguf", dir);
    memset(&err, 0, sizeof err);
    CHECK_EQ_INT(brisk_gguf_writer_write(w, path, &err), BRISK_ERR_IO);
    CHECK_EQ_INT(err.status, BRISK_ERR_IO);
    CHECK_MSG(strstr(err.msg, path) != NULL, "%s", err.msg);
    CHECK(!exists(path));

    /* a path that is a directory: the temporary file is written, the rename fails */
    snprintf(path, sizeof path, "%s/sub", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    mkdir(path, 0700);
    memset(&err, 0, sizeof err);
    CHECK_EQ_INT(brisk_gguf_writer_write(w, path, &err), BRISK_ERR_IO);
    CHECK_EQ_INT(err.status, BRISK_ERR_IO);
    CHECK_MSG(strstr(err.msg, path) != NULL, "%s", err.msg);
    CHECK_MSG(!exists(tmp), "%s left behind", tmp);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));

    /* a parent that is a file */
    snprintf(path, sizeof path, "%s/file", dir);
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/file/x.gguf", dir);
    CHECK_EQ_INT(brisk_gguf_writer_write(w, path, &err), BRISK_ERR_IO);

    /* the directory holds exactly the two entries made above */
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (d) closedir(d);
    CHECK_EQ_INT(n, 2);

    /* and the same writer still writes a good file */
    snprintf(path, sizeof path, "%s/ok.gguf", dir);
    CHECK_MSG(brisk_gguf_writer_write(w, path, &err) == BRISK_OK, "%s", err.msg);
    brisk_gguf *g = brisk_gguf_open(path, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    brisk_gguf_close(g);
    brisk_gguf_writer_free(w);
    remove_tmpdir(dir);
}

/* The writer refuses arrays nested deeper than the reader accepts, and what it
 * does accept reads back. levels = number of array levels around one u32. */
static brisk_status write_nested(const char *path, int levels, brisk_gguf_value *chain) {
    static const uint32_t leaf[1] = {42};
    for (int i = levels - 1; i >= 0; i--) {
        chain[i] = (brisk_gguf_value){.type = BRISK_GGUF_ARRAY};
        chain[i].v.arr.n = 1;
        if (i == levels - 1) {
            chain[i].v.arr.elem_type = BRISK_GGUF_UINT32;
            chain[i].v.arr.raw = leaf;
        } else {
            chain[i].v.arr.elem_type = BRISK_GGUF_ARRAY;
            chain[i].v.arr.items = &chain[i + 1];
        }
    }
    brisk_error err;
    brisk_gguf_writer *w = brisk_gguf_writer_create(3, &err);
    brisk_status s = brisk_gguf_writer_set(w, "deep", &chain[0], &err);
    if (s == BRISK_OK) s = brisk_gguf_writer_write(w, path, &err);
    brisk_gguf_writer_free(w);
    return s;
}

TEST(gguf_write_nesting_depth_matches_reader) {
    char dir[64], path[128];
    CHECK(make_tmpdir(dir));
    snprintf(path, sizeof path, "%s/deep.gguf", dir);
    brisk_gguf_value chain[16];
    CHECK_EQ_INT(write_nested(path, 9 /* GGUF_MAX_ARRAY_DEPTH + 1 */, chain), BRISK_OK);
    brisk_error err;
    brisk_gguf *g = brisk_gguf_open(path, &err);
    CHECK_MSG(g != NULL, "reader refused what the writer accepted: %s", err.msg);
    brisk_gguf_close(g);
    CHECK_EQ_INT(write_nested(path, 10, chain), BRISK_ERR_ARG);
    remove_tmpdir(dir);
}
