/* JSON in (template variables, through jansson) and out (tojson, written as
 * Python's json.dumps writes it, which is what Hugging Face's tojson calls). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "template/tmpl.h"

#define JSON_MAX_DEPTH 1000 /* Python's recursion limit is about this */

typedef struct json_out {
    tmpl_state *st;
    tbuf *b;
    bool ensure_ascii, sort_keys;
    int indent; /* -1: one line */
    const char *item_sep, *key_sep;
} json_out;

static uint32_t utf8_decode(const unsigned char *s, size_t n, size_t *len) {
    unsigned char c = s[0];
    size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (k > n) k = n;
    *len = k;
    if (k == 1) return c;
    uint32_t cp = c & (0x3F >> (k - 1));
    for (size_t i = 1; i < k; i++) cp = cp << 6 | (s[i] & 0x3F);
    return cp;
}

static void json_write_string(json_out *o, const char *s, size_t n) {
    tbuf *b = o->b;
    tbuf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') { tbuf_puts(b, "\\\""); i++; }
        else if (c == '\\') { tbuf_puts(b, "\\\\"); i++; }
        else if (c == '\n') { tbuf_puts(b, "\\n"); i++; }
        else if (c == '\r') { tbuf_puts(b, "\\r"); i++; }
        else if (c == '\t') { tbuf_puts(b, "\\t"); i++; }
        else if (c == '\b') { tbuf_puts(b, "\\b"); i++; }
        else if (c == '\f') { tbuf_puts(b, "\\f"); i++; }
        else if (c < 0x20) { tbuf_printf(b, "\\u%04x", c); i++; }
        else if (c < 0x80 || !o->ensure_ascii) { tbuf_putc(b, (char)c); i++; }
        else {
            size_t len;
            uint32_t cp = utf8_decode((const unsigned char *)s + i, n - i, &len);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                tbuf_printf(b, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                tbuf_printf(b, "\\u%04x", cp);
            }
            i += len;
        }
    }
    tbuf_putc(b, '"');
}

static void json_float(json_out *o, double f) {
    if (isnan(f)) { tbuf_puts(o->b, "NaN"); return; }
    if (isinf(f)) { tbuf_puts(o->b, f < 0 ? "-Infinity" : "Infinity"); return; }
    char tmp[40];
    tmpl_format_float(f, tmp);
    tbuf_puts(o->b, tmp);
}

static void newline(json_out *o, int level) {
    if (o->indent < 0) return;
    tbuf_putc(o->b, '\n');
    for (int i = 0; i < level * o->indent; i++) tbuf_putc(o->b, ' ');
}

/* A dict key as json.dumps converts it. */
static void json_key(json_out *o, tval k) {
    switch (k.t) {
    case TV_STRING: json_write_string(o, k.u.s->s, k.u.s->len); return;
    case TV_INT: tbuf_printf(o->b, "\"%lld\"", (long long)k.u.i); return;
    case TV_BOOL: tbuf_puts(o->b, k.u.b ? "\"true\"" : "\"false\""); return;
    case TV_NONE: tbuf_puts(o->b, "\"null\""); return;
    case TV_FLOAT: {
        tbuf_putc(o->b, '"');
        json_float(o, k.u.f);
        tbuf_putc(o->b, '"');
        return;
    }
    default: tmpl_fail(o->st, "keys must be str, int, float, bool or None, not %s", tv_type_name(k));
    }
}

static void json_value(json_out *o, tval v, int level) {
    if (level > JSON_MAX_DEPTH) tmpl_fail(o->st, "tojson: the value nests too deeply (or contains itself)");
    switch (v.t) {
    case TV_NONE: tbuf_puts(o->b, "null"); return;
    case TV_BOOL: tbuf_puts(o->b, v.u.b ? "true" : "false"); return;
    case TV_INT: tbuf_printf(o->b, "%lld", (long long)v.u.i); return;
    case TV_FLOAT: json_float(o, v.u.f); return;
    case TV_STRING: json_write_string(o, v.u.s->s, v.u.s->len); return;
    case TV_LIST:
        if (v.u.l->gen) break;
        if (v.u.l->n == 0) { tbuf_puts(o->b, "[]"); return; }
        tbuf_putc(o->b, '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) tbuf_puts(o->b, o->item_sep);
            newline(o, level + 1);
            json_value(o, v.u.l->items[i], level + 1);
        }
        newline(o, level);
        tbuf_putc(o->b, ']');
        return;
    case TV_DICT: {
        const tdict *d = v.u.d;
        if (d->n == 0) { tbuf_puts(o->b, "{}"); return; }
        size_t *order = tmpl_alloc(o->st, d->n * sizeof *order);
        for (size_t i = 0; i < d->n; i++) order[i] = i;
        if (o->sort_keys) /* insertion sort, stable; keys must be comparable */
            for (size_t i = 1; i < d->n; i++)
                for (size_t j = i; j > 0 && tv_compare(o->st, d->keys[order[j]], d->keys[order[j - 1]], "<") < 0; j--) {
                    size_t t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
                }
        tbuf_putc(o->b, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i) tbuf_puts(o->b, o->item_sep);
            newline(o, level + 1);
            json_key(o, d->keys[order[i]]);
            tbuf_puts(o->b, o->key_sep);
            json_value(o, d->vals[order[i]], level + 1);
        }
        newline(o, level);
        tbuf_putc(o->b, '}');
        return;
    }
    default: break;
    }
    tmpl_fail(o->st, "Object of type %s is not JSON serializable", tv_type_name(v));
}

void tmpl_tojson(tmpl_state *st, tval v, tbuf *b, bool ensure_ascii, int indent, const char *item_sep,
                 const char *key_sep, bool sort_keys) {
    json_out o = {.st = st, .b = b, .ensure_ascii = ensure_ascii, .sort_keys = sort_keys, .indent = indent,
                  .item_sep = item_sep, .key_sep = key_sep};
    json_value(&o, v, 0);
}

/* ---- input ------------------------------------------------------------------------------ */
static tval from_json(tmpl_state *st, json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        tval d = tv_dict(st);
        const char *key;
        json_t *value;
        json_object_foreach(j, key, value) tdict_set(st, d.u.d, tv_cstr(st, key), from_json(st, value));
        return d;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        tval l = tv_list(st, n, false);
        for (size_t i = 0; i < n; i++) l.u.l->items[i] = from_json(st, json_array_get(j, i));
        return l;
    }
    case JSON_STRING: return tv_str(st, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return tv_int((int64_t)json_integer_value(j));
    case JSON_REAL: return tv_float(json_real_value(j));
    case JSON_TRUE: return tv_bool(true);
    case JSON_FALSE: return tv_bool(false);
    default: return tv_none();
    }
}

void tmpl_json_vars(tmpl_state *st, const char *vars_json, tframe *frame) {
    json_error_t jerr;
    json_t *root = json_loads(vars_json, JSON_ALLOW_NUL, &jerr);
    if (!root) tmpl_fail_at(st, 0, 0, "variables: bad JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    st->json_root = root; /* released by the render entry, also on error */
    if (!json_is_object(root)) tmpl_fail_at(st, 0, 0, "variables: the JSON must be an object");
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) tmpl_frame_set(st, frame, key, from_json(st, value));
    json_decref(root);
    st->json_root = NULL;
}

void json_decref_ptr(void *j) { json_decref((json_t *)j); }
