/* Name dispatch, option helpers and batch sampling for the supervised
 * synthetic tasks. See tasks.h; each task's layout is in its own file. */
#include "envs/tasks/tasks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strsim.h"

static const tm_task_def *const defs[TM_TASK_KIND_COUNT] = {
    &tm_task_copy_memory, &tm_task_assoc_recall, &tm_task_selective_copy,
    &tm_task_induction_head, &tm_task_mqar,
};
static const char *const names[TM_TASK_KIND_COUNT + 1] = {
    "copy_memory", "assoc_recall", "selective_copy", "induction_head", "mqar", NULL,
};

const char *const *tm_task_names(void) { return names; }

const char *tm_task_name(tm_task_kind kind) {
    return (unsigned)kind < TM_TASK_KIND_COUNT ? names[kind] : "?";
}

tm_status tm_task_kind_parse(const char *name, tm_task_kind *out) {
    for (int k = 0; k < TM_TASK_KIND_COUNT; k++)
        if (name && strcmp(name, names[k]) == 0) {
            *out = (tm_task_kind)k;
            return TM_OK;
        }
    char hint[256];
    tm_suggest_text(hint, sizeof hint, name ? name : "", "", names, TM_TASK_KIND_COUNT, 3, 1);
    return tm_fail(TM_EINVAL, "task: unknown task '%s'%s; tasks: copy_memory, assoc_recall, "
                              "selective_copy, induction_head, mqar",
                   name ? name : "(null)", hint);
}

static int key_len(const char *opt) {
    const char *eq = strchr(opt, '=');
    return eq ? (int)(eq - opt) : -1;
}

static tm_status check_keys(const tm_task_def *d, const char *const *options, int n_options) {
    int n_keys = 0;
    while (d->keys[n_keys]) n_keys++;
    for (int i = 0; i < n_options; i++) {
        int kl = key_len(options[i]);
        if (kl <= 0)
            return tm_fail(TM_EINVAL, "task %s: option '%s' must be KEY=VALUE", d->name, options[i]);
        char key[128];
        snprintf(key, sizeof key, "%.*s", kl, options[i]);
        int found = 0;
        for (int k = 0; k < n_keys; k++) found |= strcmp(key, d->keys[k]) == 0;
        if (found) continue;
        char hint[256], list[256] = "";
        tm_suggest_text(hint, sizeof hint, key, "", d->keys, n_keys, 3, 1);
        size_t used = 0;
        for (int k = 0; k < n_keys && used < sizeof list; k++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", d->keys[k]);
        return tm_fail(TM_EINVAL, "task %s: unknown option '%s'%s; options: %s", d->name, key, hint,
                       list);
    }
    return TM_OK;
}

tm_status tm_task_option_int(int *out, const char *task, const char *const *options,
                             int n_options, const char *key, int lo, int hi) {
    const char *v = NULL;
    size_t klen = strlen(key);
    for (int i = 0; i < n_options; i++)
        if (key_len(options[i]) == (int)klen && strncmp(options[i], key, klen) == 0)
            v = options[i] + klen + 1;
    if (!v) return TM_OK;
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno == ERANGE)
        return tm_fail(TM_EINVAL, "task %s: option %s must be an integer (got '%s')", task, key, v);
    if (x < lo || x > hi)
        return tm_fail(TM_EINVAL, "task %s: option %s must be in [%d, %d] (got %ld)", task, key, lo,
                       hi, x);
    *out = (int)x;
    return TM_OK;
}

tm_status tm_task_create(tm_task *t, const char *name, const char *const *options, int n_options) {
    tm_task_kind kind = TM_TASK_COPY_MEMORY;
    TM_TRY(tm_task_kind_parse(name, &kind));
    const tm_task_def *d = defs[kind];
    TM_TRY(check_keys(d, options, n_options));
    tm_task next;
    memset(&next, 0, sizeof next);
    next.kind = kind;
    TM_TRY(d->configure(&next, options, n_options));
    TM_ASSERT(next.vocab > 1 && next.seq_len > 0 && next.n_scored > 0 && next.n_answers > 1);
    *t = next;
    return TM_OK;
}

void tm_task_sample(const tm_task *t, tm_rng *rng, int B, int32_t *ids, int32_t *targets,
                    float *mask) {
    TM_ASSERT((unsigned)t->kind < TM_TASK_KIND_COUNT && B >= 0);
    size_t T = (size_t)t->seq_len;
    for (int b = 0; b < B; b++) {
        int32_t *x = ids + (size_t)b * T, *y = targets + (size_t)b * T;
        float *m = mask + (size_t)b * T;
        memset(x, 0, T * sizeof *x);
        memset(y, 0, T * sizeof *y);
        memset(m, 0, T * sizeof *m);
        defs[t->kind]->sample_one(t, rng, x, y, m);
    }
}

void tm_task_draw_distinct(tm_rng *rng, int *out, int n, int range) {
    TM_ASSERT(n >= 0 && n <= range);
    /* Floyd: for j in [range - n, range), take a uniform t in [0, j]; if t is
     * already chosen take j instead. Every n-subset is equally likely. */
    for (int i = 0, j = range - n; j < range; i++, j++) {
        int v = (int)tm_rng_below(rng, (uint64_t)j + 1), seen = 0;
        for (int k = 0; k < i; k++) seen |= out[k] == v;
        out[i] = seen ? j : v;
    }
    /* Floyd's output order is not uniform (j tends to come late): shuffle. */
    for (int i = n - 1; i > 0; i--) {
        int k = (int)tm_rng_below(rng, (uint64_t)i + 1), tmp = out[i];
        out[i] = out[k];
        out[k] = tmp;
    }
}

const char *tm_task_describe(const tm_task *t, char *buf, int cap) {
    switch (t->kind) {
    case TM_TASK_COPY_MEMORY:
        snprintf(buf, (size_t)cap, "L=%d delay=%d vocab=%d T=%d", t->n_data, t->delay, t->vocab,
                 t->seq_len);
        break;
    case TM_TASK_ASSOC_RECALL:
        snprintf(buf, (size_t)cap, "n_pairs=%d vocab=%d T=%d", t->n_pairs, t->vocab, t->seq_len);
        break;
    case TM_TASK_SELECTIVE_COPY:
        snprintf(buf, (size_t)cap, "n_data=%d length=%d vocab=%d T=%d", t->n_data, t->length,
                 t->vocab, t->seq_len);
        break;
    case TM_TASK_INDUCTION_HEAD:
        snprintf(buf, (size_t)cap, "vocab=%d T=%d", t->vocab, t->seq_len);
        break;
    case TM_TASK_MQAR:
        snprintf(buf, (size_t)cap, "n_kv=%d n_queries=%d vocab=%d T=%d", t->n_pairs, t->n_queries,
                 t->vocab, t->seq_len);
        break;
    default:
        snprintf(buf, (size_t)cap, "?");
    }
    return buf;
}
