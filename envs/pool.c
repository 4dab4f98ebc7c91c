/* The env pool: worker threads, the send/recv cycle, auto-reset and the
 * completed-episode ring. Definition: pool.h; shared spec envs.md.
 *
 * Synchronisation (no allocation on the step path):
 *   - pending[i] (atomic) carries the operation for env i (step or reset)
 *     from the caller to the thread owning i; the action row is written to
 *     the staging buffer before pending[i] is set (release / acquire).
 *   - each worker waits for its epoch counter to change: it spins briefly
 *     (a step of a MuJoCo env lasts microseconds, so waking from a futex on
 *     every step would cost more than the work) and then sleeps on a
 *     condition variable. The caller bumps the epoch under the worker's
 *     mutex, so a sleeping worker cannot miss it.
 *   - a finished env id goes into the completion ring without a lock: a
 *     worker reserves a slot with an atomic increment of done_tail and
 *     publishes the id there (slots hold -1 while empty; at most N envs are
 *     in flight, so N slots never overflow). A contended mutex here would
 *     put threads to sleep in the kernel on every step. The caller spins
 *     briefly on its next slot, then sleeps on done_cond; a worker signals
 *     only when caller_waiting is set (both sides use sequentially
 *     consistent atomics, so either the caller sees the id or the worker
 *     sees the flag, and the signal is sent under done_mtx).
 *   - an op is claimed with an atomic exchange on pending[i], so exactly one
 *     thread runs it. A sync step (and reset) does not wake worker 0: the
 *     caller steps slice 0 itself while the others step theirs, so T threads
 *     work and none waits idle on a core the workers need (with T = cores,
 *     a spinning caller would take time from them). In async mode worker 0
 *     steps slice 0, leaving the caller free.
 * The caller's bookkeeping (which envs are in flight, the episode ring) is
 * touched only by the calling thread; the pool is not for concurrent callers. */
#include "envs/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envs/registry.h"

enum { OP_NONE = 0, OP_STEP = 1, OP_RESET = 2 };

/* Spin iterations before sleeping. Each iteration is a pause (tens of ns);
 * every 64th yields, so an oversubscribed machine still makes progress. */
#define SPIN_ITERS 20000

typedef struct {
    _Alignas(64) pthread_mutex_t mtx;
    pthread_cond_t cond;
    atomic_uint epoch; /* bumped by the caller under mtx */
    atomic_int stop;
    int begin, end;    /* slice [begin, end) */
    pthread_t thread;
    int started;
    struct tm_envpool_workers *w;
    tm_envpool *pool;
} worker;

struct tm_envpool_workers {
    int n_threads;
    worker *workers;       /* [T] */
    int *owner;            /* [N] thread of env i */
    atomic_int *pending;   /* [N] OP_* for the owner */
    unsigned char *actions;/* [N, act_dim] staged actions, 4-byte elements */
    size_t action_bytes;   /* per env */
    int *in_flight;        /* [N] caller-side: sent, not yet returned */
    int n_in_flight;
    int *touched;          /* [T] caller-side scratch for send */
    int *mark;             /* [N] caller-side scratch: duplicate ids in send */
    int *all_ids;          /* [N] 0..N-1, for the sync step */
    /* completion ring: workers push, the caller pops */
    pthread_mutex_t done_mtx;
    pthread_cond_t done_cond;
    atomic_int *done_ring; /* [N] env ids, -1 = empty */
    /* 64-bit counters never wrap, so reservation t always maps to slot t % N. */
    atomic_ullong done_tail; /* next slot to reserve (workers) */
    unsigned long long done_head; /* next slot to read (caller) */
    atomic_int caller_waiting;
    /* completed episodes (caller only) */
    tm_envpool_episode *episodes;
    int ep_cap, ep_head, ep_count;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

tm_envpool_config tm_envpool_config_default(void) {
    tm_envpool_config c = {.n_envs = 8, .n_threads = 0, .seed = 0, .episode_log = 1024};
    return c;
}

/* --- the work on one env (owner thread) --------------------------------- */

static void record_error(tm_envpool *p, int i, tm_status st) {
    p->status[i] = st;
    snprintf(p->message[i], TM_ENVPOOL_MSG, "%s", tm_last_error());
}

static void run_env(tm_envpool *p, struct tm_envpool_workers *w, int i, int op) {
    int od = p->spec.obs_dim;
    tm_env *env = &p->envs[i];
    float *obs = p->obs + (size_t)i * od;
    p->status[i] = TM_OK;
    p->message[i][0] = '\0';
    p->reward[i] = 0.0f;
    p->terminated[i] = p->truncated[i] = p->done[i] = 0;
    if (op == OP_RESET) {
        tm_status st = tm_env_reset(env, p->cfg.seed + (uint64_t)i, obs);
        p->episode_return[i] = 0.0f;
        p->episode_length[i] = 0;
        if (st != TM_OK) record_error(p, i, st);
        return;
    }
    float r;
    int term, trunc;
    tm_status st = tm_env_step(env, w->actions + (size_t)i * w->action_bytes, obs, &r, &term, &trunc);
    if (st != TM_OK) {
        record_error(p, i, st);
        return;
    }
    p->reward[i] = r;
    p->terminated[i] = term;
    p->truncated[i] = trunc;
    p->episode_return[i] += r;
    p->episode_length[i]++;
    if (term || trunc) {
        p->done[i] = 1;
        memcpy(p->final_obs + (size_t)i * od, obs, sizeof *obs * (size_t)od);
        p->final_return[i] = p->episode_return[i];
        p->final_length[i] = p->episode_length[i];
        p->episode_return[i] = 0.0f;
        p->episode_length[i] = 0;
        st = tm_env_reset_next(env, obs);
        if (st != TM_OK) record_error(p, i, st);
    }
}

static void push_done(struct tm_envpool_workers *w, int n_envs, int i) {
    unsigned long long slot = atomic_fetch_add(&w->done_tail, 1ull) % (unsigned long long)n_envs;
    atomic_store(&w->done_ring[slot], i);
    if (atomic_load(&w->caller_waiting)) {
        pthread_mutex_lock(&w->done_mtx);
        pthread_cond_signal(&w->done_cond);
        pthread_mutex_unlock(&w->done_mtx);
    }
}

static void *worker_main(void *arg) {
    worker *me = arg;
    struct tm_envpool_workers *w = me->w;
    tm_envpool *p = me->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned e = atomic_load(&me->epoch);
        for (int spin = 0; e == seen && spin < SPIN_ITERS && !atomic_load(&me->stop); spin++) {
            if ((spin & 63) == 63) sched_yield();
            else cpu_relax();
            e = atomic_load(&me->epoch);
        }
        if (e == seen) {
            pthread_mutex_lock(&me->mtx);
            while (atomic_load(&me->epoch) == seen && !atomic_load(&me->stop))
                pthread_cond_wait(&me->cond, &me->mtx);
            e = atomic_load(&me->epoch);
            pthread_mutex_unlock(&me->mtx);
        }
        if (atomic_load(&me->stop)) return NULL;
        seen = e;
        for (int i = me->begin; i < me->end; i++) {
            if (atomic_load_explicit(&w->pending[i], memory_order_relaxed) == OP_NONE) continue;
            int op = atomic_exchange_explicit(&w->pending[i], OP_NONE, memory_order_acquire);
            if (op == OP_NONE) continue;
            run_env(p, w, i, op);
            push_done(w, p->cfg.n_envs, i);
        }
    }
}

/* --- caller side -------------------------------------------------------- */

static void wake(worker *wk) {
    pthread_mutex_lock(&wk->mtx);
    atomic_fetch_add(&wk->epoch, 1u);
    pthread_cond_signal(&wk->cond);
    pthread_mutex_unlock(&wk->mtx);
}

/* Marks ids in flight with op and wakes their owners (except worker 0 when
 * the caller steps slice 0 itself). Checked by callers. */
static void dispatch(tm_envpool *p, const int *ids, int n, int op, int caller_takes_slice0) {
    struct tm_envpool_workers *w = p->w;
    memset(w->touched, 0, sizeof *w->touched * (size_t)w->n_threads);
    for (int j = 0; j < n; j++) {
        int i = ids[j];
        w->in_flight[i] = 1;
        atomic_store_explicit(&w->pending[i], op, memory_order_release);
        w->touched[w->owner[i]] = 1;
    }
    w->n_in_flight += n;
    for (int t = caller_takes_slice0 ? 1 : 0; t < w->n_threads; t++)
        if (w->touched[t]) wake(&w->workers[t]);
}

/* The caller's share of a sync step: the pending ops of slice 0. */
static void run_slice0(tm_envpool *p) {
    struct tm_envpool_workers *w = p->w;
    const worker *w0 = &w->workers[0];
    for (int i = w0->begin; i < w0->end; i++) {
        int op = atomic_exchange_explicit(&w->pending[i], OP_NONE, memory_order_acquire);
        if (op == OP_NONE) continue;
        run_env(p, w, i, op);
        push_done(w, p->cfg.n_envs, i);
    }
}

/* Waits for k completions and pops them into ids. */
static void collect(tm_envpool *p, int k, int *ids) {
    struct tm_envpool_workers *w = p->w;
    int N = p->cfg.n_envs;
    for (int j = 0; j < k; j++) {
        atomic_int *slot = &w->done_ring[w->done_head % (unsigned long long)N];
        int id = atomic_load(slot);
        for (int spin = 0; id < 0 && spin < SPIN_ITERS; spin++) {
            if ((spin & 63) == 63) sched_yield();
            else cpu_relax();
            id = atomic_load(slot);
        }
        if (id < 0) {
            atomic_store(&w->caller_waiting, 1);
            pthread_mutex_lock(&w->done_mtx);
            while ((id = atomic_load(slot)) < 0) pthread_cond_wait(&w->done_cond, &w->done_mtx);
            pthread_mutex_unlock(&w->done_mtx);
            atomic_store(&w->caller_waiting, 0);
        }
        atomic_store(slot, -1);
        w->done_head++;
        ids[j] = id;
    }
    for (int j = 0; j < k; j++) w->in_flight[ids[j]] = 0;
    w->n_in_flight -= k;
}

static void log_episode(tm_envpool *p, int i) {
    struct tm_envpool_workers *w = p->w;
    if (!p->done[i] || w->ep_cap == 0) return;
    tm_envpool_episode ep = {.env = i, .length = p->final_length[i], .ret = p->final_return[i],
                             .terminated = p->terminated[i]};
    if (w->ep_count == w->ep_cap) {
        w->ep_head = (w->ep_head + 1) % w->ep_cap;
        w->ep_count--;
        p->episodes_dropped++;
    }
    w->episodes[(w->ep_head + w->ep_count) % w->ep_cap] = ep;
    w->ep_count++;
    p->episodes_completed++;
}

/* The status of a finished batch: the first failing env in the given order. */
static tm_status batch_status(const tm_envpool *p, const int *ids, int n, const char *what) {
    int failed = 0, first = -1;
    for (int j = 0; j < n; j++)
        if (p->status[ids[j]] != TM_OK) {
            if (first < 0) first = ids[j];
            failed++;
        }
    if (first < 0) return TM_OK;
    return tm_fail(p->status[first], "envpool %s: %d of %d envs failed; env %d: %s", what, failed, n,
                   first, p->message[first]);
}

tm_status tm_envpool_reset(tm_envpool *p) {
    struct tm_envpool_workers *w = p->w;
    if (w->n_in_flight)
        return tm_fail(TM_ESTATE, "envpool: reset with %d envs in flight (recv them first)",
                       w->n_in_flight);
    int N = p->cfg.n_envs;
    dispatch(p, w->all_ids, N, OP_RESET, 1);
    run_slice0(p);
    collect(p, N, w->all_ids); /* all N come back; their order is not needed */
    for (int i = 0; i < N; i++) w->all_ids[i] = i;
    return batch_status(p, w->all_ids, N, "reset");
}

tm_status tm_envpool_step(tm_envpool *p, const void *actions) {
    struct tm_envpool_workers *w = p->w;
    int N = p->cfg.n_envs;
    if (w->n_in_flight)
        return tm_fail(TM_ESTATE, "envpool: sync step with %d envs in flight (recv them first)",
                       w->n_in_flight);
    if (!actions) return tm_fail(TM_EINVAL, "envpool: actions is NULL");
    memcpy(w->actions, actions, w->action_bytes * (size_t)N);
    dispatch(p, w->all_ids, N, OP_STEP, 1);
    run_slice0(p);
    collect(p, N, w->all_ids);
    for (int i = 0; i < N; i++) w->all_ids[i] = i;
    /* Log in env order, so a sync run's episode log is deterministic. */
    for (int i = 0; i < N; i++) log_episode(p, i);
    return batch_status(p, w->all_ids, N, "step");
}

tm_status tm_envpool_send(tm_envpool *p, const int *ids, int n, const void *actions) {
    struct tm_envpool_workers *w = p->w;
    int N = p->cfg.n_envs;
    if (n <= 0 || n > N) return tm_fail(TM_EINVAL, "envpool send: n must be in [1, %d] (got %d)", N, n);
    if (!ids || !actions) return tm_fail(TM_EINVAL, "envpool send: ids or actions is NULL");
    /* Validate everything before touching anything: a bad request sends nothing. */
    tm_status st = TM_OK;
    int j = 0;
    for (; j < n && st == TM_OK; j++) {
        int i = ids[j];
        if (i < 0 || i >= N)
            st = tm_fail(TM_ERANGE, "envpool send: ids[%d] = %d is outside [0, %d)", j, i, N);
        else if (w->in_flight[i])
            st = tm_fail(TM_ESTATE, "envpool send: env %d is already in flight (recv it first)", i);
        else if (w->mark[i])
            st = tm_fail(TM_EINVAL, "envpool send: env %d appears twice in ids", i);
        else
            w->mark[i] = 1;
    }
    for (int q = 0; q < j; q++)
        if (ids[q] >= 0 && ids[q] < N) w->mark[ids[q]] = 0;
    if (st != TM_OK) return st;
    const unsigned char *a = actions;
    for (int j = 0; j < n; j++)
        memcpy(w->actions + (size_t)ids[j] * w->action_bytes, a + (size_t)j * w->action_bytes,
               w->action_bytes);
    dispatch(p, ids, n, OP_STEP, 0);
    return TM_OK;
}

tm_status tm_envpool_recv(tm_envpool *p, int k, int *ids) {
    struct tm_envpool_workers *w = p->w;
    if (!ids) return tm_fail(TM_EINVAL, "envpool recv: ids is NULL");
    if (k < 1 || k > w->n_in_flight)
        return tm_fail(TM_ESTATE, "envpool recv: k must be in [1, %d] (envs in flight; got %d)",
                       w->n_in_flight, k);
    collect(p, k, ids);
    for (int j = 0; j < k; j++) log_episode(p, ids[j]);
    return batch_status(p, ids, k, "recv");
}

int tm_envpool_in_flight(const tm_envpool *p) { return p->w->n_in_flight; }

int tm_envpool_pop_episodes(tm_envpool *p, tm_envpool_episode *out, int max) {
    struct tm_envpool_workers *w = p->w;
    int n = 0;
    while (n < max && w->ep_count > 0) {
        out[n++] = w->episodes[w->ep_head];
        w->ep_head = (w->ep_head + 1) % w->ep_cap;
        w->ep_count--;
    }
    return n;
}

/* --- lifetime ----------------------------------------------------------- */

static void stop_workers(struct tm_envpool_workers *w) {
    for (int t = 0; t < w->n_threads; t++) {
        worker *wk = &w->workers[t];
        if (!wk->started) continue;
        pthread_mutex_lock(&wk->mtx);
        atomic_store(&wk->stop, 1);
        pthread_cond_signal(&wk->cond);
        pthread_mutex_unlock(&wk->mtx);
        pthread_join(wk->thread, NULL);
        wk->started = 0;
    }
}

void tm_envpool_free(tm_envpool *p) {
    if (!p) return;
    struct tm_envpool_workers *w = p->w;
    if (w) {
        if (w->workers) {
            stop_workers(w);
            for (int t = 0; t < w->n_threads; t++) {
                pthread_mutex_destroy(&w->workers[t].mtx);
                pthread_cond_destroy(&w->workers[t].cond);
            }
        }
        pthread_mutex_destroy(&w->done_mtx);
        pthread_cond_destroy(&w->done_cond);
        free(w->workers);
        free(w->owner);
        free(w->pending);
        free(w->actions);
        free(w->in_flight);
        free(w->touched);
        free(w->mark);
        free(w->all_ids);
        free(w->done_ring);
        free(w->episodes);
        free(w);
    }
    if (p->envs)
        for (int i = 0; i < p->cfg.n_envs; i++) tm_env_free(&p->envs[i]);
    free(p->envs);
    free(p->obs);
    free(p->final_obs);
    free(p->reward);
    free(p->terminated);
    free(p->truncated);
    free(p->done);
    free(p->episode_return);
    free(p->episode_length);
    free(p->final_return);
    free(p->final_length);
    free(p->status);
    free(p->message);
    free(p);
}

tm_status tm_envpool_create(tm_envpool **pool, const char *env_name, const char *const *options,
                            int n_options, const tm_envpool_config *cfg) {
    return tm_envpool_create_with(pool, tm_env_create, env_name, options, n_options, cfg);
}

tm_status tm_envpool_create_with(tm_envpool **out, tm_env_ctor create, const char *env_name,
                                 const char *const *options, int n_options,
                                 const tm_envpool_config *cfg_in) {
    *out = NULL;
    if (!create || !env_name) return tm_fail(TM_EINVAL, "envpool: no env constructor or name");
    tm_envpool_config cfg = cfg_in ? *cfg_in : tm_envpool_config_default();
    if (cfg.n_envs < 1 || cfg.n_envs > (1 << 20))
        return tm_fail(TM_EINVAL, "envpool: n_envs must be in [1, %d] (got %d)", 1 << 20, cfg.n_envs);
    if (cfg.n_threads < 0)
        return tm_fail(TM_EINVAL, "envpool: n_threads must be >= 0 (got %d; 0 = all cores)", cfg.n_threads);
    if (cfg.episode_log < 0)
        return tm_fail(TM_EINVAL, "envpool: episode_log must be >= 0 (got %d)", cfg.episode_log);
    if (cfg.n_threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.n_threads = cores > 0 ? (int)cores : 1;
    }
    if (cfg.n_threads > cfg.n_envs) cfg.n_threads = cfg.n_envs;
    int N = cfg.n_envs, T = cfg.n_threads;

    tm_envpool *p = calloc(1, sizeof *p);
    if (!p) return tm_fail(TM_ENOMEM, "envpool: out of memory");
    p->cfg = cfg;
    p->envs = calloc((size_t)N, sizeof *p->envs);
    if (!p->envs) {
        free(p);
        return tm_fail(TM_ENOMEM, "envpool: out of memory");
    }
    for (int i = 0; i < N; i++) {
        tm_status st = create(&p->envs[i], env_name, options, n_options);
        if (st != TM_OK) {
            tm_envpool_free(p);
            return i == 0 ? st : tm_error_context(st, "envpool: creating env %d", i);
        }
    }
    p->spec = p->envs[0].spec;
    size_t od = (size_t)p->spec.obs_dim;
    p->obs = calloc((size_t)N * od, sizeof *p->obs);
    p->final_obs = calloc((size_t)N * od, sizeof *p->final_obs);
    p->reward = calloc((size_t)N, sizeof *p->reward);
    p->terminated = calloc((size_t)N, sizeof *p->terminated);
    p->truncated = calloc((size_t)N, sizeof *p->truncated);
    p->done = calloc((size_t)N, sizeof *p->done);
    p->episode_return = calloc((size_t)N, sizeof *p->episode_return);
    p->episode_length = calloc((size_t)N, sizeof *p->episode_length);
    p->final_return = calloc((size_t)N, sizeof *p->final_return);
    p->final_length = calloc((size_t)N, sizeof *p->final_length);
    p->status = calloc((size_t)N, sizeof *p->status);
    p->message = calloc((size_t)N, sizeof *p->message);
    struct tm_envpool_workers *w = p->w = calloc(1, sizeof *w);
    if (w) {
        pthread_mutex_init(&w->done_mtx, NULL);
        pthread_cond_init(&w->done_cond, NULL);
    }
    if (!p->obs || !p->final_obs || !p->reward || !p->terminated || !p->truncated || !p->done ||
        !p->episode_return || !p->episode_length || !p->final_return || !p->final_length ||
        !p->status || !p->message || !w) {
        tm_envpool_free(p);
        return tm_fail(TM_ENOMEM, "envpool: out of memory for %d envs", N);
    }
    w->n_threads = T;
    w->action_bytes = (size_t)p->spec.act_dim * 4; /* float32 or int32 */
    w->owner = calloc((size_t)N, sizeof *w->owner);
    w->pending = calloc((size_t)N, sizeof *w->pending);
    w->actions = calloc((size_t)N, w->action_bytes);
    w->in_flight = calloc((size_t)N, sizeof *w->in_flight);
    w->touched = calloc((size_t)T, sizeof *w->touched);
    w->mark = calloc((size_t)N, sizeof *w->mark);
    w->all_ids = calloc((size_t)N, sizeof *w->all_ids);
    w->done_ring = calloc((size_t)N, sizeof *w->done_ring);
    w->ep_cap = cfg.episode_log;
    w->episodes = calloc((size_t)(cfg.episode_log > 0 ? cfg.episode_log : 1), sizeof *w->episodes);
    w->workers = aligned_alloc(64, ((sizeof(worker) * (size_t)T + 63) / 64) * 64);
    if (!w->owner || !w->pending || !w->actions || !w->in_flight || !w->touched || !w->mark || !w->all_ids ||
        !w->done_ring || !w->episodes || !w->workers) {
        free(w->workers);
        w->workers = NULL;
        tm_envpool_free(p);
        return tm_fail(TM_ENOMEM, "envpool: out of memory for %d envs", N);
    }
    memset(w->workers, 0, sizeof(worker) * (size_t)T);
    for (int i = 0; i < N; i++) {
        w->all_ids[i] = i;
        atomic_init(&w->pending[i], OP_NONE);
    }
    for (int i = 0; i < N; i++) atomic_init(&w->done_ring[i], -1);
    atomic_init(&w->done_tail, 0ull);
    atomic_init(&w->caller_waiting, 0);
    for (int t = 0; t < T; t++) {
        worker *wk = &w->workers[t];
        /* Contiguous slices whose sizes differ by at most one. */
        wk->begin = (int)((long long)N * t / T);
        wk->end = (int)((long long)N * (t + 1) / T);
        for (int i = wk->begin; i < wk->end; i++) w->owner[i] = t;
        wk->w = w;
        wk->pool = p;
        pthread_mutex_init(&wk->mtx, NULL);
        pthread_cond_init(&wk->cond, NULL);
        atomic_init(&wk->epoch, 0u);
        atomic_init(&wk->stop, 0);
    }
    for (int t = 0; t < T; t++) {
        worker *wk = &w->workers[t];
        int rc = pthread_create(&wk->thread, NULL, worker_main, wk);
        if (rc != 0) {
            tm_envpool_free(p);
            return tm_fail(TM_ENOMEM, "envpool: cannot start worker thread %d of %d (error %d)", t, T, rc);
        }
        wk->started = 1;
    }
    *out = p;
    return TM_OK;
}
