/* The controller (policy core) interface, one for every kind. Definition:
 * shared spec controllers.md "One interface for all"; DESIGN.md principles
 * 1-4 (model/state split, explicit forward/backward, one flat parameter
 * vector, memory planned up front).
 *
 *   tm_controller        configuration + parameters (one tm_params); does not
 *                        change while acting
 *   tm_controller_state  everything per stream (KV windows, conv and SSM
 *                        states, memory slots); zeros = a fresh episode; one
 *                        stream's state saves to / loads from plain bytes
 *                        (replay stores it)
 *   tm_controller_acts   what forward saves for backward, sized for (B, T)
 *
 * step (one input per stream, updating the state) and forward (a [B,T]
 * sequence from any saved state, with episode starts start[b,t] that zero
 * stream b's state before t) agree to 1e-5 relative in fp32
 * (tests/test_controllers.c). Inputs are f32 vectors [.., d_in] (a linear
 * input projection) or i32 token ids (an embedding); outputs are the final
 * RMSNorm's features [.., d_model].
 *
 * Each kind lives in its own file (controllers/<kind>.c) behind the vtable
 * below; this file's functions check arguments and dispatch. */
#ifndef TM_CONTROLLERS_CONTROLLER_H
#define TM_CONTROLLERS_CONTROLLER_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/params.h"
#include "core/status.h"
#include "kernels/ops.h"
#include "memory/kvcache.h"
#include "memory/miras.h"
#include "nn/mlp.h"

typedef enum {
    TM_CONTROLLER_TRANSFORMER = 0,
    TM_CONTROLLER_MAMBA,
    TM_CONTROLLER_MAMBA_DUALMEM,
    TM_CONTROLLER_HYBRID,
    TM_CONTROLLER_KIND_COUNT
} tm_controller_kind;

typedef enum { TM_INPUT_VECTOR = 0, TM_INPUT_TOKENS } tm_input_kind;

typedef struct {
    tm_controller_kind kind;
    int d_model, n_layers;
    tm_input_kind input;
    int d_in;          /* vector inputs: width of x */
    int vocab;         /* token inputs: ids in [0, vocab) */
    float dropout;     /* training only; must be 0 until dropout exists (an error otherwise) */
    /* attention layers (transformer, hybrid) */
    int n_heads, n_kv_heads;
    int context;       /* W: the KV window, 256 */
    tm_mlp_kind mlp;   /* GELU 4d or SwiGLU */
    float rope_theta;  /* 10000 */
    int rope_dynamic;  /* hybrid: dynamic NTK scaling past max_position_embeddings */
    int max_position_embeddings;
    float rope_factor; /* NTK scaling factor */
    /* Mamba layers (mamba, mamba_dualmem, hybrid) */
    int expand, d_state, d_conv, dt_rank; /* 2, 16, 4, 0 = ceil(d/16) */
    /* hybrid */
    int attn_layer_period, attn_layer_offset; /* 8, 7 */
    int unified_rope;      /* rotate Mamba B, C with the attention's RoPE (1) */
    int residual_weights;  /* x <- a x + f(norm x), a init 1 (1) */
    /* mamba_dualmem */
    tm_miras_config miras; /* d_model and max_B follow the controller's */
    int use_memory_residual;
    int use_kv_cache;
    tm_kvcache_config kv;  /* key/value dims follow d_model */
} tm_controller_config;

typedef struct tm_controller_vtable tm_controller_vtable;

typedef struct {
    tm_controller_config cfg;
    tm_params params;
    const tm_controller_vtable *vt;
    void *impl; /* the kind's layer structs (views into params) */
} tm_controller;

typedef struct {
    int B;
    void *impl;
} tm_controller_state;

typedef struct {
    int B, T;
    void *impl;
} tm_controller_acts;

/* What a user sizes a model by (`transmamba info --controller`). */
typedef struct {
    size_t params;             /* trainable floats */
    size_t state_stream_bytes; /* one stream's state */
    size_t acts_bytes;         /* forward activations for (B, T) */
    size_t scratch_bytes;      /* ctx scratch for (B, T) */
    int attn_layers, mamba_layers;
} tm_controller_report;

const char *tm_controller_kind_name(tm_controller_kind k);
/* Kind by name ("transformer", ...); unknown names fail naming the closest. */
tm_status tm_controller_kind_parse(const char *name, tm_controller_kind *out);

/* Defaults of the spec for a kind; vector input of width d_in. */
tm_controller_config tm_controller_config_default(tm_controller_kind kind, int d_in);
tm_status tm_controller_config_validate(const tm_controller_config *cfg);
/* The config table (keys as under "controller." in the run config). */
const tm_config_schema *tm_controller_config_schema(void);

/* Builds, declares, finalizes and initialises the parameters from seed. */
tm_status tm_controller_create(tm_controller *m, const tm_controller_config *cfg, uint64_t seed);
void tm_controller_free(tm_controller *m); /* NULL-safe */

tm_status tm_controller_state_create(const tm_controller *m, int B, tm_controller_state *s);
void tm_controller_state_free(const tm_controller *m, tm_controller_state *s);
/* Zeroes the chosen streams (mask[b] != 0; NULL = all). */
void tm_controller_state_reset(const tm_controller *m, tm_controller_state *s, const int32_t *mask);
/* dst = src (same B). */
void tm_controller_state_copy(const tm_controller *m, tm_controller_state *dst,
                              const tm_controller_state *src);
size_t tm_controller_state_stream_bytes(const tm_controller *m);
tm_status tm_controller_state_save_stream(const tm_controller *m, const tm_controller_state *s,
                                          int b, void *dst);
tm_status tm_controller_state_load_stream(const tm_controller *m, tm_controller_state *s, int b,
                                          const void *src);

tm_status tm_controller_acts_create(const tm_controller *m, int B, int T, tm_controller_acts *a);
void tm_controller_acts_free(const tm_controller *m, tm_controller_acts *a);
/* Floats of ctx scratch step/forward/backward need at (B, T): reserve once. */
size_t tm_controller_scratch_floats(const tm_controller *m, const tm_ctx *ctx, int B, int T);

/* x: f32 [B,d_in] or i32 [B]; y [B,d_model]. Advances s by one input. */
tm_status tm_controller_step(tm_ctx *ctx, const tm_controller *m, tm_controller_state *s,
                             tm_tensor *y, const tm_tensor *x);
/* x: f32 [B,T,d_in] or i32 [B,T]; y [B,T,d_model]; start [B,T] i32 or NULL.
 * Reads init, writes the final state to final (may be init, or NULL). acts
 * made for at least (B, T) keep what backward needs. */
tm_status tm_controller_forward(tm_ctx *ctx, const tm_controller *m, tm_tensor *y,
                                tm_controller_acts *acts, tm_controller_state *final,
                                const tm_controller_state *init, const tm_tensor *x,
                                const tm_tensor *start);
/* Parameter gradients += into m->params.grad; dx += (vector inputs; may be
 * NULL). x as in the forward, acts as it left them. */
tm_status tm_controller_backward(tm_ctx *ctx, const tm_controller *m, tm_tensor *dx,
                                 const tm_tensor *dy, const tm_tensor *x,
                                 tm_controller_acts *acts);

tm_status tm_controller_report_sizes(const tm_controller *m, int B, int T, const tm_ctx *ctx,
                                     tm_controller_report *r);

/* The per-kind implementation (controllers/<kind>.c). */
struct tm_controller_vtable {
    const char *name;
    tm_status (*create)(tm_controller *m, uint64_t seed); /* declare + finalize + init into m->params */
    void (*destroy)(tm_controller *m);
    tm_status (*state_create)(const tm_controller *m, int B, tm_controller_state *s);
    void (*state_free)(const tm_controller *m, tm_controller_state *s);
    void (*state_reset)(const tm_controller *m, tm_controller_state *s, const int32_t *mask);
    void (*state_copy)(const tm_controller *m, tm_controller_state *dst, const tm_controller_state *src);
    size_t (*state_stream_bytes)(const tm_controller *m);
    void (*state_save_stream)(const tm_controller *m, const tm_controller_state *s, int b, void *dst);
    void (*state_load_stream)(const tm_controller *m, tm_controller_state *s, int b, const void *src);
    tm_status (*acts_create)(const tm_controller *m, int B, int T, tm_controller_acts *a);
    void (*acts_free)(const tm_controller *m, tm_controller_acts *a);
    size_t (*acts_bytes)(const tm_controller *m, int B, int T);
    size_t (*scratch_floats)(const tm_controller *m, const tm_ctx *ctx, int B, int T);
    tm_status (*step)(tm_ctx *ctx, const tm_controller *m, tm_controller_state *s, tm_tensor *y,
                      const tm_tensor *x);
    tm_status (*forward)(tm_ctx *ctx, const tm_controller *m, tm_tensor *y, tm_controller_acts *acts,
                         tm_controller_state *final, const tm_controller_state *init,
                         const tm_tensor *x, const tm_tensor *start);
    tm_status (*backward)(tm_ctx *ctx, const tm_controller *m, tm_tensor *dx, const tm_tensor *dy,
                          const tm_tensor *x, tm_controller_acts *acts);
    /* Optional (NULL = none): checks one stream's bytes before a load, so a
     * corrupt replay record fails with a message instead of loading. */
    tm_status (*state_check_stream)(const tm_controller *m, const void *src);
};

#endif
