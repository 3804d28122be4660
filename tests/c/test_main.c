/* Runs every registered TEST (optionally only those whose name contains argv[1]). */
#include "test.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

#define MAX_TESTS 1024

static struct { const char *name; test_fn fn; } tests[MAX_TESTS];
static int n_tests;
static int current_failed;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

void test_register(const char *name, test_fn fn) {
    if (n_tests < MAX_TESTS) {
        tests[n_tests].name = name;
        tests[n_tests].fn = fn;
        n_tests++;
    }
}

void test_fail_at(const char *file, int line, const char *fmt, ...) {
    if (current_failed < 10) { /* keep the log readable */
        fprintf(stderr, "  %s:%d: ", file, line);
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    current_failed++;
}

void test_seed(uint64_t seed) { rng_state = seed ? seed : 1; }

uint64_t test_rand_u64(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

float test_rand_uniform(void) { return (float)(test_rand_u64() >> 40) / 16777216.0f; }

float test_rand_normal(void) {
    float u1 = test_rand_uniform(), u2 = test_rand_uniform();
    if (u1 < 1e-7f) u1 = 1e-7f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    qsort(tests, (size_t)n_tests, sizeof tests[0], by_name); /* stable order */
    int passed = 0, failed = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        current_failed = 0;
        test_seed(0x1234567ull + (uint64_t)i);
        tests[i].fn();
        if (current_failed) {
            failed++;
            fprintf(stderr, "FAIL %s (%d checks failed)\n", tests[i].name, current_failed);
        } else {
            passed++;
            printf("ok   %s\n", tests[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

void test_random_weights(uint32_t type, uint8_t *bytes, int64_t n) {
    const brisk_type_traits *t = brisk_type_traits_get(type);
    if (t->quantize) {
        float *src = malloc((size_t)n * sizeof *src);
        for (int64_t i = 0; i < n; i++) src[i] = test_rand_normal() * 0.1f;
        t->quantize(src, bytes, n);
        free(src);
        return;
    }
    const uint64_t nbytes = brisk_type_row_bytes((brisk_type)type, n);
    for (uint64_t i = 0; i < nbytes; i++) bytes[i] = (uint8_t)test_rand_u64();
    for (uint64_t b = 0; b < nbytes; b += t->info.block_bytes) { /* IQ4_NL/IQ4_XS: f16 d at byte 0 */
        const uint16_t h = (uint16_t)(0x2000 + (test_rand_u64() & 0x7ff));
        memcpy(bytes + b, &h, 2);
    }
}
