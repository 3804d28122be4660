/* brisk perplexity -m MODEL -f TEXT [--ctx 512] [--chunks N] [--kl-base FILE]
 *
 * Perplexity over non-overlapping windows of --ctx tokens, scoring the second
 * half of each window (src/quality/textscore.h), with the standard error of the
 * mean log-likelihood as the ± (ppl * se, to first order).
 *
 * --kl-base FILE: when FILE does not exist, the run saves this model's
 * predictions there (top-k log-probabilities per scored token:
 * src/quality/klbase.h); when it exists, the run compares this model with them
 * and reports the mean KL divergence KL(base || this), top-1 agreement and
 * the change in perplexity (paired over the same tokens, with its ±). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brisk.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "quality/klbase.h"
#include "quality/textscore.h"

static void usage(FILE *out) {
    fprintf(out, "usage: brisk perplexity -m MODEL.gguf -f TEXT [options]\n"
                 "  --ctx N          window length in tokens (default 512); the second half of each is scored\n"
                 "  --chunks N       use at most N windows (default: all the text gives)\n"
                 "  --kl-base FILE   save the model's predictions to FILE when it does not exist; when it does,\n"
                 "                   report KL divergence, top-1 agreement and delta perplexity against them\n"
                 "  --top-k N        log-probabilities kept per token in a new KL base (default 32)\n"
                 "  -t, --threads N  threads (default: all cores)\n"
                 "  --progress       progress bar even when stderr is not a terminal\n"
                 "  --json           print the results as one JSON object on stdout\n");
}

typedef struct stats {
    double sum, sumsq;
    int64_t n;
} stats;

static void add(stats *s, double x) {
    s->sum += x;
    s->sumsq += x * x;
    s->n++;
}
static double mean(const stats *s) { return s->n ? s->sum / (double)s->n : 0; }
/* standard error of the mean */
static double sem(const stats *s) {
    if (s->n < 2) return 0;
    double m = mean(s), var = (s->sumsq - (double)s->n * m * m) / (double)(s->n - 1);
    return var > 0 ? sqrt(var / (double)s->n) : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cmd_perplexity(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL, *kl_path = NULL;
    long n_ctx = 512, chunks = 0, top_k = 32, threads = sysconf(_SC_NPROCESSORS_ONLN);
    bool force_progress = false, json = false;
    if (threads < 1) threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--progress")) { force_progress = true; continue; }
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "brisk perplexity: %s needs a value (or is unknown)\n", a); usage(stderr); return 2; }
        const char *v = argv[++i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) text_path = v;
        else if (!strcmp(a, "--kl-base")) kl_path = v;
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) ok = cli_parse_long("brisk perplexity", a, v, 8, 1 << 20, &n_ctx);
        else if (!strcmp(a, "--chunks")) ok = cli_parse_long("brisk perplexity", a, v, 1, 1 << 30, &chunks);
        else if (!strcmp(a, "--top-k")) ok = cli_parse_long("brisk perplexity", a, v, 1, 1024, &top_k);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_long("brisk perplexity", a, v, 1, 64, &threads);
        else { fprintf(stderr, "brisk perplexity: unknown option '%s'\n", a); usage(stderr); return 2; }
        if (!ok) return 2;
    }
    if (!model_path || !text_path) { fprintf(stderr, "brisk perplexity: -m MODEL and -f TEXT are needed\n"); usage(stderr); return 2; }

    brisk_error err = {0};
    int rc = 1;
    brisk_model *m = NULL;
    brisk_context *c = NULL;
    text_windows tw = {0};
    klbase base = {0};
    klbase_writer kw = {0};
    bool comparing = false, writing = false;
    float *lp = NULL;
    double *kls = NULL;
    size_t len;
    char *text = textscore_read_file(text_path, &len, &err);
    if (!text) { fprintf(stderr, "brisk perplexity: %s\n", err.msg); return 1; }
    if (!(m = brisk_model_load(model_path, &err))) { fprintf(stderr, "brisk perplexity: %s\n", err.msg); goto done; }
    int32_t n_vocab = brisk_model_n_vocab(m);
    if (text_windows_make(brisk_model_vocab(m), text, len, (int)n_ctx, (int)chunks, &tw, &err)) {
        fprintf(stderr, "brisk perplexity: %s: %s\n", text_path, err.msg);
        goto done;
    }
    brisk_context_params cp = brisk_context_default_params();
    cp.n_ctx = (int32_t)n_ctx;
    cp.n_threads = (int32_t)threads;
    if (!(c = brisk_context_create(m, &cp, &err))) { fprintf(stderr, "brisk perplexity: %s\n", err.msg); goto done; }
    if (kl_path) {
        if (access(kl_path, F_OK) == 0) {
            if (klbase_read(&base, kl_path, &err)) { fprintf(stderr, "brisk perplexity: %s\n", err.msg); goto done; }
            const char *why = klbase_mismatch(&base, &tw, (uint32_t)n_vocab);
            if (*why) {
                fprintf(stderr, "brisk perplexity: %s does not fit this run: %s\n", kl_path, why);
                goto done;
            }
            comparing = true;
        } else {
            if (klbase_writer_open(&kw, kl_path, &tw, (uint32_t)n_vocab, (uint32_t)top_k, &err)) {
                fprintf(stderr, "brisk perplexity: %s\n", err.msg);
                goto done;
            }
            writing = true;
        }
    }
    int scored = text_windows_scored(&tw);
    int64_t n_scored = (int64_t)tw.n_windows * scored;
    lp = malloc((size_t)n_vocab * sizeof *lp);
    kls = comparing ? malloc((size_t)n_scored * sizeof *kls) : NULL;
    if (!lp || (comparing && !kls)) { fprintf(stderr, "brisk perplexity: out of memory\n"); goto done; }
    fprintf(stderr, "brisk perplexity: %lld tokens of text, %d windows of %ld, scoring %d per window%s%s\n",
            (long long)tw.n_text_tokens, tw.n_windows, n_ctx, scored,
            writing ? "; saving the KL base to " : comparing ? "; comparing with the KL base " : "",
            kl_path ? kl_path : "");

    stats nll = {0}, diff = {0}, kl = {0};
    int64_t top1 = 0, idx = 0;
    cli_progress prog;
    cli_progress_start(&prog, "perplexity", force_progress);
    double t0 = cli_now();
    for (int w = 0; w < tw.n_windows; w++) {
        const brisk_token *tok = text_window(&tw, w);
        brisk_context_truncate(c, 0);
        /* the first half needs no logits; position p's logits are row p - first of the second eval */
        if (brisk_eval(c, tok, tw.first, false, &err) ||
            brisk_eval(c, tok + tw.first, tw.n_ctx - tw.first, true, &err)) {
            cli_progress_end(&prog);
            fprintf(stderr, "brisk perplexity: %s\n", err.msg);
            goto done;
        }
        for (int j = 0; j < scored; j++, idx++) {
            const float *logits = brisk_logits(c, j);
            brisk_token next = tok[tw.first + j + 1];
            textscore_log_softmax(logits, n_vocab, lp);
            double x = -(double)lp[next];
            add(&nll, x);
            if (writing && klbase_writer_add(&kw, lp, next, &err)) {
                cli_progress_end(&prog);
                fprintf(stderr, "brisk perplexity: %s\n", err.msg);
                goto done;
            }
            if (comparing) {
                add(&diff, x - base.nll[idx]);
                double k = klbase_kl(&base, idx, lp);
                add(&kl, k);
                kls[idx] = k;
                int best = 0;
                for (int v = 1; v < n_vocab; v++)
                    if (lp[v] > lp[best]) best = v;
                top1 += best == base.ids[idx * base.top_k];
            }
        }
        char detail[64];
        snprintf(detail, sizeof detail, "ppl %.4f", exp(mean(&nll)));
        cli_progress_update(&prog, w + 1, tw.n_windows, detail);
    }
    cli_progress_end(&prog);
    if (writing) {
        brisk_status st = klbase_writer_close(&kw, true, &err);
        writing = false;
        if (st) { fprintf(stderr, "brisk perplexity: %s\n", err.msg); goto done; }
    }
    double ppl = exp(mean(&nll)), ppl_err = ppl * sem(&nll), secs = cli_now() - t0;
    if (!json) {
        printf("perplexity: %.4f +/- %.4f (%lld tokens scored in %d windows of %ld; %.1f s, %.1f tokens/s)\n", ppl,
               ppl_err, (long long)nll.n, tw.n_windows, n_ctx, secs, tw.n_windows * n_ctx / secs);
    }
    double base_ppl = 0, dppl = 0, dppl_err = 0, agree = 0, agree_err = 0, kl_med = 0, kl_p99 = 0, kl_max = 0;
    if (comparing) {
        double bsum = 0;
        for (int64_t i = 0; i < n_scored; i++) bsum += base.nll[i];
        base_ppl = exp(bsum / (double)n_scored);
        dppl = 100 * (exp(mean(&diff)) - 1);
        dppl_err = 100 * exp(mean(&diff)) * sem(&diff);
        agree = (double)top1 / (double)n_scored;
        agree_err = sqrt(agree * (1 - agree) / (double)n_scored);
        qsort(kls, (size_t)n_scored, sizeof *kls, cmp_double);
        kl_med = kls[n_scored / 2];
        kl_p99 = kls[(int64_t)(0.99 * (double)(n_scored - 1))];
        kl_max = kls[n_scored - 1];
        if (!json)
            printf("kl-divergence: mean %.6f +/- %.6f, median %.6f, p99 %.6f, max %.6f\n"
                   "top-1 agreement: %.3f%% +/- %.3f%%\n"
                   "delta perplexity: %+.3f%% +/- %.3f%% (base %.4f -> %.4f)\n",
                   mean(&kl), sem(&kl), kl_med, kl_p99, kl_max, 100 * agree, 100 * agree_err, dppl, dppl_err,
                   base_ppl, ppl);
    }
    if (json) {
        printf("{\"ppl\": %.6f, \"ppl_err\": %.6f, \"n_scored\": %lld, \"n_windows\": %d, \"ctx\": %ld, "
               "\"seconds\": %.3f",
               ppl, ppl_err, (long long)nll.n, tw.n_windows, n_ctx, secs);
        if (comparing)
            printf(", \"kl_mean\": %.8f, \"kl_err\": %.8f, \"kl_median\": %.8f, \"kl_p99\": %.8f, \"kl_max\": %.8f, "
                   "\"top1\": %.9f, \"top1_err\": %.9f, \"base_ppl\": %.6f, \"dppl_pct\": %.6f, \"dppl_pct_err\": %.6f",
                   mean(&kl), sem(&kl), kl_med, kl_p99, kl_max, agree, agree_err, base_ppl, dppl, dppl_err);
        printf("}\n");
    }
    rc = 0;
done:
    if (writing) klbase_writer_close(&kw, false, NULL);
    free(lp);
    free(kls);
    klbase_free(&base);
    text_windows_free(&tw);
    brisk_context_free(c);
    brisk_model_free(m);
    free(text);
    return rc;
}
