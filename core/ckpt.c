/* Model checkpoints on top of the safetensors format.
 * Definition: shared spec agent.md "Checkpoints"; the layout of the file and
 * the load rules are in core/ckpt.h.
 *
 * Load is two passes over the parsed file: the first checks every binding
 * and collects counters and rng states into locals, the second copies. Only
 * the second pass writes caller memory, and it cannot fail, so a load either
 * changes everything or nothing. */
#include "core/ckpt.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/safetensors.h"

#ifndef TM_VERSION
#define TM_VERSION "unknown"
#endif

static int name_ok(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= TM_CKPT_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* Checks a binding's name and that it is new among `count` names spaced
 * `stride` bytes apart starting at `first`. */
static tm_status check_new_name(const char *kind, const char *name, const char *first,
                                size_t stride, int count) {
    if (!name_ok(name))
        return tm_fail(TM_EINVAL, "ckpt: %s name '%s' must be 1..%d chars of [A-Za-z0-9_.-]",
                       kind, name ? name : "(null)", TM_CKPT_NAME_MAX - 1);
    for (int i = 0; i < count; i++)
        if (strcmp(first + (size_t)i * stride, name) == 0)
            return tm_fail(TM_EINVAL, "ckpt: %s '%s' bound twice", kind, name);
    if (count >= TM_CKPT_MAX_BINDINGS)
        return tm_fail(TM_ERANGE, "ckpt: more than %d %s bindings", TM_CKPT_MAX_BINDINGS, kind);
    return TM_OK;
}

void tm_ckpt_init(tm_ckpt *ck, tm_params *params) {
    memset(ck, 0, sizeof *ck);
    ck->params = params;
}

tm_status tm_ckpt_bind_moment(tm_ckpt *ck, const char *name, float *data) {
    TM_TRY(check_new_name("moment", name, ck->moments[0].name, sizeof ck->moments[0],
                          ck->n_moments));
    if (!data) return tm_fail(TM_EINVAL, "ckpt: moment '%s': data is NULL", name);
    tm_ckpt_moment *m = &ck->moments[ck->n_moments++];
    snprintf(m->name, sizeof m->name, "%s", name);
    m->data = data;
    return TM_OK;
}

tm_status tm_ckpt_bind_tensor(tm_ckpt *ck, const char *name, tm_dtype dt, int ndim,
                              const int64_t *shape, void *data) {
    TM_TRY(check_new_name("tensor", name, ck->tensors[0].name, sizeof ck->tensors[0],
                          ck->n_tensors));
    if (dt != TM_F32 && dt != TM_BF16 && dt != TM_I32)
        return tm_fail(TM_EINVAL, "ckpt: tensor '%s': unknown dtype %d", name, (int)dt);
    if (ndim < 0 || ndim > TM_MAX_DIMS)
        return tm_fail(TM_EINVAL, "ckpt: tensor '%s': ndim must be 0..%d (got %d)", name,
                       TM_MAX_DIMS, ndim);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return tm_fail(TM_EINVAL, "ckpt: tensor '%s': shape[%d] must be >= 0 (got %lld)",
                           name, i, (long long)shape[i]);
    if (!data) return tm_fail(TM_EINVAL, "ckpt: tensor '%s': data is NULL", name);
    tm_ckpt_tensor *t = &ck->tensors[ck->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    return TM_OK;
}

tm_status tm_ckpt_bind_counter(tm_ckpt *ck, const char *name, int64_t *value) {
    TM_TRY(check_new_name("counter", name, ck->counters[0].name, sizeof ck->counters[0],
                          ck->n_counters));
    if (!value) return tm_fail(TM_EINVAL, "ckpt: counter '%s': value is NULL", name);
    tm_ckpt_counter *c = &ck->counters[ck->n_counters++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->value = value;
    return TM_OK;
}

tm_status tm_ckpt_bind_rng(tm_ckpt *ck, const char *name, tm_rng *rng) {
    TM_TRY(check_new_name("rng", name, ck->rngs[0].name, sizeof ck->rngs[0], ck->n_rngs));
    if (!rng) return tm_fail(TM_EINVAL, "ckpt: rng '%s': rng is NULL", name);
    tm_ckpt_rng *r = &ck->rngs[ck->n_rngs++];
    snprintf(r->name, sizeof r->name, "%s", name);
    r->rng = rng;
    return TM_OK;
}

void tm_ckpt_set_config(tm_ckpt *ck, const char *config_json) { ck->config_json = config_json; }

static tm_status check_params(const tm_ckpt *ck, const char *verb) {
    const tm_params *p = ck->params;
    if (!p || !p->finalized || (p->n > 0 && !p->data))
        return tm_fail(TM_ESTATE, "ckpt: %s needs finalized params", verb);
    return TM_OK;
}

/* Index of the first non-finite float in bytes (possibly unaligned), or -1. */
static long first_non_finite(const void *bytes, size_t n) {
    const unsigned char *b = bytes;
    for (size_t i = 0; i < n; i++) {
        float x;
        memcpy(&x, b + 4 * i, sizeof x);
        if (!isfinite(x)) return (long)i;
    }
    return -1;
}

static void moment_tensor_name(char *out, size_t cap, const char *moment, const char *param) {
    snprintf(out, cap, "%s.%s", moment, param);
}

/* ---- save ---- */

static tm_status add_params(tm_st_writer *w, const tm_ckpt *ck) {
    const tm_params *p = ck->params;
    char name[TM_CKPT_NAME_MAX + TM_PARAM_NAME_MAX + 2];
    for (int i = 0; i < p->n_views; i++) {
        const tm_param_view *v = &p->views[i];
        const float *x = p->data + v->offset;
        long bad = first_non_finite(x, v->numel);
        if (bad >= 0)
            return tm_fail(TM_ENUMERIC, "ckpt: not saving: parameter '%s' element %ld is %g",
                           v->name, bad, (double)x[bad]);
        TM_TRY(tm_st_writer_add(w, v->name, TM_F32, v->ndim, v->shape, x));
        for (int m = 0; m < ck->n_moments; m++) {
            const float *mx = ck->moments[m].data + v->offset;
            bad = first_non_finite(mx, v->numel);
            moment_tensor_name(name, sizeof name, ck->moments[m].name, v->name);
            if (bad >= 0)
                return tm_fail(TM_ENUMERIC, "ckpt: not saving: moment '%s' element %ld is %g",
                               name, bad, (double)mx[bad]);
            TM_TRY(tm_st_writer_add(w, name, TM_F32, v->ndim, v->shape, mx));
        }
    }
    return TM_OK;
}

static tm_status add_meta(tm_st_writer *w, const tm_ckpt *ck) {
    char key[TM_CKPT_NAME_MAX + 16], value[80];
    TM_TRY(tm_st_writer_meta(w, "format", TM_CKPT_FORMAT));
    TM_TRY(tm_st_writer_meta(w, "format_version", TM_CKPT_FORMAT_VERSION));
    TM_TRY(tm_st_writer_meta(w, "transmamba", TM_VERSION));
    if (ck->config_json) TM_TRY(tm_st_writer_meta(w, "config", ck->config_json));
    for (int i = 0; i < ck->n_counters; i++) {
        snprintf(key, sizeof key, "counter.%s", ck->counters[i].name);
        snprintf(value, sizeof value, "%" PRId64, *ck->counters[i].value);
        TM_TRY(tm_st_writer_meta(w, key, value));
    }
    for (int i = 0; i < ck->n_rngs; i++) {
        const uint64_t *s = ck->rngs[i].rng->s;
        snprintf(key, sizeof key, "rng.%s", ck->rngs[i].name);
        snprintf(value, sizeof value, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64,
                 s[0], s[1], s[2], s[3]);
        TM_TRY(tm_st_writer_meta(w, key, value));
    }
    return TM_OK;
}

tm_status tm_ckpt_save(const tm_ckpt *ck, const char *path) {
    TM_TRY(check_params(ck, "save"));
    tm_st_writer w;
    tm_st_writer_init(&w);
    tm_status st = add_params(&w, ck);
    for (int i = 0; st == TM_OK && i < ck->n_tensors; i++) {
        const tm_ckpt_tensor *t = &ck->tensors[i];
        st = tm_st_writer_add(&w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    if (st == TM_OK) st = add_meta(&w, ck);
    if (st == TM_OK) st = tm_st_writer_save(&w, path);
    tm_st_writer_free(&w);
    if (st != TM_OK) return tm_error_context(st, "saving checkpoint '%s'", path);
    return TM_OK;
}

/* ---- load ---- */

static tm_status check_format(const tm_st_file *f) {
    const char *format = tm_st_meta(f, "format");
    if (!format || strcmp(format, TM_CKPT_FORMAT) != 0)
        return tm_fail(TM_EFORMAT, "checkpoint '%s': __metadata__ 'format' is %s%s%s, expected '%s'",
                       f->source, format ? "'" : "", format ? format : "missing",
                       format ? "'" : "", TM_CKPT_FORMAT);
    const char *version = tm_st_meta(f, "format_version");
    if (!version || strcmp(version, TM_CKPT_FORMAT_VERSION) != 0)
        return tm_fail(TM_EFORMAT, "checkpoint '%s': __metadata__ 'format_version' is %s, expected '%s'",
                       f->source, version ? version : "missing", TM_CKPT_FORMAT_VERSION);
    return TM_OK;
}

/* Finds name, marks it used, checks dtype and shape (and finiteness for F32
 * parameters and moments). */
static tm_status expect_tensor(const tm_st_file *f, unsigned char *used, const char *name,
                               tm_dtype dt, int ndim, const int64_t *shape, int finite,
                               const tm_st_entry **out) {
    const tm_st_entry *e = tm_st_find(f, name);
    if (!e)
        return tm_fail(TM_EFORMAT, "checkpoint '%s': tensor '%s' is missing", f->source, name);
    used[e - f->entries] = 1;
    TM_TRY(tm_st_expect(f, e, dt, ndim, shape));
    if (finite) {
        long bad = first_non_finite(e->data, (e->end - e->begin) / 4);
        if (bad >= 0)
            return tm_fail(TM_ENUMERIC, "checkpoint '%s': tensor '%s' element %ld is not finite",
                           f->source, name, bad);
    }
    *out = e;
    return TM_OK;
}

static tm_status parse_counter(const tm_st_file *f, const char *name, int64_t *out) {
    char key[TM_CKPT_NAME_MAX + 16];
    snprintf(key, sizeof key, "counter.%s", name);
    const char *s = tm_st_meta(f, key);
    if (!s) return tm_fail(TM_EFORMAT, "checkpoint '%s': __metadata__ '%s' is missing", f->source, key);
    /* Exactly what save writes: optional '-', then 1..19 digits. */
    const char *d = s[0] == '-' ? s + 1 : s;
    size_t n = strspn(d, "0123456789");
    errno = 0;
    char *end = NULL;
    long long v = (n > 0 && n <= 19 && d[n] == '\0') ? strtoll(s, &end, 10) : 0;
    if (n == 0 || n > 19 || d[n] != '\0' || errno == ERANGE || !end || *end != '\0')
        return tm_fail(TM_EFORMAT, "checkpoint '%s': __metadata__ '%s' must be a decimal int64 "
                       "(got '%.40s')", f->source, key, s);
    *out = (int64_t)v;
    return TM_OK;
}

static tm_status parse_rng(const tm_st_file *f, const char *name, tm_rng *out) {
    char key[TM_CKPT_NAME_MAX + 16];
    snprintf(key, sizeof key, "rng.%s", name);
    const char *s = tm_st_meta(f, key);
    if (!s) return tm_fail(TM_EFORMAT, "checkpoint '%s': __metadata__ '%s' is missing", f->source, key);
    int ok = strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
    uint64_t any = 0;
    for (int w = 0; ok && w < 4; w++) {
        uint64_t x = 0;
        for (int k = 0; k < 16; k++) {
            char c = s[16 * w + k];
            x = (x << 4) | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out->s[w] = x;
        any |= x;
    }
    /* The all-zero state is xoshiro's one fixed point: never a real state. */
    if (!ok || any == 0)
        return tm_fail(TM_EFORMAT, "checkpoint '%s': __metadata__ '%s' must be 64 lowercase hex "
                       "digits of a nonzero xoshiro256 state", f->source, key);
    return TM_OK;
}

/* Pass 1: everything that can fail. Fills the entry pointers and values. */
static tm_status validate(const tm_ckpt *ck, const tm_st_file *f, unsigned char *used,
                          const tm_st_entry **param_e, const tm_st_entry **moment_e,
                          const tm_st_entry **tensor_e, int64_t *counters, tm_rng *rngs) {
    TM_TRY(check_format(f));
    const tm_params *p = ck->params;
    char name[TM_CKPT_NAME_MAX + TM_PARAM_NAME_MAX + 2];
    for (int i = 0; i < p->n_views; i++) {
        const tm_param_view *v = &p->views[i];
        TM_TRY(expect_tensor(f, used, v->name, TM_F32, v->ndim, v->shape, 1, &param_e[i]));
        for (int m = 0; m < ck->n_moments; m++) {
            moment_tensor_name(name, sizeof name, ck->moments[m].name, v->name);
            TM_TRY(expect_tensor(f, used, name, TM_F32, v->ndim, v->shape, 1,
                                 &moment_e[(size_t)m * (size_t)p->n_views + (size_t)i]));
        }
    }
    for (int i = 0; i < ck->n_tensors; i++) {
        const tm_ckpt_tensor *t = &ck->tensors[i];
        TM_TRY(expect_tensor(f, used, t->name, t->dtype, t->ndim, t->shape, 0, &tensor_e[i]));
    }
    for (int i = 0; i < ck->n_counters; i++)
        TM_TRY(parse_counter(f, ck->counters[i].name, &counters[i]));
    for (int i = 0; i < ck->n_rngs; i++) TM_TRY(parse_rng(f, ck->rngs[i].name, &rngs[i]));
    if (!ck->ignore_unbound)
        for (int i = 0; i < f->n_entries; i++)
            if (!used[i])
                return tm_fail(TM_EFORMAT, "checkpoint '%s': tensor '%s' is in the file but not "
                               "in the model (a different model? set ignore_unbound to skip it)",
                               f->source, f->entries[i].name);
    return TM_OK;
}

static void copy_entry(void *dst, const tm_st_entry *e) {
    if (e->end > e->begin) memcpy(dst, e->data, e->end - e->begin);
}

/* Validates f against the bindings, then copies; f is the parsed file. */
static tm_status load_parsed(const tm_ckpt *ck, const tm_st_file *f) {
    const tm_params *p = ck->params;
    size_t nv = (size_t)p->n_views;
    const tm_st_entry **param_e = calloc(nv + 1, sizeof *param_e);
    const tm_st_entry **moment_e = calloc(nv * (size_t)ck->n_moments + 1, sizeof *moment_e);
    unsigned char *used = calloc((size_t)f->n_entries + 1, 1);
    const tm_st_entry *tensor_e[TM_CKPT_MAX_BINDINGS];
    int64_t counters[TM_CKPT_MAX_BINDINGS];
    tm_rng rngs[TM_CKPT_MAX_BINDINGS];
    tm_status st = (param_e && moment_e && used)
                       ? validate(ck, f, used, param_e, moment_e, tensor_e, counters, rngs)
                       : tm_fail(TM_ENOMEM, "checkpoint '%s': out of memory", f->source);
    if (st == TM_OK) {
        /* Pass 2: nothing below can fail. */
        for (size_t i = 0; i < nv; i++) {
            copy_entry(p->data + p->views[i].offset, param_e[i]);
            for (int m = 0; m < ck->n_moments; m++)
                copy_entry(ck->moments[m].data + p->views[i].offset,
                           moment_e[(size_t)m * nv + i]);
        }
        for (int i = 0; i < ck->n_tensors; i++) copy_entry(ck->tensors[i].data, tensor_e[i]);
        for (int i = 0; i < ck->n_counters; i++) *ck->counters[i].value = counters[i];
        for (int i = 0; i < ck->n_rngs; i++) *ck->rngs[i].rng = rngs[i];
    }
    free(param_e);
    free(moment_e);
    free(used);
    return st;
}

tm_status tm_ckpt_load(const tm_ckpt *ck, const char *path) {
    TM_TRY(check_params(ck, "load"));
    tm_st_file f;
    TM_TRY(tm_st_read(&f, path));
    tm_status st = load_parsed(ck, &f);
    tm_st_close(&f);
    return st;
}

tm_status tm_ckpt_load_memory(const tm_ckpt *ck, const void *bytes, size_t len,
                              const char *source) {
    TM_TRY(check_params(ck, "load"));
    tm_st_file f;
    TM_TRY(tm_st_parse(&f, bytes, len, source));
    tm_status st = load_parsed(ck, &f);
    tm_st_close(&f);
    return st;
}

tm_status tm_ckpt_read_meta(const char *path, const char *key, char **value) {
    *value = NULL;
    tm_st_file f;
    TM_TRY(tm_st_read(&f, path));
    tm_status st = check_format(&f);
    const char *v = st == TM_OK ? tm_st_meta(&f, key) : NULL;
    if (st == TM_OK && !v)
        st = tm_fail(TM_EFORMAT, "checkpoint '%s': __metadata__ '%s' is missing", path, key);
    if (st == TM_OK && !(*value = strdup(v)))
        st = tm_fail(TM_ENOMEM, "checkpoint '%s': out of memory", path);
    tm_st_close(&f);
    return st;
}
