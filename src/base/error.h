/* Filling a brisk_error: every failure path goes through brisk_fail(). */
#ifndef BRISK_BASE_ERROR_H
#define BRISK_BASE_ERROR_H

#include <stdarg.h>

#include "brisk.h"

/* Record status and a printf-style message in err (if non-NULL); returns status
 * so that callers can write `return brisk_fail(err, ...)`. */
brisk_status brisk_fail(brisk_error *err, brisk_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* va_list form of brisk_fail. */
brisk_status brisk_failv(brisk_error *err, brisk_status status, const char *fmt, va_list ap);

/* Clear err to BRISK_OK with an empty message. */
void brisk_error_clear(brisk_error *err);

#endif
