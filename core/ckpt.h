/* Model checkpoints: the flat parameter vector, optimizer moments, extra
 * tensors (e.g. normalisation statistics), step counters, rng states and the
 * run's config, in one safetensors file. Definition: shared spec agent.md
 * "Checkpoints"; the file format is core/safetensors.h.
 *
 * A tm_ckpt is a list of bindings: what to write on save and where to put it
 * on load. The caller binds its own memory (nothing is copied until save or
 * load), so the same tm_ckpt serves every save of a run and its resume:
 *
 *     tm_ckpt ck;
 *     tm_ckpt_init(&ck, &model_params);
 *     tm_ckpt_bind_moment(&ck, "adamw.m", opt.m);  // n floats, parallel to params
 *     tm_ckpt_bind_counter(&ck, "step", &step);
 *     tm_ckpt_bind_rng(&ck, "env", &env_rng);
 *     tm_ckpt_set_config(&ck, config_json);
 *     tm_ckpt_save(&ck, "run/ckpt.safetensors");   // atomic
 *     tm_ckpt_load(&ck, "run/ckpt.safetensors");   // all or nothing
 *
 * File layout. Tensors (all F32 unless bound otherwise):
 *   "<param name>"                one per view of the tm_params
 *   "<moment>.<param name>"       one per view per bound moment
 *   "<tensor name>"               each extra tensor, as bound
 * __metadata__ (strings, as safetensors requires):
 *   "format": "transmamba.ckpt", "format_version": "1", "transmamba": version,
 *   "config": the config JSON verbatim, "counter.<name>": decimal int64,
 *   "rng.<name>": 64 hex digits (the 4 xoshiro words, most significant first).
 *
 * Load validates everything before it writes a byte: the format tag, every
 * bound tensor present with the bound dtype and shape, every value of the
 * parameters and moments finite, every counter and rng state well formed,
 * and (unless ignore_unbound is set) no tensor in the file that nothing is
 * bound to. Any violation is an error naming the file and the field, and
 * leaves all bound memory as it was. */
#ifndef TM_CKPT_H
#define TM_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "core/params.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/tensor.h"

#define TM_CKPT_FORMAT "transmamba.ckpt"
#define TM_CKPT_FORMAT_VERSION "1"
#define TM_CKPT_MAX_BINDINGS 32 /* per kind: moments, tensors, counters, rngs */
#define TM_CKPT_NAME_MAX 64

typedef struct { char name[TM_CKPT_NAME_MAX]; float *data; } tm_ckpt_moment;
typedef struct {
    char name[TM_CKPT_NAME_MAX + TM_PARAM_NAME_MAX];
    tm_dtype dtype;
    int ndim;
    int64_t shape[TM_MAX_DIMS];
    void *data;
} tm_ckpt_tensor;
typedef struct { char name[TM_CKPT_NAME_MAX]; int64_t *value; } tm_ckpt_counter;
typedef struct { char name[TM_CKPT_NAME_MAX]; tm_rng *rng; } tm_ckpt_rng;

typedef struct {
    tm_params *params;  /* finalized before save or load */
    tm_ckpt_moment moments[TM_CKPT_MAX_BINDINGS];
    tm_ckpt_tensor tensors[TM_CKPT_MAX_BINDINGS];
    tm_ckpt_counter counters[TM_CKPT_MAX_BINDINGS];
    tm_ckpt_rng rngs[TM_CKPT_MAX_BINDINGS];
    int n_moments, n_tensors, n_counters, n_rngs;
    const char *config_json; /* borrowed; saved under "config" (may be NULL) */
    /* Load only: skip tensors in the file that nothing is bound to (e.g.
     * evaluation, which binds parameters but not the optimizer's moments).
     * Off by default: an unknown tensor usually means a different model. */
    int ignore_unbound;
} tm_ckpt;

/* Names: non-empty, < TM_CKPT_NAME_MAX chars, of [A-Za-z0-9_.-], unique per
 * kind; binding the same memory twice is the caller's business. */
void tm_ckpt_init(tm_ckpt *ck, tm_params *params);
/* A float vector of params->n values parallel to params->data (AdamW m, v). */
tm_status tm_ckpt_bind_moment(tm_ckpt *ck, const char *name, float *data);
/* Any other tensor, saved and checked with this dtype and shape. */
tm_status tm_ckpt_bind_tensor(tm_ckpt *ck, const char *name, tm_dtype dt, int ndim,
                              const int64_t *shape, void *data);
tm_status tm_ckpt_bind_counter(tm_ckpt *ck, const char *name, int64_t *value);
tm_status tm_ckpt_bind_rng(tm_ckpt *ck, const char *name, tm_rng *rng);
void tm_ckpt_set_config(tm_ckpt *ck, const char *config_json);

/* Atomic save (temp file beside path, fsync, rename, fsync the directory);
 * on failure the file at path is untouched. */
tm_status tm_ckpt_save(const tm_ckpt *ck, const char *path);
/* All-or-nothing load into the bound memory (see the header comment). */
tm_status tm_ckpt_load(const tm_ckpt *ck, const char *path);
/* The same from a file image in memory (source names it in messages); the
 * fuzz harness tests/fuzz/fuzz_ckpt.c drives this. */
tm_status tm_ckpt_load_memory(const tm_ckpt *ck, const void *bytes, size_t len,
                              const char *source);
/* Validates path as a transmamba checkpoint and returns a malloc'd copy of
 * its metadata value `key` (e.g. "config", to build the model before
 * loading into it); caller frees. Missing key: TM_EFORMAT. */
tm_status tm_ckpt_read_meta(const char *path, const char *key, char **value);

#endif
