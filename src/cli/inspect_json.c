/* `brisk inspect --json`: the same information as the text view, as one JSON
 * object:
 *   {"file", "version", "alignment", "data_offset", "file_size",
 *    "metadata": [{"key", "type", "value", ["elem_type", "count"], "truncated"}],
 *    "tensors": [{"name", "type", "shape", "n_elements", "bytes", "offset"}],
 *    "totals": {"parameters", "bytes", "bits_per_weight"}}
 * Arrays and strings are abbreviated unless --full ("truncated": true then).
 * Invalid UTF-8 in the file is replaced by U+FFFD; NaN/Inf floats become strings. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/inspect.h"

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* A JSON string of s (bytes [0, n)), invalid UTF-8 replaced by U+FFFD. */
static json_t *json_str(brisk_str s, uint64_t n) {
    const unsigned char *p = (const unsigned char *)s.ptr;
    char *buf = malloc((size_t)n * 3 + 1); /* each bad byte grows to 3 */
    if (!buf) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(p + i, (size_t)n - i);
        if (k) {
            memcpy(buf + o, p + i, k);
            o += k;
            i += k;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

static json_t *json_float(double f) {
    if (isnan(f)) return json_string("nan");
    if (isinf(f)) return json_string(f > 0 ? "inf" : "-inf");
    return json_real(f);
}

static json_t *json_value(const brisk_gguf_value *v, bool full, bool *truncated) {
    switch (v->type) {
    case BRISK_GGUF_UINT8: case BRISK_GGUF_UINT16: case BRISK_GGUF_UINT32: case BRISK_GGUF_UINT64:
        if (v->v.u64 > (uint64_t)INT64_MAX) return json_real((double)v->v.u64);
        return json_integer((json_int_t)v->v.u64);
    case BRISK_GGUF_INT8: case BRISK_GGUF_INT16: case BRISK_GGUF_INT32: case BRISK_GGUF_INT64:
        return json_integer((json_int_t)v->v.i64);
    case BRISK_GGUF_FLOAT32: case BRISK_GGUF_FLOAT64: return json_float(v->v.f64);
    case BRISK_GGUF_BOOL: return json_boolean(v->v.b);
    case BRISK_GGUF_STRING: {
        uint64_t n = full ? v->v.str.len : inspect_utf8_prefix(v->v.str, INSPECT_MAX_STRING_BYTES);
        if (n < v->v.str.len) *truncated = true;
        return json_str(v->v.str, n);
    }
    case BRISK_GGUF_ARRAY: {
        json_t *arr = json_array();
        uint64_t n = v->v.arr.n;
        if (!full && n > INSPECT_MAX_ARRAY_ITEMS) {
            n = INSPECT_MAX_ARRAY_ITEMS;
            *truncated = true;
        }
        for (uint64_t i = 0; arr && i < n; i++) {
            brisk_gguf_value e;
            brisk_gguf_array_get(v, i, &e);
            json_array_append_new(arr, json_value(&e, full, truncated));
        }
        return arr;
    }
    default: return json_null();
    }
}

static json_t *json_metadata(const brisk_gguf *g, bool full) {
    json_t *list = json_array();
    for (uint64_t i = 0; i < brisk_gguf_n_kv(g); i++) {
        const brisk_gguf_kv *kv = brisk_gguf_kv_at(g, i);
        bool truncated = false;
        json_t *o = json_object();
        json_object_set_new(o, "key", json_str(kv->key, kv->key.len));
        json_object_set_new(o, "type", json_string(brisk_gguf_type_name(kv->value.type)));
        if (kv->value.type == BRISK_GGUF_ARRAY) {
            json_object_set_new(o, "elem_type",
                                json_string(brisk_gguf_type_name(kv->value.v.arr.elem_type)));
            json_object_set_new(o, "count", json_integer((json_int_t)kv->value.v.arr.n));
        }
        json_object_set_new(o, "value", json_value(&kv->value, full, &truncated));
        json_object_set_new(o, "truncated", json_boolean(truncated));
        json_array_append_new(list, o);
    }
    return list;
}

static json_t *json_tensors(const brisk_gguf *g) {
    json_t *list = json_array();
    for (uint64_t i = 0; i < brisk_gguf_n_tensors(g); i++) {
        const brisk_gguf_tensor *t = brisk_gguf_tensor_at(g, i);
        const brisk_type_info *ti = brisk_type_get(t->type);
        json_t *shape = json_array();
        for (uint32_t d = 0; d < t->n_dims; d++) json_array_append_new(shape, json_integer(t->ne[d]));
        json_t *o = json_object();
        json_object_set_new(o, "name", json_str(t->name, t->name.len));
        json_object_set_new(o, "type", json_string(ti ? ti->name : "?"));
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "n_elements", json_integer((json_int_t)t->n_elements));
        json_object_set_new(o, "bytes", json_integer((json_int_t)t->n_bytes));
        json_object_set_new(o, "offset", json_integer((json_int_t)t->offset));
        json_array_append_new(list, o);
    }
    return list;
}

int inspect_print_json(FILE *out, const brisk_gguf *g, const char *path, bool full) {
    inspect_totals tot = inspect_compute_totals(g);
    json_t *totals = json_object();
    json_object_set_new(totals, "parameters", json_integer((json_int_t)tot.n_params));
    json_object_set_new(totals, "bytes", json_integer((json_int_t)tot.n_bytes));
    json_object_set_new(totals, "bits_per_weight", json_real(tot.bits_per_weight));

    json_t *root = json_object();
    json_object_set_new(root, "file", json_string(path));
    json_object_set_new(root, "version", json_integer(brisk_gguf_version(g)));
    json_object_set_new(root, "alignment", json_integer((json_int_t)brisk_gguf_alignment(g)));
    json_object_set_new(root, "data_offset", json_integer((json_int_t)brisk_gguf_data_offset(g)));
    json_object_set_new(root, "file_size", json_integer((json_int_t)brisk_gguf_file_size(g)));
    json_object_set_new(root, "metadata", json_metadata(g, full));
    json_object_set_new(root, "tensors", json_tensors(g));
    json_object_set_new(root, "totals", totals);
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    fputc('\n', out);
    json_decref(root);
    if (rc != 0) {
        fprintf(stderr, "brisk inspect: could not write JSON\n");
        return 1;
    }
    return 0;
}
