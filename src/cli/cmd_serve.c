/* brisk serve -m FILE [--host H] [--port P] [-c N] [--parallel N] [-t N] [--api-key K]
 * An OpenAI- and Anthropic-compatible HTTP server with continuous batching
 * (src/server). SIGINT/SIGTERM: stop accepting, let running requests finish
 * (up to --grace seconds, then cancel them), exit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "brisk.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "server/http.h"

typedef struct serve_options {
    const char *model;
    server_config cfg;
    brisk_engine_params engine;
} serve_options;

static void serve_usage(FILE *out) {
    fprintf(out,
            "usage: brisk serve [-m FILE.gguf] [options]\n"
            "  -m, --model FILE      model (default: %s)\n"
            "      --host ADDR       address to bind (default 127.0.0.1)\n"
            "      --port N          port (default 8080; 0 = any free port, printed at start)\n"
            "  -c, --ctx-size N      tokens per sequence (default: the model's, at most 2048)\n"
            "      --kv-size N       KV cache tokens shared by all sequences (default (parallel+1) x ctx-size)\n"
            "      --parallel N      sequences generated at once (default 4)\n"
            "      --max-queue N     requests waiting beyond those before 429 (default 64)\n"
            "      --step-tokens N   tokens per forward pass: decode tokens + prompt chunks (default 256)\n"
            "  -t, --threads N       threads (default: all cores)\n"
            "      --gpu-layers N    layers on the GPU (CUDA builds; default: as many as fit; 0 = CPU only)\n"
            "      --kv-type T       KV cache of the GPU layers: f16 (default) or q8_0 (8-bit, lossy; CPU layers keep\n"
            "                        f16)\n"
            "      --api-key KEY     require KEY (Authorization: Bearer KEY or x-api-key) on every route but /health\n"
            "      --alias NAME      model name clients use (default: the file name without .gguf)\n"
            "      --max-body BYTES  request body limit (default 4194304)\n"
            "      --grace S         seconds running requests get to finish at shutdown (default 30)\n",
            BRISK_DEFAULT_MODEL_NAME);
}

static int parse_args(int argc, char **argv, serve_options *o) {
    const char *cmd = "brisk serve";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { serve_usage(stdout); return -1; }
        if (i + 1 >= argc) {
            fprintf(stderr, "brisk serve: %s needs a value (or is unknown)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        long n;
        double d;
        bool ok = true;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--host")) o->cfg.host = v;
        else if (!strcmp(a, "--port")) { ok = cli_parse_long(cmd, a, v, 0, 65535, &n); o->cfg.port = (int)n; }
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) { ok = cli_parse_long(cmd, a, v, 0, 1 << 20, &n); o->engine.n_ctx_seq = (int32_t)n; }
        else if (!strcmp(a, "--kv-size")) { ok = cli_parse_long(cmd, a, v, 0, 1 << 24, &n); o->engine.n_kv_tokens = (int32_t)n; }
        else if (!strcmp(a, "--parallel")) { ok = cli_parse_long(cmd, a, v, 1, 1024, &n); o->cfg.n_parallel = (int)n; }
        else if (!strcmp(a, "--max-queue")) { ok = cli_parse_long(cmd, a, v, 0, 1 << 20, &n); o->cfg.max_queue = (int)n; }
        else if (!strcmp(a, "--step-tokens")) { ok = cli_parse_long(cmd, a, v, 1, 1 << 16, &n); o->engine.n_batch = (int32_t)n; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { ok = cli_parse_long(cmd, a, v, 1, 1024, &n); o->engine.n_threads = (int32_t)n; }
        else if (!strcmp(a, "--gpu-layers")) { ok = cli_parse_long(cmd, a, v, -1, 1 << 16, &n); o->engine.n_gpu_layers = (int32_t)n; }
        else if (!strcmp(a, "--kv-type")) ok = cli_parse_kv_type(cmd, a, v, &o->engine.kv_type);
        else if (!strcmp(a, "--api-key")) o->cfg.api_key = v;
        else if (!strcmp(a, "--alias")) o->cfg.model_id = v;
        else if (!strcmp(a, "--max-body")) { ok = cli_parse_long(cmd, a, v, 1, 1L << 32, &n); o->cfg.max_body = (size_t)n; }
        else if (!strcmp(a, "--grace")) { ok = cli_parse_double(cmd, a, v, &d) && d >= 0; o->cfg.shutdown_grace_s = d; }
        else {
            fprintf(stderr, "brisk serve: unknown option '%s'\n", a);
            serve_usage(stderr);
            return 2;
        }
        if (!ok) return 2;
    }
    return 0;
}

/* "SmolLM2-135M-Instruct.Q4_1" from ".../SmolLM2-135M-Instruct.Q4_1.gguf" */
static char *model_id_from_path(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".gguf")) n -= 5;
    char *id = malloc(n + 1);
    if (id) { memcpy(id, base, n); id[n] = 0; }
    return id;
}

int cmd_serve(int argc, char **argv) {
    serve_options o = {.cfg = {.host = "127.0.0.1", .port = 8080, .max_body = 4u << 20, .n_parallel = 4,
                               .max_queue = 64, .shutdown_grace_s = 30},
                       .engine = brisk_engine_default_params()};
    o.engine.n_batch = 256;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    char default_path[4096];
    brisk_model *model = cli_load_model("brisk serve", &o.model, default_path, sizeof default_path);
    if (!model) return 1;
    brisk_error err;
    char *id = o.cfg.model_id ? NULL : model_id_from_path(o.model);
    if (!o.cfg.model_id) o.cfg.model_id = id ? id : "model";
    /* one sequence per parallel slot and one for embeddings, each of n_ctx_seq */
    if (o.engine.n_ctx_seq == 0) {
        int32_t train = brisk_model_n_ctx_train(model);
        o.engine.n_ctx_seq = train > 0 && train < 2048 ? train : 2048;
    }
    o.engine.n_seq_max = o.cfg.n_parallel + 1;
    if (o.engine.n_kv_tokens == 0) o.engine.n_kv_tokens = o.engine.n_seq_max * o.engine.n_ctx_seq;
    o.engine.prefix_cache = true;

    /* signals go to sigwait below, not to the server's threads */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    server srv = {.cfg = o.cfg, .model = model, .vocab = brisk_model_vocab(model), .created = (long)time(NULL)};
    rc = 1;
    struct MHD_Daemon *http = NULL;
    srv.engine = brisk_engine_create(model, &o.engine, &err);
    sched_params sp = {.n_parallel = o.cfg.n_parallel, .max_queue = o.cfg.max_queue, .step_tokens = o.engine.n_batch};
    if (srv.engine) srv.sched = sched_create(srv.engine, &sp, &err);
    if (!srv.sched) {
        fprintf(stderr, "brisk serve: %s\n", err.msg);
        goto done;
    }
    char msg[256];
    int port = 0;
    if (!(http = http_start(&srv, &port, msg, sizeof msg))) {
        fprintf(stderr, "brisk serve: %s\n", msg);
        goto done;
    }
    brisk_kv_stats kv = brisk_engine_kv_stats(srv.engine);
    fprintf(stderr, "brisk serve: listening on http://%s:%d (model '%s', %d parallel, %d tokens per sequence, "
                    "KV cache %d blocks of %d, %d of %d layers on the GPU)\n",
            o.cfg.host, port, srv.cfg.model_id, o.cfg.n_parallel, brisk_engine_n_ctx_seq(srv.engine), kv.n_blocks,
            kv.block_size, brisk_engine_n_gpu_layers(srv.engine), brisk_model_n_layers(model));
    int sig = 0;
    sigwait(&sigs, &sig);
    sched_stats st = sched_get_stats(srv.sched);
    fprintf(stderr, "brisk serve: %s: shutting down (%d running requests get up to %.0f s, %d queued are cancelled)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", st.running, o.cfg.shutdown_grace_s, st.queued);
    atomic_store(&srv.stopping, true);
    http_quiesce(http);
    sched_shutdown(srv.sched, o.cfg.shutdown_grace_s);
    http_stop(&srv, http, 10.0);
    fprintf(stderr, "brisk serve: stopped\n");
    rc = 0;
done:
    sched_free(srv.sched);
    brisk_engine_free(srv.engine);
    brisk_model_free(model);
    free(id);
    return rc;
}
