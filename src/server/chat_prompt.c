/* The prompt of a chat request: the model's chat template over the messages.
 * Until brisk's template engine lands (brisk_chat_render), a model whose
 * template is ChatML (<|im_start|>role\n...<|im_end|>) gets ChatML and any
 * other model a plain "role: content" transcript. */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static bool template_is_chatml(const brisk_model *m) {
    const brisk_gguf_value *v = brisk_gguf_find(brisk_model_gguf(m), "tokenizer.chat_template");
    if (!v || v->type != BRISK_GGUF_STRING) return false;
    const char *p = v->v.str.ptr;
    size_t n = v->v.str.len, k = strlen("<|im_start|>");
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(p + i, "<|im_start|>", k)) return true;
    return false;
}

char *chat_prompt(server *s, const chat_msg *msgs, size_t n, api_error *err) {
    sbuf b = {0};
    bool chatml = template_is_chatml(s->model);
    for (size_t i = 0; i < n; i++) {
        if (chatml) sbuf_addf(&b, "<|im_start|>%s\n%s<|im_end|>\n", msgs[i].role, msgs[i].content);
        else sbuf_addf(&b, "%s: %s\n", msgs[i].role, msgs[i].content);
    }
    sbuf_add(&b, chatml ? "<|im_start|>assistant\n" : "assistant:", chatml ? 22 : 10);
    if (b.oom) {
        sbuf_free(&b);
        api_fail(err, 500, ERR_SERVER, NULL, "out of memory rendering the chat");
        return NULL;
    }
    return b.p;
}
