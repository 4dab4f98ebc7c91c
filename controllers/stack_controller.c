/* The controller vtable entries shared by the kinds that are one tm_stack
 * (transformer, mamba, hybrid): m->impl is a tm_stack, a state's impl a
 * tm_stack_state, an acts' impl a tm_stack_acts. Definition: kinds.h. */
#include <stdlib.h>
#include <string.h>

#include "controllers/kinds.h"

tm_stack_config tm_controller_stack_config(const tm_controller_config *cfg) {
    tm_stack_config sc;
    memset(&sc, 0, sizeof sc);
    int d = cfg->d_model;
    sc.d_model = d;
    sc.n_layers = cfg->n_layers;
    sc.input = cfg->input == TM_INPUT_TOKENS ? TM_STACK_INPUT_TOKENS : TM_STACK_INPUT_VECTOR;
    sc.d_in = cfg->d_in;
    sc.vocab = cfg->vocab;
    sc.final_norm = 1;
    sc.residual_weights = cfg->residual_weights;
    for (int i = 0; i < TM_STACK_MAX_LAYERS; i++) sc.layer_kind[i] = TM_STACK_MAMBA;
    sc.attn = tm_attn_config_default(d, cfg->n_heads);
    sc.attn.n_kv_heads = cfg->n_kv_heads;
    sc.attn.window = cfg->context;
    sc.attn.rope_theta = cfg->rope_theta;
    /* SwiGLU's hidden width: 2/3 of 4d (same parameter count as the GELU
     * MLP, as in LLaMA), rounded up to a multiple of 8. */
    sc.mlp = cfg->mlp == TM_MLP_SWIGLU ? tm_mlp_config_swiglu(d, (8 * d / 3 + 7) / 8 * 8)
                                       : tm_mlp_config_default(d);
    sc.mamba = tm_mamba_config_default(d);
    sc.mamba.expand = cfg->expand;
    sc.mamba.d_state = cfg->d_state;
    sc.mamba.d_conv = cfg->d_conv;
    if (cfg->dt_rank > 0) sc.mamba.dt_rank = cfg->dt_rank;
    return sc;
}

tm_status tm_controller_stack_create(tm_controller *m, const tm_stack_config *sc, uint64_t seed) {
    tm_stack *s = calloc(1, sizeof *s);
    if (!s) return tm_fail(TM_ENOMEM, "controller: cannot allocate the stack");
    tm_status rc = tm_stack_declare(s, sc, &m->params, "");
    if (rc == TM_OK) rc = tm_params_finalize(&m->params);
    if (rc != TM_OK) {
        tm_stack_free(s);
        free(s);
        return rc;
    }
    tm_stack_bind(s, &m->params);
    tm_rng rng;
    tm_rng_seed(&rng, seed, 0);
    tm_stack_init(s, &rng);
    m->impl = s;
    return TM_OK;
}

#define STACK(m) ((const tm_stack *)(m)->impl)
#define SSTATE(s) ((tm_stack_state *)(s)->impl)

void tm_controller_stack_destroy(tm_controller *m) {
    tm_stack_free(m->impl);
    free(m->impl);
    m->impl = NULL;
}

tm_status tm_controller_stack_state_create(const tm_controller *m, int B, tm_controller_state *s) {
    tm_stack_state *st = calloc(1, sizeof *st);
    if (!st) return tm_fail(TM_ENOMEM, "controller: cannot allocate a state");
    tm_status rc = tm_stack_state_create(STACK(m), B, st);
    if (rc != TM_OK) {
        free(st);
        return rc;
    }
    s->B = B;
    s->impl = st;
    return TM_OK;
}

void tm_controller_stack_state_free(const tm_controller *m, tm_controller_state *s) {
    tm_stack_state_free(STACK(m), s->impl);
    free(s->impl);
    s->impl = NULL;
}

void tm_controller_stack_state_reset(const tm_controller *m, tm_controller_state *s,
                                     const int32_t *mask) {
    tm_stack_state_reset(STACK(m), SSTATE(s), mask);
}

void tm_controller_stack_state_copy(const tm_controller *m, tm_controller_state *dst,
                                    const tm_controller_state *src) {
    tm_stack_state_copy(STACK(m), SSTATE(dst), SSTATE(src));
}

size_t tm_controller_stack_state_stream_bytes(const tm_controller *m) {
    return tm_stack_state_stream_bytes(STACK(m));
}

void tm_controller_stack_state_save_stream(const tm_controller *m, const tm_controller_state *s,
                                           int b, void *dst) {
    tm_stack_state_save_stream(STACK(m), SSTATE(s), b, dst);
}

void tm_controller_stack_state_load_stream(const tm_controller *m, tm_controller_state *s, int b,
                                           const void *src) {
    tm_stack_state_load_stream(STACK(m), SSTATE(s), b, src);
}

tm_status tm_controller_stack_state_check_stream(const tm_controller *m, const void *src) {
    return tm_stack_state_check_stream(STACK(m), src);
}

tm_status tm_controller_stack_acts_create(const tm_controller *m, int B, int T,
                                          tm_controller_acts *a) {
    tm_stack_acts *sa = calloc(1, sizeof *sa);
    if (!sa) return tm_fail(TM_ENOMEM, "controller: cannot allocate acts");
    tm_status rc = tm_stack_acts_create(STACK(m), B, T, sa);
    if (rc != TM_OK) {
        free(sa);
        return rc;
    }
    a->B = B, a->T = T, a->impl = sa;
    return TM_OK;
}

void tm_controller_stack_acts_free(const tm_controller *m, tm_controller_acts *a) {
    (void)m;
    tm_stack_acts_free(a->impl);
    free(a->impl);
    a->impl = NULL;
}

size_t tm_controller_stack_acts_bytes(const tm_controller *m, int B, int T) {
    return tm_stack_acts_floats(STACK(m), B, T) * sizeof(float);
}

size_t tm_controller_stack_scratch_floats(const tm_controller *m, const tm_ctx *ctx, int B, int T) {
    return tm_stack_scratch_floats(STACK(m), ctx, B, T);
}

tm_status tm_controller_stack_step(tm_ctx *ctx, const tm_controller *m, tm_controller_state *s,
                                   tm_tensor *y, const tm_tensor *x) {
    return tm_stack_step(ctx, STACK(m), SSTATE(s), y, x);
}

tm_status tm_controller_stack_forward(tm_ctx *ctx, const tm_controller *m, tm_tensor *y,
                                      tm_controller_acts *acts, tm_controller_state *final,
                                      const tm_controller_state *init, const tm_tensor *x,
                                      const tm_tensor *start) {
    return tm_stack_forward(ctx, STACK(m), y, acts->impl, final ? SSTATE(final) : NULL,
                            SSTATE(init), x, start);
}

tm_status tm_controller_stack_backward(tm_ctx *ctx, const tm_controller *m, tm_tensor *dx,
                                       const tm_tensor *dy, const tm_tensor *x,
                                       tm_controller_acts *acts) {
    return tm_stack_backward(ctx, STACK(m), dx, dy, x, acts->impl);
}
