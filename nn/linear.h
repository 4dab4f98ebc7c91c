/* Linear layer: out = in @ W^T + b. Definition: issue 3 item 2; the layer
 * conventions (config / model / forward over caller buffers) are in
 * shared STYLE.md and DESIGN.md principles 1-4.
 *
 * W is [d_out, d_in] (PyTorch's layout, so checkpoints map one to one), b is
 * [d_out]; both are views into the owner's flat tm_params, named
 * "<prefix>.weight" and "<prefix>.bias". in is [..., d_in], out is
 * [..., d_out] with the same leading shape. The backward needs only the
 * input the caller already keeps, so the layer has no activation buffer. */
#ifndef TM_NN_LINEAR_H
#define TM_NN_LINEAR_H

#include <stddef.h>

#include "core/params.h"
#include "core/rng.h"
#include "kernels/ops.h"

typedef struct {
    int d_in, d_out;
    int bias; /* 1: with b */
} tm_linear_config;

typedef struct {
    tm_linear_config cfg;
    size_t w_off, b_off;   /* into the owner's tm_params */
    float *w, *b, *dw, *db; /* bound by tm_linear_bind; b, db NULL without bias */
} tm_linear;

tm_linear_config tm_linear_config_default(int d_in, int d_out); /* with bias */

/* Checks cfg and declares the parameters in p (before tm_params_finalize).
 * Weight decay applies to W, not to b. */
tm_status tm_linear_declare(tm_linear *l, const tm_linear_config *cfg, tm_params *p,
                            const char *prefix);
/* Takes the parameter and gradient pointers (after tm_params_finalize). */
void tm_linear_bind(tm_linear *l, const tm_params *p);
/* PyTorch's nn.Linear default: W and b uniform in +-1/sqrt(d_in) (what
 * kaiming_uniform(a = sqrt 5) gives for W). */
void tm_linear_init(tm_linear *l, tm_rng *rng);

tm_status tm_linear_forward(tm_ctx *ctx, const tm_linear *l, tm_tensor *out, const tm_tensor *in);
/* dW += dout^T in, db += column sums of dout, din += dout W (din may be NULL
 * when the input needs no gradient). */
tm_status tm_linear_backward(tm_ctx *ctx, const tm_linear *l, tm_tensor *din,
                             const tm_tensor *dout, const tm_tensor *in);

#endif
