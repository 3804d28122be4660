/* Options shared by the commands that generate text (brisk run, brisk chat):
 * context size, threads, exact mode, sampling and stop strings. */
#ifndef BRISK_CLI_GEN_OPTIONS_H
#define BRISK_CLI_GEN_OPTIONS_H

#include <stdio.h>

#include "brisk.h"

#define CLI_MAX_STOPS 16

typedef struct cli_gen_options {
    brisk_context_params ctx;
    brisk_sampler_params sampling;
    const char *stops[CLI_MAX_STOPS];
    int n_stops;
} cli_gen_options;

/* Defaults: the library's context and sampler defaults. */
cli_gen_options cli_gen_options_default(void);

/* Parse argv[*i] (and its value, advancing *i) if it is one of the shared
 * options. Returns 1 when consumed, 0 when it is not one of them, -1 after
 * printing why its value is bad (cmd names the command: "brisk run"). */
int cli_gen_option(const char *cmd, int argc, char **argv, int *i, cli_gen_options *o);

/* Help lines for the shared options. */
void cli_gen_usage(FILE *out);

/* A seed from the clock when none was given. */
void cli_gen_seed(cli_gen_options *o);

#endif
