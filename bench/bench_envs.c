/* `transmamba bench envs`: steps/s of the env pool against a bare loop on
 * the same envs and thread count, and their ratio. Definition: bench_envs.h;
 * shared spec cli.md ("bench envs"), envs.md.
 *
 * Baselines, measured in the same run:
 *   MuJoCo tasks: T threads, each stepping its N/T mjData copies of the same
 *     model with mj_step x frame_skip and the same actions written to ctrl:
 *     the physics alone, with no observation, reward or sync. Where an env
 *     of the pool ended an episode (recorded in the pool's last run), the
 *     bare loop resets that mjData (mj_resetData + mj_forward, as an env
 *     reset does): without it the bare loop would simulate other states (a
 *     Humanoid lying on the floor costs twice the contacts of a standing
 *     one) and the ratio would compare states, not the pool. The column
 *     "mj_step only" (JSON bare_steps_per_sec) is the loop with no resets.
 *   synthetic tasks: T threads, each calling tm_env_step (with reset_next
 *     at episode ends) on its own N/T envs: the envs without the pool.
 * One "step" is one env step (frame_skip physics steps). Each figure is the
 * best of --repeat runs of the same step count, which filters out time lost
 * to other processes on a shared machine. */
#include "bench/bench_envs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mujoco/mujoco.h>

#include "core/rng.h"
#include "envs/mujoco/mujoco_env.h"
#include "envs/pool.h"
#include "envs/registry.h"
#include "envs/synthetic/synthetic.h"

#define N_ACTION_BATCHES 16 /* pre-drawn action batches, cycled */
#define MIN_SECONDS 0.3     /* auto step count: a pool run lasts at least this */

typedef struct {
    const char *env;
    int threads, envs;
    double pool_sps, raw_sps, bare_sps; /* bare_sps < 0: not measured */
} bench_row;

#define MAX_SET 32

typedef struct {
    const char *env; /* NULL = all */
    int n_envs, n_threads, steps, repeat, json;
    const char *set[MAX_SET]; /* env options (--set env.KEY=VALUE) */
    int n_set;
} bench_opts;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Draws N_ACTION_BATCHES batches of N actions valid for spec (uniform in
 * the bounds, or uniform discrete). Rows are 4-byte elements. */
static void *draw_actions(const tm_env_spec *spec, int N) {
    size_t per = (size_t)spec->act_dim;
    unsigned char *buf = malloc(4 * per * (size_t)N * N_ACTION_BATCHES);
    if (!buf) return NULL;
    tm_rng rng;
    tm_rng_seed(&rng, 12345, 0);
    for (size_t k = 0; k < (size_t)N * N_ACTION_BATCHES; k++) {
        if (spec->action_kind == TM_ACTION_DISCRETE) {
            int32_t a = (int32_t)tm_rng_below(&rng, (uint64_t)spec->n_actions);
            memcpy(buf + 4 * k, &a, 4);
        } else {
            float *a = (float *)(void *)buf + k * per;
            for (size_t j = 0; j < per; j++)
                a[j] = spec->low[j] + (spec->high[j] - spec->low[j]) * tm_rng_uniform(&rng);
        }
    }
    return buf;
}

/* --- the pool -------------------------------------------------------------- */

/* Runs `steps` sync steps; with ends, records ends[s * N + i] = done[i]. */
static tm_status pool_run(tm_envpool *p, const unsigned char *actions, size_t batch_bytes, int steps,
                          unsigned char *ends, double *seconds) {
    int N = p->cfg.n_envs;
    double t0 = now_seconds();
    for (int s = 0; s < steps; s++) {
        TM_TRY(tm_envpool_step(p, actions + batch_bytes * (size_t)(s % N_ACTION_BATCHES)));
        if (ends)
            for (int i = 0; i < N; i++) ends[(size_t)s * N + i] = (unsigned char)p->done[i];
    }
    *seconds = now_seconds() - t0;
    return TM_OK;
}

/* Measures the pool; with *steps == 0 picks a step count first. With
 * record, *ends gets the episode ends of the last run ([steps, N], malloc'd). */
static tm_status measure_pool(const char *name, const bench_opts *o, int record, int *steps,
                              unsigned char **ends, double *sps) {
    tm_envpool_config cfg = tm_envpool_config_default();
    cfg.n_envs = o->n_envs;
    cfg.n_threads = o->n_threads;
    cfg.episode_log = 0;
    tm_envpool *p;
    TM_TRY(tm_envpool_create(&p, name, o->set, o->n_set, &cfg));
    unsigned char *actions = draw_actions(&p->spec, o->n_envs);
    size_t batch_bytes = 4 * (size_t)p->spec.act_dim * (size_t)o->n_envs;
    tm_status st = actions ? tm_envpool_reset(p) : tm_fail(TM_ENOMEM, "bench envs: out of memory");
    double secs = 0.0;
    if (st == TM_OK && *steps == 0) {
        int s = 16;
        while (st == TM_OK) {
            st = pool_run(p, actions, batch_bytes, s, NULL, &secs);
            if (secs >= MIN_SECONDS || s >= (1 << 24)) break;
            s *= secs > 0.01 ? 2 : 8;
        }
        *steps = s;
    } else if (st == TM_OK) {
        st = pool_run(p, actions, batch_bytes, *steps / 10 + 1, NULL, &secs); /* warm-up */
    }
    *ends = NULL;
    if (st == TM_OK && record) {
        *ends = malloc((size_t)*steps * (size_t)o->n_envs);
        if (!*ends) st = tm_fail(TM_ENOMEM, "bench envs: no memory to record %d steps", *steps);
    }
    double best = 0.0;
    for (int r = 0; r < o->repeat && st == TM_OK; r++) {
        st = pool_run(p, actions, batch_bytes, *steps, r == o->repeat - 1 ? *ends : NULL, &secs);
        double v = (double)*steps * o->n_envs / (secs > 0 ? secs : 1e-9);
        if (v > best) best = v;
    }
    *sps = best;
    free(actions);
    tm_envpool_free(p);
    return st;
}

/* --- the bare loops ---------------------------------------------------------- */

/* Rounds: the caller opens round r + 1; each worker runs its loop once and
 * counts itself finished. abort releases workers when a start failed. */
typedef struct {
    pthread_mutex_t mtx;
    pthread_cond_t cond;
    int round, finished, abort;
} raw_sync;

typedef struct {
    pthread_t thread;
    raw_sync *sync;
    int begin, end, steps, repeat;
    const unsigned char *actions;
    size_t action_bytes; /* per env */
    int n_envs;
    /* MuJoCo */
    const mjModel *m;
    int frame_skip;
    mjData **data;
    const unsigned char *ends; /* [steps, N] or NULL: where to reset */
    /* synthetic */
    tm_env *envs;
    float *obs;
    tm_status status;
} raw_worker;

static const unsigned char *action_of(const raw_worker *w, int s, int i) {
    return w->actions + w->action_bytes * ((size_t)(s % N_ACTION_BATCHES) * w->n_envs + (size_t)i);
}

static void raw_mujoco_steps(raw_worker *w) {
    int nu = w->m->nu;
    for (int s = 0; s < w->steps; s++)
        for (int i = w->begin; i < w->end; i++) {
            mjData *d = w->data[i - w->begin];
            const float *a = (const float *)(const void *)action_of(w, s, i);
            for (int j = 0; j < nu; j++) d->ctrl[j] = a[j];
            for (int k = 0; k < w->frame_skip; k++) mj_step(w->m, d);
            if (w->ends && w->ends[(size_t)s * w->n_envs + i]) {
                mj_resetData(w->m, d);
                mj_forward(w->m, d);
            }
        }
}

static void raw_env_steps(raw_worker *w) {
    int od = w->envs[0].spec.obs_dim;
    for (int s = 0; s < w->steps && w->status == TM_OK; s++)
        for (int i = w->begin; i < w->end; i++) {
            float r, *obs = w->obs + (size_t)(i - w->begin) * od;
            int term, trunc;
            tm_env *env = &w->envs[i - w->begin];
            tm_status st = tm_env_step(env, action_of(w, s, i), obs, &r, &term, &trunc);
            if (st == TM_OK && (term || trunc)) st = tm_env_reset_next(env, obs);
            if (st != TM_OK) {
                w->status = st;
                break;
            }
        }
}

static void *raw_main(void *arg) {
    raw_worker *w = arg;
    raw_sync *sy = w->sync;
    for (int r = 0; r < w->repeat; r++) {
        pthread_mutex_lock(&sy->mtx);
        while (sy->round <= r && !sy->abort) pthread_cond_wait(&sy->cond, &sy->mtx);
        int abort = sy->abort;
        pthread_mutex_unlock(&sy->mtx);
        if (abort) return NULL;
        if (w->m) raw_mujoco_steps(w);
        else raw_env_steps(w);
        pthread_mutex_lock(&sy->mtx);
        sy->finished++;
        pthread_cond_broadcast(&sy->cond);
        pthread_mutex_unlock(&sy->mtx);
    }
    return NULL;
}

/* Prepares worker w's own envs or mjData copies (seeds as the pool's). */
static tm_status raw_prepare(raw_worker *w, const char *name, const bench_opts *o) {
    int n = w->end - w->begin;
    if (w->m) {
        w->data = calloc((size_t)(n > 0 ? n : 1), sizeof *w->data);
        if (!w->data) return tm_fail(TM_ENOMEM, "bench envs: out of memory");
        for (int i = 0; i < n; i++) {
            w->data[i] = mj_makeData(w->m);
            if (!w->data[i]) return tm_fail(TM_ENOMEM, "bench envs: mj_makeData failed");
            mj_forward(w->m, w->data[i]);
        }
        return TM_OK;
    }
    w->envs = calloc((size_t)(n > 0 ? n : 1), sizeof *w->envs);
    if (!w->envs) return tm_fail(TM_ENOMEM, "bench envs: out of memory");
    for (int i = 0; i < n; i++) TM_TRY(tm_env_create(&w->envs[i], name, o->set, o->n_set));
    w->obs = calloc((size_t)(n > 0 ? n : 1) * (size_t)w->envs[0].spec.obs_dim, sizeof *w->obs);
    if (!w->obs) return tm_fail(TM_ENOMEM, "bench envs: out of memory");
    for (int i = 0; i < n; i++)
        TM_TRY(tm_env_reset(&w->envs[i], (uint64_t)(w->begin + i),
                            w->obs + (size_t)i * w->envs[0].spec.obs_dim));
    return TM_OK;
}

static void raw_release(raw_worker *w) {
    int n = w->end - w->begin;
    if (w->data) {
        for (int i = 0; i < n; i++)
            if (w->data[i]) mj_deleteData(w->data[i]);
        free(w->data);
    }
    if (w->envs) {
        for (int i = 0; i < n; i++) tm_env_free(&w->envs[i]);
        free(w->envs);
    }
    free(w->obs);
}

/* The bare loop over N envs (or mjData) on T threads, best of o->repeat. */
static tm_status measure_raw(const char *name, int is_mujoco, const bench_opts *o, int steps,
                             const unsigned char *ends, double *sps) {
    int N = o->n_envs, T = o->n_threads < N ? o->n_threads : N;
    mjModel *m = NULL;
    int frame_skip = 1;
    tm_env probe;
    TM_TRY(tm_env_create(&probe, name, o->set, o->n_set));
    unsigned char *actions = draw_actions(&probe.spec, N);
    size_t action_bytes = 4 * (size_t)probe.spec.act_dim;
    tm_env_free(&probe);
    if (!actions) return tm_fail(TM_ENOMEM, "bench envs: out of memory");
    tm_status st = TM_OK;
    if (is_mujoco) st = tm_mujoco_task_model(name, &m, &frame_skip);
    raw_worker *w = calloc((size_t)T, sizeof *w);
    if (st == TM_OK && !w) st = tm_fail(TM_ENOMEM, "bench envs: out of memory");
    raw_sync sync = {.round = 0, .finished = 0, .abort = 0};
    pthread_mutex_init(&sync.mtx, NULL);
    pthread_cond_init(&sync.cond, NULL);
    for (int t = 0; t < T && st == TM_OK; t++) {
        w[t] = (raw_worker){.sync = &sync, .steps = steps, .repeat = o->repeat,
                            .begin = (int)((long long)N * t / T), .end = (int)((long long)N * (t + 1) / T),
                            .actions = actions, .action_bytes = action_bytes, .n_envs = N, .m = m,
                            .frame_skip = frame_skip, .ends = ends};
        st = raw_prepare(&w[t], name, o);
    }
    int started = 0;
    for (int t = 0; t < T && st == TM_OK; t++) {
        if (pthread_create(&w[t].thread, NULL, raw_main, &w[t]) != 0)
            st = tm_fail(TM_ENOMEM, "bench envs: cannot start thread %d of %d", t, T);
        else
            started++;
    }
    double best = 0.0;
    for (int r = 0; r < o->repeat && st == TM_OK; r++) {
        pthread_mutex_lock(&sync.mtx);
        sync.finished = 0;
        sync.round = r + 1;
        pthread_cond_broadcast(&sync.cond);
        double t0 = now_seconds();
        while (sync.finished < T) pthread_cond_wait(&sync.cond, &sync.mtx);
        double secs = now_seconds() - t0;
        pthread_mutex_unlock(&sync.mtx);
        double v = (double)steps * N / (secs > 0 ? secs : 1e-9);
        if (v > best) best = v;
    }
    if (st != TM_OK) {
        pthread_mutex_lock(&sync.mtx);
        sync.abort = 1;
        pthread_cond_broadcast(&sync.cond);
        pthread_mutex_unlock(&sync.mtx);
    }
    for (int t = 0; t < started; t++) pthread_join(w[t].thread, NULL);
    for (int t = 0; w && t < T; t++) {
        if (st == TM_OK && w[t].status != TM_OK) st = w[t].status;
        raw_release(&w[t]);
    }
    pthread_mutex_destroy(&sync.mtx);
    pthread_cond_destroy(&sync.cond);
    free(w);
    free(actions);
    if (m) mj_deleteModel(m);
    *sps = best;
    return st;
}

/* --- the command ------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: transmamba bench envs [--env NAME|all] [--envs N] [--threads T] [--steps S]\n"
            "                             [--repeat R] [--set env.KEY=VALUE] [--json]\n"
            "  Steps/s of the env pool against a bare loop on the same envs and threads\n"
            "  (MuJoCo: mj_step x frame_skip on N mjData copies, reset where the pool's\n"
            "  envs ended episodes; synthetic: tm_env_step without the pool), and their\n"
            "  ratio; for MuJoCo also the mj_step loop with no resets.\n"
            "  --env NAME|all  one registered env, or every MuJoCo task (-v5) and\n"
            "                  synthetic task (default all)\n"
            "  --envs N        envs in the pool (default 8 x threads)\n"
            "  --threads T     worker threads (default 2)\n"
            "  --steps S       pool steps per run (default: enough for %.1f s)\n"
            "  --repeat R      runs per figure, the best is kept (default 3)\n"
            "  --set env.KEY=VALUE  an env option (repeatable), e.g.\n"
            "                  env.terminate_when_unhealthy=0; the MuJoCo bare loop\n"
            "                  always uses the task's default model and frame skip\n"
            "  --json          end stdout with one JSON line of the results\n",
            MIN_SECONDS);
}

static int parse_int(const char *opt, const char *v, int lo, int hi, int *out) {
    char *end = NULL;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "transmamba bench envs: --%s must be an integer in [%d, %d] (got '%s')\n", opt,
                lo, hi, v ? v : "");
        return 0;
    }
    *out = (int)x;
    return 1;
}

static int is_mujoco_name(const char *name) {
    const char *const *mj = tm_mujoco_env_names();
    for (int i = 0; mj[i]; i++)
        if (strcmp(mj[i], name) == 0) return 1;
    return 0;
}

int tm_bench_envs_main(int argc, char **argv) {
    bench_opts o = {.env = NULL, .n_envs = 0, .n_threads = 2, .steps = 0, .repeat = 3, .json = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "transmamba bench envs: unexpected argument '%s'\n", a);
            return 2;
        }
        char name[32];
        const char *value = strchr(a, '=');
        snprintf(name, sizeof name, "%.*s", (int)(value ? value - a - 2 : (long)strlen(a) - 2), a + 2);
        if (value) value++;
        int takes = strcmp(name, "help") != 0 && strcmp(name, "json") != 0;
        if (takes && !value) value = i + 1 < argc ? argv[++i] : NULL;
        int ok = 1;
        if (strcmp(name, "help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(name, "json") == 0) {
            o.json = 1;
        } else if (strcmp(name, "env") == 0) {
            o.env = value && strcmp(value, "all") != 0 ? value : NULL;
            ok = value != NULL;
        } else if (strcmp(name, "envs") == 0) {
            ok = parse_int(name, value, 1, 1 << 16, &o.n_envs);
        } else if (strcmp(name, "threads") == 0) {
            ok = parse_int(name, value, 1, 1024, &o.n_threads);
        } else if (strcmp(name, "steps") == 0) {
            ok = parse_int(name, value, 1, 1 << 30, &o.steps);
        } else if (strcmp(name, "set") == 0) {
            ok = value != NULL && o.n_set < MAX_SET;
            if (ok) o.set[o.n_set++] = value;
            else fprintf(stderr, "transmamba bench envs: --set needs KEY=VALUE (at most %d)\n", MAX_SET);
        } else if (strcmp(name, "repeat") == 0) {
            ok = parse_int(name, value, 1, 100, &o.repeat);
        } else {
            fprintf(stderr, "transmamba bench envs: unknown option '--%s' (options: --env, --envs, "
                            "--threads, --steps, --repeat, --set, --json, --help)\n", name);
            return 2;
        }
        if (!ok) return 2;
    }
    if (o.n_envs == 0) o.n_envs = 8 * o.n_threads;

    /* The env list: one, or every MuJoCo base task and synthetic task. */
    const char *list[64];
    int n = 0;
    if (o.env) {
        tm_env probe;
        if (tm_env_create(&probe, o.env, o.set, o.n_set) != TM_OK) {
            fprintf(stderr, "transmamba bench envs: %s\n", tm_last_error());
            return 2;
        }
        tm_env_free(&probe);
        list[n++] = o.env;
    } else {
        const char *const *mj = tm_mujoco_env_names();
        for (int i = 0; mj[i] && n < 48; i++)
            if (!strstr(mj[i], "-P-") && !strstr(mj[i], "-V-")) list[n++] = mj[i];
        const char *const *syn = tm_synthetic_env_names();
        for (int i = 0; syn[i] && n < 64; i++) list[n++] = syn[i];
    }

    bench_row rows[64];
    int n_rows = 0, failed = 0;
    printf("%-26s %7s %5s %13s %13s %7s %14s\n", "env", "threads", "envs", "pool steps/s",
           "raw steps/s", "ratio", "mj_step only");
    for (int k = 0; k < n; k++) {
        int steps = o.steps, mujoco = is_mujoco_name(list[k]);
        double pool = 0.0, raw = 0.0, bare = -1.0;
        unsigned char *ends = NULL;
        tm_status st = measure_pool(list[k], &o, mujoco, &steps, &ends, &pool);
        if (st == TM_OK) st = measure_raw(list[k], mujoco, &o, steps, ends, &raw);
        if (st == TM_OK && mujoco) st = measure_raw(list[k], mujoco, &o, steps, NULL, &bare);
        free(ends);
        if (st != TM_OK) {
            fprintf(stderr, "transmamba bench envs: %s: %s\n", list[k], tm_last_error());
            failed++;
            continue;
        }
        int T = o.n_threads < o.n_envs ? o.n_threads : o.n_envs;
        rows[n_rows++] = (bench_row){list[k], T, o.n_envs, pool, raw, bare};
        char bare_text[32] = "-";
        if (bare >= 0) snprintf(bare_text, sizeof bare_text, "%.0f", bare);
        printf("%-26s %7d %5d %13.0f %13.0f %7.3f %14s\n", list[k], T, o.n_envs, pool, raw,
               raw > 0 ? pool / raw : 0.0, bare_text);
        fflush(stdout);
    }
    if (o.json) {
        printf("{\"results\":[");
        for (int r = 0; r < n_rows; r++) {
            printf("%s{\"env\":\"%s\",\"threads\":%d,\"envs\":%d,\"pool_steps_per_sec\":%.1f,"
                   "\"raw_steps_per_sec\":%.1f,\"ratio\":%.4f",
                   r ? "," : "", rows[r].env, rows[r].threads, rows[r].envs, rows[r].pool_sps,
                   rows[r].raw_sps, rows[r].raw_sps > 0 ? rows[r].pool_sps / rows[r].raw_sps : 0.0);
            if (rows[r].bare_sps >= 0) printf(",\"bare_steps_per_sec\":%.1f", rows[r].bare_sps);
            printf("}");
        }
        printf("]}\n");
    }
    return failed ? 1 : 0;
}
