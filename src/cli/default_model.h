/* The default model: SmolLM2-135M-Instruct Q4_1, cached by scripts/fetch_model.py. */
#ifndef BRISK_CLI_DEFAULT_MODEL_H
#define BRISK_CLI_DEFAULT_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "brisk.h"

#define BRISK_DEFAULT_MODEL_NAME "SmolLM2-135M-Instruct.Q4_1.gguf"

/* Path of the cached default model in buf, fetching it first (through
 * scripts/fetch_model.py of the source tree) when it is not cached yet.
 * Prints the reason and returns false when it cannot be had. */
bool default_model_path(char *buf, size_t size);

/* Load the model at *path, or the default model (fetched when needed; *path
 * then points at buf) when *path is NULL. On failure prints "cmd: reason"
 * and returns NULL. */
brisk_model *cli_load_model(const char *cmd, const char **path, char *buf, size_t size);

#endif
