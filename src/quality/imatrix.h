/* Importance matrices: per weight matrix, the sum of squares of the
 * activations that met each of its input columns, and how many rows were
 * summed (brisk imatrix collects them; brisk quantize --imatrix reads them).
 *
 * File: a GGUF file with general.type = "imatrix", and for each weight W
 * (its GGUF name) two F32 tensors:
 *   "W.in_sum2"  [n_cols]  sum over rows of x[col]^2
 *   "W.counts"   [1]       number of rows summed
 * plus imatrix.chunk_count (u32), imatrix.chunk_size (u32) and
 * imatrix.datasets (array of strings: the text files it was computed on). */
#ifndef BRISK_QUALITY_IMATRIX_H
#define BRISK_QUALITY_IMATRIX_H

#include <stdint.h>

#include "brisk.h"

typedef struct imatrix_entry {
    char *name;     /* weight name */
    int64_t n_cols;
    double *sum2;   /* [n_cols] */
    double count;   /* rows summed */
} imatrix_entry;

typedef struct imatrix {
    imatrix_entry *entries;
    int n, cap;
    uint32_t chunk_count, chunk_size;
} imatrix;

void imatrix_free(imatrix *im);
/* Add rows x[n_rows, n_cols] seen by weight `name` (creates the entry). */
brisk_status imatrix_add(imatrix *im, const char *name, const float *x, int32_t n_rows, int64_t n_cols,
                         brisk_error *err);
const imatrix_entry *imatrix_find(const imatrix *im, const char *name);
/* Mean squares (sum2 / count) of an entry into out[n_cols]. */
void imatrix_mean_sq(const imatrix_entry *e, float *out);

brisk_status imatrix_write(const imatrix *im, const char *path, const char *dataset, brisk_error *err);
/* Read and validate a file written by imatrix_write (names unique, sizes
 * consistent, values finite and >= 0). */
brisk_status imatrix_read(imatrix *im, const char *path, brisk_error *err);

#endif
