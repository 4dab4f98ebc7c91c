/* The Mamba controller: a tm_stack of Mamba-1 blocks. Definition: shared spec
 * controllers.md "Mamba"; stack.h. */
#include "controllers/kinds.h"

static tm_status create(tm_controller *m, uint64_t seed) {
    tm_stack_config sc = tm_controller_stack_config(&m->cfg); /* all layers Mamba */
    return tm_controller_stack_create(m, &sc, seed);
}

const tm_controller_vtable tm_controller_mamba_vtable = {
    .name = "mamba", .create = create, TM_CONTROLLER_STACK_VTABLE_ENTRIES};
