/* The layers with a public reference against golden files made by PyTorch
 * (issue 3 item 3; shared DESIGN.md "Reference fixtures"): RMSNorm,
 * LayerNorm, attention with RoPE/GQA/window/episode starts, the Mamba block.
 * tests/fixtures/make_nn_fixtures.py wrote tests/fixtures/nn/<layer>.safetensors
 * (input, dout, output, grad.input, param.<name>, grad.<name>, the config as
 * metadata); the files are committed, so a missing one is a failure.
 *
 * Tolerances (issue 3): outputs 1e-5 relative, gradients 1e-4 relative, as
 * |got - want| <= rel * max(|want|, floor). The reference is float64 rounded
 * once to float32; the C layer computes in float32, so an entry that is a sum
 * of terms of the tensor's typical size which cancel to near zero carries the
 * rounding error of those terms (a few float32 ulps of the tensor's scale,
 * ulp = 1.2e-7 relative), not of itself. The floor is therefore the tensor's
 * own scale, FLOOR_FRAC * max|want| over the tensor: with 0.1 an output entry
 * is allowed an absolute error of 1e-6 * max (about 8 ulps of the largest
 * entry), never more; a wrong mask, position, tap or episode reset moves
 * entries by orders of magnitude more. (With 0.01 the allowance would be one
 * ulp of the scale, which the attention output's near-zero entries exceed
 * by rounding alone: 7.7e-8 absolute on a scale of 0.65.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "core/safetensors.h"
#include "kernels/ops.h"
#include "nn/attention.h"
#include "nn/layernorm.h"
#include "nn/mamba.h"
#include "nn/rmsnorm.h"

#define OUT_REL 1e-5
#define GRAD_REL 1e-4
#define FLOOR_FRAC 0.1

/* One fixture being checked: the file, the input and upstream gradient it
 * holds, and the C layer's results. */
typedef struct {
    tm_st_file f;
    tm_ctx ctx;
    tm_params p;
    int B, T, d;
    float *x, *dout, *out, *dx;
} fixture;

static void open_fixture(fixture *c, const char *layer) {
    memset(c, 0, sizeof *c);
    const char *root = getenv("TM_SOURCE_DIR");
    if (!root) root = TM_SOURCE_DIR;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/nn/%s.safetensors", root, layer);
    cr_assert_eq(tm_st_read(&c->f, path), TM_OK, "fixture %s: %s", path, tm_last_error());
    const tm_st_entry *e = tm_st_find(&c->f, "input");
    cr_assert(e && e->ndim == 3, "%s: no [B,T,d] tensor \"input\"", path);
    c->B = (int)e->shape[0], c->T = (int)e->shape[1], c->d = (int)e->shape[2];
    cr_assert_eq(tm_ctx_init(&c->ctx, TM_CPU, 2), TM_OK, "%s", tm_last_error());
    tm_params_init(&c->p);
}

static void close_fixture(fixture *c) {
    free(c->x), free(c->dout), free(c->out), free(c->dx);
    tm_params_free(&c->p);
    tm_ctx_free(&c->ctx);
    tm_st_close(&c->f);
}

/* A copy of tensor `name`, which must be f32 with the given shape. */
static float *load_f32(const fixture *c, const char *name, int ndim, const int64_t *shape) {
    const tm_st_entry *e = tm_st_find(&c->f, name);
    cr_assert(e != NULL, "%s: no tensor \"%s\"", c->f.source, name);
    cr_assert_eq(tm_st_expect(&c->f, e, TM_F32, ndim, shape), TM_OK, "%s", tm_last_error());
    size_t n = (e->end - e->begin) / sizeof(float);
    float *p = calloc(n ? n : 1, sizeof(float));
    cr_assert_eq(tm_st_copy(p, n * sizeof(float), e), TM_OK, "%s", tm_last_error());
    return p;
}

static int32_t *load_starts(const fixture *c) {
    const tm_st_entry *e = tm_st_find(&c->f, "start");
    cr_assert(e != NULL, "%s: no tensor \"start\"", c->f.source);
    int64_t shape[2] = {c->B, c->T};
    cr_assert_eq(tm_st_expect(&c->f, e, TM_I32, 2, shape), TM_OK, "%s", tm_last_error());
    int32_t *s = calloc((size_t)c->B * c->T, sizeof(int32_t));
    cr_assert_eq(tm_st_copy(s, (size_t)c->B * c->T * sizeof(int32_t), e), TM_OK, "%s",
                 tm_last_error());
    return s;
}

static double meta_num(const fixture *c, const char *key) {
    const char *v = tm_st_meta(&c->f, key);
    cr_assert(v != NULL, "%s: no metadata \"%s\"", c->f.source, key);
    return strtod(v, NULL);
}

/* After the layer has declared its parameters: finalizes, and reads every
 * parameter from "param.<name>" (the file must hold exactly those). The
 * caller binds afterwards. Also loads x and dout and allocates out, dx. */
static void load_params_and_io(fixture *c) {
    cr_assert_eq(tm_params_finalize(&c->p), TM_OK, "%s", tm_last_error());
    char name[TM_PARAM_NAME_MAX + 8];
    for (int i = 0; i < c->p.n_views; i++) {
        const tm_param_view *v = &c->p.views[i];
        snprintf(name, sizeof name, "param.%s", v->name);
        float *w = load_f32(c, name, v->ndim, v->shape);
        memcpy(c->p.data + v->offset, w, v->numel * sizeof(float));
        free(w);
    }
    int in_file = 0;
    for (int i = 0; i < c->f.n_entries; i++) in_file += !strncmp(c->f.entries[i].name, "param.", 6);
    cr_assert_eq(in_file, c->p.n_views, "%s: %d parameters in the file, the layer has %d",
                 c->f.source, in_file, c->p.n_views);
    int64_t shape[3] = {c->B, c->T, c->d};
    long n = (long)c->B * c->T * c->d;
    c->x = load_f32(c, "input", 3, shape);
    c->dout = load_f32(c, "dout", 3, shape);
    c->out = calloc((size_t)n, sizeof(float));
    c->dx = calloc((size_t)n, sizeof(float));
    tm_params_zero_grad(&c->p);
}

static tm_tensor wrap3(void *p, tm_dtype dt, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    int64_t s[3] = {d0, d1, d2};
    tm_tensor t;
    cr_assert_eq(tm_tensor_wrap(&t, p, dt, TM_CPU, ndim, s), TM_OK, "%s", tm_last_error());
    return t;
}

/* x, y, dy, dx [B,T,d] over the fixture's buffers. */
static void io_tensors(fixture *c, tm_tensor *x, tm_tensor *y, tm_tensor *dy, tm_tensor *dx) {
    *x = wrap3(c->x, TM_F32, 3, c->B, c->T, c->d);
    *y = wrap3(c->out, TM_F32, 3, c->B, c->T, c->d);
    *dy = wrap3(c->dout, TM_F32, 3, c->B, c->T, c->d);
    *dx = wrap3(c->dx, TM_F32, 3, c->B, c->T, c->d);
}

/* |got - want| <= rel * max(|want|, FLOOR_FRAC * max|want|); see the top. */
static void expect_rel(const float *got, const float *want, long n, double rel, const char *what) {
    double scale = 0.0, worst = 0.0;
    for (long i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    double floor = FLOOR_FRAC * scale;
    for (long i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]) / fmax(fabs(want[i]), floor);
        worst = fmax(worst, err);
        cr_expect(err <= rel, "%s[%ld]: got %.9g want %.9g (rel error %.3g > %g)", what, i,
                  (double)got[i], (double)want[i], err, rel);
    }
    cr_log_info("%s: worst rel error %.3g (%ld values, scale %.3g)", what, worst, n, scale);
}

/* The layer's output and every gradient against the file's. */
static void compare_all(fixture *c, const char *layer) {
    int64_t shape[3] = {c->B, c->T, c->d};
    long n = (long)c->B * c->T * c->d;
    char what[160], name[TM_PARAM_NAME_MAX + 8];
    float *want = load_f32(c, "output", 3, shape);
    snprintf(what, sizeof what, "%s output", layer);
    expect_rel(c->out, want, n, OUT_REL, what);
    free(want);
    want = load_f32(c, "grad.input", 3, shape);
    snprintf(what, sizeof what, "%s grad.input", layer);
    expect_rel(c->dx, want, n, GRAD_REL, what);
    free(want);
    for (int i = 0; i < c->p.n_views; i++) {
        const tm_param_view *v = &c->p.views[i];
        snprintf(name, sizeof name, "grad.%s", v->name);
        want = load_f32(c, name, v->ndim, v->shape);
        snprintf(what, sizeof what, "%s %s", layer, name);
        expect_rel(c->p.grad + v->offset, want, (long)v->numel, GRAD_REL, what);
        free(want);
    }
}

/* ---- the layers ------------------------------------------------------------- */

static void run_rmsnorm(fixture *c) {
    tm_rmsnorm n;
    tm_rmsnorm_config cfg = tm_rmsnorm_config_default(c->d);
    cfg.eps = (float)meta_num(c, "eps");
    cr_assert_eq((int)meta_num(c, "d"), c->d);
    cr_assert_eq(tm_rmsnorm_declare(&n, &cfg, &c->p, "rmsnorm"), TM_OK, "%s", tm_last_error());
    load_params_and_io(c);
    tm_rmsnorm_bind(&n, &c->p);
    size_t na = tm_rmsnorm_act_floats(&cfg, c->B, c->T);
    float *act = calloc(na, sizeof(float));
    tm_tensor x, y, dy, dx;
    io_tensors(c, &x, &y, &dy, &dx);
    tm_tensor ta = wrap3(act, TM_F32, 1, (int64_t)na, 0, 0);
    cr_assert_eq(tm_rmsnorm_forward(&c->ctx, &n, &y, &ta, &x), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_rmsnorm_backward(&c->ctx, &n, &dx, &dy, &x, &ta), TM_OK, "%s", tm_last_error());
    free(act);
}

static void run_layernorm(fixture *c) {
    tm_layernorm n;
    tm_layernorm_config cfg = tm_layernorm_config_default(c->d);
    cfg.eps = (float)meta_num(c, "eps");
    cr_assert_eq((int)meta_num(c, "d"), c->d);
    cr_assert_eq(tm_layernorm_declare(&n, &cfg, &c->p, "layernorm"), TM_OK, "%s",
                 tm_last_error());
    load_params_and_io(c);
    tm_layernorm_bind(&n, &c->p);
    size_t na = tm_layernorm_act_floats(&cfg, c->B, c->T);
    float *act = calloc(na, sizeof(float));
    tm_tensor x, y, dy, dx;
    io_tensors(c, &x, &y, &dy, &dx);
    tm_tensor ta = wrap3(act, TM_F32, 1, (int64_t)na, 0, 0);
    cr_assert_eq(tm_layernorm_forward(&c->ctx, &n, &y, &ta, &x), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_layernorm_backward(&c->ctx, &n, &dx, &dy, &x, &ta), TM_OK, "%s",
                 tm_last_error());
    free(act);
}

/* From an empty cache (the zeroed initial state), with the file's starts. */
static void run_attention(fixture *c) {
    tm_attn a;
    tm_attn_config cfg = tm_attn_config_default(c->d, (int)meta_num(c, "n_heads"));
    cr_assert_eq((int)meta_num(c, "d_model"), c->d);
    cfg.n_kv_heads = (int)meta_num(c, "n_kv_heads");
    cfg.window = (int)meta_num(c, "window");
    cfg.rope_theta = (float)meta_num(c, "rope_theta");
    cr_assert_eq(tm_attn_declare(&a, &cfg, &c->p, "attn"), TM_OK, "%s", tm_last_error());
    load_params_and_io(c);
    tm_attn_bind(&a, &c->p);
    int32_t *start = load_starts(c);
    tm_attn_state init;
    cr_assert_eq(tm_attn_state_create(&init, &a, c->B), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_ctx_reserve(&c->ctx, tm_attn_scratch_floats(&cfg, c->B, c->T)), TM_OK);
    size_t na = tm_attn_act_floats(&cfg, c->B, c->T);
    float *act = calloc(na, sizeof(float));
    tm_tensor x, y, dy, dx;
    io_tensors(c, &x, &y, &dy, &dx);
    tm_tensor ta = wrap3(act, TM_F32, 1, (int64_t)na, 0, 0);
    tm_tensor st = wrap3(start, TM_I32, 2, c->B, c->T, 0);
    cr_assert_eq(tm_attn_forward(&c->ctx, &a, &y, &ta, NULL, &init, &x, &st), TM_OK, "%s",
                 tm_last_error());
    cr_assert_eq(tm_attn_backward(&c->ctx, &a, &dx, &dy, &x, &ta), TM_OK, "%s", tm_last_error());
    tm_attn_state_free(&init);
    free(act), free(start);
}

/* From the zero state, with the file's starts. */
static void run_mamba(fixture *c) {
    tm_mamba m;
    tm_mamba_config cfg = tm_mamba_config_default(c->d);
    cr_assert_eq((int)meta_num(c, "d_model"), c->d);
    cfg.expand = (int)meta_num(c, "expand");
    cfg.d_state = (int)meta_num(c, "d_state");
    cfg.d_conv = (int)meta_num(c, "d_conv");
    cfg.dt_rank = (int)meta_num(c, "dt_rank");
    cr_assert_eq(tm_mamba_declare(&m, &cfg, &c->p, "mamba"), TM_OK, "%s", tm_last_error());
    load_params_and_io(c);
    tm_mamba_bind(&m, &c->p);
    int32_t *start = load_starts(c);
    tm_mamba_state init;
    cr_assert_eq(tm_mamba_state_create(&init, &m, c->B), TM_OK, "%s", tm_last_error());
    size_t scratch = tm_mamba_scratch_floats(&c->ctx, &cfg, c->B, c->T);
    cr_assert_eq(tm_ctx_reserve(&c->ctx, scratch), TM_OK, "%s", tm_last_error());
    size_t na = tm_mamba_act_floats(&cfg, c->B, c->T);
    float *act = calloc(na, sizeof(float));
    tm_tensor x, y, dy, dx;
    io_tensors(c, &x, &y, &dy, &dx);
    tm_tensor ta = wrap3(act, TM_F32, 1, (int64_t)na, 0, 0);
    tm_tensor st = wrap3(start, TM_I32, 2, c->B, c->T, 0);
    cr_assert_eq(tm_mamba_forward(&c->ctx, &m, &y, &ta, NULL, &init, &x, &st), TM_OK, "%s",
                 tm_last_error());
    cr_assert_eq(tm_mamba_backward(&c->ctx, &m, &dx, NULL, &dy, &x, &ta), TM_OK, "%s",
                 tm_last_error());
    tm_mamba_state_free(&init);
    free(act), free(start);
}

static void check_layer(const char *layer, void (*run)(fixture *)) {
    fixture c;
    open_fixture(&c, layer);
    run(&c);
    compare_all(&c, layer);
    close_fixture(&c);
}

Test(nn_fixtures, rmsnorm_matches_pytorch) { check_layer("rmsnorm", run_rmsnorm); }
Test(nn_fixtures, layernorm_matches_pytorch) { check_layer("layernorm", run_layernorm); }
Test(nn_fixtures, attention_with_rope_gqa_window_and_starts_matches_pytorch) {
    check_layer("attention", run_attention);
}
Test(nn_fixtures, mamba_block_from_zero_state_with_a_start_matches_pytorch_scan_loop) {
    check_layer("mamba", run_mamba);
}
