/* Logging with levels, to stderr. The level is process-wide (set once by the
 * CLI from --quiet / TM_LOG_LEVEL); it is the only process-wide setting. */
#ifndef TM_LOG_H
#define TM_LOG_H

typedef enum { TM_LOG_ERROR = 0, TM_LOG_WARN, TM_LOG_INFO, TM_LOG_DEBUG } tm_log_level;

void tm_log_set_level(tm_log_level level);
tm_log_level tm_log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 for anything else. */
int tm_log_level_parse(const char *name);
void tm_log(tm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define TM_LOG_E(...) tm_log(TM_LOG_ERROR, __VA_ARGS__)
#define TM_LOG_W(...) tm_log(TM_LOG_WARN, __VA_ARGS__)
#define TM_LOG_I(...) tm_log(TM_LOG_INFO, __VA_ARGS__)
#define TM_LOG_D(...) tm_log(TM_LOG_DEBUG, __VA_ARGS__)

#endif
