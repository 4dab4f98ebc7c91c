/* Global gradient-norm clipping and the non-finite scan.
 * Definition: shared spec agent.md (PPO: "global gradient-norm clip 0.5";
 * training loop: "a NaN or Inf in a loss, gradient or parameter stops the
 * update"); DESIGN.md principle 3 (the gradients are one flat vector).
 *
 * Sums are taken in double over fixed-size chunks whose partial sums are
 * added in order, so the norm is bit-identical for any thread count
 * (DESIGN.md principle 7). */
#ifndef TM_CLIP_H
#define TM_CLIP_H

#include "core/status.h"

/* L2 norm of g[0..n), accumulated in double. NaN or Inf when g holds one. */
double tm_grad_norm(const float *g, long n);

/* Scales g in place by max_norm / norm when norm > max_norm (so the norm
 * becomes max_norm); *norm_before (may be NULL) gets the norm before. When the
 * norm is NaN or Inf, returns TM_ENUMERIC naming the first bad index and
 * leaves g untouched. max_norm must be finite and > 0 (callers that turn
 * clipping off skip the call). */
tm_status tm_clip_grad_norm(float *g, long n, double max_norm, double *norm_before);

/* Index of the first NaN or Inf in x[0..n), or -1 when all are finite. */
long tm_find_nonfinite(const float *x, long n);

#endif
