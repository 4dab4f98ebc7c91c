/* The MuJoCo task suite with Gymnasium v5 semantics: InvertedPendulum,
 * InvertedDoublePendulum, Reacher, Swimmer, Hopper, HalfCheetah, Walker2d,
 * Ant, Humanoid, each also as "-P" (positions only) and "-V" (velocities
 * only), registered as "Hopper-v5", "Hopper-P-v5", "Hopper-V-v5", ...
 * Definition: shared spec envs.md ("MuJoCo tasks"); per task, Gymnasium's
 * gymnasium/envs/mujoco/<task>_v5.py (observation, reward terms, healthy
 * ranges, frame skip, reset noise) and the time limits of its registry
 * (1000 steps; Reacher 50). The per-task definitions live in tasks.c, the
 * shared machinery (model loading, frame skip, -P/-V filtering) in
 * mujoco_env.c, the models in envs/mujoco/assets.
 *
 * -P keeps the observation entries that are functions of the configuration
 * alone (joint positions/angles, their sines and cosines, Reacher's target
 * offsets, Humanoid's com inertias), -V the velocities (joint velocities,
 * Humanoid's com velocities); both drop actuator and contact forces (Ant's
 * and Humanoid's cfrc_ext, Humanoid's qfrc_actuator, the double pendulum's
 * constraint force), which are neither. Order is Gymnasium's.
 *
 * Actions: float32 in the actuators' ctrlrange. A component inside the
 * registry's tolerance band but outside [low, high] is passed to MuJoCo
 * unchanged: MuJoCo clamps ctrl to ctrlrange (every actuator here is
 * ctrllimited) while the control cost uses the raw action, exactly as
 * Gymnasium v5 does (it clips nothing either). NaN/Inf and wildly
 * out-of-range actions are rejected by tm_env_step (envs/env.h).
 *
 * Options ("KEY=VALUE"):
 *   model=PATH               the MJCF file (default: <assets_dir>/<task>.xml)
 *   assets_dir=DIR           where the models are (default: the source tree's
 *                            envs/mujoco/assets, TM_SOURCE_DIR at build time)
 *   frame_skip=N             MuJoCo steps per env step (default: Gymnasium's)
 *   reset_noise_scale=X      (not Reacher, whose reset ranges are fixed)
 *   terminate_when_unhealthy=0|1   (Hopper, Walker2d, Ant, Humanoid) */
#ifndef TM_MUJOCO_ENV_H
#define TM_MUJOCO_ENV_H

#include <mujoco/mujoco.h>

#include "envs/env.h"

/* Creates the MuJoCo task `name` (one of tm_mujoco_env_names); a tm_env_ctor.
 * A model that fails to load is TM_EIO naming the file and MuJoCo's message. */
tm_status tm_mujoco_env_create(tm_env *env, const char *name, const char *const *options,
                               int n_options);
/* The registered names (9 tasks x {"", "-P", "-V"}), NULL terminated. */
const char *const *tm_mujoco_env_names(void);

/* For the bench: loads the model of `task` (a registered name; the default
 * asset) into *m (the caller frees it with mj_deleteModel) and gives the
 * task's frame skip, so a bare mj_step loop runs the same physics. */
tm_status tm_mujoco_task_model(const char *task, mjModel **m, int *frame_skip);

/* Test hook (conformance with Gymnasium's fixtures): sets qpos[nq] and
 * qvel[nv] as Gymnasium's MujocoEnv.set_state does (then mj_forward) and
 * writes the observation. The env must have been reset (so an episode is
 * running); its step counter is not changed. */
tm_status tm_mujoco_env_set_state(tm_env *env, const double *qpos, const double *qvel, float *obs);
/* Read access to the env's model and data (NULL for a non-MuJoCo env). */
const mjModel *tm_mujoco_env_model(const tm_env *env);
const mjData *tm_mujoco_env_data(const tm_env *env);

#endif
