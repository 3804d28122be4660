/* The prompt of a chat request: the model's chat template over the messages,
 * rendered by brisk's template engine (brisk_chat_render; a model without a
 * template gets its documented ChatML fallback). */
#include <stdlib.h>

#include "server/server.h"

char *chat_prompt(server *s, const chat_msg *msgs, size_t n, api_error *err) {
    char *out = NULL;
    brisk_error e;
    if (brisk_chat_render(s->model, NULL, msgs, n, true, &out, &e) != BRISK_OK) {
        /* templates reject conversations they do not support (raise_exception) */
        api_fail(err, e.status == BRISK_ERR_NOMEM ? 500 : 400, e.status == BRISK_ERR_NOMEM ? ERR_SERVER : ERR_INVALID,
                 "messages", "the chat template cannot render these messages: %s", e.msg);
        return NULL;
    }
    return out;
}
