/* Anthropic-compatible endpoint: POST /v1/messages
 * (https://docs.anthropic.com/en/api/messages, streaming event names from
 * https://docs.anthropic.com/en/api/messages-streaming). */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static const char *stop_reason(const sched_request *r) {
    return r->finish == FINISH_LENGTH ? "max_tokens" : r->finish == FINISH_STOP ? "stop_sequence" : "end_turn";
}

static json_t *stop_sequence(const sched_request *r) {
    return r->finish == FINISH_STOP && r->stop_index >= 0 ? json_string(r->stops[r->stop_index]) : json_null();
}

static bool finished_ok(const sched_request *r, api_error *err) {
    if (r->finish == FINISH_ERROR) api_fail(err, 500, ERR_SERVER, NULL, "generation failed: %s", r->error);
    else if (r->finish == FINISH_CANCELLED) api_fail(err, 503, ERR_UNAVAILABLE, NULL, "the request was cancelled");
    return !err->status;
}

static void messages_stream(stream_state *st, const stream_delta *d, sbuf *out) {
    if (!st->started) {
        sse_data(out, "message_start",
                 json_pack("{s:s, s:{s:s, s:s, s:s, s:[], s:s, s:n, s:n, s:{s:i, s:i}}}", "type", "message_start",
                           "message", "id", st->id, "type", "message", "role", "assistant", "content", "model",
                           st->srv->cfg.model_id, "stop_reason", "stop_sequence", "usage", "input_tokens",
                           st->n_prompt, "output_tokens", 0));
        sse_data(out, "content_block_start",
                 json_pack("{s:s, s:i, s:{s:s, s:s}}", "type", "content_block_start", "index", 0, "content_block",
                           "type", "text", "text", ""));
        sse_data(out, "ping", json_pack("{s:s}", "type", "ping"));
        st->started = true;
    }
    if (d->len)
        sse_data(out, "content_block_delta",
                 json_pack("{s:s, s:i, s:{s:s, s:s%}}", "type", "content_block_delta", "index", 0, "delta", "type",
                           "text_delta", "text", d->text, d->len));
    if (!d->done) return;
    api_error err = {0};
    if (!finished_ok(d->r, &err)) {
        sse_data(out, "error", api_error_json(API_ANTHROPIC, &err));
        return;
    }
    sse_data(out, "content_block_stop", json_pack("{s:s, s:i}", "type", "content_block_stop", "index", 0));
    sse_data(out, "message_delta",
             json_pack("{s:s, s:{s:s, s:o}, s:{s:i}}", "type", "message_delta", "delta", "stop_reason",
                       stop_reason(d->r), "stop_sequence", stop_sequence(d->r), "usage", "output_tokens", d->r->n_gen));
    sse_data(out, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

void api_messages(server *s, json_t *b, api_response *out, api_error *err) {
    sched_request *r = sched_request_new();
    if (!r) { api_fail(err, 500, ERR_SERVER, NULL, "out of memory"); return; }
    long max_tokens = 0, top_k = 0;
    bool has_max = false, stream = false;
    double temp = 1.0, top_p = 1.0;
    openai_sampling_defaults(r);
    json_t *msgs = json_object_get(b, "messages");
    size_t n_in = json_is_array(msgs) ? json_array_size(msgs) : 0, n = 0;
    chat_msg *cm = calloc(n_in + 1, sizeof *cm);
    char **texts = calloc(n_in + 1, sizeof *texts);
    char *prompt = NULL;
    if (!cm || !texts) api_fail(err, 500, ERR_SERVER, NULL, "out of memory");
    if (err->status || !check_model(s, b, err) || !field_int(b, "max_tokens", 1, INT32_MAX, &max_tokens, &has_max, err) ||
        !field_number(b, "temperature", 0, 1, &temp, err) || !field_number(b, "top_p", 0, 1, &top_p, err) ||
        !field_int(b, "top_k", 0, INT32_MAX, &top_k, NULL, err) || !field_stops(b, "stop_sequences", r, err) ||
        !field_bool(b, "stream", &stream, err))
        goto done;
    if (!has_max) { api_fail(err, 400, ERR_INVALID, "max_tokens", "max_tokens: Field required"); goto done; }
    json_t *stops = json_object_get(b, "stop_sequences");
    if (stops && !json_is_null(stops) && !json_is_array(stops)) {
        api_fail(err, 400, ERR_INVALID, "stop_sequences", "'stop_sequences' must be an array of strings");
        goto done;
    }
    if (!n_in) { api_fail(err, 400, ERR_INVALID, "messages", "'messages' must be a non-empty array"); goto done; }
    json_t *system = json_object_get(b, "system");
    if (system && !json_is_null(system)) {
        if (!(texts[n] = content_text(system, "system", err))) goto done;
        cm[n] = (chat_msg){"system", texts[n]};
        n++;
    }
    for (size_t i = 0; i < n_in; i++) {
        json_t *m = json_array_get(msgs, i);
        const char *role = NULL;
        if (!json_is_object(m)) { api_fail(err, 400, ERR_INVALID, "messages", "messages.%zu must be an object", i); goto done; }
        if (!field_string(m, "role", true, &role, err)) goto done;
        if (strcmp(role, "user") && strcmp(role, "assistant")) {
            api_fail(err, 400, ERR_INVALID, "messages", "messages.%zu.role: must be \"user\" or \"assistant\"", i);
            goto done;
        }
        json_t *content = json_object_get(m, "content");
        if (!content || json_is_null(content)) {
            api_fail(err, 400, ERR_INVALID, "messages", "messages.%zu.content: Field required", i);
            goto done;
        }
        if (!(texts[n] = content_text(content, "messages", err))) goto done;
        cm[n] = (chat_msg){role, texts[n]};
        n++;
    }
    r->max_tokens = (int32_t)max_tokens;
    r->sampling.temperature = (float)temp;
    r->sampling.top_p = (float)top_p;
    r->sampling.top_k = (int32_t)top_k;
    prompt = chat_prompt(s, cm, n, err);
    if (!prompt || !prompt_tokens(s, prompt, CHAT_TOKENIZE_FLAGS, r, err) ||
        !submit(s, r, err))
        goto done;
    char id[64];
    make_id(s, "msg_", id, sizeof id);
    if (stream) {
        stream_state *st = stream_new(s, r, API_ANTHROPIC, messages_stream);
        if (!st) { atomic_store(&r->cancel, true); api_fail(err, 500, ERR_SERVER, NULL, "out of memory"); goto done; }
        memcpy(st->id, id, sizeof st->id);
        st->n_prompt = r->n_prompt;
        out->status = 200;
        out->stream = st;
        goto done;
    }
    if (!wait_done(r, out->client_fd)) { fail_client_gone(err); goto done; }
    if (!finished_ok(r, err)) goto done;
    out->status = 200;
    out->body = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s%}], s:s, s:o, s:{s:i, s:i}}", "id", id, "type",
                          "message", "role", "assistant", "model", s->cfg.model_id, "content", "type", "text", "text",
                          r->text ? r->text : "", r->text_len, "stop_reason", stop_reason(r), "stop_sequence",
                          stop_sequence(r), "usage", "input_tokens", r->n_prompt, "output_tokens", r->n_gen);
done:
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(cm);
    free(prompt);
    sched_request_unref(r);
}
