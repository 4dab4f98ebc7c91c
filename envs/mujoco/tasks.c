/* The nine MuJoCo tasks: observation, reward terms, termination and reset
 * noise of each, as Gymnasium v5 defines them.
 * Definition: shared spec envs.md ("MuJoCo tasks"); for each task,
 * gymnasium/envs/mujoco/<task>_v5.py with its default arguments (Gymnasium
 * 1.0). Writes qpos/qvel as doubles exactly where Gymnasium does; the
 * observation is computed in double and cast to float32 by mujoco_env.c.
 *
 * Common conventions (Gymnasium's MujocoEnv): init_qpos = qpos0 and
 * init_qvel = 0 (what mj_resetData leaves); dt = timestep x frame_skip; the
 * forward velocity is (position after - position before) / dt; "uniform"
 * noise is U(-scale, scale) added to every qpos/qvel entry, "normal" noise
 * is scale x N(0, 1). Our generator is tm_rng, so a seed does not give
 * Gymnasium's numbers, only its distribution. */
#include <math.h>

#include "envs/mujoco/mj_task.h"

/* --- helpers ---------------------------------------------------------------- */

static double uniform(tm_mj_env *e, double lo, double hi) {
    return lo + (hi - lo) * tm_rng_uniform_f64(&e->rng);
}

static void add_uniform(tm_mj_env *e, double *x, int n, double scale) {
    for (int i = 0; i < n; i++) x[i] += uniform(e, -scale, scale);
}

static void add_normal(tm_mj_env *e, double *x, int n, double scale) {
    for (int i = 0; i < n; i++) x[i] += scale * (double)tm_rng_normal(&e->rng);
}

/* Appends n values with one kind. */
static void put(double *obs, unsigned char *kind, int *k, const double *v, int n, int kd) {
    for (int i = 0; i < n; i++) {
        obs[*k] = v[i];
        if (kind) kind[*k] = (unsigned char)kd;
        (*k)++;
    }
}

static void put_clipped(double *obs, unsigned char *kind, int *k, const double *v, int n,
                        double lim, int kd) {
    for (int i = 0; i < n; i++) {
        double x = v[i] < -lim ? -lim : (v[i] > lim ? lim : v[i]);
        put(obs, kind, k, &x, 1, kd);
    }
}

static double sum_sq_action(const float *a, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)a[i] * (double)a[i];
    return s;
}

static int all_finite(const double *x, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

static void reset_uniform_both(tm_mj_env *e) {
    add_uniform(e, e->d->qpos, e->m->nq, e->reset_noise_scale);
    add_uniform(e, e->d->qvel, e->m->nv, e->reset_noise_scale);
}

static void reset_uniform_qpos_normal_qvel(tm_mj_env *e) {
    add_uniform(e, e->d->qpos, e->m->nq, e->reset_noise_scale);
    add_normal(e, e->d->qvel, e->m->nv, e->reset_noise_scale);
}

static void position_qpos_x(const tm_mj_env *e, double xy[2]) {
    xy[0] = e->d->qpos[0];
    xy[1] = 0.0;
}

static void position_none(const tm_mj_env *e, double xy[2]) {
    (void)e;
    xy[0] = xy[1] = 0.0;
}

static int bind_none(tm_mj_env *e, const char **missing) {
    (void)e;
    (void)missing;
    return 0;
}

/* The planar models' observation: qpos without the first `skip` entries,
 * then qvel (clipped to +-10 where Gymnasium clips it). */
static void observe_planar(const tm_mj_env *e, double *obs, unsigned char *kind, int skip,
                           double vel_clip) {
    const mjModel *m = e->m;
    int k = 0;
    put(obs, kind, &k, e->d->qpos + skip, m->nq - skip, TM_MJ_POS);
    if (vel_clip > 0)
        put_clipped(obs, kind, &k, e->d->qvel, m->nv, vel_clip, TM_MJ_VEL);
    else
        put(obs, kind, &k, e->d->qvel, m->nv, TM_MJ_VEL);
}

/* --- InvertedPendulum: obs [qpos, qvel]; reward 1 while |angle| <= 0.2;
 * terminated when the pole leaves that band (or the state is not finite). */

static int ip_obs_dim(const mjModel *m) { return m->nq + m->nv; }

static void ip_observe(const tm_mj_env *e, double *obs, unsigned char *kind) {
    observe_planar(e, obs, kind, 0, 0.0);
}

static void ip_reward(const tm_mj_env *e, const float *a, const double xy0[2], double *reward,
                      int *terminated) {
    (void)a;
    (void)xy0;
    const mjData *d = e->d;
    int term =
        !all_finite(d->qpos, e->m->nq) || !all_finite(d->qvel, e->m->nv) || fabs(d->qpos[1]) > 0.2;
    *terminated = term;
    *reward = term ? 0.0 : 1.0;
}

/* --- InvertedDoublePendulum: obs [cart x, sin(angles), cos(angles),
 * clip(qvel, 10), clip(qfrc_constraint[0], 10)]; tip = site 0;
 * reward 10 x alive - (0.01 x^2 + (y - 2)^2) - (1e-3 v1^2 + 5e-3 v2^2);
 * terminated when the tip's height y <= 1. */

static int idp_obs_dim(const mjModel *m) { return 1 + 2 * (m->nq - 1) + m->nv + 1; }

static void idp_observe(const tm_mj_env *e, double *obs, unsigned char *kind) {
    const mjModel *m = e->m;
    const mjData *d = e->d;
    int k = 0;
    put(obs, kind, &k, d->qpos, 1, TM_MJ_POS);
    for (int i = 1; i < m->nq; i++) {
        double s = sin(d->qpos[i]);
        put(obs, kind, &k, &s, 1, TM_MJ_POS);
    }
    for (int i = 1; i < m->nq; i++) {
        double c = cos(d->qpos[i]);
        put(obs, kind, &k, &c, 1, TM_MJ_POS);
    }
    put_clipped(obs, kind, &k, d->qvel, m->nv, 10.0, TM_MJ_VEL);
    put_clipped(obs, kind, &k, d->qfrc_constraint, 1, 10.0, TM_MJ_OTHER);
}

static void idp_reward(const tm_mj_env *e, const float *a, const double xy0[2], double *reward,
                       int *terminated) {
    (void)a;
    (void)xy0;
    const mjData *d = e->d;
    double x = d->site_xpos[0], y = d->site_xpos[2];
    int term = y <= 1.0;
    double v1 = d->qvel[1], v2 = d->qvel[2];
    double dist_penalty = 0.01 * x * x + (y - 2.0) * (y - 2.0);
    double vel_penalty = 1e-3 * v1 * v1 + 5e-3 * v2 * v2;
    *terminated = term;
    *reward = (term ? 0.0 : 10.0) - dist_penalty - vel_penalty;
}

/* --- Reacher: obs [cos(arm angles), sin(arm angles), target (x, y),
 * arm velocities, (fingertip - target)[:2]]; reward -|fingertip - target|
 * - |a|^2; never terminates (the 50-step limit truncates). Reset: arm angles
 * U(-0.1, 0.1), target uniform in the disc of radius 0.2 (rejection from
 * the square), arm velocities U(-0.005, 0.005), target velocity 0. */

enum { REACHER_FINGERTIP = 0, REACHER_TARGET = 1 };

static int reacher_bind(tm_mj_env *e, const char **missing) {
    e->ids[REACHER_FINGERTIP] = mj_name2id(e->m, mjOBJ_BODY, "fingertip");
    e->ids[REACHER_TARGET] = mj_name2id(e->m, mjOBJ_BODY, "target");
    if (e->ids[REACHER_FINGERTIP] < 0) *missing = "body fingertip";
    if (e->ids[REACHER_TARGET] < 0) *missing = "body target";
    return e->ids[REACHER_FINGERTIP] < 0 || e->ids[REACHER_TARGET] < 0;
}

static int reacher_obs_dim(const mjModel *m) { return 2 + 2 + (m->nq - 2) + 2 + 2; }

static void reacher_observe(const tm_mj_env *e, double *obs, unsigned char *kind) {
    const mjModel *m = e->m;
    const mjData *d = e->d;
    int k = 0;
    double v[2];
    for (int i = 0; i < 2; i++) v[i] = cos(d->qpos[i]);
    put(obs, kind, &k, v, 2, TM_MJ_POS);
    for (int i = 0; i < 2; i++) v[i] = sin(d->qpos[i]);
    put(obs, kind, &k, v, 2, TM_MJ_POS);
    put(obs, kind, &k, d->qpos + 2, m->nq - 2, TM_MJ_POS);
    put(obs, kind, &k, d->qvel, 2, TM_MJ_VEL);
    const double *tip = d->xpos + 3 * e->ids[REACHER_FINGERTIP];
    const double *target = d->xpos + 3 * e->ids[REACHER_TARGET];
    for (int i = 0; i < 2; i++) v[i] = tip[i] - target[i];
    put(obs, kind, &k, v, 2, TM_MJ_POS);
}

static void reacher_reset(tm_mj_env *e) {
    const mjModel *m = e->m;
    mjData *d = e->d;
    add_uniform(e, d->qpos, m->nq, 0.1);
    double goal[2];
    do {
        goal[0] = uniform(e, -0.2, 0.2);
        goal[1] = uniform(e, -0.2, 0.2);
    } while (!(sqrt(goal[0] * goal[0] + goal[1] * goal[1]) < 0.2));
    d->qpos[m->nq - 2] = goal[0];
    d->qpos[m->nq - 1] = goal[1];
    add_uniform(e, d->qvel, m->nv, 0.005);
    d->qvel[m->nv - 2] = 0.0;
    d->qvel[m->nv - 1] = 0.0;
}

static void reacher_reward(const tm_mj_env *e, const float *a, const double xy0[2], double *reward,
                           int *terminated) {
    (void)xy0;
    const double *tip = e->d->xpos + 3 * e->ids[REACHER_FINGERTIP];
    const double *target = e->d->xpos + 3 * e->ids[REACHER_TARGET];
    double dist2 = 0.0;
    for (int i = 0; i < 3; i++) dist2 += (tip[i] - target[i]) * (tip[i] - target[i]);
    *reward = -sqrt(dist2) - sum_sq_action(a, e->m->nu);
    *terminated = 0;
}

/* --- Swimmer: obs [qpos[2:], qvel]; reward x velocity - 1e-4 |a|^2 (x, y
 * = qpos[0:2]); never terminates. */

static int swimmer_obs_dim(const mjModel *m) { return m->nq - 2 + m->nv; }

static void swimmer_observe(const tm_mj_env *e, double *obs, unsigned char *kind) {
    observe_planar(e, obs, kind, 2, 0.0);
}

static void swimmer_position(const tm_mj_env *e, double xy[2]) {
    xy[0] = e->d->qpos[0];
    xy[1] = e->d->qpos[1];
}

static void swimmer_reward(const tm_mj_env *e, const float *a, const double xy0[2], double *reward,
                           int *terminated) {
    double x_velocity = (e->d->qpos[0] - xy0[0]) / e->dt;
    *reward = x_velocity - 1e-4 * sum_sq_action(a, e->m->nu);
    *terminated = 0;
}

/* Hopper, HalfCheetah, Walker2d: the x position is left out. */
static int x_skipped_obs_dim(const mjModel *m) { return m->nq - 1 + m->nv; }

/* --- Hopper: obs [qpos[1:], clip(qvel, 10)]; reward x velocity + 1 x
 * healthy - 1e-3 |a|^2. Healthy: every entry of [qpos[2:], qvel] in
 * (-100, 100), height qpos[1] > 0.7, torso angle qpos[2] in (-0.2, 0.2),
 * all strict as Gymnasium compares. */

static void hopper_observe(const tm_mj_env *e, double *obs, unsigned char *kind) {
    observe_planar(e, obs, kind, 1, 10.0);
}

static int hopper_healthy(const tm_mj_env *e) {
    const mjModel *m = e->m;
    const mjData *d = e->d;
    for (int i = 2; i < m->nq; i++)
        if (!(d->qpos[i] > -100.0 && d->qpos[i] < 100.0)) return 0;
    for (int i = 0; i < m->nv; i++)
        if (!(d->qvel[i] > -100.0 && d->qvel[i] < 100.0)) return 0;
    double z = d->qpos[1], angle = d->qpos[2];
    return z > 0.7 && angle > -0.2 && angle < 0.2;
}

static void hopper_reward(const tm_mj_env *e, const float *a, const double xy0[2], double *reward,
                          int *terminated) {
    int healthy = hopper_healthy(e);
    double x_velocity = (e->d->qpos[0] - xy0[0]) / e->dt;
    *reward = x_velocity + (healthy ? 1.0 : 0.0) - 1e-3 * sum_sq_action(a, e->m->nu);
    *terminated = !healthy && e->terminate_when_unhealthy;
}

/* --- HalfCheetah: obs [qpos[1:], qvel]; reward x velocity - 0.1 |a|^2;
 * never terminates. Reset: qpos uniform, qvel normal (scale 0.1). */

static void cheetah_reward(const tm_mj_env *e, const float *a, const double xy0[2], double *reward,
                           int *terminated) {
    double x_velocity = (e->d->qpos[0] - xy0[0]) / e->dt;
    *reward = x_velocity - 0.1 * sum_sq_action(a, e->m->nu);
    *terminated = 0;
}

static void cheetah_observe(const tm_mj_env *e, double *obs, unsigned char *kind) {
    observe_planar(e, obs, kind, 1, 0.0);
}

/* --- Walker2d: as Hopper with healthy = height in (0.8, 2.0) and torso
 * angle in (-1, 1) (no state bound). */

static void walker_reward(const tm_mj_env *e, const float *a, const double xy0[2], double *reward,
                          int *terminated) {
    const mjData *d = e->d;
    double z = d->qpos[1], angle = d->qpos[2];
    int healthy = z > 0.8 && z < 2.0 && angle > -1.0 && angle < 1.0;
    double x_velocity = (d->qpos[0] - xy0[0]) / e->dt;
    *reward = x_velocity + (healthy ? 1.0 : 0.0) - 1e-3 * sum_sq_action(a, e->m->nu);
    *terminated = !healthy && e->terminate_when_unhealthy;
}

/* --- Ant: obs [qpos[2:], qvel, clip(cfrc_ext[1:], -1, 1)] (v5 includes
 * the contact forces by default: 27 + 78 = 105); reward x velocity of the
 * torso body (xpos) + 1 x healthy - 0.5 |a|^2 - 5e-4 |clip(cfrc_ext)|^2
 * (all bodies, the world's included, as Gymnasium sums them). Healthy: the
 * state is finite and the torso height qpos[2] in [0.2, 1.0] (inclusive).
 * Reset: qpos uniform, qvel normal (scale 0.1). */

enum { ANT_TORSO = 0 };

static int ant_bind(tm_mj_env *e, const char **missing) {
    /* Gymnasium's main_body = 1: the first body after the world. */
    e->ids[ANT_TORSO] = 1;
    if (e->m->nbody < 2) *missing = "body 1 (torso)";
    return e->m->nbody < 2;
}

static int ant_obs_dim(const mjModel *m) { return m->nq - 2 + m->nv + 6 * (m->nbody - 1); }

static void ant_observe(const tm_mj_env *e, double *obs, unsigned char *kind) {
    const mjModel *m = e->m;
    int k = 0;
    put(obs, kind, &k, e->d->qpos + 2, m->nq - 2, TM_MJ_POS);
    put(obs, kind, &k, e->d->qvel, m->nv, TM_MJ_VEL);
    put_clipped(obs, kind, &k, e->d->cfrc_ext + 6, 6 * (m->nbody - 1), 1.0, TM_MJ_OTHER);
}

static void ant_position(const tm_mj_env *e, double xy[2]) {
    const double *p = e->d->xpos + 3 * e->ids[ANT_TORSO];
    xy[0] = p[0];
    xy[1] = p[1];
}

static void ant_reward(const tm_mj_env *e, const float *a, const double xy0[2], double *reward,
                       int *terminated) {
    const mjModel *m = e->m;
    const mjData *d = e->d;
    double xy[2];
    ant_position(e, xy);
    double x_velocity = (xy[0] - xy0[0]) / e->dt;
    double contact = 0.0;
    for (int i = 0; i < 6 * m->nbody; i++) {
        double f = d->cfrc_ext[i] < -1.0 ? -1.0 : (d->cfrc_ext[i] > 1.0 ? 1.0 : d->cfrc_ext[i]);
        contact += f * f;
    }
    double z = d->qpos[2];
    int healthy = all_finite(d->qpos, m->nq) && all_finite(d->qvel, m->nv) && z >= 0.2 && z <= 1.0;
    *reward = x_velocity + (healthy ? 1.0 : 0.0) - 0.5 * sum_sq_action(a, m->nu) - 5e-4 * contact;
    *terminated = !healthy && e->terminate_when_unhealthy;
}

/* --- Humanoid: obs [qpos[2:], qvel, cinert[1:], cvel[1:],
 * qfrc_actuator[6:], cfrc_ext[1:]] (22 + 23 + 130 + 78 + 17 + 78 = 348);
 * reward 1.25 x (x velocity of the centre of mass, from xipos weighted by
 * body mass) + 5 x healthy - 0.1 |ctrl|^2 - min(5e-7 |cfrc_ext|^2, 10).
 * Healthy: height qpos[2] in (1, 2). Gymnasium's control cost reads
 * data.ctrl, which holds the raw action (MuJoCo clamps a copy), so it is
 * the raw action here too. */

static int humanoid_obs_dim(const mjModel *m) {
    return m->nq - 2 + m->nv + 10 * (m->nbody - 1) + 6 * (m->nbody - 1) + (m->nv - 6) +
           6 * (m->nbody - 1);
}

static void humanoid_observe(const tm_mj_env *e, double *obs, unsigned char *kind) {
    const mjModel *m = e->m;
    const mjData *d = e->d;
    int k = 0;
    int nb = m->nbody - 1;
    put(obs, kind, &k, d->qpos + 2, m->nq - 2, TM_MJ_POS);
    put(obs, kind, &k, d->qvel, m->nv, TM_MJ_VEL);
    put(obs, kind, &k, d->cinert + 10, 10 * nb, TM_MJ_POS);
    put(obs, kind, &k, d->cvel + 6, 6 * nb, TM_MJ_VEL);
    put(obs, kind, &k, d->qfrc_actuator + 6, m->nv - 6, TM_MJ_OTHER);
    put(obs, kind, &k, d->cfrc_ext + 6, 6 * nb, TM_MJ_OTHER);
}

static void humanoid_position(const tm_mj_env *e, double xy[2]) {
    const mjModel *m = e->m;
    double mass = 0.0, sx = 0.0, sy = 0.0;
    for (int b = 0; b < m->nbody; b++) {
        mass += m->body_mass[b];
        sx += m->body_mass[b] * e->d->xipos[3 * b];
        sy += m->body_mass[b] * e->d->xipos[3 * b + 1];
    }
    xy[0] = sx / mass;
    xy[1] = sy / mass;
}

static void humanoid_reward(const tm_mj_env *e, const float *a, const double xy0[2], double *reward,
                            int *terminated) {
    (void)a;
    const mjModel *m = e->m;
    const mjData *d = e->d;
    double xy[2];
    humanoid_position(e, xy);
    double x_velocity = (xy[0] - xy0[0]) / e->dt;
    double ctrl = 0.0;
    for (int i = 0; i < m->nu; i++) ctrl += d->ctrl[i] * d->ctrl[i];
    double contact = 0.0;
    for (int i = 0; i < 6 * m->nbody; i++) contact += d->cfrc_ext[i] * d->cfrc_ext[i];
    contact *= 5e-7;
    if (contact > 10.0) contact = 10.0;
    double z = d->qpos[2];
    int healthy = z > 1.0 && z < 2.0;
    *reward = 1.25 * x_velocity + (healthy ? 5.0 : 0.0) - 0.1 * ctrl - contact;
    *terminated = !healthy && e->terminate_when_unhealthy;
}

/* --- the table -------------------------------------------------------------- */

/* Per row: name, asset, frame_skip, time limit, reset noise, has_health,
 * nq nv nu, uses_cfrc_ext; then obs_dim, observe, reset_model, position,
 * reward, bind. */
const tm_mj_task tm_mj_tasks[] = {
    {"InvertedPendulum", "inverted_pendulum.xml", 2, 1000, 0.01, 0, 2, 2, 1, 0, ip_obs_dim,
     ip_observe, reset_uniform_both, position_none, ip_reward, bind_none},
    {"InvertedDoublePendulum", "inverted_double_pendulum.xml", 5, 1000, 0.1, 0, 3, 3, 1, 0,
     idp_obs_dim, idp_observe, reset_uniform_qpos_normal_qvel, position_none, idp_reward,
     bind_none},
    {"Reacher", "reacher.xml", 2, 50, -1.0, 0, 4, 4, 2, 0, reacher_obs_dim, reacher_observe,
     reacher_reset, position_none, reacher_reward, reacher_bind},
    {"Swimmer", "swimmer.xml", 4, 1000, 0.1, 0, 5, 5, 2, 0, swimmer_obs_dim, swimmer_observe,
     reset_uniform_both, swimmer_position, swimmer_reward, bind_none},
    {"Hopper", "hopper.xml", 4, 1000, 5e-3, 1, 6, 6, 3, 0, x_skipped_obs_dim, hopper_observe,
     reset_uniform_both, position_qpos_x, hopper_reward, bind_none},
    {"HalfCheetah", "half_cheetah.xml", 5, 1000, 0.1, 0, 9, 9, 6, 0, x_skipped_obs_dim,
     cheetah_observe, reset_uniform_qpos_normal_qvel, position_qpos_x, cheetah_reward, bind_none},
    {"Walker2d", "walker2d.xml", 4, 1000, 5e-3, 1, 9, 9, 6, 0, x_skipped_obs_dim, hopper_observe,
     reset_uniform_both, position_qpos_x, walker_reward, bind_none},
    {"Ant", "ant.xml", 5, 1000, 0.1, 1, 15, 14, 8, 1, ant_obs_dim, ant_observe,
     reset_uniform_qpos_normal_qvel, ant_position, ant_reward, ant_bind},
    {"Humanoid", "humanoid.xml", 5, 1000, 1e-2, 1, 24, 23, 17, 1, humanoid_obs_dim,
     humanoid_observe, reset_uniform_both, humanoid_position, humanoid_reward, bind_none},
};
const int tm_mj_n_tasks = (int)(sizeof tm_mj_tasks / sizeof tm_mj_tasks[0]);
