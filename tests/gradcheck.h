/* Finite-difference gradient checks for the tests (header only).
 * Definition: DESIGN.md principle 2 ("every backward has a finite-difference
 * gradient test"); issue 3's "table-driven gradient test".
 *
 * The check works on a scalar loss L = sum_j dout_j * f(x)_j, with dout a
 * fixed random tensor: then dL/dx is exactly what a backward given dout
 * produces. The test
 *   1. runs forward + backward once with that dout, getting analytic grads,
 *   2. describes each perturbed buffer (inputs and parameters) as a
 *      tm_gc_var {name, value, grad, n},
 *   3. calls tm_gradcheck with a loss callback that re-runs the forward in
 *      float and returns L summed in double (tm_gc_dot does that).
 * For each checked entry x_i, the numerical side is the central difference
 * (L(x_i + h) - L(x_i - h)) / (x_i+ - x_i-), taken in double, where x_i+- are
 * the float values actually stored (so the rounding of x_i + h to float does
 * not bias the quotient). h = eps * max(1, |x_i|). With opts.richardson,
 * the quotients at h and h/2 are combined to cancel the h^2 truncation
 * term, which allows a larger h and so less fp32 rounding noise in L (useful
 * for norms, where one rounded rstd scales a whole row).
 *
 * Error metric per entry: |a - n| / max(|a| + |n|, floor), where
 * floor = max(floor_abs, floor_rel * max_i |a_i| over the variable): entries
 * much smaller than the variable's typical gradient are judged on the scale of
 * that typical gradient, so near-zero entries do not blow the ratio up while
 * a wrong small gradient on a small variable is still caught.
 *
 * Large variables are subsampled deterministically (evenly strided, always
 * including the first and last entry) to at most max_checks entries each. */
#ifndef TM_TESTS_GRADCHECK_H
#define TM_TESTS_GRADCHECK_H

#include <math.h>
#include <stdio.h>

typedef struct {
    const char *name;  /* "x", "weight", ... (reported on failure) */
    float *value;      /* perturbed in place; restored exactly afterwards */
    const float *grad; /* the analytic dL/dvalue */
    long n;
} tm_gc_var;

typedef struct {
    double eps;       /* relative step; 1e-2 suits fp32 forwards of smooth ops */
    double floor_rel; /* see the metric above */
    double floor_abs;
    long max_checks;  /* per variable; <= 0 checks every entry */
    int richardson;   /* 1: Richardson-extrapolate two central differences */
} tm_gc_opts;

typedef struct {
    double worst;      /* worst relative error over all checked entries */
    int worst_var;     /* index into vars; -1 when nothing was checked */
    long worst_index;
    double analytic, numeric; /* at the worst entry */
    long checked;
    char msg[256];     /* "weight[17]: analytic 0.1234 numeric 0.1236 rel 8e-4 (412 checked)" */
} tm_gc_result;

/* One row of a gradcheck table: an op or layer at one shape case. run()
 * builds random inputs from the seed, runs forward + backward, calls
 * tm_gradcheck and returns its result; dims mean what the row's run says
 * (e.g. {N, C} or {B, T, C}). tol 0 means TM_GC_TOL. Adding a case is one row:
 *   static const tm_gc_row rows[] = {{"rmsnorm", {13, 7}, run_rmsnorm, 0}, ...};
 *   for (...) { tm_gc_result r = rows[i].run(&rows[i], 1234);
 *               cr_expect(r.worst < tol, "%s: %s", rows[i].name, r.msg); } */
#define TM_GC_TOL 1e-3
struct tm_gc_row;
typedef struct tm_gc_row {
    const char *name;
    int dims[6];
    tm_gc_result (*run)(const struct tm_gc_row *row, unsigned long long seed);
    double tol;
} tm_gc_row;

/* Runs every row (row i with seed base_seed + i) and returns how many failed
 * (nothing checked, or worst error at or above the row's tolerance); the
 * failures' "name: message" lines go into report, one per line. */
static inline int tm_gc_run_table(const tm_gc_row *rows, size_t n, unsigned long long base_seed,
                                  char *report, size_t cap) {
    int failed = 0;
    size_t used = 0;
    if (cap) report[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        tm_gc_result r = rows[i].run(&rows[i], base_seed + i);
        double tol = rows[i].tol > 0 ? rows[i].tol : TM_GC_TOL;
        if (r.checked > 0 && r.worst < tol) continue;
        failed++;
        if (used < cap) {
            int w = snprintf(report + used, cap - used, "%s: %s\n", rows[i].name,
                             r.checked > 0 ? r.msg : "nothing checked");
            if (w > 0) used += (size_t)w;
        }
    }
    return failed;
}

/* Returns L for the current values of all variables (re-runs the forward). */
typedef double (*tm_gc_loss_fn)(void *user);

static inline tm_gc_opts tm_gc_default_opts(void) {
    tm_gc_opts o = {1e-2, 1e-2, 1e-6, 64, 0};
    return o;
}

/* Richardson-extrapolated differences with a larger step (8% of max(1,|x|)):
 * for fp32 forwards of smooth ops this cuts the worst error several-fold
 * against the plain 1e-2 step (measured over norms, softmax, GELU over 20
 * seeds: worst 7e-4 against 4e-3). Twice the forward calls. Not for
 * functions with kinks within 0.16 |x| of a checked input (ReLU near 0). */
static inline tm_gc_opts tm_gc_precise_opts(void) {
    tm_gc_opts o = {8e-2, 1e-2, 1e-6, 64, 1};
    return o;
}

/* sum_j w_j * y_j accumulated in double: the L of the check. */
static inline double tm_gc_dot(const float *w, const float *y, long n) {
    double s = 0.0;
    for (long j = 0; j < n; j++) s += (double)w[j] * (double)y[j];
    return s;
}

/* (L(x + h) - L(x - h)) / (x+ - x-) with x+- the float values actually
 * stored; *x is restored exactly. */
static inline double tm_gc_central_difference(tm_gc_loss_fn loss, void *user, float *x,
                                              double h) {
    float x0 = *x, xp = (float)((double)x0 + h), xm = (float)((double)x0 - h);
    *x = xp;
    double lp = loss(user);
    *x = xm;
    double lm = loss(user);
    *x = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}

static inline tm_gc_result tm_gradcheck(tm_gc_loss_fn loss, void *user, tm_gc_var *vars,
                                        int n_vars, tm_gc_opts opts) {
    tm_gc_result r = {0.0, -1, -1, 0.0, 0.0, 0, ""};
    for (int v = 0; v < n_vars; v++) {
        tm_gc_var *var = &vars[v];
        if (var->n <= 0) continue;
        double gmax = 0.0;
        for (long i = 0; i < var->n; i++) gmax = fmax(gmax, fabs((double)var->grad[i]));
        double floor = fmax(opts.floor_abs, opts.floor_rel * gmax);
        long count = var->n;
        if (opts.max_checks > 0 && count > opts.max_checks) count = opts.max_checks;
        for (long k = 0; k < count; k++) {
            /* Evenly strided over [0, n-1], endpoints included. */
            long i = count == 1 ? 0
                                : (long)((double)k * (double)(var->n - 1) / (double)(count - 1));
            float x0 = var->value[i];
            double h = opts.eps * fmax(1.0, fabs((double)x0));
            double numeric = tm_gc_central_difference(loss, user, &var->value[i], h);
            if (opts.richardson) {
                /* D(h) = f' + c h^2 + O(h^4), so (4 D(h/2) - D(h)) / 3 = f' + O(h^4):
                 * a larger h (less float noise) without its truncation error. */
                double half = tm_gc_central_difference(loss, user, &var->value[i], 0.5 * h);
                numeric = (4.0 * half - numeric) / 3.0;
            }
            double analytic = (double)var->grad[i];
            double err = fabs(analytic - numeric) / fmax(fabs(analytic) + fabs(numeric), floor);
            if (isnan(err)) err = INFINITY; /* a NaN gradient is the worst possible */
            if (r.worst_var < 0 || err > r.worst) {
                r.worst = err;
                r.worst_var = v;
                r.worst_index = i;
                r.analytic = analytic;
                r.numeric = numeric;
            }
            r.checked++;
        }
    }
    if (r.worst_var >= 0)
        snprintf(r.msg, sizeof r.msg, "%s[%ld]: analytic %.6g numeric %.6g rel %.3g (%ld checked)",
                 vars[r.worst_var].name, r.worst_index, r.analytic, r.numeric, r.worst, r.checked);
    else
        snprintf(r.msg, sizeof r.msg, "nothing checked");
    return r;
}

#endif
