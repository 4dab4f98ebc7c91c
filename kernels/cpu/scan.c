/* The Mamba-1 selective scan (CPU). Definition: scan.h.
 *
 * Layout: channels d are independent recurrences over t, so the kernels take
 * LANES (8) neighbouring channels of one stream at a time with the vector
 * across those channels and the N state dims an outer loop. Against a vector
 * over N (the old form, 16 = four SSE or two AVX2 vectors) this reads x, dt,
 * y as contiguous runs instead of one float every D, keeps every sum over n
 * a per-lane add (no horizontal reduction, so its order is fixed: n = 0, 1,
 * ...) and fills an AVX2 vector for any N. Measured on one thread at
 * B 8, T 256, D 512, N 16: the forward 1.25x (SSE) and 1.45x (AVX2) faster
 * than the N vector, the backward 1.1x and 1.3x; `transmamba bench kernels`
 * (rows scan_avx2, scan_backward_avx2) times AVX2 against the baseline.
 *
 * Forward and step share one block kernel (the step is T = 1 on the state),
 * so T steps equal one sequence call bit for bit.
 * Backward: the reverse recurrence g_{t-1} = exp(dt_t A) * g_t (+ the C_t dy
 * term) needs h_{t-1}, which is recomputed per block of channels (see scan.h
 * for the memory trade-off). dB and dC sum over d: each block adds into
 * per-lane partials of its stream, summed over the lanes in a fixed tree once
 * per stream; the backward is parallel over b (each thread owns its streams'
 * rows of dB, dC). dA and dD sum over b and are kept per thread, then reduced.
 *
 * Code paths (kernels/cpu/cpu_path.h): the block kernels are compiled for
 * AVX2 and the baseline x86-64 and picked per call; every sum has a fixed
 * order (lanes never reduce across each other, and dB, dC's lane partials
 * sum in one tree), so the paths agree bit for bit. Explicit target
 * attributes rather than target_clones (kernels/cpu/activation.c) so a test
 * can run either path. */
#include "kernels/cpu/scan.h"

#include "kernels/cpu/cpu_path.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

/* The lane loops vectorize only under GCC's dynamic cost model, which -O2
 * (RelWithDebInfo) leaves off, and without trapping math (the clamp in
 * tm_exp_approx is a comparison; nothing here reads the FP exception flags).
 * Set before the include so that tm_exp_approx gets the same options. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic", "no-trapping-math")
#endif
#include "kernels/cpu/exp_approx.h"

/* Channels per block: one AVX2 vector, two SSE vectors (16 measured no
 * faster and doubles the backward's scratch). */
#define LANES 8
#define MAX_N TM_CPU_SCAN_MAX_N

/* A channel-block's state, decays, ... as [n][lane]. */
typedef float lanes_t[LANES];

static const lanes_t zero_state[MAX_N];

/* The nd (<= LANES) channels d0.. of one [.., D] row into lanes; the pad
 * lanes get 0 (with x = dt = dy = 0 and A = 0 a pad lane's state and
 * gradients stay exactly 0 and it adds 0 to every sum). */
TM_CPU_PATH_BODY void load_lanes(float *restrict v, const float *restrict row, int nd) {
    if (nd == LANES) {
        memcpy(v, row, sizeof(float) * LANES);
        return;
    }
    for (int j = 0; j < LANES; j++) v[j] = j < nd ? row[j] : 0.0f;
}

/* s[n][j] = src[(d0 + j) * N + n] from a [.., D, N] array (NULL: zeros). */
TM_CPU_PATH_BODY void gather_dn(lanes_t *restrict s, const float *src, int nd, int N) {
    for (int n = 0; n < N; n++)
        for (int j = 0; j < LANES; j++) s[n][j] = src && j < nd ? src[(long)j * N + n] : 0.0f;
}

/* Sum of one lane vector in a fixed tree, halving (the same on every path). */
static inline float lane_sum(const float *v) {
    float s[LANES];
    memcpy(s, v, sizeof s);
    for (int w = LANES / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) s[j] += s[j + w];
    return s[0];
}

/* ---- forward (and step) ------------------------------------------------------------ */

/* Channels d0 .. d0+nd-1 of stream b over all t: h <- exp(dt A) h + dt B x,
 * y = C . h + Dskip x. */
TM_CPU_PATH_BODY void forward_block(float *y, float *hT, const float *x, const float *dt,
                                    const float *A, const float *Bm, const float *Cm,
                                    const float *Dskip, const float *h0, const int32_t *start,
                                    int b, int d0, int T, int D, int N) {
    int nd = D - d0 < LANES ? D - d0 : LANES;
    lanes_t h[MAX_N], At[MAX_N];
    float Dl[LANES];
    gather_dn(At, A + (long)d0 * N, nd, N);
    gather_dn(h, h0 ? h0 + ((long)b * D + d0) * N : NULL, nd, N);
    if (Dskip) load_lanes(Dl, Dskip + d0, nd);
    for (int t = 0; t < T; t++) {
        long bt = (long)b * T + t;
        if (start && start[bt]) memset(h, 0, sizeof(lanes_t) * (size_t)N);
        float xv[LANES], dtv[LANES], acc[LANES] = {0};
        load_lanes(xv, x + bt * D + d0, nd);
        load_lanes(dtv, dt + bt * D + d0, nd);
        const float *Bt = Bm + bt * N, *Ct = Cm + bt * N;
        for (int n = 0; n < N; n++) {
            float Bn = Bt[n], Cn = Ct[n];
#pragma omp simd
            for (int j = 0; j < LANES; j++) {
                float hv = tm_exp_approx(dtv[j] * At[n][j]) * h[n][j] + dtv[j] * Bn * xv[j];
                h[n][j] = hv;
                acc[j] += Cn * hv;
            }
        }
        float *yr = y + bt * D + d0;
        for (int j = 0; j < nd; j++) yr[j] = acc[j] + (Dskip ? Dl[j] * xv[j] : 0.0f);
    }
    if (hT)
        for (int j = 0; j < nd; j++)
            for (int n = 0; n < N; n++) hT[((long)b * D + d0 + j) * N + n] = h[n][j];
}

/* ---- backward ------------------------------------------------------------------------ */

/* Per-thread scratch: the recomputed states and decays of one block
 * [T][N][LANES] each, the dB and dC lane partials of one stream [T][N][LANES]
 * each, then the dA [D,N] and dD [D] partials. */
static long per_thread_floats(int T, int D, int N) {
    return 4L * T * N * LANES + (long)D * N + D;
}

/* All channels of stream b, block by block. */
TM_CPU_PATH_BODY void backward_stream(float *dx, float *ddt, float *dB, float *dC, float *dh0,
                                      float *mine, const float *dy, const float *dhT,
                                      const float *x, const float *dt, const float *A,
                                      const float *Bm, const float *Cm, const float *Dskip,
                                      const float *h0, const int32_t *start, int b, int T, int D,
                                      int N) {
    long tn = (long)T * N;
    lanes_t *hs = (lanes_t *)mine, *as = hs + tn, *dBl = as + tn, *dCl = dBl + tn;
    float *dA_part = (float *)(dCl + tn), *dD_part = dA_part + (long)D * N;
    memset(dBl, 0, sizeof(lanes_t) * (size_t)(2 * tn)); /* dBl and dCl */
    for (int d0 = 0; d0 < D; d0 += LANES) {
        int nd = D - d0 < LANES ? D - d0 : LANES;
        lanes_t At[MAX_N], hinit[MAX_N], g[MAX_N], dAl[MAX_N];
        float Dl[LANES];
        gather_dn(At, A + (long)d0 * N, nd, N);
        gather_dn(hinit, h0 ? h0 + ((long)b * D + d0) * N : NULL, nd, N);
        if (Dskip) load_lanes(Dl, Dskip + d0, nd);
        /* Recompute the states h_0..h_{T-1} of these channels and the decays
         * a_t = exp(dt_t A) (the forward's arithmetic, so the states match it
         * bit for bit). */
        for (int t = 0; t < T; t++) {
            long bt = (long)b * T + t;
            const lanes_t *prev = (start && start[bt]) ? zero_state
                                  : t > 0              ? hs + (long)(t - 1) * N
                                                       : hinit;
            float xv[LANES], dtv[LANES];
            load_lanes(xv, x + bt * D + d0, nd);
            load_lanes(dtv, dt + bt * D + d0, nd);
            const float *Bt = Bm + bt * N;
            lanes_t *h = hs + (long)t * N, *a = as + (long)t * N;
            for (int n = 0; n < N; n++) {
                float Bn = Bt[n];
#pragma omp simd
                for (int j = 0; j < LANES; j++) {
                    a[n][j] = tm_exp_approx(dtv[j] * At[n][j]);
                    h[n][j] = a[n][j] * prev[n][j] + dtv[j] * Bn * xv[j];
                }
            }
        }
        gather_dn(g, dhT ? dhT + ((long)b * D + d0) * N : NULL, nd, N); /* dL/dh_t */
        memset(dAl, 0, sizeof(lanes_t) * (size_t)N);
        for (int t = T - 1; t >= 0; t--) {
            long bt = (long)b * T + t;
            int reset = start && start[bt];
            const lanes_t *prev = reset ? zero_state : t > 0 ? hs + (long)(t - 1) * N : hinit;
            float keep = reset ? 0.0f : 1.0f; /* a reset cuts the gradient to h_{t-1} */
            float xv[LANES], dtv[LANES], gy[LANES], gx[LANES], gdt[LANES] = {0};
            load_lanes(xv, x + bt * D + d0, nd);
            load_lanes(dtv, dt + bt * D + d0, nd);
            load_lanes(gy, dy + bt * D + d0, nd);
            for (int j = 0; j < LANES; j++) gx[j] = Dskip ? Dl[j] * gy[j] : 0.0f;
            const float *Bt = Bm + bt * N, *Ct = Cm + bt * N;
            const lanes_t *h = hs + (long)t * N, *a = as + (long)t * N;
            lanes_t *dBt = dBl + (long)t * N, *dCt = dCl + (long)t * N;
            for (int n = 0; n < N; n++) {
                float Bn = Bt[n], Cn = Ct[n];
#pragma omp simd
                for (int j = 0; j < LANES; j++) {
                    float gh = g[n][j] + gy[j] * Cn;
                    float pa = prev[n][j] * a[n][j];
                    dCt[n][j] += gy[j] * h[n][j];
                    dBt[n][j] += gh * dtv[j] * xv[j];
                    dAl[n][j] += gh * pa * dtv[j];
                    gdt[j] += gh * (pa * At[n][j] + Bn * xv[j]);
                    gx[j] += gh * dtv[j] * Bn;
                    g[n][j] = keep * gh * a[n][j];
                }
            }
            for (int j = 0; j < nd; j++) {
                dx[bt * D + d0 + j] += gx[j];
                ddt[bt * D + d0 + j] += gdt[j];
                dD_part[d0 + j] += gy[j] * xv[j];
            }
        }
        for (int j = 0; j < nd; j++)
            for (int n = 0; n < N; n++) {
                dA_part[(long)(d0 + j) * N + n] += dAl[n][j];
                if (dh0) dh0[((long)b * D + d0 + j) * N + n] += g[n][j];
            }
    }
    for (long i = 0; i < tn; i++) {
        dB[(long)b * tn + i] += lane_sum(dBl[i]);
        dC[(long)b * tn + i] += lane_sum(dCl[i]);
    }
}

/* ---- the two compiled paths ---------------------------------------------------------- */

#define FORWARD_ARGS                                                                        \
    float *y, float *hT, const float *x, const float *dt, const float *A, const float *Bm, \
        const float *Cm, const float *Dskip, const float *h0, const int32_t *start, int b,  \
        int d0, int T, int D, int N
#define BACKWARD_ARGS                                                                      \
    float *dx, float *ddt, float *dB, float *dC, float *dh0, float *mine, const float *dy, \
        const float *dhT, const float *x, const float *dt, const float *A, const float *Bm, \
        const float *Cm, const float *Dskip, const float *h0, const int32_t *start, int b,  \
        int T, int D, int N
#define PATH(suffix, attr)                                                                  \
    static attr void forward_block_##suffix(FORWARD_ARGS) {                                 \
        forward_block(y, hT, x, dt, A, Bm, Cm, Dskip, h0, start, b, d0, T, D, N);           \
    }                                                                                       \
    static attr void backward_stream_##suffix(BACKWARD_ARGS) {                              \
        backward_stream(dx, ddt, dB, dC, dh0, mine, dy, dhT, x, dt, A, Bm, Cm, Dskip, h0,   \
                        start, b, T, D, N);                                                 \
    }
PATH(baseline, )
#if TM_CPU_HAVE_AVX2_PATH
PATH(avx2, TM_CPU_AVX2_TARGET)
#endif

typedef void (*forward_fn)(FORWARD_ARGS);
typedef void (*backward_fn)(BACKWARD_ARGS);

static forward_fn pick_forward(tm_cpu_path path) {
#if TM_CPU_HAVE_AVX2_PATH
    if (tm_cpu_path_avx2(path)) return forward_block_avx2;
#endif
    (void)path;
    return forward_block_baseline;
}

static backward_fn pick_backward(tm_cpu_path path) {
#if TM_CPU_HAVE_AVX2_PATH
    if (tm_cpu_path_avx2(path)) return backward_stream_avx2;
#endif
    (void)path;
    return backward_stream_baseline;
}

/* ---- entry points -------------------------------------------------------------------- */

void tm_cpu_scan_forward_on(tm_cpu_path path, float *y, float *hT, const float *x,
                            const float *dt, const float *A, const float *Bm, const float *Cm,
                            const float *Dskip, const float *h0, const int32_t *start, int B,
                            int T, int D, int N) {
    forward_fn f = pick_forward(path);
    int blocks = (D + LANES - 1) / LANES;
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int k = 0; k < blocks; k++)
            f(y, hT, x, dt, A, Bm, Cm, Dskip, h0, start, b, k * LANES, T, D, N);
}

void tm_cpu_scan_forward(float *y, float *hT, const float *x, const float *dt, const float *A,
                         const float *Bm, const float *Cm, const float *Dskip, const float *h0,
                         const int32_t *start, int B, int T, int D, int N) {
    tm_cpu_scan_forward_on(TM_CPU_PATH_AUTO, y, hT, x, dt, A, Bm, Cm, Dskip, h0, start, B, T, D,
                           N);
}

long tm_cpu_scan_backward_scratch(int T, int D, int N, int n_threads) {
    return (long)n_threads * per_thread_floats(T, D, N);
}

void tm_cpu_scan_backward_on(tm_cpu_path path, float *dx, float *ddt, float *dA, float *dB,
                             float *dC, float *dD, float *dh0, float *scratch, const float *dy,
                             const float *dhT, const float *x, const float *dt, const float *A,
                             const float *Bm, const float *Cm, const float *Dskip,
                             const float *h0, const int32_t *start, int B, int T, int D, int N,
                             int n_threads) {
    backward_fn f = pick_backward(path);
    long per_thread = per_thread_floats(T, D, N), parts = 4L * T * N * LANES;
    for (int i = 0; i < n_threads; i++)
        memset(scratch + i * per_thread + parts, 0, sizeof(float) * (size_t)((long)D * N + D));
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int b = 0; b < B; b++)
        f(dx, ddt, dB, dC, dh0, scratch + omp_get_thread_num() * per_thread, dy, dhT, x, dt, A,
          Bm, Cm, Dskip, h0, start, b, T, D, N);
    /* Thread-order reduction of the dA, dD partials (deterministic). */
    for (int i = 0; i < n_threads; i++) {
        const float *dA_part = scratch + i * per_thread + parts;
        const float *dD_part = dA_part + (long)D * N;
        for (long j = 0; j < (long)D * N; j++) dA[j] += dA_part[j];
        if (dD)
            for (int d = 0; d < D; d++) dD[d] += dD_part[d];
    }
}

void tm_cpu_scan_backward(float *dx, float *ddt, float *dA, float *dB, float *dC, float *dD,
                          float *dh0, float *scratch, const float *dy, const float *dhT,
                          const float *x, const float *dt, const float *A, const float *Bm,
                          const float *Cm, const float *Dskip, const float *h0,
                          const int32_t *start, int B, int T, int D, int N, int n_threads) {
    tm_cpu_scan_backward_on(TM_CPU_PATH_AUTO, dx, ddt, dA, dB, dC, dD, dh0, scratch, dy, dhT, x,
                            dt, A, Bm, Cm, Dskip, h0, start, B, T, D, N, n_threads);
}

void tm_cpu_scan_step_on(tm_cpu_path path, float *y, float *h, const float *x,
                         const float *dt, const float *A, const float *Bm, const float *Cm,
                         const float *Dskip, int B, int D, int N) {
    /* One step is the forward over T = 1 with the state as both h0 and hT
     * (a block reads its state before it writes it). */
    tm_cpu_scan_forward_on(path, y, h, x, dt, A, Bm, Cm, Dskip, h, NULL, B, 1, D, N);
}

void tm_cpu_scan_step(float *y, float *h, const float *x, const float *dt, const float *A,
                      const float *Bm, const float *Cm, const float *Dskip, int B, int D, int N) {
    tm_cpu_scan_step_on(TM_CPU_PATH_AUTO, y, h, x, dt, A, Bm, Cm, Dskip, B, D, N);
}
