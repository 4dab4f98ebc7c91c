/* CPU bias add and its column-sum backward. Definition: bias.h.
 * The backward splits columns (not rows) across threads so each sum is taken
 * in one fixed order: results do not depend on the thread count. */
#include "kernels/cpu/bias.h"

#define COL_BLOCK 64

void tm_cpu_bias_forward(float *out, const float *in, const float *bias, long N, int C) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (long n = 0; n < N; n++) {
        const float *x = in + n * C;
        float *y = out + n * C;
        for (int c = 0; c < C; c++) y[c] = x[c] + bias[c];
    }
}

void tm_cpu_bias_backward(float *dbias, const float *dout, long N, int C) {
    int n_blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int blk = 0; blk < n_blocks; blk++) {
        int c0 = blk * COL_BLOCK, c1 = c0 + COL_BLOCK < C ? c0 + COL_BLOCK : C;
        float acc[COL_BLOCK] = {0};
        for (long n = 0; n < N; n++) {
            const float *g = dout + n * C;
            for (int c = c0; c < c1; c++) acc[c - c0] += g[c];
        }
        for (int c = c0; c < c1; c++) dbias[c] += acc[c - c0];
    }
}
