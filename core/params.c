/* tm_params: the flat parameter vector and its named views. See params.h.
 * Definition: shared DESIGN.md principle 3 (one flat vector per model).
 *
 * Every view starts at a multiple of 16 floats, so with a 64-byte aligned
 * buffer each parameter starts on its own cache line and SIMD loads of a
 * parameter never straddle two. The padding floats between views belong to
 * no view: they are zero in data and grad and stay zero (their decay mask is
 * 0 and their gradient is never written). */
#include "core/params.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define TM_PARAMS_ALIGN_FLOATS 16 /* 64 bytes */

void tm_params_init(tm_params *p) { memset(p, 0, sizeof *p); }

static size_t round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }

tm_status tm_params_declare(tm_params *p, const char *name, int ndim, const int64_t *shape,
                            unsigned flags, size_t *offset) {
    if (p->finalized)
        return tm_fail(TM_ESTATE, "params: cannot declare '%s' after finalize",
                       name ? name : "(null)");
    if (!name || !name[0]) return tm_fail(TM_EINVAL, "params: name must be non-empty");
    size_t len = strlen(name);
    if (len >= TM_PARAM_NAME_MAX)
        return tm_fail(TM_EINVAL, "params: name '%.40s...' is %zu characters (max %d)", name, len,
                       TM_PARAM_NAME_MAX - 1);
    if (ndim < 0 || ndim > TM_MAX_DIMS)
        return tm_fail(TM_EINVAL, "params: '%s': ndim must be in [0, %d] (got %d)", name,
                       TM_MAX_DIMS, ndim);
    if (ndim > 0 && !shape) return tm_fail(TM_EINVAL, "params: '%s': shape is NULL", name);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return tm_fail(TM_EINVAL, "params: '%s': dim %d must be > 0 (got %" PRId64 ")", name,
                           i, shape[i]);
        /* Bound the total by SIZE_MAX / 8 so byte counts of data + grad fit. */
        if ((uint64_t)shape[i] > (SIZE_MAX / 8) / numel)
            return tm_fail(TM_ERANGE, "params: '%s': shape too large", name);
        numel *= (size_t)shape[i];
    }
    if (tm_params_find(p, name))
        return tm_fail(TM_EINVAL, "params: duplicate parameter name '%s'", name);
    size_t start = round_up(p->n, TM_PARAMS_ALIGN_FLOATS);
    if (numel > SIZE_MAX / 8 - start)
        return tm_fail(TM_ERANGE, "params: '%s': parameter vector too large", name);

    if (p->n_views == p->cap_views) {
        int cap = p->cap_views ? p->cap_views * 2 : 16;
        tm_param_view *views = realloc(p->views, (size_t)cap * sizeof *views);
        if (!views) return tm_fail(TM_ENOMEM, "params: cannot grow the view list to %d", cap);
        p->views = views;
        p->cap_views = cap;
    }
    tm_param_view *v = &p->views[p->n_views++];
    memset(v, 0, sizeof *v);
    memcpy(v->name, name, len + 1);
    v->offset = start;
    v->numel = numel;
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++) v->shape[i] = shape[i];
    v->flags = flags;
    p->n = start + numel;
    if (offset) *offset = start;
    return TM_OK;
}

tm_status tm_params_finalize(tm_params *p) {
    if (p->finalized) return tm_fail(TM_ESTATE, "params: already finalized");
    /* Rounded to whole cache lines (aligned_alloc wants a multiple of 64);
     * an empty model still gets one line so data and grad are never NULL. */
    size_t bytes = round_up(p->n, TM_PARAMS_ALIGN_FLOATS) * sizeof(float);
    if (bytes == 0) bytes = TM_PARAMS_ALIGN_FLOATS * sizeof(float);
    float *data = aligned_alloc(64, bytes);
    float *grad = aligned_alloc(64, bytes);
    if (!data || !grad) {
        free(data);
        free(grad);
        return tm_fail(TM_ENOMEM, "params: cannot allocate 2 x %zu bytes for %zu parameters",
                       bytes, p->n);
    }
    memset(data, 0, bytes);
    memset(grad, 0, bytes);
    p->data = data;
    p->grad = grad;
    p->finalized = 1;
    return TM_OK;
}

float *tm_params_at(const tm_params *p, size_t offset) {
    TM_ASSERT(p->finalized && offset < p->n);
    return p->data + offset;
}

float *tm_params_grad_at(const tm_params *p, size_t offset) {
    TM_ASSERT(p->finalized && offset < p->n);
    return p->grad + offset;
}

const tm_param_view *tm_params_find(const tm_params *p, const char *name) {
    /* Linear: models have tens to hundreds of views and lookups happen at
     * build and checkpoint time, never in the step loop. */
    for (int i = 0; i < p->n_views; i++)
        if (strcmp(p->views[i].name, name) == 0) return &p->views[i];
    return NULL;
}

const tm_param_view *tm_params_view_at(const tm_params *p, size_t index) {
    /* Views are in declaration order, so offsets increase: binary search for
     * the last view starting at or before index. */
    int lo = 0, hi = p->n_views;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (p->views[mid].offset <= index) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return NULL;
    const tm_param_view *v = &p->views[lo - 1];
    return index < v->offset + v->numel ? v : NULL;
}

void tm_params_zero_grad(tm_params *p) {
    if (p->grad) memset(p->grad, 0, p->n * sizeof(float));
}

tm_status tm_params_decay_mask(const tm_params *p, uint8_t **mask) {
    if (!p->finalized) return tm_fail(TM_ESTATE, "params: decay mask before finalize");
    uint8_t *m = calloc(p->n ? p->n : 1, 1);
    if (!m) return tm_fail(TM_ENOMEM, "params: cannot allocate a decay mask of %zu bytes", p->n);
    for (int i = 0; i < p->n_views; i++) {
        const tm_param_view *v = &p->views[i];
        if (!(v->flags & TM_PARAM_NO_DECAY)) memset(m + v->offset, 1, v->numel);
    }
    *mask = m;
    return TM_OK;
}

void tm_params_free(tm_params *p) {
    if (!p) return;
    free(p->data);
    free(p->grad);
    free(p->views);
    tm_params_init(p);
}
