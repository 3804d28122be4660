/* The HTTP front end on libmicrohttpd: one thread per connection (handlers
 * may block waiting for their request), body size limit, API key, routing,
 * JSON and server-sent-event responses. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/http.h"

typedef struct conn_state {
    sbuf body;
    bool too_big;
} conn_state;

static api_endpoint endpoint_of(const char *url) {
    if (!strcmp(url, "/v1/chat/completions")) return EP_CHAT;
    if (!strcmp(url, "/v1/completions")) return EP_COMPLETIONS;
    if (!strcmp(url, "/v1/messages")) return EP_MESSAGES;
    if (!strcmp(url, "/v1/embeddings")) return EP_EMBEDDINGS;
    if (!strcmp(url, "/v1/models")) return EP_MODELS;
    return EP_OTHER;
}

/* ---- responses ------------------------------------------------------------------ */

static enum MHD_Result send_buffer(struct MHD_Connection *c, int status, char *data, size_t len,
                                   const char *content_type) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) { free(data); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", content_type);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, json_t *body) {
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s) {
        status = 500;
        s = strdup("{\"error\":{\"message\":\"cannot encode the response\",\"type\":\"server_error\"}}");
        if (!s) return MHD_NO;
    }
    return send_buffer(c, status, s, strlen(s), "application/json");
}

static enum MHD_Result send_error(server *s, struct MHD_Connection *c, api_kind api, const api_error *e) {
    atomic_fetch_add(&s->errors_total, 1);
    return send_json(c, e->status, api_error_json(api, e));
}

/* ---- streams ------------------------------------------------------------------------ */

#define KEEPALIVE_S 5.0

/* Next bytes of an SSE stream: waits for the request's new output and has the
 * API's formatter turn it into events. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    stream_state *st = cls;
    (void)pos;
    while (st->pending_pos == st->pending.len) {
        if (st->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        if (st->pending.oom) return MHD_CONTENT_READER_END_WITH_ERROR;
        st->pending.len = st->pending_pos = 0;
        sched_request *r = st->r;
        pthread_mutex_lock(&r->mu);
        if (st->started && r->text_len == st->text_sent && r->n_lp == st->lp_sent && !r->done) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&r->cv, &r->mu, &until);
        }
        stream_delta d = {.text = r->text ? r->text + st->text_sent : "", .len = r->text_len - st->text_sent,
                          .lp = r->lp + st->lp_sent, .n_lp = r->n_lp - st->lp_sent, .done = r->done, .r = r};
        if (d.len || d.n_lp || d.done || !st->started) {
            st->format(st, &d, &st->pending);
            st->text_sent = r->text_len;
            st->lp_sent = r->n_lp;
            st->finished = d.done;
        }
        pthread_mutex_unlock(&r->mu);
        double now = sched_now();
        if (st->pending.len == 0 && now - st->last_write > KEEPALIVE_S)
            sbuf_add(&st->pending, ": keepalive\n\n", 13); /* an SSE comment: finds a closed connection */
        if (st->pending.len) st->last_write = now;
    }
    size_t n = st->pending.len - st->pending_pos;
    if (n > max) n = max;
    memcpy(buf, st->pending.p + st->pending_pos, n);
    st->pending_pos += n;
    return (ssize_t)n;
}

/* The connection is done with the stream: finished, or the client went away
 * (then its sequence is cancelled and its KV blocks freed at the next step). */
static void stream_free(void *cls) {
    stream_state *st = cls;
    atomic_store(&st->r->cancel, true);
    sched_request_unref(st->r);
    sbuf_free(&st->pending);
    free(st);
}

static enum MHD_Result send_stream(struct MHD_Connection *c, stream_state *st) {
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, st, stream_free);
    if (!resp) { stream_free(st); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- requests ----------------------------------------------------------------------- */

static bool authorized(server *s, struct MHD_Connection *c) {
    if (!s->cfg.api_key) return true;
    const char *bearer = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *xkey = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-api-key");
    const char *key = NULL;
    if (bearer && !strncmp(bearer, "Bearer ", 7)) key = bearer + 7;
    else if (xkey) key = xkey;
    if (!key) return false;
    size_t n = strlen(s->cfg.api_key);
    if (strlen(key) != n) return false;
    unsigned diff = 0; /* constant time over the key */
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)key[i] ^ (unsigned char)s->cfg.api_key[i];
    return diff == 0;
}

static enum MHD_Result dispatch(server *s, struct MHD_Connection *c, const char *url, const char *method,
                                conn_state *cs) {
    api_endpoint ep = endpoint_of(url);
    api_kind api = ep == EP_MESSAGES ? API_ANTHROPIC : API_OPENAI;
    atomic_fetch_add(&s->requests_total[ep], 1);
    api_error err = {0};
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/health")) {
        if (!get) goto method;
        bool down = atomic_load(&s->stopping);
        return send_json(c, down ? 503 : 200, json_pack("{s:s}", "status", down ? "shutting down" : "ok"));
    }
    if (!authorized(s, c)) {
        api_fail(&err, 401, ERR_AUTH, NULL, "a valid API key is required (Authorization: Bearer KEY or x-api-key: KEY)");
        return send_error(s, c, api, &err);
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    api_response out = {.client_fd = ci ? (int)ci->connect_fd : -1};
    if (!strcmp(url, "/metrics") || ep == EP_MODELS) {
        if (!get) goto method;
        if (ep == EP_MODELS) api_models(s, &out);
        else api_metrics(s, &out);
    } else if (ep == EP_OTHER) {
        api_fail(&err, 404, ERR_NOT_FOUND, NULL, "no route %s %s", method, url);
        return send_error(s, c, api, &err);
    } else {
        if (!post) goto method;
        if (cs->too_big) {
            api_fail(&err, 413, ERR_TOO_LARGE, NULL, "the request body is over the limit of %zu bytes", s->cfg.max_body);
            return send_error(s, c, api, &err);
        }
        json_error_t jerr;
        json_t *body = json_loadb(cs->body.p ? cs->body.p : "", cs->body.len, 0, &jerr);
        if (!body) {
            api_fail(&err, 400, ERR_INVALID, NULL, "malformed JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                     jerr.column);
        } else if (!json_is_object(body)) {
            api_fail(&err, 400, ERR_INVALID, NULL, "the request body must be a JSON object");
        } else {
            switch (ep) {
            case EP_CHAT: api_chat_completions(s, body, &out, &err); break;
            case EP_COMPLETIONS: api_completions(s, body, &out, &err); break;
            case EP_MESSAGES: api_messages(s, body, &out, &err); break;
            default: api_embeddings(s, body, &out, &err); break;
            }
        }
        json_decref(body);
        if (err.status) return send_error(s, c, api, &err);
    }
    if (out.stream) return send_stream(c, out.stream);
    if (out.text) {
        char *t = out.text_owned ? out.text_owned : strdup(out.text);
        return t ? send_buffer(c, out.status, t, strlen(t), out.content_type) : MHD_NO;
    }
    return send_json(c, out.status, out.body);
method:
    api_fail(&err, 405, ERR_INVALID, NULL, "method %s is not allowed on %s", method, url);
    return send_error(s, c, api, &err);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    server *s = cls;
    (void)version;
    conn_state *cs = *con_cls;
    if (!cs) {
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        *con_cls = cs;
        atomic_fetch_add(&s->in_flight, 1);
        /* a declared length over the limit is refused before reading the body */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
            cs->too_big = true;
            api_error err = {0};
            api_fail(&err, 413, ERR_TOO_LARGE, NULL, "the request body is over the limit of %zu bytes", s->cfg.max_body);
            atomic_fetch_add(&s->requests_total[endpoint_of(url)], 1);
            return send_error(s, c, endpoint_of(url) == EP_MESSAGES ? API_ANTHROPIC : API_OPENAI, &err);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (cs->body.len + *upload_size > s->cfg.max_body) cs->too_big = true;
        else sbuf_add(&cs->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(s, c, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    server *s = cls;
    (void)c; (void)toe;
    conn_state *cs = *con_cls;
    if (!cs) return;
    atomic_fetch_sub(&s->in_flight, 1);
    sbuf_free(&cs->body);
    free(cs);
    *con_cls = NULL;
}

struct MHD_Daemon *http_start(server *s, int *port_out, char *err, size_t err_size) {
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->cfg.port)};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)s->cfg.port)};
    const struct sockaddr *addr = (const struct sockaddr *)&a4;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    if (inet_pton(AF_INET, s->cfg.host, &a4.sin_addr) != 1) {
        if (inet_pton(AF_INET6, s->cfg.host, &a6.sin6_addr) != 1) {
            snprintf(err, err_size, "--host '%s' is not an IPv4 or IPv6 address", s->cfg.host);
            return NULL;
        }
        addr = (const struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    }
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)s->cfg.port, NULL, NULL, on_request, s,
                                            MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_END);
    if (!d) {
        snprintf(err, err_size, "cannot listen on %s:%d (in use, or not allowed)", s->cfg.host, s->cfg.port);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = info ? info->port : s->cfg.port;
    return d;
}

void http_quiesce(struct MHD_Daemon *d) {
    MHD_socket fd = MHD_quiesce_daemon(d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void http_stop(server *s, struct MHD_Daemon *d, double wait_s) {
    /* the requests' final events and bodies are still being written: give them time */
    for (double t = 0; t < wait_s && atomic_load(&s->in_flight) > 0; t += 0.01) usleep(10000);
    MHD_stop_daemon(d);
}
