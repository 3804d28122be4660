/* Helpers shared by the API handlers: buffers, errors in each API's format,
 * typed field readers, prompt tokenizing and queueing, SSE framing. */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "server/server.h"

/* ---- sbuf ------------------------------------------------------------------- */

void sbuf_add(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sbuf_addf(sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { sbuf_add(b, tmp, (size_t)n); return; }
    char *big = malloc((size_t)n + 1);
    if (!big) { b->oom = true; return; }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sbuf_add(b, big, (size_t)n);
    free(big);
}

void sbuf_free(sbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- errors ------------------------------------------------------------------ */

void api_fail(api_error *e, int status, const char *kind, const char *param, const char *fmt, ...) {
    if (e->status) return; /* the first error wins */
    e->status = status;
    e->kind = kind;
    e->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

json_t *api_error_json(api_kind api, const api_error *e) {
    const char *k = e->kind ? e->kind : ERR_SERVER;
    if (api == API_ANTHROPIC) {
        /* https://docs.anthropic.com/en/api/errors */
        const char *type = !strcmp(k, ERR_INVALID) ? "invalid_request_error"
                           : !strcmp(k, ERR_AUTH) ? "authentication_error"
                           : !strcmp(k, ERR_NOT_FOUND) ? "not_found_error"
                           : !strcmp(k, ERR_TOO_LARGE) ? "request_too_large"
                           : !strcmp(k, ERR_RATE) ? "rate_limit_error"
                           : !strcmp(k, ERR_UNAVAILABLE) ? "overloaded_error" : "api_error";
        return json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", type, "message", e->msg);
    }
    const char *type = !strcmp(k, ERR_INVALID) || !strcmp(k, ERR_NOT_FOUND) || !strcmp(k, ERR_TOO_LARGE)
                           ? "invalid_request_error"
                       : !strcmp(k, ERR_AUTH) ? "authentication_error"
                       : !strcmp(k, ERR_RATE) ? "rate_limit_error"
                       : !strcmp(k, ERR_UNAVAILABLE) ? "service_unavailable" : "server_error";
    const char *code = !strcmp(k, ERR_NOT_FOUND) ? "model_not_found"
                       : !strcmp(k, ERR_AUTH) ? "invalid_api_key"
                       : !strcmp(k, ERR_TOO_LARGE) ? "request_too_large"
                       : !strcmp(k, ERR_RATE) ? "rate_limit_exceeded" : NULL;
    if (e->param && strstr(e->msg, "context")) code = "context_length_exceeded";
    return json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message", e->msg, "type", type, "param", e->param,
                     "code", code);
}

/* ---- typed fields ---------------------------------------------------------------- */

static json_t *present(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return v && !json_is_null(v) ? v : NULL;
}

bool field_string(json_t *o, const char *key, bool required, const char **out, api_error *err) {
    json_t *v = present(o, key);
    if (!v) {
        if (required) api_fail(err, 400, ERR_INVALID, key, "'%s' is required", key);
        return !required;
    }
    if (!json_is_string(v)) {
        api_fail(err, 400, ERR_INVALID, key, "'%s' must be a string", key);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

bool field_bool(json_t *o, const char *key, bool *out, api_error *err) {
    json_t *v = present(o, key);
    if (!v) return true;
    if (!json_is_boolean(v)) {
        api_fail(err, 400, ERR_INVALID, key, "'%s' must be a boolean", key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

bool field_int(json_t *o, const char *key, long lo, long hi, long *out, bool *was_present, api_error *err) {
    json_t *v = present(o, key);
    if (was_present) *was_present = v != NULL;
    if (!v) return true;
    if (!json_is_integer(v)) {
        api_fail(err, 400, ERR_INVALID, key, "'%s' must be an integer", key);
        return false;
    }
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        api_fail(err, 400, ERR_INVALID, key, "'%s' must be between %ld and %ld (got %lld)", key, lo, hi, (long long)x);
        return false;
    }
    *out = (long)x;
    return true;
}

bool field_number(json_t *o, const char *key, double lo, double hi, double *out, api_error *err) {
    json_t *v = present(o, key);
    if (!v) return true;
    if (!json_is_number(v)) {
        api_fail(err, 400, ERR_INVALID, key, "'%s' must be a number", key);
        return false;
    }
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) {
        api_fail(err, 400, ERR_INVALID, key, "'%s' must be between %g and %g (got %g)", key, lo, hi, x);
        return false;
    }
    *out = x;
    return true;
}

static bool add_stop(sched_request *r, const char *key, json_t *v, api_error *err) {
    if (!json_is_string(v)) {
        api_fail(err, 400, ERR_INVALID, key, "'%s' must be a string or an array of strings", key);
        return false;
    }
    if (json_string_length(v) == 0) return true;
    if (r->n_stops == SCHED_MAX_STOPS) {
        api_fail(err, 400, ERR_INVALID, key, "at most %d stop sequences", SCHED_MAX_STOPS);
        return false;
    }
    if (!(r->stops[r->n_stops] = strdup(json_string_value(v)))) {
        api_fail(err, 500, ERR_SERVER, NULL, "out of memory");
        return false;
    }
    r->n_stops++;
    return true;
}

bool field_stops(json_t *o, const char *key, sched_request *r, api_error *err) {
    json_t *v = present(o, key);
    if (!v) return true;
    if (!json_is_array(v)) return add_stop(r, key, v, err);
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) if (!add_stop(r, key, s, err)) return false;
    return true;
}

bool check_model(server *s, json_t *body, api_error *err) {
    const char *model = NULL;
    if (!field_string(body, "model", true, &model, err)) return false;
    if (strcmp(model, s->cfg.model_id) != 0) {
        api_fail(err, 404, ERR_NOT_FOUND, "model", "the model '%s' does not exist (this server has '%s')", model,
                 s->cfg.model_id);
        return false;
    }
    return true;
}

bool prompt_fits_cache(server *s, int64_t n, const char *param, api_error *err) {
    brisk_kv_stats kv = sched_get_stats(s->sched).kv; /* the engine belongs to the scheduler thread */
    int64_t kv_tokens = (int64_t)kv.n_blocks * kv.block_size;
    if (n <= kv_tokens) return true;
    api_fail(err, 400, ERR_INVALID, param,
             "the prompt is %lld tokens, more than the whole KV cache holds (%lld tokens, --kv-size)", (long long)n,
             (long long)kv_tokens);
    return false;
}

bool prompt_tokens(server *s, const char *text, uint32_t flags, sched_request *r, api_error *err) {
    brisk_error e;
    size_t len = strlen(text);
    int64_t n = brisk_tokenize(s->vocab, text, len, flags, NULL, 0, &e);
    if (n < 0) {
        api_fail(err, 400, ERR_INVALID, NULL, "cannot tokenize the prompt: %s", e.msg);
        return false;
    }
    int32_t n_ctx = brisk_engine_n_ctx_seq(s->engine);
    if (n > n_ctx) {
        api_fail(err, 400, ERR_INVALID, "messages",
                 "the prompt is %lld tokens, more than the context of %d tokens per sequence", (long long)n, n_ctx);
        return false;
    }
    if (!prompt_fits_cache(s, n, "messages", err)) return false;
    if (n == 0) {
        api_fail(err, 400, ERR_INVALID, NULL, "the prompt is empty");
        return false;
    }
    r->prompt = malloc((size_t)n * sizeof *r->prompt);
    if (!r->prompt || brisk_tokenize(s->vocab, text, len, flags, r->prompt, n, &e) != n) {
        api_fail(err, 500, ERR_SERVER, NULL, "out of memory tokenizing the prompt");
        return false;
    }
    r->n_prompt = (int32_t)n;
    /* a template that writes the BOS itself, tokenized with ADD_SPECIAL: keep one */
    brisk_token bos = brisk_vocab_bos(s->vocab);
    if (r->n_prompt >= 2 && bos >= 0 && r->prompt[0] == bos && r->prompt[1] == bos) {
        memmove(r->prompt, r->prompt + 1, (size_t)(r->n_prompt - 1) * sizeof *r->prompt);
        r->n_prompt--;
    }
    return true;
}

bool submit(server *s, sched_request *r, api_error *err) {
    if (atomic_load(&s->stopping)) {
        api_fail(err, 503, ERR_UNAVAILABLE, NULL, "the server is shutting down");
        return false;
    }
    if (!sched_submit(s->sched, r)) {
        api_fail(err, 429, ERR_RATE, NULL, "too many concurrent requests (%d running + %d queued at most)",
                 s->cfg.n_parallel, s->cfg.max_queue);
        return false;
    }
    return true;
}

/* The client closed its end of the connection: readable with nothing to read
 * (bytes of a pipelined request do not count). */
static bool client_gone(int fd) {
    if (fd < 0) return false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return true;
    char c;
    return (p.revents & POLLIN) && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

#define CLIENT_CHECK_MS 100

bool wait_done(sched_request *r, int client_fd) {
    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += CLIENT_CHECK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&r->cv, &r->mu, &until);
        if (!r->done && client_gone(client_fd)) {
            pthread_mutex_unlock(&r->mu);
            atomic_store(&r->cancel, true); /* the scheduler ends it and frees its KV blocks */
            return false;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return true;
}

void fail_client_gone(api_error *err) {
    api_fail(err, 499, ERR_INVALID, NULL, "the client closed the connection before the answer was ready");
}

void make_id(server *s, const char *prefix, char *out, size_t n) {
    unsigned long long k = atomic_fetch_add(&s->id_counter, 1) + 1;
    snprintf(out, n, "%s%lx%06llx", prefix, (unsigned long)s->created, k);
}

stream_state *stream_new(server *s, sched_request *r, api_kind api, stream_format_fn fmt) {
    stream_state *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->srv = s;
    st->r = r;
    atomic_fetch_add(&r->refs, 1);
    st->api = api;
    st->format = fmt;
    st->last_write = sched_now();
    return st;
}

json_t *token_text_json(server *s, brisk_token t, json_t **bytes) {
    char buf[256];
    int64_t n = brisk_token_to_piece(s->vocab, t, false, buf, sizeof buf);
    if (n < 0) n = 0;
    if (n > (int64_t)sizeof buf) n = sizeof buf;
    if (bytes) {
        *bytes = json_array();
        for (int64_t i = 0; i < n; i++) json_array_append_new(*bytes, json_integer((unsigned char)buf[i]));
    }
    /* a piece may be part of a UTF-8 character: jansson needs valid UTF-8 */
    json_t *str = json_stringn(buf, (size_t)n);
    return str ? str : json_string("\xef\xbf\xbd");
}

void openai_sampling_defaults(sched_request *r) {
    r->sampling.temperature = 1.0f;
    r->sampling.top_p = 1.0f;
    r->sampling.top_k = 0;
    r->sampling.min_p = 0.0f;
    r->sampling.repeat_penalty = 1.0f;
    r->sampling.frequency_penalty = 0.0f;
    r->sampling.presence_penalty = 0.0f;
    r->sampling.seed = 0;
}

void sse_data(sbuf *out, const char *event, json_t *data) {
    char *s = json_dumps(data, JSON_COMPACT);
    if (event) sbuf_addf(out, "event: %s\n", event);
    sbuf_add(out, "data: ", 6);
    if (s) sbuf_add(out, s, strlen(s));
    else out->oom = true;
    sbuf_add(out, "\n\n", 2);
    free(s);
    json_decref(data);
}
