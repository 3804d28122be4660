/* brisk synth --shape NAME --type TYPE OUT.gguf
 * brisk synth --n-embd N --n-layer N --n-head N [--n-head-kv N] --n-ff N --vocab N [--arch A] --type TYPE OUT.gguf
 *
 * Writes a model of a real architecture's shapes with random weights, for
 * measuring speed at any size offline: matrices ~ N(0, 0.02^2) (seeded; the
 * same seed gives the same file whatever the thread count), quantized with
 * brisk's own quantizer to one type or a llama.cpp-style K-quant mix
 * (shapes.h has the rule), norms of ones (F32), q/k/v biases for qwen2, and a
 * placeholder byte-level BPE vocabulary: GPT-2's 256 byte tokens, a few merges,
 * the family's control tokens and filler tokens "<synth_N>" up to the vocab size.
 *
 * Memory: tensors are generated one at a time into the GGUF writer's one
 * buffer (brisk_gguf_writer_write_stream), so writing an 8B model needs about
 * its largest tensor (output.weight), not the whole model. Rows of a tensor are
 * split across threads. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "brisk.h"
#include "cli/commands.h"
#include "cli/shapes.h"

#define WEIGHT_STD 0.02f

static void synth_usage(FILE *out) {
    fprintf(out,
            "usage: brisk synth --shape NAME --type TYPE [options] OUT.gguf\n"
            "       brisk synth --n-embd N --n-layer N --n-head N [--n-head-kv N] --n-ff N --vocab N\n"
            "                   [--arch llama|qwen2|qwen3] [--head-dim N] --type TYPE [options] OUT.gguf\n"
            "Writes a model with random weights (normal, std 0.02) of a real architecture's shapes.\n"
            "  --shape NAME   one of:");
    for (int i = 0; i < synth_n_shapes; i++) fprintf(out, "%s %s", i % 6 == 5 ? "\n                " : "", synth_shapes[i].name);
    fprintf(out,
            "\n  --type TYPE    a type or llama.cpp-style mix: %s\n"
            "  --seed N       random seed (default 1)\n"
            "  --ctx N        context_length written to the file (custom shapes; default 4096)\n"
            "  -t, --threads N  quantization threads (default: all cores)\n"
            "  -q, --quiet    no progress lines\n"
            "A single type applies to every matrix (token_embd and output included); norms and biases are F32.\n"
            "Mixes follow llama.cpp's recipes: output Q6_K, token_embd the base type; Q4_K_M and Q5_K_M put\n"
            "attn_v and ffn_down in Q6_K in about half the layers (i < n/8, i >= 7n/8, (i - n/8) %% 3 == 2);\n"
            "Q3_K_M/L and Q4_K_S raise attn_v, ffn_down and attn_output as in llama.cpp (src/quant/mix.h).\n",
            synth_recipe_list());
}

/* ---- random numbers: one stream per (seed, tensor, row) -------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* n normal values of standard deviation std (Box-Muller). */
static void fill_normal(float *dst, int64_t n, uint64_t state, float std) {
    for (int64_t i = 0; i < n; i += 2) {
        uint64_t r = splitmix64(&state);
        float u1 = ((float)(r >> 40) + 0.5f) * (1.0f / 16777216.0f); /* (0, 1) */
        float u2 = (float)((r >> 16) & 0xFFFFFF) * (1.0f / 16777216.0f);
        float rad = std * sqrtf(-2.0f * logf(u1)), ang = 6.2831853f * u2;
        dst[i] = rad * cosf(ang);
        if (i + 1 < n) dst[i + 1] = rad * sinf(ang);
    }
}

/* ---- tensor generation ------------------------------------------------------ */

typedef struct synth_job {
    const synth_tensor *ts;
    int n_tensors;
    uint64_t seed;
    int n_threads;
    bool quiet, tty;
    double t0, t_last;
    uint64_t bytes_done, bytes_total;
} synth_job;

typedef struct row_task {
    const synth_tensor *t;
    uint64_t index;
    uint64_t seed;
    uint8_t *dst;
    int64_t row0, row1;
    brisk_status status;
    brisk_error err;
} row_task;

static uint64_t row_seed(uint64_t seed, uint64_t tensor, int64_t row) {
    uint64_t s = seed ^ 0x5EED5EED5EED5EEDull;
    uint64_t a = splitmix64(&s) ^ (tensor * 0x9E3779B97F4A7C15ull);
    uint64_t b = splitmix64(&a) ^ ((uint64_t)row * 0xC2B2AE3D27D4EB4Full);
    return splitmix64(&b);
}

static void *row_worker(void *arg) {
    row_task *k = arg;
    const synth_tensor *t = k->t;
    uint64_t row_bytes = brisk_type_row_bytes(t->type, t->ne[0]);
    float *buf = malloc((size_t)t->ne[0] * sizeof *buf);
    if (!buf) {
        k->status = BRISK_ERR_NOMEM;
        snprintf(k->err.msg, sizeof k->err.msg, "out of memory for a row of %lld values", (long long)t->ne[0]);
        return NULL;
    }
    for (int64_t r = k->row0; r < k->row1 && k->status == BRISK_OK; r++) {
        fill_normal(buf, t->ne[0], row_seed(k->seed, k->index, r), WEIGHT_STD);
        k->status = brisk_quantize(t->type, buf, k->dst + (uint64_t)r * row_bytes, t->ne[0], &k->err);
    }
    free(buf);
    return NULL;
}

static void progress(synth_job *job, const synth_tensor *t, bool last) {
    if (job->quiet) return;
    double now = cli_now();
    if (!last && now - job->t_last < (job->tty ? 0.2 : 2.0)) return;
    job->t_last = now;
    double el = now - job->t0, frac = (double)job->bytes_done / (double)job->bytes_total;
    fprintf(stderr, "%s[%3.0f%%] %.2f / %.2f GB, %.1f s, eta %.0f s  %-28s %s%s", job->tty ? "\r" : "",
            100.0 * frac, job->bytes_done / 1e9, job->bytes_total / 1e9, el,
            frac > 0 ? el / frac - el : 0.0, t->name, brisk_type_get(t->type)->name,
            job->tty && !last ? "   " : "\n");
}

static brisk_status fill_tensor(void *user, uint64_t index, void *dst, uint64_t n_bytes, brisk_error *err) {
    synth_job *job = user;
    const synth_tensor *t = &job->ts[index];
    if (t->role == ROLE_NORM || t->role == ROLE_BIAS) {
        float *v = dst;
        if (t->role == ROLE_NORM)
            for (int64_t i = 0; i < t->ne[0]; i++) v[i] = 1.0f;
        else
            fill_normal(v, t->ne[0], row_seed(job->seed, index, 0), WEIGHT_STD);
    } else {
        int nt = job->n_threads;
        if (nt > t->ne[1]) nt = (int)t->ne[1];
        row_task tasks[64];
        pthread_t th[64];
        bool started[64] = {false};
        for (int i = 0; i < nt; i++) {
            tasks[i] = (row_task){.t = t, .index = index, .seed = job->seed, .dst = dst,
                                  .row0 = t->ne[1] * i / nt, .row1 = t->ne[1] * (i + 1) / nt};
            if (i > 0) started[i] = pthread_create(&th[i], NULL, row_worker, &tasks[i]) == 0;
            if (i > 0 && !started[i]) { /* run it here instead */
                row_worker(&tasks[i]);
            }
        }
        row_worker(&tasks[0]);
        for (int i = 1; i < nt; i++)
            if (started[i]) pthread_join(th[i], NULL);
        for (int i = 0; i < nt; i++)
            if (tasks[i].status) {
                if (err) {
                    err->status = tasks[i].status;
                    snprintf(err->msg, sizeof err->msg, "tensor '%.60s': %.400s", t->name, tasks[i].err.msg);
                }
                return tasks[i].status;
            }
    }
    job->bytes_done += n_bytes;
    progress(job, t, index + 1 == (uint64_t)job->n_tensors);
    return BRISK_OK;
}

/* ---- vocabulary ----------------------------------------------------------------- */

static const char *const MERGES[] = {"\xC4\xA0 t", "h e", "i n", "\xC4\xA0 a", "e r", "o n"};
static const char *const MERGED[] = {"\xC4\xA0t", "he", "in", "\xC4\240a", "er", "on"}; /* \240 = \xA0 (\xA0a would be one escape) */
static const char *const LLAMA_SPECIALS[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"};
static const char *const QWEN_SPECIALS[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

/* GPT-2's byte-to-character map, as UTF-8: printable bytes stand for
 * themselves, the others for U+0100 + k in byte order. */
static int byte_char(int b, char out[3]) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    int cp = b;
    if (!printable) {
        int k = 0;
        for (int c = 0; c < b; c++)
            if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) k++;
        cp = 256 + k;
    }
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static brisk_status set_vocab(brisk_gguf_writer *w, const synth_shape *s, brisk_error *err) {
    bool llama = !strcmp(s->arch, "llama");
    const char *const *specials = llama ? LLAMA_SPECIALS : QWEN_SPECIALS;
    int32_t n = s->n_vocab;
    char **toks = calloc((size_t)n, sizeof *toks);
    int32_t *types = calloc((size_t)n, sizeof *types);
    char *text = malloc((size_t)n * 16 + 4096);
    brisk_status st = BRISK_ERR_NOMEM;
    if (!toks || !types || !text) {
        if (err) {
            err->status = st;
            snprintf(err->msg, sizeof err->msg, "out of memory for a vocabulary of %d tokens", n);
        }
        goto done;
    }
    char *p = text;
    int32_t i = 0;
    for (; i < 256; i++) {
        toks[i] = p;
        p += byte_char(i, p);
        *p++ = 0;
        types[i] = 1;
    }
    for (size_t m = 0; m < sizeof MERGED / sizeof MERGED[0]; m++, i++) { toks[i] = (char *)MERGED[m]; types[i] = 1; }
    int32_t first_special = i;
    for (int k = 0; k < 3; k++, i++) { toks[i] = (char *)specials[k]; types[i] = 3; }
    for (; i < n; i++) {
        toks[i] = p;
        p += sprintf(p, "<synth_%d>", i) + 1;
        types[i] = 1;
    }
    if ((st = brisk_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", err)) ||
        (st = brisk_gguf_writer_set_str(w, "tokenizer.ggml.pre", llama ? "llama-bpe" : "qwen2", err)) ||
        (st = brisk_gguf_writer_set_str_array(w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)n, err)) ||
        (st = brisk_gguf_writer_set_array(w, "tokenizer.ggml.token_type", BRISK_GGUF_INT32, types, (uint64_t)n, err)) ||
        (st = brisk_gguf_writer_set_str_array(w, "tokenizer.ggml.merges", MERGES, sizeof MERGES / sizeof MERGES[0], err)))
        goto done;
    if (llama) {
        if ((st = brisk_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)first_special, err)) ||
            (st = brisk_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)first_special + 1, err)) ||
            (st = brisk_gguf_writer_set_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)first_special + 2, err)))
            goto done;
    } else {
        if ((st = brisk_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)first_special + 2, err)) ||
            (st = brisk_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)first_special, err)))
            goto done;
    }
    brisk_gguf_value b = {.type = BRISK_GGUF_BOOL, .v.b = llama};
    st = brisk_gguf_writer_set(w, "tokenizer.ggml.add_bos_token", &b, err);
done:
    free(toks);
    free(types);
    free(text);
    return st;
}

/* ---- metadata ----------------------------------------------------------------- */

static brisk_status set_f32(brisk_gguf_writer *w, const char *key, float v, brisk_error *err) {
    brisk_gguf_value val = {.type = BRISK_GGUF_FLOAT32, .v.f64 = v};
    return brisk_gguf_writer_set(w, key, &val, err);
}

static brisk_status set_metadata(brisk_gguf_writer *w, const synth_shape *s, const synth_recipe *r, uint64_t seed,
                                 brisk_error *err) {
    char key[128], name[160];
    brisk_status st;
#define ARCH_U32(suffix, v) (snprintf(key, sizeof key, "%s." suffix, s->arch), brisk_gguf_writer_set_u32(w, key, (uint32_t)(v), err))
#define ARCH_F32(suffix, v) (snprintf(key, sizeof key, "%s." suffix, s->arch), set_f32(w, key, v, err))
    snprintf(name, sizeof name, "%s %s (brisk synth, random weights, seed %llu)", s->name, r->name,
             (unsigned long long)seed);
    int32_t hd = synth_head_dim(s);
    if ((st = brisk_gguf_writer_set_str(w, "general.architecture", s->arch, err)) ||
        (st = brisk_gguf_writer_set_str(w, "general.name", name, err)) ||
        (st = brisk_gguf_writer_set_u32(w, "general.file_type", (uint32_t)r->ftype, err)) ||
        (st = brisk_gguf_writer_set_u32(w, "general.quantization_version", 2, err)) ||
        (st = ARCH_U32("context_length", s->n_ctx_train)) || (st = ARCH_U32("embedding_length", s->n_embd)) ||
        (st = ARCH_U32("block_count", s->n_layer)) || (st = ARCH_U32("feed_forward_length", s->n_ff)) ||
        (st = ARCH_U32("attention.head_count", s->n_head)) || (st = ARCH_U32("attention.head_count_kv", s->n_head_kv)) ||
        (st = ARCH_U32("attention.key_length", hd)) || (st = ARCH_U32("attention.value_length", hd)) ||
        (st = ARCH_U32("rope.dimension_count", hd)) || (st = ARCH_U32("vocab_size", s->n_vocab)) ||
        (st = ARCH_F32("rope.freq_base", s->rope_base)) ||
        (st = ARCH_F32("attention.layer_norm_rms_epsilon", strcmp(s->arch, "llama") ? 1e-6f : 1e-5f)))
        return st;
#undef ARCH_U32
#undef ARCH_F32
    return set_vocab(w, s, err);
}

/* ---- command -------------------------------------------------------------------- */

int cmd_synth(int argc, char **argv) {
    const char *shape_name = NULL, *type_name = NULL, *out = NULL;
    synth_shape custom = {.name = "custom", .arch = "llama", .n_ctx_train = 4096};
    bool any_custom = false, quiet = false;
    long seed = 1, threads = sysconf(_SC_NPROCESSORS_ONLN), ctx = 4096;
    if (threads < 1) threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { synth_usage(stdout); return 0; }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { quiet = true; continue; }
        if (a[0] != '-' || !a[1]) {
            if (out) { fprintf(stderr, "brisk synth: more than one output file given ('%s', '%s')\n", out, a); return 2; }
            out = a;
            continue;
        }
        if (i + 1 >= argc) { fprintf(stderr, "brisk synth: %s needs a value (or is unknown)\n", a); return 2; }
        const char *v = argv[++i];
        long n = 0;
        bool ok = true;
        int32_t *dim = NULL;
        if (!strcmp(a, "--shape")) shape_name = v;
        else if (!strcmp(a, "--type")) type_name = v;
        else if (!strcmp(a, "--seed")) ok = cli_parse_long("brisk synth", a, v, 0, INT32_MAX, &seed);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_long("brisk synth", a, v, 1, 64, &threads);
        else if (!strcmp(a, "--ctx")) ok = cli_parse_long("brisk synth", a, v, 1, INT32_MAX, &ctx);
        else if (!strcmp(a, "--arch")) { custom.arch = v; any_custom = true; }
        else if (!strcmp(a, "--n-embd")) dim = &custom.n_embd;
        else if (!strcmp(a, "--n-layer")) dim = &custom.n_layer;
        else if (!strcmp(a, "--n-head")) dim = &custom.n_head;
        else if (!strcmp(a, "--n-head-kv")) dim = &custom.n_head_kv;
        else if (!strcmp(a, "--n-ff")) dim = &custom.n_ff;
        else if (!strcmp(a, "--vocab")) dim = &custom.n_vocab;
        else if (!strcmp(a, "--head-dim")) dim = &custom.head_dim;
        else {
            fprintf(stderr, "brisk synth: unknown option '%s'\n", a);
            synth_usage(stderr);
            return 2;
        }
        if (dim) {
            ok = cli_parse_long("brisk synth", a, v, 1, 1 << 20, &n);
            *dim = (int32_t)n;
            any_custom = true;
        }
        if (!ok) return 2;
    }
    if (!out) { fprintf(stderr, "brisk synth: no output file given\n"); synth_usage(stderr); return 2; }
    if (!type_name) { fprintf(stderr, "brisk synth: --type is needed (%s)\n", synth_recipe_list()); return 2; }
    synth_recipe recipe;
    if (!synth_recipe_find(type_name, &recipe)) {
        fprintf(stderr, "brisk synth: unknown type '%s' (known: %s)\n", type_name, synth_recipe_list());
        return 2;
    }
    const synth_shape *shape;
    if (shape_name && any_custom) {
        fprintf(stderr, "brisk synth: give either --shape or the custom dimensions, not both\n");
        return 2;
    }
    if (shape_name) {
        if (!(shape = synth_shape_find(shape_name))) {
            fprintf(stderr, "brisk synth: unknown shape '%s' (known:", shape_name);
            for (int i = 0; i < synth_n_shapes; i++) fprintf(stderr, " %s", synth_shapes[i].name);
            fprintf(stderr, "; or the custom form --n-embd ...)\n");
            return 2;
        }
    } else {
        if (!any_custom) { fprintf(stderr, "brisk synth: give --shape NAME or the custom dimensions\n"); synth_usage(stderr); return 2; }
        if (!custom.n_embd || !custom.n_layer || !custom.n_head || !custom.n_ff || !custom.n_vocab) {
            fprintf(stderr, "brisk synth: the custom form needs --n-embd, --n-layer, --n-head, --n-ff and --vocab\n");
            return 2;
        }
        if (!custom.n_head_kv) custom.n_head_kv = custom.n_head;
        custom.n_ctx_train = (int32_t)ctx;
        custom.rope_base = strcmp(custom.arch, "llama") ? 1000000.0f : 500000.0f;
        const char *bad = synth_shape_check(&custom);
        if (*bad) { fprintf(stderr, "brisk synth: %s\n", bad); return 2; }
        shape = &custom;
    }

    int n_tensors = synth_tensors(shape, &recipe, NULL, 0);
    synth_tensor *ts = calloc((size_t)n_tensors, sizeof *ts);
    brisk_error err = {0};
    brisk_gguf_writer *w = ts ? brisk_gguf_writer_create(3, &err) : NULL;
    int rc = 1;
    if (!w) { fprintf(stderr, "brisk synth: %s\n", ts ? err.msg : "out of memory"); goto done; }
    synth_tensors(shape, &recipe, ts, n_tensors);
    synth_job job = {.ts = ts, .n_tensors = n_tensors, .seed = (uint64_t)seed, .n_threads = (int)threads,
                     .quiet = quiet, .tty = isatty(2)};
    uint64_t n_params = 0;
    for (int i = 0; i < n_tensors; i++) {
        job.bytes_total += ts[i].n_bytes;
        n_params += (uint64_t)ts[i].ne[0] * (uint64_t)ts[i].ne[1];
        if (brisk_gguf_writer_add_tensor_deferred(w, ts[i].name, ts[i].type, ts[i].n_dims, ts[i].ne, &err)) {
            fprintf(stderr, "brisk synth: %s\n", err.msg);
            goto done;
        }
    }
    if (set_metadata(w, shape, &recipe, (uint64_t)seed, &err)) {
        fprintf(stderr, "brisk synth: %s\n", err.msg);
        goto done;
    }
    if (!quiet)
        fprintf(stderr, "brisk synth: %s (%s), %s, %.3f B parameters, %.2f GB of tensors, %d tensors, %ld threads -> %s\n",
                shape->name, shape->arch, recipe.name, n_params / 1e9, job.bytes_total / 1e9, n_tensors, threads, out);
    job.t0 = job.t_last = cli_now();
    if (brisk_gguf_writer_write_stream(w, out, fill_tensor, &job, &err)) {
        if (!quiet && job.tty) fputc('\n', stderr);
        fprintf(stderr, "brisk synth: %s\n", err.msg);
        goto done;
    }
    if (!quiet) fprintf(stderr, "brisk synth: wrote %s in %.1f s\n", out, cli_now() - job.t0);
    rc = 0;
done:
    brisk_gguf_writer_free(w);
    free(ts);
    return rc;
}
