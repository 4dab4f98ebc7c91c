/* Sanity checks of the build itself: the random streams, the config
 * machinery, the three libraries the program stands on (OpenBLAS, MuJoCo,
 * ZeroMQ), the optimizer and checkpoints. See sanity.h; each check computes
 * something that a broken build or library would get wrong. */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <mujoco/mujoco.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "cli/sanity.h"
#include "core/adamw.h"
#include "core/ckpt.h"
#include "core/params.h"
#include "core/rng.h"
#include "core/run_config.h"

int tm_sanity_rng_uniform_moments(char *detail, size_t cap) {
    /* U[0,1): mean 1/2, variance 1/12. With 2^20 draws the standard errors
     * are 2.8e-4 and 7.3e-5; the bounds are about 7 and 14 of them. */
    tm_rng r;
    tm_rng_seed(&r, 1234, 0);
    const long n = 1L << 20;
    double sum = 0, sum2 = 0;
    for (long i = 0; i < n; i++) {
        double x = tm_rng_uniform(&r);
        sum += x;
        sum2 += x * x;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    snprintf(detail, cap, "mean %.4f var %.4f (want 0.5, 0.0833)", mean, var);
    return fabs(mean - 0.5) < 2e-3 && fabs(var - 1.0 / 12) < 1e-3;
}

int tm_sanity_rng_normal_moments(char *detail, size_t cap) {
    /* N(0,1) over 2^18 draws: standard errors 2e-3 (mean), 2.8e-3 (variance). */
    tm_rng r;
    tm_rng_seed(&r, 1234, 1);
    const long n = 1L << 18;
    double sum = 0, sum2 = 0;
    for (long i = 0; i < n; i++) {
        double x = tm_rng_normal(&r);
        sum += x;
        sum2 += x * x;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    snprintf(detail, cap, "mean %.4f var %.4f (want 0, 1)", mean, var);
    return fabs(mean) < 0.015 && fabs(var - 1) < 0.02;
}

int tm_sanity_config_round_trip(char *detail, size_t cap) {
    const tm_config_schema *s = &tm_run_config_schema;
    tm_run_config want, got;
    char *text = NULL;
    if (tm_config_schema_check(s) != TM_OK || tm_run_config_default(&want) != TM_OK ||
        tm_config_set(s, &want, "optim.lr=1.25e-4") != TM_OK ||
        tm_config_set(s, &want, "optim.schedule=cosine") != TM_OK ||
        tm_config_set(s, &want, "seed=9007199254740993") != TM_OK || /* 2^53+1: past a double */
        tm_config_to_string(s, &want, 0, &text) != TM_OK) {
        snprintf(detail, cap, "%s", tm_last_error());
        free(text);
        return 0;
    }
    /* Parse back onto the defaults, so every changed key must come from the text. */
    int ok = tm_run_config_default(&got) == TM_OK && tm_config_apply_json_text(s, &got, text, "round trip") == TM_OK;
    if (!ok) snprintf(detail, cap, "%s", tm_last_error());
    else if (!(ok = tm_config_equal(s, &want, &got)))
        snprintf(detail, cap, "values differ after a round trip through %s", text);
    else snprintf(detail, cap, "%d keys, %zu bytes of JSON, equal after parsing back", s->n_fields, strlen(text));
    free(text);
    return ok;
}

int tm_sanity_blas_sgemm(char *detail, size_t cap) {
    /* C = alpha A B + beta C against a double-precision triple loop; odd
     * sizes so that no blocking divides them. */
    enum { M = 37, N = 29, K = 53 };
    static float A[M * K], B[K * N], C[M * N];
    static double ref[M * N];
    const float alpha = 1.5f, beta = 0.5f;
    tm_rng r;
    tm_rng_seed(&r, 7, 0);
    tm_rng_fill_normal(&r, A, M * K, 0, 1);
    tm_rng_fill_normal(&r, B, K * N, 0, 1);
    tm_rng_fill_normal(&r, C, M * N, 0, 1);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) acc += (double)A[i * K + k] * B[k * N + j];
            ref[i * N + j] = alpha * acc + beta * (double)C[i * N + j];
        }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, alpha, A, K, B, N, beta, C, N);
    double max_err = 0;
    for (int i = 0; i < M * N; i++) {
        double e = fabs(C[i] - ref[i]);
        if (!(e <= max_err)) max_err = e; /* a NaN propagates */
    }
    /* Float rounding over K=53 terms of size ~1: well under 1e-4. */
    snprintf(detail, cap, "max |error| %.2e over %dx%dx%d", max_err, M, N, K);
    return max_err < 1e-4;
}

int tm_sanity_mujoco_step(char *detail, size_t cap) {
    /* A box in free fall above a plane and a hinged pendulum. After 100
     * steps of 2 ms the box (no contact yet) has fallen g t^2 / 2. */
    static const char xml[] =
        "<mujoco><option timestep='0.002' gravity='0 0 -9.81' integrator='RK4'/><worldbody>"
        "<geom type='plane' size='2 2 0.1'/>"
        "<body name='box' pos='0 0 1'><joint type='free'/>"
        "<geom type='box' size='0.05 0.05 0.05' mass='1'/></body>"
        "<body name='arm' pos='1 0 1'><joint type='hinge' axis='0 1 0'/>"
        "<geom type='capsule' fromto='0 0 0 0.3 0 0' size='0.02'/></body>"
        "</worldbody></mujoco>";
    mjVFS *vfs = malloc(sizeof *vfs); /* ~2 MB: not for the stack */
    if (!vfs) {
        snprintf(detail, cap, "out of memory");
        return 0;
    }
    mj_defaultVFS(vfs);
    int ok = 0;
    mjModel *m = NULL;
    mjData *d = NULL;
    char err[512] = "";
    if (mj_makeEmptyFileVFS(vfs, "sanity.xml", (int)sizeof xml - 1) != 0) {
        snprintf(detail, cap, "mj_makeEmptyFileVFS failed");
        goto done;
    }
    memcpy(vfs->filedata[mj_findFileVFS(vfs, "sanity.xml")], xml, sizeof xml - 1);
    m = mj_loadXML("sanity.xml", vfs, err, sizeof err);
    if (!m) {
        snprintf(detail, cap, "mj_loadXML: %s", err);
        goto done;
    }
    d = mj_makeData(m);
    if (!d) {
        snprintf(detail, cap, "mj_makeData failed");
        goto done;
    }
    const int steps = 100;
    for (int i = 0; i < steps; i++) mj_step(m, d);
    int finite = 1;
    for (int i = 0; i < m->nq; i++) finite &= isfinite(d->qpos[i]);
    for (int i = 0; i < m->nv; i++) finite &= isfinite(d->qvel[i]);
    double t = steps * m->opt.timestep, want_z = 1.0 - 0.5 * 9.81 * t * t;
    double z = d->qpos[2], vz = d->qvel[2];
    snprintf(detail, cap, "%d steps, box z %.4f (want %.4f), vz %.3f (want %.3f), nq %d", steps, z,
             want_z, vz, -9.81 * t, m->nq);
    ok = finite && fabs(d->time - t) < 1e-9 && fabs(z - want_z) < 1e-3 && fabs(vz + 9.81 * t) < 1e-3 &&
         m->nq == 8;
done:
    mj_deleteData(d);
    mj_deleteModel(m);
    mj_deleteVFS(vfs);
    free(vfs);
    return ok;
}

int tm_sanity_zmq_inproc_pair(char *detail, size_t cap) {
    int ok = 0;
    void *ctx = zmq_ctx_new();
    if (!ctx) {
        snprintf(detail, cap, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
        return 0;
    }
    void *a = zmq_socket(ctx, ZMQ_PAIR), *b = zmq_socket(ctx, ZMQ_PAIR);
    int linger = 0, timeout_ms = 2000; /* bounded: a broken build fails, never hangs */
    const char msg[] = "transmamba sanity 42";
    char buf[64] = "";
    if (!a || !b) {
        snprintf(detail, cap, "zmq_socket: %s", zmq_strerror(zmq_errno()));
        goto done;
    }
    zmq_setsockopt(a, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(b, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(b, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(a, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    if (zmq_bind(a, "inproc://tm-sanity") != 0 || zmq_connect(b, "inproc://tm-sanity") != 0) {
        snprintf(detail, cap, "bind/connect: %s", zmq_strerror(zmq_errno()));
        goto done;
    }
    if (zmq_send(a, msg, sizeof msg - 1, 0) != (int)sizeof msg - 1) {
        snprintf(detail, cap, "send: %s", zmq_strerror(zmq_errno()));
        goto done;
    }
    int n = zmq_recv(b, buf, sizeof buf - 1, 0);
    if (n < 0) {
        snprintf(detail, cap, "recv: %s", zmq_strerror(zmq_errno()));
        goto done;
    }
    buf[n < (int)sizeof buf - 1 ? n : (int)sizeof buf - 1] = '\0';
    ok = n == (int)sizeof msg - 1 && strcmp(buf, msg) == 0;
    snprintf(detail, cap, "%s over inproc PAIR: sent %d bytes, received %d", ok ? "round trip" : "MISMATCH",
             (int)sizeof msg - 1, n);
done:
    if (a) zmq_close(a);
    if (b) zmq_close(b);
    zmq_ctx_term(ctx);
    return ok;
}

int tm_sanity_adamw_quadratic(char *detail, size_t cap) {
    /* AdamW on f(x) = |x - target|^2 / 2 (gradient x - target): Adam moves
     * each coordinate by about lr per step, so 400 steps of 0.05 cover the
     * distance of normal draws and then settle. */
    enum { N = 16, STEPS = 400 };
    tm_params p;
    tm_adamw opt = {0};
    size_t off = 0;
    float target[N];
    int ok = 0;
    tm_params_init(&p);
    tm_adamw_config cfg = tm_adamw_config_default();
    if (tm_params_declare(&p, "x", 1, (const int64_t[]){N}, TM_PARAM_NO_DECAY, &off) != TM_OK ||
        tm_params_finalize(&p) != TM_OK || tm_adamw_create(&opt, cfg, &p) != TM_OK) {
        snprintf(detail, cap, "%s", tm_last_error());
        goto done;
    }
    tm_rng r;
    tm_rng_seed(&r, 99, 0);
    float *x = tm_params_at(&p, off), *g = tm_params_grad_at(&p, off);
    tm_rng_fill_normal(&r, x, N, 0, 1);
    tm_rng_fill_normal(&r, target, N, 0, 1);
    double first = 0, last = 0;
    for (int step = 0; step <= STEPS; step++) {
        double loss = 0;
        for (int i = 0; i < N; i++) {
            g[i] = x[i] - target[i];
            loss += 0.5 * (double)g[i] * g[i];
        }
        if (step == 0) first = loss;
        last = loss;
        if (step == STEPS) break;
        if (tm_adamw_step(&opt, &p, 0.05f) != TM_OK) {
            snprintf(detail, cap, "step %d: %s", step, tm_last_error());
            goto done;
        }
    }
    snprintf(detail, cap, "loss %.4g -> %.3g in %d steps", first, last, STEPS);
    ok = last < 1e-3 * first;
done:
    tm_adamw_free(&opt);
    tm_params_free(&p);
    return ok;
}

/* Two parameters, as a model would declare them. */
static tm_status declare_pair(tm_params *p, size_t *off_a, size_t *off_b) {
    tm_params_init(p);
    TM_TRY(tm_params_declare(p, "layer.w", 2, (const int64_t[]){3, 4}, 0, off_a));
    TM_TRY(tm_params_declare(p, "layer.b", 1, (const int64_t[]){5}, TM_PARAM_NO_DECAY, off_b));
    return tm_params_finalize(p);
}

int tm_sanity_ckpt_round_trip(char *detail, size_t cap) {
    /* Save parameters, AdamW moments, a counter, an rng and the config to a
     * temporary directory; load into fresh memory; everything must be equal
     * bit for bit. */
    char dir[] = "/tmp/tm_sanity_ckpt_XXXXXX", path[64] = "";
    tm_params a, b;
    tm_adamw oa = {0}, ob = {0};
    size_t wa, ba, wb, bb;
    char *meta = NULL;
    int ok = 0;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (!mkdtemp(dir)) {
        snprintf(detail, cap, "mkdtemp: cannot make a temporary directory");
        return 0;
    }
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    const char *config = "{\"seed\":7}";
    int64_t step_a = 123456789012345, step_b = 0;
    tm_rng ra, rb;
    tm_rng_seed(&ra, 5, 3);
    tm_rng_seed(&rb, 0, 0);
    tm_ckpt ca, cb;
    if (declare_pair(&a, &wa, &ba) != TM_OK || declare_pair(&b, &wb, &bb) != TM_OK ||
        tm_adamw_create(&oa, tm_adamw_config_default(), &a) != TM_OK ||
        tm_adamw_create(&ob, tm_adamw_config_default(), &b) != TM_OK) {
        snprintf(detail, cap, "%s", tm_last_error());
        goto done;
    }
    /* Views only: the vector may hold alignment padding between them,
     * which a checkpoint rightly does not store. */
    for (int i = 0; i < a.n_views; i++) {
        const tm_param_view *pv = &a.views[i];
        tm_rng_fill_normal(&ra, a.data + pv->offset, (long)pv->numel, 0, 1);
        tm_rng_fill_normal(&ra, oa.m + pv->offset, (long)pv->numel, 0, 1);
        tm_rng_fill_uniform(&ra, oa.v + pv->offset, (long)pv->numel, 0, 1);
    }
    tm_ckpt_init(&ca, &a);
    tm_ckpt_init(&cb, &b);
    if (tm_ckpt_bind_moment(&ca, "adamw.m", oa.m) != TM_OK || tm_ckpt_bind_moment(&ca, "adamw.v", oa.v) != TM_OK ||
        tm_ckpt_bind_counter(&ca, "step", &step_a) != TM_OK || tm_ckpt_bind_rng(&ca, "env", &ra) != TM_OK ||
        tm_ckpt_bind_moment(&cb, "adamw.m", ob.m) != TM_OK || tm_ckpt_bind_moment(&cb, "adamw.v", ob.v) != TM_OK ||
        tm_ckpt_bind_counter(&cb, "step", &step_b) != TM_OK || tm_ckpt_bind_rng(&cb, "env", &rb) != TM_OK) {
        snprintf(detail, cap, "%s", tm_last_error());
        goto done;
    }
    tm_ckpt_set_config(&ca, config);
    if (tm_ckpt_save(&ca, path) != TM_OK || tm_ckpt_load(&cb, path) != TM_OK ||
        tm_ckpt_read_meta(path, "config", &meta) != TM_OK) {
        snprintf(detail, cap, "%s", tm_last_error());
        goto done;
    }
    ok = a.n == b.n && a.n_views == b.n_views && step_a == step_b &&
         memcmp(&ra, &rb, sizeof ra) == 0 && strcmp(meta, config) == 0;
    size_t floats = 0;
    for (int i = 0; ok && i < a.n_views; i++) {
        size_t o = a.views[i].offset, bytes = a.views[i].numel * sizeof(float);
        ok = b.views[i].offset == o && memcmp(a.data + o, b.data + o, bytes) == 0 &&
             memcmp(oa.m + o, ob.m + o, bytes) == 0 && memcmp(oa.v + o, ob.v + o, bytes) == 0;
        floats += a.views[i].numel;
    }
    snprintf(detail, cap, "%s: %zu params, 2 moments, a counter, an rng and the config",
             ok ? "equal after save and load" : "MISMATCH after save and load", floats);
done:
    free(meta);
    if (path[0]) unlink(path);
    rmdir(dir);
    tm_adamw_free(&oa);
    tm_adamw_free(&ob);
    tm_params_free(&a);
    tm_params_free(&b);
    return ok;
}
