/* Internal to envs/mujoco: what one MuJoCo task defines (tasks.c) and the
 * env data the shared machinery (mujoco_env.c) keeps. Definition: shared
 * spec envs.md ("MuJoCo tasks") and Gymnasium's <task>_v5.py files. */
#ifndef TM_MJ_TASK_H
#define TM_MJ_TASK_H

#include <mujoco/mujoco.h>

#include "core/rng.h"

/* What an observation entry is, for the -P/-V variants (pomdp-baselines,
 * Ni et al. 2022): a function of the configuration alone (positions, angles,
 * their sines/cosines, com inertias), a velocity (joint or com velocities),
 * or neither (actuator and contact forces), which both variants drop. */
enum { TM_MJ_OTHER = 0, TM_MJ_POS = 1, TM_MJ_VEL = 2 };

typedef struct tm_mj_env tm_mj_env;

typedef struct {
    const char *name;         /* "Hopper": the registered names add "-v5" etc. */
    const char *xml;          /* asset file name */
    int frame_skip;           /* Gymnasium v5 default */
    int max_episode_steps;    /* Gymnasium's registry: 1000, Reacher 50 */
    double reset_noise_scale; /* default; < 0: the task has no such option */
    int has_health;           /* terminate_when_unhealthy applies */
    int nq, nv, nu;           /* the layout the functions below index */
    int uses_cfrc_ext;        /* reads contact forces (mj_rnePostConstraint) */
    /* Full observation size as Gymnasium's, from the model's sizes. */
    int (*obs_dim)(const mjModel *m);
    /* Writes the full observation; when kind is not NULL, also each entry's
     * TM_MJ_* kind. */
    void (*observe)(const tm_mj_env *e, double *obs, unsigned char *kind);
    /* After mj_resetData: draws the initial qpos/qvel (mj_forward follows). */
    void (*reset_model)(tm_mj_env *e);
    /* The planar position the forward reward differentiates (x, y). */
    void (*position)(const tm_mj_env *e, double xy[2]);
    /* After the frame-skipped steps: reward and termination. xy_before is
     * position() before the step; action the raw (unclamped) action. */
    void (*reward)(const tm_mj_env *e, const float *action, const double xy_before[2],
                   double *reward, int *terminated);
    /* Looks up the bodies/sites the task reads (into e->ids); 0 on success,
     * else the name of the missing one is returned through *missing. */
    int (*bind)(tm_mj_env *e, const char **missing);
} tm_mj_task;

struct tm_mj_env {
    const tm_mj_task *task;
    mjModel *m;
    mjData *d;
    tm_rng rng;
    double dt; /* timestep x frame_skip, Gymnasium's dt */
    int frame_skip;
    double reset_noise_scale;
    int terminate_when_unhealthy;
    int ids[4];        /* task-specific body/site ids (bind) */
    int full_dim;      /* Gymnasium's observation size */
    double *full;      /* [full_dim] scratch for the full observation */
    int obs_dim;       /* after -P/-V filtering */
    int *obs_index;    /* [obs_dim] indices into full */
    float *low, *high; /* [nu] action bounds = ctrlrange */
    char name[64];     /* registered name, for messages */
};

extern const tm_mj_task tm_mj_tasks[];
extern const int tm_mj_n_tasks;

#endif
