/* RMSNorm layer: out = x / sqrt(mean(x^2) + eps) * w. Definition: issue 3
 * item 2; spec controllers.md (every controller is pre-norm with RMSNorm).
 * Reference: Zhang & Sennrich 2019.
 *
 * w is [d], "<prefix>.weight", initialised to 1, exempt from weight decay.
 * The forward saves rstd, one float per row, in the caller's activation
 * buffer (tm_rmsnorm_act_floats); the backward reads it. */
#ifndef TM_NN_RMSNORM_H
#define TM_NN_RMSNORM_H

#include <stddef.h>

#include "core/params.h"
#include "kernels/ops.h"

typedef struct {
    int d;
    float eps; /* default TM_NORM_EPS (1e-5) */
} tm_rmsnorm_config;

typedef struct {
    tm_rmsnorm_config cfg;
    size_t w_off;
    float *w, *dw;
} tm_rmsnorm;

tm_rmsnorm_config tm_rmsnorm_config_default(int d);
tm_status tm_rmsnorm_declare(tm_rmsnorm *n, const tm_rmsnorm_config *cfg, tm_params *p,
                             const char *prefix);
void tm_rmsnorm_bind(tm_rmsnorm *n, const tm_params *p);
void tm_rmsnorm_init(tm_rmsnorm *n); /* w = 1 */

/* Floats of activation buffer the forward over B*T rows needs (rstd). */
size_t tm_rmsnorm_act_floats(const tm_rmsnorm_config *cfg, int B, int T);

/* in, out [..., d]; act f32 with at least act_floats(rows) elements. */
tm_status tm_rmsnorm_forward(tm_ctx *ctx, const tm_rmsnorm *n, tm_tensor *out, tm_tensor *act,
                             const tm_tensor *in);
/* dw += ..., din += ... (din may be NULL). act is what the forward wrote. */
tm_status tm_rmsnorm_backward(tm_ctx *ctx, const tm_rmsnorm *n, tm_tensor *din,
                              const tm_tensor *dout, const tm_tensor *in, const tm_tensor *act);

#endif
