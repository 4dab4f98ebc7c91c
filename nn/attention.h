/* Causal self-attention with rotary embeddings and GQA, with a sliding-window
 * KV cache per stream. Definition: shared spec controllers.md, Transformer;
 * issue 3 item 2.
 *
 *   q = x Wq^T, k = x Wk^T, v = x Wv^T   (q_proj, k_proj, v_proj: tm_linear,
 *                                          no bias, [out, in] like PyTorch)
 *   q, k rotated by RoPE (theta 10000, GPT-NeoX half split) at positions
 *   counted from each stream's episode start, with dynamic NTK scaling past
 *   rope_max_pos when set (per position: tm_op_rope_scaled)
 *   a = softmax(q k^T / sqrt(dh)) v over the window: each position sees itself
 *       and the window-1 positions before it within its episode, cached ones
 *       included
 *   y = a Wo^T                             (o_proj)
 * Hq = n_heads, Hkv = n_kv_heads (Hq % Hkv == 0: MHA, GQA, MQA), dh =
 * d_model / n_heads.
 *
 * State (per stream, tm_attn_state): the rotated keys and the values of the
 * last window-1 positions (all a new position can see besides itself), right
 * aligned with the newest last, their count, and the position of the next
 * token. Two modes that agree (tests/test_nn_seq.c):
 *   step:    one token per stream; appends to the cache. Episode ends are
 *            tm_attn_state_reset before the step.
 *   forward: a [B,T] sequence from a given state, attending to the cached
 *            window too, with episode starts start[b,t] (the cache is dropped
 *            before t and positions restart at 0); writes the final state;
 *            backward gives the input and parameter gradients (the initial
 *            cache is a constant). */
#ifndef TM_NN_ATTENTION_H
#define TM_NN_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "nn/linear.h"

typedef struct {
    int d_model, n_heads, n_kv_heads;
    int window;       /* W >= 1: a position sees itself and W-1 before it (spec default 256) */
    float rope_theta; /* 10000 */
    /* Dynamic NTK RoPE scaling (hybrid, TransXSSM): 0 = off; otherwise positions
     * p >= rope_max_pos use a larger base (see kernels/ops_seq.h, tm_op_rope_scaled). */
    int rope_max_pos;
    float rope_factor; /* NTK scaling factor, >= 1 (1 by default) */
} tm_attn_config;

typedef struct {
    tm_attn_config cfg;
    int head_dim;
    tm_linear q_proj, k_proj, v_proj, o_proj;
} tm_attn;

typedef struct {
    int B, cap;    /* cap = window - 1 cached positions per stream */
    float *k, *v;  /* [B, cap, Hkv, dh]; the last len[b] rows are valid */
    int32_t *len;  /* [B] */
    int32_t *pos;  /* [B] position of the next token in its episode */
    float *work;   /* step-mode workspace (B rows), owned */
} tm_attn_state;

tm_attn_config tm_attn_config_default(int d_model, int n_heads);

/* Checks cfg; declares <prefix>.{q,k,v,o}_proj.weight in p. */
tm_status tm_attn_declare(tm_attn *a, const tm_attn_config *cfg, tm_params *p, const char *prefix);
void tm_attn_bind(tm_attn *a, const tm_params *p);
/* Each projection like PyTorch's nn.Linear default (uniform +-1/sqrt(d_in)). */
void tm_attn_init(tm_attn *a, tm_rng *rng);

/* Zeroed state for B streams (empty caches at position 0). */
tm_status tm_attn_state_create(tm_attn_state *s, const tm_attn *a, int B);
void tm_attn_state_free(tm_attn_state *s); /* NULL-safe */
/* Empties the chosen streams' caches (mask[b] != 0; NULL = all streams). */
void tm_attn_state_reset(const tm_attn *a, tm_attn_state *s, const int32_t *mask);
/* dst = src (same B). */
void tm_attn_state_copy(const tm_attn *a, tm_attn_state *dst, const tm_attn_state *src);

/* x, y [B,d]; advances the state by one token. */
tm_status tm_attn_step(tm_ctx *ctx, const tm_attn *a, tm_attn_state *s, tm_tensor *y,
                       const tm_tensor *x);

/* Floats of the activation buffer forward fills for (B, T). */
size_t tm_attn_act_floats(const tm_attn_config *cfg, int B, int T);
/* Floats of ctx scratch the backward needs (reserve at setup). */
size_t tm_attn_scratch_floats(const tm_attn_config *cfg, int B, int T);

/* x, y [B,T,d]; start [B,T] i32 or NULL; act f32 with >= act_floats floats.
 * Reads init (B streams) and writes the final state to final (may be init,
 * or NULL). The act keeps everything backward needs, init's cache included. */
tm_status tm_attn_forward(tm_ctx *ctx, const tm_attn *a, tm_tensor *y, tm_tensor *act,
                          tm_attn_state *final, const tm_attn_state *init, const tm_tensor *x,
                          const tm_tensor *start);
/* Parameter gradients +=, dx += (dx may be NULL). x and act as in forward. */
tm_status tm_attn_backward(tm_ctx *ctx, const tm_attn *a, tm_tensor *dx, const tm_tensor *dy,
                           const tm_tensor *x, const tm_tensor *act);

#endif
