/* Small helpers shared by the CLI commands: option values and timing. */
#ifndef BRISK_CLI_UTIL_H
#define BRISK_CLI_UTIL_H

#include <stdbool.h>

#include "brisk.h"

/* Seconds on a monotonic clock. */
double cli_now(void);

/* Parse an integer in [lo, hi] / a finite number given to option `opt` of
 * command `cmd` ("brisk run"); on failure print why and return false. */
bool cli_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *cmd, const char *opt, const char *s, float *out);
bool cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);
/* --kv-type: "f16" or "q8_0". */
bool cli_parse_kv_type(const char *cmd, const char *opt, const char *s, brisk_kv_type *out);

/* A progress bar on stderr, drawn only when stderr is a terminal or when
 * forced (--progress); redrawn at most 5 times a second.
 *   cli_progress p; cli_progress_start(&p, "quantize", force);
 *   cli_progress_update(&p, done, total, "blk.3.ffn_up.weight");
 *   cli_progress_end(&p);  */
typedef struct cli_progress {
    const char *label;
    bool on, tty, drawn;
    double t0, t_last;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label, bool force);
void cli_progress_update(cli_progress *p, double done, double total, const char *detail);
void cli_progress_end(cli_progress *p);

#endif
