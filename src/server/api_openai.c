/* OpenAI-compatible endpoints: /v1/chat/completions, /v1/completions,
 * /v1/embeddings, /v1/models (https://platform.openai.com/docs/api-reference). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

static const char *finish_reason(const sched_request *r) {
    return r->finish == FINISH_LENGTH ? "length" : "stop";
}

static json_t *usage_json(const sched_request *r) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", r->n_prompt, "completion_tokens", r->n_gen,
                     "total_tokens", r->n_prompt + r->n_gen, "prompt_tokens_details", "cached_tokens", r->n_cached);
}

/* {"content": [{token, logprob, bytes, top_logprobs}]} for n entries */
static json_t *logprobs_json(server *s, const sched_logprob *lp, int n) {
    json_t *content = json_array();
    for (int i = 0; i < n; i++) {
        json_t *bytes, *top = json_array();
        json_t *tok = token_text_json(s, lp[i].token, &bytes);
        for (int j = 0; j < lp[i].n_top; j++) {
            json_t *tb, *tt = token_text_json(s, lp[i].top[j], &tb);
            json_array_append_new(top, json_pack("{s:o, s:f, s:o}", "token", tt, "logprob", (double)lp[i].top_logprob[j],
                                                 "bytes", tb));
        }
        json_array_append_new(content, json_pack("{s:o, s:f, s:o, s:o}", "token", tok, "logprob", (double)lp[i].logprob,
                                                 "bytes", bytes, "top_logprobs", top));
    }
    return json_pack("{s:o}", "content", content);
}

/* The request error of a finished request, if any (500 / 503). */
static bool finished_ok(const sched_request *r, api_error *err) {
    if (r->finish == FINISH_ERROR) api_fail(err, 500, ERR_SERVER, NULL, "generation failed: %s", r->error);
    else if (r->finish == FINISH_CANCELLED) api_fail(err, 503, ERR_UNAVAILABLE, NULL, "the request was cancelled (%s)",
                                                      r->error[0] ? r->error : "server shutting down");
    return !err->status;
}

/* Fields common to chat and completions. */
static bool parse_generation(server *s, json_t *b, sched_request *r, stream_state *opts, bool *stream, api_error *err) {
    long max_tokens = -1, seed = 0, n = 1;
    bool has_seed = false;
    double temp = 1.0, top_p = 1.0, pp = 0, fp = 0;
    openai_sampling_defaults(r);
    if (!check_model(s, b, err) || !field_int(b, "max_tokens", 0, INT32_MAX, &max_tokens, NULL, err) ||
        !field_int(b, "max_completion_tokens", 0, INT32_MAX, &max_tokens, NULL, err) ||
        !field_number(b, "temperature", 0, 2, &temp, err) || !field_number(b, "top_p", 0, 1, &top_p, err) ||
        !field_number(b, "presence_penalty", -2, 2, &pp, err) || !field_number(b, "frequency_penalty", -2, 2, &fp, err) ||
        !field_int(b, "seed", LONG_MIN, LONG_MAX, &seed, &has_seed, err) || !field_int(b, "n", 1, 1, &n, NULL, err) ||
        !field_stops(b, "stop", r, err) || !field_bool(b, "stream", stream, err) ||
        !field_bool(b, "ignore_eos", &r->ignore_eos, err)) /* an extension, for benchmarks */
        return false;
    json_t *so = json_object_get(b, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            api_fail(err, 400, ERR_INVALID, "stream_options", "'stream_options' must be an object");
            return false;
        }
        if (!field_bool(so, "include_usage", &opts->include_usage, err)) return false;
    }
    r->max_tokens = (int32_t)max_tokens;
    r->sampling.temperature = (float)temp;
    r->sampling.top_p = (float)top_p;
    r->sampling.presence_penalty = (float)pp;
    r->sampling.frequency_penalty = (float)fp;
    r->sampling.penalty_last_n = -1;
    if (has_seed) r->sampling.seed = (uint64_t)seed + 1; /* 0 means "from the clock" to the sampler */
    return true;
}

/* ---- streaming ---------------------------------------------------------------- */

static void chunk(stream_state *st, sbuf *out, json_t *choice_fields) {
    json_t *choice = json_pack("{s:i}", "index", 0);
    json_object_update(choice, choice_fields);
    json_decref(choice_fields);
    json_t *c = json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", st->id, "object", st->object, "created",
                          (json_int_t)st->srv->created, "model", st->srv->cfg.model_id, "choices", choice);
    sse_data(out, NULL, c);
}

static void stream_end(stream_state *st, const sched_request *r, sbuf *out, bool chat) {
    api_error err = {0};
    if (!finished_ok(r, &err)) {
        sse_data(out, NULL, api_error_json(API_OPENAI, &err));
    } else {
        json_t *f = chat ? json_pack("{s:{}, s:n, s:s}", "delta", "logprobs", "finish_reason", finish_reason(r))
                         : json_pack("{s:s, s:n, s:s}", "text", "", "logprobs", "finish_reason", finish_reason(r));
        chunk(st, out, f);
        if (st->include_usage) {
            json_t *u = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", st->id, "object", st->object, "created",
                                  (json_int_t)st->srv->created, "model", st->srv->cfg.model_id, "choices", "usage",
                                  usage_json(r));
            sse_data(out, NULL, u);
        }
    }
    sbuf_add(out, "data: [DONE]\n\n", 14);
}

static void chat_stream(stream_state *st, const stream_delta *d, sbuf *out) {
    if (!st->started) {
        chunk(st, out, json_pack("{s:{s:s, s:s}, s:n, s:n}", "delta", "role", "assistant", "content", "", "logprobs",
                                 "finish_reason"));
        st->started = true;
    }
    if (d->len || d->n_lp) {
        json_t *lp = st->logprobs ? logprobs_json(st->srv, d->lp, d->n_lp) : json_null();
        chunk(st, out, json_pack("{s:{s:s%}, s:o, s:n}", "delta", "content", d->text ? d->text : "", d->len,
                                 "logprobs", lp, "finish_reason"));
    }
    if (d->done) stream_end(st, d->r, out, true);
}

static void completion_stream(stream_state *st, const stream_delta *d, sbuf *out) {
    st->started = true;
    if (d->len)
        chunk(st, out, json_pack("{s:s%, s:n, s:n}", "text", d->text, d->len, "logprobs", "finish_reason"));
    if (d->done) stream_end(st, d->r, out, false);
}

/* ---- chat ---------------------------------------------------------------------- */

/* A message's content: a string, or an array of {"type": "text", "text": ...} parts (joined). */
char *content_text(json_t *content, const char *param, api_error *err) {
    if (!content || json_is_null(content)) return strdup("");
    if (json_is_string(content)) return strdup(json_string_value(content));
    if (!json_is_array(content)) {
        api_fail(err, 400, ERR_INVALID, param, "message content must be a string or an array of content parts");
        return NULL;
    }
    sbuf b = {0};
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part) {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type) || strcmp(json_string_value(type), "text") != 0 ||
            !json_is_string(text)) {
            api_fail(err, 400, ERR_INVALID, param, "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported");
            sbuf_free(&b);
            return NULL;
        }
        sbuf_add(&b, json_string_value(text), json_string_length(text));
    }
    if (!b.p) return strdup("");
    return b.p;
}

/* messages -> chat_msg[]; the strings are allocated into texts[]. */
static bool parse_messages(json_t *msgs, const char *key, chat_msg **out, char ***texts, size_t *n, api_error *err) {
    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        api_fail(err, 400, ERR_INVALID, key, "'%s' must be a non-empty array", key);
        return false;
    }
    size_t m = json_array_size(msgs);
    *out = calloc(m, sizeof **out);
    *texts = calloc(m, sizeof **texts);
    *n = 0;
    if (!*out || !*texts) { api_fail(err, 500, ERR_SERVER, NULL, "out of memory"); return false; }
    for (size_t i = 0; i < m; i++) {
        json_t *msg = json_array_get(msgs, i);
        const char *role = NULL;
        if (!json_is_object(msg)) {
            api_fail(err, 400, ERR_INVALID, key, "%s[%zu] must be an object", key, i);
            return false;
        }
        if (!field_string(msg, "role", true, &role, err)) return false;
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "developer") &&
            strcmp(role, "tool")) {
            api_fail(err, 400, ERR_INVALID, key, "%s[%zu].role '%s' is not one of system, developer, user, assistant, tool",
                     key, i, role);
            return false;
        }
        char *text = content_text(json_object_get(msg, "content"), key, err);
        if (!text) { if (!err->status) api_fail(err, 500, ERR_SERVER, NULL, "out of memory"); return false; }
        (*texts)[i] = text;
        (*out)[i] = (chat_msg){!strcmp(role, "developer") ? "system" : role, text};
        *n = i + 1;
    }
    return true;
}

static void free_messages(chat_msg *msgs, char **texts, size_t n) {
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(msgs);
}

/* Submit r and answer: a stream, or wait and build the JSON with `build`. */
static void respond(server *s, sched_request *r, bool stream, stream_state *opts, api_kind api, stream_format_fn fmt,
                    json_t *(*build)(server *, stream_state *, sched_request *), api_response *out, api_error *err) {
    if (!submit(s, r, err)) return;
    if (stream) {
        stream_state *st = stream_new(s, r, api, fmt);
        if (!st) { atomic_store(&r->cancel, true); api_fail(err, 500, ERR_SERVER, NULL, "out of memory"); return; }
        memcpy(st->id, opts->id, sizeof st->id);
        st->object = opts->object;
        st->include_usage = opts->include_usage;
        st->logprobs = opts->logprobs;
        st->n_prompt = r->n_prompt;
        out->status = 200;
        out->stream = st;
        return;
    }
    if (!wait_done(r, out->client_fd)) { fail_client_gone(err); return; }
    if (!finished_ok(r, err)) return;
    out->status = 200;
    out->body = build(s, opts, r);
}

static json_t *chat_body(server *s, stream_state *o, sched_request *r) {
    json_t *lp = o->logprobs ? logprobs_json(s, r->lp, r->n_lp) : json_null();
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:{s:s, s:s%}, s:o, s:s}], s:o}", "id", o->id, "object",
                     "chat.completion", "created", (json_int_t)s->created, "model", s->cfg.model_id, "choices", "index",
                     0, "message", "role", "assistant", "content", r->text ? r->text : "", r->text_len, "logprobs", lp,
                     "finish_reason", finish_reason(r), "usage", usage_json(r));
}

void api_chat_completions(server *s, json_t *b, api_response *out, api_error *err) {
    sched_request *r = sched_request_new();
    stream_state opts = {.object = "chat.completion.chunk"};
    bool stream = false;
    long top = 0;
    bool top_present = false;
    chat_msg *msgs = NULL;
    char **texts = NULL;
    size_t n = 0;
    if (!r) { api_fail(err, 500, ERR_SERVER, NULL, "out of memory"); return; }
    if (parse_generation(s, b, r, &opts, &stream, err) && field_bool(b, "logprobs", &opts.logprobs, err) &&
        field_int(b, "top_logprobs", 0, SCHED_MAX_TOP_LOGPROBS, &top, &top_present, err) &&
        parse_messages(json_object_get(b, "messages"), "messages", &msgs, &texts, &n, err)) {
        if (top_present && !opts.logprobs)
            api_fail(err, 400, ERR_INVALID, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
        r->logprobs = opts.logprobs;
        r->top_logprobs = (int)top;
        char *prompt = err->status ? NULL : chat_prompt(s, msgs, n, err);
        if (prompt && prompt_tokens(s, prompt, CHAT_TOKENIZE_FLAGS, r, err)) {
            make_id(s, "chatcmpl-", opts.id, sizeof opts.id);
            respond(s, r, stream, &opts, API_OPENAI, chat_stream, chat_body, out, err);
        }
        free(prompt);
    }
    free_messages(msgs, texts, n);
    sched_request_unref(r);
}

/* ---- completions --------------------------------------------------------------- */

static json_t *completion_body(server *s, stream_state *o, sched_request *r) {
    return json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:s%, s:n, s:s}], s:o}", "id", o->id, "object", "text_completion",
                     "created", (json_int_t)s->created, "model", s->cfg.model_id, "choices", "index", 0, "text",
                     r->text ? r->text : "", r->text_len, "logprobs", "finish_reason", finish_reason(r), "usage",
                     usage_json(r));
}

void api_completions(server *s, json_t *b, api_response *out, api_error *err) {
    sched_request *r = sched_request_new();
    stream_state opts = {.object = "text_completion"};
    bool stream = false, echo = false;
    if (!r) { api_fail(err, 500, ERR_SERVER, NULL, "out of memory"); return; }
    r->max_tokens = 16; /* the API's default */
    json_t *prompt = json_object_get(b, "prompt");
    json_t *lp = json_object_get(b, "logprobs");
    if (parse_generation(s, b, r, &opts, &stream, err) && field_bool(b, "echo", &echo, err)) {
        if (!json_object_get(b, "max_tokens")) r->max_tokens = 16;
        if (json_is_array(prompt) && json_array_size(prompt) == 1) prompt = json_array_get(prompt, 0);
        if (!json_is_string(prompt))
            api_fail(err, 400, ERR_INVALID, "prompt", "'prompt' must be a string (or an array of one string)");
        else if (lp && !json_is_null(lp))
            api_fail(err, 400, ERR_INVALID, "logprobs", "logprobs are supported on /v1/chat/completions only");
        else if (echo)
            api_fail(err, 400, ERR_INVALID, "echo", "'echo' is not supported");
        else if (prompt_tokens(s, json_string_value(prompt), BRISK_TOKENIZE_ADD_SPECIAL | BRISK_TOKENIZE_PARSE_SPECIAL,
                               r, err)) {
            make_id(s, "cmpl-", opts.id, sizeof opts.id);
            respond(s, r, stream, &opts, API_OPENAI, completion_stream, completion_body, out, err);
        }
    }
    sched_request_unref(r);
}

/* ---- embeddings ----------------------------------------------------------------- */

static char *base64(const unsigned char *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = 0;
    return out;
}

/* One input: a string, or an array of token ids. */
static bool embedding_input(server *s, json_t *in, sched_request *r, api_error *err) {
    r->embed = true;
    if (json_is_string(in)) return prompt_tokens(s, json_string_value(in), BRISK_TOKENIZE_ADD_SPECIAL, r, err);
    size_t n = json_array_size(in), i;
    json_t *t;
    int32_t nv = brisk_model_n_vocab(s->model);
    if (n == 0 || n > (size_t)brisk_engine_n_ctx_seq(s->engine)) {
        api_fail(err, 400, ERR_INVALID, "input", "an input of %zu tokens (1 to %d allowed)", n, brisk_engine_n_ctx_seq(s->engine));
        return false;
    }
    if (!prompt_fits_cache(s, (int64_t)n, "input", err)) return false;
    if (!(r->prompt = malloc(n * sizeof *r->prompt))) { api_fail(err, 500, ERR_SERVER, NULL, "out of memory"); return false; }
    json_array_foreach(in, i, t) {
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= nv) {
            api_fail(err, 400, ERR_INVALID, "input", "input token %zu is not a token id in [0, %d)", i, nv);
            return false;
        }
        r->prompt[i] = (brisk_token)json_integer_value(t);
    }
    r->n_prompt = (int32_t)n;
    return true;
}

void api_embeddings(server *s, json_t *b, api_response *out, api_error *err) {
    const char *format = "float";
    if (!check_model(s, b, err) || !field_string(b, "encoding_format", false, &format, err)) return;
    if (strcmp(format, "float") && strcmp(format, "base64")) {
        api_fail(err, 400, ERR_INVALID, "encoding_format", "'encoding_format' must be \"float\" or \"base64\"");
        return;
    }
    json_t *input = json_object_get(b, "input");
    /* a list of inputs: strings or token arrays; a single string or token array otherwise */
    bool many = json_is_array(input) && json_array_size(input) > 0 &&
                (json_is_string(json_array_get(input, 0)) || json_is_array(json_array_get(input, 0)));
    size_t n = many ? json_array_size(input) : 1;
    if (!input || (!json_is_string(input) && !json_is_array(input))) {
        api_fail(err, 400, ERR_INVALID, "input", "'input' must be a string, an array of strings or of token arrays");
        return;
    }
    if (n > 2048) { api_fail(err, 400, ERR_INVALID, "input", "at most 2048 inputs"); return; }
    sched_request **rs = calloc(n, sizeof *rs);
    if (!rs) { api_fail(err, 500, ERR_SERVER, NULL, "out of memory"); return; }
    size_t submitted = 0;
    for (size_t i = 0; i < n && !err->status; i++) {
        json_t *in = many ? json_array_get(input, i) : input;
        if (!json_is_string(in) && !json_is_array(in)) {
            api_fail(err, 400, ERR_INVALID, "input", "input %zu must be a string or an array of token ids", i);
            break;
        }
        if (!(rs[i] = sched_request_new())) { api_fail(err, 500, ERR_SERVER, NULL, "out of memory"); break; }
        if (embedding_input(s, in, rs[i], err) && submit(s, rs[i], err)) submitted = i + 1;
    }
    json_t *data = json_array();
    long tokens = 0;
    int d = brisk_engine_n_embd(s->engine);
    for (size_t i = 0; i < submitted; i++) {
        if (err->status) { atomic_store(&rs[i]->cancel, true); continue; }
        if (!wait_done(rs[i], out->client_fd)) { fail_client_gone(err); continue; }
        if (!rs[i]->embedding) { api_fail(err, 500, ERR_SERVER, NULL, "embedding failed: %s", rs[i]->error); continue; }
        tokens += rs[i]->n_prompt;
        json_t *emb;
        if (!strcmp(format, "base64")) {
            char *b64 = base64((const unsigned char *)rs[i]->embedding, (size_t)d * sizeof(float));
            emb = json_string(b64 ? b64 : "");
            free(b64);
        } else {
            emb = json_array();
            for (int k = 0; k < d; k++) json_array_append_new(emb, json_real(rs[i]->embedding[k]));
        }
        json_array_append_new(data, json_pack("{s:s, s:i, s:o}", "object", "embedding", "index", (int)i, "embedding", emb));
    }
    for (size_t i = 0; i < n; i++) sched_request_unref(rs[i]);
    free(rs);
    if (err->status) { json_decref(data); return; }
    out->status = 200;
    out->body = json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data", data, "model", s->cfg.model_id,
                          "usage", "prompt_tokens", tokens, "total_tokens", tokens);
}

void api_models(server *s, api_response *out) {
    out->status = 200;
    out->body = json_pack("{s:s, s:[{s:s, s:s, s:I, s:s}]}", "object", "list", "data", "id", s->cfg.model_id, "object",
                          "model", "created", (json_int_t)s->created, "owned_by", "brisk");
}
