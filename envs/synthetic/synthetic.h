/* The synthetic RL memory tasks (discrete actions, reward on recall):
 * delayed_cue, repeat_previous, repeat_first, count_recall.
 * Definition: shared spec envs.md ("Synthetic memory tasks", RL versions);
 * the POPGym ones follow POPGym (Morad et al. 2023) as each file states. */
#ifndef TM_SYNTHETIC_H
#define TM_SYNTHETIC_H

#include "envs/env.h"

/* Creates the synthetic task `name` (one of tm_synthetic_env_names) with
 * "KEY=VALUE" options; a tm_env_ctor. */
tm_status tm_synthetic_env_create(tm_env *env, const char *name, const char *const *options,
                                  int n_options);
/* The registered names, NULL terminated. */
const char *const *tm_synthetic_env_names(void);

/* One constructor per task (what tm_synthetic_env_create dispatches to). */
tm_status tm_delayed_cue_create(tm_env *env, const char *const *options, int n_options);
tm_status tm_repeat_previous_create(tm_env *env, const char *const *options, int n_options);
tm_status tm_repeat_first_create(tm_env *env, const char *const *options, int n_options);
tm_status tm_count_recall_create(tm_env *env, const char *const *options, int n_options);

#endif
