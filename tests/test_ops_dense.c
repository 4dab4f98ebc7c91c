/* Dense ops (kernels/ops_dense.h): a table-driven finite-difference
 * gradcheck of every backward at several shapes (odd sizes included),
 * forward values against independent double-precision references, argument
 * errors, and thread-count independence of the reductions. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

/* ---- helpers ---------------------------------------------------------------- */

static tm_ctx make_ctx(int threads) {
    tm_ctx ctx;
    cr_assert_eq(tm_ctx_init(&ctx, TM_CPU, threads), TM_OK, "%s", tm_last_error());
    return ctx;
}

/* An owned zeroed f32 / i32 tensor of up to 4 dims (trailing zeros unused). */
static tm_tensor alloc_t(tm_dtype dt, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t s[4] = {d0, d1, d2, d3};
    tm_tensor t;
    cr_assert_eq(tm_tensor_alloc(&t, dt, TM_CPU, ndim, s), TM_OK, "%s", tm_last_error());
    return t;
}
#define F32(...) alloc_t(TM_F32, __VA_ARGS__)

static float *fp(const tm_tensor *t) { return (float *)t->data; }
static int32_t *ip(const tm_tensor *t) { return (int32_t *)t->data; }
static long numel(const tm_tensor *t) { return (long)tm_tensor_numel(t); }

static void fill_normal(tm_rng *r, tm_tensor *t, float std) {
    tm_rng_fill_normal(r, fp(t), numel(t), 0.0f, std);
}

/* ---- the gradcheck harness ------------------------------------------------
 * A case holds up to 4 differentiable tensors x[i] with gradients g[i], the
 * forward output y, a fixed random dy, and whatever else the op needs
 * (saved statistics, ids, targets, mask) in aux[]. L = sum dy * y. */
#define MAXV 4
typedef struct gc_case {
    tm_ctx ctx;
    int nx;
    tm_tensor x[MAXV], g[MAXV];
    const char *name[MAXV];
    tm_tensor y, dy, aux[4];
    int flag[4]; /* per-op settings: activation kind, transposes */
    tm_status (*fwd)(struct gc_case *c);
    tm_status (*bwd)(struct gc_case *c); /* accumulates into g[] */
    /* Scalar losses: the op returns its loss as a float, whose rounding
     * (1 ulp of ~2 is 2.4e-7) would dominate a difference quotient, so the
     * numerical side uses an independent double-precision loss instead. */
    double (*loss_double)(struct gc_case *c);
} gc_case;

static double case_loss(void *user) {
    gc_case *c = user;
    if (c->loss_double) return c->loss_double(c);
    cr_assert_eq(c->fwd(c), TM_OK, "%s", tm_last_error());
    return tm_gc_dot(fp(&c->dy), fp(&c->y), numel(&c->y));
}

static void add_x(gc_case *c, const char *name, tm_tensor x) {
    c->name[c->nx] = name;
    c->x[c->nx] = x;
    c->g[c->nx] = alloc_t(TM_F32, x.ndim, x.shape[0], x.ndim > 1 ? x.shape[1] : 0,
                          x.ndim > 2 ? x.shape[2] : 0, x.ndim > 3 ? x.shape[3] : 0);
    c->nx++;
}

/* Runs forward, a backward with random dy (scalar losses: dy = 1), then the
 * finite-difference check; frees the case. */
static tm_gc_result run_case(gc_case *c, tm_rng *rng, int scalar_loss) {
    cr_assert_eq(c->fwd(c), TM_OK, "%s", tm_last_error());
    c->dy = alloc_t(TM_F32, c->y.ndim, c->y.shape[0], c->y.ndim > 1 ? c->y.shape[1] : 0,
                    c->y.ndim > 2 ? c->y.shape[2] : 0, c->y.ndim > 3 ? c->y.shape[3] : 0);
    if (scalar_loss)
        fp(&c->dy)[0] = 1.0f;
    else
        fill_normal(rng, &c->dy, 1.0f);
    cr_assert_eq(c->bwd(c), TM_OK, "%s", tm_last_error());
    tm_gc_var vars[MAXV];
    for (int i = 0; i < c->nx; i++)
        vars[i] = (tm_gc_var){c->name[i], fp(&c->x[i]), fp(&c->g[i]), numel(&c->x[i])};
    tm_gc_result r = tm_gradcheck(case_loss, c, vars, c->nx, tm_gc_precise_opts());
    for (int i = 0; i < c->nx; i++) {
        tm_tensor_free(&c->x[i]);
        tm_tensor_free(&c->g[i]);
    }
    for (int i = 0; i < 4; i++) tm_tensor_free(&c->aux[i]);
    tm_tensor_free(&c->y);
    tm_tensor_free(&c->dy);
    tm_ctx_free(&c->ctx);
    return r;
}

/* ---- one fwd/bwd pair per op ---------------------------------------------- */

static tm_status matmul_f(gc_case *c) {
    return tm_op_matmul(&c->ctx, &c->y, &c->x[0], &c->x[1], c->flag[0], c->flag[1], 1.0f, 0.0f);
}
static tm_status matmul_b(gc_case *c) {
    return tm_op_matmul_backward(&c->ctx, &c->g[0], &c->g[1], &c->dy, &c->x[0], &c->x[1],
                                 c->flag[0], c->flag[1]);
}
static tm_status bias_f(gc_case *c) { return tm_op_bias_add(&c->ctx, &c->y, &c->x[0], &c->x[1]); }
static tm_status bias_b(gc_case *c) {
    TM_TRY(tm_op_axpy(&c->ctx, &c->g[0], 1.0f, &c->dy)); /* d in = dout */
    return tm_op_bias_backward(&c->ctx, &c->g[1], &c->dy);
}
static tm_status act_f(gc_case *c) { return tm_op_act(&c->ctx, c->flag[0], &c->y, &c->x[0]); }
static tm_status act_b(gc_case *c) {
    return tm_op_act_backward(&c->ctx, c->flag[0], &c->g[0], &c->dy, &c->x[0]);
}
static tm_status mul_f(gc_case *c) { return tm_op_mul(&c->ctx, &c->y, &c->x[0], &c->x[1]); }
static tm_status mul_b(gc_case *c) {
    return tm_op_mul_backward(&c->ctx, &c->g[0], &c->g[1], &c->dy, &c->x[0], &c->x[1]);
}
static tm_status add_f(gc_case *c) { return tm_op_add(&c->ctx, &c->y, &c->x[0], &c->x[1]); }
static tm_status add_b(gc_case *c) {
    TM_TRY(tm_op_axpy(&c->ctx, &c->g[0], 1.0f, &c->dy));
    return tm_op_axpy(&c->ctx, &c->g[1], 1.0f, &c->dy);
}
static tm_status softmax_f(gc_case *c) { return tm_op_softmax(&c->ctx, &c->y, &c->x[0]); }
static tm_status softmax_b(gc_case *c) {
    return tm_op_softmax_backward(&c->ctx, &c->g[0], &c->dy, &c->y);
}
static tm_status rms_f(gc_case *c) {
    return tm_op_rmsnorm(&c->ctx, &c->y, &c->aux[0], &c->x[0], &c->x[1], TM_NORM_EPS);
}
static tm_status rms_b(gc_case *c) {
    return tm_op_rmsnorm_backward(&c->ctx, &c->g[0], &c->g[1], &c->dy, &c->x[0], &c->x[1],
                                  &c->aux[0]);
}
static tm_status ln_f(gc_case *c) {
    return tm_op_layernorm(&c->ctx, &c->y, &c->aux[0], &c->aux[1], &c->x[0], &c->x[1], &c->x[2],
                           TM_NORM_EPS);
}
static tm_status ln_b(gc_case *c) {
    return tm_op_layernorm_backward(&c->ctx, &c->g[0], &c->g[1], &c->g[2], &c->dy, &c->x[0],
                                    &c->x[1], &c->aux[0], &c->aux[1]);
}
static tm_status emb_f(gc_case *c) { return tm_op_embedding(&c->ctx, &c->y, &c->aux[0], &c->x[0]); }
static tm_status emb_b(gc_case *c) {
    return tm_op_embedding_backward(&c->ctx, &c->g[0], &c->dy, &c->aux[0]);
}
static tm_status ce_f(gc_case *c) {
    return tm_op_cross_entropy(&c->ctx, fp(&c->y), NULL, &c->x[0], &c->aux[0], &c->aux[1]);
}
static tm_status ce_b(gc_case *c) {
    float loss;
    TM_TRY(tm_op_cross_entropy(&c->ctx, &loss, &c->aux[2], &c->x[0], &c->aux[0], &c->aux[1]));
    return tm_op_axpy(&c->ctx, &c->g[0], fp(&c->dy)[0], &c->aux[2]);
}
/* sum m_n (logsumexp(z_n) - z_n[t_n]) / sum m, in double. */
static double ce_double(gc_case *c) {
    long N = (long)c->x[0].shape[0];
    int V = (int)c->x[0].shape[1];
    const float *z = fp(&c->x[0]), *m = fp(&c->aux[1]);
    const int32_t *t = ip(&c->aux[0]);
    double num = 0.0, den = 0.0;
    for (long n = 0; n < N; n++) {
        if (m[n] == 0.0f) continue;
        double mx = -INFINITY, se = 0.0;
        for (int v = 0; v < V; v++) mx = fmax(mx, z[n * V + v]);
        for (int v = 0; v < V; v++) se += exp(z[n * V + v] - mx);
        num += m[n] * (mx + log(se) - z[n * V + t[n]]);
        den += m[n];
    }
    return num / den;
}
static double mse_double(gc_case *c) {
    long n = numel(&c->x[0]);
    double s = 0.0;
    for (long i = 0; i < n; i++) {
        double d = (double)fp(&c->x[0])[i] - fp(&c->x[1])[i];
        s += d * d;
    }
    return s / (double)n;
}
static tm_status mse_f(gc_case *c) { return tm_op_mse(&c->ctx, fp(&c->y), NULL, &c->x[0], &c->x[1]); }
static tm_status mse_b(gc_case *c) {
    float loss;
    TM_TRY(tm_op_mse(&c->ctx, &loss, &c->aux[0], &c->x[0], &c->x[1]));
    TM_TRY(tm_op_axpy(&c->ctx, &c->g[0], fp(&c->dy)[0], &c->aux[0]));
    return tm_op_axpy(&c->ctx, &c->g[1], -fp(&c->dy)[0], &c->aux[0]); /* d/dtarget = -d/dpred */
}

/* ---- table rows: dims meaning per row ---------------------------------------- */

static gc_case new_case(tm_status (*f)(gc_case *), tm_status (*b)(gc_case *)) {
    gc_case c;
    memset(&c, 0, sizeof c);
    c.ctx = make_ctx(2);
    c.fwd = f;
    c.bwd = b;
    return c;
}

/* dims {batch (0 = unbatched), M, N, K, trans_a, trans_b, shared b} */
static tm_gc_result row_matmul(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    const int *d = row->dims;
    int Bt = d[0], M = d[1], N = d[2], K = d[3], ta = d[4] & 1, tb = (d[4] >> 1) & 1;
    int shared = d[5];
    gc_case c = new_case(matmul_f, matmul_b);
    c.flag[0] = ta;
    c.flag[1] = tb;
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    tm_tensor a = Bt ? F32(3, Bt, ar, ac, 0) : F32(2, ar, ac, 0, 0);
    tm_tensor b = (Bt && !shared) ? F32(3, Bt, br, bc, 0) : F32(2, br, bc, 0, 0);
    fill_normal(&r, &a, 1.0f);
    fill_normal(&r, &b, 1.0f);
    add_x(&c, "a", a);
    add_x(&c, "b", b);
    c.y = Bt ? F32(3, Bt, M, N, 0) : F32(2, M, N, 0, 0);
    return run_case(&c, &r, 0);
}

/* dims {N, C} */
static tm_gc_result row_bias(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    int N = row->dims[0], C = row->dims[1];
    gc_case c = new_case(bias_f, bias_b);
    tm_tensor x = F32(2, N, C, 0, 0), b = F32(1, C, 0, 0, 0);
    fill_normal(&r, &x, 1.0f);
    fill_normal(&r, &b, 1.0f);
    add_x(&c, "in", x);
    add_x(&c, "bias", b);
    c.y = F32(2, N, C, 0, 0);
    return run_case(&c, &r, 0);
}

/* dims {N, C, act}. Inputs span [-4, 4]; for ReLU they keep 0.5 away from
 * the kink, where no derivative exists (the widest step is 0.08 max(1,|x|)). */
static tm_gc_result row_act(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    int N = row->dims[0], C = row->dims[1];
    gc_case c = new_case(act_f, act_b);
    c.flag[0] = row->dims[2];
    tm_tensor x = F32(2, N, C, 0, 0);
    tm_rng_fill_uniform(&r, fp(&x), numel(&x), -4.0f, 4.0f);
    if (c.flag[0] == TM_ACT_RELU)
        for (long i = 0; i < numel(&x); i++)
            if (fabsf(fp(&x)[i]) < 0.5f) fp(&x)[i] += fp(&x)[i] < 0 ? -0.5f : 0.5f;
    add_x(&c, "in", x);
    c.y = F32(2, N, C, 0, 0);
    return run_case(&c, &r, 0);
}

/* dims {N, C, which: 0 mul, 1 add} */
static tm_gc_result row_binary(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    int N = row->dims[0], C = row->dims[1];
    gc_case c = row->dims[2] ? new_case(add_f, add_b) : new_case(mul_f, mul_b);
    tm_tensor a = F32(2, N, C, 0, 0), b = F32(2, N, C, 0, 0);
    fill_normal(&r, &a, 1.0f);
    fill_normal(&r, &b, 1.0f);
    add_x(&c, "a", a);
    add_x(&c, "b", b);
    c.y = F32(2, N, C, 0, 0);
    return run_case(&c, &r, 0);
}

/* dims {N, C} */
static tm_gc_result row_softmax(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    int N = row->dims[0], C = row->dims[1];
    gc_case c = new_case(softmax_f, softmax_b);
    tm_tensor x = F32(2, N, C, 0, 0);
    fill_normal(&r, &x, 2.0f);
    add_x(&c, "in", x);
    c.y = F32(2, N, C, 0, 0);
    return run_case(&c, &r, 0);
}

/* dims {B, T, C}: input [B, T, C] */
static tm_gc_result row_rmsnorm(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    int B = row->dims[0], T = row->dims[1], C = row->dims[2];
    gc_case c = new_case(rms_f, rms_b);
    tm_tensor x = F32(3, B, T, C, 0), w = F32(1, C, 0, 0, 0);
    fill_normal(&r, &x, 1.5f);
    tm_rng_fill_uniform(&r, fp(&w), C, 0.5f, 1.5f);
    add_x(&c, "in", x);
    add_x(&c, "weight", w);
    c.aux[0] = F32(2, B, T, 0, 0);
    c.y = F32(3, B, T, C, 0);
    return run_case(&c, &r, 0);
}

/* dims {N, C} */
static tm_gc_result row_layernorm(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    int N = row->dims[0], C = row->dims[1];
    gc_case c = new_case(ln_f, ln_b);
    tm_tensor x = F32(2, N, C, 0, 0), w = F32(1, C, 0, 0, 0), b = F32(1, C, 0, 0, 0);
    fill_normal(&r, &x, 1.5f);
    for (long i = 0; i < numel(&x); i++) fp(&x)[i] += 0.7f; /* a non-zero mean */
    tm_rng_fill_uniform(&r, fp(&w), C, 0.5f, 1.5f);
    fill_normal(&r, &b, 0.5f);
    add_x(&c, "in", x);
    add_x(&c, "weight", w);
    add_x(&c, "bias", b);
    c.aux[0] = F32(1, N, 0, 0, 0);
    c.aux[1] = F32(1, N, 0, 0, 0);
    c.y = F32(2, N, C, 0, 0);
    return run_case(&c, &r, 0);
}

/* dims {N ids, V, C}; ids repeat so the scatter-add must sum. */
static tm_gc_result row_embedding(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    int N = row->dims[0], V = row->dims[1], C = row->dims[2];
    gc_case c = new_case(emb_f, emb_b);
    tm_tensor table = F32(2, V, C, 0, 0);
    fill_normal(&r, &table, 1.0f);
    add_x(&c, "table", table);
    c.aux[0] = alloc_t(TM_I32, 1, N, 0, 0, 0);
    for (int i = 0; i < N; i++) ip(&c.aux[0])[i] = (int32_t)tm_rng_below(&r, (uint64_t)V);
    ip(&c.aux[0])[N - 1] = ip(&c.aux[0])[0];
    c.y = F32(2, N, C, 0, 0);
    return run_case(&c, &r, 0);
}

/* dims {N, V}; mask: weights in [0.5, 2] with every third position 0 and its
 * target set to -1 (padding must not be read). */
static tm_gc_result row_ce(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    int N = row->dims[0], V = row->dims[1];
    gc_case c = new_case(ce_f, ce_b);
    c.loss_double = ce_double;
    tm_tensor logits = F32(2, N, V, 0, 0);
    fill_normal(&r, &logits, 2.0f);
    add_x(&c, "logits", logits);
    c.aux[0] = alloc_t(TM_I32, 1, N, 0, 0, 0);
    c.aux[1] = F32(1, N, 0, 0, 0);
    c.aux[2] = F32(2, N, V, 0, 0);
    for (int i = 0; i < N; i++) {
        ip(&c.aux[0])[i] = (int32_t)tm_rng_below(&r, (uint64_t)V);
        fp(&c.aux[1])[i] = 0.5f + 1.5f * tm_rng_uniform(&r);
        if (i % 3 == 2) {
            fp(&c.aux[1])[i] = 0.0f;
            ip(&c.aux[0])[i] = -1;
        }
    }
    c.y = F32(1, 1, 0, 0, 0);
    return run_case(&c, &r, 1);
}

/* dims {N, C} */
static tm_gc_result row_mse(const tm_gc_row *row, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    int N = row->dims[0], C = row->dims[1];
    gc_case c = new_case(mse_f, mse_b);
    c.loss_double = mse_double;
    tm_tensor p = F32(2, N, C, 0, 0), t = F32(2, N, C, 0, 0);
    fill_normal(&r, &p, 1.0f);
    fill_normal(&r, &t, 1.0f);
    add_x(&c, "pred", p);
    add_x(&c, "target", t);
    c.aux[0] = F32(2, N, C, 0, 0);
    c.y = F32(1, 1, 0, 0, 0);
    return run_case(&c, &r, 1);
}

/* trans bits: 1 = a transposed, 2 = b transposed. */
static const tm_gc_row op_rows[] = {
    {"matmul nn", {0, 3, 5, 4, 0, 0}, row_matmul, 0},
    {"matmul nn odd", {0, 7, 13, 5, 0, 0}, row_matmul, 0},
    {"matmul tn", {0, 7, 5, 9, 1, 0}, row_matmul, 0},
    {"matmul nt", {0, 6, 11, 7, 2, 0}, row_matmul, 0},
    {"matmul tt", {0, 5, 3, 13, 3, 0}, row_matmul, 0},
    {"matmul batched", {3, 5, 7, 4, 0, 0}, row_matmul, 0},
    {"matmul batched tt", {2, 5, 7, 3, 3, 0}, row_matmul, 0},
    {"matmul shared b", {3, 5, 7, 4, 2, 1}, row_matmul, 0},
    {"matmul shared b, a^T", {2, 5, 7, 4, 1, 1}, row_matmul, 0},
    {"bias", {13, 7}, row_bias, 0},
    {"bias wide", {3, 130}, row_bias, 0},
    {"silu", {13, 7, TM_ACT_SILU}, row_act, 0},
    {"gelu_tanh", {13, 7, TM_ACT_GELU_TANH}, row_act, 0},
    {"gelu_erf", {13, 7, TM_ACT_GELU_ERF}, row_act, 0},
    {"relu", {13, 7, TM_ACT_RELU}, row_act, 0},
    {"sigmoid", {13, 7, TM_ACT_SIGMOID}, row_act, 0},
    {"tanh", {13, 7, TM_ACT_TANH}, row_act, 0},
    {"softplus", {13, 7, TM_ACT_SOFTPLUS}, row_act, 0},
    {"mul", {13, 7, 0}, row_binary, 0},
    {"add", {5, 3, 1}, row_binary, 0},
    {"softmax", {5, 7}, row_softmax, 0},
    {"softmax odd", {13, 11}, row_softmax, 0},
    {"rmsnorm", {1, 13, 7}, row_rmsnorm, 0},
    {"rmsnorm batched", {3, 5, 33}, row_rmsnorm, 0},
    {"rmsnorm wide", {1, 2, 70}, row_rmsnorm, 0},
    {"layernorm", {13, 7}, row_layernorm, 0},
    {"layernorm wide", {3, 67}, row_layernorm, 0},
    {"embedding", {13, 11, 7}, row_embedding, 0},
    {"embedding wide", {9, 5, 70}, row_embedding, 0},
    {"cross_entropy", {13, 7}, row_ce, 0},
    {"cross_entropy big V", {5, 101}, row_ce, 0},
    {"mse", {13, 7}, row_mse, 0},
};

Test(ops_dense, every_backward_matches_central_differences) {
    for (size_t i = 0; i < sizeof op_rows / sizeof op_rows[0]; i++) {
        const tm_gc_row *row = &op_rows[i];
        tm_gc_result res = row->run(row, 1000 + i);
        double tol = row->tol > 0 ? row->tol : TM_GC_TOL;
        cr_log_info("%s: %s", row->name, res.msg); /* shown with --verbose */
        cr_expect(res.checked > 0, "%s: nothing checked", row->name);
        cr_expect(res.worst < tol, "%s: %s", row->name, res.msg);
    }
}

/* The check itself must be able to fail: a deliberately wrong gradient (one
 * entry of the bias gradient off by 1%) is caught. */
static tm_status bias_b_wrong(gc_case *c) {
    TM_TRY(bias_b(c));
    fp(&c->g[1])[2] *= 1.01f;
    return TM_OK;
}
Test(ops_dense, gradcheck_catches_a_one_percent_error) {
    tm_rng r;
    tm_rng_seed(&r, 7, 0);
    gc_case c = new_case(bias_f, bias_b_wrong);
    tm_tensor x = F32(2, 6, 5, 0, 0), b = F32(1, 5, 0, 0, 0);
    fill_normal(&r, &x, 1.0f);
    fill_normal(&r, &b, 1.0f);
    add_x(&c, "in", x);
    add_x(&c, "bias", b);
    c.y = F32(2, 6, 5, 0, 0);
    tm_gc_result res = run_case(&c, &r, 0);
    cr_expect(res.worst > 2e-3, "a 1%% error went unnoticed: %s", res.msg);
    cr_expect_eq(res.worst_var, 1);
    cr_expect_eq(res.worst_index, 2);
}

/* ---- forward values against independent references ---------------------- */

Test(ops_dense, matmul_equals_triple_loop_for_every_transpose_and_accumulates_with_beta) {
    tm_ctx ctx = make_ctx(2);
    tm_rng r;
    tm_rng_seed(&r, 11, 0);
    int Bt = 2, M = 7, N = 9, K = 13;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            tm_tensor a = ta ? F32(3, Bt, K, M, 0) : F32(3, Bt, M, K, 0);
            tm_tensor b = tb ? F32(3, Bt, N, K, 0) : F32(3, Bt, K, N, 0);
            tm_tensor out = F32(3, Bt, M, N, 0);
            fill_normal(&r, &a, 1.0f);
            fill_normal(&r, &b, 1.0f);
            fill_normal(&r, &out, 1.0f);
            float *old = malloc(sizeof(float) * (size_t)numel(&out));
            memcpy(old, out.data, sizeof(float) * (size_t)numel(&out));
            float alpha = 0.5f, beta = 2.0f;
            cr_assert_eq(tm_op_matmul(&ctx, &out, &a, &b, ta, tb, alpha, beta), TM_OK, "%s",
                         tm_last_error());
            for (int bi = 0; bi < Bt; bi++)
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double s = 0.0;
                        for (int k = 0; k < K; k++) {
                            double av = ta ? fp(&a)[(bi * K + k) * M + i]
                                           : fp(&a)[(bi * M + i) * K + k];
                            double bv = tb ? fp(&b)[(bi * N + j) * K + k]
                                           : fp(&b)[(bi * K + k) * N + j];
                            s += av * bv;
                        }
                        long o = ((long)bi * M + i) * N + j;
                        double want = alpha * s + beta * old[o];
                        cr_assert(fabs(fp(&out)[o] - want) < 1e-4 * (1 + fabs(want)),
                                  "ta %d tb %d [%d,%d,%d]: got %g want %g", ta, tb, bi, i, j,
                                  (double)fp(&out)[o], want);
                    }
            free(old);
            tm_tensor_free(&a);
            tm_tensor_free(&b);
            tm_tensor_free(&out);
        }
    tm_ctx_free(&ctx);
}

Test(ops_dense, matmul_with_beta_zero_ignores_nan_in_out) {
    tm_ctx ctx = make_ctx(1);
    tm_tensor a = F32(2, 2, 3, 0, 0), b = F32(2, 3, 2, 0, 0), out = F32(2, 2, 2, 0, 0);
    for (int i = 0; i < 6; i++) fp(&a)[i] = fp(&b)[i] = (float)(i + 1);
    for (int i = 0; i < 4; i++) fp(&out)[i] = NAN;
    cr_assert_eq(tm_op_matmul(&ctx, &out, &a, &b, 0, 0, 1.0f, 0.0f), TM_OK);
    /* [[1,2,3],[4,5,6]] @ [[1,2],[3,4],[5,6]] = [[22,28],[49,64]] */
    cr_expect_float_eq(fp(&out)[0], 22.0f, 1e-6);
    cr_expect_float_eq(fp(&out)[1], 28.0f, 1e-6);
    cr_expect_float_eq(fp(&out)[2], 49.0f, 1e-6);
    cr_expect_float_eq(fp(&out)[3], 64.0f, 1e-6);
    tm_tensor_free(&a);
    tm_tensor_free(&b);
    tm_tensor_free(&out);
    tm_ctx_free(&ctx);
}

static double act_ref(tm_act act, double x) {
    switch (act) {
    case TM_ACT_SILU: return x / (1.0 + exp(-x));
    case TM_ACT_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case TM_ACT_GELU_ERF: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case TM_ACT_RELU: return x > 0 ? x : 0;
    case TM_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case TM_ACT_TANH: return tanh(x);
    case TM_ACT_SOFTPLUS: return x > 20 ? x : log1p(exp(x));
    default: return NAN;
    }
}

Test(ops_dense, activations_match_double_formulas_and_stay_finite_at_extremes) {
    tm_ctx ctx = make_ctx(2);
    enum { n = 41 };
    tm_tensor x = F32(1, n, 0, 0, 0), y = F32(1, n, 0, 0, 0);
    for (int i = 0; i < n - 4; i++) fp(&x)[i] = -9.0f + 0.5f * (float)i;
    fp(&x)[n - 4] = -100.0f; /* exp overflow bait for sigmoid/silu/softplus */
    fp(&x)[n - 3] = 100.0f;
    fp(&x)[n - 2] = 20.5f;  /* just above the softplus threshold */
    fp(&x)[n - 1] = 19.5f;  /* just below it */
    for (int act = 0; act < TM_ACT_COUNT; act++) {
        cr_assert_eq(tm_op_act(&ctx, act, &y, &x), TM_OK, "%s", tm_last_error());
        for (int i = 0; i < n; i++) {
            double want = act_ref(act, fp(&x)[i]);
            cr_expect(isfinite(fp(&y)[i]), "%s(%g) not finite", tm_act_name(act),
                      (double)fp(&x)[i]);
            cr_expect(fabs(fp(&y)[i] - want) <= 2e-6 * (1 + fabs(want)),
                      "%s(%g): got %.9g want %.9g", tm_act_name(act), (double)fp(&x)[i],
                      (double)fp(&y)[i], want);
        }
    }
    /* The two GELUs are different functions that agree closely. */
    tm_tensor y2 = F32(1, n, 0, 0, 0);
    cr_assert_eq(tm_op_act(&ctx, TM_ACT_GELU_TANH, &y, &x), TM_OK);
    cr_assert_eq(tm_op_act(&ctx, TM_ACT_GELU_ERF, &y2, &x), TM_OK);
    double maxdiff = 0.0;
    for (int i = 0; i < n; i++) maxdiff = fmax(maxdiff, fabs(fp(&y)[i] - fp(&y2)[i]));
    cr_expect(maxdiff > 1e-5 && maxdiff < 1e-3, "gelu forms differ by %g", maxdiff);
    cr_expect_eq(tm_act_parse("gelu"), TM_ACT_GELU);
    cr_expect_eq(tm_act_parse("gelu_erf"), TM_ACT_GELU_ERF);
    cr_expect_eq(tm_act_parse("swish?"), -1);
    tm_tensor_free(&x);
    tm_tensor_free(&y);
    tm_tensor_free(&y2);
    tm_ctx_free(&ctx);
}

/* ---- activation accuracy: the bounds kernels/cpu/activation.c documents ---- */

static double sigmoid_d(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

/* f (deriv = 0) or f' (deriv = 1) in double, written so that no term
 * cancels: 1 - sigmoid(x) as sigmoid(-x), GELU tanh as x sigmoid(2u), GELU
 * erf's Phi as erfc/2, sech^2 from cosh. */
static double act_exact(tm_act act, int deriv, double x) {
    const double k = sqrt(2.0 / M_PI), a = 0.044715;
    double u2 = 2.0 * k * (x + a * x * x * x);
    switch (act) {
    case TM_ACT_SILU: return deriv ? sigmoid_d(x) * (1.0 + x * sigmoid_d(-x)) : x * sigmoid_d(x);
    case TM_ACT_GELU_TANH:
        return deriv ? sigmoid_d(u2) + x * sigmoid_d(u2) * sigmoid_d(-u2) * 2.0 * k * (1.0 + 3.0 * a * x * x)
                     : x * sigmoid_d(u2);
    case TM_ACT_GELU_ERF:
        return deriv ? 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI)
                     : 0.5 * x * erfc(-x / sqrt(2.0));
    case TM_ACT_RELU: return deriv ? (x > 0) : (x > 0 ? x : 0.0);
    case TM_ACT_SIGMOID: return deriv ? sigmoid_d(x) * sigmoid_d(-x) : sigmoid_d(x);
    case TM_ACT_TANH: return deriv ? 1.0 / (cosh(x) * cosh(x)) : tanh(x);
    case TM_ACT_SOFTPLUS:
        return deriv ? sigmoid_d(x) : (x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)));
    default: return NAN;
    }
}

/* |got - exact| <= rel |exact| + abs, per activation and direction. abs:
 * 1e-36 covers the flush of results below FLT_MIN; the derivatives of SiLU
 * and GELU cross zero (1e-7: rounding of their O(1) terms); the GELUs'
 * negative tails inherit the fp32 rounding of u and of x^2/2 inside an exp
 * (1e-8 and 1e-9). */
static const struct {
    double rel, abs;
} act_bound[TM_ACT_COUNT][2] = {
    [TM_ACT_SILU] = {{1e-6, 1e-36}, {1e-6, 1e-7}},
    [TM_ACT_GELU_TANH] = {{1e-6, 1e-8}, {1e-6, 1e-7}},
    [TM_ACT_GELU_ERF] = {{1e-6, 1e-9}, {1e-6, 1e-7}},
    [TM_ACT_RELU] = {{0, 0}, {0, 0}},
    [TM_ACT_SIGMOID] = {{1e-6, 1e-36}, {1e-6, 1e-36}},
    [TM_ACT_TANH] = {{1e-6, 1e-36}, {1e-6, 1e-36}},
    [TM_ACT_SOFTPLUS] = {{1e-6, 1e-36}, {1e-6, 1e-36}},
};

Test(ops_dense, activations_and_derivatives_stay_within_documented_bounds_over_the_range) {
    tm_ctx ctx = make_ctx(2);
    /* [-30, 30] in steps of 1/1024 (exact in fp32), then the extremes. */
    enum { sweep = 60 * 1024 + 1, extra = 12, n = sweep + extra };
    static const float extremes[extra] = {1e30f,   -1e30f,  FLT_MAX, -FLT_MAX, 1e-40f, -1e-40f,
                                          1e-45f, -1e-45f, 88.5f,   -88.5f,   -104.f, 150.f};
    tm_tensor x = F32(1, n, 0, 0, 0), y = F32(1, n, 0, 0, 0), dy = F32(1, n, 0, 0, 0),
              dx = F32(1, n, 0, 0, 0);
    for (int i = 0; i < sweep; i++) fp(&x)[i] = -30.0f + (float)i / 1024.0f;
    for (int i = 0; i < extra; i++) fp(&x)[sweep + i] = extremes[i];
    for (int i = 0; i < n; i++) fp(&dy)[i] = 1.0f;
    for (int act = 0; act < TM_ACT_COUNT; act++) {
        cr_assert_eq(tm_op_act(&ctx, act, &y, &x), TM_OK, "%s", tm_last_error());
        memset(fp(&dx), 0, (size_t)n * sizeof(float));
        cr_assert_eq(tm_op_act_backward(&ctx, act, &dx, &dy, &x), TM_OK, "%s", tm_last_error());
        for (int deriv = 0; deriv < 2; deriv++) {
            const float *got = deriv ? fp(&dx) : fp(&y);
            double worst = 0.0, worst_x = 0.0; /* error / allowed, at x */
            for (int i = 0; i < n; i++) {
                double xi = fp(&x)[i], want = act_exact(act, deriv, xi);
                double err = fabs((double)got[i] - want);
                double allowed = act_bound[act][deriv].rel * fabs(want) + act_bound[act][deriv].abs;
                double ratio = err == 0.0 ? 0.0 : allowed > 0.0 ? err / allowed : INFINITY;
                if (!(ratio <= worst)) { /* also catches a NaN result */
                    worst = isnan(ratio) ? INFINITY : ratio;
                    worst_x = xi;
                }
            }
            cr_expect(worst <= 1.0, "%s%s(%g): error %g times the bound (rel %g, abs %g)",
                      tm_act_name(act), deriv ? "'" : "", worst_x, worst,
                      act_bound[act][deriv].rel, act_bound[act][deriv].abs);
        }
    }
    tm_tensor_free(&x);
    tm_tensor_free(&y);
    tm_tensor_free(&dy);
    tm_tensor_free(&dx);
    tm_ctx_free(&ctx);
}

/* The limits are exact at +-inf, and NaN propagates through every function
 * (ReLU's max(x, 0) maps NaN to 0 by its definition here: x > 0 is false). */
Test(ops_dense, activations_reach_exact_limits_at_infinity_and_propagate_nan) {
    tm_ctx ctx = make_ctx(1);
    tm_tensor x = F32(1, 3, 0, 0, 0), y = F32(1, 3, 0, 0, 0), dy = F32(1, 3, 0, 0, 0),
              dx = F32(1, 3, 0, 0, 0);
    fp(&x)[0] = INFINITY;
    fp(&x)[1] = -INFINITY;
    fp(&x)[2] = NAN;
    for (int i = 0; i < 3; i++) fp(&dy)[i] = 1.0f;
    /* {f(inf), f(-inf), f'(inf), f'(-inf)} */
    static const float limits[TM_ACT_COUNT][4] = {
        [TM_ACT_SILU] = {INFINITY, 0.0f, 1.0f, 0.0f},
        [TM_ACT_GELU_TANH] = {INFINITY, 0.0f, 1.0f, 0.0f},
        [TM_ACT_GELU_ERF] = {INFINITY, 0.0f, 1.0f, 0.0f},
        [TM_ACT_RELU] = {INFINITY, 0.0f, 1.0f, 0.0f},
        [TM_ACT_SIGMOID] = {1.0f, 0.0f, 0.0f, 0.0f},
        [TM_ACT_TANH] = {1.0f, -1.0f, 0.0f, 0.0f},
        [TM_ACT_SOFTPLUS] = {INFINITY, 0.0f, 1.0f, 0.0f},
    };
    for (int act = 0; act < TM_ACT_COUNT; act++) {
        cr_assert_eq(tm_op_act(&ctx, act, &y, &x), TM_OK);
        memset(fp(&dx), 0, 3 * sizeof(float));
        cr_assert_eq(tm_op_act_backward(&ctx, act, &dx, &dy, &x), TM_OK);
        cr_expect(fp(&y)[0] == limits[act][0] && fp(&y)[1] == limits[act][1] &&
                      fp(&dx)[0] == limits[act][2] && fp(&dx)[1] == limits[act][3],
                  "%s: f(+-inf) = %g, %g and f'(+-inf) = %g, %g; want %g, %g, %g, %g",
                  tm_act_name(act), (double)fp(&y)[0], (double)fp(&y)[1], (double)fp(&dx)[0],
                  (double)fp(&dx)[1], (double)limits[act][0], (double)limits[act][1],
                  (double)limits[act][2], (double)limits[act][3]);
        if (act != TM_ACT_RELU)
            cr_expect(isnan(fp(&y)[2]) && isnan(fp(&dx)[2]), "%s(NaN) = %g, f'(NaN) = %g",
                      tm_act_name(act), (double)fp(&y)[2], (double)fp(&dx)[2]);
    }
    tm_tensor_free(&x);
    tm_tensor_free(&y);
    tm_tensor_free(&dy);
    tm_tensor_free(&dx);
    tm_ctx_free(&ctx);
}

Test(ops_dense, softmax_rows_sum_to_one_and_survive_large_logits) {
    tm_ctx ctx = make_ctx(2);
    tm_rng r;
    tm_rng_seed(&r, 3, 0);
    int N = 6, C = 9;
    tm_tensor x = F32(2, N, C, 0, 0), y = F32(2, N, C, 0, 0);
    fill_normal(&r, &x, 3.0f);
    for (int c = 0; c < C; c++) fp(&x)[c] += 1000.0f; /* row 0: exp(1000) would overflow */
    cr_assert_eq(tm_op_softmax(&ctx, &y, &x), TM_OK);
    for (int n = 0; n < N; n++) {
        double mx = -INFINITY, z = 0.0, sum = 0.0;
        for (int c = 0; c < C; c++) mx = fmax(mx, fp(&x)[n * C + c]);
        for (int c = 0; c < C; c++) z += exp((double)fp(&x)[n * C + c] - mx);
        for (int c = 0; c < C; c++) {
            double want = exp((double)fp(&x)[n * C + c] - mx) / z;
            cr_expect(fabs(fp(&y)[n * C + c] - want) < 1e-6, "row %d col %d", n, c);
            sum += fp(&y)[n * C + c];
        }
        cr_expect(fabs(sum - 1.0) < 1e-5, "row %d sums to %.8f", n, sum);
    }
    tm_tensor_free(&x);
    tm_tensor_free(&y);
    tm_ctx_free(&ctx);
}

Test(ops_dense, rmsnorm_with_unit_weight_gives_unit_rms_and_layernorm_zero_mean_unit_var) {
    tm_ctx ctx = make_ctx(2);
    tm_rng r;
    tm_rng_seed(&r, 5, 0);
    int N = 7, C = 33;
    tm_tensor x = F32(2, N, C, 0, 0), y = F32(2, N, C, 0, 0), w = F32(1, C, 0, 0, 0),
              b = F32(1, C, 0, 0, 0), mean = F32(1, N, 0, 0, 0), rstd = F32(1, N, 0, 0, 0);
    fill_normal(&r, &x, 3.0f);
    for (long i = 0; i < numel(&x); i++) fp(&x)[i] += 2.0f;
    for (int c = 0; c < C; c++) fp(&w)[c] = 1.0f;
    cr_assert_eq(tm_op_rmsnorm(&ctx, &y, &rstd, &x, &w, TM_NORM_EPS), TM_OK, "%s",
                 tm_last_error());
    for (int n = 0; n < N; n++) {
        double ss = 0.0, xs = 0.0;
        for (int c = 0; c < C; c++) {
            ss += (double)fp(&y)[n * C + c] * fp(&y)[n * C + c];
            xs += (double)fp(&x)[n * C + c] * fp(&x)[n * C + c];
        }
        cr_expect(fabs(sqrt(ss / C) - 1.0) < 1e-4, "row %d rms %g", n, sqrt(ss / C));
        cr_expect(fabs(fp(&rstd)[n] - 1.0 / sqrt(xs / C + 1e-5)) < 1e-5 * fp(&rstd)[n]);
    }
    cr_assert_eq(tm_op_layernorm(&ctx, &y, &mean, &rstd, &x, &w, &b, TM_NORM_EPS), TM_OK);
    for (int n = 0; n < N; n++) {
        double s = 0.0, ss = 0.0, xm = 0.0;
        for (int c = 0; c < C; c++) {
            s += fp(&y)[n * C + c];
            xm += fp(&x)[n * C + c];
        }
        for (int c = 0; c < C; c++) ss += (double)fp(&y)[n * C + c] * fp(&y)[n * C + c];
        cr_expect(fabs(s / C) < 1e-5, "row %d mean %g", n, s / C);
        cr_expect(fabs(ss / C - 1.0) < 1e-4, "row %d var %g", n, ss / C);
        cr_expect(fabs(fp(&mean)[n] - xm / C) < 1e-5 * (1 + fabs(xm / C)));
    }
    tm_tensor_free(&x);
    tm_tensor_free(&y);
    tm_tensor_free(&w);
    tm_tensor_free(&b);
    tm_tensor_free(&mean);
    tm_tensor_free(&rstd);
    tm_ctx_free(&ctx);
}

Test(ops_dense, embedding_gathers_rows_and_scatter_add_sums_repeated_ids) {
    tm_ctx ctx = make_ctx(2);
    int V = 4, C = 3;
    tm_tensor table = F32(2, V, C, 0, 0), dtable = F32(2, V, C, 0, 0);
    tm_tensor ids = alloc_t(TM_I32, 2, 2, 2, 0, 0), out = F32(3, 2, 2, C, 0);
    for (int i = 0; i < V * C; i++) fp(&table)[i] = (float)(10 * (i / C) + i % C);
    int32_t id[4] = {3, 1, 3, 0};
    memcpy(ids.data, id, sizeof id);
    cr_assert_eq(tm_op_embedding(&ctx, &out, &ids, &table), TM_OK, "%s", tm_last_error());
    for (int n = 0; n < 4; n++)
        for (int c = 0; c < C; c++) cr_expect_eq(fp(&out)[n * C + c], (float)(10 * id[n] + c));
    for (int i = 0; i < 4 * C; i++) fp(&out)[i] = 1.0f + (float)(i / C); /* dout row n = n+1 */
    cr_assert_eq(tm_op_embedding_backward(&ctx, &dtable, &out, &ids), TM_OK);
    float want[4] = {4.0f, 2.0f, 0.0f, 1.0f + 3.0f}; /* id 3 at rows 0 and 2 */
    for (int v = 0; v < V; v++)
        for (int c = 0; c < C; c++) cr_expect_eq(fp(&dtable)[v * C + c], want[v], "row %d", v);
    tm_tensor_free(&table);
    tm_tensor_free(&dtable);
    tm_tensor_free(&ids);
    tm_tensor_free(&out);
    tm_ctx_free(&ctx);
}

Test(ops_dense, cross_entropy_equals_minus_log_softmax_at_target_over_masked_positions) {
    tm_ctx ctx = make_ctx(1);
    /* Row 0: logits (1,2,3), target 2; row 1: (0,0,0), target 0, weight 3;
     * row 2 masked out with a padding target -1. */
    float logits[9] = {1, 2, 3, 0, 0, 0, 50, -50, 7};
    int32_t targets[3] = {2, 0, -1};
    float mask[3] = {1.0f, 3.0f, 0.0f};
    int64_t ls[2] = {3, 3}, ns[1] = {3};
    tm_tensor tl, tt, tmk, dl = F32(2, 3, 3, 0, 0);
    cr_assert_eq(tm_tensor_wrap(&tl, logits, TM_F32, TM_CPU, 2, ls), TM_OK);
    cr_assert_eq(tm_tensor_wrap(&tt, targets, TM_I32, TM_CPU, 1, ns), TM_OK);
    cr_assert_eq(tm_tensor_wrap(&tmk, mask, TM_F32, TM_CPU, 1, ns), TM_OK);
    float loss = -1.0f, acc = -1.0f;
    cr_assert_eq(tm_op_cross_entropy(&ctx, &loss, &dl, &tl, &tt, &tmk), TM_OK, "%s",
                 tm_last_error());
    double l0 = -log(exp(3.0) / (exp(1.0) + exp(2.0) + exp(3.0))), l1 = log(3.0);
    double want = (1.0 * l0 + 3.0 * l1) / 4.0;
    cr_expect(fabs(loss - want) < 1e-6, "loss %.8f want %.8f", (double)loss, want);
    /* dlogits row 1 = 3/4 (1/3 - onehot); masked row 2 is zero. */
    cr_expect(fabs(fp(&dl)[3] - 0.75 * (1.0 / 3.0 - 1.0)) < 1e-6);
    cr_expect(fabs(fp(&dl)[4] - 0.75 / 3.0) < 1e-6);
    for (int v = 6; v < 9; v++) cr_expect_eq(fp(&dl)[v], 0.0f);
    /* Accuracy: row 0 argmax 2 = target (weight 1); row 1 argmax is the
     * first maximum, 0 = target (weight 3); row 2 masked. */
    cr_assert_eq(tm_op_masked_accuracy(&ctx, &acc, &tl, &tt, &tmk), TM_OK);
    cr_expect_float_eq(acc, 1.0f, 1e-7);
    targets[0] = 1;
    cr_assert_eq(tm_op_masked_accuracy(&ctx, &acc, &tl, &tt, &tmk), TM_OK);
    cr_expect_float_eq(acc, 0.75f, 1e-7);
    /* Nothing unmasked: loss 0, gradient 0, not NaN. */
    for (int i = 0; i < 3; i++) mask[i] = 0.0f;
    cr_assert_eq(tm_op_cross_entropy(&ctx, &loss, &dl, &tl, &tt, &tmk), TM_OK);
    cr_expect_eq(loss, 0.0f);
    for (int v = 0; v < 9; v++) cr_expect_eq(fp(&dl)[v], 0.0f);
    tm_tensor_free(&dl);
    tm_ctx_free(&ctx);
}

Test(ops_dense, mse_is_the_mean_squared_difference) {
    tm_ctx ctx = make_ctx(1);
    float p[4] = {1, 2, 3, 4}, t[4] = {1, 0, 4, 1};
    int64_t s[2] = {2, 2};
    tm_tensor tp, tt, dp = F32(2, 2, 2, 0, 0);
    cr_assert_eq(tm_tensor_wrap(&tp, p, TM_F32, TM_CPU, 2, s), TM_OK);
    cr_assert_eq(tm_tensor_wrap(&tt, t, TM_F32, TM_CPU, 2, s), TM_OK);
    float loss;
    cr_assert_eq(tm_op_mse(&ctx, &loss, &dp, &tp, &tt), TM_OK);
    cr_expect_float_eq(loss, (0 + 4 + 1 + 9) / 4.0f, 1e-6);
    cr_expect_float_eq(fp(&dp)[1], 2.0f * 2.0f / 4.0f, 1e-6);
    cr_expect_float_eq(fp(&dp)[2], 2.0f * -1.0f / 4.0f, 1e-6);
    tm_tensor_free(&dp);
    tm_ctx_free(&ctx);
}

/* ---- errors ------------------------------------------------------------------ */

Test(ops_dense, matmul_shape_mismatch_names_the_op_the_argument_and_shapes) {
    tm_ctx ctx = make_ctx(1);
    tm_tensor a = F32(2, 2, 3, 0, 0), b = F32(2, 4, 5, 0, 0), out = F32(2, 2, 5, 0, 0);
    cr_expect_eq(tm_op_matmul(&ctx, &out, &a, &b, 0, 0, 1.0f, 0.0f), TM_EINVAL);
    const char *msg = tm_last_error();
    cr_expect(strstr(msg, "matmul") && strstr(msg, "argument b") && strstr(msg, "[4,5]"), "%s",
              msg);
    tm_tensor b2 = F32(2, 3, 5, 0, 0), bad_out = F32(2, 5, 2, 0, 0);
    cr_expect_eq(tm_op_matmul(&ctx, &bad_out, &a, &b2, 0, 0, 1.0f, 0.0f), TM_EINVAL);
    msg = tm_last_error();
    cr_expect(strstr(msg, "argument out") && strstr(msg, "[2,5]"), "%s", msg);
    tm_tensor_free(&a);
    tm_tensor_free(&b);
    tm_tensor_free(&b2);
    tm_tensor_free(&out);
    tm_tensor_free(&bad_out);
    tm_ctx_free(&ctx);
}

Test(ops_dense, out_of_range_token_id_fails_naming_the_id_and_vocab_and_writes_nothing) {
    tm_ctx ctx = make_ctx(1);
    tm_tensor table = F32(2, 5, 2, 0, 0), ids = alloc_t(TM_I32, 1, 3, 0, 0, 0),
              out = F32(2, 3, 2, 0, 0);
    int32_t id[3] = {1, 7, 2};
    memcpy(ids.data, id, sizeof id);
    for (int i = 0; i < 6; i++) fp(&out)[i] = -3.0f;
    cr_expect_eq(tm_op_embedding(&ctx, &out, &ids, &table), TM_ERANGE);
    const char *msg = tm_last_error();
    cr_expect(strstr(msg, "embedding") && strstr(msg, "7") && strstr(msg, "[0, 5)"), "%s", msg);
    for (int i = 0; i < 6; i++) cr_expect_eq(fp(&out)[i], -3.0f);
    ip(&ids)[1] = -1;
    cr_expect_eq(tm_op_embedding_backward(&ctx, &table, &out, &ids), TM_ERANGE);
    tm_tensor_free(&table);
    tm_tensor_free(&ids);
    tm_tensor_free(&out);
    tm_ctx_free(&ctx);
}

Test(ops_dense, bad_targets_masks_dtypes_and_cuda_tensors_are_reported) {
    tm_ctx ctx = make_ctx(1);
    tm_tensor logits = F32(2, 2, 3, 0, 0), tgt = alloc_t(TM_I32, 1, 2, 0, 0, 0),
              mask = F32(1, 2, 0, 0, 0);
    fp(&mask)[0] = fp(&mask)[1] = 1.0f;
    ip(&tgt)[1] = 3;
    float loss;
    cr_expect_eq(tm_op_cross_entropy(&ctx, &loss, NULL, &logits, &tgt, &mask), TM_ERANGE);
    cr_expect(strstr(tm_last_error(), "target 3"), "%s", tm_last_error());
    ip(&tgt)[1] = 0;
    fp(&mask)[0] = -1.0f;
    cr_expect_eq(tm_op_cross_entropy(&ctx, &loss, NULL, &logits, &tgt, &mask), TM_EINVAL);
    cr_expect(strstr(tm_last_error(), "mask[0]"), "%s", tm_last_error());
    /* f32 where i32 targets belong. */
    cr_expect_eq(tm_op_cross_entropy(&ctx, &loss, NULL, &logits, &mask, NULL), TM_EINVAL);
    cr_expect(strstr(tm_last_error(), "targets") && strstr(tm_last_error(), "i32"), "%s",
              tm_last_error());
    /* A CUDA tensor: loud "not built yet", never a silent CPU fallback. */
    tm_tensor fake = logits;
    fake.device = TM_CUDA;
    tm_tensor out = F32(2, 2, 3, 0, 0);
    cr_expect_eq(tm_op_softmax(&ctx, &out, &fake), TM_ENOTIMPL);
    cr_expect(strstr(tm_last_error(), "cuda"), "%s", tm_last_error());
    tm_ctx c2;
    cr_expect_eq(tm_ctx_init(&c2, TM_CUDA, 1), TM_ENOTIMPL);
    /* Norm weight of the wrong length. */
    tm_tensor w = F32(1, 4, 0, 0, 0), rstd = F32(1, 2, 0, 0, 0);
    cr_expect_eq(tm_op_rmsnorm(&ctx, &out, &rstd, &logits, &w, TM_NORM_EPS), TM_EINVAL);
    cr_expect(strstr(tm_last_error(), "rmsnorm") && strstr(tm_last_error(), "weight"), "%s",
              tm_last_error());
    cr_expect_eq(tm_op_act(&ctx, (tm_act)99, &out, &logits), TM_EINVAL);
    tm_tensor_free(&logits);
    tm_tensor_free(&tgt);
    tm_tensor_free(&mask);
    tm_tensor_free(&out);
    tm_tensor_free(&w);
    tm_tensor_free(&rstd);
    tm_ctx_free(&ctx);
}

/* ---- determinism: reductions do not depend on the thread count ----------- */

Test(ops_dense, column_reductions_are_bit_identical_for_1_and_2_threads) {
    tm_rng r;
    tm_rng_seed(&r, 9, 0);
    int N = 600, C = 130; /* large enough that the parallel paths run */
    tm_tensor x = F32(2, N, C, 0, 0), g = F32(2, N, C, 0, 0), w = F32(1, C, 0, 0, 0),
              rstd = F32(1, N, 0, 0, 0), y = F32(2, N, C, 0, 0);
    fill_normal(&r, &x, 1.0f);
    fill_normal(&r, &g, 1.0f);
    tm_rng_fill_uniform(&r, fp(&w), C, 0.5f, 1.5f);
    tm_tensor db[2], dw[2];
    for (int t = 0; t < 2; t++) {
        tm_ctx ctx = make_ctx(t + 1);
        db[t] = F32(1, C, 0, 0, 0);
        dw[t] = F32(1, C, 0, 0, 0);
        cr_assert_eq(tm_op_bias_backward(&ctx, &db[t], &g), TM_OK);
        cr_assert_eq(tm_op_rmsnorm(&ctx, &y, &rstd, &x, &w, TM_NORM_EPS), TM_OK);
        cr_assert_eq(tm_op_rmsnorm_backward(&ctx, NULL, &dw[t], &g, &x, &w, &rstd), TM_OK);
        tm_ctx_free(&ctx);
    }
    cr_expect(memcmp(db[0].data, db[1].data, sizeof(float) * C) == 0);
    cr_expect(memcmp(dw[0].data, dw[1].data, sizeof(float) * C) == 0);
    for (int t = 0; t < 2; t++) {
        tm_tensor_free(&db[t]);
        tm_tensor_free(&dw[t]);
    }
    tm_tensor_free(&x);
    tm_tensor_free(&g);
    tm_tensor_free(&w);
    tm_tensor_free(&rstd);
    tm_tensor_free(&y);
}
