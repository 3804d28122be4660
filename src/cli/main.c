/* brisk — the command-line front end. Each command lives in its own file
 * (cmd_*.c) and is a client of the public API in brisk.h. */
#include <stdio.h>
#include <string.h>

#include "brisk.h"
#include "cli/commands.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "chat with a model in the terminal (its chat template, line editing)"},
    {"inspect", cmd_inspect, "print a GGUF file's header, metadata, tensors and totals"},
    {"synth", cmd_synth, "write a random-weight model of a real architecture's shapes"},
    {"bench", cmd_bench, "measure prompt and decode speed, and the machine's memory bandwidth"},
    {"fit", cmd_fit, "estimate memory and decode speed of a model on this machine"},
#ifdef BRISK_HAVE_SERVER
    {"serve", cmd_serve, "OpenAI- and Anthropic-compatible HTTP server (continuous batching)"},
#endif
    {"quantize", cmd_quantize, "quantize a model (Q4_K_M and other mixes, importance matrix, target size)"},
    {"imatrix", cmd_imatrix, "collect an importance matrix (activation statistics) from a text"},
    {"perplexity", cmd_perplexity, "perplexity of a model on a text; KL divergence against a base model"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: brisk <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n  %-10s %s\n", "version", "print the version", "help",
            "this message");
    fprintf(out, "\n'brisk <command> --help' describes a command.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("brisk %s\n", BRISK_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "brisk: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
