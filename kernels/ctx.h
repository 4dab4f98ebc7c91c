/* tm_ctx: where ops run (device, threads) and the scratch they may use.
 * Definition: shared DESIGN.md principle 5 ("device dispatch at the op
 * level"); issue 3's op interface conventions.
 *
 * Every tensor op (kernels/ops.h) takes a tm_ctx. On the CPU it carries the
 * thread count used by OpenMP loops and OpenBLAS; later it will also hold the
 * cuBLAS handle and the CUDA stream. Ops never allocate: a caller that needs
 * op scratch reserves it once up front with tm_ctx_reserve. */
#ifndef TM_KERNELS_CTX_H
#define TM_KERNELS_CTX_H

#include <stddef.h>

#include "core/status.h"
#include "core/tensor.h"

typedef struct tm_ctx {
    tm_device device;
    int n_threads;      /* threads for OpenMP loops and BLAS on the CPU (>= 1) */
    float *scratch;     /* host scratch, 64-byte aligned, owned; NULL until reserved */
    size_t scratch_cap; /* in floats */
} tm_ctx;

/* n_threads <= 0 means OpenMP's default (omp_get_max_threads()). Fails with
 * TM_ENOTIMPL for TM_CUDA until the CUDA ops exist (a later issue). */
tm_status tm_ctx_init(tm_ctx *ctx, tm_device device, int n_threads);
void tm_ctx_free(tm_ctx *ctx); /* NULL-safe; keeps the struct reusable */

/* Grows the scratch to at least n floats (never shrinks). Call at setup
 * time, not inside the step loop. */
tm_status tm_ctx_reserve(tm_ctx *ctx, size_t n_floats);

/* Applies ctx->n_threads to OpenMP (for the calling thread) and OpenBLAS.
 * The CPU side of every op calls this before its kernel, so one process can
 * hold contexts with different thread counts. */
void tm_ctx_cpu_enter(const tm_ctx *ctx);

#endif
