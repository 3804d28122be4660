/* Stop strings over streamed text.
 *
 * The text fed so far but not yet emitted is `pending`. It never contains a
 * whole stop string (that would have ended the stream), so every feed only
 * looks at pending + the new bytes:
 *  - if a stop string occurs there, the stream ends at the first one to
 *    complete (the occurrence ending earliest; among those ending at the same
 *    byte, the longest). Only the text before it is emitted, so the result
 *    does not depend on how the text was split into feeds;
 *  - otherwise everything is emitted except the longest tail that is the start
 *    of some stop string, which is held back for the next feed.
 * Matching is byte-wise (fine for UTF-8: a stop string's bytes only match
 * whole characters). After a stop, feeds emit nothing and return true, and
 * flush emits nothing: the text after the stop string is dropped. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "brisk.h"

struct brisk_stop {
    char **stops;
    size_t *lens;
    int n_stops;
    bool stopped;

    /* buf[start, start + len) is pending; buf[0, start) is what the last call
     * emitted, kept until the next call so that *emit stays valid. */
    char *buf;
    size_t cap, start, len;
};

brisk_stop *brisk_stop_create(const char *const *stops, int n_stops, brisk_error *err) {
    if (n_stops < 0 || (n_stops > 0 && !stops)) {
        brisk_fail(err, BRISK_ERR_ARG, "stop: bad list (n_stops %d)", n_stops);
        return NULL;
    }
    for (int i = 0; i < n_stops; i++) {
        if (!stops[i] || !stops[i][0]) {
            brisk_fail(err, BRISK_ERR_ARG, "stop: stop string %d is %s", i,
                       stops[i] ? "empty" : "NULL");
            return NULL;
        }
    }
    brisk_stop *s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    s->cap = 64; /* never NULL, so that *emit never is */
    s->buf = malloc(s->cap);
    if (!s->buf) goto nomem;
    s->n_stops = n_stops;
    if (n_stops > 0) {
        s->stops = calloc((size_t)n_stops, sizeof *s->stops);
        s->lens = calloc((size_t)n_stops, sizeof *s->lens);
        if (!s->stops || !s->lens) goto nomem;
        for (int i = 0; i < n_stops; i++) {
            s->lens[i] = strlen(stops[i]);
            s->stops[i] = malloc(s->lens[i] + 1);
            if (!s->stops[i]) goto nomem;
            memcpy(s->stops[i], stops[i], s->lens[i] + 1);
        }
    }
    return s;
nomem:
    brisk_stop_free(s);
    brisk_fail(err, BRISK_ERR_NOMEM, "stop: out of memory");
    return NULL;
}

void brisk_stop_free(brisk_stop *s) {
    if (!s) return;
    if (s->stops)
        for (int i = 0; i < s->n_stops; i++) free(s->stops[i]);
    free(s->stops);
    free(s->lens);
    free(s->buf);
    free(s);
}

/* First occurrence of needle[0..m) in hay[0..n), or -1. */
static long find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    for (size_t i = 0; i + m <= n; i++) {
        const char *c = memchr(hay + i, needle[0], n - m - i + 1);
        if (!c) return -1;
        i = (size_t)(c - hay);
        if (memcmp(c, needle, m) == 0) return (long)i;
    }
    return -1;
}

bool brisk_stop_feed(brisk_stop *s, const char *text, size_t len, const char **emit,
                     size_t *emit_len) {
    static const char empty[] = "";
    *emit = empty;
    *emit_len = 0;
    if (!s) return false;
    if (s->stopped) return true;

    /* Drop what the last call emitted, append the new text. */
    if (s->len) memmove(s->buf, s->buf + s->start, s->len);
    s->start = 0;
    if (s->len + len > s->cap) {
        size_t cap = s->cap;
        if (len > SIZE_MAX / 4 - s->len) cap = 0; /* absurd length: as if out of memory */
        while (cap && cap < s->len + len) cap *= 2;
        char *nb = cap ? realloc(s->buf, cap) : NULL;
        if (!nb) {
            /* No error channel here: end the stream with what is held. */
            s->stopped = true;
            *emit = s->buf;
            *emit_len = s->len;
            return true;
        }
        s->buf = nb;
        s->cap = cap;
    }
    if (len) memcpy(s->buf + s->len, text, len);
    s->len += len;

    /* The stop string that completes first. */
    long best_pos = -1;
    size_t best_end = 0;
    for (int i = 0; i < s->n_stops; i++) {
        const long pos = find_bytes(s->buf, s->len, s->stops[i], s->lens[i]);
        if (pos < 0) continue;
        const size_t end = (size_t)pos + s->lens[i];
        if (best_pos < 0 || end < best_end || (end == best_end && pos < best_pos)) {
            best_pos = pos;
            best_end = end;
        }
    }
    if (best_pos >= 0) {
        s->stopped = true;
        *emit = s->buf;
        *emit_len = (size_t)best_pos;
        s->len = 0;
        return true;
    }

    /* Hold back the longest tail that a stop string starts with. */
    size_t hold = 0;
    for (int i = 0; i < s->n_stops; i++) {
        size_t k = s->lens[i] - 1 < s->len ? s->lens[i] - 1 : s->len;
        for (; k > hold; k--) {
            if (memcmp(s->buf + s->len - k, s->stops[i], k) == 0) {
                hold = k;
                break;
            }
        }
    }
    *emit = s->buf;
    *emit_len = s->len - hold;
    s->start = s->len - hold;
    s->len = hold;
    return false;
}

void brisk_stop_flush(brisk_stop *s, const char **emit, size_t *emit_len) {
    static const char empty[] = "";
    *emit = empty;
    *emit_len = 0;
    if (!s || s->stopped || s->len == 0) return;
    *emit = s->buf + s->start;
    *emit_len = s->len;
    s->start += s->len;
    s->len = 0;
}
