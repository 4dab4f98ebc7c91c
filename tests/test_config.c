/* core/config (schema-driven config), core/run_config and core/strsim:
 * typed parsing, range checks, suggestions for unknown keys, all-or-nothing
 * applies, exact JSON round trips. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/rng.h"
#include "core/run_config.h"
#include "core/strsim.h"

/* A table with one field of every type, independent of the program's keys. */
typedef struct {
    int count;
    int64_t big;
    float rate;
    double scale;
    double limit; /* allows inf and nan */
    int verbose;
    char name[16];
    int mode;
    struct { float lr; int layers; } net;
    struct { struct { int depth; } inner; } outer;
} demo_config;

static const char *const mode_names[] = {"fast", "slow", "exact", NULL};

#define DC demo_config
static const tm_config_field demo_fields[] = {
    TM_CFG_INT(DC, "count", count, 1, 100, "10", "how many"),
    TM_CFG_I64(DC, "big", big, INT64_MIN, INT64_MAX, "0", "a wide integer"),
    TM_CFG_FLOAT(DC, "rate", rate, 0, 1, "0.5", "a probability"),
    TM_CFG_DOUBLE(DC, "scale", scale, -1e300, 1e300, "2.5", "any finite double"),
    TM_CFG_ROW(DC, "limit", TM_CONFIG_DOUBLE, limit, -INFINITY, INFINITY, "inf", "may be infinite",
               NULL, TM_CFG_ALLOW_NONFINITE),
    TM_CFG_BOOL(DC, "verbose", verbose, "false", "talk more"),
    TM_CFG_STRING(DC, "name", name, "demo", "a short name"),
    TM_CFG_ENUM(DC, "mode", mode, mode_names, "slow", "how to run"),
    TM_CFG_FLOAT(DC, "net.lr", net.lr, 0, 10, "3e-4", "learning rate"),
    TM_CFG_INT(DC, "net.layers", net.layers, 1, 64, "2", "layer count"),
    TM_CFG_INT(DC, "outer.inner.depth", outer.inner.depth, 0, 9, "3", "two levels down"),
};
#undef DC
static const tm_config_schema demo = {"demo", demo_fields, (int)(sizeof demo_fields / sizeof demo_fields[0]),
                                      sizeof(demo_config)};

static demo_config fresh(void) {
    demo_config c;
    memset(&c, 0, sizeof c);
    cr_assert_eq(tm_config_defaults(&demo, &c), TM_OK, "%s", tm_last_error());
    return c;
}

static tm_status apply_text(demo_config *c, const char *json) {
    return tm_config_apply_json_text(&demo, c, json, "test");
}

Test(config, tables_pass_the_schema_check) {
    cr_assert_eq(tm_config_schema_check(&demo), TM_OK, "%s", tm_last_error());
    cr_assert_eq(tm_config_schema_check(&tm_run_config_schema), TM_OK, "%s", tm_last_error());
}

Test(config, schema_check_rejects_broken_tables) {
    tm_config_field rows[3] = {demo_fields[0], demo_fields[1], demo_fields[2]};
    tm_config_schema s = {"broken", rows, 3, sizeof(demo_config)};
    rows[1].key = "count"; /* duplicate */
    cr_assert_neq(tm_config_schema_check(&s), TM_OK);
    rows[1].key = "count.sub"; /* a key that is also a section */
    cr_assert_neq(tm_config_schema_check(&s), TM_OK);
    rows[1] = demo_fields[1];
    rows[2].size = sizeof(double); /* float row on a double member */
    cr_assert_neq(tm_config_schema_check(&s), TM_OK);
    rows[2] = demo_fields[2];
    rows[2].def = "2"; /* default out of its own range */
    cr_assert_neq(tm_config_schema_check(&s), TM_OK);
}

Test(config, defaults_are_the_documented_values) {
    tm_run_config c;
    cr_assert_eq(tm_run_config_default(&c), TM_OK, "%s", tm_last_error());
    cr_assert_eq(c.seed, 0);
    cr_assert_eq(c.threads, 0);
    cr_assert_eq(c.device, TM_CPU);
    cr_assert_eq(c.log_level, TM_LOG_INFO);
    cr_assert_eq(c.optim.lr, 3e-4f);
    cr_assert_eq(c.optim.beta1, 0.9f);
    cr_assert_eq(c.optim.beta2, 0.999f);
    cr_assert_eq(c.optim.eps, 1e-8f);
    cr_assert_eq(c.optim.weight_decay, 0.0f);
    cr_assert_eq(c.optim.grad_clip, 1.0f);
    cr_assert_eq(c.optim.schedule, TM_LR_CONSTANT);
    cr_assert_eq(c.optim.warmup_steps, 0);
}

Test(config, unknown_key_names_it_and_the_closest_keys) {
    tm_run_config c;
    tm_run_config_default(&c);
    tm_status st = tm_config_apply_json_text(&tm_run_config_schema, &c, "{\"optim\": {\"lrr\": 0.1}}", "f.json");
    cr_assert_eq(st, TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "'optim.lrr'"), "%s", tm_last_error());
    cr_assert(strstr(tm_last_error(), "did you mean optim.lr"), "%s", tm_last_error());
    cr_assert(strstr(tm_last_error(), "f.json"), "%s", tm_last_error());
    cr_assert_eq(tm_config_set(&tm_run_config_schema, &c, "optim.beta=0.5"), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "optim.beta1"), "%s", tm_last_error());
    cr_assert(strstr(tm_last_error(), "optim.beta2"), "%s", tm_last_error());
    /* A bare last component finds its section. */
    cr_assert_eq(tm_config_set(&tm_run_config_schema, &c, "warmup_steps=5"), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "optim.warmup_steps"), "%s", tm_last_error());
    /* Even a far-off key gets the nearest names, at most three. */
    cr_assert_eq(tm_config_set(&demo, &(demo_config){0}, "zzzzzzzzzzzz=1"), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "did you mean"), "%s", tm_last_error());
}

Test(config, wrong_json_type_names_key_and_expected_type) {
    demo_config c = fresh();
    cr_assert_eq(apply_text(&c, "{\"count\": \"4\"}"), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "count") && strstr(tm_last_error(), "int") &&
              strstr(tm_last_error(), "string"), "%s", tm_last_error());
    cr_assert_eq(apply_text(&c, "{\"count\": 2.5}"), TM_EINVAL);
    cr_assert_eq(apply_text(&c, "{\"verbose\": 1}"), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "verbose") && strstr(tm_last_error(), "true or false"), "%s", tm_last_error());
    cr_assert_eq(apply_text(&c, "{\"rate\": null}"), TM_EINVAL);
    cr_assert_eq(apply_text(&c, "{\"name\": 3}"), TM_EINVAL);
    cr_assert_eq(apply_text(&c, "{\"net\": 3}"), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "section"), "%s", tm_last_error());
    cr_assert_eq(apply_text(&c, "{\"count\": {\"x\": 1}}"), TM_EINVAL);
    cr_assert_eq(apply_text(&c, "[1, 2]"), TM_EINVAL);
}

Test(config, out_of_range_names_key_value_and_range) {
    demo_config c = fresh();
    cr_assert_eq(apply_text(&c, "{\"count\": 101}"), TM_ERANGE);
    cr_assert(strstr(tm_last_error(), "count") && strstr(tm_last_error(), "101") &&
              strstr(tm_last_error(), "[1, 100]"), "%s", tm_last_error());
    cr_assert_eq(tm_config_set(&demo, &c, "rate=1.5"), TM_ERANGE);
    cr_assert(strstr(tm_last_error(), "rate") && strstr(tm_last_error(), "1.5") &&
              strstr(tm_last_error(), "[0, 1]"), "%s", tm_last_error());
    cr_assert_eq(tm_config_set(&demo, &c, "count=0"), TM_ERANGE);
    cr_assert_eq(tm_config_set(&demo, &c, "name=much_too_long_a_name"), TM_ERANGE);
    cr_assert_eq(apply_text(&c, "{\"rate\": 1e300}"), TM_ERANGE);
}

Test(config, exclusive_bounds_refuse_the_bound_itself) {
    tm_run_config c;
    tm_run_config_default(&c);
    const tm_config_schema *s = &tm_run_config_schema;
    cr_assert_eq(tm_config_set(s, &c, "optim.beta1=1"), TM_ERANGE);
    cr_assert(strstr(tm_last_error(), "[0, 1)"), "%s", tm_last_error());
    cr_assert_eq(tm_config_set(s, &c, "optim.lr=0"), TM_ERANGE);
    cr_assert(strstr(tm_last_error(), "(0, 10]"), "%s", tm_last_error());
    cr_assert_eq(tm_config_set(s, &c, "optim.beta1=0"), TM_OK);
    cr_assert_eq(tm_config_set(s, &c, "optim.lr=10"), TM_OK);
    cr_assert_eq(c.optim.beta1, 0.0f);
    cr_assert_eq(c.optim.lr, 10.0f);
}

Test(config, text_values_parse_strictly_by_type) {
    demo_config c = fresh();
    static const char *const bad[] = {
        "count=", "count=12x", "count= 12", "count=1e1", "count=99999999999999999999",
        "big=9223372036854775808", "rate=", "rate=0.5x", "rate=nan", "rate=inf", "scale=1e999",
        "rate=1e-50", "verbose=yes", "verbose=", "mode=quick", "mode=", "=3", "count",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        demo_config before = c;
        cr_assert_neq(tm_config_set(&demo, &c, bad[i]), TM_OK, "accepted '%s'", bad[i]);
        cr_assert_eq(memcmp(&before, &c, sizeof c), 0, "'%s' changed the struct", bad[i]);
    }
    cr_assert_eq(tm_config_set(&demo, &c, "mode=quick"), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "fast, slow, exact"), "%s", tm_last_error());

    cr_assert_eq(tm_config_set(&demo, &c, "count=+7"), TM_OK);
    cr_assert_eq(c.count, 7);
    cr_assert_eq(tm_config_set(&demo, &c, "big=-9223372036854775808"), TM_OK);
    cr_assert_eq(c.big, INT64_MIN);
    cr_assert_eq(tm_config_set(&demo, &c, "verbose=1"), TM_OK);
    cr_assert_eq(c.verbose, 1);
    cr_assert_eq(tm_config_set(&demo, &c, "verbose=false"), TM_OK);
    cr_assert_eq(c.verbose, 0);
    cr_assert_eq(tm_config_set(&demo, &c, "mode=exact"), TM_OK);
    cr_assert_eq(c.mode, 2);
    cr_assert_eq(tm_config_set(&demo, &c, "name=a=b"), TM_OK); /* only the first '=' splits */
    cr_assert_str_eq(c.name, "a=b");
    cr_assert_eq(tm_config_set(&demo, &c, "limit=-inf"), TM_OK);
    cr_assert(isinf(c.limit) && c.limit < 0);
    cr_assert_eq(tm_config_set(&demo, &c, "limit=nan"), TM_OK);
    cr_assert(isnan(c.limit));
    cr_assert_eq(tm_config_set(&demo, &c, "net.lr=0.1"), TM_OK);
    cr_assert_eq(c.net.lr, 0.1f); /* rounded once, to the nearest float */
}

Test(config, nested_objects_and_dotted_keys_reach_the_same_field) {
    demo_config a = fresh(), b = fresh();
    cr_assert_eq(apply_text(&a, "{\"net\": {\"lr\": 0.25, \"layers\": 5}, \"outer\": {\"inner\": {\"depth\": 7}}}"),
                 TM_OK, "%s", tm_last_error());
    cr_assert_eq(apply_text(&b, "{\"net.lr\": 0.25, \"net\": {\"layers\": 5}, \"outer.inner\": {\"depth\": 7}}"),
                 TM_OK, "%s", tm_last_error());
    cr_assert_eq(a.net.lr, 0.25f);
    cr_assert_eq(a.net.layers, 5);
    cr_assert_eq(a.outer.inner.depth, 7);
    cr_assert(tm_config_equal(&demo, &a, &b));
    cr_assert_eq(apply_text(&a, "{\"outer\": {\"inner\": {\"dept\": 1}}}"), TM_EINVAL);
    cr_assert(strstr(tm_last_error(), "outer.inner.depth"), "%s", tm_last_error());
}

Test(config, set_overrides_apply_after_json) {
    demo_config c = fresh();
    cr_assert_eq(apply_text(&c, "{\"count\": 20, \"rate\": 0.75}"), TM_OK);
    cr_assert_eq(tm_config_set(&demo, &c, "count=30"), TM_OK);
    cr_assert_eq(c.count, 30);
    cr_assert_eq(c.rate, 0.75f); /* untouched by the override */
}

Test(config, failed_apply_leaves_the_struct_unchanged) {
    demo_config c = fresh();
    cr_assert_eq(tm_config_set(&demo, &c, "name=kept"), TM_OK);
    demo_config before = c;
    /* Valid keys first, then a bad one: none of them may land. */
    cr_assert_neq(apply_text(&c, "{\"count\": 50, \"name\": \"changed\", \"net\": {\"lr\": 1}, \"rate\": 7}"), TM_OK);
    cr_assert_eq(memcmp(&before, &c, sizeof c), 0);
    cr_assert_neq(apply_text(&c, "{\"count\": 50, \"nope\": 1}"), TM_OK);
    cr_assert_eq(memcmp(&before, &c, sizeof c), 0);
    cr_assert_neq(apply_text(&c, "{\"count\": 50,"), TM_OK); /* syntax error */
    cr_assert_eq(memcmp(&before, &c, sizeof c), 0);
}

/* Random value of every field, including extreme floats and int64s past 2^53. */
static void randomize(demo_config *c, tm_rng *r) {
    c->count = 1 + (int)tm_rng_below(r, 100);
    c->big = (int64_t)tm_rng_u64(r);
    c->rate = tm_rng_uniform(r);
    double mant = tm_rng_uniform_f64(r) * 2 - 1;
    c->scale = ldexp(mant, (int)tm_rng_below(r, 1200) - 600);
    int k = (int)tm_rng_below(r, 4);
    c->limit = k == 0 ? INFINITY : k == 1 ? -INFINITY : k == 2 ? NAN : mant * 1e-300;
    c->verbose = (int)tm_rng_below(r, 2);
    static const char *const names[] = {"", "a\"quote", "tab\there", "\xc3\xa9t\xc3\xa9", "back\\slash"};
    snprintf(c->name, sizeof c->name, "%s", names[tm_rng_below(r, 5)]);
    c->mode = (int)tm_rng_below(r, 3);
    uint32_t bits;
    do { /* any finite float bit pattern in [0, 10] */
        bits = (uint32_t)tm_rng_u64(r) & 0x7fffffffu;
        memcpy(&c->net.lr, &bits, sizeof bits);
    } while (!isfinite(c->net.lr) || c->net.lr > 10 || (c->net.lr != 0 && c->net.lr < FLT_MIN));
    c->net.layers = 1 + (int)tm_rng_below(r, 64);
    c->outer.inner.depth = (int)tm_rng_below(r, 10);
}

Test(config, json_round_trip_is_exact) {
    tm_rng r;
    tm_rng_seed(&r, 2024, 0);
    for (int trial = 0; trial < 300; trial++) {
        demo_config want = fresh(), got = fresh();
        randomize(&want, &r);
        char *text = NULL;
        cr_assert_eq(tm_config_to_string(&demo, &want, trial % 2, &text), TM_OK, "%s", tm_last_error());
        tm_status st = apply_text(&got, text);
        cr_assert_eq(st, TM_OK, "%s\n%s", tm_last_error(), text);
        cr_assert(tm_config_equal(&demo, &want, &got), "trial %d differs after %s", trial, text);
        /* And the text form of every field reads back too (--set). */
        demo_config via_set = fresh();
        for (int i = 0; i < demo.n_fields; i++) {
            char v[128], assignment[256];
            tm_config_format(&demo.fields[i], &want, v, sizeof v);
            snprintf(assignment, sizeof assignment, "%s=%s", demo.fields[i].key, v);
            cr_assert_eq(tm_config_set(&demo, &via_set, assignment), TM_OK, "%s", tm_last_error());
        }
        cr_assert(tm_config_equal(&demo, &want, &via_set), "trial %d: --set text differs", trial);
        free(text);
    }
}

Test(config, floats_serialize_as_their_shortest_decimal) {
    tm_run_config c;
    tm_run_config_default(&c);
    cJSON *j = NULL;
    cr_assert_eq(tm_config_to_json(&tm_run_config_schema, &c, &j), TM_OK);
    cJSON *optim = cJSON_GetObjectItemCaseSensitive(j, "optim");
    cr_assert(cJSON_IsObject(optim));
    /* 3e-4f read as a double is 3.0000001e-4; the file should say 0.0003. */
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(optim, "lr")->valuedouble, 3e-4);
    cJSON_Delete(j);
}

Test(config, large_int64_goes_through_json_as_a_string) {
    demo_config c = fresh();
    cr_assert_eq(apply_text(&c, "{\"big\": 9007199254740993}"), TM_ERANGE); /* inexact as a number */
    cr_assert(strstr(tm_last_error(), "string"), "%s", tm_last_error());
    cr_assert_eq(apply_text(&c, "{\"big\": \"9007199254740993\"}"), TM_OK, "%s", tm_last_error());
    cr_assert_eq(c.big, INT64_C(9007199254740993));
    cr_assert_eq(apply_text(&c, "{\"big\": -42}"), TM_OK);
    cr_assert_eq(c.big, -42);
}

Test(config, load_file_errors_name_the_file_and_position) {
    char path[] = "/tmp/tm_test_config_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *text = "{\n  \"count\": 5,\n  \"rate\": ]\n}\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    demo_config c = fresh();
    cr_assert_eq(tm_config_load_file(&demo, &c, path), TM_EFORMAT);
    cr_assert(strstr(tm_last_error(), path), "%s", tm_last_error());
    cr_assert(strstr(tm_last_error(), "line 3"), "%s", tm_last_error());
    cr_assert_eq(c.count, 10);

    FILE *f = fopen(path, "w");
    fputs("{\"net\": {\"layers\": 9}, \"mode\": \"fast\"}", f);
    fclose(f);
    cr_assert_eq(tm_config_load_file(&demo, &c, path), TM_OK, "%s", tm_last_error());
    cr_assert_eq(c.net.layers, 9);
    cr_assert_eq(c.mode, 0);
    unlink(path);
    cr_assert_eq(tm_config_load_file(&demo, &c, path), TM_EIO);
    cr_assert(strstr(tm_last_error(), path), "%s", tm_last_error());
}

Test(config, help_lists_every_key_with_its_default) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    tm_config_print_help(f, &demo);
    fclose(f);
    for (int i = 0; i < demo.n_fields; i++) {
        cr_assert(strstr(buf, demo.fields[i].key), "%s missing", demo.fields[i].key);
        cr_assert(strstr(buf, demo.fields[i].help), "help of %s missing", demo.fields[i].key);
    }
    cr_assert(strstr(buf, "fast|slow|exact"));
    free(buf);
}

Test(strsim, edit_distance_counts_edits_and_swaps) {
    cr_assert_eq(tm_edit_distance("", ""), 0);
    cr_assert_eq(tm_edit_distance("abc", ""), 3);
    cr_assert_eq(tm_edit_distance("kitten", "sitting"), 3);
    cr_assert_eq(tm_edit_distance("steps", "stpes"), 1); /* one adjacent swap */
    cr_assert_eq(tm_edit_distance("steps", "steps"), 0);
    cr_assert_eq(tm_edit_distance("ab", "ba"), 1);
}

Test(strsim, suggestions_rank_the_closest_first) {
    const char *names[] = {"envs", "steps", "seed", "threads", "env"};
    int idx[3];
    int n = tm_suggest("stpes", names, 5, 3, 1, idx);
    cr_assert(n >= 1);
    cr_assert_str_eq(names[idx[0]], "steps");
    cr_assert_eq(tm_suggest("qqqqqqqq", names, 5, 3, 1, idx), 0);
    cr_assert_eq(tm_suggest("qqqqqqqq", names, 5, 3, 0, idx), 3);
    char buf[128];
    tm_suggest_text(buf, sizeof buf, "envz", "--", names, 5, 2, 1);
    cr_assert(strstr(buf, "--envs") && strstr(buf, "--env") && strstr(buf, " or "), "%s", buf);
}
