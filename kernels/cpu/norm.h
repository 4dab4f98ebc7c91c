/* CPU RMSNorm and LayerNorm over the last dim. Definition: kernels/ops_dense.h
 * (tm_op_rmsnorm, tm_op_layernorm). */
#ifndef TM_CPU_NORM_H
#define TM_CPU_NORM_H

/* out = x * rstd * w, rstd[n] = 1 / sqrt(mean_c x^2 + eps). */
void tm_cpu_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, long N,
                            int C, float eps);
/* dx += ..., dw += ... (either may be NULL). */
void tm_cpu_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x,
                             const float *w, const float *rstd, long N, int C);
/* out = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps), var biased. */
void tm_cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *x,
                              const float *w, const float *b, long N, int C, float eps);
/* dx, dw, db accumulate (each may be NULL). */
void tm_cpu_layernorm_backward(float *dx, float *dw, float *db, const float *dout,
                               const float *x, const float *w, const float *mean,
                               const float *rstd, long N, int C);

#endif
