/* libedit or plain stdin, see line_reader.h. */
#include "cli/line_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef BRISK_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

struct line_reader {
    bool interactive; /* stdin is a terminal: prompts, and libedit when built with it */
    char *history_path;
};

line_reader *line_reader_open(const char *history_path) {
    line_reader *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->interactive = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
#ifdef BRISK_HAVE_LIBEDIT
    if (r->interactive) {
        using_history();
        if (history_path) {
            r->history_path = strdup(history_path);
            read_history(history_path);
        }
    }
#else
    (void)history_path;
#endif
    return r;
}

void line_reader_close(line_reader *r) {
    if (!r) return;
#ifdef BRISK_HAVE_LIBEDIT
    if (r->interactive && r->history_path) write_history(r->history_path);
#endif
    free(r->history_path);
    free(r);
}

bool line_reader_interactive(const line_reader *r) { return r->interactive; }

char *line_reader_read(line_reader *r, const char *prompt) {
#ifdef BRISK_HAVE_LIBEDIT
    if (r->interactive) return readline(prompt);
#endif
    if (r->interactive) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    return line;
}

void line_reader_remember(line_reader *r, const char *line) {
#ifdef BRISK_HAVE_LIBEDIT
    if (r->interactive && line[0]) add_history(line);
#else
    (void)r;
    (void)line;
#endif
}
