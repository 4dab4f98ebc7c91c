/* LongMemKVCache tests. Definition: shared spec memory.md "LongMemKVCache". */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/rng.h"
#include "memory/kvcache.h"

static tm_kvcache_state *make(int dk, int dv, int C, int B) {
    tm_kvcache_config c = tm_kvcache_config_default(dk, dv);
    c.capacity = C; c.top_k = 1;
    tm_kvcache_state *s = NULL;
    cr_assert_eq(tm_kvcache_state_create(&s, &c, B), TM_OK, "%s", tm_last_error());
    return s;
}

typedef struct { float score; long stamp; int slot; } ranked;
static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->stamp > y->stamp ? -1 : (x->stamp < y->stamp);
}

Test(kvcache, topk_equals_brute_force_sort) {
    int cases[][5] = {{1, 4, 3, 5, 3}, {3, 8, 2, 20, 5}, {4, 16, 3, 7, 7}, {2, 5, 4, 12, 1}};
    tm_rng r; tm_rng_seed(&r, 11, 0);
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int B = cases[ci][0], C = cases[ci][1], dk = cases[ci][2], writes = cases[ci][3], k = cases[ci][4];
        int dv = 2;
        tm_kvcache_state *s = make(dk, dv, C, B);
        float *kw = malloc(sizeof(float) * B * dk), *vw = malloc(sizeof(float) * B * dv);
        for (int t = 0; t < writes; t++) {
            tm_rng_fill_normal(&r, kw, B * dk, 0, 1);
            tm_rng_fill_normal(&r, vw, B * dv, 0, 1);
            cr_assert_eq(tm_kvcache_write(s, kw, vw), TM_OK);
        }
        float *q = malloc(sizeof(float) * B * dk);
        tm_rng_fill_normal(&r, q, B * dk, 0, 1);
        float *ok = malloc(sizeof(float) * B * k * dk), *ov = malloc(sizeof(float) * B * k * dv);
        float *os = malloc(sizeof(float) * B * k); int *va = malloc(sizeof(int) * B * k);
        cr_assert_eq(tm_kvcache_retrieve(ok, ov, os, va, s, q, k), TM_OK);
        ranked *all = malloc(sizeof(ranked) * C);
        for (int b = 0; b < B; b++) {
            int n = 0;
            for (int c = 0; c < C; c++) {
                long st = (long)s->stamp[b * C + c];
                if (st < 0) continue;
                const float *key = s->keys + ((size_t)b * C + c) * dk;
                double d = 0, nq = 0, nk = 0;
                for (int i = 0; i < dk; i++) { d += q[b*dk+i] * key[i]; nq += q[b*dk+i]*q[b*dk+i]; nk += key[i]*key[i]; }
                all[n++] = (ranked){(float)(d / (sqrt(nq) * sqrt(nk))), st, c};
            }
            qsort(all, (size_t)n, sizeof(ranked), cmp_ranked);
            for (int j = 0; j < k; j++) {
                if (j < n) {
                    cr_assert_eq(va[b*k+j], 1);
                    cr_assert_float_eq(os[b*k+j], all[j].score, 1e-5);
                    cr_assert_eq(memcmp(ok + ((size_t)b*k+j)*dk, s->keys + ((size_t)b*C+all[j].slot)*dk, sizeof(float)*dk), 0,
                                 "case %zu b %d j %d", ci, b, j);
                } else {
                    cr_assert_eq(va[b*k+j], 0);
                }
            }
        }
        free(all); free(ok); free(ov); free(os); free(va); free(q); free(kw); free(vw);
        tm_kvcache_state_free(s);
    }
}

Test(kvcache, padding_is_invalid_and_zero) {
    tm_kvcache_state *s = make(2, 3, 8, 1);
    float k[2] = {1, 0}, v[3] = {1, 2, 3}, q[2] = {1, 1};
    cr_assert_eq(tm_kvcache_write(s, k, v), TM_OK);
    float ok[4 * 2], ov[4 * 3], os[4]; int va[4];
    memset(ok, 0x7f, sizeof ok); memset(ov, 0x7f, sizeof ov); memset(os, 0x7f, sizeof os);
    cr_assert_eq(tm_kvcache_retrieve(ok, ov, os, va, s, q, 4), TM_OK);
    cr_assert_eq(va[0], 1);
    cr_assert_float_eq(os[0], 1.0f / sqrtf(2.0f), 1e-6);
    for (int j = 1; j < 4; j++) {
        cr_assert_eq(va[j], 0); cr_assert_eq(os[j], 0.0f);
        for (int i = 0; i < 2; i++) cr_assert_eq(ok[j*2+i], 0.0f);
        for (int i = 0; i < 3; i++) cr_assert_eq(ov[j*3+i], 0.0f);
    }
    tm_kvcache_state_free(s);
}

Test(kvcache, reset_clears_only_chosen_streams) {
    tm_kvcache_state *s = make(2, 1, 4, 3);
    float k[6] = {1, 0, 0, 1, 1, 1}, v[3] = {1, 2, 3}, q[6] = {1, 0, 0, 1, 1, 1};
    cr_assert_eq(tm_kvcache_write(s, k, v), TM_OK);
    int mask[3] = {0, 1, 0};
    cr_assert_eq(tm_kvcache_reset(s, mask), TM_OK);
    float ok[6], ov[3], os[3]; int va[3];
    cr_assert_eq(tm_kvcache_retrieve(ok, ov, os, va, s, q, 1), TM_OK);
    cr_assert_eq(va[0], 1); cr_assert_eq(va[1], 0); cr_assert_eq(va[2], 1);
    cr_assert_eq(ov[0], 1.0f); cr_assert_eq(ov[2], 3.0f);
    cr_assert_eq(s->count[1], 0); cr_assert_eq(s->count[0], 1);
    tm_kvcache_state_free(s);
}

Test(kvcache, capacity_wraps_oldest_overwritten) {
    int C = 3;
    tm_kvcache_state *s = make(1, 1, C, 1);
    for (int t = 0; t < 7; t++) {
        float k = 1.0f, v = (float)t;
        cr_assert_eq(tm_kvcache_write(s, &k, &v), TM_OK);
    }
    cr_assert_eq(s->count[0], C);
    float q = 1.0f, ok[3], ov[3], os[3]; int va[3];
    cr_assert_eq(tm_kvcache_retrieve(ok, ov, os, va, s, &q, 3), TM_OK);
    /* equal scores: newest first, and only the last C writes survive */
    cr_assert_eq(ov[0], 6.0f); cr_assert_eq(ov[1], 5.0f); cr_assert_eq(ov[2], 4.0f);
    for (int j = 0; j < 3; j++) cr_assert_eq(va[j], 1);
    cr_assert_eq(tm_kvcache_retrieve(ok, ov, os, va, s, &q, 4), TM_EINVAL, "k > capacity must fail");
    tm_kvcache_state_free(s);
}

Test(kvcache, ties_broken_by_recency) {
    tm_kvcache_state *s = make(2, 1, 8, 1);
    float keys[4][2] = {{1, 0}, {2, 0}, {0, 1}, {3, 0}}; /* 0, 1, 3 tie (cos 1) */
    for (int t = 0; t < 4; t++) { float v = (float)t; cr_assert_eq(tm_kvcache_write(s, keys[t], &v), TM_OK); }
    float q[2] = {1, 0}, ok[8], ov[4], os[4]; int va[4];
    cr_assert_eq(tm_kvcache_retrieve(ok, ov, os, va, s, q, 4), TM_OK);
    cr_assert_eq(ov[0], 3.0f); cr_assert_eq(ov[1], 1.0f); cr_assert_eq(ov[2], 0.0f); cr_assert_eq(ov[3], 2.0f);
    tm_kvcache_state_free(s);
}

Test(kvcache, streams_never_see_each_others_writes) {
    tm_kvcache_state *s = make(1, 1, 4, 2);
    float k[2] = {1, 1}, v[2] = {10, 20};
    cr_assert_eq(tm_kvcache_write(s, k, v), TM_OK);
    cr_assert_eq(tm_kvcache_write(s, k, v), TM_OK);
    float q[2] = {1, 1}, ok[8], ov[8], os[8]; int va[8];
    cr_assert_eq(tm_kvcache_retrieve(ok, ov, os, va, s, q, 4), TM_OK);
    for (int j = 0; j < 2; j++) { cr_assert_eq(ov[j], 10.0f); cr_assert_eq(ov[4 + j], 20.0f); }
    cr_assert_eq(va[2], 0); cr_assert_eq(va[6], 0);
    tm_kvcache_state_free(s);
}

/* loss = sum(out * dout) as a function of the query, in double on the numerical side */
static double read_loss(const tm_kvcache_state *s, const float *q, const float *dout, int B, int k, int dk, int dv, float tau) {
    float *ok = malloc(sizeof(float)*B*k*dk), *ov = malloc(sizeof(float)*B*k*dv), *os = malloc(sizeof(float)*B*k);
    float *w = malloc(sizeof(float)*B*k), *out = malloc(sizeof(float)*B*dv); int *va = malloc(sizeof(int)*B*k);
    cr_assert_eq(tm_kvcache_retrieve(ok, ov, os, va, s, q, k), TM_OK);
    tm_kvcache_read_forward(out, w, ov, os, va, tau, B, k, dv);
    double L = 0; for (int i = 0; i < B*dv; i++) L += (double)out[i] * dout[i];
    free(ok); free(ov); free(os); free(w); free(out); free(va);
    return L;
}

Test(kvcache, read_gradient_matches_finite_differences) {
    int B = 2, C = 6, dk = 4, dv = 3, k = 4; float tau = 0.5f;
    tm_kvcache_state *s = make(dk, dv, C, B);
    tm_rng r; tm_rng_seed(&r, 5, 0);
    float kw[8], vw[6];
    for (int t = 0; t < 5; t++) {
        tm_rng_fill_normal(&r, kw, B*dk, 0, 1); tm_rng_fill_normal(&r, vw, B*dv, 0, 1);
        cr_assert_eq(tm_kvcache_write(s, kw, vw), TM_OK);
    }
    float q[8], dout[6]; tm_rng_fill_normal(&r, q, B*dk, 0, 1); tm_rng_fill_normal(&r, dout, B*dv, 0, 1);
    float ok[32], ov[24], os[8], w[8], out[6]; int va[8];
    cr_assert_eq(tm_kvcache_retrieve(ok, ov, os, va, s, q, k), TM_OK);
    tm_kvcache_read_forward(out, w, ov, os, va, tau, B, k, dv);
    float dq[8] = {0};
    tm_kvcache_read_backward(dq, dout, q, ok, ov, os, w, va, tau, B, k, dk, dv);
    for (int i = 0; i < B*dk; i++) {
        double h = 1e-3; float qp[8], qm[8];
        memcpy(qp, q, sizeof q); memcpy(qm, q, sizeof q);
        qp[i] += (float)h; qm[i] -= (float)h;
        double hp = (double)qp[i] - q[i], hm = (double)q[i] - qm[i];
        double num = (read_loss(s, qp, dout, B, k, dk, dv, tau) - read_loss(s, qm, dout, B, k, dk, dv, tau)) / (hp + hm);
        double rel = fabs(num - dq[i]) / fmax(1e-2, fabs(num) + fabs(dq[i]));
        cr_assert_lt(rel, 1e-3, "dq[%d]: analytic %g numeric %g", i, (double)dq[i], num);
    }
    tm_kvcache_state_free(s);
}

Test(kvcache, bad_input_leaves_state_unchanged) {
    tm_kvcache_state *s = make(2, 2, 4, 2);
    float k[4] = {1, 2, 3, 4}, v[4] = {1, 1, 1, 1};
    cr_assert_eq(tm_kvcache_write(s, k, v), TM_OK);
    size_t nk = sizeof(float) * 2 * 4 * 2;
    float *keys0 = malloc(nk); memcpy(keys0, s->keys, nk);
    int count0[2] = {s->count[0], s->count[1]}, head0[2] = {s->head[0], s->head[1]};
    float bad[4] = {1, 2, NAN, 4};
    cr_assert_eq(tm_kvcache_write(s, bad, v), TM_ENUMERIC);
    cr_assert_eq(tm_kvcache_write(s, k, bad), TM_ENUMERIC);
    float ok[16], ov[16], os[8]; int va[8];
    cr_assert_eq(tm_kvcache_retrieve(ok, ov, os, va, s, bad, 1), TM_ENUMERIC);
    cr_assert_eq(tm_kvcache_retrieve(ok, ov, os, va, s, k, 0), TM_EINVAL);
    cr_assert_eq(memcmp(keys0, s->keys, nk), 0);
    for (int b = 0; b < 2; b++) { cr_assert_eq(s->count[b], count0[b]); cr_assert_eq(s->head[b], head0[b]); }
    tm_kvcache_config c = tm_kvcache_config_default(2, 2);
    c.capacity = 0; tm_kvcache_state *t = NULL;
    cr_assert_eq(tm_kvcache_state_create(&t, &c, 1), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "capacity") != NULL);
    c = tm_kvcache_config_default(2, 2); c.tau = -1.0f;
    cr_assert_eq(tm_kvcache_config_validate(&c), TM_EINVAL);
    cr_assert_null(t);
    free(keys0);
    tm_kvcache_state_free(s);
}

Test(kvcache, stream_bytes_round_trip_and_corrupt_bytes_rejected) {
    tm_kvcache_state *a = make(3, 2, 4, 2), *b = make(3, 2, 4, 2);
    tm_rng r;
    tm_rng_seed(&r, 5, 0);
    for (int t = 0; t < 6; t++) { /* wraps: 6 writes into 4 entries */
        float k[6], v[4];
        tm_rng_fill_normal(&r, k, 6, 0, 1);
        tm_rng_fill_normal(&r, v, 4, 0, 1);
        cr_assert_eq(tm_kvcache_write(a, k, v), TM_OK);
    }
    size_t nb = tm_kvcache_stream_bytes(&a->cfg);
    unsigned char *bytes = malloc(nb);
    tm_kvcache_save_stream(a, 0, bytes);
    cr_assert_eq(tm_kvcache_load_stream(b, 1, bytes), TM_OK, "%s", tm_last_error());
    /* b's stream 1 now answers like a's stream 0. */
    float q[6], ka[24], va_[16], sa[8], kb[24], vb[16], sb[8];
    int fa[8], fb[8];
    tm_rng_fill_normal(&r, q, 3, 0, 1);
    memcpy(q + 3, q, 3 * sizeof(float));
    cr_assert_eq(tm_kvcache_retrieve(ka, va_, sa, fa, a, q, 4), TM_OK);
    cr_assert_eq(tm_kvcache_retrieve(kb, vb, sb, fb, b, q, 4), TM_OK);
    cr_assert_eq(memcmp(ka, kb + 12, 12 * sizeof(float)), 0);
    cr_assert_eq(memcmp(va_, vb + 8, 8 * sizeof(float)), 0);
    cr_assert_eq(memcmp(fa, fb + 4, 4 * sizeof(int)), 0);
    cr_assert_eq(b->clock[1], a->clock[0]);
    /* Copy makes the whole state equal. */
    tm_kvcache_state_copy(b, a);
    cr_assert_eq(memcmp(b->stamp, a->stamp, 8 * sizeof(int64_t)), 0);
    /* A count that disagrees with the stamps, and a NaN key: rejected, b untouched. */
    tm_kvcache_state *c = make(3, 2, 4, 2);
    unsigned char *bad = malloc(nb);
    memcpy(bad, bytes, nb);
    int32_t wrong = 3;
    memcpy(bad + nb - sizeof(int64_t) - 2 * sizeof(int32_t), &wrong, sizeof wrong);
    cr_assert_eq(tm_kvcache_load_stream(c, 0, bad), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "count") != NULL, "%s", tm_last_error());
    memcpy(bad, bytes, nb);
    float nan = NAN;
    memcpy(bad, &nan, sizeof nan);
    cr_assert_eq(tm_kvcache_load_stream(c, 0, bad), TM_ENUMERIC);
    cr_assert_eq(c->count[0], 0);
    cr_assert_eq(c->stamp[0], -1);
    free(bad);
    free(bytes);
    tm_kvcache_state_free(a);
    tm_kvcache_state_free(b);
    tm_kvcache_state_free(c);
}
