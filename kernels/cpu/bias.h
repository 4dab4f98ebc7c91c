/* CPU bias add over rows. Definition: kernels/ops_dense.h (tm_op_bias_add). */
#ifndef TM_CPU_BIAS_H
#define TM_CPU_BIAS_H

/* out[n,c] = in[n,c] + bias[c]; out may be in. */
void tm_cpu_bias_forward(float *out, const float *in, const float *bias, long N, int C);
/* dbias[c] += sum_n dout[n,c]. */
void tm_cpu_bias_backward(float *dbias, const float *dout, long N, int C);

#endif
