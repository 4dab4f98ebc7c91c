/* Dense layers (nn/linear, embedding, rmsnorm, layernorm, mlp): a
 * table-driven finite-difference gradcheck over inputs and every parameter,
 * forward values against direct double-precision computations, the
 * initialisations, parameter naming, the += gradient rule and errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "nn/embedding.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/rmsnorm.h"
#include "tests/gradcheck.h"

static float *fp(const tm_tensor *t) { return (float *)t->data; }
static long numel(const tm_tensor *t) { return (long)tm_tensor_numel(t); }

static tm_tensor alloc3(tm_dtype dt, int64_t B, int64_t T, int64_t C) {
    int64_t s[3] = {B, T, C};
    tm_tensor t;
    cr_assert_eq(tm_tensor_alloc(&t, dt, TM_CPU, C > 0 ? 3 : 2, s), TM_OK, "%s", tm_last_error());
    return t;
}
static tm_tensor alloc1(int64_t n) {
    tm_tensor t;
    cr_assert_eq(tm_tensor_alloc(&t, TM_F32, TM_CPU, 1, &n), TM_OK, "%s", tm_last_error());
    return t;
}

/* ---- one harness for every layer ------------------------------------------ */

typedef enum { L_LINEAR, L_EMBEDDING, L_RMSNORM, L_LAYERNORM, L_MLP } layer_kind;

typedef struct {
    layer_kind kind;
    tm_ctx ctx;
    tm_params p;
    tm_linear lin;
    tm_embedding emb;
    tm_rmsnorm rms;
    tm_layernorm ln;
    tm_mlp mlp;
    tm_tensor x, dx, ids, y, dy, act;
} layer_case;

static tm_status lc_forward(layer_case *c) {
    switch (c->kind) {
    case L_LINEAR: return tm_linear_forward(&c->ctx, &c->lin, &c->y, &c->x);
    case L_EMBEDDING: return tm_embedding_forward(&c->ctx, &c->emb, &c->y, &c->ids);
    case L_RMSNORM: return tm_rmsnorm_forward(&c->ctx, &c->rms, &c->y, &c->act, &c->x);
    case L_LAYERNORM: return tm_layernorm_forward(&c->ctx, &c->ln, &c->y, &c->act, &c->x);
    case L_MLP: return tm_mlp_forward(&c->ctx, &c->mlp, &c->y, &c->act, &c->x);
    }
    return TM_EINVAL;
}

static tm_status lc_backward(layer_case *c) {
    switch (c->kind) {
    case L_LINEAR: return tm_linear_backward(&c->ctx, &c->lin, &c->dx, &c->dy, &c->x);
    case L_EMBEDDING: return tm_embedding_backward(&c->ctx, &c->emb, &c->dy, &c->ids);
    case L_RMSNORM: return tm_rmsnorm_backward(&c->ctx, &c->rms, &c->dx, &c->dy, &c->x, &c->act);
    case L_LAYERNORM:
        return tm_layernorm_backward(&c->ctx, &c->ln, &c->dx, &c->dy, &c->x, &c->act);
    case L_MLP: return tm_mlp_backward(&c->ctx, &c->mlp, &c->dx, &c->dy, &c->x, &c->act);
    }
    return TM_EINVAL;
}

static double lc_loss(void *user) {
    layer_case *c = user;
    cr_assert_eq(lc_forward(c), TM_OK, "%s", tm_last_error());
    return tm_gc_dot(fp(&c->dy), fp(&c->y), numel(&c->y));
}

/* Builds a case: declares the layer, finalizes, binds, inits from the rng,
 * then perturbs every parameter away from its init (norm weights of exactly
 * 1 and biases of 0 would hide mistakes that multiply by them). */
static void lc_setup(layer_case *c, layer_kind kind, int B, int T, int d_in, int d_out,
                     int bias, const tm_mlp_config *mcfg, tm_rng *rng) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    cr_assert_eq(tm_ctx_init(&c->ctx, TM_CPU, 2), TM_OK);
    tm_params_init(&c->p);
    size_t act = 0;
    switch (kind) {
    case L_LINEAR: {
        tm_linear_config cfg = {d_in, d_out, bias};
        cr_assert_eq(tm_linear_declare(&c->lin, &cfg, &c->p, "lin"), TM_OK, "%s", tm_last_error());
        break;
    }
    case L_EMBEDDING: {
        tm_embedding_config cfg = tm_embedding_config_default(d_in, d_out);
        cr_assert_eq(tm_embedding_declare(&c->emb, &cfg, &c->p, "emb"), TM_OK);
        break;
    }
    case L_RMSNORM: {
        tm_rmsnorm_config cfg = tm_rmsnorm_config_default(d_in);
        cr_assert_eq(tm_rmsnorm_declare(&c->rms, &cfg, &c->p, "norm"), TM_OK);
        act = tm_rmsnorm_act_floats(&cfg, B, T);
        break;
    }
    case L_LAYERNORM: {
        tm_layernorm_config cfg = tm_layernorm_config_default(d_in);
        cr_assert_eq(tm_layernorm_declare(&c->ln, &cfg, &c->p, "ln"), TM_OK);
        act = tm_layernorm_act_floats(&cfg, B, T);
        break;
    }
    case L_MLP:
        cr_assert_eq(tm_mlp_declare(&c->mlp, mcfg, &c->p, "mlp"), TM_OK, "%s", tm_last_error());
        act = tm_mlp_act_floats(mcfg, B, T);
        cr_assert_eq(tm_ctx_reserve(&c->ctx, tm_mlp_scratch_floats(mcfg, B, T)), TM_OK);
        break;
    }
    cr_assert_eq(tm_params_finalize(&c->p), TM_OK, "%s", tm_last_error());
    switch (kind) {
    case L_LINEAR: tm_linear_bind(&c->lin, &c->p); tm_linear_init(&c->lin, rng); break;
    case L_EMBEDDING: tm_embedding_bind(&c->emb, &c->p); tm_embedding_init(&c->emb, rng); break;
    case L_RMSNORM: tm_rmsnorm_bind(&c->rms, &c->p); tm_rmsnorm_init(&c->rms); break;
    case L_LAYERNORM: tm_layernorm_bind(&c->ln, &c->p); tm_layernorm_init(&c->ln); break;
    case L_MLP: tm_mlp_bind(&c->mlp, &c->p); tm_mlp_init(&c->mlp, rng); break;
    }
    for (int v = 0; v < c->p.n_views; v++) {
        float *w = tm_params_at(&c->p, c->p.views[v].offset);
        for (size_t i = 0; i < c->p.views[v].numel; i++) w[i] += 0.3f * tm_rng_normal(rng);
    }
    if (kind == L_EMBEDDING) {
        c->ids = alloc3(TM_I32, B, T, 0);
        for (long i = 0; i < numel(&c->ids); i++)
            ((int32_t *)c->ids.data)[i] = (int32_t)tm_rng_below(rng, (uint64_t)d_in);
        c->y = alloc3(TM_F32, B, T, d_out);
    } else {
        int out_dim = kind == L_MLP ? mcfg->d_out : (kind == L_LINEAR ? d_out : d_in);
        c->x = alloc3(TM_F32, B, T, d_in);
        c->dx = alloc3(TM_F32, B, T, d_in);
        tm_rng_fill_normal(rng, fp(&c->x), numel(&c->x), 0.3f, 1.0f);
        c->y = alloc3(TM_F32, B, T, out_dim);
    }
    c->dy = alloc3(TM_F32, B, T, c->y.shape[2]);
    tm_rng_fill_normal(rng, fp(&c->dy), numel(&c->dy), 0.0f, 1.0f);
    c->act = alloc1(act > 0 ? (int64_t)act : 1);
}

static void lc_free(layer_case *c) {
    tm_tensor_free(&c->x);
    tm_tensor_free(&c->dx);
    tm_tensor_free(&c->ids);
    tm_tensor_free(&c->y);
    tm_tensor_free(&c->dy);
    tm_tensor_free(&c->act);
    tm_params_free(&c->p);
    tm_ctx_free(&c->ctx);
}

/* Forward, backward (grads zeroed first), then the check over the input and
 * every parameter view. */
static tm_gc_result lc_check(layer_case *c) {
    cr_assert_eq(lc_forward(c), TM_OK, "%s", tm_last_error());
    tm_params_zero_grad(&c->p);
    cr_assert_eq(lc_backward(c), TM_OK, "%s", tm_last_error());
    tm_gc_var vars[16];
    int n = 0;
    if (c->kind != L_EMBEDDING) vars[n++] = (tm_gc_var){"in", fp(&c->x), fp(&c->dx), numel(&c->x)};
    for (int v = 0; v < c->p.n_views && n < 16; v++) {
        const tm_param_view *pv = &c->p.views[v];
        vars[n++] = (tm_gc_var){pv->name, tm_params_at(&c->p, pv->offset),
                                tm_params_grad_at(&c->p, pv->offset), (long)pv->numel};
    }
    tm_gc_result r = tm_gradcheck(lc_loss, c, vars, n, tm_gc_precise_opts());
    lc_free(c);
    return r;
}

/* dims {B, T, d_in, d_out or hidden, variant} */
static tm_gc_result row_linear(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    layer_case c;
    lc_setup(&c, L_LINEAR, row->dims[0], row->dims[1], row->dims[2], row->dims[3], !row->dims[4],
             NULL, &r);
    return lc_check(&c);
}
static tm_gc_result row_embedding(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    layer_case c;
    lc_setup(&c, L_EMBEDDING, row->dims[0], row->dims[1], row->dims[2], row->dims[3], 0, NULL, &r);
    return lc_check(&c);
}
static tm_gc_result row_rmsnorm(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    layer_case c;
    lc_setup(&c, L_RMSNORM, row->dims[0], row->dims[1], row->dims[2], 0, 0, NULL, &r);
    return lc_check(&c);
}
static tm_gc_result row_layernorm(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    layer_case c;
    lc_setup(&c, L_LAYERNORM, row->dims[0], row->dims[1], row->dims[2], 0, 0, NULL, &r);
    return lc_check(&c);
}
/* dims {B, T, d_in, hidden, variant: 0 GELU tanh, 1 GELU erf, 2 SwiGLU, 3 GELU d_out = 1} */
static tm_gc_result row_mlp(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    const int *d = row->dims;
    tm_mlp_config cfg = d[4] == 2 ? tm_mlp_config_swiglu(d[2], d[3]) : tm_mlp_config_default(d[2]);
    cfg.d_hidden = d[3];
    if (d[4] == 1) cfg.act = TM_ACT_GELU_ERF;
    if (d[4] == 3) cfg.d_out = 1;
    layer_case c;
    lc_setup(&c, L_MLP, d[0], d[1], d[2], 0, 0, &cfg, &r);
    return lc_check(&c);
}

static const tm_gc_row layer_rows[] = {
    {"linear", {2, 3, 7, 5, 0}, row_linear, 0},
    {"linear no bias, T=13", {1, 13, 4, 9, 1}, row_linear, 0},
    {"embedding", {2, 7, 11, 6}, row_embedding, 0},
    {"rmsnorm", {2, 5, 7}, row_rmsnorm, 0},
    {"rmsnorm C=33", {3, 1, 33}, row_rmsnorm, 0},
    {"layernorm", {2, 5, 7}, row_layernorm, 0},
    {"layernorm T=13", {1, 13, 10}, row_layernorm, 0},
    {"mlp gelu", {2, 3, 5, 11, 0}, row_mlp, 0},
    {"mlp gelu erf", {1, 13, 4, 7, 1}, row_mlp, 0},
    {"mlp swiglu", {2, 3, 6, 13, 2}, row_mlp, 0},
    {"mlp d -> d/4 -> 1", {2, 5, 8, 2, 3}, row_mlp, 0},
};

Test(nn_dense, every_layer_backward_matches_central_differences) {
    for (size_t i = 0; i < sizeof layer_rows / sizeof layer_rows[0]; i++) {
        const tm_gc_row *row = &layer_rows[i];
        tm_gc_result res = row->run(row, 2000 + i);
        double tol = row->tol > 0 ? row->tol : TM_GC_TOL;
        cr_log_info("%s: %s", row->name, res.msg); /* shown with --verbose */
        cr_expect(res.checked > 0, "%s: nothing checked", row->name);
        cr_expect(res.worst < tol, "%s: %s", row->name, res.msg);
    }
}

/* ---- forward values ------------------------------------------------------ */

static double gelu_tanh_d(double x) {
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double silu_d(double x) { return x / (1.0 + exp(-x)); }

/* out[o] = b[o] + sum_i W[o, i] x[i] for one row, in double. */
static void linear_ref(double *out, const float *x, const tm_linear *l) {
    for (int o = 0; o < l->cfg.d_out; o++) {
        double s = l->b ? l->b[o] : 0.0;
        for (int i = 0; i < l->cfg.d_in; i++) s += (double)l->w[o * l->cfg.d_in + i] * x[i];
        out[o] = s;
    }
}

Test(nn_dense, mlp_forward_equals_a_direct_double_computation_for_both_variants) {
    for (int variant = 0; variant < 2; variant++) {
        tm_rng r;
        tm_rng_seed(&r, 31, (uint64_t)variant);
        int d = 6, H = 10, B = 2, T = 3;
        tm_mlp_config cfg = variant ? tm_mlp_config_swiglu(d, H) : tm_mlp_config_default(d);
        cfg.d_hidden = H;
        layer_case c;
        lc_setup(&c, L_MLP, B, T, d, 0, 0, &cfg, &r);
        cr_assert_eq(lc_forward(&c), TM_OK, "%s", tm_last_error());
        double h1[16], h3[16], a[16], out[16];
        for (int n = 0; n < B * T; n++) {
            const float *x = fp(&c.x) + n * d;
            linear_ref(h1, x, &c.mlp.fc1);
            float af[16];
            if (variant) {
                linear_ref(h3, x, &c.mlp.w3);
                for (int j = 0; j < H; j++) a[j] = silu_d(h1[j]) * h3[j];
            } else {
                for (int j = 0; j < H; j++) a[j] = gelu_tanh_d(h1[j]);
            }
            for (int j = 0; j < H; j++) af[j] = (float)a[j];
            linear_ref(out, af, &c.mlp.fc2);
            for (int o = 0; o < d; o++)
                cr_expect(fabs(fp(&c.y)[n * d + o] - out[o]) < 1e-4 * (1 + fabs(out[o])),
                          "variant %d row %d out %d: got %g want %g", variant, n, o,
                          (double)fp(&c.y)[n * d + o], out[o]);
        }
        lc_free(&c);
    }
}

Test(nn_dense, linear_on_a_3d_input_is_x_times_w_transpose_plus_b_per_row) {
    tm_rng r;
    tm_rng_seed(&r, 32, 0);
    layer_case c;
    lc_setup(&c, L_LINEAR, 2, 5, 7, 3, 1, NULL, &r);
    cr_assert_eq(lc_forward(&c), TM_OK, "%s", tm_last_error());
    double want[3];
    for (int n = 0; n < 10; n++) {
        linear_ref(want, fp(&c.x) + n * 7, &c.lin);
        for (int o = 0; o < 3; o++)
            cr_expect(fabs(fp(&c.y)[n * 3 + o] - want[o]) < 1e-5 * (1 + fabs(want[o])));
    }
    lc_free(&c);
}

/* ---- initialisation and parameters ---------------------------------------- */

Test(nn_dense, inits_follow_pytorch_defaults_and_are_deterministic_per_seed) {
    int d_in = 50, d_out = 40;
    tm_params p[2];
    tm_linear l[2];
    for (int k = 0; k < 2; k++) {
        tm_params_init(&p[k]);
        tm_linear_config cfg = tm_linear_config_default(d_in, d_out);
        cr_assert_eq(tm_linear_declare(&l[k], &cfg, &p[k], "fc"), TM_OK);
        cr_assert_eq(tm_params_finalize(&p[k]), TM_OK);
        tm_linear_bind(&l[k], &p[k]);
        tm_rng r;
        tm_rng_seed(&r, 77, 0);
        tm_linear_init(&l[k], &r);
    }
    float bound = 1.0f / sqrtf((float)d_in), wmax = 0.0f;
    double sum = 0.0;
    for (int i = 0; i < d_in * d_out; i++) {
        cr_assert(fabsf(l[0].w[i]) <= bound, "w[%d] = %g outside +-%g", i, (double)l[0].w[i], (double)bound);
        wmax = fmaxf(wmax, fabsf(l[0].w[i]));
        sum += l[0].w[i];
    }
    cr_expect(wmax > 0.95f * bound, "2000 uniform draws should reach near the bound (max %g)", (double)wmax);
    cr_expect(fabs(sum / (d_in * d_out)) < 0.1 * bound, "mean %g not near 0", sum / (d_in * d_out));
    for (int i = 0; i < d_out; i++) cr_assert(fabsf(l[0].b[i]) <= bound);
    cr_expect(memcmp(p[0].data, p[1].data, p[0].n * sizeof(float)) == 0, "same seed, different init");
    for (int k = 0; k < 2; k++) tm_params_free(&p[k]);

    tm_params q;
    tm_params_init(&q);
    tm_rmsnorm rms;
    tm_layernorm ln;
    tm_embedding emb;
    tm_rmsnorm_config rc = tm_rmsnorm_config_default(9);
    tm_layernorm_config lc = tm_layernorm_config_default(9);
    tm_embedding_config ec = tm_embedding_config_default(100, 40);
    cr_assert_eq(tm_rmsnorm_declare(&rms, &rc, &q, "rms"), TM_OK);
    cr_assert_eq(tm_layernorm_declare(&ln, &lc, &q, "ln"), TM_OK);
    cr_assert_eq(tm_embedding_declare(&emb, &ec, &q, "emb"), TM_OK);
    cr_assert_eq(tm_params_finalize(&q), TM_OK);
    tm_rmsnorm_bind(&rms, &q);
    tm_layernorm_bind(&ln, &q);
    tm_embedding_bind(&emb, &q);
    tm_rng r;
    tm_rng_seed(&r, 78, 0);
    tm_rmsnorm_init(&rms);
    tm_layernorm_init(&ln);
    tm_embedding_init(&emb, &r);
    for (int i = 0; i < 9; i++) {
        cr_expect_eq(rms.w[i], 1.0f);
        cr_expect_eq(ln.w[i], 1.0f);
        cr_expect_eq(ln.b[i], 0.0f);
    }
    double s = 0.0, ss = 0.0;
    for (int i = 0; i < 4000; i++) {
        s += emb.w[i];
        ss += (double)emb.w[i] * emb.w[i];
    }
    double sd = sqrt(ss / 4000 - (s / 4000) * (s / 4000));
    cr_expect(fabs(sd - 1.0) < 0.05, "embedding std %g, want 1", sd);
    tm_params_free(&q);
}

Test(nn_dense, layers_declare_named_views_and_exempt_biases_and_norms_from_decay) {
    tm_params p;
    tm_params_init(&p);
    tm_mlp gelu, swi;
    tm_rmsnorm rms;
    tm_mlp_config gc = tm_mlp_config_default(8), sc = tm_mlp_config_swiglu(8, 20);
    tm_rmsnorm_config rc = tm_rmsnorm_config_default(8);
    cr_assert_eq(tm_mlp_declare(&gelu, &gc, &p, "a"), TM_OK);
    cr_assert_eq(tm_mlp_declare(&swi, &sc, &p, "b"), TM_OK);
    cr_assert_eq(tm_rmsnorm_declare(&rms, &rc, &p, "n"), TM_OK);
    const tm_param_view *v = tm_params_find(&p, "a.fc1.weight");
    cr_assert(v);
    cr_expect(v->shape[0] == 32 && v->shape[1] == 8, "fc1 is [4d, d]");
    cr_expect_eq(v->flags & TM_PARAM_NO_DECAY, 0u);
    cr_assert(tm_params_find(&p, "a.fc2.bias"));
    cr_expect(tm_params_find(&p, "a.fc2.bias")->flags & TM_PARAM_NO_DECAY);
    cr_expect(tm_params_find(&p, "n.weight")->flags & TM_PARAM_NO_DECAY);
    cr_assert(tm_params_find(&p, "b.w1.weight") && tm_params_find(&p, "b.w2.weight") &&
              tm_params_find(&p, "b.w3.weight"));
    cr_expect(tm_params_find(&p, "b.w1.bias") == NULL, "swiglu has no bias");
    cr_expect(tm_params_find(&p, "b.w2.weight")->shape[1] == 20, "w2 is [d, hidden]");
    /* Declaring the same prefix twice is refused by the parameter vector. */
    cr_expect_eq(tm_rmsnorm_declare(&rms, &rc, &p, "n"), TM_EINVAL);
    tm_params_free(&p);
}

Test(nn_dense, backward_accumulates_so_two_calls_give_twice_the_gradient) {
    tm_rng r;
    tm_rng_seed(&r, 40, 0);
    tm_mlp_config cfg = tm_mlp_config_swiglu(5, 9);
    layer_case c;
    lc_setup(&c, L_MLP, 2, 3, 5, 0, 0, &cfg, &r);
    cr_assert_eq(lc_forward(&c), TM_OK);
    tm_params_zero_grad(&c.p);
    memset(c.dx.data, 0, tm_tensor_nbytes(&c.dx));
    cr_assert_eq(lc_backward(&c), TM_OK, "%s", tm_last_error());
    float *once = malloc(c.p.n * sizeof(float)), *dx1 = malloc(tm_tensor_nbytes(&c.dx));
    memcpy(once, c.p.grad, c.p.n * sizeof(float));
    memcpy(dx1, c.dx.data, tm_tensor_nbytes(&c.dx));
    cr_assert_eq(lc_backward(&c), TM_OK);
    for (size_t i = 0; i < c.p.n; i++)
        cr_assert(fabsf(c.p.grad[i] - 2.0f * once[i]) <= 1e-6f * (1.0f + fabsf(once[i])), "grad[%zu]", i);
    for (long i = 0; i < numel(&c.dx); i++)
        cr_assert(fabsf(fp(&c.dx)[i] - 2.0f * dx1[i]) <= 1e-6f * (1.0f + fabsf(dx1[i])), "dx[%ld]", i);
    free(once);
    free(dx1);
    lc_free(&c);
}

/* ---- errors ------------------------------------------------------------------ */

Test(nn_dense, bad_configs_shapes_and_missing_scratch_are_reported) {
    tm_params p;
    tm_params_init(&p);
    tm_linear l;
    tm_linear_config bad = {0, 4, 1};
    cr_expect_eq(tm_linear_declare(&l, &bad, &p, "fc"), TM_EINVAL);
    cr_expect(strstr(tm_last_error(), "linear fc") && strstr(tm_last_error(), "d_in"), "%s",
              tm_last_error());
    tm_mlp m;
    tm_mlp_config sc = tm_mlp_config_swiglu(4, 8);
    sc.bias = 1;
    cr_expect_eq(tm_mlp_declare(&m, &sc, &p, "m"), TM_EINVAL);
    tm_embedding_config ec = tm_embedding_config_default(0, 3);
    tm_embedding e;
    cr_expect_eq(tm_embedding_declare(&e, &ec, &p, "emb"), TM_EINVAL);
    tm_params_free(&p);

    tm_rng r;
    tm_rng_seed(&r, 50, 0);
    layer_case c;
    tm_mlp_config gc = tm_mlp_config_default(4);
    lc_setup(&c, L_MLP, 1, 3, 4, 0, 0, &gc, &r);
    cr_assert_eq(lc_forward(&c), TM_OK);
    tm_ctx_free(&c.ctx); /* drops the reserved scratch */
    cr_expect_eq(lc_backward(&c), TM_ENOMEM);
    cr_expect(strstr(tm_last_error(), "tm_ctx_reserve"), "%s", tm_last_error());
    /* An input whose last dim is not d_in. */
    tm_tensor wrong = alloc3(TM_F32, 1, 3, 5);
    cr_expect_eq(tm_mlp_forward(&c.ctx, &c.mlp, &c.y, &c.act, &wrong), TM_EINVAL);
    cr_expect(strstr(tm_last_error(), "mlp") && strstr(tm_last_error(), "last dim 4"), "%s",
              tm_last_error());
    /* An activation buffer too small for the rows. */
    tm_tensor small = alloc1(5);
    cr_expect_eq(tm_mlp_forward(&c.ctx, &c.mlp, &c.y, &small, &c.x), TM_EINVAL);
    cr_expect(strstr(tm_last_error(), "act"), "%s", tm_last_error());
    tm_tensor_free(&wrong);
    tm_tensor_free(&small);
    lc_free(&c);
}
