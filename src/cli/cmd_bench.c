/* brisk bench -m FILE [-m FILE2 ...] [-p 512] [-n 128] [-d DEPTH] [-t THREADS] [-r REPS] [-o md|json|csv]
 * brisk bench --membw [-t THREADS] [-o md|json|csv]
 *
 * One row per (model, -p, -n, -d, -t): prompt processing (a batch of -p
 * tokens from an empty cache), decode (-n tokens one at a time after -d tokens
 * of context), time to first token (= the prompt's time: its logits are the
 * first token's), and the decode's weight bandwidth: bytes of weights per token
 * (brisk_model_n_bytes: every tensor of the file, as the reference figures in
 * ANCHORS.md count it) times tok/s, with its share of the machine's read
 * bandwidth measured in the same run (membw.c) or, with every layer on the
 * GPU, of the GPU's copy bandwidth (brisk_gpu_query). Each figure is the median of
 * -r repetitions after a warm-up, with min and max. Tokens are random valid
 * ids (seeded); the cache is reset with brisk_context_truncate between runs.
 * Options -p, -n, -d and -t take comma-separated lists and may be repeated. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "brisk.h"
#include "cli/commands.h"
#include "cli/membw.h"

#define MAX_LIST 32
#define MAX_MODELS 32
#define MAX_REPS 1000

typedef struct int_list {
    int32_t v[MAX_LIST];
    int n;
} int_list;

typedef struct bench_options {
    const char *models[MAX_MODELS];
    int n_models;
    int_list p, n, d, t;
    int reps;
    const char *format; /* md, json, csv */
    bool membw_only;
    double bw_given;    /* --bw: use this instead of measuring */
    long membw_mib;
    uint64_t seed;
    int32_t gpu_layers; /* --gpu-layers (CUDA builds): -1 = as many as fit */
    brisk_kv_type kv_type; /* --kv-type */
} bench_options;

typedef struct stat3 {
    double median, min, max;
} stat3;

/* Which memory a row's decode streams its weights from. */
typedef enum bw_ref { BW_CPU, BW_GPU, BW_MIXED } bw_ref;

static bw_ref bw_ref_of(int32_t gpu_layers, int32_t n_layers) {
    return gpu_layers == 0 ? BW_CPU : gpu_layers >= n_layers ? BW_GPU : BW_MIXED;
}

/* The GPU's copy bandwidth, measured once, when a row first runs all on it. */
typedef struct gpu_ref {
    bool measured, ok;
    brisk_gpu_info info;
} gpu_ref;

typedef struct bench_row {
    const char *path;
    char name[128];
    uint64_t file_bytes, model_bytes, n_params;
    int32_t threads, n_prompt, n_gen, depth, reps;
    stat3 pp_tps, tg_tps, ttft_ms;
    stat3 near_bw; /* read bandwidth measured right before each decode run (GB/s), when measured */
    double decode_gbps, bw_pct;
    int32_t gpu_layers, n_layers; /* of the row's context (placement: bw_ref_of) */
    uint64_t peak_rss;
} bench_row;

static void bench_usage(FILE *out) {
    fprintf(out,
            "usage: brisk bench -m FILE [-m FILE ...] [options]\n"
            "       brisk bench --membw [-t N] [-o FORMAT]\n"
            "  -m, --model FILE   model to measure (repeatable)\n"
            "  -p, --n-prompt N   prompt tokens, processed as one batch (default 512; 0 = skip)\n"
            "  -n, --n-gen N      tokens decoded one at a time (default 128; 0 = skip)\n"
            "  -d, --depth N      tokens already in the context before decoding (default 0)\n"
            "  -t, --threads N    threads (default: all cores)\n"
            "  -r, --reps N       repetitions after one warm-up; median, min and max (default 5)\n"
            "  -o, --output F     md (default), json or csv\n"
            "      --membw        only measure the memory read bandwidth\n"
            "      --membw-mib N  bandwidth buffer size (default 1024)\n"
            "      --bw GBPS      take the bandwidth as given instead of measuring it\n"
            "      --seed N       seed of the random tokens (default 1)\n"
            "      --gpu-layers N layers on the GPU (CUDA builds; default: as many as fit; 0 = CPU only)\n"
            "      --kv-type T    KV cache of the GPU layers: f16 (default) or q8_0 (8-bit, lossy; CPU layers keep f16)\n"
            "-p, -n, -d and -t take comma-separated lists and can be repeated; each combination is one row.\n");
}

static bool parse_list(const char *opt, const char *s, long lo, long hi, int_list *l) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (!cli_parse_long("brisk bench", opt, tok, lo, hi, &v)) return false;
        if (l->n == MAX_LIST) {
            fprintf(stderr, "brisk bench: at most %d values for %s\n", MAX_LIST, opt);
            return false;
        }
        l->v[l->n++] = (int32_t)v;
    }
    if (!l->n) {
        fprintf(stderr, "brisk bench: %s needs a value\n", opt);
        return false;
    }
    return true;
}

/* Returns 0, 2 on a usage error, -1 after --help. */
static int parse_args(int argc, char **argv, bench_options *o) {
    int_list p = {0}, n = {0}, d = {0}, t = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { bench_usage(stdout); return -1; }
        if (!strcmp(a, "--membw")) { o->membw_only = true; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, "brisk bench: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        long x;
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (o->n_models == MAX_MODELS) { fprintf(stderr, "brisk bench: at most %d models\n", MAX_MODELS); return 2; }
            o->models[o->n_models++] = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) ok = parse_list(a, v, 0, 1 << 20, &p);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) ok = parse_list(a, v, 0, 1 << 20, &n);
        else if (!strcmp(a, "-d") || !strcmp(a, "--depth")) ok = parse_list(a, v, 0, 1 << 22, &d);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = parse_list(a, v, 1, 1024, &t);
        else if (!strcmp(a, "-r") || !strcmp(a, "--reps")) { ok = cli_parse_long("brisk bench", a, v, 1, MAX_REPS, &x); o->reps = (int)x; }
        else if (!strcmp(a, "--membw-mib")) ok = cli_parse_long("brisk bench", a, v, 1, 1 << 20, &o->membw_mib);
        else if (!strcmp(a, "--seed")) { ok = cli_parse_long("brisk bench", a, v, 0, INT32_MAX, &x); o->seed = (uint64_t)x; }
        else if (!strcmp(a, "--gpu-layers")) { ok = cli_parse_long("brisk bench", a, v, -1, 1 << 16, &x); o->gpu_layers = (int32_t)x; }
        else if (!strcmp(a, "--kv-type")) ok = cli_parse_kv_type("brisk bench", a, v, &o->kv_type);
        else if (!strcmp(a, "--bw")) {
            char *end;
            o->bw_given = strtod(v, &end);
            if (*end || end == v || !(o->bw_given > 0)) {
                fprintf(stderr, "brisk bench: --bw expects a positive number of GB/s, got '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (strcmp(v, "md") && strcmp(v, "json") && strcmp(v, "csv")) {
                fprintf(stderr, "brisk bench: -o expects md, json or csv, got '%s'\n", v);
                return 2;
            }
            o->format = v;
        } else {
            fprintf(stderr, "brisk bench: unknown option '%s'\n", a);
            bench_usage(stderr);
            return 2;
        }
        if (!ok) return 2;
    }
    if (!o->membw_only && o->n_models == 0) {
        fprintf(stderr, "brisk bench: give a model (-m FILE) or --membw\n");
        bench_usage(stderr);
        return 2;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->p = p.n ? p : (int_list){{512}, 1};
    o->n = n.n ? n : (int_list){{128}, 1};
    o->d = d.n ? d : (int_list){{0}, 1};
    o->t = t.n ? t : (int_list){{(int32_t)(cores > 0 ? cores : 1)}, 1};
    return 0;
}

/* ---- measurement ------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static stat3 stats(double *v, int n) {
    if (n == 0) return (stat3){0, 0, 0};
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return (stat3){med, v[0], v[n - 1]};
}

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Peak resident memory of this process (VmHWM), and its reset (Linux >= 4.0). */
static uint64_t peak_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

static void reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

static bool eval_or_report(brisk_context *ctx, const brisk_token *toks, int32_t n, const char *path) {
    brisk_error err;
    if (brisk_eval(ctx, toks, n, false, &err) == BRISK_OK) return true;
    fprintf(stderr, "brisk bench: %s: %s\n", path, err.msg);
    return false;
}

/* One row: warm-up, then reps of prompt processing and of decoding. With
 * near_bw_mib > 0, the read bandwidth is measured again right before each
 * decode run (the machine's bandwidth can change by 2x within minutes on a
 * shared host), and bw_pct is the median of the per-run shares. */
static bool measure(brisk_context *ctx, const brisk_token *toks, bench_row *r, const char *path, long near_bw_mib) {
    double *pp = calloc((size_t)r->reps, sizeof *pp), *tg = calloc((size_t)r->reps, sizeof *tg);
    double *ttft = calloc((size_t)r->reps, sizeof *ttft), *bw = calloc((size_t)r->reps, sizeof *bw);
    double *share = calloc((size_t)r->reps, sizeof *share);
    bool ok = pp && tg && ttft && bw && share;
    if (!ok) fprintf(stderr, "brisk bench: out of memory\n");
    /* warm-up: fault in every weight page and the buffers */
    if (ok) {
        brisk_context_truncate(ctx, 0);
        int32_t w = r->n_prompt > 0 ? (r->n_prompt < 64 ? r->n_prompt : 64) : 1;
        ok = eval_or_report(ctx, toks, w, path);
        for (int i = 0; ok && i < 2 && r->n_gen > 0 && w + i < brisk_context_n_ctx(ctx); i++)
            ok = eval_or_report(ctx, toks + w + i, 1, path);
    }
    for (int k = 0; ok && k < r->reps && r->n_prompt > 0; k++) {
        brisk_context_truncate(ctx, 0);
        double t0 = cli_now();
        ok = eval_or_report(ctx, toks, r->n_prompt, path);
        double dt = cli_now() - t0;
        pp[k] = r->n_prompt / dt;
        ttft[k] = dt * 1000.0;
    }
    membw_buffer *bw_buf = NULL;
    if (ok && near_bw_mib > 0 && r->n_gen > 0) ok = (bw_buf = membw_open((size_t)near_bw_mib << 20, r->threads)) != NULL;
    for (int k = 0; ok && k < r->reps && r->n_gen > 0; k++) {
        brisk_context_truncate(ctx, 0);
        if (r->depth > 0) ok = eval_or_report(ctx, toks, r->depth, path);
        membw_result near;
        if (ok && bw_buf) {
            ok = membw_run(bw_buf, 3, &near);
            bw[k] = near.gbps;
        }
        double t0 = cli_now();
        for (int32_t i = 0; ok && i < r->n_gen; i++) ok = eval_or_report(ctx, toks + r->depth + i, 1, path);
        tg[k] = r->n_gen / (cli_now() - t0);
        if (near_bw_mib > 0) share[k] = 100.0 * (double)r->model_bytes * tg[k] / 1e9 / bw[k];
    }
    if (ok) {
        if (r->n_prompt > 0) {
            r->pp_tps = stats(pp, r->reps);
            r->ttft_ms = stats(ttft, r->reps);
        }
        if (r->n_gen > 0) r->tg_tps = stats(tg, r->reps);
        if (r->n_gen > 0 && near_bw_mib > 0) {
            r->near_bw = stats(bw, r->reps);
            r->bw_pct = stats(share, r->reps).median;
        }
    }
    membw_close(bw_buf);
    free(pp);
    free(tg);
    free(ttft);
    free(bw);
    free(share);
    return ok;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* All rows of one model; returns the number of rows added, -1 on failure. */
static int bench_model(const bench_options *o, const char *path, double bw, gpu_ref *gpu, bench_row *rows,
                       int max_rows) {
    brisk_error err;
    reset_peak_rss();
    brisk_model *m = brisk_model_load(path, &err);
    if (!m) {
        fprintf(stderr, "brisk bench: %s\n", err.msg);
        return -1;
    }
    int32_t n_ctx = 1, max_tokens = 1;
    for (int ip = 0; ip < o->p.n; ip++)
        for (int in = 0; in < o->n.n; in++)
            for (int id = 0; id < o->d.n; id++) {
                int32_t need = o->p.v[ip] > o->d.v[id] + o->n.v[in] ? o->p.v[ip] : o->d.v[id] + o->n.v[in];
                if (need > n_ctx) n_ctx = need;
            }
    max_tokens = n_ctx + 2;
    brisk_token *toks = malloc((size_t)max_tokens * sizeof *toks);
    int added = 0;
    bool ok = toks != NULL;
    uint64_t s = o->seed;
    for (int32_t i = 0; ok && i < max_tokens; i++)
        toks[i] = (brisk_token)(rng_next(&s) % (uint64_t)brisk_model_n_vocab(m));
    uint64_t file_bytes = brisk_gguf_file_size(brisk_model_gguf(m));
    for (int it = 0; ok && it < o->t.n; it++) {
        brisk_context_params cp = brisk_context_default_params();
        cp.n_ctx = n_ctx;
        cp.n_threads = o->t.v[it];
        cp.n_gpu_layers = o->gpu_layers;
        cp.kv_type = o->kv_type;
        brisk_context *ctx = brisk_context_create(m, &cp, &err);
        if (!ctx) {
            fprintf(stderr, "brisk bench: %s: %s\n", path, err.msg);
            ok = false;
            break;
        }
        const int32_t gpu_layers = brisk_context_n_gpu_layers(ctx), n_layers = brisk_model_n_layers(m);
        const bw_ref ref = bw_ref_of(gpu_layers, n_layers);
        if (ref == BW_GPU && !gpu->measured) {
            gpu->measured = true;
            gpu->ok = brisk_gpu_query(&gpu->info, true, &err) == BRISK_OK;
            if (!gpu->ok) fprintf(stderr, "brisk bench: GPU copy bandwidth not measured: %s\n", err.msg);
        }
        for (int ip = 0; ok && ip < o->p.n; ip++)
            for (int in = 0; ok && in < o->n.n; in++)
                for (int id = 0; ok && id < o->d.n; id++) {
                    if (added == max_rows) { ok = false; fprintf(stderr, "brisk bench: too many rows\n"); break; }
                    bench_row *r = &rows[added];
                    *r = (bench_row){.path = path, .file_bytes = file_bytes, .model_bytes = brisk_model_n_bytes(m),
                                     .n_params = brisk_model_n_params(m), .threads = o->t.v[it],
                                     .n_prompt = o->p.v[ip], .n_gen = o->n.v[in], .depth = o->d.v[id], .reps = o->reps,
                                     .gpu_layers = gpu_layers, .n_layers = n_layers};
                    snprintf(r->name, sizeof r->name, "%s", base_name(path));
                    fprintf(stderr, "brisk bench: %s, %d threads, prompt %d, decode %d after %d ...\n", r->name,
                            r->threads, r->n_prompt, r->n_gen, r->depth);
                    /* the CPU's bandwidth right before each decode run only where the CPU streams the weights */
                    ok = measure(ctx, toks, r, path, o->bw_given > 0 || ref != BW_CPU ? 0 : o->membw_mib);
                    r->decode_gbps = (double)r->model_bytes * r->tg_tps.median / 1e9;
                    if (ref == BW_GPU) r->bw_pct = gpu->ok ? 100.0 * r->decode_gbps / gpu->info.copy_gbps : 0;
                    else if (ref == BW_MIXED) r->bw_pct = 0; /* two memories: no one ceiling */
                    else if (o->bw_given > 0) r->bw_pct = bw > 0 ? 100.0 * r->decode_gbps / bw : 0;
                    if (ok) added++;
                }
        brisk_context_free(ctx);
    }
    uint64_t rss = peak_rss_bytes();
    for (int i = 0; i < added; i++) rows[i].peak_rss = rss;
    free(toks);
    brisk_model_free(m);
    return ok ? added : -1;
}

/* ---- output ---------------------------------------------------------------------- */

static bw_ref row_ref(const bench_row *r) { return bw_ref_of(r->gpu_layers, r->n_layers); }

/* "CPU", "GPU" or "GPU 20/32 layers" into buf. */
static const char *weights_in(const bench_row *r, char *buf, size_t n) {
    const bw_ref ref = row_ref(r);
    if (ref == BW_CPU) return "CPU";
    if (ref == BW_GPU) return "GPU";
    snprintf(buf, n, "GPU %d/%d layers", r->gpu_layers, r->n_layers);
    return buf;
}

/* Whether a row has a share of a bandwidth: a decode, all on one memory, measured. */
static bool has_bw_pct(const bench_row *r, const gpu_ref *gpu) {
    const bw_ref ref = row_ref(r);
    return r->n_gen > 0 && (ref == BW_CPU || (ref == BW_GPU && gpu->ok));
}

static bool any_ref(const bench_row *rows, int n, bw_ref ref) {
    for (int i = 0; i < n; i++)
        if (row_ref(&rows[i]) == ref) return true;
    return false;
}

static void md_cell(char *buf, size_t n, stat3 s, bool active, const char *fmt) {
    if (!active) { snprintf(buf, n, "-"); return; }
    char a[24], b[24], c[24];
    snprintf(a, sizeof a, fmt, s.median);
    snprintf(b, sizeof b, fmt, s.min);
    snprintf(c, sizeof c, fmt, s.max);
    snprintf(buf, n, "%s [%s-%s]", a, b, c);
}

static void bw_line(FILE *out, const membw_result *bw, double given) {
    if (given > 0) fprintf(out, "memory read bandwidth: %.1f GB/s (given with --bw)\n", given);
    else
        fprintf(out, "memory read bandwidth: %.1f GB/s (best of %d passes, median %.1f; %d threads, %zu MiB buffer)\n",
                bw->gbps, bw->passes, bw->gbps_median, bw->threads, bw->bytes >> 20);
    fprintf(out, "CPU: %s\n", brisk_cpu_kernels());
}

static void print_md(const bench_row *rows, int n, const membw_result *bw, double bw_gbps, double given,
                     const gpu_ref *gpu) {
    bw_line(stdout, bw, given);
    if (gpu->ok) printf("GPU: %s, copy bandwidth %.1f GB/s (device to device, read + written)\n", gpu->info.name, gpu->info.copy_gbps);
    printf("medians of %d runs after a warm-up, [min-max]; decode GB/s = bytes of weights per token x decode tok/s\n",
           n ? rows[0].reps : 0);
    if (any_ref(rows, n, BW_CPU)) {
        if (given > 0)
            printf("%% of bw (weights in CPU memory): decode GB/s / %.1f GB/s\n", given);
        else
            printf("%% of bw (weights in CPU memory): median over the decode runs of decode GB/s / the read bandwidth\n"
                   "measured right before that run (bw GB/s: those measurements; a shared host's bandwidth moves)\n");
    }
    if (any_ref(rows, n, BW_GPU)) printf("%% of bw (every layer on the GPU): decode GB/s / the GPU's copy bandwidth\n");
    if (any_ref(rows, n, BW_MIXED)) printf("%% of bw: none for rows with only some layers on the GPU (two memories)\n");
    printf("\n| model | size | threads | prompt | decode | depth | prompt tok/s | decode tok/s | TTFT ms | decode GB/s | "
           "%% of bw | bw GB/s | weights in |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        char pp[128], tg[128], tt[128];
        md_cell(pp, sizeof pp, r->pp_tps, r->n_prompt > 0, "%.1f");
        md_cell(tg, sizeof tg, r->tg_tps, r->n_gen > 0, "%.1f");
        md_cell(tt, sizeof tt, r->ttft_ms, r->n_prompt > 0, r->ttft_ms.median < 100 ? "%.1f" : "%.0f");
        char size[32];
        if (r->file_bytes >= 100000000) snprintf(size, sizeof size, "%.2f GB", r->file_bytes / 1e9);
        else snprintf(size, sizeof size, "%.1f MB", r->file_bytes / 1e6);
        printf("| %s | %s | %d | %d | %d | %d | %s | %s | %s |", r->name, size, r->threads, r->n_prompt, r->n_gen,
               r->depth, pp, tg, tt);
        char near[128], pct[32], where[48];
        snprintf(pct, sizeof pct, "%.0f%%", r->bw_pct);
        if (row_ref(r) == BW_GPU && gpu->ok) snprintf(near, sizeof near, "%.1f (copy)", gpu->info.copy_gbps);
        else if (row_ref(r) != BW_CPU) snprintf(near, sizeof near, "-");
        else if (given > 0) snprintf(near, sizeof near, "%.1f", given);
        else md_cell(near, sizeof near, r->near_bw, r->n_gen > 0, "%.1f");
        if (r->n_gen > 0) printf(" %.1f | %s | %s |", r->decode_gbps, has_bw_pct(r, gpu) ? pct : "-", near);
        else printf(" - | - | - |");
        printf(" %s |\n", weights_in(r, where, sizeof where));
    }
}

static json_t *json_stat(stat3 s, bool active) {
    if (!active) return json_null();
    return json_pack("{s:f, s:f, s:f}", "median", s.median, "min", s.min, "max", s.max);
}

static json_t *json_membw(const membw_result *bw, double given) {
    if (given > 0) return json_pack("{s:f, s:s}", "gbps", given, "source", "given");
    return json_pack("{s:f, s:f, s:i, s:I, s:i, s:s}", "gbps", bw->gbps, "median_gbps", bw->gbps_median,
                     "threads", bw->threads, "buffer_bytes", (json_int_t)bw->bytes, "passes", bw->passes,
                     "source", "measured");
}

static int print_json(const bench_row *rows, int n, const membw_result *bw, double given, bool membw_only,
                      const gpu_ref *gpu) {
    json_t *root = json_object();
    json_object_set_new(root, "membw", json_membw(bw, given));
    json_object_set_new(root, "cpu_kernels", json_string(brisk_cpu_kernels()));
    if (gpu && gpu->ok)
        json_object_set_new(root, "gpu", json_pack("{s:s, s:f}", "name", gpu->info.name, "copy_gbps", gpu->info.copy_gbps));
    if (!membw_only) {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++) {
            const bench_row *r = &rows[i];
            json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:i, s:i, s:i}", "model", r->name, "path",
                                  r->path, "file_bytes", (json_int_t)r->file_bytes, "weight_bytes_per_token",
                                  (json_int_t)r->model_bytes, "n_params", (json_int_t)r->n_params, "threads",
                                  r->threads, "n_prompt", r->n_prompt, "n_gen", r->n_gen, "depth", r->depth, "reps",
                                  r->reps);
            json_object_set_new(o, "prompt_tps", json_stat(r->pp_tps, r->n_prompt > 0));
            json_object_set_new(o, "ttft_ms", json_stat(r->ttft_ms, r->n_prompt > 0));
            json_object_set_new(o, "decode_tps", json_stat(r->tg_tps, r->n_gen > 0));
            json_object_set_new(o, "decode_gbps", r->n_gen > 0 ? json_real(r->decode_gbps) : json_null());
            json_object_set_new(o, "bw_pct", has_bw_pct(r, gpu) ? json_real(r->bw_pct) : json_null());
            json_object_set_new(o, "read_gbps",
                                given > 0 || row_ref(r) != BW_CPU ? json_null() : json_stat(r->near_bw, r->n_gen > 0));
            json_object_set_new(o, "weights_in", json_string((const char *[]){"cpu", "gpu", "mixed"}[row_ref(r)]));
            json_object_set_new(o, "gpu_layers", json_integer(r->gpu_layers));
            json_object_set_new(o, "peak_rss_bytes", json_integer((json_int_t)r->peak_rss));
            json_array_append_new(arr, o);
        }
        json_object_set_new(root, "rows", arr);
    }
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) ? 1 : 0;
    putchar('\n');
    json_decref(root);
    return rc;
}

static void print_csv(const bench_row *rows, int n, double bw_gbps, bool membw_only, const gpu_ref *gpu) {
    if (membw_only) {
        printf("membw_gbps\n%.3f\n", bw_gbps);
        return;
    }
    printf("model,file_bytes,weight_bytes_per_token,n_params,threads,n_prompt,n_gen,depth,reps,"
           "prompt_tps,prompt_tps_min,prompt_tps_max,decode_tps,decode_tps_min,decode_tps_max,"
           "ttft_ms,ttft_ms_min,ttft_ms_max,decode_gbps,membw_gbps,bw_pct,peak_rss_bytes,weights_in,gpu_layers\n");
    for (int i = 0; i < n; i++) {
        const bench_row *r = &rows[i];
        bool q = strpbrk(r->name, ",\"\n") != NULL;
        if (q) {
            putchar('"');
            for (const char *c = r->name; *c; c++) { if (*c == '"') putchar('"'); putchar(*c); }
            putchar('"');
        } else {
            fputs(r->name, stdout);
        }
        printf(",%llu,%llu,%llu,%d,%d,%d,%d,%d", (unsigned long long)r->file_bytes, (unsigned long long)r->model_bytes,
               (unsigned long long)r->n_params, r->threads, r->n_prompt, r->n_gen, r->depth, r->reps);
        const stat3 *s[3] = {&r->pp_tps, &r->tg_tps, &r->ttft_ms};
        bool act[3] = {r->n_prompt > 0, r->n_gen > 0, r->n_prompt > 0};
        for (int k = 0; k < 3; k++) {
            if (act[k]) printf(",%.3f,%.3f,%.3f", s[k]->median, s[k]->min, s[k]->max);
            else printf(",,,");
        }
        /* membw_gbps: the bandwidth bw_pct divides by (the GPU's copy bandwidth for GPU rows) */
        if (has_bw_pct(r, gpu))
            printf(",%.3f,%.3f,%.2f", r->decode_gbps,
                   row_ref(r) == BW_GPU ? gpu->info.copy_gbps : r->near_bw.median > 0 ? r->near_bw.median : bw_gbps, r->bw_pct);
        else if (r->n_gen > 0) printf(",%.3f,,", r->decode_gbps);
        else printf(",,%.3f,", bw_gbps);
        char where[48];
        printf(",%llu,%s,%d\n", (unsigned long long)r->peak_rss, weights_in(r, where, sizeof where), r->gpu_layers);
    }
}

int cmd_bench(int argc, char **argv) {
    bench_options o = {.reps = 5, .format = "md", .membw_mib = 1024, .seed = 1, .gpu_layers = -1};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;

    membw_result bw = {0};
    double bw_gbps = o.bw_given;
    if (bw_gbps <= 0) {
        int threads = 1;
        for (int i = 0; i < o.t.n; i++)
            if (o.t.v[i] > threads) threads = o.t.v[i];
        if (!membw_measure((size_t)o.membw_mib << 20, threads, 10, &bw)) return 1;
        bw_gbps = bw.gbps;
    }
    if (o.membw_only) {
        if (!strcmp(o.format, "json")) return print_json(NULL, 0, &bw, o.bw_given, true, NULL);
        if (!strcmp(o.format, "csv")) print_csv(NULL, 0, bw_gbps, true, NULL);
        else bw_line(stdout, &bw, o.bw_given);
        return 0;
    }

    int max_rows = o.n_models * o.p.n * o.n.n * o.d.n * o.t.n;
    bench_row *rows = calloc((size_t)max_rows, sizeof *rows);
    if (!rows) { fprintf(stderr, "brisk bench: out of memory\n"); return 1; }
    int n_rows = 0;
    rc = 0;
    gpu_ref gpu = {0};
    for (int i = 0; i < o.n_models; i++) {
        int k = bench_model(&o, o.models[i], bw_gbps, &gpu, rows + n_rows, max_rows - n_rows);
        if (k < 0) { rc = 1; break; }
        n_rows += k;
    }
    if (rc == 0) {
        if (!strcmp(o.format, "json")) rc = print_json(rows, n_rows, &bw, o.bw_given, false, &gpu);
        else if (!strcmp(o.format, "csv")) print_csv(rows, n_rows, bw_gbps, false, &gpu);
        else print_md(rows, n_rows, &bw, bw_gbps, o.bw_given, &gpu);
        if (fflush(stdout) != 0) rc = 1;
    }
    free(rows);
    return rc;
}
