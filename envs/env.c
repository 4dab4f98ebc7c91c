/* The env interface: the checks every env gets (action validity, reset
 * discipline, time limit) and the option helpers. Definition: env.h and
 * shared spec envs.md ("The env interface"). */
#include "envs/env.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strsim.h"

tm_status tm_env_init(tm_env *env, const tm_env_vtable *vt, void *self,
                      const tm_env_spec *spec, const char *name) {
    TM_ASSERT(env && vt && vt->reset && vt->step && vt->destroy && vt->seed && spec && name);
    if (spec->obs_dim <= 0)
        return tm_fail(TM_EINVAL, "env %s: obs_dim must be > 0 (got %d)", name, spec->obs_dim);
    if (spec->action_kind == TM_ACTION_CONTINUOUS) {
        if (spec->act_dim <= 0 || !spec->low || !spec->high)
            return tm_fail(TM_EINVAL, "env %s: a continuous env needs act_dim > 0 and bounds (act_dim %d)",
                           name, spec->act_dim);
    } else if (spec->action_kind == TM_ACTION_DISCRETE) {
        if (spec->n_actions <= 0 || spec->act_dim != 1)
            return tm_fail(TM_EINVAL, "env %s: a discrete env needs n_actions > 0 and act_dim 1 (got %d, %d)",
                           name, spec->n_actions, spec->act_dim);
    } else {
        return tm_fail(TM_EINVAL, "env %s: unknown action kind %d", name, (int)spec->action_kind);
    }
    if (spec->max_episode_steps < 0)
        return tm_fail(TM_EINVAL, "env %s: max_episode_steps must be >= 0 (got %d)", name,
                       spec->max_episode_steps);
    memset(env, 0, sizeof *env);
    env->vt = vt;
    env->self = self;
    env->spec = *spec;
    snprintf(env->name, sizeof env->name, "%s", name);
    env->action_tolerance = TM_ENV_ACTION_TOLERANCE;
    env->needs_reset = 1;
    return TM_OK;
}

static tm_status reset_common(tm_env *env, float *obs) {
    tm_status st = env->vt->reset(env->self, obs);
    if (st != TM_OK) {
        env->needs_reset = 1;
        return tm_error_context(st, "env %s: reset", env->name);
    }
    env->elapsed_steps = 0;
    env->needs_reset = 0;
    return TM_OK;
}

tm_status tm_env_reset(tm_env *env, uint64_t seed, float *obs) {
    if (!env || !env->vt) return tm_fail(TM_ESTATE, "env: reset of an env that was not created");
    env->vt->seed(env->self, seed);
    return reset_common(env, obs);
}

tm_status tm_env_reset_next(tm_env *env, float *obs) {
    if (!env || !env->vt) return tm_fail(TM_ESTATE, "env: reset of an env that was not created");
    return reset_common(env, obs);
}

tm_status tm_env_check_action(const tm_env *env, const void *action) {
    const tm_env_spec *s = &env->spec;
    if (!action) return tm_fail(TM_EINVAL, "env %s: action is NULL", env->name);
    if (s->action_kind == TM_ACTION_DISCRETE) {
        int32_t a;
        memcpy(&a, action, sizeof a);
        if (a < 0 || a >= s->n_actions)
            return tm_fail(TM_ERANGE, "env %s: action[0] = %d is outside [0, %d)", env->name,
                           (int)a, s->n_actions);
        return TM_OK;
    }
    const float *a = action;
    float tol = env->action_tolerance;
    for (int j = 0; j < s->act_dim; j++) {
        if (!isfinite(a[j]))
            return tm_fail(TM_ENUMERIC, "env %s: action[%d] is %s (must be finite)", env->name, j,
                           isnan(a[j]) ? "NaN" : "Inf");
        /* Inside [low - tol, high + tol] the env gets the raw value (MuJoCo
         * clamps ctrl itself, as Gymnasium v5 relies on; see env.h). */
        if (a[j] < s->low[j] - tol || a[j] > s->high[j] + tol)
            return tm_fail(TM_ERANGE,
                           "env %s: action[%d] = %g is beyond [%g, %g] by more than the tolerance %g",
                           env->name, j, (double)a[j], (double)s->low[j], (double)s->high[j],
                           (double)tol);
    }
    return TM_OK;
}

tm_status tm_env_step(tm_env *env, const void *action, float *obs, float *reward,
                      int *terminated, int *truncated) {
    if (!env || !env->vt) return tm_fail(TM_ESTATE, "env: step of an env that was not created");
    if (env->needs_reset)
        return tm_fail(TM_ESTATE, "env %s: step before reset (the episode has ended or never began)",
                       env->name);
    TM_TRY(tm_env_check_action(env, action));
    float r = 0.0f;
    int term = 0, trunc = 0;
    tm_status st = env->vt->step(env->self, action, obs, &r, &term, &trunc);
    if (st != TM_OK) {
        /* An env's own failure (e.g. a MuJoCo instability) leaves its state
         * unknown: a reset is required before the next step. */
        env->needs_reset = 1;
        return tm_error_context(st, "env %s: step", env->name);
    }
    env->elapsed_steps++;
    term = term != 0;
    trunc = trunc != 0;
    /* Gymnasium's TimeLimit: truncated at the limit unless the MDP ended. */
    if (!term && env->spec.max_episode_steps > 0 && env->elapsed_steps >= env->spec.max_episode_steps)
        trunc = 1;
    if (term) trunc = 0;
    if (term || trunc) env->needs_reset = 1;
    *reward = r;
    *terminated = term;
    *truncated = trunc;
    return TM_OK;
}

void tm_env_free(tm_env *env) {
    if (!env || !env->vt) return;
    env->vt->destroy(env->self);
    memset(env, 0, sizeof *env);
}

/* --- options -------------------------------------------------------------- */

/* Length of the key part of "KEY=VALUE", or -1 without '='. */
static int key_len(const char *opt) {
    const char *eq = strchr(opt, '=');
    return eq ? (int)(eq - opt) : -1;
}

tm_status tm_env_options_check(const char *env_name, const char *const *options,
                               int n_options, const char *const *known) {
    int n_known = 0;
    while (known && known[n_known]) n_known++;
    for (int i = 0; i < n_options; i++) {
        int kl = key_len(options[i]);
        if (kl <= 0)
            return tm_fail(TM_EINVAL, "env %s: option '%s' must be KEY=VALUE", env_name, options[i]);
        char key[128];
        snprintf(key, sizeof key, "%.*s", kl, options[i]);
        int found = 0;
        for (int k = 0; k < n_known; k++)
            if (strcmp(key, known[k]) == 0) found = 1;
        if (!found) {
            char hint[256];
            tm_suggest_text(hint, sizeof hint, key, "", known, n_known, 3, 1);
            char list[512] = "";
            size_t used = 0;
            for (int k = 0; k < n_known && used < sizeof list; k++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", known[k]);
            return tm_fail(TM_EINVAL, "env %s: unknown option '%s'%s; options: %s", env_name, key,
                           hint, n_known ? list : "(none)");
        }
    }
    return TM_OK;
}

const char *tm_env_option_get(const char *const *options, int n_options, const char *key) {
    size_t klen = strlen(key);
    const char *value = NULL;
    for (int i = 0; i < n_options; i++)
        if (key_len(options[i]) == (int)klen && strncmp(options[i], key, klen) == 0)
            value = options[i] + klen + 1;
    return value;
}

tm_status tm_env_option_int(int *out, const char *env_name, const char *const *options,
                            int n_options, const char *key, int lo, int hi) {
    const char *v = tm_env_option_get(options, n_options, key);
    if (!v) return TM_OK;
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno == ERANGE)
        return tm_fail(TM_EINVAL, "env %s: option %s must be an integer (got '%s')", env_name, key, v);
    if (x < lo || x > hi)
        return tm_fail(TM_EINVAL, "env %s: option %s must be in [%d, %d] (got %ld)", env_name, key,
                       lo, hi, x);
    *out = (int)x;
    return TM_OK;
}

tm_status tm_env_option_float(float *out, const char *env_name, const char *const *options,
                              int n_options, const char *key, float lo, float hi) {
    const char *v = tm_env_option_get(options, n_options, key);
    if (!v) return TM_OK;
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || errno == ERANGE || !isfinite(x))
        return tm_fail(TM_EINVAL, "env %s: option %s must be a finite number (got '%s')", env_name,
                       key, v);
    if (x < lo || x > hi)
        return tm_fail(TM_EINVAL, "env %s: option %s must be in [%g, %g] (got %g)", env_name, key,
                       (double)lo, (double)hi, x);
    *out = (float)x;
    return TM_OK;
}
