/* tm_status messages: one thread-local buffer per thread. See status.h. */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TM_ERRMSG_CAP 2048

static _Thread_local char errmsg[TM_ERRMSG_CAP];

tm_status tm_fail(tm_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return code;
}

tm_status tm_error_context(tm_status code, const char *fmt, ...) {
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Shift the old message right and put "prefix: " in front; truncation
     * at the buffer's end is intended (the front of the chain matters most). */
    size_t plen = strlen(prefix), olen = strlen(errmsg);
    if (plen + 2 >= sizeof errmsg) plen = sizeof errmsg - 3;
    if (plen + 2 + olen >= sizeof errmsg) olen = sizeof errmsg - 1 - plen - 2;
    memmove(errmsg + plen + 2, errmsg, olen);
    memcpy(errmsg, prefix, plen);
    errmsg[plen] = ':';
    errmsg[plen + 1] = ' ';
    errmsg[plen + 2 + olen] = '\0';
    return code;
}

const char *tm_last_error(void) { return errmsg; }

void tm_clear_error(void) { errmsg[0] = '\0'; }

const char *tm_status_name(tm_status code) {
    switch (code) {
    case TM_OK: return "ok";
    case TM_EINVAL: return "invalid argument";
    case TM_ENOMEM: return "out of memory";
    case TM_EIO: return "i/o error";
    case TM_EFORMAT: return "bad format";
    case TM_ERANGE: return "out of range";
    case TM_ENUMERIC: return "non-finite number";
    case TM_ENOTIMPL: return "not implemented";
    case TM_EDEVICE: return "device error";
    case TM_ESTATE: return "invalid state";
    }
    return "unknown status";
}

void tm_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "transmamba: internal invariant violated: %s (%s:%d)\n", expr, file, line);
    abort();
}
