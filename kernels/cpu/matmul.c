/* CPU matmul: OpenBLAS cblas_sgemm, one call per batch entry (or one call
 * for the whole batch when b is shared and a is not transposed, the linear
 * layer's case). Definition: matmul.h. OpenBLAS threads each call itself. */
#include "kernels/cpu/matmul.h"

#include <cblas.h>
#include <stddef.h>

/* C[M,N] = alpha op(A) op(B) + beta C for row-major stored A, B, C. K = 0 is
 * handled here because BLAS rejects a leading dimension of 0. */
static void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                 const float *B, float beta, float *C) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (long i = 0; i < (long)M * N; i++) C[i] = beta == 0.0f ? 0.0f : beta * C[i];
        return;
    }
    int lda = ta ? M : K, ldb = tb ? K : N;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, N);
}

void tm_cpu_matmul_forward(float *out, const float *a, const float *b, int batch, int M, int N,
                           int K, int trans_a, int trans_b, float alpha, float beta,
                           long b_stride) {
    if (batch > 1 && b_stride == 0 && !trans_a) {
        /* [batch*M, K] @ op(b): one larger gemm is faster than batch small ones. */
        gemm(0, trans_b, batch * M, N, K, alpha, a, b, beta, out);
        return;
    }
    for (int i = 0; i < batch; i++)
        gemm(trans_a, trans_b, M, N, K, alpha, a + (size_t)i * M * K, b + (size_t)i * b_stride,
             beta, out + (size_t)i * M * N);
}

void tm_cpu_matmul_backward(float *da, float *db, const float *dout, const float *a,
                            const float *b, int batch, int M, int N, int K, int trans_a,
                            int trans_b, long b_stride) {
    int fold = batch > 1 && b_stride == 0 && !trans_a;
    int nb = fold ? 1 : batch, Mb = fold ? batch * M : M;
    for (int i = 0; i < nb; i++) {
        const float *ai = a + (size_t)i * Mb * K, *bi = b + (size_t)i * b_stride;
        const float *gi = dout + (size_t)i * Mb * N;
        if (da) {
            float *dai = da + (size_t)i * Mb * K;
            if (!trans_a) /* da [M,K] += dout op(b)^T */
                gemm(0, !trans_b, Mb, K, N, 1.0f, gi, bi, 1.0f, dai);
            else          /* da [K,M] += op(b) dout^T */
                gemm(trans_b, 1, K, Mb, N, 1.0f, bi, gi, 1.0f, dai);
        }
        if (db) {
            float *dbi = db + (size_t)i * b_stride;
            if (!trans_b) /* db [K,N] += op(a)^T dout */
                gemm(!trans_a, 0, K, N, Mb, 1.0f, ai, gi, 1.0f, dbi);
            else          /* db [N,K] += dout^T op(a) */
                gemm(1, trans_a, N, K, Mb, 1.0f, gi, ai, 1.0f, dbi);
        }
    }
}
