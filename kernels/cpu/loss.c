/* CPU losses. Definition: loss.h.
 * Totals are reduced deterministically: each thread sums a fixed contiguous
 * range of rows in double, then the per-thread partials are added in thread
 * order, so a given thread count always gives the same bits. */
#include "kernels/cpu/loss.h"

#include <math.h>
#include <omp.h>

#define MAX_PARTS 64

/* result = sum over rows n in [0, N) of what body adds to s_ (body may
 * `continue`); deterministic for a given thread count. */
#define ROW_SUM(result, N, parallel_if, body)                                         \
    do {                                                                              \
        double parts_[MAX_PARTS] = {0};                                               \
        int nt_ = omp_get_max_threads();                                              \
        if (nt_ > MAX_PARTS) nt_ = MAX_PARTS;                                         \
        if (!(parallel_if)) nt_ = 1;                                                  \
        _Pragma("omp parallel num_threads(nt_)") {                                    \
            int t_ = omp_get_thread_num(), k_ = omp_get_num_threads();                \
            long lo_ = (N) * t_ / k_, hi_ = (N) * (t_ + 1) / k_;                      \
            double s_ = 0.0;                                                          \
            for (long n = lo_; n < hi_; n++) { body }                                 \
            parts_[t_] = s_;                                                          \
        }                                                                             \
        double total_ = 0.0;                                                          \
        for (int t_ = 0; t_ < nt_; t_++) total_ += parts_[t_];                        \
        (result) = total_;                                                            \
    } while (0)

float tm_cpu_cross_entropy_forward(float *dlogits, const float *logits, const int32_t *targets,
                                   const float *mask, double mask_sum, long N, int V) {
    double total;
    ROW_SUM(total, N, N * V > 16384, {
        float m = mask ? mask[n] : 1.0f;
        const float *z = logits + n * V;
        float *dz = dlogits ? dlogits + n * V : 0;
        if (m == 0.0f || mask_sum <= 0.0) {
            if (dz)
                for (int v = 0; v < V; v++) dz[v] = 0.0f;
            continue;
        }
        float mx = -INFINITY;
        for (int v = 0; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        double se = 0.0;
        for (int v = 0; v < V; v++) se += exp((double)z[v] - mx);
        double lse = mx + log(se);
        s_ += m * (lse - z[targets[n]]);
        if (dz) {
            float w = (float)(m / mask_sum);
            for (int v = 0; v < V; v++) dz[v] = w * (float)exp((double)z[v] - lse);
            dz[targets[n]] -= w;
        }
    });
    return mask_sum > 0.0 ? (float)(total / mask_sum) : 0.0f;
}

float tm_cpu_masked_accuracy(const float *logits, const int32_t *targets, const float *mask,
                             double mask_sum, long N, int V) {
    if (mask_sum <= 0.0) return 0.0f;
    double hits;
    ROW_SUM(hits, N, N * V > 16384, {
        float m = mask ? mask[n] : 1.0f;
        if (m == 0.0f) continue;
        const float *z = logits + n * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (z[v] > z[best]) best = v;
        if (best == targets[n]) s_ += m;
    });
    return (float)(hits / mask_sum);
}

float tm_cpu_mse_forward(float *dpred, const float *pred, const float *target, long numel) {
    if (numel <= 0) return 0.0f;
    double total;
    float scale = (float)(2.0 / (double)numel);
    ROW_SUM(total, numel, numel > 65536, {
        float d = pred[n] - target[n];
        s_ += (double)d * d;
        if (dpred) dpred[n] = scale * d;
    });
    return (float)(total / (double)numel);
}
