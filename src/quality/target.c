/* --target-size / --target-bpw: choose a type per matrix from measured sensitivity.
 *
 * 1. Base: the input model is run on a calibration slice (windows of
 *    CALIB_CTX tokens, second half scored) and its log-probabilities kept.
 * 2. Sensitivity, one matrix at a time: the matrix alone is quantized to the
 *    smallest candidate type (Q2_K, or Q4_0 for rows that are not a multiple
 *    of 256), swapped into the otherwise unchanged model, and the mean
 *    KL(base || model) on the slice measured: S_t.
 * 3. Every candidate type c of matrix t gets its quantization error E_t(c)
 *    (importance-weighted squared error when an imatrix is given, plain
 *    otherwise; measured on a sample of rows), and the KL it would add is
 *    estimated as S_t * E_t(c) / E_t(probe) (KL grows with the squared
 *    weight error to first order: it is quadratic in small logit changes).
 * 4. The sum over matrices is minimized within the byte budget greedily: all
 *    matrices start at their smallest type, and the upgrade with the most KL
 *    removed per byte added (along each matrix's lower convex hull of
 *    (bytes, KL) points) is taken while it fits.
 * The sensitivities can be cached in a text file (--sensitivity FILE: one
 * line "name probe_type kl" per matrix), so that several targets of one
 * model measure them once; a cache that does not name every matrix of the
 * plan with the same probe type is refused.
 * The estimates assume the matrices' contributions add up, which holds for
 * small perturbations; the quality table (docs/QUALITY.md) checks the result
 * against the uniform mixes with real KL measurements. */
#include "quality/target.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "model/model.h"
#include "quality/textscore.h"

#define CALIB_CTX 64
#define ROW_SAMPLE 16 /* E_t uses every ROW_SAMPLE-th row */
#define MAX_CAND 8

static const brisk_type CAND_K[] = {BRISK_TYPE_Q2_K, BRISK_TYPE_Q3_K, BRISK_TYPE_Q4_K,
                                    BRISK_TYPE_Q5_K, BRISK_TYPE_Q6_K, BRISK_TYPE_Q8_0};
static const brisk_type CAND_32[] = {BRISK_TYPE_Q4_0, BRISK_TYPE_Q4_1, BRISK_TYPE_Q5_0, BRISK_TYPE_Q5_1,
                                     BRISK_TYPE_Q8_0};

typedef struct cand {
    brisk_type type;
    double bytes, kl;
} cand;

typedef struct tchoice {
    cand c[MAX_CAND]; /* lower convex hull, bytes increasing, kl decreasing */
    int n, at;        /* at: the chosen index */
} tchoice;

/* The model's weight named `name` (and the tied output, which shares token_embd). */
static int weights_of(brisk_model *m, const char *name, cpu_weight *out[2]) {
    int n = 0;
    if (!strcmp(name, "token_embd.weight")) {
        out[n++] = &m->tok_embd;
        if (m->output.data == m->tok_embd.data) out[n++] = &m->output;
        return n;
    }
    if (!strcmp(name, "output.weight")) {
        out[n++] = &m->output;
        return n;
    }
    int il, pos = 0;
    if (sscanf(name, "blk.%d.%n", &il, &pos) != 1 || pos == 0 || il < 0 || il >= m->hp.n_layer) return 0;
    layer_weights *l = &m->layers[il];
    const char *r = name + pos;
    cpu_weight *w = !strcmp(r, "attn_q.weight") ? &l->wq : !strcmp(r, "attn_k.weight") ? &l->wk
                  : !strcmp(r, "attn_v.weight") ? &l->wv : !strcmp(r, "attn_output.weight") ? &l->wo
                  : !strcmp(r, "ffn_gate.weight") ? &l->w_gate : !strcmp(r, "ffn_up.weight") ? &l->w_up
                  : !strcmp(r, "ffn_down.weight") ? &l->w_down : NULL;
    if (w) out[n++] = w;
    return n;
}

typedef struct calib {
    brisk_model *m;
    brisk_context *c;
    text_windows tw;
    float *base;   /* [n_scored][n_vocab] log-probabilities of the base */
    float *lq;     /* [n_vocab] */
    int n_vocab;
} calib;

/* Mean KL(base || current model) over the slice; with record, store the base instead. */
static brisk_status run_calib(calib *k, bool record, double *kl_out, brisk_error *err) {
    int scored = text_windows_scored(&k->tw);
    double kl = 0;
    int64_t idx = 0;
    for (int w = 0; w < k->tw.n_windows; w++) {
        const brisk_token *tok = text_window(&k->tw, w);
        brisk_context_truncate(k->c, 0);
        brisk_status st = brisk_eval(k->c, tok, k->tw.first, false, err);
        if (!st) st = brisk_eval(k->c, tok + k->tw.first, k->tw.n_ctx - k->tw.first, true, err);
        if (st) return st;
        for (int j = 0; j < scored; j++, idx++) {
            float *bp = k->base + idx * k->n_vocab;
            if (record) {
                textscore_log_softmax(brisk_logits(k->c, j), k->n_vocab, bp);
                continue;
            }
            textscore_log_softmax(brisk_logits(k->c, j), k->n_vocab, k->lq);
            double s = 0;
            for (int v = 0; v < k->n_vocab; v++) s += exp((double)bp[v]) * ((double)bp[v] - k->lq[v]);
            kl += s;
        }
    }
    if (kl_out) *kl_out = idx ? kl / (double)idx : 0;
    return BRISK_OK;
}

/* Quantize a whole tensor (from its input data) into dst. */
static brisk_status quantize_tensor(const quant_tensor *t, brisk_type type, void *dst, float *row, brisk_error *err) {
    int64_t ne0 = t->src->ne[0], rows = (int64_t)(t->src->n_elements / (uint64_t)ne0);
    uint64_t ib = brisk_type_row_bytes(t->src->type, ne0), ob = brisk_type_row_bytes(type, ne0);
    for (int64_t r = 0; r < rows; r++) {
        brisk_status st = brisk_dequantize(t->src->type, (const uint8_t *)t->src->data + r * ib, row, ne0, err);
        if (!st) st = brisk_quantize_weighted(type, row, (uint8_t *)dst + r * ob, ne0, t->imp, err);
        if (st) return st;
    }
    return BRISK_OK;
}

/* Weighted squared error of quantizing a sample of t's rows to type. */
static double quant_error(const quant_tensor *t, brisk_type type, float *row, float *back, void *buf) {
    int64_t ne0 = t->src->ne[0], rows = (int64_t)(t->src->n_elements / (uint64_t)ne0);
    uint64_t ib = brisk_type_row_bytes(t->src->type, ne0);
    double e = 0;
    for (int64_t r = 0; r < rows; r += ROW_SAMPLE) {
        brisk_dequantize(t->src->type, (const uint8_t *)t->src->data + r * ib, row, ne0, NULL);
        brisk_quantize_weighted(type, row, buf, ne0, t->imp, NULL);
        brisk_dequantize(type, buf, back, ne0, NULL);
        for (int64_t i = 0; i < ne0; i++) {
            double d = (double)back[i] - row[i];
            e += (t->imp ? t->imp[i] : 1.0) * d * d;
        }
    }
    return e;
}

/* Keep the lower convex hull of (bytes, kl) points sorted by bytes. */
static void convex_hull(tchoice *tc) {
    cand h[MAX_CAND];
    int n = 0;
    for (int i = 0; i < tc->n; i++) {
        cand p = tc->c[i];
        if (n && p.kl >= h[n - 1].kl) continue; /* more bytes, no less KL: never worth it */
        while (n >= 2) {
            /* slope h[n-2]->h[n-1] must be steeper (more negative) than h[n-1]->p */
            double s1 = (h[n - 1].kl - h[n - 2].kl) / (h[n - 1].bytes - h[n - 2].bytes);
            double s2 = (p.kl - h[n - 1].kl) / (p.bytes - h[n - 1].bytes);
            if (s2 <= s1) n--;
            else break;
        }
        h[n++] = p;
    }
    memcpy(tc->c, h, sizeof h);
    tc->n = n;
}

/* Read the sensitivity cache into sens[] (by plan index); false if it does not fit the plan. */
static bool read_sens(const quant_plan *p, const char *path, double *sens, bool *have, brisk_error *err) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char name[160], type[16];
    double v;
    while (fscanf(f, "%159s %15s %lf", name, type, &v) == 3) {
        for (int i = 0; i < p->n; i++)
            if (!strcmp(p->tensors[i].name, name) && isfinite(v) && v >= 0) {
                const brisk_type *c = p->tensors[i].src->ne[0] % 256 == 0 ? CAND_K : CAND_32;
                if (strcmp(brisk_type_get(c[0])->name, type)) continue;
                sens[i] = v;
                have[i] = true;
            }
    }
    fclose(f);
    for (int i = 0; i < p->n; i++)
        if (quant_plan_is_matrix(p, i) && p->tensors[i].src->ne[0] % 32 == 0 && !have[i]) {
            brisk_fail(err, BRISK_ERR_FORMAT, "%s: no sensitivity for %s (a cache of another model? remove it)", path,
                       p->tensors[i].name);
            return false;
        }
    return true;
}

brisk_status quant_target_choose(quant_plan *p, const quant_target_params *tp, brisk_error *err) {
    if (!tp->calib_path)
        return brisk_fail(err, BRISK_ERR_ARG, "--target-size/--target-bpw needs --calib TEXT (sensitivity is measured on it)");
    brisk_status st = BRISK_OK;
    calib k = {0};
    tchoice *tc = calloc((size_t)p->n, sizeof *tc);
    char *text = NULL;
    float *row = NULL, *back = NULL;
    void *qbuf = NULL, *tbuf = NULL;
    size_t len;
    double *sens = calloc((size_t)p->n + 1, sizeof *sens);
    bool *have = calloc((size_t)p->n + 1, sizeof *have), cached = false;
    if (!tc || !sens || !have) {
        free(tc);
        free(sens);
        free(have);
        return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
    }
    if (tp->sens_path) {
        brisk_error e2 = {0};
        cached = read_sens(p, tp->sens_path, sens, have, &e2);
        if (!cached && e2.status) { st = brisk_fail(err, e2.status, "%s", e2.msg); goto done; }
        if (cached && !tp->quiet) fprintf(stderr, "brisk quantize: sensitivities from %s\n", tp->sens_path);
    }
    if (!(text = textscore_read_file(tp->calib_path, &len, err))) { st = err ? err->status : BRISK_ERR_IO; goto done; }
    if (!(k.m = brisk_model_load(tp->model_path, err))) { st = err ? err->status : BRISK_ERR_IO; goto done; }
    k.n_vocab = brisk_model_n_vocab(k.m);
    int n_windows = tp->calib_tokens / CALIB_CTX > 0 ? tp->calib_tokens / CALIB_CTX : 1;
    if ((st = text_windows_make(brisk_model_vocab(k.m), text, len, CALIB_CTX, n_windows, &k.tw, err))) goto done;
    brisk_context_params cp = brisk_context_default_params();
    cp.n_ctx = CALIB_CTX;
    cp.n_threads = tp->n_threads;
    if (!(k.c = brisk_context_create(k.m, &cp, err))) { st = err ? err->status : BRISK_ERR_NOMEM; goto done; }
    int64_t n_scored = (int64_t)k.tw.n_windows * text_windows_scored(&k.tw);
    k.base = malloc((size_t)n_scored * (size_t)k.n_vocab * sizeof(float));
    k.lq = malloc((size_t)k.n_vocab * sizeof(float));
    int64_t max_ne0 = 1;
    uint64_t max_bytes = 1;
    for (int i = 0; i < p->n; i++)
        if (quant_plan_is_matrix(p, i)) {
            const brisk_gguf_tensor *s = p->tensors[i].src;
            if (s->ne[0] > max_ne0) max_ne0 = s->ne[0];
            uint64_t b = brisk_type_row_bytes(BRISK_TYPE_Q8_0, s->ne[0]) * (s->n_elements / (uint64_t)s->ne[0]);
            if (b > max_bytes) max_bytes = b;
        }
    row = malloc((size_t)max_ne0 * sizeof *row);
    back = malloc((size_t)max_ne0 * sizeof *back);
    qbuf = malloc((size_t)max_ne0 * 4);
    tbuf = malloc(max_bytes);
    if (!k.base || !k.lq || !row || !back || !qbuf || !tbuf) { st = brisk_fail(err, BRISK_ERR_NOMEM, "out of memory"); goto done; }
    if (!cached && (st = run_calib(&k, true, NULL, err))) goto done;

    int n_mat = 0;
    for (int i = 0; i < p->n; i++) n_mat += quant_plan_is_matrix(p, i);
    if (!tp->quiet)
        fprintf(stderr, "brisk quantize: measuring the sensitivity of %d matrices on %lld calibration tokens\n", n_mat,
                (long long)k.tw.n_windows * CALIB_CTX);
    double fixed_bytes = 0, matrix_params = 0;
    int done_mat = 0;
    for (int i = 0; i < p->n && !st; i++) {
        quant_tensor *t = &p->tensors[i];
        int64_t ne0 = t->src->ne[0];
        double rows = (double)(t->src->n_elements / (uint64_t)ne0);
        if (!quant_plan_is_matrix(p, i)) {
            fixed_bytes += (double)brisk_type_row_bytes(t->type, ne0) * rows;
            continue;
        }
        matrix_params += (double)t->src->n_elements;
        const brisk_type *cands = ne0 % 256 == 0 ? CAND_K : CAND_32;
        int nc = ne0 % 256 == 0 ? (int)(sizeof CAND_K / sizeof CAND_K[0]) : (int)(sizeof CAND_32 / sizeof CAND_32[0]);
        if (ne0 % 32) { /* nothing but F16 fits */
            tc[i] = (tchoice){.c = {{BRISK_TYPE_F16, 2.0 * (double)t->src->n_elements, 0}}, .n = 1};
            continue;
        }
        /* sensitivity: the smallest candidate alone in the model */
        cpu_weight *ws[2];
        int nw = weights_of(k.m, t->name, ws);
        double s_probe = 0;
        if (cached) {
            s_probe = sens[i];
        } else if (nw > 0) {
            cpu_weight saved[2] = {*ws[0], nw > 1 ? *ws[1] : *ws[0]};
            if ((st = quantize_tensor(t, cands[0], tbuf, row, err))) break;
            for (int w = 0; w < nw; w++) {
                ws[w]->type = cands[0];
                ws[w]->data = tbuf;
                ws[w]->row_bytes = brisk_type_row_bytes(cands[0], ne0);
            }
            st = run_calib(&k, false, &s_probe, err);
            for (int w = 0; w < nw; w++) *ws[w] = saved[w];
            if (st) break;
        }
        sens[i] = s_probe;
        double e_probe = quant_error(t, cands[0], row, back, qbuf);
        tchoice *c = &tc[i];
        for (int j = 0; j < nc; j++) {
            double e = j == 0 ? e_probe : quant_error(t, cands[j], row, back, qbuf);
            c->c[c->n++] = (cand){cands[j], (double)brisk_type_row_bytes(cands[j], ne0) * rows,
                                  e_probe > 0 ? s_probe * e / e_probe : 0};
        }
        convex_hull(c);
        done_mat++;
        if (!cached && !tp->quiet && (tp->force_progress || done_mat % 16 == 0 || done_mat == n_mat))
            fprintf(stderr, "  [%d/%d] %-28s KL %.5f at %s\n", done_mat, n_mat, t->name, s_probe,
                    brisk_type_get(cands[0])->name);
    }
    if (st) goto done;
    if (tp->sens_path && !cached) {
        FILE *f = fopen(tp->sens_path, "w");
        if (!f) { st = brisk_fail(err, BRISK_ERR_IO, "%s: cannot write", tp->sens_path); goto done; }
        for (int i = 0; i < p->n; i++)
            if (quant_plan_is_matrix(p, i) && p->tensors[i].src->ne[0] % 32 == 0)
                fprintf(f, "%s %s %.9g\n", p->tensors[i].name,
                        brisk_type_get((p->tensors[i].src->ne[0] % 256 == 0 ? CAND_K : CAND_32)[0])->name, sens[i]);
        if (fclose(f)) { st = brisk_fail(err, BRISK_ERR_IO, "%s: write failed", tp->sens_path); goto done; }
    }

    /* budget for the matrices */
    double budget = tp->target_bytes > 0 ? tp->target_bytes - fixed_bytes : tp->target_bpw * matrix_params / 8;
    double used = 0;
    for (int i = 0; i < p->n; i++)
        if (quant_plan_is_matrix(p, i)) used += tc[i].c[0].bytes;
    if (used > budget) {
        st = brisk_fail(err, BRISK_ERR_ARG, "the target is too small: the smallest types already need %.2f MB (%.2f bits per weight)",
                        (used + fixed_bytes) / 1e6, 8 * used / matrix_params);
        goto done;
    }
    for (;;) { /* greedy: best KL removed per byte that still fits */
        int best = -1;
        double best_gain = 0;
        for (int i = 0; i < p->n; i++) {
            tchoice *c = &tc[i];
            if (!quant_plan_is_matrix(p, i) || c->at + 1 >= c->n) continue;
            double db = c->c[c->at + 1].bytes - c->c[c->at].bytes, dk = c->c[c->at].kl - c->c[c->at + 1].kl;
            if (used + db > budget) continue;
            double g = dk / db;
            if (g > best_gain) {
                best_gain = g;
                best = i;
            }
        }
        if (best < 0) break;
        used += tc[best].c[tc[best].at + 1].bytes - tc[best].c[tc[best].at].bytes;
        tc[best].at++;
    }
    double est = 0;
    for (int i = 0; i < p->n; i++)
        if (quant_plan_is_matrix(p, i)) {
            p->tensors[i].type = tc[i].c[tc[i].at].type;
            est += tc[i].c[tc[i].at].kl;
        }
    if (!tp->quiet)
        fprintf(stderr, "brisk quantize: target: %.2f MB of matrices (%.3f bits per weight), estimated KL %.5f\n",
                used / 1e6, 8 * used / matrix_params, est);
done:
    free(tc);
    free(sens);
    free(have);
    free(text);
    free(row);
    free(back);
    free(qbuf);
    free(tbuf);
    free(k.base);
    free(k.lq);
    text_windows_free(&k.tw);
    brisk_context_free(k.c);
    brisk_model_free(k.m);
    return st;
}
