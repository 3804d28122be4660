/* GGUF reader: maps a file, parses and validates everything before anything is
 * used. Tensor data is never copied: tensors point into the mapping.
 *
 * File layout (little-endian):
 *   u32 magic "GGUF" | u32 version (2 or 3) | u64 n_tensors | u64 n_kv
 *   n_kv    x { string key | u32 value type | value }
 *   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 type | u64 offset }
 *   padding to `general.alignment` (default 32) | tensor data (offsets relative to here)
 *   string = u64 length + bytes (no NUL); array = u32 elem type + u64 count + elems
 *
 * Every count is checked against the bytes left before anything is allocated
 * from it, so a hostile header can neither exhaust memory nor loop for long. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "gguf/gguf_internal.h"
#include "quant/quant.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "brisk's GGUF reader assumes a little-endian host"
#endif

#define GGUF_MAX_KEY_LEN 65535   /* the spec's limit on key length */
#define GGUF_MIN_KV_BYTES 14     /* u64 key len + 1-byte key + u32 type + 1-byte value */
#define GGUF_MIN_TENSOR_BYTES 24 /* u64 name len + u32 n_dims + u32 type + u64 offset */

typedef struct parser {
    brisk_gguf *g;
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    brisk_error *err;
    char ctx[160]; /* what is being read, for error messages */
} parser;

static uint64_t remaining(const parser *p) { return p->size - p->pos; }

/* Record an error; returns false so that callers can `return failf(...)`. */
static bool failf(parser *p, brisk_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool failf(parser *p, brisk_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    brisk_failv(p->err, st, fmt, ap);
    va_end(ap);
    return false;
}

/* Names in messages are cut at 100 bytes: use as "%.*s", SHOWN(name), name.ptr */
#define SHOWN(s) ((int)((s).len > 100 ? 100 : (s).len))

/* Consume n bytes into out (or skip them if out is NULL). */
static bool take(parser *p, void *out, uint64_t n) {
    if (n > remaining(p)) {
        return failf(p, BRISK_ERR_FORMAT,
                   "GGUF truncated: %s needs %llu bytes at offset %llu, but the file ends at %llu",
                   p->ctx, (unsigned long long)n, (unsigned long long)p->pos,
                   (unsigned long long)p->size);
    }
    if (out) memcpy(out, p->base + p->pos, (size_t)n);
    p->pos += n;
    return true;
}

static bool take_u32(parser *p, uint32_t *v) { return take(p, v, 4); }
static bool take_u64(parser *p, uint64_t *v) { return take(p, v, 8); }

static bool take_str(parser *p, brisk_str *s) {
    uint64_t len = 0;
    if (!take_u64(p, &len)) return false;
    if (len > remaining(p)) {
        return failf(p, BRISK_ERR_FORMAT,
                   "GGUF: %s has length %llu at offset %llu, past the end of the file (%llu)",
                   p->ctx, (unsigned long long)len, (unsigned long long)(p->pos - 8),
                   (unsigned long long)p->size);
    }
    s->ptr = (const char *)p->base + p->pos;
    s->len = len;
    p->pos += len;
    return true;
}

/* Allocation owned by the file object; freed by brisk_gguf_close. */
static void *own_alloc(parser *p, uint64_t n_items, size_t item_size) {
    if (n_items == 0) return NULL;
    void *mem = calloc((size_t)n_items, item_size);
    if (!mem) {
        failf(p, BRISK_ERR_NOMEM, "out of memory reading GGUF (%s)", p->ctx);
        return NULL;
    }
    gguf_allocs *a = &p->g->allocs;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        void **ptrs = realloc(a->ptrs, cap * sizeof *ptrs);
        if (!ptrs) {
            free(mem);
            failf(p, BRISK_ERR_NOMEM, "out of memory reading GGUF (%s)", p->ctx);
            return NULL;
        }
        a->ptrs = ptrs;
        a->cap = cap;
    }
    a->ptrs[a->n++] = mem;
    return mem;
}

static bool valid_value_type(uint32_t t) { return t < BRISK_GGUF_TYPE_COUNT; }

static bool read_value(parser *p, brisk_gguf_type type, brisk_gguf_value *out, int depth);

static bool read_array(parser *p, brisk_gguf_value *out, int depth) {
    uint64_t start = p->pos;
    uint32_t elem = 0;
    uint64_t n = 0;
    if (!take_u32(p, &elem) || !take_u64(p, &n)) return false;
    if (!valid_value_type(elem)) {
        return failf(p, BRISK_ERR_FORMAT, "GGUF: %s: array at offset %llu has unknown element type %u",
                     p->ctx, (unsigned long long)start, elem);
    }
    out->v.arr.elem_type = (brisk_gguf_type)elem;
    out->v.arr.n = n;
    size_t scalar = gguf_scalar_size((brisk_gguf_type)elem);
    /* The smallest encoding of one element bounds n by the bytes left. */
    uint64_t min_elem = scalar ? scalar : (elem == BRISK_GGUF_STRING ? 8 : 12);
    if (n > remaining(p) / min_elem) {
        return failf(p, BRISK_ERR_FORMAT,
                   "GGUF: %s: array at offset %llu claims %llu elements of %s, more than the %llu bytes left can hold",
                   p->ctx, (unsigned long long)start, (unsigned long long)n,
                   brisk_gguf_type_name((brisk_gguf_type)elem), (unsigned long long)remaining(p));
    }
    if (scalar) {
        out->v.arr.raw = p->base + p->pos;
        if (elem == BRISK_GGUF_BOOL) {
            for (uint64_t i = 0; i < n; i++) {
                if (p->base[p->pos + i] > 1) {
                    return failf(p, BRISK_ERR_FORMAT, "GGUF: %s: bool array element %llu at offset %llu is %u, not 0 or 1",
                               p->ctx, (unsigned long long)i, (unsigned long long)(p->pos + i),
                               p->base[p->pos + i]);
                }
            }
        }
        p->pos += n * scalar;
        return true;
    }
    if (elem == BRISK_GGUF_STRING) {
        brisk_str *strs = own_alloc(p, n, sizeof *strs);
        if (n && !strs) return false;
        for (uint64_t i = 0; i < n; i++)
            if (!take_str(p, &strs[i])) return false;
        out->v.arr.strs = strs;
        return true;
    }
    if (depth >= GGUF_MAX_ARRAY_DEPTH) {
        return failf(p, BRISK_ERR_FORMAT, "GGUF: %s: arrays nested deeper than %d at offset %llu",
                   p->ctx, GGUF_MAX_ARRAY_DEPTH, (unsigned long long)start);
    }
    brisk_gguf_value *items = own_alloc(p, n, sizeof *items);
    if (n && !items) return false;
    for (uint64_t i = 0; i < n; i++)
        if (!read_value(p, BRISK_GGUF_ARRAY, &items[i], depth + 1)) return false;
    out->v.arr.items = items;
    return true;
}

static bool read_value(parser *p, brisk_gguf_type type, brisk_gguf_value *out, int depth) {
    out->type = type;
    uint64_t at = p->pos;
    switch (type) {
    case BRISK_GGUF_UINT8: { uint8_t v = 0; if (!take(p, &v, 1)) return false; out->v.u64 = v; return true; }
    case BRISK_GGUF_INT8: { int8_t v = 0; if (!take(p, &v, 1)) return false; out->v.i64 = v; return true; }
    case BRISK_GGUF_UINT16: { uint16_t v = 0; if (!take(p, &v, 2)) return false; out->v.u64 = v; return true; }
    case BRISK_GGUF_INT16: { int16_t v = 0; if (!take(p, &v, 2)) return false; out->v.i64 = v; return true; }
    case BRISK_GGUF_UINT32: { uint32_t v = 0; if (!take(p, &v, 4)) return false; out->v.u64 = v; return true; }
    case BRISK_GGUF_INT32: { int32_t v = 0; if (!take(p, &v, 4)) return false; out->v.i64 = v; return true; }
    case BRISK_GGUF_UINT64: { uint64_t v = 0; if (!take(p, &v, 8)) return false; out->v.u64 = v; return true; }
    case BRISK_GGUF_INT64: { int64_t v = 0; if (!take(p, &v, 8)) return false; out->v.i64 = v; return true; }
    case BRISK_GGUF_FLOAT32: { float v = 0; if (!take(p, &v, 4)) return false; out->v.f64 = v; return true; }
    case BRISK_GGUF_FLOAT64: { double v = 0; if (!take(p, &v, 8)) return false; out->v.f64 = v; return true; }
    case BRISK_GGUF_BOOL: {
        uint8_t v = 0;
        if (!take(p, &v, 1)) return false;
        if (v > 1) {
            return failf(p, BRISK_ERR_FORMAT, "GGUF: %s: bool at offset %llu is %u, not 0 or 1",
                       p->ctx, (unsigned long long)at, v);
        }
        out->v.b = v;
        return true;
    }
    case BRISK_GGUF_STRING: return take_str(p, &out->v.str);
    case BRISK_GGUF_ARRAY: return read_array(p, out, depth);
    case BRISK_GGUF_TYPE_COUNT: break;
    }
    return failf(p, BRISK_ERR_FORMAT, "GGUF: %s: unknown value type %d", p->ctx, (int)type);
}

/* Order by (len, bytes): used to find duplicate names in O(n log n). */
static int cmp_str(const brisk_str *a, const brisk_str *b) {
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return a->len ? memcmp(a->ptr, b->ptr, (size_t)a->len) : 0;
}
static int cmp_kv_ptr(const void *a, const void *b) {
    return cmp_str(&(*(const brisk_gguf_kv *const *)a)->key, &(*(const brisk_gguf_kv *const *)b)->key);
}
static int cmp_tensor_name(const void *a, const void *b) {
    return cmp_str(&(*(const brisk_gguf_tensor *const *)a)->name,
                   &(*(const brisk_gguf_tensor *const *)b)->name);
}
static int cmp_tensor_offset(const void *a, const void *b) {
    uint64_t x = (*(const brisk_gguf_tensor *const *)a)->offset;
    uint64_t y = (*(const brisk_gguf_tensor *const *)b)->offset;
    return x < y ? -1 : x > y;
}

static bool read_header(parser *p) {
    brisk_gguf *g = p->g;
    char magic[4];
    snprintf(p->ctx, sizeof p->ctx, "the header");
    if (p->size < 4 || memcmp(p->base, "GGUF", 4) != 0) {
        if (p->size < 4)
            return failf(p, BRISK_ERR_FORMAT, "not a GGUF file: only %llu bytes long",
                         (unsigned long long)p->size);
        return failf(p, BRISK_ERR_FORMAT,
                   "not a GGUF file: magic at offset 0 is %02x %02x %02x %02x, expected \"GGUF\"",
                   p->base[0], p->base[1], p->base[2], p->base[3]);
    }
    if (!take(p, magic, 4) || !take_u32(p, &g->version)) return false;
    if (g->version == 0x02000000u || g->version == 0x03000000u)
        return failf(p, BRISK_ERR_UNSUPPORTED, "GGUF: big-endian files are not supported (version field at offset 4 is byte-swapped)");
    if (g->version != 2 && g->version != 3) {
        return failf(p, BRISK_ERR_UNSUPPORTED,
                   "GGUF version %u at offset 4 is not supported (brisk reads versions 2 and 3)",
                   g->version);
    }
    if (!take_u64(p, &g->n_tensors) || !take_u64(p, &g->n_kv)) return false;
    if (g->n_kv > remaining(p) / GGUF_MIN_KV_BYTES) {
        return failf(p, BRISK_ERR_FORMAT,
                   "GGUF: header at offset 16 claims %llu metadata entries; the %llu bytes left hold at most %llu",
                   (unsigned long long)g->n_kv, (unsigned long long)remaining(p),
                   (unsigned long long)(remaining(p) / GGUF_MIN_KV_BYTES));
    }
    if (g->n_tensors > remaining(p) / GGUF_MIN_TENSOR_BYTES) {
        return failf(p, BRISK_ERR_FORMAT,
                   "GGUF: header at offset 8 claims %llu tensors; the %llu bytes left hold at most %llu",
                   (unsigned long long)g->n_tensors, (unsigned long long)remaining(p),
                   (unsigned long long)(remaining(p) / GGUF_MIN_TENSOR_BYTES));
    }
    return true;
}

static bool read_metadata(parser *p) {
    brisk_gguf *g = p->g;
    g->kvs = own_alloc(p, g->n_kv, sizeof *g->kvs);
    if (g->n_kv && !g->kvs) return false;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        brisk_gguf_kv *kv = &g->kvs[i];
        kv->offset = p->pos;
        snprintf(p->ctx, sizeof p->ctx, "the key of metadata entry %llu", (unsigned long long)i);
        if (!take_str(p, &kv->key)) return false;
        if (kv->key.len == 0 || kv->key.len > GGUF_MAX_KEY_LEN) {
            return failf(p, BRISK_ERR_FORMAT, "GGUF: metadata entry %llu at offset %llu has a key of length %llu (allowed 1..%d)",
                       (unsigned long long)i, (unsigned long long)kv->offset,
                       (unsigned long long)kv->key.len, GGUF_MAX_KEY_LEN);
        }
        snprintf(p->ctx, sizeof p->ctx, "the value of key '%.*s'", SHOWN(kv->key), kv->key.ptr);
        uint32_t type = 0;
        uint64_t type_at = p->pos;
        if (!take_u32(p, &type)) return false;
        if (!valid_value_type(type)) {
            return failf(p, BRISK_ERR_FORMAT, "GGUF: key '%.*s' at offset %llu has unknown value type %u",
                       SHOWN(kv->key), kv->key.ptr, (unsigned long long)type_at, type);
        }
        if (!read_value(p, (brisk_gguf_type)type, &kv->value, 0)) return false;
    }
    /* Duplicate keys make lookups ambiguous: reject them. */
    if (g->n_kv > 1) {
        const brisk_gguf_kv **order = own_alloc(p, g->n_kv, sizeof *order);
        if (!order) return false;
        for (uint64_t i = 0; i < g->n_kv; i++) order[i] = &g->kvs[i];
        qsort(order, (size_t)g->n_kv, sizeof *order, cmp_kv_ptr);
        for (uint64_t i = 1; i < g->n_kv; i++) {
            if (cmp_str(&order[i - 1]->key, &order[i]->key) == 0) {
                return failf(p, BRISK_ERR_FORMAT, "GGUF: key '%.*s' appears twice (offsets %llu and %llu)",
                           SHOWN(order[i]->key), order[i]->key.ptr, (unsigned long long)order[i - 1]->offset,
                           (unsigned long long)order[i]->offset);
            }
        }
    }
    /* general.alignment: a u32 power of two when present. */
    g->alignment = 32;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        if (!brisk_str_eq(g->kvs[i].key, "general.alignment")) continue;
        const brisk_gguf_value *v = &g->kvs[i].value;
        if (v->type != BRISK_GGUF_UINT32) { /* (v->v.u64 means nothing for other types) */
            return failf(p, BRISK_ERR_FORMAT,
                       "GGUF: general.alignment at offset %llu must be a uint32 power of two (got type %s)",
                       (unsigned long long)g->kvs[i].offset, brisk_gguf_type_name(v->type));
        }
        if (v->v.u64 == 0 || (v->v.u64 & (v->v.u64 - 1))) {
            return failf(p, BRISK_ERR_FORMAT,
                       "GGUF: general.alignment at offset %llu must be a uint32 power of two (got uint32 %llu)",
                       (unsigned long long)g->kvs[i].offset, (unsigned long long)v->v.u64);
        }
        g->alignment = v->v.u64;
    }
    return true;
}

static bool read_tensor_info(parser *p, uint64_t i, brisk_gguf_tensor *t) {
    uint64_t at = p->pos;
    snprintf(p->ctx, sizeof p->ctx, "the name of tensor %llu", (unsigned long long)i);
    if (!take_str(p, &t->name)) return false;
    snprintf(p->ctx, sizeof p->ctx, "the info of tensor '%.*s'", SHOWN(t->name), t->name.ptr);
    if (!take_u32(p, &t->n_dims)) return false;
    if (t->n_dims < 1 || t->n_dims > BRISK_MAX_DIMS) {
        return failf(p, BRISK_ERR_FORMAT, "GGUF: tensor '%.*s' (info at offset %llu) has %u dimensions (allowed 1..%d)",
                   SHOWN(t->name), t->name.ptr, (unsigned long long)at, t->n_dims, BRISK_MAX_DIMS);
    }
    uint64_t n_el = 1;
    for (int d = 0; d < BRISK_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if ((uint32_t)d < t->n_dims && !take_u64(p, &ne)) return false;
        if (ne > (uint64_t)INT64_MAX || __builtin_mul_overflow(n_el, ne, &n_el) ||
            n_el > (uint64_t)INT64_MAX) {
            return failf(p, BRISK_ERR_FORMAT, "GGUF: tensor '%.*s' (info at offset %llu): dimension %d = %llu makes the element count overflow",
                       SHOWN(t->name), t->name.ptr, (unsigned long long)at, d, (unsigned long long)ne);
        }
        t->ne[d] = (int64_t)ne;
    }
    t->n_elements = n_el;
    uint32_t type = 0;
    if (!take_u32(p, &type)) return false;
    const brisk_type_info *ti = brisk_type_get(type);
    if (!ti) {
        return failf(p, BRISK_ERR_UNSUPPORTED, "GGUF: tensor '%.*s' (info at offset %llu) has unknown type id %u",
                   SHOWN(t->name), t->name.ptr, (unsigned long long)at, type);
    }
    t->type = (brisk_type)type;
    if (t->ne[0] % ti->block_size != 0) {
        return failf(p, BRISK_ERR_FORMAT, "GGUF: tensor '%.*s' of type %s has rows of %lld elements, not a multiple of the block size %u",
                   SHOWN(t->name), t->name.ptr, ti->name, (long long)t->ne[0], ti->block_size);
    }
    /* n_el / block_size * block_bytes cannot overflow: block_bytes <= 8 * block_size + 36. */
    if (__builtin_mul_overflow(n_el / ti->block_size, (uint64_t)ti->block_bytes, &t->n_bytes)) {
        return failf(p, BRISK_ERR_FORMAT, "GGUF: tensor '%.*s' is too large", SHOWN(t->name), t->name.ptr);
    }
    if (!take_u64(p, &t->offset)) return false;
    if (t->offset % p->g->alignment != 0) {
        return failf(p, BRISK_ERR_FORMAT, "GGUF: tensor '%.*s' data offset %llu is not a multiple of the alignment %llu",
                   SHOWN(t->name), t->name.ptr, (unsigned long long)t->offset,
                   (unsigned long long)p->g->alignment);
    }
    return true;
}

static bool read_tensors(parser *p) {
    brisk_gguf *g = p->g;
    g->tensors = own_alloc(p, g->n_tensors, sizeof *g->tensors);
    if (g->n_tensors && !g->tensors) return false;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (!read_tensor_info(p, i, &g->tensors[i])) return false;

    /* The data section starts at the next multiple of the alignment. */
    g->data_offset = (p->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors == 0) return true;
    if (g->data_offset > p->size) {
        return failf(p, BRISK_ERR_FORMAT, "GGUF truncated: the tensor data section should start at offset %llu, but the file ends at %llu",
                   (unsigned long long)g->data_offset, (unsigned long long)p->size);
    }
    uint64_t data_size = p->size - g->data_offset;
    const brisk_gguf_tensor **order = own_alloc(p, g->n_tensors, sizeof *order);
    if (!order) return false;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        brisk_gguf_tensor *t = &g->tensors[i];
        if (t->offset > data_size || t->n_bytes > data_size - t->offset) {
            return failf(p, BRISK_ERR_FORMAT, "GGUF: tensor '%.*s' data [%llu, +%llu) lies outside the file (data section is %llu bytes from offset %llu)",
                       SHOWN(t->name), t->name.ptr, (unsigned long long)t->offset,
                       (unsigned long long)t->n_bytes, (unsigned long long)data_size,
                       (unsigned long long)g->data_offset);
        }
        t->offset += g->data_offset; /* absolute from here on */
        t->data = p->base + t->offset;
        order[i] = t;
    }
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_tensor_name);
    for (uint64_t i = 1; i < g->n_tensors; i++) {
        if (cmp_str(&order[i - 1]->name, &order[i]->name) == 0) {
            return failf(p, BRISK_ERR_FORMAT, "GGUF: tensor name '%.*s' appears twice",
                         SHOWN(order[i]->name), order[i]->name.ptr);
        }
    }
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_tensor_offset);
    /* Zero-byte tensors overlap nothing: a writer puts one at the same offset
     * as the tensor after it. Compare each other tensor with the previous one. */
    const brisk_gguf_tensor *a = NULL;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const brisk_gguf_tensor *b = order[i];
        if (b->n_bytes == 0) continue;
        if (a && a->offset + a->n_bytes > b->offset) {
            return failf(p, BRISK_ERR_FORMAT, "GGUF: tensors '%.*s' [%llu, +%llu) and '%.*s' [%llu, +%llu) overlap",
                       SHOWN(a->name), a->name.ptr, (unsigned long long)a->offset, (unsigned long long)a->n_bytes,
                       SHOWN(b->name), b->name.ptr, (unsigned long long)b->offset, (unsigned long long)b->n_bytes);
        }
        a = b;
    }
    return true;
}

brisk_gguf *brisk_gguf_open_memory(const void *data, size_t size, brisk_error *err) {
    brisk_error_clear(err);
    if (!data && size) {
        brisk_fail(err, BRISK_ERR_ARG, "brisk_gguf_open_memory: NULL data");
        return NULL;
    }
    brisk_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        brisk_fail(err, BRISK_ERR_NOMEM, "out of memory opening GGUF");
        return NULL;
    }
    parser p = {.g = g, .base = data, .size = size, .err = err};
    g->base = data;
    g->size = size;
    if (!read_header(&p) || !read_metadata(&p) || !read_tensors(&p)) {
        brisk_gguf_close(g);
        return NULL;
    }
    return g;
}

brisk_gguf *brisk_gguf_open(const char *path, brisk_error *err) {
    brisk_error_clear(err);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        brisk_fail(err, BRISK_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        brisk_fail(err, BRISK_ERR_IO, "'%s' is not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size == 0) {
        brisk_fail(err, BRISK_ERR_FORMAT, "'%s' is empty, not a GGUF file", path);
        close(fd);
        return NULL;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) {
        brisk_fail(err, BRISK_ERR_IO, "cannot mmap '%s': %s", path, strerror(map_errno));
        return NULL;
    }
    brisk_gguf *g = brisk_gguf_open_memory(map, (size_t)st.st_size, err);
    if (!g) {
        /* Prefix the message with the path so the user knows which file. */
        if (err) {
            char msg[sizeof err->msg];
            memcpy(msg, err->msg, sizeof msg);
            brisk_fail(err, err->status, "%s: %.400s", path, msg);
        }
        munmap(map, (size_t)st.st_size);
        return NULL;
    }
    g->map = map;
    g->map_len = (size_t)st.st_size;
    return g;
}

void brisk_gguf_close(brisk_gguf *g) {
    if (!g) return;
    for (size_t i = 0; i < g->allocs.n; i++) free(g->allocs.ptrs[i]);
    free(g->allocs.ptrs);
    if (g->map) munmap(g->map, g->map_len);
    free(g);
}
