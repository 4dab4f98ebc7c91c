/* The env registry: a table of families, each a constructor and its names.
 * See registry.h. */
#include "envs/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strsim.h"
#include "envs/mujoco/mujoco_env.h"
#include "envs/synthetic/synthetic.h"

typedef struct {
    tm_env_ctor create;
    const char *const *(*names)(void);
} env_family;

static const env_family families[] = {
    {tm_mujoco_env_create, tm_mujoco_env_names},
    {tm_synthetic_env_create, tm_synthetic_env_names},
};
#define N_FAMILIES ((int)(sizeof families / sizeof families[0]))

int tm_env_names(const char **out, int cap) {
    int n = 0;
    for (int f = 0; f < N_FAMILIES; f++) {
        const char *const *names = families[f].names();
        for (int i = 0; names[i]; i++, n++)
            if (n < cap) out[n] = names[i];
    }
    return n;
}

static tm_status unknown_name(const char *name) {
    int n = tm_env_names(NULL, 0);
    const char **all = malloc(sizeof *all * (size_t)(n > 0 ? n : 1));
    if (!all) return tm_fail(TM_ENOMEM, "env: out of memory");
    tm_env_names(all, n);
    char hint[512], list[1400];
    tm_suggest_text(hint, sizeof hint, name, "", all, n, 3, 1);
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; i < n && used + 1 < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", all[i]);
    tm_status st = tm_fail(TM_EINVAL, "env: unknown env '%s'%s; known envs: %s", name, hint, list);
    free(all);
    return st;
}

static int is_generic(const char *opt, const char *key) {
    size_t k = strlen(key);
    return strncmp(opt, key, k) == 0 && opt[k] == '=';
}

tm_status tm_env_create(tm_env *env, const char *name, const char *const *options, int n_options) {
    memset(env, 0, sizeof *env);
    if (!name) return tm_fail(TM_EINVAL, "env: name is NULL");
    if (n_options < 0 || (n_options > 0 && !options))
        return tm_fail(TM_EINVAL, "env: bad option list (%d options)", n_options);
    const env_family *family = NULL;
    for (int f = 0; f < N_FAMILIES && !family; f++) {
        const char *const *names = families[f].names();
        for (int i = 0; names[i]; i++)
            if (strcmp(name, names[i]) == 0) family = &families[f];
    }
    if (!family) return unknown_name(name);

    /* Split off the generic keys; the constructor sees only its own. One
     * allocation holds both lists (own from the front, generic from the back). */
    const char **own = malloc(sizeof *own * (size_t)(n_options > 0 ? n_options : 1));
    if (!own) return tm_fail(TM_ENOMEM, "env %s: out of memory", name);
    int n_own = 0, n_generic = 0;
    for (int i = 0; i < n_options; i++) {
        const char *opt = options[i];
        if (!opt) {
            free(own);
            return tm_fail(TM_EINVAL, "env %s: option %d is NULL", name, i);
        }
        if (strncmp(opt, "env.", 4) == 0) opt += 4;
        if (is_generic(opt, "action_tolerance") || is_generic(opt, "max_episode_steps"))
            own[n_options - 1 - n_generic++] = opt;
        else
            own[n_own++] = opt;
    }
    /* The generic ones were stored back to front; restore their order so
     * the last occurrence still wins. */
    const char **generic = own + n_options - n_generic;
    for (int i = 0, j = n_generic - 1; i < j; i++, j--) {
        const char *t = generic[i];
        generic[i] = generic[j];
        generic[j] = t;
    }
    float tolerance = TM_ENV_ACTION_TOLERANCE;
    int max_steps = -1;
    tm_status st = tm_env_option_float(&tolerance, name, generic, n_generic, "action_tolerance", 0.0f,
                                       3.0e38f);
    if (st == TM_OK)
        st = tm_env_option_int(&max_steps, name, generic, n_generic, "max_episode_steps", 0, 2000000000);
    if (st == TM_OK) st = family->create(env, name, own, n_own);
    free(own);
    if (st != TM_OK) {
        memset(env, 0, sizeof *env);
        return st;
    }
    env->action_tolerance = tolerance;
    if (max_steps >= 0) env->spec.max_episode_steps = max_steps;
    return TM_OK;
}
