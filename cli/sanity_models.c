/* Sanity checks of the models: every controller and memory module is built
 * small and checked for what a broken build would get wrong -- step and
 * forward agreeing, the backward against finite differences, a few AdamW
 * steps lowering a loss, a stream's state surviving save/load, and the
 * memories' recall, isolation, top-k and transport properties. Definition:
 * shared spec cli.md ("sanity: builds every controller and memory module
 * small, checks forward, backward against finite differences, step/forward
 * agreement, a few training steps lowering a loss"). The full property tests
 * live in tests/; these are their fast, always-available twins. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/sanity.h"
#include "controllers/controller.h"
#include "core/adamw.h"
#include "core/rng.h"
#include "memory/kvcache.h"
#include "memory/miras.h"
#include "memory/sinkhorn.h"

enum { SB = 3, ST = 8, SD_IN = 5 };

/* One small model with its buffers: B streams, T steps, vector inputs. */
typedef struct {
    tm_ctx ctx;
    tm_controller m;
    tm_controller_state init, s;
    tm_controller_acts acts;
    tm_tensor x, y, start, xs, ys;
    float x_buf[SB * ST * SD_IN], *y_buf, xs_buf[SB * SD_IN], *ys_buf;
    float *w; /* [B,T,d] loss weights of the gradient check */
    int32_t start_buf[SB * ST];
    int d;
} small_model;

static tm_controller_config small_config(tm_controller_kind kind) {
    tm_controller_config c = tm_controller_config_default(kind, SD_IN);
    c.d_model = 16;
    c.n_layers = 2;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.context = 4; /* shorter than T: the sliding window is exercised */
    c.attn_layer_period = 2;
    c.attn_layer_offset = 1; /* hybrid: mamba then attention */
    c.miras.mem_slots = 6;   /* fills within the sequence: ring overwrites too */
    return c;
}

static void small_free(small_model *sm) {
    tm_controller_acts_free(&sm->m, &sm->acts);
    tm_controller_state_free(&sm->m, &sm->init);
    tm_controller_state_free(&sm->m, &sm->s);
    tm_controller_free(&sm->m);
    tm_ctx_free(&sm->ctx);
    free(sm->y_buf);
    free(sm->ys_buf);
    free(sm->w);
}

/* Builds the model, random inputs, an episode start for stream 1 at t = 3,
 * and a mid-episode initial state (4 steps from zero). */
static tm_status small_make(small_model *sm, tm_controller_kind kind, uint64_t seed) {
    memset(sm, 0, sizeof *sm);
    tm_controller_config cfg = small_config(kind);
    sm->d = cfg.d_model;
    TM_TRY(tm_ctx_init(&sm->ctx, TM_CPU, 1));
    TM_TRY(tm_controller_create(&sm->m, &cfg, seed));
    TM_TRY(tm_ctx_reserve(&sm->ctx, tm_controller_scratch_floats(&sm->m, &sm->ctx, SB, ST)));
    TM_TRY(tm_controller_state_create(&sm->m, SB, &sm->init));
    TM_TRY(tm_controller_state_create(&sm->m, SB, &sm->s));
    TM_TRY(tm_controller_acts_create(&sm->m, SB, ST, &sm->acts));
    sm->y_buf = calloc((size_t)SB * ST * sm->d, sizeof(float));
    sm->ys_buf = calloc((size_t)SB * sm->d, sizeof(float));
    sm->w = calloc((size_t)SB * ST * sm->d, sizeof(float));
    if (!sm->y_buf || !sm->ys_buf || !sm->w) return tm_fail(TM_ENOMEM, "sanity: output buffers");
    tm_rng r;
    tm_rng_seed(&r, seed, 1);
    tm_rng_fill_normal(&r, sm->x_buf, SB * ST * SD_IN, 0, 1);
    memset(sm->start_buf, 0, sizeof sm->start_buf);
    sm->start_buf[1 * ST + 3] = 1;
    TM_TRY(tm_tensor_wrap(&sm->x, sm->x_buf, TM_F32, TM_CPU, 3, (const int64_t[]){SB, ST, SD_IN}));
    TM_TRY(tm_tensor_wrap(&sm->y, sm->y_buf, TM_F32, TM_CPU, 3, (const int64_t[]){SB, ST, sm->d}));
    TM_TRY(tm_tensor_wrap(&sm->start, sm->start_buf, TM_I32, TM_CPU, 2, (const int64_t[]){SB, ST}));
    TM_TRY(tm_tensor_wrap(&sm->xs, sm->xs_buf, TM_F32, TM_CPU, 2, (const int64_t[]){SB, SD_IN}));
    TM_TRY(tm_tensor_wrap(&sm->ys, sm->ys_buf, TM_F32, TM_CPU, 2, (const int64_t[]){SB, sm->d}));
    for (int t = 0; t < 4; t++) {
        tm_rng_fill_normal(&r, sm->xs_buf, SB * SD_IN, 0, 1);
        TM_TRY(tm_controller_step(&sm->ctx, &sm->m, &sm->init, &sm->ys, &sm->xs));
    }
    return TM_OK;
}

/* ---- directional derivatives ---------------------------------------------
 * The gradient checks here take one random unit direction u over all the
 * checked floats (parameters, inputs) and compare g . u with the central
 * difference of the loss along u, Richardson-extrapolated over h and h/2 so
 * that fp32 rounding, not truncation, bounds the difference. */

typedef struct {
    float *value;
    size_t n;
} dd_var;

typedef double (*dd_loss)(void *user, tm_status *st);

/* u: n unit-norm normal floats. */
static void unit_direction(tm_rng *r, float *u, size_t n) {
    tm_rng_fill_normal(r, u, (long)n, 0, 1);
    double norm = 0;
    for (size_t i = 0; i < n; i++) norm += (double)u[i] * u[i];
    for (size_t i = 0; i < n; i++) u[i] = (float)(u[i] / sqrt(norm));
}

/* *numeric = dL/du at the current values of vars (u spans them in order);
 * the values are restored exactly afterwards. */
static tm_status directional_derivative(double *numeric, dd_loss loss, void *user, dd_var *vars,
                                        int nv, const float *u, double h) {
    size_t total = 0;
    for (int v = 0; v < nv; v++) total += vars[v].n;
    float *saved = malloc(total * sizeof *saved);
    if (!saved) return tm_fail(TM_ENOMEM, "sanity: directional derivative buffer");
    for (int v = 0, o = 0; v < nv; o += (int)vars[v].n, v++)
        memcpy(saved + o, vars[v].value, vars[v].n * sizeof *saved);
    double D[2];
    tm_status st = TM_OK;
    for (int k = 0; k < 2 && st == TM_OK; k++) {
        double step = k == 0 ? h : h / 2, L[2];
        for (int sgn = 0; sgn < 2 && st == TM_OK; sgn++) {
            size_t o = 0;
            for (int v = 0; v < nv; v++)
                for (size_t i = 0; i < vars[v].n; i++, o++)
                    vars[v].value[i] = saved[o] + (float)((sgn ? -step : step) * u[o]);
            L[sgn] = loss(user, &st);
        }
        D[k] = (L[0] - L[1]) / (2 * step);
    }
    for (int v = 0, o = 0; v < nv; o += (int)vars[v].n, v++)
        memcpy(vars[v].value, saved + o, vars[v].n * sizeof *saved);
    free(saved);
    *numeric = (4 * D[1] - D[0]) / 3;
    return st;
}

static double relative_error(double a, double b) {
    return fabs(a - b) / fmax(fabs(a) + fabs(b), 1e-6);
}

/* L = sum w . y of a forward from init (w fixed), in double. */
static double small_loss(small_model *sm, tm_status *st) {
    *st = tm_controller_forward(&sm->ctx, &sm->m, &sm->y, &sm->acts, NULL, &sm->init, &sm->x,
                                &sm->start);
    double L = 0;
    for (long i = 0; i < (long)SB * ST * sm->d; i++) L += (double)sm->w[i] * sm->y_buf[i];
    return L;
}

static double small_loss_fn(void *user, tm_status *st) { return small_loss(user, st); }

static int fail_detail(char *detail, size_t cap) {
    snprintf(detail, cap, "%s", tm_last_error());
    return 0;
}

static int check_step_matches_forward(tm_controller_kind kind, char *detail, size_t cap) {
    small_model sm;
    int ok = 0;
    if (small_make(&sm, kind, 11) != TM_OK) goto fail;
    tm_controller_state_copy(&sm.m, &sm.s, &sm.init);
    if (tm_controller_forward(&sm.ctx, &sm.m, &sm.y, &sm.acts, NULL, &sm.init, &sm.x, &sm.start) != TM_OK)
        goto fail;
    double worst = 0, scale = 0;
    for (int t = 0; t < ST; t++) {
        int32_t mask[SB];
        for (int b = 0; b < SB; b++) mask[b] = sm.start_buf[b * ST + t];
        tm_controller_state_reset(&sm.m, &sm.s, mask);
        for (int b = 0; b < SB; b++)
            memcpy(sm.xs_buf + b * SD_IN, sm.x_buf + ((size_t)b * ST + t) * SD_IN, SD_IN * sizeof(float));
        if (tm_controller_step(&sm.ctx, &sm.m, &sm.s, &sm.ys, &sm.xs) != TM_OK) goto fail;
        for (int b = 0; b < SB; b++)
            for (int j = 0; j < sm.d; j++) {
                double a = sm.ys_buf[b * sm.d + j], f = sm.y_buf[((size_t)b * ST + t) * sm.d + j];
                worst = fmax(worst, fabs(a - f));
                scale = fmax(scale, fabs(f));
            }
    }
    double rel = worst / fmax(scale, 1e-30);
    for (size_t i = 0; i < (size_t)SB * ST * sm.d; i++)
        if (!isfinite(sm.y_buf[i])) {
            snprintf(detail, cap, "forward output %zu is not finite", i);
            goto done;
        }
    snprintf(detail, cap, "B %d T %d, start inside, from a saved state: max |step - forward| %.2g of scale %.3g",
             SB, ST, worst, scale);
    ok = rel < 1e-5;
    goto done;
fail:
    ok = fail_detail(detail, cap);
done:
    small_free(&sm);
    return ok;
}

/* Directional derivative along a random unit direction u over all
 * parameters: (L(p + h u) - L(p - h u)) / 2h against g . u, Richardson
 * extrapolated over h and h/2 so fp32 rounding, not truncation, bounds it. */
static int check_gradient(tm_controller_kind kind, char *detail, size_t cap) {
    small_model sm;
    int ok = 0;
    float *u = NULL;
    if (small_make(&sm, kind, 12) != TM_OK) goto fail;
    size_t n = sm.m.params.n;
    u = malloc(n * sizeof *u);
    if (!u) goto fail;
    tm_rng r;
    tm_rng_seed(&r, 13, 2);
    tm_rng_fill_normal(&r, sm.w, SB * ST * sm.d, 0, 1);
    unit_direction(&r, u, n);
    tm_status st;
    small_loss(&sm, &st);
    if (st != TM_OK) goto fail;
    tm_tensor dy;
    if (tm_tensor_wrap(&dy, sm.w, TM_F32, TM_CPU, 3, (const int64_t[]){SB, ST, sm.d}) != TM_OK) goto fail;
    tm_params_zero_grad(&sm.m.params);
    if (tm_controller_backward(&sm.ctx, &sm.m, NULL, &dy, &sm.x, &sm.acts) != TM_OK) goto fail;
    double analytic = 0, numeric = 0;
    for (size_t i = 0; i < n; i++) analytic += (double)sm.m.params.grad[i] * u[i];
    /* Memory writes are gradient-free (spec memory.md): the perturbed
     * forwards read the slots the unperturbed one wrote. */
    if (tm_controller_acts_freeze_writes(&sm.m, &sm.acts, 1) != TM_OK) goto fail;
    dd_var var = {sm.m.params.data, n};
    if (directional_derivative(&numeric, small_loss_fn, &sm, &var, 1, u, 0.05) != TM_OK) goto fail;
    if (tm_controller_acts_freeze_writes(&sm.m, &sm.acts, 0) != TM_OK) goto fail;
    double rel = relative_error(analytic, numeric);
    snprintf(detail, cap, "%zu params, along a random direction: analytic %.6g numeric %.6g rel %.2g",
             n, analytic, numeric, rel);
    ok = rel < 1e-3;
    goto done;
fail:
    ok = fail_detail(detail, cap);
done:
    free(u);
    small_free(&sm);
    return ok;
}

/* 40 AdamW steps on a target that needs memory: y_t[0..4] should equal the
 * input of the previous step (zero at an episode start). */
static int check_training(tm_controller_kind kind, char *detail, size_t cap) {
    enum { STEPS = 40 };
    small_model sm;
    tm_adamw opt = {0};
    int ok = 0;
    float *dy_buf = NULL;
    if (small_make(&sm, kind, 14) != TM_OK) goto fail;
    tm_controller_state_reset(&sm.m, &sm.init, NULL);
    if (tm_adamw_create(&opt, tm_adamw_config_default(), &sm.m.params) != TM_OK) goto fail;
    size_t ny = (size_t)SB * ST * sm.d;
    dy_buf = calloc(ny, sizeof *dy_buf);
    if (!dy_buf) goto fail;
    tm_tensor dy;
    if (tm_tensor_wrap(&dy, dy_buf, TM_F32, TM_CPU, 3, (const int64_t[]){SB, ST, sm.d}) != TM_OK) goto fail;
    double first = 0, last = 0;
    for (int step = 0; step <= STEPS; step++) {
        if (tm_controller_forward(&sm.ctx, &sm.m, &sm.y, &sm.acts, NULL, &sm.init, &sm.x, &sm.start) != TM_OK)
            goto fail;
        double loss = 0;
        memset(dy_buf, 0, ny * sizeof *dy_buf);
        for (int b = 0; b < SB; b++)
            for (int t = 0; t < ST; t++)
                for (int j = 0; j < SD_IN; j++) {
                    int fresh = t == 0 || sm.start_buf[b * ST + t];
                    float target = fresh ? 0.0f : sm.x_buf[((size_t)b * ST + t - 1) * SD_IN + j];
                    size_t o = ((size_t)b * ST + t) * sm.d + j;
                    float e = sm.y_buf[o] - target;
                    loss += 0.5 * e * e / (SB * ST);
                    dy_buf[o] = e / (SB * ST);
                }
        if (step == 0) first = loss;
        last = loss;
        if (step == STEPS) break;
        tm_params_zero_grad(&sm.m.params);
        if (tm_controller_backward(&sm.ctx, &sm.m, NULL, &dy, &sm.x, &sm.acts) != TM_OK) goto fail;
        if (tm_adamw_step(&opt, &sm.m.params, 1e-2f) != TM_OK) goto fail;
    }
    snprintf(detail, cap, "recall-previous-input loss %.4g -> %.4g in %d AdamW steps", first, last, STEPS);
    ok = last < 0.7 * first;
    goto done;
fail:
    ok = fail_detail(detail, cap);
done:
    free(dy_buf);
    tm_adamw_free(&opt);
    small_free(&sm);
    return ok;
}

/* One stream saved to bytes and loaded into another state, at another batch
 * position, reads back as the same bytes and continues the same. */
static int check_state_bytes(tm_controller_kind kind, char *detail, size_t cap) {
    small_model sm;
    int ok = 0;
    unsigned char *bytes = NULL, *again = NULL;
    float *ya = NULL;
    if (small_make(&sm, kind, 15) != TM_OK) goto fail;
    size_t nb = tm_controller_state_stream_bytes(&sm.m);
    bytes = malloc(nb);
    again = malloc(nb);
    ya = malloc((size_t)SB * sm.d * sizeof(float));
    if (!bytes || !again || !ya) goto fail;
    tm_controller_state_reset(&sm.m, &sm.s, NULL);
    int same_bytes = 1;
    for (int b = 0; b < SB; b++) {
        if (tm_controller_state_save_stream(&sm.m, &sm.init, b, bytes) != TM_OK) goto fail;
        if (tm_controller_state_load_stream(&sm.m, &sm.s, SB - 1 - b, bytes) != TM_OK) goto fail;
        if (tm_controller_state_save_stream(&sm.m, &sm.s, SB - 1 - b, again) != TM_OK) goto fail;
        same_bytes &= memcmp(bytes, again, nb) == 0;
    }
    /* The same input to every stream: s's stream SB-1-b continues init's b.
     * Equal to the step/forward standard (1e-5 of the scale), not bit for
     * bit: BLAS may sum a row differently at another position in the batch
     * (AVX-512 OpenBLAS does). */
    for (int i = 0; i < SB * SD_IN; i++) sm.xs_buf[i] = (float)((i % SD_IN) - 2) * 0.3f;
    tm_tensor ta;
    if (tm_tensor_wrap(&ta, ya, TM_F32, TM_CPU, 2, (const int64_t[]){SB, sm.d}) != TM_OK ||
        tm_controller_step(&sm.ctx, &sm.m, &sm.init, &ta, &sm.xs) != TM_OK ||
        tm_controller_step(&sm.ctx, &sm.m, &sm.s, &sm.ys, &sm.xs) != TM_OK)
        goto fail;
    double worst = 0, scale = 0;
    for (int b = 0; b < SB; b++)
        for (int j = 0; j < sm.d; j++) {
            double a = ya[b * sm.d + j];
            worst = fmax(worst, fabs(a - sm.ys_buf[(SB - 1 - b) * sm.d + j]));
            scale = fmax(scale, fabs(a));
        }
    snprintf(detail, cap,
             "%zu bytes per stream, %s after a load at another position; then stepped: max diff %.2g of scale %.3g",
             nb, same_bytes ? "equal" : "DIFFERENT", worst, scale);
    ok = same_bytes && worst <= 1e-5 * scale;
    goto done;
fail:
    ok = fail_detail(detail, cap);
done:
    free(bytes);
    free(again);
    free(ya);
    small_free(&sm);
    return ok;
}

#define CONTROLLER_CHECKS(name, KIND)                                                         \
    int tm_sanity_##name##_step_forward(char *d, size_t c) { return check_step_matches_forward(KIND, d, c); } \
    int tm_sanity_##name##_gradient(char *d, size_t c) { return check_gradient(KIND, d, c); } \
    int tm_sanity_##name##_training(char *d, size_t c) { return check_training(KIND, d, c); } \
    int tm_sanity_##name##_state_bytes(char *d, size_t c) { return check_state_bytes(KIND, d, c); }
CONTROLLER_CHECKS(transformer, TM_CONTROLLER_TRANSFORMER)
CONTROLLER_CHECKS(mamba, TM_CONTROLLER_MAMBA)
CONTROLLER_CHECKS(mamba_dualmem, TM_CONTROLLER_MAMBA_DUALMEM)
CONTROLLER_CHECKS(hybrid, TM_CONTROLLER_HYBRID)

/* ---- memory modules ---------------------------------------------------- */

typedef struct {
    tm_params p;
    tm_miras m;
    tm_miras_state s;
} small_miras;

static tm_status miras_make(small_miras *sm, int d, int slots, int B) {
    memset(sm, 0, sizeof *sm);
    tm_params_init(&sm->p);
    tm_miras_config cfg = tm_miras_config_default(d);
    cfg.mem_slots = slots;
    cfg.max_B = B;
    TM_TRY(tm_miras_declare(&sm->m, &cfg, &sm->p, "miras"));
    TM_TRY(tm_params_finalize(&sm->p));
    tm_miras_bind(&sm->m, &sm->p);
    tm_rng r;
    tm_rng_seed(&r, 21, 0);
    tm_miras_init(&sm->m, &r);
    return tm_miras_state_create(&sm->s, &sm->m, B);
}

static void miras_release(small_miras *sm) {
    tm_miras_state_free(&sm->s);
    tm_miras_free(&sm->m);
    tm_params_free(&sm->p);
}

/* A key written once among 63 random ones is read back with weight > 0.9
 * at the default temperature, and stream 1 (never written) reads nothing. */
int tm_sanity_miras_recall(char *detail, size_t cap) {
    enum { D = 32, M = 64 };
    small_miras sm;
    int ok = 0;
    if (miras_make(&sm, D, M, 2) != TM_OK) goto fail;
    tm_rng r;
    tm_rng_seed(&r, 22, 0);
    float key[2 * D], value[2 * D], target_k[D], target_v[D];
    tm_rng_fill_normal(&r, target_k, D, 0, 1);
    tm_rng_fill_normal(&r, target_v, D, 0, 1);
    for (int i = 0; i < M; i++) {
        if (i == M / 2) {
            memcpy(key, target_k, sizeof target_k);
            memcpy(value, target_v, sizeof target_v);
        } else {
            tm_rng_fill_normal(&r, key, D, 0, 1);
            tm_rng_fill_normal(&r, value, D, 0, 1);
        }
        /* B = 1: only stream 0 is written. */
        if (tm_miras_write(&sm.m, &sm.s, NULL, key, value, NULL, 1) != TM_OK) goto fail;
    }
    float v[2 * D], weights[2 * 2 * M], conf[2];
    size_t na = tm_miras_read_act_floats(&sm.m.cfg, 2);
    float *act = malloc(na * sizeof(float));
    if (!act) goto fail;
    memcpy(key, target_k, sizeof target_k);
    memcpy(key + D, target_k, sizeof target_k);
    tm_miras_read_info info = {0};
    info.weights = weights;
    info.confidence = conf;
    tm_status st = tm_miras_read_forward(&sm.m, &sm.s, v, &info, act, key, NULL, 2);
    free(act);
    if (st != TM_OK) goto fail;
    float best = 0, other = 0;
    for (int j = 0; j < M; j++) best = fmaxf(best, weights[j]);
    for (int j = 0; j < 2 * M; j++) other = fmaxf(other, fabsf(weights[2 * M + j]));
    double vn = 0;
    for (int j = 0; j < D; j++) vn += fabs(v[D + j]);
    snprintf(detail, cap, "%d slots, tau %.2g: weight on the written key %.3f; unwritten stream reads |v| %.2g",
             M, (double)sm.m.cfg.temperature, (double)best, vn);
    ok = best > 0.9f && vn == 0.0 && other == 0.0f;
    goto done;
fail:
    ok = fail_detail(detail, cap);
done:
    miras_release(&sm);
    return ok;
}

/* The read's gradient along a random direction over key, context and every
 * memory parameter, against central differences. */
enum { MG_D = 16, MG_M = 8, MG_B = 2 };

typedef struct {
    small_miras *sm;
    float key[MG_B * MG_D], ctxv[MG_B * MG_D], w[MG_B * MG_D], v[MG_B * MG_D];
    float *act;
} miras_grad;

static double miras_loss(void *user, tm_status *st) {
    miras_grad *g = user;
    *st = tm_miras_read_forward(&g->sm->m, &g->sm->s, g->v, NULL, g->act, g->key, g->ctxv, MG_B);
    double L = 0;
    for (int i = 0; i < MG_B * MG_D; i++) L += (double)g->w[i] * g->v[i];
    return L;
}

int tm_sanity_miras_read_gradient(char *detail, size_t cap) {
    enum { B = MG_B, D = MG_D };
    small_miras sm;
    miras_grad g = {.sm = &sm, .act = NULL};
    float *u = NULL;
    int ok = 0;
    if (miras_make(&sm, D, MG_M, B) != TM_OK) goto fail;
    tm_rng r;
    tm_rng_seed(&r, 23, 0);
    float value[B * D];
    for (int i = 0; i < 5; i++) {
        tm_rng_fill_normal(&r, g.key, B * D, 0, 1);
        tm_rng_fill_normal(&r, value, B * D, 0, 1);
        if (tm_miras_write(&sm.m, &sm.s, NULL, g.key, value, NULL, B) != TM_OK) goto fail;
    }
    tm_rng_fill_normal(&r, g.key, B * D, 0, 1);
    tm_rng_fill_normal(&r, g.ctxv, B * D, 0, 1);
    tm_rng_fill_normal(&r, g.w, B * D, 0, 1);
    g.act = malloc(tm_miras_read_act_floats(&sm.m.cfg, B) * sizeof(float));
    if (!g.act) goto fail;
    tm_status st;
    miras_loss(&g, &st);
    if (st != TM_OK) goto fail;
    float dkey[B * D] = {0}, dctx[B * D] = {0};
    tm_params_zero_grad(&sm.p);
    if (tm_miras_read_backward(&sm.m, &sm.s, dkey, dctx, g.w, g.key, g.ctxv, g.act, B) != TM_OK) goto fail;
    /* The variables in one direction: params, key, context. */
    size_t np = sm.p.n, n = np + 2 * B * D;
    u = malloc(n * sizeof *u);
    if (!u) goto fail;
    unit_direction(&r, u, n);
    double analytic = 0, numeric = 0;
    for (size_t i = 0; i < np; i++) analytic += (double)sm.p.grad[i] * u[i];
    for (int i = 0; i < B * D; i++) analytic += (double)dkey[i] * u[np + i] + (double)dctx[i] * u[np + B * D + i];
    dd_var vars[3] = {{sm.p.data, np}, {g.key, B * D}, {g.ctxv, B * D}};
    if (directional_derivative(&numeric, miras_loss, &g, vars, 3, u, 0.05) != TM_OK) goto fail;
    double rel = relative_error(analytic, numeric);
    snprintf(detail, cap, "%zu params + key + context, random direction: analytic %.6g numeric %.6g rel %.2g",
             np, analytic, numeric, rel);
    ok = rel < 1e-3;
    goto done;
fail:
    ok = fail_detail(detail, cap);
done:
    free(u);
    free(g.act);
    miras_release(&sm);
    return ok;
}

/* Top-k over a wrapped ring equals a brute-force sort of what it holds. */
int tm_sanity_kvcache_topk(char *detail, size_t cap) {
    enum { DK = 8, C = 16, WRITES = 23, K = 5 };
    tm_kvcache_config cfg = tm_kvcache_config_default(DK, DK);
    cfg.capacity = C;
    tm_kvcache_state *s = NULL;
    if (tm_kvcache_state_create(&s, &cfg, 1) != TM_OK) return fail_detail(detail, cap);
    tm_rng r;
    tm_rng_seed(&r, 24, 0);
    float keys[WRITES][DK], q[DK];
    for (int i = 0; i < WRITES; i++) {
        tm_rng_fill_normal(&r, keys[i], DK, 0, 1);
        if (tm_kvcache_write(s, keys[i], keys[i]) != TM_OK) {
            tm_kvcache_state_free(s);
            return fail_detail(detail, cap);
        }
    }
    tm_rng_fill_normal(&r, q, DK, 0, 1);
    float got_keys[K * DK], got_vals[K * DK], scores[K];
    int valid[K];
    tm_status st = tm_kvcache_retrieve(got_keys, got_vals, scores, valid, s, q, K);
    tm_kvcache_state_free(s);
    if (st != TM_OK) return fail_detail(detail, cap);
    /* Brute force over the last C writes (the ring holds exactly those). */
    double cosv[C];
    for (int i = 0; i < C; i++) {
        const float *k = keys[WRITES - C + i];
        double dot = 0, nk = 0, nq = 0;
        for (int j = 0; j < DK; j++) dot += (double)k[j] * q[j], nk += (double)k[j] * k[j], nq += (double)q[j] * q[j];
        cosv[i] = dot / sqrt(nk * nq);
    }
    double worst = 0;
    for (int rank = 0; rank < K; rank++) {
        int best = -1;
        for (int i = 0; i < C; i++)
            if (cosv[i] > -2 && (best < 0 || cosv[i] > cosv[best])) best = i;
        worst = fmax(worst, fabs(cosv[best] - scores[rank]) + (valid[rank] ? 0 : 1));
        for (int j = 0; j < DK; j++) worst = fmax(worst, fabs(got_keys[rank * DK + j] - keys[WRITES - C + best][j]));
        cosv[best] = -3;
    }
    snprintf(detail, cap, "capacity %d after %d writes, top-%d vs a sort: max diff %.2g", C, WRITES, K, worst);
    return worst < 1e-5;
}

/* Entropic OT plan meets both marginals. */
int tm_sanity_sinkhorn_marginals(char *detail, size_t cap) {
    enum { N = 5, M = 7 };
    float Cm[N * M], a[N], b[M], P[N * M], err = 0;
    float ws[64];
    if (tm_sinkhorn_workspace_floats(N, M) > 64) {
        snprintf(detail, cap, "workspace larger than expected");
        return 0;
    }
    tm_rng r;
    tm_rng_seed(&r, 25, 0);
    tm_rng_fill_uniform(&r, Cm, N * M, 0, 1);
    for (int i = 0; i < N; i++) a[i] = 1.0f / N;
    for (int j = 0; j < M; j++) b[j] = 1.0f / M;
    if (tm_sinkhorn_plan(P, &err, ws, Cm, a, b, 0.05f, 200, N, M) != TM_OK) return fail_detail(detail, cap);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < M; j++) s += P[i * M + j];
        worst = fmax(worst, fabs(s - a[i]));
    }
    for (int j = 0; j < M; j++) {
        double s = 0;
        for (int i = 0; i < N; i++) s += P[i * M + j];
        worst = fmax(worst, fabs(s - b[j]));
    }
    snprintf(detail, cap, "%dx%d, eps 0.05, 200 iterations: worst marginal error %.2g", N, M, worst);
    return worst < 1e-4;
}
