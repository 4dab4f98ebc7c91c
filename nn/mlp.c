/* MLP layer (GELU and SwiGLU) over tm_linear and the tensor ops.
 * Definition: mlp.h.
 *
 * Act layout per B*T rows, H = d_hidden, each block [rows, H]:
 *   GELU:   h (fc1 output), a = act(h)
 *   SwiGLU: h1 (gate), h3 (up), s = silu(h1), a = s * h3
 * Backward scratch (ctx), each [rows, H]:
 *   GELU:   da, dh
 *   SwiGLU: da, ds, dh1, dh3 */
#include "nn/mlp.h"

#include <stdio.h>
#include <string.h>

tm_mlp_config tm_mlp_config_default(int d) {
    tm_mlp_config c = {d, 4 * d, d, TM_MLP_GELU, 1, TM_ACT_GELU};
    return c;
}

tm_mlp_config tm_mlp_config_swiglu(int d, int hidden) {
    tm_mlp_config c = {d, hidden, d, TM_MLP_SWIGLU, 0, TM_ACT_SILU};
    return c;
}

static int n_blocks(const tm_mlp_config *cfg) { return cfg->kind == TM_MLP_SWIGLU ? 4 : 2; }

tm_status tm_mlp_declare(tm_mlp *m, const tm_mlp_config *cfg, tm_params *p, const char *prefix) {
    if (cfg->d_in <= 0 || cfg->d_hidden <= 0 || cfg->d_out <= 0)
        return tm_fail(TM_EINVAL, "mlp %s: d_in, d_hidden, d_out must be > 0 (got %d, %d, %d)",
                       prefix, cfg->d_in, cfg->d_hidden, cfg->d_out);
    if (cfg->kind != TM_MLP_GELU && cfg->kind != TM_MLP_SWIGLU)
        return tm_fail(TM_EINVAL, "mlp %s: kind must be gelu (0) or swiglu (1) (got %d)", prefix,
                       (int)cfg->kind);
    if (cfg->kind == TM_MLP_GELU && (unsigned)cfg->act >= TM_ACT_COUNT)
        return tm_fail(TM_EINVAL, "mlp %s: act must be a tm_act (got %d)", prefix, (int)cfg->act);
    if (cfg->kind == TM_MLP_SWIGLU && cfg->bias)
        return tm_fail(TM_EINVAL, "mlp %s: the swiglu variant has no bias (bias must be 0)",
                       prefix);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    char name[TM_PARAM_NAME_MAX];
    int swi = cfg->kind == TM_MLP_SWIGLU;
    tm_linear_config up = {cfg->d_in, cfg->d_hidden, cfg->bias};
    tm_linear_config down = {cfg->d_hidden, cfg->d_out, cfg->bias};
    snprintf(name, sizeof name, "%s.%s", prefix, swi ? "w1" : "fc1");
    TM_TRY(tm_linear_declare(&m->fc1, &up, p, name));
    snprintf(name, sizeof name, "%s.%s", prefix, swi ? "w2" : "fc2");
    TM_TRY(tm_linear_declare(&m->fc2, &down, p, name));
    if (swi) {
        snprintf(name, sizeof name, "%s.w3", prefix);
        TM_TRY(tm_linear_declare(&m->w3, &up, p, name));
    }
    return TM_OK;
}

void tm_mlp_bind(tm_mlp *m, const tm_params *p) {
    tm_linear_bind(&m->fc1, p);
    tm_linear_bind(&m->fc2, p);
    if (m->cfg.kind == TM_MLP_SWIGLU) tm_linear_bind(&m->w3, p);
}

void tm_mlp_init(tm_mlp *m, tm_rng *rng) {
    tm_linear_init(&m->fc1, rng);
    tm_linear_init(&m->fc2, rng);
    if (m->cfg.kind == TM_MLP_SWIGLU) tm_linear_init(&m->w3, rng);
}

size_t tm_mlp_act_floats(const tm_mlp_config *cfg, int B, int T) {
    return (size_t)n_blocks(cfg) * (size_t)B * (size_t)T * (size_t)cfg->d_hidden;
}

size_t tm_mlp_scratch_floats(const tm_mlp_config *cfg, int B, int T) {
    return tm_mlp_act_floats(cfg, B, T);
}

/* The number of rows of in, after checking its last dim is d_in. */
static tm_status in_rows(const tm_mlp *m, const tm_tensor *in, int64_t *rows) {
    if (!in) return tm_fail(TM_EINVAL, "mlp: in must not be NULL");
    if (in->ndim < 1 || in->shape[in->ndim - 1] != m->cfg.d_in) {
        char buf[96];
        return tm_fail(TM_EINVAL, "mlp: in must have last dim %d (got %s)", m->cfg.d_in,
                       tm_tensor_describe(in, buf, sizeof buf));
    }
    *rows = tm_tensor_numel(in) / m->cfg.d_in;
    return TM_OK;
}

/* The k-th [rows, H] block of buf. */
static tm_status block(const tm_tensor *buf, int64_t rows, int H, int k, tm_tensor *view) {
    int64_t shape[2] = {rows, H};
    return tm_tensor_view(view, buf, (int64_t)k * rows * H, 2, shape);
}

static tm_status act_check(const tm_mlp *m, const tm_tensor *act, int64_t rows) {
    if (!act) return tm_fail(TM_EINVAL, "mlp: act must not be NULL");
    int64_t need = (int64_t)n_blocks(&m->cfg) * rows * m->cfg.d_hidden;
    if (tm_tensor_numel(act) < need)
        return tm_fail(TM_EINVAL, "mlp: act holds %lld floats, needs %lld for %lld rows",
                       (long long)tm_tensor_numel(act), (long long)need, (long long)rows);
    return TM_OK;
}

tm_status tm_mlp_forward(tm_ctx *ctx, const tm_mlp *m, tm_tensor *out, tm_tensor *act,
                         const tm_tensor *in) {
    int64_t rows = 0; /* set by check_io */
    int H = m->cfg.d_hidden;
    TM_TRY(in_rows(m, in, &rows));
    TM_TRY(act_check(m, act, rows));
    if (m->cfg.kind == TM_MLP_GELU) {
        tm_tensor h, a;
        TM_TRY(block(act, rows, H, 0, &h));
        TM_TRY(block(act, rows, H, 1, &a));
        TM_TRY(tm_linear_forward(ctx, &m->fc1, &h, in));
        TM_TRY(tm_op_act(ctx, m->cfg.act, &a, &h));
        return tm_linear_forward(ctx, &m->fc2, out, &a);
    }
    tm_tensor h1, h3, s, a;
    TM_TRY(block(act, rows, H, 0, &h1));
    TM_TRY(block(act, rows, H, 1, &h3));
    TM_TRY(block(act, rows, H, 2, &s));
    TM_TRY(block(act, rows, H, 3, &a));
    TM_TRY(tm_linear_forward(ctx, &m->fc1, &h1, in));
    TM_TRY(tm_linear_forward(ctx, &m->w3, &h3, in));
    TM_TRY(tm_op_act(ctx, TM_ACT_SILU, &s, &h1));
    TM_TRY(tm_op_mul(ctx, &a, &s, &h3));
    return tm_linear_forward(ctx, &m->fc2, out, &a);
}

tm_status tm_mlp_backward(tm_ctx *ctx, const tm_mlp *m, tm_tensor *din, const tm_tensor *dout,
                          const tm_tensor *in, const tm_tensor *act) {
    int64_t rows = 0; /* set by check_io */
    int H = m->cfg.d_hidden;
    TM_TRY(in_rows(m, in, &rows));
    TM_TRY(act_check(m, act, rows));
    size_t need = (size_t)n_blocks(&m->cfg) * (size_t)rows * (size_t)H;
    if (ctx->scratch_cap < need)
        return tm_fail(TM_ENOMEM,
                       "mlp: backward needs %zu floats of ctx scratch (have %zu); reserve "
                       "tm_mlp_scratch_floats() with tm_ctx_reserve at setup",
                       need, ctx->scratch_cap);
    tm_tensor scratch;
    int64_t sshape[1] = {(int64_t)need};
    TM_TRY(tm_tensor_wrap(&scratch, ctx->scratch, TM_F32, ctx->device, 1, sshape));
    TM_TRY(tm_op_zero(ctx, &scratch));
    if (m->cfg.kind == TM_MLP_GELU) {
        tm_tensor h, a, da, dh;
        TM_TRY(block(act, rows, H, 0, &h));
        TM_TRY(block(act, rows, H, 1, &a));
        TM_TRY(block(&scratch, rows, H, 0, &da));
        TM_TRY(block(&scratch, rows, H, 1, &dh));
        TM_TRY(tm_linear_backward(ctx, &m->fc2, &da, dout, &a));
        TM_TRY(tm_op_act_backward(ctx, m->cfg.act, &dh, &da, &h));
        return tm_linear_backward(ctx, &m->fc1, din, &dh, in);
    }
    tm_tensor h1, h3, s, a, da, ds, dh1, dh3;
    TM_TRY(block(act, rows, H, 0, &h1));
    TM_TRY(block(act, rows, H, 1, &h3));
    TM_TRY(block(act, rows, H, 2, &s));
    TM_TRY(block(act, rows, H, 3, &a));
    TM_TRY(block(&scratch, rows, H, 0, &da));
    TM_TRY(block(&scratch, rows, H, 1, &ds));
    TM_TRY(block(&scratch, rows, H, 2, &dh1));
    TM_TRY(block(&scratch, rows, H, 3, &dh3));
    TM_TRY(tm_linear_backward(ctx, &m->fc2, &da, dout, &a));
    TM_TRY(tm_op_mul_backward(ctx, &ds, &dh3, &da, &s, &h3));
    TM_TRY(tm_op_act_backward(ctx, TM_ACT_SILU, &dh1, &ds, &h1));
    TM_TRY(tm_linear_backward(ctx, &m->fc1, din, &dh1, in));
    return tm_linear_backward(ctx, &m->w3, din, &dh3, in);
}
