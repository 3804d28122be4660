/* Importance matrices: collection, GGUF file write and read (format in imatrix.h). */
#include "quality/imatrix.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

void imatrix_free(imatrix *im) {
    for (int i = 0; i < im->n; i++) {
        free(im->entries[i].name);
        free(im->entries[i].sum2);
    }
    free(im->entries);
    *im = (imatrix){0};
}

const imatrix_entry *imatrix_find(const imatrix *im, const char *name) {
    for (int i = 0; i < im->n; i++)
        if (!strcmp(im->entries[i].name, name)) return &im->entries[i];
    return NULL;
}

static imatrix_entry *new_entry(imatrix *im, const char *name, int64_t n_cols, brisk_error *err) {
    if (im->n == im->cap) {
        int cap = im->cap ? im->cap * 2 : 64;
        imatrix_entry *e = realloc(im->entries, (size_t)cap * sizeof *e);
        if (!e) { brisk_fail(err, BRISK_ERR_NOMEM, "out of memory"); return NULL; }
        im->entries = e;
        im->cap = cap;
    }
    imatrix_entry *e = &im->entries[im->n];
    *e = (imatrix_entry){.name = strdup(name), .n_cols = n_cols, .sum2 = calloc((size_t)n_cols, sizeof(double))};
    if (!e->name || !e->sum2) {
        free(e->name);
        free(e->sum2);
        brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    im->n++;
    return e;
}

brisk_status imatrix_add(imatrix *im, const char *name, const float *x, int32_t n_rows, int64_t n_cols,
                         brisk_error *err) {
    imatrix_entry *e = (imatrix_entry *)imatrix_find(im, name);
    if (!e && !(e = new_entry(im, name, n_cols, err))) return err ? err->status : BRISK_ERR_NOMEM;
    if (e->n_cols != n_cols)
        return brisk_fail(err, BRISK_ERR_ARG, "imatrix: %s seen with %lld and %lld columns", name,
                          (long long)e->n_cols, (long long)n_cols);
    for (int32_t r = 0; r < n_rows; r++) {
        const float *row = x + (int64_t)r * n_cols;
        for (int64_t i = 0; i < n_cols; i++) e->sum2[i] += (double)row[i] * row[i];
    }
    e->count += n_rows;
    return BRISK_OK;
}

void imatrix_mean_sq(const imatrix_entry *e, float *out) {
    for (int64_t i = 0; i < e->n_cols; i++) out[i] = e->count > 0 ? (float)(e->sum2[i] / e->count) : 0.0f;
}

/* ---- file ------------------------------------------------------------------------ */

static brisk_status fill(void *user, uint64_t index, void *dst, uint64_t n_bytes, brisk_error *err) {
    const imatrix *im = user;
    const imatrix_entry *e = &im->entries[index / 2];
    float *f = dst;
    if (index % 2 == 0)
        for (int64_t i = 0; i < e->n_cols; i++) f[i] = (float)e->sum2[i];
    else
        f[0] = (float)e->count;
    return BRISK_OK;
}

brisk_status imatrix_write(const imatrix *im, const char *path, const char *dataset, brisk_error *err) {
    brisk_gguf_writer *w = brisk_gguf_writer_create(3, err);
    if (!w) return err ? err->status : BRISK_ERR_NOMEM;
    brisk_status st;
    if ((st = brisk_gguf_writer_set_str(w, "general.type", "imatrix", err)) ||
        (st = brisk_gguf_writer_set_u32(w, "imatrix.chunk_count", im->chunk_count, err)) ||
        (st = brisk_gguf_writer_set_u32(w, "imatrix.chunk_size", im->chunk_size, err)) ||
        (st = brisk_gguf_writer_set_str_array(w, "imatrix.datasets", &dataset, dataset ? 1 : 0, err)))
        goto done;
    for (int i = 0; i < im->n && !st; i++) {
        char name[256];
        const imatrix_entry *e = &im->entries[i];
        int64_t ne = e->n_cols, one = 1;
        snprintf(name, sizeof name, "%s.in_sum2", e->name);
        st = brisk_gguf_writer_add_tensor_deferred(w, name, BRISK_TYPE_F32, 1, &ne, err);
        snprintf(name, sizeof name, "%s.counts", e->name);
        if (!st) st = brisk_gguf_writer_add_tensor_deferred(w, name, BRISK_TYPE_F32, 1, &one, err);
    }
    if (!st) st = brisk_gguf_writer_write_stream(w, path, fill, (void *)im, err);
done:
    brisk_gguf_writer_free(w);
    return st;
}

static bool str_suffix(brisk_str s, const char *suf, size_t *stem) {
    size_t k = strlen(suf);
    if (s.len < k || memcmp(s.ptr + s.len - k, suf, k)) return false;
    *stem = (size_t)s.len - k;
    return true;
}

brisk_status imatrix_read(imatrix *im, const char *path, brisk_error *err) {
    *im = (imatrix){0};
    brisk_gguf *g = brisk_gguf_open(path, err);
    if (!g) return err ? err->status : BRISK_ERR_IO;
    brisk_status st = BRISK_OK;
    const brisk_gguf_value *v = brisk_gguf_find(g, "general.type");
    if (!v || v->type != BRISK_GGUF_STRING || !brisk_str_eq(v->v.str, "imatrix")) {
        st = brisk_fail(err, BRISK_ERR_FORMAT, "%s: not an importance matrix (general.type is not \"imatrix\")", path);
        goto done;
    }
    uint64_t u;
    if ((v = brisk_gguf_find(g, "imatrix.chunk_count")) && brisk_gguf_value_uint(v, &u)) im->chunk_count = (uint32_t)u;
    if ((v = brisk_gguf_find(g, "imatrix.chunk_size")) && brisk_gguf_value_uint(v, &u)) im->chunk_size = (uint32_t)u;
    for (uint64_t i = 0; i < brisk_gguf_n_tensors(g) && !st; i++) {
        const brisk_gguf_tensor *t = brisk_gguf_tensor_at(g, i);
        size_t stem;
        if (!str_suffix(t->name, ".in_sum2", &stem)) continue;
        char name[256], cname[272];
        if (stem == 0 || stem >= sizeof name || memchr(t->name.ptr, 0, stem)) {
            st = brisk_fail(err, BRISK_ERR_FORMAT, "%s: tensor %llu has a bad name", path, (unsigned long long)i);
            break;
        }
        memcpy(name, t->name.ptr, stem);
        name[stem] = 0;
        snprintf(cname, sizeof cname, "%s.counts", name);
        const brisk_gguf_tensor *c = brisk_gguf_find_tensor(g, cname);
        if (t->type != BRISK_TYPE_F32 || t->n_dims != 1 || !c || c->type != BRISK_TYPE_F32 || c->n_elements != 1) {
            st = brisk_fail(err, BRISK_ERR_FORMAT, "%s: %s needs an F32 vector %s.in_sum2 and an F32 %s of one value",
                            path, name, name, cname);
            break;
        }
        if (imatrix_find(im, name)) {
            st = brisk_fail(err, BRISK_ERR_FORMAT, "%s: %s appears twice", path, name);
            break;
        }
        float count;
        memcpy(&count, c->data, 4);
        if (!isfinite(count) || count < 0) {
            st = brisk_fail(err, BRISK_ERR_FORMAT, "%s: %s has a bad row count %g", path, name, count);
            break;
        }
        imatrix_entry *e = new_entry(im, name, t->ne[0], err);
        if (!e) { st = err ? err->status : BRISK_ERR_NOMEM; break; }
        e->count = count;
        for (int64_t k = 0; k < t->ne[0]; k++) {
            float f;
            memcpy(&f, (const uint8_t *)t->data + 4 * k, 4);
            if (!isfinite(f) || f < 0) {
                st = brisk_fail(err, BRISK_ERR_FORMAT, "%s: %s column %lld holds %g (must be finite and >= 0)", path,
                                name, (long long)k, f);
                break;
            }
            e->sum2[k] = f;
        }
    }
    if (!st && im->n == 0) st = brisk_fail(err, BRISK_ERR_FORMAT, "%s: the importance matrix holds no weights", path);
done:
    if (st) imatrix_free(im);
    brisk_gguf_close(g);
    return st;
}
