/* Context, sampling and stop-string options of brisk run and brisk chat. */
#include "cli/gen_options.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cli/cli_util.h"

cli_gen_options cli_gen_options_default(void) {
    return (cli_gen_options){.ctx = brisk_context_default_params(), .sampling = brisk_sampler_default_params()};
}

void cli_gen_seed(cli_gen_options *o) {
    if (o->sampling.seed == 0) o->sampling.seed = (uint64_t)time(NULL);
}

void cli_gen_usage(FILE *out) {
    fprintf(out,
            "  -c, --ctx-size N        context length (default: the model's, at most 4096)\n"
            "  -t, --threads N         threads (default: all cores)\n"
            "      --temp T            temperature (default 0.8; 0 = greedy)\n"
            "      --top-k K           (default 40; 0 = off)\n"
            "      --top-p P           (default 0.95; 1 = off)\n"
            "      --min-p P           (default 0.05; 0 = off)\n"
            "      --repeat-penalty F  (default 1.0 = off)\n"
            "      --repeat-last-n N   tokens the penalties look back over (default 64; -1 = all)\n"
            "      --frequency-penalty F, --presence-penalty F   (default 0 = off)\n"
            "      --seed N            random seed (default: from the clock)\n"
            "      --stop TEXT         stop when TEXT is generated (repeatable)\n"
            "      --exact             reference mode: f32 activations and KV cache (CPU only)\n"
            "      --gpu-layers N      layers on the GPU (CUDA builds; default: as many as fit; 0 = CPU only)\n"
            "      --kv-type T         KV cache of the GPU layers: f16 (default) or q8_0 (8-bit, lossy; CPU layers\n"
            "                          keep f16)\n");
}

int cli_gen_option(const char *cmd, int argc, char **argv, int *i, cli_gen_options *o) {
    const char *a = argv[*i];
    if (!strcmp(a, "--exact")) {
        o->ctx.exact = true;
        return 1;
    }
    static const char *const with_value[] = {
        "-c", "--ctx-size", "-t", "--threads", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty",
        "--repeat-last-n", "--frequency-penalty", "--presence-penalty", "--seed", "--stop", "--gpu-layers", "--kv-type", NULL,
    };
    bool known = false;
    for (size_t k = 0; with_value[k] && !known; k++) known = !strcmp(a, with_value[k]);
    if (!known) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\n", cmd, a);
        return -1;
    }
    const char *v = argv[++*i];
    brisk_sampler_params *s = &o->sampling;
    long n;
    bool ok = true;
    if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { ok = cli_parse_long(cmd, a, v, 0, INT32_MAX, &n); o->ctx.n_ctx = (int32_t)n; }
    else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { ok = cli_parse_long(cmd, a, v, 1, 1024, &n); o->ctx.n_threads = (int32_t)n; }
    else if (!strcmp(a, "--gpu-layers")) { ok = cli_parse_long(cmd, a, v, -1, 1 << 16, &n); o->ctx.n_gpu_layers = (int32_t)n; }
    else if (!strcmp(a, "--kv-type")) ok = cli_parse_kv_type(cmd, a, v, &o->ctx.kv_type);
    else if (!strcmp(a, "--temp")) ok = cli_parse_float(cmd, a, v, &s->temperature);
    else if (!strcmp(a, "--top-k")) { ok = cli_parse_long(cmd, a, v, 0, INT32_MAX, &n); s->top_k = (int32_t)n; }
    else if (!strcmp(a, "--top-p")) ok = cli_parse_float(cmd, a, v, &s->top_p);
    else if (!strcmp(a, "--min-p")) ok = cli_parse_float(cmd, a, v, &s->min_p);
    else if (!strcmp(a, "--repeat-penalty")) ok = cli_parse_float(cmd, a, v, &s->repeat_penalty);
    else if (!strcmp(a, "--repeat-last-n")) { ok = cli_parse_long(cmd, a, v, -1, INT32_MAX, &n); s->penalty_last_n = (int32_t)n; }
    else if (!strcmp(a, "--frequency-penalty")) ok = cli_parse_float(cmd, a, v, &s->frequency_penalty);
    else if (!strcmp(a, "--presence-penalty")) ok = cli_parse_float(cmd, a, v, &s->presence_penalty);
    else if (!strcmp(a, "--seed")) { ok = cli_parse_long(cmd, a, v, 0, INT32_MAX, &n); s->seed = (uint64_t)n; }
    else { /* --stop */
        if (o->n_stops == CLI_MAX_STOPS) {
            fprintf(stderr, "%s: at most %d --stop strings\n", cmd, CLI_MAX_STOPS);
            return -1;
        }
        o->stops[o->n_stops++] = v;
    }
    return ok ? 1 : -1;
}
