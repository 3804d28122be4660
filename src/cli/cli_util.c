#include "cli/cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

bool cli_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "%s: %s expects an integer in [%ld, %ld], got '%s'\n", cmd, opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_double(const char *cmd, const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !isfinite(v)) {
        fprintf(stderr, "%s: %s expects a number, got '%s'\n", cmd, opt, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *cmd, const char *opt, const char *s, float *out) {
    double v;
    if (!cli_parse_double(cmd, opt, s, &v)) return false;
    *out = (float)v;
    return true;
}

bool cli_parse_kv_type(const char *cmd, const char *opt, const char *s, brisk_kv_type *out) {
    if (!strcmp(s, "f16")) *out = BRISK_KV_F16;
    else if (!strcmp(s, "q8_0")) *out = BRISK_KV_Q8_0;
    else {
        fprintf(stderr, "%s: %s expects f16 or q8_0, got '%s'\n", cmd, opt, s);
        return false;
    }
    return true;
}

void cli_progress_start(cli_progress *p, const char *label, bool force) {
    p->label = label;
    p->tty = isatty(2);
    p->on = force || p->tty;
    p->drawn = false;
    p->t0 = cli_now();
    p->t_last = 0;
}

void cli_progress_update(cli_progress *p, double done, double total, const char *detail) {
    if (!p->on) return;
    double now = cli_now();
    bool last = done >= total;
    if (!last && now - p->t_last < (p->tty ? 0.2 : 2.0)) return;
    p->t_last = now;
    double frac = total > 0 ? done / total : 1.0, el = now - p->t0;
    if (frac > 1) frac = 1;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "%s%s [%s] %3.0f%% %.0fs eta %.0fs %-.40s%s", p->tty ? "\r" : "", p->label, bar, 100 * frac, el,
            frac > 0 ? el / frac - el : 0.0, detail ? detail : "", p->tty ? "\033[K" : "\n");
    p->drawn = true;
}

void cli_progress_end(cli_progress *p) {
    if (p->on && p->tty && p->drawn) fputc('\n', stderr);
    p->drawn = false;
}
