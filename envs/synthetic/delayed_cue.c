/* delayed_cue(n_cues, horizon): recall a cue shown once, when asked.
 * Definition: shared spec envs.md ("RL versions"):
 *   observation = [one-hot cue (n_cues), query flag] (dim n_cues + 1);
 *   the cue is shown at t = 0 only (the reset observation), zeros after;
 *   the query flag is 1 in the observation of the last step t = horizon - 1;
 *   actions: n_cues; reward 1 if the action at the last step equals the
 *   cue, else 0; the episode lasts horizon steps and then terminates (a true
 *   end: nothing follows the answer). Chance success is 1/n_cues.
 * Options: n_cues (default 4), horizon (default 20). Success: return 1. */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "envs/synthetic/synthetic.h"

typedef struct {
    int n_cues, horizon;
    int cue, t; /* t: steps taken in this episode */
    tm_rng rng;
} delayed_cue;

static void write_obs(const delayed_cue *e, float *obs) {
    memset(obs, 0, sizeof *obs * (size_t)(e->n_cues + 1));
    if (e->t == 0) obs[e->cue] = 1.0f;
    obs[e->n_cues] = e->t == e->horizon - 1 ? 1.0f : 0.0f;
}

static void dc_seed(void *self, uint64_t seed) {
    delayed_cue *e = self;
    tm_rng_seed(&e->rng, seed, 0);
}

static tm_status dc_reset(void *self, float *obs) {
    delayed_cue *e = self;
    e->cue = (int)tm_rng_below(&e->rng, (uint64_t)e->n_cues);
    e->t = 0;
    write_obs(e, obs);
    return TM_OK;
}

static tm_status dc_step(void *self, const void *action, float *obs, float *reward,
                         int *terminated, int *truncated) {
    delayed_cue *e = self;
    int32_t a;
    memcpy(&a, action, sizeof a);
    *reward = (e->t == e->horizon - 1 && a == e->cue) ? 1.0f : 0.0f;
    e->t++;
    *terminated = e->t >= e->horizon;
    *truncated = 0;
    write_obs(e, obs);
    return TM_OK;
}

static void dc_destroy(void *self) { free(self); }

static const tm_env_vtable dc_vtable = {dc_seed, dc_reset, dc_step, dc_destroy};

tm_status tm_delayed_cue_create(tm_env *env, const char *const *options, int n_options) {
    static const char *const known[] = {"n_cues", "horizon", NULL};
    const char *name = "delayed_cue";
    int n_cues = 4, horizon = 20;
    TM_TRY(tm_env_options_check(name, options, n_options, known));
    TM_TRY(tm_env_option_int(&n_cues, name, options, n_options, "n_cues", 2, 4096));
    TM_TRY(tm_env_option_int(&horizon, name, options, n_options, "horizon", 1, 100000000));
    delayed_cue *e = calloc(1, sizeof *e);
    if (!e) return tm_fail(TM_ENOMEM, "env %s: out of memory", name);
    e->n_cues = n_cues;
    e->horizon = horizon;
    tm_rng_seed(&e->rng, 0, 0);
    tm_env_spec spec = {.obs_dim = n_cues + 1, .action_kind = TM_ACTION_DISCRETE, .act_dim = 1,
                        .n_actions = n_cues, .max_episode_steps = horizon,
                        .has_success = 1, .success_return = 1.0f};
    tm_status st = tm_env_init(env, &dc_vtable, e, &spec, name);
    if (st != TM_OK) free(e);
    return st;
}
