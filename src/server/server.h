/* brisk serve: shared declarations of the HTTP front end (http.c), the API
 * handlers (api_openai.c, api_anthropic.c), metrics and the chat prompt.
 * JSON is jansson; HTTP is libmicrohttpd; generation goes through the
 * scheduler (scheduler.h). */
#ifndef BRISK_SERVER_SERVER_H
#define BRISK_SERVER_SERVER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "brisk.h"
#include "server/scheduler.h"

typedef struct server_config {
    const char *host;        /* default 127.0.0.1 */
    int port;                /* default 8080 */
    const char *api_key;     /* NULL: no auth */
    const char *model_id;    /* the name clients use; default the file name without .gguf */
    size_t max_body;         /* bytes */
    int n_parallel, max_queue;
    double shutdown_grace_s;
} server_config;

typedef struct server {
    server_config cfg;
    const brisk_model *model;
    const brisk_vocab *vocab;
    brisk_engine *engine;
    scheduler *sched;
    long created;                  /* unix time the server started (model "created") */
    atomic_bool stopping;
    atomic_ullong requests_total[6]; /* by endpoint (api_endpoint) */
    atomic_ullong errors_total;
    atomic_ullong id_counter;
    atomic_int in_flight;          /* HTTP requests not yet completed (responses being sent) */
} server;

typedef enum api_kind { API_OPENAI, API_ANTHROPIC } api_kind;

typedef enum api_endpoint {
    EP_CHAT, EP_COMPLETIONS, EP_MESSAGES, EP_EMBEDDINGS, EP_MODELS, EP_OTHER, EP_COUNT
} api_endpoint;

/* ---- growing byte buffer ---- */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;
void sbuf_add(sbuf *b, const char *s, size_t n);
void sbuf_addf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_free(sbuf *b);

/* ---- what a handler answers: a JSON body or a stream ---- */
typedef struct api_error {
    int status;        /* 0: no error */
    const char *kind;  /* see api_error_kind below */
    const char *param; /* offending field, or NULL */
    char msg[400];
} api_error;

/* Error kinds, mapped to each API's type strings in api_util.c. */
#define ERR_INVALID "invalid_request"
#define ERR_AUTH "authentication"
#define ERR_NOT_FOUND "not_found"
#define ERR_TOO_LARGE "request_too_large"
#define ERR_RATE "rate_limit"
#define ERR_SERVER "server"
#define ERR_UNAVAILABLE "unavailable"

void api_fail(api_error *e, int status, const char *kind, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The error as the API's JSON body. */
json_t *api_error_json(api_kind api, const api_error *e);

/* A streamed response: events are produced by `next` from the request's output
 * until it returns false (the stream ends). */
typedef struct stream_state stream_state;
typedef struct stream_delta {
    const char *text;            /* new text */
    size_t len;
    const sched_logprob *lp;     /* new per-token logprobs */
    int n_lp;
    bool done;                   /* the request is finished: final events */
    const sched_request *r;      /* for finish, counts (read under its lock) */
} stream_delta;
typedef void (*stream_format_fn)(stream_state *st, const stream_delta *d, sbuf *out);
struct stream_state {
    server *srv;
    sched_request *r;
    stream_format_fn format;
    api_kind api;
    bool started, finished;
    size_t text_sent;
    int32_t lp_sent;
    sbuf pending;
    size_t pending_pos;
    double last_write;
    /* what the formatter needs */
    char id[64];
    const char *object;
    bool include_usage, logprobs;
    int32_t n_prompt;
};

typedef struct api_response {
    int client_fd;          /* in: the client's socket, watched while waiting (-1: unknown) */
    int status;
    json_t *body;           /* JSON answer (status), or */
    stream_state *stream;   /* an SSE stream (200) */
    const char *text;       /* a text body (metrics) with content_type */
    char *text_owned;
    const char *content_type;
} api_response;

/* ---- handlers: body is the parsed JSON object of a POST ---- */
void api_chat_completions(server *s, json_t *body, api_response *out, api_error *err);
void api_completions(server *s, json_t *body, api_response *out, api_error *err);
void api_embeddings(server *s, json_t *body, api_response *out, api_error *err);
void api_models(server *s, api_response *out);
void api_messages(server *s, json_t *body, api_response *out, api_error *err);
void api_metrics(server *s, api_response *out);

/* ---- shared request helpers (api_util.c) ---- */
/* Field readers: false (err filled, 400) when present with the wrong type or out of range. */
bool field_string(json_t *o, const char *key, bool required, const char **out, api_error *err);
bool field_bool(json_t *o, const char *key, bool *out, api_error *err);
bool field_int(json_t *o, const char *key, long lo, long hi, long *out, bool *present, api_error *err);
bool field_number(json_t *o, const char *key, double lo, double hi, double *out, api_error *err);
/* "stop": a string or an array of strings, into r->stops. */
bool field_stops(json_t *o, const char *key, sched_request *r, api_error *err);
/* The model field names this server's model (404 otherwise). */
bool check_model(server *s, json_t *body, api_error *err);
/* Tokenize a prompt into r->prompt and check it fits the context. */
bool prompt_tokens(server *s, const char *text, uint32_t flags, sched_request *r, api_error *err);
/* A prompt of n tokens fits the whole KV cache (400 otherwise: it would wait
 * for free blocks for ever). */
bool prompt_fits_cache(server *s, int64_t n, const char *param, api_error *err);
/* Queue r (429 when full, 503 when shutting down). */
bool submit(server *s, sched_request *r, api_error *err);
/* Wait until r is done (non-streaming): true. When the client closes the
 * connection (client_fd, -1: not watched) first, r is cancelled and false. */
bool wait_done(sched_request *r, int client_fd);
/* The error of a request whose client left while it waited (nobody reads it). */
void fail_client_gone(api_error *err);
/* A new response id with a prefix ("chatcmpl-"). */
void make_id(server *s, const char *prefix, char *out, size_t n);
/* A stream over r; takes a reference to r. */
stream_state *stream_new(server *s, sched_request *r, api_kind api, stream_format_fn fmt);
/* The text of one token (for logprobs). */
json_t *token_text_json(server *s, brisk_token t, json_t **bytes);
/* OpenAI sampling defaults: temperature 1, top_p 1, no top-k/min-p/penalties. */
void openai_sampling_defaults(sched_request *r);
/* Message content: a string, or an array of {"type": "text", "text": ...} blocks (joined);
 * NULL with err (400) otherwise. Free the result. */
char *content_text(json_t *content, const char *param, api_error *err);
/* SSE framing. */
void sse_data(sbuf *out, const char *event, json_t *data); /* steals data */

/* ---- chat prompt (chat_prompt.c) ---- */
typedef brisk_chat_message chat_msg;
/* The model's chat template applied to msgs (+ the assistant prompt); NULL with
 * err. Tokenize with CHAT_TOKENIZE_FLAGS: the template writes BOS itself. */
#define CHAT_TOKENIZE_FLAGS BRISK_TOKENIZE_PARSE_SPECIAL
char *chat_prompt(server *s, const chat_msg *msgs, size_t n, api_error *err);

#endif
