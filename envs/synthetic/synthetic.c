/* Name dispatch for the synthetic RL tasks. See synthetic.h. */
#include "envs/synthetic/synthetic.h"

#include <string.h>

typedef tm_status (*task_ctor)(tm_env *env, const char *const *options, int n_options);

static const char *const names[] = {"delayed_cue", "repeat_previous", "repeat_first",
                                    "count_recall", NULL};
static const task_ctor ctors[] = {tm_delayed_cue_create, tm_repeat_previous_create,
                                  tm_repeat_first_create, tm_count_recall_create};

const char *const *tm_synthetic_env_names(void) { return names; }

tm_status tm_synthetic_env_create(tm_env *env, const char *name, const char *const *options,
                                  int n_options) {
    for (int i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0) return ctors[i](env, options, n_options);
    return tm_fail(TM_EINVAL, "synthetic env: unknown task '%s'", name);
}
