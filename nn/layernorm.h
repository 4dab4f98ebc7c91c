/* LayerNorm layer: out = (x - mean) / sqrt(var + eps) * w + b (biased
 * variance). Definition: issue 3 item 2. Reference: Ba et al. 2016.
 *
 * w, b are [d], "<prefix>.weight" (init 1) and "<prefix>.bias" (init 0),
 * both exempt from weight decay. The forward saves mean and rstd per row in
 * the caller's activation buffer (tm_layernorm_act_floats). */
#ifndef TM_NN_LAYERNORM_H
#define TM_NN_LAYERNORM_H

#include <stddef.h>

#include "core/params.h"
#include "kernels/ops.h"

typedef struct {
    int d;
    float eps; /* default TM_NORM_EPS (1e-5) */
} tm_layernorm_config;

typedef struct {
    tm_layernorm_config cfg;
    size_t w_off, b_off;
    float *w, *b, *dw, *db;
} tm_layernorm;

tm_layernorm_config tm_layernorm_config_default(int d);
tm_status tm_layernorm_declare(tm_layernorm *n, const tm_layernorm_config *cfg, tm_params *p,
                               const char *prefix);
void tm_layernorm_bind(tm_layernorm *n, const tm_params *p);
void tm_layernorm_init(tm_layernorm *n); /* w = 1, b = 0 */

/* Floats of activation buffer for B*T rows (mean, then rstd). */
size_t tm_layernorm_act_floats(const tm_layernorm_config *cfg, int B, int T);

tm_status tm_layernorm_forward(tm_ctx *ctx, const tm_layernorm *n, tm_tensor *out,
                               tm_tensor *act, const tm_tensor *in);
/* dw += ..., db += ..., din += ... (din may be NULL). */
tm_status tm_layernorm_backward(tm_ctx *ctx, const tm_layernorm *n, tm_tensor *din,
                                const tm_tensor *dout, const tm_tensor *in,
                                const tm_tensor *act);

#endif
