/* tm_rng: xoshiro256** with independent streams.
 *
 * All randomness in transmamba comes from explicit tm_rng values seeded from
 * the config (DESIGN.md principle 7). A generator is 32 bytes of plain state:
 * copy it, store it in a checkpoint, restore it.
 *
 * Streams: tm_rng_seed(&r, seed, stream) gives generator `stream` of `seed`.
 * Stream k is the base generator advanced by k jumps of 2^128 steps
 * (xoshiro's jump polynomial), so streams never overlap within 2^128 draws. */
#ifndef TM_RNG_H
#define TM_RNG_H

#include <stdint.h>

typedef struct { uint64_t s[4]; } tm_rng;

/* Seeds from (seed, stream): splitmix64 fills the state, then `stream` jumps. */
void tm_rng_seed(tm_rng *r, uint64_t seed, uint64_t stream);
/* Advances by 2^128 draws (used to make streams). */
void tm_rng_jump(tm_rng *r);

uint64_t tm_rng_u64(tm_rng *r);
/* Uniform in [0, 1), 24 random bits (every value exactly representable). */
float tm_rng_uniform(tm_rng *r);
/* Uniform in [0, 1), 53 random bits. */
double tm_rng_uniform_f64(tm_rng *r);
/* Uniform integer in [0, n), unbiased (rejection). n must be > 0. */
uint64_t tm_rng_below(tm_rng *r, uint64_t n);
/* Standard normal (Marsaglia polar method; no cached spare, so the state
 * alone determines the sequence). */
float tm_rng_normal(tm_rng *r);
/* Index drawn with probability proportional to w[i] >= 0 (need not sum to 1).
 * Returns -1 when the weights sum to 0 or contain a negative or non-finite value. */
int tm_rng_categorical(tm_rng *r, const float *w, int n);
/* Fills x[0..n) with uniform values in [lo, hi) / normal(mean, std). */
void tm_rng_fill_uniform(tm_rng *r, float *x, long n, float lo, float hi);
void tm_rng_fill_normal(tm_rng *r, float *x, long n, float mean, float std);

#endif
