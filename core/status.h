/* Errors as values: tm_status codes and a thread-local message.
 * Definition: shared DESIGN.md, principle 6; STYLE.md "Errors".
 *
 * A function that can meet bad input returns tm_status (0 = success) and
 * leaves a message readable through tm_last_error(). Callers pass errors up
 * with TM_TRY and may prepend context with tm_error_context(), so the CLI can
 * print the whole chain ("loading run/ckpt.safetensors: tensor 'w': shape ...").
 * TM_ASSERT is only for violated internal invariants: it aborts. */
#ifndef TM_STATUS_H
#define TM_STATUS_H

#ifdef __cplusplus
extern "C" { /* .cu files include this through nvcc's C++ front end */
#endif

typedef enum {
    TM_OK = 0,
    TM_EINVAL,     /* bad argument or config value */
    TM_ENOMEM,     /* allocation failed or a planned budget was exceeded */
    TM_EIO,        /* file or socket operation failed */
    TM_EFORMAT,    /* malformed input data (checkpoint, JSON, message) */
    TM_ERANGE,     /* index or value out of range */
    TM_ENUMERIC,   /* NaN or Inf where a finite number is required */
    TM_ENOTIMPL,   /* not built yet: says so loudly */
    TM_EDEVICE,    /* CUDA or other device failure */
    TM_ESTATE,     /* operation not valid in the object's current state */
} tm_status;

/* Sets the thread-local message (printf format) and returns code. */
tm_status tm_fail(tm_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends "context: " to the current message; returns code unchanged.
 * Used on the way up: return tm_error_context(st, "loading %s", path); */
tm_status tm_error_context(tm_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The message of the last failure on this thread ("" if none). */
const char *tm_last_error(void);
void tm_clear_error(void);
const char *tm_status_name(tm_status code);

#define TM_TRY(expr)                                   \
    do {                                               \
        tm_status tm_try_status_ = (expr);             \
        if (tm_try_status_ != TM_OK) return tm_try_status_; \
    } while (0)

void tm_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

#define TM_ASSERT(cond) \
    do { if (!(cond)) tm_assert_fail(#cond, __FILE__, __LINE__); } while (0)

#ifdef __cplusplus
}
#endif

#endif
