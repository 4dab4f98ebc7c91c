/* Placeholder for the MambaDualMem controller (spec controllers.md
 * "MambaDualMem"), written by the lead in controllers/mamba_dualmem.c, which
 * replaces this file. Until then creating one fails loudly. */
#include "controllers/kinds.h"

static tm_status create(tm_controller *m, uint64_t seed) {
    (void)m, (void)seed;
    return tm_fail(TM_ENOTIMPL, "controller mamba_dualmem: not built yet");
}

const tm_controller_vtable tm_controller_mamba_dualmem_vtable = {.name = "mamba_dualmem",
                                                                 .create = create};
