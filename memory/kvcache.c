/* LongMemKVCache: ring buffer per stream, cosine top-k, softmax read helper.
 * Definition: shared spec memory.md "LongMemKVCache". */
#include "memory/kvcache.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Norms below this are clamped so a zero vector scores 0 instead of NaN. */
#define KV_EPS 1e-8f

tm_kvcache_config tm_kvcache_config_default(int key_dim, int value_dim) {
    tm_kvcache_config c = {key_dim, value_dim, 4096, 8, 0.1f};
    return c;
}

tm_status tm_kvcache_config_validate(const tm_kvcache_config *c) {
    if (!c) return tm_fail(TM_EINVAL, "kvcache: config is NULL");
    if (c->key_dim <= 0) return tm_fail(TM_EINVAL, "kvcache: key_dim must be > 0 (got %d)", c->key_dim);
    if (c->value_dim <= 0) return tm_fail(TM_EINVAL, "kvcache: value_dim must be > 0 (got %d)", c->value_dim);
    if (c->capacity <= 0) return tm_fail(TM_EINVAL, "kvcache: capacity must be > 0 (got %d)", c->capacity);
    if (c->top_k <= 0 || c->top_k > c->capacity)
        return tm_fail(TM_EINVAL, "kvcache: top_k must be in 1..capacity=%d (got %d)", c->capacity, c->top_k);
    if (!(c->tau > 0.0f) || !isfinite(c->tau))
        return tm_fail(TM_EINVAL, "kvcache: tau must be finite and > 0 (got %g)", (double)c->tau);
    return TM_OK;
}

tm_status tm_kvcache_state_create(tm_kvcache_state **out, const tm_kvcache_config *cfg, int B) {
    if (!out) return tm_fail(TM_EINVAL, "kvcache: out is NULL");
    *out = NULL;
    TM_TRY(tm_kvcache_config_validate(cfg));
    if (B <= 0) return tm_fail(TM_EINVAL, "kvcache: B must be > 0 (got %d)", B);
    size_t n = (size_t)B * (size_t)cfg->capacity;
    tm_kvcache_state *s = calloc(1, sizeof *s);
    if (!s) return tm_fail(TM_ENOMEM, "kvcache: state allocation failed");
    s->cfg = *cfg;
    s->B = B;
    s->keys = calloc(n * (size_t)cfg->key_dim, sizeof(float));
    s->values = calloc(n * (size_t)cfg->value_dim, sizeof(float));
    s->stamp = malloc(n * sizeof(int64_t));
    s->key_norm = calloc(n, sizeof(float));
    s->count = calloc((size_t)B, sizeof(int));
    s->head = calloc((size_t)B, sizeof(int));
    s->clock = calloc((size_t)B, sizeof(int64_t));
    if (!s->keys || !s->values || !s->stamp || !s->key_norm || !s->count || !s->head || !s->clock) {
        tm_kvcache_state_free(s);
        return tm_fail(TM_ENOMEM, "kvcache: cannot allocate B=%d x capacity=%d entries", B, cfg->capacity);
    }
    for (size_t i = 0; i < n; i++) s->stamp[i] = -1;
    *out = s;
    return TM_OK;
}

void tm_kvcache_state_free(tm_kvcache_state *s) {
    if (!s) return;
    free(s->keys); free(s->values); free(s->stamp); free(s->key_norm);
    free(s->count); free(s->head); free(s->clock);
    free(s);
}

static int all_finite(const float *x, size_t n, size_t *bad) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) { *bad = i; return 0; }
    return 1;
}

static float norm(const float *x, int n) {
    double a = 0.0;
    for (int i = 0; i < n; i++) a += (double)x[i] * x[i];
    return (float)sqrt(a);
}

void tm_kvcache_state_copy(tm_kvcache_state *dst, const tm_kvcache_state *src) {
    size_t n = (size_t)src->B * (size_t)src->cfg.capacity;
    memcpy(dst->keys, src->keys, n * (size_t)src->cfg.key_dim * sizeof(float));
    memcpy(dst->values, src->values, n * (size_t)src->cfg.value_dim * sizeof(float));
    memcpy(dst->stamp, src->stamp, n * sizeof(int64_t));
    memcpy(dst->key_norm, src->key_norm, n * sizeof(float));
    memcpy(dst->count, src->count, (size_t)src->B * sizeof(int));
    memcpy(dst->head, src->head, (size_t)src->B * sizeof(int));
    memcpy(dst->clock, src->clock, (size_t)src->B * sizeof(int64_t));
}

/* Byte layout of one stream: keys, values, stamps, count, head, clock. */
static size_t stream_floats_bytes(const tm_kvcache_config *c) {
    return (size_t)c->capacity * (size_t)(c->key_dim + c->value_dim) * sizeof(float);
}

size_t tm_kvcache_stream_bytes(const tm_kvcache_config *cfg) {
    return stream_floats_bytes(cfg) + (size_t)cfg->capacity * sizeof(int64_t) + 2 * sizeof(int32_t) +
           sizeof(int64_t);
}

void tm_kvcache_save_stream(const tm_kvcache_state *s, int b, void *dst) {
    const tm_kvcache_config *c = &s->cfg;
    size_t C = (size_t)c->capacity;
    unsigned char *o = dst;
    memcpy(o, s->keys + (size_t)b * C * c->key_dim, C * c->key_dim * sizeof(float));
    o += C * c->key_dim * sizeof(float);
    memcpy(o, s->values + (size_t)b * C * c->value_dim, C * c->value_dim * sizeof(float));
    o += C * c->value_dim * sizeof(float);
    memcpy(o, s->stamp + (size_t)b * C, C * sizeof(int64_t));
    o += C * sizeof(int64_t);
    int32_t ch[2] = {s->count[b], s->head[b]};
    memcpy(o, ch, sizeof ch);
    memcpy(o + sizeof ch, &s->clock[b], sizeof(int64_t));
}

tm_status tm_kvcache_check_stream(const tm_kvcache_config *c, const void *src) {
    const unsigned char *in = src;
    size_t C = (size_t)c->capacity, nf = C * (size_t)(c->key_dim + c->value_dim);
    for (size_t i = 0; i < nf; i++) {
        float v;
        memcpy(&v, in + i * sizeof v, sizeof v);
        if (!isfinite(v)) return tm_fail(TM_ENUMERIC, "kvcache: saved stream float %zu is not finite", i);
    }
    const unsigned char *st = in + stream_floats_bytes(c);
    int32_t ch[2];
    int64_t clock;
    memcpy(ch, st + C * sizeof(int64_t), sizeof ch);
    memcpy(&clock, st + C * sizeof(int64_t) + sizeof ch, sizeof clock);
    if (ch[0] < 0 || ch[0] > c->capacity || ch[1] < 0 || ch[1] >= c->capacity || clock < ch[0])
        return tm_fail(TM_EINVAL, "kvcache: saved stream has count %d, head %d, clock %lld (capacity %d)",
                       ch[0], ch[1], (long long)clock, c->capacity);
    int filled = 0;
    for (size_t i = 0; i < C; i++) {
        int64_t t;
        memcpy(&t, st + i * sizeof t, sizeof t);
        if (t < -1 || t >= clock)
            return tm_fail(TM_EINVAL, "kvcache: saved stream entry %zu has stamp %lld (clock %lld)", i,
                           (long long)t, (long long)clock);
        filled += t >= 0;
    }
    if (filled != ch[0])
        return tm_fail(TM_EINVAL, "kvcache: saved stream has %d stamped entries but count %d", filled, ch[0]);
    return TM_OK;
}

tm_status tm_kvcache_load_stream(tm_kvcache_state *s, int b, const void *src) {
    if (b < 0 || b >= s->B) return tm_fail(TM_ERANGE, "kvcache: stream %d out of range (B=%d)", b, s->B);
    TM_TRY(tm_kvcache_check_stream(&s->cfg, src));
    const tm_kvcache_config *c = &s->cfg;
    size_t C = (size_t)c->capacity;
    const unsigned char *in = src;
    memcpy(s->keys + (size_t)b * C * c->key_dim, in, C * c->key_dim * sizeof(float));
    in += C * c->key_dim * sizeof(float);
    memcpy(s->values + (size_t)b * C * c->value_dim, in, C * c->value_dim * sizeof(float));
    in += C * c->value_dim * sizeof(float);
    memcpy(s->stamp + (size_t)b * C, in, C * sizeof(int64_t));
    /* The norms are derived data, not part of the bytes: recomputed. */
    for (size_t e = (size_t)b * C; e < (size_t)(b + 1) * C; e++)
        s->key_norm[e] = fmaxf(norm(s->keys + e * (size_t)c->key_dim, c->key_dim), KV_EPS);
    in += C * sizeof(int64_t);
    int32_t ch[2];
    memcpy(ch, in, sizeof ch);
    memcpy(&s->clock[b], in + sizeof ch, sizeof(int64_t));
    s->count[b] = ch[0];
    s->head[b] = ch[1];
    return TM_OK;
}

tm_status tm_kvcache_write(tm_kvcache_state *s, const float *keys, const float *values) {
    if (!s || !keys || !values) return tm_fail(TM_EINVAL, "kvcache: write got a NULL argument");
    int B = s->B, C = s->cfg.capacity, dk = s->cfg.key_dim, dv = s->cfg.value_dim;
    size_t bad;
    /* Check everything before touching any stream: a bad write changes nothing. */
    if (!all_finite(keys, (size_t)B * dk, &bad))
        return tm_fail(TM_ENUMERIC, "kvcache: write keys[%zu] is not finite", bad);
    if (!all_finite(values, (size_t)B * dv, &bad))
        return tm_fail(TM_ENUMERIC, "kvcache: write values[%zu] is not finite", bad);
    for (int b = 0; b < B; b++) {
        size_t e = (size_t)b * C + (size_t)s->head[b];
        memcpy(s->keys + e * dk, keys + (size_t)b * dk, (size_t)dk * sizeof(float));
        memcpy(s->values + e * dv, values + (size_t)b * dv, (size_t)dv * sizeof(float));
        s->stamp[e] = s->clock[b]++;
        s->key_norm[e] = fmaxf(norm(keys + (size_t)b * dk, dk), KV_EPS);
        s->head[b] = (s->head[b] + 1) % C;
        if (s->count[b] < C) s->count[b]++;
    }
    return TM_OK;
}

/* q . key in float, summed over 8 lanes in a fixed order (so the compiler
 * vectorizes it and the result does not depend on the vector width), each
 * lane's sum then added in double. */
static double dot_lanes(const float *q, const float *key, int n) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] += q[i + j] * key[i + j];
    double dot = 0.0;
    for (int j = 0; j < 8; j++) dot += lane[j];
    for (; i < n; i++) dot += (double)q[i] * key[i];
    return dot;
}

/* a ranks before b: higher score, then newer stamp. */
static int before(float sa, int64_t ta, float sb, int64_t tb) {
    return sa > sb || (sa == sb && ta > tb);
}

tm_status tm_kvcache_retrieve(float *keys, float *values, float *scores, int *valid,
                              const tm_kvcache_state *s, const float *query, int k) {
    if (!s || !keys || !values || !scores || !valid || !query)
        return tm_fail(TM_EINVAL, "kvcache: retrieve got a NULL argument");
    int B = s->B, C = s->cfg.capacity, dk = s->cfg.key_dim, dv = s->cfg.value_dim;
    if (k <= 0 || k > C)
        return tm_fail(TM_EINVAL, "kvcache: retrieve k must be in 1..capacity=%d (got %d)", C, k);
    size_t bad;
    if (!all_finite(query, (size_t)B * dk, &bad))
        return tm_fail(TM_ENUMERIC, "kvcache: retrieve query[%zu] is not finite", bad);
    for (int b = 0; b < B; b++) {
        const float *q = query + (size_t)b * dk;
        float qn = fmaxf(norm(q, dk), KV_EPS);
        float *ks = keys + (size_t)b * k * dk, *vs = values + (size_t)b * k * dv;
        float *sc = scores + (size_t)b * k;
        int *va = valid + (size_t)b * k;
        memset(ks, 0, (size_t)k * dk * sizeof(float));
        memset(vs, 0, (size_t)k * dv * sizeof(float));
        memset(sc, 0, (size_t)k * sizeof(float));
        memset(va, 0, (size_t)k * sizeof(int));
        /* Sorted insertion into the first n of k slots keeps the best n seen
         * so far; va holds the slot index until the end (no scratch buffer). */
        const int64_t *stamp = s->stamp + (size_t)b * C;
        int n = 0;
        for (int c = 0; c < C; c++) {
            int64_t t = stamp[c];
            if (t < 0) continue;
            const float *key = s->keys + ((size_t)b * C + c) * dk;
            float sim = (float)(dot_lanes(q, key, dk) / ((double)qn * s->key_norm[(size_t)b * C + c]));
            if (n == k && !before(sim, t, sc[k - 1], stamp[va[k - 1]])) continue;
            int pos = n < k ? n : k - 1;
            while (pos > 0 && before(sim, t, sc[pos - 1], stamp[va[pos - 1]])) {
                sc[pos] = sc[pos - 1]; va[pos] = va[pos - 1];
                pos--;
            }
            sc[pos] = sim;
            va[pos] = c;
            if (n < k) n++;
        }
        for (int j = 0; j < k; j++) {
            if (j >= n) { va[j] = 0; sc[j] = 0.0f; continue; }
            size_t e = (size_t)b * C + (size_t)va[j];
            memcpy(ks + (size_t)j * dk, s->keys + e * dk, (size_t)dk * sizeof(float));
            memcpy(vs + (size_t)j * dv, s->values + e * dv, (size_t)dv * sizeof(float));
            va[j] = 1;
        }
    }
    return TM_OK;
}

tm_status tm_kvcache_reset(tm_kvcache_state *s, const int *mask) {
    if (!s) return tm_fail(TM_EINVAL, "kvcache: reset got a NULL state");
    int C = s->cfg.capacity, dk = s->cfg.key_dim, dv = s->cfg.value_dim;
    for (int b = 0; b < s->B; b++) {
        if (mask && !mask[b]) continue;
        size_t e = (size_t)b * C;
        memset(s->keys + e * dk, 0, (size_t)C * dk * sizeof(float));
        memset(s->values + e * dv, 0, (size_t)C * dv * sizeof(float));
        for (int c = 0; c < C; c++) s->stamp[e + c] = -1, s->key_norm[e + c] = 0.0f;
        s->count[b] = 0; s->head[b] = 0; s->clock[b] = 0;
    }
    return TM_OK;
}

void tm_kvcache_read_forward(float *out, float *weights, const float *values,
                             const float *scores, const int *valid, float tau,
                             int B, int k, int dv) {
    for (int b = 0; b < B; b++) {
        const float *sc = scores + (size_t)b * k;
        const int *va = valid + (size_t)b * k;
        float *w = weights + (size_t)b * k, *o = out + (size_t)b * dv;
        float mx = -INFINITY;
        for (int j = 0; j < k; j++) if (va[j] && sc[j] / tau > mx) mx = sc[j] / tau;
        double z = 0.0;
        for (int j = 0; j < k; j++) {
            w[j] = va[j] ? expf(sc[j] / tau - mx) : 0.0f;
            z += w[j];
        }
        for (int i = 0; i < dv; i++) o[i] = 0.0f;
        if (z == 0.0) continue; /* no valid entry: read is 0 */
        for (int j = 0; j < k; j++) {
            w[j] = (float)(w[j] / z);
            const float *v = values + ((size_t)b * k + j) * dv;
            for (int i = 0; i < dv; i++) o[i] += w[j] * v[i];
        }
    }
}

void tm_kvcache_read_backward(float *dquery, const float *dout, const float *query,
                              const float *keys, const float *values,
                              const float *scores, const float *weights, const int *valid,
                              float tau, int B, int k, int dk, int dv) {
    for (int b = 0; b < B; b++) {
        const float *w = weights + (size_t)b * k, *sc = scores + (size_t)b * k;
        const int *va = valid + (size_t)b * k;
        const float *q = query + (size_t)b * dk, *go = dout + (size_t)b * dv;
        float *dq = dquery + (size_t)b * dk;
        /* g_j = dout . v_j; ds_j = w_j (g_j - sum_i w_i g_i) / tau (softmax). */
        double gbar = 0.0;
        for (int j = 0; j < k; j++) {
            if (!va[j]) continue;
            const float *v = values + ((size_t)b * k + j) * dv;
            double g = 0.0;
            for (int i = 0; i < dv; i++) g += (double)go[i] * v[i];
            gbar += w[j] * g;
        }
        float qn_raw = norm(q, dk), qn = fmaxf(qn_raw, KV_EPS);
        for (int j = 0; j < k; j++) {
            if (!va[j]) continue;
            const float *v = values + ((size_t)b * k + j) * dv;
            const float *key = keys + ((size_t)b * k + j) * dk;
            double g = 0.0;
            for (int i = 0; i < dv; i++) g += (double)go[i] * v[i];
            double ds = w[j] * (g - gbar) / tau;
            /* d cos(q,k)/dq = k / (|q||k|) - cos * q / |q|^2 (the second term
             * vanishes where |q| is clamped to KV_EPS). */
            double kn = fmaxf(norm(key, dk), KV_EPS);
            double qterm = qn_raw > KV_EPS ? (double)sc[j] / ((double)qn * qn) : 0.0;
            for (int i = 0; i < dk; i++)
                dq[i] += (float)(ds * (key[i] / ((double)qn * kn) - qterm * q[i]));
        }
    }
}
