/* GGUF writer: collects metadata (serialized as it is set) and tensor
 * references, then writes the file in one pass to PATH.tmp and renames it into
 * place, so a failed write never leaves a half-written file under PATH. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "gguf/gguf_internal.h"
#include "quant/quant.h"

#define DEFAULT_ALIGNMENT 32

/* A growable byte buffer; `oom` sticks once an allocation fails. */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
    if (b->oom || n == 0) return; /* src may be NULL when n is 0 */
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_str(bytes *b, const char *s, uint64_t len) { put_u64(b, len); put(b, s, (size_t)len); }

typedef struct wkv {
    char *key;
    bytes value; /* u32 type + encoded value */
} wkv;

typedef struct wtensor {
    char *name;
    brisk_type type;
    uint32_t n_dims;
    int64_t ne[BRISK_MAX_DIMS];
    uint64_t n_bytes;
    const void *data;
    bool deferred; /* data comes from the fill callback of brisk_gguf_writer_write_stream */
} wtensor;

struct brisk_gguf_writer {
    uint32_t version;
    uint64_t alignment;
    wkv *kvs;
    size_t n_kv, cap_kv;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
};

brisk_gguf_writer *brisk_gguf_writer_create(uint32_t version, brisk_error *err) {
    if (version != 2 && version != 3) {
        brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: version %u (2 or 3 supported)", version);
        return NULL;
    }
    brisk_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) {
        brisk_fail(err, BRISK_ERR_NOMEM, "out of memory creating a GGUF writer");
        return NULL;
    }
    w->version = version;
    w->alignment = DEFAULT_ALIGNMENT;
    return w;
}

void brisk_gguf_writer_free(brisk_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].value.p);
    }
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->kvs);
    free(w->tensors);
    free(w);
}

/* An integer value that does not fit its type is refused, not truncated. */
static brisk_status check_int_range(const brisk_gguf_value *v, brisk_error *err) {
    unsigned bits = 8 * (unsigned)gguf_scalar_size(v->type);
    if (bits == 64) return BRISK_OK;
    if (v->type == BRISK_GGUF_UINT8 || v->type == BRISK_GGUF_UINT16 || v->type == BRISK_GGUF_UINT32) {
        if (v->v.u64 >> bits == 0) return BRISK_OK;
        return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: %llu does not fit in a %s",
                          (unsigned long long)v->v.u64, brisk_gguf_type_name(v->type));
    }
    int64_t lim = (int64_t)1 << (bits - 1);
    if (v->v.i64 >= -lim && v->v.i64 < lim) return BRISK_OK;
    return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: %lld does not fit in an %s",
                      (long long)v->v.i64, brisk_gguf_type_name(v->type));
}

/* Append the encoding of v (without its leading type for array elements of
 * scalar/string type, which the array header carries). */
static brisk_status encode_value(bytes *b, const brisk_gguf_value *v, bool with_type,
                                 int depth, brisk_error *err) {
    if (depth > GGUF_MAX_ARRAY_DEPTH)
        return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: arrays nested deeper than %d",
                          GGUF_MAX_ARRAY_DEPTH);
    if ((unsigned)v->type >= BRISK_GGUF_TYPE_COUNT)
        return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: unknown value type %d", (int)v->type);
    if (with_type) put_u32(b, (uint32_t)v->type);
    switch (v->type) {
    case BRISK_GGUF_UINT8: case BRISK_GGUF_UINT16: case BRISK_GGUF_UINT32: case BRISK_GGUF_UINT64:
    case BRISK_GGUF_INT8: case BRISK_GGUF_INT16: case BRISK_GGUF_INT32: case BRISK_GGUF_INT64:
        if (check_int_range(v, err)) return BRISK_ERR_ARG;
        /* little-endian: the low bytes of the 64-bit value are the narrow value */
        put(b, &v->v.u64, gguf_scalar_size(v->type));
        break;
    case BRISK_GGUF_FLOAT32: { float f = (float)v->v.f64; put(b, &f, 4); break; }
    case BRISK_GGUF_FLOAT64: put(b, &v->v.f64, 8); break;
    case BRISK_GGUF_BOOL: { uint8_t x = v->v.b ? 1 : 0; put(b, &x, 1); break; }
    case BRISK_GGUF_STRING: put_str(b, v->v.str.ptr, v->v.str.len); break;
    case BRISK_GGUF_ARRAY: {
        brisk_gguf_type et = v->v.arr.elem_type;
        if ((unsigned)et >= BRISK_GGUF_TYPE_COUNT)
            return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: unknown array element type %d", (int)et);
        put_u32(b, (uint32_t)et);
        put_u64(b, v->v.arr.n);
        size_t scalar = gguf_scalar_size(et);
        if (scalar) {
            if (v->v.arr.n && !v->v.arr.raw)
                return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: array without data");
            if (et == BRISK_GGUF_BOOL) {
                const uint8_t *src = v->v.arr.raw;
                for (uint64_t i = 0; i < v->v.arr.n; i++) {
                    uint8_t x = src[i] ? 1 : 0;
                    put(b, &x, 1);
                }
            } else {
                put(b, v->v.arr.raw, (size_t)(v->v.arr.n * scalar));
            }
        } else if (et == BRISK_GGUF_STRING) {
            for (uint64_t i = 0; i < v->v.arr.n; i++)
                put_str(b, v->v.arr.strs[i].ptr, v->v.arr.strs[i].len);
        } else {
            for (uint64_t i = 0; i < v->v.arr.n; i++) {
                /* nested arrays carry no per-element type: the header says ARRAY */
                if (v->v.arr.items[i].type != BRISK_GGUF_ARRAY)
                    return brisk_fail(err, BRISK_ERR_ARG,
                                      "GGUF writer: element %llu of an array of arrays is a %s",
                                      (unsigned long long)i, brisk_gguf_type_name(v->v.arr.items[i].type));
                brisk_status s = encode_value(b, &v->v.arr.items[i], false, depth + 1, err);
                if (s) return s;
            }
        }
        break;
    }
    case BRISK_GGUF_TYPE_COUNT: break;
    }
    if (b->oom) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory encoding GGUF metadata");
    return BRISK_OK;
}

brisk_status brisk_gguf_writer_set(brisk_gguf_writer *w, const char *key,
                                   const brisk_gguf_value *value, brisk_error *err) {
    size_t klen = key ? strlen(key) : 0;
    if (klen == 0 || klen > 65535)
        return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: key length must be 1..65535");
    if (strcmp(key, "general.alignment") == 0) {
        uint64_t a = value->v.u64;
        if (value->type != BRISK_GGUF_UINT32 || a == 0 || (a & (a - 1)))
            return brisk_fail(err, BRISK_ERR_ARG,
                              "GGUF writer: general.alignment must be a uint32 power of two");
    }
    bytes enc = {0};
    brisk_status s = encode_value(&enc, value, true, 0, err);
    if (s) { free(enc.p); return s; }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, key) == 0) { /* replace in place: order is kept */
            free(w->kvs[i].value.p);
            w->kvs[i].value = enc;
            if (strcmp(key, "general.alignment") == 0) w->alignment = value->v.u64;
            return BRISK_OK;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *kvs = realloc(w->kvs, cap * sizeof *kvs);
        if (!kvs) { free(enc.p); return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory"); }
        w->kvs = kvs;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) { free(enc.p); return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory"); }
    w->kvs[w->n_kv++] = (wkv){k, enc};
    if (strcmp(key, "general.alignment") == 0) w->alignment = value->v.u64;
    return BRISK_OK;
}

brisk_status brisk_gguf_writer_set_u32(brisk_gguf_writer *w, const char *key, uint32_t v,
                                       brisk_error *err) {
    brisk_gguf_value val = {.type = BRISK_GGUF_UINT32, .v.u64 = v};
    return brisk_gguf_writer_set(w, key, &val, err);
}

brisk_status brisk_gguf_writer_set_str(brisk_gguf_writer *w, const char *key, const char *s,
                                       brisk_error *err) {
    brisk_gguf_value val = {.type = BRISK_GGUF_STRING, .v.str = {s, strlen(s)}};
    return brisk_gguf_writer_set(w, key, &val, err);
}

brisk_status brisk_gguf_writer_set_array(brisk_gguf_writer *w, const char *key,
                                         brisk_gguf_type elem_type, const void *data,
                                         uint64_t n, brisk_error *err) {
    if (!gguf_scalar_size(elem_type))
        return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: set_array takes scalar elements");
    brisk_gguf_value val = {.type = BRISK_GGUF_ARRAY};
    val.v.arr.elem_type = elem_type;
    val.v.arr.n = n;
    val.v.arr.raw = data;
    return brisk_gguf_writer_set(w, key, &val, err);
}

brisk_status brisk_gguf_writer_set_str_array(brisk_gguf_writer *w, const char *key,
                                             const char *const *strs, uint64_t n,
                                             brisk_error *err) {
    brisk_str *tmp = n ? malloc((size_t)n * sizeof *tmp) : NULL;
    if (n && !tmp) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++) tmp[i] = (brisk_str){strs[i], strlen(strs[i])};
    brisk_gguf_value val = {.type = BRISK_GGUF_ARRAY};
    val.v.arr.elem_type = BRISK_GGUF_STRING;
    val.v.arr.n = n;
    val.v.arr.strs = tmp;
    brisk_status s = brisk_gguf_writer_set(w, key, &val, err);
    free(tmp);
    return s;
}

static brisk_status add_tensor(brisk_gguf_writer *w, const char *name, brisk_type type,
                               uint32_t n_dims, const int64_t *ne, const void *data,
                               bool deferred, brisk_error *err) {
    const brisk_type_info *ti = brisk_type_get(type);
    if (!name || !*name) return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: empty tensor name");
    if (!ti) return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: tensor '%s' has unknown type %d", name, (int)type);
    if (n_dims < 1 || n_dims > BRISK_MAX_DIMS)
        return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: tensor '%s' has %u dims (1..%d)", name, n_dims, BRISK_MAX_DIMS);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: tensor '%s' added twice", name);
    wtensor t = {.type = type, .n_dims = n_dims, .data = data, .deferred = deferred};
    uint64_t n_el = 1;
    for (uint32_t d = 0; d < BRISK_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 0 || __builtin_mul_overflow(n_el, (uint64_t)t.ne[d], &n_el) ||
            n_el > (uint64_t)INT64_MAX)
            return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: tensor '%s' has a bad shape", name);
    }
    if (t.ne[0] % ti->block_size)
        return brisk_fail(err, BRISK_ERR_ARG,
                          "GGUF writer: tensor '%s' rows of %lld are not a multiple of the %s block size %u",
                          name, (long long)t.ne[0], ti->name, ti->block_size);
    if (__builtin_mul_overflow(n_el / ti->block_size, (uint64_t)ti->block_bytes, &t.n_bytes))
        return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: tensor '%s' is too large", name);
    if (t.n_bytes && !data && !deferred)
        return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: tensor '%s' has no data", name);
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        wtensor *ts = realloc(w->tensors, cap * sizeof *ts);
        if (!ts) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
        w->tensors = ts;
        w->cap_tensors = cap;
    }
    t.name = strdup(name);
    if (!t.name) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
    w->tensors[w->n_tensors++] = t;
    return BRISK_OK;
}

brisk_status brisk_gguf_writer_add_tensor(brisk_gguf_writer *w, const char *name,
                                          brisk_type type, uint32_t n_dims, const int64_t *ne,
                                          const void *data, brisk_error *err) {
    return add_tensor(w, name, type, n_dims, ne, data, false, err);
}

brisk_status brisk_gguf_writer_add_tensor_deferred(brisk_gguf_writer *w, const char *name,
                                                   brisk_type type, uint32_t n_dims,
                                                   const int64_t *ne, brisk_error *err) {
    return add_tensor(w, name, type, n_dims, ne, NULL, true, err);
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Header, metadata and tensor infos, padded to the alignment. */
static brisk_status encode_header(const brisk_gguf_writer *w, bytes *b, brisk_error *err) {
    put(b, "GGUF", 4);
    put_u32(b, w->version);
    put_u64(b, w->n_tensors);
    put_u64(b, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(b, w->kvs[i].key, strlen(w->kvs[i].key));
        put(b, w->kvs[i].value.p, w->kvs[i].value.len);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        put_str(b, t->name, strlen(t->name));
        put_u32(b, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(b, (uint64_t)t->ne[d]);
        put_u32(b, (uint32_t)t->type);
        put_u64(b, offset);
        offset += align_up(t->n_bytes, w->alignment);
    }
    static const uint8_t zeros[256];
    size_t pad = (size_t)(align_up(b->len, w->alignment) - b->len);
    while (pad) {
        size_t k = pad < sizeof zeros ? pad : sizeof zeros;
        put(b, zeros, k);
        pad -= k;
    }
    if (b->oom) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory writing the GGUF header");
    return BRISK_OK;
}

static bool write_all(FILE *f, const void *p, uint64_t n) {
    return n == 0 || fwrite(p, 1, (size_t)n, f) == n;
}

/* Writes the file; deferred tensors are produced one at a time into one
 * buffer (the largest deferred tensor's size) by fill. */
static brisk_status write_file(brisk_gguf_writer *w, const char *path, brisk_gguf_fill_fn fill,
                               void *user, brisk_error *err) {
    uint64_t max_deferred = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        if (!t->deferred) continue;
        if (!fill)
            return brisk_fail(err, BRISK_ERR_ARG,
                              "GGUF writer: tensor '%s' was added without data (use brisk_gguf_writer_write_stream)",
                              t->name);
        if (t->n_bytes > max_deferred) max_deferred = t->n_bytes;
    }
    if (max_deferred > SIZE_MAX)
        return brisk_fail(err, BRISK_ERR_NOMEM, "GGUF writer: a tensor of %llu bytes does not fit in memory",
                          (unsigned long long)max_deferred);
    uint8_t *buf = NULL;
    if (max_deferred && !(buf = malloc((size_t)max_deferred)))
        return brisk_fail(err, BRISK_ERR_NOMEM, "GGUF writer: out of memory for a tensor of %llu bytes",
                          (unsigned long long)max_deferred);
    bytes header = {0};
    brisk_status s = encode_header(w, &header, err);
    if (s) { free(header.p); free(buf); return s; }

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) { free(header.p); return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory"); }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    FILE *f = fopen(tmp, "wb");
    if (!f) {
        s = brisk_fail(err, BRISK_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        free(header.p);
        free(tmp);
        free(buf);
        return s;
    }
    static const uint8_t zeros[256];
    bool ok = write_all(f, header.p, header.len);
    brisk_status fill_status = BRISK_OK;
    for (size_t i = 0; ok && i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        const void *data = t->data;
        if (t->deferred) {
            fill_status = fill(user, (uint64_t)i, buf, t->n_bytes, err);
            if (fill_status) { ok = false; break; }
            data = buf;
        }
        ok = write_all(f, data, t->n_bytes);
        uint64_t pad = align_up(t->n_bytes, w->alignment) - t->n_bytes;
        while (ok && pad) {
            uint64_t k = pad < sizeof zeros ? pad : sizeof zeros;
            ok = write_all(f, zeros, k);
            pad -= k;
        }
    }
    int write_errno = errno;
    if (fclose(f) != 0 && ok) { ok = false; write_errno = errno; }
    if (ok && rename(tmp, path) != 0) {
        write_errno = errno;
        ok = false;
    }
    if (!ok) {
        remove(tmp);
        /* a failing fill callback has already said what went wrong */
        s = fill_status ? fill_status
                        : brisk_fail(err, BRISK_ERR_IO, "writing '%s' failed: %s", path, strerror(write_errno));
    }
    free(header.p);
    free(tmp);
    free(buf);
    return s;
}

brisk_status brisk_gguf_writer_write(brisk_gguf_writer *w, const char *path, brisk_error *err) {
    return write_file(w, path, NULL, NULL, err);
}

brisk_status brisk_gguf_writer_write_stream(brisk_gguf_writer *w, const char *path,
                                            brisk_gguf_fill_fn fill, void *user, brisk_error *err) {
    if (!fill) return brisk_fail(err, BRISK_ERR_ARG, "GGUF writer: write_stream needs a fill function");
    return write_file(w, path, fill, user, err);
}
