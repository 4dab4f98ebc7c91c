/* CPU RMSNorm (Zhang & Sennrich 2019) and LayerNorm (Ba et al. 2016).
 * Definition: norm.h. Row statistics are summed in double (a row is one
 * token's d_model values; double keeps var = E[(x-mean)^2] accurate), and
 * the forward applies them in double, rounding each output once: a float
 * rstd would put one shared rounding error on the whole row.
 *
 * Backward, with xhat the normalised input and g = dout * w:
 *   RMSNorm:   dx = rstd * (g - xhat * mean_c(g * xhat))
 *   LayerNorm: dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
 *   dw = sum_n dout * xhat, db = sum_n dout.
 * Input gradients are split over rows; weight gradients over column blocks,
 * each summed over rows in one fixed order (thread-count independent). */
#include "kernels/cpu/norm.h"

#include <math.h>

#define COL_BLOCK 64
#define PAR_MIN 16384

void tm_cpu_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, long N,
                            int C, float eps) {
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (long n = 0; n < N; n++) {
        const float *xr = x + n * C;
        float *y = out + n * C;
        double ss = 0.0;
        for (int c = 0; c < C; c++) ss += (double)xr[c] * xr[c];
        double r = 1.0 / sqrt(ss / C + eps);
        for (int c = 0; c < C; c++) y[c] = (float)(xr[c] * r * w[c]);
        rstd[n] = (float)r;
    }
}

void tm_cpu_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x,
                             const float *w, const float *rstd, long N, int C) {
    if (dx) {
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
        for (long n = 0; n < N; n++) {
            const float *xr = x + n * C, *g = dout + n * C;
            float r = rstd[n];
            double dot = 0.0; /* sum_c (g*w) * xhat */
            for (int c = 0; c < C; c++) dot += (double)g[c] * w[c] * xr[c] * r;
            float m = (float)(dot / C);
            float *d = dx + n * C;
            for (int c = 0; c < C; c++) d[c] += r * (g[c] * w[c] - xr[c] * r * m);
        }
    }
    if (dw) {
        int n_blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
        for (int blk = 0; blk < n_blocks; blk++) {
            int c0 = blk * COL_BLOCK, c1 = c0 + COL_BLOCK < C ? c0 + COL_BLOCK : C;
            float acc[COL_BLOCK] = {0};
            for (long n = 0; n < N; n++) {
                const float *xr = x + n * C, *g = dout + n * C;
                float r = rstd[n];
                for (int c = c0; c < c1; c++) acc[c - c0] += g[c] * xr[c] * r;
            }
            for (int c = c0; c < c1; c++) dw[c] += acc[c - c0];
        }
    }
}

void tm_cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *x,
                              const float *w, const float *b, long N, int C, float eps) {
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
    for (long n = 0; n < N; n++) {
        const float *xr = x + n * C;
        float *y = out + n * C;
        double s = 0.0;
        for (int c = 0; c < C; c++) s += xr[c];
        double mu = s / C, v = 0.0;
        for (int c = 0; c < C; c++) v += ((double)xr[c] - mu) * ((double)xr[c] - mu);
        double r = 1.0 / sqrt(v / C + eps);
        for (int c = 0; c < C; c++) y[c] = (float)(((double)xr[c] - mu) * r * w[c] + b[c]);
        mean[n] = (float)mu;
        rstd[n] = (float)r;
    }
}

void tm_cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dout,
                               const float *x, const float *w, const float *mean,
                               const float *rstd, long N, int C) {
    if (dx) {
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
        for (long n = 0; n < N; n++) {
            const float *xr = x + n * C, *g = dout + n * C;
            float m = mean[n], r = rstd[n];
            double sg = 0.0, sgx = 0.0;
            for (int c = 0; c < C; c++) {
                double gw = (double)g[c] * w[c];
                sg += gw;
                sgx += gw * (xr[c] - m) * r;
            }
            float mg = (float)(sg / C), mgx = (float)(sgx / C);
            float *d = dx + n * C;
            for (int c = 0; c < C; c++)
                d[c] += r * (g[c] * w[c] - mg - (xr[c] - m) * r * mgx);
        }
    }
    if (dw || db) {
        int n_blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if (N * C > PAR_MIN)
        for (int blk = 0; blk < n_blocks; blk++) {
            int c0 = blk * COL_BLOCK, c1 = c0 + COL_BLOCK < C ? c0 + COL_BLOCK : C;
            float aw[COL_BLOCK] = {0}, ab[COL_BLOCK] = {0};
            for (long n = 0; n < N; n++) {
                const float *xr = x + n * C, *g = dout + n * C;
                float m = mean[n], r = rstd[n];
                for (int c = c0; c < c1; c++) {
                    aw[c - c0] += g[c] * (xr[c] - m) * r;
                    ab[c - c0] += g[c];
                }
            }
            for (int c = c0; c < c1; c++) {
                if (dw) dw[c] += aw[c - c0];
                if (db) db[c] += ab[c - c0];
            }
        }
    }
}
