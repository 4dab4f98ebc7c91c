/* Schema-driven config: parse, validate, apply, serialize. See config.h.
 *
 * Every path that takes outside input validates into a `value` first and
 * only then writes the struct, and whole-object applies work on a copy that
 * is committed at the end, so a failed apply leaves the caller's struct as it
 * was (DESIGN.md principle 6). */
#include "core/config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/strsim.h"

#define TM_CONFIG_KEY_MAX 256
#define TM_CONFIG_FILE_MAX (16u << 20) /* a config is small; refuse a huge file */
/* Integers from 2^53 up do not survive a JSON number (a double): 2^53 + 1
 * reads as 2^53. Such int64 values go as strings, and such numbers are refused. */
#define TM_JSON_EXACT_INT 9007199254740992.0
#define TM_JSON_EXACT_INT64 INT64_C(9007199254740992)

typedef struct {
    int64_t i;      /* INT, INT64, BOOL, ENUM */
    double d;       /* FLOAT (already rounded to float), DOUBLE */
    const char *s;  /* STRING: points into the input */
} value;

static char *field_ptr(void *base, const tm_config_field *f) { return (char *)base + f->offset; }
static const char *field_cptr(const void *base, const tm_config_field *f) {
    return (const char *)base + f->offset;
}

const char *tm_config_type_name(tm_config_type type) {
    switch (type) {
    case TM_CONFIG_INT: return "int";
    case TM_CONFIG_INT64: return "int64";
    case TM_CONFIG_FLOAT: return "float";
    case TM_CONFIG_DOUBLE: return "double";
    case TM_CONFIG_BOOL: return "bool";
    case TM_CONFIG_STRING: return "string";
    case TM_CONFIG_ENUM: return "enum";
    }
    return "?";
}

static size_t type_size(tm_config_type t) {
    switch (t) {
    case TM_CONFIG_INT: case TM_CONFIG_BOOL: case TM_CONFIG_ENUM: return sizeof(int);
    case TM_CONFIG_INT64: return sizeof(int64_t);
    case TM_CONFIG_FLOAT: return sizeof(float);
    case TM_CONFIG_DOUBLE: return sizeof(double);
    case TM_CONFIG_STRING: return 0;
    }
    return 0;
}

/* The widest range a type can hold; a bound at or past it prints as open. */
static void type_limits(tm_config_type t, double *lo, double *hi) {
    switch (t) {
    case TM_CONFIG_INT: *lo = INT_MIN; *hi = INT_MAX; return;
    case TM_CONFIG_INT64: *lo = (double)INT64_MIN; *hi = (double)INT64_MAX; return;
    case TM_CONFIG_FLOAT: *lo = -FLT_MAX; *hi = FLT_MAX; return;
    case TM_CONFIG_DOUBLE: *lo = -DBL_MAX; *hi = DBL_MAX; return;
    default: *lo = 0; *hi = 1; return;
    }
}

static int is_int_type(tm_config_type t) { return t == TM_CONFIG_INT || t == TM_CONFIG_INT64; }
static int is_real_type(tm_config_type t) { return t == TM_CONFIG_FLOAT || t == TM_CONFIG_DOUBLE; }

static int n_choices(const tm_config_field *f) {
    int n = 0;
    while (f->choices && f->choices[n]) n++;
    return n;
}

static const char *choices_text(const tm_config_field *f, const char *sep, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; f->choices && f->choices[i] && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? sep : "", f->choices[i]);
    return buf;
}

/* Shortest decimal that reads back (through strtod, as cJSON reads it) to
 * exactly x as a float, or as a double when is_float is 0. */
static void shortest_real(char *buf, size_t cap, double x, int is_float) {
    /* The shortest text over all precisions: "10" beats "1e+01". */
    char best[40] = "", t[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, x);
        double back = strtod(t, NULL);
        if ((is_float ? (float)back == (float)x : back == x) && (!best[0] || strlen(t) < strlen(best)))
            memcpy(best, t, sizeof t);
    }
    if (!best[0]) snprintf(best, sizeof best, "%.17g", x);
    snprintf(buf, cap, "%s", best);
}

static const char *bound_text(const tm_config_field *f, double b, char *buf, size_t cap) {
    if (is_int_type(f->type)) snprintf(buf, cap, "%lld", (long long)b);
    else shortest_real(buf, cap, b, f->type == TM_CONFIG_FLOAT);
    return buf;
}

/* "[0, 1]", "(0, 1)", ">= 0", "< 5", or "" when the range is the type's own. */
static const char *range_text(const tm_config_field *f, char *buf, size_t cap) {
    double tlo, thi;
    char a[40], b[40];
    type_limits(f->type, &tlo, &thi);
    int xlo = (f->flags & TM_CFG_MIN_EXCLUSIVE) != 0, xhi = (f->flags & TM_CFG_MAX_EXCLUSIVE) != 0;
    int open_lo = f->min <= tlo && !xlo, open_hi = f->max >= thi && !xhi;
    if (open_lo && open_hi) snprintf(buf, cap, "%s", "");
    else if (open_hi) snprintf(buf, cap, "%s %s", xlo ? ">" : ">=", bound_text(f, f->min, a, sizeof a));
    else if (open_lo) snprintf(buf, cap, "%s %s", xhi ? "<" : "<=", bound_text(f, f->max, b, sizeof b));
    else snprintf(buf, cap, "%c%s, %s%c", xlo ? '(' : '[', bound_text(f, f->min, a, sizeof a),
                  bound_text(f, f->max, b, sizeof b), xhi ? ')' : ']');
    return buf;
}

static int in_range(const tm_config_field *f, double x) {
    int lo_ok = (f->flags & TM_CFG_MIN_EXCLUSIVE) ? x > f->min : x >= f->min;
    int hi_ok = (f->flags & TM_CFG_MAX_EXCLUSIVE) ? x < f->max : x <= f->max;
    return lo_ok && hi_ok;
}

static tm_status range_error(const tm_config_schema *s, const tm_config_field *f, const char *got) {
    char r[96];
    range_text(f, r, sizeof r);
    return tm_fail(TM_ERANGE, "%s: %s must be %s%s (got %s)", s->name, f->key,
                   r[0] == '[' || r[0] == '(' ? "in " : "", r, got);
}

/* Range check of a validated number (v->i for ints, v->d for reals). */
static tm_status check_range(const tm_config_schema *s, const tm_config_field *f, const value *v) {
    char got[48];
    if (is_int_type(f->type)) {
        if (!in_range(f, (double)v->i)) {
            snprintf(got, sizeof got, "%" PRId64, v->i);
            return range_error(s, f, got);
        }
    } else if (is_real_type(f->type)) {
        if (!isfinite(v->d)) return TM_OK; /* only reached when the field allows it */
        if (!in_range(f, v->d)) {
            shortest_real(got, sizeof got, v->d, f->type == TM_CONFIG_FLOAT);
            return range_error(s, f, got);
        }
    }
    return TM_OK;
}

static int find_choice(const tm_config_field *f, const char *name) {
    for (int i = 0; f->choices && f->choices[i]; i++)
        if (strcmp(f->choices[i], name) == 0) return i;
    return -1;
}

static tm_status bad_choice(const tm_config_schema *s, const tm_config_field *f, const char *got) {
    char list[512];
    return tm_fail(TM_EINVAL, "%s: %s must be one of %s (got '%s')", s->name, f->key,
                   choices_text(f, ", ", list, sizeof list), got);
}

static tm_status check_string(const tm_config_schema *s, const tm_config_field *f, const char *str) {
    if (strlen(str) >= f->size)
        return tm_fail(TM_ERANGE, "%s: %s must be at most %zu characters (got %zu)", s->name,
                       f->key, f->size - 1, strlen(str));
    return TM_OK;
}

/* Text (a --set value or a default) -> validated value. */
static tm_status parse_text(const tm_config_schema *s, const tm_config_field *f, const char *text,
                            value *v) {
    const char *tname = tm_config_type_name(f->type);
    char *end = NULL;
    switch (f->type) {
    case TM_CONFIG_INT:
    case TM_CONFIG_INT64: {
        if (!*text || !(text[0] == '-' || text[0] == '+' || (text[0] >= '0' && text[0] <= '9')))
            return tm_fail(TM_EINVAL, "%s: %s must be an %s (got '%s')", s->name, f->key, tname, text);
        errno = 0;
        long long x = strtoll(text, &end, 10);
        if (*end) return tm_fail(TM_EINVAL, "%s: %s must be an %s (got '%s')", s->name, f->key, tname, text);
        if (errno == ERANGE || (f->type == TM_CONFIG_INT && (x < INT_MIN || x > INT_MAX)))
            return tm_fail(TM_ERANGE, "%s: %s: '%s' does not fit an %s", s->name, f->key, text, tname);
        v->i = x;
        return check_range(s, f, v);
    }
    case TM_CONFIG_FLOAT:
    case TM_CONFIG_DOUBLE: {
        if (!*text || isspace((unsigned char)text[0]))
            return tm_fail(TM_EINVAL, "%s: %s must be a %s (got '%s')", s->name, f->key, tname, text);
        errno = 0;
        double x = f->type == TM_CONFIG_FLOAT ? (double)strtof(text, &end) : strtod(text, &end);
        if (end == text || *end)
            return tm_fail(TM_EINVAL, "%s: %s must be a %s (got '%s')", s->name, f->key, tname, text);
        /* strtod reads "nan" and "inf" as such: a non-finite result with
         * ERANGE is an overflow of a finite literal, otherwise it was asked for. */
        /* ERANGE: overflow, or underflow to zero or a subnormal: refused
         * rather than silently becoming a different number. */
        if (errno == ERANGE)
            return tm_fail(TM_ERANGE, "%s: %s: '%s' does not fit a %s", s->name, f->key, text, tname);
        if (!isfinite(x) && !(f->flags & TM_CFG_ALLOW_NONFINITE))
            return tm_fail(TM_ENUMERIC, "%s: %s must be finite (got '%s')", s->name, f->key, text);
        v->d = x;
        return check_range(s, f, v);
    }
    case TM_CONFIG_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1")) v->i = 1;
        else if (!strcmp(text, "false") || !strcmp(text, "0")) v->i = 0;
        else return tm_fail(TM_EINVAL, "%s: %s must be true, false, 1 or 0 (got '%s')", s->name, f->key, text);
        return TM_OK;
    case TM_CONFIG_STRING:
        v->s = text;
        return check_string(s, f, text);
    case TM_CONFIG_ENUM:
        v->i = find_choice(f, text);
        return v->i < 0 ? bad_choice(s, f, text) : TM_OK;
    }
    return tm_fail(TM_EINVAL, "%s: %s has an unknown type", s->name, f->key);
}

static const char *json_kind(const cJSON *j) {
    if (cJSON_IsObject(j)) return "an object";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNull(j)) return "null";
    return "an invalid value";
}

static tm_status json_type_error(const tm_config_schema *s, const tm_config_field *f, const cJSON *j) {
    const char *want = "?";
    switch (f->type) {
    case TM_CONFIG_INT: want = "an integer (int)"; break;
    case TM_CONFIG_INT64: want = "an integer (int64)"; break;
    case TM_CONFIG_FLOAT: want = "a number (float)"; break;
    case TM_CONFIG_DOUBLE: want = "a number (double)"; break;
    case TM_CONFIG_BOOL: want = "true or false"; break;
    case TM_CONFIG_STRING: want = "a string"; break;
    case TM_CONFIG_ENUM: want = "a string naming a choice"; break;
    }
    return tm_fail(TM_EINVAL, "%s: %s must be %s (got %s)", s->name, f->key, want, json_kind(j));
}

/* JSON value -> validated value. */
static tm_status parse_json(const tm_config_schema *s, const tm_config_field *f, const cJSON *j,
                            value *v) {
    switch (f->type) {
    case TM_CONFIG_INT:
    case TM_CONFIG_INT64: {
        /* Past 2^53 a JSON number has already lost digits: take a string. */
        if (f->type == TM_CONFIG_INT64 && cJSON_IsString(j)) return parse_text(s, f, j->valuestring, v);
        if (!cJSON_IsNumber(j)) return json_type_error(s, f, j);
        double d = j->valuedouble;
        char got[48];
        shortest_real(got, sizeof got, d, 0);
        if (!isfinite(d) || d != floor(d))
            return tm_fail(TM_EINVAL, "%s: %s must be an integer (got %s)", s->name, f->key, got);
        if (fabs(d) >= TM_JSON_EXACT_INT)
            return tm_fail(TM_ERANGE, "%s: %s: %s is 2^53 or more, where a JSON number is inexact; "
                           "write it as a string", s->name, f->key, got);
        if (f->type == TM_CONFIG_INT && (d < INT_MIN || d > INT_MAX))
            return tm_fail(TM_ERANGE, "%s: %s: %s does not fit an int", s->name, f->key, got);
        v->i = (int64_t)d;
        return check_range(s, f, v);
    }
    case TM_CONFIG_FLOAT:
    case TM_CONFIG_DOUBLE:
        /* JSON has no NaN or Inf; a field that allows them takes "nan",
         * "inf", "-inf" as strings (and the serializer writes them so). */
        if (cJSON_IsString(j) && (f->flags & TM_CFG_ALLOW_NONFINITE)) return parse_text(s, f, j->valuestring, v);
        if (!cJSON_IsNumber(j)) return json_type_error(s, f, j);
        v->d = j->valuedouble;
        if (f->type == TM_CONFIG_FLOAT) {
            if (fabs(v->d) > FLT_MAX || (v->d != 0 && fabs(v->d) < FLT_MIN)) {
                char got[48];
                shortest_real(got, sizeof got, v->d, 0);
                return tm_fail(TM_ERANGE, "%s: %s: %s does not fit a float", s->name, f->key, got);
            }
            v->d = (float)v->d;
        }
        return check_range(s, f, v);
    case TM_CONFIG_BOOL:
        if (!cJSON_IsBool(j)) return json_type_error(s, f, j);
        v->i = cJSON_IsTrue(j) ? 1 : 0;
        return TM_OK;
    case TM_CONFIG_STRING:
        if (!cJSON_IsString(j)) return json_type_error(s, f, j);
        v->s = j->valuestring;
        return check_string(s, f, v->s);
    case TM_CONFIG_ENUM:
        if (!cJSON_IsString(j)) return json_type_error(s, f, j);
        v->i = find_choice(f, j->valuestring);
        return v->i < 0 ? bad_choice(s, f, j->valuestring) : TM_OK;
    }
    return json_type_error(s, f, j);
}

static void assign(const tm_config_field *f, void *base, const value *v) {
    char *p = field_ptr(base, f);
    switch (f->type) {
    case TM_CONFIG_INT: case TM_CONFIG_BOOL: case TM_CONFIG_ENUM: {
        int x = (int)v->i;
        memcpy(p, &x, sizeof x);
        break;
    }
    case TM_CONFIG_INT64: memcpy(p, &v->i, sizeof v->i); break;
    case TM_CONFIG_FLOAT: {
        float x = (float)v->d;
        memcpy(p, &x, sizeof x);
        break;
    }
    case TM_CONFIG_DOUBLE: memcpy(p, &v->d, sizeof v->d); break;
    case TM_CONFIG_STRING: {
        size_t n = strlen(v->s); /* checked < f->size */
        memmove(p, v->s, n);
        memset(p + n, 0, f->size - n);
        break;
    }
    }
}

const tm_config_field *tm_config_find(const tm_config_schema *s, const char *key) {
    for (int i = 0; i < s->n_fields; i++)
        if (strcmp(s->fields[i].key, key) == 0) return &s->fields[i];
    return NULL;
}

/* 1 when some key continues `prefix` with a dot (prefix names a section). */
static int is_section(const tm_config_schema *s, const char *prefix) {
    size_t n = strlen(prefix);
    for (int i = 0; i < s->n_fields; i++)
        if (strncmp(s->fields[i].key, prefix, n) == 0 && s->fields[i].key[n] == '.') return 1;
    return 0;
}

static tm_status unknown_key(const tm_config_schema *s, const char *key) {
    const char *names[512];
    int n = s->n_fields < 512 ? s->n_fields : 512;
    for (int i = 0; i < n; i++) names[i] = s->fields[i].key;
    char hint[512];
    tm_suggest_text(hint, sizeof hint, key, "", names, n, 3, 1);
    if (!hint[0]) tm_suggest_text(hint, sizeof hint, key, "", names, n, 3, 0);
    return tm_fail(TM_EINVAL, "%s: unknown key '%s'%s", s->name, key, hint);
}

tm_status tm_config_set_value(const tm_config_schema *s, void *base, const char *key,
                              const char *text) {
    const tm_config_field *f = tm_config_find(s, key);
    if (!f) {
        if (is_section(s, key))
            return tm_fail(TM_EINVAL, "%s: '%s' is a section, not a key; set one of its keys (%s.NAME)",
                           s->name, key, key);
        return unknown_key(s, key);
    }
    value v = {0};
    TM_TRY(parse_text(s, f, text, &v));
    assign(f, base, &v);
    return TM_OK;
}

tm_status tm_config_set(const tm_config_schema *s, void *base, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return tm_fail(TM_EINVAL, "%s: expected key=value (got '%s')", s->name, assignment);
    char key[TM_CONFIG_KEY_MAX];
    size_t n = (size_t)(eq - assignment);
    if (n >= sizeof key) return tm_fail(TM_EINVAL, "%s: key too long in '%s'", s->name, assignment);
    memcpy(key, assignment, n);
    key[n] = '\0';
    return tm_config_set_value(s, base, key, eq + 1);
}

static tm_status apply_object(const tm_config_schema *s, void *base, const cJSON *obj,
                              const char *prefix) {
    for (const cJSON *c = obj->child; c; c = c->next) {
        char key[TM_CONFIG_KEY_MAX];
        int n = snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", c->string ? c->string : "");
        if (n < 0 || (size_t)n >= sizeof key)
            return tm_fail(TM_EINVAL, "%s: key too long under '%s'", s->name, prefix);
        const tm_config_field *f = tm_config_find(s, key);
        if (cJSON_IsObject(c) && !f) {
            if (!is_section(s, key)) return unknown_key(s, key);
            TM_TRY(apply_object(s, base, c, key));
            continue;
        }
        if (!f) {
            if (is_section(s, key))
                return tm_fail(TM_EINVAL, "%s: '%s' is a section and must be an object (got %s)",
                               s->name, key, json_kind(c));
            return unknown_key(s, key);
        }
        value v = {0};
        TM_TRY(parse_json(s, f, c, &v));
        assign(f, base, &v);
    }
    return TM_OK;
}

tm_status tm_config_apply_json(const tm_config_schema *s, void *base, const cJSON *obj) {
    if (!cJSON_IsObject(obj))
        return tm_fail(TM_EINVAL, "%s: expected a JSON object (got %s)", s->name, json_kind(obj));
    void *copy = malloc(s->struct_size);
    if (!copy) return tm_fail(TM_ENOMEM, "%s: out of memory", s->name);
    memcpy(copy, base, s->struct_size);
    tm_status st = apply_object(s, copy, obj, "");
    if (st == TM_OK) memcpy(base, copy, s->struct_size);
    free(copy);
    return st;
}

tm_status tm_config_apply_json_text(const tm_config_schema *s, void *base, const char *text,
                                    const char *source) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        const char *at = end ? end : text;
        int line = 1, col = 1;
        for (const char *p = text; p < at && *p; p++) {
            if (*p == '\n') { line++; col = 1; } else col++;
        }
        char near[24];
        size_t k = 0;
        for (const char *p = at; *p && *p != '\n' && k + 1 < sizeof near; p++) near[k++] = *p;
        near[k] = '\0';
        return tm_fail(TM_EFORMAT, "%s: JSON syntax error at line %d, column %d%s%s%s", source, line,
                       col, k ? " (near '" : " (at the end)", near, k ? "')" : "");
    }
    tm_status st = tm_config_apply_json(s, base, root);
    cJSON_Delete(root);
    if (st != TM_OK) return tm_error_context(st, "%s", source);
    return TM_OK;
}

tm_status tm_config_load_file(const tm_config_schema *s, void *base, const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return tm_fail(TM_EIO, "config file '%s': cannot open: %s", path, strerror(errno));
    char *buf = malloc(TM_CONFIG_FILE_MAX + 1);
    if (!buf) {
        fclose(fp);
        return tm_fail(TM_ENOMEM, "config file '%s': out of memory", path);
    }
    size_t n = fread(buf, 1, TM_CONFIG_FILE_MAX + 1, fp);
    int err = ferror(fp);
    fclose(fp);
    if (err || n > TM_CONFIG_FILE_MAX) {
        free(buf);
        return tm_fail(TM_EIO, "config file '%s': %s", path,
                       err ? "read error" : "larger than 16 MiB; not a config");
    }
    buf[n] = '\0';
    if (strlen(buf) != n) {
        free(buf);
        return tm_fail(TM_EFORMAT, "config file '%s': contains a NUL byte; not JSON text", path);
    }
    char source[TM_CONFIG_KEY_MAX + 16];
    snprintf(source, sizeof source, "config file '%s'", path);
    tm_status st = tm_config_apply_json_text(s, base, buf, source);
    free(buf);
    return st;
}

tm_status tm_config_defaults(const tm_config_schema *s, void *base) {
    void *copy = calloc(1, s->struct_size);
    if (!copy) return tm_fail(TM_ENOMEM, "%s: out of memory", s->name);
    memcpy(copy, base, s->struct_size);
    for (int i = 0; i < s->n_fields; i++) {
        const tm_config_field *f = &s->fields[i];
        value v = {0};
        tm_status st = parse_text(s, f, f->def ? f->def : "", &v);
        if (st != TM_OK) {
            free(copy);
            return tm_error_context(st, "%s: default of %s", s->name, f->key);
        }
        assign(f, copy, &v);
    }
    memcpy(base, copy, s->struct_size);
    free(copy);
    return TM_OK;
}

static void read_value(const tm_config_field *f, const void *base, value *v) {
    const char *p = field_cptr(base, f);
    switch (f->type) {
    case TM_CONFIG_INT: case TM_CONFIG_BOOL: case TM_CONFIG_ENUM: {
        int x;
        memcpy(&x, p, sizeof x);
        v->i = x;
        break;
    }
    case TM_CONFIG_INT64: memcpy(&v->i, p, sizeof v->i); break;
    case TM_CONFIG_FLOAT: {
        float x;
        memcpy(&x, p, sizeof x);
        v->d = x;
        break;
    }
    case TM_CONFIG_DOUBLE: memcpy(&v->d, p, sizeof v->d); break;
    case TM_CONFIG_STRING: v->s = p; break;
    }
}

static const char *nonfinite_text(double x) { return isnan(x) ? "nan" : (x > 0 ? "inf" : "-inf"); }

const char *tm_config_format(const tm_config_field *f, const void *base, char *buf, size_t cap) {
    value v = {0};
    read_value(f, base, &v);
    switch (f->type) {
    case TM_CONFIG_INT: case TM_CONFIG_INT64: snprintf(buf, cap, "%" PRId64, v.i); break;
    case TM_CONFIG_FLOAT: case TM_CONFIG_DOUBLE:
        if (!isfinite(v.d)) snprintf(buf, cap, "%s", nonfinite_text(v.d));
        else shortest_real(buf, cap, v.d, f->type == TM_CONFIG_FLOAT);
        break;
    case TM_CONFIG_BOOL: snprintf(buf, cap, "%s", v.i ? "true" : "false"); break;
    case TM_CONFIG_STRING: snprintf(buf, cap, "%.*s", (int)strnlen(v.s, f->size), v.s); break;
    case TM_CONFIG_ENUM:
        snprintf(buf, cap, "%s", v.i >= 0 && v.i < n_choices(f) ? f->choices[v.i] : "?");
        break;
    }
    return buf;
}

/* The JSON value of one field; NULL only when out of memory. With exact,
 * reals are raw JSON text (their shortest round-trip decimal): cJSON's own
 * printer accepts 15 digits when they are merely close (compare_double), so
 * a double would not come back bit for bit. */
static cJSON *field_json(const tm_config_field *f, const void *base, int exact) {
    value v = {0};
    char text[64];
    read_value(f, base, &v);
    switch (f->type) {
    case TM_CONFIG_INT: return cJSON_CreateNumber((double)v.i);
    case TM_CONFIG_INT64:
        if (v.i > -TM_JSON_EXACT_INT64 && v.i < TM_JSON_EXACT_INT64) return cJSON_CreateNumber((double)v.i);
        snprintf(text, sizeof text, "%" PRId64, v.i);
        return cJSON_CreateString(text);
    case TM_CONFIG_FLOAT: case TM_CONFIG_DOUBLE:
        if (!isfinite(v.d)) return cJSON_CreateString(nonfinite_text(v.d));
        if (exact) {
            shortest_real(text, sizeof text, v.d, f->type == TM_CONFIG_FLOAT);
            return cJSON_CreateRaw(text);
        }
        if (f->type == TM_CONFIG_DOUBLE) return cJSON_CreateNumber(v.d);
        /* A float goes out as its shortest decimal ("0.0003", not the
         * double 0.000300000014...), chosen so it reads back to the same float. */
        shortest_real(text, sizeof text, v.d, 1);
        return cJSON_CreateNumber(strtod(text, NULL));
    case TM_CONFIG_BOOL: return cJSON_CreateBool(v.i != 0);
    case TM_CONFIG_STRING: case TM_CONFIG_ENUM: {
        char sbuf[1024];
        return cJSON_CreateString(tm_config_format(f, base, sbuf, sizeof sbuf));
    }
    }
    return NULL;
}

static tm_status build_json(const tm_config_schema *s, const void *base, int exact, cJSON **out) {
    *out = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) return tm_fail(TM_ENOMEM, "%s: out of memory", s->name);
    for (int i = 0; i < s->n_fields; i++) {
        const tm_config_field *f = &s->fields[i];
        /* Walk (creating) one object per dotted component before the last. */
        cJSON *parent = root;
        char part[TM_CONFIG_KEY_MAX];
        const char *p = f->key, *dot;
        while ((dot = strchr(p, '.')) != NULL) {
            size_t n = (size_t)(dot - p);
            TM_ASSERT(n < sizeof part);
            memcpy(part, p, n);
            part[n] = '\0';
            cJSON *child = cJSON_GetObjectItemCaseSensitive(parent, part);
            if (!child) child = cJSON_AddObjectToObject(parent, part);
            if (!child) break;
            TM_ASSERT(cJSON_IsObject(child)); /* tm_config_schema_check: no key is also a section */
            parent = child;
            p = dot + 1;
        }
        cJSON *item = dot == NULL ? field_json(f, base, exact) : NULL;
        if (!item || !cJSON_AddItemToObject(parent, p, item)) {
            cJSON_Delete(item);
            cJSON_Delete(root);
            return tm_fail(TM_ENOMEM, "%s: out of memory", s->name);
        }
    }
    *out = root;
    return TM_OK;
}

tm_status tm_config_to_json(const tm_config_schema *s, const void *base, cJSON **out) {
    return build_json(s, base, 0, out);
}

tm_status tm_config_to_string(const tm_config_schema *s, const void *base, int pretty, char **out) {
    cJSON *root;
    *out = NULL;
    TM_TRY(build_json(s, base, 1, &root));
    *out = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!*out) return tm_fail(TM_ENOMEM, "%s: out of memory", s->name);
    return TM_OK;
}

int tm_config_equal(const tm_config_schema *s, const void *a, const void *b) {
    for (int i = 0; i < s->n_fields; i++) {
        const tm_config_field *f = &s->fields[i];
        value va = {0}, vb = {0};
        read_value(f, a, &va);
        read_value(f, b, &vb);
        switch (f->type) {
        case TM_CONFIG_FLOAT: case TM_CONFIG_DOUBLE:
            /* Bitwise for numbers (0.1f vs 0.1 differ); NaN equals NaN. */
            if (isnan(va.d) && isnan(vb.d)) break;
            if (memcmp(&va.d, &vb.d, sizeof va.d) != 0) return 0;
            break;
        case TM_CONFIG_STRING:
            if (strncmp(va.s, vb.s, f->size) != 0) return 0;
            break;
        default:
            if (va.i != vb.i) return 0;
        }
    }
    return 1;
}

tm_status tm_config_schema_check(const tm_config_schema *s) {
    for (int i = 0; i < s->n_fields; i++) {
        const tm_config_field *f = &s->fields[i];
        if (!f->key || !*f->key || strlen(f->key) >= TM_CONFIG_KEY_MAX || f->key[0] == '.' ||
            f->key[strlen(f->key) - 1] == '.' || strstr(f->key, ".."))
            return tm_fail(TM_EINVAL, "%s: row %d: bad key '%s'", s->name, i, f->key ? f->key : "(null)");
        if (f->type == TM_CONFIG_STRING ? f->size < 2 : f->size != type_size(f->type))
            return tm_fail(TM_EINVAL, "%s: %s: member size %zu does not suit type %s", s->name,
                           f->key, f->size, tm_config_type_name(f->type));
        if (f->offset + f->size > s->struct_size)
            return tm_fail(TM_EINVAL, "%s: %s: offset past the struct", s->name, f->key);
        if (isnan(f->min) || isnan(f->max) || f->min > f->max)
            return tm_fail(TM_EINVAL, "%s: %s: range is not ordered", s->name, f->key);
        if (f->type == TM_CONFIG_INT && (f->min < INT_MIN || f->max > INT_MAX))
            return tm_fail(TM_EINVAL, "%s: %s: range does not fit an int", s->name, f->key);
        if (f->type == TM_CONFIG_ENUM && n_choices(f) == 0)
            return tm_fail(TM_EINVAL, "%s: %s: enum without choices", s->name, f->key);
        if (!f->help || !*f->help) return tm_fail(TM_EINVAL, "%s: %s: no help text", s->name, f->key);
        for (int j = 0; j < i; j++) {
            const char *k = s->fields[j].key;
            size_t a = strlen(k), b = strlen(f->key);
            if (strcmp(k, f->key) == 0)
                return tm_fail(TM_EINVAL, "%s: key '%s' appears twice", s->name, k);
            if ((a < b && strncmp(k, f->key, a) == 0 && f->key[a] == '.') ||
                (b < a && strncmp(k, f->key, b) == 0 && k[b] == '.'))
                return tm_fail(TM_EINVAL, "%s: '%s' and '%s': a key cannot also be a section",
                               s->name, k, f->key);
        }
        value v = {0};
        tm_status st = parse_text(s, f, f->def ? f->def : "", &v);
        if (st != TM_OK) return tm_error_context(st, "%s: default of %s", s->name, f->key);
    }
    return TM_OK;
}

void tm_config_print_help(FILE *out, const tm_config_schema *s) {
    int width = 0;
    for (int i = 0; i < s->n_fields; i++) {
        int n = (int)strlen(s->fields[i].key);
        if (n > width) width = n;
    }
    for (int i = 0; i < s->n_fields; i++) {
        const tm_config_field *f = &s->fields[i];
        char kind[600], r[96];
        if (f->type == TM_CONFIG_ENUM) {
            char list[512];
            snprintf(kind, sizeof kind, "%s", choices_text(f, "|", list, sizeof list));
        } else if (range_text(f, r, sizeof r)[0]) {
            snprintf(kind, sizeof kind, "%s %s", tm_config_type_name(f->type), r);
        } else {
            snprintf(kind, sizeof kind, "%s", tm_config_type_name(f->type));
        }
        fprintf(out, "  %-*s  %s (default %s%s%s)\n  %-*s    %s\n", width, f->key, kind,
                f->type == TM_CONFIG_STRING ? "\"" : "", f->def ? f->def : "",
                f->type == TM_CONFIG_STRING ? "\"" : "", width, "", f->help);
    }
}
