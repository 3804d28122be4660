/* Replays the fuzz seed corpus and every crasher the fuzzer ever found
 * (tests/fuzz/regressions/) through the fuzz entry point. Under the sanitizer
 * build this turns each past crash into a permanent regression test. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
        size_t got = fread(buf, 1, (size_t)(len > 0 ? len : 0), f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, got); /* aborts or trips a sanitizer on failure */
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

TEST(fuzz_seed_corpus_replays) {
    int n = replay_dir(BRISK_SOURCE_DIR "/tests/fuzz/corpus");
    CHECK_MSG(n >= 5, "expected the seed corpus in tests/fuzz/corpus, replayed %d files", n);
}

TEST(fuzz_regressions_replay) {
    int n = replay_dir(BRISK_SOURCE_DIR "/tests/fuzz/regressions");
    CHECK_MSG(n >= 0, "tests/fuzz/regressions is missing");
}
