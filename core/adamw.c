/* tm_adamw: AdamW over the flat parameter vector. See adamw.h.
 * Definition: Loshchilov and Hutter (ICLR 2019), PyTorch AdamW order. */
#include "core/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clip.h"

tm_adamw_config tm_adamw_config_default(void) {
    /* lr from the SAC and CleanRL PPO defaults (shared spec agent.md); the
     * rest are Adam's published defaults. */
    return (tm_adamw_config){.lr = 3e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                             .weight_decay = 0.0f};
}

tm_status tm_adamw_config_check(const tm_adamw_config *cfg) {
    if (!(cfg->lr > 0.0f) || !isfinite(cfg->lr))
        return tm_fail(TM_EINVAL, "adamw: lr must be finite and > 0 (got %g)", (double)cfg->lr);
    if (!(cfg->beta1 >= 0.0f && cfg->beta1 < 1.0f))
        return tm_fail(TM_EINVAL, "adamw: beta1 must be in [0, 1) (got %g)", (double)cfg->beta1);
    if (!(cfg->beta2 >= 0.0f && cfg->beta2 < 1.0f))
        return tm_fail(TM_EINVAL, "adamw: beta2 must be in [0, 1) (got %g)", (double)cfg->beta2);
    if (!(cfg->eps > 0.0f) || !isfinite(cfg->eps))
        return tm_fail(TM_EINVAL, "adamw: eps must be finite and > 0 (got %g)", (double)cfg->eps);
    if (!(cfg->weight_decay >= 0.0f) || !isfinite(cfg->weight_decay))
        return tm_fail(TM_EINVAL, "adamw: weight_decay must be finite and >= 0 (got %g)",
                       (double)cfg->weight_decay);
    return TM_OK;
}

static float *alloc_floats(size_t n) {
    size_t bytes = (n + 15) / 16 * 16 * sizeof(float); /* whole 64-byte lines */
    if (bytes == 0) bytes = 64;
    float *x = aligned_alloc(64, bytes);
    if (x) memset(x, 0, bytes);
    return x;
}

tm_status tm_adamw_create(tm_adamw *opt, tm_adamw_config cfg, const tm_params *p) {
    memset(opt, 0, sizeof *opt);
    TM_TRY(tm_adamw_config_check(&cfg));
    if (!p->finalized) return tm_fail(TM_ESTATE, "adamw: parameters must be finalized first");
    opt->cfg = cfg;
    opt->n = p->n;
    opt->m = alloc_floats(p->n);
    opt->v = alloc_floats(p->n);
    if (!opt->m || !opt->v) {
        tm_adamw_free(opt);
        return tm_fail(TM_ENOMEM, "adamw: cannot allocate moments for %zu parameters", p->n);
    }
    tm_status st = tm_params_decay_mask(p, &opt->decay);
    if (st != TM_OK) {
        tm_adamw_free(opt);
        return tm_error_context(st, "adamw");
    }
    return TM_OK;
}

tm_status tm_adamw_step(tm_adamw *opt, tm_params *p, float lr) {
    if (!isfinite(lr) || lr < 0.0f)
        return tm_fail(TM_EINVAL, "adamw: lr must be finite and >= 0 (got %g)", (double)lr);
    if (!p->finalized || p->n != opt->n)
        return tm_fail(TM_ESTATE, "adamw: made for %zu parameters, stepped with %zu%s", opt->n,
                       p->n, p->finalized ? "" : " (not finalized)");
    /* Check before touching anything, so a bad gradient leaves the last good
     * parameters and moments in place (shared spec agent.md, training loop). */
    long bad = tm_find_nonfinite(p->grad, (long)p->n);
    if (bad >= 0) {
        const tm_param_view *v = tm_params_view_at(p, (size_t)bad);
        return tm_fail(TM_ENUMERIC, "adamw: gradient of '%s' is %g at element %zu",
                       v ? v->name : "(padding)", (double)p->grad[bad],
                       v ? (size_t)bad - v->offset : (size_t)bad);
    }

    opt->t++;
    const float b1 = opt->cfg.beta1, b2 = opt->cfg.beta2, eps = opt->cfg.eps;
    /* Bias corrections in double: beta2^t is 1 - 1e-3 t for small t, where a
     * float power would lose most of the digits of 1 - beta2^t. */
    const double bc1 = 1.0 - pow((double)b1, (double)opt->t);
    const double bc2 = 1.0 - pow((double)b2, (double)opt->t);
    const float step_size = (float)((double)lr / bc1);
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    const float shrink = 1.0f - lr * opt->cfg.weight_decay;
    float *restrict x = p->data, *restrict m = opt->m, *restrict v = opt->v;
    const float *restrict g = p->grad;
    const uint8_t *restrict decay = opt->decay;
    const long n = (long)p->n;
    /* Elementwise, so the result does not depend on the thread split. */
#pragma omp parallel for schedule(static) if (n > 32768)
    for (long i = 0; i < n; i++) {
        float xi = decay[i] ? x[i] * shrink : x[i];
        float mi = b1 * m[i] + (1.0f - b1) * g[i];
        float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        x[i] = xi - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
    return TM_OK;
}

void tm_adamw_reset(tm_adamw *opt) {
    if (opt->m) memset(opt->m, 0, opt->n * sizeof(float));
    if (opt->v) memset(opt->v, 0, opt->n * sizeof(float));
    opt->t = 0;
}

void tm_adamw_free(tm_adamw *opt) {
    if (!opt) return;
    free(opt->m);
    free(opt->v);
    free(opt->decay);
    memset(opt, 0, sizeof *opt);
}
