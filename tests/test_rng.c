/* tm_rng: statistics, stream independence, reproducibility. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

Test(rng, same_seed_same_sequence) {
    tm_rng a, b;
    tm_rng_seed(&a, 42, 0);
    tm_rng_seed(&b, 42, 0);
    for (int i = 0; i < 1000; i++) cr_assert_eq(tm_rng_u64(&a), tm_rng_u64(&b));
}

enum { N_STAT = 1000000 };

Test(rng, uniform_mean_and_variance_within_bounds) {
    tm_rng r;
    tm_rng_seed(&r, 1, 0);
    double s = 0, s2 = 0, lo = 1, hi = 0;
    for (int i = 0; i < N_STAT; i++) {
        double u = tm_rng_uniform(&r);
        cr_assert(u >= 0.0 && u < 1.0);
        s += u;
        s2 += u * u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
    }
    double mean = s / N_STAT, var = s2 / N_STAT - mean * mean;
    /* Standard errors: sqrt(1/12/N) = 2.9e-4 for the mean, sqrt(1/180/N) =
     * 7.5e-5 for the variance; allow 5 of each. */
    cr_assert(fabs(mean - 0.5) < 5 * 2.9e-4, "mean %g", mean);
    cr_assert(fabs(var - 1.0 / 12) < 5 * 7.5e-5, "variance %g", var);
    cr_assert(lo < 1e-4 && hi > 1 - 1e-4, "range [%g, %g]", lo, hi);
    double d = 0;
    for (int i = 0; i < 1000; i++) {
        d = tm_rng_uniform_f64(&r);
        cr_assert(d >= 0.0 && d < 1.0);
    }
}

Test(rng, normal_mean_std_and_kurtosis) {
    tm_rng r;
    tm_rng_seed(&r, 2, 0);
    double s1 = 0, s2 = 0, s4 = 0;
    for (int i = 0; i < N_STAT; i++) {
        double x = tm_rng_normal(&r);
        s1 += x;
        s2 += x * x;
        s4 += x * x * x * x;
    }
    double mean = s1 / N_STAT, var = s2 / N_STAT - mean * mean;
    double kurt = (s4 / N_STAT) / (var * var);
    /* Standard errors for N = 1e6: mean 1e-3, std 7e-4, kurtosis sqrt(24/N) = 4.9e-3. */
    cr_assert(fabs(mean) < 5e-3, "mean %g", mean);
    cr_assert(fabs(sqrt(var) - 1) < 4e-3, "std %g", sqrt(var));
    cr_assert(fabs(kurt - 3) < 0.03, "kurtosis %g", kurt);
    float x[1000];
    tm_rng_fill_normal(&r, x, 1000, 10.0f, 0.5f);
    double m = 0;
    for (int i = 0; i < 1000; i++) m += x[i];
    cr_assert(fabs(m / 1000 - 10) < 5 * 0.5 / sqrt(1000.0));
}

/* Pearson chi-square of counts against expected counts. */
static double chi_square(const long *count, const double *expected, int k) {
    double c = 0;
    for (int i = 0; i < k; i++) c += (count[i] - expected[i]) * (count[i] - expected[i]) / expected[i];
    return c;
}

Test(rng, below_is_unbiased) {
    tm_rng r;
    tm_rng_seed(&r, 3, 0);
    long count[10] = {0};
    double expected[10];
    for (int i = 0; i < N_STAT; i++) {
        uint64_t v = tm_rng_below(&r, 10);
        cr_assert_lt(v, 10);
        count[v]++;
    }
    for (int i = 0; i < 10; i++) expected[i] = N_STAT / 10.0;
    /* 9 degrees of freedom: P(chi2 > 33.7) = 1e-4. */
    cr_assert_lt(chi_square(count, expected, 10), 33.7);

    /* n = 3 * 2^62: plain modulo would put half the draws in residue class
     * [0, 2^62); rejection gives each third of the range 1/3. */
    uint64_t n = 3ULL << 62;
    long thirds[3] = {0};
    for (int i = 0; i < 300000; i++) thirds[tm_rng_below(&r, n) >> 62]++;
    double e3[3] = {1e5, 1e5, 1e5};
    /* 2 degrees of freedom: P(chi2 > 18.4) = 1e-4. */
    cr_assert_lt(chi_square(thirds, e3, 3), 18.4);
    cr_assert_eq(tm_rng_below(&r, 1), 0);
}

Test(rng, categorical_frequencies_match_weights) {
    tm_rng r;
    tm_rng_seed(&r, 4, 0);
    const float w[5] = {1.0f, 2.0f, 3.0f, 0.0f, 4.0f};
    long count[5] = {0};
    for (int i = 0; i < N_STAT; i++) {
        int k = tm_rng_categorical(&r, w, 5);
        cr_assert(k >= 0 && k < 5);
        count[k]++;
    }
    cr_assert_eq(count[3], 0, "a zero weight was drawn");
    long nz[4] = {count[0], count[1], count[2], count[4]};
    double expected[4] = {0.1 * N_STAT, 0.2 * N_STAT, 0.3 * N_STAT, 0.4 * N_STAT};
    /* 3 degrees of freedom: P(chi2 > 21.1) = 1e-4. */
    cr_assert_lt(chi_square(nz, expected, 4), 21.1);
    const float one[3] = {0.0f, 0.0f, 7.0f};
    for (int i = 0; i < 100; i++) cr_assert_eq(tm_rng_categorical(&r, one, 3), 2);
}

Test(rng, categorical_rejects_bad_weights) {
    tm_rng r;
    tm_rng_seed(&r, 5, 0);
    const float neg[3] = {1.0f, -0.5f, 1.0f}, nan_w[3] = {1.0f, NAN, 1.0f};
    const float inf_w[2] = {INFINITY, 1.0f}, zero[3] = {0.0f, 0.0f, 0.0f};
    cr_assert_eq(tm_rng_categorical(&r, neg, 3), -1);
    cr_assert_eq(tm_rng_categorical(&r, nan_w, 3), -1);
    cr_assert_eq(tm_rng_categorical(&r, inf_w, 2), -1);
    cr_assert_eq(tm_rng_categorical(&r, zero, 3), -1);
    cr_assert_eq(tm_rng_categorical(&r, zero, 0), -1);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

Test(rng, streams_are_independent) {
    enum { N = 100000 };
    tm_rng a, b;
    tm_rng_seed(&a, 7, 0);
    tm_rng_seed(&b, 7, 1);
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    for (int i = 0; i < N; i++) {
        double x = tm_rng_uniform(&a), y = tm_rng_uniform(&b);
        sa += x;
        sb += y;
        saa += x * x;
        sbb += y * y;
        sab += x * y;
    }
    double cov = sab / N - (sa / N) * (sb / N);
    double corr = cov / sqrt((saa / N - (sa / N) * (sa / N)) * (sbb / N - (sb / N) * (sb / N)));
    /* Standard error of a correlation near 0 is 1/sqrt(N) = 3.2e-3. */
    cr_assert(fabs(corr) < 5 / sqrt((double)N), "correlation %g", corr);

    /* No 64-bit output of one stream appears among the first N of the other. */
    uint64_t *xa = malloc(N * sizeof *xa), *xb = malloc(N * sizeof *xb);
    tm_rng_seed(&a, 7, 0);
    tm_rng_seed(&b, 7, 1);
    for (int i = 0; i < N; i++) {
        xa[i] = tm_rng_u64(&a);
        xb[i] = tm_rng_u64(&b);
    }
    qsort(xa, N, sizeof *xa, cmp_u64);
    qsort(xb, N, sizeof *xb, cmp_u64);
    for (int i = 0, j = 0; i < N && j < N;) {
        cr_assert_neq(xa[i], xb[j], "streams share the output %llu", (unsigned long long)xa[i]);
        if (xa[i] < xb[j]) i++;
        else j++;
    }
    free(xa);
    free(xb);

    /* Stream 1 is stream 0 jumped once; a jump changes the state. */
    tm_rng c, j;
    tm_rng_seed(&c, 7, 0);
    tm_rng_seed(&b, 7, 1);
    j = c;
    tm_rng_jump(&j);
    cr_assert_neq(memcmp(&j, &c, sizeof j), 0);
    cr_assert_eq(memcmp(&j, &b, sizeof j), 0);
}

Test(rng, copied_state_continues_identically) {
    tm_rng a, b;
    tm_rng_seed(&a, 99, 3);
    for (int i = 0; i < 1234; i++) tm_rng_u64(&a);
    b = a; /* what a checkpoint stores and restores */
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(tm_rng_u64(&a), tm_rng_u64(&b));
        cr_assert_eq(tm_rng_normal(&a), tm_rng_normal(&b));
        cr_assert_eq(tm_rng_below(&a, 1000), tm_rng_below(&b, 1000));
    }
    tm_rng c, d;
    tm_rng_seed(&c, 99, 0);
    tm_rng_seed(&d, 100, 0);
    int same = 0;
    for (int i = 0; i < 100; i++) same += tm_rng_u64(&c) == tm_rng_u64(&d);
    cr_assert_eq(same, 0, "different seeds gave equal outputs");
}
