/* Hash maps of the tokenizer: token text -> id, and (left id, right id) ->
 * merge. Open addressing with linear probing, sized to at most half full. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* Word-at-a-time multiply-xorshift hash (texts are short; loads hash millions
 * of substrings when deriving SentencePiece merges). */
uint64_t tok_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        for (size_t i = 0; i < n; i++) w |= (uint64_t)(uint8_t)s[i] << (8 * i);
        h = (h ^ w) * 0x94d049bb133111ebull;
        h ^= h >> 31;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t table_size(uint64_t n) {
    uint64_t size = 16;
    while (size < 2 * n) size <<= 1;
    return size;
}

bool strmap_build(strmap *m, const text_table *t, const uint8_t *keep, uint8_t *dup_flags,
                  uint8_t dup_bit) {
    uint64_t n = 0;
    for (int32_t i = 0; i < t->n; i++) n += !keep || keep[i];
    uint64_t size = table_size(n);
    m->slots = calloc(size, sizeof *m->slots);
    if (!m->slots) return false;
    m->mask = size - 1;
    for (int32_t id = 0; id < t->n; id++) {
        if (keep && !keep[id]) continue;
        const char *s = t->arena + t->off[id];
        size_t len = t->len[id];
        uint64_t h = tok_hash(s, len);
        uint32_t tag = (uint32_t)(h >> 32);
        for (uint64_t i = h & m->mask;; i = (i + 1) & m->mask) {
            uint64_t slot = m->slots[i];
            if (slot == 0) {
                m->slots[i] = ((uint64_t)tag << 32) | (uint32_t)(id + 1);
                break;
            }
            int32_t other = (int32_t)(uint32_t)slot - 1;
            if ((uint32_t)(slot >> 32) == tag && t->len[other] == len &&
                memcmp(t->arena + t->off[other], s, len) == 0) {
                if (dup_flags) dup_flags[id] |= dup_bit; /* `id` repeats an earlier text */
                m->slots[i] = ((uint64_t)tag << 32) | (uint32_t)(id + 1);
                break;
            }
        }
    }
    return true;
}

int32_t strmap_find(const strmap *m, const text_table *t, const char *s, size_t n) {
    if (!m->slots) return -1;
    uint64_t h = tok_hash(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint64_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint64_t slot = m->slots[i];
        if (slot == 0) return -1;
        int32_t id = (int32_t)(uint32_t)slot - 1;
        if ((uint32_t)(slot >> 32) == tag && t->len[id] == n &&
            memcmp(t->arena + t->off[id], s, n) == 0)
            return id;
    }
}

void strmap_free(strmap *m) {
    free(m->slots);
    m->slots = NULL;
}

static uint64_t pair_hash(uint64_t key) {
    key ^= key >> 31;
    key *= 0x9E3779B97F4A7C15ull;
    key ^= key >> 29;
    return key;
}

bool pairmap_init(pairmap *m, uint64_t expected) {
    uint64_t size = table_size(expected);
    m->keys = malloc(size * sizeof *m->keys);
    m->rank = malloc(size * sizeof *m->rank);
    m->result = malloc(size * sizeof *m->result);
    if (!m->keys || !m->rank || !m->result) {
        pairmap_free(m);
        return false;
    }
    memset(m->keys, 0xff, size * sizeof *m->keys);
    m->mask = size - 1;
    m->count = 0;
    return true;
}

/* The caller sized the map for every pair it inserts, so a free slot exists. */
void pairmap_put(pairmap *m, int32_t left, int32_t right, uint32_t rank, int32_t result) {
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    for (uint64_t i = pair_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i] == UINT64_MAX || m->keys[i] == key) {
            if (m->keys[i] == UINT64_MAX) m->count++;
            m->keys[i] = key;
            m->rank[i] = rank;
            m->result[i] = result;
            return;
        }
    }
}

bool pairmap_get(const pairmap *m, int32_t left, int32_t right, uint32_t *rank, int32_t *result) {
    if (!m->keys) return false;
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    for (uint64_t i = pair_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->keys[i] == key) {
            *rank = m->rank[i];
            *result = m->result[i];
            return true;
        }
        if (m->keys[i] == UINT64_MAX) return false;
    }
}

void pairmap_free(pairmap *m) {
    free(m->keys);
    free(m->rank);
    free(m->result);
    m->keys = NULL;
    m->rank = NULL;
    m->result = NULL;
}
