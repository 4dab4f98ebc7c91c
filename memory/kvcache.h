/* LongMemKVCache: episodic key-value store per stream, cosine top-k retrieval.
 * Definition: shared spec memory.md "LongMemKVCache"; DESIGN.md model/state split.
 *
 * The state holds everything per stream (B streams, capacity C each) and is
 * sized once at create; write/retrieve/reset never allocate. The read helper
 * is the softmax(score / tau)-weighted mean of the retrieved values, with a
 * backward to the query through the cosine scores (stored entries are constants). */
#ifndef TM_KVCACHE_H
#define TM_KVCACHE_H

#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

typedef struct {
    int key_dim, value_dim;
    int capacity;   /* entries per stream, default 4096 */
    int top_k;      /* default k for callers, default 8 */
    float tau;      /* softmax temperature of the read helper, default 0.1:
                       cosine scores lie in [-1, 1], so tau = 1 would give a
                       nearly uniform mean; 0.1 spreads the logits over [-10, 10] */
} tm_kvcache_config;

typedef struct {
    tm_kvcache_config cfg;
    int B;
    float *keys;      /* [B, C, dk] */
    float *values;    /* [B, C, dv] */
    int64_t *stamp;   /* [B, C] write time of each entry, -1 = empty */
    float *key_norm;  /* [B, C] |key| (clamped), kept at write so a retrieve
                         scores each entry with one dot product */
    int *count;       /* [B] valid entries */
    int *head;        /* [B] next slot to write (ring pointer) */
    int64_t *clock;   /* [B] next write stamp */
} tm_kvcache_state;

tm_kvcache_config tm_kvcache_config_default(int key_dim, int value_dim);
tm_status tm_kvcache_config_validate(const tm_kvcache_config *cfg);

tm_status tm_kvcache_state_create(tm_kvcache_state **out, const tm_kvcache_config *cfg, int B);
void tm_kvcache_state_free(tm_kvcache_state *s);

/* dst = src (same config and B). */
void tm_kvcache_state_copy(tm_kvcache_state *dst, const tm_kvcache_state *src);
/* One stream's state as plain bytes (replay): keys [C,dk], values [C,dv] f32,
 * stamps [C] i64, then count, head i32 and clock i64. */
size_t tm_kvcache_stream_bytes(const tm_kvcache_config *cfg);
void tm_kvcache_save_stream(const tm_kvcache_state *s, int b, void *dst);
/* Checks the bytes (count and head in range, stamps below the clock and
 * -1 exactly on empty entries, finite floats) before changing stream b;
 * fails naming what is wrong, with the state untouched. */
tm_status tm_kvcache_check_stream(const tm_kvcache_config *cfg, const void *src);
tm_status tm_kvcache_load_stream(tm_kvcache_state *s, int b, const void *src);

/* keys [B, dk], values [B, dv]: one entry per stream. NaN/Inf -> TM_ENUMERIC, state untouched. */
tm_status tm_kvcache_write(tm_kvcache_state *s, const float *keys, const float *values);

/* The k most cosine-similar valid entries per stream, best first, ties newest
 * first. Outputs keys [B,k,dk], values [B,k,dv], scores [B,k], valid [B,k];
 * padding is zero with valid = 0. k must be in 1..capacity. */
tm_status tm_kvcache_retrieve(float *keys, float *values, float *scores, int *valid,
                              const tm_kvcache_state *s, const float *query, int k);

/* mask [B]: nonzero clears that stream; NULL clears all. */
tm_status tm_kvcache_reset(tm_kvcache_state *s, const int *mask);

/* Read helper. out [B, dv]; weights [B, k] saved for backward. */
void tm_kvcache_read_forward(float *out, float *weights, const float *values,
                             const float *scores, const int *valid, float tau,
                             int B, int k, int dv);
/* Accumulates (+=) into dquery [B, dk] through the cosine scores. */
void tm_kvcache_read_backward(float *dquery, const float *dout, const float *query,
                              const float *keys, const float *values,
                              const float *scores, const float *weights, const int *valid,
                              float tau, int B, int k, int dk, int dv);

#endif
