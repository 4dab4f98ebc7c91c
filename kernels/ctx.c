/* tm_ctx: device, thread count and scratch for the ops. Definition: ctx.h. */
#include "kernels/ctx.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

tm_status tm_ctx_init(tm_ctx *ctx, tm_device device, int n_threads) {
    if (!ctx) return tm_fail(TM_EINVAL, "ctx: ctx must not be NULL");
    memset(ctx, 0, sizeof *ctx);
    if (device == TM_CUDA)
        return tm_fail(TM_ENOTIMPL, "ctx: cuda not built yet (CPU only in this build)");
    if (device != TM_CPU) return tm_fail(TM_EINVAL, "ctx: unknown device %d", (int)device);
    ctx->device = device;
    ctx->n_threads = n_threads > 0 ? n_threads : omp_get_max_threads();
    return TM_OK;
}

void tm_ctx_free(tm_ctx *ctx) {
    if (!ctx) return;
    free(ctx->scratch);
    ctx->scratch = NULL;
    ctx->scratch_cap = 0;
}

tm_status tm_ctx_reserve(tm_ctx *ctx, size_t n_floats) {
    if (n_floats <= ctx->scratch_cap) return TM_OK;
    /* Round up to a whole 64-byte line: aligned_alloc wants a multiple. */
    size_t bytes = (n_floats * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (!p) return tm_fail(TM_ENOMEM, "ctx: cannot reserve %zu floats of scratch", n_floats);
    free(ctx->scratch);
    ctx->scratch = p;
    ctx->scratch_cap = bytes / sizeof(float);
    return TM_OK;
}

void tm_ctx_cpu_enter(const tm_ctx *ctx) {
    /* Both calls are cheap when the value is unchanged; OpenBLAS's setting is
     * process-wide, OpenMP's is per calling thread. */
    if (omp_get_max_threads() != ctx->n_threads) omp_set_num_threads(ctx->n_threads);
    if (openblas_get_num_threads() != ctx->n_threads) openblas_set_num_threads(ctx->n_threads);
}
