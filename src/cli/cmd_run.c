/* brisk run [-m FILE.gguf] -p PROMPT [-n N] [sampling options]
 * Streams the continuation of a prompt as it is generated, then prints one
 * line of figures to stderr: prompt tok/s, generation tok/s, time to first token. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_util.h"
#include "brisk.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "cli/gen_options.h"

typedef struct run_options {
    const char *model;
    const char *prompt;
    int32_t n_predict;
    cli_gen_options gen; /* context, sampling, stop strings */
    bool show_special;
} run_options;

static void run_usage(FILE *out) {
    fprintf(out,
            "usage: brisk run [-m FILE.gguf] -p PROMPT [options]\n"
            "  -m, --model FILE        model (default: %s)\n"
            "  -p, --prompt TEXT       the prompt (control-token text such as <|im_start|> is parsed)\n"
            "  -n, --n-predict N       tokens to generate at most (default 128; -1 = until the context is full)\n"
            "      --special           print control tokens too\n",
            BRISK_DEFAULT_MODEL_NAME);
    cli_gen_usage(out);
}

/* Returns 0 on success, 2 on a usage error, -1 after --help. */
static int parse_args(int argc, char **argv, run_options *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { run_usage(stdout); return -1; }
        if (!strcmp(a, "--special")) { o->show_special = true; continue; }
        int shared = cli_gen_option("brisk run", argc, argv, &i, &o->gen);
        if (shared < 0) return 2;
        if (shared > 0) continue;
        if (i + 1 >= argc) {
            fprintf(stderr, "brisk run: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        long n;
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { ok = cli_parse_long("brisk run", a, v, -1, INT32_MAX, &n); o->n_predict = (int32_t)n; }
        else {
            fprintf(stderr, "brisk run: unknown option '%s'\n", a);
            run_usage(stderr);
            return 2;
        }
        if (!ok) return 2;
    }
    if (!o->prompt) {
        fprintf(stderr, "brisk run: a prompt is needed (-p TEXT)\n");
        run_usage(stderr);
        return 2;
    }
    return 0;
}

/* Tokenize the prompt; NULL (message printed) on failure. */
static brisk_token *tokenize_prompt(const brisk_vocab *v, const char *text, int64_t *n_out) {
    brisk_error err;
    size_t len = strlen(text);
    uint32_t flags = BRISK_TOKENIZE_ADD_SPECIAL | BRISK_TOKENIZE_PARSE_SPECIAL;
    int64_t n = brisk_tokenize(v, text, len, flags, NULL, 0, &err);
    brisk_token *toks = n >= 0 ? malloc((size_t)(n > 0 ? n : 1) * sizeof *toks) : NULL;
    if (!toks || brisk_tokenize(v, text, len, flags, toks, n, &err) != n) {
        fprintf(stderr, "brisk run: cannot tokenize the prompt: %s\n", n < 0 ? err.msg : "out of memory");
        free(toks);
        return NULL;
    }
    *n_out = n;
    return toks;
}

static void emit(const char *s, size_t n) {
    fwrite(s, 1, n, stdout);
    fflush(stdout);
}

/* Generate after the prompt; returns the number of tokens generated, -1 on error. */
static int32_t generate(brisk_context *ctx, const brisk_vocab *vocab, brisk_sampler *smp, brisk_stop *stop,
                        brisk_detok *detok, const run_options *o, double *t_first) {
    brisk_error err;
    int32_t n_gen = 0;
    bool stopped = false;
    const char *text;
    size_t text_len;
    while (!stopped && (o->n_predict < 0 || n_gen < o->n_predict)) {
        if (brisk_context_n_past(ctx) >= brisk_context_n_ctx(ctx)) {
            fprintf(stderr, "\nbrisk run: the context (%d tokens) is full\n", brisk_context_n_ctx(ctx));
            break;
        }
        brisk_token t = brisk_sampler_sample(smp, brisk_logits(ctx, -1));
        if (t < 0) {
            fprintf(stderr, "\nbrisk run: no token can be sampled (every logit is -inf or NaN)\n");
            return -1;
        }
        if (n_gen == 0) *t_first = cli_now();
        brisk_sampler_accept(smp, t);
        n_gen++;
        if (brisk_vocab_is_eog(vocab, t)) break;
        const char *piece = brisk_detok_push(detok, t);
        stopped = brisk_stop_feed(stop, piece, strlen(piece), &text, &text_len);
        emit(text, text_len);
        if (stopped) break;
        if (brisk_eval(ctx, &t, 1, false, &err) != BRISK_OK) {
            fprintf(stderr, "\nbrisk run: %s\n", err.msg);
            return -1;
        }
    }
    if (!stopped) {
        const char *rest = brisk_detok_flush(detok);
        stopped = brisk_stop_feed(stop, rest, strlen(rest), &text, &text_len);
        emit(text, text_len);
        if (!stopped) {
            brisk_stop_flush(stop, &text, &text_len);
            emit(text, text_len);
        }
    }
    return n_gen;
}

int cmd_run(int argc, char **argv) {
    run_options o = {.n_predict = 128, .gen = cli_gen_options_default()};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    cli_gen_seed(&o.gen);

    char default_path[4096];
    brisk_model *model = cli_load_model("brisk run", &o.model, default_path, sizeof default_path);
    if (!model) return 1;
    brisk_error err;
    const brisk_vocab *vocab = brisk_model_vocab(model);
    brisk_context *ctx = brisk_context_create(model, &o.gen.ctx, &err);
    brisk_sampler *smp = ctx ? brisk_sampler_create(&o.gen.sampling, brisk_model_n_vocab(model), &err) : NULL;
    brisk_stop *stop = smp ? brisk_stop_create(o.gen.stops, o.gen.n_stops, &err) : NULL;
    brisk_detok *detok = stop ? brisk_detok_create(vocab, o.show_special) : NULL;
    int64_t n_prompt = 0;
    brisk_token *prompt = detok ? tokenize_prompt(vocab, o.prompt, &n_prompt) : NULL;
    rc = 1;
    if (!detok) fprintf(stderr, "brisk run: %s\n", err.msg[0] ? err.msg : "out of memory");
    if (!prompt) goto done;
    if (n_prompt == 0) {
        fprintf(stderr, "brisk run: the prompt has no tokens\n");
        goto done;
    }
    if (n_prompt >= brisk_context_n_ctx(ctx)) {
        fprintf(stderr, "brisk run: the prompt is %lld tokens, longer than the context of %d (raise -c)\n",
                (long long)n_prompt, brisk_context_n_ctx(ctx));
        goto done;
    }
    for (int64_t i = 0; i < n_prompt; i++) brisk_sampler_accept(smp, prompt[i]);
    double t0 = cli_now();
    if (brisk_eval(ctx, prompt, (int32_t)n_prompt, false, &err) != BRISK_OK) {
        fprintf(stderr, "brisk run: %s\n", err.msg);
        goto done;
    }
    double t_prompt = cli_now(), t_first = t_prompt;
    int32_t n_gen = generate(ctx, vocab, smp, stop, detok, &o, &t_first);
    double t_end = cli_now();
    if (n_gen >= 0) {
        double gen_s = t_end - t_first;
        fprintf(stderr, "\n\nprompt: %lld tokens, %.1f tok/s | generation: %d tokens, %.1f tok/s | time to first token: %.0f ms\n",
                (long long)n_prompt, n_prompt / (t_prompt - t0), n_gen,
                n_gen > 1 && gen_s > 0 ? (n_gen - 1) / gen_s : 0.0, (t_first - t0) * 1000.0);
        rc = 0;
    }
done:
    free(prompt);
    brisk_detok_free(detok);
    brisk_stop_free(stop);
    brisk_sampler_free(smp);
    brisk_context_free(ctx);
    brisk_model_free(model);
    return rc;
}
