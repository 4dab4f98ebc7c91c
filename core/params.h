/* The flat parameter vector of a model (DESIGN.md principle 3).
 *
 * All parameters of a model live in one contiguous float buffer, gradients in
 * a parallel one. Layers declare named, shaped parameters while the model is
 * built (tm_params_declare returns each one's offset), then one
 * tm_params_finalize allocates both buffers; layers then take pointers with
 * tm_params_at(p, offset). The optimizer, clipping, checkpoints and parameter
 * counting each see one vector plus the list of named views. */
#ifndef TM_PARAMS_H
#define TM_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

#define TM_PARAM_NAME_MAX 96

enum { TM_PARAM_NO_DECAY = 1u << 0 }; /* excluded from AdamW weight decay */

typedef struct {
    char name[TM_PARAM_NAME_MAX]; /* unique, e.g. "layers.0.mamba.A_log" */
    size_t offset;                /* in floats, into data and grad */
    size_t numel;
    int ndim;
    int64_t shape[TM_MAX_DIMS];
    unsigned flags;
} tm_param_view;

typedef struct {
    float *data;          /* n floats, 64-byte aligned; NULL until finalized */
    float *grad;          /* n floats, parallel to data */
    size_t n;
    tm_param_view *views;
    int n_views, cap_views;
    int finalized;
} tm_params;

void tm_params_init(tm_params *p);
/* Declares a parameter; fails on a duplicate or over-long name, a bad shape,
 * or after finalize. The offset is valid for tm_params_at after finalize. */
tm_status tm_params_declare(tm_params *p, const char *name, int ndim, const int64_t *shape,
                            unsigned flags, size_t *offset);
/* Allocates data and grad (zeroed). */
tm_status tm_params_finalize(tm_params *p);
float *tm_params_at(const tm_params *p, size_t offset);
float *tm_params_grad_at(const tm_params *p, size_t offset);
const tm_param_view *tm_params_find(const tm_params *p, const char *name);
/* The view holding float `index` of the vector, or NULL (padding, or past n):
 * turns an index from tm_find_nonfinite into a parameter name. */
const tm_param_view *tm_params_view_at(const tm_params *p, size_t index);
void tm_params_zero_grad(tm_params *p);
/* 1 where weight decay applies, per float (for AdamW); caller frees. */
tm_status tm_params_decay_mask(const tm_params *p, uint8_t **mask);
void tm_params_free(tm_params *p);

#endif
