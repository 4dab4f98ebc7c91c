/* Dense ops on tensors: matmul, bias, activations, elementwise, softmax,
 * RMSNorm, LayerNorm, embedding, losses. Definition: issue 3 item 1; the
 * conventions are in kernels/ops.h.
 *
 * Shapes: "rows" ops (bias, softmax, norms) see a tensor as [N, C] with C its
 * last dimension and N the product of the others. All tensors are f32 and
 * contiguous except token ids and targets (i32).
 *
 * Gradient rule (llm.c's): every *_backward ACCUMULATES (+=) into each
 * gradient it produces, inputs and parameters alike, so a tensor that feeds
 * several consumers (a residual stream) sums their contributions; the owner
 * zeroes gradient buffers once per step. Gradient outputs must not alias the
 * tensors the backward reads. A gradient argument passed as NULL is skipped.
 * The loss ops are where a backward pass starts: they WRITE their gradient. */
#ifndef TM_KERNELS_OPS_DENSE_H
#define TM_KERNELS_OPS_DENSE_H

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/ctx.h"

/* ---- matmul ----------------------------------------------------------------
 * out = alpha * op(a) @ op(b) + beta * out, op(x) = x or x^T (trans_*).
 * a: [M,K] ([K,M] when trans_a), b: [K,N] ([N,K] when trans_b), out: [M,N].
 * Batched: a and out may carry one leading batch dim ([Bt,M,K], [Bt,M,N]);
 * b is then either [Bt,K,N] or a 2-D matrix shared by the whole batch.
 * With beta = 0, out is overwritten (NaN in it does not leak). out must not
 * alias a or b. */
tm_status tm_op_matmul(tm_ctx *ctx, tm_tensor *out, const tm_tensor *a, const tm_tensor *b,
                       int trans_a, int trans_b, float alpha, float beta);
/* For out = op(a) @ op(b) (alpha 1): da += d/da, db += d/db. */
tm_status tm_op_matmul_backward(tm_ctx *ctx, tm_tensor *da, tm_tensor *db, const tm_tensor *dout,
                                const tm_tensor *a, const tm_tensor *b, int trans_a, int trans_b);

/* ---- bias ------------------------------------------------------------------
 * out[n,c] = in[n,c] + bias[c]; out may be in (in place). */
tm_status tm_op_bias_add(tm_ctx *ctx, tm_tensor *out, const tm_tensor *in, const tm_tensor *bias);
/* dbias[c] += sum_n dout[n,c] (the input gradient is dout itself). */
tm_status tm_op_bias_backward(tm_ctx *ctx, tm_tensor *dbias, const tm_tensor *dout);

/* ---- activations ---------------------------------------------------------- */
typedef enum {
    TM_ACT_SILU = 0,   /* x * sigmoid(x) */
    TM_ACT_GELU_TANH,  /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (GPT-2's) */
    TM_ACT_GELU_ERF,   /* 0.5 x (1 + erf(x / sqrt 2)) (exact; PyTorch's default) */
    TM_ACT_RELU,       /* max(x, 0); derivative 0 at 0 */
    TM_ACT_SIGMOID,
    TM_ACT_TANH,
    TM_ACT_SOFTPLUS,   /* log(1 + e^x); x itself above 20, like PyTorch */
    TM_ACT_COUNT
} tm_act;
/* The GELU that "GELU" means in configs: the tanh form, as in GPT-2 and most
 * transformer code; it is within 1e-3 of the exact one and cheaper. */
#define TM_ACT_GELU TM_ACT_GELU_TANH
const char *tm_act_name(tm_act act); /* "silu", "gelu_tanh", ... */
/* Parses a name ("gelu" = TM_ACT_GELU); returns -1 when unknown. */
int tm_act_parse(const char *name);

/* out = f(in), same shape; out may be in. */
tm_status tm_op_act(tm_ctx *ctx, tm_act act, tm_tensor *out, const tm_tensor *in);
/* din += dout * f'(in). */
tm_status tm_op_act_backward(tm_ctx *ctx, tm_act act, tm_tensor *din, const tm_tensor *dout,
                             const tm_tensor *in);

/* ---- elementwise (same shapes; out may alias an input) -------------------- */
tm_status tm_op_add(tm_ctx *ctx, tm_tensor *out, const tm_tensor *a, const tm_tensor *b);
tm_status tm_op_mul(tm_ctx *ctx, tm_tensor *out, const tm_tensor *a, const tm_tensor *b);
/* For out = a * b: da += dout * b, db += dout * a. */
tm_status tm_op_mul_backward(tm_ctx *ctx, tm_tensor *da, tm_tensor *db, const tm_tensor *dout,
                             const tm_tensor *a, const tm_tensor *b);
/* y += alpha * x (gradient accumulation, residual adds). */
tm_status tm_op_axpy(tm_ctx *ctx, tm_tensor *y, float alpha, const tm_tensor *x);
/* x = alpha * x. */
tm_status tm_op_scale(tm_ctx *ctx, tm_tensor *x, float alpha);
/* x = 0 (clears gradient buffers before a backward accumulates into them). */
tm_status tm_op_zero(tm_ctx *ctx, tm_tensor *x);

/* ---- softmax over the last dim (max-subtracted) --------------------------- */
tm_status tm_op_softmax(tm_ctx *ctx, tm_tensor *out, const tm_tensor *in);
/* din += out * (dout - sum_c dout * out), row by row. */
tm_status tm_op_softmax_backward(tm_ctx *ctx, tm_tensor *din, const tm_tensor *dout,
                                 const tm_tensor *out);

/* ---- norms over the last dim C; eps is added to the variance / mean square.
 * rstd, mean: [N] (the input shape minus its last dim, or flat [N]). */
#define TM_NORM_EPS 1e-5f
/* out = x / sqrt(mean(x^2) + eps) * weight. */
tm_status tm_op_rmsnorm(tm_ctx *ctx, tm_tensor *out, tm_tensor *rstd, const tm_tensor *in,
                        const tm_tensor *weight, float eps);
tm_status tm_op_rmsnorm_backward(tm_ctx *ctx, tm_tensor *din, tm_tensor *dweight,
                                 const tm_tensor *dout, const tm_tensor *in,
                                 const tm_tensor *weight, const tm_tensor *rstd);
/* out = (x - mean) / sqrt(var + eps) * weight + bias (biased variance). */
tm_status tm_op_layernorm(tm_ctx *ctx, tm_tensor *out, tm_tensor *mean, tm_tensor *rstd,
                          const tm_tensor *in, const tm_tensor *weight, const tm_tensor *bias,
                          float eps);
tm_status tm_op_layernorm_backward(tm_ctx *ctx, tm_tensor *din, tm_tensor *dweight,
                                   tm_tensor *dbias, const tm_tensor *dout, const tm_tensor *in,
                                   const tm_tensor *weight, const tm_tensor *mean,
                                   const tm_tensor *rstd);

/* ---- embedding -------------------------------------------------------------
 * out[..., c] = table[ids[...], c]; ids i32 of any shape, table [V, C],
 * out = ids' shape + [C]. An id outside [0, V) fails (TM_ERANGE) naming the
 * id, its position and V, before anything is written. */
tm_status tm_op_embedding(tm_ctx *ctx, tm_tensor *out, const tm_tensor *ids,
                          const tm_tensor *table);
/* dtable[ids[i], :] += dout[i, :] (scatter-add; repeated ids sum). */
tm_status tm_op_embedding_backward(tm_ctx *ctx, tm_tensor *dtable, const tm_tensor *dout,
                                   const tm_tensor *ids);

/* ---- losses (write a host scalar; write their gradient) -------------------
 * Cross-entropy over masked positions: logits [N,V] (or [B,T,V]), targets i32
 * with the leading shape, mask f32 with the leading shape (0/1 or weights
 * >= 0; NULL = all ones).
 *   loss = sum_i m_i * -log softmax(logits_i)[t_i] / sum_i m_i
 * dlogits (may be NULL) = d loss / d logits; rows with m_i = 0 get 0 and their
 * targets are not read (padding may hold any value). A target outside [0, V)
 * at a position with m_i != 0 fails (TM_ERANGE). When sum m = 0 the loss and
 * dlogits are 0. Negative or non-finite mask entries fail (TM_EINVAL). */
tm_status tm_op_cross_entropy(tm_ctx *ctx, float *loss, tm_tensor *dlogits,
                              const tm_tensor *logits, const tm_tensor *targets,
                              const tm_tensor *mask);
/* Mask-weighted fraction of positions whose argmax (first maximum) equals
 * the target; 0 when sum m = 0. */
tm_status tm_op_masked_accuracy(tm_ctx *ctx, float *accuracy, const tm_tensor *logits,
                                const tm_tensor *targets, const tm_tensor *mask);
/* loss = mean over all elements of (pred - target)^2; dpred (may be NULL)
 * = 2 (pred - target) / numel. */
tm_status tm_op_mse(tm_ctx *ctx, float *loss, tm_tensor *dpred, const tm_tensor *pred,
                    const tm_tensor *target);

#endif
