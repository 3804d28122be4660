/* Picks the kernel table for this CPU at run time.
 *
 * The chosen table is computed once (pthread_once) and never changes after:
 * it is a pure function of the CPU and the BRISK_ISA environment variable,
 * so it is process-wide constant data, not mutable state. */
#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdbool.h>
#include <stdio.h>
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
    case CPU_ISA_AVX512:
        return cpu_has(CPU_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    case CPU_ISA_AVX512VNNI:
        return cpu_has(CPU_ISA_AVX512) && __builtin_cpu_supports("avx512vnni");
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
    case CPU_ISA_AVX512: k = cpu_kernels_avx512(); break;
    case CPU_ISA_AVX512VNNI: k = cpu_kernels_avx512vnni(); break;
    default: break;
    }
    return k && cpu_has(isa) ? k : NULL;
}

static cpu_kernels best;
static pthread_once_t best_once = PTHREAD_ONCE_INIT;

/* Entries `into` lacks, taken from `from`. */
static void fill(cpu_kernels *into, const cpu_kernels *from) {
    for (int t = 0; t < BRISK_TYPE_COUNT; t++) {
        if (!into->dot[t]) into->dot[t] = from->dot[t];
        if (!into->panel_dot[t]) into->panel_dot[t] = from->panel_dot[t];
    }
    if (!into->quant_q16_32) into->quant_q16_32 = from->quant_q16_32;
    if (!into->quant_q16_256) into->quant_q16_256 = from->quant_q16_256;
    if (!into->dot_f32) into->dot_f32 = from->dot_f32;
    if (!into->attn_scores_f16) into->attn_scores_f16 = from->attn_scores_f16;
    if (!into->attn_values_f16) into->attn_values_f16 = from->attn_values_f16;
    if (!into->f32_to_f16) into->f32_to_f16 = from->f32_to_f16;
}

static void choose(void) {
    static const char *names[CPU_ISA_COUNT] = {"generic", "neon", "avx2", "avx512", "avx512vnni"};
    const char *want = getenv("BRISK_ISA");
    int chosen = -1;
    for (int isa = CPU_ISA_COUNT - 1; isa >= 0 && chosen < 0; isa--) {
        if (want && *want && strcmp(want, names[isa]) != 0) continue;
        if (cpu_kernels_for((cpu_isa)isa)) chosen = isa;
    }
    if (chosen < 0) chosen = CPU_ISA_GENERIC; /* unknown or unavailable BRISK_ISA */
    best = *cpu_kernels_for((cpu_isa)chosen);
    /* every ISA below the chosen one that this CPU runs, best first */
    for (int isa = chosen - 1; isa >= 0; isa--) {
        const cpu_kernels *k = cpu_kernels_for((cpu_isa)isa);
        if (k) fill(&best, k);
    }
}

const cpu_kernels *cpu_kernels_best(void) {
    pthread_once(&best_once, choose);
    return &best;
}

static char kernels_desc[96];

static void describe(void) {
    const cpu_kernels *k = cpu_kernels_best();
    bool has_panels = false;
    for (int t = 0; t < BRISK_TYPE_COUNT; t++) has_panels = has_panels || k->panel_dot[t];
    snprintf(kernels_desc, sizeof kernels_desc, "%s kernels%s", k->name,
             cpu_panels_enabled() && has_panels ? ", 16-row weight panels" : "");
}

const char *brisk_cpu_kernels(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, describe);
    return kernels_desc;
}
