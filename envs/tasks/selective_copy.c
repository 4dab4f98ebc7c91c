/* selective_copy(V, n_data, length): copy the data tokens scattered among
 * blanks, in order, ignoring where they stood. Definition: shared spec
 * envs.md ("Synthetic memory tasks"): data tokens scattered among
 * noise/blank positions with a separate marker vocabulary (markers never
 * collide with data or padding), then the data tokens in order are scored.
 * The layout this file fixes (the selective copying task of the Mamba
 * paper, Gu and Dao 2023, section 3.1):
 *
 *   vocabulary  blank 0, data [1, V-2], marker V-1 (never data, never blank)
 *   position    0 .. length-1                   length .. length+n-1
 *   input       blanks, except n data tokens    V-1 (a marker each)
 *               at distinct uniform positions
 *   target      -                               d_0 .. d_n-1 (scored), the
 *                                               data in order of position
 *
 * So the model must keep the data, skip the blanks whatever their spacing,
 * and emit the i-th datum at the i-th marker. T = length + n; chance is
 * 1 / (V - 2). Options: vocab (V, default 10), n_data (n, default 8),
 * length (default 32; at least n). */
#include <stddef.h>

#include "envs/tasks/tasks.h"

#define MAX_DATA 4096

static tm_status configure(tm_task *t, const char *const *options, int n_options) {
    int V = 10, n = 8, length = 32;
    TM_TRY(tm_task_option_int(&V, "selective_copy", options, n_options, "vocab", 4, 1 << 16));
    TM_TRY(tm_task_option_int(&n, "selective_copy", options, n_options, "n_data", 1, MAX_DATA));
    TM_TRY(tm_task_option_int(&length, "selective_copy", options, n_options, "length", 1, 1 << 20));
    if (n > length)
        return tm_fail(TM_EINVAL, "task selective_copy: n_data (%d) must be at most length (%d)", n,
                       length);
    t->vocab = V;
    t->n_data = n;
    t->length = length;
    t->seq_len = length + n;
    t->n_scored = n;
    t->n_answers = V - 2;
    return TM_OK;
}

static void sample_one(const tm_task *t, tm_rng *rng, int32_t *ids, int32_t *targets, float *mask) {
    int n = t->n_data, length = t->length, V = t->vocab;
    int pos[MAX_DATA];
    tm_task_draw_distinct(rng, pos, n, length);
    /* Sort the positions (insertion sort; n is small) so answer i is the
     * datum at the i-th occupied position. */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && pos[k - 1] > pos[k]; k--) {
            int tmp = pos[k];
            pos[k] = pos[k - 1];
            pos[k - 1] = tmp;
        }
    for (int i = 0; i < n; i++) {
        int32_t d = 1 + (int32_t)tm_rng_below(rng, (uint64_t)(V - 2));
        ids[pos[i]] = d;
        ids[length + i] = V - 1;
        targets[length + i] = d;
        mask[length + i] = 1.0f;
    }
}

static const char *const option_keys[] = {"vocab", "n_data", "length", NULL};
const tm_task_def tm_task_selective_copy = {"selective_copy", option_keys, configure, sample_one};
