/* tm_op_matmul and its backward: checks, then CPU (OpenBLAS) or CUDA.
 * Definition: kernels/ops_dense.h. */
#include <limits.h>

#include "kernels/cpu/matmul.h"
#include "kernels/op_check.h"
#include "kernels/ops_dense.h"

typedef struct {
    int batch, M, N, K;
    long b_stride; /* 0 when one b serves the whole batch */
} mm_dims;

static tm_status fits_int(const char *op, const char *arg, const tm_tensor *t) {
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] > INT_MAX) return tm_op_shape_error(op, arg, t, "dimensions below 2^31");
    return TM_OK;
}

/* Sizes of op(a) @ op(b) from a [(Bt,) M|K, K|M] and b [(Bt,) K|N, N|K]. */
static tm_status mm_resolve(const char *op, const tm_tensor *a, const tm_tensor *b, int ta,
                            int tb, mm_dims *d) {
    if (a->ndim != 2 && a->ndim != 3) return tm_op_shape_error(op, "a", a, "[M,K] or [batch,M,K]");
    if (b->ndim != 2 && b->ndim != 3) return tm_op_shape_error(op, "b", b, "[K,N] or [batch,K,N]");
    TM_TRY(fits_int(op, "a", a));
    TM_TRY(fits_int(op, "b", b));
    int ra = a->ndim - 2, rb = b->ndim - 2;
    d->batch = a->ndim == 3 ? (int)a->shape[0] : 1;
    d->M = (int)a->shape[ra + (ta ? 1 : 0)];
    d->K = (int)a->shape[ra + (ta ? 0 : 1)];
    int kb = (int)b->shape[rb + (tb ? 1 : 0)];
    d->N = (int)b->shape[rb + (tb ? 0 : 1)];
    if (b->ndim == 3 && (a->ndim != 3 || b->shape[0] != a->shape[0]))
        return tm_op_shape_error(op, "b", b, "a 2-D matrix or a batch of %d (a is [batch,M,K])",
                                 a->ndim == 3 ? d->batch : 0);
    if (kb != d->K)
        return tm_op_shape_error(op, "b", b, "K = %d rows of op(b) to match op(a) [%d,%d]", d->K,
                                 d->M, d->K);
    d->b_stride = b->ndim == 3 ? (long)d->K * d->N : 0;
    return TM_OK;
}

static tm_status mm_check_out(const char *op, const char *arg, const tm_tensor *out,
                              const tm_tensor *a, const mm_dims *d) {
    int ok = out->ndim == a->ndim && out->shape[out->ndim - 2] == d->M &&
             out->shape[out->ndim - 1] == d->N && (a->ndim == 2 || out->shape[0] == d->batch);
    if (ok) return TM_OK;
    if (a->ndim == 3) return tm_op_shape_error(op, arg, out, "[%d,%d,%d]", d->batch, d->M, d->N);
    return tm_op_shape_error(op, arg, out, "[%d,%d]", d->M, d->N);
}

tm_status tm_op_matmul(tm_ctx *ctx, tm_tensor *out, const tm_tensor *a, const tm_tensor *b,
                       int trans_a, int trans_b, float alpha, float beta) {
    static const char op[] = "matmul";
    TM_TRY(tm_op_check_tensor(ctx, op, "out", out, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "a", a, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "b", b, TM_F32));
    mm_dims d;
    TM_TRY(mm_resolve(op, a, b, trans_a, trans_b, &d));
    TM_TRY(mm_check_out(op, "out", out, a, &d));
    if (out->data == a->data || out->data == b->data)
        return tm_fail(TM_EINVAL, "op %s: out must not alias a or b (BLAS reads them)", op);
    tm_ctx_cpu_enter(ctx);
    tm_cpu_matmul_forward(out->data, a->data, b->data, d.batch, d.M, d.N, d.K, trans_a, trans_b,
                          alpha, beta, d.b_stride);
    return TM_OK;
}

tm_status tm_op_matmul_backward(tm_ctx *ctx, tm_tensor *da, tm_tensor *db, const tm_tensor *dout,
                                const tm_tensor *a, const tm_tensor *b, int trans_a,
                                int trans_b) {
    static const char op[] = "matmul_backward";
    TM_TRY(tm_op_check_tensor(ctx, op, "dout", dout, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "a", a, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "b", b, TM_F32));
    mm_dims d;
    TM_TRY(mm_resolve(op, a, b, trans_a, trans_b, &d));
    TM_TRY(mm_check_out(op, "dout", dout, a, &d));
    if (da) {
        TM_TRY(tm_op_check_tensor(ctx, op, "da", da, TM_F32));
        TM_TRY(tm_op_check_same_shape(op, "da", da, "a", a));
    }
    if (db) {
        TM_TRY(tm_op_check_tensor(ctx, op, "db", db, TM_F32));
        TM_TRY(tm_op_check_same_shape(op, "db", db, "b", b));
    }
    tm_ctx_cpu_enter(ctx);
    tm_cpu_matmul_backward(da ? da->data : NULL, db ? db->data : NULL, dout->data, a->data,
                           b->data, d.batch, d.M, d.N, d.K, trans_a, trans_b, d.b_stride);
    return TM_OK;
}
