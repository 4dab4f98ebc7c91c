/* CPU softmax, max-subtracted so exp never overflows. Definition: softmax.h.
 * Row sums are accumulated in double: a row may be a whole vocabulary. */
#include "kernels/cpu/softmax.h"

#include <math.h>

void tm_cpu_softmax_forward(float *out, const float *in, long N, int C) {
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (long n = 0; n < N; n++) {
        const float *x = in + n * C;
        float *y = out + n * C;
        float mx = -INFINITY;
        for (int c = 0; c < C; c++) mx = x[c] > mx ? x[c] : mx;
        double sum = 0.0;
        for (int c = 0; c < C; c++) {
            y[c] = expf(x[c] - mx);
            sum += y[c];
        }
        float inv = (float)(1.0 / sum);
        for (int c = 0; c < C; c++) y[c] *= inv;
    }
}

void tm_cpu_softmax_backward(float *din, const float *dout, const float *out, long N, int C) {
#pragma omp parallel for schedule(static) if (N * C > 16384)
    for (long n = 0; n < N; n++) {
        const float *g = dout + n * C, *y = out + n * C;
        float *dx = din + n * C;
        double dot = 0.0;
        for (int c = 0; c < C; c++) dot += (double)g[c] * y[c];
        float d = (float)dot;
        for (int c = 0; c < C; c++) dx[c] += y[c] * (g[c] - d);
    }
}
