/* A minimal self-registering test framework.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ_INT(a, b); }
 *
 * Every TEST in any linked file runs from test_main.c; a failed CHECK marks
 * the test failed and continues. The run ends with "N passed, N failed". */
#ifndef BRISK_TEST_H
#define BRISK_TEST_H

#include <stdint.h>
#include <stdio.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Deterministic random numbers for tests (xorshift64*). */
uint64_t test_rand_u64(void);
float test_rand_uniform(void);           /* [0, 1) */
float test_rand_normal(void);            /* N(0, 1) */
void test_seed(uint64_t seed);
/* Random weights of n elements of a tensor type (brisk_type) into bytes: the
 * reference quantizer of N(0, 0.1^2) data where the type has one, else random
 * bytes with a small positive finite f16 scale at byte 0 of every block. */
void test_random_weights(uint32_t type, uint8_t *bytes, int64_t n);

#define TEST(name)                                                          \
    static void test_##name(void);                                          \
    __attribute__((constructor)) static void test_register_##name(void) {   \
        test_register(#name, test_##name);                                  \
    }                                                                       \
    static void test_##name(void)

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) test_fail_at(__FILE__, __LINE__, "CHECK(%s)", #cond);  \
    } while (0)

#define CHECK_MSG(cond, ...)                                                \
    do {                                                                    \
        if (!(cond)) test_fail_at(__FILE__, __LINE__, __VA_ARGS__);         \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                  \
    do {                                                                    \
        long long a_ = (long long)(a), b_ = (long long)(b);                 \
        if (a_ != b_)                                                       \
            test_fail_at(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
    } while (0)

#endif
