/* brisk imatrix -m MODEL -f TEXT -o imatrix.gguf [--ctx 512] [--chunks N]
 *
 * Runs the model over the text in windows of --ctx tokens (every token, all
 * logits, so the output matrix sees every row too) and, through the context's
 * matmul observer, sums the squares of each weight's input columns. The file
 * (src/quality/imatrix.h) feeds `brisk quantize --imatrix`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brisk.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "quality/imatrix.h"
#include "quality/textscore.h"

static void usage(FILE *out) {
    fprintf(out, "usage: brisk imatrix -m MODEL.gguf -f TEXT -o OUT.gguf [options]\n"
                 "Collects per-column activation statistics (an importance matrix) for brisk quantize --imatrix.\n"
                 "  --ctx N          window length in tokens (default 512)\n"
                 "  --chunks N       use at most N windows (default: all the text gives)\n"
                 "  -t, --threads N  threads (default: all cores)\n"
                 "  --progress       progress bar even when stderr is not a terminal\n");
}

typedef struct collector {
    imatrix im;
    brisk_status status;
    brisk_error err;
} collector;

static void observe(void *user, const char *name, const float *x, int32_t n_rows, int64_t n_cols) {
    collector *col = user;
    if (!col->status) col->status = imatrix_add(&col->im, name, x, n_rows, n_cols, &col->err);
}

int cmd_imatrix(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL, *out_path = NULL;
    long n_ctx = 512, chunks = 0, threads = sysconf(_SC_NPROCESSORS_ONLN);
    bool force_progress = false;
    if (threads < 1) threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--progress")) { force_progress = true; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "brisk imatrix: %s needs a value (or is unknown)\n", a); usage(stderr); return 2; }
        const char *v = argv[++i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) text_path = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out_path = v;
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) ok = cli_parse_long("brisk imatrix", a, v, 8, 1 << 20, &n_ctx);
        else if (!strcmp(a, "--chunks")) ok = cli_parse_long("brisk imatrix", a, v, 1, 1 << 30, &chunks);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_long("brisk imatrix", a, v, 1, 64, &threads);
        else { fprintf(stderr, "brisk imatrix: unknown option '%s'\n", a); usage(stderr); return 2; }
        if (!ok) return 2;
    }
    if (!model_path || !text_path || !out_path) {
        fprintf(stderr, "brisk imatrix: -m MODEL, -f TEXT and -o OUT are needed\n");
        usage(stderr);
        return 2;
    }
    brisk_error err = {0};
    int rc = 1;
    brisk_model *m = NULL;
    brisk_context *c = NULL;
    text_windows tw = {0};
    collector col = {0};
    size_t len;
    char *text = textscore_read_file(text_path, &len, &err);
    if (!text) { fprintf(stderr, "brisk imatrix: %s\n", err.msg); return 1; }
    if (!(m = brisk_model_load(model_path, &err))) { fprintf(stderr, "brisk imatrix: %s\n", err.msg); goto done; }
    if (text_windows_make(brisk_model_vocab(m), text, len, (int)n_ctx, (int)chunks, &tw, &err)) {
        fprintf(stderr, "brisk imatrix: %s: %s\n", text_path, err.msg);
        goto done;
    }
    brisk_context_params cp = brisk_context_default_params();
    cp.n_gpu_layers = 0; /* the observer sees the matmuls of CPU layers only */
    cp.n_ctx = (int32_t)n_ctx;
    cp.n_threads = (int32_t)threads;
    if (!(c = brisk_context_create(m, &cp, &err))) { fprintf(stderr, "brisk imatrix: %s\n", err.msg); goto done; }
    brisk_context_set_observer(c, observe, &col);
    fprintf(stderr, "brisk imatrix: %d windows of %ld tokens\n", tw.n_windows, n_ctx);
    cli_progress prog;
    cli_progress_start(&prog, "imatrix", force_progress);
    for (int w = 0; w < tw.n_windows; w++) {
        brisk_context_truncate(c, 0);
        if (brisk_eval(c, text_window(&tw, w), tw.n_ctx, true, &err)) {
            cli_progress_end(&prog);
            fprintf(stderr, "brisk imatrix: %s\n", err.msg);
            goto done;
        }
        if (col.status) {
            cli_progress_end(&prog);
            fprintf(stderr, "brisk imatrix: %s\n", col.err.msg);
            goto done;
        }
        cli_progress_update(&prog, w + 1, tw.n_windows, NULL);
    }
    cli_progress_end(&prog);
    col.im.chunk_count = (uint32_t)tw.n_windows;
    col.im.chunk_size = (uint32_t)n_ctx;
    if (imatrix_write(&col.im, out_path, text_path, &err)) { fprintf(stderr, "brisk imatrix: %s\n", err.msg); goto done; }
    fprintf(stderr, "brisk imatrix: wrote %d weights' statistics to %s\n", col.im.n, out_path);
    rc = 0;
done:
    imatrix_free(&col.im);
    text_windows_free(&tw);
    brisk_context_free(c);
    brisk_model_free(m);
    free(text);
    return rc;
}
