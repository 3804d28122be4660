/* Accessors for a parsed GGUF file and its metadata values. */
#include <string.h>

#include "gguf/gguf_internal.h"

size_t gguf_scalar_size(brisk_gguf_type t) {
    switch (t) {
    case BRISK_GGUF_UINT8: case BRISK_GGUF_INT8: case BRISK_GGUF_BOOL: return 1;
    case BRISK_GGUF_UINT16: case BRISK_GGUF_INT16: return 2;
    case BRISK_GGUF_UINT32: case BRISK_GGUF_INT32: case BRISK_GGUF_FLOAT32: return 4;
    case BRISK_GGUF_UINT64: case BRISK_GGUF_INT64: case BRISK_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *brisk_gguf_type_name(brisk_gguf_type t) {
    static const char *const names[BRISK_GGUF_TYPE_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool", "string", "array", "uint64", "int64", "float64",
    };
    return (unsigned)t < BRISK_GGUF_TYPE_COUNT ? names[t] : "unknown";
}

bool brisk_str_eq(brisk_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.len == n && memcmp(s.ptr, cstr, n) == 0;
}

uint32_t brisk_gguf_version(const brisk_gguf *g) { return g->version; }
uint64_t brisk_gguf_file_size(const brisk_gguf *g) { return g->size; }
uint64_t brisk_gguf_alignment(const brisk_gguf *g) { return g->alignment; }
uint64_t brisk_gguf_data_offset(const brisk_gguf *g) { return g->data_offset; }
uint64_t brisk_gguf_n_kv(const brisk_gguf *g) { return g->n_kv; }
uint64_t brisk_gguf_n_tensors(const brisk_gguf *g) { return g->n_tensors; }

const brisk_gguf_kv *brisk_gguf_kv_at(const brisk_gguf *g, uint64_t i) {
    return i < g->n_kv ? &g->kvs[i] : NULL;
}

const brisk_gguf_tensor *brisk_gguf_tensor_at(const brisk_gguf *g, uint64_t i) {
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const brisk_gguf_value *brisk_gguf_find(const brisk_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (brisk_str_eq(g->kvs[i].key, key)) return &g->kvs[i].value;
    return NULL;
}

const brisk_gguf_tensor *brisk_gguf_find_tensor(const brisk_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (brisk_str_eq(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

static bool is_unsigned(brisk_gguf_type t) {
    return t == BRISK_GGUF_UINT8 || t == BRISK_GGUF_UINT16 || t == BRISK_GGUF_UINT32 ||
           t == BRISK_GGUF_UINT64;
}

static bool is_signed(brisk_gguf_type t) {
    return t == BRISK_GGUF_INT8 || t == BRISK_GGUF_INT16 || t == BRISK_GGUF_INT32 ||
           t == BRISK_GGUF_INT64;
}

bool brisk_gguf_value_int(const brisk_gguf_value *v, int64_t *out) {
    if (is_signed(v->type)) { *out = v->v.i64; return true; }
    if (is_unsigned(v->type) && v->v.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)v->v.u64;
        return true;
    }
    return false;
}

bool brisk_gguf_value_uint(const brisk_gguf_value *v, uint64_t *out) {
    if (is_unsigned(v->type)) { *out = v->v.u64; return true; }
    if (is_signed(v->type) && v->v.i64 >= 0) { *out = (uint64_t)v->v.i64; return true; }
    return false;
}

bool brisk_gguf_value_float(const brisk_gguf_value *v, double *out) {
    if (v->type == BRISK_GGUF_FLOAT32 || v->type == BRISK_GGUF_FLOAT64) { *out = v->v.f64; return true; }
    if (is_signed(v->type)) { *out = (double)v->v.i64; return true; }
    if (is_unsigned(v->type)) { *out = (double)v->v.u64; return true; }
    return false;
}

bool brisk_gguf_array_get(const brisk_gguf_value *arr, uint64_t i, brisk_gguf_value *out) {
    if (arr->type != BRISK_GGUF_ARRAY || i >= arr->v.arr.n) return false;
    brisk_gguf_type t = arr->v.arr.elem_type;
    memset(out, 0, sizeof *out);
    out->type = t;
    if (t == BRISK_GGUF_STRING) { out->v.str = arr->v.arr.strs[i]; return true; }
    if (t == BRISK_GGUF_ARRAY) { *out = arr->v.arr.items[i]; return true; }
    const uint8_t *p = (const uint8_t *)arr->v.arr.raw + i * gguf_scalar_size(t);
    switch (t) {
    case BRISK_GGUF_UINT8: out->v.u64 = p[0]; break;
    case BRISK_GGUF_INT8: out->v.i64 = (int8_t)p[0]; break;
    case BRISK_GGUF_BOOL: out->v.b = p[0] != 0; break;
    case BRISK_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); out->v.u64 = x; break; }
    case BRISK_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); out->v.i64 = x; break; }
    case BRISK_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); out->v.u64 = x; break; }
    case BRISK_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); out->v.i64 = x; break; }
    case BRISK_GGUF_UINT64: { uint64_t x; memcpy(&x, p, 8); out->v.u64 = x; break; }
    case BRISK_GGUF_INT64: { int64_t x; memcpy(&x, p, 8); out->v.i64 = x; break; }
    case BRISK_GGUF_FLOAT32: { float x; memcpy(&x, p, 4); out->v.f64 = x; break; }
    case BRISK_GGUF_FLOAT64: { double x; memcpy(&x, p, 8); out->v.f64 = x; break; }
    default: return false;
    }
    return true;
}
