/* Continuous batching over a brisk_engine (scheduler.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/scheduler.h"

double sched_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- requests ---------------------------------------------------------------- */

sched_request *sched_request_new(void) {
    sched_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->max_tokens = 16;
    r->sampling = brisk_sampler_default_params();
    r->stop_index = -1;
    atomic_init(&r->cancel, false);
    atomic_init(&r->refs, 1);
    return r;
}

void sched_request_unref(sched_request *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    free(r->prompt);
    for (int i = 0; i < r->n_stops; i++) free(r->stops[i]);
    free(r->text);
    free(r->lp);
    free(r->embedding);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

/* Append to r->text (under r->mu). */
static bool append_text(sched_request *r, const char *s, size_t n) {
    if (!n) return true;
    if (r->text_len + n + 1 > r->text_cap) {
        size_t cap = r->text_cap ? r->text_cap : 256;
        while (cap < r->text_len + n + 1) cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) return false;
        r->text = t;
        r->text_cap = cap;
    }
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
    r->text[r->text_len] = 0;
    return true;
}

/* Mark r finished (under r->mu) and wake its readers. */
static void finish_locked(sched_request *r, sched_finish f, const char *error) {
    if (r->done) return;
    r->finish = f;
    if (error) snprintf(r->error, sizeof r->error, "%.500s", error);
    r->done = true;
    r->t_done = sched_now();
    pthread_cond_broadcast(&r->cv);
}

static void finish(sched_request *r, sched_finish f, const char *error) {
    pthread_mutex_lock(&r->mu);
    finish_locked(r, f, error);
    pthread_mutex_unlock(&r->mu);
}

/* ---- the scheduler -------------------------------------------------------------- */

typedef struct slot {
    sched_request *r;    /* NULL: free */
    uint64_t admitted;   /* admission order (the youngest is preempted first) */
    int32_t seq;
    const brisk_token *feed; /* what prefill evaluates: r->prompt, or `replay` when resuming */
    int32_t n_feed;
    int32_t n_fed;       /* of feed, in the KV cache (cached ones included) */
    bool decoding;       /* feed is in; `last` is the next token to feed */
    bool resuming;       /* prefilling `replay` after a preemption: no token to sample at its end */
    bool parked;         /* swapped out, holding no blocks: waits for room for all of `replay` */
    brisk_token last;
    brisk_token *gen;    /* every sampled token, in order (the last one is `last`) */
    int32_t n_gen, cap_gen;
    brisk_token *replay; /* prompt + gen[0 .. n_gen - 1): the KV cache to rebuild after a preemption */
    brisk_sampler *smp;
    brisk_stop *stop;
    brisk_detok *detok;
    char *raw;           /* every generated piece, to tell which stop string matched */
    size_t raw_len, raw_cap;
} slot;

struct scheduler {
    brisk_engine *engine;
    const brisk_vocab *vocab;
    int32_t n_vocab;
    sched_params p;
    int32_t block_size; /* of the KV cache */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sched_request **queue; /* FIFO ring */
    int q_head, q_len, q_cap;
    slot *slots;
    int n_running;
    uint64_t n_admitted;
    bool stopping;
    double deadline;
    /* per step */
    brisk_batch_item *items;
    int *item_slot;
    /* stats (under mu) */
    uint64_t requests_done, prompt_tokens, cached_prompt_tokens, generated_tokens, preemptions;
    double window_start, rate;
    uint64_t window_tokens;
    brisk_kv_stats kv;
};

static void slot_release(scheduler *s, slot *sl) {
    brisk_seq_close(s->engine, sl->seq);
    brisk_sampler_free(sl->smp);
    brisk_stop_free(sl->stop);
    brisk_detok_free(sl->detok);
    free(sl->raw);
    free(sl->gen);
    free(sl->replay);
    sched_request *r = sl->r;
    memset(sl, 0, sizeof *sl);
    pthread_mutex_lock(&s->mu);
    s->n_running--;
    s->requests_done++;
    s->kv = brisk_engine_kv_stats(s->engine);
    pthread_mutex_unlock(&s->mu);
    sched_request_unref(r);
}

static void run_embedding(scheduler *s, sched_request *r) {
    brisk_error err;
    int32_t seq = brisk_seq_open(s->engine, &err);
    float *out = malloc(sizeof(float) * (size_t)brisk_engine_n_embd(s->engine));
    brisk_batch_item it = {seq, r->prompt, r->n_prompt, BRISK_OUTPUT_EMBED};
    if (seq < 0 || !out || brisk_engine_eval(s->engine, &it, 1, &err) != BRISK_OK) {
        free(out);
        finish(r, FINISH_ERROR, out ? err.msg : "out of memory");
    } else {
        memcpy(out, brisk_engine_embedding(s->engine, 0), sizeof(float) * (size_t)brisk_engine_n_embd(s->engine));
        pthread_mutex_lock(&r->mu);
        r->embedding = out;
        finish_locked(r, FINISH_EOG, NULL);
        pthread_mutex_unlock(&r->mu);
    }
    brisk_seq_close(s->engine, seq);
    pthread_mutex_lock(&s->mu);
    s->n_running--;
    s->requests_done++;
    s->prompt_tokens += (uint64_t)r->n_prompt;
    pthread_mutex_unlock(&s->mu);
    sched_request_unref(r);
}

/* Give r a free slot: a sequence (with what the prefix cache has of its prompt),
 * a sampler, stop strings and a detokenizer. */
static void slot_start(scheduler *s, slot *sl, sched_request *r) {
    brisk_error err;
    memset(sl, 0, sizeof *sl);
    sl->r = r;
    sl->admitted = ++s->n_admitted;
    sl->seq = brisk_seq_open(s->engine, &err);
    sl->smp = brisk_sampler_create(&r->sampling, s->n_vocab, &err);
    sl->stop = brisk_stop_create((const char *const *)r->stops, r->n_stops, &err);
    sl->detok = brisk_detok_create(s->vocab, false);
    bool ok = sl->seq >= 0 && sl->smp && sl->stop && sl->detok;
    sl->feed = r->prompt;
    sl->n_feed = r->n_prompt;
    if (ok) {
        sl->n_fed = brisk_seq_reuse_prefix(s->engine, sl->seq, r->prompt, r->n_prompt);
        for (int32_t i = 0; i < r->n_prompt; i++) brisk_sampler_accept(sl->smp, r->prompt[i]);
    }
    pthread_mutex_lock(&r->mu);
    r->n_cached = sl->n_fed;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_lock(&s->mu);
    s->prompt_tokens += (uint64_t)r->n_prompt;
    s->cached_prompt_tokens += (uint64_t)sl->n_fed;
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        finish(r, FINISH_ERROR, err.msg[0] ? err.msg : "out of memory");
        slot_release(s, sl);
    }
}

/* log-softmax of the logits: the chosen token's and the top k. */
static void fill_logprob(const float *logits, int32_t nv, brisk_token tok, int k, sched_logprob *lp) {
    float mx = -INFINITY;
    for (int32_t i = 0; i < nv; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int32_t i = 0; i < nv; i++) sum += exp((double)logits[i] - mx);
    float lse = mx + (float)log(sum);
    lp->token = tok;
    lp->logprob = logits[tok] - lse;
    lp->n_top = 0;
    for (int32_t i = 0; i < nv; i++) { /* insertion into a sorted list of k */
        float v = logits[i];
        if (lp->n_top == k && (k == 0 || v <= lp->top_logprob[k - 1])) continue;
        int j = lp->n_top < k ? lp->n_top++ : k - 1;
        while (j > 0 && lp->top_logprob[j - 1] < v) {
            lp->top[j] = lp->top[j - 1];
            lp->top_logprob[j] = lp->top_logprob[j - 1];
            j--;
        }
        lp->top[j] = i;
        lp->top_logprob[j] = v;
    }
    for (int j = 0; j < lp->n_top; j++) lp->top_logprob[j] -= lse;
}

static bool raw_append(slot *sl, const char *p, size_t n) {
    if (sl->raw_len + n + 1 > sl->raw_cap) {
        size_t cap = sl->raw_cap ? sl->raw_cap * 2 : 256;
        while (cap < sl->raw_len + n + 1) cap *= 2;
        char *t = realloc(sl->raw, cap);
        if (!t) return false;
        sl->raw = t;
        sl->raw_cap = cap;
    }
    memcpy(sl->raw + sl->raw_len, p, n);
    sl->raw_len += n;
    sl->raw[sl->raw_len] = 0;
    return true;
}

/* End of output: whatever the detokenizer and the stop filter still hold. */
static bool flush_text(slot *sl) {
    sched_request *r = sl->r;
    const char *text;
    size_t n;
    const char *rest = brisk_detok_flush(sl->detok);
    raw_append(sl, rest, strlen(rest));
    bool stopped = brisk_stop_feed(sl->stop, rest, strlen(rest), &text, &n);
    append_text(r, text, n);
    if (!stopped) {
        brisk_stop_flush(sl->stop, &text, &n);
        append_text(r, text, n);
    }
    return stopped;
}

/* The stop string that begins where the emitted text ends (the longest). */
static int matched_stop(const slot *sl) {
    const sched_request *r = sl->r;
    int best = -1;
    size_t at = r->text_len, best_len = 0;
    for (int i = 0; i < r->n_stops; i++) {
        size_t n = strlen(r->stops[i]);
        if (at + n <= sl->raw_len && !memcmp(sl->raw + at, r->stops[i], n) && n > best_len) {
            best = i;
            best_len = n;
        }
    }
    return best;
}

/* Sample the next token of a slot from its logits; true when it is finished. */
static bool next_token(scheduler *s, slot *sl, const float *logits) {
    sched_request *r = sl->r;
    brisk_token t = brisk_sampler_sample(sl->smp, logits);
    if (t < 0) {
        finish(r, FINISH_ERROR, "no token can be sampled (every logit is -inf or NaN)");
        return true;
    }
    brisk_sampler_accept(sl->smp, t);
    if (sl->n_gen == sl->cap_gen) {
        int32_t cap = sl->cap_gen ? 2 * sl->cap_gen : 64;
        brisk_token *g = realloc(sl->gen, (size_t)cap * sizeof *g);
        if (!g) {
            finish(r, FINISH_ERROR, "out of memory");
            return true;
        }
        sl->gen = g;
        sl->cap_gen = cap;
    }
    sl->gen[sl->n_gen++] = t;
    bool eog = !r->ignore_eos && brisk_vocab_is_eog(s->vocab, t);
    sched_logprob lp;
    if (r->logprobs && !eog) fill_logprob(logits, s->n_vocab, t, r->top_logprobs, &lp);
    pthread_mutex_lock(&r->mu);
    if (r->n_gen++ == 0) r->t_first = sched_now();
    sched_finish f = FINISH_NONE;
    if (eog) {
        f = flush_text(sl) ? FINISH_STOP : FINISH_EOG;
    } else {
        if (r->logprobs && r->n_lp < INT32_MAX) {
            if (r->n_lp == r->cap_lp) {
                int32_t cap = r->cap_lp ? r->cap_lp * 2 : 16;
                sched_logprob *p = realloc(r->lp, (size_t)cap * sizeof *p);
                if (p) { r->lp = p; r->cap_lp = cap; }
            }
            if (r->n_lp < r->cap_lp) r->lp[r->n_lp++] = lp;
        }
        const char *piece = brisk_detok_push(sl->detok, t), *text;
        size_t n;
        raw_append(sl, piece, strlen(piece));
        bool stopped = brisk_stop_feed(sl->stop, piece, strlen(piece), &text, &n);
        append_text(r, text, n);
        bool full = brisk_seq_n_past(s->engine, sl->seq) >= brisk_engine_n_ctx_seq(s->engine);
        if (stopped) f = FINISH_STOP;
        else if ((r->max_tokens >= 0 && r->n_gen >= r->max_tokens) || full)
            f = flush_text(sl) ? FINISH_STOP : FINISH_LENGTH;
    }
    if (f == FINISH_STOP) r->stop_index = matched_stop(sl);
    if (f != FINISH_NONE) finish_locked(r, f, NULL);
    else pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    sl->last = t;
    return f != FINISH_NONE;
}

/* Tokens of seq's next chunk (at most `want`) whose KV blocks fit in `free`
 * more blocks; *blocks: how many of them it takes. */
static int32_t fit_chunk(scheduler *s, int32_t seq, int32_t want, int32_t free, int32_t *blocks) {
    int32_t n = want, need = brisk_seq_blocks_needed(s->engine, seq, n);
    if (need > free) { /* drop whole blocks' worth, then single tokens */
        n -= (need - free) * s->block_size;
        while (n > 0 && (need = brisk_seq_blocks_needed(s->engine, seq, n)) > free) n--;
    }
    if (n <= 0) { *blocks = 0; return 0; }
    *blocks = need;
    return n;
}

static void queue_push_front(scheduler *s, sched_request *r);

/* A generating slot gives its KV blocks back but keeps its place, sampler,
 * stop filter and text: parked, it waits until the cache has room for prompt
 * + the tokens it generated (all but `last`), prefills them again (taking
 * what the prefix cache still has), then goes on decoding from `last`, so its
 * client sees one uninterrupted stream. False when its tokens could never fit
 * in the whole cache again (or out of memory). */
static bool swap_out(scheduler *s, slot *sl) {
    sched_request *r = sl->r;
    brisk_kv_stats kv = brisk_engine_kv_stats(s->engine);
    int32_t n = r->n_prompt + sl->n_gen - 1; /* the KV cache it had */
    if ((int64_t)n + 1 > (int64_t)kv.n_blocks * kv.block_size) return false;
    brisk_token *replay = realloc(sl->replay, (size_t)n * sizeof *replay);
    brisk_error err;
    if (!replay) return false;
    sl->replay = replay;
    if (brisk_seq_truncate(s->engine, sl->seq, 0, &err) != BRISK_OK) return false;
    memcpy(replay, r->prompt, (size_t)r->n_prompt * sizeof *replay);
    memcpy(replay + r->n_prompt, sl->gen, (size_t)(sl->n_gen - 1) * sizeof *replay);
    sl->feed = replay;
    sl->n_feed = n;
    sl->n_fed = 0;
    sl->decoding = false;
    sl->resuming = true;
    sl->parked = true;
    pthread_mutex_lock(&s->mu);
    s->preemptions++;
    s->kv = brisk_engine_kv_stats(s->engine);
    pthread_mutex_unlock(&s->mu);
    return true;
}

/* Nothing could run because the KV cache is full: free the blocks of the
 * youngest sequence that holds any. One still prefilling its prompt goes back
 * to the front of the queue (it starts over when blocks are free again); one
 * generating (or rebuilding after an earlier preemption) is swapped out
 * (swap_out) and resumes later; one whose tokens no longer fit in the whole
 * cache ends as if its context were full (finish "length"). */
static void preempt_youngest(scheduler *s) {
    slot *victim = NULL;
    for (int i = 0; i < s->p.n_parallel; i++) {
        const slot *sl = &s->slots[i];
        if (sl->r && brisk_seq_n_past(s->engine, sl->seq) > 0 && (!victim || sl->admitted > victim->admitted))
            victim = &s->slots[i];
    }
    if (!victim) return;
    sched_request *r = victim->r;
    if (!victim->decoding && !victim->resuming) {
        atomic_fetch_add(&r->refs, 1); /* the queue's reference; slot_release drops the slot's */
        pthread_mutex_lock(&r->mu);
        int32_t cached = r->n_cached;
        r->n_cached = 0;
        pthread_mutex_unlock(&r->mu);
        slot_release(s, victim);
        pthread_mutex_lock(&s->mu);
        s->requests_done--; /* not done: waiting again, counted again when it restarts */
        s->prompt_tokens -= (uint64_t)r->n_prompt;
        s->cached_prompt_tokens -= (uint64_t)cached;
        queue_push_front(s, r);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    if (swap_out(s, victim)) return;
    pthread_mutex_lock(&r->mu);
    finish_locked(r, flush_text(victim) ? FINISH_STOP : FINISH_LENGTH, NULL);
    if (r->finish == FINISH_STOP) r->stop_index = matched_stop(victim);
    pthread_mutex_unlock(&r->mu);
    slot_release(s, victim);
}

/* Whether parked slot sl may start rebuilding now: it is the oldest parked
 * one and `free` blocks hold all of its replay and next token beside what
 * older slots still prefilling will take (so it does not thrash, and a young
 * one cannot starve an old one). */
static bool may_resume(scheduler *s, const slot *sl, int32_t free) {
    int64_t room = free;
    for (int i = 0; i < s->p.n_parallel; i++) {
        const slot *o = &s->slots[i];
        if (!o->r || o == sl || o->decoding || o->admitted > sl->admitted) continue;
        if (o->parked) return false;
        room -= brisk_seq_blocks_needed(s->engine, o->seq, o->n_feed - o->n_fed + 1);
    }
    return brisk_seq_blocks_needed(s->engine, sl->seq, sl->n_feed + 1) <= room;
}

/* One forward pass: a token of every decoding slot, then prompt chunks, as
 * far as the KV cache has free blocks for them (the others wait a step). */
static void step(scheduler *s) {
    int n = 0, budget = s->p.step_tokens, waiting = 0;
    brisk_kv_stats kv = brisk_engine_kv_stats(s->engine);
    int32_t free = kv.n_blocks - kv.used_blocks;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < s->p.n_parallel; i++) {
            slot *sl = &s->slots[i];
            if (!sl->r || sl->decoding != (pass == 0)) continue;
            if (atomic_load(&sl->r->cancel)) {
                finish(sl->r, FINISH_CANCELLED, NULL);
                slot_release(s, sl);
                continue;
            }
            if (sl->parked) {
                if (!may_resume(s, sl, free)) {
                    waiting++;
                    continue;
                }
                sl->parked = false; /* the blocks it takes from the prefix cache were counted free */
                sl->n_fed = brisk_seq_reuse_prefix(s->engine, sl->seq, sl->feed, sl->n_feed);
                free -= sl->n_fed / s->block_size;
            }
            brisk_batch_item *it = &s->items[n];
            int32_t left = sl->decoding ? 1 : sl->n_feed - sl->n_fed, blocks;
            int32_t chunk = fit_chunk(s, sl->seq, left < budget ? left : budget, free, &blocks);
            if (chunk <= 0) {
                waiting++;
                continue;
            }
            if (sl->decoding) {
                *it = (brisk_batch_item){sl->seq, &sl->last, 1, BRISK_OUTPUT_LAST};
            } else {
                *it = (brisk_batch_item){sl->seq, sl->feed + sl->n_fed, chunk,
                                         chunk == left && !sl->resuming ? BRISK_OUTPUT_LAST : BRISK_OUTPUT_NONE};
            }
            budget -= chunk;
            free -= blocks;
            s->item_slot[n++] = i;
        }
    if (n == 0) {
        if (waiting) preempt_youngest(s);
        return;
    }
    brisk_error err;
    if (brisk_engine_eval(s->engine, s->items, n, &err) != BRISK_OK) {
        for (int k = 0; k < n; k++) {
            slot *sl = &s->slots[s->item_slot[k]];
            finish(sl->r, FINISH_ERROR, err.msg);
            slot_release(s, sl);
        }
        return;
    }
    uint64_t generated = 0;
    for (int k = 0; k < n; k++) {
        slot *sl = &s->slots[s->item_slot[k]];
        if (!sl->decoding) {
            sl->n_fed += s->items[k].n_tokens;
            if (sl->n_fed < sl->n_feed) continue;
            sl->decoding = true;
            if (sl->resuming) { /* rebuilt: `last` is fed at the next step */
                sl->resuming = false;
                continue;
            }
        }
        generated++;
        if (next_token(s, sl, brisk_engine_logits(s->engine, k, -1))) slot_release(s, sl);
    }
    double now = sched_now();
    pthread_mutex_lock(&s->mu);
    s->generated_tokens += generated;
    s->window_tokens += generated;
    if (now - s->window_start >= 2.0) {
        s->rate = s->window_tokens / (now - s->window_start);
        s->window_start = now;
        s->window_tokens = 0;
    }
    s->kv = brisk_engine_kv_stats(s->engine);
    pthread_mutex_unlock(&s->mu);
}

static sched_request *queue_pop(scheduler *s) {
    sched_request *r = s->queue[s->q_head];
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    return r;
}

/* Under s->mu; the queue has room: a preempted request was counted running. */
static void queue_push_front(scheduler *s, sched_request *r) {
    s->q_head = (s->q_head + s->q_cap - 1) % s->q_cap;
    s->q_len++;
    s->queue[s->q_head] = r;
}

/* KV blocks a request needs to start (its prompt and its first generated
 * token), beyond what the sequences still prefilling will take (under s->mu
 * or on the scheduler thread). */
static bool blocks_for(scheduler *s, const sched_request *r) {
    brisk_kv_stats kv = brisk_engine_kv_stats(s->engine);
    int64_t free = kv.n_blocks - kv.used_blocks;
    for (int i = 0; i < s->p.n_parallel; i++) {
        const slot *sl = &s->slots[i];
        if (sl->r && !sl->decoding) free -= brisk_seq_blocks_needed(s->engine, sl->seq, sl->n_feed - sl->n_fed + 1);
    }
    return (int64_t)r->n_prompt + 1 <= free * s->block_size;
}

static void *sched_main(void *arg) {
    scheduler *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stopping && s->q_len == 0 && s->n_running == 0) pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping) {
            while (s->q_len) { /* queued requests are not started */
                sched_request *r = queue_pop(s);
                finish(r, FINISH_CANCELLED, "the server is shutting down");
                sched_request_unref(r);
            }
            bool late = sched_now() >= s->deadline;
            int running = s->n_running;
            pthread_mutex_unlock(&s->mu);
            if (running == 0) break;
            if (late)
                for (int i = 0; i < s->p.n_parallel; i++)
                    if (s->slots[i].r) atomic_store(&s->slots[i].r->cancel, true);
            step(s);
            continue;
        }
        /* admit queued requests into free slots (embeddings run at once) */
        while (s->q_len) {
            sched_request *head = s->queue[s->q_head];
            /* the head waits until the KV cache has blocks for its prompt (alone it always fits:
             * submitters check that a prompt fits the whole cache) */
            if (s->n_running > 0 && !atomic_load(&head->cancel) && !blocks_for(s, head)) break;
            if (head->embed && atomic_load(&head->cancel)) {
                queue_pop(s);
                finish(head, FINISH_CANCELLED, NULL);
                sched_request_unref(head);
                continue;
            }
            if (head->embed) {
                queue_pop(s);
                s->n_running++; /* counted while still under the lock: sched_submit sees it */
                pthread_mutex_unlock(&s->mu);
                run_embedding(s, head);
                pthread_mutex_lock(&s->mu);
                continue;
            }
            int free_slot = -1;
            for (int i = 0; i < s->p.n_parallel && free_slot < 0; i++)
                if (!s->slots[i].r) free_slot = i;
            if (free_slot < 0) break;
            queue_pop(s);
            s->n_running++;
            pthread_mutex_unlock(&s->mu);
            if (atomic_load(&head->cancel)) {
                finish(head, FINISH_CANCELLED, NULL);
                pthread_mutex_lock(&s->mu);
                s->n_running--;
                pthread_mutex_unlock(&s->mu);
                sched_request_unref(head);
            } else {
                slot_start(s, &s->slots[free_slot], head);
            }
            pthread_mutex_lock(&s->mu);
        }
        pthread_mutex_unlock(&s->mu);
        step(s);
    }
    return NULL;
}

scheduler *sched_create(brisk_engine *e, const sched_params *p, brisk_error *err) {
    scheduler *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err->msg, sizeof err->msg, "out of memory"); return NULL; }
    s->engine = e;
    s->vocab = brisk_model_vocab(brisk_engine_model(e));
    s->n_vocab = brisk_model_n_vocab(brisk_engine_model(e));
    s->p = *p;
    if (s->p.n_parallel < 1) s->p.n_parallel = 1;
    if (s->p.step_tokens < s->p.n_parallel + 1) s->p.step_tokens = s->p.n_parallel + 1;
    s->q_cap = s->p.n_parallel + (s->p.max_queue > 0 ? s->p.max_queue : 0);
    s->queue = calloc((size_t)s->q_cap, sizeof *s->queue);
    s->slots = calloc((size_t)s->p.n_parallel, sizeof *s->slots);
    s->items = calloc((size_t)s->p.n_parallel, sizeof *s->items);
    s->item_slot = calloc((size_t)s->p.n_parallel, sizeof *s->item_slot);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->window_start = sched_now();
    s->kv = brisk_engine_kv_stats(e);
    s->block_size = s->kv.block_size;
    if (!s->queue || !s->slots || !s->items || !s->item_slot || pthread_create(&s->thread, NULL, sched_main, s)) {
        snprintf(err->msg, sizeof err->msg, "cannot start the scheduler (out of memory or threads)");
        sched_free(s);
        return NULL;
    }
    s->thread_started = true;
    return s;
}

bool sched_submit(scheduler *s, sched_request *r) {
    pthread_mutex_lock(&s->mu);
    bool ok = !s->stopping && s->q_len < s->q_cap && s->q_len + s->n_running < s->q_cap;
    if (ok) {
        atomic_fetch_add(&r->refs, 1);
        r->t_submit = sched_now();
        s->queue[(s->q_head + s->q_len++) % s->q_cap] = r;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

sched_stats sched_get_stats(scheduler *s) {
    pthread_mutex_lock(&s->mu);
    double now = sched_now();
    sched_stats st = {.requests_done = s->requests_done, .prompt_tokens = s->prompt_tokens,
                      .cached_prompt_tokens = s->cached_prompt_tokens, .generated_tokens = s->generated_tokens,
                      .preemptions = s->preemptions, .queued = s->q_len, .running = s->n_running,
                      .gen_tok_per_s = now - s->window_start < 4.0 ? s->rate : 0.0, .kv = s->kv};
    pthread_mutex_unlock(&s->mu);
    return st;
}

void sched_shutdown(scheduler *s, double grace_s) {
    if (!s || !s->thread_started) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    s->deadline = sched_now() + grace_s;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->thread_started = false;
}

void sched_free(scheduler *s) {
    if (!s) return;
    sched_shutdown(s, 0);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->queue);
    free(s->slots);
    free(s->items);
    free(s->item_slot);
    free(s);
}
