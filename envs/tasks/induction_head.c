/* induction_head(V, length): after "... A B ... A", predict B.
 * Definition: shared spec envs.md ("Synthetic memory tasks"): a random
 * sequence containing a bigram A B; at the end A appears again and B must
 * be predicted. The layout this file fixes (the induction-head task of
 * Olsson et al. 2022 and H3, Fu et al. 2023):
 *
 *   position   0 .. T-2                              T-1
 *   input      uniform tokens of [0, V) \ {A}, with  A
 *              A at one position p in [0, T-3] and
 *              B (!= A) at p + 1
 *   target     -                                     B (scored)
 *
 * A is uniform over the vocabulary and occurs exactly once before the end,
 * so the token that followed it, B, is the one correct answer. T = length;
 * chance is 1 / (V - 1). Options: vocab (V, default 16), length (T, default
 * 32, at least 3). */
#include <stddef.h>

#include "envs/tasks/tasks.h"

static tm_status configure(tm_task *t, const char *const *options, int n_options) {
    int V = 16, length = 32;
    TM_TRY(tm_task_option_int(&V, "induction_head", options, n_options, "vocab", 3, 1 << 16));
    TM_TRY(tm_task_option_int(&length, "induction_head", options, n_options, "length", 3, 1 << 20));
    t->vocab = V;
    t->length = length;
    t->seq_len = length;
    t->n_scored = 1;
    t->n_answers = V - 1;
    return TM_OK;
}

/* Uniform over [0, V) without `skip`. */
static int32_t draw_except(tm_rng *rng, int V, int32_t skip) {
    int32_t x = (int32_t)tm_rng_below(rng, (uint64_t)(V - 1));
    return x >= skip ? x + 1 : x;
}

static void sample_one(const tm_task *t, tm_rng *rng, int32_t *ids, int32_t *targets, float *mask) {
    int T = t->seq_len, V = t->vocab;
    int32_t A = (int32_t)tm_rng_below(rng, (uint64_t)V);
    for (int i = 0; i < T - 1; i++) ids[i] = draw_except(rng, V, A);
    int p = (int)tm_rng_below(rng, (uint64_t)(T - 2));
    ids[p] = A; /* ids[p + 1], drawn without A, is B */
    ids[T - 1] = A;
    targets[T - 1] = ids[p + 1];
    mask[T - 1] = 1.0f;
}

static const char *const option_keys[] = {"vocab", "length", NULL};
const tm_task_def tm_task_induction_head = {"induction_head", option_keys, configure, sample_one};
