/* The Mamba-1 block over the tensor ops. Definition: mamba.h.
 *
 * in_proj and x_proj outputs are split by rows of their weights ([out, in]
 * layout: the x part of in_proj is rows 0..d_inner-1, z the rest; x_proj is
 * dt_low, then B, then C), so each part is one matmul into its own
 * contiguous buffer, with no de-interleaving copy.
 *
 * Activation buffer, rows = B*T, di = d_inner (floats; start and pos are
 * int32):
 *   xin, z, xc (conv out), xs (SiLU) [rows,di]; dt_low [rows,R];
 *   Bm, Cm [rows,N] (rotated when rope_bc: what the scan used);
 *   dtp (pre-softplus), dt, y (scan), sz (SiLU z), g (y*sz) [rows,di];
 *   conv0 [B,di,K-1] and h0 [B,di,N] (copies of the initial state); A [di,N];
 *   start [rows]; pos [rows] (each token's position in its episode)
 * Backward scratch (ctx): dg, dy, dsz, dz, dxs, ddt, ddtp, dxc, dxin
 * [rows,di]; ddt_low [rows,R]; dB, dC [rows,N] (of the rotated B, C); dA
 * [di,N]; dB_raw, dC_raw [rows,N] (rotated back to x_proj's outputs; only
 * with rope_bc, else empty); then the scan's own scratch
 * (tm_op_scan_backward_scratch). */
#include "nn/mamba.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tm_mamba_config tm_mamba_config_default(int d_model) {
    tm_mamba_config c = {d_model, 2, 16, 4, (d_model + 15) / 16, 0.001f, 0.1f, 1e-4f, 0, TM_ROPE_THETA, 0, 1.0f};
    return c;
}

tm_status tm_mamba_declare(tm_mamba *m, const tm_mamba_config *cfg, tm_params *p,
                           const char *prefix) {
    if (cfg->d_model <= 0 || cfg->expand <= 0 || cfg->d_state <= 0 || cfg->d_conv <= 0 ||
        cfg->dt_rank <= 0)
        return tm_fail(TM_EINVAL,
                       "mamba %s: d_model, expand, d_state, d_conv, dt_rank must be > 0 "
                       "(got %d, %d, %d, %d, %d)",
                       prefix, cfg->d_model, cfg->expand, cfg->d_state, cfg->d_conv, cfg->dt_rank);
    if (cfg->rope_bc) {
        if (cfg->d_state % 2 != 0)
            return tm_fail(TM_EINVAL, "mamba %s: d_state must be even for rope_bc (RoPE rotates pairs; got %d)",
                           prefix, cfg->d_state);
        if (!(cfg->rope_theta > 1.0f) || !isfinite(cfg->rope_theta))
            return tm_fail(TM_EINVAL, "mamba %s: rope_theta must be finite and > 1 (got %g)", prefix,
                           (double)cfg->rope_theta);
        if (cfg->rope_max_pos < 0)
            return tm_fail(TM_EINVAL, "mamba %s: rope_max_pos must be >= 0 (got %d)", prefix,
                           cfg->rope_max_pos);
        if (!(cfg->rope_factor >= 1.0f) || !isfinite(cfg->rope_factor))
            return tm_fail(TM_EINVAL, "mamba %s: rope_factor must be finite and >= 1 (got %g)", prefix,
                           (double)cfg->rope_factor);
    }
    if (cfg->d_state > 256)
        return tm_fail(TM_EINVAL, "mamba %s: d_state must be <= 256 (got %d)", prefix, cfg->d_state);
    if (!(cfg->dt_min > 0.0f) || !(cfg->dt_max >= cfg->dt_min) || !(cfg->dt_init_floor >= 0.0f))
        return tm_fail(TM_EINVAL, "mamba %s: need 0 < dt_min <= dt_max and dt_init_floor >= 0 (got %g, %g, %g)",
                       prefix, (double)cfg->dt_min, (double)cfg->dt_max, (double)cfg->dt_init_floor);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    int d = cfg->d_model, di = cfg->expand * d, N = cfg->d_state, K = cfg->d_conv, R = cfg->dt_rank;
    m->d_inner = di;
    char name[TM_PARAM_NAME_MAX];
#define DECLARE(field, sub, nd, s0, s1, flags)                                   \
    do {                                                                         \
        int64_t shape_[2] = {s0, s1};                                            \
        snprintf(name, sizeof name, "%s.%s", prefix, sub);                       \
        TM_TRY(tm_params_declare(p, name, nd, shape_, flags, &m->field));        \
    } while (0)
    DECLARE(in_proj_off, "in_proj.weight", 2, 2 * di, d, 0);
    DECLARE(conv_w_off, "conv1d.weight", 2, di, K, 0);
    DECLARE(conv_b_off, "conv1d.bias", 1, di, 0, TM_PARAM_NO_DECAY);
    DECLARE(x_proj_off, "x_proj.weight", 2, R + 2 * N, di, 0);
    DECLARE(A_log_off, "A_log", 2, di, N, TM_PARAM_NO_DECAY);
    DECLARE(D_off, "D", 1, di, 0, TM_PARAM_NO_DECAY);
#undef DECLARE
    tm_linear_config dtc = {R, di, 1}, outc = {di, d, 0};
    snprintf(name, sizeof name, "%s.dt_proj", prefix);
    TM_TRY(tm_linear_declare(&m->dt_proj, &dtc, p, name)); /* its bias is dt_bias: no decay */
    snprintf(name, sizeof name, "%s.out_proj", prefix);
    TM_TRY(tm_linear_declare(&m->out_proj, &outc, p, name));
    return TM_OK;
}

void tm_mamba_bind(tm_mamba *m, const tm_params *p) {
    m->in_proj = tm_params_at(p, m->in_proj_off), m->d_in_proj = tm_params_grad_at(p, m->in_proj_off);
    m->conv_w = tm_params_at(p, m->conv_w_off), m->d_conv_w = tm_params_grad_at(p, m->conv_w_off);
    m->conv_b = tm_params_at(p, m->conv_b_off), m->d_conv_b = tm_params_grad_at(p, m->conv_b_off);
    m->x_proj = tm_params_at(p, m->x_proj_off), m->d_x_proj = tm_params_grad_at(p, m->x_proj_off);
    m->A_log = tm_params_at(p, m->A_log_off), m->d_A_log = tm_params_grad_at(p, m->A_log_off);
    m->D = tm_params_at(p, m->D_off), m->d_D = tm_params_grad_at(p, m->D_off);
    tm_linear_bind(&m->dt_proj, p);
    tm_linear_bind(&m->out_proj, p);
}

void tm_mamba_init(tm_mamba *m, tm_rng *rng) {
    const tm_mamba_config *c = &m->cfg;
    int d = c->d_model, di = m->d_inner, N = c->d_state, K = c->d_conv, R = c->dt_rank;
    float b_in = 1.0f / sqrtf((float)d), b_conv = 1.0f / sqrtf((float)K);
    float b_x = 1.0f / sqrtf((float)di), b_dt = 1.0f / sqrtf((float)R);
    tm_rng_fill_uniform(rng, m->in_proj, (long)2 * di * d, -b_in, b_in);
    tm_rng_fill_uniform(rng, m->conv_w, (long)di * K, -b_conv, b_conv);
    tm_rng_fill_uniform(rng, m->conv_b, di, -b_conv, b_conv);
    tm_rng_fill_uniform(rng, m->x_proj, (long)(R + 2 * N) * di, -b_x, b_x);
    tm_rng_fill_uniform(rng, m->dt_proj.w, (long)di * R, -b_dt, b_dt);
    /* dt log-uniform in [dt_min, dt_max]; the bias is softplus^-1(dt) =
     * dt + log(1 - exp(-dt)), so softplus(bias) = dt at init. */
    double lo = log((double)c->dt_min), hi = log((double)c->dt_max);
    for (int i = 0; i < di; i++) {
        double dt = exp(lo + (hi - lo) * tm_rng_uniform_f64(rng));
        if (dt < c->dt_init_floor) dt = c->dt_init_floor;
        m->dt_proj.b[i] = (float)(dt + log(-expm1(-dt)));
    }
    /* S4D-real initialisation: A = -(n+1) per state dimension. */
    for (int i = 0; i < di; i++)
        for (int n = 0; n < N; n++) m->A_log[(long)i * N + n] = logf((float)(n + 1));
    for (int i = 0; i < di; i++) m->D[i] = 1.0f;
    tm_linear_init(&m->out_proj, rng);
}

/* ---- buffer layout -------------------------------------------------------------- */

enum { XIN, Z, XC, XS, DT_LOW, BM, CM, DTP, DT, Y, SZ, G, CONV0, H0, AMAT, START, POS, N_ACT };

static size_t act_layout(const tm_mamba_config *c, int B, int T, float *base, float **blk) {
    size_t rows = (size_t)B * T, di = (size_t)c->expand * c->d_model, N = (size_t)c->d_state;
    size_t sizes[N_ACT] = {
        [XIN] = rows * di, [Z] = rows * di, [XC] = rows * di, [XS] = rows * di,
        [DT_LOW] = rows * (size_t)c->dt_rank, [BM] = rows * N, [CM] = rows * N,
        [DTP] = rows * di, [DT] = rows * di, [Y] = rows * di, [SZ] = rows * di, [G] = rows * di,
        [CONV0] = (size_t)B * di * (size_t)(c->d_conv - 1), [H0] = (size_t)B * di * N,
        [AMAT] = di * N, [START] = rows, [POS] = rows};
    size_t off = 0;
    for (int i = 0; i < N_ACT; i++) {
        if (blk) blk[i] = base ? base + off : NULL;
        off += sizes[i];
    }
    return off;
}

size_t tm_mamba_act_floats(const tm_mamba_config *cfg, int B, int T) {
    return act_layout(cfg, B, T, NULL, NULL);
}

enum { DG, DY, DSZ, DZ, DXS, DDT, DDTP, DXC, DXIN, DDT_LOW, DB, DC, DA, DB_RAW, DC_RAW, N_SCRATCH };

static size_t scratch_layout(const tm_mamba_config *c, int B, int T, float *base, float **blk) {
    size_t rows = (size_t)B * T, di = (size_t)c->expand * c->d_model, N = (size_t)c->d_state;
    size_t off = 0;
    for (int i = 0; i < N_SCRATCH; i++) {
        size_t n = i <= DXIN ? rows * di : i == DDT_LOW ? rows * (size_t)c->dt_rank
                                         : i == DA ? di * N
                                         : i >= DB_RAW && !c->rope_bc ? 0 : rows * N;
        if (blk) blk[i] = base ? base + off : NULL;
        off += n;
    }
    return off;
}

size_t tm_mamba_scratch_floats(const tm_ctx *ctx, const tm_mamba_config *cfg, int B, int T) {
    return scratch_layout(cfg, B, T, NULL, NULL) +
           tm_op_scan_backward_scratch(ctx, T, cfg->expand * cfg->d_model, cfg->d_state);
}

/* ---- state ------------------------------------------------------------------------ */

static size_t conv_floats(const tm_mamba *m, int B) {
    return (size_t)B * m->d_inner * (size_t)(m->cfg.d_conv - 1);
}
static size_t h_floats(const tm_mamba *m, int B) {
    return (size_t)B * m->d_inner * (size_t)m->cfg.d_state;
}

tm_status tm_mamba_state_create(tm_mamba_state *s, const tm_mamba *m, int B) {
    memset(s, 0, sizeof *s);
    if (B <= 0) return tm_fail(TM_EINVAL, "mamba state: B must be > 0 (got %d)", B);
    s->B = B;
    s->conv = calloc(conv_floats(m, B) + 1, sizeof(float));
    s->h = calloc(h_floats(m, B), sizeof(float));
    s->pos = calloc((size_t)B, sizeof(int32_t));
    s->work = calloc(tm_mamba_act_floats(&m->cfg, B, 1), sizeof(float));
    if (!s->conv || !s->h || !s->pos || !s->work) {
        tm_mamba_state_free(s);
        return tm_fail(TM_ENOMEM, "mamba state: cannot allocate the state of %d streams", B);
    }
    return TM_OK;
}

void tm_mamba_state_free(tm_mamba_state *s) {
    if (!s) return;
    free(s->conv), free(s->h), free(s->pos), free(s->work);
    memset(s, 0, sizeof *s);
}

void tm_mamba_state_reset(const tm_mamba *m, tm_mamba_state *s, const int32_t *mask) {
    size_t nc = conv_floats(m, 1), nh = h_floats(m, 1);
    for (int b = 0; b < s->B; b++) {
        if (mask && !mask[b]) continue;
        memset(s->conv + b * nc, 0, nc * sizeof(float));
        memset(s->h + b * nh, 0, nh * sizeof(float));
        s->pos[b] = 0;
    }
}

void tm_mamba_state_copy(const tm_mamba *m, tm_mamba_state *dst, const tm_mamba_state *src) {
    TM_ASSERT(dst->B == src->B);
    memcpy(dst->conv, src->conv, conv_floats(m, src->B) * sizeof(float));
    memcpy(dst->h, src->h, h_floats(m, src->B) * sizeof(float));
    memcpy(dst->pos, src->pos, (size_t)src->B * sizeof(int32_t));
}

/* ---- shared pieces ------------------------------------------------------------------ */

static tm_status wrap(const tm_ctx *ctx, tm_tensor *t, void *p, tm_dtype dt, int ndim, int64_t d0,
                      int64_t d1, int64_t d2) {
    int64_t s[3] = {d0, d1, d2};
    return tm_tensor_wrap(t, p, dt, ctx->device, ndim, s);
}

/* Row block [r0, r0+n) of a weight W [rows, cols] as a tensor (a view: rows
 * of a row-major matrix are contiguous). */
static tm_status weight_rows(const tm_ctx *ctx, tm_tensor *t, float *W, int r0, int n, int cols) {
    return wrap(ctx, t, W + (size_t)r0 * cols, TM_F32, 2, n, cols, 0);
}

static void form_A(const tm_mamba *m, float *A) {
    /* A = -exp(A_log): negative, so exp(dt A) < 1 and the state decays. */
    for (long i = 0; i < (long)m->d_inner * m->cfg.d_state; i++) A[i] = -expf(m->A_log[i]);
}

/* Steps 1, 3, 4 and 6 around the sequence-dependent conv and scan: the
 * per-row work shared by step and forward. rows = B*T; u2d [rows, d]. */
static tm_status in_projection(tm_ctx *ctx, const tm_mamba *m, float **blk, const tm_tensor *u2d,
                               int rows) {
    int d = m->cfg.d_model, di = m->d_inner;
    tm_tensor wx, wz, xin, z;
    TM_TRY(weight_rows(ctx, &wx, m->in_proj, 0, di, d));
    TM_TRY(weight_rows(ctx, &wz, m->in_proj, di, di, d));
    TM_TRY(wrap(ctx, &xin, blk[XIN], TM_F32, 2, rows, di, 0));
    TM_TRY(wrap(ctx, &z, blk[Z], TM_F32, 2, rows, di, 0));
    TM_TRY(tm_op_matmul(ctx, &xin, u2d, &wx, 0, 1, 1.0f, 0.0f));
    return tm_op_matmul(ctx, &z, u2d, &wz, 0, 1, 1.0f, 0.0f);
}

static tm_status selection(tm_ctx *ctx, const tm_mamba *m, float **blk, int rows) {
    int di = m->d_inner, N = m->cfg.d_state, R = m->cfg.dt_rank;
    tm_tensor xc, xs, w0, w1, w2, dt_low, Bm, Cm, dtp, dt;
    TM_TRY(wrap(ctx, &xc, blk[XC], TM_F32, 2, rows, di, 0));
    TM_TRY(wrap(ctx, &xs, blk[XS], TM_F32, 2, rows, di, 0));
    TM_TRY(tm_op_act(ctx, TM_ACT_SILU, &xs, &xc));
    TM_TRY(weight_rows(ctx, &w0, m->x_proj, 0, R, di));
    TM_TRY(weight_rows(ctx, &w1, m->x_proj, R, N, di));
    TM_TRY(weight_rows(ctx, &w2, m->x_proj, R + N, N, di));
    TM_TRY(wrap(ctx, &dt_low, blk[DT_LOW], TM_F32, 2, rows, R, 0));
    TM_TRY(wrap(ctx, &Bm, blk[BM], TM_F32, 2, rows, N, 0));
    TM_TRY(wrap(ctx, &Cm, blk[CM], TM_F32, 2, rows, N, 0));
    TM_TRY(tm_op_matmul(ctx, &dt_low, &xs, &w0, 0, 1, 1.0f, 0.0f));
    TM_TRY(tm_op_matmul(ctx, &Bm, &xs, &w1, 0, 1, 1.0f, 0.0f));
    TM_TRY(tm_op_matmul(ctx, &Cm, &xs, &w2, 0, 1, 1.0f, 0.0f));
    TM_TRY(wrap(ctx, &dtp, blk[DTP], TM_F32, 2, rows, di, 0));
    TM_TRY(wrap(ctx, &dt, blk[DT], TM_F32, 2, rows, di, 0));
    TM_TRY(tm_linear_forward(ctx, &m->dt_proj, &dtp, &dt_low));
    return tm_op_act(ctx, TM_ACT_SOFTPLUS, &dt, &dtp);
}

/* Unified RoPE (rope_bc): B_t and C_t, each [N], rotated as one head of
 * width N at the token's position in its episode, with the attention
 * layers' rotation (kernels/ops_seq.h, tm_op_rope_scaled), so both kinds of
 * layer see one positional frame (spec controllers.md, Hybrid). In place; the
 * scan then uses the rotated B, C, and the act keeps them for its backward. */
static tm_status rotate_bc(tm_ctx *ctx, const tm_mamba *m, float **blk, int B, int T) {
    const tm_mamba_config *c = &m->cfg;
    tm_tensor Bm, Cm, pos;
    int64_t sb[4] = {B, T, 1, c->d_state}, sp[2] = {B, T};
    TM_TRY(tm_tensor_wrap(&Bm, blk[BM], TM_F32, ctx->device, 4, sb));
    TM_TRY(tm_tensor_wrap(&Cm, blk[CM], TM_F32, ctx->device, 4, sb));
    TM_TRY(tm_tensor_wrap(&pos, blk[POS], TM_I32, ctx->device, 2, sp));
    TM_TRY(tm_op_rope_scaled(ctx, &Bm, &Bm, &pos, c->rope_theta, c->rope_max_pos, c->rope_factor));
    return tm_op_rope_scaled(ctx, &Cm, &Cm, &pos, c->rope_theta, c->rope_max_pos, c->rope_factor);
}

static tm_status gate_out(tm_ctx *ctx, const tm_mamba *m, float **blk, int rows, tm_tensor *out) {
    int di = m->d_inner;
    tm_tensor z, sz, y, g;
    TM_TRY(wrap(ctx, &z, blk[Z], TM_F32, 2, rows, di, 0));
    TM_TRY(wrap(ctx, &sz, blk[SZ], TM_F32, 2, rows, di, 0));
    TM_TRY(wrap(ctx, &y, blk[Y], TM_F32, 2, rows, di, 0));
    TM_TRY(wrap(ctx, &g, blk[G], TM_F32, 2, rows, di, 0));
    TM_TRY(tm_op_act(ctx, TM_ACT_SILU, &sz, &z));
    TM_TRY(tm_op_mul(ctx, &g, &y, &sz));
    return tm_linear_forward(ctx, &m->out_proj, out, &g);
}

static tm_status check_u(const tm_mamba *m, const char *what, const tm_tensor *u, int ndim,
                         int64_t B, int64_t T) {
    char buf[96];
    int ok = u && u->dtype == TM_F32 && u->ndim == ndim && u->shape[0] == B &&
             u->shape[ndim - 1] == m->cfg.d_model && (ndim == 2 || u->shape[1] == T);
    if (!ok)
        return tm_fail(TM_EINVAL, "mamba: %s must be f32[%lld%s,%d] (got %s)", what, (long long)B,
                       ndim == 3 ? ",T" : "", m->cfg.d_model,
                       u ? tm_tensor_describe(u, buf, sizeof buf) : "NULL");
    return TM_OK;
}

/* ---- step ------------------------------------------------------------------------------ */

tm_status tm_mamba_step(tm_ctx *ctx, const tm_mamba *m, tm_mamba_state *s, tm_tensor *out,
                        const tm_tensor *u) {
    int B = s->B, di = m->d_inner, N = m->cfg.d_state, K = m->cfg.d_conv;
    TM_TRY(check_u(m, "u", u, 2, B, 1));
    TM_TRY(check_u(m, "out", out, 2, B, 1));
    float *blk[N_ACT];
    act_layout(&m->cfg, B, 1, s->work, blk);
    TM_TRY(in_projection(ctx, m, blk, u, B));
    tm_tensor xin, xc, cw, cb, conv, xs, dt, A, Bm, Cm, D, y, h;
    TM_TRY(wrap(ctx, &xin, blk[XIN], TM_F32, 2, B, di, 0));
    TM_TRY(wrap(ctx, &xc, blk[XC], TM_F32, 2, B, di, 0));
    TM_TRY(wrap(ctx, &cw, m->conv_w, TM_F32, 2, di, K, 0));
    TM_TRY(wrap(ctx, &cb, m->conv_b, TM_F32, 1, di, 0, 0));
    TM_TRY(wrap(ctx, &conv, s->conv, TM_F32, 3, B, di, K - 1));
    TM_TRY(tm_op_conv1d_step(ctx, &xc, &conv, &xin, &cw, &cb));
    TM_TRY(selection(ctx, m, blk, B));
    memcpy(blk[POS], s->pos, (size_t)B * sizeof(int32_t));
    if (m->cfg.rope_bc) TM_TRY(rotate_bc(ctx, m, blk, B, 1));
    form_A(m, blk[AMAT]);
    TM_TRY(wrap(ctx, &xs, blk[XS], TM_F32, 2, B, di, 0));
    TM_TRY(wrap(ctx, &dt, blk[DT], TM_F32, 2, B, di, 0));
    TM_TRY(wrap(ctx, &A, blk[AMAT], TM_F32, 2, di, N, 0));
    TM_TRY(wrap(ctx, &Bm, blk[BM], TM_F32, 2, B, N, 0));
    TM_TRY(wrap(ctx, &Cm, blk[CM], TM_F32, 2, B, N, 0));
    TM_TRY(wrap(ctx, &D, m->D, TM_F32, 1, di, 0, 0));
    TM_TRY(wrap(ctx, &y, blk[Y], TM_F32, 2, B, di, 0));
    TM_TRY(wrap(ctx, &h, s->h, TM_F32, 3, B, di, N));
    TM_TRY(tm_op_scan_step(ctx, &y, &h, &xs, &dt, &A, &Bm, &Cm, &D));
    for (int b = 0; b < B; b++) s->pos[b]++;
    return gate_out(ctx, m, blk, B, out);
}

/* ---- sequence mode ---------------------------------------------------------------------- */

static tm_status act_check(const tm_mamba *m, const tm_tensor *act, int B, int T) {
    size_t need = tm_mamba_act_floats(&m->cfg, B, T);
    if (!act || act->dtype != TM_F32 || (size_t)tm_tensor_numel(act) < need)
        return tm_fail(TM_EINVAL, "mamba: act must be f32 with >= %zu floats for B %d, T %d (got %lld)",
                       need, B, T, act ? (long long)tm_tensor_numel(act) : 0LL);
    return TM_OK;
}

tm_status tm_mamba_forward(tm_ctx *ctx, const tm_mamba *m, tm_tensor *out, tm_tensor *act,
                           tm_mamba_state *final, const tm_mamba_state *init, const tm_tensor *u,
                           const tm_tensor *start) {
    if (!u || u->ndim != 3) return tm_fail(TM_EINVAL, "mamba: u must be [B,T,d]");
    int B = (int)u->shape[0], T = (int)u->shape[1], rows = B * T;
    int d = m->cfg.d_model, di = m->d_inner, N = m->cfg.d_state, K = m->cfg.d_conv;
    TM_TRY(check_u(m, "u", u, 3, B, T));
    TM_TRY(check_u(m, "out", out, 3, B, T));
    TM_TRY(act_check(m, act, B, T));
    if (!init || init->B != B || (final && final->B != B))
        return tm_fail(TM_EINVAL, "mamba: init and final states must hold B = %d streams", B);
    if (start && (start->dtype != TM_I32 || start->ndim != 2 || start->shape[0] != B ||
                  start->shape[1] != T))
        return tm_fail(TM_EINVAL, "mamba: start must be i32[%d,%d]", B, T);
    float *blk[N_ACT];
    act_layout(&m->cfg, B, T, act->data, blk);
    /* Copies of what backward needs that the caller may overwrite (the
     * initial state, when final is init; the start mask). */
    memcpy(blk[CONV0], init->conv, conv_floats(m, B) * sizeof(float));
    memcpy(blk[H0], init->h, h_floats(m, B) * sizeof(float));
    int32_t *st = (int32_t *)blk[START];
    if (start) memcpy(st, start->data, (size_t)rows * sizeof(int32_t));
    else memset(st, 0, (size_t)rows * sizeof(int32_t));
    /* Positions count from each stream's episode start (as attention's). */
    int32_t *pos = (int32_t *)blk[POS];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            pos[i] = st[i] ? 0 : t == 0 ? init->pos[b] : pos[i - 1] + 1;
        }
    tm_tensor u2d, xin, xc, conv0, convT, tst, cw, cb;
    int64_t u2s[2] = {rows, d};
    TM_TRY(tm_tensor_reshape(&u2d, u, 2, u2s));
    TM_TRY(in_projection(ctx, m, blk, &u2d, rows));
    TM_TRY(wrap(ctx, &xin, blk[XIN], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &xc, blk[XC], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &conv0, blk[CONV0], TM_F32, 3, B, di, K - 1));
    TM_TRY(wrap(ctx, &tst, st, TM_I32, 2, B, T, 0));
    TM_TRY(wrap(ctx, &cw, m->conv_w, TM_F32, 2, di, K, 0));
    TM_TRY(wrap(ctx, &cb, m->conv_b, TM_F32, 1, di, 0, 0));
    if (final) TM_TRY(wrap(ctx, &convT, final->conv, TM_F32, 3, B, di, K - 1));
    TM_TRY(tm_op_conv1d(ctx, &xc, final ? &convT : NULL, &xin, &conv0, &tst, &cw, &cb));
    TM_TRY(selection(ctx, m, blk, rows));
    if (m->cfg.rope_bc) TM_TRY(rotate_bc(ctx, m, blk, B, T));
    form_A(m, blk[AMAT]);
    tm_tensor xs, dt, A, Bm, Cm, D, y, h0, hT;
    TM_TRY(wrap(ctx, &xs, blk[XS], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &dt, blk[DT], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &A, blk[AMAT], TM_F32, 2, di, N, 0));
    TM_TRY(wrap(ctx, &Bm, blk[BM], TM_F32, 3, B, T, N));
    TM_TRY(wrap(ctx, &Cm, blk[CM], TM_F32, 3, B, T, N));
    TM_TRY(wrap(ctx, &D, m->D, TM_F32, 1, di, 0, 0));
    TM_TRY(wrap(ctx, &y, blk[Y], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &h0, blk[H0], TM_F32, 3, B, di, N));
    if (final) TM_TRY(wrap(ctx, &hT, final->h, TM_F32, 3, B, di, N));
    TM_TRY(tm_op_scan(ctx, &y, final ? &hT : NULL, &xs, &dt, &A, &Bm, &Cm, &D, &h0, &tst));
    if (final)
        for (int b = 0; b < B; b++) final->pos[b] = pos[b * T + T - 1] + 1;
    tm_tensor out2d;
    TM_TRY(tm_tensor_reshape(&out2d, out, 2, u2s));
    return gate_out(ctx, m, blk, rows, &out2d);
}

tm_status tm_mamba_backward(tm_ctx *ctx, const tm_mamba *m, tm_tensor *du, tm_mamba_state *dinit,
                            const tm_tensor *dout, const tm_tensor *u, const tm_tensor *act) {
    if (!u || u->ndim != 3) return tm_fail(TM_EINVAL, "mamba: u must be [B,T,d]");
    int B = (int)u->shape[0], T = (int)u->shape[1], rows = B * T;
    int d = m->cfg.d_model, di = m->d_inner, N = m->cfg.d_state, K = m->cfg.d_conv;
    int R = m->cfg.dt_rank;
    TM_TRY(check_u(m, "u", u, 3, B, T));
    TM_TRY(check_u(m, "dout", dout, 3, B, T));
    if (du) TM_TRY(check_u(m, "du", du, 3, B, T));
    TM_TRY(act_check(m, act, B, T));
    if (dinit && dinit->B != B)
        return tm_fail(TM_EINVAL, "mamba: dinit must hold B = %d streams (got %d)", B, dinit->B);
    size_t own = scratch_layout(&m->cfg, B, T, NULL, NULL);
    size_t need = tm_mamba_scratch_floats(ctx, &m->cfg, B, T);
    if (ctx->scratch_cap < need)
        return tm_fail(TM_ENOMEM,
                       "mamba: backward needs %zu floats of ctx scratch (have %zu); reserve "
                       "tm_mamba_scratch_floats() with tm_ctx_reserve at setup",
                       need, ctx->scratch_cap);
    float *blk[N_ACT], *g[N_SCRATCH];
    act_layout(&m->cfg, B, T, act->data, blk);
    scratch_layout(&m->cfg, B, T, ctx->scratch, g);
    tm_tensor own_scratch; /* the gradients below accumulate: start from zero */
    TM_TRY(wrap(ctx, &own_scratch, ctx->scratch, TM_F32, 1, (int64_t)own, 0, 0));
    TM_TRY(tm_op_zero(ctx, &own_scratch));
    /* The scan takes the scratch after ours. */
    tm_ctx scan_ctx = *ctx;
    scan_ctx.scratch = ctx->scratch + own;
    scan_ctx.scratch_cap = ctx->scratch_cap - own;

    tm_tensor t[N_ACT], dg[N_SCRATCH];
    for (int i = XIN; i <= G; i++) {
        int cols = i == DT_LOW ? R : (i == BM || i == CM) ? N : di;
        TM_TRY(wrap(ctx, &t[i], blk[i], TM_F32, 2, rows, cols, 0));
    }
    for (int i = DG; i <= DC; i++) {
        int cols = i == DDT_LOW ? R : (i == DB || i == DC) ? N : di;
        TM_TRY(wrap(ctx, &dg[i], g[i], TM_F32, 2, rows, cols, 0));
    }
    int64_t u2s[2] = {rows, d};
    tm_tensor u2d, dout2d, du2d;
    TM_TRY(tm_tensor_reshape(&u2d, u, 2, u2s));
    TM_TRY(tm_tensor_reshape(&dout2d, dout, 2, u2s));
    if (du) TM_TRY(tm_tensor_reshape(&du2d, du, 2, u2s));

    /* 6. out = out_proj(y * SiLU(z)) */
    TM_TRY(tm_linear_backward(ctx, &m->out_proj, &dg[DG], &dout2d, &t[G]));
    TM_TRY(tm_op_mul_backward(ctx, &dg[DY], &dg[DSZ], &dg[DG], &t[Y], &t[SZ]));
    TM_TRY(tm_op_act_backward(ctx, TM_ACT_SILU, &dg[DZ], &dg[DSZ], &t[Z]));
    /* 5. the scan */
    tm_tensor xs3, dt3, y3, Bm3, Cm3, dxs3, ddt3, dy3, dB3, dC3, A, dA, D, dD, h0, dh0, tst;
    TM_TRY(wrap(ctx, &xs3, blk[XS], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &dt3, blk[DT], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &y3, blk[Y], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &Bm3, blk[BM], TM_F32, 3, B, T, N));
    TM_TRY(wrap(ctx, &Cm3, blk[CM], TM_F32, 3, B, T, N));
    TM_TRY(wrap(ctx, &dxs3, g[DXS], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &ddt3, g[DDT], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &dy3, g[DY], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &dB3, g[DB], TM_F32, 3, B, T, N));
    TM_TRY(wrap(ctx, &dC3, g[DC], TM_F32, 3, B, T, N));
    TM_TRY(wrap(ctx, &A, blk[AMAT], TM_F32, 2, di, N, 0));
    TM_TRY(wrap(ctx, &dA, g[DA], TM_F32, 2, di, N, 0));
    TM_TRY(wrap(ctx, &D, m->D, TM_F32, 1, di, 0, 0));
    TM_TRY(wrap(ctx, &dD, m->d_D, TM_F32, 1, di, 0, 0));
    TM_TRY(wrap(ctx, &h0, blk[H0], TM_F32, 3, B, di, N));
    TM_TRY(wrap(ctx, &tst, blk[START], TM_I32, 2, B, T, 0));
    if (dinit) TM_TRY(wrap(ctx, &dh0, dinit->h, TM_F32, 3, B, di, N));
    TM_TRY(tm_op_scan_backward(&scan_ctx, &dxs3, &ddt3, &dA, &dB3, &dC3, &dD, dinit ? &dh0 : NULL,
                               &dy3, NULL, &xs3, &dt3, &A, &Bm3, &Cm3, &D, &h0, &tst));
    /* A = -exp(A_log): dA_log = dA * A. */
    for (long i = 0; i < (long)di * N; i++) m->d_A_log[i] += g[DA][i] * blk[AMAT][i];
    /* 4. dt = softplus(dt_proj(dt_low) + dt_bias) */
    TM_TRY(tm_op_act_backward(ctx, TM_ACT_SOFTPLUS, &dg[DDTP], &dg[DDT], &t[DTP]));
    TM_TRY(tm_linear_backward(ctx, &m->dt_proj, &dg[DDT_LOW], &dg[DDTP], &t[DT_LOW]));
    /* 3b. unified RoPE: B, C were rotated after x_proj; rotate their
     * gradients back (the rotation is orthogonal). */
    int dBx = DB, dCx = DC;
    if (m->cfg.rope_bc) {
        const tm_mamba_config *c = &m->cfg;
        tm_tensor dB4, dC4, dBr4, dCr4, pos;
        int64_t sb[4] = {B, T, 1, N}, sp[2] = {B, T};
        TM_TRY(tm_tensor_wrap(&dB4, g[DB], TM_F32, ctx->device, 4, sb));
        TM_TRY(tm_tensor_wrap(&dC4, g[DC], TM_F32, ctx->device, 4, sb));
        TM_TRY(tm_tensor_wrap(&dBr4, g[DB_RAW], TM_F32, ctx->device, 4, sb));
        TM_TRY(tm_tensor_wrap(&dCr4, g[DC_RAW], TM_F32, ctx->device, 4, sb));
        TM_TRY(tm_tensor_wrap(&pos, blk[POS], TM_I32, ctx->device, 2, sp));
        TM_TRY(tm_op_rope_scaled_backward(ctx, &dBr4, &dB4, &pos, c->rope_theta, c->rope_max_pos,
                                          c->rope_factor));
        TM_TRY(tm_op_rope_scaled_backward(ctx, &dCr4, &dC4, &pos, c->rope_theta, c->rope_max_pos,
                                          c->rope_factor));
        TM_TRY(wrap(ctx, &dg[DB_RAW], g[DB_RAW], TM_F32, 2, rows, N, 0));
        TM_TRY(wrap(ctx, &dg[DC_RAW], g[DC_RAW], TM_F32, 2, rows, N, 0));
        dBx = DB_RAW, dCx = DC_RAW;
    }
    /* 3. [dt_low, B, C] = x_proj(x) */
    tm_tensor w0, w1, w2, dw0, dw1, dw2;
    TM_TRY(weight_rows(ctx, &w0, m->x_proj, 0, R, di));
    TM_TRY(weight_rows(ctx, &w1, m->x_proj, R, N, di));
    TM_TRY(weight_rows(ctx, &w2, m->x_proj, R + N, N, di));
    TM_TRY(weight_rows(ctx, &dw0, m->d_x_proj, 0, R, di));
    TM_TRY(weight_rows(ctx, &dw1, m->d_x_proj, R, N, di));
    TM_TRY(weight_rows(ctx, &dw2, m->d_x_proj, R + N, N, di));
    TM_TRY(tm_op_matmul_backward(ctx, &dg[DXS], &dw0, &dg[DDT_LOW], &t[XS], &w0, 0, 1));
    TM_TRY(tm_op_matmul_backward(ctx, &dg[DXS], &dw1, &dg[dBx], &t[XS], &w1, 0, 1));
    TM_TRY(tm_op_matmul_backward(ctx, &dg[DXS], &dw2, &dg[dCx], &t[XS], &w2, 0, 1));
    /* 2. x = SiLU(conv1d(x) + bias) */
    TM_TRY(tm_op_act_backward(ctx, TM_ACT_SILU, &dg[DXC], &dg[DXS], &t[XC]));
    tm_tensor xin3, dxin3, dxc3, conv0, dconv0, cw, dcw, dcb;
    TM_TRY(wrap(ctx, &xin3, blk[XIN], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &dxin3, g[DXIN], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &dxc3, g[DXC], TM_F32, 3, B, T, di));
    TM_TRY(wrap(ctx, &conv0, blk[CONV0], TM_F32, 3, B, di, K - 1));
    TM_TRY(wrap(ctx, &cw, m->conv_w, TM_F32, 2, di, K, 0));
    TM_TRY(wrap(ctx, &dcw, m->d_conv_w, TM_F32, 2, di, K, 0));
    TM_TRY(wrap(ctx, &dcb, m->d_conv_b, TM_F32, 1, di, 0, 0));
    if (dinit) TM_TRY(wrap(ctx, &dconv0, dinit->conv, TM_F32, 3, B, di, K - 1));
    TM_TRY(tm_op_conv1d_backward(ctx, &dxin3, dinit ? &dconv0 : NULL, &dcw, &dcb, &dxc3, NULL,
                                 &xin3, &conv0, &tst, &cw));
    /* 1. [x, z] = in_proj(u) */
    tm_tensor wx, wz, dwx, dwz;
    TM_TRY(weight_rows(ctx, &wx, m->in_proj, 0, di, d));
    TM_TRY(weight_rows(ctx, &wz, m->in_proj, di, di, d));
    TM_TRY(weight_rows(ctx, &dwx, m->d_in_proj, 0, di, d));
    TM_TRY(weight_rows(ctx, &dwz, m->d_in_proj, di, di, d));
    TM_TRY(tm_op_matmul_backward(ctx, du ? &du2d : NULL, &dwx, &dg[DXIN], &u2d, &wx, 0, 1));
    TM_TRY(tm_op_matmul_backward(ctx, du ? &du2d : NULL, &dwz, &dg[DZ], &u2d, &wz, 0, 1));
    return TM_OK;
}
