/* Rotary position embedding (CPU). Definition: rope.h.
 *
 * One kernel serves both directions: the backward is the forward with the
 * sine negated. cos/sin are computed once per (b,t,i) and applied to every
 * head; parallel over (b,t). */
#include "kernels/cpu/rope.h"

#include <math.h>

static void rotate(float *out, const float *x, const int32_t *pos, float theta, float sign,
                   int accumulate, int B, int T, int H, int dh) {
    int half = dh / 2;
#pragma omp parallel for schedule(static)
    for (long bt = 0; bt < (long)B * T; bt++) {
        double p = (double)pos[bt];
        for (int i = 0; i < half; i++) {
            double inv_freq = pow((double)theta, -2.0 * i / dh);
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

void tm_cpu_rope_forward(float *out, const float *x, const int32_t *pos, float theta, int B,
                         int T, int H, int dh) {
    rotate(out, x, pos, theta, 1.0f, 0, B, T, H, dh);
}

void tm_cpu_rope_backward(float *dx, const float *dout, const int32_t *pos, float theta, int B,
                          int T, int H, int dh) {
    rotate(dx, dout, pos, theta, -1.0f, 1, B, T, H, dh);
}
