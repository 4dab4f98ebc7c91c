/* Tests of the MuJoCo task suite (envs/mujoco): sizes, resets, steps,
 * termination and truncation as Gymnasium v5 defines them, seeded
 * reproducibility, rejected actions, option errors, and conformance with
 * trajectories of Gymnasium's own v5 envs (tests/fixtures/gym, made by
 * tests/fixtures/make_gym_fixtures.py with gymnasium 1.0.0 + mujoco 2.3.3).
 * Definition: envs/mujoco/mujoco_env.h and shared spec envs.md. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "envs/mujoco/mujoco_env.h"

static const char *const tasks[] = {"InvertedPendulum", "InvertedDoublePendulum",
                                    "Reacher",          "Swimmer",
                                    "Hopper",           "HalfCheetah",
                                    "Walker2d",         "Ant",
                                    "Humanoid"};
#define N_TASKS 9
#define MAX_OBS 400
#define MAX_ACT 32

static void create(tm_env *env, const char *name, const char *const *opts, int n) {
    tm_status st = tm_mujoco_env_create(env, name, opts, n);
    cr_assert_eq(st, TM_OK, "creating %s: %s", name, tm_last_error());
}

static void reset(tm_env *env, uint64_t seed, float *obs) {
    tm_status st = tm_env_reset(env, seed, obs);
    cr_assert_eq(st, TM_OK, "%s reset: %s", env->name, tm_last_error());
}

/* A uniform action inside the box from a fixed generator. */
static void random_action(const tm_env *env, tm_rng *rng, float *a) {
    for (int j = 0; j < env->spec.act_dim; j++)
        a[j] = env->spec.low[j] + (env->spec.high[j] - env->spec.low[j]) * tm_rng_uniform(rng);
}

static int all_finite(const float *x, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* --- the Gymnasium fixtures ------------------------------------------------------ */

typedef struct {
    uint32_t nq, nv, nu, obs_dim, n_steps, max_episode_steps;
    double *qpos, *qvel, *obs0;
    float *actions; /* [n_steps][nu] */
    double *obs;    /* [n_steps][obs_dim] */
    double *reward; /* [n_steps] */
    uint8_t *terminated, *truncated;
} fixture;

static int read_exact(FILE *f, void *p, size_t size, size_t n) { return fread(p, size, n, f) == n; }

/* stem: "Hopper-v5" or "Hopper-v5.fall" (tests/fixtures/gym/<stem>.bin). */
static void fixture_load(fixture *fx, const char *stem) {
    const char *root = getenv("TM_SOURCE_DIR");
    if (!root) root = TM_SOURCE_DIR;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/gym/%s.bin", root, stem);
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open fixture %s", path);
    char magic[4];
    uint32_t version, h[6];
    cr_assert(read_exact(f, magic, 1, 4) && memcmp(magic, "TMGF", 4) == 0, "%s: bad magic", path);
    cr_assert(read_exact(f, &version, 4, 1) && version == 1, "%s: bad version", path);
    cr_assert(read_exact(f, h, 4, 6), "%s: short header", path);
    fx->nq = h[0], fx->nv = h[1], fx->nu = h[2], fx->obs_dim = h[3], fx->n_steps = h[4];
    fx->max_episode_steps = h[5];
    cr_assert(fx->obs_dim <= MAX_OBS && fx->nu <= MAX_ACT && fx->n_steps <= 1000, "%s: sizes",
              path);
    fx->qpos = malloc(sizeof(double) * fx->nq);
    fx->qvel = malloc(sizeof(double) * fx->nv);
    fx->obs0 = malloc(sizeof(double) * fx->obs_dim);
    fx->actions = malloc(sizeof(float) * fx->nu * fx->n_steps);
    fx->obs = malloc(sizeof(double) * fx->obs_dim * fx->n_steps);
    fx->reward = malloc(sizeof(double) * fx->n_steps);
    fx->terminated = malloc(fx->n_steps);
    fx->truncated = malloc(fx->n_steps);
    cr_assert(read_exact(f, fx->qpos, 8, fx->nq) && read_exact(f, fx->qvel, 8, fx->nv) &&
              read_exact(f, fx->obs0, 8, fx->obs_dim));
    for (uint32_t s = 0; s < fx->n_steps; s++) {
        cr_assert(read_exact(f, fx->actions + s * fx->nu, 4, fx->nu) &&
                      read_exact(f, fx->obs + s * fx->obs_dim, 8, fx->obs_dim) &&
                      read_exact(f, fx->reward + s, 8, 1) &&
                      read_exact(f, fx->terminated + s, 1, 1) &&
                      read_exact(f, fx->truncated + s, 1, 1),
                  "%s: short step %u", path, s);
    }
    char extra;
    cr_assert_eq(fread(&extra, 1, 1, f), 0, "%s: trailing bytes", path);
    fclose(f);
}

static void fixture_free(fixture *fx) {
    free(fx->qpos), free(fx->qvel), free(fx->obs0), free(fx->actions);
    free(fx->obs), free(fx->reward), free(fx->terminated), free(fx->truncated);
}

/* Conformance tolerance. Our obs are float32 (relative rounding 6e-8) and
 * our MuJoCo is 2.2.2 against Gymnasium's 2.3.3 (and our own MJCF files).
 * Over these short replays (<= 50 steps) the versions' differences (solver
 * and default changes in 2.3) stay below float32 rounding: the largest
 * deviation measured is 2.5e-8 relative (Humanoid's cfrc_ext). 1e-5
 * relative + absolute leaves 100x margin yet is far below every reward term
 * (the smallest, Swimmer's control cost 1e-4 |a|^2, is ~1e-4) and any
 * wrong observation entry. Longer replays would drift (chaotic contacts),
 * which is why the fixtures stop at 50 steps or at termination. */
#define CONFORM_TOL 1e-5

static int close_to(double ours, double theirs) {
    return fabs(ours - theirs) <= CONFORM_TOL * (1.0 + fabs(theirs));
}

/* Every task once, plus the trajectories a random start does not reach
 * (see the script): Hopper falling on its angle both ways, the double pendulum's
 * cart against its limit (clipped constraint force), Walker2d thrown above
 * its height range. */
static const char *const fixture_stems[] = {
    "InvertedPendulum-v5", "InvertedDoublePendulum-v5", "InvertedDoublePendulum-v5.limit",
    "Reacher-v5",          "Swimmer-v5",                "Hopper-v5",
    "Hopper-v5.fall",      "Hopper-v5.fall2",           "HalfCheetah-v5",
    "Walker2d-v5",         "Walker2d-v5.thrown",        "Ant-v5",
    "Humanoid-v5"};

Test(mujoco, trajectories_match_gymnasium_v5_fixtures) {
    for (size_t t = 0; t < sizeof fixture_stems / sizeof fixture_stems[0]; t++) {
        fixture fx;
        fixture_load(&fx, fixture_stems[t]);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(fixture_stems[t], "."), fixture_stems[t]);
        tm_env env;
        create(&env, name, NULL, 0);
        const mjModel *m = tm_mujoco_env_model(&env);
        cr_assert_eq((uint32_t)m->nq, fx.nq, "%s nq", name);
        cr_assert_eq((uint32_t)m->nv, fx.nv, "%s nv", name);
        cr_assert_eq((uint32_t)env.spec.act_dim, fx.nu, "%s act_dim", name);
        cr_assert_eq((uint32_t)env.spec.obs_dim, fx.obs_dim, "%s obs_dim", name);
        cr_assert_eq((uint32_t)env.spec.max_episode_steps, fx.max_episode_steps, "%s limit", name);
        float obs[MAX_OBS];
        reset(&env, 1, obs);
        cr_assert_eq(tm_mujoco_env_set_state(&env, fx.qpos, fx.qvel, obs), TM_OK, "%s",
                     tm_last_error());
        for (uint32_t i = 0; i < fx.obs_dim; i++)
            cr_assert(close_to(obs[i], fx.obs0[i]), "%s reset obs[%u]: %.9g vs gymnasium %.9g",
                      name, i, (double)obs[i], fx.obs0[i]);
        for (uint32_t s = 0; s < fx.n_steps; s++) {
            float reward;
            int term, trunc;
            tm_status st = tm_env_step(&env, fx.actions + s * fx.nu, obs, &reward, &term, &trunc);
            cr_assert_eq(st, TM_OK, "%s step %u: %s", name, s, tm_last_error());
            for (uint32_t i = 0; i < fx.obs_dim; i++)
                cr_assert(close_to(obs[i], fx.obs[s * fx.obs_dim + i]),
                          "%s step %u obs[%u]: %.9g vs gymnasium %.9g", name, s, i, (double)obs[i],
                          fx.obs[s * fx.obs_dim + i]);
            cr_assert(close_to(reward, fx.reward[s]), "%s step %u reward %.9g vs gymnasium %.9g",
                      name, s, (double)reward, fx.reward[s]);
            cr_assert_eq(term, fx.terminated[s], "%s step %u terminated", name, s);
            cr_assert_eq(trunc, fx.truncated[s], "%s step %u truncated", name, s);
        }
        tm_env_free(&env);
        fixture_free(&fx);
    }
}

/* --- sizes and variants --------------------------------------------------------- */

/* -P / -V sizes: the position-like and velocity-like parts of Gymnasium's
 * observation (see mj_task.h; Humanoid's cinert counts as position, cvel
 * as velocity; forces belong to neither). */
static const struct {
    const char *task;
    int full, p, v, act;
} sizes[] = {
    {"InvertedPendulum", 4, 2, 2, 1},
    {"InvertedDoublePendulum", 9, 5, 3, 1},
    {"Reacher", 10, 8, 2, 2},
    {"Swimmer", 8, 3, 5, 2},
    {"Hopper", 11, 5, 6, 3},
    {"HalfCheetah", 17, 8, 9, 6},
    {"Walker2d", 17, 8, 9, 6},
    {"Ant", 105, 13, 14, 8},
    {"Humanoid", 348, 22 + 130, 23 + 78, 17},
};

Test(mujoco, names_are_nine_tasks_in_three_variants) {
    const char *const *names = tm_mujoco_env_names();
    int n = 0;
    while (names[n]) n++;
    cr_assert_eq(n, 27);
    for (int t = 0; t < N_TASKS; t++) {
        const char *suffix[] = {"-v5", "-P-v5", "-V-v5"};
        for (int v = 0; v < 3; v++) {
            char want[64];
            snprintf(want, sizeof want, "%s%s", tasks[t], suffix[v]);
            int found = 0;
            for (int i = 0; i < n; i++) found += strcmp(names[i], want) == 0;
            cr_assert_eq(found, 1, "%s listed %d times", want, found);
        }
    }
}

/* Entries of `part` appear in `full` in order (a subsequence). */
static int is_subsequence(const float *part, int np, const float *full, int nf) {
    int j = 0;
    for (int i = 0; i < np; i++) {
        while (j < nf && full[j] != part[i]) j++;
        if (j == nf) return 0;
        j++;
    }
    return 1;
}

Test(mujoco, variants_keep_positions_or_velocities_of_the_full_observation) {
    for (int t = 0; t < N_TASKS; t++) {
        char nf[64], np[64], nv[64];
        snprintf(nf, sizeof nf, "%s-v5", sizes[t].task);
        snprintf(np, sizeof np, "%s-P-v5", sizes[t].task);
        snprintf(nv, sizeof nv, "%s-V-v5", sizes[t].task);
        tm_env ef, ep, ev;
        create(&ef, nf, NULL, 0);
        create(&ep, np, NULL, 0);
        create(&ev, nv, NULL, 0);
        cr_assert_eq(ef.spec.obs_dim, sizes[t].full, "%s", nf);
        cr_assert_eq(ep.spec.obs_dim, sizes[t].p, "%s", np);
        cr_assert_eq(ev.spec.obs_dim, sizes[t].v, "%s", nv);
        cr_assert_eq(ef.spec.act_dim, sizes[t].act, "%s", nf);
        cr_assert_eq(ep.spec.act_dim, sizes[t].act, "%s", np);
        static float of[MAX_OBS], op[MAX_OBS], ov[MAX_OBS];
        reset(&ef, 3, of), reset(&ep, 3, op), reset(&ev, 3, ov);
        tm_rng rng;
        tm_rng_seed(&rng, 5, 0);
        for (int s = 0; s < 3; s++) {
            cr_assert(is_subsequence(op, ep.spec.obs_dim, of, ef.spec.obs_dim), "%s step %d", np,
                      s);
            cr_assert(is_subsequence(ov, ev.spec.obs_dim, of, ef.spec.obs_dim), "%s step %d", nv,
                      s);
            float a[MAX_ACT], r[3];
            int term[3], trunc[3];
            random_action(&ef, &rng, a);
            cr_assert_eq(tm_env_step(&ef, a, of, &r[0], &term[0], &trunc[0]), TM_OK);
            cr_assert_eq(tm_env_step(&ep, a, op, &r[1], &term[1], &trunc[1]), TM_OK);
            cr_assert_eq(tm_env_step(&ev, a, ov, &r[2], &term[2], &trunc[2]), TM_OK);
            /* Same dynamics and reward: only the observation differs. */
            cr_assert(r[0] == r[1] && r[0] == r[2], "%s rewards differ across variants", nf);
            if (term[0]) break;
        }
        tm_env_free(&ef), tm_env_free(&ep), tm_env_free(&ev);
    }
}

Test(mujoco, every_variant_resets_and_steps_with_finite_values) {
    const char *const *names = tm_mujoco_env_names();
    for (int i = 0; names[i]; i++) {
        tm_env env;
        create(&env, names[i], NULL, 0);
        static float obs[MAX_OBS];
        reset(&env, (uint64_t)i, obs);
        cr_assert(all_finite(obs, env.spec.obs_dim), "%s reset obs", names[i]);
        tm_rng rng;
        tm_rng_seed(&rng, 9, (uint64_t)i);
        for (int s = 0; s < 4; s++) {
            float a[MAX_ACT], r;
            int term, trunc;
            random_action(&env, &rng, a);
            cr_assert_eq(tm_env_step(&env, a, obs, &r, &term, &trunc), TM_OK, "%s: %s", names[i],
                         tm_last_error());
            cr_assert(all_finite(obs, env.spec.obs_dim) && isfinite(r), "%s step %d", names[i], s);
            cr_assert_eq(trunc, 0, "%s truncated early", names[i]);
            if (term) break;
        }
        tm_env_free(&env);
    }
}

/* --- time limit and termination ------------------------------------------------- */

/* Steps with zero action until the episode ends; returns the step count
 * (1-based) at the end, or 0 if it did not end within max_steps. */
static int run_until_end(tm_env *env, int max_steps, int *terminated, int *truncated) {
    float obs[MAX_OBS], a[MAX_ACT] = {0}, r;
    for (int s = 1; s <= max_steps; s++) {
        cr_assert_eq(tm_env_step(env, a, obs, &r, terminated, truncated), TM_OK, "%s: %s",
                     env->name, tm_last_error());
        if (*terminated || *truncated) return s;
    }
    return 0;
}

Test(mujoco, truncates_at_the_gymnasium_time_limit) {
    /* Reacher (50) and Swimmer (1000) never terminate: the limit ends them. */
    const struct {
        const char *name;
        int limit;
    } cases[] = {{"Reacher-v5", 50}, {"Swimmer-V-v5", 1000}};
    for (int c = 0; c < 2; c++) {
        tm_env env;
        create(&env, cases[c].name, NULL, 0);
        cr_assert_eq(env.spec.max_episode_steps, cases[c].limit, "%s", cases[c].name);
        float obs[MAX_OBS], a[MAX_ACT] = {0}, r;
        reset(&env, 2, obs);
        int term, trunc;
        cr_assert_eq(run_until_end(&env, cases[c].limit + 5, &term, &trunc), cases[c].limit,
                     "%s ended at the wrong step", cases[c].name);
        cr_assert(trunc && !term, "%s: truncated, not terminated", cases[c].name);
        cr_assert_eq(tm_env_step(&env, a, obs, &r, &term, &trunc), TM_ESTATE,
                     "%s: stepping after the end needs a reset", cases[c].name);
        tm_env_free(&env);
    }
    /* Every task has the 1000-step limit except Reacher. */
    const char *const *names = tm_mujoco_env_names();
    for (int i = 0; names[i]; i++) {
        tm_env env;
        create(&env, names[i], NULL, 0);
        cr_assert_eq(env.spec.max_episode_steps, strncmp(names[i], "Reacher", 7) == 0 ? 50 : 1000,
                     "%s", names[i]);
        tm_env_free(&env);
    }
}

/* Tasks that end when unhealthy, driven by zero action (each falls under
 * gravity) within a bound; at the end the unhealthy condition must hold. */
Test(mujoco, falling_bodies_terminate_when_unhealthy_and_not_when_disabled) {
    const struct {
        const char *name;
        int bound;
    } cases[] = {{"InvertedPendulum-v5", 1000},
                 {"InvertedDoublePendulum-v5", 1000},
                 {"Hopper-v5", 500},
                 {"Walker2d-v5", 500},
                 {"Humanoid-v5", 300}};
    for (int c = 0; c < 5; c++) {
        tm_env env;
        create(&env, cases[c].name, NULL, 0);
        float obs[MAX_OBS];
        reset(&env, 4, obs);
        int term, trunc;
        int at = run_until_end(&env, cases[c].bound, &term, &trunc);
        cr_assert(at > 0 && term && !trunc, "%s did not terminate within %d steps", cases[c].name,
                  cases[c].bound);
        const mjData *d = tm_mujoco_env_data(&env);
        if (c == 0) cr_assert(fabs(d->qpos[1]) > 0.2, "pole angle %g", d->qpos[1]);
        if (c == 1) cr_assert(d->site_xpos[2] <= 1.0, "tip height %g", d->site_xpos[2]);
        if (c == 2)
            cr_assert(d->qpos[1] <= 0.7 || fabs(d->qpos[2]) >= 0.2, "hopper z %g angle %g",
                      d->qpos[1], d->qpos[2]);
        if (c == 3)
            cr_assert(d->qpos[1] <= 0.8 || fabs(d->qpos[2]) >= 1.0, "walker z %g angle %g",
                      d->qpos[1], d->qpos[2]);
        if (c == 4) cr_assert(d->qpos[2] <= 1.0, "humanoid z %g", d->qpos[2]);
        tm_env_free(&env);
    }
    /* With terminate_when_unhealthy=0 the fallen Hopper keeps going, and
     * earns no healthy reward: reward = x velocity - control cost (0). */
    const char *opt[] = {"terminate_when_unhealthy=0"};
    tm_env env;
    create(&env, "Hopper-v5", opt, 1);
    float obs[MAX_OBS], a[MAX_ACT] = {0}, r;
    reset(&env, 4, obs);
    int term, trunc;
    cr_assert_eq(run_until_end(&env, 300, &term, &trunc), 0, "Hopper ended with termination off");
    const mjData *d = tm_mujoco_env_data(&env);
    cr_assert(d->qpos[1] <= 0.7 || fabs(d->qpos[2]) >= 0.2, "the hopper should have fallen");
    double x0 = d->qpos[0];
    cr_assert_eq(tm_env_step(&env, a, obs, &r, &term, &trunc), TM_OK);
    double dt = tm_mujoco_env_model(&env)->opt.timestep * 4;
    cr_assert(fabs(r - (d->qpos[0] - x0) / dt) < 1e-5, "unhealthy reward %g", (double)r);
    tm_env_free(&env);
}

/* --- seeding ---------------------------------------------------------------------- */

Test(mujoco, same_seed_same_trajectory_other_seed_other_start) {
    for (int t = 0; t < N_TASKS; t++) {
        char name[64];
        snprintf(name, sizeof name, "%s-v5", tasks[t]);
        tm_env e1, e2, e3;
        create(&e1, name, NULL, 0), create(&e2, name, NULL, 0), create(&e3, name, NULL, 0);
        int n = e1.spec.obs_dim;
        static float o1[MAX_OBS], o2[MAX_OBS], o3[MAX_OBS];
        reset(&e1, 100, o1), reset(&e2, 100, o2), reset(&e3, 101, o3);
        cr_assert(memcmp(o1, o2, sizeof(float) * (size_t)n) == 0, "%s: same seed, other start",
                  name);
        cr_assert(memcmp(o1, o3, sizeof(float) * (size_t)n) != 0, "%s: seeds 100 and 101 agree",
                  name);
        tm_rng rng;
        tm_rng_seed(&rng, 77, 0);
        for (int s = 0; s < 5; s++) {
            float a[MAX_ACT], r1, r2;
            int t1, t2, u1, u2;
            random_action(&e1, &rng, a);
            cr_assert_eq(tm_env_step(&e1, a, o1, &r1, &t1, &u1), TM_OK);
            cr_assert_eq(tm_env_step(&e2, a, o2, &r2, &t2, &u2), TM_OK);
            cr_assert(memcmp(o1, o2, sizeof(float) * (size_t)n) == 0 && r1 == r2 && t1 == t2,
                      "%s: same seed diverged at step %d", name, s);
            if (t1) break;
        }
        /* An auto-reset continues the generator: the next episode starts
         * elsewhere, and identically for both twins. */
        cr_assert_eq(tm_env_reset_next(&e1, o1), TM_OK);
        cr_assert_eq(tm_env_reset_next(&e2, o2), TM_OK);
        cr_assert(memcmp(o1, o2, sizeof(float) * (size_t)n) == 0, "%s: reset_next differs", name);
        reset(&e3, 100, o3);
        cr_assert(memcmp(o1, o3, sizeof(float) * (size_t)n) != 0,
                  "%s: reset_next repeated seed 100", name);
        tm_env_free(&e1), tm_env_free(&e2), tm_env_free(&e3);
    }
}

Test(mujoco, reset_noise_has_gymnasium_scale) {
    /* Zero noise gives the model's initial state exactly; the default noise
     * stays within the uniform bound (tasks with uniform noise on both). */
    const struct {
        const char *name;
        double scale;
    } cases[] = {{"InvertedPendulum-v5", 0.01},
                 {"Swimmer-v5", 0.1},
                 {"Hopper-v5", 5e-3},
                 {"Walker2d-v5", 5e-3},
                 {"Humanoid-v5", 1e-2}};
    for (int c = 0; c < 5; c++) {
        tm_env env, quiet;
        const char *opt[] = {"reset_noise_scale=0"};
        create(&env, cases[c].name, NULL, 0);
        create(&quiet, cases[c].name, opt, 1);
        static float obs[MAX_OBS];
        reset(&env, 8, obs);
        reset(&quiet, 8, obs);
        const mjModel *m = tm_mujoco_env_model(&env);
        const mjData *d = tm_mujoco_env_data(&env), *dq = tm_mujoco_env_data(&quiet);
        double max_dev = 0.0;
        for (int i = 0; i < m->nq; i++) {
            cr_assert_eq(dq->qpos[i], m->qpos0[i], "%s quiet qpos[%d]", cases[c].name, i);
            max_dev = fmax(max_dev, fabs(d->qpos[i] - m->qpos0[i]));
        }
        for (int i = 0; i < m->nv; i++) {
            cr_assert_eq(dq->qvel[i], 0.0, "%s quiet qvel[%d]", cases[c].name, i);
            max_dev = fmax(max_dev, fabs(d->qvel[i]));
        }
        cr_assert(max_dev <= cases[c].scale && max_dev > cases[c].scale / 10,
                  "%s: noise %g for scale %g", cases[c].name, max_dev, cases[c].scale);
        tm_env_free(&env), tm_env_free(&quiet);
    }
    /* Reacher's target lies in the disc of radius 0.2, arm velocity small. */
    tm_env env;
    create(&env, "Reacher-v5", NULL, 0);
    float obs[MAX_OBS];
    for (int k = 0; k < 20; k++) {
        reset(&env, (uint64_t)k, obs);
        const mjData *d = tm_mujoco_env_data(&env);
        cr_assert(hypot(d->qpos[2], d->qpos[3]) < 0.2, "target %g %g", d->qpos[2], d->qpos[3]);
        cr_assert(fabs(d->qvel[0]) <= 0.005 && d->qvel[2] == 0.0 && d->qvel[3] == 0.0);
    }
    tm_env_free(&env);
}

/* --- actions ------------------------------------------------------------------------ */

Test(mujoco, bad_actions_are_rejected_without_changing_state) {
    for (int t = 0; t < N_TASKS; t++) {
        char name[64];
        snprintf(name, sizeof name, "%s-v5", tasks[t]);
        tm_env env, twin;
        create(&env, name, NULL, 0), create(&twin, name, NULL, 0);
        static float o1[MAX_OBS], o2[MAX_OBS];
        reset(&env, 5, o1), reset(&twin, 5, o2);
        const mjModel *m = tm_mujoco_env_model(&env);
        const mjData *d = tm_mujoco_env_data(&env);
        static double qpos[64], qvel[64];
        memcpy(qpos, d->qpos, sizeof(double) * (size_t)m->nq);
        memcpy(qvel, d->qvel, sizeof(double) * (size_t)m->nv);
        double time = d->time;
        int j = env.spec.act_dim - 1;
        float bad[3] = {NAN, INFINITY, 1e9f};
        tm_status want[3] = {TM_ENUMERIC, TM_ENUMERIC, TM_ERANGE};
        for (int b = 0; b < 3; b++) {
            float a[MAX_ACT] = {0}, r;
            int term, trunc;
            a[j] = bad[b];
            cr_assert_eq(tm_env_step(&env, a, o1, &r, &term, &trunc), want[b], "%s bad action %d",
                         name, b);
            char idx[32];
            snprintf(idx, sizeof idx, "action[%d]", j);
            cr_assert(strstr(tm_last_error(), name) && strstr(tm_last_error(), idx),
                      "message should name the env and index: %s", tm_last_error());
        }
        cr_assert(memcmp(qpos, d->qpos, sizeof(double) * (size_t)m->nq) == 0 &&
                      memcmp(qvel, d->qvel, sizeof(double) * (size_t)m->nv) == 0 && d->time == time,
                  "%s: a rejected action changed the state", name);
        /* The env goes on exactly like a twin that never saw the bad actions. */
        float a[MAX_ACT] = {0}, r1, r2;
        int t1, t2, u1, u2;
        cr_assert_eq(tm_env_step(&env, a, o1, &r1, &t1, &u1), TM_OK, "%s: %s", name,
                     tm_last_error());
        cr_assert_eq(tm_env_step(&twin, a, o2, &r2, &t2, &u2), TM_OK);
        cr_assert(memcmp(o1, o2, sizeof(float) * (size_t)env.spec.obs_dim) == 0 && r1 == r2);
        tm_env_free(&env), tm_env_free(&twin);
    }
}

Test(mujoco, actions_beyond_the_box_are_clamped_by_mujoco_but_cost_raw) {
    /* Gymnasium v5: the raw action goes to MuJoCo (ctrllimited clamps it)
     * and into the control cost. Hopper: 1.5 moves like 1.0 but costs
     * 1e-3 x 3 x (1.5^2 - 1^2) = 0.00375 more. */
    tm_env e1, e2;
    create(&e1, "Hopper-v5", NULL, 0), create(&e2, "Hopper-v5", NULL, 0);
    float o1[MAX_OBS], o2[MAX_OBS], r1, r2;
    int t1, t2, u1, u2;
    reset(&e1, 6, o1), reset(&e2, 6, o2);
    float big[3] = {1.5f, 1.5f, 1.5f}, one[3] = {1.0f, 1.0f, 1.0f};
    cr_assert_eq(tm_env_step(&e1, big, o1, &r1, &t1, &u1), TM_OK);
    cr_assert_eq(tm_env_step(&e2, one, o2, &r2, &t2, &u2), TM_OK);
    cr_assert(memcmp(o1, o2, sizeof(float) * 11) == 0, "clamped actions must move alike");
    cr_assert(fabs((r2 - r1) - 0.00375) < 1e-6, "control cost difference %g", (double)(r2 - r1));
    tm_env_free(&e1), tm_env_free(&e2);
}

/* --- options and errors ------------------------------------------------------------- */

static void expect_error(const char *name, const char *const *opts, int n, tm_status code,
                         const char *mention1, const char *mention2) {
    tm_env env;
    memset(&env, 0, sizeof env);
    tm_status st = tm_mujoco_env_create(&env, name, opts, n);
    cr_assert_eq(st, code, "%s %s: got %s (%s)", name, n ? opts[0] : "", tm_status_name(st),
                 tm_last_error());
    if (mention1)
        cr_assert(strstr(tm_last_error(), mention1), "message lacks '%s': %s", mention1,
                  tm_last_error());
    if (mention2)
        cr_assert(strstr(tm_last_error(), mention2), "message lacks '%s': %s", mention2,
                  tm_last_error());
    cr_assert_null(env.vt, "a failed create must leave no env");
}

Test(mujoco, bad_names_and_options_are_clear_errors) {
    expect_error("Hoper-v5", NULL, 0, TM_EINVAL, "Hoper-v5", "Hopper-v5");
    expect_error("Hopper-X-v5", NULL, 0, TM_EINVAL, "Hopper-X-v5", NULL);
    const char *typo[] = {"reset_noise=0.1"};
    expect_error("Hopper-v5", typo, 1, TM_EINVAL, "reset_noise", "reset_noise_scale");
    const char *skip0[] = {"frame_skip=0"};
    expect_error("Ant-v5", skip0, 1, TM_EINVAL, "frame_skip", NULL);
    const char *noint[] = {"frame_skip=four"};
    expect_error("Ant-v5", noint, 1, TM_EINVAL, "four", NULL);
    const char *neg[] = {"reset_noise_scale=-1"};
    expect_error("Swimmer-v5", neg, 1, TM_EINVAL, "reset_noise_scale", NULL);
    /* Options only some tasks have. */
    const char *noise[] = {"reset_noise_scale=0.1"};
    expect_error("Reacher-v5", noise, 1, TM_EINVAL, "reset_noise_scale", NULL);
    const char *health[] = {"terminate_when_unhealthy=0"};
    expect_error("Swimmer-v5", health, 1, TM_EINVAL, "terminate_when_unhealthy", NULL);
    const char *health2[] = {"terminate_when_unhealthy=2"};
    expect_error("Ant-v5", health2, 1, TM_EINVAL, "terminate_when_unhealthy", NULL);
    /* Models: a missing file, and a model of another task. */
    const char *missing[] = {"model=/nonexistent/hopper.xml"};
    expect_error("Hopper-v5", missing, 1, TM_EIO, "/nonexistent/hopper.xml", NULL);
    const char *dir[] = {"assets_dir=/nonexistent"};
    expect_error("Hopper-v5", dir, 1, TM_EIO, "/nonexistent/hopper.xml", NULL);
    char other[1024];
    const char *root = getenv("TM_SOURCE_DIR");
    snprintf(other, sizeof other, "model=%s/envs/mujoco/assets/hopper.xml",
             root ? root : TM_SOURCE_DIR);
    const char *wrong[] = {other};
    expect_error("Walker2d-v5", wrong, 1, TM_EINVAL, "nq", NULL);
}

Test(mujoco, options_change_what_they_name) {
    /* frame_skip scales dt: the same torque held twice as long. */
    const char *opt[] = {"frame_skip=10", "reset_noise_scale=0"};
    tm_env env;
    create(&env, "HalfCheetah-v5", opt, 2);
    float obs[MAX_OBS], a[MAX_ACT] = {0}, r;
    int term, trunc;
    reset(&env, 1, obs);
    cr_assert_eq(tm_env_step(&env, a, obs, &r, &term, &trunc), TM_OK);
    cr_assert(fabs(tm_mujoco_env_data(&env)->time - 0.1) < 1e-9,
              "time %g after one step of 10 x 0.01", tm_mujoco_env_data(&env)->time);
    tm_env_free(&env);
}

Test(mujoco, set_state_needs_a_running_episode) {
    tm_env env;
    create(&env, "Hopper-v5", NULL, 0);
    double qpos[6] = {0, 1.25, 0, 0, 0, 0}, qvel[6] = {0};
    float obs[MAX_OBS];
    cr_assert_eq(tm_mujoco_env_set_state(&env, qpos, qvel, obs), TM_ESTATE);
    reset(&env, 1, obs);
    qvel[3] = NAN;
    cr_assert_eq(tm_mujoco_env_set_state(&env, qpos, qvel, obs), TM_ENUMERIC);
    qvel[3] = 0.5;
    cr_assert_eq(tm_mujoco_env_set_state(&env, qpos, qvel, obs), TM_OK);
    /* Hopper's observation: qpos[1:] then qvel. */
    cr_assert(obs[0] == 1.25f && obs[5 + 3] == 0.5f);
    tm_env_free(&env);
}

Test(mujoco, task_model_gives_the_bench_the_same_physics) {
    mjModel *m = NULL;
    int skip = 0;
    cr_assert_eq(tm_mujoco_task_model("Ant-P-v5", &m, &skip), TM_OK, "%s", tm_last_error());
    cr_assert_eq(skip, 5);
    cr_assert_eq(m->nq, 15);
    cr_assert_eq(m->nu, 8);
    cr_assert_float_eq(m->opt.timestep, 0.01, 1e-12);
    mj_deleteModel(m);
    cr_assert_eq(tm_mujoco_task_model("Hopper", &m, &skip), TM_EINVAL);
}

/* MuJoCo answers a blow-up by resetting mjData and counting a warning;
 * the env must report it (not carry on from a silently reset state). */
static int mujoco_warnings;
static void count_warning(const char *msg) {
    (void)msg;
    mujoco_warnings++;
}

Test(mujoco, unstable_simulation_is_an_error_that_needs_a_reset) {
    /* Keeps MuJoCo's default handler from printing and writing MUJOCO_LOG.TXT. */
    mju_user_warning = count_warning;
    tm_env env;
    create(&env, "Hopper-v5", NULL, 0);
    float obs[MAX_OBS], a[MAX_ACT] = {0}, r;
    int term, trunc;
    reset(&env, 1, obs);
    const mjData *d = tm_mujoco_env_data(&env);
    double qpos[6], qvel[6];
    memcpy(qpos, d->qpos, sizeof qpos);
    memcpy(qvel, d->qvel, sizeof qvel);
    qvel[3] = 1e20; /* beyond MuJoCo's mjMAXVAL: a "bad qvel" */
    cr_assert_eq(tm_mujoco_env_set_state(&env, qpos, qvel, obs), TM_OK);
    cr_assert_eq(tm_env_step(&env, a, obs, &r, &term, &trunc), TM_ENUMERIC);
    cr_assert(strstr(tm_last_error(), "unstable") && strstr(tm_last_error(), "Hopper-v5"), "%s",
              tm_last_error());
    cr_assert_gt(mujoco_warnings, 0, "MuJoCo should have warned");
    cr_assert_eq(tm_env_step(&env, a, obs, &r, &term, &trunc), TM_ESTATE);
    reset(&env, 1, obs);
    cr_assert_eq(tm_env_step(&env, a, obs, &r, &term, &trunc), TM_OK);
    tm_env_free(&env);
    mju_user_warning = NULL;
}
