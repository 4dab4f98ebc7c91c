/* The env interface and registry: action checks, reset discipline, time
 * limit, options and names. Definition: envs/env.h, shared spec envs.md.
 * A small continuous env defined here ("line") exercises the continuous
 * checks without depending on MuJoCo. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "envs/env.h"
#include "envs/registry.h"

/* --- "line": x' = x + a[0] + a[1]; obs = [x, last a[0]]; ends at |x| >= 10 -- */
typedef struct {
    float x, last_a0;
    uint64_t seed;
    int resets;
    float low[2], high[2];
} line_env;

static void line_seed(void *self, uint64_t seed) { ((line_env *)self)->seed = seed; }
static tm_status line_reset(void *self, float *obs) {
    line_env *e = self;
    e->resets++;
    e->x = (float)(e->seed % 3); /* the seed shows in the start state */
    e->last_a0 = 0.0f;
    obs[0] = e->x;
    obs[1] = e->last_a0;
    return TM_OK;
}
static tm_status line_step(void *self, const void *action, float *obs, float *reward,
                           int *terminated, int *truncated) {
    line_env *e = self;
    const float *a = action;
    e->x += a[0] + a[1];
    e->last_a0 = a[0];
    obs[0] = e->x;
    obs[1] = e->last_a0;
    *reward = 1.0f;
    *terminated = fabsf(e->x) >= 10.0f;
    *truncated = 0;
    return TM_OK;
}
static void line_destroy(void *self) { free(self); }
static const tm_env_vtable line_vt = {line_seed, line_reset, line_step, line_destroy};

static tm_env make_line(int max_steps) {
    line_env *e = calloc(1, sizeof *e);
    cr_assert_not_null(e);
    e->low[0] = e->low[1] = -1.0f;
    e->high[0] = e->high[1] = 1.0f;
    tm_env_spec spec = {.obs_dim = 2, .action_kind = TM_ACTION_CONTINUOUS, .act_dim = 2,
                        .low = e->low, .high = e->high, .max_episode_steps = max_steps};
    tm_env env;
    cr_assert_eq(tm_env_init(&env, &line_vt, e, &spec, "line"), TM_OK, "%s", tm_last_error());
    return env;
}

Test(env, nan_or_inf_action_is_rejected_naming_env_and_index_and_state_is_unchanged) {
    tm_env env = make_line(0);
    float obs[2], r;
    int term, trunc;
    cr_assert_eq(tm_env_reset(&env, 1, obs), TM_OK);
    float good[2] = {0.5f, 0.0f};
    cr_assert_eq(tm_env_step(&env, good, obs, &r, &term, &trunc), TM_OK);
    float before[2] = {obs[0], obs[1]};
    float bad[2] = {0.1f, NAN};
    float out[2] = {-7.0f, -7.0f};
    cr_assert_eq(tm_env_step(&env, bad, out, &r, &term, &trunc), TM_ENUMERIC);
    cr_assert(strstr(tm_last_error(), "line") && strstr(tm_last_error(), "action[1]"), "%s",
              tm_last_error());
    cr_assert_eq(out[0], -7.0f, "the obs buffer must not be written on a rejected action");
    float inf[2] = {INFINITY, 0.0f};
    cr_assert_eq(tm_env_step(&env, inf, out, &r, &term, &trunc), TM_ENUMERIC);
    cr_assert(strstr(tm_last_error(), "action[0]"), "%s", tm_last_error());
    /* The env continues from where it was: x moves by exactly 0.25. */
    float next[2] = {0.25f, 0.0f};
    cr_assert_eq(tm_env_step(&env, next, obs, &r, &term, &trunc), TM_OK);
    cr_assert_eq(obs[0], before[0] + 0.25f);
    cr_assert_eq(env.elapsed_steps, 2, "rejected actions are not steps");
    tm_env_free(&env);
}

Test(env, in_band_out_of_bounds_action_reaches_env_unclipped_wild_one_is_erange) {
    tm_env env = make_line(0);
    float obs[2], r;
    int term, trunc;
    cr_assert_eq(tm_env_reset(&env, 0, obs), TM_OK);
    float over[2] = {3.0f, 0.0f}; /* beyond high = 1 but within the tolerance */
    cr_assert_eq(tm_env_step(&env, over, obs, &r, &term, &trunc), TM_OK, "%s", tm_last_error());
    cr_assert_eq(obs[1], 3.0f, "the env must see the raw action (no clipping in tm_env_step)");
    float wild[2] = {0.0f, -1e7f};
    cr_assert_eq(tm_env_step(&env, wild, obs, &r, &term, &trunc), TM_ERANGE);
    cr_assert(strstr(tm_last_error(), "action[1]"), "%s", tm_last_error());
    env.action_tolerance = 0.5f;
    cr_assert_eq(tm_env_step(&env, over, obs, &r, &term, &trunc), TM_ERANGE);
    float edge[2] = {1.5f, -1.5f}; /* exactly at high + tol and low - tol */
    cr_assert_eq(tm_env_step(&env, edge, obs, &r, &term, &trunc), TM_OK);
    tm_env_free(&env);
}

Test(env, step_before_reset_and_after_the_end_is_estate) {
    tm_env env = make_line(0);
    float obs[2], r;
    int term, trunc;
    float a[2] = {1.0f, 1.0f};
    cr_assert_eq(tm_env_step(&env, a, obs, &r, &term, &trunc), TM_ESTATE);
    cr_assert_eq(tm_env_reset(&env, 0, obs), TM_OK);
    int steps = 0;
    do {
        cr_assert_eq(tm_env_step(&env, a, obs, &r, &term, &trunc), TM_OK);
        steps++;
    } while (!term && steps < 100);
    cr_assert(term && !trunc);
    cr_assert_eq(steps, 5, "x goes 0,2,..,10: terminates on the 5th step");
    cr_assert_eq(tm_env_step(&env, a, obs, &r, &term, &trunc), TM_ESTATE);
    cr_assert_eq(tm_env_reset_next(&env, obs), TM_OK);
    cr_assert_eq(tm_env_step(&env, a, obs, &r, &term, &trunc), TM_OK);
    tm_env_free(&env);
}

Test(env, time_limit_truncates_unless_the_same_step_terminates) {
    tm_env env = make_line(3);
    float obs[2], r;
    int term, trunc;
    float small[2] = {0.1f, 0.0f};
    cr_assert_eq(tm_env_reset(&env, 0, obs), TM_OK);
    for (int t = 1; t <= 3; t++) {
        cr_assert_eq(tm_env_step(&env, small, obs, &r, &term, &trunc), TM_OK);
        cr_assert_eq(term, 0);
        cr_assert_eq(trunc, t == 3, "truncated exactly at max_episode_steps (step %d)", t);
    }
    /* seed 1 -> x = 1; three steps of +3 reach 10 on the third: terminated wins. */
    cr_assert_eq(tm_env_reset(&env, 1, obs), TM_OK);
    float big[2] = {1.5f, 1.5f};
    for (int t = 1; t <= 3; t++) cr_assert_eq(tm_env_step(&env, big, obs, &r, &term, &trunc), TM_OK);
    cr_assert(term && !trunc);
    tm_env_free(&env);
}

Test(env, reset_with_seed_reseeds_and_reset_next_does_not) {
    tm_env env = make_line(0);
    float obs[2];
    cr_assert_eq(tm_env_reset(&env, 2, obs), TM_OK);
    cr_assert_eq(obs[0], 2.0f);
    cr_assert_eq(tm_env_reset_next(&env, obs), TM_OK);
    cr_assert_eq(((line_env *)env.self)->seed, 2u);
    cr_assert_eq(((line_env *)env.self)->resets, 2);
    tm_env_free(&env);
    tm_env_free(&env); /* a freed env is a no-op */
}

Test(env, discrete_action_outside_range_is_erange_and_state_unchanged) {
    tm_env a, b;
    cr_assert_eq(tm_env_create(&a, "delayed_cue", NULL, 0), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_env_create(&b, "delayed_cue", NULL, 0), TM_OK);
    int od = a.spec.obs_dim;
    float oa[16], ob[16], ra, rb;
    int ta, tb, ua, ub;
    cr_assert_eq(tm_env_reset(&a, 5, oa), TM_OK);
    cr_assert_eq(tm_env_reset(&b, 5, ob), TM_OK);
    int32_t bad[] = {-1, 4, 1000000};
    for (int j = 0; j < 3; j++) {
        cr_assert_eq(tm_env_step(&a, &bad[j], oa, &ra, &ta, &ua), TM_ERANGE);
        cr_assert(strstr(tm_last_error(), "delayed_cue"), "%s", tm_last_error());
    }
    /* a and b stay in lockstep: the rejected actions changed nothing. */
    for (int t = 0; t < 20; t++) {
        int32_t act = t % 4;
        cr_assert_eq(tm_env_step(&a, &act, oa, &ra, &ta, &ua), TM_OK);
        cr_assert_eq(tm_env_step(&b, &act, ob, &rb, &tb, &ub), TM_OK);
        cr_assert_eq(memcmp(oa, ob, sizeof(float) * (size_t)od), 0);
        cr_assert(ra == rb && ta == tb && ua == ub);
    }
    cr_assert(ta, "delayed_cue ends after horizon = 20 steps");
    tm_env_free(&a);
    tm_env_free(&b);
}

Test(registry, unknown_name_is_einval_with_close_match) {
    tm_env env;
    cr_assert_eq(tm_env_create(&env, "delayed_cu", NULL, 0), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "delayed_cu'"), "%s", tm_last_error());
    cr_assert(strstr(tm_last_error(), "delayed_cue"), "suggests the close name: %s", tm_last_error());
    cr_assert_null(env.vt);
}

Test(registry, unknown_option_names_the_key_and_close_matches) {
    tm_env env;
    const char *opts[] = {"env.horizn=5"};
    cr_assert_eq(tm_env_create(&env, "delayed_cue", opts, 1), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "'horizn'"), "%s", tm_last_error());
    cr_assert(strstr(tm_last_error(), "horizon"), "%s", tm_last_error());
    const char *noeq[] = {"horizon"};
    cr_assert_eq(tm_env_create(&env, "delayed_cue", noeq, 1), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "KEY=VALUE"), "%s", tm_last_error());
}

Test(registry, bad_option_values_are_einval_naming_key_and_value) {
    struct { const char *name, *opt, *needle; } cases[] = {
        {"delayed_cue", "horizon=0", "horizon"},
        {"delayed_cue", "horizon=abc", "abc"},
        {"delayed_cue", "n_cues=1", "n_cues"},
        {"delayed_cue", "n_cues=3x", "3x"},
        {"repeat_previous", "k=52", "k"},
        {"repeat_previous", "num_decks=0", "num_decks"},
        {"repeat_first", "num_decks=-2", "num_decks"},
        {"count_recall", "deck_type=hearts", "hearts"},
        {"count_recall", "max_episode_steps=-1", "max_episode_steps"},
        {"count_recall", "action_tolerance=nan", "action_tolerance"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tm_env env;
        cr_assert_eq(tm_env_create(&env, cases[c].name, &cases[c].opt, 1), TM_EINVAL, "%s %s",
                     cases[c].name, cases[c].opt);
        cr_assert(strstr(tm_last_error(), cases[c].needle), "%s: %s", cases[c].opt, tm_last_error());
    }
}

Test(registry, options_reach_the_env_with_or_without_prefix_and_generic_keys_apply) {
    tm_env env;
    const char *opts[] = {"env.n_cues=7", "horizon=3", "env.max_episode_steps=2",
                          "action_tolerance=0.5"};
    cr_assert_eq(tm_env_create(&env, "delayed_cue", opts, 4), TM_OK, "%s", tm_last_error());
    cr_assert_eq(env.spec.n_actions, 7);
    cr_assert_eq(env.spec.obs_dim, 8);
    cr_assert_eq(env.spec.max_episode_steps, 2);
    cr_assert_eq(env.action_tolerance, 0.5f);
    float obs[8], r;
    int term, trunc;
    int32_t a = 0;
    cr_assert_eq(tm_env_reset(&env, 0, obs), TM_OK);
    cr_assert_eq(tm_env_step(&env, &a, obs, &r, &term, &trunc), TM_OK);
    cr_assert_eq(tm_env_step(&env, &a, obs, &r, &term, &trunc), TM_OK);
    cr_assert(!term && trunc, "the generic time limit of 2 cuts the horizon-3 episode");
    tm_env_free(&env);
    /* The last occurrence of a key wins. */
    const char *twice[] = {"horizon=3", "horizon=9"};
    cr_assert_eq(tm_env_create(&env, "delayed_cue", twice, 2), TM_OK);
    cr_assert_eq(env.spec.max_episode_steps, 9);
    tm_env_free(&env);
}

Test(registry, lists_every_synthetic_task_and_each_creates) {
    const char *names[256];
    int n = tm_env_names(names, 256);
    cr_assert(n >= 4 && n <= 256);
    const char *want[] = {"delayed_cue", "repeat_previous", "repeat_first", "count_recall"};
    for (int k = 0; k < 4; k++) {
        int found = 0;
        for (int i = 0; i < n; i++) found |= strcmp(names[i], want[k]) == 0;
        cr_assert(found, "%s is registered", want[k]);
    }
    cr_assert_eq(tm_env_names(NULL, 0), n);
    for (int k = 0; k < 4; k++) {
        tm_env env;
        cr_assert_eq(tm_env_create(&env, want[k], NULL, 0), TM_OK, "%s", tm_last_error());
        cr_assert_str_eq(env.name, want[k]);
        cr_assert_eq(env.spec.action_kind, TM_ACTION_DISCRETE);
        cr_assert(env.spec.has_success);
        tm_env_free(&env);
    }
}
