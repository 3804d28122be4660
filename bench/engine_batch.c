/* Decode speed of the multi-sequence engine alone (no HTTP, no sampling):
 * B sequences each get a distinct 25-token prompt, then `steps` decode steps
 * feed one token per sequence in one brisk_engine_eval. Prints tok/s and ms
 * per step, the ceiling of `brisk serve` with B clients.
 *
 *   build/bench_engine_batch MODEL.gguf B [steps=64] [threads=2]            */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "brisk.h"

#define PROMPT 25
#define MAX_B 256

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s MODEL.gguf B [steps] [threads]\n", argv[0]); return 2; }
    int B = atoi(argv[2]), steps = argc > 3 ? atoi(argv[3]) : 64, threads = argc > 4 ? atoi(argv[4]) : 2;
    if (B < 1 || B > MAX_B || steps < 1 || threads < 1) { fprintf(stderr, "bad B, steps or threads\n"); return 2; }
    brisk_error err;
    brisk_model *m = brisk_model_load(argv[1], &err);
    if (!m) { fprintf(stderr, "%s\n", err.msg); return 1; }
    brisk_engine_params p = brisk_engine_default_params();
    p.n_seq_max = B;
    p.n_ctx_seq = PROMPT + steps + 1;
    p.n_kv_tokens = B * ((p.n_ctx_seq + 15) / 16 * 16); /* whole 16-token blocks per sequence */
    p.n_threads = threads;
    brisk_engine *e = brisk_engine_create(m, &p, &err);
    if (!e) { fprintf(stderr, "%s\n", err.msg); brisk_model_free(m); return 1; }
    static brisk_batch_item items[MAX_B];
    static brisk_token prompt[PROMPT], last[MAX_B];
    int rc = 0;
    for (int b = 0; b < B && !rc; b++) { /* prompts one at a time: only the decode steps are timed */
        for (int i = 0; i < PROMPT; i++) prompt[i] = (brisk_token)(100 + 7 * i + 13 * b);
        items[0] = (brisk_batch_item){brisk_seq_open(e, &err), prompt, PROMPT, BRISK_OUTPUT_LAST};
        rc = items[0].seq < 0 || brisk_engine_eval(e, items, 1, &err) != BRISK_OK;
        last[b] = (brisk_token)(5 + b);
    }
    double t0 = now();
    for (int s = 0; s < steps && !rc; s++) {
        for (int b = 0; b < B; b++) {
            last[b] = (brisk_token)((last[b] * 31 + s) % 30000);
            items[b] = (brisk_batch_item){b, &last[b], 1, BRISK_OUTPUT_LAST};
        }
        rc = brisk_engine_eval(e, items, B, &err) != BRISK_OK;
    }
    double dt = now() - t0;
    if (rc) fprintf(stderr, "%s\n", err.msg);
    else printf("B=%d threads=%d: %.1f tok/s (%.2f ms per step)\n", B, threads, B * steps / dt, 1000 * dt / steps);
    brisk_engine_free(e);
    brisk_model_free(m);
    return rc;
}
