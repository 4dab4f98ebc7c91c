/* The env pool: N envs of one kind stepped by a fixed set of worker threads.
 * Definition: shared spec envs.md ("The env pool (in-process)").
 *
 * Threads: T worker threads are created once by tm_envpool_create; thread t
 * owns a contiguous slice of envs (sizes differ by at most one). In a sync
 * step the calling thread steps slice 0 in worker 0's place (so exactly T
 * threads work and the caller does not sit on a core spinning); in async
 * mode worker 0 does. Nothing is allocated and no thread is created per
 * step. Each env's computation is independent of the others and
 * of the thread count, so results are bit-identical to stepping the envs one
 * by one in a loop (tm_env_step, then tm_env_reset_next when an episode
 * ends), whatever T.
 *
 * Seeds: tm_envpool_reset seeds env i with seed + i; auto-resets continue
 * each env's own generator (Gymnasium's reset(seed=None)).
 *
 * Results live in per-env slots indexed by env id, so no copy is made:
 * obs[i], reward[i], terminated[i], truncated[i], done[i] (= terminated ||
 * truncated), and when done[i]: final_obs[i] (the last observation of the
 * episode, for bootstrapping), final_return[i] and final_length[i]; obs[i]
 * then already holds the first observation of the next episode (auto-reset).
 * episode_return[i] / episode_length[i] are those of the running episode.
 *
 * Two modes (EnvPool's model):
 *   sync:  tm_envpool_step(actions for all N) -> every slot updated.
 *   async: tm_envpool_send(ids, actions) hands actions to some envs and
 *          returns at once; tm_envpool_recv(k, ids) waits for the first k of
 *          the envs in flight to finish and returns their ids. Every env sent
 *          is returned exactly once; an env can be sent again only after it
 *          was returned. A slot is stable from its env's return until its
 *          next send.
 * Actions: continuous float32 [act_dim] or discrete int32 per env, rows in
 * env order (sync) or in the order of ids (send).
 *
 * Errors: an env whose action is rejected (NaN, out of range) or whose step
 * fails gets status[i] != TM_OK and message[i]; its state and obs slot are
 * unchanged (for a rejected action) and the other envs step normally. The
 * call then returns that env's status with a message naming it (the first
 * failing env in id order for sync, in return order for recv); all other
 * slots are valid. */
#ifndef TM_POOL_H
#define TM_POOL_H

#include <stdint.h>

#include "envs/env.h"

#define TM_ENVPOOL_MSG 256

typedef struct {
    int n_envs;      /* N >= 1 */
    int n_threads;   /* T >= 1 (capped at N); 0 = the number of online cores */
    uint64_t seed;   /* env i is seeded seed + i */
    int episode_log; /* capacity of the completed-episode ring (oldest dropped) */
} tm_envpool_config;

tm_envpool_config tm_envpool_config_default(void);

/* One completed episode, for logging. */
typedef struct {
    int env;        /* env id */
    int length;     /* steps */
    float ret;      /* undiscounted return */
    int terminated; /* 1 = true end, 0 = truncated */
} tm_envpool_episode;

struct tm_envpool_workers; /* threads and their synchronisation (pool.c) */

typedef struct {
    tm_envpool_config cfg; /* n_threads resolved */
    tm_env_spec spec;      /* shared by all envs (bounds point into env 0) */
    tm_env *envs;          /* [N] */
    /* per-env result slots */
    float *obs;            /* [N, obs_dim] */
    float *final_obs;      /* [N, obs_dim], valid where done[i] */
    float *reward;         /* [N] */
    int *terminated, *truncated, *done; /* [N] */
    float *episode_return; /* [N] running episode */
    int *episode_length;   /* [N] */
    float *final_return;   /* [N] ended episode, where done[i] */
    int *final_length;     /* [N] */
    tm_status *status;     /* [N] of the env's last operation */
    char (*message)[TM_ENVPOOL_MSG]; /* [N] "" when status is TM_OK */
    /* completed episodes: a ring read by tm_envpool_pop_episodes */
    long long episodes_completed; /* total since creation */
    long long episodes_dropped;   /* overwritten before being popped */
    struct tm_envpool_workers *w;
} tm_envpool;

/* Creates N envs named env_name with options (as tm_env_create) and starts
 * the worker threads. The envs still need tm_envpool_reset. */
tm_status tm_envpool_create(tm_envpool **pool, const char *env_name, const char *const *options,
                            int n_options, const tm_envpool_config *cfg);
/* The same with any env constructor (tm_env_create is one): tests and
 * embedders can pool envs that are not in the registry. */
tm_status tm_envpool_create_with(tm_envpool **pool, tm_env_ctor create, const char *env_name,
                                 const char *const *options, int n_options,
                                 const tm_envpool_config *cfg);
/* Stops the threads and frees the envs; NULL is a no-op. */
void tm_envpool_free(tm_envpool *pool);

/* Resets every env (env i with seed + i); all slots get a first obs and no
 * env is in flight afterwards. Fails with TM_ESTATE while envs are in flight. */
tm_status tm_envpool_reset(tm_envpool *pool);
/* Sync: steps all N envs with actions [N, act_dim]; TM_ESTATE while envs
 * are in flight. */
tm_status tm_envpool_step(tm_envpool *pool, const void *actions);

/* Async: gives actions [n, act_dim] (row j for env ids[j]) to n envs.
 * Fails (nothing sent) on a bad id, a repeated id, or an env in flight. */
tm_status tm_envpool_send(tm_envpool *pool, const int *ids, int n, const void *actions);
/* Async: waits until k envs in flight have finished and writes their ids
 * (completion order) to ids[k]. 1 <= k <= tm_envpool_in_flight(). */
tm_status tm_envpool_recv(tm_envpool *pool, int k, int *ids);
/* Envs sent and not yet returned by recv. */
int tm_envpool_in_flight(const tm_envpool *pool);

/* Moves up to max completed episodes (oldest first) into out; returns how many. */
int tm_envpool_pop_episodes(tm_envpool *pool, tm_envpool_episode *out, int max);

#endif
