/* Rotary position embedding (RoPE): CPU implementation over raw pointers.
 * Definition: shared spec controllers.md, Transformer ("rotary position
 * embeddings (theta 10000)"; positions count from the episode start) and
 * Hybrid (the same rotation over pairs of state dimensions).
 *
 * Convention: the GPT-NeoX / Llama "half split" that PyTorch reference code
 * (rotate_half) uses: dimension i is paired with i + dh/2, for i < dh/2,
 *   angle = pos * theta^(-2i/dh)
 *   out[i]        = x[i] cos(angle) - x[i+dh/2] sin(angle)
 *   out[i+dh/2]   = x[i] sin(angle) + x[i+dh/2] cos(angle)
 * x, out [B,T,H,dh] (dh even); pos [B,T] int32, one position per stream and
 * step (streams can be at different points of their episodes). The angle is
 * formed in double so that large positions keep their precision. out may
 * alias x. */
#ifndef TM_CPU_ROPE_H
#define TM_CPU_ROPE_H

#include <stdint.h>

void tm_cpu_rope_forward(float *out, const float *x, const int32_t *pos, float theta, int B,
                         int T, int H, int dh);

/* The rotation is orthogonal, so the backward is the rotation by -angle.
 * Accumulates (+=) into dx (must not alias dout). */
void tm_cpu_rope_backward(float *dx, const float *dout, const int32_t *pos, float theta, int B,
                          int T, int H, int dh);

#endif
