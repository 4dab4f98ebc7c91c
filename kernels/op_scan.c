/* tm_op_scan*: argument checks and device dispatch of the Mamba-1 selective
 * scan. Definition: kernels/ops_seq.h; CPU kernel kernels/cpu/scan.c. */
#include "kernels/ops_seq.h"

#include "kernels/cpu/scan.h"
#include "kernels/seq_check.h"

typedef struct {
    int B, T, D, N;
} scan_sizes;

/* Checks the inputs both directions read; sizes from x [B,T,D], A [D,N]. */
static tm_status scan_check(const tm_ctx *ctx, const char *op, scan_sizes *s, const tm_tensor *x,
                            const tm_tensor *dt, const tm_tensor *A, const tm_tensor *Bm,
                            const tm_tensor *Cm, const tm_tensor *Dskip, const tm_tensor *h0,
                            const tm_tensor *start) {
    TM_TRY(tm_seq_device(ctx, op));
    if (!x || x->ndim != 3)
        return tm_fail(TM_EINVAL, "op %s: x must be [B,T,D] (got ndim %d)", op, x ? x->ndim : -1);
    if (!A || A->ndim != 2)
        return tm_fail(TM_EINVAL, "op %s: A must be [D,N] (got ndim %d)", op, A ? A->ndim : -1);
    s->B = (int)x->shape[0];
    s->T = (int)x->shape[1];
    s->D = (int)x->shape[2];
    s->N = (int)A->shape[1];
    if (s->N > TM_CPU_SCAN_MAX_N)
        return tm_fail(TM_EINVAL, "op %s: state size N must be <= %d (got %d)", op,
                       TM_CPU_SCAN_MAX_N, s->N);
    int64_t xs[3] = {s->B, s->T, s->D}, as[2] = {s->D, s->N}, bs[3] = {s->B, s->T, s->N};
    int64_t ds[1] = {s->D}, hs[3] = {s->B, s->D, s->N}, st[2] = {s->B, s->T};
    TM_TRY(tm_seq_expect(ctx, op, "x", x, TM_F32, 3, xs));
    TM_TRY(tm_seq_expect(ctx, op, "dt", dt, TM_F32, 3, xs));
    TM_TRY(tm_seq_expect(ctx, op, "A", A, TM_F32, 2, as));
    TM_TRY(tm_seq_expect(ctx, op, "Bm", Bm, TM_F32, 3, bs));
    TM_TRY(tm_seq_expect(ctx, op, "Cm", Cm, TM_F32, 3, bs));
    TM_TRY(tm_seq_expect_opt(ctx, op, "Dskip", Dskip, TM_F32, 1, ds));
    TM_TRY(tm_seq_expect_opt(ctx, op, "h0", h0, TM_F32, 3, hs));
    TM_TRY(tm_seq_expect_opt(ctx, op, "start", start, TM_I32, 2, st));
    return TM_OK;
}

tm_status tm_op_scan(tm_ctx *ctx, tm_tensor *y, tm_tensor *hT, const tm_tensor *x,
                     const tm_tensor *dt, const tm_tensor *A, const tm_tensor *Bm,
                     const tm_tensor *Cm, const tm_tensor *Dskip, const tm_tensor *h0,
                     const tm_tensor *start) {
    const char *op = "scan";
    scan_sizes s;
    TM_TRY(scan_check(ctx, op, &s, x, dt, A, Bm, Cm, Dskip, h0, start));
    int64_t xs[3] = {s.B, s.T, s.D}, hs[3] = {s.B, s.D, s.N};
    TM_TRY(tm_seq_expect(ctx, op, "y", y, TM_F32, 3, xs));
    TM_TRY(tm_seq_expect_opt(ctx, op, "hT", hT, TM_F32, 3, hs));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_scan_forward(y->data, tm_seq_data(hT), x->data, dt->data, A->data, Bm->data, Cm->data,
                        tm_seq_data(Dskip), tm_seq_data(h0), tm_seq_data(start), s.B, s.T, s.D,
                        s.N);
    return TM_OK;
}

size_t tm_op_scan_backward_scratch(const tm_ctx *ctx, int T, int D, int N) {
    if (!ctx || ctx->device != TM_CPU) return 0;
    return (size_t)tm_cpu_scan_backward_scratch(T, D, N, ctx->n_threads);
}

tm_status tm_op_scan_backward(tm_ctx *ctx, tm_tensor *dx, tm_tensor *ddt, tm_tensor *dA,
                              tm_tensor *dB, tm_tensor *dC, tm_tensor *dD, tm_tensor *dh0,
                              const tm_tensor *dy, const tm_tensor *dhT, const tm_tensor *x,
                              const tm_tensor *dt, const tm_tensor *A, const tm_tensor *Bm,
                              const tm_tensor *Cm, const tm_tensor *Dskip, const tm_tensor *h0,
                              const tm_tensor *start) {
    const char *op = "scan_backward";
    scan_sizes s;
    TM_TRY(scan_check(ctx, op, &s, x, dt, A, Bm, Cm, Dskip, h0, start));
    int64_t xs[3] = {s.B, s.T, s.D}, as[2] = {s.D, s.N}, bs[3] = {s.B, s.T, s.N};
    int64_t ds[1] = {s.D}, hs[3] = {s.B, s.D, s.N};
    TM_TRY(tm_seq_expect(ctx, op, "dy", dy, TM_F32, 3, xs));
    TM_TRY(tm_seq_expect(ctx, op, "dx", dx, TM_F32, 3, xs));
    TM_TRY(tm_seq_expect(ctx, op, "ddt", ddt, TM_F32, 3, xs));
    TM_TRY(tm_seq_expect(ctx, op, "dA", dA, TM_F32, 2, as));
    TM_TRY(tm_seq_expect(ctx, op, "dB", dB, TM_F32, 3, bs));
    TM_TRY(tm_seq_expect(ctx, op, "dC", dC, TM_F32, 3, bs));
    TM_TRY(tm_seq_expect_opt(ctx, op, "dD", dD, TM_F32, 1, ds));
    TM_TRY(tm_seq_expect_opt(ctx, op, "dh0", dh0, TM_F32, 3, hs));
    TM_TRY(tm_seq_expect_opt(ctx, op, "dhT", dhT, TM_F32, 3, hs));
    size_t need = tm_op_scan_backward_scratch(ctx, s.T, s.D, s.N);
    if (ctx->scratch_cap < need)
        return tm_fail(TM_ENOMEM,
                       "op %s: ctx scratch holds %zu floats, needs %zu for T %d, D %d, N %d "
                       "(tm_ctx_reserve it with tm_op_scan_backward_scratch at setup)",
                       op, ctx->scratch_cap, need, s.T, s.D, s.N);
    tm_ctx_cpu_enter(ctx);
    tm_cpu_scan_backward(dx->data, ddt->data, dA->data, dB->data, dC->data, tm_seq_data(dD),
                         tm_seq_data(dh0), ctx->scratch, dy->data, tm_seq_data(dhT), x->data,
                         dt->data, A->data, Bm->data, Cm->data, tm_seq_data(Dskip),
                         tm_seq_data(h0), tm_seq_data(start), s.B, s.T, s.D, s.N,
                         ctx->n_threads);
    return TM_OK;
}

tm_status tm_op_scan_step(tm_ctx *ctx, tm_tensor *y, tm_tensor *h, const tm_tensor *x,
                          const tm_tensor *dt, const tm_tensor *A, const tm_tensor *Bm,
                          const tm_tensor *Cm, const tm_tensor *Dskip) {
    const char *op = "scan_step";
    TM_TRY(tm_seq_device(ctx, op));
    if (!x || x->ndim != 2)
        return tm_fail(TM_EINVAL, "op %s: x must be [B,D] (got ndim %d)", op, x ? x->ndim : -1);
    if (!A || A->ndim != 2)
        return tm_fail(TM_EINVAL, "op %s: A must be [D,N] (got ndim %d)", op, A ? A->ndim : -1);
    int64_t B = x->shape[0], D = x->shape[1], N = A->shape[1];
    if (N > TM_CPU_SCAN_MAX_N)
        return tm_fail(TM_EINVAL, "op %s: state size N must be <= %d (got %lld)", op,
                       TM_CPU_SCAN_MAX_N, (long long)N);
    int64_t xs[2] = {B, D}, as[2] = {D, N}, bs[2] = {B, N}, ds[1] = {D}, hs[3] = {B, D, N};
    TM_TRY(tm_seq_expect(ctx, op, "x", x, TM_F32, 2, xs));
    TM_TRY(tm_seq_expect(ctx, op, "dt", dt, TM_F32, 2, xs));
    TM_TRY(tm_seq_expect(ctx, op, "y", y, TM_F32, 2, xs));
    TM_TRY(tm_seq_expect(ctx, op, "A", A, TM_F32, 2, as));
    TM_TRY(tm_seq_expect(ctx, op, "Bm", Bm, TM_F32, 2, bs));
    TM_TRY(tm_seq_expect(ctx, op, "Cm", Cm, TM_F32, 2, bs));
    TM_TRY(tm_seq_expect_opt(ctx, op, "Dskip", Dskip, TM_F32, 1, ds));
    TM_TRY(tm_seq_expect(ctx, op, "h", h, TM_F32, 3, hs));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_scan_step(y->data, h->data, x->data, dt->data, A->data, Bm->data, Cm->data,
                     tm_seq_data(Dskip), (int)B, (int)D, (int)N);
    return TM_OK;
}
