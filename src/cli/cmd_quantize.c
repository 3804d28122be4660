/* brisk quantize IN.gguf OUT.gguf TYPE [--imatrix FILE] [--pure] [--target-size SIZE | --target-bpw B]
 *
 * Re-writes a model with its matrices in the types a recipe gives them
 * (src/quant/mix.h: Q4_K_M and friends), or, with --target-size/--target-bpw,
 * in per-tensor types chosen from measured sensitivity (src/quality/target.h).
 * Every metadata key is copied; general.file_type and
 * general.quantization_version are set. 1-D tensors (norms, biases) are kept
 * as they are. Input tensors are dequantized row by row (any type brisk can
 * read: F32, F16, BF16, or an already quantized file, with a warning) and
 * quantized on all threads; memory stays at one output tensor (streamed
 * writer). With --imatrix the K-quant searches weight each column by the
 * mean square activation it meets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "brisk.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "quality/imatrix.h"
#include "quant/mix.h"
#include "quality/target.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: brisk quantize [options] IN.gguf OUT.gguf TYPE\n"
            "Quantizes a model (F32/F16/BF16; a quantized input is re-quantized with a warning).\n"
            "  TYPE             %s\n"
            "                   (mixes as llama.cpp's file types: see src/quant/mix.h)\n"
            "  --imatrix FILE   importance matrix from `brisk imatrix` (weights the K-quant search)\n"
            "  --pure           every matrix in TYPE's base type (no mix rules)\n"
            "  --target-size S  choose a type per tensor to fit S bytes of tensors (suffix K, M, G: 1000s)\n"
            "  --target-bpw B   the same, as bits per weight of the matrices\n"
            "  --calib FILE     text on which --target-* measures sensitivity (needed by them)\n"
            "  --calib-tokens N tokens of it to use (default 256, in windows of 64)\n"
            "  --sensitivity F  cache of the measured sensitivities: read when F exists, else written\n"
            "  -t, --threads N  threads (default: all cores)\n"
            "  --progress       progress bar even when stderr is not a terminal\n"
            "  -q, --quiet      no progress or summary\n",
            quant_recipe_list());
}

/* ---- the work of one tensor ------------------------------------------------------- */

typedef struct quant_job {
    const quant_plan *plan;
    const brisk_gguf_tensor *src;
    brisk_type type;
    const float *imp;    /* [ne0] or NULL */
    uint8_t *dst;
    int64_t n_rows, ne0;
    brisk_status status[64];
    brisk_error err[64];
} quant_job;

static void quant_rows(void *arg, int ith, int nth) {
    quant_job *j = arg;
    long r0, r1;
    threadpool_slice((long)j->n_rows, ith, nth, &r0, &r1);
    float *row = malloc((size_t)j->ne0 * sizeof *row);
    if (!row) {
        j->status[ith] = BRISK_ERR_NOMEM;
        snprintf(j->err[ith].msg, sizeof j->err[ith].msg, "out of memory");
        return;
    }
    uint64_t in_bytes = brisk_type_row_bytes(j->src->type, j->ne0), out_bytes = brisk_type_row_bytes(j->type, j->ne0);
    for (long r = r0; r < r1 && !j->status[ith]; r++) {
        const uint8_t *in = (const uint8_t *)j->src->data + (uint64_t)r * in_bytes;
        j->status[ith] = brisk_dequantize(j->src->type, in, row, j->ne0, &j->err[ith]);
        if (!j->status[ith])
            j->status[ith] = brisk_quantize_weighted(j->type, row, j->dst + (uint64_t)r * out_bytes, j->ne0, j->imp,
                                                     &j->err[ith]);
    }
    free(row);
}

typedef struct write_job {
    const quant_plan *plan;
    threadpool *tp;
    cli_progress progress;
    double done, total;
} write_job;

static brisk_status fill(void *user, uint64_t index, void *dst, uint64_t n_bytes, brisk_error *err) {
    write_job *w = user;
    const quant_tensor *t = &w->plan->tensors[index];
    if (t->type == t->src->type) {
        memcpy(dst, t->src->data, n_bytes);
    } else {
        quant_job *j = calloc(1, sizeof *j);
        if (!j) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
        *j = (quant_job){.plan = w->plan, .src = t->src, .type = t->type, .imp = t->imp, .dst = dst,
                         .n_rows = (int64_t)(t->src->n_elements / (uint64_t)t->src->ne[0]), .ne0 = t->src->ne[0]};
        threadpool_run(w->tp, quant_rows, j);
        brisk_status st = BRISK_OK;
        for (int i = 0; i < threadpool_size(w->tp) && !st; i++)
            if (j->status[i]) st = brisk_fail(err, j->status[i], "tensor %s: %s", t->name, j->err[i].msg);
        free(j);
        if (st) return st;
    }
    w->done += (double)t->src->n_elements;
    cli_progress_update(&w->progress, w->done, w->total, t->name);
    return BRISK_OK;
}

/* ---- command ------------------------------------------------------------------------ */

static bool parse_size(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    double mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1e3, end++;
    else if (*end == 'M' || *end == 'm') mul = 1e6, end++;
    else if (*end == 'G' || *end == 'g') mul = 1e9, end++;
    if (end == s || *end || !(v > 0)) return false;
    *out = v * mul;
    return true;
}

static brisk_status copy_metadata(brisk_gguf_writer *w, const brisk_gguf *g, const quant_recipe *r, brisk_error *err) {
    for (uint64_t i = 0; i < brisk_gguf_n_kv(g); i++) {
        const brisk_gguf_kv *kv = brisk_gguf_kv_at(g, i);
        char key[512];
        if (kv->key.len >= sizeof key || memchr(kv->key.ptr, 0, kv->key.len))
            return brisk_fail(err, BRISK_ERR_FORMAT, "metadata key %llu is too long or holds a NUL byte",
                                     (unsigned long long)i);
        memcpy(key, kv->key.ptr, kv->key.len);
        key[kv->key.len] = 0;
        brisk_status st = brisk_gguf_writer_set(w, key, &kv->value, err);
        if (st) return st;
    }
    brisk_status st = brisk_gguf_writer_set_u32(w, "general.file_type", (uint32_t)r->ftype, err);
    if (!st) st = brisk_gguf_writer_set_u32(w, "general.quantization_version", 2, err);
    return st;
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[3] = {NULL, NULL, NULL}, *imatrix_path = NULL, *calib_path = NULL, *sens_path = NULL;
    int n_pos = 0;
    bool pure = false, quiet = false, force_progress = false;
    long threads = sysconf(_SC_NPROCESSORS_ONLN), calib_tokens = 256;
    double target_size = 0, target_bpw = 0;
    if (threads < 1) threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--pure")) { pure = true; continue; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { quiet = true; continue; }
        if (!strcmp(a, "--progress")) { force_progress = true; continue; }
        if (a[0] != '-' || !a[1]) {
            if (n_pos == 3) { fprintf(stderr, "brisk quantize: too many arguments ('%s')\n", a); return 2; }
            pos[n_pos++] = a;
            continue;
        }
        if (i + 1 >= argc) { fprintf(stderr, "brisk quantize: %s needs a value (or is unknown)\n", a); return 2; }
        const char *v = argv[++i];
        bool ok = true;
        if (!strcmp(a, "--imatrix")) imatrix_path = v;
        else if (!strcmp(a, "--calib")) calib_path = v;
        else if (!strcmp(a, "--sensitivity")) sens_path = v;
        else if (!strcmp(a, "--calib-tokens")) ok = cli_parse_long("brisk quantize", a, v, 16, 1 << 20, &calib_tokens);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_long("brisk quantize", a, v, 1, 64, &threads);
        else if (!strcmp(a, "--target-size")) {
            if (!(ok = parse_size(v, &target_size)))
                fprintf(stderr, "brisk quantize: --target-size expects a positive size such as 80M, got '%s'\n", v);
        } else if (!strcmp(a, "--target-bpw")) {
            if ((ok = cli_parse_double("brisk quantize", a, v, &target_bpw)) && !(target_bpw >= 1.5 && target_bpw <= 16)) {
                fprintf(stderr, "brisk quantize: --target-bpw expects a number in [1.5, 16], got '%s'\n", v);
                ok = false;
            }
        } else {
            fprintf(stderr, "brisk quantize: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok) return 2;
    }
    if (n_pos != 3) { fprintf(stderr, "brisk quantize: needs IN.gguf OUT.gguf TYPE\n"); usage(stderr); return 2; }
    if (target_size > 0 && target_bpw > 0) { fprintf(stderr, "brisk quantize: give --target-size or --target-bpw, not both\n"); return 2; }
    quant_recipe recipe;
    if (!quant_recipe_find(pos[2], false, &recipe)) {
        fprintf(stderr, "brisk quantize: unknown type '%s' (known: %s)\n", pos[2], quant_recipe_list());
        return 2;
    }
    if (pure) recipe.mix = MIX_PURE;
    if (!strcmp(pos[0], pos[1])) { fprintf(stderr, "brisk quantize: the output would overwrite the input\n"); return 2; }

    brisk_error err = {0};
    int rc = 1;
    imatrix im = {0};
    quant_plan plan = {0};
    brisk_gguf_writer *w = NULL;
    threadpool *tp = NULL;
    brisk_gguf *g = brisk_gguf_open(pos[0], &err);
    if (!g) { fprintf(stderr, "brisk quantize: %s\n", err.msg); return 1; }
    if (imatrix_path && imatrix_read(&im, imatrix_path, &err)) { fprintf(stderr, "brisk quantize: %s\n", err.msg); goto done; }
    if (quant_plan_build(&plan, g, &recipe, imatrix_path ? &im : NULL, &err)) {
        fprintf(stderr, "brisk quantize: %s\n", err.msg);
        goto done;
    }
    if (!quiet) {
        if (plan.n_requantized)
            fprintf(stderr, "brisk quantize: warning: %d matrices of %s are already quantized; re-quantizing them "
                            "compounds the errors (start from F32/F16/BF16 when you can)\n",
                    plan.n_requantized, pos[0]);
        if (plan.n_fallback)
            fprintf(stderr, "brisk quantize: %d matrices have rows the chosen type's block does not divide; they use "
                            "a fallback type (src/quant/mix.h)\n", plan.n_fallback);
        if (imatrix_path && plan.n_missing_imatrix)
            fprintf(stderr, "brisk quantize: warning: the importance matrix has no entry for %d matrices (quantized "
                            "without importance)\n", plan.n_missing_imatrix);
    }
    if (target_size > 0 || target_bpw > 0) {
        quant_target_params tpar = {.target_bytes = target_size, .target_bpw = target_bpw, .model_path = pos[0],
                                    .calib_path = calib_path, .sens_path = sens_path, .calib_tokens = (int)calib_tokens,
                                    .n_threads = (int)threads, .quiet = quiet, .force_progress = force_progress};
        if (quant_target_choose(&plan, &tpar, &err)) { fprintf(stderr, "brisk quantize: %s\n", err.msg); goto done; }
    }

    tp = threadpool_create((int)threads);
    w = tp ? brisk_gguf_writer_create(3, &err) : NULL;
    if (!w) { fprintf(stderr, "brisk quantize: %s\n", tp ? err.msg : "out of memory"); goto done; }
    if (copy_metadata(w, g, &recipe, &err)) { fprintf(stderr, "brisk quantize: %s\n", err.msg); goto done; }
    write_job job = {.plan = &plan, .tp = tp};
    for (int i = 0; i < plan.n; i++) {
        const quant_tensor *t = &plan.tensors[i];
        job.total += (double)t->src->n_elements;
        if (brisk_gguf_writer_add_tensor_deferred(w, t->name, t->type, t->src->n_dims, t->src->ne, &err)) {
            fprintf(stderr, "brisk quantize: %s\n", err.msg);
            goto done;
        }
    }
    cli_progress_start(&job.progress, "quantize", force_progress && !quiet);
    if (quiet) job.progress.on = false;
    double t0 = cli_now();
    brisk_status st = brisk_gguf_writer_write_stream(w, pos[1], fill, &job, &err);
    cli_progress_end(&job.progress);
    if (st) { fprintf(stderr, "brisk quantize: %s\n", err.msg); goto done; }
    if (!quiet) {
        quant_plan_summary(&plan, stderr);
        fprintf(stderr, "brisk quantize: %s -> %s (%s%s%s) in %.1f s\n", pos[0], pos[1], recipe.name,
                pure ? ", pure" : "", imatrix_path ? ", imatrix" : "", cli_now() - t0);
    }
    rc = 0;
done:
    brisk_gguf_writer_free(w);
    threadpool_free(tp);
    quant_plan_free(&plan);
    imatrix_free(&im);
    brisk_gguf_close(g);
    return rc;
}
