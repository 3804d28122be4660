/* The table of supported architectures. Each family's descriptor lives in its
 * own file (llama.c, qwen2.c, qwen3.c, gemma3.c). */
#include <string.h>

#include "model/model.h"

extern const arch_desc arch_llama, arch_qwen2, arch_qwen3, arch_gemma3;

static const arch_desc *const archs[] = {&arch_llama, &arch_qwen2, &arch_qwen3, &arch_gemma3};

const arch_desc *arch_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strlen(archs[i]->name) == len && memcmp(archs[i]->name, name, len) == 0) return archs[i];
    return NULL;
}

const char *arch_supported_list(void) { return "llama, qwen2, qwen3, gemma3"; }
