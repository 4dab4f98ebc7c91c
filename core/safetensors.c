/* The safetensors file format: validated reader and atomic writer.
 * Definition: Hugging Face safetensors (README of
 * github.com/huggingface/safetensors); what we enforce is listed in
 * core/safetensors.h.
 *
 * The reader treats its input as hostile: every number from the header is
 * checked before it is used, and nothing is read outside [buf, buf + len).
 * tests/fuzz/fuzz_ckpt.c feeds it arbitrary bytes. */
#include "core/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c: the format is little-endian and we copy bytes as they are"
#endif

/* cJSON reads numbers as doubles: integers above 2^53 are not exact. */
#define MAX_EXACT_INT 9007199254740992.0

static const struct { const char *name; tm_dtype dt; size_t size; } DTYPES[] = {
    {"F32", TM_F32, 4}, {"BF16", TM_BF16, 2}, {"I32", TM_I32, 4},
};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

const char *tm_st_dtype_name(tm_dtype dt) {
    for (int i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].dt == dt) return DTYPES[i].name;
    return "?";
}

static size_t dtype_bytes(tm_dtype dt) {
    for (int i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].dt == dt) return DTYPES[i].size;
    return 0;
}

/* Every format error reads "safetensors 'SOURCE': what was wrong". */
static tm_status bad(const tm_st_file *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static tm_status bad(const tm_st_file *f, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tm_fail(TM_EFORMAT, "safetensors '%s': %s", f->source ? f->source : "?", msg);
}

/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF, no NUL): the
 * reference parses the header as a Rust str, so anything else is invalid. */
static size_t utf8_invalid_at(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c == 0) return i;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
        else return i;
        if (n - i < len) return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

/* A JSON number that is an integer in [0, 2^53]. */
static int json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0.0 && d <= MAX_EXACT_INT) || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static tm_status parse_tensor(const tm_st_file *f, const cJSON *obj, tm_st_entry *e,
                              size_t buffer_bytes) {
    if (!cJSON_IsObject(obj))
        return bad(f, "tensor '%s': entry must be an object with dtype, shape, data_offsets",
                   e->name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *c = obj->child; c; c = c->next) {
        const cJSON **slot = NULL;
        if (strcmp(c->string, "dtype") == 0) slot = &dtype;
        else if (strcmp(c->string, "shape") == 0) slot = &shape;
        else if (strcmp(c->string, "data_offsets") == 0) slot = &offsets;
        else return bad(f, "tensor '%s': unknown field '%s'", e->name, c->string);
        if (*slot) return bad(f, "tensor '%s': field '%s' appears twice", e->name, c->string);
        *slot = c;
    }
    if (!dtype) return bad(f, "tensor '%s': missing field 'dtype'", e->name);
    if (!shape) return bad(f, "tensor '%s': missing field 'shape'", e->name);
    if (!offsets) return bad(f, "tensor '%s': missing field 'data_offsets'", e->name);

    if (!cJSON_IsString(dtype))
        return bad(f, "tensor '%s': dtype must be a string", e->name);
    size_t esize = 0;
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(dtype->valuestring, DTYPES[i].name) == 0) {
            e->dtype = DTYPES[i].dt;
            esize = DTYPES[i].size;
        }
    if (esize == 0)
        return bad(f, "tensor '%s': dtype '%.32s' is not supported (expected F32, BF16 or I32)",
                   e->name, dtype->valuestring);

    if (!cJSON_IsArray(shape))
        return bad(f, "tensor '%s': shape must be a list of integers", e->name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > TM_MAX_DIMS)
        return bad(f, "tensor '%s': shape has %d dims (at most %d supported)", e->name, ndim,
                   TM_MAX_DIMS);
    e->ndim = ndim;
    uint64_t numel = 1;
    int d = 0;
    for (const cJSON *c = shape->child; c; c = c->next, d++) {
        uint64_t dim;
        if (!json_uint(c, &dim))
            return bad(f, "tensor '%s': shape[%d] must be an integer in [0, 2^53]", e->name, d);
        e->shape[d] = (int64_t)dim;
        if (__builtin_mul_overflow(numel, dim, &numel))
            return bad(f, "tensor '%s': shape's element count overflows", e->name);
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)esize, &nbytes))
        return bad(f, "tensor '%s': shape's byte count overflows", e->name);

    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 ||
        !json_uint(offsets->child, &begin) || !json_uint(offsets->child->next, &end))
        return bad(f, "tensor '%s': data_offsets must be [begin, end], integers >= 0", e->name);
    if (begin > end)
        return bad(f, "tensor '%s': data_offsets [%llu, %llu] has begin after end", e->name,
                   (unsigned long long)begin, (unsigned long long)end);
    if (end > buffer_bytes)
        return bad(f, "tensor '%s': data_offsets [%llu, %llu] run past the end of the data "
                      "(%zu bytes; file truncated?)",
                   e->name, (unsigned long long)begin, (unsigned long long)end, buffer_bytes);
    if (end - begin != nbytes)
        return bad(f, "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but dtype %s and "
                      "shape need %llu",
                   e->name, (unsigned long long)begin, (unsigned long long)end,
                   (unsigned long long)(end - begin), tm_st_dtype_name(e->dtype),
                   (unsigned long long)nbytes);
    e->begin = (size_t)begin;
    e->end = (size_t)end;
    return TM_OK;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(tm_st_entry *const *)a)->name, (*(tm_st_entry *const *)b)->name);
}

static int cmp_range(const void *a, const void *b) {
    const tm_st_entry *x = *(tm_st_entry *const *)a, *y = *(tm_st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names unique; ranges tile [0, buffer_bytes) exactly (header comment). */
static tm_status check_layout(tm_st_file *f, size_t buffer_bytes) {
    int n = f->n_entries;
    if (n == 0) {
        if (buffer_bytes != 0)
            return bad(f, "data buffer holds %zu bytes but the header lists no tensors",
                       buffer_bytes);
        return TM_OK;
    }
    tm_st_entry **order = malloc((size_t)n * sizeof *order);
    f->by_name = malloc((size_t)n * sizeof *f->by_name);
    if (!order || !f->by_name) {
        free(order);
        return tm_fail(TM_ENOMEM, "safetensors '%s': out of memory", f->source);
    }
    for (int i = 0; i < n; i++) order[i] = &f->entries[i];
    tm_status st = TM_OK;
    qsort(order, (size_t)n, sizeof *order, cmp_name);
    for (int i = 0; i < n; i++) f->by_name[i] = (int)(order[i] - f->entries);
    for (int i = 1; i < n && st == TM_OK; i++) {
        const char *name = f->entries[f->by_name[i]].name;
        if (strcmp(f->entries[f->by_name[i - 1]].name, name) == 0)
            st = bad(f, "tensor name '%s' appears twice", name);
    }
    if (st == TM_OK) {
        qsort(order, (size_t)n, sizeof *order, cmp_range);
        size_t expect = 0;            /* where the next tensor must begin */
        const tm_st_entry *last = NULL; /* the tensor that ends at expect */
        for (int i = 0; i < n && st == TM_OK; i++) {
            const tm_st_entry *e = order[i];
            if (e->begin < expect)
                st = bad(f, "tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s' (ending at %zu)",
                         e->name, e->begin, e->end, last->name, expect);
            else if (e->begin > expect)
                st = bad(f, "tensor '%s': data_offsets begin at %zu, leaving a hole after byte %zu",
                         e->name, e->begin, expect);
            if (e->end > expect || !last) {
                expect = e->end;
                last = e;
            }
        }
        if (st == TM_OK && expect != buffer_bytes)
            st = bad(f, "data buffer holds %zu bytes but the tensors end at %zu (trailing bytes)",
                     buffer_bytes, expect);
    }
    free(order);
    return st;
}

static tm_status check_meta_keys(const tm_st_file *f) {
    if (f->n_meta < 2) return TM_OK;
    char **keys = malloc((size_t)f->n_meta * sizeof *keys);
    if (!keys) return tm_fail(TM_ENOMEM, "safetensors '%s': out of memory", f->source);
    memcpy(keys, f->meta_keys, (size_t)f->n_meta * sizeof *keys);
    qsort(keys, (size_t)f->n_meta, sizeof *keys, cmp_str);
    tm_status st = TM_OK;
    for (int i = 1; i < f->n_meta && st == TM_OK; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            st = bad(f, "__metadata__ key '%s' appears twice", keys[i]);
    free(keys);
    return st;
}

/* Copies s into the arena at *pos; the arena was sized for all strings. */
static char *keep(char *arena, size_t *pos, const char *s) {
    size_t n = strlen(s) + 1;
    memcpy(arena + *pos, s, n);
    *pos += n;
    return arena + *pos - n;
}

static tm_status parse_root(tm_st_file *f, const cJSON *root, size_t buffer_bytes,
                            const uint8_t *buffer) {
    if (!cJSON_IsObject(root)) return bad(f, "header must be a JSON object");
    const cJSON *meta = NULL;
    int n_tensors = 0, n_meta = 0;
    size_t chars = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (meta) return bad(f, "__metadata__ appears twice");
            if (!cJSON_IsObject(c)) return bad(f, "__metadata__ must be an object of strings");
            meta = c;
            for (const cJSON *m = c->child; m; m = m->next) {
                if (!cJSON_IsString(m))
                    return bad(f, "__metadata__ value of key '%s' must be a string", m->string);
                chars += strlen(m->string) + strlen(m->valuestring) + 2;
                n_meta++;
            }
        } else {
            if (c->string[0] == '\0') return bad(f, "tensor name is empty");
            if (!cJSON_IsObject(c)) /* early, before entries are allocated for junk */
                return bad(f, "tensor '%s': entry must be an object with dtype, shape, "
                              "data_offsets", c->string);
            chars += strlen(c->string) + 1;
            n_tensors++;
        }
    }
    f->entries = calloc((size_t)n_tensors + 1, sizeof *f->entries);
    f->meta_keys = calloc((size_t)n_meta + 1, sizeof *f->meta_keys);
    f->meta_values = calloc((size_t)n_meta + 1, sizeof *f->meta_values);
    f->strings = malloc(chars + 1);
    if (!f->entries || !f->meta_keys || !f->meta_values || !f->strings)
        return tm_fail(TM_ENOMEM, "safetensors '%s': out of memory for the header", f->source);
    size_t pos = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        tm_st_entry *e = &f->entries[f->n_entries++];
        e->name = keep(f->strings, &pos, c->string);
        TM_TRY(parse_tensor(f, c, e, buffer_bytes));
        e->data = buffer + e->begin;
    }
    if (meta)
        for (const cJSON *m = meta->child; m; m = m->next) {
            f->meta_keys[f->n_meta] = keep(f->strings, &pos, m->string);
            f->meta_values[f->n_meta++] = keep(f->strings, &pos, m->valuestring);
        }
    TM_TRY(check_layout(f, buffer_bytes));
    return check_meta_keys(f);
}

static tm_status parse_bytes(tm_st_file *f, const uint8_t *b, size_t len) {
    if (len < 8)
        return bad(f, "file is %zu bytes, too short for the 8-byte header length (truncated?)",
                   len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
    if (n == 0) return bad(f, "header length is 0 (the header must be a JSON object)");
    if (n > TM_ST_MAX_HEADER)
        return bad(f, "header length %llu is over the %u-byte limit", (unsigned long long)n,
                   TM_ST_MAX_HEADER);
    if (n > len - 8)
        return bad(f, "header length %llu is larger than the file (%zu bytes; truncated?)",
                   (unsigned long long)n, len);
    const uint8_t *header = b + 8;
    size_t bad_at = utf8_invalid_at(header, (size_t)n);
    if (bad_at != n) return bad(f, "header is not valid UTF-8 (byte %zu)", bad_at);

    /* cJSON gets its own NUL-terminated copy so it can never read past it. */
    char *text = malloc((size_t)n + 1);
    if (!text) return tm_fail(TM_ENOMEM, "safetensors '%s': out of memory for the header", f->source);
    memcpy(text, header, (size_t)n);
    text[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    tm_status st = TM_OK;
    if (!root) {
        size_t at = end ? (size_t)(end - text) : 0;
        st = bad(f, "header is not valid JSON (near byte %zu of %llu)", at, (unsigned long long)n);
    } else {
        /* Padding after the object may only be whitespace (writers pad with spaces). */
        for (const char *p = end; p < text + n && st == TM_OK; p++)
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
                st = bad(f, "header has bytes after the JSON object (byte %zu)",
                         (size_t)(p - text));
        if (st == TM_OK) st = parse_root(f, root, len - 8 - (size_t)n, header + n);
    }
    cJSON_Delete(root);
    free(text);
    return st;
}

static void clear(tm_st_file *f) {
    free(f->source);
    free(f->entries);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->owned);
    free(f->strings);
    free(f->by_name);
    memset(f, 0, sizeof *f);
}

void tm_st_close(tm_st_file *f) {
    if (f) clear(f);
}

tm_status tm_st_parse(tm_st_file *f, const void *buf, size_t len, const char *source) {
    memset(f, 0, sizeof *f);
    if (!buf && len > 0) return tm_fail(TM_EINVAL, "safetensors: NULL buffer of %zu bytes", len);
    f->source = strdup(source ? source : "<memory>");
    if (!f->source) return tm_fail(TM_ENOMEM, "safetensors: out of memory");
    f->bytes = buf;
    f->n_bytes = len;
    tm_status st = parse_bytes(f, buf, len);
    if (st != TM_OK) clear(f);
    return st;
}

tm_status tm_st_read(tm_st_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tm_fail(TM_EIO, "safetensors '%s': cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return tm_fail(TM_EIO, "safetensors '%s': not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    uint8_t *bytes = malloc(size ? size : 1);
    if (!bytes) {
        close(fd);
        return tm_fail(TM_ENOMEM, "safetensors '%s': out of memory for %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, bytes + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break; /* error, or the file shrank while we read it */
        got += (size_t)r;
    }
    int read_errno = errno;
    close(fd);
    if (got != size) {
        free(bytes);
        return tm_fail(TM_EIO, "safetensors '%s': read %zu of %zu bytes: %s", path, got, size,
                       strerror(read_errno));
    }
    tm_status st = tm_st_parse(f, bytes, size, path);
    if (st != TM_OK) {
        free(bytes);
        return st;
    }
    f->owned = bytes;
    return TM_OK;
}

const tm_st_entry *tm_st_find(const tm_st_file *f, const char *name) {
    int lo = 0, hi = f->n_entries; /* binary search of by_name: names are unique */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(f->entries[f->by_name[mid]].name, name);
        if (c == 0) return &f->entries[f->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *tm_st_meta(const tm_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t pos = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && pos < cap; i++)
        pos += (size_t)snprintf(buf + pos, cap - pos, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (pos < cap) snprintf(buf + pos, cap - pos, "]");
}

tm_status tm_st_expect(const tm_st_file *f, const tm_st_entry *e, tm_dtype dt, int ndim,
                       const int64_t *shape) {
    if (e->dtype != dt)
        return bad(f, "tensor '%s': dtype is %s, expected %s", e->name, tm_st_dtype_name(e->dtype),
                   tm_st_dtype_name(dt));
    int same = e->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = e->shape[i] == shape[i];
    if (!same) {
        char got[96], want[96];
        shape_str(got, sizeof got, e->ndim, e->shape);
        shape_str(want, sizeof want, ndim, shape);
        return bad(f, "tensor '%s': shape is %s, expected %s", e->name, got, want);
    }
    return TM_OK;
}

tm_status tm_st_copy(void *dst, size_t cap, const tm_st_entry *e) {
    size_t n = e->end - e->begin;
    if (n > cap)
        return tm_fail(TM_ERANGE, "safetensors: tensor '%s' has %zu bytes, destination %zu",
                       e->name, n, cap);
    if (n) memcpy(dst, e->data, n);
    return TM_OK;
}

/* ---- writing ---- */

void tm_st_writer_init(tm_st_writer *w) { memset(w, 0, sizeof *w); }

void tm_st_writer_free(tm_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    for (int i = 0; i < w->n_meta; i++) {
        free(w->meta_keys[i]);
        free(w->meta_values[i]);
    }
    free(w->tensors);
    free(w->meta_keys);
    free(w->meta_values);
    memset(w, 0, sizeof *w);
}

tm_status tm_st_writer_add(tm_st_writer *w, const char *name, tm_dtype dt, int ndim,
                           const int64_t *shape, const void *data) {
    if (!name || !name[0]) return tm_fail(TM_EINVAL, "safetensors writer: tensor name is empty");
    if (strcmp(name, "__metadata__") == 0)
        return tm_fail(TM_EINVAL, "safetensors writer: '__metadata__' is reserved");
    size_t esize = dtype_bytes(dt);
    if (esize == 0) return tm_fail(TM_EINVAL, "safetensors writer: tensor '%s': unknown dtype %d",
                                   name, (int)dt);
    if (ndim < 0 || ndim > TM_MAX_DIMS)
        return tm_fail(TM_EINVAL, "safetensors writer: tensor '%s': ndim must be 0..%d (got %d)",
                       name, TM_MAX_DIMS, ndim);
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (double)shape[i] > MAX_EXACT_INT ||
            __builtin_mul_overflow(numel, (uint64_t)shape[i], &numel))
            return tm_fail(TM_EINVAL, "safetensors writer: tensor '%s': bad shape[%d] = %lld",
                           name, i, (long long)shape[i]);
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)esize, &nbytes) || (double)nbytes > MAX_EXACT_INT)
        return tm_fail(TM_EINVAL, "safetensors writer: tensor '%s': too large", name);
    if (nbytes > 0 && !data)
        return tm_fail(TM_EINVAL, "safetensors writer: tensor '%s': data is NULL", name);
    for (int i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return tm_fail(TM_EINVAL, "safetensors writer: tensor name '%s' added twice", name);
    if (w->n_tensors == w->cap_tensors) {
        int cap = w->cap_tensors ? 2 * w->cap_tensors : 16;
        tm_st_pending *t = realloc(w->tensors, (size_t)cap * sizeof *t);
        if (!t) return tm_fail(TM_ENOMEM, "safetensors writer: out of memory");
        w->tensors = t;
        w->cap_tensors = cap;
    }
    tm_st_pending *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return tm_fail(TM_ENOMEM, "safetensors writer: out of memory");
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = (size_t)nbytes;
    t->data = data;
    w->n_tensors++;
    return TM_OK;
}

tm_status tm_st_writer_meta(tm_st_writer *w, const char *key, const char *value) {
    if (!key || !value) return tm_fail(TM_EINVAL, "safetensors writer: metadata key or value is NULL");
    char *v = strdup(value);
    if (!v) return tm_fail(TM_ENOMEM, "safetensors writer: out of memory");
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta_keys[i], key) == 0) {
            free(w->meta_values[i]);
            w->meta_values[i] = v;
            return TM_OK;
        }
    if (w->n_meta == w->cap_meta) {
        int cap = w->cap_meta ? 2 * w->cap_meta : 8;
        char **k = realloc(w->meta_keys, (size_t)cap * sizeof *k);
        if (k) w->meta_keys = k;
        char **vs = k ? realloc(w->meta_values, (size_t)cap * sizeof *vs) : NULL;
        if (vs) w->meta_values = vs;
        if (!k || !vs) {
            free(v);
            return tm_fail(TM_ENOMEM, "safetensors writer: out of memory");
        }
        w->cap_meta = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return tm_fail(TM_ENOMEM, "safetensors writer: out of memory");
    }
    w->meta_keys[w->n_meta] = k;
    w->meta_values[w->n_meta++] = v;
    return TM_OK;
}

/* The 8-byte length plus the space-padded JSON header, in one malloc'd block. */
static tm_status build_header(const tm_st_writer *w, uint8_t **out, size_t *out_len) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->n_meta > 0) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        ok = meta != NULL;
        for (int i = 0; ok && i < w->n_meta; i++)
            ok = cJSON_AddStringToObject(meta, w->meta_keys[i], w->meta_values[i]) != NULL;
    }
    size_t offset = 0;
    for (int i = 0; ok && i < w->n_tensors; i++) {
        const tm_st_pending *t = &w->tensors[i];
        /* Field order as the reference writes it: dtype, shape, data_offsets. */
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON *dt = e ? cJSON_AddStringToObject(e, "dtype", tm_st_dtype_name(t->dtype)) : NULL;
        cJSON *shape = dt ? cJSON_AddArrayToObject(e, "shape") : NULL;
        cJSON *offs = shape ? cJSON_AddArrayToObject(e, "data_offsets") : NULL;
        ok = offs != NULL;
        for (int d = 0; ok && d < t->ndim; d++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        ok = ok && cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset)) &&
             cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(offset + t->nbytes)));
        offset += t->nbytes;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) return tm_fail(TM_ENOMEM, "safetensors writer: out of memory building the header");
    size_t n = strlen(json);
    size_t padded = (n + 7) & ~(size_t)7; /* data buffer starts 8-aligned */
    if (padded > TM_ST_MAX_HEADER) {
        free(json);
        return tm_fail(TM_EINVAL, "safetensors writer: header of %zu bytes is over the limit",
                       padded);
    }
    uint8_t *h = malloc(8 + padded);
    if (!h) {
        free(json);
        return tm_fail(TM_ENOMEM, "safetensors writer: out of memory");
    }
    for (int i = 0; i < 8; i++) h[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(h + 8, json, n);
    memset(h + 8 + n, ' ', padded - n);
    free(json);
    *out = h;
    *out_len = 8 + padded;
    return TM_OK;
}

tm_status tm_st_writer_serialize(const tm_st_writer *w, uint8_t **out, size_t *len) {
    uint8_t *h;
    size_t hlen, total;
    TM_TRY(build_header(w, &h, &hlen));
    total = hlen;
    for (int i = 0; i < w->n_tensors; i++) total += w->tensors[i].nbytes;
    uint8_t *b = realloc(h, total ? total : 1);
    if (!b) {
        free(h);
        return tm_fail(TM_ENOMEM, "safetensors writer: out of memory for %zu bytes", total);
    }
    size_t pos = hlen;
    for (int i = 0; i < w->n_tensors; i++) {
        if (w->tensors[i].nbytes) memcpy(b + pos, w->tensors[i].data, w->tensors[i].nbytes);
        pos += w->tensors[i].nbytes;
    }
    *out = b;
    *len = total;
    return TM_OK;
}

/* ---- atomic files: temp in the same directory, write, fsync, rename,
 * fsync the directory (so the rename itself survives a crash). ---- */

typedef struct {
    const char *path;
    char *tmp;
    int fd;
} atomic_file;

static tm_status atomic_open(atomic_file *a, const char *path) {
    a->path = path;
    a->fd = -1;
    size_t n = strlen(path);
    if (n == 0 || path[n - 1] == '/')
        return tm_fail(TM_EINVAL, "saving '%s': path must name a file", path);
    a->tmp = malloc(n + 16);
    if (!a->tmp) return tm_fail(TM_ENOMEM, "saving '%s': out of memory", path);
    snprintf(a->tmp, n + 16, "%s.tmp.XXXXXX", path);
    a->fd = mkostemp(a->tmp, O_CLOEXEC);
    if (a->fd < 0) {
        int err = errno;
        free(a->tmp);
        a->tmp = NULL;
        return tm_fail(TM_EIO, "saving '%s': cannot create a temp file beside it: %s", path,
                       strerror(err));
    }
    fchmod(a->fd, 0644); /* mkstemp makes 0600; a checkpoint is not a secret */
    return TM_OK;
}

static void atomic_abort(atomic_file *a) {
    if (a->fd >= 0) close(a->fd);
    if (a->tmp) unlink(a->tmp);
    free(a->tmp);
    a->fd = -1;
    a->tmp = NULL;
}

static tm_status atomic_write(atomic_file *a, const void *bytes, size_t len) {
    const uint8_t *p = bytes;
    while (len > 0) {
        ssize_t r = write(a->fd, p, len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int err = r < 0 ? errno : EIO;
            return tm_fail(TM_EIO, "saving '%s': writing '%s': %s", a->path, a->tmp, strerror(err));
        }
        p += r;
        len -= (size_t)r;
    }
    return TM_OK;
}

static tm_status atomic_commit(atomic_file *a) {
    if (fsync(a->fd) != 0)
        return tm_fail(TM_EIO, "saving '%s': fsync of '%s': %s", a->path, a->tmp, strerror(errno));
    int rc = close(a->fd);
    a->fd = -1;
    if (rc != 0)
        return tm_fail(TM_EIO, "saving '%s': closing '%s': %s", a->path, a->tmp, strerror(errno));
    if (rename(a->tmp, a->path) != 0)
        return tm_fail(TM_EIO, "saving '%s': renaming '%s' over it: %s", a->path, a->tmp,
                       strerror(errno));
    free(a->tmp);
    a->tmp = NULL; /* renamed: nothing left to clean up */

    size_t n = strlen(a->path);
    char *dir = malloc(n + 2);
    if (!dir) return tm_fail(TM_ENOMEM, "saving '%s': out of memory", a->path);
    memcpy(dir, a->path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int ok = dfd >= 0 && fsync(dfd) == 0;
    int err = errno;
    if (dfd >= 0) close(dfd);
    tm_status st = ok ? TM_OK
                      : tm_fail(TM_EIO, "saving '%s': renamed, but fsync of directory '%s' "
                                        "failed (the rename may not be durable): %s",
                                a->path, dir, strerror(err));
    free(dir);
    return st;
}

tm_status tm_st_atomic_write(const char *path, const void *bytes, size_t len) {
    atomic_file a;
    TM_TRY(atomic_open(&a, path));
    tm_status st = atomic_write(&a, bytes, len);
    if (st == TM_OK) st = atomic_commit(&a);
    atomic_abort(&a);
    return st;
}

tm_status tm_st_writer_save(const tm_st_writer *w, const char *path) {
    uint8_t *header;
    size_t hlen;
    TM_TRY(build_header(w, &header, &hlen));
    atomic_file a;
    tm_status st = atomic_open(&a, path);
    if (st != TM_OK) {
        free(header);
        return st;
    }
    /* Tensors stream from the caller's memory: no second copy of the model. */
    st = atomic_write(&a, header, hlen);
    for (int i = 0; st == TM_OK && i < w->n_tensors; i++)
        st = atomic_write(&a, w->tensors[i].data, w->tensors[i].nbytes);
    if (st == TM_OK) st = atomic_commit(&a);
    atomic_abort(&a);
    free(header);
    return st;
}
