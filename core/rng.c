/* xoshiro256** (Blackman and Vigna, 2018), seeded by splitmix64. See rng.h. */
#include "core/rng.h"

#include <math.h>

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t tm_rng_u64(tm_rng *r) {
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void tm_rng_jump(tm_rng *r) {
    /* The published jump polynomial for 2^128 steps. */
    static const uint64_t JUMP[] = {0x180ec6d33cfd0abaULL, 0xd5a61266f0c9392cULL,
                                    0xa9582618e03fc9aaULL, 0x39abdc4529b1661cULL};
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 64; b++) {
            if (JUMP[i] & (1ULL << b)) {
                s0 ^= r->s[0];
                s1 ^= r->s[1];
                s2 ^= r->s[2];
                s3 ^= r->s[3];
            }
            tm_rng_u64(r);
        }
    r->s[0] = s0;
    r->s[1] = s1;
    r->s[2] = s2;
    r->s[3] = s3;
}

void tm_rng_seed(tm_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    /* splitmix64 never yields four zero words in a row, so the state is valid. */
    for (uint64_t k = 0; k < stream; k++) tm_rng_jump(r);
}

float tm_rng_uniform(tm_rng *r) { return (float)(tm_rng_u64(r) >> 40) * 0x1.0p-24f; }

double tm_rng_uniform_f64(tm_rng *r) { return (double)(tm_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t tm_rng_below(tm_rng *r, uint64_t n) {
    /* Reject the top partial block so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = tm_rng_u64(r);
    while (x >= limit);
    return x % n;
}

float tm_rng_normal(tm_rng *r) {
    double u, v, s;
    do {
        u = 2.0 * tm_rng_uniform_f64(r) - 1.0;
        v = 2.0 * tm_rng_uniform_f64(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return (float)(u * sqrt(-2.0 * log(s) / s));
}

int tm_rng_categorical(tm_rng *r, const float *w, int n) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        if (!(w[i] >= 0.0f) || isinf(w[i])) return -1;
        total += w[i];
    }
    if (n <= 0 || total <= 0.0) return -1;
    double u = tm_rng_uniform_f64(r) * total, acc = 0.0;
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (w[i] <= 0.0f) continue;
        acc += w[i];
        last = i;
        if (u < acc) return i;
    }
    return last; /* rounding put u at the very top: the last positive weight */
}

void tm_rng_fill_uniform(tm_rng *r, float *x, long n, float lo, float hi) {
    for (long i = 0; i < n; i++) x[i] = lo + (hi - lo) * tm_rng_uniform(r);
}

void tm_rng_fill_normal(tm_rng *r, float *x, long n, float mean, float std) {
    for (long i = 0; i < n; i++) x[i] = mean + std * tm_rng_normal(r);
}
