/* MLP: d_in -> d_hidden -> d_out, in two variants. Definition: issue 3 item
 * 2; spec controllers.md ("an MLP (4d, GELU; or SwiGLU)", and the memory
 * residual's MLP d -> d/4 -> 1).
 *
 *   GELU:   out = fc2(act(fc1(x)))              params fc1, fc2 (with bias)
 *   SwiGLU: out = w2(silu(w1(x)) * w3(x))       params w1 (gate), w3 (up),
 *                                               w2 (down), no bias
 *           (Shazeer 2020, "GLU Variants Improve Transformer"; LLaMA's naming)
 * Sub-layers are tm_linear, named "<prefix>.fc1" etc.
 *
 * Memory: the forward saves its hidden activations in the caller's act
 * buffer (tm_mlp_act_floats: 2 or 4 floats per hidden unit per row); the
 * backward also needs tm_mlp_scratch_floats of ctx scratch (reserve it with
 * tm_ctx_reserve at setup; the backward fails with TM_ENOMEM naming the
 * sizes otherwise). */
#ifndef TM_NN_MLP_H
#define TM_NN_MLP_H

#include <stddef.h>

#include "core/params.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "nn/linear.h"

typedef enum { TM_MLP_GELU = 0, TM_MLP_SWIGLU } tm_mlp_kind;

typedef struct {
    int d_in, d_hidden, d_out;
    tm_mlp_kind kind;
    int bias;   /* GELU variant only (default 1); SwiGLU has none */
    tm_act act; /* GELU variant's activation (default TM_ACT_GELU) */
} tm_mlp_config;

typedef struct {
    tm_mlp_config cfg;
    tm_linear fc1, fc2; /* GELU; also w1 = fc1 (gate), w2 = fc2 (down) for SwiGLU */
    tm_linear w3;       /* SwiGLU's up projection */
} tm_mlp;

/* d -> 4d -> d, GELU (tanh form), with bias. */
tm_mlp_config tm_mlp_config_default(int d);
/* d -> hidden -> d, SwiGLU, no bias. */
tm_mlp_config tm_mlp_config_swiglu(int d, int hidden);

tm_status tm_mlp_declare(tm_mlp *m, const tm_mlp_config *cfg, tm_params *p, const char *prefix);
void tm_mlp_bind(tm_mlp *m, const tm_params *p);
void tm_mlp_init(tm_mlp *m, tm_rng *rng); /* each linear: PyTorch's default */

size_t tm_mlp_act_floats(const tm_mlp_config *cfg, int B, int T);
size_t tm_mlp_scratch_floats(const tm_mlp_config *cfg, int B, int T);

/* in [..., d_in], out [..., d_out]; act f32 with >= act_floats(rows). */
tm_status tm_mlp_forward(tm_ctx *ctx, const tm_mlp *m, tm_tensor *out, tm_tensor *act,
                         const tm_tensor *in);
/* Parameter grads +=, din += (din may be NULL). Uses ctx scratch. */
tm_status tm_mlp_backward(tm_ctx *ctx, const tm_mlp *m, tm_tensor *din, const tm_tensor *dout,
                          const tm_tensor *in, const tm_tensor *act);

#endif
