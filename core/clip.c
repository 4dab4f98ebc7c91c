/* Gradient-norm clipping and the non-finite scan. See clip.h.
 * Definition: shared spec agent.md (PPO, training loop).
 *
 * Both scans split x into chunks of a size fixed by n alone (never by the
 * thread count) and combine per-chunk results in chunk order, so results
 * do not depend on how OpenMP schedules the chunks. */
#include "core/clip.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* At most this many partial sums (on the stack: nothing allocated per step). */
#define CLIP_MAX_CHUNKS 256
/* Below this many floats per chunk, threads cost more than they save. */
#define CLIP_MIN_CHUNK 8192L

static long chunk_size(long n) {
    long c = (n + CLIP_MAX_CHUNKS - 1) / CLIP_MAX_CHUNKS;
    return c < CLIP_MIN_CHUNK ? CLIP_MIN_CHUNK : c;
}

double tm_grad_norm(const float *g, long n) {
    if (n <= 0) return 0.0;
    long cs = chunk_size(n);
    int nchunks = (int)((n + cs - 1) / cs);
    double partial[CLIP_MAX_CHUNKS];
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (int c = 0; c < nchunks; c++) {
        long lo = (long)c * cs, hi = lo + cs < n ? lo + cs : n;
        double s = 0.0;
        for (long i = lo; i < hi; i++) s += (double)g[i] * (double)g[i];
        partial[c] = s;
    }
    double total = 0.0;
    for (int c = 0; c < nchunks; c++) total += partial[c];
    return sqrt(total);
}

/* Exponent bits all ones: Inf or NaN. Written on the bits so the inner loop
 * has no branch and vectorizes; the exact index is found only in a bad chunk. */
static int chunk_has_nonfinite(const float *x, long lo, long hi) {
    uint32_t bad = 0;
    for (long i = lo; i < hi; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    return bad != 0;
}

long tm_find_nonfinite(const float *x, long n) {
    if (n <= 0) return -1;
    long cs = chunk_size(n);
    int nchunks = (int)((n + cs - 1) / cs);
    long first = LONG_MAX;
#pragma omp parallel for schedule(static) reduction(min : first) if (nchunks > 1)
    for (int c = 0; c < nchunks; c++) {
        long lo = (long)c * cs, hi = lo + cs < n ? lo + cs : n;
        if (lo > first || !chunk_has_nonfinite(x, lo, hi)) continue;
        for (long i = lo; i < hi; i++)
            if (!isfinite(x[i])) {
                if (i < first) first = i;
                break;
            }
    }
    return first == LONG_MAX ? -1 : first;
}

tm_status tm_clip_grad_norm(float *g, long n, double max_norm, double *norm_before) {
    if (!(max_norm > 0.0) || isinf(max_norm))
        return tm_fail(TM_EINVAL, "clip: max_norm must be finite and > 0 (got %g)", max_norm);
    double norm = tm_grad_norm(g, n);
    if (norm_before) *norm_before = norm;
    if (!isfinite(norm))
        return tm_fail(TM_ENUMERIC, "clip: gradient norm is %g (first non-finite value at %ld)",
                       norm, tm_find_nonfinite(g, n));
    if (norm <= max_norm) return TM_OK;
    /* No epsilon in the denominator (norm > max_norm > 0), so the clipped
     * norm is max_norm up to float rounding of each element. */
    float scale = (float)(max_norm / norm);
#pragma omp parallel for schedule(static) if (n > CLIP_MIN_CHUNK)
    for (long i = 0; i < n; i++) g[i] *= scale;
    return TM_OK;
}
