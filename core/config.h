/* Typed, schema-driven configuration: JSON files plus key=value overrides.
 * Definition: shared spec cli.md ("--config FILE", "--set key=value"),
 * DESIGN.md principle 6 (bad input gives a clear message, never corrupts).
 *
 * A component describes its plain-data config struct with a table of fields,
 * one row each: dotted key, type, offset into the struct, range, default (as
 * text, parsed like a --set value) and help. The functions here work on any
 * (schema, base pointer) pair, so each component can own a table; the
 * program's top-level table is core/run_config.h.
 *
 *     static const tm_config_field rows[] = {
 *         TM_CFG_FLOAT(my_config, "optim.lr", optim.lr, 0, 1, "3e-4", "learning rate"),
 *     };
 *
 * Every apply is all-or-nothing: the input is applied to a copy of the
 * struct, and the copy is committed only when every value was valid. */
#ifndef TM_CONFIG_H
#define TM_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

struct cJSON;

typedef enum {
    TM_CONFIG_INT = 0, /* int */
    TM_CONFIG_INT64,   /* int64_t; in JSON a number, or a string beyond 2^53 */
    TM_CONFIG_FLOAT,   /* float */
    TM_CONFIG_DOUBLE,  /* double */
    TM_CONFIG_BOOL,    /* int, 0 or 1; JSON true/false, text true/false/1/0 */
    TM_CONFIG_STRING,  /* char[N] inside the struct; size is N */
    TM_CONFIG_ENUM,    /* int index into choices; JSON and text use the names */
} tm_config_type;

/* Field flags. */
enum {
    TM_CFG_ALLOW_NONFINITE = 1u << 0, /* float/double may be nan, inf, -inf */
    TM_CFG_MIN_EXCLUSIVE = 1u << 1,   /* value > min rather than >= min */
    TM_CFG_MAX_EXCLUSIVE = 1u << 2,   /* value < max rather than <= max */
};

typedef struct {
    const char *key;            /* dotted path, e.g. "optim.lr" */
    tm_config_type type;
    size_t offset;              /* offsetof the member in the struct */
    size_t size;                /* sizeof the member (checked against type) */
    double min, max;            /* range of numbers (ints too); inclusive unless flagged */
    const char *def;            /* default, as --set text */
    const char *help;
    const char *const *choices; /* TM_CONFIG_ENUM: NULL-terminated names */
    unsigned flags;
} tm_config_field;

typedef struct {
    const char *name;           /* names the table in messages: "config" */
    const tm_config_field *fields;
    int n_fields;
    size_t struct_size;         /* sizeof the struct the offsets point into */
} tm_config_schema;

/* One-line rows. ST is the struct type, M the member (may be nested: optim.lr).
 * TM_CFG_ROW is the general form, for flags such as TM_CFG_MIN_EXCLUSIVE. */
#define TM_CFG_MEMBER_SIZE_(ST, M) sizeof(((ST *)0)->M)
#define TM_CFG_ROW(ST, KEY, TYPE, M, LO, HI, DEF, HELP, CHOICES, FLAGS)                      \
    { (KEY), (TYPE), offsetof(ST, M), TM_CFG_MEMBER_SIZE_(ST, M), (double)(LO), (double)(HI), \
      (DEF), (HELP), (CHOICES), (FLAGS) }
#define TM_CFG_INT(ST, KEY, M, LO, HI, DEF, HELP) \
    TM_CFG_ROW(ST, KEY, TM_CONFIG_INT, M, LO, HI, DEF, HELP, NULL, 0)
#define TM_CFG_I64(ST, KEY, M, LO, HI, DEF, HELP) \
    TM_CFG_ROW(ST, KEY, TM_CONFIG_INT64, M, LO, HI, DEF, HELP, NULL, 0)
#define TM_CFG_FLOAT(ST, KEY, M, LO, HI, DEF, HELP) \
    TM_CFG_ROW(ST, KEY, TM_CONFIG_FLOAT, M, LO, HI, DEF, HELP, NULL, 0)
#define TM_CFG_DOUBLE(ST, KEY, M, LO, HI, DEF, HELP) \
    TM_CFG_ROW(ST, KEY, TM_CONFIG_DOUBLE, M, LO, HI, DEF, HELP, NULL, 0)
#define TM_CFG_BOOL(ST, KEY, M, DEF, HELP) \
    TM_CFG_ROW(ST, KEY, TM_CONFIG_BOOL, M, 0, 1, DEF, HELP, NULL, 0)
#define TM_CFG_STRING(ST, KEY, M, DEF, HELP) \
    TM_CFG_ROW(ST, KEY, TM_CONFIG_STRING, M, 0, 0, DEF, HELP, NULL, 0)
#define TM_CFG_ENUM(ST, KEY, M, CHOICES, DEF, HELP) \
    TM_CFG_ROW(ST, KEY, TM_CONFIG_ENUM, M, 0, 0, DEF, HELP, CHOICES, 0)

const char *tm_config_type_name(tm_config_type type); /* "int", "float", ... */

/* Checks a table for programming errors: member sizes match types, keys are
 * unique and none is both a value and a section ("a" and "a.b"), ranges are
 * ordered, enums have choices, every default parses and is in range. */
tm_status tm_config_schema_check(const tm_config_schema *s);

const tm_config_field *tm_config_find(const tm_config_schema *s, const char *key);

/* Sets every field to its default. Fails only for a broken table. */
tm_status tm_config_defaults(const tm_config_schema *s, void *base);

/* Applies "key=value" (value parsed by the field's type). */
tm_status tm_config_set(const tm_config_schema *s, void *base, const char *assignment);
/* Applies one value given as text to one key. */
tm_status tm_config_set_value(const tm_config_schema *s, void *base, const char *key,
                              const char *value);

/* Applies a JSON object: nested objects reach dotted keys ({"optim":{"lr":1e-3}}
 * and {"optim.lr":1e-3} are the same). Keys not present keep their values. */
tm_status tm_config_apply_json(const tm_config_schema *s, void *base, const struct cJSON *obj);
/* Parses JSON text (an object) and applies it; `source` names it in errors. */
tm_status tm_config_apply_json_text(const tm_config_schema *s, void *base, const char *text,
                                    const char *source);
/* Reads a JSON file and applies it; errors name the file (and the line and
 * column of a syntax error). */
tm_status tm_config_load_file(const tm_config_schema *s, void *base, const char *path);

/* Builds the whole config as nested JSON objects (caller cJSON_Deletes), for
 * code that reads or extends the tree: each number's valuedouble is exact,
 * but cJSON's printer may round a double in the 16th digit, so write text
 * with tm_config_to_string. */
tm_status tm_config_to_json(const tm_config_schema *s, const void *base, struct cJSON **out);
/* The config as JSON text (pretty when pretty != 0); caller free()s. Applied
 * to any struct of the schema it gives back exactly these values. */
tm_status tm_config_to_string(const tm_config_schema *s, const void *base, int pretty, char **out);

/* One field's value as --set text ("0.0003", "true", "cosine"). Returns buf. */
const char *tm_config_format(const tm_config_field *f, const void *base, char *buf, size_t cap);

/* 1 when every field holds the same value (floats compared bitwise). */
int tm_config_equal(const tm_config_schema *s, const void *a, const void *b);

/* Help for every key: type, range or choices, default, help text. */
void tm_config_print_help(FILE *out, const tm_config_schema *s);

#endif
