/* Log-domain Sinkhorn and barycentric projection.
 * Definition: shared spec memory.md "Optimal transport". */
#include "memory/sinkhorn.h"

#include <math.h>
#include <string.h>

size_t tm_sinkhorn_workspace_floats(int n, int m)
{
    if (n <= 0 || m <= 0) return 0;
    return 2 * ((size_t)n + (size_t)m); /* f, g, log a, log b */
}

/* Row-wise update: f_i = eps*(log a_i - LSE_j((g_j - C_ij)/eps)), in double. */
static void update_rows(float *f, const float *g, const float *loga, const float *C,
                        double eps, int n, int m, int stride_i, int stride_j)
{
    for (int i = 0; i < n; i++) {
        if (isinf(loga[i])) { f[i] = -INFINITY; continue; }
        double mx = -INFINITY;
        for (int j = 0; j < m; j++) {
            double v = ((double)g[j] - C[(size_t)i * stride_i + (size_t)j * stride_j]) / eps;
            if (v > mx) mx = v;
        }
        if (isinf(mx)) { f[i] = -INFINITY; continue; }
        double s = 0.0;
        for (int j = 0; j < m; j++) {
            double v = ((double)g[j] - C[(size_t)i * stride_i + (size_t)j * stride_j]) / eps;
            s += exp(v - mx);
        }
        f[i] = (float)(eps * ((double)loga[i] - (mx + log(s))));
    }
}

tm_status tm_sinkhorn_plan(float *P, float *max_err, float *workspace,
                           const float *C, const float *a, const float *b,
                           float eps, int iters, int n, int m)
{
    if (n <= 0 || m <= 0) return tm_fail(TM_EINVAL, "sinkhorn: n and m must be > 0 (got n=%d, m=%d)", n, m);
    if (!P || !workspace || !C || !a || !b) return tm_fail(TM_EINVAL, "sinkhorn: NULL pointer argument");
    if (!(eps > 0.0f)) return tm_fail(TM_EINVAL, "sinkhorn: eps must be > 0 (got %g)", (double)eps);
    if (iters <= 0) return tm_fail(TM_EINVAL, "sinkhorn: iters must be > 0 (got %d)", iters);
    double sa = 0.0, sb = 0.0;
    for (int i = 0; i < n; i++) {
        if (!(a[i] >= 0.0f) || isinf(a[i])) return tm_fail(TM_EINVAL, "sinkhorn: a[%d] must be finite and >= 0 (got %g)", i, (double)a[i]);
        sa += a[i];
    }
    for (int j = 0; j < m; j++) {
        if (!(b[j] >= 0.0f) || isinf(b[j])) return tm_fail(TM_EINVAL, "sinkhorn: b[%d] must be finite and >= 0 (got %g)", j, (double)b[j]);
        sb += b[j];
    }
    /* 1e-4 relative: float marginals summed from normalised strengths */
    if (sa <= 0.0 || fabs(sa - sb) > 1e-4 * fmax(sa, sb))
        return tm_fail(TM_EINVAL, "sinkhorn: marginal sums must be equal and > 0 (sum a=%g, sum b=%g)", sa, sb);
    for (size_t k = 0; k < (size_t)n * m; k++)
        if (isnan(C[k])) return tm_fail(TM_ENUMERIC, "sinkhorn: cost C[%zu] is NaN", k);

    float *f = workspace, *g = f + n, *loga = g + m, *logb = loga + n;
    for (int i = 0; i < n; i++) { loga[i] = a[i] > 0 ? logf(a[i]) : -INFINITY; f[i] = 0.0f; }
    for (int j = 0; j < m; j++) { logb[j] = b[j] > 0 ? logf(b[j]) : -INFINITY; g[j] = 0.0f; }
    for (int t = 0; t < iters; t++) {
        update_rows(f, g, loga, C, eps, n, m, m, 1);   /* f from g: rows of C */
        update_rows(g, f, logb, C, eps, m, n, 1, m);   /* g from f: columns of C */
    }
    double err = 0.0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double v = ((double)f[i] + g[j] - C[(size_t)i * m + j]) / eps;
            P[(size_t)i * m + j] = (isinf(f[i]) || isinf(g[j])) ? 0.0f : (float)exp(v);
        }
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (int j = 0; j < m; j++) s += P[(size_t)i * m + j];
        err = fmax(err, fabs(s - a[i]));
    }
    for (int j = 0; j < m; j++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += P[(size_t)i * m + j];
        err = fmax(err, fabs(s - b[j]));
    }
    if (max_err) *max_err = (float)err;
    return TM_OK;
}

tm_status tm_sinkhorn_barycentre(float *out, int *has_mass, const float *P,
                                 const float *X, int n, int m, int s)
{
    if (n <= 0 || m <= 0 || s <= 0) return tm_fail(TM_EINVAL, "sinkhorn: barycentre sizes must be > 0 (got n=%d, m=%d, s=%d)", n, m, s);
    if (!out || !P || !X) return tm_fail(TM_EINVAL, "sinkhorn: barycentre NULL pointer argument");
    for (int j = 0; j < m; j++) {
        double mass = 0.0;
        for (int i = 0; i < n; i++) mass += P[(size_t)i * m + j];
        for (int k = 0; k < s; k++) {
            double acc = 0.0;
            if (mass > 0.0)
                for (int i = 0; i < n; i++) acc += (double)P[(size_t)i * m + j] * X[(size_t)i * s + k];
            out[(size_t)j * s + k] = mass > 0.0 ? (float)(acc / mass) : 0.0f;
        }
        if (has_mass) has_mass[j] = mass > 0.0;
    }
    return TM_OK;
}
