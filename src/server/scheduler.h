/* The scheduler: one thread owns the engine and runs continuous batching.
 *
 * Requests queue; between forward passes queued ones join the running batch
 * (up to n_parallel sequences) in order, once the KV cache has free blocks for
 * the head's prompt beyond what running prefills still need. Every step holds one token of each decoding
 * sequence plus chunks of prompts still being prefilled (at most step_tokens
 * tokens in all), so a long prompt is prefilled over several steps while the
 * other sequences keep decoding. Each sequence samples with its own sampler,
 * stops at an end-of-generation token, a stop string, max_tokens or a full
 * context, and can be cancelled at any time (its KV blocks are freed at the
 * next step). A step takes only the tokens whose KV blocks are free (the rest
 * wait); when nothing fits, the youngest sequence gives its blocks back: back
 * to the queue while prefilling, finished as "length" while generating. Output goes into the request, guarded by its mutex; readers wait
 * on its condition variable. */
#ifndef BRISK_SERVER_SCHEDULER_H
#define BRISK_SERVER_SCHEDULER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "brisk.h"

#define SCHED_MAX_STOPS 16
#define SCHED_MAX_TOP_LOGPROBS 20

typedef enum sched_finish {
    FINISH_NONE = 0,  /* still running */
    FINISH_EOG,       /* the model ended its turn */
    FINISH_STOP,      /* a stop string matched (stop_index says which) */
    FINISH_LENGTH,    /* max_tokens or the context is full */
    FINISH_CANCELLED, /* cancelled (client gone, shutdown) */
    FINISH_ERROR,     /* error[] says why */
} sched_finish;

typedef struct sched_logprob {
    brisk_token token;
    float logprob;
    int n_top;
    brisk_token top[SCHED_MAX_TOP_LOGPROBS];
    float top_logprob[SCHED_MAX_TOP_LOGPROBS];
} sched_logprob;

typedef struct sched_request {
    /* ---- input, set before sched_submit and not changed after ---- */
    brisk_token *prompt;
    int32_t n_prompt;
    int32_t max_tokens;        /* < 0: until the context is full */
    brisk_sampler_params sampling;
    char *stops[SCHED_MAX_STOPS];
    int n_stops;
    bool logprobs;
    int top_logprobs;          /* 0..SCHED_MAX_TOP_LOGPROBS */
    bool embed;                /* an embedding instead of a generation */
    bool ignore_eos;           /* keep generating after end-of-generation tokens (benchmarks) */

    /* ---- output, under mu ---- */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text;                /* generated text so far (stop strings removed) */
    size_t text_len, text_cap;
    sched_logprob *lp;         /* per generated token, when logprobs */
    int32_t n_lp, cap_lp;
    int32_t n_gen;             /* tokens generated */
    int32_t n_cached;          /* prompt tokens taken from the prefix cache */
    float *embedding;          /* [n_embd] when embed and done */
    int stop_index;            /* which stop string matched (FINISH_STOP) */
    sched_finish finish;
    bool done;
    char error[512];
    double t_submit, t_first, t_done; /* monotonic seconds */

    atomic_bool cancel;        /* set by anyone; the scheduler ends the request */
    atomic_int refs;           /* the submitter's reference + the scheduler's */
} sched_request;

/* A request with defaults (greedy-free default sampling, max_tokens 16); NULL
 * when out of memory. Release with sched_request_unref. */
sched_request *sched_request_new(void);
void sched_request_unref(sched_request *r);

typedef struct sched_params {
    int n_parallel;   /* sequences decoding at once */
    int max_queue;    /* requests waiting beyond those; more are refused */
    int step_tokens;  /* tokens per forward pass (decode + prefill chunks) */
} sched_params;

typedef struct sched_stats {
    uint64_t requests_done, prompt_tokens, cached_prompt_tokens, generated_tokens;
    uint64_t preemptions;   /* generating requests swapped out of a full KV cache (they resume) */
    int queued, running;
    double gen_tok_per_s;   /* generated tokens/s over the last few seconds */
    brisk_kv_stats kv;
} sched_stats;

typedef struct scheduler scheduler;

/* The engine must have n_parallel + 1 sequences (one for embeddings). */
scheduler *sched_create(brisk_engine *e, const sched_params *p, brisk_error *err);
/* Queue a request (takes a reference). false when the queue is full or the
 * scheduler is shutting down. */
bool sched_submit(scheduler *s, sched_request *r);
sched_stats sched_get_stats(scheduler *s);
/* Stop taking requests (queued ones are cancelled); let running ones finish
 * for up to grace_s seconds, then cancel what is left; join the thread.
 * Submitting after this fails. */
void sched_shutdown(scheduler *s, double grace_s);
/* Shut down (at once) if not done yet, and free. */
void sched_free(scheduler *s);

double sched_now(void);

#endif
