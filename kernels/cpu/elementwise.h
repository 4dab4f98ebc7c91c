/* CPU elementwise arithmetic. Definition: kernels/ops_dense.h ("elementwise"). */
#ifndef TM_CPU_ELEMENTWISE_H
#define TM_CPU_ELEMENTWISE_H

void tm_cpu_add_forward(float *out, const float *a, const float *b, long n);
void tm_cpu_mul_forward(float *out, const float *a, const float *b, long n);
/* da += dout * b, db += dout * a (either may be NULL). */
void tm_cpu_mul_backward(float *da, float *db, const float *dout, const float *a, const float *b,
                         long n);
void tm_cpu_axpy(float *y, float alpha, const float *x, long n);
void tm_cpu_scale(float *x, float alpha, long n);

#endif
