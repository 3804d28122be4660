/* Picks the kernel table for this CPU at run time.
 *
 * The chosen table is computed once (pthread_once) and never changes after:
 * it is a pure function of the CPU and the BRISK_ISA environment variable,
 * so it is process-wide constant data, not mutable state. */
#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/kernels.h"

static int cpu_has(cpu_isa isa) {
    switch (isa) {
    case CPU_ISA_GENERIC: return 1;
#if defined(__x86_64__) || defined(__i386__)
    case CPU_ISA_AVX2:
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
        {   /* F16C via CPUID leaf 1 (clang 14's __builtin_cpu_supports lacks "f16c") */
            unsigned a, b, c, d;
            return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
        }
#endif
#if defined(__aarch64__)
    case CPU_ISA_NEON: return 1; /* Advanced SIMD is mandatory on aarch64 */
#endif
    default: return 0;
    }
}

const cpu_kernels *cpu_kernels_for(cpu_isa isa) {
    const cpu_kernels *k = NULL;
    switch (isa) {
    case CPU_ISA_GENERIC: k = cpu_kernels_generic(); break;
    case CPU_ISA_AVX2: k = cpu_kernels_avx2(); break;
    case CPU_ISA_NEON: k = cpu_kernels_neon(); break;
    default: break;
    }
    return k && cpu_has(isa) ? k : NULL;
}

static cpu_kernels best;
static pthread_once_t best_once = PTHREAD_ONCE_INIT;

static void choose(void) {
    static const char *names[CPU_ISA_COUNT] = {"generic", "avx2", "neon"};
    const char *want = getenv("BRISK_ISA");
    const cpu_kernels *k = NULL;
    for (int isa = CPU_ISA_COUNT - 1; isa >= 0 && !k; isa--) {
        if (want && *want && strcmp(want, names[isa]) != 0) continue;
        k = cpu_kernels_for((cpu_isa)isa);
    }
    const cpu_kernels *g = cpu_kernels_generic();
    if (!k) k = g; /* unknown or unavailable BRISK_ISA */
    best = *k;
    for (int t = 0; t < BRISK_TYPE_COUNT; t++)
        if (!best.dot[t]) best.dot[t] = g->dot[t];
    if (!best.quant_q8_32) best.quant_q8_32 = g->quant_q8_32;
    if (!best.quant_q8_256) best.quant_q8_256 = g->quant_q8_256;
    if (!best.dot_f32) best.dot_f32 = g->dot_f32;
}

const cpu_kernels *cpu_kernels_best(void) {
    pthread_once(&best_once, choose);
    return &best;
}
