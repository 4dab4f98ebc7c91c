/* Sinkhorn: entropic optimal transport by log-domain Sinkhorn iterations,
 * plus the barycentric projection used by OT consolidation.
 * Definition: shared spec memory.md "Optimal transport".
 *
 * Nothing is allocated: the caller passes a workspace of
 * tm_sinkhorn_workspace_floats(n, m) floats (potentials f [n], g [m] and
 * log-marginals). Errors leave the outputs untouched. */
#ifndef TM_SINKHORN_H
#define TM_SINKHORN_H

#include <stddef.h>
#include "core/status.h"

size_t tm_sinkhorn_workspace_floats(int n, int m);

/* P [n,m] with P_ij = exp((f_i + g_j - C_ij)/eps), marginals a [n], b [m]
 * (nonnegative, equal sums within 1e-4 relative). Zero-mass rows/cols get
 * zero plan rows/cols. max_err (optional, may be NULL): max absolute marginal
 * error of P after the last iteration. */
tm_status tm_sinkhorn_plan(float *P, float *max_err, float *workspace,
                           const float *C, const float *a, const float *b,
                           float eps, int iters, int n, int m);

/* out [m,s]: out_j = sum_i P_ij X_i / sum_i P_ij; has_mass [m] (optional):
 * 1 where column j has mass, else 0 and out_j is left at 0. */
tm_status tm_sinkhorn_barycentre(float *out, int *has_mass, const float *P,
                                 const float *X, int n, int m, int s);

#endif
