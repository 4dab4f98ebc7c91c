/* The pre-norm residual stack shared by the controllers: an input layer,
 * n_layers layers each an attention block or a Mamba block, and a final
 * RMSNorm. Definition: shared spec controllers.md ("every layer is pre-norm
 * residual ... with a final RMSNorm", Transformer, Mamba, Hybrid). An
 * internal API: controllers/{transformer,mamba,hybrid}.c are thin vtables
 * over it, and MambaDualMem composes one (a stack without the final norm).
 *
 *   x_0 = input(u)                 linear d_in -> d (vectors), embedding
 *                                  (tokens), or u itself (input NONE: u is
 *                                  already d wide)
 *   attention block:  h = a x + attn(norm1 x);  x' = a h + mlp(norm2 h)
 *   Mamba block:      x' = a x + mamba(norm1 x)
 *   y = norm_f(x_L)                (or y = x_L without the final norm)
 * a is the layer's learnable residual weight "layers.i.res_weight" (a
 * scalar, init 1, no weight decay) when residual_weights is on, else the
 * constant 1. An attention block applies its one a to both sub-blocks: the
 * TransXSSM card gives one weight per layer, and a layer there is the whole
 * block.
 *
 * Parameter names (under the caller's prefix): input.weight/.bias or
 * embed.weight; layers.i.{norm1,attn,norm2,mlp,mamba,res_weight}; norm_f.
 *
 * The state of B streams is the union of the layers' states (attention: the
 * KV window; Mamba: conv window and h). forward runs from any saved state
 * with episode starts start[b,t] and equals T calls of step (with
 * tm_stack_state_reset before the t-th call where start[b,t] = 1).
 *
 * Buffers: the acts (one owned block sized for (B, T)) hold what backward
 * needs AND the backward's residual-gradient workspace, because the layers'
 * backwards use all of ctx scratch themselves; tm_stack_scratch_floats is
 * the largest of the layers' needs. The step's workspace lives in the state. */
#ifndef TM_CONTROLLERS_STACK_H
#define TM_CONTROLLERS_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/mamba.h"
#include "nn/mlp.h"
#include "nn/rmsnorm.h"

#define TM_STACK_MAX_LAYERS 64

typedef enum { TM_STACK_ATTN = 0, TM_STACK_MAMBA } tm_stack_layer_kind;
typedef enum { TM_STACK_INPUT_NONE = 0, TM_STACK_INPUT_VECTOR, TM_STACK_INPUT_TOKENS } tm_stack_input;

typedef struct {
    int d_model, n_layers;
    tm_stack_input input;
    int d_in;               /* INPUT_VECTOR */
    int vocab;              /* INPUT_TOKENS */
    int final_norm;         /* 1: y = RMSNorm(x_L) */
    int residual_weights;   /* 1: learnable a per layer */
    int layer_kind[TM_STACK_MAX_LAYERS]; /* tm_stack_layer_kind of layer i */
    tm_attn_config attn;    /* d_model is the stack's */
    tm_mlp_config mlp;      /* d_in = d_out = d_model */
    tm_mamba_config mamba;  /* d_model is the stack's */
} tm_stack_config;

typedef struct {
    tm_stack_layer_kind kind;
    tm_rmsnorm norm1, norm2;
    tm_attn attn;
    tm_mlp mlp;
    tm_mamba mamba;
    size_t res_off;
    float *res_w, *d_res_w; /* NULL without residual weights */
} tm_stack_layer;

typedef struct {
    tm_stack_config cfg;
    tm_linear in_proj;
    tm_embedding embed;
    tm_stack_layer *layers; /* n_layers, owned */
    tm_rmsnorm norm_f;
} tm_stack;

typedef struct {
    int B;
    tm_attn_state *attn;   /* [n_layers]; only attention layers' are created */
    tm_mamba_state *mamba; /* [n_layers]; only Mamba layers' */
    float *work;           /* step workspace, owned */
} tm_stack_state;

typedef struct {
    int B, T;      /* capacity */
    float *buf;    /* owned */
    size_t floats;
} tm_stack_acts;

/* Checks cfg (naming the field); declares every parameter under prefix ("" =
 * none) into p. Call tm_stack_bind after tm_params_finalize. */
tm_status tm_stack_declare(tm_stack *s, const tm_stack_config *cfg, tm_params *p,
                           const char *prefix);
void tm_stack_bind(tm_stack *s, const tm_params *p);
/* Each layer's own init; residual weights 1. */
void tm_stack_init(tm_stack *s, tm_rng *rng);
void tm_stack_free(tm_stack *s); /* the layer array; NULL-safe */

tm_status tm_stack_state_create(const tm_stack *s, int B, tm_stack_state *st);
void tm_stack_state_free(const tm_stack *s, tm_stack_state *st); /* NULL-safe */
void tm_stack_state_reset(const tm_stack *s, tm_stack_state *st, const int32_t *mask);
void tm_stack_state_copy(const tm_stack *s, tm_stack_state *dst, const tm_stack_state *src);
/* One stream's state as bytes: per layer, attention k, v [W-1, Hkv*dh] f32
 * (rows outside the valid window written as zeros, so equal states give
 * equal bytes), len, pos i32; Mamba conv [d_inner, K-1], h [d_inner, N] f32,
 * pos i32. */
size_t tm_stack_state_stream_bytes(const tm_stack *s);
void tm_stack_state_save_stream(const tm_stack *s, const tm_stack_state *st, int b, void *dst);
/* Fails (state untouched) when the bytes hold an impossible window length
 * or position, or a non-finite value. */
tm_status tm_stack_state_check_stream(const tm_stack *s, const void *src);
void tm_stack_state_load_stream(const tm_stack *s, tm_stack_state *st, int b, const void *src);

size_t tm_stack_acts_floats(const tm_stack *s, int B, int T);
tm_status tm_stack_acts_create(const tm_stack *s, int B, int T, tm_stack_acts *a);
void tm_stack_acts_free(tm_stack_acts *a); /* NULL-safe */
/* Floats of ctx scratch step/forward/backward need at (B, T). */
size_t tm_stack_scratch_floats(const tm_stack *s, const tm_ctx *ctx, int B, int T);

/* x: f32 [B,d_in] (VECTOR), i32 [B] (TOKENS) or f32 [B,d] (NONE); y [B,d]. */
tm_status tm_stack_step(tm_ctx *ctx, const tm_stack *s, tm_stack_state *st, tm_tensor *y,
                        const tm_tensor *x);
/* x: f32 [B,T,d_in], i32 [B,T] or f32 [B,T,d]; y [B,T,d]; start i32 [B,T] or
 * NULL. Reads init, writes final (may be init, or NULL). */
tm_status tm_stack_forward(tm_ctx *ctx, const tm_stack *s, tm_tensor *y, tm_stack_acts *a,
                           tm_stack_state *final, const tm_stack_state *init, const tm_tensor *x,
                           const tm_tensor *start);
/* Parameter gradients +=; dx += for f32 inputs (may be NULL). x and a as the
 * forward left them. */
tm_status tm_stack_backward(tm_ctx *ctx, const tm_stack *s, tm_tensor *dx, const tm_tensor *dy,
                            const tm_tensor *x, tm_stack_acts *a);

#endif
