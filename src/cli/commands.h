/* Entry points of the CLI commands: argv[0] is the command name.
 * Exit codes: 0 success, 1 failure (bad file, ...), 2 usage error. */
#ifndef BRISK_CLI_COMMANDS_H
#define BRISK_CLI_COMMANDS_H

int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_fit(int argc, char **argv);
#ifdef BRISK_HAVE_SERVER
int cmd_serve(int argc, char **argv);
#endif
int cmd_quantize(int argc, char **argv);
int cmd_imatrix(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);

#endif
