/* The hybrid controller (TransXSSM): a tm_stack whose layer i is attention
 * when i % attn_layer_period == attn_layer_offset, Mamba otherwise.
 * Definition: shared spec controllers.md "Hybrid"; stack.h.
 *
 * Unified RoPE: the Mamba layers rotate B_t and C_t with the attention's
 * theta (tm_mamba_config.rope_bc), so both kinds see one positional frame.
 * Dynamic NTK (rope_dynamic): positions past max_position_embeddings use the
 * scaled base, in the attention layers and, with unified RoPE, in the Mamba
 * layers' rotation too. The nn layers reject either with TM_ENOTIMPL until
 * those features exist there. */
#include "controllers/kinds.h"

static tm_status create(tm_controller *m, uint64_t seed) {
    const tm_controller_config *c = &m->cfg;
    tm_stack_config sc = tm_controller_stack_config(c);
    for (int i = 0; i < sc.n_layers; i++)
        sc.layer_kind[i] = i % c->attn_layer_period == c->attn_layer_offset ? TM_STACK_ATTN : TM_STACK_MAMBA;
    if (c->unified_rope) {
        sc.mamba.rope_bc = 1;
        sc.mamba.rope_theta = c->rope_theta;
    }
    if (c->rope_dynamic) {
        sc.attn.rope_max_pos = c->max_position_embeddings;
        sc.attn.rope_factor = c->rope_factor;
        if (c->unified_rope) {
            sc.mamba.rope_max_pos = c->max_position_embeddings;
            sc.mamba.rope_factor = c->rope_factor;
        }
    }
    return tm_controller_stack_create(m, &sc, seed);
}

const tm_controller_vtable tm_controller_hybrid_vtable = {
    .name = "hybrid", .create = create, TM_CONTROLLER_STACK_VTABLE_ENTRIES};
