/* The Mamba-1 block. Definition: shared spec controllers.md, Mamba steps 1-6
 * and its initialisation; the Mamba paper's reference code (mamba_simple.py)
 * for names and defaults.
 *
 *   [x, z] = in_proj(u)                      d -> 2 d_inner, no bias
 *   x = SiLU(conv1d_K(x) + conv bias)        causal, depthwise, K = 4
 *   [dt_low, B, C] = x_proj(x)               d_inner -> R + 2N, no bias
 *   (rope_bc: B_t, C_t rotated by RoPE at the token's position in its
 *   episode, as one head of width N: kernels/ops_seq.h, tm_op_rope_scaled)
 *   dt = softplus(dt_proj(dt_low) + dt_bias) R -> d_inner
 *   A = -exp(A_log); h_t = exp(dt_t A) h_{t-1} + dt_t B_t x_t;
 *   y_t = C_t . h_t + D x_t                  (selective scan, fp32 state)
 *   out = out_proj(y * SiLU(z))              d_inner -> d, no bias
 * d_inner = expand * d (2), N = d_state (16), R = dt_rank = ceil(d / 16).
 *
 * Parameters (views into the owner's tm_params, names as in the reference):
 * <prefix>.in_proj.weight [2 d_inner, d], conv1d.weight [d_inner, K],
 * conv1d.bias [d_inner], x_proj.weight [R + 2N, d_inner], dt_proj.weight
 * [d_inner, R], dt_proj.bias [d_inner], A_log [d_inner, N], D [d_inner],
 * out_proj.weight [d, d_inner]; A_log, D and dt_proj.bias get no weight decay.
 *
 * State per stream: the conv window [B, d_inner, K-1], h [B, d_inner, N] and
 * the position of the next token in its episode (reset to 0; counted whether
 * or not rope_bc uses it).
 * step (one token, updating the state) and forward (a [B,T] sequence from a
 * given state, with episode starts start[b,t] that zero stream b's state
 * before t, as tm_mamba_state_reset before the t-th step would) agree to
 * 1e-5; backward runs through everything in the sequence mode, to the
 * initial state too when asked (truncated backpropagation over chunks). */
#ifndef TM_NN_MAMBA_H
#define TM_NN_MAMBA_H

#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "nn/linear.h"

typedef struct {
    int d_model;
    int expand;     /* 2 */
    int d_state;    /* N = 16 */
    int d_conv;     /* K = 4 */
    int dt_rank;    /* R; ceil(d_model / 16) by default */
    float dt_min, dt_max; /* dt at init is log-uniform in [dt_min, dt_max] (0.001, 0.1) */
    float dt_init_floor;  /* 1e-4, the reference's clamp */
    /* Unified RoPE (hybrid, TransXSSM): 1 = rotate B_t and C_t over pairs of
     * state dimensions (half split, d_state even) at the step's position in
     * its episode, with the attention layers' theta and dynamic NTK scaling. */
    int rope_bc;
    float rope_theta;     /* 10000 */
    int rope_max_pos;     /* 0 = no NTK scaling */
    float rope_factor;    /* NTK scaling factor, >= 1 (1 by default) */
} tm_mamba_config;

typedef struct {
    tm_mamba_config cfg;
    int d_inner;
    size_t in_proj_off, conv_w_off, conv_b_off, x_proj_off, A_log_off, D_off;
    tm_linear dt_proj, out_proj;
    float *in_proj, *conv_w, *conv_b, *x_proj, *A_log, *D;        /* bound views */
    float *d_in_proj, *d_conv_w, *d_conv_b, *d_x_proj, *d_A_log, *d_D;
} tm_mamba;

typedef struct {
    int B;
    float *conv; /* [B, d_inner, K-1] */
    float *h;    /* [B, d_inner, N] */
    int32_t *pos; /* [B] position of the next token in its episode (used by rope_bc; not
                   * part of a gradient: backward leaves a dinit's pos alone) */
    float *work; /* step-mode workspace (B rows), owned */
} tm_mamba_state;

tm_mamba_config tm_mamba_config_default(int d_model);

tm_status tm_mamba_declare(tm_mamba *m, const tm_mamba_config *cfg, tm_params *p,
                           const char *prefix);
void tm_mamba_bind(tm_mamba *m, const tm_params *p);
/* The spec's initialisation: A_log[i,n] = ln(n+1); D = 1; dt_proj.bias =
 * softplus^-1(dt), dt log-uniform in [dt_min, dt_max] (floored at
 * dt_init_floor); dt_proj.weight uniform +-R^-0.5; in_proj, x_proj, out_proj
 * like PyTorch's nn.Linear and conv1d like nn.Conv1d (uniform +-1/sqrt(fan_in)). */
void tm_mamba_init(tm_mamba *m, tm_rng *rng);

tm_status tm_mamba_state_create(tm_mamba_state *s, const tm_mamba *m, int B);
void tm_mamba_state_free(tm_mamba_state *s); /* NULL-safe */
/* Zeroes the chosen streams (mask[b] != 0; NULL = all). */
void tm_mamba_state_reset(const tm_mamba *m, tm_mamba_state *s, const int32_t *mask);
void tm_mamba_state_copy(const tm_mamba *m, tm_mamba_state *dst, const tm_mamba_state *src);

/* u, out [B,d]; advances the state by one token. */
tm_status tm_mamba_step(tm_ctx *ctx, const tm_mamba *m, tm_mamba_state *s, tm_tensor *out,
                        const tm_tensor *u);

size_t tm_mamba_act_floats(const tm_mamba_config *cfg, int B, int T);
/* Floats of ctx scratch the backward needs, the scan's included (reserve at
 * setup with tm_ctx_reserve; depends on ctx's thread count). */
size_t tm_mamba_scratch_floats(const tm_ctx *ctx, const tm_mamba_config *cfg, int B, int T);

/* u, out [B,T,d]; start [B,T] i32 or NULL; act f32 >= act_floats. Reads init
 * and writes the final state to final (may be init, or NULL). */
tm_status tm_mamba_forward(tm_ctx *ctx, const tm_mamba *m, tm_tensor *out, tm_tensor *act,
                           tm_mamba_state *final, const tm_mamba_state *init, const tm_tensor *u,
                           const tm_tensor *start);
/* Parameter gradients +=, du += (du may be NULL), and when dinit is not NULL
 * the gradient of the initial state += into its conv and h (a state struct
 * used as a gradient buffer; the caller zeroes it). */
tm_status tm_mamba_backward(tm_ctx *ctx, const tm_mamba *m, tm_tensor *du, tm_mamba_state *dinit,
                            const tm_tensor *dout, const tm_tensor *u, const tm_tensor *act);

#endif
