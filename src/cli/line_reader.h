/* Reading the user's lines for brisk chat: libedit (line editing, history)
 * when stdin is a terminal and brisk was built with it, plain reads otherwise
 * (pipes, files), so the command can be scripted and tested. */
#ifndef BRISK_CLI_LINE_READER_H
#define BRISK_CLI_LINE_READER_H

#include <stdbool.h>

typedef struct line_reader line_reader;

line_reader *line_reader_open(const char *history_path);
void line_reader_close(line_reader *r);
/* The next line without its newline (malloc'd; free it), or NULL at end of input. */
char *line_reader_read(line_reader *r, const char *prompt);
/* Remember a line in the history (no-op without libedit). */
void line_reader_remember(line_reader *r, const char *line);
bool line_reader_interactive(const line_reader *r);

#endif
