/* The Transformer controller: a tm_stack of attention blocks (causal
 * attention with RoPE, GQA and a sliding KV window, then an MLP). Definition:
 * shared spec controllers.md "Transformer"; stack.h. */
#include "controllers/kinds.h"

static tm_status create(tm_controller *m, uint64_t seed) {
    tm_stack_config sc = tm_controller_stack_config(&m->cfg);
    for (int i = 0; i < sc.n_layers; i++) sc.layer_kind[i] = TM_STACK_ATTN;
    return tm_controller_stack_create(m, &sc, seed);
}

const tm_controller_vtable tm_controller_transformer_vtable = {
    .name = "transformer", .create = create, TM_CONTROLLER_STACK_VTABLE_ENTRIES};
