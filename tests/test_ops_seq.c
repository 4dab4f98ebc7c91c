/* Sequence ops (kernels/ops_seq.h): forward values against naive double
 * references, table-driven finite-difference gradchecks of every backward,
 * step-versus-sequence agreement, and argument errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_seq.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

/* ---- helpers ---------------------------------------------------------------- */

static float *randn(tm_rng *r, long n, float std) {
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    tm_rng_fill_normal(r, p, n, 0.0f, std);
    return p;
}
static float *zeros(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }
static int32_t *izeros(long n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(int32_t)); }

static tm_tensor tf(void *p, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    int64_t s[4] = {d0, d1, d2, d3};
    tm_tensor t;
    cr_assert_eq(tm_tensor_wrap(&t, p, TM_F32, TM_CPU, ndim, s), TM_OK, "%s", tm_last_error());
    return t;
}
static tm_tensor ti(void *p, int ndim, int64_t d0, int64_t d1) {
    int64_t s[4] = {d0, d1, 0, 0};
    tm_tensor t;
    cr_assert_eq(tm_tensor_wrap(&t, p, TM_I32, TM_CPU, ndim, s), TM_OK, "%s", tm_last_error());
    return t;
}

static tm_ctx make_ctx(void) {
    tm_ctx ctx;
    cr_assert_eq(tm_ctx_init(&ctx, TM_CPU, 2), TM_OK);
    return ctx;
}

/* Episode starts at a few fixed places (stream 0 at t = T/2, stream 1 at 0
 * and T-2 when they exist), so every case exercises a reset mid-sequence. */
static int32_t *make_starts(int B, int T) {
    int32_t *s = izeros((long)B * T);
    if (T > 1) s[T / 2] = 1;
    if (B > 1) {
        s[T] = 1;
        if (T > 2) s[T + T - 2] = 1;
    }
    return s;
}

static void expect_close(const float *got, const double *want, long n, double tol,
                         const char *what) {
    for (long i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i])),
                  "%s[%ld]: got %.8g want %.8g", what, i, got[i], want[i]);
}

static void expect_same(const float *got, const float *want, long n, double rel,
                        const char *what) {
    for (long i = 0; i < n; i++)
        cr_assert(fabs(got[i] - want[i]) <= rel * fmax(1e-3, fabs(want[i])),
                  "%s[%ld]: got %.8g want %.8g", what, i, got[i], want[i]);
}

/* ---- naive references (double, explicit loops, own index logic) ---------- */

/* Is input s of stream b (s < 0: carried state) visible from time t? Not
 * when an episode starts at some u with s < u <= t. */
static int visible(const int32_t *start, int T, int b, int s, int t) {
    if (!start) return 1;
    for (int u = (s < 0 ? 0 : s + 1); u <= t; u++)
        if (start[b * T + u]) return 0;
    return 1;
}

static void conv_ref(double *out, double *state_out, const float *x, const float *st,
                     const int32_t *start, const float *w, const float *bias, int B, int T, int C,
                     int K) {
    double *hist = malloc(sizeof(double) * (size_t)(T + K));
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            /* The stream's input history: K-1 carried inputs, then T new. */
            for (int s = -(K - 1); s < T; s++)
                hist[s + K - 1] = s >= 0 ? x[(b * T + s) * C + c]
                                         : (st ? st[(b * C + c) * (K - 1) + s + K - 1] : 0.0);
            for (int t = 0; t < T; t++) {
                double acc = bias ? bias[c] : 0.0;
                for (int k = 0; k < K; k++) {
                    int s = t - (K - 1) + k;
                    if (visible(start, T, b, s, t)) acc += w[c * K + k] * hist[s + K - 1];
                }
                out[(b * T + t) * C + c] = acc;
            }
            for (int j = 0; j < K - 1; j++) {
                int s = T - (K - 1) + j;
                state_out[(b * C + c) * (K - 1) + j] =
                    visible(start, T, b, s, T - 1) ? hist[s + K - 1] : 0.0;
            }
        }
    free(hist);
}

static void rope_ref(double *out, const float *x, const int32_t *pos, int B, int T, int H, int dh) {
    int half = dh / 2;
    for (int bt = 0; bt < B * T; bt++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < dh; i++) {
                /* rotate_half: out = x cos + rot(x) sin, rot(x) = [-x2, x1] */
                int f = i % half;
                double ang = pos[bt] / pow(10000.0, 2.0 * f / dh);
                const float *xr = x + (bt * H + h) * dh;
                double rot = i < half ? -xr[i + half] : xr[i - half];
                out[(bt * H + h) * dh + i] = xr[i] * cos(ang) + rot * sin(ang);
            }
}

static void attn_ref(double *out, const float *q, const float *k, const float *v,
                     const float *kc, const float *vc, const int32_t *plen, const int32_t *start,
                     int B, int T, int P, int Hq, int Hkv, int dh, int W) {
    double *sc = malloc(sizeof(double) * (size_t)(P + T));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < Hq; h++) {
            int hk = h / (Hq / Hkv);
            for (int t = 0; t < T; t++) {
                double mx = -INFINITY;
                for (int j = 0; j < P + T; j++) {
                    int ok = j <= P + t;
                    if (W > 0 && P + t - j >= W) ok = 0;
                    if (j < P && plen && j < P - plen[b]) ok = 0;
                    int s = j - P; /* time of key j; < 0 for the cache */
                    if (ok && !visible(start, T, b, s, t)) ok = 0;
                    sc[j] = -INFINITY;
                    if (!ok) continue;
                    const float *kr = j < P ? kc + ((b * P + j) * Hkv + hk) * dh
                                            : k + ((b * T + s) * Hkv + hk) * dh;
                    double d = 0;
                    for (int i = 0; i < dh; i++) d += (double)q[((b * T + t) * Hq + h) * dh + i] * kr[i];
                    sc[j] = d / sqrt((double)dh);
                    if (sc[j] > mx) mx = sc[j];
                }
                double z = 0;
                for (int j = 0; j < P + T; j++) z += sc[j] == -INFINITY ? 0 : exp(sc[j] - mx);
                for (int i = 0; i < dh; i++) {
                    double acc = 0;
                    for (int j = 0; j < P + T; j++) {
                        if (sc[j] == -INFINITY) continue;
                        const float *vr = j < P ? vc + ((b * P + j) * Hkv + hk) * dh
                                                : v + ((b * T + j - P) * Hkv + hk) * dh;
                        acc += exp(sc[j] - mx) / z * vr[i];
                    }
                    out[((b * T + t) * Hq + h) * dh + i] = acc;
                }
            }
        }
    free(sc);
}

static void scan_ref(double *y, double *hT, const float *x, const float *dt, const float *A,
                     const float *Bm, const float *Cm, const float *Dskip, const float *h0,
                     const int32_t *start, int B, int T, int D, int N) {
    double *h = malloc(sizeof(double) * (size_t)N);
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++) {
            for (int n = 0; n < N; n++) h[n] = h0 ? h0[(b * D + d) * N + n] : 0.0;
            for (int t = 0; t < T; t++) {
                int bt = b * T + t;
                if (start && start[bt])
                    for (int n = 0; n < N; n++) h[n] = 0;
                double acc = Dskip ? (double)Dskip[d] * x[bt * D + d] : 0.0;
                for (int n = 0; n < N; n++) {
                    h[n] = exp((double)dt[bt * D + d] * A[d * N + n]) * h[n] +
                           (double)dt[bt * D + d] * Bm[bt * N + n] * x[bt * D + d];
                    acc += Cm[bt * N + n] * h[n];
                }
                y[bt * D + d] = acc;
            }
            for (int n = 0; n < N; n++) hT[(b * D + d) * N + n] = h[n];
        }
    free(h);
}

/* ---- conv1d ----------------------------------------------------------------- */

typedef struct {
    tm_ctx ctx;
    int B, T, C, K;
    float *x, *st, *w, *bias, *out, *st_out, *gout, *gst;
    int32_t *start;
    float *dx, *dst, *dw, *dbias;
} conv_case;

static void conv_setup(conv_case *c, int B, int T, int C, int K, int with_start, int with_state,
                       unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 0);
    c->ctx = make_ctx();
    c->B = B, c->T = T, c->C = C, c->K = K;
    long nx = (long)B * T * C, ns = (long)B * C * (K - 1);
    c->x = randn(&r, nx, 1.0f);
    c->st = with_state ? randn(&r, ns, 1.0f) : NULL;
    c->w = randn(&r, (long)C * K, 0.5f);
    c->bias = randn(&r, C, 0.5f);
    c->out = zeros(nx);
    c->st_out = zeros(ns);
    c->gout = randn(&r, nx, 1.0f);
    c->gst = randn(&r, ns, 1.0f);
    c->start = with_start ? make_starts(B, T) : NULL;
    c->dx = zeros(nx), c->dst = zeros(ns), c->dw = zeros((long)C * K), c->dbias = zeros(C);
}

static void conv_free(conv_case *c) {
    free(c->x), free(c->st), free(c->w), free(c->bias), free(c->out), free(c->st_out);
    free(c->gout), free(c->gst), free(c->start), free(c->dx), free(c->dst), free(c->dw);
    free(c->dbias);
    tm_ctx_free(&c->ctx);
}

static void conv_forward(conv_case *c) {
    int B = c->B, T = c->T, C = c->C, K = c->K;
    tm_tensor x = tf(c->x, 3, B, T, C, 0), out = tf(c->out, 3, B, T, C, 0);
    tm_tensor so = tf(c->st_out, 3, B, C, K - 1, 0), si = tf(c->st, 3, B, C, K - 1, 0);
    tm_tensor w = tf(c->w, 2, C, K, 0, 0), bias = tf(c->bias, 1, C, 0, 0, 0);
    tm_tensor start = ti(c->start, 2, B, T);
    cr_assert_eq(tm_op_conv1d(&c->ctx, &out, &so, &x, c->st ? &si : NULL,
                              c->start ? &start : NULL, &w, &bias),
                 TM_OK, "%s", tm_last_error());
}

/* sum_j w_j y_j with y in double (the numerical side of the gradchecks). */
static double dot_d(const float *w, const double *y, long n) {
    double s = 0.0;
    for (long j = 0; j < n; j++) s += (double)w[j] * y[j];
    return s;
}

/* The gradchecks take the numerical side from the double references above,
 * so it is limited by truncation only, not by the float forward's rounding
 * (which a one-entry perturbation of a long sequence would amplify); the
 * float forwards are checked against the same references separately. */
static double conv_loss(void *user) {
    conv_case *c = user;
    long no = (long)c->B * c->T * c->C, ns = (long)c->B * c->C * (c->K - 1);
    double *out = malloc(sizeof(double) * (size_t)no), *so = malloc(sizeof(double) * (size_t)(ns + 1));
    conv_ref(out, so, c->x, c->st, c->start, c->w, c->bias, c->B, c->T, c->C, c->K);
    double L = dot_d(c->gout, out, no) + dot_d(c->gst, so, ns);
    free(out), free(so);
    return L;
}

static tm_gc_result run_conv(const tm_gc_row *row, unsigned long long seed) {
    conv_case c;
    int B = row->dims[0], T = row->dims[1], C = row->dims[2], K = row->dims[3];
    conv_setup(&c, B, T, C, K, row->dims[4], row->dims[5], seed);
    conv_forward(&c);
    tm_tensor x = tf(c.x, 3, B, T, C, 0), si = tf(c.st, 3, B, C, K - 1, 0);
    tm_tensor w = tf(c.w, 2, C, K, 0, 0), start = ti(c.start, 2, B, T);
    tm_tensor dx = tf(c.dx, 3, B, T, C, 0), dst = tf(c.dst, 3, B, C, K - 1, 0);
    tm_tensor dw = tf(c.dw, 2, C, K, 0, 0), db = tf(c.dbias, 1, C, 0, 0, 0);
    tm_tensor gout = tf(c.gout, 3, B, T, C, 0), gst = tf(c.gst, 3, B, C, K - 1, 0);
    cr_assert_eq(tm_op_conv1d_backward(&c.ctx, &dx, c.st ? &dst : NULL, &dw, &db, &gout, &gst, &x,
                                       c.st ? &si : NULL, c.start ? &start : NULL, &w),
                 TM_OK, "%s", tm_last_error());
    tm_gc_var vars[] = {{"x", c.x, c.dx, (long)B * T * C},
                        {"state_in", c.st, c.dst, c.st ? (long)B * C * (K - 1) : 0},
                        {"weight", c.w, c.dw, (long)C * K},
                        {"bias", c.bias, c.dbias, C}};
    tm_gc_result r = tm_gradcheck(conv_loss, &c, vars, 4, tm_gc_default_opts());
    conv_free(&c);
    return r;
}

Test(conv1d, forward_matches_naive_reference_with_state_and_starts) {
    int shapes[][4] = {{2, 13, 7, 4}, {3, 2, 5, 4}, {1, 6, 3, 1}, {2, 9, 16, 3}};
    for (int i = 0; i < 4; i++)
        for (int with_start = 0; with_start < 2; with_start++) {
            int B = shapes[i][0], T = shapes[i][1], C = shapes[i][2], K = shapes[i][3];
            conv_case c;
            conv_setup(&c, B, T, C, K, with_start, 1, 7 + i);
            conv_forward(&c);
            double *out = malloc(sizeof(double) * (size_t)B * T * C);
            double *so = malloc(sizeof(double) * (size_t)(B * C * (K - 1) + 1));
            conv_ref(out, so, c.x, c.st, c.start, c.w, c.bias, B, T, C, K);
            expect_close(c.out, out, (long)B * T * C, 1e-5, "out");
            expect_close(c.st_out, so, (long)B * C * (K - 1), 1e-6, "state_out");
            free(out), free(so);
            conv_free(&c);
        }
}

Test(conv1d, steps_equal_one_sequence_call_from_saved_state_with_starts) {
    int B = 3, T = 11, C = 6, K = 4;
    conv_case c;
    conv_setup(&c, B, T, C, K, 1, 1, 99);
    conv_forward(&c);
    float *state = zeros((long)B * C * (K - 1)), *xt = zeros((long)B * C), *yt = zeros((long)B * C);
    memcpy(state, c.st, sizeof(float) * (size_t)(B * C * (K - 1)));
    tm_tensor st = tf(state, 3, B, C, K - 1, 0), x1 = tf(xt, 2, B, C, 0, 0), y1 = tf(yt, 2, B, C, 0, 0);
    tm_tensor w = tf(c.w, 2, C, K, 0, 0), bias = tf(c.bias, 1, C, 0, 0, 0);
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) {
            if (c.start[b * T + t]) memset(state + b * C * (K - 1), 0, sizeof(float) * (size_t)(C * (K - 1)));
            memcpy(xt + b * C, c.x + (b * T + t) * C, sizeof(float) * (size_t)C);
        }
        cr_assert_eq(tm_op_conv1d_step(&c.ctx, &y1, &st, &x1, &w, &bias), TM_OK, "%s", tm_last_error());
        for (int b = 0; b < B; b++)
            expect_same(yt + b * C, c.out + (b * T + t) * C, C, 1e-5, "step out");
    }
    expect_same(state, c.st_out, (long)B * C * (K - 1), 1e-5, "final state");
    free(state), free(xt), free(yt);
    conv_free(&c);
}

/* ---- rope ------------------------------------------------------------------- */

typedef struct {
    tm_ctx ctx;
    int B, T, H, dh;
    float *x, *out, *gout, *dx;
    int32_t *pos;
} rope_case;

static void rope_setup(rope_case *c, int B, int T, int H, int dh, unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 1);
    c->ctx = make_ctx();
    c->B = B, c->T = T, c->H = H, c->dh = dh;
    long n = (long)B * T * H * dh;
    c->x = randn(&r, n, 1.0f), c->out = zeros(n), c->gout = randn(&r, n, 1.0f), c->dx = zeros(n);
    c->pos = izeros((long)B * T);
    /* Per-stream positions from different episode points, one restart. */
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) c->pos[b * T + t] = (t == T / 2 && b == 0) ? 0 : 37 * b + 3 * t + (b == 1 ? 1000 : 0);
}

static void rope_free(rope_case *c) {
    free(c->x), free(c->out), free(c->gout), free(c->dx), free(c->pos);
    tm_ctx_free(&c->ctx);
}

static void rope_forward(rope_case *c) {
    tm_tensor x = tf(c->x, 4, c->B, c->T, c->H, c->dh), out = tf(c->out, 4, c->B, c->T, c->H, c->dh);
    tm_tensor pos = ti(c->pos, 2, c->B, c->T);
    cr_assert_eq(tm_op_rope(&c->ctx, &out, &x, &pos, TM_ROPE_THETA), TM_OK, "%s", tm_last_error());
}

static double rope_loss(void *user) {
    rope_case *c = user;
    long n = (long)c->B * c->T * c->H * c->dh;
    double *out = malloc(sizeof(double) * (size_t)n);
    rope_ref(out, c->x, c->pos, c->B, c->T, c->H, c->dh);
    double L = dot_d(c->gout, out, n);
    free(out);
    return L;
}

static tm_gc_result run_rope(const tm_gc_row *row, unsigned long long seed) {
    rope_case c;
    rope_setup(&c, row->dims[0], row->dims[1], row->dims[2], row->dims[3], seed);
    tm_tensor g = tf(c.gout, 4, c.B, c.T, c.H, c.dh), dx = tf(c.dx, 4, c.B, c.T, c.H, c.dh);
    tm_tensor pos = ti(c.pos, 2, c.B, c.T);
    cr_assert_eq(tm_op_rope_backward(&c.ctx, &dx, &g, &pos, TM_ROPE_THETA), TM_OK, "%s", tm_last_error());
    tm_gc_var vars[] = {{"x", c.x, c.dx, (long)c.B * c.T * c.H * c.dh}};
    tm_gc_result r = tm_gradcheck(rope_loss, &c, vars, 1, tm_gc_default_opts());
    rope_free(&c);
    return r;
}

Test(rope, forward_matches_rotate_half_reference) {
    int shapes[][4] = {{2, 13, 3, 8}, {3, 5, 1, 2}, {1, 7, 2, 16}};
    for (int i = 0; i < 3; i++) {
        rope_case c;
        rope_setup(&c, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], 11 + i);
        rope_forward(&c);
        long n = (long)c.B * c.T * c.H * c.dh;
        double *want = malloc(sizeof(double) * (size_t)n);
        rope_ref(want, c.x, c.pos, c.B, c.T, c.H, c.dh);
        expect_close(c.out, want, n, 1e-5, "rope out");
        free(want);
        rope_free(&c);
    }
}

Test(rope, position_zero_is_identity) {
    rope_case c;
    rope_setup(&c, 2, 3, 2, 6, 5);
    memset(c.pos, 0, sizeof(int32_t) * 6);
    rope_forward(&c);
    for (long i = 0; i < 2 * 3 * 2 * 6; i++) cr_assert_eq(c.out[i], c.x[i]);
    rope_free(&c);
}

/* ---- rope with dynamic NTK scaling ------------------------------------------
 * The reference writes the definition of kernels/ops_seq.h out in double:
 * L = p + 1; past max_pos the base is theta (f L / max_pos - (f - 1))^(dh/(dh-2)). */

static double ntk_base_ref(double theta, int max_pos, double factor, int p, int dh) {
    double L = p + 1.0;
    if (max_pos == 0 || L <= max_pos || dh == 2) return theta;
    return theta * pow(factor * L / max_pos - (factor - 1.0), dh / (dh - 2.0));
}

static void rope_scaled_ref(double *out, const float *x, const int32_t *pos, int max_pos,
                            double factor, int B, int T, int H, int dh) {
    int half = dh / 2;
    for (int bt = 0; bt < B * T; bt++) {
        double base = ntk_base_ref(10000.0, max_pos, factor, pos[bt], dh);
        for (int h = 0; h < H; h++)
            for (int i = 0; i < dh; i++) {
                int f = i % half;
                double ang = pos[bt] * pow(base, -2.0 * f / dh);
                const float *xr = x + (bt * H + h) * dh;
                double rot = i < half ? -xr[i + half] : xr[i - half];
                out[(bt * H + h) * dh + i] = xr[i] * cos(ang) + rot * sin(ang);
            }
    }
}

typedef struct {
    rope_case c;
    int max_pos;
    float factor;
} rope_scaled_case;

static double rope_scaled_loss(void *user) {
    rope_scaled_case *s = user;
    rope_case *c = &s->c;
    long n = (long)c->B * c->T * c->H * c->dh;
    double *out = malloc(sizeof(double) * (size_t)n);
    rope_scaled_ref(out, c->x, c->pos, s->max_pos, s->factor, c->B, c->T, c->H, c->dh);
    double L = dot_d(c->gout, out, n);
    free(out);
    return L;
}

/* dims {B, T, H, dh, max_pos, 10 * factor}. rope_setup's positions run
 * 0..36 in stream 0 (a restart at T/2) and past 1000 in stream 1, so a
 * max_pos of 20 puts positions on both sides of it. */
static tm_gc_result run_rope_scaled(const tm_gc_row *row, unsigned long long seed) {
    rope_scaled_case s;
    rope_case *c = &s.c;
    rope_setup(c, row->dims[0], row->dims[1], row->dims[2], row->dims[3], seed);
    s.max_pos = row->dims[4], s.factor = row->dims[5] / 10.0f;
    int below = 0, above = 0;
    for (long i = 0; i < (long)c->B * c->T; i++) {
        below += c->pos[i] + 1 <= s.max_pos;
        above += c->pos[i] + 1 > s.max_pos;
    }
    cr_assert(below > 0 && above > 0, "%s: positions on both sides of max_pos", row->name);
    tm_tensor g = tf(c->gout, 4, c->B, c->T, c->H, c->dh), dx = tf(c->dx, 4, c->B, c->T, c->H, c->dh);
    tm_tensor pos = ti(c->pos, 2, c->B, c->T);
    cr_assert_eq(tm_op_rope_scaled_backward(&c->ctx, &dx, &g, &pos, TM_ROPE_THETA, s.max_pos, s.factor),
                 TM_OK, "%s", tm_last_error());
    tm_gc_var vars[] = {{"x", c->x, c->dx, (long)c->B * c->T * c->H * c->dh}};
    tm_gc_result r = tm_gradcheck(rope_scaled_loss, &s, vars, 1, tm_gc_default_opts());
    rope_free(c);
    return r;
}

Test(rope_scaled, forward_matches_the_per_position_ntk_reference) {
    /* {B, T, H, dh, max_pos, 10 * factor} */
    int cases[][6] = {{2, 13, 3, 8, 20, 40}, {3, 5, 1, 4, 2, 10}, {1, 7, 2, 16, 1, 25}, {2, 9, 2, 2, 3, 80}};
    for (int i = 0; i < 4; i++) {
        rope_case c;
        rope_setup(&c, cases[i][0], cases[i][1], cases[i][2], cases[i][3], 31 + i);
        tm_tensor x = tf(c.x, 4, c.B, c.T, c.H, c.dh), out = tf(c.out, 4, c.B, c.T, c.H, c.dh);
        tm_tensor pos = ti(c.pos, 2, c.B, c.T);
        float factor = cases[i][5] / 10.0f;
        cr_assert_eq(tm_op_rope_scaled(&c.ctx, &out, &x, &pos, TM_ROPE_THETA, cases[i][4], factor),
                     TM_OK, "%s", tm_last_error());
        long n = (long)c.B * c.T * c.H * c.dh;
        double *want = malloc(sizeof(double) * (size_t)n);
        rope_scaled_ref(want, c.x, c.pos, cases[i][4], factor, c.B, c.T, c.H, c.dh);
        expect_close(c.out, want, n, 1e-5, "rope_scaled out");
        free(want);
        rope_free(&c);
    }
}

/* max_pos = 0 (any factor) is plain RoPE, and so is every position with
 * p + 1 <= max_pos: the same kernel with the same arithmetic, bit for bit. */
Test(rope_scaled, without_scaling_equals_plain_rope_bit_for_bit) {
    rope_case c;
    rope_setup(&c, 2, 13, 3, 8, 7);
    long n = 2L * 13 * 3 * 8;
    rope_forward(&c); /* plain tm_op_rope into c.out */
    float *scaled = zeros(n), *dplain = zeros(n), *dscaled = zeros(n);
    tm_tensor x = tf(c.x, 4, 2, 13, 3, 8), out = tf(scaled, 4, 2, 13, 3, 8);
    tm_tensor g = tf(c.gout, 4, 2, 13, 3, 8), dp = tf(dplain, 4, 2, 13, 3, 8), ds = tf(dscaled, 4, 2, 13, 3, 8);
    tm_tensor pos = ti(c.pos, 2, 2, 13);
    int max_pos[2] = {0, 2000}; /* 2000: above every position of rope_setup */
    cr_assert_eq(tm_op_rope_backward(&c.ctx, &dp, &g, &pos, TM_ROPE_THETA), TM_OK);
    for (int k = 0; k < 2; k++) {
        memset(dscaled, 0, sizeof(float) * (size_t)n);
        cr_assert_eq(tm_op_rope_scaled(&c.ctx, &out, &x, &pos, TM_ROPE_THETA, max_pos[k], 3.0f), TM_OK,
                     "%s", tm_last_error());
        cr_assert_eq(tm_op_rope_scaled_backward(&c.ctx, &ds, &g, &pos, TM_ROPE_THETA, max_pos[k], 3.0f),
                     TM_OK, "%s", tm_last_error());
        cr_assert(memcmp(scaled, c.out, sizeof(float) * (size_t)n) == 0, "forward, max_pos %d", max_pos[k]);
        cr_assert(memcmp(dscaled, dplain, sizeof(float) * (size_t)n) == 0, "backward, max_pos %d", max_pos[k]);
    }
    free(scaled), free(dplain), free(dscaled);
    rope_free(&c);
}

/* One position past max_pos: a unit vector in pair i rotates to (cos, sin) of
 * p * base^(-2i/dh), base = 10000 (4 * 5001 / 1024 - 3)^(8/6), worked out
 * here in double. Pair 0 (frequency 1) is unaffected by the base; the base is
 * far from theta, so unscaled angles would fail. */
Test(rope_scaled, base_formula_at_one_position) {
    tm_ctx ctx = make_ctx();
    int dh = 8, p = 5000, max_pos = 1024;
    double factor = 4.0;
    double base = 10000.0 * pow(4.0 * 5001.0 / 1024.0 - 3.0, 8.0 / 6.0);
    cr_assert(base > 4e5, "the NTK base is far above theta (%g)", base);
    float x[4 * 8] = {0}, out[4 * 8];
    for (int i = 0; i < 4; i++) x[i * dh + i] = 1.0f; /* row i: unit vector in pair i */
    int32_t pos[4] = {p, p, p, p};
    tm_tensor tx = tf(x, 4, 1, 4, 1, dh), to = tf(out, 4, 1, 4, 1, dh), tp = ti(pos, 2, 1, 4);
    cr_assert_eq(tm_op_rope_scaled(&ctx, &to, &tx, &tp, 10000.0f, max_pos, (float)factor), TM_OK,
                 "%s", tm_last_error());
    for (int i = 0; i < 4; i++) {
        double ang = p * pow(base, -2.0 * i / dh);
        cr_assert(fabs(out[i * dh + i] - cos(ang)) < 1e-6, "pair %d cos: got %.8g want %.8g", i,
                  out[i * dh + i], cos(ang));
        cr_assert(fabs(out[i * dh + i + 4] - sin(ang)) < 1e-6, "pair %d sin: got %.8g want %.8g", i,
                  out[i * dh + i + 4], sin(ang));
        if (i > 0) {
            double plain = p * pow(10000.0, -2.0 * i / dh);
            cr_assert(fabs(cos(plain) - cos(ang)) + fabs(sin(plain) - sin(ang)) > 1e-2,
                      "pair %d: the scaled angle differs from the unscaled one", i);
        }
    }
    tm_ctx_free(&ctx);
}

Test(errors, rope_scaled_rejects_a_negative_max_pos_and_a_factor_below_one) {
    rope_case r;
    rope_setup(&r, 1, 2, 1, 6, 3);
    tm_tensor rx = tf(r.x, 4, 1, 2, 1, 6), rout = tf(r.out, 4, 1, 2, 1, 6), pos = ti(r.pos, 2, 1, 2);
    memcpy(r.out, r.x, sizeof(float) * 12);
    cr_assert_eq(tm_op_rope_scaled(&r.ctx, &rout, &rx, &pos, TM_ROPE_THETA, -1, 2.0f), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "rope_scaled") && strstr(tm_last_error(), "max_pos"), "%s",
              tm_last_error());
    cr_assert_eq(tm_op_rope_scaled(&r.ctx, &rout, &rx, &pos, TM_ROPE_THETA, 8, 0.5f), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "factor") && strstr(tm_last_error(), "0.5"), "%s", tm_last_error());
    cr_assert_eq(tm_op_rope_scaled_backward(&r.ctx, &rout, &rx, &pos, TM_ROPE_THETA, 8, NAN), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "rope_scaled_backward"), "%s", tm_last_error());
    cr_assert(memcmp(r.out, r.x, sizeof(float) * 12) == 0, "out untouched");
    rope_free(&r);
}

/* ---- attention -------------------------------------------------------------- */

enum { ATT_WINDOW = 1, ATT_PREFIX = 2, ATT_STARTS = 4 };
enum { ATT_W = 5, ATT_P = 6 };

typedef struct {
    tm_ctx ctx;
    int B, T, Hq, Hkv, dh, P, W;
    float *q, *k, *v, *kc, *vc, *out, *lse, *gout, *dq, *dk, *dv;
    int32_t *plen, *start;
} attn_case;

static void attn_setup(attn_case *c, int B, int T, int Hq, int Hkv, int dh, int flags,
                       unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 2);
    c->ctx = make_ctx();
    c->B = B, c->T = T, c->Hq = Hq, c->Hkv = Hkv, c->dh = dh;
    c->W = flags & ATT_WINDOW ? ATT_W : 0;
    c->P = flags & ATT_PREFIX ? ATT_P : 0;
    long nq = (long)B * T * Hq * dh, nk = (long)B * T * Hkv * dh, nc = (long)B * c->P * Hkv * dh;
    c->q = randn(&r, nq, 1.0f), c->k = randn(&r, nk, 1.0f), c->v = randn(&r, nk, 1.0f);
    c->kc = c->P ? randn(&r, nc, 1.0f) : NULL;
    c->vc = c->P ? randn(&r, nc, 1.0f) : NULL;
    c->plen = NULL;
    if (c->P) {
        c->plen = izeros(B);
        for (int b = 0; b < B; b++) c->plen[b] = b % 3 == 0 ? ATT_P : b % 3 == 1 ? 2 : 0;
    }
    c->start = flags & ATT_STARTS ? make_starts(B, T) : NULL;
    c->out = zeros(nq), c->lse = zeros((long)B * Hq * T), c->gout = randn(&r, nq, 1.0f);
    c->dq = zeros(nq), c->dk = zeros(nk), c->dv = zeros(nk);
}

static void attn_free(attn_case *c) {
    free(c->q), free(c->k), free(c->v), free(c->kc), free(c->vc), free(c->out), free(c->lse);
    free(c->gout), free(c->dq), free(c->dk), free(c->dv), free(c->plen), free(c->start);
    tm_ctx_free(&c->ctx);
}

typedef struct {
    tm_tensor q, k, v, kc, vc, plen, start, out, lse;
} attn_tensors;

static attn_tensors attn_wrap(attn_case *c) {
    attn_tensors a;
    a.q = tf(c->q, 4, c->B, c->T, c->Hq, c->dh);
    a.out = tf(c->out, 4, c->B, c->T, c->Hq, c->dh);
    a.k = tf(c->k, 4, c->B, c->T, c->Hkv, c->dh);
    a.v = tf(c->v, 4, c->B, c->T, c->Hkv, c->dh);
    a.kc = tf(c->kc, 4, c->B, c->P, c->Hkv, c->dh);
    a.vc = tf(c->vc, 4, c->B, c->P, c->Hkv, c->dh);
    a.plen = ti(c->plen, 1, c->B, 0);
    a.start = ti(c->start, 2, c->B, c->T);
    a.lse = tf(c->lse, 3, c->B, c->Hq, c->T, 0);
    return a;
}

static void attn_forward(attn_case *c) {
    attn_tensors a = attn_wrap(c);
    cr_assert_eq(tm_op_attention(&c->ctx, &a.out, &a.lse, &a.q, &a.k, &a.v, c->P ? &a.kc : NULL,
                                 c->P ? &a.vc : NULL, c->P ? &a.plen : NULL,
                                 c->start ? &a.start : NULL, 1.0f / sqrtf((float)c->dh), c->W),
                 TM_OK, "%s", tm_last_error());
}

static double attn_loss(void *user) {
    attn_case *c = user;
    long n = (long)c->B * c->T * c->Hq * c->dh;
    double *out = malloc(sizeof(double) * (size_t)n);
    attn_ref(out, c->q, c->k, c->v, c->kc, c->vc, c->plen, c->start, c->B, c->T, c->P, c->Hq,
             c->Hkv, c->dh, c->W);
    double L = dot_d(c->gout, out, n);
    free(out);
    return L;
}

static tm_gc_result run_attn(const tm_gc_row *row, unsigned long long seed) {
    attn_case c;
    attn_setup(&c, row->dims[0], row->dims[1], row->dims[2], row->dims[3], row->dims[4],
               row->dims[5], seed);
    attn_forward(&c);
    attn_tensors a = attn_wrap(&c);
    tm_tensor dq = tf(c.dq, 4, c.B, c.T, c.Hq, c.dh), gout = tf(c.gout, 4, c.B, c.T, c.Hq, c.dh);
    tm_tensor dk = tf(c.dk, 4, c.B, c.T, c.Hkv, c.dh), dv = tf(c.dv, 4, c.B, c.T, c.Hkv, c.dh);
    cr_assert_eq(tm_op_attention_backward(&c.ctx, &dq, &dk, &dv, &gout, &a.out, &a.lse, &a.q, &a.k,
                                          &a.v, c.P ? &a.kc : NULL, c.P ? &a.vc : NULL,
                                          c.P ? &a.plen : NULL, c.start ? &a.start : NULL,
                                          1.0f / sqrtf((float)c.dh), c.W),
                 TM_OK, "%s", tm_last_error());
    long nq = (long)c.B * c.T * c.Hq * c.dh, nk = (long)c.B * c.T * c.Hkv * c.dh;
    tm_gc_var vars[] = {{"q", c.q, c.dq, nq}, {"k", c.k, c.dk, nk}, {"v", c.v, c.dv, nk}};
    tm_gc_result r = tm_gradcheck(attn_loss, &c, vars, 3, tm_gc_default_opts());
    attn_free(&c);
    return r;
}

Test(attention, forward_matches_naive_reference_for_every_mask_option) {
    int shapes[][5] = {{2, 13, 2, 2, 8}, {3, 7, 4, 2, 6}, {3, 9, 3, 1, 4}, {2, 1, 2, 1, 4}};
    for (int i = 0; i < 4; i++)
        for (int flags = 0; flags < 8; flags++) {
            attn_case c;
            attn_setup(&c, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], shapes[i][4],
                       flags, 100 + i * 8 + flags);
            attn_forward(&c);
            long nq = (long)c.B * c.T * c.Hq * c.dh;
            double *want = malloc(sizeof(double) * (size_t)nq);
            attn_ref(want, c.q, c.k, c.v, c.kc, c.vc, c.plen, c.start, c.B, c.T, c.P, c.Hq, c.Hkv,
                     c.dh, c.W);
            expect_close(c.out, want, nq, 2e-5, "attention out");
            free(want);
            attn_free(&c);
        }
}

Test(attention, gqa_equals_mha_with_repeated_kv_heads) {
    attn_case g;
    attn_setup(&g, 2, 9, 4, 2, 6, ATT_WINDOW | ATT_STARTS, 5);
    attn_forward(&g);
    attn_case m;
    attn_setup(&m, 2, 9, 4, 4, 6, ATT_WINDOW | ATT_STARTS, 5);
    memcpy(m.q, g.q, sizeof(float) * 2 * 9 * 4 * 6);
    for (int bt = 0; bt < 2 * 9; bt++)
        for (int h = 0; h < 4; h++) {
            memcpy(m.k + (bt * 4 + h) * 6, g.k + (bt * 2 + h / 2) * 6, sizeof(float) * 6);
            memcpy(m.v + (bt * 4 + h) * 6, g.v + (bt * 2 + h / 2) * 6, sizeof(float) * 6);
        }
    attn_forward(&m);
    for (long i = 0; i < 2 * 9 * 4 * 6; i++) cr_assert_eq(g.out[i], m.out[i], "out[%ld]", i);
    attn_free(&g), attn_free(&m);
}

/* ---- selective scan ------------------------------------------------------------ */

typedef struct {
    tm_ctx ctx;
    int B, T, D, N;
    float *x, *dt, *A, *Bm, *Cm, *Dskip, *h0, *y, *hT, *gy, *ghT;
    float *dx, *ddt, *dA, *dB, *dC, *dD, *dh0;
    int32_t *start;
} scan_case;

static void scan_setup(scan_case *c, int B, int T, int D, int N, int with_start, int with_h0,
                       unsigned long long seed) {
    tm_rng r;
    tm_rng_seed(&r, seed, 3);
    c->ctx = make_ctx();
    c->B = B, c->T = T, c->D = D, c->N = N;
    long nx = (long)B * T * D, nb = (long)B * T * N, nh = (long)B * D * N;
    c->x = randn(&r, nx, 1.0f);
    /* dt in (0.01, 0.2), A = -exp(u), u in (-1, 1): the regime of a trained
     * Mamba, and one where a step of 1e-2 in dt or A keeps the central
     * difference's truncation error near 1e-5. */
    c->dt = zeros(nx);
    tm_rng_fill_uniform(&r, c->dt, nx, 0.01f, 0.2f);
    c->A = zeros((long)D * N);
    for (long i = 0; i < (long)D * N; i++) c->A[i] = -expf(2.0f * tm_rng_uniform(&r) - 1.0f);
    c->Bm = randn(&r, nb, 1.0f), c->Cm = randn(&r, nb, 1.0f), c->Dskip = randn(&r, D, 1.0f);
    c->h0 = with_h0 ? randn(&r, nh, 1.0f) : NULL;
    c->start = with_start ? make_starts(B, T) : NULL;
    c->y = zeros(nx), c->hT = zeros(nh), c->gy = randn(&r, nx, 1.0f), c->ghT = randn(&r, nh, 1.0f);
    c->dx = zeros(nx), c->ddt = zeros(nx), c->dA = zeros((long)D * N), c->dB = zeros(nb);
    c->dC = zeros(nb), c->dD = zeros(D), c->dh0 = zeros(nh);
    cr_assert_eq(tm_ctx_reserve(&c->ctx, tm_op_scan_backward_scratch(&c->ctx, T, D, N)), TM_OK);
}

static void scan_free(scan_case *c) {
    float *bufs[] = {c->x, c->dt, c->A, c->Bm, c->Cm, c->Dskip, c->h0, c->y, c->hT, c->gy,
                     c->ghT, c->dx, c->ddt, c->dA, c->dB, c->dC, c->dD, c->dh0};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(c->start);
    tm_ctx_free(&c->ctx);
}

typedef struct {
    tm_tensor x, dt, A, Bm, Cm, Dskip, h0, y, hT, start;
} scan_tensors;

static scan_tensors scan_wrap(scan_case *c) {
    scan_tensors s;
    s.x = tf(c->x, 3, c->B, c->T, c->D, 0), s.dt = tf(c->dt, 3, c->B, c->T, c->D, 0);
    s.y = tf(c->y, 3, c->B, c->T, c->D, 0), s.A = tf(c->A, 2, c->D, c->N, 0, 0);
    s.Bm = tf(c->Bm, 3, c->B, c->T, c->N, 0), s.Cm = tf(c->Cm, 3, c->B, c->T, c->N, 0);
    s.Dskip = tf(c->Dskip, 1, c->D, 0, 0, 0), s.h0 = tf(c->h0, 3, c->B, c->D, c->N, 0);
    s.hT = tf(c->hT, 3, c->B, c->D, c->N, 0), s.start = ti(c->start, 2, c->B, c->T);
    return s;
}

static void scan_forward(scan_case *c) {
    scan_tensors s = scan_wrap(c);
    cr_assert_eq(tm_op_scan(&c->ctx, &s.y, &s.hT, &s.x, &s.dt, &s.A, &s.Bm, &s.Cm, &s.Dskip,
                            c->h0 ? &s.h0 : NULL, c->start ? &s.start : NULL),
                 TM_OK, "%s", tm_last_error());
}

static double scan_loss(void *user) {
    scan_case *c = user;
    long ny = (long)c->B * c->T * c->D, nh = (long)c->B * c->D * c->N;
    double *y = malloc(sizeof(double) * (size_t)ny), *hT = malloc(sizeof(double) * (size_t)nh);
    scan_ref(y, hT, c->x, c->dt, c->A, c->Bm, c->Cm, c->Dskip, c->h0, c->start, c->B, c->T, c->D,
             c->N);
    double L = dot_d(c->gy, y, ny) + dot_d(c->ghT, hT, nh);
    free(y), free(hT);
    return L;
}

static tm_gc_result run_scan(const tm_gc_row *row, unsigned long long seed) {
    scan_case c;
    int B = row->dims[0], T = row->dims[1], D = row->dims[2], N = row->dims[3];
    scan_setup(&c, B, T, D, N, row->dims[4], row->dims[5], seed);
    scan_forward(&c);
    scan_tensors s = scan_wrap(&c);
    tm_tensor dx = tf(c.dx, 3, B, T, D, 0), ddt = tf(c.ddt, 3, B, T, D, 0);
    tm_tensor dA = tf(c.dA, 2, D, N, 0, 0), dB = tf(c.dB, 3, B, T, N, 0), dC = tf(c.dC, 3, B, T, N, 0);
    tm_tensor dD = tf(c.dD, 1, D, 0, 0, 0), dh0 = tf(c.dh0, 3, B, D, N, 0);
    tm_tensor gy = tf(c.gy, 3, B, T, D, 0), ghT = tf(c.ghT, 3, B, D, N, 0);
    cr_assert_eq(tm_op_scan_backward(&c.ctx, &dx, &ddt, &dA, &dB, &dC, &dD, c.h0 ? &dh0 : NULL,
                                     &gy, &ghT, &s.x, &s.dt, &s.A, &s.Bm, &s.Cm, &s.Dskip,
                                     c.h0 ? &s.h0 : NULL, c.start ? &s.start : NULL),
                 TM_OK, "%s", tm_last_error());
    long nx = (long)B * T * D, nb = (long)B * T * N;
    tm_gc_var vars[] = {{"x", c.x, c.dx, nx},          {"dt", c.dt, c.ddt, nx},
                        {"A", c.A, c.dA, (long)D * N}, {"Bm", c.Bm, c.dB, nb},
                        {"Cm", c.Cm, c.dC, nb},        {"Dskip", c.Dskip, c.dD, D},
                        {"h0", c.h0, c.dh0, c.h0 ? (long)B * D * N : 0}};
    tm_gc_result r = tm_gradcheck(scan_loss, &c, vars, 7, tm_gc_default_opts());
    scan_free(&c);
    return r;
}

Test(scan, forward_matches_naive_reference_with_state_and_starts) {
    int shapes[][4] = {{2, 13, 7, 5}, {1, 1, 3, 2}, {3, 20, 4, 16}};
    for (int i = 0; i < 3; i++)
        for (int flags = 0; flags < 4; flags++) {
            scan_case c;
            int B = shapes[i][0], T = shapes[i][1], D = shapes[i][2], N = shapes[i][3];
            scan_setup(&c, B, T, D, N, flags & 1, flags & 2, 300 + i * 4 + flags);
            scan_forward(&c);
            double *y = malloc(sizeof(double) * (size_t)B * T * D);
            double *hT = malloc(sizeof(double) * (size_t)B * D * N);
            scan_ref(y, hT, c.x, c.dt, c.A, c.Bm, c.Cm, c.Dskip, c.h0, c.start, B, T, D, N);
            expect_close(c.y, y, (long)B * T * D, 1e-5, "y");
            expect_close(c.hT, hT, (long)B * D * N, 1e-5, "hT");
            free(y), free(hT);
            scan_free(&c);
        }
}

Test(scan, steps_equal_one_sequence_call_from_saved_state_with_starts) {
    int B = 3, T = 12, D = 5, N = 4;
    scan_case c;
    scan_setup(&c, B, T, D, N, 1, 1, 77);
    scan_forward(&c);
    float *h = zeros((long)B * D * N);
    memcpy(h, c.h0, sizeof(float) * (size_t)(B * D * N));
    float *xt = zeros(B * D), *dtt = zeros(B * D), *yt = zeros(B * D), *bt = zeros(B * N), *ct = zeros(B * N);
    tm_tensor th = tf(h, 3, B, D, N, 0), tx = tf(xt, 2, B, D, 0, 0), tdt = tf(dtt, 2, B, D, 0, 0);
    tm_tensor ty = tf(yt, 2, B, D, 0, 0), tb = tf(bt, 2, B, N, 0, 0), tc = tf(ct, 2, B, N, 0, 0);
    tm_tensor A = tf(c.A, 2, D, N, 0, 0), Ds = tf(c.Dskip, 1, D, 0, 0, 0);
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) {
            if (c.start[b * T + t]) memset(h + b * D * N, 0, sizeof(float) * (size_t)(D * N));
            memcpy(xt + b * D, c.x + (b * T + t) * D, sizeof(float) * (size_t)D);
            memcpy(dtt + b * D, c.dt + (b * T + t) * D, sizeof(float) * (size_t)D);
            memcpy(bt + b * N, c.Bm + (b * T + t) * N, sizeof(float) * (size_t)N);
            memcpy(ct + b * N, c.Cm + (b * T + t) * N, sizeof(float) * (size_t)N);
        }
        cr_assert_eq(tm_op_scan_step(&c.ctx, &ty, &th, &tx, &tdt, &A, &tb, &tc, &Ds), TM_OK, "%s",
                     tm_last_error());
        for (int b = 0; b < B; b++) expect_same(yt + b * D, c.y + (b * T + t) * D, D, 1e-5, "step y");
    }
    expect_same(h, c.hT, (long)B * D * N, 1e-5, "final state");
    free(h), free(xt), free(dtt), free(yt), free(bt), free(ct);
    scan_free(&c);
}

Test(scan, backward_fails_loudly_without_reserved_scratch) {
    scan_case c;
    scan_setup(&c, 2, 5, 3, 4, 0, 0, 1);
    tm_ctx bare = make_ctx(); /* nothing reserved */
    scan_tensors s = scan_wrap(&c);
    tm_tensor dx = tf(c.dx, 3, 2, 5, 3, 0), ddt = tf(c.ddt, 3, 2, 5, 3, 0), dA = tf(c.dA, 2, 3, 4, 0, 0);
    tm_tensor dB = tf(c.dB, 3, 2, 5, 4, 0), dC = tf(c.dC, 3, 2, 5, 4, 0), gy = tf(c.gy, 3, 2, 5, 3, 0);
    tm_status st = tm_op_scan_backward(&bare, &dx, &ddt, &dA, &dB, &dC, NULL, NULL, &gy, NULL, &s.x,
                                       &s.dt, &s.A, &s.Bm, &s.Cm, NULL, NULL, NULL);
    cr_assert_eq(st, TM_ENOMEM);
    cr_assert(strstr(tm_last_error(), "scan_backward") != NULL, "%s", tm_last_error());
    tm_ctx_free(&bare);
    scan_free(&c);
}

/* ---- the gradcheck table ------------------------------------------------------- */

static const tm_gc_row rows[] = {
    /* conv1d: {B, T, C, K, starts, carried state} */
    {"conv1d", {2, 13, 7, 4, 0, 1}, run_conv, 0},
    {"conv1d starts", {2, 13, 7, 4, 1, 1}, run_conv, 0},
    {"conv1d T<K-1", {3, 2, 5, 4, 1, 1}, run_conv, 0},
    {"conv1d fresh K=3", {1, 9, 16, 3, 0, 0}, run_conv, 0},
    /* rope: {B, T, H, dh} */
    {"rope", {2, 13, 3, 8, 0, 0}, run_rope, 0},
    {"rope dh=2", {3, 5, 1, 2, 0, 0}, run_rope, 0},
    /* rope_scaled: {B, T, H, dh, max_pos, 10 * factor}, positions both sides of max_pos */
    {"rope_scaled f=4", {2, 13, 3, 8, 20, 40}, run_rope_scaled, 0},
    {"rope_scaled f=1 dh=4", {3, 7, 2, 4, 10, 10}, run_rope_scaled, 0},
    {"rope_scaled f=2.5 dh=16", {2, 9, 1, 16, 5, 25}, run_rope_scaled, 0},
    /* attention: {B, T, Hq, Hkv, dh, flags} */
    {"attention mha", {2, 13, 2, 2, 8, 0}, run_attn, 0},
    {"attention gqa window", {2, 13, 4, 2, 6, ATT_WINDOW}, run_attn, 0},
    {"attention mqa prefix starts", {3, 9, 3, 1, 4, ATT_PREFIX | ATT_STARTS}, run_attn, 0},
    {"attention all options", {3, 11, 4, 2, 4, ATT_WINDOW | ATT_PREFIX | ATT_STARTS}, run_attn, 0},
    {"attention T=1 prefix", {2, 1, 2, 1, 4, ATT_PREFIX | ATT_WINDOW}, run_attn, 0},
    /* scan: {B, T, D, N, starts, initial state} */
    {"scan", {2, 13, 7, 5, 0, 1}, run_scan, 0},
    {"scan starts", {2, 13, 7, 5, 1, 1}, run_scan, 0},
    {"scan T=1 fresh", {1, 1, 3, 2, 0, 0}, run_scan, 0},
    {"scan N=16", {3, 6, 4, 16, 1, 1}, run_scan, 0},
};

Test(gradcheck, every_sequence_op_backward_matches_central_differences) {
    char report[4096];
    int failed = tm_gc_run_table(rows, sizeof rows / sizeof rows[0], 1234, report, sizeof report);
    cr_assert_eq(failed, 0, "%d rows failed:\n%s", failed, report);
}

/* ---- argument errors ------------------------------------------------------------ */

Test(errors, mismatched_shapes_name_the_op_and_the_argument) {
    attn_case c;
    attn_setup(&c, 2, 5, 3, 2, 4, 0, 9); /* Hq % Hkv != 0 */
    attn_tensors a = attn_wrap(&c);
    tm_status st = tm_op_attention(&c.ctx, &a.out, &a.lse, &a.q, &a.k, &a.v, NULL, NULL, NULL,
                                   NULL, 0.5f, 0);
    cr_assert_eq(st, TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "attention") && strstr(tm_last_error(), "Hkv 2"), "%s",
              tm_last_error());
    attn_free(&c);

    conv_case cv;
    conv_setup(&cv, 2, 5, 3, 4, 0, 0, 1);
    tm_tensor x = tf(cv.x, 3, 2, 5, 3, 0), out = tf(cv.out, 3, 2, 5, 3, 0);
    tm_tensor w_bad = tf(cv.w, 2, 2, 4, 0, 0); /* C = 2, x has 3 channels */
    st = tm_op_conv1d(&cv.ctx, &out, NULL, &x, NULL, NULL, &w_bad, NULL);
    cr_assert_eq(st, TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "conv1d") && strstr(tm_last_error(), "weight"), "%s",
              tm_last_error());
    conv_free(&cv);

    rope_case r;
    rope_setup(&r, 1, 2, 1, 6, 3);
    tm_tensor rx = tf(r.x, 4, 1, 2, 1, 6), rout = tf(r.out, 4, 1, 2, 1, 6);
    tm_tensor pos_bad = ti(r.pos, 2, 2, 1);
    st = tm_op_rope(&r.ctx, &rout, &rx, &pos_bad, TM_ROPE_THETA);
    cr_assert_eq(st, TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "pos") != NULL, "%s", tm_last_error());
    rope_free(&r);
}

Test(errors, prefix_length_beyond_the_cache_is_rejected) {
    attn_case c;
    attn_setup(&c, 2, 3, 2, 2, 4, ATT_PREFIX, 4);
    c.plen[1] = ATT_P + 1;
    attn_tensors a = attn_wrap(&c);
    tm_status st = tm_op_attention(&c.ctx, &a.out, &a.lse, &a.q, &a.k, &a.v, &a.kc, &a.vc,
                                   &a.plen, NULL, 0.5f, 0);
    cr_assert_eq(st, TM_ERANGE);
    cr_assert(strstr(tm_last_error(), "prefix_len[1]") != NULL, "%s", tm_last_error());
    attn_free(&c);
}

/* ---- bench hooks ------------------------------------------------------------------ */

Test(bench, sequence_op_timings_report_rates_and_same_run_baselines) {
    tm_ctx ctx = make_ctx();
    tm_bench_seq_result res[4];
    int n = 0;
    cr_assert_eq(tm_bench_seq_all(&ctx, 1, res, 4, &n), TM_OK, "%s", tm_last_error());
    cr_assert_eq(n, 4);
    for (int i = 0; i < n; i++) {
        cr_assert(res[i].ms > 0 && res[i].baseline_ms > 0, "%s: times", res[i].op);
        cr_assert(isfinite(res[i].ratio) && res[i].ratio > 0, "%s: ratio %g", res[i].op, res[i].ratio);
        cr_assert(fabs(res[i].ratio - res[i].achieved / res[i].baseline_achieved) < 1e-9 * res[i].ratio);
    }
    cr_assert_str_eq(res[0].op, "attention");
    cr_assert_str_eq(res[3].op, "scan_backward");
    tm_ctx_free(&ctx);
}

/* ---- determinism ------------------------------------------------------------------ */

/* Every output row has one owner thread, so the thread count changes no bit
 * of the forwards or the per-row gradients (only the scan's dA, dD sums are
 * reduced in per-thread order, so those are deterministic per thread count). */
Test(determinism, thread_count_does_not_change_outputs_or_row_gradients) {
    attn_case a1, a2;
    attn_setup(&a1, 3, 11, 4, 2, 6, ATT_WINDOW | ATT_PREFIX | ATT_STARTS, 21);
    attn_setup(&a2, 3, 11, 4, 2, 6, ATT_WINDOW | ATT_PREFIX | ATT_STARTS, 21);
    tm_ctx_free(&a2.ctx);
    cr_assert_eq(tm_ctx_init(&a2.ctx, TM_CPU, 1), TM_OK);
    attn_case *cs[2] = {&a1, &a2};
    for (int i = 0; i < 2; i++) {
        attn_case *c = cs[i];
        attn_forward(c);
        attn_tensors t = attn_wrap(c);
        tm_tensor dq = tf(c->dq, 4, c->B, c->T, c->Hq, c->dh), g = tf(c->gout, 4, c->B, c->T, c->Hq, c->dh);
        tm_tensor dk = tf(c->dk, 4, c->B, c->T, c->Hkv, c->dh), dv = tf(c->dv, 4, c->B, c->T, c->Hkv, c->dh);
        cr_assert_eq(tm_op_attention_backward(&c->ctx, &dq, &dk, &dv, &g, &t.out, &t.lse, &t.q, &t.k,
                                              &t.v, &t.kc, &t.vc, &t.plen, &t.start,
                                              1.0f / sqrtf((float)c->dh), c->W),
                     TM_OK, "%s", tm_last_error());
    }
    long nq = 3L * 11 * 4 * 6, nk = 3L * 11 * 2 * 6;
    cr_assert(memcmp(a1.out, a2.out, sizeof(float) * nq) == 0, "attention out differs");
    cr_assert(memcmp(a1.dq, a2.dq, sizeof(float) * nq) == 0, "dq differs");
    cr_assert(memcmp(a1.dk, a2.dk, sizeof(float) * nk) == 0, "dk differs");
    cr_assert(memcmp(a1.dv, a2.dv, sizeof(float) * nk) == 0, "dv differs");
    attn_free(&a1), attn_free(&a2);

    scan_case s1, s2;
    scan_setup(&s1, 3, 9, 5, 4, 1, 1, 22);
    scan_setup(&s2, 3, 9, 5, 4, 1, 1, 22);
    tm_ctx_free(&s2.ctx);
    cr_assert_eq(tm_ctx_init(&s2.ctx, TM_CPU, 1), TM_OK);
    cr_assert_eq(tm_ctx_reserve(&s2.ctx, tm_op_scan_backward_scratch(&s2.ctx, 9, 5, 4)), TM_OK);
    scan_case *ss[2] = {&s1, &s2};
    for (int i = 0; i < 2; i++) {
        scan_case *c = ss[i];
        scan_forward(c);
        scan_tensors t = scan_wrap(c);
        tm_tensor dx = tf(c->dx, 3, 3, 9, 5, 0), ddt = tf(c->ddt, 3, 3, 9, 5, 0), dA = tf(c->dA, 2, 5, 4, 0, 0);
        tm_tensor dB = tf(c->dB, 3, 3, 9, 4, 0), dC = tf(c->dC, 3, 3, 9, 4, 0), gy = tf(c->gy, 3, 3, 9, 5, 0);
        cr_assert_eq(tm_op_scan_backward(&c->ctx, &dx, &ddt, &dA, &dB, &dC, NULL, NULL, &gy, NULL, &t.x,
                                         &t.dt, &t.A, &t.Bm, &t.Cm, &t.Dskip, &t.h0, &t.start),
                     TM_OK, "%s", tm_last_error());
    }
    cr_assert(memcmp(s1.y, s2.y, sizeof(float) * 3 * 9 * 5) == 0, "scan y differs");
    cr_assert(memcmp(s1.hT, s2.hT, sizeof(float) * 3 * 5 * 4) == 0, "scan hT differs");
    cr_assert(memcmp(s1.dx, s2.dx, sizeof(float) * 3 * 9 * 5) == 0, "scan dx differs");
    cr_assert(memcmp(s1.dB, s2.dB, sizeof(float) * 3 * 9 * 4) == 0, "scan dB differs");
    scan_free(&s1), scan_free(&s2);
}
