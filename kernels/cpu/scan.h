/* The Mamba-1 selective scan: CPU implementation over raw pointers.
 * Definition: shared spec controllers.md, Mamba step 5; the Mamba paper's
 * selective_scan_ref (reference code).
 *
 * Shapes: x, dt, y [B,T,D]; A [D,N]; Bm, Cm [B,T,N]; Dskip [D] (may be NULL:
 * no skip term); h0, hT [B,D,N]. Per stream b and channel d, with an fp32
 * state h[N]:
 *   h_t = exp(dt_t A) * h_{t-1} + dt_t B_t x_t
 *   y_t = C_t . h_t + Dskip x_t
 * A is taken as given (the caller forms A = -exp(A_log) and chains dA into
 * dA_log = dA * A), so the op is plain in A. dt is already softplus'd.
 * h0 may be NULL (zeros). start [B,T] int32 (may be NULL): start[b,t] != 0
 * zeroes h_{t-1} of stream b, exactly as a state reset before step t. */
#ifndef TM_CPU_SCAN_H
#define TM_CPU_SCAN_H

#include <stdint.h>

#include "kernels/cpu/cpu_path.h"

/* The state lives on the stack: N is at most this (Mamba uses 16). */
#define TM_CPU_SCAN_MAX_N 256

/* hT may be NULL; it may alias h0 (the state is read before it is written). */
void tm_cpu_scan_forward(float *y, float *hT, const float *x, const float *dt, const float *A,
                         const float *Bm, const float *Cm, const float *Dskip, const float *h0,
                         const int32_t *start, int B, int T, int D, int N);

/* Floats of scratch the backward needs with n_threads threads.
 * Memory trade-off: the forward saves no states; the backward recomputes the
 * T states of one block of 8 channels and their decays exp(dt A) at a time
 * into per-thread scratch (2*T*N*8 floats), costing one extra forward scan
 * instead of B*T*D*N floats of saved states; dB and dC are summed over the
 * channels of one stream in per-lane partials (another 2*T*N*8 floats).
 * Each thread also keeps a private dA, dD partial (D*N + D floats) that is
 * summed in thread order at the end, so results are deterministic for a given
 * thread count. */
long tm_cpu_scan_backward_scratch(int T, int D, int N, int n_threads);

/* Accumulates (+=, the rule of kernels/ops_dense.h) into dx, ddt, dA, dB, dC,
 * dD (may be NULL) and dh0 (may be NULL). dhT (may be NULL: zero) is the gradient reaching
 * the final state. Parallel over streams b (n_threads threads). */
void tm_cpu_scan_backward(float *dx, float *ddt, float *dA, float *dB, float *dC, float *dD,
                          float *dh0, float *scratch, const float *dy, const float *dhT,
                          const float *x, const float *dt, const float *A, const float *Bm,
                          const float *Cm, const float *Dskip, const float *h0,
                          const int32_t *start, int B, int T, int D, int N, int n_threads);

/* One step (T = 1) updating h [B,D,N] in place: x, dt, y [B,D]; Bm, Cm [B,N]. */
void tm_cpu_scan_step(float *y, float *h, const float *x, const float *dt, const float *A,
                      const float *Bm, const float *Cm, const float *Dskip, int B, int D, int N);


/* The same on a given compiled code path (kernels/cpu/cpu_path.h), for
 * tests and benchmarks; the plain forms above use TM_CPU_PATH_AUTO. */
void tm_cpu_scan_forward_on(tm_cpu_path path, float *y, float *hT, const float *x,
                            const float *dt, const float *A, const float *Bm, const float *Cm,
                            const float *Dskip, const float *h0, const int32_t *start, int B,
                            int T, int D, int N);
void tm_cpu_scan_backward_on(tm_cpu_path path, float *dx, float *ddt, float *dA, float *dB,
                             float *dC, float *dD, float *dh0, float *scratch, const float *dy,
                             const float *dhT, const float *x, const float *dt, const float *A,
                             const float *Bm, const float *Cm, const float *Dskip,
                             const float *h0, const int32_t *start, int B, int T, int D, int N,
                             int n_threads);
void tm_cpu_scan_step_on(tm_cpu_path path, float *y, float *h, const float *x,
                         const float *dt, const float *A, const float *Bm, const float *Cm,
                         const float *Dskip, int B, int D, int N);

#endif
