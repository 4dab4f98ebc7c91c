/* The per-kind controller implementations behind controller.h's vtable, and
 * the shared pieces of the kinds that are a plain tm_stack. Internal to
 * controllers/. Definition: controller.h; stack.h.
 *
 * Adding a kind: one file controllers/<kind>.c defining its vtable, one
 * extern line here and one entry in controller.c's table. */
#ifndef TM_CONTROLLERS_KINDS_H
#define TM_CONTROLLERS_KINDS_H

#include "controllers/controller.h"
#include "controllers/stack.h"

extern const tm_controller_vtable tm_controller_transformer_vtable;
extern const tm_controller_vtable tm_controller_mamba_vtable;
extern const tm_controller_vtable tm_controller_mamba_dualmem_vtable;
extern const tm_controller_vtable tm_controller_hybrid_vtable;

/* The stack config every stack kind starts from: input layer from the
 * controller's input kind, final norm on, residual weights as configured,
 * attention, MLP and Mamba layer configs from the controller's fields;
 * every layer Mamba (the caller sets layer_kind). */
tm_stack_config tm_controller_stack_config(const tm_controller_config *cfg);

/* Declares, finalizes, binds and initialises a tm_stack as m->impl. */
tm_status tm_controller_stack_create(tm_controller *m, const tm_stack_config *sc, uint64_t seed);

/* The vtable entries of a controller whose impl is a tm_stack (everything
 * but create). */
#define TM_CONTROLLER_STACK_VTABLE_ENTRIES                                                    \
    .destroy = tm_controller_stack_destroy, .state_create = tm_controller_stack_state_create, \
    .state_free = tm_controller_stack_state_free, .state_reset = tm_controller_stack_state_reset, \
    .state_copy = tm_controller_stack_state_copy,                                             \
    .state_stream_bytes = tm_controller_stack_state_stream_bytes,                             \
    .state_save_stream = tm_controller_stack_state_save_stream,                               \
    .state_load_stream = tm_controller_stack_state_load_stream,                               \
    .state_check_stream = tm_controller_stack_state_check_stream,                             \
    .acts_create = tm_controller_stack_acts_create, .acts_free = tm_controller_stack_acts_free, \
    .acts_bytes = tm_controller_stack_acts_bytes,                                             \
    .scratch_floats = tm_controller_stack_scratch_floats, .step = tm_controller_stack_step,   \
    .forward = tm_controller_stack_forward, .backward = tm_controller_stack_backward

void tm_controller_stack_destroy(tm_controller *m);
tm_status tm_controller_stack_state_create(const tm_controller *m, int B, tm_controller_state *s);
void tm_controller_stack_state_free(const tm_controller *m, tm_controller_state *s);
void tm_controller_stack_state_reset(const tm_controller *m, tm_controller_state *s,
                                     const int32_t *mask);
void tm_controller_stack_state_copy(const tm_controller *m, tm_controller_state *dst,
                                    const tm_controller_state *src);
size_t tm_controller_stack_state_stream_bytes(const tm_controller *m);
void tm_controller_stack_state_save_stream(const tm_controller *m, const tm_controller_state *s,
                                           int b, void *dst);
void tm_controller_stack_state_load_stream(const tm_controller *m, tm_controller_state *s, int b,
                                           const void *src);
tm_status tm_controller_stack_state_check_stream(const tm_controller *m, const void *src);
tm_status tm_controller_stack_acts_create(const tm_controller *m, int B, int T,
                                          tm_controller_acts *a);
void tm_controller_stack_acts_free(const tm_controller *m, tm_controller_acts *a);
size_t tm_controller_stack_acts_bytes(const tm_controller *m, int B, int T);
size_t tm_controller_stack_scratch_floats(const tm_controller *m, const tm_ctx *ctx, int B, int T);
tm_status tm_controller_stack_step(tm_ctx *ctx, const tm_controller *m, tm_controller_state *s,
                                   tm_tensor *y, const tm_tensor *x);
tm_status tm_controller_stack_forward(tm_ctx *ctx, const tm_controller *m, tm_tensor *y,
                                      tm_controller_acts *acts, tm_controller_state *final,
                                      const tm_controller_state *init, const tm_tensor *x,
                                      const tm_tensor *start);
tm_status tm_controller_stack_backward(tm_ctx *ctx, const tm_controller *m, tm_tensor *dx,
                                       const tm_tensor *dy, const tm_tensor *x,
                                       tm_controller_acts *acts);

#endif
