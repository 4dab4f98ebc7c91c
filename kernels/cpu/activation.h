/* CPU elementwise activations. Definition: kernels/ops_dense.h (tm_act). */
#ifndef TM_CPU_ACTIVATION_H
#define TM_CPU_ACTIVATION_H

#include "kernels/ops_dense.h"

/* out[i] = f(in[i]); out may be in. */
void tm_cpu_act_forward(tm_act act, float *out, const float *in, long n);
/* din[i] += dout[i] * f'(in[i]). */
void tm_cpu_act_backward(tm_act act, float *din, const float *dout, const float *in, long n);

#endif
