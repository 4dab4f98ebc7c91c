/* Rotary position embedding with dynamic NTK scaling (CPU). Definition:
 * rope.h and kernels/ops_seq.h (tm_op_rope_scaled).
 *
 * One kernel serves both directions: the backward is the forward with the
 * sine negated. The base and cos/sin are computed once per (b,t,i) and
 * applied to every head; parallel over (b,t). */
#include "kernels/cpu/rope.h"

#include <math.h>

double tm_cpu_rope_base(double theta, int max_pos, double factor, int32_t pos, int dh) {
    double L = (double)pos + 1.0; /* the sequence length seen at this position */
    /* dh = 2 has the single frequency base^0 = 1: the base cannot matter, and
     * the NTK exponent dh / (dh - 2) would be infinite. */
    if (max_pos <= 0 || L <= (double)max_pos || dh <= 2) return theta;
    return theta * pow(factor * L / (double)max_pos - (factor - 1.0), (double)dh / (dh - 2));
}

static void rotate(float *out, const float *x, const int32_t *pos, float theta, int max_pos,
                   float factor, float sign, int accumulate, int B, int T, int H, int dh) {
    int half = dh / 2;
#pragma omp parallel for schedule(static)
    for (long bt = 0; bt < (long)B * T; bt++) {
        double p = (double)pos[bt];
        double base = tm_cpu_rope_base((double)theta, max_pos, (double)factor, pos[bt], dh);
        for (int i = 0; i < half; i++) {
            double inv_freq = pow(base, -2.0 * i / dh);
            double angle = p * inv_freq;
            float cs = (float)cos(angle), sn = sign * (float)sin(angle);
            for (int h = 0; h < H; h++) {
                const float *xr = x + (bt * H + h) * dh;
                float *o = out + (bt * H + h) * dh;
                float a = xr[i], b = xr[i + half];
                float lo = a * cs - b * sn, hi = a * sn + b * cs;
                if (accumulate) {
                    o[i] += lo;
                    o[i + half] += hi;
                } else {
                    o[i] = lo;
                    o[i + half] = hi;
                }
            }
        }
    }
}

void tm_cpu_rope_forward(float *out, const float *x, const int32_t *pos, float theta,
                         int max_pos, float factor, int B, int T, int H, int dh) {
    rotate(out, x, pos, theta, max_pos, factor, 1.0f, 0, B, T, H, dh);
}

void tm_cpu_rope_backward(float *dx, const float *dout, const int32_t *pos, float theta,
                          int max_pos, float factor, int B, int T, int H, int dh) {
    rotate(dx, dout, pos, theta, max_pos, factor, -1.0f, 1, B, T, H, dh);
}
