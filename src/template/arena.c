/* The render arena, string buffers and error unwinding. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/tmpl.h"

struct tmpl_chunk {
    tmpl_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

#define CHUNK_SIZE (64u << 10)

void *tmpl_alloc(tmpl_state *st, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    tmpl_chunk *c = st->chunks;
    if (!c || c->size - c->used < n) {
        size_t size = n > CHUNK_SIZE / 4 ? n : CHUNK_SIZE;
        if (st->mem_used + size > TMPL_MAX_MEMORY)
            tmpl_fail(st, "the template needs more than %llu MiB of memory",
                      (unsigned long long)(TMPL_MAX_MEMORY >> 20));
        tmpl_chunk *nc = malloc(sizeof *nc + size);
        if (!nc) tmpl_fail(st, "out of memory");
        nc->used = 0;
        nc->size = size;
        st->mem_used += size;
        if (size == CHUNK_SIZE || !c) { /* a big block goes behind the current chunk */
            nc->next = c;
            st->chunks = nc;
        } else {
            nc->next = c->next;
            c->next = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void tmpl_arena_free(tmpl_state *st) {
    for (tmpl_chunk *c = st->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    st->chunks = NULL;
    st->mem_used = 0;
}

char *tmpl_strndup(tmpl_state *st, const char *s, size_t n) {
    char *p = tmpl_alloc(st, n + 1);
    memcpy(p, s, n);
    return p;
}

void tbuf_init(tbuf *b, tmpl_state *st) {
    b->st = st;
    b->p = NULL;
    b->n = b->cap = 0;
}

void tbuf_put(tbuf *b, const char *s, size_t n) {
    if (n == 0) return;
    if (b->cap - b->n < n + 1) {
        size_t need = b->n + n + 1;
        if (need > TMPL_MAX_STRING)
            tmpl_fail(b->st, "a string or the output exceeds %llu MiB",
                      (unsigned long long)(TMPL_MAX_STRING >> 20));
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < need) cap *= 2;
        char *p = tmpl_alloc(b->st, cap);
        if (b->n) memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void tbuf_puts(tbuf *b, const char *s) { tbuf_put(b, s, strlen(s)); }
void tbuf_putc(tbuf *b, char c) { tbuf_put(b, &c, 1); }

void tbuf_printf(tbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    tbuf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

tval tbuf_value(tbuf *b) { return tv_str(b->st, b->p ? b->p : "", b->n); }

static _Noreturn void fail_v(tmpl_state *st, int line, int col, const char *fmt, va_list ap) {
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (line > 0)
        snprintf(st->err, sizeof st->err, "template line %d, column %d: %s", line, col, msg);
    else
        snprintf(st->err, sizeof st->err, "template: %s", msg);
    longjmp(st->on_error, 1);
}

void tmpl_fail(tmpl_state *st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_v(st, st->line, st->col, fmt, ap);
}

void tmpl_fail_at(tmpl_state *st, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fail_v(st, line, col, fmt, ap);
}
