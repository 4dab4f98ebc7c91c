/* CPU matmul over raw pointers (OpenBLAS sgemm). Definition: kernels/ops_dense.h
 * (tm_op_matmul); this is its CPU implementation, row-major throughout. */
#ifndef TM_CPU_MATMUL_H
#define TM_CPU_MATMUL_H

/* For each of `batch` problems: out = alpha * op(a) op(b) + beta * out with
 * out [M,N], op(a) [M,K], op(b) [K,N]; a is stored [M,K] or [K,M] (trans_a),
 * b [K,N] or [N,K] (trans_b). Consecutive problems are M*K floats apart in a
 * and M*N in out, and b_stride floats apart in b (0: one b for all). */
void tm_cpu_matmul_forward(float *out, const float *a, const float *b, int batch, int M, int N,
                           int K, int trans_a, int trans_b, float alpha, float beta,
                           long b_stride);
/* Gradients of out = op(a) op(b) (alpha 1): da += ..., db += ... (either may
 * be NULL). With b shared (b_stride 0), db sums over the batch. */
void tm_cpu_matmul_backward(float *da, float *db, const float *dout, const float *a,
                            const float *b, int batch, int M, int N, int K, int trans_a,
                            int trans_b, long b_stride);

#endif
