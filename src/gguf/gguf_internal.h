/* The GGUF file object, shared by the reader (gguf_read.c) and the value
 * accessors (gguf_value.c). */
#ifndef BRISK_GGUF_INTERNAL_H
#define BRISK_GGUF_INTERNAL_H

#include "brisk.h"

/* Heap blocks owned by a file object (string and nested-array tables). */
typedef struct gguf_allocs {
    void **ptrs;
    size_t n, cap;
} gguf_allocs;

struct brisk_gguf {
    const uint8_t *base; /* the whole file */
    uint64_t size;
    void *map;           /* our mmap of it, or NULL when the caller owns the bytes */
    size_t map_len;
    uint32_t version;
    uint64_t alignment;   /* general.alignment, default 32 */
    uint64_t data_offset; /* absolute offset of the tensor data section */
    uint64_t n_kv;
    brisk_gguf_kv *kvs;   /* [n_kv] in file order */
    uint64_t n_tensors;
    brisk_gguf_tensor *tensors; /* [n_tensors] in file order; offsets absolute */
    gguf_allocs allocs;
};

/* Arrays of arrays deeper than this are refused by the reader and the writer. */
#define GGUF_MAX_ARRAY_DEPTH 8

/* Bytes of one scalar of a metadata type; 0 for STRING and ARRAY. */
size_t gguf_scalar_size(brisk_gguf_type t);

#endif
