/* DualTierMiras: two-tier slot memory per stream (fast and deep tiers,
 * surprise-gated deep writes, optional OT write policy and consolidation).
 * Definition: shared spec memory.md "DualTierMiras"; DESIGN.md model/state
 * split (tm_miras holds parameters, tm_miras_state everything per stream).
 *
 * The read is differentiable with respect to every parameter, the key and the
 * context; slot contents are constants for the gradient (they were written
 * without gradient). So the read's backward needs the state exactly as the
 * forward saw it: a caller that writes between reads (a sequence, as in
 * MambaDualMem) replays its writes from a copy of the initial state during
 * backward, in forward time order. Writes are deterministic, so the replay
 * gives the same slots.
 *
 * Nothing in read/write allocates: per-read activations live in a caller
 * buffer of tm_miras_read_act_floats(cfg, B) floats, and the state owns a
 * scratch for its B streams (read backward, surprise, write, OT plans),
 * sized at state_create. The model is never written: acting (read,
 * surprise, write) may run from several threads at once on one model, each
 * with its own states; read_backward accumulates into the gradient vector
 * the model points at, as every layer's backward does. A state serves one
 * call at a time (read_backward and surprise take it const but use its
 * scratch).
 *
 * Choices the spec leaves open (documented here, tested in test_miras.c):
 *  - W_o is [s, s] with s the slot width (d, or r when compressed), applied
 *    to the concatenated heads before decompression.
 *  - The confidence head reads the uncompressed projected query q (d wide).
 *  - surprise and write take the same optional context as read (the tier mix
 *    uses it); NULL means the context-free mix sigmoid(mix_logit).
 *  - The confidence head's hidden width is max(1, d/4); the context gate has
 *    no bias (mix_logit is its bias).
 *  - Cosines clamp both norms at 1e-6 (TM_MIRAS_COS_EPS in miras_impl.h),
 *    with zero gradient through the clamp.
 *  - Top-k ties: the lower slot index is kept.
 *  - Write order per call: surprise, decay, fast tier, gated deep tier,
 *    consolidation; decay ages only what was stored before the call, so a
 *    slot written once empties after exactly ceil(ln 0.01 / ln rate) further
 *    calls; an emptied slot's contents are zeroed. The ring pointer advances
 *    only when it overwrites (after a fill from empty it points at the
 *    oldest slot).
 *  - The OT write policy's plan (M stored keys and the new one onto the M
 *    slots, uniform masses) is defined in miras_write.c.
 *  - Consolidation: an empty deep slot that receives mass takes its target
 *    exactly with strength 1; filled deep slots keep their strength. */
#ifndef TM_MEMORY_MIRAS_H
#define TM_MEMORY_MIRAS_H

#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "core/rng.h"
#include "core/status.h"
#include "nn/linear.h"

typedef enum { TM_MIRAS_RING = 0, TM_MIRAS_OT } tm_miras_write_policy;

typedef struct {
    int d_model;                 /* d, required */
    int mem_slots;               /* M = 64 */
    int n_heads;                 /* H = 1; s % H == 0 */
    float lr_fast, lr_deep;      /* 1.0, 0.5 */
    float temperature;           /* tau = 0.1 */
    float surprise_threshold;    /* 0.5 */
    int use_decay;               /* 0 */
    float decay_rate;            /* 0.999 */
    int use_sparse_attention;    /* 0 */
    int top_k_retrieval;         /* 8 */
    int use_adaptive_retrieval;  /* 1 */
    int use_query_proj;          /* 1 */
    int use_memory_compression;  /* 0 */
    float compression_ratio;     /* 0.5: r = floor(ratio * d) */
    tm_miras_write_policy write_policy; /* ring */
    int consolidate_every;       /* 0 = off */
    float sinkhorn_eps;          /* 0.05 */
    int sinkhorn_iters;          /* 50 */
    int max_B;                   /* streams a caller plans for (default 64); sizes
                                    nothing here (the scratch is the state's,
                                    sized by its B); MambaDualMem bounds B by it */
} tm_miras_config;

typedef struct {
    tm_miras_config cfg;
    int slot_dim;       /* s: d, or r when compressed */
    int head_dim;       /* s / H */
    tm_linear q_proj;   /* d -> d, with bias (use_query_proj) */
    tm_linear o_proj;   /* s -> s, with bias (H > 1) */
    tm_linear conf1, conf2; /* d -> d/4 (ReLU) -> 1 (sigmoid) (use_adaptive_retrieval) */
    tm_linear ctx_gate; /* d -> 1 */
    tm_linear compress, decompress; /* d -> r, r -> d (use_memory_compression) */
    size_t mix_off;     /* mix_logit, a scalar */
    float *mix_logit, *d_mix_logit;
} tm_miras;

typedef struct {
    int B, M, s;
    /* Each tier: keys [B,M,s], values [B,M,s], strength [B,M] (0 = empty),
     * write pointer [B]. */
    float *fast_keys, *fast_values, *fast_strength;
    float *deep_keys, *deep_values, *deep_strength;
    int32_t *fast_ptr, *deep_ptr;
    int64_t *writes;    /* [B] write steps so far (consolidation cadence) */
    float *work;        /* scratch of read_backward, surprise and write for
                           these B streams; not state: never copied, saved or
                           compared, meaningless between calls */
} tm_miras_state;

tm_miras_config tm_miras_config_default(int d_model);
/* Names the field and value of the first bad setting. */
tm_status tm_miras_config_validate(const tm_miras_config *cfg);

/* Checks cfg; declares <prefix>.q_proj, .o_proj, .conf1, .conf2, .ctx_gate,
 * .compress, .decompress, .mix_logit (those the config enables) in p.
 * tm_miras_free ends it. */
tm_status tm_miras_declare(tm_miras *m, const tm_miras_config *cfg, tm_params *p, const char *prefix);
void tm_miras_bind(tm_miras *m, const tm_params *p);
/* The spec's init: W_q, W_o identity with zero bias; mix_logit ln(0.7/0.3);
 * the other linears PyTorch's nn.Linear default. */
void tm_miras_init(tm_miras *m, tm_rng *rng);
void tm_miras_free(tm_miras *m); /* owns no memory today; NULL-safe */

/* The slots (empty) and the scratch for B streams. */
tm_status tm_miras_state_create(tm_miras_state *s, const tm_miras *m, int B);
void tm_miras_state_free(tm_miras_state *s); /* NULL-safe */
/* Empties the chosen streams (mask[b] != 0; NULL = all). */
void tm_miras_state_reset(const tm_miras *m, tm_miras_state *s, const int32_t *mask);
void tm_miras_state_copy(const tm_miras *m, tm_miras_state *dst, const tm_miras_state *src);
/* One stream's state as plain bytes (for replay): size, save, load. */
size_t tm_miras_state_stream_bytes(const tm_miras *m);
void tm_miras_state_save_stream(const tm_miras *m, const tm_miras_state *s, int b, void *dst);
void tm_miras_state_load_stream(const tm_miras *m, tm_miras_state *s, int b, const void *src);

/* What one read returns besides v (all optional, NULL to skip). */
typedef struct {
    float *v_fast, *v_deep; /* [B,d] each tier's read (0 for an empty tier) */
    float *confidence;      /* [B] c (1 when adaptive retrieval is off) */
    float *mix;             /* [B] m, the fast tier's weight */
    float *weights;         /* [B,2,H,M] attention weights, fast then deep; 0 for
                               empty or dropped slots */
} tm_miras_read_info;

size_t tm_miras_read_act_floats(const tm_miras_config *cfg, int B);

/* v [B,d] = the spec's read of key [B,d] with context [B,d] (or NULL) from
 * s; act (>= read_act_floats) keeps what backward needs. B <= s->B. */
tm_status tm_miras_read_forward(const tm_miras *m, const tm_miras_state *s, float *v,
                                tm_miras_read_info *info, float *act, const float *key,
                                const float *context, int B);
/* Parameter gradients +=, dkey += and dcontext += (each may be NULL). s must
 * hold the slots the forward read; key, context and act as in the forward. */
tm_status tm_miras_read_backward(const tm_miras *m, const tm_miras_state *s, float *dkey,
                                 float *dcontext, const float *dv, const float *key,
                                 const float *context, const float *act, int B);

/* surprise [B] = ||r - value|| / (||value|| + 1e-6), r the tier-mixed read
 * before confidence scaling; 1 for a stream whose memory is empty. */
tm_status tm_miras_surprise(const tm_miras *m, const tm_miras_state *s, float *surprise,
                            const float *key, const float *value, const float *context, int B);

/* The spec's write (no gradient): fast tier always, deep tier gated by
 * surprise (computed first, returned in surprise [B] when not NULL), decay,
 * and every consolidate_every write steps the OT consolidation. NaN/Inf in
 * key or value: TM_ENUMERIC naming the input, state untouched. */
tm_status tm_miras_write(const tm_miras *m, tm_miras_state *s, float *surprise, const float *key,
                         const float *value, const float *context, int B);

/* OT consolidation of the fast tier onto the deep tier for every stream
 * (what write runs every consolidate_every steps; public for tests). */
tm_status tm_miras_consolidate(const tm_miras *m, tm_miras_state *s);

#endif
