/* The env pool: identical to stepping envs one by one (any thread count),
 * auto-reset with the final observation kept, per-env errors, the async
 * send/recv cycle, episode bookkeeping. Definition: envs/pool.h, spec envs.md. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "envs/pool.h"
#include "envs/registry.h"

/* A deterministic action for env i at step t that every task accepts. */
static int32_t action_for(int i, int t, int n) { return (int32_t)((i * 31 + t * 17 + (t >> 3)) % n); }

/* The reference: N envs stepped one by one, with the pool's auto-reset rule. */
typedef struct {
    tm_env *envs;
    float *obs, *final_obs, *reward, *ep_ret, *final_ret;
    int *term, *trunc, *done, *ep_len, *final_len;
} reference;

static void ref_init(reference *r, const char *name, const char **opts, int n_opts, int N, uint64_t seed) {
    r->envs = calloc((size_t)N, sizeof *r->envs);
    for (int i = 0; i < N; i++)
        cr_assert_eq(tm_env_create(&r->envs[i], name, opts, n_opts), TM_OK, "%s", tm_last_error());
    int od = r->envs[0].spec.obs_dim;
    r->obs = calloc((size_t)N * od, sizeof(float));
    r->final_obs = calloc((size_t)N * od, sizeof(float));
    r->reward = calloc((size_t)N, sizeof(float));
    r->ep_ret = calloc((size_t)N, sizeof(float));
    r->final_ret = calloc((size_t)N, sizeof(float));
    r->term = calloc((size_t)N, sizeof(int));
    r->trunc = calloc((size_t)N, sizeof(int));
    r->done = calloc((size_t)N, sizeof(int));
    r->ep_len = calloc((size_t)N, sizeof(int));
    r->final_len = calloc((size_t)N, sizeof(int));
    for (int i = 0; i < N; i++)
        cr_assert_eq(tm_env_reset(&r->envs[i], seed + (uint64_t)i, r->obs + (size_t)i * od), TM_OK);
}

static void ref_step(reference *r, int i, const void *action) {
    int od = r->envs[0].spec.obs_dim;
    float *obs = r->obs + (size_t)i * od;
    cr_assert_eq(tm_env_step(&r->envs[i], action, obs, &r->reward[i], &r->term[i], &r->trunc[i]), TM_OK);
    r->ep_ret[i] += r->reward[i];
    r->ep_len[i]++;
    r->done[i] = r->term[i] || r->trunc[i];
    if (r->done[i]) {
        memcpy(r->final_obs + (size_t)i * od, obs, sizeof(float) * (size_t)od);
        r->final_ret[i] = r->ep_ret[i];
        r->final_len[i] = r->ep_len[i];
        r->ep_ret[i] = 0.0f;
        r->ep_len[i] = 0;
        cr_assert_eq(tm_env_reset_next(&r->envs[i], obs), TM_OK);
    }
}

static void ref_free(reference *r, int N) {
    for (int i = 0; i < N; i++) tm_env_free(&r->envs[i]);
    free(r->envs); free(r->obs); free(r->final_obs); free(r->reward); free(r->ep_ret);
    free(r->final_ret); free(r->term); free(r->trunc); free(r->done); free(r->ep_len);
    free(r->final_len);
}

/* Asserts env i's slot equals the reference, bit for bit. */
static void assert_same(const tm_envpool *p, const reference *r, int i, int t) {
    int od = p->spec.obs_dim;
    cr_assert_eq(memcmp(p->obs + (size_t)i * od, r->obs + (size_t)i * od, sizeof(float) * (size_t)od), 0,
                 "obs of env %d at step %d", i, t);
    cr_assert_eq(memcmp(&p->reward[i], &r->reward[i], sizeof(float)), 0, "reward env %d step %d", i, t);
    cr_assert_eq(p->terminated[i], r->term[i]);
    cr_assert_eq(p->truncated[i], r->trunc[i]);
    cr_assert_eq(p->done[i], r->done[i]);
    cr_assert_eq(memcmp(&p->episode_return[i], &r->ep_ret[i], sizeof(float)), 0);
    cr_assert_eq(p->episode_length[i], r->ep_len[i]);
    if (r->done[i]) {
        cr_assert_eq(memcmp(p->final_obs + (size_t)i * od, r->final_obs + (size_t)i * od,
                            sizeof(float) * (size_t)od), 0, "final obs env %d step %d", i, t);
        cr_assert_eq(memcmp(&p->final_return[i], &r->final_ret[i], sizeof(float)), 0);
        cr_assert_eq(p->final_length[i], r->final_len[i]);
    }
}

/* Fills the actions of step t for all N envs: discrete int32 or continuous
 * float32 inside the bounds (a deterministic pattern, different per env). */
static void fill_actions(void *buf, const tm_env_spec *spec, int N, int t) {
    for (int i = 0; i < N; i++) {
        if (spec->action_kind == TM_ACTION_DISCRETE) {
            ((int32_t *)buf)[i] = action_for(i, t, spec->n_actions);
            continue;
        }
        float *a = (float *)buf + (size_t)i * spec->act_dim;
        for (int j = 0; j < spec->act_dim; j++) {
            float u = sinf(1.3f * (float)i + 0.7f * (float)t + 0.37f * (float)j); /* in [-1, 1] */
            a[j] = spec->low[j] + (spec->high[j] - spec->low[j]) * 0.5f * (u + 1.0f);
        }
    }
}

static void check_sync_identical(const char *name, const char **opts, int n_opts, int N, int T,
                                 int steps) {
    tm_envpool_config cfg = tm_envpool_config_default();
    cfg.n_envs = N;
    cfg.n_threads = T;
    cfg.seed = 100;
    tm_envpool *p;
    cr_assert_eq(tm_envpool_create(&p, name, opts, n_opts, &cfg), TM_OK, "%s", tm_last_error());
    cr_assert_eq(p->cfg.n_threads, T < N ? T : N);
    reference r;
    ref_init(&r, name, opts, n_opts, N, 100);
    cr_assert_eq(tm_envpool_reset(p), TM_OK, "%s", tm_last_error());
    for (int i = 0; i < N; i++) assert_same(p, &r, i, 0);
    size_t row = 4 * (size_t)p->spec.act_dim;
    unsigned char *acts = calloc((size_t)N, row);
    int ended = 0;
    for (int t = 1; t <= steps; t++) {
        fill_actions(acts, &p->spec, N, t);
        cr_assert_eq(tm_envpool_step(p, acts), TM_OK, "%s", tm_last_error());
        for (int i = 0; i < N; i++) {
            ref_step(&r, i, acts + row * (size_t)i);
            assert_same(p, &r, i, t);
            ended += r.done[i];
        }
    }
    cr_assert(ended >= N, "%s: every env finished an episode, so auto-reset was exercised", name);
    cr_assert_eq(p->episodes_completed, ended);
    free(acts);
    ref_free(&r, N);
    tm_envpool_free(p);
}

Test(pool, sync_results_are_bit_identical_to_one_by_one_for_any_thread_count) {
    const char *cue[] = {"horizon=9"};
    int threads[] = {1, 2, 3, 7};
    for (int k = 0; k < 4; k++) {
        check_sync_identical("delayed_cue", cue, 1, 7, threads[k], 130);
        check_sync_identical("count_recall", NULL, 0, 5, threads[k], 130);
    }
    check_sync_identical("repeat_previous", NULL, 0, 4, 2, 130);
    check_sync_identical("repeat_first", NULL, 0, 3, 8, 130); /* T capped at N */
}

Test(pool, mujoco_sync_results_are_bit_identical_to_one_by_one) {
    /* A short time limit makes every env auto-reset within the test. */
    const char *opts[] = {"env.max_episode_steps=25"};
    check_sync_identical("Hopper-v5", opts, 1, 3, 2, 60);
    check_sync_identical("Ant-P-v5", opts, 1, 3, 3, 30);
}

Test(pool, env_i_is_seeded_seed_plus_i_so_envs_differ_and_pools_repeat) {
    tm_envpool_config cfg = tm_envpool_config_default();
    cfg.n_envs = 6;
    cfg.n_threads = 2;
    cfg.seed = 7;
    tm_envpool *a, *b;
    cr_assert_eq(tm_envpool_create(&a, "repeat_first", NULL, 0, &cfg), TM_OK);
    cr_assert_eq(tm_envpool_create(&b, "repeat_first", NULL, 0, &cfg), TM_OK);
    cr_assert_eq(tm_envpool_reset(a), TM_OK);
    cr_assert_eq(tm_envpool_reset(b), TM_OK);
    int32_t acts[6] = {0};
    /* Compare the first 10 observations of every env: a shuffled deck's
     * first 10 suits coincide for two seeds with probability ~4^-10. */
    static float ta[6][11][4], tb[6][11][4];
    for (int t = 0; t <= 10; t++) {
        if (t) {
            cr_assert_eq(tm_envpool_step(a, acts), TM_OK);
            cr_assert_eq(tm_envpool_step(b, acts), TM_OK);
        }
        for (int i = 0; i < 6; i++) {
            memcpy(ta[i][t], a->obs + i * 4, sizeof ta[i][t]);
            memcpy(tb[i][t], b->obs + i * 4, sizeof tb[i][t]);
        }
    }
    cr_assert_eq(memcmp(ta, tb, sizeof ta), 0, "same config, same trajectories");
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            cr_assert(memcmp(ta[i], ta[j], sizeof ta[i]) != 0, "envs %d and %d differ", i, j);
    /* And env i of the pool is exactly a lone env seeded 7 + i. */
    tm_env lone;
    cr_assert_eq(tm_env_create(&lone, "repeat_first", NULL, 0), TM_OK);
    float obs[4];
    cr_assert_eq(tm_env_reset(&lone, 7 + 4, obs), TM_OK);
    cr_assert_eq(memcmp(obs, ta[4][0], sizeof obs), 0);
    tm_env_free(&lone);
    tm_envpool_free(a);
    tm_envpool_free(b);
}

Test(pool, bad_action_fails_only_its_env_and_leaves_it_unchanged) {
    tm_envpool_config cfg = tm_envpool_config_default();
    cfg.n_envs = 6;
    cfg.n_threads = 3;
    cfg.seed = 1;
    tm_envpool *p;
    cr_assert_eq(tm_envpool_create(&p, "count_recall", NULL, 0, &cfg), TM_OK);
    reference r;
    ref_init(&r, "count_recall", NULL, 0, 6, 1);
    cr_assert_eq(tm_envpool_reset(p), TM_OK);
    int32_t acts[6];
    for (int t = 1; t <= 60; t++) {
        for (int i = 0; i < 6; i++) acts[i] = action_for(i, t, p->spec.n_actions);
        int bad = t % 5 == 0 ? (t / 5) % 6 : -1;
        if (bad >= 0) acts[bad] = t % 2 ? -3 : 1000;
        tm_status st = tm_envpool_step(p, acts);
        if (bad >= 0) {
            cr_assert_eq(st, TM_ERANGE);
            cr_assert(strstr(tm_last_error(), "env"), "%s", tm_last_error());
            cr_assert_eq(p->status[bad], TM_ERANGE);
            cr_assert(strstr(p->message[bad], "count_recall"), "%s", p->message[bad]);
        } else {
            cr_assert_eq(st, TM_OK, "%s", tm_last_error());
        }
        for (int i = 0; i < 6; i++) {
            if (i == bad) {
                cr_assert_eq(p->reward[i], 0.0f);
                cr_assert_eq(p->done[i], 0);
                /* The bad env did not move: its obs equals the reference's,
                 * which was not stepped either. */
                cr_assert_eq(memcmp(p->obs + i * 4, r.obs + i * 4, sizeof(float) * 4), 0);
                continue;
            }
            cr_assert_eq(p->status[i], TM_OK);
            ref_step(&r, i, &acts[i]);
            assert_same(p, &r, i, t);
        }
    }
    ref_free(&r, 6);
    tm_envpool_free(p);
}

Test(pool, auto_reset_keeps_final_obs_and_logs_episodes) {
    const char *opts[] = {"horizon=3", "n_cues=2"};
    tm_envpool_config cfg = tm_envpool_config_default();
    cfg.n_envs = 4;
    cfg.n_threads = 2;
    cfg.episode_log = 5;
    tm_envpool *p;
    cr_assert_eq(tm_envpool_create(&p, "delayed_cue", opts, 2, &cfg), TM_OK);
    cr_assert_eq(tm_envpool_reset(p), TM_OK);
    int cue[4];
    for (int i = 0; i < 4; i++) cue[i] = p->obs[i * 3] == 1.0f ? 0 : 1;
    int32_t acts[4];
    for (int t = 1; t <= 3; t++) {
        /* env 0 and 2 answer right, 1 and 3 wrong. */
        for (int i = 0; i < 4; i++) acts[i] = i % 2 ? 1 - cue[i] : cue[i];
        cr_assert_eq(tm_envpool_step(p, acts), TM_OK);
    }
    for (int i = 0; i < 4; i++) {
        cr_assert(p->done[i] && p->terminated[i] && !p->truncated[i]);
        /* final obs: t = 3 = horizon: no cue, no query flag */
        cr_assert(p->final_obs[i * 3] == 0.0f && p->final_obs[i * 3 + 1] == 0.0f &&
                  p->final_obs[i * 3 + 2] == 0.0f);
        /* obs: the next episode's first observation shows a cue */
        cr_assert_eq(p->obs[i * 3] + p->obs[i * 3 + 1], 1.0f);
        cr_assert_eq(p->final_return[i], i % 2 ? 0.0f : 1.0f);
        cr_assert_eq(p->final_length[i], 3);
        cr_assert_eq(p->episode_length[i], 0);
    }
    tm_envpool_episode eps[8];
    int n = tm_envpool_pop_episodes(p, eps, 8);
    cr_assert_eq(n, 4);
    for (int j = 0; j < 4; j++) {
        cr_assert_eq(eps[j].env, j, "sync mode logs in env order");
        cr_assert_eq(eps[j].length, 3);
        cr_assert_eq(eps[j].ret, j % 2 ? 0.0f : 1.0f);
        cr_assert_eq(eps[j].terminated, 1);
    }
    cr_assert_eq(tm_envpool_pop_episodes(p, eps, 8), 0);
    /* Two more rounds: 8 episodes into a ring of 5 keeps the newest 5. */
    for (int t = 1; t <= 6; t++) cr_assert_eq(tm_envpool_step(p, acts), TM_OK);
    cr_assert_eq(p->episodes_completed, 12);
    cr_assert_eq(p->episodes_dropped, 3);
    n = tm_envpool_pop_episodes(p, eps, 8);
    cr_assert_eq(n, 5);
    cr_assert_eq(eps[0].env, 3);
    cr_assert_eq(eps[4].env, 3);
    tm_envpool_free(p);
}

Test(pool, async_returns_every_sent_env_exactly_once_per_cycle_and_matches_reference) {
    const int N = 8;
    tm_envpool_config cfg = tm_envpool_config_default();
    cfg.n_envs = N;
    cfg.n_threads = 3;
    cfg.seed = 55;
    tm_envpool *p;
    cr_assert_eq(tm_envpool_create(&p, "repeat_previous", NULL, 0, &cfg), TM_OK);
    reference r;
    ref_init(&r, "repeat_previous", NULL, 0, N, 55);
    cr_assert_eq(tm_envpool_reset(p), TM_OK);
    int step_of[8] = {0};
    int ids[8], ready[8], n_ready = N;
    for (int i = 0; i < N; i++) ready[i] = i;
    int32_t acts[8];
    for (int cycle = 0; cycle < 120; cycle++) {
        /* Send the envs that are ready, in a shuffled order. */
        for (int j = 0; j < n_ready; j++) {
            int q = (j * 5 + cycle) % n_ready;
            int t = ready[j]; ready[j] = ready[q]; ready[q] = t;
        }
        for (int j = 0; j < n_ready; j++)
            acts[j] = action_for(ready[j], step_of[ready[j]] + 1, p->spec.n_actions);
        cr_assert_eq(tm_envpool_send(p, ready, n_ready, acts), TM_OK, "%s", tm_last_error());
        for (int j = 0; j < n_ready; j++) {
            step_of[ready[j]]++;
            ref_step(&r, ready[j], &acts[j]);
        }
        /* Receive in pieces of 3 (the last piece smaller) until all are back. */
        int seen[8] = {0}, got = 0, in_flight = tm_envpool_in_flight(p);
        cr_assert_eq(in_flight, n_ready + 0);
        while (tm_envpool_in_flight(p) > 0) {
            int k = tm_envpool_in_flight(p) < 3 ? tm_envpool_in_flight(p) : 3;
            cr_assert_eq(tm_envpool_recv(p, k, ids), TM_OK, "%s", tm_last_error());
            for (int j = 0; j < k; j++) {
                cr_assert(ids[j] >= 0 && ids[j] < N);
                cr_assert_eq(seen[ids[j]], 0, "env %d returned twice", ids[j]);
                seen[ids[j]] = 1;
                assert_same(p, &r, ids[j], cycle);
                ready[got++] = ids[j];
            }
        }
        cr_assert_eq(got, in_flight, "every sent env comes back");
        /* Next cycle: only a subset (varying) is sent, the rest wait. */
        n_ready = 1 + (cycle * 3) % N;
    }
    ref_free(&r, N);
    tm_envpool_free(p);
}

Test(pool, async_misuse_is_rejected_without_side_effects) {
    tm_envpool_config cfg = tm_envpool_config_default();
    cfg.n_envs = 4;
    cfg.n_threads = 2;
    tm_envpool *p;
    cr_assert_eq(tm_envpool_create(&p, "repeat_first", NULL, 0, &cfg), TM_OK);
    cr_assert_eq(tm_envpool_reset(p), TM_OK);
    int32_t acts[4] = {0, 1, 2, 3};
    int ids[4];
    cr_assert_eq(tm_envpool_recv(p, 1, ids), TM_ESTATE, "nothing in flight");
    int dup[2] = {1, 1};
    cr_assert_eq(tm_envpool_send(p, dup, 2, acts), TM_EINVAL);
    int out[2] = {0, 4};
    cr_assert_eq(tm_envpool_send(p, out, 2, acts), TM_ERANGE);
    cr_assert_eq(tm_envpool_in_flight(p), 0, "a rejected send sends nothing");
    int two[2] = {2, 0};
    cr_assert_eq(tm_envpool_send(p, two, 2, acts), TM_OK);
    cr_assert_eq(tm_envpool_send(p, two + 1, 1, acts), TM_ESTATE, "env 0 is in flight");
    cr_assert_eq(tm_envpool_step(p, acts), TM_ESTATE);
    cr_assert_eq(tm_envpool_reset(p), TM_ESTATE);
    cr_assert_eq(tm_envpool_recv(p, 3, ids), TM_ESTATE, "only 2 in flight");
    cr_assert_eq(tm_envpool_recv(p, 2, ids), TM_OK);
    cr_assert((ids[0] == 0 && ids[1] == 2) || (ids[0] == 2 && ids[1] == 0));
    cr_assert_eq(tm_envpool_step(p, acts), TM_OK);
    tm_envpool_free(p);
}

/* A continuous test env for tm_envpool_create_with: x' = x + a[0] - a[1]. */
typedef struct { float x; uint64_t seed; float low[2], high[2]; } drift;
static void drift_seed(void *self, uint64_t seed) { ((drift *)self)->seed = seed; }
static tm_status drift_reset(void *self, float *obs) {
    drift *e = self;
    e->x = (float)(e->seed % 5);
    obs[0] = e->x;
    return TM_OK;
}
static tm_status drift_step(void *self, const void *action, float *obs, float *reward, int *term,
                            int *trunc) {
    drift *e = self;
    const float *a = action;
    e->x += a[0] - a[1];
    obs[0] = e->x;
    *reward = -e->x * e->x;
    *term = 0;
    *trunc = 0;
    return TM_OK;
}
static void drift_destroy(void *self) { free(self); }
static const tm_env_vtable drift_vt = {drift_seed, drift_reset, drift_step, drift_destroy};
static tm_status drift_create(tm_env *env, const char *name, const char *const *opts, int n) {
    (void)opts;
    (void)n;
    drift *e = calloc(1, sizeof *e);
    e->low[0] = e->low[1] = -1.0f;
    e->high[0] = e->high[1] = 1.0f;
    tm_env_spec spec = {.obs_dim = 1, .action_kind = TM_ACTION_CONTINUOUS, .act_dim = 2,
                        .low = e->low, .high = e->high, .max_episode_steps = 4};
    return tm_env_init(env, &drift_vt, e, &spec, name);
}

Test(pool, nan_and_wild_continuous_actions_fail_their_env_only) {
    tm_envpool_config cfg = tm_envpool_config_default();
    cfg.n_envs = 5;
    cfg.n_threads = 2;
    cfg.seed = 0;
    tm_envpool *p;
    cr_assert_eq(tm_envpool_create_with(&p, drift_create, "drift", NULL, 0, &cfg), TM_OK);
    cr_assert_eq(tm_envpool_reset(p), TM_OK);
    for (int i = 0; i < 5; i++) cr_assert_eq(p->obs[i], (float)i, "env i seeded with seed + i");
    float acts[5][2];
    for (int i = 0; i < 5; i++) acts[i][0] = 0.5f, acts[i][1] = 0.0f;
    acts[1][1] = NAN;
    acts[3][0] = -2e6f;
    cr_assert_eq(tm_envpool_step(p, acts), TM_ENUMERIC, "the first failing env (1) gives the status");
    cr_assert(strstr(tm_last_error(), "2 of 5"), "%s", tm_last_error());
    cr_assert_eq(p->status[1], TM_ENUMERIC);
    cr_assert_eq(p->status[3], TM_ERANGE);
    cr_assert(strstr(p->message[1], "action[1]"), "%s", p->message[1]);
    cr_assert(strstr(p->message[3], "action[0]"), "%s", p->message[3]);
    for (int i = 0; i < 5; i++) {
        int bad = i == 1 || i == 3;
        cr_assert_eq(p->obs[i], (float)i + (bad ? 0.0f : 0.5f), "env %d", i);
        cr_assert_eq(p->episode_length[i], bad ? 0 : 1);
    }
    /* A good step afterwards works for all, and the time limit (4) counts
     * only real steps: the good envs truncate one step before the bad ones. */
    acts[1][1] = 0.0f;
    acts[3][0] = 0.5f;
    for (int t = 2; t <= 4; t++) cr_assert_eq(tm_envpool_step(p, acts), TM_OK, "%s", tm_last_error());
    for (int i = 0; i < 5; i++) cr_assert_eq(p->truncated[i], !(i == 1 || i == 3), "env %d", i);
    tm_envpool_free(p);
}

Test(pool, bad_config_and_unknown_env_are_einval) {
    tm_envpool *p = (tm_envpool *)1;
    tm_envpool_config cfg = tm_envpool_config_default();
    cfg.n_envs = 0;
    cr_assert_eq(tm_envpool_create(&p, "delayed_cue", NULL, 0, &cfg), TM_EINVAL);
    cr_assert_null(p);
    cr_assert(strstr(tm_last_error(), "n_envs"), "%s", tm_last_error());
    cfg.n_envs = 2;
    cfg.n_threads = -1;
    cr_assert_eq(tm_envpool_create(&p, "delayed_cue", NULL, 0, &cfg), TM_EINVAL);
    cfg.n_threads = 1;
    cr_assert_eq(tm_envpool_create(&p, "no_such_env", NULL, 0, &cfg), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "no_such_env"), "%s", tm_last_error());
    const char *bad[] = {"horizon=-4"};
    cr_assert_eq(tm_envpool_create(&p, "delayed_cue", bad, 1, &cfg), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "horizon"), "%s", tm_last_error());
    tm_envpool_free(NULL);
}
