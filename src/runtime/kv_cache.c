/* Paged KV cache: blocks, the free list, prefix registration (kv_cache.h). */
#include <stdlib.h>
#include <string.h>

#include "runtime/kv_cache.h"

/* ---- storage ---------------------------------------------------------------- */

size_t kv_elem_size(const kv_cache *kv) { return kv->f32 ? 4 : 2; }

/* Element offset of head `head`'s slot `slot` of block `block`, layer il, in
 * a [n_layer][n_blocks][n_head_kv][block_size][head_dim] array. */
static size_t kv_offset(const kv_cache *kv, int il, int64_t block, int head, int64_t slot, int64_t head_dim) {
    return ((((size_t)il * (size_t)kv->n_blocks + (size_t)block) * (size_t)kv->n_head_kv + (size_t)head) *
                (size_t)kv->block_size + (size_t)slot) * (size_t)head_dim;
}

void *kv_k_at(const kv_cache *kv, int il, int64_t row, int head) {
    return (uint8_t *)kv->k + kv_offset(kv, il, row / kv->block_size, head, row % kv->block_size, kv->head_dim_k) *
                                  kv_elem_size(kv);
}

void *kv_v_at(const kv_cache *kv, int il, int64_t row, int head) {
    return (uint8_t *)kv->v + kv_offset(kv, il, row / kv->block_size, head, row % kv->block_size, kv->head_dim_v) *
                                  kv_elem_size(kv);
}

/* ---- free list (oldest first) -------------------------------------------------- */

static void list_remove(kv_cache *kv, int32_t b) {
    kv_block *k = &kv->blocks[b];
    if (k->prev >= 0) kv->blocks[k->prev].next = k->next; else kv->free_head = k->next;
    if (k->next >= 0) kv->blocks[k->next].prev = k->prev; else kv->free_tail = k->prev;
    k->prev = k->next = -1;
    kv->n_free--;
}

static void list_push_head(kv_cache *kv, int32_t b) {
    kv_block *k = &kv->blocks[b];
    k->prev = -1;
    k->next = kv->free_head;
    if (kv->free_head >= 0) kv->blocks[kv->free_head].prev = b; else kv->free_tail = b;
    kv->free_head = b;
    kv->n_free++;
}

static void list_push_tail(kv_cache *kv, int32_t b) {
    kv_block *k = &kv->blocks[b];
    k->next = -1;
    k->prev = kv->free_tail;
    if (kv->free_tail >= 0) kv->blocks[kv->free_tail].next = b; else kv->free_head = b;
    kv->free_tail = b;
    kv->n_free++;
}

/* ---- the prefix table ----------------------------------------------------------- */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27; x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t block_hash(uint64_t parent, const brisk_token *t, int32_t n) {
    uint64_t h = mix64(parent ^ 0x9e3779b97f4a7c15ULL);
    for (int32_t i = 0; i < n; i++) h = mix64(h ^ (uint32_t)t[i]) + (uint64_t)i;
    return h ? h : 1;
}

static int32_t *bucket_of(kv_cache *kv, uint64_t hash) { return &kv->buckets[hash & (kv->n_buckets - 1)]; }

static void unregister_block(kv_cache *kv, int32_t b) {
    kv_block *k = &kv->blocks[b];
    if (!k->registered) return;
    for (int32_t *p = bucket_of(kv, k->hash); *p >= 0; p = &kv->blocks[*p].chain)
        if (*p == b) { *p = k->chain; break; }
    k->registered = false;
    k->chain = -1;
    kv->n_registered--;
}

static int32_t find_block(kv_cache *kv, uint64_t hash, uint64_t parent, const brisk_token *t) {
    for (int32_t b = *bucket_of(kv, hash); b >= 0; b = kv->blocks[b].chain) {
        const kv_block *k = &kv->blocks[b];
        if (k->hash == hash && k->parent == parent &&
            !memcmp(kv->tokens + (size_t)b * kv->block_size, t, (size_t)kv->block_size * sizeof *t))
            return b;
    }
    return -1;
}

static void register_block(kv_cache *kv, int32_t b, uint64_t hash, uint64_t parent, const brisk_token *t) {
    kv_block *k = &kv->blocks[b];
    if (k->registered || find_block(kv, hash, parent, t) >= 0) return; /* someone else holds the same */
    memcpy(kv->tokens + (size_t)b * kv->block_size, t, (size_t)kv->block_size * sizeof *t);
    k->hash = hash;
    k->parent = parent;
    k->registered = true;
    int32_t *head = bucket_of(kv, hash);
    k->chain = *head;
    *head = b;
    kv->n_registered++;
}

/* ---- blocks ------------------------------------------------------------------------ */

static int32_t alloc_block(kv_cache *kv) {
    int32_t b = kv->free_head;
    if (b < 0) return -1;
    list_remove(kv, b);
    unregister_block(kv, b); /* evicts the oldest cached prefix block */
    kv->blocks[b].ref = 1;
    return b;
}

static void release_block(kv_cache *kv, int32_t b) {
    if (--kv->blocks[b].ref > 0) return;
    if (kv->blocks[b].registered) list_push_tail(kv, b);
    else list_push_head(kv, b);
}

static void take_block(kv_cache *kv, int32_t b) {
    if (kv->blocks[b].ref++ == 0) list_remove(kv, b);
}

bool kv_cache_init(kv_cache *kv, int32_t n_layer, int32_t n_head_kv, int64_t head_dim_k, int64_t head_dim_v,
                   int32_t n_blocks, int32_t block_size, bool f32) {
    memset(kv, 0, sizeof *kv);
    kv->n_layer = n_layer;
    kv->n_head_kv = n_head_kv;
    kv->head_dim_k = head_dim_k;
    kv->head_dim_v = head_dim_v;
    kv->k_width = n_head_kv * head_dim_k;
    kv->v_width = n_head_kv * head_dim_v;
    kv->n_blocks = n_blocks;
    kv->block_size = block_size;
    kv->f32 = f32;
    kv->free_head = kv->free_tail = -1;
    kv->n_buckets = 16;
    while (kv->n_buckets < 2u * (uint32_t)n_blocks) kv->n_buckets *= 2;
    size_t rows = (size_t)n_blocks * (size_t)block_size * (size_t)n_layer;
    kv->k = malloc(rows * (size_t)kv->k_width * kv_elem_size(kv));
    kv->v = malloc(rows * (size_t)kv->v_width * kv_elem_size(kv));
    kv->blocks = calloc((size_t)n_blocks, sizeof *kv->blocks);
    kv->tokens = malloc((size_t)n_blocks * (size_t)block_size * sizeof *kv->tokens);
    kv->buckets = malloc(kv->n_buckets * sizeof *kv->buckets);
    if (!kv->k || !kv->v || !kv->blocks || !kv->tokens || !kv->buckets) {
        kv_cache_free(kv);
        return false;
    }
    for (uint32_t i = 0; i < kv->n_buckets; i++) kv->buckets[i] = -1;
    for (int32_t b = 0; b < n_blocks; b++) {
        kv->blocks[b].chain = -1;
        list_push_tail(kv, b);
    }
    return true;
}

void kv_cache_free(kv_cache *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->blocks);
    free(kv->tokens);
    free(kv->buckets);
    memset(kv, 0, sizeof *kv);
}

int32_t kv_cache_used(const kv_cache *kv) { return kv->n_blocks - kv->n_free; }

int32_t kv_cache_cached(const kv_cache *kv) {
    int32_t n = 0;
    for (int32_t b = kv->free_head; b >= 0; b = kv->blocks[b].next) n += kv->blocks[b].registered;
    return n;
}

/* ---- sequences ---------------------------------------------------------------------- */

static bool grow_table(kv_seq *seq, int32_t n) {
    if (n <= seq->cap_table) return true;
    int32_t cap = seq->cap_table ? seq->cap_table : 8;
    while (cap < n) cap *= 2;
    int32_t *t = realloc(seq->table, (size_t)cap * sizeof *t);
    if (!t) return false;
    seq->table = t;
    uint64_t *h = realloc(seq->hashes, (size_t)cap * sizeof *h);
    if (!h) return false;
    seq->hashes = h;
    seq->cap_table = cap;
    return true;
}

static bool grow_tokens(kv_seq *seq, int32_t n) {
    if (n <= seq->cap_tokens) return true;
    int32_t cap = seq->cap_tokens ? seq->cap_tokens : 64;
    while (cap < n) cap *= 2;
    brisk_token *t = realloc(seq->tokens, (size_t)cap * sizeof *t);
    if (!t) return false;
    seq->tokens = t;
    seq->cap_tokens = cap;
    return true;
}

int32_t kv_seq_blocks_needed(const kv_cache *kv, const kv_seq *seq, int32_t n_new) {
    int64_t want = ((int64_t)seq->n_past + n_new + kv->block_size - 1) / kv->block_size;
    return want > seq->n_table ? (int32_t)(want - seq->n_table) : 0;
}

bool kv_seq_reserve(kv_cache *kv, kv_seq *seq, int32_t n_new) {
    int32_t need = kv_seq_blocks_needed(kv, seq, n_new);
    if (need > kv->n_free || !grow_table(seq, seq->n_table + need) || !grow_tokens(seq, seq->n_past + n_new))
        return false;
    for (int32_t i = 0; i < need; i++) seq->table[seq->n_table++] = alloc_block(kv);
    return true;
}

bool kv_seq_commit(kv_cache *kv, kv_seq *seq, const brisk_token *tokens, int32_t n, bool register_blocks) {
    if (!grow_tokens(seq, seq->n_past + n)) return false;
    memcpy(seq->tokens + seq->n_past, tokens, (size_t)n * sizeof *tokens);
    seq->n_past += n;
    int32_t bs = kv->block_size;
    for (int32_t i = seq->n_hashed; i < seq->n_past / bs; i++) {
        uint64_t parent = i > 0 ? seq->hashes[i - 1] : 0;
        const brisk_token *t = seq->tokens + (size_t)i * bs;
        seq->hashes[i] = block_hash(parent, t, bs);
        if (register_blocks) register_block(kv, seq->table[i], seq->hashes[i], parent, t);
        seq->n_hashed = i + 1;
    }
    return true;
}

int32_t kv_seq_take_prefix(kv_cache *kv, kv_seq *seq, const brisk_token *tokens, int32_t n) {
    if (seq->n_past != 0 || n <= 1) return 0;
    int32_t bs = kv->block_size, max_blocks = (n - 1) / bs, got = 0;
    if (!grow_table(seq, max_blocks) || !grow_tokens(seq, max_blocks * bs)) return 0;
    uint64_t parent = 0;
    for (; got < max_blocks; got++) {
        const brisk_token *t = tokens + (size_t)got * bs;
        uint64_t h = block_hash(parent, t, bs);
        int32_t b = find_block(kv, h, parent, t);
        if (b < 0) break;
        take_block(kv, b);
        seq->table[got] = b;
        seq->hashes[got] = h;
        parent = h;
    }
    seq->n_table = seq->n_hashed = got;
    seq->n_past = got * bs;
    if (got) memcpy(seq->tokens, tokens, (size_t)seq->n_past * sizeof *tokens);
    kv->prefix_hit_tokens += (uint64_t)seq->n_past;
    return seq->n_past;
}

/* Copy every layer's rows of block src into block dst (a layer's block is
 * one contiguous piece: all its heads' slots). */
static void copy_block(kv_cache *kv, int32_t dst, int32_t src) {
    size_t kb = (size_t)kv->block_size * (size_t)kv->k_width * kv_elem_size(kv);
    size_t vb = (size_t)kv->block_size * (size_t)kv->v_width * kv_elem_size(kv);
    for (int il = 0; il < kv->n_layer; il++) {
        memcpy(kv_k_at(kv, il, (int64_t)dst * kv->block_size, 0), kv_k_at(kv, il, (int64_t)src * kv->block_size, 0), kb);
        memcpy(kv_v_at(kv, il, (int64_t)dst * kv->block_size, 0), kv_v_at(kv, il, (int64_t)src * kv->block_size, 0), vb);
    }
    if (kv->copy_hook) kv->copy_hook(kv->copy_hook_user, dst, src);
}

bool kv_seq_truncate(kv_cache *kv, kv_seq *seq, int32_t pos) {
    if (pos < 0) pos = 0;
    if (pos >= seq->n_past) return true;
    int32_t bs = kv->block_size, keep = (pos + bs - 1) / bs;
    if (pos % bs) {
        int32_t b = seq->table[keep - 1];
        if (kv->blocks[b].ref > 1) { /* shared: copy on write */
            int32_t nb = alloc_block(kv);
            if (nb < 0) return false;
            copy_block(kv, nb, b);
            release_block(kv, b);
            seq->table[keep - 1] = nb;
        } else {
            unregister_block(kv, b); /* its rows from pos on will be rewritten */
        }
    }
    for (int32_t i = seq->n_table - 1; i >= keep; i--) release_block(kv, seq->table[i]);
    seq->n_table = keep;
    seq->n_past = pos;
    if (seq->n_hashed > pos / bs) seq->n_hashed = pos / bs;
    return true;
}

void kv_seq_release(kv_cache *kv, kv_seq *seq) {
    /* last block first, so a cached prefix is evicted from its end */
    for (int32_t i = seq->n_table - 1; i >= 0; i--) release_block(kv, seq->table[i]);
    free(seq->table);
    free(seq->hashes);
    free(seq->tokens);
    memset(seq, 0, sizeof *seq);
}
