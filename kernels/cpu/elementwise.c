/* CPU elementwise arithmetic. Definition: elementwise.h. Memory-bound loops:
 * threads only pay above a few hundred KB. */
#include "kernels/cpu/elementwise.h"

#define PAR_MIN 65536

void tm_cpu_add_forward(float *out, const float *a, const float *b, long n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void tm_cpu_mul_forward(float *out, const float *a, const float *b, long n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) out[i] = a[i] * b[i];
}

void tm_cpu_mul_backward(float *da, float *db, const float *dout, const float *a, const float *b,
                         long n) {
    if (da) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) da[i] += dout[i] * b[i];
    }
    if (db) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) db[i] += dout[i] * a[i];
    }
}

void tm_cpu_axpy(float *y, float alpha, const float *x, long n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) y[i] += alpha * x[i];
}

void tm_cpu_scale(float *x, float alpha, long n) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) x[i] *= alpha;
}
