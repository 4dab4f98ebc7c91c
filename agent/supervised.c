/* The supervised trainer of the synthetic memory tasks. Definition:
 * supervised.h (issue 5 item 2). */
#include "agent/supervised.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clip.h"

enum { MADE_MODEL = 1, MADE_HEAD = 2, MADE_OPT = 4, MADE_CTX = 8, MADE_STATE = 16, MADE_ACTS = 32 };

tm_supervised_config tm_supervised_config_default(void) {
    return (tm_supervised_config){.batch = 32, .steps = 1000, .lr = 3e-3f, .min_lr_frac = 0.1f,
                                  .warmup_steps = 100, .weight_decay = 0.01f, .beta2 = 0.98f,
                                  .clip = 1.0f, .eval_batches = 16, .seed = 1, .n_threads = 0,
                                  .log_every = 50};
}

tm_status tm_supervised_config_check(const tm_supervised_config *c) {
    if (c->batch <= 0) return tm_fail(TM_EINVAL, "supervised: batch must be > 0 (got %d)", c->batch);
    if (c->steps <= 0)
        return tm_fail(TM_EINVAL, "supervised: steps must be > 0 (got %lld)", (long long)c->steps);
    if (!(c->lr > 0.0f) || !isfinite(c->lr))
        return tm_fail(TM_EINVAL, "supervised: lr must be finite and > 0 (got %g)", c->lr);
    if (!(c->min_lr_frac >= 0.0f && c->min_lr_frac <= 1.0f))
        return tm_fail(TM_EINVAL, "supervised: min_lr_frac must be in [0, 1] (got %g)", c->min_lr_frac);
    if (c->warmup_steps < 0 || c->warmup_steps > c->steps)
        return tm_fail(TM_EINVAL, "supervised: warmup_steps must be in [0, steps = %lld] (got %lld)",
                       (long long)c->steps, (long long)c->warmup_steps);
    if (!(c->weight_decay >= 0.0f) || !isfinite(c->weight_decay))
        return tm_fail(TM_EINVAL, "supervised: weight_decay must be finite and >= 0 (got %g)",
                       c->weight_decay);
    if (!(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        return tm_fail(TM_EINVAL, "supervised: beta2 must be in [0, 1) (got %g)", c->beta2);
    if (!(c->clip >= 0.0f) || !isfinite(c->clip))
        return tm_fail(TM_EINVAL, "supervised: clip must be finite and >= 0 (got %g)", c->clip);
    if (c->eval_batches <= 0)
        return tm_fail(TM_EINVAL, "supervised: eval_batches must be > 0 (got %d)", c->eval_batches);
    if (c->log_every < 0)
        return tm_fail(TM_EINVAL, "supervised: log_every must be >= 0 (got %d)", c->log_every);
    return TM_OK;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *alloc_zeroed(size_t n, size_t size) { return calloc(n ? n : 1, size); }

static void seed_stream(tm_rng *r, uint64_t seed, int stream) {
    tm_rng_seed(r, seed ^ TM_SUPERVISED_DATA_SALT, (uint64_t)stream);
}

void tm_supervised_free(tm_supervised *s) {
    if (!s) return;
    if (s->created & MADE_ACTS) tm_controller_acts_free(&s->model, &s->acts);
    if (s->created & MADE_STATE) tm_controller_state_free(&s->model, &s->state);
    if (s->created & MADE_OPT) {
        tm_adamw_free(&s->opt_model);
        tm_adamw_free(&s->opt_head);
    }
    if (s->created & MADE_HEAD) tm_params_free(&s->head_params);
    if (s->created & MADE_MODEL) tm_controller_free(&s->model);
    if (s->created & MADE_CTX) tm_ctx_free(&s->ctx);
    free(s->ids);
    free(s->targets);
    free(s->mask);
    free(s->y);
    free(s->dy);
    free(s->logits);
    free(s->dlogits);
    s->ids = s->targets = NULL;
    s->mask = s->y = s->dy = s->logits = s->dlogits = NULL;
    s->created = 0;
}

static tm_status create_parts(tm_supervised *s, const tm_controller_config *ccfg) {
    const tm_supervised_config *c = &s->cfg;
    int B = c->batch, T = s->task.seq_len, V = s->task.vocab;
    if (ccfg->input != TM_INPUT_TOKENS)
        return tm_fail(TM_EINVAL, "supervised: the controller must take token inputs (input = tokens)");
    if (ccfg->vocab != V)
        return tm_fail(TM_EINVAL, "supervised: controller vocab (%d) must equal the task's (%d)",
                       ccfg->vocab, V);
    TM_TRY(tm_ctx_init(&s->ctx, TM_CPU, c->n_threads));
    s->created |= MADE_CTX;
    TM_TRY(tm_controller_create(&s->model, ccfg, c->seed));
    s->created |= MADE_MODEL;
    int d = s->model.cfg.d_model;

    tm_params_init(&s->head_params);
    s->created |= MADE_HEAD;
    tm_linear_config hc = tm_linear_config_default(d, V);
    TM_TRY(tm_linear_declare(&s->head, &hc, &s->head_params, "head"));
    TM_TRY(tm_params_finalize(&s->head_params));
    tm_linear_bind(&s->head, &s->head_params);
    tm_rng init;
    tm_rng_seed(&init, c->seed, 2);
    tm_linear_init(&s->head, &init);

    tm_adamw_config oc = tm_adamw_config_default();
    oc.lr = c->lr;
    oc.beta2 = c->beta2;
    oc.weight_decay = c->weight_decay;
    s->created |= MADE_OPT; /* tm_adamw_free is safe on a zeroed struct */
    TM_TRY(tm_adamw_create(&s->opt_model, oc, &s->model.params));
    TM_TRY(tm_adamw_create(&s->opt_head, oc, &s->head_params));
    s->schedule = tm_schedule_make(TM_LR_COSINE, c->lr, c->warmup_steps, c->steps);
    s->schedule.min_lr = c->lr * c->min_lr_frac;
    TM_TRY(tm_schedule_check(&s->schedule));

    TM_TRY(tm_controller_state_create(&s->model, B, &s->state));
    s->created |= MADE_STATE;
    TM_TRY(tm_controller_acts_create(&s->model, B, T, &s->acts));
    s->created |= MADE_ACTS;
    TM_TRY(tm_ctx_reserve(&s->ctx, tm_controller_scratch_floats(&s->model, &s->ctx, B, T)));

    size_t BT = (size_t)B * (size_t)T;
    s->ids = alloc_zeroed(BT, sizeof *s->ids);
    s->targets = alloc_zeroed(BT, sizeof *s->targets);
    s->mask = alloc_zeroed(BT, sizeof *s->mask);
    s->y = alloc_zeroed(BT * (size_t)d, sizeof *s->y);
    s->dy = alloc_zeroed(BT * (size_t)d, sizeof *s->dy);
    s->logits = alloc_zeroed(BT * (size_t)V, sizeof *s->logits);
    s->dlogits = alloc_zeroed(BT * (size_t)V, sizeof *s->dlogits);
    if (!s->ids || !s->targets || !s->mask || !s->y || !s->dy || !s->logits || !s->dlogits)
        return tm_fail(TM_ENOMEM, "supervised: out of memory for buffers of B=%d, T=%d", B, T);
    seed_stream(&s->data, c->seed, TM_TASK_STREAM_TRAIN);
    return TM_OK;
}

tm_status tm_supervised_create(tm_supervised *s, const tm_task *task,
                               const tm_controller_config *ccfg, const tm_supervised_config *cfg) {
    memset(s, 0, sizeof *s); /* so a failed create is safe to free */
    TM_TRY(tm_supervised_config_check(cfg));
    s->cfg = *cfg;
    s->task = *task;
    tm_status st = create_parts(s, ccfg);
    if (st != TM_OK) tm_supervised_free(s);
    return st;
}

size_t tm_supervised_param_count(const tm_supervised *s) {
    return s->model.params.n + s->head_params.n;
}

/* The tensors of one batch. */
typedef struct {
    tm_tensor ids, targets, mask, y, dy, y2, dy2, logits, dlogits;
} batch_views;

static tm_status views(tm_supervised *s, batch_views *v) {
    int64_t B = s->cfg.batch, T = s->task.seq_len, d = s->model.cfg.d_model, V = s->task.vocab;
    int64_t bt[2] = {B, T}, btd[3] = {B, T, d}, nd[2] = {B * T, d}, nv[2] = {B * T, V}, n[1] = {B * T};
    TM_TRY(tm_tensor_wrap(&v->ids, s->ids, TM_I32, TM_CPU, 2, bt));
    TM_TRY(tm_tensor_wrap(&v->targets, s->targets, TM_I32, TM_CPU, 1, n));
    TM_TRY(tm_tensor_wrap(&v->mask, s->mask, TM_F32, TM_CPU, 1, n));
    TM_TRY(tm_tensor_wrap(&v->y, s->y, TM_F32, TM_CPU, 3, btd));
    TM_TRY(tm_tensor_wrap(&v->dy, s->dy, TM_F32, TM_CPU, 3, btd));
    TM_TRY(tm_tensor_wrap(&v->y2, s->y, TM_F32, TM_CPU, 2, nd));
    TM_TRY(tm_tensor_wrap(&v->dy2, s->dy, TM_F32, TM_CPU, 2, nd));
    TM_TRY(tm_tensor_wrap(&v->logits, s->logits, TM_F32, TM_CPU, 2, nv));
    TM_TRY(tm_tensor_wrap(&v->dlogits, s->dlogits, TM_F32, TM_CPU, 2, nv));
    return TM_OK;
}

/* Forward of the batch in s->ids to the loss and accuracy; with grads, the
 * backward too (parameter gradients accumulate into zeroed buffers). */
static tm_status run_batch(tm_supervised *s, int grads, float *loss, float *accuracy) {
    batch_views v;
    TM_TRY(views(s, &v));
    tm_controller_state_reset(&s->model, &s->state, NULL);
    TM_TRY(tm_controller_forward(&s->ctx, &s->model, &v.y, &s->acts, NULL, &s->state, &v.ids, NULL));
    TM_TRY(tm_linear_forward(&s->ctx, &s->head, &v.logits, &v.y2));
    TM_TRY(tm_op_cross_entropy(&s->ctx, loss, grads ? &v.dlogits : NULL, &v.logits, &v.targets,
                               &v.mask));
    TM_TRY(tm_op_masked_accuracy(&s->ctx, accuracy, &v.logits, &v.targets, &v.mask));
    if (!isfinite(*loss))
        return tm_fail(TM_ENUMERIC, "supervised: loss is %g at step %lld", *loss, (long long)s->step);
    if (!grads) return TM_OK;
    TM_TRY(tm_op_zero(&s->ctx, &v.dy));
    TM_TRY(tm_linear_backward(&s->ctx, &s->head, &v.dy2, &v.dlogits, &v.y2));
    TM_TRY(tm_controller_backward(&s->ctx, &s->model, NULL, &v.dy, &v.ids, &s->acts));
    return TM_OK;
}

/* Clips the global norm of the controller's and the head's gradients
 * together (one model, two vectors). */
static tm_status clip_both(tm_supervised *s) {
    double a = tm_grad_norm(s->model.params.grad, (long)s->model.params.n);
    double b = tm_grad_norm(s->head_params.grad, (long)s->head_params.n);
    double norm = sqrt(a * a + b * b);
    if (!isfinite(norm))
        return tm_fail(TM_ENUMERIC, "supervised: gradient norm is %g at step %lld (%s)", norm,
                       (long long)s->step, isfinite(a) ? "output head" : "controller");
    if (s->cfg.clip <= 0.0f || norm <= s->cfg.clip) return TM_OK;
    float scale = (float)(s->cfg.clip / norm);
    for (size_t i = 0; i < s->model.params.n; i++) s->model.params.grad[i] *= scale;
    for (size_t i = 0; i < s->head_params.n; i++) s->head_params.grad[i] *= scale;
    return TM_OK;
}

tm_status tm_supervised_step(tm_supervised *s, float *loss, float *accuracy) {
    float l = 0.0f, acc = 0.0f;
    tm_task_sample(&s->task, &s->data, s->cfg.batch, s->ids, s->targets, s->mask);
    tm_params_zero_grad(&s->model.params);
    tm_params_zero_grad(&s->head_params);
    TM_TRY(run_batch(s, 1, &l, &acc));
    TM_TRY(clip_both(s));
    float lr = tm_schedule_lr(&s->schedule, s->step);
    TM_TRY(tm_adamw_step(&s->opt_model, &s->model.params, lr));
    TM_TRY(tm_adamw_step(&s->opt_head, &s->head_params, lr));
    s->step++;
    if (loss) *loss = l;
    if (accuracy) *accuracy = acc;
    return TM_OK;
}

tm_status tm_supervised_evaluate(tm_supervised *s, float *loss, float *accuracy) {
    tm_rng heldout;
    seed_stream(&heldout, s->cfg.seed, TM_TASK_STREAM_HELDOUT);
    /* Every batch has the same number of scored positions (n_scored per
     * sequence), so the plain mean over batches is the mean over positions. */
    double sum_loss = 0.0, sum_acc = 0.0;
    for (int k = 0; k < s->cfg.eval_batches; k++) {
        float l, acc;
        tm_task_sample(&s->task, &heldout, s->cfg.batch, s->ids, s->targets, s->mask);
        TM_TRY(run_batch(s, 0, &l, &acc));
        sum_loss += l;
        sum_acc += acc;
    }
    *loss = (float)(sum_loss / s->cfg.eval_batches);
    *accuracy = (float)(sum_acc / s->cfg.eval_batches);
    return TM_OK;
}

tm_status tm_supervised_train(tm_supervised *s, tm_supervised_progress_fn progress, void *user,
                              tm_supervised_result *out) {
    memset(out, 0, sizeof *out);
    double seconds = 0.0, window_loss = 0.0, window_acc = 0.0;
    int window = 0;
    size_t tokens_per_step = (size_t)s->cfg.batch * (size_t)s->task.seq_len;
    int64_t first = s->step;
    while (s->step < s->cfg.steps) {
        float l, acc;
        double t0 = now_seconds();
        TM_TRY(tm_supervised_step(s, &l, &acc));
        seconds += now_seconds() - t0;
        window_loss += l;
        window_acc += acc;
        window++;
        int last = s->step == s->cfg.steps;
        if ((s->cfg.log_every > 0 && s->step % s->cfg.log_every == 0) || last) {
            out->train_loss = (float)(window_loss / window);
            out->train_accuracy = (float)(window_acc / window);
            if (progress) {
                tm_supervised_progress p = {
                    .step = s->step, .steps = s->cfg.steps, .loss = out->train_loss,
                    .accuracy = out->train_accuracy, .seconds = seconds,
                    .tokens_per_sec = (double)tokens_per_step * (double)(s->step - first) /
                                      (seconds > 0 ? seconds : 1e-9)};
                progress(user, &p);
            }
            window_loss = window_acc = 0.0;
            window = 0;
        }
    }
    out->steps = s->step;
    out->train_seconds = seconds;
    out->tokens_per_sec =
        (double)tokens_per_step * (double)(s->step - first) / (seconds > 0 ? seconds : 1e-9);
    out->params = tm_supervised_param_count(s);
    return tm_supervised_evaluate(s, &out->loss, &out->accuracy);
}
