/* Causal multi-head attention (MHA / GQA / MQA) with a sliding window, a
 * cached prefix and episode boundaries: CPU implementation over raw pointers.
 * Definition: shared spec controllers.md, Transformer; issue 3's op list.
 *
 * Shapes: q, out [B,T,Hq,dh]; k, v [B,T,Hkv,dh] with Hq % Hkv == 0 (query
 * head h reads key/value head h / (Hq/Hkv)). Optional prefix of cached keys
 * and values kc, vc [B,P,Hkv,dh], oldest first and right-aligned: the valid
 * entries of stream b are the last prefix_len[b] (<= P) rows, which directly
 * precede t = 0 (prefix_len NULL: all P rows). kc, vc may be NULL when P = 0.
 *
 * Keys live on one axis j in [0, P+T): j < P is the cache, j = P+t is step t.
 * Query t (at j = P+t) attends to keys j with
 *   j <= P+t                                (causal)
 *   j >= P - prefix_len[b]                  (valid cache only)
 *   j >  P+t - window    when window > 0    (itself and the window-1 before)
 *   j >= P+s  when start[b,s] != 0 for the latest s <= t (never across an
 *             episode boundary; a start also hides the whole cache)
 * so every row has at least one key (itself). start [B,T] int32 may be NULL.
 * Scores are scaled by `scale` (1/sqrt(dh) in the layers). Softmax is the
 * online (running max) form, so no score buffer is needed; the forward saves
 * the log-sum-exp per row, lse [B,Hq,T], from which backward recomputes the
 * probabilities. */
#ifndef TM_CPU_ATTENTION_H
#define TM_CPU_ATTENTION_H

#include <stdint.h>

#include "kernels/cpu/cpu_path.h"

void tm_cpu_attention_forward(float *out, float *lse, const float *q, const float *k,
                              const float *v, const float *kc, const float *vc,
                              const int32_t *prefix_len, const int32_t *start, float scale, int B,
                              int T, int P, int Hq, int Hkv, int dh, int window);

/* Accumulates (+=) into dq, dk, dv (the cache is a constant: no gradient). out and lse
 * are the forward's results. */
void tm_cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                               const float *out, const float *lse, const float *q, const float *k,
                               const float *v, const float *kc, const float *vc,
                               const int32_t *prefix_len, const int32_t *start, float scale,
                               int B, int T, int P, int Hq, int Hkv, int dh, int window);

/* The same on a given compiled code path (kernels/cpu/cpu_path.h), for tests
 * and benchmarks; the plain forms above use TM_CPU_PATH_AUTO. */
void tm_cpu_attention_forward_on(tm_cpu_path path, float *out, float *lse, const float *q,
                                 const float *k, const float *v, const float *kc,
                                 const float *vc, const int32_t *prefix_len,
                                 const int32_t *start, float scale, int B, int T, int P, int Hq,
                                 int Hkv, int dh, int window);
void tm_cpu_attention_backward_on(tm_cpu_path path, float *dq, float *dk, float *dv,
                                  const float *dout, const float *out, const float *lse,
                                  const float *q, const float *k, const float *v, const float *kc,
                                  const float *vc, const int32_t *prefix_len,
                                  const int32_t *start, float scale, int B, int T, int P, int Hq,
                                  int Hkv, int dh, int window);

#endif
