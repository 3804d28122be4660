/* brisk fit -m FILE.gguf [--ctx N] [--kv-type f16|f32] [-t N] [--bw GBPS] [--json]
 * brisk fit --params 8B | --shape NAME [--type Q4_K_M] [...]
 * brisk fit --ram 32G [--ctx N] [--bw GBPS]      which shapes x types fit in 32 GB
 *
 * The memory a model needs in brisk at a context length, and its expected decode speed:
 *  - weights: every tensor's bytes (mmapped and all read per token);
 *  - KV cache: per layer 2 (K and V) x n_ctx x n_head_kv x head_dim x bytes of the
 *    KV type (f16: 2; f32: 4, what --exact uses), as brisk_context_create allocates;
 *  - compute buffers: the context's activation buffers for a batch of
 *    min(n_ctx, 512) tokens, per-thread attention scores and scratch, one row of
 *    logits (src/runtime/context.c);
 *  - runtime: tokenizer tables and the process itself (an allowance, see RUNTIME_*).
 * Fit: the rule is weights <= 60% of RAM (the rest for KV, buffers, the OS and other
 * programs), and everything within what is available now. Decode speed is bound by
 * memory bandwidth: tok/s <= bandwidth / bytes read per token (weights, plus the KV
 * cache read by attention: at an empty and at a full context). The bandwidth is
 * measured like `brisk bench --membw` unless given with --bw.
 * With a CUDA GPU: whether every layer with its f16 KV cache fits in the free
 * device memory (else about how many layers do), and decode speed at the GPU's
 * measured copy bandwidth. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "brisk.h"
#include "cli/commands.h"
#include "cli/membw.h"
#include "cli/shapes.h"

#define WEIGHTS_RAM_SHARE 0.60
#define MAX_BATCH 512                   /* context.c: tokens per forward pass */
#define RUNTIME_BASE_BYTES (8ull << 20) /* code, libc, PCRE2, stacks of a brisk process */
#define RUNTIME_PER_TOKEN_BYTES 96      /* tokenizer tables per vocabulary entry */

typedef struct fit_model {
    char name[160];
    const char *source; /* "file" or "shape" */
    char arch[32];
    int64_t n_embd, n_layer, n_head, n_head_kv, head_dim, head_dim_v, n_ff, n_vocab;
    uint64_t weight_bytes, n_params;
} fit_model;

typedef struct fit_estimate {
    uint64_t weights, kv, compute, runtime, total;
    double decode_tps_empty, decode_tps_full;
} fit_estimate;

static void fit_usage(FILE *out) {
    fprintf(out,
            "usage: brisk fit -m FILE.gguf [options]\n"
            "       brisk fit --params 8B | --shape NAME [--type TYPE] [options]\n"
            "       brisk fit --ram 32G [options]\n"
            "  -m, --model FILE    a model file\n"
            "      --shape NAME    a shape of `brisk synth` (llama3-8b, qwen3-8b, ...)\n"
            "      --params N      the shape closest to N parameters (8B, 1.5B, 500M)\n"
            "      --type TYPE     quantization of --shape/--params (default Q4_K_M)\n"
            "  -c, --ctx N         context length (default 4096)\n"
            "      --kv-type T     f16 (default) or f32\n"
            "  -t, --threads N     threads (default: all cores)\n"
            "      --bw GBPS       memory bandwidth to assume instead of measuring it\n"
            "      --ram SIZE      list which shapes x types fit in SIZE of RAM (32G, 16384M)\n"
            "      --json          machine-readable output\n");
}

/* "32G", "32GB", "16384M", "1.5T", plain bytes; binary units (GiB), as RAM is sold. */
static bool parse_size(const char *s, uint64_t *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0)) return false;
    double mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1024.0, end++;
    else if (*end == 'M' || *end == 'm') mul = 1024.0 * 1024, end++;
    else if (*end == 'G' || *end == 'g') mul = 1024.0 * 1024 * 1024, end++;
    else if (*end == 'T' || *end == 't') mul = 1024.0 * 1024 * 1024 * 1024, end++;
    if (*end == 'i') end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end) return false;
    *out = (uint64_t)(v * mul);
    return true;
}

/* "8B", "1.5b", "500M" -> parameters. */
static bool parse_params(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0)) return false;
    if (*end == 'B' || *end == 'b') v *= 1e9, end++;
    else if (*end == 'M' || *end == 'm') v *= 1e6, end++;
    if (*end) return false;
    *out = v;
    return true;
}

static void meminfo(uint64_t *total, uint64_t *avail) {
    *total = *avail = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return;
    char line[256];
    unsigned long long kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) *total = kb * 1024ull;
        else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) *avail = kb * 1024ull;
    }
    fclose(f);
}

/* ---- the model -------------------------------------------------------------- */

static bool arch_int(const brisk_gguf *g, const char *arch, const char *suffix, int64_t def, int64_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const brisk_gguf_value *v = brisk_gguf_find(g, key);
    *out = def;
    if (!v) return def >= 0;
    return brisk_gguf_value_int(v, out);
}

static int model_from_file(const char *path, fit_model *fm) {
    brisk_error err;
    brisk_gguf *g = brisk_gguf_open(path, &err);
    if (!g) {
        fprintf(stderr, "brisk fit: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    const brisk_gguf_value *a = brisk_gguf_find(g, "general.architecture");
    const brisk_gguf_tensor *emb = brisk_gguf_find_tensor(g, "token_embd.weight");
    if (!a || a->type != BRISK_GGUF_STRING || a->v.str.len >= sizeof fm->arch) {
        fprintf(stderr, "brisk fit: %s: no general.architecture in the metadata\n", path);
        goto done;
    }
    snprintf(fm->arch, sizeof fm->arch, "%.*s", (int)a->v.str.len, a->v.str.ptr);
    const char *s = strrchr(path, '/');
    snprintf(fm->name, sizeof fm->name, "%s", s ? s + 1 : path);
    fm->source = "file";
    if (!arch_int(g, fm->arch, "embedding_length", -1, &fm->n_embd) ||
        !arch_int(g, fm->arch, "block_count", -1, &fm->n_layer) ||
        !arch_int(g, fm->arch, "attention.head_count", -1, &fm->n_head) ||
        !arch_int(g, fm->arch, "feed_forward_length", -1, &fm->n_ff) || fm->n_head <= 0 ||
        !arch_int(g, fm->arch, "attention.head_count_kv", fm->n_head, &fm->n_head_kv) ||
        !arch_int(g, fm->arch, "attention.key_length", fm->n_embd / fm->n_head, &fm->head_dim) ||
        !arch_int(g, fm->arch, "attention.value_length", fm->head_dim, &fm->head_dim_v)) {
        fprintf(stderr, "brisk fit: %s: the %s hyperparameters (embedding_length, block_count, attention.head_count, "
                        "feed_forward_length) are missing or not integers\n", path, fm->arch);
        goto done;
    }
    fm->n_vocab = emb && emb->n_dims == 2 ? emb->ne[1] : 0;
    for (uint64_t i = 0; i < brisk_gguf_n_tensors(g); i++) {
        const brisk_gguf_tensor *t = brisk_gguf_tensor_at(g, i);
        fm->weight_bytes += t->n_bytes;
        fm->n_params += t->n_elements;
    }
    rc = 0;
done:
    brisk_gguf_close(g);
    return rc;
}

static void model_from_shape(const synth_shape *s, const synth_recipe *r, fit_model *fm) {
    *fm = (fit_model){.source = "shape", .n_embd = s->n_embd, .n_layer = s->n_layer, .n_head = s->n_head,
                      .n_head_kv = s->n_head_kv, .head_dim = synth_head_dim(s), .head_dim_v = synth_head_dim(s),
                      .n_ff = s->n_ff, .n_vocab = s->n_vocab};
    snprintf(fm->name, sizeof fm->name, "%s %s", s->name, r->name);
    snprintf(fm->arch, sizeof fm->arch, "%s", s->arch);
    fm->weight_bytes = synth_model_bytes(s, r, &fm->n_params);
}

/* The KV cache of every layer at n_ctx tokens, kv_elem bytes per value. */
static uint64_t kv_bytes(const fit_model *m, int64_t n_ctx, int kv_elem) {
    return (uint64_t)(m->n_layer * n_ctx * m->n_head_kv * (m->head_dim + m->head_dim_v) * kv_elem);
}

static fit_estimate estimate(const fit_model *m, int64_t n_ctx, int kv_elem, int64_t threads, double bw_gbps) {
    fit_estimate e = {.weights = m->weight_bytes};
    int64_t kv_dim = m->n_head_kv * m->head_dim, kv_dim_v = m->n_head_kv * m->head_dim_v;
    e.kv = kv_bytes(m, n_ctx, kv_elem);
    int64_t B = n_ctx < MAX_BATCH ? n_ctx : MAX_BATCH;
    int64_t q_dim = m->n_head * m->head_dim, o_dim = m->n_head * m->head_dim_v;
    int64_t max_in = m->n_ff > m->n_embd ? m->n_ff : m->n_embd;
    if (o_dim > max_in) max_in = o_dim;
    int64_t floats = B * (3 * m->n_embd + q_dim + kv_dim + kv_dim_v + o_dim + 2 * m->n_ff) + threads * n_ctx +
                     threads * max_in + m->n_vocab;
    e.compute = (uint64_t)floats * 4;
    e.runtime = RUNTIME_BASE_BYTES + (uint64_t)m->n_vocab * RUNTIME_PER_TOKEN_BYTES;
    e.total = e.weights + e.kv + e.compute + e.runtime;
    if (bw_gbps > 0) {
        e.decode_tps_empty = bw_gbps * 1e9 / (double)e.weights;
        e.decode_tps_full = bw_gbps * 1e9 / (double)(e.weights + e.kv);
    }
    return e;
}

/* The GPU side of a fit. Layers that fit: the weights and the f16 KV cache
 * spread evenly over the layers (the embedding and output matrices with them),
 * so "about". */
typedef struct gpu_fit {
    bool present;
    brisk_gpu_info info;
    char note[sizeof(((brisk_error *)0)->msg) + 16]; /* why there is none */
    uint64_t need;      /* every layer: weights + f16 KV cache + the reserve */
    int64_t layers;     /* that fit (m->n_layer: all) */
    double decode_tps;  /* every layer there: copy bandwidth / weight bytes per token (an estimate: the GEMVs
                           read at 76-98% of it today, reads alone can pass it) */
} gpu_fit;

static gpu_fit fit_gpu(const fit_model *m, int64_t n_ctx) {
    gpu_fit g = {0};
    brisk_error err;
    if (brisk_gpu_query(&g.info, true, &err) != BRISK_OK) {
        snprintf(g.note, sizeof g.note, "no GPU: %s", err.msg);
        return g;
    }
    g.present = true;
    uint64_t model = m->weight_bytes + kv_bytes(m, n_ctx, 2); /* the GPU's KV cache: f16 */
    const uint64_t reserve = g.info.reserve_bytes;
    uint64_t room = g.info.free_bytes > reserve ? g.info.free_bytes - reserve : 0;
    g.need = model + reserve;
    g.layers = model <= room ? m->n_layer : (int64_t)((double)room / ((double)model / (double)m->n_layer));
    if (g.layers >= m->n_layer) g.layers = model <= room ? m->n_layer : m->n_layer - 1;
    g.decode_tps = g.info.copy_gbps * 1e9 / (double)m->weight_bytes;
    return g;
}

static void human(char *buf, size_t n, uint64_t b) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", b / 1073741824.0);
    else snprintf(buf, n, "%.1f MiB", b / 1048576.0);
}

/* ---- the --ram listing ---------------------------------------------------------- */

static const char *const LIST_TYPES[] = {"F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M"};
#define N_LIST_TYPES (int)(sizeof LIST_TYPES / sizeof LIST_TYPES[0])

static int list_ram(uint64_t ram, int64_t n_ctx, int kv_elem, int64_t threads, double bw, bool json) {
    json_t *arr = json ? json_array() : NULL;
    char rb[32];
    human(rb, sizeof rb, ram);
    if (!json) {
        printf("models that fit in %s of RAM at a context of %lld tokens (KV %s; weights <= %.0f%% of RAM and "
               "everything <= RAM)%s\n\n",
               rb, (long long)n_ctx, kv_elem == 2 ? "f16" : "f32", WEIGHTS_RAM_SHARE * 100,
               bw > 0 ? "" : "");
        printf("| shape | type | params | weights | total | fits |%s\n", bw > 0 ? " decode tok/s (est.) |" : "");
        printf("|---|---|---|---|---|---|%s\n", bw > 0 ? "---|" : "");
    }
    for (int i = 0; i < synth_n_shapes; i++)
        for (int k = 0; k < N_LIST_TYPES; k++) {
            synth_recipe r;
            synth_recipe_find(LIST_TYPES[k], &r);
            fit_model m;
            model_from_shape(&synth_shapes[i], &r, &m);
            fit_estimate e = estimate(&m, n_ctx, kv_elem, threads, bw);
            bool fits = e.weights <= WEIGHTS_RAM_SHARE * (double)ram && e.total <= ram;
            if (json) {
                json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:b, s:f}", "shape",
                                                     synth_shapes[i].name, "type", r.name, "n_params",
                                                     (json_int_t)m.n_params, "weights_bytes", (json_int_t)e.weights,
                                                     "total_bytes", (json_int_t)e.total, "fits", fits,
                                                     "decode_tps_est", e.decode_tps_empty));
            } else {
                char wb[32], tb[32];
                human(wb, sizeof wb, e.weights);
                human(tb, sizeof tb, e.total);
                printf("| %s | %s | %.2f B | %s | %s | %s |", synth_shapes[i].name, r.name, m.n_params / 1e9, wb, tb,
                       fits ? "yes" : "no");
                if (bw > 0) printf(" %.1f |", e.decode_tps_empty);
                putchar('\n');
            }
        }
    if (json) {
        json_t *root = json_pack("{s:I, s:I, s:s, s:f, s:o}", "ram_bytes", (json_int_t)ram, "ctx", (json_int_t)n_ctx,
                                 "kv_type", kv_elem == 2 ? "f16" : "f32", "bw_gbps", bw, "models", arr);
        json_dumpf(root, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(root);
    } else if (bw > 0) {
        printf("\ndecode estimate: %.1f GB/s / bytes of weights per token, at an empty context\n", bw);
    }
    return 0;
}

/* ---- command ------------------------------------------------------------------- */

int cmd_fit(int argc, char **argv) {
    const char *path = NULL, *shape_name = NULL, *type_name = NULL, *params_s = NULL, *ram_s = NULL;
    long n_ctx = 4096, threads = sysconf(_SC_NPROCESSORS_ONLN);
    int kv_elem = 2;
    double bw_given = 0;
    bool json = false;
    if (threads < 1) threads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fit_usage(stdout); return 0; }
        if (!strcmp(a, "--json")) { json = true; continue; }
        if (i + 1 >= argc) {
            fprintf(stderr, "brisk fit: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) path = v;
        else if (!strcmp(a, "--shape")) shape_name = v;
        else if (!strcmp(a, "--type")) type_name = v;
        else if (!strcmp(a, "--params")) params_s = v;
        else if (!strcmp(a, "--ram")) ram_s = v;
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) ok = cli_parse_long("brisk fit", a, v, 1, INT32_MAX, &n_ctx);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = cli_parse_long("brisk fit", a, v, 1, 1024, &threads);
        else if (!strcmp(a, "--kv-type")) {
            if (!strcasecmp(v, "f16")) kv_elem = 2;
            else if (!strcasecmp(v, "f32")) kv_elem = 4;
            else { fprintf(stderr, "brisk fit: --kv-type expects f16 or f32, got '%s'\n", v); return 2; }
        } else if (!strcmp(a, "--bw")) {
            char *end;
            bw_given = strtod(v, &end);
            if (*end || end == v || !(bw_given > 0)) {
                fprintf(stderr, "brisk fit: --bw expects a positive number of GB/s, got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "brisk fit: unknown option '%s'\n", a);
            fit_usage(stderr);
            return 2;
        }
        if (!ok) return 2;
    }
    int sources = (path != NULL) + (shape_name != NULL) + (params_s != NULL);
    if (sources > 1) { fprintf(stderr, "brisk fit: give one of -m, --shape and --params\n"); return 2; }
    if (sources == 0 && !ram_s) {
        fprintf(stderr, "brisk fit: give a model (-m FILE, --shape NAME or --params 8B) or --ram SIZE\n");
        fit_usage(stderr);
        return 2;
    }
    if (path && type_name) { fprintf(stderr, "brisk fit: --type goes with --shape/--params, not a file\n"); return 2; }
    synth_recipe recipe;
    if (!synth_recipe_find(type_name ? type_name : "Q4_K_M", &recipe)) {
        fprintf(stderr, "brisk fit: unknown type '%s' (known: %s)\n", type_name, synth_recipe_list());
        return 2;
    }
    uint64_t ram_list = 0;
    if (ram_s && !parse_size(ram_s, &ram_list)) {
        fprintf(stderr, "brisk fit: --ram expects a size such as 32G or 16384M, got '%s'\n", ram_s);
        return 2;
    }
    const synth_shape *shape = NULL;
    if (shape_name && !(shape = synth_shape_find(shape_name))) {
        fprintf(stderr, "brisk fit: unknown shape '%s' (known:", shape_name);
        for (int i = 0; i < synth_n_shapes; i++) fprintf(stderr, " %s", synth_shapes[i].name);
        fprintf(stderr, ")\n");
        return 2;
    }
    if (params_s) {
        double want;
        if (!parse_params(params_s, &want)) {
            fprintf(stderr, "brisk fit: --params expects a count such as 8B or 500M, got '%s'\n", params_s);
            return 2;
        }
        double best = INFINITY;
        for (int i = 0; i < synth_n_shapes; i++) {
            uint64_t np;
            synth_model_bytes(&synth_shapes[i], &recipe, &np);
            double dist = fabs(log((double)np / want));
            if (dist < best) { best = dist; shape = &synth_shapes[i]; }
        }
    }

    fit_model m = {0};
    if (path && model_from_file(path, &m)) return 1;
    if (shape) model_from_shape(shape, &recipe, &m);

    membw_result mb = {0};
    double bw = bw_given;
    if (bw <= 0) {
        if (!membw_measure((size_t)1 << 30, (int)threads, 5, &mb)) return 1;
        bw = mb.gbps;
    }
    if (ram_s && sources == 0) return list_ram(ram_list, n_ctx, kv_elem, threads, bw, json);

    uint64_t ram_total, ram_avail;
    meminfo(&ram_total, &ram_avail);
    uint64_t ram = ram_s ? ram_list : ram_total;
    fit_estimate e = estimate(&m, n_ctx, kv_elem, threads, bw);
    bool rule = e.weights <= WEIGHTS_RAM_SHARE * (double)ram;
    bool now = e.total <= (ram_s ? ram_list : ram_avail);
    const char *verdict = rule && now ? "fits" : now ? "fits, but the weights exceed 60% of RAM" : "does not fit";
    gpu_fit gpu = fit_gpu(&m, n_ctx);
    if (json) {
        json_t *root = json_pack(
            "{s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:f, s:b, s:s, s:n, s:s,"
            " s:f, s:s, s:I, s:f, s:f}",
            "model", m.name, "source", m.source, "arch", m.arch, "n_params", (json_int_t)m.n_params, "ctx",
            (json_int_t)n_ctx, "kv_type", kv_elem == 2 ? "f16" : "f32", "threads", (json_int_t)threads, "bytes",
            "weights", (json_int_t)e.weights, "kv_cache", (json_int_t)e.kv, "compute", (json_int_t)e.compute,
            "runtime", (json_int_t)e.runtime, "total", (json_int_t)e.total, "ram_total_bytes", (json_int_t)ram,
            "ram_available_bytes", (json_int_t)(ram_s ? ram_list : ram_avail), "weights_pct_of_ram",
            ram ? 100.0 * e.weights / ram : 0.0, "fits", rule && now, "verdict", verdict, "gpu", "gpu_note", gpu.note,
            "bw_gbps", bw, "bw_source", bw_given > 0 ? "given" : "measured", "bytes_per_token",
            (json_int_t)e.weights, "decode_tps_empty", e.decode_tps_empty, "decode_tps_full", e.decode_tps_full);
        if (gpu.present)
            json_object_set_new(root, "gpu",
                                json_pack("{s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:f}", "name", gpu.info.name,
                                          "free_bytes", (json_int_t)gpu.info.free_bytes, "total_bytes",
                                          (json_int_t)gpu.info.total_bytes, "copy_gbps", gpu.info.copy_gbps,
                                          "need_bytes", (json_int_t)gpu.need, "layers_fit", (json_int_t)gpu.layers,
                                          "n_layer", (json_int_t)m.n_layer, "decode_tps", gpu.decode_tps));
        json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        putchar('\n');
        json_decref(root);
    } else {
        char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32], b7[32];
        human(b1, sizeof b1, e.weights);
        human(b2, sizeof b2, e.kv);
        human(b3, sizeof b3, e.compute);
        human(b4, sizeof b4, e.runtime);
        human(b5, sizeof b5, e.total);
        human(b6, sizeof b6, ram);
        human(b7, sizeof b7, ram_s ? ram_list : ram_avail);
        printf("model:      %s (%s, %s), %.3f B parameters\n", m.name, m.arch, m.source, m.n_params / 1e9);
        printf("context:    %ld tokens, KV cache %s, %ld threads\n\n", n_ctx, kv_elem == 2 ? "f16" : "f32", threads);
        printf("weights     %12s\n", b1);
        printf("KV cache    %12s   (%lld layers x 2 x %ld x %lld KV heads x %lld x %d B)\n", b2, (long long)m.n_layer,
               n_ctx, (long long)m.n_head_kv, (long long)m.head_dim, kv_elem);
        printf("compute     %12s   (activations for a batch of %ld, scores, logits)\n", b3,
               n_ctx < MAX_BATCH ? n_ctx : MAX_BATCH);
        printf("runtime     %12s   (tokenizer, process; an allowance)\n", b4);
        printf("total       %12s\n\n", b5);
        printf("RAM:        %s total, %s available%s; weights are %.0f%% of RAM (rule: <= %.0f%%)\n", b6, b7,
               ram_s ? " (as given)" : "", ram ? 100.0 * e.weights / ram : 0.0, WEIGHTS_RAM_SHARE * 100);
        if (!gpu.present) printf("GPU:        %s\n", gpu.note);
        else {
            char f[32], t[32], nd[32];
            human(f, sizeof f, gpu.info.free_bytes);
            human(t, sizeof t, gpu.info.total_bytes);
            human(nd, sizeof nd, gpu.need);
            printf("GPU:        %s; %s free of %s\n", gpu.info.name, f, t);
            printf("            every layer with an f16 KV cache needs %s (with %llu MiB kept free): ", nd,
                   (unsigned long long)(gpu.info.reserve_bytes >> 20));
            if (gpu.layers == m.n_layer) printf("all %lld layers fit\n", (long long)m.n_layer);
            else printf("about %lld of %lld layers fit (--gpu-layers; the rest run on the CPU)\n",
                        (long long)gpu.layers, (long long)m.n_layer);
            printf("            decode with every layer there: ~%.0f tok/s if the weights stream at the copy "
                   "bandwidth (%.0f GB/s / bytes per token)\n", gpu.decode_tps, gpu.info.copy_gbps);
        }
        printf("verdict:    %s\n\n", verdict);
        if (bw_given > 0) printf("bandwidth:  %.1f GB/s (given)\n", bw);
        else printf("bandwidth:  %.1f GB/s (measured: %d threads, best of %d passes over %zu MiB)\n", bw, mb.threads,
                    mb.passes, mb.bytes >> 20);
        printf("decode:     at most %.1f tok/s at an empty context, %.1f tok/s at %ld tokens "
               "(bandwidth / bytes read per token)\n", e.decode_tps_empty, e.decode_tps_full, n_ctx);
    }
    return 0;
}
