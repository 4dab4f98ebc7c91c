/* Token embedding: out[..., :] = E[ids[...], :]. Definition: issue 3 item 2;
 * spec controllers.md ("token ids (supervised tasks; an embedding)").
 *
 * E is [vocab, d], one view "<prefix>.weight" into the owner's tm_params.
 * Ids are i32; an id outside [0, vocab) fails with TM_ERANGE naming the id
 * and the vocab (tm_op_embedding). */
#ifndef TM_NN_EMBEDDING_H
#define TM_NN_EMBEDDING_H

#include <stddef.h>

#include "core/params.h"
#include "core/rng.h"
#include "kernels/ops.h"

typedef struct {
    int vocab, d;
    float init_std; /* default 1 (see tm_embedding_init) */
} tm_embedding_config;

typedef struct {
    tm_embedding_config cfg;
    size_t w_off;
    float *w, *dw;
} tm_embedding;

tm_embedding_config tm_embedding_config_default(int vocab, int d);
/* Declares "<prefix>.weight" [vocab, d] (weight decay applies). */
tm_status tm_embedding_declare(tm_embedding *e, const tm_embedding_config *cfg, tm_params *p,
                               const char *prefix);
void tm_embedding_bind(tm_embedding *e, const tm_params *p);
/* E ~ normal(0, init_std). The default std 1 is PyTorch's nn.Embedding
 * default, and suits our stacks: every controller is pre-norm (spec
 * controllers.md), so each layer sees RMSNorm(x) whatever the scale, and a
 * unit-scale token vector keeps the residual stream at the scale RMSNorm
 * produces (GPT-2's 0.02 would let the first residual adds swamp it). */
void tm_embedding_init(tm_embedding *e, tm_rng *rng);

/* ids i32 [...], out f32 [..., d]. */
tm_status tm_embedding_forward(tm_ctx *ctx, const tm_embedding *e, tm_tensor *out,
                               const tm_tensor *ids);
/* dE[ids] += dout (scatter-add). Ids have no gradient. */
tm_status tm_embedding_backward(tm_ctx *ctx, const tm_embedding *e, const tm_tensor *dout,
                                const tm_tensor *ids);

#endif
