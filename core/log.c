/* Leveled logging to stderr; one line per call, written with one fprintf so
 * lines from different threads do not interleave mid-line. */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int log_level = TM_LOG_INFO;

void tm_log_set_level(tm_log_level level) { atomic_store(&log_level, (int)level); }

tm_log_level tm_log_get_level(void) { return (tm_log_level)atomic_load(&log_level); }

int tm_log_level_parse(const char *name) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

void tm_log(tm_log_level level, const char *fmt, ...) {
    if ((int)level > atomic_load(&log_level)) return;
    static const char *tags[] = {"error", "warn", "info", "debug"};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%s] %s\n", tags[level], line);
}
