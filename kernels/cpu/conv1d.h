/* Causal depthwise conv1d with carried state: CPU implementation over raw
 * float pointers. Definition: shared spec controllers.md, Mamba step 2
 * (kernel K = 4 there); issue 3's op list.
 *
 * Shapes: x, out [B,T,C]; w [C,K]; bias [C] (may be NULL); state [B,C,K-1]
 * holds the K-1 inputs before t = 0, oldest first (zeros for a fresh stream).
 *   out[b,t,c] = bias[c] + sum_k w[c,k] * xin[b, t-(K-1)+k, c]
 * where xin[s] = x[s] for s >= 0 and state[s + K-1] for s < 0, i.e. PyTorch's
 * Conv1d(groups=C, padding=K-1) truncated to the first T outputs, so w[c,K-1]
 * multiplies the current input.
 *
 * Episode starts: start [B,T] (int32, may be NULL); start[b,t] != 0 means the
 * stream's window is zeroed before t, so inputs before t (and the carried
 * state) never reach out[b,t'] for t' >= t. This equals a state reset before
 * the t-th step call. */
#ifndef TM_CPU_CONV1D_H
#define TM_CPU_CONV1D_H

#include <stdint.h>

/* state_out [B,C,K-1] (may be NULL; may not alias state_in) receives the last
 * K-1 inputs of the sequence, zeros where they precede an episode start. */
void tm_cpu_conv1d_forward(float *out, float *state_out, const float *x, const float *state_in,
                           const int32_t *start, const float *w, const float *bias, int B, int T,
                           int C, int K);

/* Accumulates (+=, the rule of kernels/ops_dense.h) into dx [B,T,C],
 * dstate_in [B,C,K-1], dw [C,K] and dbias [C]; any but dx may be NULL. dstate_out (may be NULL:
 * zero) is the gradient reaching the final state. */
void tm_cpu_conv1d_backward(float *dx, float *dstate_in, float *dw, float *dbias,
                            const float *dout, const float *dstate_out, const float *x,
                            const float *state_in, const int32_t *start, const float *w, int B,
                            int T, int C, int K);

/* One step (T = 1) updating state [B,C,K-1] in place: x, out [B,C]. */
void tm_cpu_conv1d_step(float *out, float *state, const float *x, const float *w,
                        const float *bias, int B, int C, int K);

#endif
