/* The default model: SmolLM2-135M-Instruct Q4_1, cached by scripts/fetch_model.py. */
#ifndef BRISK_CLI_DEFAULT_MODEL_H
#define BRISK_CLI_DEFAULT_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#define BRISK_DEFAULT_MODEL_NAME "SmolLM2-135M-Instruct.Q4_1.gguf"

/* Path of the cached default model in buf, fetching it first (through
 * scripts/fetch_model.py of the source tree) when it is not cached yet.
 * Prints the reason and returns false when it cannot be had. */
bool default_model_path(char *buf, size_t size);

#endif
