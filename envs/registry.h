/* The env registry: create any env by its registered name.
 * Definition: shared spec envs.md and cli.md ("Env names": the MuJoCo tasks
 * "Hopper-v5", "Hopper-P-v5", ... and the synthetic RL tasks, each with its
 * options as `--set env.KEY=VALUE`). */
#ifndef TM_REGISTRY_H
#define TM_REGISTRY_H

#include "envs/env.h"

/* Creates env `name` with options "KEY=VALUE" or "env.KEY=VALUE". The keys
 * "action_tolerance" (float >= 0) and "max_episode_steps" (int >= 0, 0 = no
 * time limit) apply to every env and are taken here; the rest go to the
 * env's constructor, which rejects keys it does not know. An unknown name
 * is TM_EINVAL naming it, with the close matches. */
tm_status tm_env_create(tm_env *env, const char *name, const char *const *options, int n_options);

/* Writes up to cap registered names into out (cap may be 0) and returns
 * how many there are. */
int tm_env_names(const char **out, int cap);

#endif
