/* Timings of DualTierMiras and LongMemKVCache against dense same-run
 * floors. Definition: bench_memory.h (sizes, units, what each baseline
 * means). */
#include "bench/bench_memory.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/params.h"
#include "core/rng.h"
#include "memory/kvcache.h"
#include "memory/miras.h"

#define WRITE_BATCHES 96 /* more than M: a cycled key was overwritten before it returns */

static float *normal_floats(tm_rng *r, size_t n, float std) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (p) tm_rng_fill_normal(r, p, (long)n, 0.0f, std);
    return p;
}

/* ---- DualTierMiras ------------------------------------------------------------- */

typedef struct {
    int B, d, M;
    tm_params p;
    tm_miras m;
    tm_miras_state s;
    float *act, *key, *v, *dv, *dkey, *dctx;
    float *wkeys, *wvalues; /* WRITE_BATCHES batches of [B,d] */
    int next;               /* the write batch the next call uses */
    float *q, *w, *r;       /* baselines: [B,d], [M], [d] */
    tm_status st;
} miras_bench;

static void miras_bench_free(miras_bench *x) {
    free(x->act); free(x->key); free(x->v); free(x->dv); free(x->dkey); free(x->dctx);
    free(x->wkeys); free(x->wvalues); free(x->q); free(x->w); free(x->r);
    tm_miras_state_free(&x->s);
    tm_miras_free(&x->m);
    tm_params_free(&x->p);
}

static tm_status miras_bench_make(miras_bench *x, int B, int d, int M) {
    memset(x, 0, sizeof *x);
    x->B = B, x->d = d, x->M = M;
    tm_params_init(&x->p);
    tm_miras_config c = tm_miras_config_default(d);
    c.mem_slots = M;
    c.max_B = B;
    TM_TRY(tm_miras_declare(&x->m, &c, &x->p, "miras"));
    TM_TRY(tm_params_finalize(&x->p));
    tm_miras_bind(&x->m, &x->p);
    tm_rng r;
    tm_rng_seed(&r, 7, 0);
    tm_miras_init(&x->m, &r);
    /* Off the identity init, as after some training. */
    for (size_t i = 0; i < x->p.n; i++) x->p.data[i] += 0.05f * tm_rng_normal(&r);
    TM_TRY(tm_miras_state_create(&x->s, &x->m, B));
    size_t bd = (size_t)B * d, slots = (size_t)B * M * d;
    tm_rng_fill_normal(&r, x->s.fast_keys, (long)slots, 0.0f, 1.0f);
    tm_rng_fill_normal(&r, x->s.fast_values, (long)slots, 0.0f, 1.0f);
    tm_rng_fill_normal(&r, x->s.deep_keys, (long)slots, 0.0f, 1.0f);
    tm_rng_fill_normal(&r, x->s.deep_values, (long)slots, 0.0f, 1.0f);
    for (size_t i = 0; i < (size_t)B * M; i++) x->s.fast_strength[i] = x->s.deep_strength[i] = 1.0f;
    x->act = calloc(tm_miras_read_act_floats(&c, B), sizeof(float));
    x->key = normal_floats(&r, bd, 1.0f);
    x->v = calloc(bd, sizeof(float));
    x->dv = normal_floats(&r, bd, 1.0f);
    x->dkey = calloc(bd, sizeof(float));
    x->dctx = calloc(bd, sizeof(float));
    x->wkeys = normal_floats(&r, WRITE_BATCHES * bd, 1.0f);
    x->wvalues = normal_floats(&r, WRITE_BATCHES * bd, 1.0f);
    x->q = calloc(bd, sizeof(float));
    x->w = normal_floats(&r, (size_t)M, 0.1f);
    x->r = calloc((size_t)d, sizeof(float));
    if (!x->act || !x->key || !x->v || !x->dv || !x->dkey || !x->dctx || !x->wkeys ||
        !x->wvalues || !x->q || !x->w || !x->r)
        return tm_fail(TM_ENOMEM, "bench memory: cannot allocate miras buffers for B %d d %d", B, d);
    return tm_miras_read_forward(&x->m, &x->s, x->v, NULL, x->act, x->key, x->key, B);
}

static void run_read(void *p) {
    miras_bench *x = p;
    tm_status st = tm_miras_read_forward(&x->m, &x->s, x->v, NULL, x->act, x->key, x->key, x->B);
    if (st != TM_OK) x->st = st;
}

static void run_read_backward(void *p) {
    miras_bench *x = p;
    tm_status st = tm_miras_read_backward(&x->m, &x->s, x->dkey, x->dctx, x->dv, x->key, x->key,
                                          x->act, x->B);
    if (st != TM_OK) x->st = st;
}

static void run_write(void *p) {
    miras_bench *x = p;
    size_t off = (size_t)x->next * x->B * x->d;
    x->next = (x->next + 1) % WRITE_BATCHES;
    tm_status st = tm_miras_write(&x->m, &x->s, NULL, x->wkeys + off, x->wvalues + off,
                                  x->wkeys + off, x->B);
    if (st != TM_OK) x->st = st;
}

/* The read's dense floor (bench_memory.h): q = key W_q^T + b_q as one sgemm,
 * then per stream and tier the two matrix-vector products over the slots. */
static void run_read_floor(void *p) {
    miras_bench *x = p;
    int B = x->B, d = x->d, M = x->M;
    const tm_linear *qp = &x->m.q_proj;
    for (int b = 0; b < B; b++) memcpy(x->q + (size_t)b * d, qp->b, (size_t)d * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, d, d, 1.0f, x->key, d, qp->w, d, 1.0f,
                x->q, d);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < 2; t++) {
            size_t kv = (size_t)b * M * d;
            const float *K = (t ? x->s.deep_keys : x->s.fast_keys) + kv;
            const float *V = (t ? x->s.deep_values : x->s.fast_values) + kv;
            cblas_sgemv(CblasRowMajor, CblasNoTrans, M, d, 1.0f, K, d, x->q + (size_t)b * d, 1,
                        0.0f, x->w, 1);
            cblas_sgemv(CblasRowMajor, CblasTrans, M, d, 1.0f, V, d, x->w, 1, 0.0f, x->r, 1);
        }
}

/* The backward's dense floor: per stream and tier, V dr and K^T ds over the
 * slots, then dW_q += dq^T key and dkey = dq W_q over the B streams. */
static void run_backward_floor(void *p) {
    miras_bench *x = p;
    int B = x->B, d = x->d, M = x->M;
    const tm_linear *qp = &x->m.q_proj;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < 2; t++) {
            size_t kv = (size_t)b * M * d;
            const float *K = (t ? x->s.deep_keys : x->s.fast_keys) + kv;
            const float *V = (t ? x->s.deep_values : x->s.fast_values) + kv;
            cblas_sgemv(CblasRowMajor, CblasNoTrans, M, d, 1.0f, V, d, x->dv + (size_t)b * d, 1,
                        0.0f, x->w, 1);
            cblas_sgemv(CblasRowMajor, CblasTrans, M, d, 1.0f, K, d, x->w, 1, t ? 1.0f : 0.0f,
                        x->q + (size_t)b * d, 1);
        }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, B, 1.0f, x->q, d, x->key, d, 1.0f,
                qp->dw, d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, d, d, 1.0f, x->q, d, qp->w, d, 0.0f,
                x->dkey, d);
}

static void fill_row(tm_bench_result *res, const char *op, const char *shape, double ms,
                     double bytes, double gbps, const char *baseline, double base_ms) {
    memset(res, 0, sizeof *res);
    snprintf(res->op, sizeof res->op, "%s", op);
    snprintf(res->device, sizeof res->device, "cpu");
    snprintf(res->shape, sizeof res->shape, "%s", shape);
    res->ms = ms;
    res->achieved = bytes / (ms * 1e-3) / 1e9;
    res->unit = "GB/s";
    res->limit_fraction = gbps > 0 ? res->achieved / gbps : 0.0;
    snprintf(res->baseline, sizeof res->baseline, "%s", baseline);
    res->baseline_ms = base_ms;
    res->ratio = ms > 0 ? base_ms / ms : 0.0;
}

static tm_status bench_miras(tm_ctx *ctx, const tm_bench_opts *o, tm_bench_result *out, int cap,
                             int *n) {
    int B = o->quick ? 4 : 32, d = o->quick ? 16 : 64, M = o->quick ? 16 : 64;
    miras_bench x;
    tm_status st = miras_bench_make(&x, B, d, M);
    if (st != TM_OK) {
        miras_bench_free(&x);
        return st;
    }
    tm_ctx_cpu_enter(ctx);
    double gbps = tm_bench_cpu_gbps_ceiling(o);
    double bytes = 4.0 * B * M * d * sizeof(float); /* keys and values of both tiers */
    char shape[96];
    snprintf(shape, sizeof shape, "B=%d d=%d M=%d H=1", B, d, M);
    static const struct {
        const char *op, *baseline;
        void (*fn)(void *), (*base)(void *);
    } rows[] = {
        {"miras_read", "sgemv floor", run_read, run_read_floor},
        {"miras_backward", "sgemv floor", run_read_backward, run_backward_floor},
        {"miras_write_ring", "sgemv floor", run_write, run_read_floor},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0] && *n < cap && st == TM_OK; i++) {
        double ms, base_ms;
        tm_bench_compare_ms(o, rows[i].fn, &x, rows[i].base, &x, &ms, &base_ms);
        st = x.st;
        if (st == TM_OK)
            fill_row(&out[(*n)++], rows[i].op, shape, ms, bytes, gbps, rows[i].baseline, base_ms);
    }
    miras_bench_free(&x);
    return st;
}

/* ---- LongMemKVCache ------------------------------------------------------------ */

typedef struct {
    int B, dk, dv, k;
    tm_kvcache_state *s;
    float *query, *keys, *values, *scores, *weights, *out, *dots;
    int *valid;
    tm_status st;
} kv_bench;

static void run_kv(void *p) {
    kv_bench *x = p;
    tm_status st = tm_kvcache_retrieve(x->keys, x->values, x->scores, x->valid, x->s, x->query, x->k);
    if (st != TM_OK) x->st = st;
    tm_kvcache_read_forward(x->out, x->weights, x->values, x->scores, x->valid, x->s->cfg.tau,
                            x->B, x->k, x->dv);
}

static void run_kv_floor(void *p) {
    kv_bench *x = p;
    int C = x->s->cfg.capacity;
    for (int b = 0; b < x->B; b++)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, C, x->dk, 1.0f,
                    x->s->keys + (size_t)b * C * x->dk, x->dk, x->query + (size_t)b * x->dk, 1,
                    0.0f, x->dots, 1);
}

static tm_status bench_kv(tm_ctx *ctx, const tm_bench_opts *o, tm_bench_result *out, int cap,
                          int *n) {
    if (*n >= cap) return TM_OK;
    int B = o->quick ? 4 : 32, dk = o->quick ? 16 : 64, C = o->quick ? 256 : 4096, k = 8;
    kv_bench x = {.B = B, .dk = dk, .dv = dk, .k = k, .st = TM_OK};
    tm_kvcache_config c = tm_kvcache_config_default(dk, dk);
    c.capacity = C;
    c.top_k = k;
    tm_status st = tm_kvcache_state_create(&x.s, &c, B);
    tm_rng r;
    tm_rng_seed(&r, 8, 0);
    size_t bd = (size_t)B * dk;
    float *item = normal_floats(&r, 2 * bd, 1.0f);
    x.query = normal_floats(&r, bd, 1.0f);
    x.keys = calloc(bd * k, sizeof(float));
    x.values = calloc(bd * k, sizeof(float));
    x.scores = calloc((size_t)B * k, sizeof(float));
    x.weights = calloc((size_t)B * k, sizeof(float));
    x.valid = calloc((size_t)B * k, sizeof(int));
    x.out = calloc(bd, sizeof(float));
    x.dots = calloc((size_t)C, sizeof(float));
    if (st == TM_OK && (!item || !x.query || !x.keys || !x.values || !x.scores || !x.weights ||
                        !x.valid || !x.out || !x.dots))
        st = tm_fail(TM_ENOMEM, "bench memory: cannot allocate kv cache buffers for C %d", C);
    for (int i = 0; i < C && st == TM_OK; i++) { /* fill every entry */
        tm_rng_fill_normal(&r, item, (long)(2 * bd), 0.0f, 1.0f);
        st = tm_kvcache_write(x.s, item, item + bd);
    }
    if (st == TM_OK) {
        tm_ctx_cpu_enter(ctx);
        double ms, base_ms;
        tm_bench_compare_ms(o, run_kv, &x, run_kv_floor, &x, &ms, &base_ms);
        st = x.st;
        char shape[96];
        snprintf(shape, sizeof shape, "B=%d C=%d dk=dv=%d k=%d", B, C, dk, k);
        if (st == TM_OK)
            fill_row(&out[(*n)++], "kv_retrieve_read", shape, ms,
                     (double)B * C * dk * sizeof(float), tm_bench_cpu_gbps_ceiling(o), "sgemv floor",
                     base_ms);
    }
    free(item); free(x.query); free(x.keys); free(x.values); free(x.scores); free(x.weights);
    free(x.valid); free(x.out); free(x.dots);
    tm_kvcache_state_free(x.s);
    return st;
}

tm_status tm_bench_memory(tm_ctx *ctx, const tm_bench_opts *o, tm_bench_result *out, int cap,
                          int *n) {
    TM_TRY(bench_miras(ctx, o, out, cap, n));
    return bench_kv(ctx, o, out, cap, n);
}
