/* CPU softmax over the last dim. Definition: kernels/ops_dense.h (tm_op_softmax). */
#ifndef TM_CPU_SOFTMAX_H
#define TM_CPU_SOFTMAX_H

/* out[n,:] = softmax(in[n,:]); out may be in. */
void tm_cpu_softmax_forward(float *out, const float *in, long N, int C);
/* din[n,c] += out[n,c] * (dout[n,c] - sum_k dout[n,k] out[n,k]). */
void tm_cpu_softmax_backward(float *din, const float *dout, const float *out, long N, int C);

#endif
