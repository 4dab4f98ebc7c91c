/* tm_op_embedding (gather) and its scatter-add backward. Definition:
 * kernels/ops_dense.h. Ids come from users (token streams, task data), so an
 * out-of-range id is a reported error, never an out-of-bounds read. */
#include "kernels/cpu/embedding.h"
#include "kernels/op_check.h"
#include "kernels/ops_dense.h"

static tm_status check_table(tm_ctx *ctx, const char *op, const char *arg, const tm_tensor *t) {
    TM_TRY(tm_op_check_tensor(ctx, op, arg, t, TM_F32));
    if (t->ndim != 2) return tm_op_shape_error(op, arg, t, "[vocab, C]");
    if (t->shape[0] > INT32_MAX || t->shape[1] > INT32_MAX)
        return tm_op_shape_error(op, arg, t, "dimensions below 2^31");
    return TM_OK;
}

/* x (out or dout) holds one row of C per id. */
static tm_status check_rows(const char *op, const char *arg, const tm_tensor *x, long N, int C) {
    if (x->ndim >= 1 && x->shape[x->ndim - 1] == C && tm_tensor_numel(x) == (int64_t)N * C)
        return TM_OK;
    return tm_op_shape_error(op, arg, x, "%ld rows of %d (the ids' shape + [C])", N, C);
}

static tm_status check_ids(const char *op, const tm_tensor *ids, int V) {
    long N = (long)tm_tensor_numel(ids);
    long bad = tm_cpu_embedding_first_bad_id(ids->data, N, V);
    if (bad < 0) return TM_OK;
    return tm_fail(TM_ERANGE, "op %s: token id %d at position %ld is outside the vocab [0, %d)",
                   op, (int)((const int32_t *)ids->data)[bad], bad, V);
}

tm_status tm_op_embedding(tm_ctx *ctx, tm_tensor *out, const tm_tensor *ids,
                          const tm_tensor *table) {
    static const char op[] = "embedding";
    TM_TRY(tm_op_check_tensor(ctx, op, "out", out, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "ids", ids, TM_I32));
    TM_TRY(check_table(ctx, op, "table", table));
    int V = (int)table->shape[0], C = (int)table->shape[1];
    long N = (long)tm_tensor_numel(ids);
    TM_TRY(check_rows(op, "out", out, N, C));
    TM_TRY(check_ids(op, ids, V));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_embedding_forward(out->data, ids->data, table->data, N, C);
    return TM_OK;
}

tm_status tm_op_embedding_backward(tm_ctx *ctx, tm_tensor *dtable, const tm_tensor *dout,
                                   const tm_tensor *ids) {
    static const char op[] = "embedding_backward";
    TM_TRY(check_table(ctx, op, "dtable", dtable));
    TM_TRY(tm_op_check_tensor(ctx, op, "dout", dout, TM_F32));
    TM_TRY(tm_op_check_tensor(ctx, op, "ids", ids, TM_I32));
    int V = (int)dtable->shape[0], C = (int)dtable->shape[1];
    long N = (long)tm_tensor_numel(ids);
    TM_TRY(check_rows(op, "dout", dout, N, C));
    TM_TRY(check_ids(op, ids, V));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_embedding_backward(dtable->data, dout->data, ids->data, N, C);
    return TM_OK;
}
