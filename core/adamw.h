/* tm_adamw: Adam with decoupled weight decay over the flat parameter vector.
 * Definition: Loshchilov and Hutter, "Decoupled Weight Decay Regularization"
 * (ICLR 2019), in PyTorch's torch.optim.AdamW order; shared spec agent.md
 * (Adam 3e-4; moments in the checkpoint); DESIGN.md principle 3.
 *
 * One step, for each float i, with t the step count after increment:
 *     p *= 1 - lr * weight_decay                (only where decay applies)
 *     m  = beta1 m + (1 - beta1) g
 *     v  = beta2 v + (1 - beta2) g^2
 *     p -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 * Decay applies to every float of a view declared without TM_PARAM_NO_DECAY
 * (biases, norm gains and the like are declared with it).
 *
 * The learning rate of each step is passed in (from a tm_schedule); cfg.lr is
 * the base rate the schedule is built from. m, v and t are plain fields so a
 * checkpoint binds them (tm_ckpt_bind_moment(&ck, "adamw.m", opt.m), and
 * tm_ckpt_bind_counter for t). */
#ifndef TM_ADAMW_H
#define TM_ADAMW_H

#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "core/status.h"

typedef struct {
    float lr;           /* base learning rate (> 0) */
    float beta1, beta2; /* each in [0, 1) */
    float eps;          /* > 0 */
    float weight_decay; /* >= 0, decoupled */
} tm_adamw_config;

typedef struct {
    tm_adamw_config cfg;
    size_t n;        /* floats: equals the tm_params' n */
    float *m, *v;    /* first and second moments, n each, owned, 64-byte aligned */
    uint8_t *decay;  /* n: 1 where weight decay applies */
    int64_t t;       /* steps taken (bias correction uses t after increment) */
} tm_adamw;

/* lr 3e-4, beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0. */
tm_adamw_config tm_adamw_config_default(void);
tm_status tm_adamw_config_check(const tm_adamw_config *cfg);

/* Validates cfg; sizes m and v (zeroed) and the decay mask from p, which
 * must be finalized. */
tm_status tm_adamw_create(tm_adamw *opt, tm_adamw_config cfg, const tm_params *p);
/* One update of p->data from p->grad at learning rate lr (finite, >= 0).
 * A NaN or Inf in the gradient returns TM_ENUMERIC naming the parameter and
 * leaves p and the optimizer state untouched. */
tm_status tm_adamw_step(tm_adamw *opt, tm_params *p, float lr);
/* Zeroes m and v and sets t = 0 (keeps config and mask). */
void tm_adamw_reset(tm_adamw *opt);
void tm_adamw_free(tm_adamw *opt); /* NULL is fine */

#endif
