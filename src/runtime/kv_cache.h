/* Paged KV cache shared by many sequences.
 *
 * The cache is n_blocks blocks of block_size token rows per layer. A sequence
 * owns a block table (logical block i -> physical block) and reaches position
 * p at row table[p / block_size] * block_size + p % block_size.
 *
 * Prefix caching: when a sequence fills a block, the block is registered under
 * a hash of its tokens chained with the hash of every block before it. A new
 * sequence whose prompt starts with the same full blocks takes them (reference
 * count + 1) instead of recomputing them; only whole blocks are shared and a
 * sequence never writes into a shared block (truncating into one copies it).
 *
 * Free blocks (reference count 0) sit on one list, oldest first: unregistered
 * ones are handed out first, registered ones stay findable until they are the
 * oldest and get reused (evicted).
 *
 *   k: [n_layer][n_blocks][n_head_kv][block_size][head_dim_k]   (f16, or f32)
 *   v: [n_layer][n_blocks][n_head_kv][block_size][head_dim_v]
 * Head-major within a block: attention reads one KV head's rows of a block as
 * one contiguous run (with rows of all heads interleaved, every 128-byte
 * piece was a separate cache miss: ~5x slower scores out of cache). */
#ifndef BRISK_RUNTIME_KV_CACHE_H
#define BRISK_RUNTIME_KV_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brisk.h"

typedef struct kv_block {
    int32_t ref;        /* sequences holding it */
    bool registered;    /* findable by hash (its tokens are complete and final) */
    uint64_t hash;      /* chained hash of its tokens and all blocks before it */
    uint64_t parent;    /* hash of the block before it (0 for the first) */
    int32_t prev, next; /* free list links (-1 = none) */
    int32_t chain;      /* next block in the same hash bucket (-1 = none) */
} kv_block;

typedef struct kv_cache {
    int32_t block_size, n_blocks;
    int32_t n_layer;
    int32_t n_head_kv;
    int64_t head_dim_k, head_dim_v;
    int64_t k_width, v_width; /* elements per row (all heads) */
    bool f32;
    void *k, *v;
    kv_block *blocks;
    brisk_token *tokens; /* [n_blocks * block_size]: the tokens registered blocks hold */
    int32_t free_head, free_tail, n_free;
    int32_t *buckets;    /* hash table heads, [n_buckets] */
    uint32_t n_buckets;  /* power of two */
    int32_t n_registered;
    uint64_t prefix_hit_tokens; /* tokens taken from the cache so far */
    /* Called after a block's rows are copied (copy-on-write), for caches kept
     * elsewhere too (the GPU layers' device cache, model/forward_cuda.c). */
    void (*copy_hook)(void *user, int32_t dst_block, int32_t src_block);
    void *copy_hook_user;
} kv_cache;

/* A sequence's view of the cache. */
typedef struct kv_seq {
    int32_t *table;      /* [n_table] physical block ids */
    uint64_t *hashes;    /* [n_table] chained hash of each full block */
    int32_t n_table, cap_table;
    brisk_token *tokens; /* [n_past] its tokens (for hashing the blocks it fills) */
    int32_t n_past, cap_tokens;
    int32_t n_hashed;    /* leading blocks whose hash is in `hashes` */
} kv_seq;

/* false when out of memory. */
bool kv_cache_init(kv_cache *kv, int32_t n_layer, int32_t n_head_kv, int64_t head_dim_k, int64_t head_dim_v,
                   int32_t n_blocks, int32_t block_size, bool f32);
void kv_cache_free(kv_cache *kv);

size_t kv_elem_size(const kv_cache *kv);
/* KV head `head`'s head_dim elements at physical row `row` of layer il; the
 * rows of a block follow each other head_dim elements apart. */
void *kv_k_at(const kv_cache *kv, int il, int64_t row, int head);
void *kv_v_at(const kv_cache *kv, int il, int64_t row, int head);
/* Physical row of position pos of a sequence with block table `table`. */
static inline int64_t kv_pos_row(const kv_cache *kv, const int32_t *table, int32_t pos) {
    return (int64_t)table[pos / kv->block_size] * kv->block_size + pos % kv->block_size;
}

/* Blocks in use by some sequence (reference count > 0). */
int32_t kv_cache_used(const kv_cache *kv);
/* Free blocks that still hold a registered prefix. */
int32_t kv_cache_cached(const kv_cache *kv);

/* Blocks seq still needs to hold n_new more tokens. */
int32_t kv_seq_blocks_needed(const kv_cache *kv, const kv_seq *seq, int32_t n_new);
/* Give seq the blocks for n_new more tokens; false when there are not enough
 * free blocks (nothing changes) or out of memory. */
bool kv_seq_reserve(kv_cache *kv, kv_seq *seq, int32_t n_new);
/* After the rows of tokens[0..n) were written at positions n_past..: record
 * them, and register the blocks they completed when `register_blocks`. false
 * when out of memory for the token history (the positions stay written). */
bool kv_seq_commit(kv_cache *kv, kv_seq *seq, const brisk_token *tokens, int32_t n, bool register_blocks);
/* For an empty seq: take the registered blocks that hold the longest prefix
 * of tokens[0..n) made of whole blocks, leaving at least one token to compute.
 * Returns the tokens taken (seq->n_past); 0 on a miss or out of memory. */
int32_t kv_seq_take_prefix(kv_cache *kv, kv_seq *seq, const brisk_token *tokens, int32_t n);
/* Forget positions pos.. . A kept partial block that is shared is copied
 * first (false when no block is free for that; nothing changes). */
bool kv_seq_truncate(kv_cache *kv, kv_seq *seq, int32_t pos);
/* Release every block (the sequence is empty after) and its memory. */
void kv_seq_release(kv_cache *kv, kv_seq *seq);

#endif
