/* The public template API: brisk_template_render_json and brisk_chat_render
 * (include/brisk.h). One render: lex, parse, evaluate, all in one arena. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "brisk.h"
#include "template/tmpl.h"

typedef void (*add_vars_fn)(tmpl_state *st, tframe *frame, void *user);

static brisk_status render(const char *tmpl, const char *vars_json, add_vars_fn add_vars, void *user, char **out,
                           brisk_error *err) {
    tmpl_state *st = calloc(1, sizeof *st);
    if (!st) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
    if (setjmp(st->on_error)) {
        brisk_status s = strstr(st->err, "out of memory") ? BRISK_ERR_NOMEM : BRISK_ERR_FORMAT;
        brisk_fail(err, s, "%s", st->err);
        if (st->json_root) json_decref_ptr(st->json_root);
        tmpl_arena_free(st);
        free(st);
        return s;
    }
    tframe *globals = tmpl_frame_new(st, NULL);
    tmpl_add_globals(st, globals);
    tframe *root = tmpl_frame_new(st, globals);
    if (vars_json) tmpl_json_vars(st, vars_json, root);
    if (add_vars) add_vars(st, root, user);
    size_t n_toks;
    ttoken *toks = tmpl_lex(st, tmpl, strlen(tmpl), &n_toks);
    tnodes body = tmpl_parse(st, toks, n_toks);
    tbuf text;
    tbuf_init(&text, st);
    st->out = &text;
    tmpl_exec(st, body, root);
    char *result = malloc(text.n + 1);
    if (!result) tmpl_fail(st, "out of memory");
    if (text.n) memcpy(result, text.p, text.n);
    result[text.n] = 0;
    tmpl_arena_free(st);
    free(st);
    *out = result;
    return BRISK_OK;
}

brisk_status brisk_template_render_json(const char *tmpl, const char *vars_json, char **out, brisk_error *err) {
    if (out) *out = NULL;
    if (!tmpl || !out) return brisk_fail(err, BRISK_ERR_ARG, "brisk_template_render_json: NULL argument");
    brisk_error_clear(err);
    return render(tmpl, vars_json, NULL, NULL, out, err);
}

/* ---- chat ----------------------------------------------------------------------------------- */
/* brisk's fallback for models without a template: ChatML, BOS first when the
 * model asks for one (documented in brisk.h and README.md). */
static const char FALLBACK_TEMPLATE[] =
    "{% if brisk_add_bos %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

typedef struct chat_vars {
    const brisk_model *model;
    const brisk_chat_message *msgs;
    size_t n_msgs;
    bool add_generation_prompt, fallback;
} chat_vars;

static tval token_text(tmpl_state *st, const brisk_vocab *v, brisk_token t) {
    if (t < 0) return tv_cstr(st, "");
    char buf[256];
    int64_t n = brisk_token_to_piece(v, t, true, buf, sizeof buf);
    if (n < 0) return tv_cstr(st, "");
    if ((size_t)n > sizeof buf) {
        char *big = tmpl_alloc(st, (size_t)n);
        brisk_token_to_piece(v, t, true, big, (size_t)n);
        return tv_str(st, big, (size_t)n);
    }
    return tv_str(st, buf, (size_t)n);
}

static bool model_add_bos(const brisk_model *m) {
    const brisk_gguf_value *v = brisk_gguf_find(brisk_model_gguf(m), "tokenizer.ggml.add_bos_token");
    return v && v->type == BRISK_GGUF_BOOL && v->v.b;
}

static void add_chat_vars(tmpl_state *st, tframe *frame, void *user) {
    const chat_vars *cv = user;
    tval msgs = tv_list(st, cv->n_msgs, false);
    for (size_t i = 0; i < cv->n_msgs; i++) {
        if (!cv->msgs[i].role || !cv->msgs[i].content) tmpl_fail_at(st, 0, 0, "message %zu has no role or content", i);
        tval d = tv_dict(st);
        tdict_set(st, d.u.d, tv_cstr(st, "role"), tv_cstr(st, cv->msgs[i].role));
        tdict_set(st, d.u.d, tv_cstr(st, "content"), tv_cstr(st, cv->msgs[i].content));
        msgs.u.l->items[i] = d;
    }
    const brisk_vocab *vocab = brisk_model_vocab(cv->model);
    /* what transformers' apply_chat_template passes */
    tmpl_frame_set(st, frame, "messages", msgs);
    tmpl_frame_set(st, frame, "tools", tv_none());
    tmpl_frame_set(st, frame, "documents", tv_none());
    tmpl_frame_set(st, frame, "add_generation_prompt", tv_bool(cv->add_generation_prompt));
    tmpl_frame_set(st, frame, "bos_token", token_text(st, vocab, brisk_vocab_bos(vocab)));
    tmpl_frame_set(st, frame, "eos_token", token_text(st, vocab, brisk_vocab_eos(vocab)));
    if (cv->fallback) tmpl_frame_set(st, frame, "brisk_add_bos", tv_bool(model_add_bos(cv->model)));
}

/* The model's template as a C string (malloc'd), or NULL when it has none. */
static char *model_template(const brisk_model *m) {
    const brisk_gguf_value *v = brisk_gguf_find(brisk_model_gguf(m), "tokenizer.chat_template");
    if (!v || v->type != BRISK_GGUF_STRING) return NULL;
    char *s = malloc(v->v.str.len + 1);
    if (!s) return NULL;
    memcpy(s, v->v.str.ptr, v->v.str.len);
    s[v->v.str.len] = 0;
    return s;
}

bool brisk_chat_has_template(const brisk_model *m) {
    const brisk_gguf_value *v = m ? brisk_gguf_find(brisk_model_gguf(m), "tokenizer.chat_template") : NULL;
    return v && v->type == BRISK_GGUF_STRING;
}

brisk_status brisk_chat_render(const brisk_model *m, const char *tmpl, const brisk_chat_message *msgs, size_t n_msgs,
                               bool add_generation_prompt, char **out, brisk_error *err) {
    if (out) *out = NULL;
    if (!m || !out || (n_msgs && !msgs)) return brisk_fail(err, BRISK_ERR_ARG, "brisk_chat_render: NULL argument");
    brisk_error_clear(err);
    char *owned = NULL;
    chat_vars cv = {.model = m, .msgs = msgs, .n_msgs = n_msgs, .add_generation_prompt = add_generation_prompt};
    if (!tmpl) {
        owned = model_template(m);
        if (!owned && brisk_chat_has_template(m)) return brisk_fail(err, BRISK_ERR_NOMEM, "out of memory");
        tmpl = owned ? owned : FALLBACK_TEMPLATE;
        cv.fallback = !owned;
    }
    brisk_status s = render(tmpl, NULL, add_chat_vars, &cv, out, err);
    free(owned);
    return s;
}
