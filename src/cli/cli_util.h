/* Small helpers shared by the CLI commands: option values and timing. */
#ifndef BRISK_CLI_UTIL_H
#define BRISK_CLI_UTIL_H

#include <stdbool.h>

/* Seconds on a monotonic clock. */
double cli_now(void);

/* Parse an integer in [lo, hi] / a finite number given to option `opt` of
 * command `cmd` ("brisk run"); on failure print why and return false. */
bool cli_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *cmd, const char *opt, const char *s, float *out);
bool cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);

#endif
