#include "cli/default_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The same place scripts/fetch_model.py uses: $BRISK_CACHE/models, else
 * $XDG_CACHE_HOME/brisk/models, else ~/.cache/brisk/models. */
static bool cache_path(char *buf, size_t size) {
    const char *brisk_cache = getenv("BRISK_CACHE"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (brisk_cache && *brisk_cache) n = snprintf(buf, size, "%s/models/%s", brisk_cache, BRISK_DEFAULT_MODEL_NAME);
    else if (xdg && *xdg) n = snprintf(buf, size, "%s/brisk/models/%s", xdg, BRISK_DEFAULT_MODEL_NAME);
    else if (home && *home) n = snprintf(buf, size, "%s/.cache/brisk/models/%s", home, BRISK_DEFAULT_MODEL_NAME);
    else return false;
    return n > 0 && (size_t)n < size;
}

brisk_model *cli_load_model(const char *cmd, const char **path, char *buf, size_t size) {
    if (!*path) {
        if (!default_model_path(buf, size)) return NULL;
        *path = buf;
    }
    brisk_error err;
    brisk_model *model = brisk_model_load(*path, &err);
    if (!model) fprintf(stderr, "%s: %s\n", cmd, err.msg);
    return model;
}

bool default_model_path(char *buf, size_t size) {
    if (!cache_path(buf, size)) {
        fprintf(stderr, "brisk: cannot place the model cache (set BRISK_CACHE or HOME)\n");
        return false;
    }
    if (access(buf, R_OK) == 0) return true;
#ifdef BRISK_SOURCE_DIR
    const char *fetcher = BRISK_SOURCE_DIR "/scripts/fetch_model.py";
    if (access(fetcher, R_OK) == 0) {
        fprintf(stderr, "brisk: fetching the default model (%s) ...\n", BRISK_DEFAULT_MODEL_NAME);
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "python3 '%s' >/dev/null", fetcher);
        if (system(cmd) == 0 && access(buf, R_OK) == 0) return true;
    }
#endif
    fprintf(stderr, "brisk: the default model is not at %s; fetch it with scripts/fetch_model.py "
                    "(or `make run`), or name a model with -m FILE.gguf\n", buf);
    return false;
}
