/* Sequence ops on tensors: causal depthwise conv1d with carried state,
 * rotary embedding, causal attention (GQA, window, cached prefix, episode
 * starts) and the Mamba-1 selective scan. Definition: shared spec
 * controllers.md (Transformer, Mamba); issue 3 item 1. The exact formulas,
 * index conventions and parallel layout of each are in its CPU file
 * kernels/cpu/{conv1d,rope,attention,scan}.h.
 *
 * All float tensors are f32 and contiguous; positions, prefix lengths and
 * episode-start masks are i32. An optional argument is NULL. Episode starts:
 * start [B,T], start[b,t] != 0 means stream b begins a new episode at t
 * (its carried state is dropped before t), exactly as a state reset before
 * the t-th step call.
 *
 * Gradient rule (as kernels/ops_dense.h): every *_backward ACCUMULATES (+=)
 * into each gradient it produces; gradient outputs must not alias what the
 * backward reads; a NULL gradient is skipped (except the ones marked
 * required). */
#ifndef TM_KERNELS_OPS_SEQ_H
#define TM_KERNELS_OPS_SEQ_H

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/ctx.h"

/* ---- causal depthwise conv1d ----------------------------------------------
 * x, out [B,T,C]; weight [C,K]; bias [C] (optional); state_in [B,C,K-1]
 * (optional: zeros), the K-1 inputs before t = 0, oldest first; state_out
 * [B,C,K-1] (optional; must not alias state_in) the window after the last
 * input. out[t] = bias + sum_k weight[:,k] * input[t-(K-1)+k]. */
tm_status tm_op_conv1d(tm_ctx *ctx, tm_tensor *out, tm_tensor *state_out, const tm_tensor *x,
                       const tm_tensor *state_in, const tm_tensor *start,
                       const tm_tensor *weight, const tm_tensor *bias);
/* dx required; dstate_in, dweight, dbias optional; dstate_out (optional) is
 * the gradient reaching state_out. */
tm_status tm_op_conv1d_backward(tm_ctx *ctx, tm_tensor *dx, tm_tensor *dstate_in,
                                tm_tensor *dweight, tm_tensor *dbias, const tm_tensor *dout,
                                const tm_tensor *dstate_out, const tm_tensor *x,
                                const tm_tensor *state_in, const tm_tensor *start,
                                const tm_tensor *weight);
/* One step: x, out [B,C]; state [B,C,K-1] updated in place. */
tm_status tm_op_conv1d_step(tm_ctx *ctx, tm_tensor *out, tm_tensor *state, const tm_tensor *x,
                            const tm_tensor *weight, const tm_tensor *bias);

/* ---- rotary embedding (GPT-NeoX / Llama half split: pairs (i, i+dh/2)) ----
 * x, out [B,T,H,dh] (dh even; out may be x); pos [B,T] i32. */
#define TM_ROPE_THETA 10000.0f
tm_status tm_op_rope(tm_ctx *ctx, tm_tensor *out, const tm_tensor *x, const tm_tensor *pos,
                     float theta);
/* dx += rotation of dout by -angle. */
tm_status tm_op_rope_backward(tm_ctx *ctx, tm_tensor *dx, const tm_tensor *dout,
                              const tm_tensor *pos, float theta);

/* ---- rotary embedding with dynamic NTK scaling (hybrid, TransXSSM) ---------
 * As tm_op_rope (which is the max_pos = 0 case, bit for bit), with a base
 * that grows once a position passes max_pos. For a token at position p
 * (0-based in its episode), rotary dim dh, L = p + 1:
 *   base(p) = theta                                          if max_pos == 0 or L <= max_pos
 *   base(p) = theta * (factor L / max_pos - (factor - 1))^(dh / (dh - 2))   otherwise
 *   angle_i(p) = p * base(p)^(-2i/dh), i = 0..dh/2-1, pairs (i, i + dh/2).
 * (dh = 2 has the one frequency base^0 = 1, so there the base is theta.)
 * This is Hugging Face's "dynamic" NTK formula with the sequence length taken
 * per position instead of once per call: HF recomputes one base from the
 * whole cache length and applies it to every new position while the cached
 * keys keep the rotation of the base they were made with, so the same key
 * sits at different angles depending on how the sequence was chunked. Taking
 * L = p + 1 makes each token's rotation a function of its own position only,
 * so step mode and sequence mode agree. max_pos >= 0 (0 = off), factor >= 1. */
tm_status tm_op_rope_scaled(tm_ctx *ctx, tm_tensor *out, const tm_tensor *x, const tm_tensor *pos,
                            float theta, int max_pos, float factor);
/* dx += rotation of dout by -angle (dx must not alias dout). */
tm_status tm_op_rope_scaled_backward(tm_ctx *ctx, tm_tensor *dx, const tm_tensor *dout,
                                     const tm_tensor *pos, float theta, int max_pos,
                                     float factor);

/* ---- causal attention -------------------------------------------------------
 * q, out [B,T,Hq,dh]; k, v [B,T,Hkv,dh], Hq % Hkv == 0; lse [B,Hq,T] (saved
 * for backward). Optional cached prefix: k_cache, v_cache [B,P,Hkv,dh] (right
 * aligned, oldest first) with prefix_len [B] i32 valid rows at the end (all P
 * when prefix_len is NULL). window > 0: each position sees itself and the
 * window-1 positions before it, cache included; 0 = unlimited. start: see
 * above (a start also hides the cache). scale: 1/sqrt(dh) for the usual
 * attention. */
tm_status tm_op_attention(tm_ctx *ctx, tm_tensor *out, tm_tensor *lse, const tm_tensor *q,
                          const tm_tensor *k, const tm_tensor *v, const tm_tensor *k_cache,
                          const tm_tensor *v_cache, const tm_tensor *prefix_len,
                          const tm_tensor *start, float scale, int window);
/* dq, dk, dv required; no gradient to the cache (a constant). out and lse are
 * the forward's. */
tm_status tm_op_attention_backward(tm_ctx *ctx, tm_tensor *dq, tm_tensor *dk, tm_tensor *dv,
                                   const tm_tensor *dout, const tm_tensor *out,
                                   const tm_tensor *lse, const tm_tensor *q, const tm_tensor *k,
                                   const tm_tensor *v, const tm_tensor *k_cache,
                                   const tm_tensor *v_cache, const tm_tensor *prefix_len,
                                   const tm_tensor *start, float scale, int window);

/* ---- Mamba-1 selective scan ---------------------------------------------------
 * x, dt, y [B,T,D]; A [D,N] (the caller forms A = -exp(A_log)); Bm, Cm
 * [B,T,N]; Dskip [D] (optional); h0 (optional: zeros), hT (optional; may be
 * h0) [B,D,N]. h_t = exp(dt_t A) h_{t-1} + dt_t B_t x_t; y_t = C_t.h_t + D x_t.
 * N <= 256. */
tm_status tm_op_scan(tm_ctx *ctx, tm_tensor *y, tm_tensor *hT, const tm_tensor *x,
                     const tm_tensor *dt, const tm_tensor *A, const tm_tensor *Bm,
                     const tm_tensor *Cm, const tm_tensor *Dskip, const tm_tensor *h0,
                     const tm_tensor *start);
/* Floats of ctx scratch tm_op_scan_backward needs for these sizes
 * (tm_ctx_reserve it once at setup): the states of one channel are
 * recomputed per thread instead of saved, see kernels/cpu/scan.h. */
size_t tm_op_scan_backward_scratch(const tm_ctx *ctx, int T, int D, int N);
/* dx, ddt, dA, dB, dC required; dD, dh0 optional; dhT (optional) is the
 * gradient reaching hT. Fails (TM_ENOMEM) when ctx's scratch is too small. */
tm_status tm_op_scan_backward(tm_ctx *ctx, tm_tensor *dx, tm_tensor *ddt, tm_tensor *dA,
                              tm_tensor *dB, tm_tensor *dC, tm_tensor *dD, tm_tensor *dh0,
                              const tm_tensor *dy, const tm_tensor *dhT, const tm_tensor *x,
                              const tm_tensor *dt, const tm_tensor *A, const tm_tensor *Bm,
                              const tm_tensor *Cm, const tm_tensor *Dskip, const tm_tensor *h0,
                              const tm_tensor *start);
/* One step: x, dt, y [B,D]; Bm, Cm [B,N]; h [B,D,N] updated in place. */
tm_status tm_op_scan_step(tm_ctx *ctx, tm_tensor *y, tm_tensor *h, const tm_tensor *x,
                          const tm_tensor *dt, const tm_tensor *A, const tm_tensor *Bm,
                          const tm_tensor *Cm, const tm_tensor *Dskip);

#endif
