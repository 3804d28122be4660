/* The AVX-512 kernels again with VNNI's vpdpwssd (see kernels_avx512.c). */
#define BRISK_AVX512_VNNI 1
#include "kernels_avx512.c"
