#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>

brisk_status brisk_failv(brisk_error *err, brisk_status status, const char *fmt, va_list ap) {
    if (err) {
        err->status = status;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return status;
}

brisk_status brisk_fail(brisk_error *err, brisk_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    brisk_failv(err, status, fmt, ap);
    va_end(ap);
    return status;
}

void brisk_error_clear(brisk_error *err) {
    if (err) {
        err->status = BRISK_OK;
        err->msg[0] = '\0';
    }
}

const char *brisk_status_name(brisk_status s) {
    switch (s) {
    case BRISK_OK: return "ok";
    case BRISK_ERR_IO: return "I/O error";
    case BRISK_ERR_FORMAT: return "format error";
    case BRISK_ERR_UNSUPPORTED: return "unsupported";
    case BRISK_ERR_NOMEM: return "out of memory";
    case BRISK_ERR_ARG: return "invalid argument";
    }
    return "unknown error";
}
