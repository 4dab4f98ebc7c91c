/* The MambaDualMem controller: a Mamba backbone whose output h_t is fused,
 * step by step, with a DualTierMiras read (and optionally a LongMemKVCache
 * read). Definition: shared spec controllers.md "MambaDualMem"; memory.md.
 *
 *   h = backbone(x)                         Mamba stack with its final RMSNorm,
 *                                           one parallel scan over the sequence
 *   r_t = miras.read(key = h_t, context = h_t)
 *   [use_kv_cache] r_t += sigmoid(kv_gate(h_t)) * kvcache.read(h_t)
 *   g = sigmoid(W_g [h_t; r_t] + b_g);  f = g * h_t + (1 - g) * r_t
 *   [use_memory_residual] f += sigmoid(MLP(h_t)) * h_t   (MLP d -> d/4 -> 1)
 *   y_t = RMSNorm(f_t)
 *   miras.write(key = h_t, value = f_t, context = h_t); kvcache.write(h_t, f_t)
 * A read at t sees only the writes of steps < t of its own stream.
 *
 * Gradient: writes carry none (spec memory.md), so nothing flows across time
 * through the memory and each step's read backward is independent of the
 * others; but it needs the slots as that read saw them. The forward keeps a
 * copy of the initial memory in the acts, and the backward replays the
 * writes from it in forward time order (writes are deterministic), running
 * each step's read backward on the way. That costs one more write per step
 * instead of a saved memory per step (M x s x 4 floats per stream and step).
 * The backbone's gradient then comes from one stack backward.
 *
 * The acts also record what each step wrote (h_t, f_t): the backward replays
 * exactly those, and tm_controller_acts_freeze_writes makes later forwards
 * replay them too, so a finite-difference check perturbs the reads and not
 * the (gradient-free) writes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "controllers/kinds.h"
#include "memory/kvcache.h"
#include "memory/miras.h"

_Static_assert(sizeof(int) == sizeof(int32_t), "kvcache masks (int) are passed int32_t masks");

typedef struct {
    tm_stack backbone;
    tm_miras miras;
    tm_linear gate;     /* [h; r] 2d -> d, with bias */
    tm_mlp residual;    /* d -> max(1, d/4) -> 1 (use_memory_residual) */
    tm_linear kv_gate;  /* d -> 1 (use_kv_cache) */
    tm_rmsnorm norm_out;
    int d, k;           /* k: the kv cache's top_k */
    int use_residual, use_kv;
    tm_kvcache_config kv;
} dualmem;

typedef struct {
    tm_stack_state bb;
    tm_miras_state mem;
    tm_kvcache_state *kv; /* NULL without the kv cache */
    float *work;          /* step mode: h, one step's slice, y's rstd */
    int32_t *iwork;
} dm_state;

/* One step's saved values for B streams (in the acts, one per t; in the
 * state's workspace for step mode). */
typedef struct {
    float *mact;             /* miras read activations */
    float *r;                /* [B,d] fused read (after the kv term) */
    float *kkeys, *kvals;    /* [B,k,d] retrieved (kv) */
    float *kscores, *kw;     /* [B,k] scores, read weights (kv) */
    float *kvm, *gkv;        /* [B,d] kv read, [B] its gate (kv) */
    float *z;                /* [B,2d] gate input [h; r] */
    float *g;                /* [B,d] gate */
    float *mlp_act, *s;      /* residual MLP acts, [B] sigmoid(MLP(h)) */
    float *f;                /* [B,d] */
    int32_t *kvalid;         /* [B,k] (kv) */
} dm_slice;

typedef struct {
    tm_stack_acts bb;
    int B, T;
    float *buf;
    int32_t *ibuf;
    float *H, *Ht, *Fb, *rstd; /* [B,T,d], [T,B,d], [B,T,d], [B*T] */
    float *slices;             /* T slices */
    int32_t *islices, *start;  /* T int slices, [B,T] starts (all 0 when none) */
    /* backward buffers */
    float *dF, *dH, *dh, *dctx, *dr, *dz, *dg, *du, *dkvm, *dgkv, *df;
    int32_t *col;              /* [B] one time step's starts */
    float *Wk, *Wv;            /* [T,B,d] what each step wrote (key h_t, value f_t) */
    int recorded_T;            /* steps the last unfrozen forward recorded */
    /* Frozen (tm_controller_acts_freeze_writes): the memory each step read in
     * the recorded forward, one snapshot per step, made at freeze time. */
    int frozen, n_snap;
    tm_miras_state *snap;
    tm_kvcache_state **kv_snap;
    tm_miras_state mem0, mem_work;
    tm_kvcache_state *kv0, *kv_work;
} dm_acts;

#define DM(m) ((const dualmem *)(m)->impl)

static size_t mlp_hidden(int d) { return d / 4 > 0 ? (size_t)(d / 4) : 1; }

static size_t slice_floats(const dualmem *dm, int B) {
    size_t d = (size_t)dm->d, b = (size_t)B, k = (size_t)dm->k;
    size_t n = tm_miras_read_act_floats(&dm->miras.cfg, B) + b * d /* r */ + 2 * b * d /* z */ +
               b * d /* g */ + b * d /* f */;
    if (dm->use_kv) n += 2 * b * k * d + 2 * b * k + b * d + b;
    if (dm->use_residual) n += tm_mlp_act_floats(&dm->residual.cfg, B, 1) + b;
    return n;
}

static size_t slice_ints(const dualmem *dm, int B) { return dm->use_kv ? (size_t)B * dm->k : 0; }

static dm_slice slice_at(const dualmem *dm, float *p, int32_t *ip, int B) {
    size_t d = (size_t)dm->d, b = (size_t)B, k = (size_t)dm->k;
    dm_slice s;
    memset(&s, 0, sizeof s);
    s.mact = p, p += tm_miras_read_act_floats(&dm->miras.cfg, B);
    s.r = p, p += b * d;
    s.z = p, p += 2 * b * d;
    s.g = p, p += b * d;
    s.f = p, p += b * d;
    if (dm->use_kv) {
        s.kkeys = p, p += b * k * d;
        s.kvals = p, p += b * k * d;
        s.kscores = p, p += b * k;
        s.kw = p, p += b * k;
        s.kvm = p, p += b * d;
        s.gkv = p, p += b;
        s.kvalid = ip;
    }
    if (dm->use_residual) {
        s.mlp_act = p, p += tm_mlp_act_floats(&dm->residual.cfg, B, 1);
        s.s = p, p += b;
    }
    return s;
}

static tm_status wrap2(tm_tensor *t, float *p, int64_t a, int64_t b) {
    return tm_tensor_wrap(t, p, TM_F32, TM_CPU, 2, (const int64_t[]){a, b});
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* One step of the memory path for B streams: read, fuse, write. h [B,d]. */
static tm_status fuse_forward(tm_ctx *ctx, const dualmem *dm, tm_miras_state *mem,
                              tm_kvcache_state *kv, const dm_slice *sl, const float *h, int B) {
    int d = dm->d;
    TM_TRY(tm_miras_read_forward(&dm->miras, mem, sl->r, NULL, sl->mact, h, h, B));
    tm_tensor th, t1;
    TM_TRY(wrap2(&th, (float *)h, B, d));
    if (dm->use_kv) {
        TM_TRY(tm_kvcache_retrieve(sl->kkeys, sl->kvals, sl->kscores, sl->kvalid, kv, h, dm->k));
        tm_kvcache_read_forward(sl->kvm, sl->kw, sl->kvals, sl->kscores, sl->kvalid, dm->kv.tau, B,
                                dm->k, d);
        TM_TRY(wrap2(&t1, sl->gkv, B, 1));
        TM_TRY(tm_linear_forward(ctx, &dm->kv_gate, &t1, &th));
        for (int b = 0; b < B; b++) {
            sl->gkv[b] = sigmoidf(sl->gkv[b]);
            for (int j = 0; j < d; j++) sl->r[(size_t)b * d + j] += sl->gkv[b] * sl->kvm[(size_t)b * d + j];
        }
    }
    for (int b = 0; b < B; b++) {
        memcpy(sl->z + (size_t)b * 2 * d, h + (size_t)b * d, (size_t)d * sizeof(float));
        memcpy(sl->z + (size_t)b * 2 * d + d, sl->r + (size_t)b * d, (size_t)d * sizeof(float));
    }
    tm_tensor tz, tg;
    TM_TRY(wrap2(&tz, sl->z, B, 2 * d));
    TM_TRY(wrap2(&tg, sl->g, B, d));
    TM_TRY(tm_linear_forward(ctx, &dm->gate, &tg, &tz));
    if (dm->use_residual) {
        tm_tensor ts, tact;
        TM_TRY(wrap2(&ts, sl->s, B, 1));
        TM_TRY(tm_tensor_wrap(&tact, sl->mlp_act, TM_F32, TM_CPU, 1,
                              (const int64_t[]){(int64_t)tm_mlp_act_floats(&dm->residual.cfg, B, 1)}));
        TM_TRY(tm_mlp_forward(ctx, &dm->residual, &ts, &tact, &th));
        for (int b = 0; b < B; b++) sl->s[b] = sigmoidf(sl->s[b]);
    }
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++) {
            size_t i = (size_t)b * d + j;
            float g = sigmoidf(sl->g[i]);
            sl->g[i] = g;
            sl->f[i] = g * h[i] + (1.0f - g) * sl->r[i] + (dm->use_residual ? sl->s[b] * h[i] : 0.0f);
        }
    return TM_OK;
}

/* The writes after step t's read (no gradient). */
static tm_status memory_write(const dualmem *dm, tm_miras_state *mem, tm_kvcache_state *kv,
                              const float *h, const float *f, int B) {
    TM_TRY(tm_miras_write(&dm->miras, mem, NULL, h, f, h, B));
    if (dm->use_kv) TM_TRY(tm_kvcache_write(kv, h, f));
    return TM_OK;
}

/* dh += the gradient of step t's fusion and reads given df [B,d]; mem and kv
 * hold the slots the forward read at t. */
static tm_status fuse_backward(tm_ctx *ctx, const dualmem *dm, const tm_miras_state *mem,
                               dm_acts *a, const dm_slice *sl, const float *h, const float *df,
                               float *dh, int B) {
    int d = dm->d;
    size_t n = (size_t)B * d;
    float *dr = a->dr, *dg = a->dg, *dz = a->dz;
    for (int b = 0; b < B; b++) {
        double ds = 0;
        for (int j = 0; j < d; j++) {
            size_t i = (size_t)b * d + j;
            float g = sl->g[i];
            dg[i] = df[i] * (h[i] - sl->r[i]) * g * (1.0f - g); /* through the sigmoid */
            dr[i] = df[i] * (1.0f - g);
            dh[i] += df[i] * (g + (dm->use_residual ? sl->s[b] : 0.0f));
            ds += (double)df[i] * h[i];
        }
        if (dm->use_residual) a->du[b] = (float)ds * sl->s[b] * (1.0f - sl->s[b]);
    }
    tm_tensor th, tdh;
    TM_TRY(wrap2(&th, (float *)h, B, d));
    TM_TRY(wrap2(&tdh, dh, B, d));
    if (dm->use_residual) {
        tm_tensor tdu, tact;
        TM_TRY(wrap2(&tdu, a->du, B, 1));
        TM_TRY(tm_tensor_wrap(&tact, sl->mlp_act, TM_F32, TM_CPU, 1,
                              (const int64_t[]){(int64_t)tm_mlp_act_floats(&dm->residual.cfg, B, 1)}));
        TM_TRY(tm_mlp_backward(ctx, &dm->residual, &tdh, &tdu, &th, &tact));
    }
    memset(dz, 0, 2 * n * sizeof(float));
    tm_tensor tz, tdz, tdg;
    TM_TRY(wrap2(&tz, sl->z, B, 2 * d));
    TM_TRY(wrap2(&tdz, dz, B, 2 * d));
    TM_TRY(wrap2(&tdg, dg, B, d));
    TM_TRY(tm_linear_backward(ctx, &dm->gate, &tdz, &tdg, &tz));
    for (int b = 0; b < B; b++)
        for (int j = 0; j < d; j++) {
            dh[(size_t)b * d + j] += dz[(size_t)b * 2 * d + j];
            dr[(size_t)b * d + j] += dz[(size_t)b * 2 * d + d + j];
        }
    if (dm->use_kv) {
        for (int b = 0; b < B; b++) {
            double dgk = 0;
            for (int j = 0; j < d; j++) {
                size_t i = (size_t)b * d + j;
                dgk += (double)dr[i] * sl->kvm[i];
                a->dkvm[i] = dr[i] * sl->gkv[b];
            }
            a->dgkv[b] = (float)dgk * sl->gkv[b] * (1.0f - sl->gkv[b]);
        }
        tm_tensor tdp;
        TM_TRY(wrap2(&tdp, a->dgkv, B, 1));
        TM_TRY(tm_linear_backward(ctx, &dm->kv_gate, &tdh, &tdp, &th));
        tm_kvcache_read_backward(dh, a->dkvm, h, sl->kkeys, sl->kvals, sl->kscores, sl->kw,
                                 sl->kvalid, dm->kv.tau, B, dm->k, d, d);
    }
    memset(a->dctx, 0, n * sizeof(float));
    TM_TRY(tm_miras_read_backward(&dm->miras, mem, dh, a->dctx, dr, h, h, sl->mact, B));
    for (size_t i = 0; i < n; i++) dh[i] += a->dctx[i];
    return TM_OK;
}

/* ---- model ------------------------------------------------------------- */

static tm_status create(tm_controller *m, uint64_t seed) {
    const tm_controller_config *cfg = &m->cfg;
    dualmem *dm = calloc(1, sizeof *dm);
    if (!dm) return tm_fail(TM_ENOMEM, "controller mamba_dualmem: cannot allocate the model");
    int d = cfg->d_model;
    dm->d = d;
    dm->use_residual = cfg->use_memory_residual;
    dm->use_kv = cfg->use_kv_cache;
    dm->kv = cfg->kv;
    dm->kv.key_dim = dm->kv.value_dim = d;
    dm->k = dm->kv.top_k;
    tm_stack_config sc = tm_controller_stack_config(cfg); /* all Mamba, final norm on */
    tm_miras_config mc = cfg->miras;
    mc.d_model = d;
    tm_status rc = tm_stack_declare(&dm->backbone, &sc, &m->params, "backbone");
    if (rc == TM_OK) rc = tm_miras_declare(&dm->miras, &mc, &m->params, "miras");
    tm_linear_config gc = tm_linear_config_default(2 * d, d);
    if (rc == TM_OK) rc = tm_linear_declare(&dm->gate, &gc, &m->params, "fusion.gate");
    if (rc == TM_OK && dm->use_residual) {
        tm_mlp_config rcfg = tm_mlp_config_default(d);
        rcfg.d_hidden = (int)mlp_hidden(d);
        rcfg.d_out = 1;
        rc = tm_mlp_declare(&dm->residual, &rcfg, &m->params, "fusion.residual");
    }
    if (rc == TM_OK && dm->use_kv) {
        rc = tm_kvcache_config_validate(&dm->kv);
        tm_linear_config kc = tm_linear_config_default(d, 1);
        if (rc == TM_OK) rc = tm_linear_declare(&dm->kv_gate, &kc, &m->params, "fusion.kv_gate");
    }
    tm_rmsnorm_config nc = tm_rmsnorm_config_default(d);
    if (rc == TM_OK) rc = tm_rmsnorm_declare(&dm->norm_out, &nc, &m->params, "norm_out");
    if (rc == TM_OK) rc = tm_params_finalize(&m->params);
    if (rc != TM_OK) {
        tm_miras_free(&dm->miras);
        tm_stack_free(&dm->backbone);
        free(dm);
        return rc;
    }
    tm_stack_bind(&dm->backbone, &m->params);
    tm_miras_bind(&dm->miras, &m->params);
    tm_linear_bind(&dm->gate, &m->params);
    if (dm->use_residual) tm_mlp_bind(&dm->residual, &m->params);
    if (dm->use_kv) tm_linear_bind(&dm->kv_gate, &m->params);
    tm_rmsnorm_bind(&dm->norm_out, &m->params);
    tm_rng rng;
    tm_rng_seed(&rng, seed, 0);
    tm_stack_init(&dm->backbone, &rng);
    tm_miras_init(&dm->miras, &rng);
    tm_linear_init(&dm->gate, &rng);
    if (dm->use_residual) tm_mlp_init(&dm->residual, &rng);
    if (dm->use_kv) tm_linear_init(&dm->kv_gate, &rng);
    tm_rmsnorm_init(&dm->norm_out);
    m->impl = dm;
    return TM_OK;
}

static void destroy(tm_controller *m) {
    dualmem *dm = m->impl;
    if (!dm) return;
    tm_miras_free(&dm->miras);
    tm_stack_free(&dm->backbone);
    free(dm);
    m->impl = NULL;
}

/* ---- state ------------------------------------------------------------- */

/* Step workspace: h and y's input f live in the slice; plus rstd [B]. */
static size_t step_work_floats(const dualmem *dm, int B) {
    return (size_t)B * dm->d + slice_floats(dm, B) + (size_t)B;
}

static void state_free(const tm_controller *m, tm_controller_state *s) {
    dm_state *st = s->impl;
    if (!st) return;
    tm_stack_state_free(&DM(m)->backbone, &st->bb);
    tm_miras_state_free(&st->mem);
    tm_kvcache_state_free(st->kv);
    free(st->work);
    free(st->iwork);
    free(st);
    s->impl = NULL;
}

static tm_status state_create(const tm_controller *m, int B, tm_controller_state *s) {
    const dualmem *dm = DM(m);
    if (B > dm->miras.cfg.max_B)
        return tm_fail(TM_EINVAL,
                       "controller mamba_dualmem: B=%d streams exceed controller.miras.max_B=%d "
                       "(raise it with --set controller.miras.max_B=N)",
                       B, dm->miras.cfg.max_B);
    dm_state *st = calloc(1, sizeof *st);
    if (!st) return tm_fail(TM_ENOMEM, "controller mamba_dualmem: cannot allocate a state");
    s->impl = st;
    s->B = B;
    tm_status rc = tm_stack_state_create(&dm->backbone, B, &st->bb);
    if (rc == TM_OK) rc = tm_miras_state_create(&st->mem, &dm->miras, B);
    if (rc == TM_OK && dm->use_kv) rc = tm_kvcache_state_create(&st->kv, &dm->kv, B);
    if (rc == TM_OK) {
        st->work = calloc(step_work_floats(dm, B), sizeof(float));
        st->iwork = calloc(slice_ints(dm, B) + 1, sizeof(int32_t));
        if (!st->work || !st->iwork) rc = tm_fail(TM_ENOMEM, "controller mamba_dualmem: step workspace");
    }
    if (rc != TM_OK) state_free(m, s);
    return rc;
}

static void state_reset(const tm_controller *m, tm_controller_state *s, const int32_t *mask) {
    dm_state *st = s->impl;
    tm_stack_state_reset(&DM(m)->backbone, &st->bb, mask);
    tm_miras_state_reset(&DM(m)->miras, &st->mem, mask);
    /* kvcache masks are int (asserted the same as int32_t at the top). */
    if (st->kv) tm_kvcache_reset(st->kv, (const int *)mask);
}

static void state_copy(const tm_controller *m, tm_controller_state *dst, const tm_controller_state *src) {
    dm_state *d = dst->impl;
    const dm_state *s = src->impl;
    tm_stack_state_copy(&DM(m)->backbone, &d->bb, &s->bb);
    tm_miras_state_copy(&DM(m)->miras, &d->mem, &s->mem);
    if (s->kv) tm_kvcache_state_copy(d->kv, s->kv);
}

static size_t state_stream_bytes(const tm_controller *m) {
    const dualmem *dm = DM(m);
    return tm_stack_state_stream_bytes(&dm->backbone) + tm_miras_state_stream_bytes(&dm->miras) +
           (dm->use_kv ? tm_kvcache_stream_bytes(&dm->kv) : 0);
}

static void state_save_stream(const tm_controller *m, const tm_controller_state *s, int b, void *dst) {
    const dualmem *dm = DM(m);
    const dm_state *st = s->impl;
    unsigned char *o = dst;
    tm_stack_state_save_stream(&dm->backbone, &st->bb, b, o);
    o += tm_stack_state_stream_bytes(&dm->backbone);
    tm_miras_state_save_stream(&dm->miras, &st->mem, b, o);
    o += tm_miras_state_stream_bytes(&dm->miras);
    if (st->kv) tm_kvcache_save_stream(st->kv, b, o);
}

static tm_status state_check_stream(const tm_controller *m, const void *src) {
    const dualmem *dm = DM(m);
    const unsigned char *in = src;
    TM_TRY(tm_stack_state_check_stream(&dm->backbone, in));
    in += tm_stack_state_stream_bytes(&dm->backbone) + tm_miras_state_stream_bytes(&dm->miras);
    if (dm->use_kv) TM_TRY(tm_kvcache_check_stream(&dm->kv, in));
    return TM_OK;
}

static void state_load_stream(const tm_controller *m, tm_controller_state *s, int b, const void *src) {
    const dualmem *dm = DM(m);
    dm_state *st = s->impl;
    const unsigned char *in = src;
    tm_stack_state_load_stream(&dm->backbone, &st->bb, b, in);
    in += tm_stack_state_stream_bytes(&dm->backbone);
    tm_miras_state_load_stream(&dm->miras, &st->mem, b, in);
    in += tm_miras_state_stream_bytes(&dm->miras);
    if (st->kv) {
        tm_status rc = tm_kvcache_load_stream(st->kv, b, in);
        TM_ASSERT(rc == TM_OK); /* checked by state_check_stream first */
    }
}

/* ---- acts -------------------------------------------------------------- */

static size_t acts_floats(const dualmem *dm, int B, int T) {
    size_t bt = (size_t)B * T, d = (size_t)dm->d;
    size_t n = 3 * bt * d /* H, Ht, Fb */ + bt /* rstd */ + (size_t)T * slice_floats(dm, B);
    n += 2 * bt * d /* dF, dH */ + 3 * (size_t)B * d /* dh, dctx, dr */ + 2 * (size_t)B * d /* dz */ +
         (size_t)B * d /* dg */ + (size_t)B /* du */ + (size_t)B * d /* dkvm */ + (size_t)B /* dgkv */ +
         (size_t)B * d /* df */ + 2 * bt * d /* Wk, Wv */;
    return n;
}

static size_t acts_bytes(const tm_controller *m, int B, int T) {
    const dualmem *dm = DM(m);
    size_t mem = 2 * (size_t)B * tm_miras_state_stream_bytes(&dm->miras);
    if (dm->use_kv) mem += 2 * (size_t)B * tm_kvcache_stream_bytes(&dm->kv);
    return tm_stack_acts_floats(&dm->backbone, B, T) * sizeof(float) + acts_floats(dm, B, T) * sizeof(float) +
           ((size_t)T * slice_ints(dm, B) + (size_t)B * T + (size_t)B) * sizeof(int32_t) + mem;
}

static void free_snapshots(dm_acts *a) {
    for (int t = 0; t < a->n_snap; t++) {
        if (a->snap) tm_miras_state_free(&a->snap[t]);
        if (a->kv_snap) tm_kvcache_state_free(a->kv_snap[t]);
    }
    free(a->snap);
    free(a->kv_snap);
    a->snap = NULL, a->kv_snap = NULL, a->n_snap = 0;
}

static void acts_free(const tm_controller *m, tm_controller_acts *acts) {
    (void)m;
    dm_acts *a = acts->impl;
    if (!a) return;
    free_snapshots(a);
    tm_stack_acts_free(&a->bb);
    tm_miras_state_free(&a->mem0);
    tm_miras_state_free(&a->mem_work);
    tm_kvcache_state_free(a->kv0);
    tm_kvcache_state_free(a->kv_work);
    free(a->buf);
    free(a->ibuf);
    free(a);
    acts->impl = NULL;
}

static tm_status acts_create(const tm_controller *m, int B, int T, tm_controller_acts *acts) {
    const dualmem *dm = DM(m);
    dm_acts *a = calloc(1, sizeof *a);
    if (!a) return tm_fail(TM_ENOMEM, "controller mamba_dualmem: cannot allocate acts");
    acts->impl = a;
    acts->B = B, acts->T = T;
    a->B = B, a->T = T;
    tm_status rc = tm_stack_acts_create(&dm->backbone, B, T, &a->bb);
    if (rc == TM_OK) rc = tm_miras_state_create(&a->mem0, &dm->miras, B);
    if (rc == TM_OK) rc = tm_miras_state_create(&a->mem_work, &dm->miras, B);
    if (rc == TM_OK && dm->use_kv) rc = tm_kvcache_state_create(&a->kv0, &dm->kv, B);
    if (rc == TM_OK && dm->use_kv) rc = tm_kvcache_state_create(&a->kv_work, &dm->kv, B);
    if (rc == TM_OK) {
        a->buf = calloc(acts_floats(dm, B, T), sizeof(float));
        a->ibuf = calloc((size_t)T * slice_ints(dm, B) + (size_t)B * T + (size_t)B, sizeof(int32_t));
        if (!a->buf || !a->ibuf) rc = tm_fail(TM_ENOMEM, "controller mamba_dualmem: acts for B=%d T=%d", B, T);
    }
    if (rc != TM_OK) {
        acts_free(m, acts);
        return rc;
    }
    size_t bt = (size_t)B * T, d = (size_t)dm->d;
    float *p = a->buf;
    a->H = p, p += bt * d;
    a->Ht = p, p += bt * d;
    a->Fb = p, p += bt * d;
    a->rstd = p, p += bt;
    a->slices = p, p += (size_t)T * slice_floats(dm, B);
    a->dF = p, p += bt * d;
    a->dH = p, p += bt * d;
    a->dh = p, p += (size_t)B * d;
    a->dctx = p, p += (size_t)B * d;
    a->dr = p, p += (size_t)B * d;
    a->dz = p, p += 2 * (size_t)B * d;
    a->dg = p, p += (size_t)B * d;
    a->du = p, p += (size_t)B;
    a->dkvm = p, p += (size_t)B * d;
    a->dgkv = p, p += (size_t)B;
    a->df = p, p += (size_t)B * d;
    a->Wk = p, p += bt * d;
    a->Wv = p, p += bt * d;
    TM_ASSERT((size_t)(p - a->buf) == acts_floats(dm, B, T));
    a->islices = a->ibuf;
    a->start = a->ibuf + (size_t)T * slice_ints(dm, B);
    a->col = a->start + (size_t)B * T;
    return TM_OK;
}

static size_t scratch_floats(const tm_controller *m, const tm_ctx *ctx, int B, int T) {
    const dualmem *dm = DM(m);
    size_t n = tm_stack_scratch_floats(&dm->backbone, ctx, B, T);
    if (dm->use_residual) {
        size_t r = tm_mlp_scratch_floats(&dm->residual.cfg, B, 1);
        if (r > n) n = r;
    }
    return n;
}

/* ---- step, forward, backward -------------------------------------------- */

static tm_status step(tm_ctx *ctx, const tm_controller *m, tm_controller_state *s, tm_tensor *y,
                      const tm_tensor *x) {
    const dualmem *dm = DM(m);
    dm_state *st = s->impl;
    int B = s->B, d = dm->d;
    float *h = st->work, *rstd = st->work + (size_t)B * d + slice_floats(dm, B);
    dm_slice sl = slice_at(dm, st->work + (size_t)B * d, st->iwork, B);
    tm_tensor th, tf, tr;
    TM_TRY(wrap2(&th, h, B, d));
    TM_TRY(tm_stack_step(ctx, &dm->backbone, &st->bb, &th, x));
    TM_TRY(fuse_forward(ctx, dm, &st->mem, st->kv, &sl, h, B));
    TM_TRY(memory_write(dm, &st->mem, st->kv, h, sl.f, B));
    TM_TRY(wrap2(&tf, sl.f, B, d));
    TM_TRY(tm_tensor_wrap(&tr, rstd, TM_F32, TM_CPU, 1, (const int64_t[]){B}));
    return tm_rmsnorm_forward(ctx, &dm->norm_out, y, &tr, &tf);
}

static void reset_streams(const dualmem *dm, tm_miras_state *mem, tm_kvcache_state *kv,
                          const int32_t *mask, int B) {
    int any = 0;
    for (int b = 0; b < B; b++) any |= mask[b] != 0;
    if (!any) return;
    tm_miras_state_reset(&dm->miras, mem, mask);
    if (kv) tm_kvcache_reset(kv, (const int *)mask);
}

static tm_status forward(tm_ctx *ctx, const tm_controller *m, tm_tensor *y, tm_controller_acts *acts,
                         tm_controller_state *final, const tm_controller_state *init,
                         const tm_tensor *x, const tm_tensor *start) {
    const dualmem *dm = DM(m);
    dm_acts *a = acts->impl;
    const dm_state *s0 = init->impl;
    dm_state *s1 = final ? final->impl : NULL;
    int B = (int)y->shape[0], T = (int)y->shape[1], d = dm->d;
    if (a->frozen && T > a->recorded_T)
        return tm_fail(TM_ESTATE, "controller mamba_dualmem: frozen writes cover %d steps, forward has %d",
                       a->recorded_T, T);
    if (!a->frozen) a->recorded_T = T;
    /* The memory as the sequence found it, before final (maybe init) moves. */
    tm_miras_state_copy(&dm->miras, &a->mem0, &s0->mem);
    tm_miras_state_copy(&dm->miras, &a->mem_work, &s0->mem);
    if (dm->use_kv) {
        tm_kvcache_state_copy(a->kv0, s0->kv);
        tm_kvcache_state_copy(a->kv_work, s0->kv);
    }
    if (start)
        memcpy(a->start, start->data, (size_t)B * T * sizeof(int32_t));
    else
        memset(a->start, 0, (size_t)B * T * sizeof(int32_t));
    tm_tensor tH;
    TM_TRY(tm_tensor_wrap(&tH, a->H, TM_F32, TM_CPU, 3, (const int64_t[]){B, T, d}));
    TM_TRY(tm_stack_forward(ctx, &dm->backbone, &tH, &a->bb, s1 ? &s1->bb : NULL, &s0->bb, x, start));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            memcpy(a->Ht + ((size_t)t * B + b) * d, a->H + ((size_t)b * T + t) * d, (size_t)d * sizeof(float));
    int32_t *col = a->col;
    tm_status rc = TM_OK;
    for (int t = 0; t < T && rc == TM_OK; t++) {
        if (a->frozen) {
            tm_miras_state_copy(&dm->miras, &a->mem_work, &a->snap[t]);
            if (dm->use_kv) tm_kvcache_state_copy(a->kv_work, a->kv_snap[t]);
        } else {
            for (int b = 0; b < B; b++) col[b] = a->start[(size_t)b * T + t];
            reset_streams(dm, &a->mem_work, a->kv_work, col, B);
        }
        dm_slice sl = slice_at(dm, a->slices + (size_t)t * slice_floats(dm, B),
                               a->islices + (size_t)t * slice_ints(dm, B), B);
        const float *h = a->Ht + (size_t)t * B * d;
        float *wk = a->Wk + (size_t)t * B * d, *wv = a->Wv + (size_t)t * B * d;
        rc = fuse_forward(ctx, dm, &a->mem_work, a->kv_work, &sl, h, B);
        if (rc == TM_OK && !a->frozen) {
            memcpy(wk, h, (size_t)B * d * sizeof(float));
            memcpy(wv, sl.f, (size_t)B * d * sizeof(float));
        }
        if (rc == TM_OK) rc = memory_write(dm, &a->mem_work, a->kv_work, wk, wv, B);
        for (int b = 0; b < B && rc == TM_OK; b++)
            memcpy(a->Fb + ((size_t)b * T + t) * d, sl.f + (size_t)b * d, (size_t)d * sizeof(float));
    }
    TM_TRY(rc);
    if (s1) {
        tm_miras_state_copy(&dm->miras, &s1->mem, &a->mem_work);
        if (dm->use_kv) tm_kvcache_state_copy(s1->kv, a->kv_work);
    }
    tm_tensor tF, tr;
    TM_TRY(tm_tensor_wrap(&tF, a->Fb, TM_F32, TM_CPU, 3, (const int64_t[]){B, T, d}));
    TM_TRY(tm_tensor_wrap(&tr, a->rstd, TM_F32, TM_CPU, 1, (const int64_t[]){(int64_t)B * T}));
    return tm_rmsnorm_forward(ctx, &dm->norm_out, y, &tr, &tF);
}

static tm_status backward(tm_ctx *ctx, const tm_controller *m, tm_tensor *dx, const tm_tensor *dy,
                          const tm_tensor *x, tm_controller_acts *acts) {
    const dualmem *dm = DM(m);
    dm_acts *a = acts->impl;
    int B = (int)dy->shape[0], T = (int)dy->shape[1], d = dm->d;
    size_t bt = (size_t)B * T;
    memset(a->dF, 0, bt * d * sizeof(float));
    memset(a->dH, 0, bt * d * sizeof(float));
    tm_tensor tF, tr, tdF;
    TM_TRY(tm_tensor_wrap(&tF, a->Fb, TM_F32, TM_CPU, 3, (const int64_t[]){B, T, d}));
    TM_TRY(tm_tensor_wrap(&tr, a->rstd, TM_F32, TM_CPU, 1, (const int64_t[]){(int64_t)bt}));
    TM_TRY(tm_tensor_wrap(&tdF, a->dF, TM_F32, TM_CPU, 3, (const int64_t[]){B, T, d}));
    TM_TRY(tm_rmsnorm_backward(ctx, &dm->norm_out, &tdF, dy, &tF, &tr));
    /* Replay the memory from the sequence's start; each step's read
     * backward sees the slots its forward saw. */
    tm_miras_state_copy(&dm->miras, &a->mem_work, &a->mem0);
    if (dm->use_kv) tm_kvcache_state_copy(a->kv_work, a->kv0);
    int32_t *col = a->col;
    float *df = a->df;
    tm_status rc = TM_OK;
    for (int t = 0; t < T && rc == TM_OK; t++) {
        for (int b = 0; b < B; b++) col[b] = a->start[(size_t)b * T + t];
        reset_streams(dm, &a->mem_work, a->kv_work, col, B);
        dm_slice sl = slice_at(dm, a->slices + (size_t)t * slice_floats(dm, B),
                               a->islices + (size_t)t * slice_ints(dm, B), B);
        const float *h = a->Ht + (size_t)t * B * d;
        for (int b = 0; b < B; b++)
            memcpy(df + (size_t)b * d, a->dF + ((size_t)b * T + t) * d, (size_t)d * sizeof(float));
        memset(a->dh, 0, (size_t)B * d * sizeof(float));
        rc = fuse_backward(ctx, dm, &a->mem_work, a, &sl, h, df, a->dh, B);
        if (rc == TM_OK)
            rc = memory_write(dm, &a->mem_work, a->kv_work, a->Wk + (size_t)t * B * d,
                              a->Wv + (size_t)t * B * d, B);
        for (int b = 0; b < B && rc == TM_OK; b++)
            memcpy(a->dH + ((size_t)b * T + t) * d, a->dh + (size_t)b * d, (size_t)d * sizeof(float));
    }
    TM_TRY(rc);
    tm_tensor tdH;
    TM_TRY(tm_tensor_wrap(&tdH, a->dH, TM_F32, TM_CPU, 3, (const int64_t[]){B, T, d}));
    return tm_stack_backward(ctx, &dm->backbone, dx, &tdH, x, &a->bb);
}

/* Test support (see controller.h): replays the recorded writes once from the
 * recorded initial memory, keeping the memory each step read; frozen
 * forwards then read those snapshots, so their slots do not move with the
 * parameters (writes, compression of what is stored, surprise gates and OT
 * choices included). Allocates: not for the training loop. */
static tm_status acts_freeze_writes(const tm_controller *m, tm_controller_acts *acts, int on) {
    const dualmem *dm = DM(m);
    dm_acts *a = acts->impl;
    free_snapshots(a);
    a->frozen = 0;
    if (!on) return TM_OK;
    int B = a->B, T = a->recorded_T, d = dm->d;
    if (T == 0) return tm_fail(TM_ESTATE, "controller mamba_dualmem: freeze_writes before any forward recorded them");
    a->snap = calloc((size_t)T, sizeof *a->snap);
    if (dm->use_kv) a->kv_snap = calloc((size_t)T, sizeof *a->kv_snap);
    if (!a->snap || (dm->use_kv && !a->kv_snap)) {
        free_snapshots(a);
        return tm_fail(TM_ENOMEM, "controller mamba_dualmem: freeze_writes snapshots");
    }
    a->n_snap = T;
    tm_miras_state_copy(&dm->miras, &a->mem_work, &a->mem0);
    if (dm->use_kv) tm_kvcache_state_copy(a->kv_work, a->kv0);
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) a->col[b] = a->start[(size_t)b * T + t];
        reset_streams(dm, &a->mem_work, a->kv_work, a->col, B);
        tm_status rc = tm_miras_state_create(&a->snap[t], &dm->miras, B);
        if (rc == TM_OK && dm->use_kv) rc = tm_kvcache_state_create(&a->kv_snap[t], &dm->kv, B);
        if (rc == TM_OK) {
            tm_miras_state_copy(&dm->miras, &a->snap[t], &a->mem_work);
            if (dm->use_kv) tm_kvcache_state_copy(a->kv_snap[t], a->kv_work);
            rc = memory_write(dm, &a->mem_work, a->kv_work, a->Wk + (size_t)t * B * d,
                              a->Wv + (size_t)t * B * d, B);
        }
        if (rc != TM_OK) {
            free_snapshots(a);
            return rc;
        }
    }
    a->frozen = 1;
    return TM_OK;
}

const tm_controller_vtable tm_controller_mamba_dualmem_vtable = {
    .acts_freeze_writes = acts_freeze_writes,
    .name = "mamba_dualmem",
    .create = create,
    .destroy = destroy,
    .state_create = state_create,
    .state_free = state_free,
    .state_reset = state_reset,
    .state_copy = state_copy,
    .state_stream_bytes = state_stream_bytes,
    .state_save_stream = state_save_stream,
    .state_load_stream = state_load_stream,
    .state_check_stream = state_check_stream,
    .acts_create = acts_create,
    .acts_free = acts_free,
    .acts_bytes = acts_bytes,
    .scratch_floats = scratch_floats,
    .step = step,
    .forward = forward,
    .backward = backward,
};
