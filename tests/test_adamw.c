/* tm_adamw: hand-computed steps, decoupled decay, convergence, bad input. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "core/adamw.h"
#include "core/params.h"

/* "w" [4] decays, "b" [2] does not (the layout a linear layer declares). */
static void make_params(tm_params *p, size_t *w, size_t *b) {
    tm_params_init(p);
    int64_t ws[1] = {4}, bs[1] = {2};
    cr_assert_eq(tm_params_declare(p, "w", 1, ws, 0, w), TM_OK);
    cr_assert_eq(tm_params_declare(p, "b", 1, bs, TM_PARAM_NO_DECAY, b), TM_OK);
    cr_assert_eq(tm_params_finalize(p), TM_OK);
}

static const double x0[6] = {0.5, -1.25, 2.0, 0.0, 0.75, -0.3};
/* A different gradient each step, with mixed signs and scales. */
static double grad_of(int step, int i) { return 0.1 * (i + 1) * (step % 2 ? -1.0 : 1.0) + 0.02 * step * i - 0.05; }

/* The AdamW formula, evaluated in double from the definition (PyTorch order). */
static void reference(double *x, int steps, double lr_base, double b1, double b2, double eps,
                      double wd, const int *decays) {
    double m[6] = {0}, v[6] = {0};
    for (int t = 1; t <= steps; t++) {
        double lr = lr_base * t; /* the test passes a different lr each step */
        for (int i = 0; i < 6; i++) {
            double g = grad_of(t, i);
            if (decays[i]) x[i] *= 1.0 - lr * wd;
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            double mhat = m[i] / (1 - pow(b1, t)), vhat = v[i] / (1 - pow(b2, t));
            x[i] -= lr * mhat / (sqrt(vhat) + eps);
        }
    }
}

static void check_three_steps(float wd) {
    tm_params p;
    size_t w, b;
    make_params(&p, &w, &b);
    float *xw = tm_params_at(&p, w), *xb = tm_params_at(&p, b);
    float *gw = tm_params_grad_at(&p, w), *gb = tm_params_grad_at(&p, b);
    for (int i = 0; i < 4; i++) xw[i] = (float)x0[i];
    for (int i = 0; i < 2; i++) xb[i] = (float)x0[4 + i];
    tm_adamw_config cfg = tm_adamw_config_default();
    cfg.weight_decay = wd;
    cfg.beta1 = 0.8f;
    cfg.beta2 = 0.95f;
    cfg.eps = 1e-3f; /* large enough that eps matters in the formula */
    tm_adamw opt;
    cr_assert_eq(tm_adamw_create(&opt, cfg, &p), TM_OK);
    const double lr = 0.01;
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < 4; i++) gw[i] = (float)grad_of(t, i);
        for (int i = 0; i < 2; i++) gb[i] = (float)grad_of(t, 4 + i);
        cr_assert_eq(tm_adamw_step(&opt, &p, (float)(lr * t)), TM_OK);
    }
    cr_assert_eq(opt.t, 3);
    double want[6];
    memcpy(want, x0, sizeof want);
    for (int i = 0; i < 6; i++) want[i] = (float)want[i];
    const int decays[6] = {1, 1, 1, 1, 0, 0};
    reference(want, 3, lr, (float)cfg.beta1, (float)cfg.beta2, (float)cfg.eps, wd, decays);
    for (int i = 0; i < 6; i++) {
        double got = i < 4 ? xw[i] : xb[i - 4];
        cr_assert(fabs(got - want[i]) < 1e-6 * (1 + fabs(want[i])), "x[%d] = %.9g, want %.9g", i,
                  got, want[i]);
    }
    tm_adamw_free(&opt);
    tm_params_free(&p);
}

Test(adamw, three_steps_match_the_formula_without_decay) { check_three_steps(0.0f); }
Test(adamw, three_steps_match_the_formula_with_decay_except_no_decay_params) {
    check_three_steps(0.5f);
}

Test(adamw, decay_alone_shrinks_only_decayed_params) {
    /* With zero gradients Adam's step is 0, so only p *= 1 - lr wd remains. */
    tm_params p;
    size_t w, b;
    make_params(&p, &w, &b);
    float *xw = tm_params_at(&p, w), *xb = tm_params_at(&p, b);
    xw[0] = 2.0f;
    xb[0] = 2.0f;
    tm_adamw_config cfg = tm_adamw_config_default();
    cfg.weight_decay = 0.1f;
    tm_adamw opt;
    cr_assert_eq(tm_adamw_create(&opt, cfg, &p), TM_OK);
    cr_assert_eq(tm_adamw_step(&opt, &p, 0.5f), TM_OK);
    cr_assert_float_eq(xw[0], 2.0f * (1.0f - 0.05f), 1e-7);
    cr_assert_eq(xb[0], 2.0f);
    tm_adamw_free(&opt);
    tm_params_free(&p);
}

Test(adamw, quadratic_converges_to_its_minimum) {
    /* f(x) = sum_i a_i (x_i - c_i)^2 / 2 with condition number 100. */
    tm_params p;
    tm_params_init(&p);
    int64_t s[1] = {8};
    size_t off;
    cr_assert_eq(tm_params_declare(&p, "x", 1, s, TM_PARAM_NO_DECAY, &off), TM_OK);
    cr_assert_eq(tm_params_finalize(&p), TM_OK);
    float *x = tm_params_at(&p, off), *g = tm_params_grad_at(&p, off);
    double a[8], c[8];
    for (int i = 0; i < 8; i++) {
        a[i] = pow(100.0, i / 7.0);
        c[i] = 1.5 - 0.4 * i;
        x[i] = 3.0f;
    }
    tm_adamw_config cfg = tm_adamw_config_default();
    cfg.lr = 0.05f;
    tm_adamw opt;
    cr_assert_eq(tm_adamw_create(&opt, cfg, &p), TM_OK);
    for (int step = 0; step < 2000; step++) {
        /* A decaying rate lets Adam settle instead of orbiting the minimum. */
        float lr = cfg.lr * (1.0f - (float)step / 2000.0f);
        for (int i = 0; i < 8; i++) g[i] = (float)(a[i] * (x[i] - c[i]));
        cr_assert_eq(tm_adamw_step(&opt, &p, lr), TM_OK);
    }
    for (int i = 0; i < 8; i++)
        cr_assert(fabs(x[i] - c[i]) < 1e-2, "x[%d] = %g, minimum at %g", i, x[i], c[i]);
    tm_adamw_free(&opt);
    tm_params_free(&p);
}

Test(adamw, bad_config_rejected) {
    tm_params p;
    size_t w, b;
    make_params(&p, &w, &b);
    struct { const char *field; tm_adamw_config cfg; } rows[] = {
        {"lr", {.lr = NAN, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}},
        {"lr", {.lr = 0.0f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}},
        {"beta1", {.lr = 1e-3f, .beta1 = 1.0f, .beta2 = 0.999f, .eps = 1e-8f}},
        {"beta1", {.lr = 1e-3f, .beta1 = -0.1f, .beta2 = 0.999f, .eps = 1e-8f}},
        {"beta2", {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 1.5f, .eps = 1e-8f}},
        {"eps", {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 0.0f}},
        {"weight_decay", {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                          .weight_decay = -1.0f}},
        {"weight_decay", {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                          .weight_decay = INFINITY}},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        tm_adamw opt;
        cr_assert_eq(tm_adamw_create(&opt, rows[k].cfg, &p), TM_EINVAL, "row %zu", k);
        cr_assert(strstr(tm_last_error(), rows[k].field), "row %zu: %s", k, tm_last_error());
        cr_assert_null(opt.m);
    }
    tm_params_free(&p);
    tm_params unfinished;
    tm_params_init(&unfinished);
    tm_adamw opt;
    cr_assert_eq(tm_adamw_create(&opt, tm_adamw_config_default(), &unfinished), TM_ESTATE);
}

Test(adamw, bad_lr_or_gradient_leaves_everything_untouched) {
    tm_params p;
    size_t w, b;
    make_params(&p, &w, &b);
    tm_adamw opt;
    cr_assert_eq(tm_adamw_create(&opt, tm_adamw_config_default(), &p), TM_OK);
    for (size_t i = 0; i < p.n; i++) p.grad[i] = 0.5f;
    cr_assert_eq(tm_adamw_step(&opt, &p, 1e-2f), TM_OK);
    float before[32];
    cr_assert_leq(p.n, 32);
    memcpy(before, p.data, p.n * sizeof(float));
    cr_assert_eq(tm_adamw_step(&opt, &p, NAN), TM_EINVAL);
    cr_assert_eq(tm_adamw_step(&opt, &p, INFINITY), TM_EINVAL);
    cr_assert_eq(tm_adamw_step(&opt, &p, -1e-3f), TM_EINVAL);
    p.grad[b + 1] = INFINITY;
    float m1 = opt.m[b + 1];
    cr_assert_eq(tm_adamw_step(&opt, &p, 1e-2f), TM_ENUMERIC);
    cr_assert(strstr(tm_last_error(), "'b'"), "message: %s", tm_last_error());
    cr_assert_eq(opt.t, 1);
    cr_assert_eq(opt.m[b + 1], m1);
    cr_assert_eq(memcmp(before, p.data, p.n * sizeof(float)), 0);
    tm_adamw_free(&opt);
    tm_params_free(&p);
}

Test(adamw, state_copied_out_and_back_continues_identically) {
    /* What a checkpoint does: copy m, v and t into a fresh optimizer. */
    tm_params p, q;
    size_t w, b;
    make_params(&p, &w, &b);
    make_params(&q, &w, &b);
    tm_adamw_config cfg = tm_adamw_config_default();
    cfg.weight_decay = 0.01f;
    tm_adamw a, c;
    cr_assert_eq(tm_adamw_create(&a, cfg, &p), TM_OK);
    cr_assert_eq(tm_adamw_create(&c, cfg, &q), TM_OK);
    for (int t = 1; t <= 5; t++) {
        for (size_t i = 0; i < p.n; i++) p.grad[i] = (float)grad_of(t, (int)i);
        cr_assert_eq(tm_adamw_step(&a, &p, 1e-2f), TM_OK);
    }
    memcpy(q.data, p.data, p.n * sizeof(float));
    memcpy(c.m, a.m, a.n * sizeof(float));
    memcpy(c.v, a.v, a.n * sizeof(float));
    c.t = a.t;
    for (int t = 6; t <= 8; t++) {
        for (size_t i = 0; i < p.n; i++) p.grad[i] = q.grad[i] = (float)grad_of(t, (int)i);
        cr_assert_eq(tm_adamw_step(&a, &p, 1e-2f), TM_OK);
        cr_assert_eq(tm_adamw_step(&c, &q, 1e-2f), TM_OK);
    }
    cr_assert_eq(memcmp(p.data, q.data, p.n * sizeof(float)), 0);
    tm_adamw_reset(&c);
    cr_assert_eq(c.t, 0);
    cr_assert_eq(c.m[0], 0.0f);
    tm_adamw_free(&a);
    tm_adamw_free(&c);
    tm_adamw_free(&c);
    tm_params_free(&p);
    tm_params_free(&q);
}
