/* DualTierMiras tests (issue 4): read gradients over a table of configs,
 * recall, stream isolation, surprise, the deep-write gate, decay, top-k,
 * OT consolidation and the OT write policy, state bytes, errors.
 * Definition: shared spec memory.md "DualTierMiras"; memory/miras.h. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "core/rng.h"
#include "memory/miras.h"
#include "memory/sinkhorn.h"
#include "tests/gradcheck.h"

/* ---- a memory with its parameters and state ------------------------------- */

typedef struct {
    tm_params p;
    tm_miras m;
    tm_miras_state s;
    float *act;
} mem;

static void mem_make(mem *x, const tm_miras_config *c, int B, uint64_t seed) {
    tm_params_init(&x->p);
    cr_assert_eq(tm_miras_declare(&x->m, c, &x->p, "mem"), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_params_finalize(&x->p), TM_OK);
    tm_miras_bind(&x->m, &x->p);
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    tm_miras_init(&x->m, &r);
    cr_assert_eq(tm_miras_state_create(&x->s, &x->m, B), TM_OK, "%s", tm_last_error());
    x->act = calloc(tm_miras_read_act_floats(c, B), sizeof(float));
    cr_assert(x->act);
}

static void mem_free(mem *x) {
    free(x->act);
    tm_miras_state_free(&x->s);
    tm_miras_free(&x->m);
    tm_params_free(&x->p);
}

static float *randn(tm_rng *r, size_t n, float std) {
    float *x = malloc(n * sizeof(float));
    cr_assert(x);
    tm_rng_fill_normal(r, x, (long)n, 0.0f, std);
    return x;
}

static void read(mem *x, float *v, tm_miras_read_info *info, const float *key, const float *ctx,
                 int B) {
    cr_assert_eq(tm_miras_read_forward(&x->m, &x->s, v, info, x->act, key, ctx, B), TM_OK, "%s",
                 tm_last_error());
}

static float *tier_keys(tm_miras_state *s, int deep, int b, int j) {
    return (deep ? s->deep_keys : s->fast_keys) + ((size_t)b * s->M + j) * s->s;
}
static float *tier_values(tm_miras_state *s, int deep, int b, int j) {
    return (deep ? s->deep_values : s->fast_values) + ((size_t)b * s->M + j) * s->s;
}
static float *tier_strength(tm_miras_state *s, int deep, int b) {
    return (deep ? s->deep_strength : s->fast_strength) + (size_t)b * s->M;
}

static double cosd(const float *x, const float *y, int n) {
    double d = 0, nx = 0, ny = 0;
    for (int i = 0; i < n; i++) {
        d += (double)x[i] * y[i];
        nx += (double)x[i] * x[i];
        ny += (double)y[i] * y[i];
    }
    return d / (fmax(sqrt(nx), 1e-6) * fmax(sqrt(ny), 1e-6));
}

/* ---- gradcheck table -------------------------------------------------------- */

enum {
    GC_DEFAULT, GC_HEADS2, GC_SPARSE, GC_COMPRESS, GC_ADAPTIVE_OFF, GC_QPROJ_OFF, GC_NO_CONTEXT,
    GC_ONE_TIER_EMPTY, GC_PARTLY_FILLED, GC_HEADS2_COMPRESS_SPARSE
};

typedef struct {
    mem x;
    int B, d, use_ctx;
    float *key, *ctx, *dv, *v, *dkey, *dctx;
} gc_case;

/* The read's query in slot space, by the spec's formula: qc =
 * compress(W_q key + b_q) (each step only when on). */
static void query_of(const tm_miras *m, float *qc, const float *key) {
    int d = m->cfg.d_model, s = m->slot_dim;
    float q[64];
    cr_assert(d <= 64);
    for (int o = 0; o < d; o++) {
        double a = m->cfg.use_query_proj ? m->q_proj.b[o] : key[o];
        if (m->cfg.use_query_proj)
            for (int i = 0; i < d; i++) a += (double)m->q_proj.w[o * d + i] * key[i];
        q[o] = (float)a;
    }
    for (int o = 0; o < s; o++) {
        double a = m->cfg.use_memory_compression ? m->compress.b[o] : q[o];
        if (m->cfg.use_memory_compression)
            for (int i = 0; i < d; i++) a += (double)m->compress.w[o * d + i] * q[i];
        qc[o] = (float)a;
    }
}

static double gc_loss(void *user) {
    gc_case *g = user;
    read(&g->x, g->v, NULL, g->key, g->use_ctx ? g->ctx : NULL, g->B);
    return tm_gc_dot(g->dv, g->v, (long)g->B * g->d);
}

/* Fills stream b's tier with n_fill slots (the rest empty) of random
 * contents; strengths 1, or in [0.05, 1) when mixed. */
static void fill_tier(mem *x, tm_rng *r, int deep, int b, int n_fill, int mixed) {
    int s = x->s.s;
    for (int j = 0; j < n_fill; j++) {
        tm_rng_fill_normal(r, tier_keys(&x->s, deep, b, j), s, 0.0f, 1.0f);
        tm_rng_fill_normal(r, tier_values(&x->s, deep, b, j), s, 0.0f, 1.0f);
        tier_strength(&x->s, deep, b)[j] = mixed ? 0.05f + 0.95f * tm_rng_uniform(r) : 1.0f;
    }
}

/* The read runs in float (memory/miras_read.c), and 1/tau = 10 amplifies
 * its ~1e-7 relative rounding (of q, of a cosine, of a score) into ~1e-6 of
 * L, which the central differences divide by 2h: the smallest entries a
 * row checks (|grad| ~ 1e-3, near the 1% floor) then read 0.5-1% off.
 * Measured worst over the table: 1.02e-2 (q_proj.bias[3] = -1.3e-3 in the
 * sparse row; 5e-3..7.5e-3 with steps 1.5e-2..3e-2, with or without
 * Richardson: a noise floor, not truncation). The same check against the
 * former all-double read measured 3.0e-4, with analytic gradients equal to
 * the float ones to ~1e-4 relative. A wrong term shows far above it:
 * scaling the cosine's |q| term in the backward by 0.9 gave 0.18 and 0.28
 * in two rows. The directional check (directional_error) holds the whole
 * gradient to MIRAS_DIR_TOL: measured worst 1.5e-5; the same 0.9 moved it
 * to 4e-4..7e-4 in most rows. */
#define MIRAS_GC_TOL 2e-2
#define MIRAS_DIR_TOL 1e-4

/* The whole gradient at once: L moved along u = g / max|g| (every input
 * and parameter together) against the first-order prediction sum_i g_i
 * delta_i, with delta_i the float steps actually taken, by central
 * differences Richardson-extrapolated over t and t/2. The change of L is of
 * order t |g|^2 / max|g|, far above L's fp32 noise, so this holds the
 * gradient to MIRAS_DIR_TOL where single small entries cannot be held to
 * TM_GC_TOL. Returns the relative error. */
static double directional_error(gc_case *g, tm_gc_var *vars, int nv, double t) {
    double gmax = 0.0;
    long total = 0;
    for (int v = 0; v < nv; v++) {
        total += vars[v].n;
        for (long i = 0; i < vars[v].n; i++) gmax = fmax(gmax, fabs((double)vars[v].grad[i]));
    }
    cr_assert(gmax > 0.0);
    float *saved = malloc((size_t)total * sizeof(float));
    cr_assert(saved);
    for (int v = 0, o = 0; v < nv; o += (int)vars[v].n, v++)
        memcpy(saved + o, vars[v].value, (size_t)vars[v].n * sizeof(float));
    double num[2], pred[2];
    for (int k = 0; k < 2; k++) {
        double step = k ? t / 2 : t, l[2], p[2] = {0.0, 0.0};
        for (int sgn = 0; sgn < 2; sgn++) {
            for (int v = 0, o = 0; v < nv; o += (int)vars[v].n, v++)
                for (long i = 0; i < vars[v].n; i++) {
                    double u = vars[v].grad[i] / gmax, x0 = saved[o + i];
                    float x = (float)(x0 + (sgn ? -step : step) * u);
                    vars[v].value[i] = x;
                    p[sgn] += (double)vars[v].grad[i] * ((double)x - x0);
                }
            l[sgn] = gc_loss(g);
        }
        num[k] = l[0] - l[1];
        pred[k] = p[0] - p[1];
        for (int v = 0, o = 0; v < nv; o += (int)vars[v].n, v++)
            memcpy(vars[v].value, saved + o, (size_t)vars[v].n * sizeof(float));
    }
    free(saved);
    /* Both differences scale with their step: compare the ratios, and
     * extrapolate the ratio's t^2 term away. */
    double r0 = num[0] / pred[0], r1 = num[1] / pred[1];
    return fabs((4.0 * r1 - r0) / 3.0 - 1.0);
}

static tm_gc_result gc_run(const tm_gc_row *row, unsigned long long seed) {
    int kind = row->dims[0];
    const int B = 2, d = row->dims[1], M = 6;
    tm_miras_config c = tm_miras_config_default(d);
    c.mem_slots = M;
    c.max_B = B;
    int use_ctx = 1;
    switch (kind) {
    case GC_HEADS2: c.n_heads = 2; break;
    case GC_SPARSE: c.use_sparse_attention = 1; c.top_k_retrieval = 3; break;
    case GC_COMPRESS: c.use_memory_compression = 1; break;
    case GC_ADAPTIVE_OFF: c.use_adaptive_retrieval = 0; break;
    case GC_QPROJ_OFF: c.use_query_proj = 0; break;
    case GC_NO_CONTEXT: use_ctx = 0; break;
    case GC_HEADS2_COMPRESS_SPARSE:
        c.n_heads = 2; c.use_memory_compression = 1;
        c.use_sparse_attention = 1; c.top_k_retrieval = 3;
        break;
    default: break;
    }
    gc_case g = {.B = B, .d = d, .use_ctx = use_ctx};
    mem_make(&g.x, &c, B, seed);
    tm_rng r;
    tm_rng_seed(&r, seed, 1);
    /* Move every parameter off its init (identity W_q, W_o) so the check
     * sees general values. */
    for (size_t i = 0; i < g.x.p.n; i++) g.x.p.data[i] += 0.3f * tm_rng_normal(&r);
    if (c.use_adaptive_retrieval) {
        /* Keep the confidence head's ReLU away from its kink: small weights
         * and biases of +-1 put every pre-activation at 1 +- 0.3 in
         * magnitude, with one unit on each side (both branches checked),
         * beyond what a finite-difference step moves it. */
        tm_linear *c1 = &g.x.m.conf1;
        for (int i = 0; i < c1->cfg.d_out * c1->cfg.d_in; i++) c1->w[i] *= 0.05f;
        for (int i = 0; i < c1->cfg.d_out; i++) c1->b[i] = i % 2 ? -1.0f : 1.0f;
        /* and c away from saturation (|z2| below ~1), so the head's
         * gradients stay well above the fp32 noise of the loss */
        tm_linear *c2 = &g.x.m.conf2;
        for (int i = 0; i < c2->cfg.d_in; i++) c2->w[i] = 0.5f * tm_rng_normal(&r);
        c2->b[0] = 0.0f;
    }
    g.key = randn(&r, (size_t)B * d, 1.0f);
    g.ctx = randn(&r, (size_t)B * d, 1.0f);
    g.dv = randn(&r, (size_t)B * d, 1.0f);
    g.v = calloc((size_t)B * d, sizeof(float));
    g.dkey = calloc((size_t)B * d, sizeof(float));
    g.dctx = calloc((size_t)B * d, sizeof(float));
    for (int b = 0; b < B; b++) {
        switch (kind) {
        case GC_ONE_TIER_EMPTY:
            fill_tier(&g.x, &r, b, b, M, 0); /* stream 0: deep empty; stream 1: fast empty */
            break;
        case GC_PARTLY_FILLED:
            fill_tier(&g.x, &r, 0, b, 4 - b, 1);
            fill_tier(&g.x, &r, 1, b, 2 + b, 1);
            break;
        default:
            fill_tier(&g.x, &r, 0, b, M, 0);
            fill_tier(&g.x, &r, 1, b, M, 0);
            break;
        }
    }
    /* Keys near the stream's query: cosines spread over ~0.5..1, so the
     * softmax at tau = 0.1 is not saturated and the read depends on every
     * input and parameter strongly enough for fp32 finite differences. With
     * sparse top-3, three slots per tier point toward the query and the rest
     * away: the 3rd and 4th scores are then ~10 apart, far more than a
     * finite-difference step moves them, so the kept set is stable. Empty
     * slots get keys too (garbage the read must ignore). */
    int sparse = kind == GC_SPARSE || kind == GC_HEADS2_COMPRESS_SPARSE;
    int s = g.x.s.s;
    float qc[64];
    for (int b = 0; b < B; b++) {
        query_of(&g.x.m, qc, g.key + (size_t)b * d);
        for (int t = 0; t < 2; t++)
            for (int j = 0; j < M; j++) {
                float *K = tier_keys(&g.x.s, t, b, j);
                float sign = (!sparse || j < 3) ? 1.0f : -1.0f, noise = sparse ? 0.5f : 0.8f;
                for (int i = 0; i < s; i++) K[i] = sign * qc[i] + noise * tm_rng_normal(&r);
            }
    }
    /* dv = noise + v + (v_fast - v_deep): L then depends on the confidence
     * (through dv . u) and on the mix (through du . (r_fast - r_deep)) with
     * gradients of order one, never small by an accident of the random dv,
     * so those paths are judged above the fp32 noise of L. */
    float *vf = calloc((size_t)B * d, sizeof(float)), *vd = calloc((size_t)B * d, sizeof(float));
    tm_miras_read_info info = {.v_fast = vf, .v_deep = vd};
    cr_assert_eq(tm_miras_read_forward(&g.x.m, &g.x.s, g.v, &info, g.x.act, g.key,
                                       use_ctx ? g.ctx : NULL, B), TM_OK);
    for (int i = 0; i < B * d; i++) g.dv[i] += g.v[i] + vf[i] - vd[i];
    free(vf);
    free(vd);
    tm_params_zero_grad(&g.x.p);
    cr_assert_eq(tm_miras_read_backward(&g.x.m, &g.x.s, g.dkey, use_ctx ? g.dctx : NULL, g.dv,
                                        g.key, use_ctx ? g.ctx : NULL, g.x.act, B), TM_OK, "%s",
                 tm_last_error());
    tm_gc_var vars[16];
    int nv = 0;
    vars[nv++] = (tm_gc_var){"key", g.key, g.dkey, (long)B * d};
    if (use_ctx) vars[nv++] = (tm_gc_var){"context", g.ctx, g.dctx, (long)B * d};
    for (int i = 0; i < g.x.p.n_views && nv < 16; i++) {
        const tm_param_view *pv = &g.x.p.views[i];
        vars[nv++] = (tm_gc_var){pv->name, g.x.p.data + pv->offset, g.x.p.grad + pv->offset,
                                 (long)pv->numel};
    }
    /* Two step sizes: the cosine's inputs (key, W_q, b_q, compress) move
     * scores by step / (|q_h| tau), so they take a small step; everything
     * after the softmax is gentle and takes the larger one, which keeps its
     * smaller gradients above the fp32 noise of L. */
    tm_gc_var sharp[16], gentle[16];
    int ns = 0, ng = 0;
    for (int i = 0; i < nv; i++) {
        const char *nm = vars[i].name;
        int is_sharp = !strcmp(nm, "key") || strstr(nm, "q_proj") || strstr(nm, ".compress.");
        if (is_sharp) sharp[ns++] = vars[i];
        else gentle[ng++] = vars[i];
    }
    tm_gc_opts os = tm_gc_precise_opts(), og = tm_gc_precise_opts();
    os.eps = 3e-2;
    og.eps = 5e-2;
    double dir = directional_error(&g, vars, nv, 2e-2);
    cr_expect_lt(dir, MIRAS_DIR_TOL, "directional derivative off by %.3g relative", dir);
    tm_gc_result res = tm_gradcheck(gc_loss, &g, sharp, ns, os);
    tm_gc_result rg = tm_gradcheck(gc_loss, &g, gentle, ng, og);
    long checked = res.checked + rg.checked;
    if (rg.worst > res.worst) res = rg;
    res.checked = checked;
    char msg[sizeof res.msg];
    snprintf(msg, sizeof msg, "%.160s; %ld entries in all; directional %.2g", res.msg, checked, dir);
    memcpy(res.msg, msg, sizeof msg);
    free(g.key); free(g.ctx); free(g.dv); free(g.v); free(g.dkey); free(g.dctx);
    mem_free(&g.x);
    return res;
}

static const tm_gc_row gc_rows[] = {
    {"default", {GC_DEFAULT, 8}, gc_run, MIRAS_GC_TOL},
    {"heads2 (W_o)", {GC_HEADS2, 8}, gc_run, MIRAS_GC_TOL},
    {"sparse top-3 of 6", {GC_SPARSE, 8}, gc_run, MIRAS_GC_TOL},
    {"compression", {GC_COMPRESS, 16}, gc_run, MIRAS_GC_TOL},
    {"adaptive off", {GC_ADAPTIVE_OFF, 8}, gc_run, MIRAS_GC_TOL},
    {"query proj off", {GC_QPROJ_OFF, 8}, gc_run, MIRAS_GC_TOL},
    {"no context", {GC_NO_CONTEXT, 8}, gc_run, MIRAS_GC_TOL},
    {"one tier empty", {GC_ONE_TIER_EMPTY, 8}, gc_run, MIRAS_GC_TOL},
    {"partly filled, mixed strengths", {GC_PARTLY_FILLED, 8}, gc_run, MIRAS_GC_TOL},
    {"heads2 + compression + sparse", {GC_HEADS2_COMPRESS_SPARSE, 16}, gc_run, MIRAS_GC_TOL},
};

Test(miras, read_gradients_match_finite_differences_over_configs) {
    char report[4096];
    size_t n = sizeof gc_rows / sizeof gc_rows[0];
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        tm_gc_result r = gc_rows[i].run(&gc_rows[i], 1000 + i);
        if (r.worst > worst) worst = r.worst;
        cr_log_info("miras gradcheck %-32s %s", gc_rows[i].name, r.msg);
    }
    cr_log_info("miras gradcheck worst over the table: %.3g (tolerance %g)", worst, MIRAS_GC_TOL);
    int failed = tm_gc_run_table(gc_rows, n, 1000, report, sizeof report);
    cr_expect_eq(failed, 0, "%s", report);
}

/* ---- behaviour -------------------------------------------------------------- */

static tm_miras_config small_config(int d, int M) {
    tm_miras_config c = tm_miras_config_default(d);
    c.mem_slots = M;
    c.max_B = 4;
    return c;
}

static void write(mem *x, float *surprise, const float *k, const float *v, int B) {
    cr_assert_eq(tm_miras_write(&x->m, &x->s, surprise, k, v, NULL, B), TM_OK, "%s",
                 tm_last_error());
}

static int count_full(const float *strength, int M) {
    int n = 0;
    for (int j = 0; j < M; j++) n += strength[j] > 0.0f;
    return n;
}

Test(miras, key_written_once_is_read_back_with_weight_above_0_9) {
    const int d = 32, M = 64;
    tm_miras_config c = small_config(d, M);
    mem x;
    mem_make(&x, &c, 1, 5);
    tm_rng r;
    tm_rng_seed(&r, 5, 1);
    float *target = randn(&r, d, 1.0f), *val = randn(&r, d, 1.0f), *k = randn(&r, d, 1.0f);
    write(&x, NULL, target, val, 1);
    for (int t = 1; t < M; t++) { /* the other 63 slots: random keys */
        tm_rng_fill_normal(&r, k, d, 0.0f, 1.0f);
        write(&x, NULL, k, val, 1);
    }
    cr_assert_eq(count_full(tier_strength(&x.s, 0, 0), M), M);
    float v[32], w[2 * 64];
    tm_miras_read_info info = {.weights = w};
    read(&x, v, &info, target, NULL, 1);
    /* slot 0 holds the target in both tiers (the deep tier took every write
     * while it had an empty slot) */
    cr_assert_gt(w[0], 0.9f, "fast tier weight on the written key %g", (double)w[0]);
    cr_assert_gt(w[M], 0.9f, "deep tier weight on the written key %g", (double)w[M]);
    free(target); free(val); free(k);
    mem_free(&x);
}

Test(miras, streams_never_see_each_others_writes) {
    const int d = 8, M = 6, B = 2;
    tm_miras_config c = small_config(d, M);
    mem x;
    mem_make(&x, &c, B, 6);
    tm_rng r;
    tm_rng_seed(&r, 6, 1);
    float *k = randn(&r, (size_t)B * d, 1.0f), *v = randn(&r, (size_t)B * d, 1.0f);
    write(&x, NULL, k, v, B); /* both streams hold one item */
    size_t nbytes = tm_miras_state_stream_bytes(&x.m);
    unsigned char *before = malloc(nbytes), *after = malloc(nbytes);
    tm_miras_state_save_stream(&x.m, &x.s, 1, before);
    float out0[2 * 8], out1[2 * 8];
    float *q = randn(&r, (size_t)B * d, 1.0f);
    read(&x, out0, NULL, q, NULL, B);
    for (int t = 0; t < 2 * M; t++) { /* stream 0 only: B = 1 */
        tm_rng_fill_normal(&r, k, d, 0.0f, 1.0f);
        tm_rng_fill_normal(&r, v, d, 0.0f, 1.0f);
        write(&x, NULL, k, v, 1);
    }
    read(&x, out1, NULL, q, NULL, B);
    tm_miras_state_save_stream(&x.m, &x.s, 1, after);
    cr_assert_eq(memcmp(before, after, nbytes), 0, "stream 1's state changed");
    cr_assert_eq(memcmp(out0 + d, out1 + d, d * sizeof(float)), 0, "stream 1's read changed");
    cr_assert_neq(memcmp(out0, out1, d * sizeof(float)), 0, "stream 0's read did not change");
    free(before); free(after); free(k); free(v); free(q);
    mem_free(&x);
}

Test(miras, surprise_is_low_for_a_stored_pair_and_high_for_a_new_one) {
    const int d = 32, M = 16;
    tm_miras_config c = small_config(d, M);
    mem x;
    mem_make(&x, &c, 1, 7);
    tm_rng r;
    tm_rng_seed(&r, 7, 1);
    float *k = randn(&r, d, 1.0f), *v = randn(&r, d, 1.0f);
    float *k2 = randn(&r, d, 1.0f), *v2 = randn(&r, d, 1.0f), sp;
    cr_assert_eq(tm_miras_surprise(&x.m, &x.s, &sp, k, v, NULL, 1), TM_OK);
    cr_assert_eq(sp, 1.0f, "an empty memory's surprise is 1 (got %g)", (double)sp);
    write(&x, NULL, k, v, 1);
    for (int t = 0; t < 7; t++) { /* other pairs stored alongside */
        tm_rng_fill_normal(&r, k2, d, 0.0f, 1.0f);
        tm_rng_fill_normal(&r, v2, d, 0.0f, 1.0f);
        write(&x, NULL, k2, v2, 1);
    }
    cr_assert_eq(tm_miras_surprise(&x.m, &x.s, &sp, k, v, NULL, 1), TM_OK);
    cr_assert_lt(sp, 0.05f, "stored pair: surprise %g", (double)sp);
    tm_rng_fill_normal(&r, k2, d, 0.0f, 1.0f);
    tm_rng_fill_normal(&r, v2, d, 0.0f, 1.0f);
    cr_assert_eq(tm_miras_surprise(&x.m, &x.s, &sp, k2, v2, NULL, 1), TM_OK);
    cr_assert_gt(sp, 0.5f, "new pair: surprise %g", (double)sp);
    free(k); free(v); free(k2); free(v2);
    mem_free(&x);
}

Test(miras, deep_writes_happen_only_above_threshold_once_deep_is_full) {
    const int d = 16, M = 4;
    tm_miras_config c = small_config(d, M);
    mem x;
    mem_make(&x, &c, 1, 8);
    tm_rng r;
    tm_rng_seed(&r, 8, 1);
    float *k = randn(&r, (size_t)M * d, 1.0f), *v = randn(&r, (size_t)M * d, 1.0f), sp;
    /* While the deep tier has an empty slot, every write reaches it, even a
     * repeat whose surprise is below the threshold. */
    write(&x, &sp, k, v, 1);
    cr_assert_eq(count_full(tier_strength(&x.s, 1, 0), M), 1);
    write(&x, &sp, k, v, 1);
    cr_assert_lt(sp, c.surprise_threshold, "repeat surprise %g", (double)sp);
    cr_assert_eq(count_full(tier_strength(&x.s, 1, 0), M), 2, "low surprise, empty slot: written");
    for (int t = 1; t < M - 1; t++) write(&x, &sp, k + (size_t)t * d, v + (size_t)t * d, 1);
    cr_assert_eq(count_full(tier_strength(&x.s, 1, 0), M), M);
    size_t nb = (size_t)M * d * sizeof(float);
    float *deep_k = malloc(nb), *deep_v = malloc(nb);
    memcpy(deep_k, tier_keys(&x.s, 1, 0, 0), nb);
    memcpy(deep_v, tier_values(&x.s, 1, 0, 0), nb);
    /* Full: a stored pair (low surprise) leaves the deep tier alone... */
    write(&x, &sp, k + d, v + d, 1);
    cr_assert_lt(sp, c.surprise_threshold, "stored pair surprise %g", (double)sp);
    cr_assert_eq(memcmp(deep_k, tier_keys(&x.s, 1, 0, 0), nb), 0, "deep keys moved below threshold");
    cr_assert_eq(memcmp(deep_v, tier_values(&x.s, 1, 0, 0), nb), 0);
    /* ...a new pair (high surprise) is written at the ring pointer (slot 0,
     * the oldest), blended with lr_deep. */
    float *kn = randn(&r, d, 1.0f), *vn = randn(&r, d, 1.0f);
    write(&x, &sp, kn, vn, 1);
    cr_assert_gt(sp, c.surprise_threshold, "new pair surprise %g", (double)sp);
    for (int i = 0; i < d; i++) {
        float want = (1.0f - c.lr_deep) * deep_k[i] + c.lr_deep * kn[i];
        cr_assert_float_eq(tier_keys(&x.s, 1, 0, 0)[i], want, 1e-6);
    }
    cr_assert_eq(memcmp(deep_k + d, tier_keys(&x.s, 1, 0, 1), nb - d * sizeof(float)), 0);
    free(k); free(v); free(kn); free(vn); free(deep_k); free(deep_v);
    mem_free(&x);
}

Test(miras, decay_empties_a_slot_after_ceil_ln001_over_ln_r_further_writes) {
    const int d = 8, M = 64;
    const float rate = 0.9f;
    tm_miras_config c = small_config(d, M);
    c.use_decay = 1;
    c.decay_rate = rate;
    mem x;
    mem_make(&x, &c, 1, 9);
    int n = (int)ceil(log(0.01) / log((double)rate)); /* 44 for 0.9 */
    cr_assert_lt(n + 1, M, "the ring must not come round during the test");
    tm_rng r;
    tm_rng_seed(&r, 9, 1);
    float *first = randn(&r, d, 1.0f), *k = randn(&r, d, 1.0f), *v = randn(&r, d, 1.0f);
    write(&x, NULL, first, v, 1); /* slot 0 */
    for (int t = 1; t <= n; t++) {
        tm_rng_fill_normal(&r, k, d, 0.0f, 1.0f);
        write(&x, NULL, k, v, 1);
        const float *st = tier_strength(&x.s, 0, 0);
        if (t < n) {
            cr_assert_eq(memcmp(tier_keys(&x.s, 0, 0, 0), first, d * sizeof(float)), 0,
                         "slot 0 lost its key after %d further writes", t);
            cr_assert_float_eq(st[0], powf(rate, (float)t), 1e-5, "strength after %d", t);
            cr_assert_eq(st[t], 1.0f);
        } else {
            /* call n emptied slot 0 (strength r^n < 0.01), and the write
             * then took it as the first empty slot */
            cr_assert_eq(memcmp(tier_keys(&x.s, 0, 0, 0), k, d * sizeof(float)), 0,
                         "slot 0 not emptied after exactly %d further writes", n);
            cr_assert_eq(st[0], 1.0f);
            cr_assert_eq(st[n], 0.0f, "slot %d should still be empty", n);
        }
    }
    free(first); free(k); free(v);
    mem_free(&x);
}

Test(miras, topk_reads_equal_dense_reads_when_k_ge_M) {
    const int d = 8, M = 6, B = 2;
    tm_rng r;
    tm_rng_seed(&r, 10, 1);
    float *k = randn(&r, (size_t)B * d, 1.0f), *v = randn(&r, (size_t)B * d, 1.0f);
    float *q = randn(&r, (size_t)B * d, 1.0f), *ctx = randn(&r, (size_t)B * d, 1.0f);
    float dense[16], sparse[16];
    int ks[] = {M, M + 3, 2};
    tm_miras_config c = small_config(d, M);
    c.n_heads = 2;
    mem xd;
    mem_make(&xd, &c, B, 10);
    for (int t = 0; t < M; t++) {
        tm_rng_fill_normal(&r, k, (long)B * d, 0.0f, 1.0f);
        tm_rng_fill_normal(&r, v, (long)B * d, 0.0f, 1.0f);
        cr_assert_eq(tm_miras_write(&xd.m, &xd.s, NULL, k, v, ctx, B), TM_OK);
    }
    read(&xd, dense, NULL, q, ctx, B);
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        tm_miras_config cs = c;
        cs.use_sparse_attention = 1;
        cs.top_k_retrieval = ks[i];
        mem xs;
        mem_make(&xs, &cs, B, 10); /* same seed: same parameters */
        tm_miras_state_copy(&xs.m, &xs.s, &xd.s);
        read(&xs, sparse, NULL, q, ctx, B);
        int same = memcmp(dense, sparse, sizeof dense) == 0;
        if (ks[i] >= M) cr_assert(same, "k=%d >= M=%d must read as dense", ks[i], M);
        else cr_assert(!same, "k=%d < M: the check must be able to fail", ks[i]);
        mem_free(&xs);
    }
    free(k); free(v); free(q); free(ctx);
    mem_free(&xd);
}

/* The OT plans in the tests below are computed here from the spec's
 * definitions, with tm_sinkhorn_plan / tm_sinkhorn_barycentre directly. */

Test(miras, consolidation_moves_deep_slots_to_the_barycentres) {
    const int d = 6, M = 5, B = 2;
    tm_miras_config c = small_config(d, M);
    mem x;
    mem_make(&x, &c, B, 11);
    tm_rng r;
    tm_rng_seed(&r, 11, 1);
    for (int b = 0; b < B; b++) {
        fill_tier(&x, &r, 0, b, M - b, 1); /* stream 1: one empty fast slot */
        fill_tier(&x, &r, 1, b, 3, 1);     /* two empty deep slots */
    }
    tm_miras_state before;
    cr_assert_eq(tm_miras_state_create(&before, &x.m, B), TM_OK);
    tm_miras_state_copy(&x.m, &before, &x.s);
    cr_assert_eq(tm_miras_consolidate(&x.m, &x.s), TM_OK, "%s", tm_last_error());
    float C[25], a[5], bm[5], P[25], ws[64], bk[30], bv[30];
    cr_assert(tm_sinkhorn_workspace_floats(M, M) <= 64);
    for (int b = 0; b < B; b++) {
        const float *fs = tier_strength(&before, 0, b), *ds = tier_strength(&before, 1, b);
        double total = 0;
        for (int i = 0; i < M; i++) total += fs[i];
        for (int i = 0; i < M; i++) {
            a[i] = (float)(fs[i] / total);
            bm[i] = 1.0f / M;
            for (int j = 0; j < M; j++)
                C[i * M + j] = (float)(1.0 - cosd(tier_keys(&before, 0, b, i), tier_keys(&before, 1, b, j), d));
        }
        cr_assert_eq(tm_sinkhorn_plan(P, NULL, ws, C, a, bm, c.sinkhorn_eps, c.sinkhorn_iters, M, M), TM_OK);
        cr_assert_eq(tm_sinkhorn_barycentre(bk, NULL, P, tier_keys(&before, 0, b, 0), M, M, d), TM_OK);
        cr_assert_eq(tm_sinkhorn_barycentre(bv, NULL, P, tier_values(&before, 0, b, 0), M, M, d), TM_OK);
        for (int j = 0; j < M; j++) {
            const float *k0 = tier_keys(&before, 1, b, j), *v0 = tier_values(&before, 1, b, j);
            const float *k1 = tier_keys(&x.s, 1, b, j), *v1 = tier_values(&x.s, 1, b, j);
            double moved = 0;
            for (int i = 0; i < d; i++) {
                float lr = ds[j] > 0 ? c.lr_deep : 1.0f; /* empty slots take the target */
                float wk = (1 - lr) * k0[i] + lr * bk[j * d + i];
                float wv = (1 - lr) * v0[i] + lr * bv[j * d + i];
                cr_assert_float_eq(k1[i], wk, 1e-4, "stream %d deep slot %d key[%d]", b, j, i);
                cr_assert_float_eq(v1[i], wv, 1e-4, "stream %d deep slot %d value[%d]", b, j, i);
                moved += fabs(k1[i] - k0[i]);
            }
            cr_assert_gt(moved, 1e-3, "deep slot %d did not move", j);
            float want_strength = ds[j] > 0 ? ds[j] : 1.0f;
            cr_assert_eq(tier_strength(&x.s, 1, b)[j], want_strength);
        }
        /* the fast tier is the source: unchanged */
        cr_assert_eq(memcmp(tier_keys(&x.s, 0, b, 0), tier_keys(&before, 0, b, 0), sizeof(float) * M * d), 0);
    }
    tm_miras_state_free(&before);
    mem_free(&x);
}

Test(miras, write_consolidates_every_n_steps) {
    const int d = 6, M = 4;
    tm_miras_config c = small_config(d, M);
    c.consolidate_every = 3;
    mem x, y;
    mem_make(&x, &c, 1, 12);
    tm_miras_config c0 = c;
    c0.consolidate_every = 0;
    mem_make(&y, &c0, 1, 12);
    tm_rng r;
    tm_rng_seed(&r, 12, 1);
    float *k = randn(&r, d, 1.0f), *v = randn(&r, d, 1.0f);
    for (int t = 1; t <= 3; t++) {
        tm_rng_fill_normal(&r, k, d, 0.0f, 1.0f);
        tm_rng_fill_normal(&r, v, d, 0.0f, 1.0f);
        write(&x, NULL, k, v, 1);
        write(&y, NULL, k, v, 1);
        if (t < 3) cr_assert_eq(memcmp(x.s.deep_keys, y.s.deep_keys, sizeof(float) * M * d), 0);
    }
    cr_assert_eq(x.s.writes[0], 3);
    cr_assert_eq(tm_miras_consolidate(&y.m, &y.s), TM_OK); /* what the 3rd write ran */
    cr_assert_eq(memcmp(x.s.deep_keys, y.s.deep_keys, sizeof(float) * M * d), 0);
    cr_assert_eq(memcmp(x.s.deep_strength, y.s.deep_strength, sizeof(float) * M), 0);
    free(k); free(v);
    mem_free(&x);
    mem_free(&y);
}

Test(miras, ot_policy_merges_into_the_slot_the_plan_picks) {
    const int d = 6, M = 4;
    tm_miras_config c = small_config(d, M);
    c.write_policy = TM_MIRAS_OT;
    c.lr_fast = 0.5f;
    mem x;
    mem_make(&x, &c, 1, 13);
    tm_rng r;
    tm_rng_seed(&r, 13, 1);
    float *k = randn(&r, (size_t)M * d, 1.0f), *v = randn(&r, (size_t)M * d, 1.0f);
    for (int t = 0; t < M; t++) write(&x, NULL, k + t * d, v + t * d, 1);
    x.s.fast_strength[1] = 0.5f; /* strengths do not weigh in the pick */
    int target = 2;
    float kn[6], vn[6];
    for (int i = 0; i < d; i++) {
        kn[i] = k[target * d + i] + 0.2f * tm_rng_normal(&r);
        vn[i] = tm_rng_normal(&r);
    }
    /* The plan of miras_write.c's definition: the M stored keys and the new
     * key (mass 1/(M+1) each) onto the M slots (mass 1/M each). */
    float C[20], a[5], bm[4], P[20], ws[64];
    cr_assert(tm_sinkhorn_workspace_floats(M + 1, M) <= 64);
    for (int i = 0; i <= M; i++) {
        const float *src = i < M ? tier_keys(&x.s, 0, 0, i) : kn;
        a[i] = 1.0f / (M + 1);
        for (int j = 0; j < M; j++) C[i * M + j] = (float)(1.0 - cosd(src, tier_keys(&x.s, 0, 0, j), d));
    }
    for (int j = 0; j < M; j++) bm[j] = 1.0f / M;
    cr_assert_eq(tm_sinkhorn_plan(P, NULL, ws, C, a, bm, c.sinkhorn_eps, c.sinkhorn_iters, M + 1, M), TM_OK);
    int pick = 0;
    for (int j = 1; j < M; j++)
        if (P[M * M + j] > P[M * M + pick]) pick = j;
    cr_assert_eq(pick, target, "the plan should send a near copy of slot %d there (picked %d)",
                 target, pick);
    size_t nb = sizeof(float) * M * d;
    float *k0 = malloc(nb), *v0 = malloc(nb);
    memcpy(k0, x.s.fast_keys, nb);
    memcpy(v0, x.s.fast_values, nb);
    write(&x, NULL, kn, vn, 1);
    for (int j = 0; j < M; j++)
        for (int i = 0; i < d; i++) {
            float wk = j == pick ? 0.5f * k0[j * d + i] + 0.5f * kn[i] : k0[j * d + i];
            float wv = j == pick ? 0.5f * v0[j * d + i] + 0.5f * vn[i] : v0[j * d + i];
            cr_assert_float_eq(x.s.fast_keys[j * d + i], wk, 1e-6, "slot %d key[%d]", j, i);
            cr_assert_float_eq(x.s.fast_values[j * d + i], wv, 1e-6, "slot %d value[%d]", j, i);
        }
    cr_assert_eq(x.s.fast_strength[pick], 1.0f);
    free(k); free(v); free(k0); free(v0);
    mem_free(&x);
}

Test(miras, ring_policy_overwrites_the_oldest_slot) {
    const int d = 6, M = 4;
    tm_miras_config c = small_config(d, M);
    mem x;
    mem_make(&x, &c, 1, 14);
    tm_rng r;
    tm_rng_seed(&r, 14, 1);
    float *k = randn(&r, (size_t)(M + 2) * d, 1.0f), *v = randn(&r, (size_t)(M + 2) * d, 1.0f);
    for (int t = 0; t < M + 2; t++) {
        write(&x, NULL, k + t * d, v + t * d, 1);
        /* lr_fast = 1: the fast tier holds the last M items, the newest
         * replacing the oldest: item t sits in slot t mod M */
        int slot = t % M;
        cr_assert_eq(memcmp(tier_keys(&x.s, 0, 0, slot), k + t * d, sizeof(float) * d), 0,
                     "item %d not in slot %d", t, slot);
        if (t >= M)
            for (int j = 0; j < M; j++) {
                int item = j < slot + 1 ? t - slot + j : t - slot - M + j;
                cr_assert_eq(memcmp(tier_keys(&x.s, 0, 0, j), k + item * d, sizeof(float) * d), 0,
                             "after item %d slot %d should hold item %d", t, j, item);
            }
    }
    free(k); free(v);
    mem_free(&x);
}

Test(miras, empty_tier_reads_zero_and_gets_no_mix_weight) {
    const int d = 8, M = 4, B = 3;
    tm_miras_config c = small_config(d, M);
    mem x;
    mem_make(&x, &c, B, 15);
    tm_rng r;
    tm_rng_seed(&r, 15, 1);
    fill_tier(&x, &r, 0, 0, 2, 1); /* stream 0: fast only */
    fill_tier(&x, &r, 1, 1, 3, 1); /* stream 1: deep only; stream 2: empty */
    float *q = randn(&r, (size_t)B * d, 1.0f), *ctx = randn(&r, (size_t)B * d, 1.0f);
    float v[24], vf[24], vd[24], conf[3], mix[3], w[3 * 2 * 4];
    tm_miras_read_info info = {vf, vd, conf, mix, w};
    read(&x, v, &info, q, ctx, B);
    for (int i = 0; i < d; i++) {
        cr_assert_eq(vd[i], 0.0f);
        cr_assert_float_eq(v[i], conf[0] * vf[i], 1e-6);
        cr_assert_eq(vf[d + i], 0.0f);
        cr_assert_float_eq(v[d + i], conf[1] * vd[d + i], 1e-6);
        cr_assert_eq(v[2 * d + i], 0.0f);
    }
    cr_assert_eq(mix[0], 1.0f);
    cr_assert_eq(mix[1], 0.0f);
    double wsum = 0;
    for (int j = 0; j < M; j++) {
        cr_assert_eq(w[(0 * 2 + 1) * M + j], 0.0f); /* stream 0 deep: no weights */
        cr_assert_eq(w[(0 * 2 + 0) * M + j] > 0.0f, j < 2, "only filled slots get weight");
        wsum += w[(0 * 2 + 0) * M + j];
    }
    cr_assert_float_eq(wsum, 1.0, 1e-6);
    free(q); free(ctx);
    mem_free(&x);
}

Test(miras, save_load_of_one_stream_round_trips_and_reset_clears_chosen_streams) {
    const int d = 8, M = 5, B = 3;
    tm_miras_config c = small_config(d, M);
    mem x;
    mem_make(&x, &c, B, 16);
    tm_rng r;
    tm_rng_seed(&r, 16, 1);
    float *k = randn(&r, (size_t)B * d, 1.0f), *v = randn(&r, (size_t)B * d, 1.0f);
    for (int t = 0; t < M + 2; t++) {
        tm_rng_fill_normal(&r, k, (long)B * d, 0.0f, 1.0f);
        tm_rng_fill_normal(&r, v, (long)B * d, 0.0f, 1.0f);
        write(&x, NULL, k, v, B);
    }
    size_t nb = tm_miras_state_stream_bytes(&x.m);
    unsigned char *saved = malloc(nb), *again = malloc(nb);
    tm_miras_state_save_stream(&x.m, &x.s, 1, saved);
    float q[24], out[24], out2[24];
    tm_rng_fill_normal(&r, q, B * d, 0.0f, 1.0f);
    for (int b = 0; b < B; b++) memcpy(q + b * d, q + d, sizeof(float) * d); /* same query */
    read(&x, out, NULL, q, NULL, B);
    /* stream 1 into stream 2 of a fresh state: same bytes, same read */
    mem y;
    mem_make(&y, &c, B, 16);
    tm_miras_state_load_stream(&y.m, &y.s, 2, saved);
    tm_miras_state_save_stream(&y.m, &y.s, 2, again);
    cr_assert_eq(memcmp(saved, again, nb), 0);
    read(&y, out2, NULL, q, NULL, B);
    cr_assert_eq(memcmp(out + d, out2 + 2 * d, sizeof(float) * d), 0);
    cr_assert_eq(y.s.writes[2], M + 2);
    /* reset by mask: stream 1 empties, 0 and 2 keep theirs */
    int32_t mask[3] = {0, 1, 0};
    tm_miras_state_save_stream(&x.m, &x.s, 0, again);
    tm_miras_state_reset(&x.m, &x.s, mask);
    cr_assert_eq(count_full(tier_strength(&x.s, 0, 1), M) + count_full(tier_strength(&x.s, 1, 1), M), 0);
    cr_assert_eq(x.s.writes[1], 0);
    unsigned char *now = malloc(nb);
    tm_miras_state_save_stream(&x.m, &x.s, 0, now);
    cr_assert_eq(memcmp(again, now, nb), 0);
    /* and loading restores it */
    tm_miras_state_load_stream(&x.m, &x.s, 1, saved);
    read(&x, out2, NULL, q, NULL, B);
    cr_assert_eq(memcmp(out, out2, sizeof out), 0);
    free(saved); free(again); free(now); free(k); free(v);
    mem_free(&x);
    mem_free(&y);
}

/* ---- one model, several callers ------------------------------------------ */

/* One caller: its own state and activations, a fixed run of write + read
 * steps on the shared model, every output kept. */
typedef struct {
    const tm_miras *m;
    tm_miras_state s;
    float *act, *keys, *values, *out, *surprise; /* keys, values [steps,B,d] */
    int B, d, steps;
    tm_status st;
} caller;

static void *caller_run(void *p) {
    caller *w = p;
    size_t bd = (size_t)w->B * w->d;
    tm_miras_state_reset(w->m, &w->s, NULL);
    for (int t = 0; t < w->steps && w->st == TM_OK; t++) {
        const float *k = w->keys + t * bd, *v = w->values + t * bd;
        w->st = tm_miras_write(w->m, &w->s, w->surprise + (size_t)t * w->B, k, v, k, w->B);
        if (w->st == TM_OK)
            w->st = tm_miras_read_forward(w->m, &w->s, w->out + t * bd, NULL, w->act, v, k, w->B);
    }
    return NULL;
}

/* miras.h: the model is never written while acting, so callers with their
 * own states may share it from several threads. Each caller's outputs must
 * equal, bit for bit, those of the same caller run alone, and the
 * parameters stay untouched. The config runs every scratch user: the OT
 * write policy, consolidation, decay, two heads, compression. */
Test(miras, one_model_serves_two_threads_each_with_its_own_state) {
    const int d = 16, M = 8, B = 3, steps = 400, n = 2;
    tm_miras_config c = small_config(d, M);
    c.n_heads = 2;
    c.use_memory_compression = 1;
    c.write_policy = TM_MIRAS_OT;
    c.consolidate_every = 5;
    c.use_decay = 1;
    c.decay_rate = 0.9f;
    c.sinkhorn_iters = 10;
    mem x;
    mem_make(&x, &c, 1, 21);
    float *params = malloc(x.p.n * sizeof(float));
    cr_assert(params);
    memcpy(params, x.p.data, x.p.n * sizeof(float));
    tm_rng r;
    tm_rng_seed(&r, 21, 1);
    size_t bd = (size_t)B * d;
    caller w[2];
    float *alone[2], *alone_sp[2];
    for (int i = 0; i < n; i++) {
        w[i] = (caller){.m = &x.m, .B = B, .d = d, .steps = steps, .st = TM_OK};
        cr_assert_eq(tm_miras_state_create(&w[i].s, &x.m, B), TM_OK, "%s", tm_last_error());
        w[i].act = calloc(tm_miras_read_act_floats(&c, B), sizeof(float));
        w[i].keys = randn(&r, steps * bd, 1.0f);
        w[i].values = randn(&r, steps * bd, 1.0f);
        w[i].out = calloc(steps * bd, sizeof(float));
        w[i].surprise = calloc((size_t)steps * B, sizeof(float));
        alone[i] = calloc(steps * bd, sizeof(float));
        alone_sp[i] = calloc((size_t)steps * B, sizeof(float));
        cr_assert(w[i].act && w[i].out && w[i].surprise && alone[i] && alone_sp[i]);
        caller_run(&w[i]);
        cr_assert_eq(w[i].st, TM_OK, "%s", tm_last_error());
        memcpy(alone[i], w[i].out, steps * bd * sizeof(float));
        memcpy(alone_sp[i], w[i].surprise, (size_t)steps * B * sizeof(float));
    }
    pthread_t th[2];
    for (int i = 0; i < n; i++) cr_assert_eq(pthread_create(&th[i], NULL, caller_run, &w[i]), 0);
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(w[i].st, TM_OK, "caller %d failed", i);
        cr_expect_eq(memcmp(w[i].out, alone[i], steps * bd * sizeof(float)), 0,
                     "caller %d's reads differ from its run alone", i);
        cr_expect_eq(memcmp(w[i].surprise, alone_sp[i], (size_t)steps * B * sizeof(float)), 0,
                     "caller %d's surprises differ from its run alone", i);
    }
    cr_expect_eq(memcmp(params, x.p.data, x.p.n * sizeof(float)), 0, "acting changed a parameter");
    for (int i = 0; i < n; i++) {
        free(w[i].act); free(w[i].keys); free(w[i].values); free(w[i].out); free(w[i].surprise);
        free(alone[i]); free(alone_sp[i]);
        tm_miras_state_free(&w[i].s);
    }
    free(params);
    mem_free(&x);
}

Test(miras, bad_config_is_rejected_naming_the_field) {
    typedef struct { const char *field; tm_miras_config c; } bad;
    tm_miras_config ok = tm_miras_config_default(8);
    cr_assert_eq(tm_miras_config_validate(&ok), TM_OK, "%s", tm_last_error());
    bad b[32];
    int n = 0;
#define BAD(name, expr) do { b[n].field = name; b[n].c = ok; b[n].c.expr; n++; } while (0)
    BAD("d_model", d_model = 0);
    BAD("mem_slots", mem_slots = 0);
    BAD("n_heads", n_heads = 0);
    BAD("n_heads", n_heads = 3);
    BAD("lr_fast", lr_fast = 0.0f);
    BAD("lr_deep", lr_deep = 1.5f);
    BAD("temperature", temperature = 0.0f);
    BAD("temperature", temperature = INFINITY);
    BAD("surprise_threshold", surprise_threshold = NAN);
    BAD("use_decay", use_decay = 2);
    BAD("decay_rate", decay_rate = 0.0f);
    BAD("use_sparse_attention", use_sparse_attention = -1);
    BAD("top_k_retrieval", top_k_retrieval = 0);
    BAD("use_adaptive_retrieval", use_adaptive_retrieval = 5);
    BAD("use_query_proj", use_query_proj = 2);
    BAD("use_memory_compression", use_memory_compression = 3);
    BAD("compression_ratio", compression_ratio = 0.0f);
    BAD("write_policy", write_policy = (tm_miras_write_policy)7);
    BAD("consolidate_every", consolidate_every = -1);
    BAD("sinkhorn_eps", sinkhorn_eps = -0.1f);
    BAD("sinkhorn_iters", sinkhorn_iters = 0);
    BAD("max_B", max_B = 0);
#undef BAD
    b[n].field = "compression_ratio"; /* floor(0.1 * 8) = 0 dims */
    b[n].c = ok;
    b[n].c.use_memory_compression = 1;
    b[n].c.compression_ratio = 0.1f;
    n++;
    for (int i = 0; i < n; i++) {
        cr_expect_eq(tm_miras_config_validate(&b[i].c), TM_EINVAL, "case %d (%s) accepted", i, b[i].field);
        cr_expect(strstr(tm_last_error(), b[i].field), "case %d: message '%s' does not name %s", i,
                  tm_last_error(), b[i].field);
    }
    tm_params p;
    tm_params_init(&p);
    tm_miras m;
    cr_assert_eq(tm_miras_declare(&m, &b[0].c, &p, "mem"), TM_EINVAL);
    cr_assert_eq(p.n_views, 0, "a rejected config declares nothing");
    tm_params_free(&p);
}

Test(miras, nonfinite_write_input_fails_naming_it_and_leaves_state_intact) {
    const int d = 8, M = 4, B = 2;
    tm_miras_config c = small_config(d, M);
    mem x;
    mem_make(&x, &c, B, 17);
    tm_rng r;
    tm_rng_seed(&r, 17, 1);
    float *k = randn(&r, (size_t)B * d, 1.0f), *v = randn(&r, (size_t)B * d, 1.0f);
    float *ctx = randn(&r, (size_t)B * d, 1.0f);
    write(&x, NULL, k, v, B);
    size_t nb = tm_miras_state_stream_bytes(&x.m);
    unsigned char *before = malloc(2 * nb), *after = malloc(2 * nb);
    for (int b = 0; b < B; b++) tm_miras_state_save_stream(&x.m, &x.s, b, before + b * nb);
    struct { float *buf; int idx; float bad; const char *name; } cases[] = {
        {k, 11, NAN, "key"}, {v, 3, INFINITY, "value"}, {ctx, 15, -INFINITY, "context"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float keep = cases[i].buf[cases[i].idx];
        cases[i].buf[cases[i].idx] = cases[i].bad;
        float sp[2] = {-1, -1};
        cr_assert_eq(tm_miras_write(&x.m, &x.s, sp, k, v, ctx, B), TM_ENUMERIC, "%s", cases[i].name);
        cr_assert(strstr(tm_last_error(), cases[i].name), "message '%s' does not name %s",
                  tm_last_error(), cases[i].name);
        cr_assert_eq(sp[0], -1.0f, "surprise written on failure");
        cases[i].buf[cases[i].idx] = keep;
        for (int b = 0; b < B; b++) tm_miras_state_save_stream(&x.m, &x.s, b, after + b * nb);
        cr_assert_eq(memcmp(before, after, 2 * nb), 0, "%s: state changed", cases[i].name);
    }
    cr_assert_eq(tm_miras_write(&x.m, &x.s, NULL, k, v, ctx, B + 1), TM_EINVAL, "B > state B");
    free(before); free(after); free(k); free(v); free(ctx);
    mem_free(&x);
}

/* The read against the spec's formulas computed here in double, for a config
 * that uses every stage but compression: H = 2 (W_o), sparse top-3, mixed
 * strengths with empty slots, query projection, context gate, confidence. */
Test(miras, read_equals_the_spec_formula) {
    const int d = 8, M = 6, B = 2, H = 2, hd = 4, K = 3;
    tm_miras_config c = small_config(d, M);
    c.n_heads = H;
    c.use_sparse_attention = 1;
    c.top_k_retrieval = K;
    mem x;
    mem_make(&x, &c, B, 18);
    tm_rng r;
    tm_rng_seed(&r, 18, 1);
    for (size_t i = 0; i < x.p.n; i++) x.p.data[i] += 0.2f * tm_rng_normal(&r);
    for (int b = 0; b < B; b++) {
        fill_tier(&x, &r, 0, b, M - 1, 1); /* one empty slot each */
        fill_tier(&x, &r, 1, b, 4, 1);
    }
    float *key = randn(&r, (size_t)B * d, 1.0f), *ctx = randn(&r, (size_t)B * d, 1.0f);
    float v[16], w[2 * 2 * 2 * 6], conf[2], mix[2];
    tm_miras_read_info info = {.weights = w, .confidence = conf, .mix = mix};
    read(&x, v, &info, key, ctx, B);
    const tm_miras *m = &x.m;
    for (int b = 0; b < B; b++) {
        double q[8], rt[2][8], want_w[2][2][6];
        for (int o = 0; o < d; o++) {
            q[o] = m->q_proj.b[o];
            for (int i = 0; i < d; i++) q[o] += (double)m->q_proj.w[o * d + i] * key[b * d + i];
        }
        for (int t = 0; t < 2; t++) {
            double rc[8] = {0};
            const float *st = tier_strength(&x.s, t, b);
            for (int h = 0; h < H; h++) {
                double sc[6], nq = 0;
                int kept[6];
                for (int i = 0; i < hd; i++) nq += q[h * hd + i] * q[h * hd + i];
                for (int j = 0; j < M; j++) {
                    kept[j] = st[j] > 0;
                    const float *Kj = tier_keys(&x.s, t, b, j) + h * hd;
                    double dot = 0, nk = 0;
                    for (int i = 0; i < hd; i++) { dot += q[h * hd + i] * Kj[i]; nk += (double)Kj[i] * Kj[i]; }
                    sc[j] = kept[j] ? dot / (sqrt(nq) * sqrt(nk)) / c.temperature + log(st[j]) : -INFINITY;
                }
                for (int j = 0; j < M; j++) { /* top-K: fewer than K slots score higher */
                    int above = 0;
                    for (int i = 0; i < M; i++) above += kept[i] && (sc[i] > sc[j] || (sc[i] == sc[j] && i < j));
                    if (above >= K) kept[j] = 0;
                }
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < M; j++) if (kept[j] && sc[j] > mx) mx = sc[j];
                for (int j = 0; j < M; j++) sum += kept[j] ? exp(sc[j] - mx) : 0;
                for (int j = 0; j < M; j++) {
                    want_w[t][h][j] = kept[j] ? exp(sc[j] - mx) / sum : 0;
                    for (int i = 0; i < hd; i++) rc[h * hd + i] += want_w[t][h][j] * tier_values(&x.s, t, b, j)[h * hd + i];
                }
            }
            for (int o = 0; o < d; o++) {
                rt[t][o] = m->o_proj.b[o];
                for (int i = 0; i < d; i++) rt[t][o] += (double)m->o_proj.w[o * d + i] * rc[i];
            }
        }
        double z = *m->mix_logit;
        for (int i = 0; i < d; i++) z += (double)m->ctx_gate.w[i] * ctx[b * d + i];
        double mm = 1 / (1 + exp(-z)), z2 = m->conf2.b[0];
        int hid = m->conf1.cfg.d_out;
        for (int o = 0; o < hid; o++) {
            double h1 = m->conf1.b[o];
            for (int i = 0; i < d; i++) h1 += (double)m->conf1.w[o * d + i] * q[i];
            z2 += m->conf2.w[o] * (h1 > 0 ? h1 : 0);
        }
        double cc = 1 / (1 + exp(-z2));
        cr_assert_float_eq(mix[b], mm, 1e-6);
        cr_assert_float_eq(conf[b], cc, 1e-6);
        for (int i = 0; i < d; i++)
            cr_assert_float_eq(v[b * d + i], cc * (mm * rt[0][i] + (1 - mm) * rt[1][i]), 1e-5,
                               "stream %d v[%d]", b, i);
        for (int t = 0; t < 2; t++)
            for (int h = 0; h < H; h++)
                for (int j = 0; j < M; j++)
                    cr_assert_float_eq(w[((b * 2 + t) * H + h) * M + j], want_w[t][h][j], 1e-6,
                                       "stream %d tier %d head %d slot %d", b, t, h, j);
    }
    free(key); free(ctx);
    mem_free(&x);
}

Test(miras, topk_ties_keep_the_lower_slot) {
    const int d = 4, M = 4;
    tm_miras_config c = small_config(d, M);
    c.use_sparse_attention = 1;
    c.top_k_retrieval = 1;
    c.use_query_proj = 0;
    mem x;
    mem_make(&x, &c, 1, 19);
    float k[4] = {1, 2, 3, 4}, other[4] = {-1, 0, 1, 0};
    for (int j = 0; j < M; j++) {
        memcpy(tier_keys(&x.s, 0, 0, j), j == 1 || j == 3 ? k : other, sizeof k);
        tier_values(&x.s, 0, 0, j)[0] = (float)j;
        tier_strength(&x.s, 0, 0)[j] = 1.0f;
    }
    float v[4], w[2 * 4];
    tm_miras_read_info info = {.weights = w};
    read(&x, v, &info, k, NULL, 1);
    cr_assert_eq(w[1], 1.0f, "slots 1 and 3 tie; the lower one is kept");
    cr_assert_eq(w[3], 0.0f);
    mem_free(&x);
}
