/* GGUF reader tests: valid images built byte by byte in memory (v2 and v3,
 * every metadata type, nested arrays, non-default alignments, several tensor
 * types) must parse into exactly what was written, with every pointer into the
 * caller's buffer; malformed images must fail with a status and a message that
 * names the problem and where it is.
 *
 * Every image is parsed from a heap copy of exactly its size, so a read past
 * its end is an overread that the sanitizer build reports. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brisk.h"
#include "test.h"

/* ------------------------------------------------------------------------ */
/* Building GGUF images                                                      */
/* ------------------------------------------------------------------------ */

typedef struct gbuf {
    uint8_t *p;
    size_t len, cap;
} gbuf;

static void gb_put(gbuf *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void gb_u8(gbuf *b, uint8_t v) { gb_put(b, &v, 1); }
static void gb_u32(gbuf *b, uint32_t v) { gb_put(b, &v, 4); }
static void gb_u64(gbuf *b, uint64_t v) { gb_put(b, &v, 8); }
static void gb_strn(gbuf *b, const char *s, uint64_t n) { gb_u64(b, n); gb_put(b, s, (size_t)n); }
static void gb_str(gbuf *b, const char *s) { gb_strn(b, s, strlen(s)); }
static void gb_free(gbuf *b) { free(b->p); memset(b, 0, sizeof *b); }
static void gb_zeros(gbuf *b, size_t n) { while (n--) gb_u8(b, 0); }
static void gb_pad(gbuf *b, uint64_t align) { gb_zeros(b, (size_t)((align - b->len % align) % align)); }
static void gb_patch_u32(gbuf *b, size_t at, uint32_t v) { memcpy(b->p + at, &v, 4); }

static void gb_header(gbuf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    gb_put(b, "GGUF", 4);
    gb_u32(b, version);
    gb_u64(b, n_tensors);
    gb_u64(b, n_kv);
}
/* A key and its value type; the value follows. */
static void gb_key(gbuf *b, const char *key, uint32_t type) { gb_str(b, key); gb_u32(b, type); }
static void gb_tinfo(gbuf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                     uint64_t offset) {
    gb_str(b, name);
    gb_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) gb_u64(b, ne[d]);
    gb_u32(b, type);
    gb_u64(b, offset);
}

/* One scalar of metadata type t: unsigned types take u, signed i, floats f. */
typedef struct sval {
    uint64_t u;
    int64_t i;
    double f;
} sval;

static void gb_scalar(gbuf *b, brisk_gguf_type t, sval v) {
    switch (t) {
    case BRISK_GGUF_UINT8: case BRISK_GGUF_BOOL: gb_u8(b, (uint8_t)v.u); break;
    case BRISK_GGUF_INT8: { int8_t x = (int8_t)v.i; gb_put(b, &x, 1); break; }
    case BRISK_GGUF_UINT16: { uint16_t x = (uint16_t)v.u; gb_put(b, &x, 2); break; }
    case BRISK_GGUF_INT16: { int16_t x = (int16_t)v.i; gb_put(b, &x, 2); break; }
    case BRISK_GGUF_UINT32: gb_u32(b, (uint32_t)v.u); break;
    case BRISK_GGUF_INT32: { int32_t x = (int32_t)v.i; gb_put(b, &x, 4); break; }
    case BRISK_GGUF_UINT64: gb_u64(b, v.u); break;
    case BRISK_GGUF_INT64: gb_put(b, &v.i, 8); break;
    case BRISK_GGUF_FLOAT32: { float x = (float)v.f; gb_put(b, &x, 4); break; }
    case BRISK_GGUF_FLOAT64: gb_put(b, &v.f, 8); break;
    default: abort();
    }
}

static bool is_unsigned_t(brisk_gguf_type t) {
    return t == BRISK_GGUF_UINT8 || t == BRISK_GGUF_UINT16 || t == BRISK_GGUF_UINT32 ||
           t == BRISK_GGUF_UINT64;
}

/* Does v hold exactly the scalar (t, want)? Float32 compares after rounding to float. */
static bool scalar_matches(const brisk_gguf_value *v, brisk_gguf_type t, sval want) {
    if (v->type != t) return false;
    if (t == BRISK_GGUF_BOOL) return v->v.b == (want.u != 0);
    if (is_unsigned_t(t)) return v->v.u64 == want.u;
    if (t == BRISK_GGUF_FLOAT32) {
        float w = (float)want.f;
        return memcmp(&(double){(double)w}, &v->v.f64, 8) == 0;
    }
    if (t == BRISK_GGUF_FLOAT64) return memcmp(&want.f, &v->v.f64, 8) == 0;
    return v->v.i64 == want.i;
}

/* Parse a heap copy of exactly b->len bytes. On success *copy must outlive the file. */
static brisk_gguf *open_copy(const gbuf *b, uint8_t **copy, brisk_error *err) {
    *copy = malloc(b->len ? b->len : 1);
    if (!*copy) abort();
    if (b->len) memcpy(*copy, b->p, b->len);
    return brisk_gguf_open_memory(*copy, b->len, err);
}

static void expect_fail_at(const char *file, int line, const gbuf *b, brisk_status st,
                           const char *const *subs) {
    uint8_t *copy;
    brisk_error err;
    memset(&err, 0, sizeof err);
    brisk_gguf *g = open_copy(b, &copy, &err);
    if (g) {
        test_fail_at(file, line, "a malformed image was accepted");
        brisk_gguf_close(g);
    } else {
        if (err.status != st)
            test_fail_at(file, line, "status '%s', expected '%s' (%s)", brisk_status_name(err.status),
                         brisk_status_name(st), err.msg);
        for (; *subs; subs++)
            if (!strstr(err.msg, *subs))
                test_fail_at(file, line, "message lacks \"%s\": %s", *subs, err.msg);
    }
    free(copy);
}
/* EXPECT_FAIL(&buf, status, "substring", ...): parsing must fail like that. */
#define EXPECT_FAIL(b, st, ...) \
    expect_fail_at(__FILE__, __LINE__, (b), (st), (const char *const[]){__VA_ARGS__, NULL})

static char *fmt_u64(char *buf, const char *fmt, uint64_t v) {
    snprintf(buf, 64, fmt, (unsigned long long)v);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* A rich valid image                                                        */
/* ------------------------------------------------------------------------ */

#define N_SCALAR_TYPES 11
static const brisk_gguf_type SCALAR_TYPES[N_SCALAR_TYPES] = {
    BRISK_GGUF_UINT8, BRISK_GGUF_INT8, BRISK_GGUF_UINT16, BRISK_GGUF_INT16,
    BRISK_GGUF_UINT32, BRISK_GGUF_INT32, BRISK_GGUF_FLOAT32, BRISK_GGUF_BOOL,
    BRISK_GGUF_UINT64, BRISK_GGUF_INT64, BRISK_GGUF_FLOAT64,
};
/* One scalar value and three array elements per type, at the extremes of each. */
static sval scalar_value(brisk_gguf_type t) {
    switch (t) {
    case BRISK_GGUF_UINT8: return (sval){.u = 200};
    case BRISK_GGUF_INT8: return (sval){.i = -100};
    case BRISK_GGUF_UINT16: return (sval){.u = 60000};
    case BRISK_GGUF_INT16: return (sval){.i = -30000};
    case BRISK_GGUF_UINT32: return (sval){.u = 4000000000u};
    case BRISK_GGUF_INT32: return (sval){.i = -2000000000};
    case BRISK_GGUF_FLOAT32: return (sval){.f = 0.1};
    case BRISK_GGUF_BOOL: return (sval){.u = 1};
    case BRISK_GGUF_UINT64: return (sval){.u = 0xFEDCBA9876543210ull};
    case BRISK_GGUF_INT64: return (sval){.i = INT64_MIN};
    case BRISK_GGUF_FLOAT64: return (sval){.f = -2.5e300};
    default: abort();
    }
}
static sval array_value(brisk_gguf_type t, int k) {
    switch (t) {
    case BRISK_GGUF_UINT8: return (sval){.u = (uint64_t[]){0, 1, 255}[k]};
    case BRISK_GGUF_INT8: return (sval){.i = (int64_t[]){-128, 0, 127}[k]};
    case BRISK_GGUF_UINT16: return (sval){.u = (uint64_t[]){0, 1234, 65535}[k]};
    case BRISK_GGUF_INT16: return (sval){.i = (int64_t[]){-32768, -1, 32767}[k]};
    case BRISK_GGUF_UINT32: return (sval){.u = (uint64_t[]){0, 0xDEADBEEF, 0xFFFFFFFF}[k]};
    case BRISK_GGUF_INT32: return (sval){.i = (int64_t[]){INT32_MIN, -7, INT32_MAX}[k]};
    case BRISK_GGUF_FLOAT32: return (sval){.f = (double[]){0.1, -0.0, INFINITY}[k]};
    case BRISK_GGUF_BOOL: return (sval){.u = (uint64_t[]){1, 0, 1}[k]};
    case BRISK_GGUF_UINT64: return (sval){.u = (uint64_t[]){0, 1ull << 40, UINT64_MAX}[k]};
    case BRISK_GGUF_INT64: return (sval){.i = (int64_t[]){INT64_MIN, -1, INT64_MAX}[k]};
    case BRISK_GGUF_FLOAT64: return (sval){.f = (double[]){0.1, -1e-300, 3.5}[k]};
    default: abort();
    }
}

#define N_TENSORS 6
static const struct {
    const char *name;
    brisk_type type;
    uint32_t n_dims;
    uint64_t ne[4];
    uint64_t n_bytes;
} TENSORS[N_TENSORS] = {
    {"token_embd.weight", BRISK_TYPE_F32, 2, {4, 3}, 48},
    {"output_norm.weight", BRISK_TYPE_F16, 1, {8}, 16},
    {"empty", BRISK_TYPE_F32, 2, {4, 0}, 0},
    {"blk.0.attn_q.weight", BRISK_TYPE_Q8_0, 2, {64, 2}, 4 * 34},
    {"blk.0.ffn_up.weight", BRISK_TYPE_Q4_K, 3, {256, 1, 2}, 2 * 144},
    {"positions", BRISK_TYPE_I32, 4, {5, 1, 1, 1}, 20},
};

static uint8_t tensor_byte(int t, uint64_t k) { return (uint8_t)(k * 37 + (uint64_t)t * 11 + 1); }

typedef struct valid_image {
    gbuf b;
    uint32_t version;
    bool has_alignment_key;
    uint64_t alignment;       /* effective */
    uint64_t n_kv;
    uint64_t kv_offset[64];   /* where each key starts */
    uint64_t data_offset;
    uint64_t tensor_offset[N_TENSORS]; /* absolute */
    uint64_t data_end;        /* end of the last tensor data in the file */
} valid_image;

/* The metadata of the rich image: key i's value is described by the code in
 * build_valid and checked by check_valid. alignment 0: no general.alignment. */
static void build_valid(valid_image *im, uint32_t version, uint32_t alignment) {
    memset(im, 0, sizeof *im);
    gbuf *b = &im->b;
    im->version = version;
    im->alignment = alignment ? alignment : 32;
    im->has_alignment_key = alignment != 0;
    uint64_t n_kv = 1 + N_SCALAR_TYPES + 1 + N_SCALAR_TYPES + 4 + (alignment ? 1 : 0);
    gb_header(b, version, N_TENSORS, n_kv);
    uint64_t k = 0;
#define KEY(name, type) (im->kv_offset[k++] = b->len, gb_key(b, (name), (type)))
    KEY("general.architecture", BRISK_GGUF_STRING);
    gb_str(b, "llama");
    for (int i = 0; i < N_SCALAR_TYPES; i++) {
        char key[32];
        snprintf(key, sizeof key, "test.scalar.%s", brisk_gguf_type_name(SCALAR_TYPES[i]));
        KEY(key, SCALAR_TYPES[i]);
        gb_scalar(b, SCALAR_TYPES[i], scalar_value(SCALAR_TYPES[i]));
    }
    if (alignment) { /* in the middle: the reader must find it before the tensors */
        KEY("general.alignment", BRISK_GGUF_UINT32);
        gb_u32(b, alignment);
    }
    KEY("test.string", BRISK_GGUF_STRING);
    gb_strn(b, "h\xc3\xa9llo\0world", 12); /* UTF-8 and an embedded NUL */
    for (int i = 0; i < N_SCALAR_TYPES; i++) {
        char key[32];
        snprintf(key, sizeof key, "test.array.%s", brisk_gguf_type_name(SCALAR_TYPES[i]));
        KEY(key, BRISK_GGUF_ARRAY);
        gb_u32(b, SCALAR_TYPES[i]);
        gb_u64(b, 3);
        for (int j = 0; j < 3; j++) gb_scalar(b, SCALAR_TYPES[i], array_value(SCALAR_TYPES[i], j));
    }
    KEY("test.array.string", BRISK_GGUF_ARRAY);
    gb_u32(b, BRISK_GGUF_STRING);
    gb_u64(b, 3);
    gb_str(b, "alpha");
    gb_str(b, "");
    gb_str(b, "\xce\xb3");
    KEY("test.array.empty", BRISK_GGUF_ARRAY);
    gb_u32(b, BRISK_GGUF_UINT32);
    gb_u64(b, 0);
    KEY("test.string.empty", BRISK_GGUF_STRING);
    gb_str(b, "");
    /* [[1, 2, 3] (int32), ["x", "yz"], [[9] (uint8)], [] (float32)] */
    KEY("test.array.nested", BRISK_GGUF_ARRAY);
    gb_u32(b, BRISK_GGUF_ARRAY);
    gb_u64(b, 4);
    gb_u32(b, BRISK_GGUF_INT32);
    gb_u64(b, 3);
    gb_u32(b, 1); gb_u32(b, 2); gb_u32(b, 3);
    gb_u32(b, BRISK_GGUF_STRING);
    gb_u64(b, 2);
    gb_str(b, "x");
    gb_str(b, "yz");
    gb_u32(b, BRISK_GGUF_ARRAY);
    gb_u64(b, 1);
    gb_u32(b, BRISK_GGUF_UINT8);
    gb_u64(b, 1);
    gb_u8(b, 9);
    gb_u32(b, BRISK_GGUF_FLOAT32);
    gb_u64(b, 0);
#undef KEY
    if (k != n_kv) abort();
    im->n_kv = n_kv;

    /* Tensor data in reverse order of the infos, with a gap of one alignment
     * unit between tensors: offsets must be honoured, not recomputed. */
    uint64_t rel[N_TENSORS], off = 0;
    for (int t = N_TENSORS - 1; t >= 0; t--) {
        rel[t] = off;
        off += (TENSORS[t].n_bytes + im->alignment - 1) / im->alignment * im->alignment + im->alignment;
    }
    for (int t = 0; t < N_TENSORS; t++)
        gb_tinfo(b, TENSORS[t].name, TENSORS[t].n_dims, TENSORS[t].ne, TENSORS[t].type, rel[t]);
    gb_pad(b, im->alignment);
    im->data_offset = b->len;
    for (int t = 0; t < N_TENSORS; t++) im->tensor_offset[t] = im->data_offset + rel[t];
    /* the file ends right after the data of the first tensor (placed last) */
    im->data_end = im->tensor_offset[0] + TENSORS[0].n_bytes;
    gb_zeros(b, (size_t)(im->data_end - b->len));
    for (int t = 0; t < N_TENSORS; t++)
        for (uint64_t j = 0; j < TENSORS[t].n_bytes; j++)
            b->p[im->tensor_offset[t] + j] = tensor_byte(t, j);
}

static bool str_in(brisk_str s, const uint8_t *base, size_t size) {
    return (const uint8_t *)s.ptr >= base && (const uint8_t *)s.ptr + s.len <= base + size;
}

static void check_valid(const valid_image *im) {
    uint8_t *copy;
    brisk_error err;
    brisk_gguf *g = open_copy(&im->b, &copy, &err);
    CHECK_MSG(g != NULL, "valid image rejected: %s", err.msg);
    if (!g) { free(copy); return; }
    const size_t size = im->b.len;
    CHECK_EQ_INT(err.status, BRISK_OK);
    CHECK_EQ_INT(brisk_gguf_version(g), im->version);
    CHECK_EQ_INT(brisk_gguf_alignment(g), im->alignment);
    CHECK_EQ_INT(brisk_gguf_file_size(g), size);
    CHECK_EQ_INT(brisk_gguf_data_offset(g), im->data_offset);
    CHECK_EQ_INT(brisk_gguf_n_kv(g), im->n_kv);
    CHECK_EQ_INT(brisk_gguf_n_tensors(g), N_TENSORS);
    CHECK(brisk_gguf_kv_at(g, im->n_kv) == NULL);
    CHECK(brisk_gguf_tensor_at(g, N_TENSORS) == NULL);
    for (uint64_t i = 0; i < im->n_kv; i++) {
        const brisk_gguf_kv *kv = brisk_gguf_kv_at(g, i);
        CHECK_EQ_INT(kv->offset, im->kv_offset[i]);
        /* the key is a view of the bytes right after its u64 length */
        CHECK((const uint8_t *)kv->key.ptr == copy + im->kv_offset[i] + 8);
    }
    CHECK(brisk_gguf_find(g, "no.such.key") == NULL);
    CHECK(brisk_gguf_find(g, "test.scalar") == NULL); /* a prefix is not a match */

    const brisk_gguf_value *v = brisk_gguf_find(g, "general.architecture");
    CHECK(v && v->type == BRISK_GGUF_STRING && brisk_str_eq(v->v.str, "llama"));
    CHECK(v && str_in(v->v.str, copy, size));
    CHECK(brisk_str_eq(brisk_gguf_kv_at(g, 0)->key, "general.architecture"));

    for (int i = 0; i < N_SCALAR_TYPES; i++) {
        char key[32];
        brisk_gguf_type t = SCALAR_TYPES[i];
        snprintf(key, sizeof key, "test.scalar.%s", brisk_gguf_type_name(t));
        v = brisk_gguf_find(g, key);
        CHECK_MSG(v && scalar_matches(v, t, scalar_value(t)), "%s", key);
    }
    v = brisk_gguf_find(g, "general.alignment");
    if (im->has_alignment_key)
        CHECK(v && v->type == BRISK_GGUF_UINT32 && v->v.u64 == im->alignment);
    else
        CHECK(v == NULL);
    v = brisk_gguf_find(g, "test.string");
    CHECK(v && v->type == BRISK_GGUF_STRING && v->v.str.len == 12 &&
          memcmp(v->v.str.ptr, "h\xc3\xa9llo\0world", 12) == 0);
    CHECK(v && str_in(v->v.str, copy, size));
    CHECK(v && !brisk_str_eq(v->v.str, "h\xc3\xa9llo")); /* the NUL does not end it */

    for (int i = 0; i < N_SCALAR_TYPES; i++) {
        char key[32];
        brisk_gguf_type t = SCALAR_TYPES[i];
        snprintf(key, sizeof key, "test.array.%s", brisk_gguf_type_name(t));
        v = brisk_gguf_find(g, key);
        CHECK_MSG(v && v->type == BRISK_GGUF_ARRAY && v->v.arr.elem_type == t && v->v.arr.n == 3,
                  "%s", key);
        if (!v || v->type != BRISK_GGUF_ARRAY) continue;
        /* scalar elements stay in the file */
        CHECK((const uint8_t *)v->v.arr.raw > copy && (const uint8_t *)v->v.arr.raw < copy + size);
        for (int j = 0; j < 3; j++) {
            brisk_gguf_value e;
            CHECK_MSG(brisk_gguf_array_get(v, (uint64_t)j, &e) && scalar_matches(&e, t, array_value(t, j)),
                      "%s[%d]", key, j);
        }
        brisk_gguf_value e;
        CHECK(!brisk_gguf_array_get(v, 3, &e));
    }
    v = brisk_gguf_find(g, "test.array.string");
    CHECK(v && v->type == BRISK_GGUF_ARRAY && v->v.arr.elem_type == BRISK_GGUF_STRING &&
          v->v.arr.n == 3);
    if (v && v->type == BRISK_GGUF_ARRAY && v->v.arr.n == 3) {
        static const char *const want[3] = {"alpha", "", "\xce\xb3"};
        for (int j = 0; j < 3; j++) {
            brisk_gguf_value e;
            CHECK(brisk_gguf_array_get(v, (uint64_t)j, &e) && e.type == BRISK_GGUF_STRING &&
                  brisk_str_eq(e.v.str, want[j]));
            CHECK(brisk_str_eq(v->v.arr.strs[j], want[j]) && str_in(v->v.arr.strs[j], copy, size));
        }
    }
    v = brisk_gguf_find(g, "test.array.empty");
    CHECK(v && v->type == BRISK_GGUF_ARRAY && v->v.arr.elem_type == BRISK_GGUF_UINT32 && v->v.arr.n == 0);
    if (v) {
        brisk_gguf_value e;
        CHECK(!brisk_gguf_array_get(v, 0, &e));
    }
    v = brisk_gguf_find(g, "test.string.empty");
    CHECK(v && v->type == BRISK_GGUF_STRING && v->v.str.len == 0);

    v = brisk_gguf_find(g, "test.array.nested");
    CHECK(v && v->type == BRISK_GGUF_ARRAY && v->v.arr.elem_type == BRISK_GGUF_ARRAY && v->v.arr.n == 4);
    if (v && v->type == BRISK_GGUF_ARRAY && v->v.arr.elem_type == BRISK_GGUF_ARRAY && v->v.arr.n == 4) {
        brisk_gguf_value a, e;
        CHECK(brisk_gguf_array_get(v, 0, &a) && a.type == BRISK_GGUF_ARRAY &&
              a.v.arr.elem_type == BRISK_GGUF_INT32 && a.v.arr.n == 3);
        for (int j = 0; j < 3; j++) {
            int64_t x = 0;
            CHECK(brisk_gguf_array_get(&a, (uint64_t)j, &e) && e.type == BRISK_GGUF_INT32 &&
                  brisk_gguf_value_int(&e, &x) && x == j + 1);
        }
        CHECK(brisk_gguf_array_get(v, 1, &a) && a.v.arr.elem_type == BRISK_GGUF_STRING && a.v.arr.n == 2);
        CHECK(brisk_gguf_array_get(&a, 0, &e) && brisk_str_eq(e.v.str, "x"));
        CHECK(brisk_gguf_array_get(&a, 1, &e) && brisk_str_eq(e.v.str, "yz"));
        CHECK(brisk_gguf_array_get(v, 2, &a) && a.v.arr.elem_type == BRISK_GGUF_ARRAY && a.v.arr.n == 1);
        brisk_gguf_value inner;
        CHECK(brisk_gguf_array_get(&a, 0, &inner) && inner.type == BRISK_GGUF_ARRAY &&
              inner.v.arr.elem_type == BRISK_GGUF_UINT8 && inner.v.arr.n == 1);
        CHECK(brisk_gguf_array_get(&inner, 0, &e) && e.type == BRISK_GGUF_UINT8 && e.v.u64 == 9);
        CHECK(brisk_gguf_array_get(v, 3, &a) && a.v.arr.elem_type == BRISK_GGUF_FLOAT32 && a.v.arr.n == 0);
        CHECK(!brisk_gguf_array_get(v, 4, &a));
    }

    for (int t = 0; t < N_TENSORS; t++) {
        const brisk_gguf_tensor *ti = brisk_gguf_tensor_at(g, (uint64_t)t);
        CHECK(ti == brisk_gguf_find_tensor(g, TENSORS[t].name));
        CHECK_MSG(brisk_str_eq(ti->name, TENSORS[t].name), "tensor %d name", t);
        CHECK(str_in(ti->name, copy, size));
        CHECK_EQ_INT(ti->type, TENSORS[t].type);
        CHECK_EQ_INT(ti->n_dims, TENSORS[t].n_dims);
        uint64_t n_el = 1;
        for (int d = 0; d < BRISK_MAX_DIMS; d++) {
            int64_t want = (uint32_t)d < TENSORS[t].n_dims ? (int64_t)TENSORS[t].ne[d] : 1;
            CHECK_MSG(ti->ne[d] == want, "tensor %s ne[%d] = %lld, want %lld", TENSORS[t].name, d,
                      (long long)ti->ne[d], (long long)want);
            n_el *= (uint64_t)want;
        }
        CHECK_EQ_INT(ti->n_elements, n_el);
        CHECK_EQ_INT(ti->n_bytes, TENSORS[t].n_bytes);
        CHECK_EQ_INT(ti->n_bytes, brisk_type_row_bytes(ti->type, (int64_t)n_el));
        CHECK_EQ_INT(ti->offset, im->tensor_offset[t]);
        CHECK_EQ_INT(ti->offset % im->alignment, 0);
        CHECK_MSG((const uint8_t *)ti->data == copy + im->tensor_offset[t], "tensor %s data is not a view",
                  TENSORS[t].name);
        bool same = true;
        for (uint64_t j = 0; j < ti->n_bytes; j++)
            same = same && ((const uint8_t *)ti->data)[j] == tensor_byte(t, j);
        CHECK_MSG(same, "tensor %s data", TENSORS[t].name);
    }
    CHECK(brisk_gguf_find_tensor(g, "token_embd") == NULL);
    brisk_gguf_close(g);
    free(copy);
}

TEST(gguf_read_valid_v3_alignment_64) {
    valid_image im;
    build_valid(&im, 3, 64);
    check_valid(&im);
    gb_free(&im.b);
}

TEST(gguf_read_valid_v2_alignment_16) {
    valid_image im;
    build_valid(&im, 2, 16);
    check_valid(&im);
    gb_free(&im.b);
}

TEST(gguf_read_valid_v3_default_alignment) {
    valid_image im;
    build_valid(&im, 3, 0);
    check_valid(&im);
    gb_free(&im.b);
}

TEST(gguf_read_valid_v2_large_alignment) {
    valid_image im;
    build_valid(&im, 2, 4096);
    check_valid(&im);
    gb_free(&im.b);
}

TEST(gguf_read_header_only_and_metadata_only) {
    gbuf b = {0};
    gb_header(&b, 3, 0, 0);
    uint8_t *copy;
    brisk_error err;
    brisk_gguf *g = open_copy(&b, &copy, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        CHECK_EQ_INT(brisk_gguf_n_kv(g), 0);
        CHECK_EQ_INT(brisk_gguf_n_tensors(g), 0);
        CHECK_EQ_INT(brisk_gguf_alignment(g), 32);
        CHECK(brisk_gguf_find(g, "general.alignment") == NULL);
        brisk_gguf_close(g);
    }
    free(copy);
    gb_free(&b);

    /* metadata and no tensors: the file may end right after the metadata */
    gb_header(&b, 2, 0, 1);
    gb_key(&b, "general.name", BRISK_GGUF_STRING);
    gb_str(&b, "tiny");
    g = open_copy(&b, &copy, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        const brisk_gguf_value *v = brisk_gguf_find(g, "general.name");
        CHECK(v && brisk_str_eq(v->v.str, "tiny"));
        CHECK_EQ_INT(brisk_gguf_version(g), 2);
        brisk_gguf_close(g);
    }
    free(copy);
    gb_free(&b);
}

/* A zero-byte tensor overlaps nothing, whatever its offset and listing order. */
TEST(gguf_read_zero_size_tensor_shares_offset) {
    for (int order = 0; order < 2; order++) {
        gbuf b = {0};
        gb_header(&b, 3, 2, 0);
        const uint64_t ne_full[1] = {8}, ne_empty[2] = {8, 0};
        if (order == 0) {
            gb_tinfo(&b, "full", 1, ne_full, BRISK_TYPE_F32, 0);
            gb_tinfo(&b, "empty", 2, ne_empty, BRISK_TYPE_F32, 0);
        } else {
            gb_tinfo(&b, "empty", 2, ne_empty, BRISK_TYPE_F32, 0);
            gb_tinfo(&b, "full", 1, ne_full, BRISK_TYPE_F32, 0);
        }
        gb_pad(&b, 32);
        gb_zeros(&b, 32);
        uint8_t *copy;
        brisk_error err;
        brisk_gguf *g = open_copy(&b, &copy, &err);
        CHECK_MSG(g != NULL, "order %d: %s", order, err.msg);
        if (g) {
            const brisk_gguf_tensor *e = brisk_gguf_find_tensor(g, "empty");
            CHECK(e && e->n_bytes == 0 && e->n_elements == 0);
            brisk_gguf_close(g);
        }
        free(copy);
        gb_free(&b);
    }
}

/* Every proper prefix of a valid image must be rejected cleanly (the sanitizer
 * build turns any read past the prefix into a failure). */
static void check_prefixes(uint32_t version, uint32_t alignment) {
    valid_image im;
    build_valid(&im, version, alignment);
    CHECK_EQ_INT(im.b.len, im.data_end);
    int bad = 0;
    for (size_t len = 0; len < im.b.len; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy) abort();
        memcpy(copy, im.b.p, len);
        brisk_error err;
        memset(&err, 0, sizeof err);
        brisk_gguf *g = brisk_gguf_open_memory(copy, len, &err);
        if (g) {
            if (bad++ < 5) CHECK_MSG(0, "v%u prefix of %zu bytes (of %zu) was accepted", version, len, im.b.len);
            brisk_gguf_close(g);
        } else if (err.status != BRISK_ERR_FORMAT ||
                   !(strstr(err.msg, "truncated") || strstr(err.msg, "past the end") ||
                     strstr(err.msg, "outside the file") || strstr(err.msg, "bytes left") ||
                     strstr(err.msg, "bytes long"))) {
            if (bad++ < 5)
                CHECK_MSG(0, "v%u prefix of %zu bytes: status %d, message: %s", version, len,
                          (int)err.status, err.msg);
        }
        free(copy);
    }
    CHECK_EQ_INT(bad, 0);
    gb_free(&im.b);
}

TEST(gguf_read_every_prefix_fails_v3) { check_prefixes(3, 64); }
TEST(gguf_read_every_prefix_fails_v2) { check_prefixes(2, 0); }

/* Each truncation point is reported with the offset and what was being read. */
TEST(gguf_read_truncation_messages) {
    gbuf b = {0};
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "kkkkkkkkkk", BRISK_GGUF_UINT32); /* key at 24, type at 42, value at 46 */
    gb_u32(&b, 5);
    gbuf p = {0};
    gb_put(&p, b.p, 20);
    EXPECT_FAIL(&p, BRISK_ERR_FORMAT, "truncated", "header", "offset 16", "ends at 20");
    gb_free(&p);
    gb_put(&p, b.p, 44); /* inside the value type */
    EXPECT_FAIL(&p, BRISK_ERR_FORMAT, "truncated", "'kkkkkkkkkk'", "offset 42", "ends at 44");
    gb_free(&p);
    gb_put(&p, b.p, 49); /* inside the value */
    EXPECT_FAIL(&p, BRISK_ERR_FORMAT, "truncated", "'kkkkkkkkkk'", "offset 46", "ends at 49");
    gb_free(&p);
    gb_free(&b);

    gb_header(&b, 3, 1, 0);
    const uint64_t ne[2] = {4, 4};
    gb_tinfo(&b, "w", 2, ne, BRISK_TYPE_F32, 0); /* dims at 37 and 45 */
    size_t info_end = b.len;
    gb_pad(&b, 32);
    gb_zeros(&b, 64);
    gb_put(&p, b.p, 48);
    EXPECT_FAIL(&p, BRISK_ERR_FORMAT, "truncated", "tensor 'w'", "offset 45", "ends at 48");
    gb_free(&p);
    gb_put(&p, b.p, info_end + 1); /* the padding before the data section */
    EXPECT_FAIL(&p, BRISK_ERR_FORMAT, "truncated", "tensor data section");
    gb_free(&p);
    gb_put(&p, b.p, b.len - 1); /* the last byte of the data */
    EXPECT_FAIL(&p, BRISK_ERR_FORMAT, "'w'", "outside the file");
    gb_free(&p);
    gb_free(&b);
}

TEST(gguf_read_bad_header) {
    gbuf b = {0};
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "not a GGUF file", "0 bytes");
    brisk_error err;
    CHECK(brisk_gguf_open_memory(NULL, 0, &err) == NULL && err.status == BRISK_ERR_FORMAT);
    CHECK(brisk_gguf_open_memory(NULL, 10, &err) == NULL && err.status == BRISK_ERR_ARG);

    gb_put(&b, "GGU", 3);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "not a GGUF file", "3 bytes");
    gb_free(&b);

    gb_header(&b, 3, 0, 0);
    memcpy(b.p, "GGML", 4);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "magic", "offset 0", "47 47 4d 4c");
    memcpy(b.p, "FUGG", 4); /* the magic byte-swapped */
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "magic", "offset 0");
    memcpy(b.p, "GGUF", 4);

    gb_patch_u32(&b, 4, 1);
    EXPECT_FAIL(&b, BRISK_ERR_UNSUPPORTED, "version 1", "offset 4");
    gb_patch_u32(&b, 4, 0);
    EXPECT_FAIL(&b, BRISK_ERR_UNSUPPORTED, "version 0", "offset 4");
    gb_patch_u32(&b, 4, 4);
    EXPECT_FAIL(&b, BRISK_ERR_UNSUPPORTED, "version 4", "offset 4");
    gb_patch_u32(&b, 4, 0xFFFFFFFFu);
    EXPECT_FAIL(&b, BRISK_ERR_UNSUPPORTED, "version 4294967295");
    gb_patch_u32(&b, 4, 0x03000000u); /* a big-endian v3 file */
    EXPECT_FAIL(&b, BRISK_ERR_UNSUPPORTED, "big-endian", "offset 4");
    gb_patch_u32(&b, 4, 0x02000000u);
    EXPECT_FAIL(&b, BRISK_ERR_UNSUPPORTED, "big-endian", "offset 4");
    gb_patch_u32(&b, 4, 3);

    /* a header cut inside the counts */
    b.len = 12;
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "truncated", "offset 8");
    gb_free(&b);
}

TEST(gguf_read_string_past_eof) {
    char s[64];
    gbuf b = {0};
    gb_header(&b, 3, 0, 1);
    gb_u64(&b, 1000); /* key length */
    gb_put(&b, "abcdefghijklmn", 14);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "key of metadata entry 0", "length 1000", "offset 24", "past the end");
    gb_free(&b);

    gb_header(&b, 3, 0, 2);
    gb_key(&b, "ok", BRISK_GGUF_UINT8);
    gb_u8(&b, 1);
    gb_key(&b, "general.name", BRISK_GGUF_STRING);
    size_t len_at = b.len;
    gb_u64(&b, UINT64_MAX); /* a length that would wrap a careless bound check */
    gb_put(&b, "abcdefgh", 8);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'general.name'", fmt_u64(s, "offset %llu", len_at), "past the end");
    gb_free(&b);

    /* an element of a string array */
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "tokenizer.ggml.tokens", BRISK_GGUF_ARRAY);
    gb_u32(&b, BRISK_GGUF_STRING);
    gb_u64(&b, 2);
    gb_str(&b, "a");
    len_at = b.len;
    gb_u64(&b, 9);
    gb_put(&b, "12345678", 8);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'tokenizer.ggml.tokens'", fmt_u64(s, "offset %llu", len_at),
                "past the end");
    gb_free(&b);

    /* a tensor name */
    gb_header(&b, 3, 1, 0);
    gb_u64(&b, 0x7FFFFFFFFFFFFFFFull);
    gb_zeros(&b, 40);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "name of tensor 0", "offset 24", "past the end");
    gb_free(&b);
}

TEST(gguf_read_huge_counts_fail_fast) {
    gbuf b = {0};
    gb_header(&b, 3, 0, 1ull << 40);
    gb_zeros(&b, 100);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "1099511627776 metadata entries", "offset 16");
    gb_free(&b);
    gb_header(&b, 3, UINT64_MAX, 0);
    gb_zeros(&b, 100);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "18446744073709551615 tensors", "offset 8");
    gb_free(&b);
    /* fits a naive count * sizeof check on 64 bits, but not in the bytes left */
    gb_header(&b, 3, 100, 1);
    gb_key(&b, "a", BRISK_GGUF_UINT8);
    gb_u8(&b, 0);
    gb_zeros(&b, 100);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "100 tensors");
    gb_free(&b);

    static const uint32_t elem[] = {BRISK_GGUF_UINT8, BRISK_GGUF_UINT64, BRISK_GGUF_STRING, BRISK_GGUF_ARRAY};
    static const uint64_t counts[] = {1ull << 40, 1ull << 61, UINT64_MAX};
    for (size_t e = 0; e < sizeof elem / sizeof elem[0]; e++) {
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            gb_header(&b, 3, 0, 1);
            gb_key(&b, "big.array", BRISK_GGUF_ARRAY);
            size_t at = b.len;
            gb_u32(&b, elem[e]);
            gb_u64(&b, counts[c]);
            gb_zeros(&b, 64);
            char s1[64], s2[64];
            EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'big.array'", fmt_u64(s1, "offset %llu", at),
                        fmt_u64(s2, "claims %llu elements", counts[c]));
            gb_free(&b);
        }
    }
    /* a nested array whose inner count is huge */
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "nested", BRISK_GGUF_ARRAY);
    gb_u32(&b, BRISK_GGUF_ARRAY);
    gb_u64(&b, 1);
    gb_u32(&b, BRISK_GGUF_STRING);
    gb_u64(&b, 1ull << 50);
    gb_zeros(&b, 16);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'nested'", "claims 1125899906842624 elements");
    gb_free(&b);
}

TEST(gguf_read_unknown_value_types) {
    static const uint32_t bad[] = {13, 14, 0xFFFFFFFFu};
    for (size_t i = 0; i < 3; i++) {
        char s[64];
        gbuf b = {0};
        gb_header(&b, 3, 0, 2);
        gb_key(&b, "fine", BRISK_GGUF_BOOL);
        gb_u8(&b, 0);
        gb_str(&b, "weird");
        size_t at = b.len;
        gb_u32(&b, bad[i]);
        gb_zeros(&b, 16);
        char s2[64];
        EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'weird'", fmt_u64(s, "unknown value type %llu", bad[i]),
                    fmt_u64(s2, "offset %llu", at));
        gb_free(&b);

        gb_header(&b, 3, 0, 1);
        gb_key(&b, "arr", BRISK_GGUF_ARRAY);
        at = b.len;
        gb_u32(&b, bad[i]);
        gb_u64(&b, 1);
        gb_zeros(&b, 16);
        EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'arr'", fmt_u64(s, "unknown element type %llu", bad[i]),
                    fmt_u64(s2, "offset %llu", at));
        gb_free(&b);

        /* inside a nested array */
        gb_header(&b, 3, 0, 1);
        gb_key(&b, "nest", BRISK_GGUF_ARRAY);
        gb_u32(&b, BRISK_GGUF_ARRAY);
        gb_u64(&b, 2);
        gb_u32(&b, BRISK_GGUF_UINT8);
        gb_u64(&b, 0);
        gb_u32(&b, bad[i]);
        gb_u64(&b, 0);
        gb_zeros(&b, 16);
        EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'nest'", fmt_u64(s, "unknown element type %llu", bad[i]));
        gb_free(&b);
    }
}

static void build_nested(gbuf *b, int levels) {
    gb_header(b, 3, 0, 1);
    gb_key(b, "deep", BRISK_GGUF_ARRAY);
    for (int i = 0; i < levels - 1; i++) {
        gb_u32(b, BRISK_GGUF_ARRAY);
        gb_u64(b, 1);
    }
    gb_u32(b, BRISK_GGUF_UINT8);
    gb_u64(b, 1);
    gb_u8(b, 42);
}

TEST(gguf_read_nesting_depth) {
    gbuf b = {0};
    build_nested(&b, 4); /* four levels of arrays are fine */
    uint8_t *copy;
    brisk_error err;
    brisk_gguf *g = open_copy(&b, &copy, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        brisk_gguf_value v = *brisk_gguf_find(g, "deep");
        for (int i = 0; i < 3; i++) {
            brisk_gguf_value e;
            const bool ok = v.type == BRISK_GGUF_ARRAY && v.v.arr.n == 1 && brisk_gguf_array_get(&v, 0, &e);
            CHECK(ok);
            if (!ok) break;
            v = e;
        }
        brisk_gguf_value e;
        CHECK(v.v.arr.elem_type == BRISK_GGUF_UINT8 && brisk_gguf_array_get(&v, 0, &e) && e.v.u64 == 42);
        brisk_gguf_close(g);
    }
    free(copy);
    gb_free(&b);

    build_nested(&b, 20);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'deep'", "nested deeper", "offset");
    gb_free(&b);
    /* deep enough to overflow the stack if depth were not bounded */
    build_nested(&b, 200000);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'deep'", "nested deeper");
    gb_free(&b);
}

TEST(gguf_read_bool_must_be_0_or_1) {
    char s[64];
    gbuf b = {0};
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "flag", BRISK_GGUF_BOOL);
    size_t at = b.len;
    gb_u8(&b, 2);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'flag'", "bool", fmt_u64(s, "offset %llu", at), "is 2");
    b.p[at] = 0xFF;
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'flag'", "is 255");
    gb_free(&b);

    gb_header(&b, 3, 0, 1);
    gb_key(&b, "flags", BRISK_GGUF_ARRAY);
    gb_u32(&b, BRISK_GGUF_BOOL);
    gb_u64(&b, 4);
    gb_u8(&b, 1);
    gb_u8(&b, 0);
    at = b.len;
    gb_u8(&b, 7);
    gb_u8(&b, 1);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'flags'", "element 2", fmt_u64(s, "offset %llu", at), "is 7");
    gb_free(&b);
}

TEST(gguf_read_duplicate_and_bad_keys) {
    char s[64];
    gbuf b = {0};
    gb_header(&b, 3, 0, 3);
    gb_key(&b, "general.name", BRISK_GGUF_STRING);
    gb_str(&b, "a");
    gb_key(&b, "other", BRISK_GGUF_UINT8);
    gb_u8(&b, 1);
    size_t at = b.len;
    gb_key(&b, "general.name", BRISK_GGUF_UINT32); /* same key, other type */
    gb_u32(&b, 1);
    /* (which of the two is named first is up to the sort) */
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'general.name'", "twice", "24", fmt_u64(s, "%llu", at));
    gb_free(&b);

    gb_header(&b, 3, 0, 2);
    gb_key(&b, "ok", BRISK_GGUF_UINT8);
    gb_u8(&b, 1);
    at = b.len;
    gb_key(&b, "", BRISK_GGUF_UINT8);
    gb_u8(&b, 1);
    gb_zeros(&b, 8); /* a 13-byte entry is below the reader's 14-byte minimum per entry */
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "metadata entry 1", "length 0", fmt_u64(s, "offset %llu", at));
    gb_free(&b);

    /* longer than the spec's 65535 bytes */
    gb_header(&b, 3, 0, 1);
    char *longkey = malloc(65537);
    memset(longkey, 'k', 65536);
    longkey[65536] = 0;
    gb_key(&b, longkey, BRISK_GGUF_UINT8);
    gb_u8(&b, 1);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "metadata entry 0", "length 65536", "offset 24");
    gb_free(&b);
    longkey[65535] = 0; /* exactly the limit is fine */
    gb_header(&b, 3, 0, 1);
    gb_key(&b, longkey, BRISK_GGUF_UINT8);
    gb_u8(&b, 1);
    uint8_t *copy;
    brisk_error err;
    brisk_gguf *g = open_copy(&b, &copy, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) CHECK(brisk_gguf_find(g, longkey) != NULL);
    brisk_gguf_close(g);
    free(copy);
    gb_free(&b);
    free(longkey);
}

TEST(gguf_read_bad_alignment) {
    struct { uint32_t type; uint64_t value; const char *shown; } cases[] = {
        {BRISK_GGUF_UINT64, 64, "got type uint64)"},
        {BRISK_GGUF_INT32, -64, "got type int32)"},
        {BRISK_GGUF_UINT16, 64, "got type uint16)"},
        {BRISK_GGUF_UINT32, 0, "uint32 0"},
        {BRISK_GGUF_UINT32, 48, "uint32 48"},
        {BRISK_GGUF_UINT32, 3, "uint32 3"},
        {BRISK_GGUF_UINT32, 0x80000001u, "uint32 2147483649"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[64];
        gbuf b = {0};
        gb_header(&b, 3, 0, 2);
        gb_key(&b, "general.name", BRISK_GGUF_STRING);
        gb_str(&b, "x");
        size_t at = b.len;
        gb_key(&b, "general.alignment", cases[i].type);
        gb_scalar(&b, (brisk_gguf_type)cases[i].type, (sval){.u = cases[i].value, .i = (int64_t)cases[i].value});
        EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "general.alignment", "uint32 power of two", cases[i].shown,
                    fmt_u64(s, "offset %llu", at));
        gb_free(&b);
    }
    /* as a string */
    gbuf b = {0};
    gb_header(&b, 3, 0, 1);
    gb_key(&b, "general.alignment", BRISK_GGUF_STRING);
    gb_str(&b, "32");
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "general.alignment", "uint32 power of two", "(got type string)");
    gb_free(&b);
    /* 1 is a power of two: every offset is aligned */
    gb_header(&b, 3, 1, 1);
    gb_key(&b, "general.alignment", BRISK_GGUF_UINT32);
    gb_u32(&b, 1);
    const uint64_t ne[1] = {3};
    gb_tinfo(&b, "t", 1, ne, BRISK_TYPE_I8, 1);
    gb_zeros(&b, 4);
    uint8_t *copy;
    brisk_error err;
    brisk_gguf *g = open_copy(&b, &copy, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        CHECK_EQ_INT(brisk_gguf_alignment(g), 1);
        CHECK_EQ_INT(brisk_gguf_tensor_at(g, 0)->offset, b.len - 3);
        brisk_gguf_close(g);
    }
    free(copy);
    gb_free(&b);
}

/* One tensor info (name "t") and the data section; returns the info's offset. */
static size_t build_one_tensor(gbuf *b, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                               uint64_t offset, size_t data_bytes) {
    gb_header(b, 3, 1, 1);
    gb_key(b, "general.architecture", BRISK_GGUF_STRING);
    gb_str(b, "x");
    size_t at = b->len;
    gb_tinfo(b, "t", n_dims, ne, type, offset);
    gb_pad(b, 32);
    gb_zeros(b, data_bytes);
    return at;
}

TEST(gguf_read_bad_tensor_dims) {
    char s[64];
    gbuf b = {0};
    const uint64_t ne[5] = {2, 2, 2, 2, 2};
    size_t at = build_one_tensor(&b, 0, ne, BRISK_TYPE_F32, 0, 64);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "0 dimensions", fmt_u64(s, "offset %llu", at));
    gb_free(&b);
    at = build_one_tensor(&b, 5, ne, BRISK_TYPE_F32, 0, 256);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "5 dimensions", fmt_u64(s, "offset %llu", at));
    gb_free(&b);
    /* n_dims read as a huge number must not be used as a count */
    gb_header(&b, 3, 1, 0);
    gb_str(&b, "t");
    gb_u32(&b, 0xFFFFFFFFu);
    gb_zeros(&b, 64);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "4294967295 dimensions");
    gb_free(&b);
    /* four dimensions is the maximum and fine */
    build_one_tensor(&b, 4, ne, BRISK_TYPE_F32, 0, 64);
    uint8_t *copy;
    brisk_error err;
    brisk_gguf *g = open_copy(&b, &copy, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) CHECK_EQ_INT(brisk_gguf_tensor_at(g, 0)->n_elements, 16);
    brisk_gguf_close(g);
    free(copy);
    gb_free(&b);
}

TEST(gguf_read_dimension_overflow) {
    char s[64];
    gbuf b = {0};
    const uint64_t ne1[2] = {1ull << 32, 1ull << 32}; /* product 2^64 wraps to 0 */
    size_t at = build_one_tensor(&b, 2, ne1, BRISK_TYPE_F32, 0, 64);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "overflow", fmt_u64(s, "offset %llu", at));
    gb_free(&b);
    const uint64_t ne2[1] = {1ull << 63}; /* above INT64_MAX */
    build_one_tensor(&b, 1, ne2, BRISK_TYPE_F32, 0, 64);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "overflow");
    gb_free(&b);
    const uint64_t ne3[4] = {1ull << 16, 1ull << 16, 1ull << 16, 1ull << 16}; /* 2^64 in four steps */
    build_one_tensor(&b, 4, ne3, BRISK_TYPE_F32, 0, 64);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "overflow");
    gb_free(&b);
    /* elements fit in int64 but the bytes do not */
    const uint64_t ne4[2] = {1ull << 31, 1ull << 31};
    build_one_tensor(&b, 2, ne4, BRISK_TYPE_F64, 0, 64);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "too large");
    gb_free(&b);
    /* a zero dimension makes an empty tensor, even next to a huge one */
    const uint64_t ne5[2] = {0, 1ull << 62};
    build_one_tensor(&b, 2, ne5, BRISK_TYPE_F32, 0, 0);
    uint8_t *copy;
    brisk_error err;
    brisk_gguf *g = open_copy(&b, &copy, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) CHECK(brisk_gguf_tensor_at(g, 0)->n_bytes == 0);
    brisk_gguf_close(g);
    free(copy);
    gb_free(&b);
}

TEST(gguf_read_unknown_tensor_type) {
    static const uint32_t bad[] = {4, 5, 31, 36, BRISK_TYPE_COUNT, 1000, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char s[64], s2[64];
        gbuf b = {0};
        const uint64_t ne[1] = {32};
        size_t at = build_one_tensor(&b, 1, ne, bad[i], 0, 256);
        EXPECT_FAIL(&b, BRISK_ERR_UNSUPPORTED, "'t'", fmt_u64(s, "unknown type id %llu", bad[i]),
                    fmt_u64(s2, "offset %llu", at));
        gb_free(&b);
    }
}

TEST(gguf_read_row_not_multiple_of_block) {
    gbuf b = {0};
    const uint64_t ne[2] = {33, 32};
    build_one_tensor(&b, 2, ne, BRISK_TYPE_Q8_0, 0, 2048);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "Q8_0", "33", "block size 32");
    gb_free(&b);
    /* the element count is a multiple of 256, but the rows are not */
    const uint64_t ne2[2] = {128, 2};
    build_one_tensor(&b, 2, ne2, BRISK_TYPE_Q4_K, 0, 512);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "Q4_K", "128", "block size 256");
    gb_free(&b);
}

TEST(gguf_read_misaligned_tensor_offset) {
    gbuf b = {0};
    const uint64_t ne[1] = {4};
    build_one_tensor(&b, 1, ne, BRISK_TYPE_F32, 16, 64);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "offset 16", "alignment 32");
    gb_free(&b);
    /* with general.alignment = 64, an offset aligned to 32 is not enough */
    gb_header(&b, 3, 1, 1);
    gb_key(&b, "general.alignment", BRISK_GGUF_UINT32);
    gb_u32(&b, 64);
    gb_tinfo(&b, "t", 1, ne, BRISK_TYPE_F32, 32);
    gb_pad(&b, 64);
    gb_zeros(&b, 128);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "offset 32", "alignment 64");
    gb_free(&b);
}

TEST(gguf_read_tensor_data_past_eof) {
    gbuf b = {0};
    const uint64_t ne[1] = {16}; /* 64 bytes */
    build_one_tensor(&b, 1, ne, BRISK_TYPE_F32, 0, 63);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "outside the file", "+64");
    gb_free(&b);
    build_one_tensor(&b, 1, ne, BRISK_TYPE_F32, 64, 100);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "outside the file");
    gb_free(&b);
    /* an offset that would wrap offset + size */
    build_one_tensor(&b, 1, ne, BRISK_TYPE_F32, UINT64_MAX - 31, 100);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'t'", "outside the file");
    gb_free(&b);
    /* a byte more is fine */
    build_one_tensor(&b, 1, ne, BRISK_TYPE_F32, 0, 64);
    uint8_t *copy;
    brisk_error err;
    brisk_gguf *g = open_copy(&b, &copy, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    brisk_gguf_close(g);
    free(copy);
    gb_free(&b);
}

TEST(gguf_read_overlapping_tensors) {
    gbuf b = {0};
    const uint64_t ne[1] = {16}; /* 64 bytes each */
    gb_header(&b, 3, 3, 0);
    gb_tinfo(&b, "a", 1, ne, BRISK_TYPE_F32, 0);
    gb_tinfo(&b, "b", 1, ne, BRISK_TYPE_F32, 128);
    gb_tinfo(&b, "c", 1, ne, BRISK_TYPE_F32, 32); /* inside 'a' */
    gb_pad(&b, 32);
    gb_zeros(&b, 256);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'a'", "'c'", "overlap");
    gb_free(&b);
    /* the same offset twice */
    gb_header(&b, 3, 2, 0);
    gb_tinfo(&b, "x", 1, ne, BRISK_TYPE_F32, 64);
    gb_tinfo(&b, "y", 1, ne, BRISK_TYPE_F32, 64);
    gb_pad(&b, 32);
    gb_zeros(&b, 256);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'x'", "'y'", "overlap");
    gb_free(&b);
    /* a big tensor covering two later small ones: only the first pair is adjacent */
    const uint64_t big[1] = {64}; /* 256 bytes */
    gb_header(&b, 3, 3, 0);
    gb_tinfo(&b, "small1", 1, ne, BRISK_TYPE_F32, 256);
    gb_tinfo(&b, "big", 1, big, BRISK_TYPE_F32, 0);
    gb_tinfo(&b, "small2", 1, ne, BRISK_TYPE_F32, 192);
    gb_pad(&b, 32);
    gb_zeros(&b, 512);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'big'", "'small2'", "overlap");
    gb_free(&b);
    /* touching is not overlapping */
    gb_header(&b, 3, 2, 0);
    gb_tinfo(&b, "x", 1, ne, BRISK_TYPE_F32, 64);
    gb_tinfo(&b, "y", 1, ne, BRISK_TYPE_F32, 0);
    gb_pad(&b, 32);
    gb_zeros(&b, 128);
    uint8_t *copy;
    brisk_error err;
    brisk_gguf *g = open_copy(&b, &copy, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    brisk_gguf_close(g);
    free(copy);
    gb_free(&b);
}

TEST(gguf_read_duplicate_tensor_names) {
    gbuf b = {0};
    const uint64_t ne[1] = {8};
    gb_header(&b, 3, 3, 0);
    gb_tinfo(&b, "blk.0.w", 1, ne, BRISK_TYPE_F32, 0);
    gb_tinfo(&b, "blk.1.w", 1, ne, BRISK_TYPE_F32, 32);
    gb_tinfo(&b, "blk.0.w", 1, ne, BRISK_TYPE_F32, 64);
    gb_pad(&b, 32);
    gb_zeros(&b, 96);
    EXPECT_FAIL(&b, BRISK_ERR_FORMAT, "'blk.0.w'", "twice");
    gb_free(&b);
}

/* ------------------------------------------------------------------------ */
/* Files on disk                                                             */
/* ------------------------------------------------------------------------ */

TEST(gguf_read_open_errors) {
    char dir[] = "/tmp/brisk_gguf_read_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    char path[256];
    brisk_error err;

    snprintf(path, sizeof path, "%s/missing.gguf", dir);
    CHECK(brisk_gguf_open(path, &err) == NULL);
    CHECK_EQ_INT(err.status, BRISK_ERR_IO);
    CHECK_MSG(strstr(err.msg, path) && strstr(err.msg, "No such file"), "%s", err.msg);
    CHECK(brisk_gguf_open(path, NULL) == NULL); /* err may be NULL */

    CHECK(brisk_gguf_open(dir, &err) == NULL);
    CHECK_EQ_INT(err.status, BRISK_ERR_IO);
    CHECK_MSG(strstr(err.msg, dir) && strstr(err.msg, "not a regular file"), "%s", err.msg);

    snprintf(path, sizeof path, "%s/empty.gguf", dir);
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
    CHECK(brisk_gguf_open(path, &err) == NULL);
    CHECK_EQ_INT(err.status, BRISK_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, path) && strstr(err.msg, "empty"), "%s", err.msg);
    remove(path);

    /* a malformed file: the reader's message, prefixed with the path */
    gbuf b = {0};
    const uint64_t ne[1] = {4};
    build_one_tensor(&b, 1, ne, BRISK_TYPE_F32, 16, 64);
    snprintf(path, sizeof path, "%s/bad.gguf", dir);
    f = fopen(path, "wb");
    if (f) { fwrite(b.p, 1, b.len, f); fclose(f); }
    CHECK(brisk_gguf_open(path, &err) == NULL);
    CHECK_EQ_INT(err.status, BRISK_ERR_FORMAT);
    CHECK_MSG(strncmp(err.msg, path, strlen(path)) == 0 && strstr(err.msg, "'t'") &&
              strstr(err.msg, "offset 16"), "%s", err.msg);
    remove(path);
    gb_free(&b);

    /* and a valid one, mapped from disk */
    valid_image im;
    build_valid(&im, 3, 64);
    snprintf(path, sizeof path, "%s/good.gguf", dir);
    f = fopen(path, "wb");
    if (f) { fwrite(im.b.p, 1, im.b.len, f); fclose(f); }
    brisk_gguf *g = brisk_gguf_open(path, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        CHECK_EQ_INT(err.status, BRISK_OK);
        CHECK_EQ_INT(brisk_gguf_file_size(g), im.b.len);
        const brisk_gguf_tensor *t = brisk_gguf_find_tensor(g, "blk.0.ffn_up.weight");
        CHECK(t && t->offset == im.tensor_offset[4] &&
              memcmp(t->data, im.b.p + im.tensor_offset[4], (size_t)t->n_bytes) == 0);
        brisk_gguf_close(g);
    }
    remove(path);
    gb_free(&im.b);
    rmdir(dir);
}

/* ------------------------------------------------------------------------ */
/* Value accessors                                                           */
/* ------------------------------------------------------------------------ */

TEST(gguf_value_conversions) {
    int64_t i;
    uint64_t u;
    double f;
    brisk_gguf_value v = {.type = BRISK_GGUF_UINT8, .v.u64 = 200};
    CHECK(brisk_gguf_value_int(&v, &i) && i == 200);
    CHECK(brisk_gguf_value_uint(&v, &u) && u == 200);
    CHECK(brisk_gguf_value_float(&v, &f) && f == 200.0);
    v = (brisk_gguf_value){.type = BRISK_GGUF_UINT64, .v.u64 = UINT64_MAX};
    CHECK(!brisk_gguf_value_int(&v, &i)); /* does not fit */
    CHECK(brisk_gguf_value_uint(&v, &u) && u == UINT64_MAX);
    v = (brisk_gguf_value){.type = BRISK_GGUF_INT16, .v.i64 = -5};
    CHECK(brisk_gguf_value_int(&v, &i) && i == -5);
    CHECK(!brisk_gguf_value_uint(&v, &u));
    CHECK(brisk_gguf_value_float(&v, &f) && f == -5.0);
    v = (brisk_gguf_value){.type = BRISK_GGUF_INT64, .v.i64 = 7};
    CHECK(brisk_gguf_value_uint(&v, &u) && u == 7);
    v = (brisk_gguf_value){.type = BRISK_GGUF_FLOAT32, .v.f64 = 0.5};
    CHECK(brisk_gguf_value_float(&v, &f) && f == 0.5);
    CHECK(!brisk_gguf_value_int(&v, &i));
    CHECK(!brisk_gguf_value_uint(&v, &u));
    v = (brisk_gguf_value){.type = BRISK_GGUF_BOOL, .v.b = true};
    CHECK(!brisk_gguf_value_int(&v, &i) && !brisk_gguf_value_float(&v, &f));
    v = (brisk_gguf_value){.type = BRISK_GGUF_STRING, .v.str = {"12", 2}};
    CHECK(!brisk_gguf_value_int(&v, &i) && !brisk_gguf_value_uint(&v, &u) && !brisk_gguf_value_float(&v, &f));
    brisk_gguf_value e;
    CHECK(!brisk_gguf_array_get(&v, 0, &e)); /* not an array */

    CHECK(strcmp(brisk_gguf_type_name(BRISK_GGUF_UINT32), "uint32") == 0);
    CHECK(strcmp(brisk_gguf_type_name(BRISK_GGUF_FLOAT64), "float64") == 0);
    CHECK(strcmp(brisk_gguf_type_name(BRISK_GGUF_ARRAY), "array") == 0);
    CHECK(strcmp(brisk_gguf_type_name((brisk_gguf_type)99), "unknown") == 0);
    CHECK(brisk_str_eq((brisk_str){"abc", 3}, "abc"));
    CHECK(!brisk_str_eq((brisk_str){"abc", 2}, "abc"));
    CHECK(!brisk_str_eq((brisk_str){"abcd", 4}, "abc"));
    CHECK(brisk_str_eq((brisk_str){"", 0}, ""));
}
