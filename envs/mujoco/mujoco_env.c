/* The MuJoCo env machinery shared by the nine tasks: names and options,
 * model loading, the frame-skipped step, reset with seeded noise, and the
 * -P/-V observation filters. Definition: mujoco_env.h, shared spec envs.md
 * ("MuJoCo tasks"), Gymnasium's MujocoEnv (mujoco_env.py); the tasks
 * themselves are in tasks.c.
 *
 * Model/data split: each env loads its own mjModel (constant after load)
 * and owns one mjData; nothing is shared, so envs on different threads
 * never touch each other's memory. mj_loadXML runs at creation only;
 * nothing is allocated in reset or step. */
#include "envs/mujoco/mujoco_env.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strsim.h"
#include "envs/mujoco/mj_task.h"

#ifndef TM_SOURCE_DIR
#define TM_SOURCE_DIR "."
#endif
#define DEFAULT_ASSETS_DIR TM_SOURCE_DIR "/envs/mujoco/assets"

enum { VARIANT_FULL = 0, VARIANT_P = 'P', VARIANT_V = 'V' };

#define TASK_NAMES(t) t "-v5", t "-P-v5", t "-V-v5"
static const char *const mujoco_names[] = {
    TASK_NAMES("InvertedPendulum"), TASK_NAMES("InvertedDoublePendulum"),
    TASK_NAMES("Reacher"),          TASK_NAMES("Swimmer"),
    TASK_NAMES("Hopper"),           TASK_NAMES("HalfCheetah"),
    TASK_NAMES("Walker2d"),         TASK_NAMES("Ant"),
    TASK_NAMES("Humanoid"),         NULL,
};

const char *const *tm_mujoco_env_names(void) { return mujoco_names; }

/* "Hopper-P-v5" -> the Hopper task and variant 'P'. 0 when not a task name. */
static int parse_name(const char *name, const tm_mj_task **task, int *variant) {
    for (int t = 0; t < tm_mj_n_tasks; t++) {
        size_t n = strlen(tm_mj_tasks[t].name);
        if (strncmp(name, tm_mj_tasks[t].name, n) != 0) continue;
        const char *rest = name + n;
        *task = &tm_mj_tasks[t];
        if (strcmp(rest, "-v5") == 0)
            *variant = VARIANT_FULL;
        else if (strcmp(rest, "-P-v5") == 0)
            *variant = VARIANT_P;
        else if (strcmp(rest, "-V-v5") == 0)
            *variant = VARIANT_V;
        else
            continue;
        return 1;
    }
    return 0;
}

static tm_status unknown_task(const char *name) {
    int n = 0;
    while (mujoco_names[n]) n++;
    char hint[256];
    tm_suggest_text(hint, sizeof hint, name, "", mujoco_names, n, 3, 1);
    return tm_fail(TM_EINVAL, "env: '%s' is not a MuJoCo task%s", name, hint);
}

static tm_status load_model(mjModel **out, const char *path, const char *env_name) {
    char error[1024] = "";
    mjModel *m = mj_loadXML(path, NULL, error, (int)sizeof error);
    if (!m) return tm_fail(TM_EIO, "env %s: cannot load model %s: %s", env_name, path, error);
    *out = m;
    return TM_OK;
}

/* --- the env ------------------------------------------------------------------ */

static void write_obs(tm_mj_env *e, float *obs) {
    e->task->observe(e, e->full, NULL);
    for (int i = 0; i < e->obs_dim; i++) obs[i] = (float)e->full[e->obs_index[i]];
}

static void mj_env_seed(void *self, uint64_t seed) {
    tm_mj_env *e = self;
    tm_rng_seed(&e->rng, seed, 0);
}

static tm_status mj_env_reset(void *self, float *obs) {
    tm_mj_env *e = self;
    mj_resetData(e->m, e->d);
    e->task->reset_model(e);
    mj_forward(e->m, e->d);
    write_obs(e, obs);
    return TM_OK;
}

/* The warnings MuJoCo raises (and answers by resetting mjData) when the
 * simulation blows up. */
static const int instability_warnings[] = {mjWARN_BADQPOS, mjWARN_BADQVEL, mjWARN_BADQACC};
static const char *const instability_names[] = {"bad qpos", "bad qvel", "bad qacc"};
/* The warnings MuJoCo 2.2 raises when a step needs more contacts or
 * constraint rows than the model's <size nconmax/njmax> allow: it drops the
 * excess and the physics silently diverges, so an env fails instead. */
static const int arena_warnings[] = {mjWARN_CONTACTFULL, mjWARN_CNSTRFULL};
static const char *const arena_names[] = {"nconmax", "njmax"};

static tm_status mj_env_step(void *self, const void *action, float *obs, float *reward,
                             int *terminated, int *truncated) {
    tm_mj_env *e = self;
    const mjModel *m = e->m;
    mjData *d = e->d;
    const float *a = action;
    double xy_before[2];
    e->task->position(e, xy_before);
    /* The raw action: MuJoCo clamps ctrl to ctrlrange itself (see header). */
    for (int i = 0; i < m->nu; i++) d->ctrl[i] = (mjtNum)a[i];
    /* MuJoCo resets mjData (and counts a warning) on a blow-up; the counters
     * are statistics only, so zero them to see this step's. */
    for (int w = 0; w < 3; w++) d->warning[instability_warnings[w]].number = 0;
    for (int w = 0; w < 2; w++) d->warning[arena_warnings[w]].number = 0;
    for (int k = 0; k < e->frame_skip; k++) mj_step(m, d);
    /* cfrc_ext (Ant's and Humanoid's observation and contact cost) is only
     * computed on request, as Gymnasium's _step_mujoco_simulation does
     * (for every task; the others never read it, so they skip the cost). */
    if (e->task->uses_cfrc_ext) mj_rnePostConstraint(m, d);
    for (int w = 0; w < 3; w++)
        if (d->warning[instability_warnings[w]].number > 0)
            return tm_fail(
                TM_ENUMERIC, "env %s: the simulation became unstable (MuJoCo: %s at index %d)",
                e->name, instability_names[w], d->warning[instability_warnings[w]].lastinfo);
    for (int w = 0; w < 2; w++)
        if (d->warning[arena_warnings[w]].number > 0)
            return tm_fail(TM_ENUMERIC,
                           "env %s: a step needed more than the model's %s (%d); raise it in the "
                           "model's <size> element",
                           e->name, arena_names[w], d->warning[arena_warnings[w]].lastinfo);
    double r = 0.0;
    int term = 0;
    e->task->reward(e, a, xy_before, &r, &term);
    write_obs(e, obs);
    *reward = (float)r;
    *terminated = term;
    *truncated = 0; /* the time limit is tm_env_step's (Gymnasium's TimeLimit) */
    return TM_OK;
}

static void mj_env_destroy(void *self) {
    tm_mj_env *e = self;
    if (!e) return;
    if (e->d) mj_deleteData(e->d);
    if (e->m) mj_deleteModel(e->m);
    free(e->full);
    free(e->obs_index);
    free(e->low);
    free(e->high);
    free(e);
}

static const tm_env_vtable mj_vtable = {mj_env_seed, mj_env_reset, mj_env_step, mj_env_destroy};

/* Checks the loaded model has the layout the task's functions index, and
 * bounded controls (the action box is the ctrlrange). */
static tm_status check_model(const tm_mj_env *e, const char *path) {
    const mjModel *m = e->m;
    const tm_mj_task *t = e->task;
    if (m->nq != t->nq || m->nv != t->nv || m->nu != t->nu)
        return tm_fail(TM_EINVAL,
                       "env %s: model %s has nq %d, nv %d, nu %d; the task needs %d, %d, %d",
                       e->name, path, m->nq, m->nv, m->nu, t->nq, t->nv, t->nu);
    for (int i = 0; i < m->nu; i++)
        if (!m->actuator_ctrllimited[i] ||
            !(m->actuator_ctrlrange[2 * i] < m->actuator_ctrlrange[2 * i + 1]))
            return tm_fail(TM_EINVAL,
                           "env %s: model %s: actuator %d must be ctrllimited with low < high",
                           e->name, path, i);
    return TM_OK;
}

/* Sizes the observation: the full (Gymnasium) layout, and the entries the
 * variant keeps. The kinds come from one observe() of the initial state. */
static tm_status plan_obs(tm_mj_env *e, int variant) {
    e->full_dim = e->task->obs_dim(e->m);
    e->full = calloc((size_t)e->full_dim, sizeof *e->full);
    unsigned char *kind = calloc((size_t)e->full_dim, 1);
    e->obs_index = calloc((size_t)e->full_dim, sizeof *e->obs_index);
    if (!e->full || !kind || !e->obs_index) {
        free(kind);
        return tm_fail(TM_ENOMEM, "env %s: out of memory", e->name);
    }
    mj_forward(e->m, e->d);
    e->task->observe(e, e->full, kind);
    e->obs_dim = 0;
    for (int i = 0; i < e->full_dim; i++)
        if (variant == VARIANT_FULL || (variant == VARIANT_P && kind[i] == TM_MJ_POS) ||
            (variant == VARIANT_V && kind[i] == TM_MJ_VEL))
            e->obs_index[e->obs_dim++] = i;
    free(kind);
    return TM_OK;
}

static tm_status build(tm_mj_env *e, const char *path, int variant) {
    TM_TRY(load_model(&e->m, path, e->name));
    TM_TRY(check_model(e, path));
    e->d = mj_makeData(e->m);
    if (!e->d) return tm_fail(TM_ENOMEM, "env %s: mj_makeData failed", e->name);
    const char *missing = "";
    if (e->task->bind(e, &missing))
        return tm_fail(TM_EINVAL, "env %s: model %s has no %s", e->name, path, missing);
    e->dt = e->m->opt.timestep * e->frame_skip;
    TM_TRY(plan_obs(e, variant));
    int nu = e->m->nu;
    e->low = malloc(sizeof *e->low * (size_t)nu);
    e->high = malloc(sizeof *e->high * (size_t)nu);
    if (!e->low || !e->high) return tm_fail(TM_ENOMEM, "env %s: out of memory", e->name);
    for (int i = 0; i < nu; i++) {
        e->low[i] = (float)e->m->actuator_ctrlrange[2 * i];
        e->high[i] = (float)e->m->actuator_ctrlrange[2 * i + 1];
    }
    return TM_OK;
}

tm_status tm_mujoco_env_create(tm_env *env, const char *name, const char *const *options,
                               int n_options) {
    const tm_mj_task *task = NULL;
    int variant = VARIANT_FULL;
    if (!env || !name)
        return tm_fail(TM_EINVAL, "env: tm_mujoco_env_create needs an env and a name");
    if (!parse_name(name, &task, &variant)) return unknown_task(name);

    const char *known[6];
    int n_known = 0;
    known[n_known++] = "model";
    known[n_known++] = "assets_dir";
    known[n_known++] = "frame_skip";
    if (task->reset_noise_scale >= 0) known[n_known++] = "reset_noise_scale";
    if (task->has_health) known[n_known++] = "terminate_when_unhealthy";
    known[n_known] = NULL;
    TM_TRY(tm_env_options_check(name, options, n_options, known));
    int frame_skip = task->frame_skip, terminate = 1;
    float noise = (float)task->reset_noise_scale;
    TM_TRY(tm_env_option_int(&frame_skip, name, options, n_options, "frame_skip", 1, 100000));
    TM_TRY(tm_env_option_float(&noise, name, options, n_options, "reset_noise_scale", 0.0f, 1e3f));
    TM_TRY(
        tm_env_option_int(&terminate, name, options, n_options, "terminate_when_unhealthy", 0, 1));
    const char *model = tm_env_option_get(options, n_options, "model");
    const char *dir = tm_env_option_get(options, n_options, "assets_dir");
    char path[4096];
    if (model)
        snprintf(path, sizeof path, "%s", model);
    else
        snprintf(path, sizeof path, "%s/%s", dir ? dir : DEFAULT_ASSETS_DIR, task->xml);

    tm_mj_env *e = calloc(1, sizeof *e);
    if (!e) return tm_fail(TM_ENOMEM, "env %s: out of memory", name);
    e->task = task;
    e->frame_skip = frame_skip;
    /* The option is float; the default keeps the task's exact double. */
    e->reset_noise_scale = tm_env_option_get(options, n_options, "reset_noise_scale")
                               ? (double)noise
                               : task->reset_noise_scale;
    e->terminate_when_unhealthy = terminate;
    snprintf(e->name, sizeof e->name, "%s", name);
    tm_rng_seed(&e->rng, 0, 0);
    tm_status st = build(e, path, variant);
    if (st != TM_OK) {
        mj_env_destroy(e);
        return st;
    }
    tm_env_spec spec = {.obs_dim = e->obs_dim,
                        .action_kind = TM_ACTION_CONTINUOUS,
                        .act_dim = e->m->nu,
                        .low = e->low,
                        .high = e->high,
                        .max_episode_steps = task->max_episode_steps};
    st = tm_env_init(env, &mj_vtable, e, &spec, name);
    if (st != TM_OK) mj_env_destroy(e);
    return st;
}

tm_status tm_mujoco_task_model(const char *task_name, mjModel **m, int *frame_skip) {
    const tm_mj_task *task = NULL;
    int variant = 0;
    if (!task_name || !m || !frame_skip)
        return tm_fail(TM_EINVAL, "mujoco: task_model needs a task and outputs");
    if (!parse_name(task_name, &task, &variant)) return unknown_task(task_name);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", DEFAULT_ASSETS_DIR, task->xml);
    TM_TRY(load_model(m, path, task_name));
    *frame_skip = task->frame_skip;
    return TM_OK;
}

static tm_mj_env *as_mujoco(const tm_env *env) {
    return env && env->vt == &mj_vtable ? env->self : NULL;
}

const mjModel *tm_mujoco_env_model(const tm_env *env) {
    tm_mj_env *e = as_mujoco(env);
    return e ? e->m : NULL;
}

const mjData *tm_mujoco_env_data(const tm_env *env) {
    tm_mj_env *e = as_mujoco(env);
    return e ? e->d : NULL;
}

tm_status tm_mujoco_env_set_state(tm_env *env, const double *qpos, const double *qvel, float *obs) {
    tm_mj_env *e = as_mujoco(env);
    if (!e) return tm_fail(TM_EINVAL, "env %s: not a MuJoCo env", env ? env->name : "(null)");
    if (env->needs_reset)
        return tm_fail(TM_ESTATE, "env %s: set_state needs a running episode (reset first)",
                       env->name);
    for (int i = 0; i < e->m->nq; i++)
        if (!isfinite(qpos[i]))
            return tm_fail(TM_ENUMERIC, "env %s: qpos[%d] is not finite", env->name, i);
    for (int i = 0; i < e->m->nv; i++)
        if (!isfinite(qvel[i]))
            return tm_fail(TM_ENUMERIC, "env %s: qvel[%d] is not finite", env->name, i);
    memcpy(e->d->qpos, qpos, sizeof *qpos * (size_t)e->m->nq);
    memcpy(e->d->qvel, qvel, sizeof *qvel * (size_t)e->m->nv);
    mj_forward(e->m, e->d);
    write_obs(e, obs);
    return TM_OK;
}
