/* The env interface: a vtable plus the env's own data, with a spec.
 * Definition: shared spec envs.md ("The env interface"); Gymnasium semantics.
 *
 * An env is created by name through the registry (envs/registry.h) or by a
 * family constructor (tm_env_ctor below). Callers use only the tm_env_*
 * functions here; they add the checks every env needs, so an env's own
 * vtable functions stay small:
 *   - tm_env_step rejects an action with NaN/Inf (TM_ENUMERIC) or a
 *     continuous component beyond [low - tol, high + tol] (TM_ERANGE), or a
 *     discrete action outside [0, n) (TM_ERANGE), naming the env and the
 *     action index, before the env sees it: the env's state is unchanged.
 *   - stepping before the first reset or after terminated/truncated without
 *     a reset is TM_ESTATE.
 *   - the time limit: after spec.max_episode_steps steps, truncated = 1
 *     (Gymnasium's TimeLimit wrapper), unless the step also terminated.
 *
 * Continuous actions inside the tolerance band but outside [low, high] are
 * passed to the env unchanged, NOT clipped here: Gymnasium v5 MuJoCo envs
 * hand the raw action to MuJoCo, which clamps ctrl to ctrlrange (ctrllimited)
 * while the control cost uses the raw action; clipping here would change
 * rewards against Gymnasium. The tolerance (default TM_ENV_ACTION_TOLERANCE,
 * option env.action_tolerance) only rejects wildly wrong values.
 *
 * Seeding follows Gymnasium: tm_env_reset(seed) seeds the env's generator
 * and resets; tm_env_reset_next continues the same generator (what an
 * auto-reset does), so one seed fixes a whole sequence of episodes.
 *
 * Options: constructors receive "KEY=VALUE" strings (the "env." prefix of
 * `--set env.KEY=VALUE` already removed). Each env validates its own keys
 * with tm_env_options_check, which names an unknown key and its close
 * matches. The generic keys "action_tolerance" and "max_episode_steps" are
 * taken by the registry before the constructor sees the list. */
#ifndef TM_ENV_H
#define TM_ENV_H

#include <stdint.h>

#include "core/status.h"

#define TM_ENV_NAME_MAX 64
/* Absolute margin beyond [low, high] that counts as "wildly out of range". */
#define TM_ENV_ACTION_TOLERANCE 1e6f

typedef enum { TM_ACTION_CONTINUOUS = 0, TM_ACTION_DISCRETE = 1 } tm_action_kind;

typedef struct {
    int obs_dim;
    tm_action_kind action_kind;
    int act_dim;             /* continuous: components per action; discrete: 1 */
    const float *low, *high; /* continuous: [act_dim] bounds owned by the env */
    int n_actions;           /* discrete: actions are int32 in [0, n_actions) */
    int max_episode_steps;   /* time limit (truncation); 0 = none */
    /* Tasks that define success (spec cli.md: "an episode is a success when
     * its return reaches the task's maximum") set has_success = 1 and the
     * maximum return; 0 (as zero-initialised) for the others. Compare
     * with a small tolerance (1e-4): returns are float sums of fractions. */
    int has_success;
    float success_return;
} tm_env_spec;

/* What a family implements. `self` is the env's own data. */
typedef struct tm_env_vtable {
    /* Seeds the env's generator (called before reset when a seed is given). */
    void (*seed)(void *self, uint64_t seed);
    /* Starts an episode; writes obs[obs_dim]. */
    tm_status (*reset)(void *self, float *obs);
    /* One step. `action` is float[act_dim] or one int32, already checked for
     * finiteness and range by tm_env_step. Writes obs[obs_dim] (the final
     * observation when the episode ends), reward, terminated, and truncated
     * for an env-defined truncation (the time limit is added by tm_env_step). */
    tm_status (*step)(void *self, const void *action, float *obs, float *reward,
                      int *terminated, int *truncated);
    /* Frees self and everything it owns. */
    void (*destroy)(void *self);
} tm_env_vtable;

typedef struct {
    const tm_env_vtable *vt;
    void *self;
    tm_env_spec spec;
    char name[TM_ENV_NAME_MAX]; /* registered name, e.g. "Hopper-P-v5" */
    /* Kept by env.c; read-only for others. */
    float action_tolerance;
    int elapsed_steps; /* steps in the current episode */
    int needs_reset;   /* 1 before the first reset and after an episode ends */
} tm_env;

/* A family constructor: creates the env named `name` (one the family lists)
 * with `n_options` "KEY=VALUE" strings. On success calls tm_env_init. On
 * failure leaves *env without resources and returns an error naming the
 * env and the bad option or file. */
typedef tm_status (*tm_env_ctor)(tm_env *env, const char *name,
                                 const char *const *options, int n_options);

/* For constructors: fills *env (vt, self, a copy of spec, name) and the
 * generic fields with their defaults. Fails on an inconsistent spec. */
tm_status tm_env_init(tm_env *env, const tm_env_vtable *vt, void *self,
                      const tm_env_spec *spec, const char *name);

/* Seeds then resets; writes obs[obs_dim]. */
tm_status tm_env_reset(tm_env *env, uint64_t seed, float *obs);
/* Resets continuing the env's generator (no new seed). */
tm_status tm_env_reset_next(tm_env *env, float *obs);
/* Checks the action (see above), steps, applies the time limit. On error
 * nothing in the env changed. */
tm_status tm_env_step(tm_env *env, const void *action, float *obs, float *reward,
                      int *terminated, int *truncated);
/* Only the action check of tm_env_step (no state change). */
tm_status tm_env_check_action(const tm_env *env, const void *action);
/* Destroys the env's data; a zeroed or already-freed env is a no-op. */
void tm_env_free(tm_env *env);

/* --- option helpers for constructors ("KEY=VALUE" strings) ------------- */

/* Fails (TM_EINVAL) on a string without '=' or a key not in `known` (NULL
 * terminated), naming env_name, the key, and the close matches. */
tm_status tm_env_options_check(const char *env_name, const char *const *options,
                               int n_options, const char *const *known);
/* Looks up `key`; when present parses it into *out (must lie in [lo, hi]),
 * else leaves *out unchanged. A malformed or out-of-range value is TM_EINVAL
 * naming env_name, key and value. The last occurrence of a key wins. */
tm_status tm_env_option_int(int *out, const char *env_name, const char *const *options,
                            int n_options, const char *key, int lo, int hi);
tm_status tm_env_option_float(float *out, const char *env_name, const char *const *options,
                              int n_options, const char *key, float lo, float hi);
/* The value string of `key` (last occurrence) or NULL when absent. */
const char *tm_env_option_get(const char *const *options, int n_options, const char *key);

#endif
