/* brisk chat [-m FILE.gguf] [-s SYSTEM] [options]
 * An interactive chat in the terminal. Each turn renders the whole
 * conversation with the model's chat template (brisk_chat_render), tokenizes
 * it, and evaluates only what follows the longest prefix already in the KV
 * cache, so earlier turns are not recomputed. Replies stream as they are
 * generated. /reset starts over, /exit or Ctrl-D ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brisk.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "cli/gen_options.h"
#include "cli/line_reader.h"

typedef struct chat_options {
    const char *model, *system, *template_path;
    int32_t n_predict; /* per reply; -1: until the model ends its turn or the context is full */
    bool stats;
    cli_gen_options gen;
} chat_options;

/* Messages with owned strings. */
typedef struct conversation {
    brisk_chat_message *msgs;
    size_t n, cap;
} conversation;

typedef struct chat_session {
    const chat_options *o;
    brisk_model *model;
    const brisk_vocab *vocab;
    brisk_context *ctx;
    brisk_sampler *smp;
    char *template_text; /* --template, or NULL for the model's */
    const char *stops[CLI_MAX_STOPS + 2];
    int n_stops;
    brisk_token *cached; /* the tokens whose keys/values are in ctx, in order */
    int32_t n_cached, cap_cached;
    conversation conv;
    int turn;
} chat_session;

static void chat_usage(FILE *out) {
    fprintf(out,
            "usage: brisk chat [-m FILE.gguf] [-s SYSTEM] [options]\n"
            "  -m, --model FILE        model (default: %s)\n"
            "  -s, --system TEXT       system prompt\n"
            "  -n, --n-predict N       tokens per reply at most (default -1: until the model ends its turn)\n"
            "      --template FILE     Jinja chat template to use instead of the model's\n"
            "      --stats             after each reply, print token counts and speeds to stderr\n",
            BRISK_DEFAULT_MODEL_NAME);
    cli_gen_usage(out);
    fprintf(out, "In the chat: /reset starts a new conversation, /exit (or Ctrl-D) ends.\n"
                 "Without a template in the model, brisk uses ChatML (see README).\n");
}

static int parse_args(int argc, char **argv, chat_options *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { chat_usage(stdout); return -1; }
        if (!strcmp(a, "--stats")) { o->stats = true; continue; }
        int shared = cli_gen_option("brisk chat", argc, argv, &i, &o->gen);
        if (shared < 0) return 2;
        if (shared > 0) continue;
        bool takes_value = !strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-s") || !strcmp(a, "--system") ||
                           !strcmp(a, "-n") || !strcmp(a, "--n-predict") || !strcmp(a, "--template");
        if (!takes_value) {
            fprintf(stderr, "brisk chat: unknown option '%s'\n", a);
            chat_usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "brisk chat: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-s") || !strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "--template")) o->template_path = v;
        else {
            long n;
            if (!cli_parse_long("brisk chat", a, v, -1, INT32_MAX, &n)) return 2;
            o->n_predict = (int32_t)n;
        }
    }
    return 0;
}

/* ---- conversation ---------------------------------------------------------- */
static bool conv_push(conversation *c, const char *role, const char *content, size_t len) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        brisk_chat_message *m = realloc(c->msgs, cap * sizeof *m);
        if (!m) return false;
        c->msgs = m;
        c->cap = cap;
    }
    char *r = strdup(role), *t = malloc(len + 1);
    if (!r || !t) { free(r); free(t); return false; }
    memcpy(t, content, len);
    t[len] = 0;
    c->msgs[c->n++] = (brisk_chat_message){.role = r, .content = t};
    return true;
}

static void conv_pop(conversation *c) {
    if (!c->n) return;
    c->n--;
    free((char *)c->msgs[c->n].role);
    free((char *)c->msgs[c->n].content);
}

static void conv_free(conversation *c) {
    while (c->n) conv_pop(c);
    free(c->msgs);
}

/* ---- the KV cache ---------------------------------------------------------- */
static bool cached_set(chat_session *s, const brisk_token *toks, int32_t n) {
    if (n > s->cap_cached) {
        brisk_token *p = realloc(s->cached, (size_t)n * sizeof *p);
        if (!p) return false;
        s->cached = p;
        s->cap_cached = n;
    }
    memcpy(s->cached, toks, (size_t)n * sizeof *toks);
    s->n_cached = n;
    return true;
}

static bool cached_push(chat_session *s, brisk_token t) {
    if (s->n_cached == s->cap_cached) {
        int32_t cap = s->cap_cached ? s->cap_cached * 2 : 256;
        brisk_token *p = realloc(s->cached, (size_t)cap * sizeof *p);
        if (!p) return false;
        s->cached = p;
        s->cap_cached = cap;
    }
    s->cached[s->n_cached++] = t;
    return true;
}

static void reset(chat_session *s) {
    conv_free(&s->conv);
    memset(&s->conv, 0, sizeof s->conv);
    if (s->o->system) conv_push(&s->conv, "system", s->o->system, strlen(s->o->system));
    brisk_context_truncate(s->ctx, 0);
    s->n_cached = 0;
}

/* The rendered conversation as tokens (malloc'd), or NULL (message printed). */
static brisk_token *render_tokens(chat_session *s, int32_t *n_out) {
    brisk_error err;
    char *text = NULL;
    if (brisk_chat_render(s->model, s->template_text, s->conv.msgs, s->conv.n, true, &text, &err) != BRISK_OK) {
        fprintf(stderr, "brisk chat: %s\n", err.msg);
        return NULL;
    }
    size_t len = strlen(text);
    int64_t n = brisk_tokenize(s->vocab, text, len, BRISK_TOKENIZE_PARSE_SPECIAL, NULL, 0, &err);
    brisk_token *toks = n >= 0 && n < INT32_MAX ? malloc((size_t)(n > 0 ? n : 1) * sizeof *toks) : NULL;
    if (!toks || brisk_tokenize(s->vocab, text, len, BRISK_TOKENIZE_PARSE_SPECIAL, toks, n, &err) != n) {
        fprintf(stderr, "brisk chat: cannot tokenize the conversation: %s\n", n < 0 ? err.msg : "out of memory");
        free(toks);
        free(text);
        return NULL;
    }
    free(text);
    *n_out = (int32_t)n;
    return toks;
}

static void emit(const char *text, size_t n, char **reply, size_t *reply_len) {
    fwrite(text, 1, n, stdout);
    fflush(stdout);
    char *r = realloc(*reply, *reply_len + n + 1);
    if (!r) return;
    memcpy(r + *reply_len, text, n);
    *reply_len += n;
    r[*reply_len] = 0;
    *reply = r;
}

/* Stream the reply; returns the tokens generated, -1 on a fatal error. */
static int32_t generate_reply(chat_session *s, char **reply, size_t *reply_len) {
    brisk_error err;
    brisk_detok *detok = brisk_detok_create(s->vocab, false);
    brisk_stop *stop = detok ? brisk_stop_create(s->stops, s->n_stops, &err) : NULL;
    if (!stop) {
        fprintf(stderr, "brisk chat: %s\n", detok ? err.msg : "out of memory");
        brisk_detok_free(detok);
        return -1;
    }
    brisk_sampler_reset(s->smp);
    for (int32_t i = 0; i < s->n_cached; i++) brisk_sampler_accept(s->smp, s->cached[i]);
    int32_t n_gen = 0;
    bool stopped = false;
    const char *text;
    size_t text_len;
    while (s->o->n_predict < 0 || n_gen < s->o->n_predict) {
        if (brisk_context_n_past(s->ctx) >= brisk_context_n_ctx(s->ctx)) {
            fprintf(stderr, "\nbrisk chat: the context (%d tokens) is full: /reset to start over, or raise -c\n",
                    brisk_context_n_ctx(s->ctx));
            break;
        }
        brisk_token t = brisk_sampler_sample(s->smp, brisk_logits(s->ctx, -1));
        if (t < 0) {
            fprintf(stderr, "\nbrisk chat: no token can be sampled (every logit is -inf or NaN)\n");
            n_gen = -1;
            break;
        }
        brisk_sampler_accept(s->smp, t);
        n_gen++;
        if (brisk_vocab_is_eog(s->vocab, t)) break;
        const char *piece = brisk_detok_push(detok, t);
        stopped = brisk_stop_feed(stop, piece, strlen(piece), &text, &text_len);
        emit(text, text_len, reply, reply_len);
        if (stopped) break;
        if (brisk_eval(s->ctx, &t, 1, false, &err) != BRISK_OK || !cached_push(s, t)) {
            fprintf(stderr, "\nbrisk chat: %s\n", err.msg);
            n_gen = -1;
            break;
        }
    }
    if (!stopped && n_gen >= 0) {
        const char *rest = brisk_detok_flush(detok);
        stopped = brisk_stop_feed(stop, rest, strlen(rest), &text, &text_len);
        emit(text, text_len, reply, reply_len);
        if (!stopped) {
            brisk_stop_flush(stop, &text, &text_len);
            emit(text, text_len, reply, reply_len);
        }
    }
    brisk_stop_free(stop);
    brisk_detok_free(detok);
    return n_gen;
}

/* One user turn. Returns 0, 1 after a recoverable error (the turn is dropped),
 * -1 after a fatal one. */
static int chat_turn(chat_session *s, const char *user) {
    if (!conv_push(&s->conv, "user", user, strlen(user))) return -1;
    int32_t n = 0;
    brisk_token *toks = render_tokens(s, &n);
    if (!toks) { conv_pop(&s->conv); return 1; }
    const int32_t n_ctx = brisk_context_n_ctx(s->ctx);
    if (n >= n_ctx) {
        fprintf(stderr, "brisk chat: the conversation is %d tokens, the context holds %d: /reset to start over, "
                        "or raise -c\n", n, n_ctx);
        free(toks);
        conv_pop(&s->conv);
        return 1;
    }
    /* reuse the longest prefix already in the KV cache; at least one token is evaluated for logits */
    int32_t common = 0;
    while (common < n && common < s->n_cached && s->cached[common] == toks[common]) common++;
    if (common == n) common = n - 1;
    brisk_context_truncate(s->ctx, common);
    s->n_cached = common;
    brisk_error err;
    double t0 = cli_now();
    if (brisk_eval(s->ctx, toks + common, n - common, false, &err) != BRISK_OK || !cached_set(s, toks, n)) {
        fprintf(stderr, "brisk chat: %s\n", err.msg);
        free(toks);
        conv_pop(&s->conv);
        return 1;
    }
    free(toks);
    double t1 = cli_now();
    char *reply = NULL;
    size_t reply_len = 0;
    int32_t n_gen = generate_reply(s, &reply, &reply_len);
    double t2 = cli_now();
    fputc('\n', stdout);
    fflush(stdout);
    if (n_gen < 0) {
        free(reply);
        return -1;
    }
    bool ok = conv_push(&s->conv, "assistant", reply ? reply : "", reply_len);
    free(reply);
    s->turn++;
    if (s->o->stats)
        fprintf(stderr, "[turn %d: prompt %d tokens, %d reused, %d evaluated at %.1f tok/s | reply %d tokens, %.1f tok/s]\n",
                s->turn, n, common, n - common, (n - common) / (t1 - t0 > 0 ? t1 - t0 : 1e-9), n_gen,
                n_gen > 0 && t2 > t1 ? n_gen / (t2 - t1) : 0.0);
    return ok ? 0 : -1;
}

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *p = realloc(buf, cap);
            if (!p) { free(buf); fclose(f); return NULL; }
            buf = p;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return NULL; }
    buf[len] = 0;
    return buf;
}

static int chat_loop(chat_session *s) {
    char history[4096];
    const char *home = getenv("HOME");
    bool have_history = home && snprintf(history, sizeof history, "%s/.brisk_chat_history", home) < (int)sizeof history;
    line_reader *in = line_reader_open(have_history ? history : NULL);
    if (!in) return 1;
    if (line_reader_interactive(in))
        fprintf(stderr, "brisk chat: %s%s. /reset starts over, /exit or Ctrl-D ends.\n", brisk_model_arch(s->model),
                brisk_chat_has_template(s->model) || s->template_text ? "" : " (no chat template: using ChatML)");
    int rc = 0;
    for (;;) {
        char *line = line_reader_read(in, "> ");
        if (!line) break;
        if (!line[0]) { free(line); continue; }
        line_reader_remember(in, line);
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) { free(line); break; }
        if (!strcmp(line, "/reset")) {
            reset(s);
            fprintf(stderr, "(new conversation)\n");
            free(line);
            continue;
        }
        int r = chat_turn(s, line);
        free(line);
        if (r < 0) { rc = 1; break; }
    }
    line_reader_close(in);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    chat_options o = {.n_predict = -1, .gen = cli_gen_options_default()};
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    cli_gen_seed(&o.gen);
    chat_session s = {.o = &o};
    brisk_error err = {0};
    rc = 1;
    if (o.template_path && !(s.template_text = read_file(o.template_path))) {
        fprintf(stderr, "brisk chat: cannot read the template %s\n", o.template_path);
        return 1;
    }
    char default_path[4096];
    s.model = cli_load_model("brisk chat", &o.model, default_path, sizeof default_path);
    if (!s.model) goto done;
    s.vocab = brisk_model_vocab(s.model);
    s.ctx = brisk_context_create(s.model, &o.gen.ctx, &err);
    s.smp = s.ctx ? brisk_sampler_create(&o.gen.sampling, brisk_model_n_vocab(s.model), &err) : NULL;
    if (!s.smp) {
        fprintf(stderr, "brisk chat: %s\n", err.msg);
        goto done;
    }
    for (int i = 0; i < o.gen.n_stops; i++) s.stops[s.n_stops++] = o.gen.stops[i];
    if (!s.template_text && !brisk_chat_has_template(s.model)) { /* ChatML fallback: its markers are text here */
        s.stops[s.n_stops++] = "<|im_end|>";
        s.stops[s.n_stops++] = "<|im_start|>";
    }
    reset(&s);
    rc = chat_loop(&s);
done:
    conv_free(&s.conv);
    free(s.cached);
    free(s.template_text);
    brisk_sampler_free(s.smp);
    brisk_context_free(s.ctx);
    brisk_model_free(s.model);
    return rc;
}
