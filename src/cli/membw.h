/* Memory read bandwidth of this machine, measured the way decoding uses
 * memory: several threads each stream their part of a buffer much larger than
 * the caches, once per pass; the best pass counts (other activity only slows). */
#ifndef BRISK_CLI_MEMBW_H
#define BRISK_CLI_MEMBW_H

#include <stdbool.h>
#include <stddef.h>

typedef struct membw_result {
    double gbps;     /* best pass, 1e9 bytes per second */
    double gbps_median;
    int threads;
    size_t bytes;    /* buffer size */
    int passes;
} membw_result;

/* bytes: buffer size (e.g. 1 GiB); threads >= 1; passes >= 1. False (message
 * printed to stderr) when the buffer cannot be allocated. */
bool membw_measure(size_t bytes, int threads, int passes, membw_result *out);

/* The same with the buffer kept between measurements (brisk bench measures
 * before every decode run): open (allocates and touches it; NULL + message on
 * failure), run any number of times, close. */
typedef struct membw_buffer membw_buffer;
membw_buffer *membw_open(size_t bytes, int threads);
bool membw_run(membw_buffer *b, int passes, membw_result *out);
void membw_close(membw_buffer *b);

#endif
