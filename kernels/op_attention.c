/* tm_op_attention*: argument checks and device dispatch of causal attention.
 * Definition: kernels/ops_seq.h; CPU kernel kernels/cpu/attention.c. */
#include "kernels/ops_seq.h"

#include <math.h>
#include <stdint.h>

#include "kernels/cpu/attention.h"
#include "kernels/seq_check.h"

typedef struct {
    int B, T, P, Hq, Hkv, dh;
} attn_sizes;

/* Checks everything both directions read and derives the sizes. */
static tm_status attn_check(const tm_ctx *ctx, const char *op, attn_sizes *s, const tm_tensor *q,
                            const tm_tensor *k, const tm_tensor *v, const tm_tensor *k_cache,
                            const tm_tensor *v_cache, const tm_tensor *prefix_len,
                            const tm_tensor *start, const tm_tensor *out, const tm_tensor *lse,
                            float scale, int window) {
    TM_TRY(tm_seq_device(ctx, op));
    if (!q || q->ndim != 4)
        return tm_fail(TM_EINVAL, "op %s: q must be [B,T,Hq,dh] (got ndim %d)", op, q ? q->ndim : -1);
    if (!k || k->ndim != 4)
        return tm_fail(TM_EINVAL, "op %s: k must be [B,T,Hkv,dh] (got ndim %d)", op, k ? k->ndim : -1);
    s->B = (int)q->shape[0];
    s->T = (int)q->shape[1];
    s->Hq = (int)q->shape[2];
    s->dh = (int)q->shape[3];
    s->Hkv = (int)k->shape[2];
    if (s->Hkv < 1 || s->Hq % s->Hkv != 0)
        return tm_fail(TM_EINVAL,
                       "op %s: query heads must be a multiple of kv heads (got Hq %d, Hkv %d)", op,
                       s->Hq, s->Hkv);
    if (!(scale > 0.0f) || !isfinite(scale))
        return tm_fail(TM_EINVAL, "op %s: scale must be finite and > 0 (got %g)", op, (double)scale);
    if (window < 0)
        return tm_fail(TM_EINVAL, "op %s: window must be >= 0 (0 = unlimited; got %d)", op, window);
    int64_t qs[4] = {s->B, s->T, s->Hq, s->dh}, ks[4] = {s->B, s->T, s->Hkv, s->dh};
    int64_t ls[3] = {s->B, s->Hq, s->T}, st[2] = {s->B, s->T};
    TM_TRY(tm_seq_expect(ctx, op, "q", q, TM_F32, 4, qs));
    TM_TRY(tm_seq_expect(ctx, op, "k", k, TM_F32, 4, ks));
    TM_TRY(tm_seq_expect(ctx, op, "v", v, TM_F32, 4, ks));
    TM_TRY(tm_seq_expect(ctx, op, "out", out, TM_F32, 4, qs));
    TM_TRY(tm_seq_expect(ctx, op, "lse", lse, TM_F32, 3, ls));
    TM_TRY(tm_seq_expect_opt(ctx, op, "start", start, TM_I32, 2, st));
    s->P = 0;
    if (k_cache && k_cache->data) {
        if (k_cache->ndim != 4)
            return tm_fail(TM_EINVAL, "op %s: k_cache must be [B,P,Hkv,dh] (got ndim %d)", op,
                           k_cache->ndim);
        s->P = (int)k_cache->shape[1];
        int64_t cs[4] = {s->B, s->P, s->Hkv, s->dh}, ps[1] = {s->B};
        TM_TRY(tm_seq_expect(ctx, op, "k_cache", k_cache, TM_F32, 4, cs));
        TM_TRY(tm_seq_expect(ctx, op, "v_cache", v_cache, TM_F32, 4, cs));
        TM_TRY(tm_seq_expect_opt(ctx, op, "prefix_len", prefix_len, TM_I32, 1, ps));
        if (prefix_len && prefix_len->data) {
            const int32_t *pl = prefix_len->data;
            for (int b = 0; b < s->B; b++)
                if (pl[b] < 0 || pl[b] > s->P)
                    return tm_fail(TM_ERANGE, "op %s: prefix_len[%d] must be in [0, %d] (got %d)",
                                   op, b, s->P, (int)pl[b]);
        }
    } else if ((v_cache && v_cache->data) || (prefix_len && prefix_len->data)) {
        return tm_fail(TM_EINVAL, "op %s: v_cache or prefix_len given without k_cache", op);
    }
    return TM_OK;
}

tm_status tm_op_attention(tm_ctx *ctx, tm_tensor *out, tm_tensor *lse, const tm_tensor *q,
                          const tm_tensor *k, const tm_tensor *v, const tm_tensor *k_cache,
                          const tm_tensor *v_cache, const tm_tensor *prefix_len,
                          const tm_tensor *start, float scale, int window) {
    attn_sizes s;
    TM_TRY(attn_check(ctx, "attention", &s, q, k, v, k_cache, v_cache, prefix_len, start, out,
                      lse, scale, window));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_attention_forward(out->data, lse->data, q->data, k->data, v->data,
                             tm_seq_data(k_cache), tm_seq_data(v_cache), tm_seq_data(prefix_len), tm_seq_data(start),
                             scale, s.B, s.T, s.P, s.Hq, s.Hkv, s.dh, window);
    return TM_OK;
}

tm_status tm_op_attention_backward(tm_ctx *ctx, tm_tensor *dq, tm_tensor *dk, tm_tensor *dv,
                                   const tm_tensor *dout, const tm_tensor *out,
                                   const tm_tensor *lse, const tm_tensor *q, const tm_tensor *k,
                                   const tm_tensor *v, const tm_tensor *k_cache,
                                   const tm_tensor *v_cache, const tm_tensor *prefix_len,
                                   const tm_tensor *start, float scale, int window) {
    const char *op = "attention_backward";
    attn_sizes s;
    TM_TRY(attn_check(ctx, op, &s, q, k, v, k_cache, v_cache, prefix_len, start, out, lse, scale,
                      window));
    int64_t qs[4] = {s.B, s.T, s.Hq, s.dh}, ks[4] = {s.B, s.T, s.Hkv, s.dh};
    TM_TRY(tm_seq_expect(ctx, op, "dout", dout, TM_F32, 4, qs));
    TM_TRY(tm_seq_expect(ctx, op, "dq", dq, TM_F32, 4, qs));
    TM_TRY(tm_seq_expect(ctx, op, "dk", dk, TM_F32, 4, ks));
    TM_TRY(tm_seq_expect(ctx, op, "dv", dv, TM_F32, 4, ks));
    tm_ctx_cpu_enter(ctx);
    tm_cpu_attention_backward(dq->data, dk->data, dv->data, dout->data, out->data, lse->data,
                              q->data, k->data, v->data, tm_seq_data(k_cache),
                              tm_seq_data(v_cache), tm_seq_data(prefix_len), tm_seq_data(start), scale, s.B, s.T, s.P,
                              s.Hq, s.Hkv, s.dh, window);
    return TM_OK;
}
