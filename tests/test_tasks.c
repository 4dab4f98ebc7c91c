/* The supervised synthetic tasks (envs/tasks) and their trainer
 * (agent/supervised). Each task's sequences are checked against its
 * definition (spec envs.md, and the layout its file fixes) by a checker
 * written from that definition: inputs in their vocabulary ranges, scored
 * positions exactly where the layout puts them, and every target the one
 * answer the inputs before it determine (distinct keys, markers that never
 * collide, A occurring once). Then: data reproducible from the seed, held-out
 * data different from training data, option errors that name the key, and
 * a short training run (bounded in steps) that lifts a small Mamba from
 * chance to well above chance on copy_memory. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/supervised.h"
#include "envs/tasks/tasks.h"

#define NB 64 /* sequences per checked batch */

typedef struct {
    int32_t *ids, *targets;
    float *mask;
} batch;

static batch draw(const tm_task *t, uint64_t seed, int stream, int B) {
    size_t n = (size_t)B * (size_t)t->seq_len;
    batch b = {malloc(n * sizeof(int32_t)), malloc(n * sizeof(int32_t)), malloc(n * sizeof(float))};
    cr_assert(b.ids && b.targets && b.mask);
    tm_rng rng;
    tm_rng_seed(&rng, seed, (uint64_t)stream);
    tm_task_sample(t, &rng, B, b.ids, b.targets, b.mask);
    return b;
}

static void release(batch *b) {
    free(b->ids);
    free(b->targets);
    free(b->mask);
}

static tm_task make(const char *name, const char *const *opts, int n) {
    tm_task t;
    cr_assert_eq(tm_task_create(&t, name, opts, n), TM_OK, "%s: %s", name, tm_last_error());
    return t;
}

/* Asserts the mask is 1 exactly on [lo, hi) and targets are 0 elsewhere. */
static void assert_scored_range(const tm_task *t, const int32_t *y, const float *m, int lo, int hi) {
    for (int i = 0; i < t->seq_len; i++) {
        int scored = i >= lo && i < hi;
        cr_assert_eq(m[i], scored ? 1.0f : 0.0f, "%s: mask at %d", tm_task_name(t->kind), i);
        if (!scored) cr_assert_eq(y[i], 0, "%s: target at unscored %d", tm_task_name(t->kind), i);
    }
}

/* --- one checker per task, from its definition -------------------------------- */

static void check_copy_memory(const tm_task *t, const int32_t *x, const int32_t *y, const float *m) {
    int L = t->n_data, D = t->delay, V = t->vocab, a0 = L + D + 1;
    cr_assert_eq(t->seq_len, 2 * L + D + 1);
    assert_scored_range(t, y, m, a0, a0 + L);
    for (int i = 0; i < L; i++) cr_assert(x[i] >= 1 && x[i] <= V - 2, "data in [1, V-2]");
    for (int i = L; i < L + D; i++) cr_assert_eq(x[i], 0, "blanks during the delay");
    cr_assert_eq(x[L + D], V - 1, "the delimiter V-1 after the delay");
    for (int i = 0; i < L; i++) {
        cr_assert_eq(x[a0 + i], 0, "answer positions read blanks, never earlier answers");
        cr_assert_eq(y[a0 + i], x[i], "answer i is data token i");
    }
}

static void check_assoc_recall(const tm_task *t, const int32_t *x, const int32_t *y, const float *m) {
    int n = t->n_pairs, V = t->vocab, K = (V - 1) / 2, T = t->seq_len;
    cr_assert_eq(T, 2 * n + 2);
    assert_scored_range(t, y, m, T - 1, T);
    cr_assert_eq(x[T - 2], V - 1, "delimiter");
    int found = -1;
    for (int i = 0; i < n; i++) {
        cr_assert(x[2 * i] >= 0 && x[2 * i] < K, "keys in [0, K)");
        cr_assert(x[2 * i + 1] >= K && x[2 * i + 1] < V - 1, "values in [K, V-1)");
        for (int j = 0; j < i; j++) cr_assert_neq(x[2 * i], x[2 * j], "keys are distinct");
        if (x[2 * i] == x[T - 1]) {
            cr_assert_eq(found, -1, "the query key is stored exactly once");
            found = i;
        }
    }
    cr_assert_neq(found, -1, "the query key is one of the stored keys");
    cr_assert_eq(y[T - 1], x[2 * found + 1], "the target is the value stored under the query");
}

static void check_selective_copy(const tm_task *t, const int32_t *x, const int32_t *y, const float *m) {
    int n = t->n_data, len = t->length, V = t->vocab, seen = 0;
    cr_assert_eq(t->seq_len, len + n);
    assert_scored_range(t, y, m, len, len + n);
    int32_t data[4096];
    for (int i = 0; i < len; i++) {
        cr_assert(x[i] >= 0 && x[i] <= V - 2, "the marker V-1 never appears among data or blanks");
        if (x[i] != 0) data[seen++] = x[i];
    }
    cr_assert_eq(seen, n, "exactly n_data data tokens among the blanks");
    for (int i = 0; i < n; i++) {
        cr_assert_eq(x[len + i], V - 1, "a marker at every answer position");
        cr_assert_eq(y[len + i], data[i], "answer i is the i-th datum in order of position");
    }
}

static void check_induction_head(const tm_task *t, const int32_t *x, const int32_t *y, const float *m) {
    int T = t->seq_len, V = t->vocab, A = x[T - 1], at = -1;
    assert_scored_range(t, y, m, T - 1, T);
    for (int i = 0; i < T - 1; i++) {
        cr_assert(x[i] >= 0 && x[i] < V);
        if (x[i] == A) {
            cr_assert_eq(at, -1, "A appears exactly once before the end");
            at = i;
        }
    }
    cr_assert(at >= 0 && at <= T - 3, "A appears before the end, followed by B (got %d)", at);
    cr_assert_eq(y[T - 1], x[at + 1], "the target is the token that followed A");
    cr_assert_neq(y[T - 1], A);
}

static void check_mqar(const tm_task *t, const int32_t *x, const int32_t *y, const float *m) {
    int n = t->n_pairs, q = t->n_queries, V = t->vocab, K = V / 2;
    cr_assert_eq(t->seq_len, 2 * n + q);
    assert_scored_range(t, y, m, 2 * n, 2 * n + q);
    for (int i = 0; i < n; i++) {
        cr_assert(x[2 * i] >= 0 && x[2 * i] < K, "keys in [0, K)");
        cr_assert(x[2 * i + 1] >= K && x[2 * i + 1] < V, "values in [K, V)");
        for (int j = 0; j < i; j++) cr_assert_neq(x[2 * i], x[2 * j], "keys are distinct");
    }
    for (int k = 0; k < q; k++) {
        int qk = x[2 * n + k], found = -1;
        for (int j = 0; j < k; j++) cr_assert_neq(qk, x[2 * n + j], "queries name different keys");
        for (int i = 0; i < n; i++)
            if (x[2 * i] == qk) found = i;
        cr_assert_neq(found, -1, "every query is a stored key");
        cr_assert_eq(y[2 * n + k], x[2 * found + 1], "every query's target is its value");
    }
}

typedef void (*checker)(const tm_task *, const int32_t *, const int32_t *, const float *);
static const checker checkers[TM_TASK_KIND_COUNT] = {
    check_copy_memory, check_assoc_recall, check_selective_copy, check_induction_head, check_mqar,
};

/* Tasks at their defaults and at other sizes (edge cases included). */
static const struct {
    const char *name;
    const char *opts[3];
    int n_opts;
} cases[] = {
    {"copy_memory", {NULL}, 0},
    {"copy_memory", {"L=3", "delay=0", "vocab=4"}, 3},
    {"assoc_recall", {NULL}, 0},
    {"assoc_recall", {"vocab=9", "n_pairs=4"}, 2}, /* every key stored */
    {"selective_copy", {NULL}, 0},
    {"selective_copy", {"n_data=5", "length=5"}, 2}, /* no blanks at all */
    {"induction_head", {NULL}, 0},
    {"induction_head", {"vocab=3", "length=3"}, 2},
    {"mqar", {NULL}, 0},
    {"mqar", {"vocab=8", "n_kv=4", "n_queries=2"}, 3},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

Test(tasks, every_sequence_matches_its_definition) {
    for (int c = 0; c < N_CASES; c++) {
        tm_task t = make(cases[c].name, cases[c].opts, cases[c].n_opts);
        batch b = draw(&t, 7 + (uint64_t)c, TM_TASK_STREAM_TRAIN, NB);
        for (int s = 0; s < NB; s++) {
            size_t off = (size_t)s * (size_t)t.seq_len;
            float scored = 0.0f;
            for (int i = 0; i < t.seq_len; i++) {
                cr_assert(b.ids[off + i] >= 0 && b.ids[off + i] < t.vocab, "ids in [0, vocab)");
                cr_assert(b.targets[off + i] >= 0 && b.targets[off + i] < t.vocab);
                scored += b.mask[off + i];
            }
            cr_assert_eq(scored, (float)t.n_scored, "%s: n_scored", cases[c].name);
            checkers[t.kind](&t, b.ids + off, b.targets + off, b.mask + off);
        }
        release(&b);
    }
}

/* Answers cover their whole alphabet (so chance is 1 / n_answers): over
 * many samples every answer value occurs, and no other. induction_head's B
 * is any token but the A it follows, so over samples all V occur while each
 * sample leaves V - 1 candidates. */
Test(tasks, answers_cover_their_alphabet) {
    for (int c = 0; c < N_CASES; c += 2) {
        tm_task t = make(cases[c].name, NULL, 0);
        int B = 512;
        batch b = draw(&t, 3, TM_TASK_STREAM_TRAIN, B);
        int *count = calloc((size_t)t.vocab, sizeof *count), distinct = 0;
        for (size_t i = 0; i < (size_t)B * (size_t)t.seq_len; i++)
            if (b.mask[i] != 0.0f && count[b.targets[i]]++ == 0) distinct++;
        int expect = t.kind == TM_TASK_INDUCTION_HEAD ? t.vocab : t.n_answers;
        cr_assert_eq(distinct, expect, "%s: %d answer values seen, n_answers %d", cases[c].name,
                     distinct, t.n_answers);
        free(count);
        release(&b);
    }
}

static int same(const batch *a, const batch *b, size_t n) {
    return !memcmp(a->ids, b->ids, n * sizeof(int32_t)) &&
           !memcmp(a->targets, b->targets, n * sizeof(int32_t)) &&
           !memcmp(a->mask, b->mask, n * sizeof(float));
}

Test(tasks, data_is_reproducible_from_the_seed_and_heldout_differs) {
    for (int c = 0; c < N_CASES; c++) {
        tm_task t = make(cases[c].name, cases[c].opts, cases[c].n_opts);
        size_t n = (size_t)16 * (size_t)t.seq_len;
        batch a = draw(&t, 42, TM_TASK_STREAM_TRAIN, 16), a2 = draw(&t, 42, TM_TASK_STREAM_TRAIN, 16);
        batch other = draw(&t, 43, TM_TASK_STREAM_TRAIN, 16);
        batch held = draw(&t, 42, TM_TASK_STREAM_HELDOUT, 16);
        cr_assert(same(&a, &a2, n), "%s: same seed, same bytes", cases[c].name);
        cr_assert(!same(&a, &other, n), "%s: another seed, other data", cases[c].name);
        cr_assert(!same(&a, &held, n), "%s: held-out stream differs from training", cases[c].name);
        release(&a);
        release(&a2);
        release(&other);
        release(&held);
    }
}

/* The trainer's held-out set shares no sequence with the training batches
 * it draws (copy_memory: 8^10 data strings, so a shared one would mean the
 * streams coincide). */
Test(tasks, heldout_sequences_never_appear_in_training_batches) {
    tm_task t = make("copy_memory", NULL, 0);
    batch tr = draw(&t, 5, TM_TASK_STREAM_TRAIN, 256), ho = draw(&t, 5, TM_TASK_STREAM_HELDOUT, 256);
    for (int i = 0; i < 256; i++)
        for (int j = 0; j < 256; j++)
            cr_assert(memcmp(tr.ids + (size_t)i * t.seq_len, ho.ids + (size_t)j * t.seq_len,
                             sizeof(int32_t) * (size_t)t.n_data) != 0);
    release(&tr);
    release(&ho);
}

Test(tasks, sizes_follow_the_options) {
    const char *o1[] = {"L=10", "delay=40"};
    tm_task t = make("copy_memory", o1, 2);
    cr_assert_eq(t.seq_len, 61);
    cr_assert_eq(t.vocab, 10);
    cr_assert_eq(t.n_answers, 8);
    const char *o2[] = {"vocab=128", "n_kv=32", "n_queries=8"};
    t = make("mqar", o2, 3);
    cr_assert_eq(t.seq_len, 72);
    cr_assert_eq(t.n_scored, 8);
    cr_assert_eq(t.n_answers, 64);
    const char *o3[] = {"n_kv=8"};
    t = make("mqar", o3, 1);
    cr_assert_eq(t.n_queries, 8, "n_queries defaults to n_kv");
}

Test(tasks, bad_options_fail_naming_the_key_and_leave_the_task_untouched) {
    tm_task t = make("assoc_recall", NULL, 0), before = t;
    static const struct {
        const char *task, *opt, *says[2];
    } bad[] = {
        {"copy_memory", "dealy=3", {"'dealy'", "delay"}},
        {"copy_memory", "L=0", {"L", "got 0"}},
        {"copy_memory", "delay=ten", {"delay", "'ten'"}},
        {"copy_memory", "vocab", {"KEY=VALUE", "vocab"}},
        {"assoc_recall", "n_pairs=20", {"n_pairs (20)", "16 keys"}},
        {"selective_copy", "n_data=40", {"n_data (40)", "length (32)"}},
        {"mqar", "n_queries=17", {"n_queries (17)", "n_kv (16)"}},
        {"induction_head", "length=2", {"length", "got 2"}},
        {"copy_memroy", "L=3", {"'copy_memroy'", "copy_memory"}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *opts[] = {bad[i].opt};
        cr_assert_eq(tm_task_create(&t, bad[i].task, opts, 1), TM_EINVAL, "%s %s", bad[i].task,
                     bad[i].opt);
        for (int k = 0; k < 2; k++)
            cr_assert(strstr(tm_last_error(), bad[i].says[k]), "%s %s: '%s' lacks '%s'", bad[i].task,
                      bad[i].opt, tm_last_error(), bad[i].says[k]);
        cr_assert(!memcmp(&t, &before, sizeof t), "a failed create leaves the task untouched");
    }
}

Test(tasks, draw_distinct_is_distinct_and_covers_the_range) {
    tm_rng rng;
    tm_rng_seed(&rng, 9, 0);
    int out[10], first[10] = {0};
    for (int r = 0; r < 4000; r++) {
        tm_task_draw_distinct(&rng, out, 4, 10);
        for (int i = 0; i < 4; i++) {
            cr_assert(out[i] >= 0 && out[i] < 10);
            for (int j = 0; j < i; j++) cr_assert_neq(out[i], out[j]);
        }
        first[out[0]]++;
    }
    /* The first value is uniform over 10: 400 expected each; 5 sigma ~ 95. */
    for (int v = 0; v < 10; v++) cr_assert(first[v] > 300 && first[v] < 500, "%d: %d", v, first[v]);
}

/* --- the trainer ------------------------------------------------------------- */

static tm_controller_config small_mamba(const tm_task *t) {
    tm_controller_config c = tm_controller_config_default(TM_CONTROLLER_MAMBA, 0);
    c.input = TM_INPUT_TOKENS;
    c.vocab = t->vocab;
    c.d_model = 32;
    c.n_layers = 2;
    c.d_state = 8;
    return c;
}

/* A short run, bounded in steps: a small Mamba starts at chance on a short
 * copy_memory (held-out accuracy within a few points of 1 / 8) and ends
 * well above it (at least 2x chance; it reaches about 0.9 in 200 steps). */
Test(tasks, training_lifts_copy_memory_from_chance, .timeout = 120) {
    const char *opts[] = {"L=3", "delay=2"};
    tm_task t = make("copy_memory", opts, 2);
    tm_controller_config cc = small_mamba(&t);
    tm_supervised_config sc = tm_supervised_config_default();
    sc.batch = 16;
    sc.steps = 150;
    sc.warmup_steps = 15;
    sc.eval_batches = 8;
    sc.n_threads = 1;
    sc.log_every = 0;
    tm_supervised s;
    cr_assert_eq(tm_supervised_create(&s, &t, &cc, &sc), TM_OK, "%s", tm_last_error());
    float chance = 1.0f / (float)t.n_answers, loss0, acc0;
    cr_assert_eq(tm_supervised_evaluate(&s, &loss0, &acc0), TM_OK, "%s", tm_last_error());
    cr_assert(acc0 < 1.6f * chance, "untrained accuracy %.3f should be near chance %.3f", acc0, chance);
    tm_supervised_result r;
    cr_assert_eq(tm_supervised_train(&s, NULL, NULL, &r), TM_OK, "%s", tm_last_error());
    cr_assert_eq(r.steps, 150);
    cr_assert_eq(r.params, s.model.params.n + s.head_params.n);
    cr_assert(r.loss < loss0, "held-out loss %.3f -> %.3f", loss0, r.loss);
    cr_assert(r.accuracy >= 2.0f * chance, "held-out accuracy %.3f after 150 steps, chance %.3f",
              r.accuracy, chance);
    tm_supervised_free(&s);
    tm_supervised_free(&s); /* idempotent */
}

/* The same seed gives bit-identical parameters and held-out figures. */
Test(tasks, training_is_deterministic_for_a_seed) {
    const char *opts[] = {"L=3", "delay=2"};
    tm_task t = make("copy_memory", opts, 2);
    tm_controller_config cc = small_mamba(&t);
    tm_supervised_config sc = tm_supervised_config_default();
    sc.batch = 4;
    sc.steps = 6;
    sc.warmup_steps = 2;
    sc.eval_batches = 2;
    sc.n_threads = 1;
    tm_supervised a, b;
    tm_supervised_result ra, rb;
    cr_assert_eq(tm_supervised_create(&a, &t, &cc, &sc), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_supervised_create(&b, &t, &cc, &sc), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_supervised_train(&a, NULL, NULL, &ra), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_supervised_train(&b, NULL, NULL, &rb), TM_OK, "%s", tm_last_error());
    cr_assert(!memcmp(a.model.params.data, b.model.params.data, a.model.params.n * sizeof(float)));
    cr_assert(!memcmp(a.head_params.data, b.head_params.data, a.head_params.n * sizeof(float)));
    cr_assert_eq(ra.accuracy, rb.accuracy);
    cr_assert_eq(ra.loss, rb.loss);
    tm_supervised_free(&a);
    tm_supervised_free(&b);
    /* Another seed trains another model. */
    sc.seed = 2;
    cr_assert_eq(tm_supervised_create(&b, &t, &cc, &sc), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_supervised_train(&b, NULL, NULL, &rb), TM_OK, "%s", tm_last_error());
    cr_assert_neq(ra.loss, rb.loss);
    tm_supervised_free(&b);
}

Test(tasks, trainer_rejects_bad_configs_naming_the_field) {
    tm_task t = make("copy_memory", NULL, 0);
    tm_controller_config cc = small_mamba(&t);
    tm_supervised_config sc = tm_supervised_config_default();
    tm_supervised s;
    sc.warmup_steps = sc.steps + 1;
    cr_assert_eq(tm_supervised_create(&s, &t, &cc, &sc), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "warmup_steps"), "%s", tm_last_error());
    sc = tm_supervised_config_default();
    sc.lr = -1.0f;
    cr_assert_eq(tm_supervised_create(&s, &t, &cc, &sc), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "lr"), "%s", tm_last_error());
    sc = tm_supervised_config_default();
    cc.vocab = t.vocab + 1;
    cr_assert_eq(tm_supervised_create(&s, &t, &cc, &sc), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "vocab"), "%s", tm_last_error());
    tm_supervised_free(&s); /* safe after a failed create */
    cc = small_mamba(&t);
    cc.input = TM_INPUT_VECTOR;
    cc.d_in = 4;
    cr_assert_eq(tm_supervised_create(&s, &t, &cc, &sc), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "token"), "%s", tm_last_error());
}

/* --- `transmamba bench tasks` ------------------------------------------------ */

typedef struct {
    int status;
    char out[65536];
} run_result;

/* Runs "$TM_BIN bench tasks args" (stderr discarded). */
static void bench(run_result *r, const char *args) {
    const char *bin = getenv("TM_BIN");
    cr_assert(bin && *bin, "TM_BIN is not set (run through ctest)");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' bench tasks %s 2>/dev/null", bin, args);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    size_t n = fread(r->out, 1, sizeof r->out - 1, p);
    r->out[n] = '\0';
    int st = pclose(p);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Every row (one per controller of "all") in the table, the --json line and
 * the JSONL file; exit 1 exactly when a row failed (mamba_dualmem, until
 * it is built), and a failed row carries its error. */
Test(tasks, bench_reports_every_row_in_table_json_and_results_file, .timeout = 120) {
    char path[] = "/tmp/tm_test_tasks_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    char args[512];
    snprintf(args, sizeof args,
             "--task copy_memory --controller all --steps 3 --batch 4 --d-model 16 --layers 1 "
             "--eval-batches 1 --set task.L=2 --set copy_memory.delay=1 --jobs 2 --results %s "
             "--quiet --json", path);
    run_result *r = malloc(sizeof *r);
    bench(r, args);
    size_t n = strlen(r->out);
    while (n > 0 && r->out[n - 1] == '\n') n--;
    size_t start = n;
    while (start > 0 && r->out[start - 1] != '\n') start--;
    char *line = strndup(r->out + start, n - start);
    cJSON *j = cJSON_Parse(line);
    cr_assert(j, "last line is not JSON: %s", r->out);
    cJSON *rows = cJSON_GetObjectItemCaseSensitive(j, "results");
    cr_assert_eq(cJSON_GetArraySize(rows), 3);
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        cJSON *row = cJSON_GetArrayItem(rows, i);
        const char *ctrl = cJSON_GetObjectItemCaseSensitive(row, "controller")->valuestring;
        cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(row, "task")->valuestring, "copy_memory");
        cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(row, "device")->valuestring, "cpu");
        cr_assert(strstr(r->out, ctrl), "the table names %s", ctrl);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "ok"))) {
            double acc = cJSON_GetObjectItemCaseSensitive(row, "accuracy")->valuedouble;
            cr_assert(acc >= 0.0 && acc <= 1.0);
            cr_assert_gt(cJSON_GetObjectItemCaseSensitive(row, "tokens_per_sec")->valuedouble, 0.0);
            cr_assert_gt(cJSON_GetObjectItemCaseSensitive(row, "params")->valuedouble, 0.0);
        } else {
            failed++;
            cr_assert(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(row, "error")));
        }
    }
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rows, 0), "controller")
                         ->valuestring, "transformer");
    cr_assert_eq(r->status, failed ? 1 : 0, "exit %d with %d failed rows", r->status, failed);
    cr_assert_eq(failed > 0, strstr(r->out, "FAILED") != NULL);
    cJSON_Delete(j);
    free(line);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    int lines = 0;
    char buf[8192];
    while (fgets(buf, sizeof buf, f)) {
        cJSON *o = cJSON_Parse(buf);
        cr_assert(o, "a JSONL line that is not JSON: %s", buf);
        cr_assert(cJSON_GetObjectItemCaseSensitive(o, "task_sizes"));
        cJSON_Delete(o);
        lines++;
    }
    fclose(f);
    unlink(path);
    cr_assert_eq(lines, 3);
    free(r);
}

Test(tasks, bench_bad_usage_exits_2) {
    static const char *const bad[] = {
        "--task copy_memroy", "--controller mambo", "--steps 0", "--set task.dealy=3",
        "--set widget.x=1", "--set controller.d_stat=4", "--lr -1", "--frobnicate",
    };
    run_result *r = malloc(sizeof *r);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char args[256];
        /* the bad option last, so a later good one cannot override it */
        snprintf(args, sizeof args, "--task copy_memory --steps 1 --results none %s", bad[i]);
        bench(r, args);
        cr_assert_eq(r->status, 2, "'%s' exited %d", bad[i], r->status);
    }
    free(r);
}
