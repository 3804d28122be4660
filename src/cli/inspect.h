/* `brisk inspect`: shared pieces of the text and JSON printers. */
#ifndef BRISK_CLI_INSPECT_H
#define BRISK_CLI_INSPECT_H

#include <stdbool.h>
#include <stdio.h>

#include "brisk.h"

/* How much of long values to show unless --full: */
#define INSPECT_MAX_ARRAY_ITEMS 8
#define INSPECT_MAX_STRING_BYTES 120

typedef struct inspect_totals {
    uint64_t n_params;  /* elements of all tensors */
    uint64_t n_bytes;   /* bytes of all tensor data */
    double bits_per_weight;
} inspect_totals;

inspect_totals inspect_compute_totals(const brisk_gguf *g);

/* Longest prefix of s (at most max bytes) that does not split a UTF-8 sequence. */
uint64_t inspect_utf8_prefix(brisk_str s, uint64_t max);

int inspect_print_json(FILE *out, const brisk_gguf *g, const char *path, bool full);

#endif
