/* Rotary position embedding (RoPE) with optional dynamic NTK scaling: CPU
 * implementation over raw pointers. Definition: shared spec controllers.md,
 * Transformer ("rotary position embeddings (theta 10000)"; positions count
 * from the episode start) and Hybrid (the same rotation over pairs of state
 * dimensions; "dynamic" NTK scaling past max_position_embeddings). The op
 * interface and the full formula: kernels/ops_seq.h, tm_op_rope_scaled.
 *
 * Convention: the GPT-NeoX / Llama "half split" that PyTorch reference code
 * (rotate_half) uses: dimension i is paired with i + dh/2, for i < dh/2,
 *   angle = pos * base(pos)^(-2i/dh)
 *   out[i]        = x[i] cos(angle) - x[i+dh/2] sin(angle)
 *   out[i+dh/2]   = x[i] sin(angle) + x[i+dh/2] cos(angle)
 * with base(pos) = theta unless max_pos > 0 and pos + 1 > max_pos (then the
 * NTK base of ops_seq.h). x, out [B,T,H,dh] (dh even); pos [B,T] int32, one
 * position per stream and step (streams can be at different points of their
 * episodes). Base and angle are formed in double so that large positions keep
 * their precision; with max_pos = 0 the arithmetic is exactly that of plain
 * RoPE. out may alias x. */
#ifndef TM_CPU_ROPE_H
#define TM_CPU_ROPE_H

#include <stdint.h>

/* The rotary base at position pos (ops_seq.h's base(p)). */
double tm_cpu_rope_base(double theta, int max_pos, double factor, int32_t pos, int dh);

void tm_cpu_rope_forward(float *out, const float *x, const int32_t *pos, float theta,
                         int max_pos, float factor, int B, int T, int H, int dh);

/* The rotation is orthogonal, so the backward is the rotation by -angle.
 * Accumulates (+=) into dx (must not alias dout). */
void tm_cpu_rope_backward(float *dx, const float *dout, const int32_t *pos, float theta,
                          int max_pos, float factor, int B, int T, int H, int dh);

#endif
