/* Tests for memory/sinkhorn: spec memory.md "Optimal transport". */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include "memory/sinkhorn.h"

#define NMAX 16
static unsigned lcg_state;
static float urand(void) { lcg_state = lcg_state * 1664525u + 1013904223u; return (float)((lcg_state >> 8) / 16777216.0); }

static float ws[4 * NMAX];

/* eps 0.05 on costs in [0,1]: the kernel is well conditioned (exp(-20) at worst),
 * so 500 iterations contract the marginal error far below 1e-4. */
Test(sinkhorn, marginals_met_random_costs)
{
    int sizes[][2] = {{4, 4}, {5, 8}, {8, 3}, {16, 16}, {1, 7}};
    lcg_state = 42;
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        int n = sizes[c][0], m = sizes[c][1];
        float C[NMAX * NMAX], a[NMAX], b[NMAX], P[NMAX * NMAX], err;
        for (int k = 0; k < n * m; k++) C[k] = urand();
        for (int i = 0; i < n; i++) a[i] = 1.0f / n;
        for (int j = 0; j < m; j++) b[j] = 1.0f / m;
        cr_assert(tm_sinkhorn_workspace_floats(n, m) <= 4 * NMAX);
        cr_assert_eq(tm_sinkhorn_plan(P, &err, ws, C, a, b, 0.05f, 500, n, m), TM_OK);
        for (int i = 0; i < n; i++) { double s = 0; for (int j = 0; j < m; j++) s += P[i * m + j]; cr_assert(fabs(s - a[i]) < 1e-4, "n=%d m=%d row %d", n, m, i); }
        for (int j = 0; j < m; j++) { double s = 0; for (int i = 0; i < n; i++) s += P[i * m + j]; cr_assert(fabs(s - b[j]) < 1e-4, "n=%d m=%d col %d", n, m, j); }
        cr_assert(err < 1e-4);
    }
}

/* Unit vectors at angles 2*pi*k/n: off-diagonal cost >= 1 - cos(2pi/6) = 0.5,
 * so with eps 0.01 off-diagonal weights are ~exp(-50) relative: P = diag(1/n) to 1e-5. */
Test(sinkhorn, identity_plan_for_identical_sets)
{
    enum { n = 6 };
    float X[n][2], C[n * n], a[n], P[n * n];
    for (int i = 0; i < n; i++) { X[i][0] = cosf(6.2831853f * i / n); X[i][1] = sinf(6.2831853f * i / n); a[i] = 1.0f / n; }
    for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) C[i * n + j] = 1.0f - (X[i][0] * X[j][0] + X[i][1] * X[j][1]);
    cr_assert_eq(tm_sinkhorn_plan(P, NULL, ws, C, a, a, 0.01f, 50, n, n), TM_OK);
    for (int i = 0; i < n; i++) for (int j = 0; j < n; j++)
        cr_assert(fabsf(P[i * n + j] - (i == j ? 1.0f / n : 0.0f)) < 1e-5f, "P[%d,%d]=%g", i, j, P[i * n + j]);
}

Test(sinkhorn, permuting_sources_permutes_plan_rows)
{
    enum { n = 5, m = 4 };
    int perm[n] = {3, 0, 4, 1, 2};
    float C[n * m], Cp[n * m], a[n] = {0.1f, 0.3f, 0.2f, 0.25f, 0.15f}, ap[n], b[m] = {0.25f, 0.25f, 0.25f, 0.25f}, P[n * m], Pp[n * m];
    lcg_state = 7;
    for (int k = 0; k < n * m; k++) C[k] = urand();
    for (int i = 0; i < n; i++) { ap[i] = a[perm[i]]; memcpy(&Cp[i * m], &C[perm[i] * m], sizeof(float) * m); }
    cr_assert_eq(tm_sinkhorn_plan(P, NULL, ws, C, a, b, 0.05f, 200, n, m), TM_OK);
    cr_assert_eq(tm_sinkhorn_plan(Pp, NULL, ws, Cp, ap, b, 0.05f, 200, n, m), TM_OK);
    for (int i = 0; i < n; i++) for (int j = 0; j < m; j++)
        cr_assert(fabsf(Pp[i * m + j] - P[perm[i] * m + j]) < 1e-6f);
}

Test(sinkhorn, zero_mass_rows_and_cols_get_zero_plan)
{
    enum { n = 4, m = 3 };
    float C[n * m], a[n] = {0.5f, 0.0f, 0.5f, 0.0f}, b[m] = {0.0f, 0.6f, 0.4f}, P[n * m], err;
    lcg_state = 3;
    for (int k = 0; k < n * m; k++) C[k] = urand();
    cr_assert_eq(tm_sinkhorn_plan(P, &err, ws, C, a, b, 0.05f, 500, n, m), TM_OK);
    for (int j = 0; j < m; j++) { cr_assert_eq(P[1 * m + j], 0.0f); cr_assert_eq(P[3 * m + j], 0.0f); }
    for (int i = 0; i < n; i++) cr_assert_eq(P[i * m + 0], 0.0f);
    cr_assert(err < 1e-4);
}

Test(sinkhorn, barycentre_of_one_to_one_plan_is_matched_vector)
{
    enum { n = 3, m = 4, s = 2 };
    float P[n * m] = {0, 0.2f, 0, 0,   0, 0, 0, 0.3f,   0.5f, 0, 0, 0};
    float X[n * s] = {1, 2, 3, 4, 5, 6}, out[m * s];
    int has[m];
    cr_assert_eq(tm_sinkhorn_barycentre(out, has, P, X, n, m, s), TM_OK);
    cr_assert_eq(has[0], 1); cr_assert_eq(has[1], 1); cr_assert_eq(has[2], 0); cr_assert_eq(has[3], 1);
    cr_assert_eq(out[0], 5); cr_assert_eq(out[1], 6);
    cr_assert_eq(out[2], 1); cr_assert_eq(out[3], 2);
    cr_assert_eq(out[6], 3); cr_assert_eq(out[7], 4);
}

Test(sinkhorn, bad_input_errors_leave_outputs_untouched)
{
    enum { n = 2, m = 2 };
    float C[4] = {0, 1, 1, 0}, a[2] = {0.5f, 0.5f}, b_bad[2] = {0.5f, 0.6f}, P[4], err = -7.0f;
    for (int k = 0; k < 4; k++) P[k] = -1.0f;
    cr_assert_eq(tm_sinkhorn_plan(P, &err, ws, C, a, b_bad, 0.05f, 10, n, m), TM_EINVAL);
    cr_assert_eq(tm_sinkhorn_plan(P, &err, ws, C, a, a, 0.0f, 10, n, m), TM_EINVAL);
    cr_assert_eq(tm_sinkhorn_plan(P, &err, ws, C, a, a, -1.0f, 10, n, m), TM_EINVAL);
    C[2] = NAN;
    cr_assert_eq(tm_sinkhorn_plan(P, &err, ws, C, a, a, 0.05f, 10, n, m), TM_ENUMERIC);
    for (int k = 0; k < 4; k++) cr_assert_eq(P[k], -1.0f);
    cr_assert_eq(err, -7.0f);
}
